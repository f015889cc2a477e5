/* The intent services: submission (single and batch, authenticated by Intent-Signature), status,
 * timeline, listings and cancel. Requests flow API -> service -> store; every reply is made
 * exactly once through api_reply_*. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "buf.h"
#include "crypto.h"
#include "intent_view.h"
#include "json_canon.h"
#include "log.h"
#include "queries.h"
#include "signature.h"
#include "store.h"
#include "submitter.h"
#include "tenant_keys.h"
#include "utf8.h"
#include "workflows.h"

#define BATCH_MAX  1000
#define REASON_MAX 1000
/* Serialized items of one request; a 1,000-intent batch within the body limit stays far below. */
#define ITEMS_MAX ((size_t)1 << 30)

struct submit_ctx {
    json_t *doc;     /* the parsed body */
    json_t *results; /* batch: one result object per intent, in order */
    bool batch;
    char tenant[72];
    char *signature;
    int key_version; /* of the approval key that verified the signature */
    bool key_reread; /* the keys were re-read once after a mismatch */
};

static void submit_ctx_free(struct submit_ctx *c)
{
    if (!c)
        return;
    json_decref(c->doc);
    json_decref(c->results);
    free(c->signature);
    free(c);
}

static void finish_problem(struct api_req *req, int status, const char *slug, const char *detail)
{
    submit_ctx_free(req->svc);
    req->svc = NULL;
    api_reply_problem(req, status, slug, "%s", detail);
}

json_t *api_schema_errors_json(const struct schema_errors *errs)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < errs->count; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "pointer", errs->items[i].pointer,
                                           "message", errs->items[i].message));
    return a;
}

static json_t *adapter_errors_json(const struct adapter_errors *errs)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < errs->count; i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "pointer", errs->items[i].pointer,
                                           "message", errs->items[i].message));
    return a;
}

static bool json_content_type(const struct api_req *req)
{
    const char *ct = http_header_get(req->http, "content-type");
    if (!ct)
        return true;
    return !strncasecmp(ct, "application/json", 16) &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

int api_intent_semantics(struct app *app, const json_t *intent, const char **why, json_t **errors)
{
    *errors = NULL;
    const char *type = json_string_value(json_object_get(intent, "action_type"));
    if (!workflows_get(app->workflows, type)) {
        *why = "unknown action type";
        *errors = json_pack("[{s:s, s:s}]", "pointer", "/action_type", "message",
                            "no workflow in statemachines/ defines this action type");
        return 422;
    }
    struct adapter_errors aerr; /* read only up to count: not worth zeroing 14 KiB per intent */
    aerr.count = 0;
    int n = workflows_validate_params(app->workflows, type, json_object_get(intent, "parameters"),
                                      &aerr);
    if (n < 0) {
        *why = "the parameters could not be checked";
        return 500;
    }
    if (n > 0) {
        *why = "the parameters were rejected by the action type's adapters";
        *errors = adapter_errors_json(&aerr);
        return 422;
    }
    json_int_t exp = json_integer_value(json_object_get(intent, "expires_at_epoch"));
    if (exp <= (json_int_t)time(NULL)) {
        *why = "the intent has already expired";
        *errors = json_pack("[{s:s, s:s}]", "pointer", "/expires_at_epoch", "message",
                            "expires_at_epoch is not in the future");
        return 422;
    }
    return 0;
}

/* Writes epoch (years 0001-9999, as intent_parse_rfc3339 gives) as an ISO 8601 UTC time. The
 * year is zero-padded: strftime's %Y writes year 1 as "1", which PostgreSQL reads as 2001. */
static void utc_iso(long long epoch, char *out, size_t n)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Appends the item given to intentd.submit for one valid intent to items, in the form
 * submitter_enqueue takes; hint is the room to make first (0: none). The intent goes in as its
 * canonical text, written straight into items and hashed there: the column is jsonb, which
 * keeps no key order, and the hash is of that text. */
static int submit_item(struct buf *items, int idx, const json_t *intent, size_t hint)
{
    long long created = 0;
    const char *cs = json_string_value(json_object_get(intent, "created_at"));
    const json_t *id = json_object_get(intent, "action_intent_id"),
                 *account = json_object_get(intent, "account_id"),
                 *type = json_object_get(intent, "action_type");
    if (!cs || intent_parse_rfc3339(cs, &created) || !json_is_string(id) ||
        !json_is_string(account) || !json_is_string(type))
        return IE_INVAL;
    char created_iso[40];
    utc_iso(created, created_iso, sizeof created_iso);
    json_t *prio = json_object_get(intent, "priority");
    int rc = hint ? buf_reserve(items, hint) : 0;
    if (!rc)
        rc = buf_printf(items, "{\"idx\":%d,\"id\":", idx);
    if (!rc)
        rc = buf_json_string(items, json_string_value(id), json_string_length(id));
    if (!rc)
        rc = buf_puts(items, ",\"account_id\":");
    if (!rc)
        rc = buf_json_string(items, json_string_value(account), json_string_length(account));
    if (!rc)
        rc = buf_puts(items, ",\"action_type\":");
    if (!rc)
        rc = buf_json_string(items, json_string_value(type), json_string_length(type));
    if (!rc)
        rc = buf_printf(
            items,
            ",\"priority\":%" JSON_INTEGER_FORMAT ",\"expires_epoch\":%" JSON_INTEGER_FORMAT
            ",\"created_at\":\"%s\",\"intent\":",
            prio ? json_integer_value(prio) : (json_int_t)50,
            json_integer_value(json_object_get(intent, "expires_at_epoch")), created_iso);
    size_t canon_at = items->len;
    if (!rc)
        rc = json_canon_append(items, intent);
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    if (!rc)
        rc = crypto_sha256_hex(items->data + canon_at, items->len - canon_at, hex);
    if (!rc)
        rc = buf_printf(items, ",\"hash\":\"%s\"}", hex);
    if (!rc)
        rc = buf_append(items, "", 1); /* the NUL that ends the item */
    return rc;
}

/* The 200/202 body, {"action_intent_id", "tenant_id", "state", "status_url"}, written as text
 * in that order (what dumping the same json_pack made, at a fraction of the cost). */
static int accepted_body(struct buf *out, const char *id, const char *tenant, const char *state)
{
    char url[300];
    snprintf(url, sizeof url, "/v1/intents/%s", id);
    const char *const members[][2] = {
        {"action_intent_id", id}, {"tenant_id", tenant}, {"state", state}, {"status_url", url}};
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof members / sizeof members[0]; i++) {
        rc = buf_append(out, i ? "," : "{", 1);
        if (!rc)
            rc = buf_json_string(out, members[i][0], strlen(members[i][0]));
        if (!rc)
            rc = buf_append(out, ":", 1);
        if (!rc)
            rc = buf_json_string(out, members[i][1], strlen(members[i][1]));
    }
    return rc ? rc : buf_puts(out, "}");
}

/* --- single submission --- */

/* A submission failed to land: IE_AUTH is a key rotated out between verification and commit
 * (or cached by this node past its rotation), the rest store failures. */
static void landing_failed(struct api_req *req, int err)
{
    if (err == IE_AUTH) {
        log_ctx(LOG_INFO, req->request_id, NULL, "submission refused: the key was rotated out");
        finish_problem(req, 401, "unauthorized",
                       "the approval key that signed this request is no longer valid");
        return;
    }
    submit_ctx_free(req->svc);
    req->svc = NULL;
    api_reply_store_error(req, err, NULL, NULL);
}

static void single_landed(void *arg, int err, const PGresult *r, int first, int n)
{
    struct api_req *req = arg;
    struct submit_ctx *c = req->svc;
    if (err) {
        landing_failed(req, err);
        return;
    }
    if (n != 1) {
        finish_problem(req, 500, "internal", "the store answered for the wrong number of intents");
        return;
    }
    int status = atoi(PQgetvalue(r, first, 2));
    const char *state = PQgetvalue(r, first, 3);
    const char *id = json_string_value(json_object_get(c->doc, "action_intent_id"));
    if (status == 409) {
        log_ctx(LOG_INFO, req->request_id, id, "resubmission with a different body refused");
        finish_problem(req, 409, "conflict",
                       "an intent with this action_intent_id exists with a different body");
        return;
    }
    char loc[300];
    snprintf(loc, sizeof loc, "Location: /v1/intents/%s", id);
    const char *headers[] = {loc, NULL};
    struct buf body;
    buf_init(&body, 4096);
    if (accepted_body(&body, id, c->tenant, state)) {
        buf_free(&body);
        finish_problem(req, 500, "internal", "out of memory");
        return;
    }
    if (status == 202)
        log_ctx(LOG_INFO, req->request_id, id, "intent accepted");
    req->svc = NULL;
    submit_ctx_free(c);
    api_reply_raw_headers(req, status, "application/json", body.data, body.len,
                          status == 202 ? headers : NULL);
    buf_free(&body);
}

static void enqueue_items(struct api_req *req, struct buf *items, int nitems, submit_cb cb)
{
    struct submit_ctx *c = req->svc;
    int rc = submitter_enqueue(req->app->submitter, c->tenant, req->http->body, c->signature,
                               c->key_version, items, nitems, cb, req);
    if (rc) {
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

/* Checks the request's Intent-Signature with the tenant's approval keys (err is the key
 * look-up's outcome): the current one, and the previous one during a rotation's overlap.
 * Returns true when it verifies. Otherwise it has replied (401, or 500/503 when the keys could
 * not be had) and freed the service state, or, after a mismatch with keys this node may hold
 * from before a rotation, handed the request to one re-read of the keys that calls again. */
static bool signature_ok(struct api_req *req, int err, const struct tenant_key_set *ks,
                         tenant_key_cb again)
{
    struct submit_ctx *c = req->svc;
    if (err == IE_NOTFOUND) {
        finish_problem(req, 401, "unauthorized", "unknown tenant or invalid signature");
        return false;
    }
    if (err == IE_CRYPTO) {
        log_ctx(LOG_ERROR, req->request_id, NULL,
                "tenant %s: its approval key does not open with this node's master key "
                "(do all nodes share INTENTD_MASTER_KEY_FILE?)",
                c->tenant);
        finish_problem(req, 500, "master-key-mismatch",
                       "this node cannot open the tenant's approval key; see its log");
        return false;
    }
    if (err) {
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_store_error(req, err, NULL, NULL);
        return false;
    }
    const char *why = NULL;
    struct sig_key keys[2] = {{ks->key, ks->keylen, ks->hmac},
                              {ks->prev, ks->prevlen, ks->prev_hmac}};
    size_t matched = 0;
    int rc =
        sig_verify_any(c->signature, keys, ks->prev ? 2 : 1, req->http->body, req->http->body_len,
                       (long long)time(NULL), SIG_TOLERANCE_S, &why, &matched);
    if (rc == IE_AUTH && why && !strcmp(why, "signature mismatch") && !c->key_reread) {
        c->key_reread = true;
        if (tenant_keys_refresh(req->app, c->tenant, again, req))
            return false;
    }
    if (rc) {
        log_ctx(LOG_INFO, req->request_id, NULL, "submission refused: %s", why);
        finish_problem(req, 401, "unauthorized", why ? why : "invalid signature");
        return false;
    }
    c->key_version = matched == 0 ? ks->version : ks->version - 1;
    return true;
}

static void single_keyed(void *arg, int err, const struct tenant_key_set *ks)
{
    struct api_req *req = arg;
    struct submit_ctx *c = req->svc;
    if (!signature_ok(req, err, ks, single_keyed))
        return;
    const char *why = NULL;
    struct schema_errors *errs = malloc(sizeof *errs);
    if (!errs) {
        finish_problem(req, 500, "internal", "out of memory");
        return;
    }
    intent_schema_errors_init(errs);
    if (intent_schema_validate(c->doc, errs)) {
        json_t *ej = api_schema_errors_json(errs);
        free(errs);
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_problem_errors(req, 400, "invalid-intent", ej,
                                 "the intent does not match action_intent.v1");
        return;
    }
    free(errs);
    json_t *errors = NULL;
    int status = api_intent_semantics(req->app, c->doc, &why, &errors);
    if (status) {
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_problem_errors(req, status, status == 422 ? "unprocessable-intent" : "internal",
                                 errors, "%s", why);
        return;
    }
    struct buf items;
    buf_init(&items, ITEMS_MAX);
    if (submit_item(&items, 0, c->doc, req->http->body_len + 1024)) {
        buf_free(&items);
        finish_problem(req, 500, "internal", "out of memory");
        return;
    }
    enqueue_items(req, &items, 1, single_landed);
}

/* Parses the body and finds the tenant whose key must have signed it. */
static int begin_submission(struct api_req *req, bool batch)
{
    if (!json_content_type(req)) {
        api_reply_problem(req, 415, "unsupported-media-type", "the body must be application/json");
        return -1;
    }
    struct submit_ctx *c = calloc(1, sizeof *c);
    struct schema_errors *errs = malloc(sizeof *errs);
    if (!c || !errs) {
        free(c);
        free(errs);
        api_reply_problem(req, 500, "internal", "out of memory");
        return -1;
    }
    intent_schema_errors_init(errs);
    c->batch = batch;
    req->svc = c;
    if (intent_schema_parse(req->http->body, req->http->body_len, &c->doc, errs)) {
        json_t *ej = api_schema_errors_json(errs);
        free(errs);
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_problem_errors(req, 400, "malformed-json", ej, "the body is not valid JSON");
        return -1;
    }
    const char *sig = http_header_get(req->http, "intent-signature");
    c->signature = strdup(sig ? sig : "");
    if (!c->signature) {
        free(errs);
        finish_problem(req, 500, "internal", "out of memory");
        return -1;
    }
    const json_t *tenant_holder = c->doc;
    const char *tenant_ptr = "/tenant_id";
    if (batch) {
        json_t *list = json_object_get(c->doc, "intents");
        if (!json_is_object(c->doc) || !json_is_array(list) || json_object_size(c->doc) != 1) {
            free(errs);
            finish_problem(req, 400, "invalid-batch",
                           "a batch is an object with one member, \"intents\", an array");
            return -1;
        }
        size_t n = json_array_size(list);
        if (n == 0 || n > BATCH_MAX) {
            free(errs);
            char d[120];
            snprintf(d, sizeof d, "a batch holds 1 to %d intents, not %zu", BATCH_MAX, n);
            finish_problem(req, 400, "invalid-batch", d);
            return -1;
        }
        const char *first = NULL;
        for (size_t i = 0; i < n; i++) {
            const char *t =
                json_string_value(json_object_get(json_array_get(list, i), "tenant_id"));
            if (!t || !api_valid_tenant_id(t) || (first && strcmp(first, t))) {
                free(errs);
                char d[160];
                snprintf(d, sizeof d,
                         "every intent of a batch must carry the same valid tenant_id "
                         "(see /intents/%zu/tenant_id)",
                         i);
                finish_problem(req, 400, "invalid-batch", d);
                return -1;
            }
            first = t;
        }
        tenant_holder = json_array_get(list, 0);
    }
    const char *tenant = json_string_value(json_object_get(tenant_holder, "tenant_id"));
    if (!tenant || !api_valid_tenant_id(tenant)) {
        int vrc = intent_schema_validate(c->doc, errs);
        (void)vrc; /* only its error list is wanted here */
        if (errs->count == 0) {
            snprintf(errs->items[0].pointer, sizeof errs->items[0].pointer, "%s", tenant_ptr);
            snprintf(errs->items[0].message, sizeof errs->items[0].message,
                     "tenant_id is required: 1-64 of [A-Za-z0-9._-]");
            errs->count = 1;
        }
        json_t *ej = api_schema_errors_json(errs);
        free(errs);
        req->svc = NULL;
        submit_ctx_free(c);
        api_reply_problem_errors(req, 400, "invalid-intent", ej,
                                 "the intent does not match action_intent.v1");
        return -1;
    }
    free(errs);
    snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
    return 0;
}

void svc_submit(struct api_req *req)
{
    if (begin_submission(req, false))
        return;
    struct submit_ctx *c = req->svc;
    tenant_keys_get(req->app, c->tenant, single_keyed, req);
}

/* --- batch submission --- */

static void batch_reply(struct api_req *req)
{
    struct submit_ctx *c = req->svc;
    json_t *body = json_pack("{s:O}", "results", c->results);
    req->svc = NULL;
    submit_ctx_free(c);
    api_reply_json(req, 200, body, NULL);
}

static void batch_landed(void *arg, int err, const PGresult *r, int first, int n)
{
    struct api_req *req = arg;
    struct submit_ctx *c = req->svc;
    if (err) {
        landing_failed(req, err);
        return;
    }
    for (int i = first; i < first + n; i++) {
        int idx = atoi(PQgetvalue(r, i, 1));
        int status = atoi(PQgetvalue(r, i, 2));
        json_t *res = json_array_get(c->results, (size_t)idx);
        json_object_set_new(res, "status", json_integer(status));
        if (status == 409)
            json_object_set_new(res, "error",
                                json_string("an intent with this action_intent_id exists with a "
                                            "different body"));
        else
            json_object_set_new(res, "state", json_string(PQgetvalue(r, i, 3)));
    }
    batch_reply(req);
}

static void batch_keyed(void *arg, int err, const struct tenant_key_set *ks)
{
    struct api_req *req = arg;
    struct submit_ctx *c = req->svc;
    if (!signature_ok(req, err, ks, batch_keyed))
        return;
    const char *why = NULL;
    json_t *list = json_object_get(c->doc, "intents");
    size_t n = json_array_size(list);
    c->results = json_array();
    struct buf items;
    buf_init(&items, ITEMS_MAX);
    struct schema_errors *errs = malloc(sizeof *errs);
    if (!c->results || !errs) {
        free(errs);
        finish_problem(req, 500, "internal", "out of memory");
        return;
    }
    int valid = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *intent = json_array_get(list, i);
        json_t *id = json_object_get(intent, "action_intent_id");
        json_t *res = json_pack("{s:O}", "action_intent_id", json_is_string(id) ? id : json_null());
        json_array_append_new(c->results, res);
        intent_schema_errors_init(errs);
        if (intent_schema_validate(intent, errs)) {
            json_object_set_new(res, "status", json_integer(400));
            json_object_set_new(res, "error",
                                json_string("the intent does not match action_intent.v1"));
            json_object_set_new(res, "errors", api_schema_errors_json(errs));
            continue;
        }
        json_t *perrs = NULL;
        int status = api_intent_semantics(req->app, intent, &why, &perrs);
        if (status) {
            json_object_set_new(res, "status", json_integer(status));
            json_object_set_new(res, "error", json_string(why));
            if (perrs)
                json_object_set_new(res, "errors", perrs);
            continue;
        }
        if (submit_item(&items, (int)i, intent, 0)) {
            free(errs);
            buf_free(&items);
            finish_problem(req, 500, "internal", "out of memory");
            return;
        }
        valid++;
    }
    free(errs);
    if (!valid) {
        buf_free(&items);
        batch_reply(req);
        return;
    }
    /* The parsed body (a few MB for 1,000 intents) is not needed while the transaction is out:
     * the items are serialized and each result holds its own reference to its id. */
    json_decref(c->doc);
    c->doc = NULL;
    enqueue_items(req, &items, valid, batch_landed);
}

void svc_submit_batch(struct api_req *req)
{
    if (begin_submission(req, true))
        return;
    struct submit_ctx *c = req->svc;
    tenant_keys_get(req->app, c->tenant, batch_keyed, req);
}

/* --- status, timeline --- */

bool api_read_tenant(struct api_req *req, char **tenant)
{
    *tenant = NULL;
    if (req->tenant[0]) {
        /* NULL would read as "every tenant" to the caller: a failed copy must not widen a
         * tenant token's view */
        *tenant = strdup(req->tenant);
        if (!*tenant) {
            api_reply_problem(req, 500, "internal", "out of memory");
            return false;
        }
        return true;
    }
    bool bad = false;
    *tenant = api_query_param(req, "tenant_id", &bad);
    if (bad) {
        api_reply_problem(req, 400, "bad-query",
                          "tenant_id is not valid percent-encoded UTF-8 text");
        return false;
    }
    return true;
}

bool api_require_tenant(struct api_req *req, char **tenant)
{
    if (!api_read_tenant(req, tenant))
        return false;
    if (*tenant)
        return true;
    api_reply_tenant_required(req);
    return false;
}

static void intent_fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[res->nresults - 1];
    if (PQntuples(r) == 0) {
        api_reply_problem(req, 404, "not-found", "no such intent");
        return;
    }
    if (PQntuples(r) > 1) {
        api_reply_problem(req, 400, "ambiguous",
                          "several tenants have an intent with this id: add ?tenant_id=");
        return;
    }
    api_reply_json(req, 200, intent_view(r, 0, IC__COUNT), NULL);
}

void svc_get_intent(struct api_req *req)
{
    char *tenant = NULL;
    if (!api_read_tenant(req, &tenant))
        return;
    int rc;
    if (tenant) {
        const char *p[2] = {tenant, req->params[0]};
        rc = store_query(req->app->store, Q_GET_INTENT, 2, p, intent_fetched, req);
    } else {
        const char *p[1] = {req->params[0]};
        rc = store_query(req->app->store, Q_FIND_INTENT_ANY_TENANT, 1, p, intent_fetched, req);
    }
    free(tenant);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

static json_t *timeline_event(const char *name, const char *at, json_t *payload)
{
    return json_pack("{s:n, s:s, s:n, s:n, s:n, s:s, s:o, s:s?}", "seq", "event", name,
                     "from_state", "to_state", "node_id", "actor", "approval-service", "payload",
                     payload ? payload : json_object(), "created_at", at);
}

static void timeline_fetched(void *arg, int err, const struct store_result *res,
                             const char *sqlstate, const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *doc = res->results[0], *rows = res->results[1];
    if (PQntuples(doc) != 1) {
        api_reply_problem(req, 404, "not-found", "no such intent");
        return;
    }
    json_t *intent = json_loads(PQgetvalue(doc, 0, 0), 0, NULL);
    json_t *events = json_array();
    if (!intent || !events) {
        json_decref(intent);
        json_decref(events);
        api_reply_problem(req, 500, "internal", "cannot render the timeline");
        return;
    }
    /* The decision and approval come before anything intentd did: they are part of the intent. */
    json_t *approval = json_object_get(intent, "approval");
    json_array_append_new(
        events,
        timeline_event("decision", NULL, json_deep_copy(json_object_get(intent, "decision"))));
    json_array_append_new(
        events,
        timeline_event("approval", json_string_value(json_object_get(approval, "approved_at")),
                       json_deep_copy(approval)));
    for (int i = 0; i < PQntuples(rows); i++) {
        json_t *payload = json_loads(PQgetvalue(rows, i, 6), 0, NULL);
        json_t *e =
            json_pack("{s:I, s:s, s:s?, s:s?, s:s, s:s, s:o, s:s}", "seq",
                      (json_int_t)atoll(PQgetvalue(rows, i, 0)), "event", PQgetvalue(rows, i, 1),
                      "from_state", PQgetisnull(rows, i, 2) ? NULL : PQgetvalue(rows, i, 2),
                      "to_state", PQgetisnull(rows, i, 3) ? NULL : PQgetvalue(rows, i, 3),
                      "node_id", PQgetvalue(rows, i, 4), "actor", PQgetvalue(rows, i, 5), "payload",
                      payload ? payload : json_object(), "created_at", PQgetvalue(rows, i, 7));
        json_array_append_new(events, e);
    }
    json_t *body = json_pack("{s:O, s:O, s:o}", "action_intent_id",
                             json_object_get(intent, "action_intent_id"), "tenant_id",
                             json_object_get(intent, "tenant_id"), "events", events);
    json_decref(intent);
    api_reply_json(req, 200, body, NULL);
}

void svc_timeline(struct api_req *req)
{
    char *tenant = NULL;
    if (!api_require_tenant(req, &tenant))
        return;
    const char *p[2] = {tenant, req->params[0]};
    struct store_stmt st[2] = {{Q_INTENT_DOC, 2, p}, {Q_TIMELINE, 2, p}};
    int rc = store_txn(req->app->store, st, 2, timeline_fetched, req);
    free(tenant);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

/* --- listings --- */

struct list_ctx {
    int limit;
};

static const char *const STATES[] = {"PENDING", "EXECUTING", "COMPENSATING", "SUCCEEDED",
                                     "FAILED",  "EXPIRED",   "CANCELLED",    NULL};

static void list_fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                         const char *msg)
{
    struct api_req *req = arg;
    struct list_ctx *lc = req->svc;
    req->svc = NULL;
    int limit = lc->limit;
    free(lc);
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    json_t *items = json_array();
    for (int i = 0; items && i < n && i < limit; i++)
        json_array_append_new(items, intent_view(r, i, -1));
    json_t *cursor = json_null();
    if (n > limit) {
        /* The cursor is the last row's keyset position, opaque to clients. */
        char raw[512], enc[720];
        snprintf(raw, sizeof raw, "%s|%s|%s", PQgetvalue(r, limit - 1, IC_SUBMITTED),
                 PQgetvalue(r, limit - 1, IC_TENANT), PQgetvalue(r, limit - 1, IC_ID));
        if (!crypto_base64url_encode(raw, strlen(raw), enc, sizeof enc))
            cursor = json_string(enc);
    }
    api_reply_json(req, 200, json_pack("{s:o, s:o}", "items", items, "next_cursor", cursor), NULL);
}

void svc_list_executions(struct api_req *req)
{
    char *tenant = NULL;
    if (!api_read_tenant(req, &tenant))
        return;
    bool bad = false;
    char *status = api_query_param(req, "status", &bad);
    char *type = api_query_param(req, "action_type", &bad);
    char *since = api_query_param(req, "since", &bad);
    char *until = api_query_param(req, "until", &bad);
    char *limit_s = api_query_param(req, "limit", &bad);
    char *cursor = api_query_param(req, "cursor", &bad);
    char cur_ts[512] = "", cur_tenant[512] = "", cur_id[512] = "";
    const char *problem = NULL;
    long long t;
    int limit = 50;
    if (bad)
        problem = API_BAD_QUERY;
    if (!problem && status) {
        bool ok = false;
        for (int i = 0; STATES[i]; i++)
            ok = ok || !strcmp(STATES[i], status);
        if (!ok)
            problem = "status must be one of PENDING, EXECUTING, COMPENSATING, SUCCEEDED, "
                      "FAILED, EXPIRED, CANCELLED";
    }
    if (!problem)
        problem = api_time_range_problem(since, until);
    if (!problem && limit_s) {
        long long v;
        if (!api_parse_int(limit_s, 1, 500, &v))
            problem = "limit must be an integer from 1 to 500";
        else
            limit = (int)v;
    }
    if (!problem && type && strlen(type) > 128)
        problem = "action_type is too long";
    if (!problem && cursor) {
        unsigned char raw[512];
        size_t rawlen = 0;
        /* its tenant and id go to PostgreSQL as text, which must be UTF-8 */
        if (strlen(cursor) > 680 ||
            crypto_base64url_decode(cursor, strlen(cursor), raw, sizeof raw - 1, &rawlen) ||
            !utf8_valid((const char *)raw, rawlen)) {
            problem = "cursor is not one this server issued";
        } else {
            raw[rawlen] = '\0';
            char *a = (char *)raw, *b = strchr(a, '|'), *c = b ? strchr(b + 1, '|') : NULL;
            if (!b || !c || intent_parse_rfc3339((*b = '\0', a), &t)) {
                problem = "cursor is not one this server issued";
            } else {
                *c = '\0';
                snprintf(cur_ts, sizeof cur_ts, "%s", a);
                snprintf(cur_tenant, sizeof cur_tenant, "%s", b + 1);
                snprintf(cur_id, sizeof cur_id, "%s", c + 1);
            }
        }
    }
    struct list_ctx *lc = problem ? NULL : calloc(1, sizeof *lc);
    int rc = 0;
    if (!problem && lc) {
        lc->limit = limit;
        char lim[16];
        snprintf(lim, sizeof lim, "%d", limit + 1);
        const char *p[10] = {tenant,
                             req->params[0], /* the account, on /v1/accounts/{id}/executions */
                             status,
                             type,
                             since,
                             until,
                             cursor ? cur_ts : NULL,
                             cursor ? cur_tenant : NULL,
                             cursor ? cur_id : NULL,
                             lim};
        req->svc = lc;
        rc = store_query(req->app->store, Q_LIST, 10, p, list_fetched, req);
        if (rc) {
            req->svc = NULL;
            free(lc);
        }
    }
    free(tenant);
    free(status);
    free(type);
    free(since);
    free(until);
    free(limit_s);
    free(cursor);
    if (problem)
        api_reply_problem(req, 400, "bad-query", "%s", problem);
    else if (!lc)
        api_reply_problem(req, 500, "internal", "out of memory");
    else if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

/* --- cancel --- */

static void cancelled(void *arg, int err, const struct store_result *res, const char *sqlstate,
                      const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    const char *result = PQgetvalue(res->results[0], 0, 0);
    if (!strcmp(result, "notfound")) {
        api_reply_not_found_or_archived(req, res->results[1]);
        return;
    }
    if (!strcmp(result, "terminal")) {
        api_reply_problem(req, 409, "already-finished", "the intent is already %s",
                          PQgetvalue(res->results[0], 0, 1));
        return;
    }
    PGresult *r = res->results[1];
    log_ctx(LOG_INFO, req->request_id, req->params[0], "cancel %s by %s", result, req->actor);
    api_reply_json(req, !strcmp(result, "cancelled") ? 200 : 202, intent_view(r, 0, IC__COUNT),
                   NULL);
}

void svc_cancel(struct api_req *req)
{
    json_t *body = NULL;
    struct schema_errors *errs = malloc(sizeof *errs);
    if (!errs) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    intent_schema_errors_init(errs);
    int prc = intent_schema_parse(req->http->body, req->http->body_len, &body, errs);
    free(errs);
    const char *reason = prc ? NULL : json_string_value(json_object_get(body, "reason"));
    if (!reason || !*reason || strlen(reason) > REASON_MAX) {
        json_decref(body);
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/reason", "message",
                                           "reason is required: 1 to 1000 characters"),
                                 "a cancel needs a reason");
        return;
    }
    char *tenant = NULL;
    if (!api_require_tenant(req, &tenant)) {
        json_decref(body);
        return;
    }
    const char *p[5] = {tenant, req->params[0], reason, req->actor, req->app->cfg.node_id};
    struct store_stmt st[2] = {{Q_CANCEL, 5, p}, {Q_GET_INTENT, 2, p}};
    int rc = store_txn(req->app->store, st, 2, cancelled, req);
    free(tenant);
    json_decref(body);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}
