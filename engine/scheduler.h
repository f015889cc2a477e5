/* The scheduler: claims due intents in batches under a lease (FOR UPDATE SKIP LOCKED in
 * intentd.claim), renews the leases while the work is in hand, and hands each intent to the
 * executor. Wake-ups come from LISTEN/NOTIFY, a timer for the earliest due item, and a slow
 * poll, so it works with many nodes and through pgbouncer. */
#ifndef INTENTD_SCHEDULER_H
#define INTENTD_SCHEDULER_H

#include "app.h"
#include "errors.h"

struct scheduler;

/* Starts claiming (unless cfg.scheduler is false, when it only exists). Returns 0, IE_NOMEM. */
int scheduler_start(struct app *app, struct scheduler **out) IE_MUST_CHECK;

/* Graceful stop: claims nothing more, lets step outcomes in flight commit, gives every lease
 * back (intentd.release), then frees the scheduler and calls cb. */
void scheduler_stop(struct scheduler *s, void (*cb)(void *arg), void *arg);

/* Asks for a claim in the next group transaction (new work was submitted on this node, a
 * notification or a freed slot). Called from the submitter's fill, the claim lands in the same
 * transaction as the submissions, so intents due at once are claimed a round earlier. */
void scheduler_wake(struct scheduler *s);

#endif
