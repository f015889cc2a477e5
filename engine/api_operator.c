/* Operator actions on one intent beyond cancel: compensate (undo a SUCCEEDED intent) and
 * redrive (run a FAILED one again from the state that failed). Each is one database function
 * that checks the intent's state under its row lock, changes it, and writes the ledger rows
 * naming the operator and the reason; the engine then picks the intent up like any due work. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json_errors.h"
#include "intent_view.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define REASON_MAX 1000

enum action { ACT_COMPENSATE, ACT_REDRIVE };

struct op_body {
    char *tenant;
    char reason[REASON_MAX + 1];
    bool partial;
};

/* Parses {"reason": "...", "partial"?: bool} and the tenant. Replies and returns false when
 * something is wrong (nothing has changed then). */
static bool read_body(struct api_req *req, enum action act, struct op_body *b)
{
    json_t *body = api_read_json_object(req);
    if (!body)
        return false;
    json_t *errors = json_array();
    const char *reason = json_string_value(json_object_get(body, "reason"));
    if (!reason || !*reason || strlen(reason) > REASON_MAX)
        json_errors_add(errors, "/reason", NULL, "reason is required: 1 to 1000 characters");
    json_t *partial = json_object_get(body, "partial");
    if (partial && (act != ACT_COMPENSATE || !json_is_boolean(partial)))
        json_errors_add(errors, "/partial", NULL,
                        act == ACT_COMPENSATE ? "partial must be true or false"
                                              : "redrive takes no partial");
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "reason") && strcmp(key, "partial"))
            json_errors_add(errors, "", key, "unknown field");
    }
    if (json_array_size(errors)) {
        json_decref(body);
        api_reply_problem_errors(req, 400, "invalid-request", errors, "the request is not valid");
        return false;
    }
    json_decref(errors);
    snprintf(b->reason, sizeof b->reason, "%s", reason);
    b->partial = json_is_true(partial);
    json_decref(body);
    return api_require_tenant(req, &b->tenant);
}

static void compensated(void *arg, int err, const struct store_result *res, const char *sqlstate,
                        const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    const char *result = PQgetvalue(r, 0, 0);
    const char *state = PQgetvalue(r, 0, 1);
    if (!strcmp(result, "notfound")) {
        api_reply_not_found_or_archived(req, res->results[1]);
        return;
    }
    if (!strcmp(result, "state")) {
        api_reply_problem(req, 409, "not-succeeded",
                          "only a SUCCEEDED intent can be compensated; this one is %s", state);
        return;
    }
    if (!strcmp(result, "nothing")) {
        api_reply_problem(req, 409, "nothing-to-undo",
                          "none of this intent's steps can be undone (irreversible: %s)",
                          PQgetvalue(r, 0, 2));
        return;
    }
    if (!strcmp(result, "irreversible")) {
        json_t *steps = json_loads(PQgetvalue(r, 0, 2), 0, NULL);
        char *list = json_dumps(steps, JSON_COMPACT);
        api_reply_problem_errors(
            req, 409, "irreversible-steps",
            json_pack("[{s:s, s:s, s:o}]", "pointer", "/partial", "message",
                      "these steps cannot be undone; send {\"partial\": true} to undo the rest",
                      "irreversible_steps", steps ? steps : json_array()),
            "steps %s cannot be undone; {\"partial\": true} undoes the others", list ? list : "[]");
        free(list);
        return;
    }
    log_ctx(LOG_INFO, req->request_id, req->params[0], "compensation started by %s", req->actor);
    api_reply_json(req, 202, intent_view(res->results[1], 0, IC__COUNT), NULL);
}

static void redriven(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    const char *result = PQgetvalue(r, 0, 0);
    const char *state = PQgetvalue(r, 0, 1);
    if (!strcmp(result, "notfound"))
        api_reply_not_found_or_archived(req, res->results[1]);
    else if (!strcmp(result, "state"))
        api_reply_problem(req, 409, "not-failed",
                          "only a FAILED intent can be redriven; this one is %s", state);
    else if (!strcmp(result, "expired"))
        api_reply_problem(req, 409, "expired",
                          "its deadline has passed: nothing may run for it any more");
    else if (!strcmp(result, "compensated"))
        api_reply_problem(req, 409, "compensated",
                          "its completed steps were already undone; submit a new intent instead");
    else {
        log_ctx(LOG_INFO, req->request_id, req->params[0], "redrive by %s", req->actor);
        api_reply_json(req, 202, intent_view(res->results[1], 0, IC__COUNT), NULL);
    }
}

static void act(struct api_req *req, enum action a)
{
    struct op_body b = {0};
    if (!read_body(req, a, &b))
        return;
    const char *node = req->app->cfg.node_id;
    int rc;
    if (a == ACT_COMPENSATE) {
        const char *p[6] = {b.tenant, req->params[0], b.partial ? "true" : "false",
                            b.reason, req->actor,     node};
        struct store_stmt st[2] = {{Q_OPERATOR_COMPENSATE, 6, p}, {Q_GET_INTENT, 2, p}};
        rc = store_txn(req->app->store, st, 2, compensated, req);
    } else {
        const char *p[5] = {b.tenant, req->params[0], b.reason, req->actor, node};
        struct store_stmt st[2] = {{Q_OPERATOR_REDRIVE, 5, p}, {Q_GET_INTENT, 2, p}};
        rc = store_txn(req->app->store, st, 2, redriven, req);
    }
    free(b.tenant);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

void svc_compensate(struct api_req *req)
{
    act(req, ACT_COMPENSATE);
}

void svc_redrive(struct api_req *req)
{
    act(req, ACT_REDRIVE);
}
