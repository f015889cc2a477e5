/* Ledger export (GET /v1/ledger?after_seq=&limit=&since=&until=&format=jsonl|csv): the rows in
 * seq order, keyset-paged by seq, as JSON Lines or RFC 4180 CSV. Every column is exported,
 * hashes in hex and created_at also as the integer microseconds the chain hashes over, so a
 * whole-ledger JSONL export can be re-verified offline.
 *
 * Who sees what: a global admin reads every row (optionally one tenant's, ?tenant_id=); any
 * tenant token (operator, oncall, tenant admin) reads only its own tenant's rows. Rows without
 * a tenant (global events) are visible to the global admin only. A tenant's
 * rows are a subsequence of the chain, so in its export each row's hash can be recomputed from
 * its prev_hash, but the links between rows of other tenants are not there to check.
 *
 * The body is built in memory, read from the database in pages, and bounded by EXPORT_BODY_MAX:
 * when the limit or the bound stops the export before the end, the response carries
 * Intentd-Next-After-Seq, the after_seq that continues it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "queries.h"
#include "store.h"

#define EXPORT_LIMIT_DEFAULT 10000
#define EXPORT_LIMIT_MAX     100000
#define EXPORT_PAGE          1000
#define EXPORT_BODY_MAX      ((size_t)64 << 20)
#define CSV_TYPE             "text/csv; charset=utf-8; header=present"
#define JSONL_TYPE           "application/jsonl"

enum {
    C_SEQ,
    C_TENANT,
    C_INTENT,
    C_EVENT,
    C_FROM,
    C_TO,
    C_NODE,
    C_ACTOR,
    C_PAYLOAD,
    C_CREATED,
    C_CREATED_US,
    C_PREV,
    C_HASH,
    C_COUNT
};

static const char *const COLUMNS[C_COUNT] = {
    "seq",   "tenant_id", "action_intent_id", "event",         "from_state", "to_state", "node_id",
    "actor", "payload",   "created_at",       "created_at_us", "prev_hash",  "hash"};

struct export_ctx {
    struct buf out;
    bool csv;
    bool more;       /* rows may follow the last one exported */
    long long after; /* the seq the next page starts after */
    long long remaining;
    char *tenant, *since, *until;
};

static void export_free(struct export_ctx *x)
{
    buf_free(&x->out);
    free(x->tenant);
    free(x->since);
    free(x->until);
    free(x);
}

/* jsonb renders with a space after ':' and ','; the export drops whitespace outside strings
 * so the payload is compact while every string and number keeps its exact text. */
static int put_compact_json(struct buf *b, const char *s)
{
    bool in_str = false, esc = false;
    const char *run = s;
    for (const char *p = s; *p; p++) {
        if (in_str) {
            if (esc)
                esc = false;
            else if (*p == '\\')
                esc = true;
            else if (*p == '"')
                in_str = false;
            continue;
        }
        if (*p == '"') {
            in_str = true;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            int rc = buf_append(b, run, (size_t)(p - run));
            if (rc)
                return rc;
            run = p + 1;
        }
    }
    return buf_puts(b, run);
}

/* A JSON string literal; the database text is UTF-8, so only quotes, backslashes and control
 * characters need escaping. */
static int put_json_string(struct buf *b, const char *s)
{
    int rc = buf_append(b, "\"", 1);
    const char *run = s;
    for (const char *p = s; !rc && *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        rc = buf_append(b, run, (size_t)(p - run));
        if (!rc)
            rc = c == '"' || c == '\\' ? buf_printf(b, "\\%c", c) : buf_printf(b, "\\u%04x", c);
        run = p + 1;
    }
    if (!rc)
        rc = buf_puts(b, run);
    if (!rc)
        rc = buf_append(b, "\"", 1);
    return rc;
}

/* An RFC 4180 field: quoted (quotes doubled) when it holds a comma, quote, CR or LF. */
static int put_csv_field(struct buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n"))
        return buf_puts(b, s);
    int rc = buf_append(b, "\"", 1);
    for (const char *p = s; !rc && *p; p++)
        rc = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
    if (!rc)
        rc = buf_append(b, "\"", 1);
    return rc;
}

static int put_jsonl_row(struct buf *b, PGresult *r, int i)
{
    int rc = buf_append(b, "{", 1);
    for (int c = 0; !rc && c < C_COUNT; c++) {
        rc = buf_printf(b, "%s\"%s\":", c ? "," : "", COLUMNS[c]);
        const char *v = PQgetvalue(r, i, c);
        if (rc)
            break;
        if (PQgetisnull(r, i, c))
            rc = buf_puts(b, "null");
        else if (c == C_SEQ || c == C_CREATED_US)
            rc = buf_puts(b, v);
        else if (c == C_PAYLOAD)
            rc = put_compact_json(b, v);
        else
            rc = put_json_string(b, v);
    }
    if (!rc)
        rc = buf_append(b, "}\n", 2);
    return rc;
}

static int put_csv_row(struct buf *b, PGresult *r, int i)
{
    int rc = 0;
    for (int c = 0; !rc && c < C_COUNT; c++) {
        if (c)
            rc = buf_append(b, ",", 1);
        if (rc || PQgetisnull(r, i, c))
            continue;
        if (c == C_PAYLOAD) {
            struct buf compact;
            buf_init(&compact, EXPORT_BODY_MAX);
            rc = put_compact_json(&compact, PQgetvalue(r, i, c));
            if (!rc)
                rc = put_csv_field(b, compact.data ? compact.data : "");
            buf_free(&compact);
        } else {
            rc = put_csv_field(b, PQgetvalue(r, i, c));
        }
    }
    if (!rc)
        rc = buf_append(b, "\r\n", 2);
    return rc;
}

static void export_page(struct api_req *req);

static void export_fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct api_req *req = arg;
    struct export_ctx *x = req->svc;
    if (err) {
        req->svc = NULL;
        export_free(x);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        if (x->remaining == 0) {
            x->more = true;
            break;
        }
        size_t mark = x->out.len;
        int rc = x->csv ? put_csv_row(&x->out, r, i) : put_jsonl_row(&x->out, r, i);
        if (rc == IE_TOOBIG && mark > 0) {
            /* the bound cuts at a row boundary; the rest follows from Intentd-Next-After-Seq */
            x->out.len = mark;
            x->out.data[mark] = '\0';
            x->more = true;
            break;
        }
        if (rc) {
            req->svc = NULL;
            export_free(x);
            api_reply_problem(req, 500, "internal",
                              rc == IE_TOOBIG ? "ledger row %s is larger than the export bound"
                                              : "out of memory (at ledger row %s)",
                              PQgetvalue(r, i, C_SEQ));
            return;
        }
        x->after = atoll(PQgetvalue(r, i, C_SEQ));
        x->remaining--;
    }
    if (x->more || n < EXPORT_PAGE) {
        size_t len = 0;
        const char *ctype = x->csv ? CSV_TYPE : JSONL_TYPE;
        char next[64];
        const char *headers[] = {next, NULL};
        snprintf(next, sizeof next, "Intentd-Next-After-Seq: %lld", x->after);
        bool more = x->more;
        char *body = buf_detach(&x->out, &len);
        req->svc = NULL;
        export_free(x);
        if (!body) {
            api_reply_problem(req, 500, "internal", "out of memory");
            return;
        }
        api_reply_raw_headers(req, 200, ctype, body, len, more ? headers : NULL);
        free(body);
        return;
    }
    export_page(req);
}

static void export_page(struct api_req *req)
{
    struct export_ctx *x = req->svc;
    char after[32], lim[32];
    snprintf(after, sizeof after, "%lld", x->after);
    /* one row past the limit tells whether the export is complete */
    long long want = x->remaining + 1 < EXPORT_PAGE ? x->remaining + 1 : EXPORT_PAGE;
    snprintf(lim, sizeof lim, "%lld", want);
    const char *p[5] = {after, x->tenant, x->since, x->until, lim};
    int rc = store_query(req->app->store, Q_LEDGER_EXPORT, 5, p, export_fetched, req);
    if (rc) {
        req->svc = NULL;
        export_free(x);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

void svc_ledger_export(struct api_req *req)
{
    struct export_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    buf_init(&x->out, EXPORT_BODY_MAX);
    if (!api_read_tenant(req, &x->tenant)) {
        export_free(x);
        return;
    }
    bool bad = false;
    char *after = api_query_param(req, "after_seq", &bad);
    char *limit = api_query_param(req, "limit", &bad);
    char *format = api_query_param(req, "format", &bad);
    x->since = api_query_param(req, "since", &bad);
    x->until = api_query_param(req, "until", &bad);
    const char *problem = NULL;
    x->remaining = EXPORT_LIMIT_DEFAULT;
    if (bad)
        problem = API_BAD_QUERY;
    else if (x->tenant && !api_valid_tenant_id(x->tenant))
        problem = "tenant_id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";
    else if (after && !api_parse_int(after, 0, INT64_MAX, &x->after))
        problem = "after_seq must be a non-negative integer";
    else if (limit && !api_parse_int(limit, 1, EXPORT_LIMIT_MAX, &x->remaining))
        problem = "limit must be an integer from 1 to 100000";
    else if (format && strcmp(format, "jsonl") && strcmp(format, "csv"))
        problem = "format must be jsonl or csv";
    else
        problem = api_time_range_problem(x->since, x->until);
    x->csv = format && !strcmp(format, "csv");
    free(after);
    free(limit);
    free(format);
    if (problem) {
        export_free(x);
        api_reply_problem(req, 400, "bad-query", "%s", problem);
        return;
    }
    if (x->csv) {
        int rc = 0;
        for (int c = 0; !rc && c < C_COUNT; c++)
            rc = buf_printf(&x->out, "%s%s", c ? "," : "", COLUMNS[c]);
        if (rc || buf_append(&x->out, "\r\n", 2)) {
            export_free(x);
            api_reply_problem(req, 500, "internal", "out of memory");
            return;
        }
    }
    req->svc = x;
    export_page(req);
}
