/* Guards in front of every external call; see guards.h. All state is per (tenant, connector) in
 * a bounded hash table on this node, except the token bucket, which lives in PostgreSQL
 * (intentd.take_tokens, engine/sql/004_guards.sql) so every node draws from the same one.
 * Time always comes from the caller (`now`), so the logic runs under a fake clock in tests; only
 * the token refill talks to the store, and it never blocks the loop. */
#include "guards.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "app.h"
#include "fnv.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define TENANT_MAX    72
#define CONNECTOR_MAX 32

/* The table is bounded: past GUARDS_MAX_KEYS entries a new key is refused (deferred) until
 * idle entries can be evicted. An entry is idle once nothing happened on it for GUARDS_IDLE_S,
 * longer than the retry window, so evicting it forgets nothing the guards still use. */
#define GUARDS_MAX_KEYS 65536
#define GUARDS_BUCKETS  16384
#define GUARDS_IDLE_S   120.0
#define GUARDS_SWEEP_S  60.0

/* Retry budget: a sliding window of WINDOW_SLOTS × SLOT_S seconds. Below BUDGET_FLOOR calls in
 * the window the budget is computed as if there had been BUDGET_FLOOR, so a quiet connector
 * still allows a couple of retries (0.2 × 10 = 2) instead of none. */
#define WINDOW_SLOTS 6
#define SLOT_S       10.0
#define BUDGET_FLOOR 10

/* Token batches: about BATCH_S worth of the rate per request to the database. Tokens a node
 * holds were taken from the bucket, which refills meanwhile; spent later, they reach the vendor
 * together with the bucket's fresh ones, so the vendor can see the burst plus what the nodes
 * hold. A node holds at most about one and a half batches (it asks for more only below half a
 * batch), and tokens unused for longer than TOKEN_TTL_S are dropped, so that excess is bounded
 * and made of tokens granted within the last second, never a stock saved up while idle.
 * Dropping wastes a little of the rate, which is the safe side. */
#define BATCH_S     0.1
#define TOKEN_TTL_S 1.0

/* While the database does not answer, calls wait: the nodes cannot agree on a shared rate
 * without it, a local guess could exceed the vendor's limit by the number of nodes, and an
 * outcome could not be recorded anyway. Requests are retried every DB_BACKOFF_S. */
#define DB_BACKOFF_S 1.0

/* After an empty answer, the bucket is not asked again before its next token could exist
 * (1 / rate), nor later than this, so a raised rate applies soon. */
#define EMPTY_BACKOFF_MAX_S 1.0

/* retry_at while a token request is out: about a database round trip. */
#define FETCH_WAIT_S 0.05

struct lim {
    int concurrency;
    double rate;
    int burst;
    int breaker_failures;
    int breaker_open_seconds;
    double retry_budget;
};

struct window_slot {
    long long slot; /* floor(now / SLOT_S) the counts belong to */
    int calls;
    int retries;
};

struct gentry {
    struct gentry *next;
    struct guards *g;
    uint64_t hash;
    char tenant[TENANT_MAX];
    char connector[CONNECTOR_MAX];
    struct lim lim; /* from the latest acquire: guards_done has no limits of its own */
    double last_used;
    bool waiting; /* someone was deferred and expects a wake when that may have ended */

    /* breaker: open covers half-open too (open and now >= open_until) */
    bool open;
    bool probe_out;
    int failures; /* consecutive transient results while closed */
    double open_until;

    int in_flight;
    struct window_slot win[WINDOW_SLOTS];

    /* local reservoir of tokens granted by the shared bucket */
    int tokens;
    double tokens_at; /* when the request that granted them was made */
    bool fetching;
    int fetch_want;
    double fetch_at;
    double next_fetch_at; /* no request before this (empty bucket or database down) */
    bool db_down;         /* the last request failed (logged once per outage) */
};

struct guards {
    struct app *app;
    struct gentry **table;
    size_t n;
    double last_sweep;
    uv_timer_t breaker_timer; /* the earliest end of an open period */
    double breaker_due;       /* in the callers' clock; 0 when the timer is idle */
    uv_timer_t kick;          /* runs wake on a later loop turn, coalescing requests */
    void (*wake)(void *arg);
    void *wake_arg;
    int fetches; /* token requests in flight */
    int handles; /* timers not yet closed */
    bool closing;
};

static const char *const kind_names[] = {
    [GUARD_GO] = "go",
    [GUARD_BREAKER_OPEN] = "breaker_open",
    [GUARD_CONCURRENCY] = "concurrency",
    [GUARD_RATE_LIMITED] = "rate_limited",
    [GUARD_RETRY_BUDGET] = "retry_budget",
};

const char *guard_kind_name(enum guard_kind k)
{
    if ((unsigned)k >= sizeof kind_names / sizeof kind_names[0])
        return "unknown";
    return kind_names[k];
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static double clampd(double v, double lo, double hi)
{
    if (!(v >= lo)) /* NaN too */
        return lo;
    return v > hi ? hi : v;
}

/* Callers pass limits with the defaults filled in (connector_limits_defaults). Out-of-range
 * values are clamped to the documented bounds, so no value can switch a guard off. */
static void limits_of(const struct connector_limits *in, struct lim *out)
{
    out->concurrency = clampi(in->concurrency, 1, 10000);
    out->rate = clampd(in->rate_per_second, 0.01, 100000);
    out->burst = clampi(in->burst, 1, 1000000);
    out->breaker_failures = clampi(in->breaker_failures, 1, 1000);
    out->breaker_open_seconds = clampi(in->breaker_open_seconds, 1, 3600);
    out->retry_budget = clampd(in->retry_budget, 0, 1);
}

static bool valid_now(double now)
{
    return isfinite(now) && now >= 0 && now < 1e12;
}

static uint64_t key_hash(const char *tenant, const char *connector)
{
    uint64_t h = fnv1a64(tenant);
    h ^= 0xff; /* separator: ("ab","c") and ("a","bc") differ */
    h *= 1099511628211ULL;
    for (const char *p = connector; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    return h;
}

static bool valid_key(const char *tenant, const char *connector)
{
    return tenant && connector && *tenant && *connector && strlen(tenant) < TENANT_MAX &&
           strlen(connector) < CONNECTOR_MAX;
}

static struct gentry *lookup(struct guards *g, const char *tenant, const char *connector,
                             uint64_t h)
{
    for (struct gentry *e = g->table[h % GUARDS_BUCKETS]; e; e = e->next)
        if (e->hash == h && !strcmp(e->tenant, tenant) && !strcmp(e->connector, connector))
            return e;
    return NULL;
}

static bool evictable(const struct gentry *e, double now)
{
    if (e->fetching || e->in_flight > 0 || e->probe_out || now - e->last_used < GUARDS_IDLE_S)
        return false;
    /* An open breaker is kept until long after its period: forgetting it early would skip the
     * probe and send full traffic to a vendor that was failing. */
    return !e->open || now - e->open_until >= GUARDS_IDLE_S;
}

static void sweep(struct guards *g, double now)
{
    g->last_sweep = now;
    for (size_t b = 0; b < GUARDS_BUCKETS; b++) {
        struct gentry **pp = &g->table[b];
        while (*pp) {
            struct gentry *e = *pp;
            if (evictable(e, now)) {
                *pp = e->next;
                free(e);
                g->n--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static struct gentry *lookup_or_create(struct guards *g, const char *tenant, const char *connector,
                                       double now)
{
    uint64_t h = key_hash(tenant, connector);
    struct gentry *e = lookup(g, tenant, connector, h);
    if (e)
        return e;
    /* Full: sweep at most once a second, so a flood of new keys cannot make every call scan
     * the whole table. */
    if (g->n >= GUARDS_MAX_KEYS && (now - g->last_sweep >= 1.0 || now < g->last_sweep))
        sweep(g, now);
    if (g->n >= GUARDS_MAX_KEYS)
        return NULL;
    e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->g = g;
    e->hash = h;
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    snprintf(e->connector, sizeof e->connector, "%s", connector);
    e->next = g->table[h % GUARDS_BUCKETS];
    g->table[h % GUARDS_BUCKETS] = e;
    g->n++;
    return e;
}

/* ---- wake-ups ---- */

static void kick_cb(uv_timer_t *t)
{
    struct guards *g = container_of(t, struct guards, kick);
    if (g->wake && !g->closing)
        g->wake(g->wake_arg);
}

/* The wake callback never runs from inside guards_acquire or guards_done, so a caller may call
 * them again from it without re-entering itself. */
static void wake_waiters(struct gentry *e)
{
    struct guards *g = e->g;
    if (!e->waiting || g->closing)
        return;
    e->waiting = false;
    if (!uv_is_active((uv_handle_t *)&g->kick))
        uv_timer_start(&g->kick, kick_cb, 0, 0);
}

static uint64_t delay_ms(double due, double now)
{
    double ms = ceil((due - now) * 1000.0);
    return ms <= 0 ? 0 : ms > 3600e3 ? 3600000 : (uint64_t)ms;
}

static void breaker_timer_cb(uv_timer_t *t)
{
    struct guards *g = container_of(t, struct guards, breaker_timer);
    double at = g->breaker_due, next = 0;
    g->breaker_due = 0;
    for (size_t b = 0; b < GUARDS_BUCKETS; b++)
        for (struct gentry *e = g->table[b]; e; e = e->next)
            if (e->open && e->open_until > at && (next == 0 || e->open_until < next))
                next = e->open_until;
    if (next > 0) {
        g->breaker_due = next;
        uv_timer_start(&g->breaker_timer, breaker_timer_cb, delay_ms(next, at), 0);
    }
    if (g->wake && !g->closing)
        g->wake(g->wake_arg);
}

static void open_breaker(struct gentry *e, double now)
{
    struct guards *g = e->g;
    e->open = true;
    e->failures = 0;
    e->open_until = now + e->lim.breaker_open_seconds;
    log_warn("breaker for %s/%s open for %d s", e->tenant, e->connector,
             e->lim.breaker_open_seconds);
    if (g->closing || (g->breaker_due > 0 && g->breaker_due <= e->open_until))
        return;
    g->breaker_due = e->open_until;
    uv_timer_start(&g->breaker_timer, breaker_timer_cb, delay_ms(e->open_until, now), 0);
}

/* ---- retry budget ---- */

static long long slot_of(double now)
{
    return (long long)floor(now / SLOT_S);
}

static void window_sums(const struct gentry *e, double now, int *calls, int *retries)
{
    long long cur = slot_of(now);
    *calls = *retries = 0;
    for (int i = 0; i < WINDOW_SLOTS; i++) {
        const struct window_slot *s = &e->win[i];
        if (s->slot > cur - WINDOW_SLOTS && s->slot <= cur) {
            *calls += s->calls;
            *retries += s->retries;
        }
    }
}

/* Retries still allowed in the window: retry_budget × max(calls, BUDGET_FLOOR) − retries. A
 * retry is refused when this is below 1 (retries + 1 > budget × calls). */
static double retries_left(const struct gentry *e, const struct lim *l, double now)
{
    int calls, retries;
    window_sums(e, now, &calls, &retries);
    return l->retry_budget * (calls > BUDGET_FLOOR ? calls : BUDGET_FLOOR) - retries;
}

static void window_count(struct gentry *e, bool is_retry, double now)
{
    long long cur = slot_of(now);
    struct window_slot *s = &e->win[(size_t)(cur % WINDOW_SLOTS)];
    if (s->slot != cur) {
        s->slot = cur;
        s->calls = s->retries = 0;
    }
    s->calls++;
    if (is_retry)
        s->retries++;
}

/* ---- tokens ---- */

static int local_tokens(const struct gentry *e, double now)
{
    return e->tokens > 0 && now - e->tokens_at <= TOKEN_TTL_S ? e->tokens : 0;
}

static int batch_size(const struct lim *l)
{
    double b = ceil(l->rate * BATCH_S);
    return b < 1 ? 1 : b > l->burst ? l->burst : (int)b;
}

static double empty_backoff(const struct lim *l)
{
    double s = 1.0 / l->rate;
    return s > EMPTY_BACKOFF_MAX_S ? EMPTY_BACKOFF_MAX_S : s;
}

static void maybe_finish(struct guards *g);

static void fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *errmsg)
{
    struct gentry *e = arg;
    struct guards *g = e->g;
    long granted = -1;
    e->fetching = false;
    g->fetches--;
    if (g->closing) {
        maybe_finish(g);
        return;
    }
    if (!err && res->nresults == 1 && PQntuples(res->results[0]) == 1 &&
        !PQgetisnull(res->results[0], 0, 0)) {
        char *end;
        granted = strtol(PQgetvalue(res->results[0], 0, 0), &end, 10);
        if (*end || granted < 0 || granted > e->fetch_want)
            granted = -1;
    }
    if (granted < 0) {
        if (!e->db_down)
            log_warn("rate bucket for %s/%s unavailable (%s%s%s): holding its calls", e->tenant,
                     e->connector, err ? ie_name(err) : "bad answer", errmsg ? ": " : "",
                     errmsg ? errmsg : "");
        e->db_down = true;
        e->next_fetch_at = e->fetch_at + DB_BACKOFF_S;
        return;
    }
    if (e->db_down)
        log_info("rate bucket for %s/%s answers again", e->tenant, e->connector);
    e->db_down = false;
    if (granted == 0) {
        e->next_fetch_at = e->fetch_at + empty_backoff(&e->lim);
        return;
    }
    e->tokens = local_tokens(e, e->fetch_at) + (int)granted;
    e->tokens_at = e->fetch_at;
    wake_waiters(e);
}

static void start_fetch(struct gentry *e, double now)
{
    struct guards *g = e->g;
    if (e->fetching || now < e->next_fetch_at || g->closing)
        return;
    char want[16], rate[32], burst[16];
    e->fetch_want = batch_size(&e->lim);
    snprintf(want, sizeof want, "%d", e->fetch_want);
    snprintf(rate, sizeof rate, "%.17g", e->lim.rate);
    snprintf(burst, sizeof burst, "%d", e->lim.burst);
    const char *p[5] = {e->tenant, e->connector, want, rate, burst};
    e->fetch_at = now;
    int rc = store_query(g->app->store, Q_TAKE_TOKENS, 5, p, fetched, e);
    if (rc) {
        /* The store's queue is full or it is closing: the same as an unreachable database. */
        if (!e->db_down)
            log_warn("rate bucket for %s/%s: cannot ask the database (%s): holding its calls",
                     e->tenant, e->connector, ie_name(rc));
        e->db_down = true;
        e->next_fetch_at = now + DB_BACKOFF_S;
        return;
    }
    e->fetching = true;
    g->fetches++;
}

/* ---- decisions ---- */

/* The decision for e now, without changing anything. optimistic (previews): an empty local
 * reservoir counts as "go" unless the shared bucket is known to be empty or unreachable, since
 * a real call would simply fetch tokens first. */
static void evaluate(const struct gentry *e, const struct lim *l, bool is_retry, double now,
                     bool optimistic, struct guard_decision *d)
{
    memset(d, 0, sizeof *d);
    if (e->open) {
        if (now < e->open_until) {
            d->kind = GUARD_BREAKER_OPEN;
            d->retry_at_epoch = e->open_until;
            return;
        }
        /* Half-open: the probe goes out alone, after the calls started before the breaker opened
         * have finished, so the next guards_done on this key is the probe's. */
        if (e->probe_out || e->in_flight > 0) {
            d->kind = GUARD_BREAKER_OPEN;
            return;
        }
        d->probe = true;
    }
    if (is_retry && retries_left(e, l, now) < 1 - 1e-9) { /* 1e-9: 0.29 × 100 is 28.99… */
        d->kind = GUARD_RETRY_BUDGET;
        d->retry_at_epoch = (double)(slot_of(now) + 1) * SLOT_S;
    } else if (e->in_flight >= l->concurrency) {
        d->kind = GUARD_CONCURRENCY;
    } else if (local_tokens(e, now) < 1 && (!optimistic || now < e->next_fetch_at)) {
        /* Known empty or unreachable: not before the next request may go. Otherwise tokens are
         * being fetched now: back after about a round trip, well inside TOKEN_TTL_S, so a
         * caller that polls instead of waiting for the wake still finds them. */
        d->kind = GUARD_RATE_LIMITED;
        d->retry_at_epoch = now < e->next_fetch_at ? e->next_fetch_at : now + FETCH_WAIT_S;
    } else {
        d->kind = GUARD_GO;
        return;
    }
    d->probe = false;
}

/* Refused without a key: a malformed request, or the table is full of keys still in use. Asking
 * again later is the only useful answer the interface allows. */
static void refuse(struct guard_decision *d, double now)
{
    memset(d, 0, sizeof *d);
    d->kind = GUARD_CONCURRENCY;
    d->retry_at_epoch = (valid_now(now) ? now : 0) + 1.0;
}

void guards_acquire(struct guards *g, const char *tenant, const char *connector,
                    const struct connector_limits *lim, bool is_retry, double now,
                    struct guard_decision *d)
{
    if (!valid_key(tenant, connector) || !valid_now(now) || g->closing) {
        log_error("guards: refused a call with a malformed key or time");
        refuse(d, now);
        return;
    }
    if (now - g->last_sweep >= GUARDS_SWEEP_S || now < g->last_sweep)
        sweep(g, now);
    struct gentry *e = lookup_or_create(g, tenant, connector, now);
    if (!e) {
        log_warn("guards: %zu keys in use, deferring a call for %s/%s", g->n, tenant, connector);
        refuse(d, now);
        return;
    }
    e->last_used = now;
    limits_of(lim, &e->lim);
    if (local_tokens(e, now) == 0)
        e->tokens = 0; /* stale tokens are dropped, see TOKEN_TTL_S */
    evaluate(e, &e->lim, is_retry, now, false, d);
    switch (d->kind) {
    case GUARD_GO:
        if (d->probe)
            e->probe_out = true;
        e->in_flight++;
        e->tokens--;
        window_count(e, is_retry, now);
        /* Ask for the next batch before the reservoir runs dry, so calls rarely wait. */
        if (e->tokens * 2 <= batch_size(&e->lim))
            start_fetch(e, now);
        return;
    case GUARD_RATE_LIMITED:
        start_fetch(e, now);
        if (d->retry_at_epoch < e->next_fetch_at) /* the store just refused the request */
            d->retry_at_epoch = e->next_fetch_at;
        e->waiting = true;
        return;
    case GUARD_BREAKER_OPEN:
    case GUARD_CONCURRENCY:
        e->waiting = true;
        return;
    case GUARD_RETRY_BUDGET:
        return; /* only time ends it: retry_at says when */
    }
}

void guards_done(struct guards *g, const char *tenant, const char *connector, enum guard_result r,
                 double now)
{
    if (!valid_key(tenant, connector) || !valid_now(now))
        return;
    struct gentry *e = lookup(g, tenant, connector, key_hash(tenant, connector));
    if (!e || e->in_flight == 0) {
        log_error("guards: a call ended on %s/%s that the guards did not start", tenant, connector);
        return;
    }
    e->in_flight--;
    e->last_used = now;
    if (e->open) {
        /* While open, only the probe's result moves the breaker (evaluate lets it out alone).
         * Results of calls started before it opened say nothing new. OTHER leaves it
         * half-open, so the next call probes again. */
        if (e->probe_out) {
            e->probe_out = false;
            if (r == GUARD_RESULT_SUCCESS) {
                e->open = false;
                log_info("breaker for %s/%s closed", e->tenant, e->connector);
            } else if (r == GUARD_RESULT_TRANSIENT) {
                open_breaker(e, now);
            }
        }
    } else if (r == GUARD_RESULT_SUCCESS) {
        e->failures = 0;
    } else if (r == GUARD_RESULT_TRANSIENT && ++e->failures >= e->lim.breaker_failures) {
        open_breaker(e, now);
    }
    wake_waiters(e);
}

void guards_set_wake(struct guards *g, void (*cb)(void *arg), void *arg)
{
    g->wake = cb;
    g->wake_arg = arg;
}

json_t *guards_peek(struct guards *g, const char *tenant, const char *connector,
                    const struct connector_limits *lim, bool is_retry, double now)
{
    static const struct gentry fresh;
    struct lim l;
    struct guard_decision d;
    if (!valid_key(tenant, connector) || !valid_now(now))
        return NULL;
    limits_of(lim, &l);
    const struct gentry *e = lookup(g, tenant, connector, key_hash(tenant, connector));
    if (!e)
        e = &fresh;
    evaluate(e, &l, is_retry, now, true, &d);
    const char *breaker = !e->open ? "closed" : now < e->open_until ? "open" : "half_open";
    double left = retries_left(e, &l, now);
    return json_pack("{s:s, s:i, s:i, s:f, s:f, s:s}", "breaker", breaker, "in_flight",
                     e->in_flight, "concurrency", l.concurrency, "tokens",
                     (double)local_tokens(e, now), "retry_budget_left", left > 0 ? left : 0.0,
                     "decision", guard_kind_name(d.kind));
}

/* ---- life cycle ---- */

int guards_new(struct app *app, struct guards **out)
{
    struct guards *g = calloc(1, sizeof *g);
    if (!g)
        return IE_NOMEM;
    g->table = calloc(GUARDS_BUCKETS, sizeof *g->table);
    if (!g->table) {
        free(g);
        return IE_NOMEM;
    }
    g->app = app;
    if (uv_timer_init(app->loop, &g->breaker_timer) || uv_timer_init(app->loop, &g->kick)) {
        free(g->table);
        free(g);
        return IE_NOMEM; /* libuv documents no failure for timers; kept for the contract */
    }
    g->handles = 2;
    *out = g;
    return 0;
}

static void maybe_finish(struct guards *g)
{
    if (!g->closing || g->handles > 0 || g->fetches > 0)
        return;
    for (size_t b = 0; b < GUARDS_BUCKETS; b++) {
        while (g->table[b]) {
            struct gentry *e = g->table[b];
            g->table[b] = e->next;
            free(e);
        }
    }
    free(g->table);
    free(g);
}

static void timer_closed(uv_handle_t *h)
{
    struct guards *g = h->data;
    g->handles--;
    maybe_finish(g);
}

void guards_free(struct guards *g)
{
    if (!g || g->closing)
        return;
    g->closing = true;
    g->breaker_timer.data = g->kick.data = g;
    uv_close((uv_handle_t *)&g->breaker_timer, timer_closed);
    uv_close((uv_handle_t *)&g->kick, timer_closed);
}
