/* Signal push configuration: PUT, GET and DELETE /v1/signals/push (the pusher is
 * signal_push.c). The URL may carry a secret (a token in its path or query), so it is shown
 * only to on-call and admins, never logged, and the ledger names only its origin. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json_errors.h"
#include "log.h"
#include "queries.h"
#include "store.h"

/* The tenant acted on: the token's own, or for a global admin the one named (NULL: none). A
 * tenant token naming another tenant is answered as if nothing were configured, as for
 * connectors. */
static int pick_tenant(const struct api_req *req, const char *named, const char **tenant)
{
    if (req->tenant[0]) {
        *tenant = req->tenant;
        return named && strcmp(named, req->tenant) ? IE_NOTFOUND : 0;
    }
    *tenant = named;
    return 0;
}

/* One row of SIGNAL_PUSH_COLUMNS as the API shows it. */
static json_t *row_view(PGresult *r)
{
    return json_pack(
        "{s:s, s:s, s:I, s:i, s:s?, s:s, s:s, s:s}", "tenant_id", PQgetvalue(r, 0, 0), "url",
        PQgetvalue(r, 0, 1), "last_seq", (json_int_t)strtoll(PQgetvalue(r, 0, 2), NULL, 10),
        "attempts", atoi(PQgetvalue(r, 0, 3)), "last_error",
        PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4), "next_attempt_at", PQgetvalue(r, 0, 7),
        "updated_at", PQgetvalue(r, 0, 5), "updated_by", PQgetvalue(r, 0, 6));
}

static void reply_row(void *arg, int err, const struct store_result *res, const char *sqlstate,
                      const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        api_reply_problem(req, 404, "not-found",
                          strcmp(req->http->method, "PUT") ? "no signal push is configured"
                                                           : "no such tenant");
        return;
    }
    json_t *view = row_view(r);
    if (!view) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    if (!strcmp(req->http->method, "PUT"))
        log_ctx(LOG_INFO, req->request_id, NULL, "signal push of tenant %s configured by %s",
                PQgetvalue(r, 0, 0), req->actor);
    api_reply_json(req, 200, view, NULL);
}

void svc_put_signal_push(struct api_req *req)
{
    json_t *doc = api_read_json_object(req);
    if (!doc)
        return;
    json_t *errors = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        if (strcmp(key, "url") && strcmp(key, "tenant_id"))
            json_errors_add(errors, "", NULL,
                            "unknown member (only url and tenant_id are allowed)");
    }
    json_t *tid = json_object_get(doc, "tenant_id");
    if (tid && !api_valid_tenant_id(json_string_value(tid)))
        json_errors_add(errors, "/tenant_id", NULL, "tenant_id must be 1-64 of [A-Za-z0-9._-]");
    else if (!tid && !req->tenant[0])
        json_errors_add(errors, "", NULL, "tenant_id is required with a global admin token");
    json_t *u = json_object_get(doc, "url");
    const char *why = !u                  ? "url is required"
                      : json_is_string(u) ? api_url_problem(json_string_value(u), true)
                                          : "url must be a string";
    if (why)
        json_errors_add(errors, u ? "/url" : "", NULL, why);
    const char *tenant = NULL;
    int rc = 0;
    if (!errors) {
        api_reply_problem(req, 500, "internal", "out of memory");
    } else if (json_array_size(errors)) {
        api_reply_problem_errors(req, 400, "invalid-request", json_incref(errors),
                                 "the signal push configuration is not valid");
    } else if (pick_tenant(req, json_string_value(tid), &tenant)) {
        api_reply_problem(req, 404, "not-found", "no such tenant");
    } else {
        const char *p[4] = {tenant, json_string_value(u), req->actor, req->app->cfg.node_id};
        rc = store_query(req->app->store, Q_SIGNAL_PUSH_PUT, 4, p, reply_row, req);
    }
    json_decref(errors);
    json_decref(doc);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

/* The tenant of a GET or DELETE (?tenant_id= for a global admin). Replies and returns false
 * when it is malformed, missing or another tenant's. *owned is the decoded parameter. */
static bool query_tenant(struct api_req *req, const char **tenant, char **owned)
{
    bool bad = false;
    *owned = api_query_param(req, "tenant_id", &bad);
    if (bad || (*owned && !api_valid_tenant_id(*owned))) {
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/tenant_id", "message",
                                           "tenant_id must be 1-64 of [A-Za-z0-9._-]"),
                                 "the tenant_id parameter is not valid");
        return false;
    }
    if (pick_tenant(req, *owned, tenant)) {
        api_reply_problem(req, 404, "not-found", "no signal push is configured");
        return false;
    }
    if (!*tenant) {
        api_reply_tenant_required(req);
        return false;
    }
    return true;
}

void svc_get_signal_push(struct api_req *req)
{
    const char *tenant;
    char *owned;
    if (!query_tenant(req, &tenant, &owned)) {
        free(owned);
        return;
    }
    const char *p[1] = {tenant};
    int rc = store_query(req->app->store, Q_SIGNAL_PUSH_GET, 1, p, reply_row, req);
    free(owned);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

static void deleted(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct api_req *req = arg;
    char *tenant = req->svc;
    req->svc = NULL;
    if (err) {
        free(tenant);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    if (strcmp(PQgetvalue(res->results[0], 0, 0), "t")) {
        free(tenant);
        api_reply_problem(req, 404, "not-found", "no signal push is configured");
        return;
    }
    log_ctx(LOG_INFO, req->request_id, NULL, "signal push of tenant %s deleted by %s", tenant,
            req->actor);
    json_t *body = json_pack("{s:s, s:b}", "tenant_id", tenant, "deleted", 1);
    free(tenant);
    api_reply_json(req, 200, body, NULL);
}

void svc_delete_signal_push(struct api_req *req)
{
    const char *tenant;
    char *owned;
    if (!query_tenant(req, &tenant, &owned)) {
        free(owned);
        return;
    }
    int rc = (req->svc = strdup(tenant)) ? 0 : IE_NOMEM;
    if (!rc) {
        const char *p[3] = {tenant, req->actor, req->app->cfg.node_id};
        rc = store_query(req->app->store, Q_SIGNAL_PUSH_DELETE, 3, p, deleted, req);
    }
    free(owned);
    if (rc) {
        free(req->svc);
        req->svc = NULL;
        api_reply_store_error(req, rc, NULL, NULL);
    }
}
