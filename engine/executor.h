/* The executor: moves one claimed intent through its ASL workflow. Pure states are interpreted
 * in memory; every step outcome (with its internal effect and ledger rows) is written through
 * intentd.apply, fenced by the lease, and outcomes of many intents are group-committed in one
 * call. Owned by the scheduler. */
#ifndef INTENTD_EXECUTOR_H
#define INTENTD_EXECUTOR_H

#include <libpq-fe.h>

#include "app.h"
#include "errors.h"

#define EXEC_APPLY_BATCH    512 /* step outcomes per intentd.apply call */
#define EXEC_APPLY_INFLIGHT 2

struct executor;

/* The idempotency key of a step: derived from (tenant, intent, step), so it is the same across
 * retries, crashes and nodes ("ik_" and 40 hex digits). Returns 0 or IE_INVAL. */
int executor_step_key(const char *tenant, const char *id, const char *step, char *out,
                      size_t outlen) IE_MUST_CHECK;

int executor_new(struct app *app, struct executor **out) IE_MUST_CHECK;
/* Frees the executor and every intent still in hand (their leases are released separately). */
void executor_free(struct executor *e);

/* Takes row `row` of a claim result (queries.h Q_CLAIM columns) and starts running it. */
void executor_take(struct executor *e, const PGresult *r, int row);

/* Intents in memory. */
int executor_in_hand(const struct executor *e);
/* Step outcomes waiting for or in an apply call; 0 means nothing is left to commit. */
int executor_pending(const struct executor *e);
/* The keys of the intents in hand as a JSON array [{"t": tenant, "id": id}] for lease
 * renewal; a new string the caller frees, or NULL when nothing is in hand (or out of memory). */
char *executor_held_keys(const struct executor *e);
/* The earliest time (epoch seconds) this node released an intent to wake at (a durable Wait or
 * a retry's backoff) since the last call, or 0 when none; the call clears it. Later ones are
 * found by the scheduler's slow poll. */
double executor_take_next_due(struct executor *e);
/* Called whenever the executor drops intents from memory (so the scheduler may claim more) or
 * has no more work pending. */
void executor_set_notify(struct executor *e, void (*cb)(void *arg), void *arg);

#endif
