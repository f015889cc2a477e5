/* Runs claimed intents through their workflows and group-commits their step outcomes; see
 * executor.h. An intent in hand is a struct item; it is either running (pure interpretation,
 * synchronous), or waiting for its op to be applied. Items leave memory only from an apply
 * result, so no store callback ever sees a freed item. */
#include "executor.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "asl.h"
#include "crypto.h"
#include "lifecycle.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "workflows.h"

#define RETRY_MIN_MS  100
#define RETRY_MAX_MS  5000
#define STEPS_PER_RUN 100 /* steps one intent may take in a row before yielding the loop */

struct item {
    struct item *prev, *next; /* in-hand list */
    struct item *qnext;       /* apply queue */
    struct executor *e;
    char tenant[72];
    char id[136];
    char type[136];
    char account[136];
    const struct asl_machine *m;
    long long fence, version, expires;
    double started; /* when the workflow first started: its TimeoutSeconds runs from here */
    char *step;     /* the ASL state to run next (NULL: the start) */
    json_t *input;  /* its raw input */
    int step_attempts;
    double wait_until; /* > 0: the step is a Wait that was entered and persisted */
    json_t *op;        /* the outcome waiting to be applied */
    bool final;        /* after the op: leave memory */
    char *after_step;  /* otherwise: continue here */
    json_t *after_input;
    int after_attempts;
};

struct flight {
    struct executor *e;
    int n;
    struct item *items[EXEC_APPLY_BATCH];
};

struct executor {
    struct app *app;
    struct item *items;
    int in_hand;
    struct item *qhead, *qtail;
    int queued;
    int inflight;
    uv_timer_t retry_timer;
    unsigned retry_ms;
    bool retry_armed;
    bool closing;
    void (*notify)(void *arg);
    void *notify_arg;
    double next_due; /* earliest wake-up released since the scheduler last asked; 0: none */
};

static void flush(struct executor *e);
static void run(struct item *it);

static double now_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int executor_new(struct app *app, struct executor **out)
{
    struct executor *e = calloc(1, sizeof *e);
    if (!e)
        return IE_NOMEM;
    e->app = app;
    uv_timer_init(app->loop, &e->retry_timer);
    e->retry_timer.data = e;
    *out = e;
    return 0;
}

static void item_free(struct item *it)
{
    free(it->step);
    free(it->after_step);
    json_decref(it->input);
    json_decref(it->after_input);
    json_decref(it->op);
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
    item_free(it);
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void free_now(struct executor *e)
{
    while (e->items)
        drop(e->items);
    e->retry_timer.data = e;
    uv_close((uv_handle_t *)&e->retry_timer, timer_closed);
}

void executor_free(struct executor *e)
{
    if (!e)
        return;
    uv_timer_stop(&e->retry_timer);
    if (e->inflight) {
        e->closing = true; /* the last apply result frees it */
        return;
    }
    free_now(e);
}

int executor_in_hand(const struct executor *e)
{
    return e->in_hand;
}

int executor_pending(const struct executor *e)
{
    return e->queued + e->inflight;
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

static void note_due(struct executor *e, double due)
{
    if (e->next_due == 0 || due < e->next_due)
        e->next_due = due;
}

void executor_set_notify(struct executor *e, void (*cb)(void *arg), void *arg)
{
    e->notify = cb;
    e->notify_arg = arg;
}

/* --- building outcomes --- */

static json_t *ledger_row(const char *event, const char *from, const char *to, json_t *payload)
{
    return json_pack("{s:s, s:s?, s:s?, s:o}", "event", event, "from_state", from, "to_state", to,
                     "payload", payload ? payload : json_object());
}

/* Starts an op for it: fenced on the lease and the version last seen. */
static json_t *op_new(struct item *it)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:[]}", "tenant_id", it->tenant, "action_intent_id",
                     it->id, "fence", (json_int_t)it->fence, "version", (json_int_t)it->version,
                     "ledger");
}

static void op_ledger(json_t *op, json_t *row)
{
    json_array_append_new(json_object_get(op, "ledger"), row);
}

static void submit_op(struct item *it, json_t *op, bool final)
{
    struct executor *e = it->e;
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

/* The C half of the lifecycle guard (the database trigger is the other): a move the table does
 * not allow is a bug in the engine, and aborts loudly rather than writing it. */
static void check_transition(const struct executor *e, const char *to)
{
    enum intent_state target;
    if (lifecycle_state_from_name(to, &target) ||
        !lifecycle_allowed(e->app->lifecycle, INTENT_EXECUTING, target)) {
        log_error("engine bug: EXECUTING -> %s is not in the lifecycle table", to);
        abort();
    }
}

/* Ends the intent in a terminal state. */
static void finish(struct item *it, const char *state, const char *reason, json_t *output,
                   json_t *last_error)
{
    check_transition(it->e, state);
    json_t *op = op_new(it);
    if (!op) {
        json_decref(output);
        json_decref(last_error);
        log_error("out of memory finishing intent %s", it->id);
        return;
    }
    json_object_set_new(op, "state", json_string(state));
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "wait_until", json_null());
    if (it->step)
        json_object_set_new(op, "step_name", json_string(it->step));
    if (reason)
        json_object_set_new(op, "terminal_reason", json_string(reason));
    if (output)
        json_object_set_new(op, "output", output);
    if (last_error)
        json_object_set_new(op, "last_error", last_error);
    op_ledger(op, ledger_row("intent.transition", "EXECUTING", state,
                             json_pack("{s:s?}", "reason", reason)));
    submit_op(it, op, true);
}

static int idempotency_key(const struct item *it, const char *step, char *out, size_t outlen)
{
    char material[512];
    int n = snprintf(material, sizeof material, "%s\x1f%s\x1f%s", it->tenant, it->id, step);
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    if (n < 0 || (size_t)n >= sizeof material || crypto_sha256_hex(material, (size_t)n, hex))
        return IE_INVAL;
    snprintf(out, outlen, "ik_%.40s", hex);
    return 0;
}

/* A Task attempt failed (validation at run time, or later a connector error): Retry, Catch or
 * fail, as the workflow says. Returns true when the item goes on running now. */
static bool task_failed(struct item *it, const struct asl_step *st, const char *error,
                        const char *cause, json_t *op)
{
    int attempts = it->step_attempts + 1;
    struct asl_error_decision d;
    double r01 = (double)random() / (double)RAND_MAX;
    if (asl_task_failed(it->m, st->state, st->input, error, cause, attempts, r01, &d)) {
        json_decref(op);
        finish(it, "FAILED", "the workflow could not decide about a failed step", NULL,
               json_pack("{s:s, s:s}", "error", error, "cause", cause));
        return false;
    }
    op_ledger(op,
              ledger_row("attempt.finished", "EXECUTING", "EXECUTING",
                         json_pack("{s:s, s:i, s:s, s:s, s:s}", "step", st->state, "attempt",
                                   attempts, "outcome", "failed", "error", error, "cause", cause)));
    json_object_set_new(op, "attempts_inc", json_integer(1));
    json_object_set_new(op, "last_error", json_pack("{s:s, s:s}", "error", error, "cause", cause));
    if (d.kind == ASL_DECIDE_RETRY) {
        double due = now_epoch() + d.delay_seconds;
        if (due >= (double)it->expires) {
            /* A retry that would land after the deadline is not scheduled. */
            asl_decision_clear(&d);
            json_decref(op);
            finish(it, "EXPIRED", "the next retry would start after the deadline", NULL,
                   json_pack("{s:s, s:s}", "error", error, "cause", cause));
            return false;
        }
        json_object_set_new(op, "step_name", json_string(st->state));
        json_object_set_new(op, "step_input", json_deep_copy(st->input));
        json_object_set_new(op, "step_attempts", json_integer(attempts));
        json_object_set_new(op, "due_epoch", json_real(due));
        json_object_set_new(op, "release", json_true());
        asl_decision_clear(&d);
        note_due(it->e, due);
        submit_op(it, op, true);
        return false;
    }
    if (d.kind == ASL_DECIDE_CATCH) {
        json_object_set_new(op, "step_name", json_string(d.state));
        json_object_set_new(op, "step_input", json_incref(d.output));
        json_object_set_new(op, "step_attempts", json_integer(0));
        free(it->after_step);
        json_decref(it->after_input);
        it->after_step = strdup(d.state);
        it->after_input = json_incref(d.output);
        it->after_attempts = 0;
        asl_decision_clear(&d);
        submit_op(it, op, false);
        return false;
    }
    asl_decision_clear(&d);
    check_transition(it->e, "FAILED");
    json_object_set_new(op, "state", json_string("FAILED"));
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "step_name", json_string(st->state));
    char reason[300];
    snprintf(reason, sizeof reason, "step %s failed: %s", st->state, error);
    json_object_set_new(op, "terminal_reason", json_string(reason));
    op_ledger(op, ledger_row("intent.transition", "EXECUTING", "FAILED",
                             json_pack("{s:s}", "reason", reason)));
    submit_op(it, op, true);
    return false;
}

/* Runs a Task whose operation writes an internal record: the record, the step's outcome and
 * its ledger rows commit together in one intentd.apply. */
static void run_internal_task(struct item *it, const struct asl_step *st,
                              const struct adapter_op *aop)
{
    json_t *op = op_new(it);
    char key[64];
    if (!op || idempotency_key(it, st->state, key, sizeof key)) {
        json_decref(op);
        finish(it, "FAILED", "internal error preparing a step", NULL, NULL);
        return;
    }
    int attempt = it->step_attempts + 1;
    if (attempt == 1)
        op_ledger(op, ledger_row("step.entered", "EXECUTING", "EXECUTING",
                                 json_pack("{s:s, s:s, s:s}", "step", st->state, "type", "Task",
                                           "operation", aop->name)));
    op_ledger(op, ledger_row("attempt.started", "EXECUTING", "EXECUTING",
                             json_pack("{s:s, s:i, s:s, s:s}", "step", st->state, "attempt",
                                       attempt, "operation", aop->name, "idempotency_key", key)));
    struct adapter_errors errs = {0};
    if (aop->validate(st->parameters, &errs)) {
        char cause[ADAPTER_POINTER_MAX + ADAPTER_MESSAGE_MAX + 4];
        snprintf(cause, sizeof cause, "%s%s%s", errs.items[0].pointer,
                 errs.items[0].pointer[0] ? ": " : "", errs.items[0].message);
        task_failed(it, st, "Connector.Permanent", cause, op);
        return;
    }
    struct adapter_ctx ctx = {.tenant_id = it->tenant,
                              .action_intent_id = it->id,
                              .account_id = it->account,
                              .step = st->state,
                              .idempotency_key = key};
    json_t *effect = NULL, *result = NULL;
    struct asl_next next = {0};
    if (aop->build_effect(st->parameters, &ctx, &effect, &result) ||
        asl_task_succeeded(it->m, st->state, st->input, result, &next)) {
        json_decref(effect);
        json_decref(result);
        json_decref(op);
        finish(it, "FAILED", "internal error running a step", NULL, NULL);
        return;
    }
    json_object_set_new(op, "effect", effect);
    json_object_set_new(op, "attempts_inc", json_integer(1));
    op_ledger(op, ledger_row("attempt.finished", "EXECUTING", "EXECUTING",
                             json_pack("{s:s, s:i, s:s, s:O}", "step", st->state, "attempt",
                                       attempt, "outcome", "succeeded", "result", result)));
    json_decref(result);
    if (next.kind == ASL_NEXT_STATE) {
        json_object_set_new(op, "step_name", json_string(next.state));
        json_object_set_new(op, "step_input", json_incref(next.output));
        json_object_set_new(op, "step_attempts", json_integer(0));
        json_object_set_new(op, "wait_until", json_null());
        free(it->after_step);
        json_decref(it->after_input);
        it->after_step = strdup(next.state);
        it->after_input = json_incref(next.output);
        it->after_attempts = 0;
        asl_next_clear(&next);
        submit_op(it, op, false);
        return;
    }
    json_object_set_new(op, "release", json_true());
    json_object_set_new(op, "step_name", json_string(st->state));
    json_object_set_new(op, "wait_until", json_null());
    if (next.kind == ASL_NEXT_END) {
        check_transition(it->e, "SUCCEEDED");
        json_object_set_new(op, "state", json_string("SUCCEEDED"));
        json_object_set_new(op, "output", json_incref(next.output));
        op_ledger(op, ledger_row("intent.transition", "EXECUTING", "SUCCEEDED",
                                 json_pack("{s:s}", "reason", "every step succeeded")));
    } else {
        char reason[300];
        snprintf(reason, sizeof reason, "step %s: %s", st->state,
                 next.cause ? next.cause : "runtime error");
        check_transition(it->e, "FAILED");
        json_object_set_new(op, "state", json_string("FAILED"));
        json_object_set_new(op, "terminal_reason", json_string(reason));
        json_object_set_new(op, "last_error",
                            json_pack("{s:s, s:s?}", "error",
                                      next.error ? next.error : ASL_ERR_RUNTIME, "cause",
                                      next.cause));
        op_ledger(op, ledger_row("intent.transition", "EXECUTING", "FAILED",
                                 json_pack("{s:s}", "reason", reason)));
    }
    asl_next_clear(&next);
    submit_op(it, op, true);
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

/* Interprets the workflow from where it stands until an outcome must be written. */
static void run(struct item *it)
{
    char err[256];
    for (int n = 0; n < STEPS_PER_RUN; n++) {
        double now = now_epoch();
        if (now >= (double)it->expires) {
            finish(it, "EXPIRED",
                   it->step ? "the deadline passed between steps"
                            : "the deadline passed before the first step",
                   NULL, NULL);
            return;
        }
        int limit = asl_timeout_seconds(it->m);
        if (limit > 0 && now >= it->started + limit) {
            char cause[160];
            snprintf(cause, sizeof cause, "the workflow's TimeoutSeconds (%d s) passed", limit);
            finish(it, "FAILED", "the workflow timed out", NULL,
                   json_pack("{s:s, s:s}", "error", "States.Timeout", "cause", cause));
            return;
        }
        if (!it->step)
            move_to(it, asl_start_at(it->m), it->input, 0);
        if (it->wait_until > 0) {
            if (it->wait_until > now) {
                /* Woken early (for instance by a cancel that was already handled): the wait
                 * stays durable, due at its time or the deadline, whichever is first. */
                json_t *op = op_new(it);
                double due =
                    it->wait_until < (double)it->expires ? it->wait_until : (double)it->expires;
                json_object_set_new(op, "due_epoch", json_real(due));
                json_object_set_new(op, "release", json_true());
                submit_op(it, op, true);
                return;
            }
            struct asl_next next = {0};
            if (asl_wait_next(it->m, it->step, it->input, &next) || next.kind == ASL_NEXT_FAIL) {
                asl_next_clear(&next);
                finish(it, "FAILED", "the workflow could not leave a Wait state", NULL, NULL);
                return;
            }
            if (next.kind == ASL_NEXT_END) {
                finish(it, "SUCCEEDED", "every step succeeded", json_incref(next.output), NULL);
                asl_next_clear(&next);
                return;
            }
            move_to(it, next.state, next.output, 0);
            asl_next_clear(&next);
            continue;
        }
        struct asl_step st;
        if (asl_advance(it->m, it->step, it->input, &st, err, sizeof err)) {
            finish(it, "FAILED", "the workflow names a state that does not exist", NULL,
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
            else
                finish(
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
            json_t *op = op_new(it);
            double due = until < (double)it->expires ? until : (double)it->expires;
            json_object_set_new(op, "step_name", json_string(st.state));
            json_object_set_new(op, "step_input", json_incref(st.input));
            json_object_set_new(op, "step_attempts", json_integer(0));
            json_object_set_new(op, "wait_until", json_real(until));
            json_object_set_new(op, "due_epoch", json_real(due));
            json_object_set_new(op, "release", json_true());
            op_ledger(op, ledger_row("step.entered", "EXECUTING", "EXECUTING",
                                     json_pack("{s:s, s:s, s:f}", "step", st.state, "type", "Wait",
                                               "wait_until_epoch", until)));
            asl_step_clear(&st);
            note_due(it->e, due);
            submit_op(it, op, true);
            return;
        }
        case ASL_STEP_SUCCEED:
            finish(it, "SUCCEEDED", "every step succeeded", json_incref(st.output), NULL);
            asl_step_clear(&st);
            return;
        case ASL_STEP_FAIL: {
            char reason[300];
            snprintf(reason, sizeof reason, "the workflow failed in %s: %s", st.state,
                     st.error ? st.error : "Fail state");
            finish(it, "FAILED", reason, NULL,
                   json_pack("{s:s, s:s?}", "error", st.error ? st.error : "States.Fail", "cause",
                             st.cause));
            asl_step_clear(&st);
            return;
        }
        }
    }
    /* A long chain of in-memory moves: persist where it stands and continue later. */
    json_t *op = op_new(it);
    json_object_set_new(op, "step_name", json_string(it->step));
    json_object_set_new(op, "step_input", json_incref(it->input));
    json_object_set_new(op, "release", json_true());
    submit_op(it, op, true);
}

/* --- apply, group-committed --- */

static void applied(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg);
static void backoff(struct executor *e, struct flight *f, int err, const char *sqlstate,
                    const char *msg);

static void retry_fire(uv_timer_t *t)
{
    struct executor *e = t->data;
    e->retry_armed = false;
    flush(e);
}

static void flush(struct executor *e)
{
    while (e->qhead && e->inflight < EXEC_APPLY_INFLIGHT && !e->retry_armed) {
        struct flight *f = calloc(1, sizeof *f);
        json_t *ops = json_array();
        if (!f || !ops) {
            free(f);
            json_decref(ops);
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
            json_array_append(ops, it->op);
        }
        char *text = json_dumps(ops, JSON_COMPACT);
        json_decref(ops);
        int rc = IE_NOMEM;
        if (text) {
            const char *p[2] = {e->app->cfg.node_id, text};
            rc = store_query(e->app->store, Q_APPLY, 2, p, applied, f);
            free(text);
        }
        if (rc) {
            backoff(e, f, rc, NULL, "cannot send");
            return;
        }
        e->inflight++;
    }
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
        free(f);
        if (!e->inflight)
            free_now(e);
        return;
    }
    if (err) {
        backoff(e, f, err, sqlstate, msg);
        return;
    }
    e->retry_ms = 0;
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
        move_to(it, it->after_step, it->after_input, it->after_attempts);
        if (cancel) {
            finish(it, "CANCELLED", "cancelled by an operator at a step boundary", NULL, NULL);
            continue;
        }
        run(it);
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
    it->m = workflows_get(e->app->workflows, it->type);
    if (!it->m) {
        finish(it, "FAILED", "this node has no workflow for the action type", NULL,
               json_pack("{s:s, s:s}", "error", "Intentd.UnknownActionType", "cause", it->type));
        return;
    }
    run(it);
}
