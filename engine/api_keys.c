/* Tenants, their tokens and approval keys after creation (SPEC §6, admin): list tenants, list
 * and revoke tokens, list and rotate approval keys. Secrets never leave except the new key of a
 * rotation, once. A tenant's own admin token manages that tenant only: another tenant is answered
 * 404, as if it did not exist. The bootstrap INTENTD_ADMIN_TOKEN lives in the environment, not in
 * intentd.tokens, so it is neither listed nor revocable here. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "crypto.h"
#include "json_errors.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "tenant_keys.h"

#define KEY_PREFIX      "iak_"
#define TOKEN_ID_LEN    20 /* "tok_" and 16 hex digits (008_tokens_keys.sql) */
#define OVERLAP_DEFAULT 86400
#define OVERLAP_MAX     (30 * 86400)
#define TENANTS_PAGE    1000

/* The path's tenant when req may manage it; otherwise replies 404 and returns NULL. */
static const char *managed_tenant(struct api_req *req)
{
    const char *t = req->params[0];
    if (!api_valid_tenant_id(t) || !api_tenant_visible(req, t)) {
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return NULL;
    }
    return t;
}

static bool valid_token_id(const char *s)
{
    if (!s || strlen(s) != TOKEN_ID_LEN || strncmp(s, "tok_", 4))
        return false;
    for (s += 4; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static const char *nullable(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* A read's rows, or NULL after replying to its failure. */
static PGresult *first_result(struct api_req *req, int err, const struct store_result *res,
                              const char *sqlstate, const char *msg)
{
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return NULL;
    }
    return res->results[0];
}

/* --- tenants --- */

static void tenants_listed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct api_req *req = arg;
    PGresult *r = first_result(req, err, res, sqlstate, msg);
    if (!r)
        return;
    int n = PQntuples(r);
    json_t *list = json_array();
    bool bad = !list;
    for (int i = 0; !bad && i < n; i++) {
        char key[16];
        snprintf(key, sizeof key, "v%s", PQgetvalue(r, i, 2));
        bad = json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:I}", "tenant_id", PQgetvalue(r, i, 0), "created_at",
                            PQgetvalue(r, i, 1), "key_id", key, "active_tokens",
                            (json_int_t)atoll(PQgetvalue(r, i, 3))));
    }
    if (bad) {
        json_decref(list);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    /* a full page: more may follow after its last tenant */
    const char *next = n == TENANTS_PAGE ? PQgetvalue(r, n - 1, 0) : NULL;
    api_reply_json(req, 200, json_pack("{s:o, s:s?}", "tenants", list, "next_after", next), NULL);
}

void svc_list_tenants(struct api_req *req)
{
    bool bad = false;
    char *after = api_query_param(req, "after", &bad);
    if (bad || (after && !api_valid_tenant_id(after))) {
        free(after);
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/after", "message",
                                           "after must be a tenant id: 1-64 of [A-Za-z0-9._-]"),
                                 "the after parameter is not valid");
        return;
    }
    char limit[16];
    snprintf(limit, sizeof limit, "%d", TENANTS_PAGE);
    /* a tenant's admin token sees its own tenant only */
    const char *p[3] = {req->tenant[0] ? req->tenant : NULL, after ? after : "", limit};
    int rc = store_query(req->app->store, Q_TENANTS_LIST, 3, p, tenants_listed, req);
    free(after);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

/* --- tokens --- */

static void tokens_listed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                          const char *msg)
{
    struct api_req *req = arg;
    PGresult *r = first_result(req, err, res, sqlstate, msg);
    if (!r)
        return;
    if (PQntuples(r) == 0) {
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    json_t *list = json_array();
    bool bad = !list;
    for (int i = 0; !bad && i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 0))
            continue; /* a tenant without tokens */
        bad = json_array_append_new(
            list, json_pack("{s:s, s:s, s:s, s:s?}", "token_id", PQgetvalue(r, i, 0), "role",
                            PQgetvalue(r, i, 1), "created_at", PQgetvalue(r, i, 2), "revoked_at",
                            nullable(r, i, 3)));
    }
    if (bad) {
        json_decref(list);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    api_reply_json(req, 200, json_pack("{s:s, s:o}", "tenant_id", req->params[0], "tokens", list),
                   NULL);
}

/* Runs sql with the path's tenant as $1 when req may manage it. */
static void tenant_read(struct api_req *req, const char *sql, store_cb cb)
{
    const char *tenant = managed_tenant(req);
    if (!tenant)
        return;
    const char *p[1] = {tenant};
    int rc = store_query(req->app->store, sql, 1, p, cb, req);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

void svc_list_tokens(struct api_req *req)
{
    tenant_read(req, Q_TOKENS_LIST, tokens_listed);
}

static void token_revoked(void *arg, int err, const struct store_result *res, const char *sqlstate,
                          const char *msg)
{
    struct api_req *req = arg;
    PGresult *r = first_result(req, err, res, sqlstate, msg);
    if (!r)
        return;
    const char *result = PQgetvalue(r, 0, 0);
    if (!strcmp(result, "notfound")) {
        api_reply_problem(req, 404, "not-found", "no such token");
        return;
    }
    bool changed = !strcmp(result, "revoked");
    if (changed)
        log_ctx(LOG_INFO, req->request_id, NULL, "token %s of tenant %s revoked by %s",
                req->params[1], req->params[0], req->actor);
    api_reply_json(req, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "tenant_id", req->params[0],
                             "token_id", req->params[1], "role", PQgetvalue(r, 0, 1), "created_at",
                             PQgetvalue(r, 0, 2), "revoked_at", PQgetvalue(r, 0, 3), "changed",
                             changed),
                   NULL);
}

void svc_revoke_token(struct api_req *req)
{
    const char *tenant = managed_tenant(req);
    if (!tenant)
        return;
    if (!valid_token_id(req->params[1])) {
        api_reply_problem(req, 404, "not-found", "no such token");
        return;
    }
    const char *p[4] = {tenant, req->params[1], req->actor, req->app->cfg.node_id};
    int rc = store_query(req->app->store, Q_TOKEN_REVOKE, 4, p, token_revoked, req);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

/* --- approval keys --- */

static void key_json_add(json_t *list, const char *id, const char *state, const char *created,
                         const char *expires)
{
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?}", "key_id", id, "state", state,
                                          "created_at", created, "expires_at", expires));
}

static void keys_listed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                        const char *msg)
{
    struct api_req *req = arg;
    PGresult *r = first_result(req, err, res, sqlstate, msg);
    if (!r)
        return;
    if (PQntuples(r) != 1) {
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    int version = atoi(PQgetvalue(r, 0, 0));
    char cur[16], prev[16];
    snprintf(cur, sizeof cur, "v%d", version);
    snprintf(prev, sizeof prev, "v%d", version - 1);
    json_t *list = json_array();
    if (list) {
        key_json_add(list, cur, "current", PQgetvalue(r, 0, 1), NULL);
        if (!strcmp(PQgetvalue(r, 0, 2), "t"))
            key_json_add(list, prev, strcmp(PQgetvalue(r, 0, 5), "t") ? "expired" : "previous",
                         PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 4));
    }
    json_t *body = list ? json_pack("{s:s, s:o}", "tenant_id", req->params[0], "keys", list) : NULL;
    api_reply_json(req, 200, body, NULL);
}

void svc_list_keys(struct api_req *req)
{
    tenant_read(req, Q_KEYS_LIST, keys_listed);
}

struct rotation {
    char key[96]; /* the new key: wiped before it is freed */
    int overlap;
};

static void rotation_free(struct rotation *k)
{
    if (k)
        crypto_cleanse(k, sizeof *k);
    free(k);
}

static void key_rotated(void *arg, int err, const struct store_result *res, const char *sqlstate,
                        const char *msg)
{
    struct api_req *req = arg;
    struct rotation *k = req->svc;
    req->svc = NULL;
    if (err) {
        rotation_free(k);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        rotation_free(k);
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    /* this node at once; the others from the NOTIFY, a failed signature or their TTL */
    tenant_keys_forget(req->app->keys, req->params[0]);
    char cur[16], prev[16], dropped[16];
    snprintf(cur, sizeof cur, "v%s", PQgetvalue(r, 0, 0));
    snprintf(prev, sizeof prev, "v%s", PQgetvalue(r, 0, 1));
    snprintf(dropped, sizeof dropped, "v%s", PQgetvalue(r, 0, 3));
    log_ctx(LOG_INFO, req->request_id, NULL,
            "approval key of tenant %s rotated to %s by %s (overlap %d s)", req->params[0], cur,
            req->actor, k->overlap);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:s?, s:s?}", "tenant_id", req->params[0], "key_id",
                  cur, "approval_key", k->key, "previous_key_id", prev, "overlap_seconds",
                  k->overlap, "previous_expires_at", nullable(r, 0, 2), "dropped_key_id",
                  PQgetisnull(r, 0, 3) ? NULL : dropped);
    rotation_free(k);
    api_reply_json(req, 200, body, NULL);
}

/* Reads {"overlap_seconds": N} (the body may be empty: the default). Returns -1 after replying
 * 400. */
static int read_overlap(struct api_req *req)
{
    if (req->http->body_len == 0)
        return OVERLAP_DEFAULT;
    json_t *doc = api_read_json_object(req);
    if (!doc)
        return -1;
    json_t *errors = json_array();
    if (!errors) {
        json_decref(doc);
        api_reply_problem(req, 500, "internal", "out of memory");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach(doc, name, v)
    {
        if (strcmp(name, "overlap_seconds"))
            json_errors_add(errors, "", name, "unknown member (only overlap_seconds is allowed)");
    }
    v = json_object_get(doc, "overlap_seconds");
    json_int_t n = v ? json_integer_value(v) : OVERLAP_DEFAULT;
    if (v && (!json_is_integer(v) || n < 0 || n > OVERLAP_MAX))
        json_errors_add(errors, "/overlap_seconds", NULL,
                        "overlap_seconds must be an integer from 0 to 2592000 (30 days)");
    json_decref(doc);
    if (json_array_size(errors)) {
        api_reply_problem_errors(req, 400, "invalid-request", errors,
                                 "the rotation request is not valid");
        return -1;
    }
    json_decref(errors);
    return (int)n;
}

void svc_rotate_key(struct api_req *req)
{
    const char *tenant = managed_tenant(req);
    if (!tenant)
        return;
    int overlap = read_overlap(req);
    if (overlap < 0)
        return;
    struct rotation *k = calloc(1, sizeof *k);
    char *sealed = NULL;
    int rc = k ? 0 : IE_NOMEM;
    if (!rc) {
        k->overlap = overlap;
        rc = crypto_random_token(KEY_PREFIX, k->key, sizeof k->key);
    }
    if (!rc)
        rc = crypto_seal_text(req->app->master_key, tenant, strlen(tenant), k->key, strlen(k->key),
                              &sealed);
    if (!rc) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", overlap);
        const char *p[5] = {tenant, sealed, secs, req->actor, req->app->cfg.node_id};
        req->svc = k;
        rc = store_query(req->app->store, Q_KEY_ROTATE, 5, p, key_rotated, req);
        if (rc)
            req->svc = NULL;
    }
    free(sealed);
    if (rc) {
        rotation_free(k);
        if (rc == IE_UNAVAIL || rc == IE_NOMEM)
            api_reply_store_error(req, rc, NULL, NULL);
        else
            api_reply_problem(req, 500, "internal", "cannot make a key: %s", ie_strerror(rc));
    }
}
