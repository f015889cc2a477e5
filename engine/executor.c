/* Runs claimed intents through their workflows and group-commits their step outcomes; see
 * executor.h and executor_internal.h. Items leave memory only from an apply result, so no store
 * callback ever sees a freed item; an item with an external call in flight is never dropped
 * before the call's callback ran. */
#include "executor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "app_metrics.h"
#include "asl.h"
#include "crypto.h"
#include "executor_internal.h"
#include "guards.h"
#include "json_canon.h"
#include "lifecycle.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "workflows.h"

/* An apply call's text: bounded only by what PostgreSQL takes as one parameter (1 GiB); an
 * internal step's outcome, ledger rows included, is about 1.8 KB. */
#define OPS_TEXT_MAX  (((size_t)1 << 30) - 1)
#define OP_TEXT_GUESS 2048

#define RETRY_MIN_MS  100
#define RETRY_MAX_MS  5000
#define STEPS_PER_RUN 100 /* steps one intent may take in a row before yielding the loop */

struct flight {
    struct executor *e;
    uint64_t sent_ns; /* when the apply call was sent: its latency is the ledger append's */
    int n;
    struct item *items[EXEC_APPLY_BATCH];
};

static void flush(struct executor *e);
static void fill(void *arg);

double exec_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A guard deferral may have ended (tokens arrived, a slot freed): parked calls ask again. */
static void guards_woke(void *arg)
{
    exec_unpark(arg, false);
}

int executor_new(struct app *app, struct executor **out)
{
    struct executor *e = calloc(1, sizeof *e);
    if (!e)
        return IE_NOMEM;
    e->app = app;
    int rc = store_group_source(app->store, fill, e);
    if (rc) {
        free(e);
        return rc;
    }
    uv_timer_init(app->loop, &e->retry_timer);
    e->retry_timer.data = e;
    uv_timer_init(app->loop, &e->park_timer);
    e->park_timer.data = e;
    e->handles_open = 2;
    guards_set_wake(app->guards, guards_woke, e);
    *out = e;
    return 0;
}

static void item_free(struct item *it)
{
    free(it->step);
    free(it->after_step);
    free(it->reason);
    json_decref(it->input);
    json_decref(it->after_input);
    json_decref(it->op);
    json_decref(it->completed);
    json_decref(it->inflight);
    json_decref(it->prior);
    free(it);
}

static void drop(struct item *it)
{
    struct executor *e = it->e;
    if (it->prev)
        it->prev->next = it->next;
    else
        e->items = it->next;
    if (it->next)
        it->next->prev = it->prev;
    e->in_hand--;
    app_metrics_leases(e->app->metrics, e->in_hand);
    exec_call_abandon(it);
    item_free(it);
}

static void timer_closed(uv_handle_t *h)
{
    struct executor *e = h->data;
    if (--e->handles_open == 0)
        free(e);
}

static void free_now(struct executor *e)
{
    while (e->items)
        drop(e->items);
    uv_close((uv_handle_t *)&e->park_timer, timer_closed);
    uv_close((uv_handle_t *)&e->retry_timer, timer_closed);
}

void executor_free(struct executor *e)
{
    if (!e)
        return;
    uv_timer_stop(&e->retry_timer);
    store_group_source_remove(e->app->store, e);
    guards_set_wake(e->app->guards, NULL, NULL);
    exec_unpark(e, true); /* their intents' leases are released with the rest */
    /* A call whose write-ahead is queued or being applied does no I/O, and what it waits for
     * never continues it now: it ends here, while the guards whose slot it holds still exist
     * (the process frees them before the store, whose last results may come later). The
     * marker stays, so whoever takes the intent up next reconciles first. */
    for (struct item *it = e->items; it; it = it->next)
        if (it->op)
            exec_call_abandon(it);
    if (e->inflight || e->calling) {
        e->closing = true; /* the last apply result or call callback frees it */
        return;
    }
    free_now(e);
}

void executor_call_ended(struct executor *e)
{
    if (e->closing && !e->inflight && !e->calling)
        free_now(e);
}

int executor_in_hand(const struct executor *e)
{
    return e->in_hand;
}

int executor_pending(const struct executor *e)
{
    return e->queued + e->inflight + e->calling;
}

char *executor_held_keys(const struct executor *e)
{
    if (!e->items)
        return NULL;
    json_t *keys = json_array();
    for (struct item *it = e->items; keys && it; it = it->next)
        json_array_append_new(keys, json_pack("{s:s, s:s}", "t", it->tenant, "id", it->id));
    char *text = keys ? json_dumps(keys, JSON_COMPACT) : NULL;
    json_decref(keys);
    return text;
}

double executor_take_next_due(struct executor *e)
{
    double d = e->next_due;
    e->next_due = 0;
    return d;
}

void exec_note_due(struct executor *e, double due)
{
    if (e->next_due == 0 || due < e->next_due)
        e->next_due = due;
}

void executor_set_notify(struct executor *e, void (*cb)(void *arg), void *arg)
{
    e->notify = cb;
    e->notify_arg = arg;
}

const char *exec_state(const struct item *it)
{
    return it->compensate_to[0] ? "COMPENSATING" : "EXECUTING";
}

/* --- building outcomes --- */

json_t *exec_ledger_row(const char *event, const char *from, const char *to, json_t *payload)
{
    return json_pack("{s:s, s:s?, s:s?, s:o}", "event", event, "from_state", from, "to_state", to,
                     "payload", payload ? payload : json_object());
}

/* An op names its row by key, account and submission time: every index intentd.apply's probe
 * could use then pins one row (see schema 15). */
json_t *exec_op_new(struct item *it)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:[]}", "tenant_id", it->tenant,
                     "action_intent_id", it->id, "account_id", it->account, "submitted_us",
                     (json_int_t)it->submitted_us, "fence", (json_int_t)it->fence, "version",
                     (json_int_t)it->version, "ledger");
}

void exec_op_ledger(json_t *op, json_t *row)
{
    json_array_append_new(json_object_get(op, "ledger"), row);
}

void exec_submit(struct item *it, json_t *op, bool final)
{
    struct executor *e = it->e;
    if (!op) {
        /* Out of memory building it: the lease lapses and another holder (or this node, later)
         * takes the intent up again from its last committed state. */
        log_ctx(LOG_ERROR, NULL, it->id, "out of memory building a step outcome");
        op = exec_op_new(it);
        if (!op)
            return;
        final = true;
    }
    it->op = op;
    it->final = final;
    it->qnext = NULL;
    if (e->qtail)
        e->qtail->qnext = it;
    else
        e->qhead = it;
    e->qtail = it;
    e->queued++;
    flush(e);
}

void exec_release_at(struct item *it, json_t *op, double due_epoch)
{
    json_object_set_new(op, "due_epoch", json_real(due_epoch));
    json_object_set_new(op, "release", json_true());
    exec_note_due(it->e, due_epoch);
    exec_submit(it, op, true);
}

/* The C half of the lifecycle guard (the database trigger is the other): a move the table does
 * not allow is a bug in the engine, and aborts loudly rather than writing it. */
void exec_check_transition(const struct executor *e, const char *from, const char *to)
{
    enum intent_state source, target;
    if (lifecycle_state_from_name(from, &source) || lifecycle_state_from_name(to, &target) ||
        !lifecycle_allowed(e->app->lifecycle, source, target)) {
        log_error("engine bug: %s -> %s is not in the lifecycle table", from, to);
        abort();
    }
}

bool exec_has_compensable(const struct item *it)
{
    size_t i;
    json_t *s;
    json_array_foreach(it->completed, i, s)
    {
        if (json_is_string(json_object_get(s, "compensate")) && !json_object_get(s, "comp"))
            return true;
    }
    return false;
}

void exec_adopt_unknown(struct item *it, json_t *op)
{
    json_t *m = it->inflight;
    const char *phase = json_string_value(json_object_get(m, "phase"));
    if (!op || !m || !phase || strcmp(phase, "call") ||
        !json_is_string(json_object_get(m, "compensate")) || json_object_get(op, "completed_add"))
        return;
    json_t *entry = json_pack("{s:O, s:O, s:O, s:b}", "step", json_object_get(m, "step"),
                              "operation", json_object_get(m, "operation"), "compensate",
                              json_object_get(m, "compensate"), "unknown", 1);
    if (!entry)
        return;
    json_object_set(entry, "params", json_object_get(m, "params"));
    if (json_object_get(m, "prior"))
        json_object_set(entry, "prior", json_object_get(m, "prior"));
    json_object_set(op, "completed_add", entry);
    json_array_append_new(it->completed, entry);
}

void exec_finish(struct item *it, const char *state, const char *reason, json_t *output,
                 json_t *last_error)
{
    json_t *op = exec_op_new(it);
    if (strcmp(state, "SUCCEEDED") && !it->compensate_to[0]) {
        exec_adopt_unknown(it, op);
        if (exec_has_compensable(it)) {
            json_decref(output);
            exec_compensate(it, state, reason, last_error, op);
            return;
        }
    }
    const char *from = exec_state(it);
    exec_check_transition(it->e, from, state);
    if (!op) {
        json_decref(output);
        json_decref(last_error);
        log_error("out of memory finishing intent %s", it->id);
        return;
    }
    json_object_set_new(op, "state", json_string(state));
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "wait_until", json_null());
    json_object_set_new(op, "inflight", json_null());
    if (it->step) {
        /* where it stood, input included, so a redrive resumes exactly there */
        json_object_set_new(op, "step_name", json_string(it->step));
        json_object_set(op, "step_input", it->input);
    }
    if (reason)
        json_object_set_new(op, "terminal_reason", json_string(reason));
    if (output)
        json_object_set_new(op, "output", output);
    if (last_error)
        json_object_set_new(op, "last_error", last_error);
    exec_op_ledger(op, exec_ledger_row("intent.transition", from, state,
                                       json_pack("{s:s?}", "reason", reason)));
    exec_submit(it, op, true);
}

int executor_step_key(const char *tenant, const char *id, const char *step, char *out,
                      size_t outlen)
{
    char material[512];
    int n = snprintf(material, sizeof material, "%s\x1f%s\x1f%s", tenant, id, step);
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    if (n < 0 || (size_t)n >= sizeof material || crypto_sha256_hex(material, (size_t)n, hex))
        return IE_INVAL;
    snprintf(out, outlen, "ik_%.40s", hex);
    return 0;
}

int exec_idempotency_key(const struct item *it, const char *step, char *out, size_t outlen)
{
    return executor_step_key(it->tenant, it->id, step, out, outlen);
}

void exec_task_failed(struct item *it, const struct asl_step *st, const char *error,
                      const char *cause, double retry_after_s, json_t *op)
{
    int attempts = it->step_attempts + 1;
    struct asl_error_decision d;
    double r01 = (double)random() / (double)RAND_MAX;
    if (asl_task_failed(it->m, st->state, st->input, error, cause, attempts, r01, &d)) {
        json_decref(op);
        exec_finish(it, "FAILED", "the workflow could not decide about a failed step", NULL,
                    json_pack("{s:s, s:s}", "error", error, "cause", cause));
        return;
    }
    exec_op_ledger(op, exec_ledger_row("attempt.finished", "EXECUTING", "EXECUTING",
                                       json_pack("{s:s, s:i, s:s, s:s, s:s}", "step", st->state,
                                                 "attempt", attempts, "outcome", "failed", "error",
                                                 error, "cause", cause)));
    json_object_set_new(op, "attempts_inc", json_integer(1));
    json_object_set_new(op, "last_error", json_pack("{s:s, s:s}", "error", error, "cause", cause));
    if (d.kind == ASL_DECIDE_RETRY) {
        double delay = d.delay_seconds;
        if (retry_after_s > delay) {
            /* The vendor's Retry-After wins over the backoff, within the Retrier's cap. */
            delay = retry_after_s;
            if (d.max_delay_seconds > 0 && delay > d.max_delay_seconds)
                delay = d.max_delay_seconds;
        }
        double due = exec_now() + delay;
        asl_decision_clear(&d);
        if (due >= (double)it->expires) {
            /* A retry that would land after the deadline is not scheduled. */
            json_decref(op);
            exec_finish(it, "EXPIRED", "the next retry would start after the deadline", NULL,
                        json_pack("{s:s, s:s}", "error", error, "cause", cause));
            return;
        }
        json_object_set_new(op, "step_name", json_string(st->state));
        json_object_set_new(op, "step_input", json_deep_copy(st->input));
        json_object_set_new(op, "step_attempts", json_integer(attempts));
        exec_release_at(it, op, due);
        return;
    }
    if (d.kind == ASL_DECIDE_CATCH) {
        /* The caught step is over: a call of it whose outcome stayed unknown joins the
         * succeeded Tasks (compensation looks for its effect first), and neither its marker nor
         * its prepare read may pass to the state the Catch names. */
        exec_adopt_unknown(it, op);
        json_decref(it->inflight);
        it->inflight = NULL;
        json_decref(it->prior);
        it->prior = NULL;
        json_object_set_new(op, "step_name", json_string(d.state));
        json_object_set_new(op, "step_input", json_incref(d.output));
        json_object_set_new(op, "step_attempts", json_integer(0));
        json_object_set_new(op, "inflight", json_null());
        json_object_set_new(op, "prior", json_null());
        free(it->after_step);
        json_decref(it->after_input);
        it->after_step = strdup(d.state);
        it->after_input = json_incref(d.output);
        it->after_attempts = 0;
        it->after = NULL;
        asl_decision_clear(&d);
        exec_submit(it, op, false);
        return;
    }
    asl_decision_clear(&d);
    char reason[300];
    snprintf(reason, sizeof reason, "step %s failed: %s", st->state, error);
    exec_adopt_unknown(it, op);
    if (exec_has_compensable(it)) {
        /* The failed attempt's rows commit with the move to COMPENSATING. */
        json_object_set_new(op, "step_name", json_string(st->state));
        json_object_set(op, "step_input", st->input);
        exec_compensate(it, "FAILED", reason,
                        json_pack("{s:s, s:s}", "error", error, "cause", cause), op);
        return;
    }
    exec_check_transition(it->e, "EXECUTING", "FAILED");
    json_object_set_new(op, "state", json_string("FAILED"));
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "inflight", json_null());
    json_object_set_new(op, "step_name", json_string(st->state));
    json_object_set(op, "step_input", st->input);
    json_object_set_new(op, "terminal_reason", json_string(reason));
    exec_op_ledger(op, exec_ledger_row("intent.transition", "EXECUTING", "FAILED",
                                       json_pack("{s:s}", "reason", reason)));
    exec_submit(it, op, true);
}

static void set_after_step(struct item *it, const char *state, json_t *input, int attempts)
{
    free(it->after_step);
    json_decref(it->after_input);
    it->after_step = strdup(state);
    it->after_input = json_incref(input);
    it->after_attempts = attempts;
    it->after = NULL;
}

void exec_task_succeeded(struct item *it, const struct asl_step *st, const char *operation,
                         const char *external_id, json_t *result, json_t *op)
{
    struct asl_next next = {0};
    if (asl_task_succeeded(it->m, st->state, st->input, result, &next)) {
        json_decref(op);
        exec_finish(it, "FAILED", "internal error recording a step's result", NULL, NULL);
        return;
    }
    int attempt = it->step_attempts + 1;
    json_object_set_new(op, "attempts_inc", json_integer(1));
    json_object_set_new(op, "inflight", json_null());
    json_object_set_new(op, "prior", json_null());
    exec_op_ledger(
        op, exec_ledger_row("attempt.finished", "EXECUTING", "EXECUTING",
                            json_pack("{s:s, s:i, s:s, s:s?, s:O}", "step", st->state, "attempt",
                                      attempt, "outcome", "succeeded", "external_id",
                                      external_id && *external_id ? external_id : NULL, "result",
                                      result)));
    /* What compensation (and the status) needs of a Task that succeeded: an irreversible one
     * is listed too, so the status can say it cannot be undone. */
    json_t *done = json_pack("{s:s, s:s, s:s?}", "step", st->state, "operation", operation,
                             "external_id", external_id && *external_id ? external_id : NULL);
    if (done && st->compensate) {
        json_object_set_new(done, "compensate", json_string(st->compensate));
        json_object_set(done, "result", result);
        json_object_set(done, "params", st->parameters);
        if (it->prior)
            json_object_set(done, "prior", it->prior);
    }
    if (done) {
        json_object_set(op, "completed_add", done);
        json_array_append_new(it->completed, done);
    }
    json_decref(it->prior);
    it->prior = NULL;
    json_decref(it->inflight);
    it->inflight = NULL;
    if (next.kind == ASL_NEXT_STATE) {
        json_object_set_new(op, "step_name", json_string(next.state));
        json_object_set_new(op, "step_input", json_incref(next.output));
        json_object_set_new(op, "step_attempts", json_integer(0));
        json_object_set_new(op, "wait_until", json_null());
        set_after_step(it, next.state, next.output, 0);
        asl_next_clear(&next);
        exec_submit(it, op, false);
        return;
    }
    json_object_set_new(op, "step_name", json_string(st->state));
    json_object_set_new(op, "wait_until", json_null());
    if (next.kind == ASL_NEXT_END) {
        exec_check_transition(it->e, "EXECUTING", "SUCCEEDED");
        json_object_set_new(op, "release", json_true());
        json_object_set_new(op, "state", json_string("SUCCEEDED"));
        json_object_set_new(op, "output", json_incref(next.output));
        exec_op_ledger(op, exec_ledger_row("intent.transition", "EXECUTING", "SUCCEEDED",
                                           json_pack("{s:s}", "reason", "every step succeeded")));
        asl_next_clear(&next);
        exec_submit(it, op, true);
        return;
    }
    char reason[300];
    snprintf(reason, sizeof reason, "step %s: %s", st->state,
             next.cause ? next.cause : "runtime error");
    json_t *err = json_pack("{s:s, s:s?}", "error", next.error ? next.error : ASL_ERR_RUNTIME,
                            "cause", next.cause);
    asl_next_clear(&next);
    if (exec_has_compensable(it)) {
        exec_compensate(it, "FAILED", reason, err, op);
        return;
    }
    exec_check_transition(it->e, "EXECUTING", "FAILED");
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "state", json_string("FAILED"));
    json_object_set_new(op, "terminal_reason", json_string(reason));
    json_object_set_new(op, "last_error", err);
    exec_op_ledger(op, exec_ledger_row("intent.transition", "EXECUTING", "FAILED",
                                       json_pack("{s:s}", "reason", reason)));
    exec_submit(it, op, true);
}

void exec_attempt_rows(struct item *it, json_t *op, const char *state, const char *operation,
                       const char *key)
{
    int attempt = it->step_attempts + 1;
    if (attempt == 1 && !it->inflight)
        exec_op_ledger(op, exec_ledger_row("step.entered", "EXECUTING", "EXECUTING",
                                           json_pack("{s:s, s:s, s:s}", "step", state, "type",
                                                     "Task", "operation", operation)));
    exec_op_ledger(
        op, exec_ledger_row("attempt.started", "EXECUTING", "EXECUTING",
                            json_pack("{s:s, s:i, s:s, s:s}", "step", state, "attempt", attempt,
                                      "operation", operation, "idempotency_key", key)));
}

/* Runs a Task whose operation writes an internal record: the record, the step's outcome and
 * its ledger rows commit together in one intentd.apply. */
static void run_internal_task(struct item *it, const struct asl_step *st,
                              const struct adapter_op *aop)
{
    json_t *op = exec_op_new(it);
    char key[EXEC_KEY_MAX];
    if (!op || exec_idempotency_key(it, st->state, key, sizeof key)) {
        json_decref(op);
        exec_finish(it, "FAILED", "internal error preparing a step", NULL, NULL);
        return;
    }
    exec_attempt_rows(it, op, st->state, aop->name, key);
    struct adapter_errors errs;
    adapter_errors_reset(&errs);
    if (aop->validate(st->parameters, &errs)) {
        char cause[ADAPTER_POINTER_MAX + ADAPTER_MESSAGE_MAX + 4];
        snprintf(cause, sizeof cause, "%s%s%s", errs.items[0].pointer,
                 errs.items[0].pointer[0] ? ": " : "", errs.items[0].message);
        exec_task_failed(it, st, "Connector.Permanent", cause, -1, op);
        return;
    }
    struct adapter_ctx ctx = {.tenant_id = it->tenant,
                              .action_intent_id = it->id,
                              .account_id = it->account,
                              .step = st->state,
                              .idempotency_key = key};
    json_t *effect = NULL, *result = NULL;
    if (aop->build_effect(st->parameters, &ctx, &effect, &result)) {
        json_decref(op);
        exec_finish(it, "FAILED", "internal error running a step", NULL, NULL);
        return;
    }
    json_object_set_new(op, "effect", effect);
    exec_task_succeeded(it, st, aop->name, json_string_value(json_object_get(result, "record_id")),
                        result, op);
    json_decref(result);
}

/* Moves it to (state, input) in memory. Takes ownership of nothing; copies. */
static void move_to(struct item *it, const char *state, json_t *input, int attempts)
{
    char *s = strdup(state);
    free(it->step);
    it->step = s;
    json_t *in = json_incref(input);
    json_decref(it->input);
    it->input = in;
    it->step_attempts = attempts;
    it->wait_until = 0;
}

void exec_run(struct item *it)
{
    char err[256];
    for (int n = 0; n < STEPS_PER_RUN; n++) {
        double now = exec_now();
        if (it->cancel) {
            exec_finish(it, "CANCELLED", "cancelled by an operator at a step boundary", NULL, NULL);
            return;
        }
        if (now >= (double)it->expires) {
            exec_finish(it, "EXPIRED",
                        it->step ? "the deadline passed between steps"
                                 : "the deadline passed before the first step",
                        NULL, NULL);
            return;
        }
        int limit = asl_timeout_seconds(it->m);
        if (limit > 0 && now >= it->started + limit) {
            char cause[160];
            snprintf(cause, sizeof cause, "the workflow's TimeoutSeconds (%d s) passed", limit);
            exec_finish(it, "FAILED", "the workflow timed out", NULL,
                        json_pack("{s:s, s:s}", "error", "States.Timeout", "cause", cause));
            return;
        }
        if (!it->step)
            move_to(it, asl_start_at(it->m), it->input, 0);
        if (it->wait_until > 0) {
            if (it->wait_until > now) {
                /* Woken early (for instance by a cancel that was already handled): the wait
                 * stays durable, due at its time or the deadline, whichever is first. */
                double due =
                    it->wait_until < (double)it->expires ? it->wait_until : (double)it->expires;
                exec_release_at(it, exec_op_new(it), due);
                return;
            }
            struct asl_next next = {0};
            if (asl_wait_next(it->m, it->step, it->input, &next) || next.kind == ASL_NEXT_FAIL) {
                asl_next_clear(&next);
                exec_finish(it, "FAILED", "the workflow could not leave a Wait state", NULL, NULL);
                return;
            }
            if (next.kind == ASL_NEXT_END) {
                exec_finish(it, "SUCCEEDED", "every step succeeded", json_incref(next.output),
                            NULL);
                asl_next_clear(&next);
                return;
            }
            move_to(it, next.state, next.output, 0);
            asl_next_clear(&next);
            continue;
        }
        struct asl_step st;
        if (asl_advance(it->m, it->step, it->input, &st, err, sizeof err)) {
            exec_finish(it, "FAILED", "the workflow names a state that does not exist", NULL,
                        json_pack("{s:s, s:s}", "error", ASL_ERR_RUNTIME, "cause", err));
            return;
        }
        switch (st.kind) {
        case ASL_STEP_TASK: {
            move_to(it, st.state, st.input,
                    it->step && !strcmp(it->step, st.state) ? it->step_attempts : 0);
            const struct adapter_op *aop = adapter_find(st.resource);
            if (aop && aop->build_effect)
                run_internal_task(it, &st, aop);
            else if (aop && aop->build_request)
                exec_call_task(it, &st, aop);
            else
                exec_finish(
                    it, "FAILED", "no connector in this build runs this step", NULL,
                    json_pack("{s:s, s:s?}", "error", "Connector.Permanent", "cause", st.resource));
            asl_step_clear(&st);
            return;
        }
        case ASL_STEP_WAIT: {
            double until = st.wait_absolute ? st.wait_until : now + (double)st.wait_seconds;
            if (until <= now) {
                move_to(it, st.state, st.input, 0);
                it->wait_until = now;
                asl_step_clear(&st);
                continue;
            }
            json_t *op = exec_op_new(it);
            double due = until < (double)it->expires ? until : (double)it->expires;
            json_object_set_new(op, "step_name", json_string(st.state));
            json_object_set_new(op, "step_input", json_incref(st.input));
            json_object_set_new(op, "step_attempts", json_integer(0));
            json_object_set_new(op, "wait_until", json_real(until));
            exec_op_ledger(op,
                           exec_ledger_row("step.entered", "EXECUTING", "EXECUTING",
                                           json_pack("{s:s, s:s, s:f}", "step", st.state, "type",
                                                     "Wait", "wait_until_epoch", until)));
            asl_step_clear(&st);
            exec_release_at(it, op, due);
            return;
        }
        case ASL_STEP_SUCCEED:
            exec_finish(it, "SUCCEEDED", "every step succeeded", json_incref(st.output), NULL);
            asl_step_clear(&st);
            return;
        case ASL_STEP_FAIL: {
            char reason[300];
            snprintf(reason, sizeof reason, "the workflow failed in %s: %s", st.state,
                     st.error ? st.error : "Fail state");
            exec_finish(it, "FAILED", reason, NULL,
                        json_pack("{s:s, s:s?}", "error", st.error ? st.error : "States.Fail",
                                  "cause", st.cause));
            asl_step_clear(&st);
            return;
        }
        }
    }
    /* A long chain of in-memory moves: persist where it stands and continue later. */
    json_t *op = exec_op_new(it);
    json_object_set_new(op, "step_name", json_string(it->step));
    json_object_set_new(op, "step_input", json_incref(it->input));
    json_object_set_new(op, "release", json_true());
    exec_submit(it, op, true);
}

/* --- apply, group-committed --- */
static void applied(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg);
static void backoff(struct executor *e, struct flight *f, int err, const char *sqlstate,
                    const char *msg);
static void retry_later(struct executor *e);

static void retry_fire(uv_timer_t *t)
{
    struct executor *e = t->data;
    e->retry_armed = false;
    flush(e);
}

/* Outcomes are queued and an apply call may go out now. */
static bool can_apply(const struct executor *e)
{
    return e->qhead && e->inflight < EXEC_APPLY_INFLIGHT && !e->retry_armed && !e->closing;
}

/* Runs when the store puts a group transaction together: one apply call carries every step
 * outcome queued by then. */
static void fill(void *arg)
{
    struct executor *e = arg;
    if (can_apply(e)) {
        struct flight *f = calloc(1, sizeof *f);
        if (!f) {
            /* the outcomes stay queued; nothing else may ask for a group for them */
            retry_later(e);
            return;
        }
        f->e = e;
        while (e->qhead && f->n < EXEC_APPLY_BATCH) {
            struct item *it = e->qhead;
            e->qhead = it->qnext;
            if (!e->qhead)
                e->qtail = NULL;
            e->queued--;
            f->items[f->n++] = it;
        }
        /* Written by hand rather than by json_dumps, which took over a third of this process's CPU
         * in the end-to-end benchmark; sized up front for the usual outcome, so a batch does
         * not grow its text through a dozen copies. */
        struct buf text;
        buf_init(&text, OPS_TEXT_MAX);
        int rc = buf_reserve(&text, (size_t)f->n * OP_TEXT_GUESS);
        for (int i = 0; !rc && i < f->n; i++) {
            rc = buf_append(&text, i ? "," : "[", 1);
            if (!rc)
                rc = json_compact_append(&text, f->items[i]->op);
        }
        if (!rc)
            rc = buf_append(&text, "]", 1);
        if (!rc) {
            const char *p[2] = {e->app->cfg.node_id, text.data};
            f->sent_ns = uv_hrtime();
            rc = store_query_grouped(e->app->store, Q_APPLY, 2, p, applied, f);
        }
        buf_free(&text);
        if (rc) {
            backoff(e, f, rc, NULL, "cannot send");
            return;
        }
        e->inflight++;
    }
}

static void flush(struct executor *e)
{
    if (can_apply(e))
        store_group_request(e->app->store);
}

static void requeue_front(struct executor *e, struct flight *f)
{
    for (int i = f->n - 1; i >= 0; i--) {
        struct item *it = f->items[i];
        it->qnext = e->qhead;
        e->qhead = it;
        if (!e->qtail)
            e->qtail = it;
        e->queued++;
    }
}

/* An apply call failed: nothing or everything of it committed. The version check makes a
 * repeat of committed ops answer 'dup', so the whole batch is simply tried again later. */
static void backoff(struct executor *e, struct flight *f, int err, const char *sqlstate,
                    const char *msg)
{
    log_warn("applying %d step outcomes failed (%s %s); retrying", f->n, sqlstate ? sqlstate : "",
             msg ? msg : ie_strerror(err));
    requeue_front(e, f);
    free(f);
    retry_later(e);
}

/* Sends the queued outcomes again after a delay that doubles up to RETRY_MAX_MS. */
static void retry_later(struct executor *e)
{
    e->retry_ms = e->retry_ms ? e->retry_ms * 2 : RETRY_MIN_MS;
    if (e->retry_ms > RETRY_MAX_MS)
        e->retry_ms = RETRY_MAX_MS;
    if (!e->retry_armed) {
        e->retry_armed = true;
        uv_timer_start(&e->retry_timer, retry_fire, e->retry_ms, 0);
    }
}

static void applied(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct flight *f = arg;
    struct executor *e = f->e;
    e->inflight--;
    if (e->closing) {
        /* executor_free ended these items' calls; calls with a request out end through their
         * callbacks (the HTTP client cancels them), and only the last of all frees it */
        free(f);
        if (!e->inflight && !e->calling)
            free_now(e);
        return;
    }
    if (err) {
        backoff(e, f, err, sqlstate, msg);
        return;
    }
    e->retry_ms = 0;
    app_metrics_ledger_append(e->app->metrics, (double)(uv_hrtime() - f->sent_ns) / 1e9);
    PGresult *r = res->results[0];
    bool dropped = false;
    for (int row = 0; row < PQntuples(r); row++) {
        int idx = atoi(PQgetvalue(r, row, 0));
        if (idx < 0 || idx >= f->n)
            continue;
        struct item *it = f->items[idx];
        const char *result = PQgetvalue(r, row, 1);
        json_decref(it->op);
        it->op = NULL;
        if (!strcmp(result, "fenced")) {
            log_ctx(LOG_WARN, NULL, it->id,
                    "lease lost before a step outcome could be written; another node owns it");
            drop(it);
            dropped = true;
            continue;
        }
        it->version = atoll(PQgetvalue(r, row, 2));
        bool cancel = !strcmp(PQgetvalue(r, row, 3), "t");
        if (it->final) {
            drop(it);
            dropped = true;
            continue;
        }
        if (cancel)
            it->cancel = true; /* honoured at the next step boundary */
        if (it->after) {
            void (*next)(struct item *) = it->after;
            it->after = NULL;
            next(it);
            continue;
        }
        move_to(it, it->after_step, it->after_input, it->after_attempts);
        exec_run(it);
    }
    free(f);
    if (dropped && e->notify)
        e->notify(e->notify_arg);
    flush(e);
    if (!executor_pending(e) && e->notify)
        e->notify(e->notify_arg);
}

void executor_take(struct executor *e, const PGresult *r, int row)
{
    struct item *it = calloc(1, sizeof *it);
    if (!it) {
        log_error("out of memory taking an intent; its lease will lapse");
        return;
    }
    it->e = e;
    snprintf(it->tenant, sizeof it->tenant, "%s", PQgetvalue(r, row, 0));
    snprintf(it->id, sizeof it->id, "%s", PQgetvalue(r, row, 1));
    snprintf(it->type, sizeof it->type, "%s", PQgetvalue(r, row, 2));
    snprintf(it->account, sizeof it->account, "%s", PQgetvalue(r, row, 3));
    it->step = PQgetisnull(r, row, 5) ? NULL : strdup(PQgetvalue(r, row, 5));
    it->input = PQgetisnull(r, row, 6) ? NULL : json_loads(PQgetvalue(r, row, 6), 0, NULL);
    it->step_attempts = atoi(PQgetvalue(r, row, 7));
    it->wait_until = PQgetisnull(r, row, 8) ? 0 : atof(PQgetvalue(r, row, 8));
    it->fence = atoll(PQgetvalue(r, row, 9));
    it->version = atoll(PQgetvalue(r, row, 10));
    it->expires = atoll(PQgetvalue(r, row, 11));
    it->started = atof(PQgetvalue(r, row, 14));
    it->submitted_us = atoll(PQgetvalue(r, row, 21));
    it->cancel = !strcmp(PQgetvalue(r, row, 15), "t");
    it->completed = json_loads(PQgetvalue(r, row, 16), 0, NULL);
    if (!json_is_array(it->completed)) {
        json_decref(it->completed);
        it->completed = json_array();
    }
    if (!PQgetisnull(r, row, 17))
        it->inflight = json_loads(PQgetvalue(r, row, 17), 0, NULL);
    if (!PQgetisnull(r, row, 18))
        it->prior = json_loads(PQgetvalue(r, row, 18), 0, NULL);
    bool compensating = !strcmp(PQgetvalue(r, row, 4), "COMPENSATING");
    if (compensating) {
        snprintf(it->compensate_to, sizeof it->compensate_to, "%s",
                 PQgetisnull(r, row, 19) ? "FAILED" : PQgetvalue(r, row, 19));
        it->reason = strdup(PQgetvalue(r, row, 20));
    }
    if (!it->step) {
        json_decref(it->input);
        it->input = json_loads(PQgetvalue(r, row, 12), 0, NULL);
    }
    if (!it->input)
        it->input = json_object();
    it->next = e->items;
    if (e->items)
        e->items->prev = it;
    e->items = it;
    e->in_hand++;
    app_metrics_leases(e->app->metrics, e->in_hand);
    it->m = workflows_get(e->app->workflows, it->type);
    if (!it->m) {
        if (compensating)
            exec_saga_next(it); /* compensation needs the adapters, not the workflow */
        else
            exec_finish(
                it, "FAILED", "this node has no workflow for the action type", NULL,
                json_pack("{s:s, s:s}", "error", "Intentd.UnknownActionType", "cause", it->type));
        return;
    }
    if (compensating)
        exec_saga_next(it);
    else
        exec_run(it);
}
