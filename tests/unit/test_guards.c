/* Guards tests: the breaker, the concurrency limit and the retry budget under an injected clock;
 * the shared token bucket against a real, throwaway PostgreSQL (tests/pg_harness.sh, located
 * through INTENTD_PG_HARNESS or next to this file) with two `struct guards` standing for two
 * nodes; intentd.take_tokens under concurrent connections; an unreachable database; bounds.
 * Exits 77 (skipped) when PostgreSQL's server binaries are absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_test.h"
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "guards.h"
#include "log.h"
#include "migrations.h"
#include "store.h"

static char harness[4096];
static char pg_dir[256];
static char pg_url[512];

/* ---- harness ---- */

#define run_harness(cmd, dir, out, outlen) pg_test_run(harness, cmd, dir, out, outlen)

/* ---- fixture: one loop, nodes that each own a store and a struct guards ---- */

struct node {
    struct app app;
    struct guards *g;
    int wakes;
    bool store_closed;
};

struct fixture {
    uv_loop_t loop;
    struct node a, b;
};

static void on_wake(void *arg)
{
    struct node *n = arg;
    n->wakes++;
}

static void on_store_closed(void *arg)
{
    struct node *n = arg;
    n->store_closed = true;
}

static void node_open_url(struct fixture *f, struct node *n, const char *url, int max_queue,
                          int queue_timeout_ms)
{
    memset(n, 0, sizeof *n);
    n->app.loop = &f->loop;
    struct store_config cfg = {.conninfo = url,
                               .pool_size = 2,
                               .max_queue = max_queue,
                               .app_name = "test_guards",
                               .queue_timeout_ms = queue_timeout_ms};
    assert_int_equal(store_open(&f->loop, &cfg, &n->app.store), 0);
    assert_int_equal(guards_new(&n->app, &n->g), 0);
    guards_set_wake(n->g, on_wake, n);
}

static void fixture_open(struct fixture *f, int nodes)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    node_open_url(f, &f->a, pg_url, 0, 0);
    if (nodes > 1)
        node_open_url(f, &f->b, pg_url, 0, 0);
}

static void node_close(struct node *n)
{
    if (!n->g)
        return;
    guards_free(n->g); /* first: the store then answers its token requests */
    n->g = NULL;
    store_close(n->app.store, on_store_closed, n);
}

/* Closes every node and checks that the loop ends with nothing left open. */
static void fixture_finish(struct fixture *f)
{
    bool two = f->b.g != NULL;
    node_close(&f->a);
    node_close(&f->b);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_true(f->a.store_closed);
    assert_true(!two || f->b.store_closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop until n has been woken more than `before` times (or fails after 10 s). */
static void wait_wake(struct fixture *f, struct node *n, int before)
{
    double give_up = wall() + 10;
    while (n->wakes <= before) {
        assert_true(wall() < give_up);
        if (uv_run(&f->loop, UV_RUN_NOWAIT))
            usleep(200); /* NOWAIT, so a wake that never comes fails instead of hanging */
    }
}

static struct connector_limits roomy(void)
{
    struct connector_limits l = {.concurrency = 64,
                                 .rate_per_second = 100000,
                                 .burst = 1000000,
                                 .breaker_failures = 3,
                                 .breaker_open_seconds = 30,
                                 .retry_budget = 0.2,
                                 .timeout_seconds = 30};
    return l;
}

/* acquire, but a rate-limited answer (the reservoir is filling) waits for the tokens and asks
 * again, so the other guards can be tested under a fake clock. */
static enum guard_kind ask(struct fixture *f, struct node *n, const char *tenant,
                           const struct connector_limits *l, bool is_retry, double now,
                           struct guard_decision *d)
{
    for (int i = 0; i < 3; i++) {
        int w = n->wakes;
        guards_acquire(n->g, tenant, "crm", l, is_retry, now, d);
        if (d->kind != GUARD_RATE_LIMITED)
            return d->kind;
        wait_wake(f, n, w);
    }
    fail_msg("tokens never arrived");
    return d->kind;
}

/* One call from start to end with result r; asserts it was allowed. */
static void call(struct fixture *f, struct node *n, const char *tenant,
                 const struct connector_limits *l, double now, enum guard_result r)
{
    struct guard_decision d;
    assert_int_equal(ask(f, n, tenant, l, false, now, &d), GUARD_GO);
    guards_done(n->g, tenant, "crm", r, now);
}

static const char *peek_str(struct node *n, const char *tenant, const struct connector_limits *l,
                            bool is_retry, double now, const char *field, char *buf, size_t len)
{
    json_t *j = guards_peek(n->g, tenant, "crm", l, is_retry, now);
    assert_non_null(j);
    json_t *v = json_object_get(j, field);
    assert_non_null(v);
    if (json_is_string(v))
        snprintf(buf, len, "%s", json_string_value(v));
    else
        snprintf(buf, len, "%g", json_number_value(v));
    json_decref(j);
    return buf;
}

#define assert_peek(n, tenant, l, is_retry, now, field, want)                                      \
    do {                                                                                           \
        char pb_[64];                                                                              \
        assert_string_equal(peek_str(n, tenant, l, is_retry, now, field, pb_, sizeof pb_), want);  \
    } while (0)

/* ---- breaker ---- */

static void breaker_opens_after_k_consecutive_transient_failures(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-breaker-k";
    fixture_open(&f, 1);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_SUCCESS); /* resets the run */
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    assert_peek(&f.a, t, &l, false, 1000, "breaker", "closed");
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    assert_peek(&f.a, t, &l, false, 1000, "breaker", "open");
    guards_acquire(f.a.g, t, "crm", &l, false, 1001, &d);
    assert_int_equal(d.kind, GUARD_BREAKER_OPEN);
    assert_true(d.retry_at_epoch == 1030.0);
    assert_false(d.probe);
    fixture_finish(&f);
}

static void other_results_neither_count_nor_reset(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    const char *t = "t-breaker-other";
    fixture_open(&f, 1);
    for (int i = 0; i < 10; i++)
        call(&f, &f.a, t, &l, 1000, GUARD_RESULT_OTHER);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_OTHER);
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_OTHER);
    assert_peek(&f.a, t, &l, false, 1000, "breaker", "closed");
    call(&f, &f.a, t, &l, 1000, GUARD_RESULT_TRANSIENT);
    assert_peek(&f.a, t, &l, false, 1000, "breaker", "open");
    fixture_finish(&f);
}

static void open_breaker(struct fixture *f, const char *t, const struct connector_limits *l,
                         double now)
{
    for (int i = 0; i < l->breaker_failures; i++)
        call(f, &f->a, t, l, now, GUARD_RESULT_TRANSIENT);
    assert_peek(&f->a, t, l, false, now, "breaker", "open");
}

static void half_open_lets_one_probe_and_success_closes(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-probe-ok";
    fixture_open(&f, 1);
    open_breaker(&f, t, &l, 1000);
    guards_acquire(f.a.g, t, "crm", &l, false, 1029.9, &d);
    assert_int_equal(d.kind, GUARD_BREAKER_OPEN);
    assert_peek(&f.a, t, &l, false, 1030, "breaker", "half_open");
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1030, &d), GUARD_GO);
    assert_true(d.probe);
    /* Everyone else waits for the probe, with no time to come back at: a wake follows. */
    guards_acquire(f.a.g, t, "crm", &l, false, 1031, &d);
    assert_int_equal(d.kind, GUARD_BREAKER_OPEN);
    assert_true(d.retry_at_epoch == 0);
    assert_peek(&f.a, t, &l, false, 1031, "decision", "breaker_open");
    int w = f.a.wakes;
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, 1032);
    wait_wake(&f, &f.a, w);
    assert_peek(&f.a, t, &l, false, 1032, "breaker", "closed");
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1032, &d), GUARD_GO);
    assert_false(d.probe);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, 1032);
    fixture_finish(&f);
}

static void failed_probe_reopens_for_the_full_period(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-probe-fail";
    fixture_open(&f, 1);
    open_breaker(&f, t, &l, 1000);
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1040, &d), GUARD_GO);
    assert_true(d.probe);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_TRANSIENT, 1045);
    assert_peek(&f.a, t, &l, false, 1045, "breaker", "open");
    guards_acquire(f.a.g, t, "crm", &l, false, 1074.9, &d);
    assert_int_equal(d.kind, GUARD_BREAKER_OPEN);
    assert_true(d.retry_at_epoch == 1075.0);
    /* A probe answered OTHER says nothing: still half-open, the next call probes again. */
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1075, &d), GUARD_GO);
    assert_true(d.probe);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, 1076);
    assert_peek(&f.a, t, &l, false, 1076, "breaker", "half_open");
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1076, &d), GUARD_GO);
    assert_true(d.probe);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, 1077);
    assert_peek(&f.a, t, &l, false, 1077, "breaker", "closed");
    fixture_finish(&f);
}

static void probe_waits_for_calls_started_before_opening(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-probe-late";
    l.breaker_failures = 2;
    fixture_open(&f, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ask(&f, &f.a, t, &l, false, 1000, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_TRANSIENT, 1001);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_TRANSIENT, 1001);
    assert_peek(&f.a, t, &l, false, 1001, "breaker", "open");
    guards_acquire(f.a.g, t, "crm", &l, false, 1031, &d);
    assert_int_equal(d.kind, GUARD_BREAKER_OPEN); /* the third call is still out */
    assert_true(d.retry_at_epoch == 0);
    int w = f.a.wakes;
    /* Its late failure neither reopens the breaker nor passes for the probe's. */
    guards_done(f.a.g, t, "crm", GUARD_RESULT_TRANSIENT, 1032);
    wait_wake(&f, &f.a, w);
    assert_peek(&f.a, t, &l, false, 1032, "breaker", "half_open");
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1032, &d), GUARD_GO);
    assert_true(d.probe);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, 1033);
    assert_peek(&f.a, t, &l, false, 1033, "breaker", "closed");
    fixture_finish(&f);
}

struct mark {
    uv_timer_t timer;
    struct node *n;
    int wakes_then; /* the node's wakes when the mark fired; -1 before */
};

static void mark_fired(uv_timer_t *t)
{
    struct mark *m = t->data;
    m->wakes_then = m->n->wakes;
}

static void timer_wakes_when_each_open_period_ends(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct mark m = {.wakes_then = -1};
    fixture_open(&f, 1);
    double t0 = wall();
    l.breaker_open_seconds = 2;
    open_breaker(&f, "t-timer-2", &l, t0);
    l.breaker_open_seconds = 1;
    open_breaker(&f, "t-timer-1", &l, t0); /* earlier: the timer is moved forward */
    int w = f.a.wakes;
    /* A mark on the same loop, armed after both breakers opened, 1.5 s on: between the two
     * periods' ends (with room for the timer's rounding up to whole milliseconds). libuv runs
     * due timers in order of due time, so however late the loop gets to them, the breaker
     * timer moved forward to the 1 s period fires before the mark, and one left at the 2 s
     * period fires after it. Order, not speed. */
    m.n = &f.a;
    assert_int_equal(uv_timer_init(&f.loop, &m.timer), 0);
    m.timer.data = &m;
    uv_update_time(&f.loop);
    assert_int_equal(uv_timer_start(&m.timer, mark_fired, 1500, 0), 0);
    wait_wake(&f, &f.a, w);
    assert_true(wall() - t0 >= 0.95); /* not before the first period ended */
    while (m.wakes_then < 0)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_true(m.wakes_then > w); /* the first wake came before the mark */
    uv_close((uv_handle_t *)&m.timer, NULL);
    wait_wake(&f, &f.a, w + 1);
    assert_true(wall() - t0 >= 1.95); /* nor the second before the second period */
    assert_peek(&f.a, "t-timer-2", &l, false, wall(), "breaker", "half_open");
    fixture_finish(&f);
}

/* ---- concurrency and retry budget ---- */

static void concurrency_limit_defers_until_a_slot_frees(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-conc";
    l.concurrency = 2;
    fixture_open(&f, 1);
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1000, &d), GUARD_GO);
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1000, &d), GUARD_GO);
    assert_peek(&f.a, t, &l, false, 1000, "in_flight", "2");
    assert_peek(&f.a, t, &l, false, 1000, "concurrency", "2");
    guards_acquire(f.a.g, t, "crm", &l, false, 1000, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    assert_true(d.retry_at_epoch == 0);
    /* Another tenant's calls have their own slots. */
    assert_int_equal(ask(&f, &f.a, "t-conc-other", &l, false, 1000, &d), GUARD_GO);
    int w = f.a.wakes;
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, 1001);
    wait_wake(&f, &f.a, w);
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1001, &d), GUARD_GO);
    fixture_finish(&f);
}

static void retry_budget_refuses_retries_but_never_first_attempts(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-budget";
    double now = 1005; /* slot 100 runs from 1000 to 1010 */
    fixture_open(&f, 1);
    for (int i = 0; i < 10; i++)
        call(&f, &f.a, t, &l, now, GUARD_RESULT_OTHER);
    /* 10 calls: 0.2 × 10 = 2 retries. */
    assert_int_equal(ask(&f, &f.a, t, &l, true, now, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, now);
    assert_int_equal(ask(&f, &f.a, t, &l, true, now, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, now);
    /* 12 calls, 2 retries: a third needs 3 <= 2.4. */
    assert_peek(&f.a, t, &l, true, now, "decision", "retry_budget");
    guards_acquire(f.a.g, t, "crm", &l, true, now, &d);
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    assert_true(d.retry_at_epoch == 1010.0);
    assert_int_equal(ask(&f, &f.a, t, &l, false, now, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, now);
    /* More first attempts earn more retries: 15 calls × 0.2 = 3. */
    for (int i = 0; i < 2; i++)
        call(&f, &f.a, t, &l, now, GUARD_RESULT_OTHER);
    assert_int_equal(ask(&f, &f.a, t, &l, true, now, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, now);
    guards_acquire(f.a.g, t, "crm", &l, true, now, &d);
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    /* Still inside the minute: the slot at 1005 counts until 1060. */
    guards_acquire(f.a.g, t, "crm", &l, true, 1059.9, &d);
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    assert_true(d.retry_at_epoch == 1060.0);
    /* Slid out: a quiet window allows the floor's share again (0.2 × 10 = 2). */
    assert_peek(&f.a, t, &l, true, 1060, "retry_budget_left", "2");
    assert_int_equal(ask(&f, &f.a, t, &l, true, 1060, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_OTHER, 1060);
    fixture_finish(&f);
}

static void zero_retry_budget_refuses_every_retry(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    l.retry_budget = 0;
    fixture_open(&f, 1);
    for (int i = 0; i < 20; i++)
        call(&f, &f.a, "t-budget-0", &l, 1000, GUARD_RESULT_SUCCESS);
    guards_acquire(f.a.g, "t-budget-0", "crm", &l, true, 1000, &d);
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    fixture_finish(&f);
}

/* ---- the shared token bucket ---- */

static void rate_limited_until_tokens_arrive_then_woken(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    l.rate_per_second = 50;
    l.burst = 10;
    fixture_open(&f, 1);
    double now = wall();
    int w = f.a.wakes;
    guards_acquire(f.a.g, "t-wake", "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED); /* nothing in the local reservoir yet */
    assert_true(d.retry_at_epoch > now && d.retry_at_epoch <= now + 0.1);
    assert_peek(&f.a, "t-wake", &l, false, now, "tokens", "0");
    wait_wake(&f, &f.a, w);
    assert_peek(&f.a, "t-wake", &l, false, now, "tokens", "5"); /* a batch: 100 ms of 50/s */
    guards_acquire(f.a.g, "t-wake", "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_GO);
    guards_done(f.a.g, "t-wake", "crm", GUARD_RESULT_SUCCESS, now);
    /* Tokens held past a second are dropped rather than spent late. */
    assert_peek(&f.a, "t-wake", &l, false, now + 1.5, "tokens", "0");
    fixture_finish(&f);
}

static void a_caller_back_at_retry_at_finds_its_tokens(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-poll";
    char buf[64];
    l.rate_per_second = 0.5; /* slow enough that 1 / rate is past the tokens' lifetime */
    l.burst = 1;
    fixture_open(&f, 1);
    double now = wall();
    guards_acquire(f.a.g, t, "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_true(d.retry_at_epoch < now + 0.2);
    double back = d.retry_at_epoch, give_up = wall() + 10;
    while (strcmp(peek_str(&f.a, t, &l, false, back, "tokens", buf, sizeof buf), "1")) {
        assert_true(wall() < give_up);
        uv_run(&f.loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
    guards_acquire(f.a.g, t, "crm", &l, false, back, &d); /* no wake used */
    assert_int_equal(d.kind, GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, back);
    fixture_finish(&f);
}

struct drive {
    struct fixture *f;
    struct connector_limits lim;
    const char *tenant;
    uv_timer_t tick;
    double start, give_up, last_go;
    int want; /* GOs (both nodes together) to drive to */
    int gos[2];
};

static void tick_closed(uv_handle_t *h)
{
    (void)h;
}

/* Every millisecond, each node starts as many calls as its guards allow (ending them at once). */
static void drive_tick(uv_timer_t *t)
{
    struct drive *dr = t->data;
    double now = wall();
    struct node *nodes[2] = {&dr->f->a, &dr->f->b};
    if (dr->gos[0] + dr->gos[1] >= dr->want || now >= dr->give_up) {
        uv_close((uv_handle_t *)t, tick_closed);
        return;
    }
    for (int i = 0; i < 2; i++) {
        struct guard_decision d;
        for (;;) {
            guards_acquire(nodes[i]->g, dr->tenant, "crm", &dr->lim, false, now, &d);
            if (d.kind != GUARD_GO)
                break;
            assert_true(d.retry_at_epoch == 0);
            dr->gos[i]++;
            dr->last_go = now;
            guards_done(nodes[i]->g, dr->tenant, "crm", GUARD_RESULT_SUCCESS, now);
        }
        assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    }
}

static void two_nodes_together_stay_within_the_bucket(void **state)
{
    struct fixture f;
    struct drive dr = {.f = &f, .tenant = "t-shared"};
    dr.lim = roomy();
    dr.lim.rate_per_second = 200;
    dr.lim.burst = 20;
    fixture_open(&f, 2);
    uv_timer_init(&f.loop, &dr.tick);
    dr.tick.data = &dr;
    /* Driven until the bucket has let through its burst and 200 refilled tokens more, so it
     * must have refilled (how fast the machine gets there is not checked); the give-up only
     * keeps a bucket that never refills from hanging the run. */
    dr.want = (int)(dr.lim.burst + dr.lim.rate_per_second);
    dr.start = wall();
    dr.give_up = dr.start + 120;
    uv_timer_start(&dr.tick, drive_tick, 0, 1);
    while (uv_is_active((uv_handle_t *)&dr.tick) || !uv_is_closing((uv_handle_t *)&dr.tick))
        uv_run(&f.loop, UV_RUN_ONCE);
    int total = dr.gos[0] + dr.gos[1];
    double bound = dr.lim.burst + dr.lim.rate_per_second * (dr.last_go - dr.start);
    print_message("two nodes: %d + %d GO in %.3f s (bound %.1f)\n", dr.gos[0], dr.gos[1],
                  dr.last_go - dr.start, bound);
    /* Never more than the bucket holds, at any speed: the burst plus what refilled by the
     * last GO. */
    assert_true(total <= bound + 1e-9);
    /* And it was actually used, not starved: it let through more than its burst. */
    assert_true(total >= dr.want);
    assert_true(dr.gos[0] > 0 && dr.gos[1] > 0);
    fixture_finish(&f);
}

/* Runs the loop until the peek's decision for tenant reads want (or fails after 10 s). */
static void wait_decision(struct fixture *f, struct node *n, const char *tenant,
                          const struct connector_limits *l, double now, const char *want)
{
    char buf[64];
    double give_up = wall() + 10;
    while (strcmp(peek_str(n, tenant, l, false, now, "decision", buf, sizeof buf), want)) {
        assert_true(wall() < give_up);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static void empty_bucket_is_not_asked_again_at_once(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    const char *t = "t-empty";
    l.rate_per_second = 0.5;
    l.burst = 1;
    fixture_open(&f, 1);
    double now = wall();
    assert_int_equal(ask(&f, &f.a, t, &l, false, now, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, now);
    /* The last token went, so the next was asked for at once, and the bucket was empty. */
    wait_decision(&f, &f.a, t, &l, now, "rate_limited");
    guards_acquire(f.a.g, t, "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_true(d.retry_at_epoch >= now + 1.0 && d.retry_at_epoch < now + 1.1);
    fixture_finish(&f);
}

static void unreachable_database_holds_every_call(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    memset(&f, 0, sizeof f);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    /* Port 1 refuses; one queued job at most, so a second key is refused by the store itself. */
    node_open_url(&f, &f.a, "postgresql://nobody@127.0.0.1:1/postgres?connect_timeout=1", 1, 300);
    double now = wall();
    guards_acquire(f.a.g, "t-down-1", "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    guards_acquire(f.a.g, "t-down-2", "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_true(d.retry_at_epoch >= now + 1.0); /* the store refused: backing off already */
    assert_peek(&f.a, "t-down-2", &l, false, now, "decision", "rate_limited");
    wait_decision(&f, &f.a, "t-down-1", &l, now, "rate_limited");
    guards_acquire(f.a.g, "t-down-1", "crm", &l, false, now + 0.5, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_true(d.retry_at_epoch >= now + 1.0);
    /* After the back-off it asks again (and is refused again): never a GO without the bucket. */
    guards_acquire(f.a.g, "t-down-1", "crm", &l, false, now + 1.0, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_peek(&f.a, "t-down-1", &l, false, now + 1.0, "tokens", "0");
    fixture_finish(&f);
}

static void failing_bucket_holds_calls_until_it_answers_again(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    char err[256];
    const char *t = "t-refused";
    const char *arm[] = {"CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;"
                         "CREATE TRIGGER t_refuse BEFORE INSERT OR UPDATE ON intentd.rate_buckets "
                         "FOR EACH ROW WHEN (NEW.tenant_id = 't-refused') EXECUTE FUNCTION "
                         "t_refuse()"};
    const char *disarm[] = {"DROP TRIGGER t_refuse ON intentd.rate_buckets;"
                            "DROP FUNCTION t_refuse()"};
    assert_int_equal(store_exec_startup(pg_url, arm, 1, err, sizeof err), 0);
    fixture_open(&f, 1);
    double now = wall();
    guards_acquire(f.a.g, t, "crm", &l, false, now, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    wait_decision(&f, &f.a, t, &l, now, "rate_limited");
    guards_acquire(f.a.g, t, "crm", &l, false, now + 0.9, &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    assert_true(d.retry_at_epoch >= now + 1.0);
    assert_int_equal(store_exec_startup(pg_url, disarm, 1, err, sizeof err), 0);
    /* Past the back-off the next call asks again, and the tokens wake it. */
    assert_int_equal(ask(&f, &f.a, t, &l, false, now + 1.0, &d), GUARD_GO);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_SUCCESS, now + 1.0);
    fixture_finish(&f);
}

static void freeing_with_a_token_request_in_flight_waits_for_it(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    fixture_open(&f, 1);
    guards_acquire(f.a.g, "t-free", "crm", &l, false, wall(), &d);
    assert_int_equal(d.kind, GUARD_RATE_LIMITED);
    /* Closed before the answer: no wake may reach a caller that is gone. */
    fixture_finish(&f);
    assert_int_equal(f.a.wakes, 0);
}

/* ---- intentd.take_tokens itself ---- */

struct takes {
    int done, errors, granted;
    char sqlstate[6];
};

static void take_cb(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *errmsg)
{
    struct takes *tk = arg;
    (void)errmsg;
    tk->done++;
    if (err) {
        tk->errors++;
        if (sqlstate)
            snprintf(tk->sqlstate, sizeof tk->sqlstate, "%s", sqlstate);
        return;
    }
    tk->granted += atoi(PQgetvalue(res->results[0], 0, 0));
}

static void take(struct store *s, struct takes *tk, const char *tenant, const char *want,
                 const char *rate, const char *burst)
{
    const char *p[5] = {tenant, "crm", want, rate, burst};
    assert_int_equal(store_query(s,
                                 "SELECT intentd.take_tokens($1, $2, $3::int, $4::float8, "
                                 "$5::int)",
                                 5, p, take_cb, tk),
                     0);
}

static void take_all(uv_loop_t *loop, struct takes *tk, int n)
{
    while (tk->done < n)
        assert_int_not_equal(uv_run(loop, UV_RUN_ONCE), 0);
}

static void flag_set(void *arg)
{
    *(bool *)arg = true;
}

static void take_tokens_never_overgrants_across_connections(void **state)
{
    uv_loop_t loop;
    struct store *s;
    struct takes tk = {0};
    bool closed = false;
    struct store_config cfg = {.conninfo = pg_url, .pool_size = 8, .app_name = "test_guards"};
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(store_open(&loop, &cfg, &s), 0);
    /* 200 racing requests on 8 connections, the first ones racing to create the row: a full
     * bucket of 25 refilling at 0.01/s hands out exactly 25. */
    for (int i = 0; i < 200; i++)
        take(s, &tk, "t-race", "1", "0.01", "25");
    take_all(&loop, &tk, 200);
    assert_int_equal(tk.errors, 0);
    assert_int_equal(tk.granted, 25);
    /* Batches: granted whole, then partly, then not at all. */
    memset(&tk, 0, sizeof tk);
    take(s, &tk, "t-batch", "10", "0.01", "25");
    take_all(&loop, &tk, 1);
    assert_int_equal(tk.granted, 10);
    take(s, &tk, "t-batch", "10", "0.01", "25");
    take(s, &tk, "t-batch", "10", "0.01", "25");
    take(s, &tk, "t-batch", "10", "0.01", "25");
    take_all(&loop, &tk, 4);
    assert_int_equal(tk.granted, 25);
    /* Out-of-range arguments are refused, not clamped. */
    const char *bad[][3] = {{"0", "1", "1"},      {"1", "0", "1"},   {"1", "1", "0"},
                            {"1", "NaN", "1"},    {"1", "1e6", "1"}, {"1", "1", "1000001"},
                            {"1000001", "1", "1"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&tk, 0, sizeof tk);
        take(s, &tk, "t-bad", bad[i][0], bad[i][1], bad[i][2]);
        take_all(&loop, &tk, 1);
        assert_int_equal(tk.errors, 1);
        assert_string_equal(tk.sqlstate, "22023");
    }
    store_close(s, flag_set, &closed);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(closed);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- bounds and small things ---- */

static void malformed_requests_are_refused(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    char long_tenant[100];
    memset(long_tenant, 'x', sizeof long_tenant - 1);
    long_tenant[sizeof long_tenant - 1] = '\0';
    fixture_open(&f, 1);
    guards_acquire(f.a.g, long_tenant, "crm", &l, false, 1000, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    assert_true(d.retry_at_epoch == 1001.0);
    guards_acquire(f.a.g, "t", "a-connector-name-far-too-long-to-be-one", &l, false, 1000, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    guards_acquire(f.a.g, "", "crm", &l, false, 1000, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    guards_acquire(f.a.g, "t", "crm", &l, false, NAN, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    assert_true(d.retry_at_epoch == 1.0);
    guards_acquire(f.a.g, "t", "crm", &l, false, -5, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    assert_null(guards_peek(f.a.g, long_tenant, "crm", &l, false, 1000));
    assert_null(guards_peek(f.a.g, "t", "crm", &l, false, INFINITY));
    /* Ends of calls the guards never started change nothing. */
    guards_done(f.a.g, "t-never", "crm", GUARD_RESULT_TRANSIENT, 1000);
    guards_done(f.a.g, long_tenant, "crm", GUARD_RESULT_TRANSIENT, 1000);
    guards_done(f.a.g, "t-never", "crm", GUARD_RESULT_TRANSIENT, NAN);
    assert_peek(&f.a, "t-never", &l, false, 1000, "in_flight", "0");
    guards_free(NULL);
    fixture_finish(&f);
}

static void limits_out_of_range_are_clamped_not_disabled(void **state)
{
    struct fixture f;
    struct connector_limits l = {0}; /* every field unset: the strictest bounds, never "off" */
    struct guard_decision d;
    const char *t = "t-clamped";
    l.rate_per_second = 1000;
    l.burst = 100;
    l.retry_budget = -3;
    fixture_open(&f, 1);
    assert_peek(&f.a, t, &l, false, 1000, "concurrency", "1");
    assert_int_equal(ask(&f, &f.a, t, &l, false, 1000, &d), GUARD_GO);
    guards_acquire(f.a.g, t, "crm", &l, false, 1000, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY);
    guards_done(f.a.g, t, "crm", GUARD_RESULT_TRANSIENT, 1000); /* K clamps to 1 */
    assert_peek(&f.a, t, &l, false, 1000, "breaker", "open");
    guards_acquire(f.a.g, t, "crm", &l, false, 1000, &d);
    assert_true(d.retry_at_epoch == 1001.0); /* open for at least 1 s */
    assert_peek(&f.a, t, &l, true, 1002, "retry_budget_left", "0");
    fixture_finish(&f);
}

static void full_table_refuses_new_keys_until_idle_ones_go(void **state)
{
    struct fixture f;
    struct connector_limits l = roomy();
    struct guard_decision d;
    char t[32];
    l.retry_budget = 0; /* every retry is refused before a token is asked for */
    fixture_open(&f, 1);
    for (int i = 0; i < 65536; i++) {
        snprintf(t, sizeof t, "t-full-%d", i);
        guards_acquire(f.a.g, t, "crm", &l, true, 1000, &d);
        assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    }
    guards_acquire(f.a.g, "t-full-new", "crm", &l, true, 1100, &d);
    assert_int_equal(d.kind, GUARD_CONCURRENCY); /* full, and nothing idle long enough */
    assert_true(d.retry_at_epoch == 1101.0);
    guards_acquire(f.a.g, "t-full-7", "crm", &l, true, 1100, &d); /* known keys still work */
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    guards_acquire(f.a.g, "t-full-new", "crm", &l, true, 1200, &d);
    assert_int_equal(d.kind, GUARD_RETRY_BUDGET);
    fixture_finish(&f);
}

static void kinds_have_names(void **state)
{
    assert_string_equal(guard_kind_name(GUARD_GO), "go");
    assert_string_equal(guard_kind_name(GUARD_BREAKER_OPEN), "breaker_open");
    assert_string_equal(guard_kind_name(GUARD_CONCURRENCY), "concurrency");
    assert_string_equal(guard_kind_name(GUARD_RATE_LIMITED), "rate_limited");
    assert_string_equal(guard_kind_name(GUARD_RETRY_BUDGET), "retry_budget");
    assert_string_equal(guard_kind_name((enum guard_kind)99), "unknown");
}

int main(void)
{
    char err[1024];
    int rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(breaker_opens_after_k_consecutive_transient_failures),
        cmocka_unit_test(other_results_neither_count_nor_reset),
        cmocka_unit_test(half_open_lets_one_probe_and_success_closes),
        cmocka_unit_test(failed_probe_reopens_for_the_full_period),
        cmocka_unit_test(probe_waits_for_calls_started_before_opening),
        cmocka_unit_test(timer_wakes_when_each_open_period_ends),
        cmocka_unit_test(concurrency_limit_defers_until_a_slot_frees),
        cmocka_unit_test(retry_budget_refuses_retries_but_never_first_attempts),
        cmocka_unit_test(zero_retry_budget_refuses_every_retry),
        cmocka_unit_test(rate_limited_until_tokens_arrive_then_woken),
        cmocka_unit_test(a_caller_back_at_retry_at_finds_its_tokens),
        cmocka_unit_test(two_nodes_together_stay_within_the_bucket),
        cmocka_unit_test(empty_bucket_is_not_asked_again_at_once),
        cmocka_unit_test(unreachable_database_holds_every_call),
        cmocka_unit_test(failing_bucket_holds_calls_until_it_answers_again),
        cmocka_unit_test(freeing_with_a_token_request_in_flight_waits_for_it),
        cmocka_unit_test(take_tokens_never_overgrants_across_connections),
        cmocka_unit_test(malformed_requests_are_refused),
        cmocka_unit_test(limits_out_of_range_are_clamped_not_disabled),
        cmocka_unit_test(full_table_refuses_new_keys_until_idle_ones_go),
        cmocka_unit_test(kinds_have_names),
    };
    log_set_level(getenv("TEST_GUARDS_DEBUG") ? LOG_DEBUG : (enum log_level)(LOG_ERROR + 1));
    pg_test_find_harness(harness, sizeof harness);
    snprintf(pg_dir, sizeof pg_dir, "/tmp/intentd-test-guards-XXXXXX");
    if (!mkdtemp(pg_dir)) {
        perror("mkdtemp");
        return 1;
    }
    rc = run_harness("start", pg_dir, pg_url, sizeof pg_url);
    if (rc == 77) {
        fprintf(stderr, "SKIP: PostgreSQL server binaries not found; test_guards needs them\n");
        rmdir(pg_dir);
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "test_guards: %s start %s failed (%d)\n", harness, pg_dir, rc);
        return 1;
    }
    if (migrations_apply(pg_url, NULL, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "test_guards: migrations failed: %s\n", err);
        rc = 1;
    } else {
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (run_harness("destroy", pg_dir, NULL, 0) != 0)
        fprintf(stderr, "test_guards: could not stop the cluster in %s\n", pg_dir);
    return rc;
}
