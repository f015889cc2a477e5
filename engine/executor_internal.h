/* Shared between the executor's files: executor.c (intents in hand, the interpreter loop, the
 * group-committed apply), executor_call.c (Tasks that call a connector over HTTP) and
 * executor_saga.c (compensation). Not for use elsewhere. */
#ifndef INTENTD_EXECUTOR_INTERNAL_H
#define INTENTD_EXECUTOR_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "adapter.h"
#include "asl.h"
#include "executor.h"

#define EXEC_KEY_MAX 64

struct call;

/* One intent in hand. It is either running (synchronous interpretation), waiting for its op to
 * be applied, or waiting for I/O of an external call (it->call). */
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
    long long submitted_us; /* when it was submitted, in microseconds: ops name the row by it */
    double started;         /* when the workflow first started: its TimeoutSeconds runs from here */
    char *step;             /* the ASL state to run next (NULL: the start) */
    json_t *input;          /* its raw input */
    int step_attempts;
    double wait_until;      /* > 0: the step is a Wait that was entered and persisted */
    bool cancel;            /* an operator asked to cancel: honoured at the next step boundary */
    json_t *completed;      /* the Tasks that succeeded (array, see intentd.intents.completed) */
    json_t *inflight;       /* the write-ahead marker of a call whose outcome is unknown, or NULL */
    json_t *prior;          /* what the current step's prepare read, or NULL */
    char compensate_to[16]; /* "" unless COMPENSATING: the terminal state it will end in */
    char *reason;           /* COMPENSATING: why it ends (kept for the final transition) */
    struct call *call;      /* an external call in progress */
    /* the op waiting to be applied, and what follows it */
    json_t *op;
    bool final;                     /* after the op: leave memory */
    void (*after)(struct item *it); /* otherwise: continue with this (NULL: move to after_step
                                       and run) */
    char *after_step;
    json_t *after_input;
    int after_attempts;
};

struct executor {
    struct app *app;
    struct item *items;
    int in_hand;
    struct item *qhead, *qtail;
    int queued;
    int inflight;
    int calling;             /* items with an external call (or its set-up) in progress */
    struct call *refreshing; /* calls refreshing an OAuth2 token, one per tenant and connector;
                                others answered 401 meanwhile wait on them */
    struct call *parked;     /* calls waiting in memory for a guard (a token batch on its way,
                                a concurrency slot): the guards' wake or park_timer retries them */
    uv_timer_t park_timer;
    int handles_open; /* the two timers, until their close callbacks ran */
    uv_timer_t retry_timer;
    unsigned retry_ms;
    bool retry_armed;
    bool closing;
    void (*notify)(void *arg);
    void *notify_arg;
    double next_due; /* earliest wake-up released since the scheduler last asked; 0: none */
};

double exec_now(void);

/* Ops: an intentd.apply entry fenced on the lease and the version last seen. */
json_t *exec_op_new(struct item *it);
json_t *exec_ledger_row(const char *event, const char *from, const char *to, json_t *payload);
void exec_op_ledger(json_t *op, json_t *row);
/* Queues op (stolen). final: the item leaves memory once it is applied; otherwise it->after
 * (or the after_step move) continues. */
void exec_submit(struct item *it, json_t *op, bool final);
/* Queues op with a release of the lease, due again at due_epoch. */
void exec_release_at(struct item *it, json_t *op, double due_epoch);
void exec_note_due(struct executor *e, double due);
/* The state the intent is in right now ("EXECUTING" or "COMPENSATING"). */
const char *exec_state(const struct item *it);

/* Interprets the workflow from where it stands until an outcome must be written. */
void exec_run(struct item *it);
/* Ends the workflow in state (FAILED, EXPIRED, CANCELLED: through compensation when a Task
 * that succeeded can be undone; SUCCEEDED). output and last_error are stolen. */
void exec_finish(struct item *it, const char *state, const char *reason, json_t *output,
                 json_t *last_error);
/* A Task attempt failed: Retry, Catch or fail as the workflow says. op (stolen) already holds
 * the attempt's ledger rows; retry_after_s >= 0 is a vendor's Retry-After. */
void exec_task_failed(struct item *it, const struct asl_step *st, const char *error,
                      const char *cause, double retry_after_s, json_t *op);
/* A Task succeeded with result (borrowed): records it (completed_add with what compensation
 * needs) in op (stolen) and moves on. */
void exec_task_succeeded(struct item *it, const struct asl_step *st, const char *operation,
                         const char *external_id, json_t *result, json_t *op);
/* Appends the rows that open an attempt of a Task to op: step.entered (first attempt) and
 * attempt.started with the idempotency key. */
void exec_attempt_rows(struct item *it, json_t *op, const char *state, const char *operation,
                       const char *key);
int exec_idempotency_key(const struct item *it, const char *step, char *out, size_t outlen);

/* executor_call.c: runs Task st (borrowed; copied as needed) whose operation aop calls a
 * connector. */
void exec_call_task(struct item *it, const struct asl_step *st, const struct adapter_op *aop);
/* executor_saga.c: starts compensating (state: the terminal state it ends in; last_error
 * stolen). op (stolen) may already hold rows to commit with the move, or be NULL. */
void exec_compensate(struct item *it, const char *state, const char *reason, json_t *last_error,
                     json_t *op);
/* Aborts on a move the lifecycle table does not allow (an engine bug). */
void exec_check_transition(const struct executor *e, const char *from, const char *to);
/* executor_saga.c: runs the next compensation (or ends the intent). */
void exec_saga_next(struct item *it);
/* True when a Task that succeeded names a Compensate that has not run. */
bool exec_has_compensable(const struct item *it);

/* executor_call.c: an HTTP operation for compensation: sends the request op builds from done
 * and calls back with the verdict (ADAPTER_OK, ADAPTER_ABSENT when orig's reconcile found no
 * effect to undo, or a failure) and a cause. orig: for a step whose outcome was unknown, the
 * operation whose reconcile finds its effect first (NULL otherwise). */
typedef void (*exec_comp_cb)(struct item *it, enum adapter_verdict v, double retry_after_s,
                             const char *cause, json_t *result);
void exec_call_compensation(struct item *it, const struct adapter_op *aop, const json_t *done,
                            const char *key, const struct adapter_op *orig, exec_comp_cb cb);
/* executor.c: a Task whose last call's outcome stayed unknown may have taken effect: when it
 * names a Compensate, it joins the succeeded Tasks (marked "unknown") so compensation first
 * looks for its effect and undoes what it finds. Adds it to op's completed_add. */
void exec_adopt_unknown(struct item *it, json_t *op);

/* executor_call.c: frees the call of an item that leaves memory. */
void exec_call_abandon(struct item *it);
/* executor_call.c: retries every parked call (the guards' wake, or park_timer); ends them
 * without retrying when the executor is being freed (drop). */
void exec_unpark(struct executor *e, bool drop);

/* executor.c: a call ended while the executor was closing. */
void executor_call_ended(struct executor *e);

#endif
