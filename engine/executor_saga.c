/* Compensation (SPEC §3): when a workflow fails, expires or is cancelled after Tasks with a
 * Compensate operation succeeded, those operations run in reverse order, each with its own
 * retries. Progress lives in intentd.intents.completed (each entry's "comp" once its undo ran)
 * and the current undo's attempts in step_attempts, so a crash resumes where it stood. An undo
 * that cannot finish is recorded and the others still run; the intent then ends FAILED with
 * compensation_failed instead of the state it was heading for. */
#include <stdlib.h>
#include <string.h>

#include "executor_internal.h"
#include "log.h"

#define COMP_MAX_ATTEMPTS 12  /* per undo (about ten minutes): then it counts as failed */
#define COMP_BACKOFF_S    1.0 /* doubled per attempt, with full jitter */
#define COMP_BACKOFF_MAX  60.0

void exec_compensate(struct item *it, const char *state, const char *reason, json_t *last_error,
                     json_t *op)
{
    if (!op)
        op = exec_op_new(it);
    if (!op) {
        json_decref(last_error);
        log_ctx(LOG_ERROR, NULL, it->id, "out of memory starting compensation");
        return;
    }
    exec_check_transition(it->e, "EXECUTING", "COMPENSATING");
    json_t *undo = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(it->completed, i, s)
    {
        if (json_is_string(json_object_get(s, "compensate")) && !json_object_get(s, "comp"))
            json_array_append(undo, json_object_get(s, "step"));
    }
    json_object_set_new(op, "state", json_string("COMPENSATING"));
    json_object_set_new(op, "compensate_to", json_string(state));
    json_object_set_new(op, "terminal_reason", json_string(reason));
    json_object_set_new(op, "inflight", json_null());
    json_object_set_new(op, "prior", json_null());
    json_object_set_new(op, "step_attempts", json_integer(0));
    json_object_set_new(op, "wait_until", json_null());
    if (last_error)
        json_object_set_new(op, "last_error", last_error);
    exec_op_ledger(op, exec_ledger_row("intent.transition", "EXECUTING", "COMPENSATING",
                                       json_pack("{s:s, s:s, s:o}", "reason", reason, "then", state,
                                                 "undo", undo)));
    snprintf(it->compensate_to, sizeof it->compensate_to, "%s", state);
    free(it->reason);
    it->reason = strdup(reason);
    json_decref(it->inflight);
    it->inflight = NULL;
    json_decref(it->prior);
    it->prior = NULL;
    it->step_attempts = 0;
    it->after = exec_saga_next;
    exec_submit(it, op, false);
}

/* The last succeeded Task whose undo has not run, or -1. */
static int next_index(const struct item *it)
{
    for (size_t i = json_array_size(it->completed); i-- > 0;) {
        json_t *s = json_array_get(it->completed, i);
        if (json_is_string(json_object_get(s, "compensate")) && !json_object_get(s, "comp"))
            return (int)i;
    }
    return -1;
}

static void end(struct item *it)
{
    json_t *failed = json_array(), *undone = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(it->completed, i, s)
    {
        json_t *comp = json_object_get(s, "comp");
        const char *st = json_string_value(json_object_get(comp, "state"));
        if (st && !strcmp(st, "failed"))
            json_array_append(failed, json_object_get(s, "step"));
        else if (st)
            json_array_append(undone, json_object_get(s, "step"));
    }
    bool bad = json_array_size(failed) > 0;
    const char *target = bad ? "FAILED" : it->compensate_to;
    char reason[400];
    if (bad)
        snprintf(reason, sizeof reason, "compensation_failed: %s",
                 it->reason ? it->reason : "the workflow did not finish");
    else
        snprintf(reason, sizeof reason, "%s", it->reason ? it->reason : "compensated");
    exec_check_transition(it->e, "COMPENSATING", target);
    json_t *op = exec_op_new(it);
    if (!op) {
        json_decref(failed);
        json_decref(undone);
        return;
    }
    json_object_set_new(op, "state", json_string(target));
    json_object_set_new(op, "compensate_to", json_null()); /* it got there */
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "inflight", json_null());
    json_object_set_new(op, "terminal_reason", json_string(reason));
    if (bad)
        json_object_set_new(op, "last_error",
                            json_pack("{s:s, s:s}", "error", "Intentd.CompensationFailed", "cause",
                                      "a compensation could not finish"));
    exec_op_ledger(op, exec_ledger_row("intent.transition", "COMPENSATING", target,
                                       json_pack("{s:s, s:o, s:o}", "reason", reason, "compensated",
                                                 undone, "failed", failed)));
    exec_submit(it, op, true);
}

/* Records the undo of entry idx as finished (state "compensated", "skipped" or "failed"). */
static void record(struct item *it, int idx, const char *state, const char *cause, json_t *result,
                   json_t *effect)
{
    json_t *op = exec_op_new(it);
    json_t *entry = json_array_get(it->completed, (size_t)idx);
    json_t *comp =
        json_pack("{s:s, s:i, s:s?, s:O?}", "state", state, "attempts", it->step_attempts + 1,
                  "cause", cause && *cause ? cause : NULL, "result", result);
    if (!op || !comp) {
        json_decref(op);
        json_decref(comp);
        json_decref(effect);
        log_ctx(LOG_ERROR, NULL, it->id, "out of memory recording a compensation");
        return;
    }
    if (effect)
        json_object_set_new(op, "effect", effect);
    json_object_set_new(op, "comp_set", json_pack("{s:i, s:O}", "index", idx, "value", comp));
    json_object_set_new(op, "inflight", json_null());
    json_object_set_new(op, "step_attempts", json_integer(0));
    exec_op_ledger(op, exec_ledger_row("compensation.finished", "COMPENSATING", "COMPENSATING",
                                       json_pack("{s:O?, s:O?, s:s, s:s?}", "step",
                                                 json_object_get(entry, "step"), "operation",
                                                 json_object_get(entry, "compensate"), "outcome",
                                                 state, "cause", cause && *cause ? cause : NULL)));
    json_object_set_new(entry, "comp", comp);
    it->step_attempts = 0;
    json_decref(it->inflight);
    it->inflight = NULL;
    it->after = exec_saga_next;
    exec_submit(it, op, false);
}

static void comp_done(struct item *it, enum adapter_verdict v, double retry_after_s,
                      const char *cause, json_t *result)
{
    int idx = next_index(it);
    if (idx < 0) {
        end(it);
        return;
    }
    if (v == ADAPTER_ABSENT) {
        record(it, idx, "not_needed", cause, NULL, NULL);
        return;
    }
    if (v == ADAPTER_OK) {
        bool skipped = json_object_get(result, "skipped") != NULL;
        record(it, idx, skipped ? "skipped" : "compensated",
               skipped ? json_string_value(json_object_get(result, "skipped")) : NULL, result,
               NULL);
        return;
    }
    int attempts = it->step_attempts + 1;
    if (v == ADAPTER_PERMANENT || v == ADAPTER_UNAUTHORIZED || attempts >= COMP_MAX_ATTEMPTS) {
        record(it, idx, "failed", cause, NULL, NULL);
        return;
    }
    double delay = COMP_BACKOFF_S;
    for (int i = 1; i < attempts && delay < COMP_BACKOFF_MAX; i++)
        delay *= 2;
    if (delay > COMP_BACKOFF_MAX)
        delay = COMP_BACKOFF_MAX;
    delay *= (double)random() / (double)RAND_MAX;
    if (retry_after_s > delay)
        delay = retry_after_s < COMP_BACKOFF_MAX ? retry_after_s : COMP_BACKOFF_MAX;
    json_t *entry = json_array_get(it->completed, (size_t)idx);
    json_t *op = exec_op_new(it);
    if (!op)
        return;
    json_object_set_new(op, "step_attempts", json_integer(attempts));
    json_object_set_new(op, "last_error",
                        json_pack("{s:s, s:s}", "error", "Connector.Transient", "cause", cause));
    exec_op_ledger(
        op, exec_ledger_row("compensation.attempt_failed", "COMPENSATING", "COMPENSATING",
                            json_pack("{s:O?, s:i, s:s}", "step", json_object_get(entry, "step"),
                                      "attempt", attempts, "cause", cause)));
    exec_release_at(it, op, exec_now() + delay);
}

void exec_saga_next(struct item *it)
{
    int idx = next_index(it);
    if (idx < 0) {
        end(it);
        return;
    }
    json_t *entry = json_array_get(it->completed, (size_t)idx);
    const char *name = json_string_value(json_object_get(entry, "compensate"));
    const char *step = json_string_value(json_object_get(entry, "step"));
    const struct adapter_op *aop = adapter_find(name);
    char key[EXEC_KEY_MAX];
    if (!aop || !step || exec_idempotency_key(it, step, key, sizeof key)) {
        record(it, idx, "failed", "no adapter provides this compensation", NULL, NULL);
        return;
    }
    if (aop->build_effect) {
        /* Internal records: the undo commits with its own outcome, like the step did. */
        struct adapter_ctx ctx = {.tenant_id = it->tenant,
                                  .action_intent_id = it->id,
                                  .account_id = it->account,
                                  .step = step,
                                  .idempotency_key = key,
                                  .done = entry};
        json_t *effect = NULL, *result = NULL;
        json_t *params = json_object_get(entry, "params");
        json_t *none = json_object();
        int rc = aop->build_effect(params ? params : none, &ctx, &effect, &result);
        json_decref(none);
        if (rc) {
            record(it, idx, "failed", "internal error building the compensation", NULL, NULL);
            return;
        }
        record(it, idx, "compensated", NULL, result, effect);
        json_decref(result);
        return;
    }
    const struct adapter_op *orig = NULL;
    if (json_is_true(json_object_get(entry, "unknown"))) {
        orig = adapter_find(json_string_value(json_object_get(entry, "operation")));
        if (orig && !orig->build_reconcile)
            orig = NULL; /* the undo alone must cope (a restore, an idempotent delete) */
    }
    exec_call_compensation(it, aop, entry, key, orig, comp_done);
}
