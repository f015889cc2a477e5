/* Outcome signal push (issue 3): for every tenant with a push URL (intentd.signal_push, set with
 * PUT /v1/signals/push), POSTs its new outcome signals, {"signals": [...]} exactly as GET
 * /v1/signals shows them, signed with the tenant's approval key in an Intent-Signature header
 * (the scheme submissions use). Batches of up to 100 go in ledger order; the next one starts
 * only after a 2xx, and a failed one is sent again with backoff, so every signal arrives at
 * least once and in order (a consumer de-duplicates by seq). Every node polls; a lease on each
 * tenant makes one node push it at a time. */
#ifndef INTENTD_SIGNAL_PUSH_H
#define INTENTD_SIGNAL_PUSH_H

#include "errors.h"

struct app;
struct signal_push;

/* Starts polling (every second). */
int signal_push_start(struct app *app, struct signal_push **out) IE_MUST_CHECK;
/* Stops polling; posts in flight end with the HTTP client. Safe with NULL. */
void signal_push_stop(struct signal_push *sp);

#endif
