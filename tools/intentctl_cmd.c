/* intentctl's commands: each builds one request (or, for `list --all`, a chain of them), checks
 * the answer and prints it as a table for people or as the server's JSON for scripts. */
#include "intentctl.h"
#include "signature.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ctl_read_file(const char *path, struct buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int rc = 0;
    if (!f) {
        fprintf(stderr, "intentctl: cannot open %s: %s\n", path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_append(b, chunk, n)) {
            fprintf(stderr, "intentctl: %s: larger than %zu bytes, or out of memory\n", path,
                    b->max);
            rc = CTL_EXIT_USAGE;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "intentctl: cannot read %s: %s\n", path, strerror(errno));
        rc = CTL_EXIT_USAGE;
    }
    if (f != stdin)
        fclose(f);
    ctl_cleanse(chunk, sizeof chunk); /* may have held a key */
    return rc;
}

/* Finds the approval key: --key, else --key-file (one trailing newline dropped), else
 * INTENTCTL_APPROVAL_KEY, and puts it in out (bounded by its max; the caller cleanses and
 * frees it). Returns 0 or CTL_EXIT_USAGE. */
static int load_key(const struct ctl_cmdline *o, struct buf *out)
{
    const char *key = o->key;
    int rc;
    if (o->key && o->key_file) {
        fprintf(stderr, "intentctl: give --key or --key-file, not both\n");
        return CTL_EXIT_USAGE;
    }
    if (o->key) {
        fprintf(stderr, "intentctl: warning: a key on the command line is visible to other users "
                        "(ps); prefer --key-file PATH or INTENTCTL_APPROVAL_KEY\n");
    } else if (o->key_file) {
        if ((rc = ctl_read_file(o->key_file, out)))
            return rc;
        if (out->len && out->data[out->len - 1] == '\n')
            out->data[--out->len] = '\0';
        if (out->len && out->data[out->len - 1] == '\r')
            out->data[--out->len] = '\0';
    } else {
        key = getenv("INTENTCTL_APPROVAL_KEY");
    }
    if (key && buf_puts(out, key)) {
        fprintf(stderr, "intentctl: the approval key is longer than %d bytes\n", CTL_KEY_MAX);
        return CTL_EXIT_USAGE;
    }
    if (out->len == 0) {
        fprintf(stderr, "intentctl: no approval key: use --key-file PATH, INTENTCTL_APPROVAL_KEY "
                        "or --key KEY\n");
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* Reads the key and FILE (o->pos[0]) and signs the body as of time t into sig. */
static int read_and_sign(const struct ctl_cmdline *o, long long t, struct buf *body,
                         char sig[SIG_HEADER_BUFLEN])
{
    struct buf k;
    buf_init(&k, CTL_KEY_MAX);
    int rc = load_key(o, &k);
    if (!rc)
        rc = ctl_read_file(o->pos[0], body);
    if (!rc) {
        int err = sig_sign(k.data, k.len, t, body->data ? body->data : "", body->len, sig,
                           SIG_HEADER_BUFLEN);
        if (err) {
            fprintf(stderr, "intentctl: cannot sign: %s\n", ie_strerror(err));
            rc = CTL_EXIT_USAGE;
        }
    }
    ctl_cleanse(k.data, k.alloc);
    buf_free(&k);
    return rc;
}

int ctl_cmd_sign(struct ctl *c, const struct ctl_cmdline *o)
{
    char sig[SIG_HEADER_BUFLEN];
    struct buf body;
    char *end = NULL;
    long long ts = o->t ? strtoll(o->t, &end, 10) : (long long)time(NULL);
    (void)c;
    if (o->npos != 1 || (o->t && (*o->t == '\0' || *end != '\0'))) {
        fprintf(stderr, "usage: intentctl sign [--key-file PATH | --key KEY] [--t UNIX] FILE\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&body, CTL_FILE_MAX);
    int rc = read_and_sign(o, ts, &body, sig);
    if (!rc)
        printf("%s\n", sig);
    buf_free(&body);
    return rc;
}

/* Prints a field of an answer, cleaned; "-" when absent. */
static void put_field(json_t *obj, const char *key)
{
    char *s = ctl_cell(json_object_get(obj, key), 0);
    fputs(s ? s : "-", stdout);
    free(s);
}

/* The batch answer as a table: ID STATUS RESULT. */
static int print_batch(json_t *results, size_t rejected)
{
    static const char *const head[] = {"ID", "STATUS", "RESULT"};
    struct ctl_table t = {.ncols = 3};
    size_t i;
    json_t *r;
    int rc = ctl_table_header(&t, head);
    json_array_foreach(results, i, r)
    {
        json_int_t st = json_integer_value(json_object_get(r, "status"));
        const char *what = st == 202   ? "accepted"
                           : st == 200 ? "already submitted (identical)"
                           : st == 409 ? "conflict: same id, different body"
                                       : "rejected";
        json_t *err = json_object_get(r, "error");
        char *row[3] = {ctl_cell(json_object_get(r, "action_intent_id"), 0),
                        ctl_cell(json_object_get(r, "status"), 0),
                        json_is_string(err) ? ctl_cell(err, 120) : strdup(what)};
        if (rc) {
            for (int k = 0; k < 3; k++)
                free(row[k]);
        } else {
            rc = ctl_table_add(&t, row);
        }
    }
    ctl_table_print_free(&t);
    printf("%zu intents, %zu rejected\n", json_array_size(results), rejected);
    return rc;
}

int ctl_cmd_submit(struct ctl *c, const struct ctl_cmdline *o)
{
    char sig[SIG_HEADER_BUFLEN];
    struct buf body;
    struct ctl_response res;
    json_t *doc = NULL, *ans = NULL, *results, *r;
    size_t i, rejected = 0;
    bool batch;
    int rc;

    if (o->npos != 1) {
        fprintf(stderr, "intentctl: submit needs exactly one FILE ('-' for stdin)\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&body, CTL_FILE_MAX);
    if ((rc = read_and_sign(o, (long long)time(NULL), &body, sig)))
        goto out;
    /* Parsed only to choose the endpoint: the bytes sent are the bytes read. Input that does
     * not parse goes to /v1/intents so that the server says what is wrong with it. */
    doc = json_loadb(body.data ? body.data : "", body.len, 0, NULL);
    batch = json_is_object(doc) && json_object_get(doc, "intents");
    rc = ctl_request(c, "POST", batch ? "/v1/intents:batch" : "/v1/intents", sig, body.data,
                     body.len, &res);
    if (rc)
        goto out;
    if ((rc = ctl_check(c, &res)))
        goto out_res;
    if (!(ans = ctl_parse_object(&res))) {
        rc = CTL_EXIT_UNAVAILABLE;
        goto out_res;
    }
    results = json_object_get(ans, "results");
    json_array_foreach(results, i, r)
    {
        json_int_t st = json_integer_value(json_object_get(r, "status"));
        rejected += st != 200 && st != 202;
    }
    if (c->json) {
        ctl_print_raw(&res);
    } else if (batch) {
        rc = print_batch(results, rejected);
    } else {
        fputs(res.status == 202 ? "accepted " : "already submitted (identical) ", stdout);
        put_field(ans, "action_intent_id");
        fputs(": state ", stdout);
        put_field(ans, "state");
        fputs(", ", stdout);
        put_field(ans, "status_url");
        fputc('\n', stdout);
    }
    json_array_foreach(results, i, r)
    {
        ctl_print_errors(json_string_value(json_object_get(r, "action_intent_id")),
                         json_object_get(r, "errors"));
    }
    if (!rc && rejected)
        rc = CTL_EXIT_REFUSED;
out_res:
    ctl_response_free(&res);
out:
    json_decref(ans);
    json_decref(doc);
    buf_free(&body);
    return rc;
}

int ctl_call(struct ctl *c, const char *method, const char *path, const char *body,
             struct ctl_response *res, json_t **ans)
{
    int rc = ctl_request(c, method, path, NULL, body, body ? strlen(body) : 0, res);
    if (rc)
        return rc;
    if (!(rc = ctl_check(c, res)) && !(*ans = ctl_parse_object(res)))
        rc = CTL_EXIT_UNAVAILABLE;
    if (rc)
        ctl_response_free(res);
    return rc;
}

int ctl_intent_path(struct ctl *c, const char *id, const char *suffix, const char *tenant,
                    struct buf *p)
{
    char *eid = ctl_escape(c, id);
    char *et = tenant ? ctl_escape(c, tenant) : NULL;
    int err = !eid || (tenant && !et);
    if (!err)
        err = buf_printf(p, "/v1/intents/%s%s%s%s", eid, suffix, et ? "?tenant_id=" : "",
                         et ? et : "");
    curl_free(eid);
    curl_free(et);
    if (err)
        fprintf(stderr, "intentctl: the intent id or tenant is too long\n");
    return err ? CTL_EXIT_USAGE : 0;
}

int ctl_small_body(const char *k, const char *v, char **out)
{
    json_t *req = json_pack("{s:s}", k, v);
    *out = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!*out)
        fprintf(stderr, "intentctl: %s is not valid UTF-8\n", k);
    return *out ? 0 : CTL_EXIT_USAGE;
}

/* Labels for the status table, in order; fields the server adds later follow by their name. */
static const char *const status_fields[][2] = {
    {"action_intent_id", "id"},
    {"tenant_id", "tenant"},
    {"account_id", "account"},
    {"action_type", "action type"},
    {"state", "state"},
    {"compensating_to", "compensating to"},
    {"explanation", "explanation"},
    {"current_step", "step"},
    {"held_by", "held by"},
    {"waiting_until", "waiting until"},
    {"attempts", "attempts"},
    {"crash_attempts", "crash attempts"},
    {"priority", "priority"},
    {"cancel_requested", "cancel requested"},
    {"terminal_reason", "terminal reason"},
    {"last_error", "last error"},
    {"output", "output"},
    {"created_at", "created"},
    {"submitted_at", "submitted"},
    {"updated_at", "updated"},
    {"finished_at", "finished"},
    {"expires_at", "expires"},
    {"expires_at_epoch", NULL}, /* expires_at says it */
    {"steps", NULL},            /* a table of its own, below */
};
#define N_STATUS_FIELDS (sizeof status_fields / sizeof status_fields[0])

static int print_intent(json_t *it)
{
    struct ctl_table t = {.ncols = 2};
    const char *k;
    json_t *v;
    int rc = 0;
    for (size_t i = 0; i < N_STATUS_FIELDS && !rc; i++) {
        if (!status_fields[i][1])
            continue;
        v = json_object_get(it, status_fields[i][0]);
        json_t *err = json_object_get(v, "error");
        if (json_is_object(v) && json_is_string(err)) { /* last_error as "<error>: <cause>" */
            const char *cause = json_string_value(json_object_get(v, "cause"));
            json_t *s = json_sprintf("%s%s%s", json_string_value(err), cause ? ": " : "",
                                     cause ? cause : "");
            rc = ctl_kv_row(&t, status_fields[i][1], s);
            json_decref(s);
        } else {
            rc = ctl_kv_row(&t, status_fields[i][1], v);
        }
    }
    json_object_foreach(it, k, v)
    {
        bool known = false;
        for (size_t i = 0; i < N_STATUS_FIELDS; i++)
            known = known || strcmp(k, status_fields[i][0]) == 0;
        if (!known && !rc)
            rc = ctl_kv_row(&t, k, v);
    }
    ctl_table_print_free(&t);
    json_t *steps = json_object_get(it, "steps");
    if (!rc && json_array_size(steps)) {
        fputc('\n', stdout);
        rc = ctl_print_steps(steps);
    }
    return rc;
}

int ctl_cmd_status(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    int rc;
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: status needs exactly one intent ID\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    if ((rc = ctl_intent_path(c, o->pos[0], "", o->tenant, &path)) ||
        (rc = ctl_call(c, "GET", path.data, NULL, &res, &ans)))
        goto out;
    if (c->json)
        ctl_print_raw(&res);
    else
        rc = print_intent(ans);
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&path);
    return rc;
}

void ctl_timeline_row(json_t *e, char *row[6])
{
    json_t *from = json_object_get(e, "from_state"), *to = json_object_get(e, "to_state");
    json_t *p = json_object_get(e, "payload"), *ft = NULL;
    if (json_is_string(from) || json_is_string(to))
        ft = json_sprintf("%s\xe2\x86\x92%s", json_is_string(from) ? json_string_value(from) : "",
                          json_is_string(to) ? json_string_value(to) : "");
    row[0] = ctl_cell(json_object_get(e, "seq"), 0);
    row[1] = ctl_cell(json_object_get(e, "created_at"), 0);
    row[2] = ctl_cell(json_object_get(e, "event"), 0);
    row[3] = ctl_cell(ft, 0);
    row[4] = ctl_cell(json_object_get(e, "actor"), 0);
    row[5] = ctl_cell(json_is_object(p) && !json_object_size(p) ? NULL : p, 80);
    json_decref(ft);
}

static int print_timeline(json_t *events)
{
    struct ctl_table t = {.ncols = 6};
    size_t i;
    json_t *e;
    int rc = ctl_table_header(&t, ctl_timeline_head);
    json_array_foreach(events, i, e)
    {
        char *row[6];
        ctl_timeline_row(e, row);
        rc = ctl_table_add_unless(&t, row, rc);
    }
    ctl_table_print_free(&t);
    return rc;
}

int ctl_cmd_timeline(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    int rc;
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: timeline needs exactly one intent ID\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    if ((rc = ctl_intent_path(c, o->pos[0], "/timeline", o->tenant, &path)) ||
        (rc = ctl_call(c, "GET", path.data, NULL, &res, &ans)))
        goto out;
    if (c->json)
        ctl_print_raw(&res);
    else
        rc = print_timeline(json_object_get(ans, "events"));
    ctl_response_free(&res);
out:
    json_decref(ans);
    buf_free(&path);
    return rc;
}

const char *const ctl_timeline_head[6] = {"SEQ",   "TIME",  "EVENT", "FROM\xe2\x86\x92TO",
                                          "ACTOR", "DETAIL"};

int ctl_list_path(struct ctl *c, const struct ctl_cmdline *o, const char *cursor, struct buf *p)
{
    const char *names[] = {"status", "action_type", "since", "until", "limit", "cursor"};
    const char *vals[] = {o->status, o->action_type, o->since, o->until, o->limit, cursor};
    int err;
    if (o->account) {
        char *ea = ctl_escape(c, o->account);
        err = !ea || buf_printf(p, "/v1/accounts/%s/executions", ea);
        curl_free(ea);
    } else {
        err = buf_puts(p, "/v1/executions");
    }
    if (err) {
        fprintf(stderr, "intentctl: the filters are too long\n");
        return CTL_EXIT_USAGE;
    }
    return ctl_add_query(c, p, names, vals, sizeof names / sizeof names[0]);
}

/* One page, or with --all every page (cursors followed), printed as one table or, with --json,
 * as the server's page, or for --all one document {"items":[…],"next_cursor":null}. */
int ctl_cmd_list(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const head[] = {"ID", "TENANT", "TYPE", "STATE", "ATTEMPTS", "SUBMITTED"};
    static const char *const keys[] = {"action_intent_id", "tenant_id",   "action_type", "state",
                                       "attempts",         "submitted_at"};
    struct ctl_table t = {.ncols = 6};
    struct buf path;
    json_t *all = json_array(), *item;
    char *cursor = o->cursor ? strdup(o->cursor) : NULL;
    int rc = 0;
    if (o->npos != 0) {
        fprintf(stderr, "intentctl: list takes no arguments (filters are options)\n");
        rc = CTL_EXIT_USAGE;
    } else if (!all || (o->cursor && !cursor)) {
        fprintf(stderr, "intentctl: out of memory\n");
        rc = CTL_EXIT_UNAVAILABLE;
    }
    if (!c->json && !rc)
        rc = ctl_table_header(&t, head);
    buf_init(&path, 16384);
    while (!rc) {
        struct ctl_response res;
        json_t *ans = NULL;
        size_t i;
        buf_reset(&path);
        if ((rc = ctl_list_path(c, o, cursor, &path)) ||
            (rc = ctl_call(c, "GET", path.data, NULL, &res, &ans)))
            break;
        if (c->json && !o->all)
            ctl_print_raw(&res);
        json_array_foreach(json_object_get(ans, "items"), i, item)
        {
            if (c->json) {
                if (o->all && json_array_append(all, item))
                    rc = CTL_EXIT_UNAVAILABLE;
                continue;
            }
            char *row[6];
            for (int k = 0; k < 6; k++)
                row[k] = ctl_cell(json_object_get(item, keys[k]), 0);
            if (!rc)
                rc = ctl_table_add(&t, row);
            else
                for (int k = 0; k < 6; k++)
                    free(row[k]);
        }
        const char *next = json_string_value(json_object_get(ans, "next_cursor"));
        if (next && cursor && strcmp(next, cursor) == 0) {
            fprintf(stderr, "intentctl: the server returned the same cursor twice; stopping\n");
            rc = CTL_EXIT_UNAVAILABLE;
        }
        free(cursor);
        cursor = next ? strdup(next) : NULL;
        if (!o->all && cursor && !c->json) {
            char *shown = ctl_clean(cursor, 0);
            fprintf(stderr, "intentctl: more results: add --cursor '%s' (or --all)\n",
                    shown ? shown : "?");
            free(shown);
        }
        json_decref(ans);
        ctl_response_free(&res);
        if (!o->all || !cursor)
            break;
    }
    if (!c->json) {
        ctl_table_print_free(&t);
    } else if (!rc && o->all) {
        json_t *doc = json_pack("{s:O,s:n}", "items", all, "next_cursor");
        if (!doc || json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
            rc = CTL_EXIT_UNAVAILABLE;
        fputc('\n', stdout);
        json_decref(doc);
    }
    free(cursor);
    json_decref(all);
    buf_free(&path);
    return rc;
}

int ctl_cmd_cancel(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    char *body = NULL;
    int rc;
    if (o->npos != 1 || !o->reason || !*o->reason) {
        fprintf(stderr, "intentctl: cancel needs an intent ID and --reason TEXT\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    if ((rc = ctl_small_body("reason", o->reason, &body)) ||
        (rc = ctl_intent_path(c, o->pos[0], "/cancel", o->tenant, &path)) ||
        (rc = ctl_call(c, "POST", path.data, body, &res, &ans)))
        goto out;
    if (c->json) {
        ctl_print_raw(&res);
    } else {
        if (res.status == 202)
            fputs("cancel requested: ", stdout);
        put_field(ans, "action_intent_id");
        fputs(" is ", stdout);
        put_field(ans, "state");
        if (res.status == 202)
            fputs("; it stops at the next state boundary", stdout);
        fputc('\n', stdout);
    }
    ctl_response_free(&res);
out:
    free(body);
    json_decref(ans);
    buf_free(&path);
    return rc;
}

int ctl_cmd_ledger_verify(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    json_t *ans = NULL;
    int rc;
    if (o->npos != 0) {
        fprintf(stderr, "intentctl: ledger verify takes no arguments\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_call(c, "GET", "/v1/ledger/verify", NULL, &res, &ans)))
        return rc;
    json_t *ok = json_object_get(ans, "ok");
    if (!json_is_boolean(ok)) {
        fprintf(stderr, "intentctl: unreadable answer: no \"ok\" (request %s)\n", res.request_id);
        rc = CTL_EXIT_UNAVAILABLE;
    } else if (c->json) {
        ctl_print_raw(&res);
    } else if (json_is_true(ok)) {
        json_int_t from = json_integer_value(json_object_get(ans, "from_seq"));
        printf("ledger ok: %" JSON_INTEGER_FORMAT " rows verified",
               json_integer_value(json_object_get(ans, "rows")));
        /* after archived partitions the check starts from the recorded anchor, not genesis */
        if (from > 1)
            printf(" from seq %" JSON_INTEGER_FORMAT " (the rows before it are archived)", from);
        putchar('\n');
    } else {
        char *reason = ctl_cell(json_object_get(ans, "reason"), 0);
        printf("ledger TAMPERED at seq %" JSON_INTEGER_FORMAT ": %s (%" JSON_INTEGER_FORMAT
               " rows checked)\n",
               json_integer_value(json_object_get(ans, "seq")), reason ? reason : "-",
               json_integer_value(json_object_get(ans, "rows")));
        free(reason);
    }
    if (!rc && !json_is_true(ok))
        rc = CTL_EXIT_TAMPERED;
    json_decref(ans);
    ctl_response_free(&res);
    return rc;
}

/* Prints a tenant or token creation answer: the only place intentctl shows secrets. */
static int print_secrets(struct ctl *c, const struct ctl_response *res, json_t *ans)
{
    static const char *const fields[][2] = {{"tenant_id", "tenant"},
                                            {"role", "role"},
                                            {"approval_key", "approval key"},
                                            {"token", "token"},
                                            {"token_id", "token id"}};
    struct ctl_table t = {.ncols = 2};
    const char *k;
    json_t *v;
    int rc = 0;
    fprintf(stderr, "intentctl: warning: the secrets below are shown only once; store them now\n");
    if (c->json) {
        ctl_print_raw(res);
        return 0;
    }
    for (size_t i = 0; i < sizeof fields / sizeof fields[0] && !rc; i++)
        if ((v = json_object_get(ans, fields[i][0])))
            rc = ctl_kv_row(&t, fields[i][1], v);
    json_object_foreach(json_object_get(ans, "tokens"), k, v)
    {
        char label[96];
        snprintf(label, sizeof label, "%s token", k);
        if (!rc)
            rc = ctl_kv_row(&t, label, v);
    }
    json_object_foreach(json_object_get(ans, "token_ids"), k, v)
    {
        char label[96];
        snprintf(label, sizeof label, "%s token id", k);
        if (!rc)
            rc = ctl_kv_row(&t, label, v);
    }
    ctl_table_print_free(&t);
    return rc;
}

int ctl_cmd_tenant_create(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    json_t *ans = NULL;
    char *body = NULL;
    int rc;
    if (o->npos != 1) {
        fprintf(stderr, "intentctl: tenant create needs exactly one tenant ID\n");
        return CTL_EXIT_USAGE;
    }
    if ((rc = ctl_small_body("tenant_id", o->pos[0], &body)) ||
        (rc = ctl_call(c, "POST", "/v1/tenants", body, &res, &ans)))
        goto out;
    rc = print_secrets(c, &res, ans);
    ctl_cleanse(res.body.data, res.body.len);
    ctl_response_free(&res);
out:
    free(body);
    json_decref(ans);
    return rc;
}

int ctl_cmd_token_create(struct ctl *c, const struct ctl_cmdline *o)
{
    struct ctl_response res;
    struct buf path;
    json_t *ans = NULL;
    char *body = NULL, *et = NULL;
    int rc;
    const char *tenant = o->npos == 1 && !o->tenant ? o->pos[0] : o->tenant;
    if (!tenant || o->npos > (o->tenant ? 0 : 1) || !o->role) {
        fprintf(stderr, "intentctl: token create needs --tenant T and --role "
                        "operator|oncall|admin\n");
        return CTL_EXIT_USAGE;
    }
    buf_init(&path, 4096);
    if ((rc = ctl_small_body("role", o->role, &body)))
        goto out;
    et = ctl_escape(c, tenant);
    if (!et || buf_printf(&path, "/v1/tenants/%s/tokens", et)) {
        fprintf(stderr, "intentctl: the tenant id is too long\n");
        rc = CTL_EXIT_USAGE;
        goto out;
    }
    if ((rc = ctl_call(c, "POST", path.data, body, &res, &ans)))
        goto out;
    rc = print_secrets(c, &res, ans);
    ctl_cleanse(res.body.data, res.body.len);
    ctl_response_free(&res);
out:
    curl_free(et);
    free(body);
    json_decref(ans);
    buf_free(&path);
    return rc;
}

/* health: /healthz and /readyz without a token; 0 only when both answer 2xx. With --json one
 * document {"healthz":<answer or null>,"readyz":<answer or null>}. */
int ctl_cmd_health(struct ctl *c, const struct ctl_cmdline *o)
{
    static const char *const paths[] = {"/healthz", "/readyz"};
    const char *token = c->token;
    json_t *doc = json_object();
    int worst = 0;
    if (o->npos != 0) {
        fprintf(stderr, "intentctl: health takes no arguments\n");
        json_decref(doc);
        return CTL_EXIT_USAGE;
    }
    c->token = NULL; /* the probes are public; do not hand the token around needlessly */
    for (size_t i = 0; i < 2; i++) {
        struct ctl_response res;
        json_t *ans = NULL;
        int rc = ctl_request(c, "GET", paths[i], NULL, NULL, 0, &res);
        if (!rc) {
            ans = json_loadb(res.body.data ? res.body.data : "", res.body.len, 0, NULL);
            rc = ctl_check(c, &res);
            if (!rc && !json_is_object(ans)) {
                fprintf(stderr, "intentctl: unreadable answer from %s (request %s)\n", paths[i],
                        res.request_id);
                rc = CTL_EXIT_UNAVAILABLE;
            }
            ctl_response_free(&res);
        }
        if (!c->json && !rc) {
            printf("%-8s ", paths[i] + 1);
            put_field(ans, "status");
            fputc('\n', stdout);
        }
        json_object_set_new(doc, paths[i] + 1, ans ? ans : json_null());
        worst = rc > worst ? rc : worst;
    }
    c->token = token;
    if (c->json) {
        json_dumpf(doc, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    json_decref(doc);
    return worst ? CTL_EXIT_UNAVAILABLE : 0;
}
