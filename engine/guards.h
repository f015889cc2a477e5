/* Guards in front of every external call (SPEC §5), per tenant and connector: a circuit breaker
 * (K consecutive transient failures open it for T seconds, then one probe decides), a
 * concurrency limit (per node), a token-bucket rate limit shared by all nodes (tokens are taken
 * from PostgreSQL in small batches so a call rarely waits for the database), and a retry budget
 * (retries may be at most a fraction of the calls of the last minute). A call a guard defers is
 * not an attempt: the caller waits and asks again. */
#ifndef INTENTD_GUARDS_H
#define INTENTD_GUARDS_H

#include <jansson.h>
#include <stdbool.h>

#include "connector_limits.h"
#include "errors.h"

struct app;
struct guards;

enum guard_kind {
    GUARD_GO,           /* start the call; a slot is held until guards_done */
    GUARD_BREAKER_OPEN, /* the breaker is open (or its probe is out) */
    GUARD_CONCURRENCY,  /* the concurrency limit is reached */
    GUARD_RATE_LIMITED, /* no token in the shared bucket right now */
    GUARD_RETRY_BUDGET, /* a retry, and retries used up their share of calls */
};

struct guard_decision {
    enum guard_kind kind;
    double retry_at_epoch; /* deferred: ask again no earlier than this (0: when woken) */
    bool probe;            /* GO as the half-open breaker's single probe */
};

enum guard_result {
    GUARD_RESULT_SUCCESS,   /* closes a half-open breaker, resets the failure run */
    GUARD_RESULT_TRANSIENT, /* 5xx, timeout, refused: counts toward opening the breaker */
    GUARD_RESULT_OTHER,     /* a permanent or auth failure: says nothing of the vendor's
                               health; releases the slot only */
};

/* app->loop and app->store must be set and outlive the guards. Returns 0, IE_NOMEM. */
int guards_new(struct app *app, struct guards **out) IE_MUST_CHECK;
/* Stops the guards (no more wakes; acquire refuses) and frees them on the loop once their
 * timers have closed and their token requests in flight have answered: call it before
 * store_close, which answers those requests. NULL is a no-op. */
void guards_free(struct guards *g);

/* Asks to start one call now. is_retry: a second or later attempt of the same step. The first
 * call on a key, and any call while the local share of tokens is being refilled, may answer
 * GUARD_RATE_LIMITED for one database round trip; while the database cannot be reached every
 * call is held that way (the nodes cannot share a rate without it). */
void guards_acquire(struct guards *g, const char *tenant, const char *connector,
                    const struct connector_limits *lim, bool is_retry, double now,
                    struct guard_decision *d);

/* Ends a call started after GUARD_GO. */
void guards_done(struct guards *g, const char *tenant, const char *connector, enum guard_result r,
                 double now);

/* cb runs (on the loop) whenever a deferral may have ended early: a slot freed, tokens
 * arrived, a breaker closed. */
void guards_set_wake(struct guards *g, void (*cb)(void *arg), void *arg);

/* What the guards would answer now, without taking anything (for previews and status):
 * {"breaker":"closed|open|half_open","in_flight":n,"concurrency":n,"tokens":x,
 *  "retry_budget_left":x,"decision":"go|breaker_open|..."}; a new reference or NULL. */
json_t *guards_peek(struct guards *g, const char *tenant, const char *connector,
                    const struct connector_limits *lim, bool is_retry, double now);

const char *guard_kind_name(enum guard_kind k);

#endif
