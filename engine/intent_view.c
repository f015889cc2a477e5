/* Intent rows as API JSON; see intent_view.h. */
#include "intent_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queries.h"

static json_t *text_or_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

static json_t *json_col(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return json_null();
    json_t *v = json_loads(PQgetvalue(r, row, col), JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

static void explain(const PGresult *r, int row, char *out, size_t outlen)
{
    const char *state = PQgetvalue(r, row, IC_STATE);
    const char *step = PQgetisnull(r, row, IC_STEP) ? NULL : PQgetvalue(r, row, IC_STEP);
    const char *reason =
        PQgetisnull(r, row, IC_TERMINAL_REASON) ? "" : PQgetvalue(r, row, IC_TERMINAL_REASON);
    const char *expires = PQgetvalue(r, row, IC_EXPIRES);
    bool waiting = !strcmp(PQgetvalue(r, row, IC_WAITING), "t");
    bool cancel = !strcmp(PQgetvalue(r, row, IC_CANCEL_REQ), "t");
    const char *owner =
        PQgetisnull(r, row, IC_LEASE_OWNER) ? NULL : PQgetvalue(r, row, IC_LEASE_OWNER);
    const char *finished = PQgetisnull(r, row, IC_FINISHED) ? "" : PQgetvalue(r, row, IC_FINISHED);
    if (!strcmp(state, "PENDING")) {
        snprintf(out, outlen,
                 "Accepted and waiting for a node to start it; if it has not started by %s it "
                 "expires without any effect.",
                 expires);
    } else if (!strcmp(state, "EXECUTING") || !strcmp(state, "COMPENSATING")) {
        const char *verb = !strcmp(state, "EXECUTING") ? "Running" : "Undoing completed steps";
        if (waiting && !PQgetisnull(r, row, IC_WAIT_UNTIL))
            snprintf(out, outlen, "Waiting in step %s until %s (the wait survives restarts).",
                     step ? step : "?", PQgetvalue(r, row, IC_WAIT_UNTIL));
        else if (owner)
            snprintf(out, outlen, "%s: step %s on node %s, %s attempt(s) so far.", verb,
                     step ? step : "(start)", owner, PQgetvalue(r, row, IC_ATTEMPTS));
        else
            snprintf(out, outlen, "%s: queued to continue at step %s.", verb,
                     step ? step : "(start)");
        if (cancel) {
            size_t n = strlen(out);
            snprintf(out + n, outlen - n,
                     " Cancellation was requested; it stops at the next step boundary.");
        }
    } else if (!strcmp(state, "SUCCEEDED")) {
        snprintf(out, outlen, "Completed: every step succeeded (finished %s).", finished);
    } else if (!strcmp(state, "FAILED")) {
        if (!strncmp(reason, "compensation_failed", 19))
            snprintf(out, outlen,
                     "Failed, and undoing its completed steps did not fully succeed (%s): see "
                     "steps[].compensation for what is left behind.",
                     reason);
        else if (!strcmp(reason, "quarantined"))
            snprintf(out, outlen,
                     "Halted as quarantined: %s attempts were cut short by node crashes, so it "
                     "was stopped instead of crashing more nodes. A human should look at it.",
                     PQgetvalue(r, row, IC_CRASHES));
        else
            snprintf(out, outlen, "Failed at step %s: %s.", step ? step : "?",
                     *reason ? reason : "see last_error");
    } else if (!strcmp(state, "EXPIRED")) {
        snprintf(out, outlen,
                 "Expired (%s): its deadline %s passed, and no external call was started after "
                 "it.",
                 *reason ? reason : "deadline passed", expires);
    } else if (!strcmp(state, "CANCELLED")) {
        snprintf(out, outlen, "Cancelled by an operator (%s).", *reason ? reason : "no reason");
    } else {
        snprintf(out, outlen, "In state %s.", state);
    }
}

/* The Tasks that succeeded, with what became of their undo: "irreversible" (no Compensate),
 * "not needed" (the intent succeeded), "pending", or the compensation's own outcome. */
static json_t *steps_view(const PGresult *r, int row)
{
    json_t *done = json_col(r, row, IC_COMPLETED);
    json_t *out = json_array();
    const char *state = PQgetvalue(r, row, IC_STATE);
    size_t i;
    json_t *s;
    json_array_foreach(done, i, s)
    {
        const char *comp_op = json_string_value(json_object_get(s, "compensate"));
        json_t *comp = json_object_get(s, "comp");
        json_t *v = json_pack("{s:O?, s:O?, s:O?, s:b, s:s?}", "step", json_object_get(s, "step"),
                              "operation", json_object_get(s, "operation"), "external_id",
                              json_object_get(s, "external_id"), "reversible", comp_op != NULL,
                              "compensate", comp_op);
        if (!v)
            continue;
        if (!comp_op)
            json_object_set_new(v, "compensation", json_pack("{s:s}", "state", "irreversible"));
        else if (comp)
            json_object_set(v, "compensation", comp);
        else if (!strcmp(state, "COMPENSATING"))
            json_object_set_new(v, "compensation", json_pack("{s:s}", "state", "pending"));
        else
            json_object_set_new(v, "compensation", json_pack("{s:s}", "state", "not_needed"));
        json_array_append_new(out, v);
    }
    json_decref(done);
    return out;
}

json_t *intent_view(const PGresult *r, int row, int output_col)
{
    char why[600];
    explain(r, row, why, sizeof why);
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = 0;
    bad |= json_object_set_new(o, "action_intent_id", json_string(PQgetvalue(r, row, IC_ID)));
    bad |= json_object_set_new(o, "tenant_id", json_string(PQgetvalue(r, row, IC_TENANT)));
    bad |= json_object_set_new(o, "account_id", json_string(PQgetvalue(r, row, IC_ACCOUNT)));
    bad |= json_object_set_new(o, "action_type", json_string(PQgetvalue(r, row, IC_TYPE)));
    bad |= json_object_set_new(o, "state", json_string(PQgetvalue(r, row, IC_STATE)));
    bad |= json_object_set_new(o, "explanation", json_string(why));
    bad |= json_object_set_new(o, "current_step", text_or_null(r, row, IC_STEP));
    bad |= json_object_set_new(o, "attempts", json_integer(atoll(PQgetvalue(r, row, IC_ATTEMPTS))));
    bad |= json_object_set_new(o, "crash_attempts",
                               json_integer(atoll(PQgetvalue(r, row, IC_CRASHES))));
    bad |= json_object_set_new(o, "priority", json_integer(atoll(PQgetvalue(r, row, IC_PRIORITY))));
    bad |= json_object_set_new(o, "cancel_requested",
                               json_boolean(!strcmp(PQgetvalue(r, row, IC_CANCEL_REQ), "t")));
    bad |= json_object_set_new(o, "terminal_reason", text_or_null(r, row, IC_TERMINAL_REASON));
    bad |= json_object_set_new(o, "last_error", json_col(r, row, IC_LAST_ERROR));
    bad |= json_object_set_new(o, "created_at", text_or_null(r, row, IC_CREATED));
    bad |= json_object_set_new(o, "submitted_at", text_or_null(r, row, IC_SUBMITTED));
    bad |= json_object_set_new(o, "updated_at", text_or_null(r, row, IC_UPDATED));
    bad |= json_object_set_new(o, "finished_at", text_or_null(r, row, IC_FINISHED));
    bad |= json_object_set_new(o, "expires_at", text_or_null(r, row, IC_EXPIRES));
    bad |= json_object_set_new(o, "expires_at_epoch",
                               json_integer(atoll(PQgetvalue(r, row, IC_EXPIRES_EPOCH))));
    bad |= json_object_set_new(o, "waiting_until", text_or_null(r, row, IC_WAIT_UNTIL));
    bad |= json_object_set_new(o, "steps", steps_view(r, row));
    bad |= json_object_set_new(o, "held_by", text_or_null(r, row, IC_HELD_BY));
    bad |= json_object_set_new(o, "compensating_to", text_or_null(r, row, IC_COMPENSATE_TO));
    if (output_col >= 0)
        bad |= json_object_set_new(o, "output", json_col(r, row, output_col));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
