/* Admin and health services: tenants and tokens, ledger verification, readiness, the list of
 * action types. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "asl.h"
#include "crypto.h"
#include "log.h"
#include "migrations.h"
#include "queries.h"
#include "store.h"
#include "workflows.h"

#define TOKEN_PREFIX "itk_"
#define KEY_PREFIX   "iak_"
#define VERIFY_PAGE  "5000"
#define TOKEN_ID_BUF 21

/* Parses a small JSON object body; replies 400 and returns NULL when it is not one. */
static json_t *object_body(struct api_req *req)
{
    struct schema_errors *errs = malloc(sizeof *errs);
    json_t *doc = NULL;
    if (!errs) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return NULL;
    }
    intent_schema_errors_init(errs);
    int rc = intent_schema_parse(req->http->body, req->http->body_len, &doc, errs);
    free(errs);
    if (rc || !json_is_object(doc)) {
        json_decref(doc);
        api_reply_problem(req, 400, "malformed-json", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}

/* --- tenants --- */

struct tenant_ctx {
    char tenant[72];
    char key[96];
    char operator_token[96];
    char oncall_token[96];
    char operator_id[TOKEN_ID_BUF];
    char oncall_id[TOKEN_ID_BUF];
};

/* A token's public id from the hex SHA-256 of its secret, as 008_tokens_keys.sql derives it. */
static void token_id(const char *hash_hex, char out[TOKEN_ID_BUF])
{
    snprintf(out, TOKEN_ID_BUF, "tok_%.16s", hash_hex);
}

static void tenant_ctx_free(struct tenant_ctx *c)
{
    if (c)
        crypto_cleanse(c, sizeof *c);
    free(c);
}

static void tenant_created(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct api_req *req = arg;
    struct tenant_ctx *c = req->svc;
    req->svc = NULL;
    if (err) {
        tenant_ctx_free(c);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    if (strcmp(PQgetvalue(res->results[0], 0, 0), "t")) {
        tenant_ctx_free(c);
        api_reply_problem(req, 409, "tenant-exists", "the tenant already exists");
        return;
    }
    log_ctx(LOG_INFO, req->request_id, NULL, "tenant %s created by %s", c->tenant, req->actor);
    json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s}}", "tenant_id", c->tenant,
                             "approval_key", c->key, "key_id", "v1", "tokens", "operator",
                             c->operator_token, "oncall", c->oncall_token, "token_ids", "operator",
                             c->operator_id, "oncall", c->oncall_id);
    tenant_ctx_free(c);
    api_reply_json(req, 201, body, NULL);
}

void svc_create_tenant(struct api_req *req)
{
    /* A tenant's admin token manages its own tenant; a new tenant is the operator of the whole
     * deployment's decision, so only the global admin token may make one. */
    if (req->tenant[0] != '\0') {
        api_reply_problem(req, 403, "forbidden", "creating a tenant needs the global admin token");
        return;
    }
    json_t *doc = object_body(req);
    if (!doc)
        return;
    const char *tenant = json_string_value(json_object_get(doc, "tenant_id"));
    if (!api_valid_tenant_id(tenant) || json_object_size(doc) != 1) {
        json_decref(doc);
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/tenant_id", "message",
                                           "tenant_id is required: 1-64 of [A-Za-z0-9._-], and "
                                           "nothing else may be given"),
                                 "the tenant is not valid");
        return;
    }
    struct tenant_ctx *c = calloc(1, sizeof *c);
    char *sealed = NULL;
    char ophash[CRYPTO_SHA256_HEX_LEN + 1], onhash[CRYPTO_SHA256_HEX_LEN + 1];
    json_t *tokens = NULL;
    int rc = c ? 0 : IE_NOMEM;
    if (!rc) {
        snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
        rc = crypto_random_token(KEY_PREFIX, c->key, sizeof c->key);
    }
    if (!rc)
        rc = crypto_random_token(TOKEN_PREFIX, c->operator_token, sizeof c->operator_token);
    if (!rc)
        rc = crypto_random_token(TOKEN_PREFIX, c->oncall_token, sizeof c->oncall_token);
    if (!rc)
        rc = crypto_seal_text(req->app->master_key, c->tenant, strlen(c->tenant), c->key,
                              strlen(c->key), &sealed);
    if (!rc)
        rc = crypto_sha256_hex(c->operator_token, strlen(c->operator_token), ophash);
    if (!rc)
        rc = crypto_sha256_hex(c->oncall_token, strlen(c->oncall_token), onhash);
    if (!rc) {
        token_id(ophash, c->operator_id);
        token_id(onhash, c->oncall_id);
        tokens = json_pack("[{s:s, s:s}, {s:s, s:s}]", "hash", ophash, "role", "operator", "hash",
                           onhash, "role", "oncall");
        rc = tokens ? 0 : IE_NOMEM;
    }
    char *tokens_text = rc ? NULL : json_dumps(tokens, JSON_COMPACT);
    json_decref(tokens);
    json_decref(doc);
    if (!rc && !tokens_text)
        rc = IE_NOMEM;
    if (!rc) {
        const char *p[5] = {c->tenant, sealed, tokens_text, req->actor, req->app->cfg.node_id};
        req->svc = c;
        rc = store_query(req->app->store, Q_CREATE_TENANT, 5, p, tenant_created, req);
        if (rc)
            req->svc = NULL;
    }
    free(sealed);
    free(tokens_text);
    if (rc) {
        tenant_ctx_free(c);
        if (rc == IE_UNAVAIL)
            api_reply_store_error(req, rc, NULL, NULL);
        else
            api_reply_problem(req, 500, "internal", "cannot create the tenant: %s",
                              ie_strerror(rc));
    }
}

struct token_ctx {
    char tenant[72];
    char role[16];
    char token[96];
    char id[TOKEN_ID_BUF];
};

static void token_created(void *arg, int err, const struct store_result *res, const char *sqlstate,
                          const char *msg)
{
    struct api_req *req = arg;
    struct token_ctx *c = req->svc;
    req->svc = NULL;
    if (err) {
        crypto_cleanse(c, sizeof *c);
        free(c);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    if (strcmp(PQgetvalue(res->results[0], 0, 0), "t")) {
        crypto_cleanse(c, sizeof *c);
        free(c);
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "tenant_id", c->tenant, "role", c->role,
                             "token", c->token, "token_id", c->id);
    crypto_cleanse(c, sizeof *c);
    free(c);
    api_reply_json(req, 201, body, NULL);
}

void svc_create_token(struct api_req *req)
{
    json_t *doc = object_body(req);
    if (!doc)
        return;
    const char *role = json_string_value(json_object_get(doc, "role"));
    if (!role || (strcmp(role, "operator") && strcmp(role, "oncall") && strcmp(role, "admin"))) {
        json_decref(doc);
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/role", "message",
                                           "role must be operator, oncall or admin"),
                                 "the role is not valid");
        return;
    }
    /* a tenant's own admin token adds tokens to its tenant only */
    if (!api_valid_tenant_id(req->params[0]) || !api_tenant_visible(req, req->params[0])) {
        json_decref(doc);
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    struct token_ctx *c = calloc(1, sizeof *c);
    char hash[CRYPTO_SHA256_HEX_LEN + 1];
    int rc = c ? 0 : IE_NOMEM;
    if (!rc) {
        snprintf(c->tenant, sizeof c->tenant, "%s", req->params[0]);
        snprintf(c->role, sizeof c->role, "%s", role);
        rc = crypto_random_token(TOKEN_PREFIX, c->token, sizeof c->token);
    }
    if (!rc)
        rc = crypto_sha256_hex(c->token, strlen(c->token), hash);
    if (!rc)
        token_id(hash, c->id);
    json_decref(doc);
    if (!rc) {
        const char *p[5] = {c->tenant, hash, c->role, req->actor, req->app->cfg.node_id};
        req->svc = c;
        rc = store_query(req->app->store, Q_CREATE_TOKEN, 5, p, token_created, req);
        if (rc)
            req->svc = NULL;
    }
    if (rc) {
        free(c);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

/* --- ledger verification: the chain is read in pages and every hash recomputed here, so the
 * check does not trust the database's own hashing. It starts at the genesis hash, or, once old
 * partitions were archived, after the newest archived range, from the last hash recorded for it
 * in intentd.ledger_archives (the anchor; the answer's from_seq says where it started). --- */

struct verify_ctx {
    long long rows;
    long long last_seq;
    long long from_seq;
    unsigned char prev[CRYPTO_SHA256_LEN];
};

static void verify_page(struct api_req *req);

static void verify_reply(struct api_req *req, bool ok, long long seq, const char *reason)
{
    struct verify_ctx *v = req->svc;
    req->svc = NULL;
    json_t *body = ok ? json_pack("{s:b, s:I, s:I}", "ok", 1, "rows", (json_int_t)v->rows,
                                  "from_seq", (json_int_t)v->from_seq)
                      : json_pack("{s:b, s:I, s:I, s:I, s:s}", "ok", 0, "rows", (json_int_t)v->rows,
                                  "from_seq", (json_int_t)v->from_seq, "seq", (json_int_t)seq,
                                  "reason", reason);
    if (!ok)
        log_ctx(LOG_WARN, req->request_id, NULL, "ledger verification failed at seq %lld: %s", seq,
                reason);
    free(v);
    api_reply_json(req, 200, body, NULL);
}

static void verify_fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct api_req *req = arg;
    struct verify_ctx *v = req->svc;
    if (err) {
        req->svc = NULL;
        free(v);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        long long seq = atoll(PQgetvalue(r, i, 0));
        unsigned char prev[CRYPTO_SHA256_LEN], stored[CRYPTO_SHA256_LEN], calc[CRYPTO_SHA256_LEN];
        size_t len = 0;
        if (seq != v->last_seq + 1) {
            verify_reply(req, false, v->last_seq + 1,
                         "row missing: the sequence jumps (a row was deleted)");
            return;
        }
        if (crypto_hex_decode(PQgetvalue(r, i, 1), strlen(PQgetvalue(r, i, 1)), prev, sizeof prev,
                              &len) ||
            len != sizeof prev ||
            crypto_hex_decode(PQgetvalue(r, i, 2), strlen(PQgetvalue(r, i, 2)), stored,
                              sizeof stored, &len) ||
            len != sizeof stored) {
            verify_reply(req, false, seq, "hash columns are malformed");
            return;
        }
        if (!crypto_equal(prev, v->prev, sizeof prev)) {
            verify_reply(req, false, seq,
                         "prev_hash does not match the previous row's hash (rows were removed, "
                         "reordered or rewritten)");
            return;
        }
        const char *canon = PQgetvalue(r, i, 3);
        struct iovec iov[2] = {{prev, sizeof prev}, {(void *)canon, strlen(canon)}};
        if (crypto_sha256_v(iov, 2, calc) || !crypto_equal(calc, stored, sizeof calc)) {
            verify_reply(req, false, seq, "hash mismatch: the row's contents were altered");
            return;
        }
        memcpy(v->prev, stored, sizeof stored);
        v->last_seq = seq;
        v->rows++;
    }
    if (n == 0) {
        verify_reply(req, true, 0, NULL);
        return;
    }
    verify_page(req);
}

static void verify_page(struct api_req *req)
{
    struct verify_ctx *v = req->svc;
    char after[32];
    snprintf(after, sizeof after, "%lld", v->last_seq);
    const char *p[2] = {after, VERIFY_PAGE};
    int rc = store_query(req->app->store, Q_LEDGER_PAGE, 2, p, verify_fetched, req);
    if (rc) {
        req->svc = NULL;
        free(v);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

static void verify_anchored(void *arg, int err, const struct store_result *res,
                            const char *sqlstate, const char *msg)
{
    struct api_req *req = arg;
    struct verify_ctx *v = req->svc;
    size_t len = 0;
    const char *hex = err ? "" : PQgetvalue(res->results[0], 0, 1);
    if (err || crypto_hex_decode(hex, strlen(hex), v->prev, sizeof v->prev, &len) ||
        len != sizeof v->prev) {
        req->svc = NULL;
        free(v);
        if (err)
            api_reply_store_error(req, err, sqlstate, msg);
        else
            api_reply_problem(req, 500, "internal", "the archive anchor's hash is malformed");
        return;
    }
    v->last_seq = atoll(PQgetvalue(res->results[0], 0, 0));
    v->from_seq = v->last_seq + 1;
    verify_page(req);
}

void svc_ledger_verify(struct api_req *req)
{
    /* The chain runs through every tenant's rows: its row count, and a break's seq and reason,
     * describe the other tenants too, and a tenant's own rows cannot be verified apart from
     * theirs. So only the global admin token, which sees every tenant, verifies it. */
    if (req->tenant[0] != '\0') {
        api_reply_problem(req, 403, "forbidden",
                          "verifying the ledger needs the global admin token: the hash chain "
                          "spans every tenant");
        return;
    }
    struct verify_ctx *v = calloc(1, sizeof *v);
    if (!v) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    req->svc = v;
    int rc = store_query(req->app->store, Q_LEDGER_ANCHOR, 0, NULL, verify_anchored, req);
    if (rc) {
        req->svc = NULL;
        free(v);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

/* --- readiness and action types --- */

static void ready_checked(void *arg, int err, const struct store_result *res, const char *sqlstate,
                          const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_problem(req, 503, "not-ready", "the database is not reachable");
        return;
    }
    int v = atoi(PQgetvalue(res->results[0], 0, 0));
    if (v != migrations_latest()) {
        api_reply_problem(req, 503, "not-ready", "schema version %d, expected %d", v,
                          migrations_latest());
        return;
    }
    api_reply_json(req, 200, json_pack("{s:s, s:i}", "status", "ready", "schema_version", v), NULL);
}

void svc_readyz(struct api_req *req)
{
    if (req->app->stopping) {
        api_reply_problem(req, 503, "not-ready", "this node is shutting down");
        return;
    }
    int rc = store_query(req->app->store, Q_READY, 0, NULL, ready_checked, req);
    if (rc)
        api_reply_problem(req, 503, "not-ready", "the database is not reachable");
}

static json_t *task_json(const struct asl_state *st)
{
    const struct adapter_op *op = adapter_find(st->operation);
    json_t *retry = json_array();
    for (size_t i = 0; retry && i < st->nretry; i++) {
        const struct asl_retrier *r = &st->retry[i];
        json_t *errs = json_array();
        for (size_t k = 0; errs && k < r->nerrors; k++)
            json_array_append_new(errs, json_string(r->errors[k]));
        json_array_append_new(
            retry,
            json_pack("{s:o, s:i, s:f, s:i, s:o, s:s}", "error_equals", errs, "interval_seconds",
                      r->interval_seconds, "backoff_rate", r->backoff_rate, "max_attempts",
                      r->max_attempts, "max_delay_seconds",
                      r->max_delay_seconds > 0 ? json_integer(r->max_delay_seconds) : json_null(),
                      "jitter", r->jitter_full ? "FULL" : "NONE"));
    }
    return json_pack("{s:s, s:s, s:s?, s:b, s:o}", "state", st->name, "operation", st->operation,
                     "compensate", st->compensate, "reversible",
                     st->compensate != NULL && op && op->reversible, "retry", retry);
}

void svc_action_types(struct api_req *req)
{
    json_t *list = json_array();
    const struct workflows *w = req->app->workflows;
    for (size_t i = 0; list && i < workflows_count(w); i++) {
        const char *name = workflows_name_at(w, i);
        const struct asl_machine *m = workflows_get(w, name);
        json_t *states = json_array(), *tasks = json_array();
        bool reversible = true;
        for (size_t k = 0; k < asl_state_count(m); k++)
            json_array_append_new(states, json_string(asl_state_at(m, k)->name));
        for (size_t k = 0; k < asl_task_count(m); k++) {
            const struct asl_state *st = asl_task_at(m, k);
            reversible = reversible && st->compensate;
            json_array_append_new(tasks, task_json(st));
        }
        json_array_append_new(list, json_pack("{s:s, s:s?, s:s, s:o, s:o, s:b}", "action_type",
                                              name, "comment", asl_comment(m), "start_at",
                                              asl_start_at(m), "states", states, "tasks", tasks,
                                              "reversible", reversible));
    }
    api_reply_json(req, 200, json_pack("{s:o}", "action_types", list), NULL);
}
