/* Outcome signals for the upstream system (GET /v1/signals?after=SEQ&limit=N): one event per
 * intent that reached a terminal state, in ledger order, so a consumer resumes from the last
 * seq it processed and never misses or reorders one. The ledger is the source: a signal exists
 * exactly when its terminal transition committed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "queries.h"
#include "signals.h"
#include "store.h"

#define SIGNALS_DEFAULT 100
#define SIGNALS_MAX     1000

/* ACTION_COMPENSATED is an operator's undo of a SUCCEEDED intent (the ledger holds its
 * operator.compensate row); every other compensation is part of the FAILED, EXPIRED or
 * CANCELLED outcome (and its steps say what was undone). */
static const char *signal_type(const char *from, const char *to, bool by_operator)
{
    if (!strcmp(to, "SUCCEEDED"))
        return "ACTION_EXECUTED";
    if (!strcmp(to, "FAILED"))
        return "ACTION_FAILED";
    if (!strcmp(to, "EXPIRED"))
        return "ACTION_EXPIRED";
    if (!strcmp(from, "COMPENSATING") && by_operator)
        return "ACTION_COMPENSATED";
    return "ACTION_CANCELLED";
}

static json_t *external_ids(const char *completed_text)
{
    json_t *done = json_loads(completed_text, 0, NULL);
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(done, i, s)
    {
        json_t *comp = json_object_get(s, "comp");
        json_array_append_new(out, json_pack("{s:O?, s:O?, s:O?, s:O?}", "step",
                                             json_object_get(s, "step"), "operation",
                                             json_object_get(s, "operation"), "external_id",
                                             json_object_get(s, "external_id"), "compensation",
                                             json_object_get(comp, "state")));
    }
    json_decref(done);
    return out;
}

json_t *signals_json(const PGresult *r, long long *last)
{
    json_t *list = json_array();
    *last = -1;
    for (int i = 0; list && i < PQntuples(r); i++) {
        const char *reason = PQgetisnull(r, i, 8) ? "" : PQgetvalue(r, i, 8);
        json_t *last_error =
            PQgetisnull(r, i, 9) ? json_null() : json_loads(PQgetvalue(r, i, 9), 0, NULL);
        *last = atoll(PQgetvalue(r, i, 0));
        json_t *sig =
            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:s?}", "seq",
                      (json_int_t)*last, "type",
                      signal_type(PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                                  !strcmp(PQgetvalue(r, i, 11), "t")),
                      "action_intent_id", PQgetvalue(r, i, 1), "state", PQgetvalue(r, i, 3), "at",
                      PQgetvalue(r, i, 4), "action_type", PQgetvalue(r, i, 5), "account_id",
                      PQgetvalue(r, i, 6), "steps", external_ids(PQgetvalue(r, i, 7)), "reason",
                      reason, "last_error", last_error ? last_error : json_null(), "decision_id",
                      PQgetisnull(r, i, 10) ? NULL : PQgetvalue(r, i, 10));
        /* a signal left out would be skipped for good by a consumer resuming after a later one */
        if (json_array_append_new(list, sig)) {
            json_decref(list);
            list = NULL;
        }
    }
    return list;
}

static void fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    long long last;
    json_t *list = signals_json(res->results[0], &last);
    json_t *body = list ? json_pack("{s:o}", "signals", list) : NULL;
    if (!body) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    if (last >= 0)
        json_object_set_new(body, "next_after", json_integer(last));
    api_reply_json(req, 200, body, NULL);
}

void svc_signals(struct api_req *req)
{
    bool bad = false;
    char *after_s = api_query_param(req, "after", &bad);
    char *limit_s = api_query_param(req, "limit", &bad);
    char *tenant = NULL;
    long long after = 0, limit = SIGNALS_DEFAULT;
    const char *problem = NULL;
    if (bad)
        problem = API_BAD_QUERY;
    else if (after_s && !api_parse_int(after_s, 0, INT64_MAX, &after))
        problem = "after must be a ledger seq: an integer from 0 to 9223372036854775807";
    else if (limit_s && !api_parse_int(limit_s, 1, SIGNALS_MAX, &limit))
        problem = "limit must be an integer from 1 to 1000";
    free(after_s);
    free(limit_s);
    if (problem) {
        api_reply_problem(req, 400, "bad-query", "%s", problem);
        return;
    }
    if (!api_require_tenant(req, &tenant))
        return;
    char a[24], l[16];
    snprintf(a, sizeof a, "%lld", after);
    snprintf(l, sizeof l, "%lld", limit);
    const char *p[3] = {tenant, a, l};
    int rc = store_query(req->app->store, Q_SIGNALS, 3, p, fetched, req);
    free(tenant);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}
