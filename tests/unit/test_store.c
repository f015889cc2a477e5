/* Store tests against a real, throwaway PostgreSQL started with tests/pg_harness.sh: pipelined
 * transactions, rollback on failure, prepared statement reuse, concurrency, LISTEN/NOTIFY,
 * connection loss and reconnection, job deadlines, graceful close, host name lookup, a server
 * that comes up late, group commit (store_query_grouped), and the embedded cluster's ownership
 * lock.
 * Set INTENTD_PG_HARNESS to the harness script when it is not found next to this source file.
 * Exits 77 (skipped) when PostgreSQL's server binaries are absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pg_test.h"
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "pgembed.h"
#include "store.h"

static char harness[4096];
static char main_dir[256];
static char main_url[512];

/* ---- harness ---- */

#define run_harness(cmd, dir, out, outlen) pg_test_run(harness, cmd, dir, out, outlen)

/* ---- shared test plumbing ---- */

struct t {
    uv_loop_t loop;
    struct store *s;
    bool closed;
    int done;
    int ok;
    int errs[8]; /* counts by error: [0] ok, [1] IE_DB, [2] IE_UNAVAIL, [3] IE_CANCELED, [4] other
                  */
    char sqlstate[6];
    char value[256];
};

static int err_slot(int err)
{
    switch (err) {
    case 0:
        return 0;
    case IE_DB:
        return 1;
    case IE_UNAVAIL:
        return 2;
    case IE_CANCELED:
        return 3;
    default:
        return 4;
    }
}

static void t_open_cfg(struct t *t, const struct store_config *cfg)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(uv_loop_init(&t->loop), 0);
    t->loop.data = t;
    assert_int_equal(store_open(&t->loop, cfg, &t->s), 0);
}

static void t_open(struct t *t, const char *url, int pool, int max_queue, int queue_timeout_ms)
{
    struct store_config cfg = {.conninfo = url,
                               .pool_size = pool,
                               .max_queue = max_queue,
                               .app_name = "test_store",
                               .queue_timeout_ms = queue_timeout_ms};
    t_open_cfg(t, &cfg);
}

static void on_closed(void *arg)
{
    struct t *t = arg;
    t->closed = true;
}

static void t_close_store(struct t *t)
{
    store_close(t->s, on_closed, t);
}

/* Runs the loop until it has nothing left; checks that the store closed and no handle leaked. */
static void t_finish(struct t *t)
{
    assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    assert_true(t->closed);
    assert_int_equal(uv_loop_close(&t->loop), 0);
}

/* Counts a result; remembers the first row's first column of the last statement. */
static void count_cb(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *errmsg)
{
    struct t *t = arg;
    (void)errmsg;
    t->done++;
    t->errs[err_slot(err)]++;
    if (err == IE_DB && sqlstate)
        snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", sqlstate);
    if (err == 0) {
        PGresult *r = res->results[res->nresults - 1];
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
            snprintf(t->value, sizeof(t->value), "%s", PQgetvalue(r, 0, 0));
    }
}

/* Runs one step of the loop at a time until cond holds. */
#define RUN_UNTIL(t, cond)                                                                         \
    do {                                                                                           \
        while (!(cond))                                                                            \
            assert_int_not_equal(uv_run(&(t)->loop, UV_RUN_ONCE), 0);                              \
    } while (0)

static void query_value(struct t *t, const char *sql)
{
    int before = t->done;
    assert_int_equal(store_query(t->s, sql, 0, NULL, count_cb, t), 0);
    RUN_UNTIL(t, t->done > before);
}

/* ---- tests ---- */

struct res_check {
    struct t *t;
    int nres;
    char first[32], last[32];
};

static void check_cb(void *arg, int err, const struct store_result *res, const char *ss,
                     const char *em)
{
    struct res_check *rc = arg;
    (void)ss;
    (void)em;
    rc->t->done++;
    rc->t->errs[err_slot(err)]++;
    if (err)
        return;
    rc->nres = res->nresults;
    assert_int_equal(PQresultStatus(res->results[0]), PGRES_TUPLES_OK);
    assert_int_equal(PQresultStatus(res->results[1]), PGRES_COMMAND_OK);
    assert_int_equal(PQresultStatus(res->results[2]), PGRES_TUPLES_OK);
    snprintf(rc->first, sizeof(rc->first), "%s", PQgetvalue(res->results[0], 0, 0));
    snprintf(rc->last, sizeof(rc->last), "%s", PQgetvalue(res->results[2], 0, 0));
}

static void txn_returns_each_result(void **state)
{
    struct t t;
    const char *p1[] = {"1", "one"}, *p2[] = {"2", NULL};
    struct store_stmt st[] = {
        {"INSERT INTO t_store (id, v) VALUES ($1, $2) RETURNING id", 2, p1},
        {"INSERT INTO t_store (id, v) VALUES ($1, $2)", 2, p2},
        {"SELECT count(*) FROM t_store WHERE id IN (1, 2)", 0, NULL},
    };
    struct res_check rc = {.t = &t};
    (void)state;
    t_open(&t, main_url, 2, 100, 0);
    assert_int_equal(store_txn(t.s, st, 3, check_cb, &rc), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[0], 1);
    assert_int_equal(rc.nres, 3);
    assert_string_equal(rc.first, "1");
    assert_string_equal(rc.last, "2");
    t_close_store(&t);
    t_finish(&t);
}

static void failing_statement_rolls_back(void **state)
{
    struct t t;
    const char *p[] = {"100"};
    struct store_stmt st[] = {
        {"INSERT INTO t_store (id, v) VALUES ($1, 'a')", 1, p},
        {"INSERT INTO t_store (id, v) VALUES ($1, 'b')", 1, p}, /* duplicate key */
        {"SELECT 1", 0, NULL},
    };
    (void)state;
    t_open(&t, main_url, 1, 100, 0); /* one connection: later jobs reuse the failed one */
    assert_int_equal(store_txn(t.s, st, 3, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[1], 1);
    assert_string_equal(t.sqlstate, "23505");
    query_value(&t, "SELECT count(*) FROM t_store WHERE id = 100");
    assert_int_equal(t.errs[0], 1);
    assert_string_equal(t.value, "0");
    query_value(&t, "SELECT current_setting('transaction_isolation') || txid_current_if_assigned()"
                    " IS NULL");
    assert_int_equal(t.errs[0], 2);
    t_close_store(&t);
    t_finish(&t);
}

static void failing_commit_reports_db_error(void **state)
{
    struct t t;
    struct store_stmt st[] = {
        {"INSERT INTO t_deferred (id) VALUES (5)", 0, NULL},
        {"INSERT INTO t_deferred (id) VALUES (5)", 0, NULL}, /* checked only at COMMIT */
    };
    (void)state;
    t_open(&t, main_url, 1, 100, 0);
    assert_int_equal(store_txn(t.s, st, 2, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[1], 1);
    assert_string_equal(t.sqlstate, "23505");
    query_value(&t, "SELECT count(*) FROM t_deferred");
    assert_int_equal(t.errs[0], 1);
    assert_string_equal(t.value, "0");
    t_close_store(&t);
    t_finish(&t);
}

static void prepared_statements_are_reused(void **state)
{
    struct t t;
    const char *sql = "SELECT $1::int + 1 AS reused_stmt";
    const char *p[] = {"41"};
    struct store_stmt st = {sql, 1, p};
    const char *pp[] = {sql};
    struct store_stmt bad[] = {{"SELECT 1/0", 0, NULL}, {"SELECT 2 AS aborted_prepare", 0, NULL}};
    struct store_stmt after = {"SELECT 2 AS aborted_prepare", 0, NULL};
    (void)state;
    t_open(&t, main_url, 1, 100, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
        RUN_UNTIL(&t, t.done == i + 1);
        assert_string_equal(t.value, "42");
    }
    /* The connection holds one server-side statement for that SQL text. */
    assert_int_equal(store_query(t.s,
                                 "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
                                 1, pp, count_cb, &t),
                     0);
    RUN_UNTIL(&t, t.done == 4);
    assert_string_equal(t.value, "1");
    /* A statement whose PREPARE was aborted by an earlier failure is prepared again later. */
    assert_int_equal(store_txn(t.s, bad, 2, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 5);
    assert_int_equal(t.errs[1], 1);
    assert_string_equal(t.sqlstate, "22012");
    assert_int_equal(store_txn(t.s, &after, 1, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 6);
    assert_int_equal(t.errs[0], 5);
    assert_string_equal(t.value, "2");
    t_close_store(&t);
    t_finish(&t);
}

static void many_concurrent_jobs_complete(void **state)
{
    enum { N = 1000 };
    struct t t;
    char ids[N][16];
    (void)state;
    t_open(&t, main_url, 4, N, 0);
    for (int i = 0; i < N; i++) {
        const char *p[] = {ids[i]};
        struct store_stmt st[] = {
            {"INSERT INTO t_many (id) VALUES ($1)", 1, p},
            {"SELECT id FROM t_many WHERE id = $1", 1, p},
        };
        snprintf(ids[i], sizeof(ids[i]), "%d", i);
        if (i % 2)
            assert_int_equal(store_txn(t.s, st, 2, count_cb, &t), 0);
        else
            assert_int_equal(store_query(t.s, st[0].sql, 1, p, count_cb, &t), 0);
    }
    RUN_UNTIL(&t, t.done == N);
    assert_int_equal(t.errs[0], N);
    query_value(&t, "SELECT count(*) FROM t_many");
    assert_string_equal(t.value, "1000");
    t_close_store(&t);
    t_finish(&t);
}

static void query_runs_without_transaction(void **state)
{
    struct t t;
    const char *p[] = {"abc", NULL};
    (void)state;
    t_open(&t, main_url, 1, 10, 0);
    assert_int_equal(
        store_query(t.s, "SELECT $1::text || coalesce($2::text, '-null')", 2, p, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[0], 1);
    assert_string_equal(t.value, "abc-null");
    /* A failed query reports its SQLSTATE and leaves the connection usable. */
    assert_int_equal(store_query(t.s, "SELECT nope FROM nowhere", 0, NULL, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 2);
    assert_int_equal(t.errs[1], 1);
    assert_string_equal(t.sqlstate, "42P01");
    query_value(&t, "SELECT 7");
    assert_string_equal(t.value, "7");
    /* No BEGIN around it: VACUUM refuses to run inside a transaction block. */
    query_value(&t, "VACUUM t_store");
    assert_int_equal(t.errs[0], 3);
    t_close_store(&t);
    t_finish(&t);
}

struct listen_t {
    struct t t;
    int connects;
    char payload[64];
};

static void listen_cb(void *arg, const char *channel, const char *payload)
{
    struct listen_t *l = arg;
    if (!channel) {
        struct store_stmt st = {"SELECT pg_notify('test chan', 'hello')", 0, NULL};
        l->connects++;
        assert_int_equal(store_txn(l->t.s, &st, 1, count_cb, &l->t), 0);
        return;
    }
    assert_string_equal(channel, "test chan");
    snprintf(l->payload, sizeof(l->payload), "%s", payload);
    t_close_store(&l->t); /* closing from inside the notification callback */
}

static void listen_receives_notify(void **state)
{
    struct listen_t l;
    (void)state;
    t_open(&l.t, main_url, 1, 10, 0);
    l.connects = 0;
    l.payload[0] = '\0';
    assert_int_equal(store_listen(l.t.s, "test chan", listen_cb, &l), 0);
    assert_int_equal(store_listen(l.t.s, "other", listen_cb, &l), IE_EXISTS);
    t_finish(&l.t);
    assert_int_equal(l.connects, 1);
    assert_string_equal(l.payload, "hello");
    assert_int_equal(l.t.errs[0], 1);
}

static void terminated_connection_reconnects(void **state)
{
    struct t t;
    struct store_stats stats;
    struct store_stmt sleep_st = {"SELECT pg_sleep(5)", 0, NULL};
    (void)state;
    t_open(&t, main_url, 2, 10, 60000);
    do {
        assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
        store_get_stats(t.s, &stats);
    } while (stats.connections_up < 2);
    assert_true(store_is_connected(t.s));
    /* One connection sleeps; the other kills every other backend of this store. */
    assert_int_equal(store_txn(t.s, &sleep_st, 1, count_cb, &t), 0);
    assert_int_equal(
        store_query(t.s,
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = 'test_store' AND pid <> pg_backend_pid()",
                    0, NULL, count_cb, &t),
        0);
    RUN_UNTIL(&t, t.done == 2);
    /* The sleeper failed with IE_UNAVAIL (or finished first); nothing else is acceptable. */
    assert_int_equal(t.errs[0] + t.errs[2], 2);
    assert_true(t.errs[0] >= 1);
    /* Later jobs succeed on reconnected connections. */
    for (int i = 0; i < 4; i++) {
        query_value(&t, "SELECT 'again'");
        assert_string_equal(t.value, "again");
    }
    assert_int_equal(t.errs[1] + t.errs[3] + t.errs[4], 0);
    t_close_store(&t);
    t_finish(&t);
}

static void close_on_check(uv_check_t *h)
{
    struct t *t = h->data;
    uv_check_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    t_close_store(t);
}

static void close_cancels_queued_jobs(void **state)
{
    struct t t;
    struct store_stats stats;
    struct store_stmt st = {"SELECT pg_sleep(0.05)", 0, NULL};
    uv_check_t check;
    (void)state;
    t_open(&t, main_url, 1, 100, 0);
    do {
        assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
        store_get_stats(t.s, &stats);
    } while (stats.connections_up < 1);
    for (int i = 0; i < 11; i++)
        assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    /* The check phase runs after the store dispatched the first job (and maybe, once the loop
     * polled for its result, the second): the job in flight finishes, the rest are canceled. */
    assert_int_equal(uv_check_init(&t.loop, &check), 0);
    check.data = &t;
    assert_int_equal(uv_check_start(&check, close_on_check), 0);
    t_finish(&t);
    assert_int_equal(t.done, 11);
    assert_true(t.errs[0] >= 1);
    assert_true(t.errs[3] >= 1);
    assert_int_equal(t.errs[0] + t.errs[3], 11);
}

static void close_before_dispatch_cancels_all(void **state)
{
    struct t t;
    struct store_stmt st = {"SELECT 1", 0, NULL};
    (void)state;
    t_open(&t, main_url, 2, 100, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    t_close_store(&t);
    assert_int_equal(t.errs[3], 5);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), IE_UNAVAIL);
    t_finish(&t);
}

static void queue_limit_and_bad_arguments(void **state)
{
    struct t t;
    struct store_stmt st = {"SELECT 1", 0, NULL};
    struct store_stmt noparams = {"SELECT $1", 1, NULL};
    (void)state;
    t_open(&t, main_url, 1, 2, 0);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), IE_UNAVAIL);
    assert_int_equal(store_txn(t.s, &st, 0, count_cb, &t), IE_INVAL);
    assert_int_equal(store_txn(t.s, &st, 1025, count_cb, &t), IE_INVAL);
    assert_int_equal(store_txn(t.s, &noparams, 1, count_cb, &t), IE_INVAL);
    RUN_UNTIL(&t, t.done == 2);
    assert_int_equal(t.errs[0], 2);
    t_close_store(&t);
    t_finish(&t);
}

static void unreachable_database_fails_queued_jobs(void **state)
{
    struct t t;
    char url[600];
    struct store_stmt st = {"SELECT 1", 0, NULL};
    (void)state;
    /* The main cluster's socket directory with a port nothing listens on. */
    snprintf(url, sizeof(url), "host=%s port=1 dbname=postgres", main_dir);
    t_open(&t, url, 1, 10, 300);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[2], 1);
    assert_false(store_is_connected(t.s));
    t_close_store(&t);
    t_finish(&t);
}

struct late_t {
    struct t t;
    char dir[sizeof(main_dir) + 8];
    int started;
};

static void start_late_server(uv_timer_t *h)
{
    struct late_t *l = h->data;
    char url[512];
    /* Blocking is fine in a test: the store must cope with a loop that stalls, too. */
    assert_int_equal(run_harness("start", l->dir, url, sizeof(url)), 0);
    l->started = 1;
    uv_close((uv_handle_t *)h, NULL);
}

static void server_down_at_open_then_up(void **state)
{
    struct late_t l;
    char url[512];
    uv_timer_t timer;
    struct store_stmt st = {"SELECT 'late'", 0, NULL};
    (void)state;
    snprintf(l.dir, sizeof(l.dir), "%s-late", main_dir);
    assert_int_equal(run_harness("init", l.dir, url, sizeof(url)), 0);
    t_open(&l.t, url, 2, 100, 120000);
    l.started = 0;
    for (int i = 0; i < 5; i++)
        assert_int_equal(store_txn(l.t.s, &st, 1, count_cb, &l.t), 0);
    assert_int_equal(uv_timer_init(&l.t.loop, &timer), 0);
    timer.data = &l;
    assert_int_equal(uv_timer_start(&timer, start_late_server, 300, 0), 0);
    RUN_UNTIL(&l.t, l.t.done == 5);
    assert_int_equal(l.t.errs[0], 5);
    assert_string_equal(l.t.value, "late");
    assert_true(l.started);
    t_close_store(&l.t);
    t_finish(&l.t);
    assert_int_equal(run_harness("destroy", l.dir, NULL, 0), 0);
}

/* A session of its own (blocking libpq: fine in a test) that holds a row lock on t_store id 900
 * until lock_release(), so a store job touching that row waits for as long as we like. */
static PGconn *lock_row(void)
{
    PGconn *pg = PQconnectdb(main_url);
    PGresult *r;
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    r = PQexec(pg, "INSERT INTO t_store (id, v) VALUES (900, 'locked') ON CONFLICT DO NOTHING");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    r = PQexec(pg, "BEGIN");
    PQclear(r);
    r = PQexec(pg, "SELECT v FROM t_store WHERE id = 900 FOR UPDATE");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    PQclear(r);
    return pg;
}

static void lock_release(PGconn *pg)
{
    PQclear(PQexec(pg, "ROLLBACK"));
    PQfinish(pg);
}

static void job_past_deadline_fails_and_pool_recovers(void **state)
{
    struct t t;
    struct store_config cfg = {
        .conninfo = main_url, .pool_size = 1, .app_name = "test_store", .job_timeout_ms = 300};
    struct store_stmt st = {"UPDATE t_store SET v = 'waited' WHERE id = 900", 0, NULL};
    PGconn *holder = lock_row();
    (void)state;
    t_open_cfg(&t, &cfg);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[2], 1);
    /* The one connection was dropped; a new one serves the next job. */
    query_value(&t, "SELECT 'after deadline'");
    assert_int_equal(t.errs[0], 1);
    assert_string_equal(t.value, "after deadline");
    t_close_store(&t);
    t_finish(&t);
    lock_release(holder);
}

static void close_abandons_a_stuck_job_after_grace(void **state)
{
    struct t t;
    struct store_stats stats;
    struct store_stmt st = {"UPDATE t_store SET v = 'stuck' WHERE id = 900", 0, NULL};
    PGconn *holder = lock_row();
    (void)state;
    t_open(&t, main_url, 1, 10, 0); /* the default job deadline is far away */
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    do {
        assert_int_not_equal(uv_run(&t.loop, UV_RUN_ONCE), 0);
        store_get_stats(t.s, &stats);
    } while (stats.connections_busy < 1);
    t_close_store(&t);
    t_finish(&t); /* returns although the server never answers */
    assert_int_equal(t.done, 1);
    assert_int_equal(t.errs[2], 1);
    lock_release(holder);
}

struct sweep_t {
    struct t t;
    uv_check_t check;
    uv_timer_t tick; /* a 1 ms tick keeps the loop iterating, so the check runs even when all
                        is quiet, without spinning faster than the listener can make progress */
    int iter, close_at, connects;
};

static void sweep_tick(uv_timer_t *h)
{
    (void)h;
}

static void sweep_listen_cb(void *arg, const char *channel, const char *payload)
{
    struct sweep_t *w = arg;
    (void)payload;
    if (!channel)
        w->connects++;
}

static void sweep_check(uv_check_t *h)
{
    struct sweep_t *w = h->data;
    /* Close at iteration close_at, or at once when the listener is already up (nothing later
     * in its start-up is left to cover). */
    if (++w->iter < w->close_at && !w->connects)
        return;
    uv_check_stop(h);
    uv_close((uv_handle_t *)h, NULL);
    uv_timer_stop(&w->tick);
    uv_close((uv_handle_t *)&w->tick, NULL);
    t_close_store(&w->t);
}

/* store_close at every loop iteration of the listener's start-up in turn (connecting, LISTEN in
 * flight, listening): the store always closes. */
static void close_during_listener_startup_closes(void **state)
{
    struct sweep_t w;
    (void)state;
    for (int close_at = 1; close_at < 1000; close_at++) {
        t_open(&w.t, main_url, 1, 10, 0);
        w.iter = w.connects = 0;
        w.close_at = close_at;
        assert_int_equal(store_listen(w.t.s, "sweep", sweep_listen_cb, &w), 0);
        assert_int_equal(uv_check_init(&w.t.loop, &w.check), 0);
        w.check.data = &w;
        assert_int_equal(uv_check_start(&w.check, sweep_check), 0);
        assert_int_equal(uv_timer_init(&w.t.loop, &w.tick), 0);
        assert_int_equal(uv_timer_start(&w.tick, sweep_tick, 1, 1), 0);
        t_finish(&w.t);
        if (w.connects)
            return; /* closed after LISTEN completed: every earlier point was covered */
    }
    fail_msg("the listener never came up");
}

static void commit_cut_by_the_server_is_unavailable(void **state)
{
    struct t t;
    struct store_stmt st = {"INSERT INTO t_kill (id) VALUES (1)", 0, NULL};
    (void)state;
    t_open(&t, main_url, 1, 10, 0);
    /* A deferred trigger terminates the backend during COMMIT (57P01): whether it committed
     * cannot be known from the client, so this is never IE_DB. */
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[2], 1);
    query_value(&t, "SELECT 'still serving'");
    assert_string_equal(t.value, "still serving");
    t_close_store(&t);
    t_finish(&t);
}

static void no_prepared_sends_unnamed_statements(void **state)
{
    struct t t;
    struct store_config cfg = {
        .conninfo = main_url, .pool_size = 1, .app_name = "test_store", .no_prepared = true};
    const char *sql = "SELECT $1::int * 2 AS unprepared_stmt";
    const char *p[] = {"21"};
    struct store_stmt st = {sql, 1, p};
    (void)state;
    t_open_cfg(&t, &cfg);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
        RUN_UNTIL(&t, t.done == i + 1);
        assert_string_equal(t.value, "42");
    }
    assert_int_equal(
        store_query(t.s, "SELECT count(*) FROM pg_prepared_statements", 0, NULL, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 3);
    assert_string_equal(t.value, "0");
    t_close_store(&t);
    t_finish(&t);
}

struct listen_url_t {
    struct t t;
    int connects;
};

static void listen_url_cb(void *arg, const char *channel, const char *payload)
{
    struct listen_url_t *l = arg;
    (void)payload;
    if (!channel)
        l->connects++;
}

/* listen_conninfo reaches the listener only (here another database of the cluster; behind
 * pgbouncer it is PostgreSQL itself), while the pool keeps using conninfo. */
static void listen_conninfo_serves_the_listener_only(void **state)
{
    struct listen_url_t l;
    char url[600], *slash = strrchr(main_url, '/');
    struct store_config cfg = {
        .conninfo = main_url, .listen_conninfo = url, .pool_size = 1, .app_name = "test_store"};
    (void)state;
    assert_non_null(slash);
    snprintf(url, sizeof(url), "%.*s/template1", (int)(slash - main_url), main_url);
    t_open_cfg(&l.t, &cfg);
    l.connects = 0;
    assert_int_equal(store_listen(l.t.s, "url chan", listen_url_cb, &l), 0);
    RUN_UNTIL(&l.t, l.connects == 1);
    query_value(&l.t, "SELECT string_agg(application_name || '@' || datname, ',' ORDER BY "
                      "application_name) FROM pg_stat_activity WHERE application_name LIKE "
                      "'test\\_store%'");
    assert_int_equal(l.t.errs[0], 1);
    assert_string_equal(l.t.value, "test_store@postgres,test_store-listen@template1");
    t_close_store(&l.t);
    t_finish(&l.t);
}

static void host_name_connects(void **state)
{
    struct t t;
    char url[600], *at = strstr(main_url, "@127.0.0.1:");
    (void)state;
    assert_non_null(at);
    snprintf(url, sizeof(url), "%.*s@localhost:%s", (int)(at - main_url), main_url,
             at + strlen("@127.0.0.1:"));
    t_open(&t, url, 2, 10, 0);
    query_value(&t, "SELECT host(inet_server_addr())");
    assert_int_equal(t.errs[0], 1);
    assert_string_equal(t.value, "127.0.0.1");
    t_close_store(&t);
    t_finish(&t);
}

static void unknown_host_name_fails_jobs(void **state)
{
    struct t t;
    struct store_stmt st = {"SELECT 1", 0, NULL};
    (void)state;
    t_open(&t, "host=no-such-host.invalid dbname=postgres", 1, 10, 300);
    assert_int_equal(store_txn(t.s, &st, 1, count_cb, &t), 0);
    RUN_UNTIL(&t, t.done == 1);
    assert_int_equal(t.errs[2], 1);
    assert_false(store_is_connected(t.s));
    t_close_store(&t);
    t_finish(&t);
}

static void exec_startup_reports_errors(void **state)
{
    char err[256];
    const char *good[] = {"SELECT 1; SELECT 2", "CREATE TEMP TABLE x (a int)"};
    const char *bad[] = {"SELECT 1", "SELEC 2"};
    (void)state;
    assert_int_equal(store_exec_startup(main_url, good, 2, err, sizeof(err)), 0);
    assert_int_equal(store_exec_startup(main_url, bad, 2, err, sizeof(err)), IE_DB);
    assert_non_null(strstr(err, "syntax error"));
}

static void rm_rf(const char *dir)
{
    pid_t pid = fork();
    int status;
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
}

/* The embedded default: create, start, use through the store, stop, start again (existing
 * cluster), stop. */
static void embedded_cluster_serves_the_store(void **state)
{
    struct t t;
    char home[sizeof(main_dir) + 8], conninfo[512], err[512];
    struct pgembed *pg = NULL;
    (void)state;
    snprintf(home, sizeof(home), "%s-embed", main_dir);
    assert_int_equal(mkdir(home, 0700), 0);
    /* Searchable by the unprivileged cluster user when we are root, so the cluster stays
     * under home (otherwise it would go to /var/lib/intentd). */
    assert_int_equal(chmod(home, 0711), 0);
    for (int round = 0; round < 2; round++) {
        int rc = pgembed_start(home, &pg, conninfo, sizeof(conninfo), err, sizeof(err));
        if (rc)
            fail_msg("pgembed_start: %s: %s", ie_name(rc), err);
        assert_non_null(strstr(conninfo, home));
        t_open(&t, conninfo, 1, 10, 0);
        query_value(&t, "SELECT current_database() || ':' || current_setting('listen_addresses')");
        assert_int_equal(t.errs[0], 1);
        assert_string_equal(t.value, "intentd:");
        t_close_store(&t);
        t_finish(&t);
        pgembed_stop(pg);
    }
    rm_rf(home);
}

static struct pgembed *dead_owner; /* the forked owner's, still reachable when it _exit()s */

static long long postmaster_start(const char *conninfo)
{
    PGconn *pg = PQconnectdb(conninfo);
    PGresult *r = PQexec(pg, "SELECT extract(epoch FROM pg_postmaster_start_time()) * 1000000");
    long long v;
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(pg);
    return v;
}

static void embed_home(char *home, size_t len, const char *suffix)
{
    snprintf(home, len, "%s-%s", main_dir, suffix);
    assert_int_equal(mkdir(home, 0700), 0);
    assert_int_equal(chmod(home, 0711), 0); /* see embedded_cluster_serves_the_store */
}

static void embedded_cluster_refuses_a_second_owner(void **state)
{
    char home[sizeof(main_dir) + 8], conninfo[512], err[512];
    struct pgembed *pg = NULL, *second = NULL;
    int rc;
    (void)state;
    embed_home(home, sizeof(home), "owned");
    rc = pgembed_start(home, &pg, conninfo, sizeof(conninfo), err, sizeof(err));
    if (rc)
        fail_msg("pgembed_start: %s: %s", ie_name(rc), err);
    assert_int_equal(pgembed_start(home, &second, conninfo, sizeof(conninfo), err, sizeof(err)),
                     IE_CONFIG);
    assert_non_null(strstr(err, "is in use by another intentd"));
    assert_null(second);
    pgembed_stop(pg);
    rm_rf(home);
}

/* An owner that dies without pgembed_stop (as after kill -9) leaves the postmaster running: the
 * next pgembed_start takes it over, restarts it, and its pgembed_stop stops it. */
static void embedded_cluster_left_by_a_dead_owner_is_taken_over(void **state)
{
    char home[sizeof(main_dir) + 8], conninfo[512], err[512];
    struct pgembed *pg = NULL;
    long long before;
    int rc, status;
    pid_t pid;
    (void)state;
    embed_home(home, sizeof(home), "dead");
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(pgembed_start(home, &dead_owner, conninfo, sizeof(conninfo), err, sizeof(err)) ? 1
                                                                                             : 0);
    assert_true(waitpid(pid, &status, 0) == pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    rc = pgembed_start(home, &pg, conninfo, sizeof(conninfo), err, sizeof(err));
    if (rc)
        fail_msg("pgembed_start after a dead owner: %s: %s", ie_name(rc), err);
    before = postmaster_start(conninfo);
    pgembed_stop(pg);
    assert_int_equal(PQping(conninfo), PQPING_NO_RESPONSE); /* stopped by the new owner */
    rc = pgembed_start(home, &pg, conninfo, sizeof(conninfo), err, sizeof(err));
    if (rc)
        fail_msg("pgembed_start: %s: %s", ie_name(rc), err);
    assert_true(postmaster_start(conninfo) != before);
    pgembed_stop(pg);
    rm_rf(home);
}

/* ---- group commit (store_query_grouped) ---- */

struct gm {
    struct t *t;
    int err;
    int nres;
    char value[64];
};

static void gm_cb(void *arg, int err, const struct store_result *res, const char *ss,
                  const char *em)
{
    struct gm *m = arg;
    (void)em;
    m->t->done++;
    m->t->errs[err_slot(err)]++;
    m->err = err;
    if (err == IE_DB && ss)
        snprintf(m->t->sqlstate, sizeof(m->t->sqlstate), "%s", ss);
    if (err == 0) {
        m->nres = res->nresults;
        snprintf(m->value, sizeof(m->value), "%s", PQgetvalue(res->results[0], 0, 0));
    }
}

#define Q_TXID "SELECT txid_current()::text"

static void grouped_statements_share_one_transaction(void **state)
{
    struct t t;
    struct gm m[4] = {{.t = &t}, {.t = &t}, {.t = &t}, {.t = &t}};
    struct store_stats st;
    (void)state;
    t_open(&t, main_url, 2, 100, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[i]), 0);
    RUN_UNTIL(&t, t.done == 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(m[i].err, 0);
        assert_int_equal(m[i].nres, 1); /* each sees only its own result */
        assert_string_equal(m[i].value, m[0].value);
    }
    store_get_stats(t.s, &st);
    assert_int_equal(st.group_txns, 1);
    assert_int_equal(st.group_members, 3);
    assert_int_equal(st.group_fallbacks, 0);
    /* queued after the group finished: the next transaction */
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[3]), 0);
    RUN_UNTIL(&t, t.done == 4);
    assert_int_equal(m[3].err, 0);
    assert_string_not_equal(m[3].value, m[0].value);
    t_close_store(&t);
    t_finish(&t);
}

static void grouped_failure_runs_the_others_apart(void **state)
{
    struct t t;
    struct gm m[3] = {{.t = &t}, {.t = &t}, {.t = &t}};
    const char *a[] = {"300"}, *b[] = {"301"};
    struct store_stats st;
    (void)state;
    t_open(&t, main_url, 2, 100, 0);
    assert_int_equal(store_query_grouped(t.s,
                                         "INSERT INTO t_store (id, v) VALUES ($1, 'g') "
                                         "RETURNING id::text",
                                         1, a, gm_cb, &m[0]),
                     0);
    assert_int_equal(store_query_grouped(t.s, "SELECT (1 / 0)::text", 0, NULL, gm_cb, &m[1]), 0);
    assert_int_equal(store_query_grouped(t.s,
                                         "INSERT INTO t_store (id, v) VALUES ($1, 'g') "
                                         "RETURNING id::text",
                                         1, b, gm_cb, &m[2]),
                     0);
    RUN_UNTIL(&t, t.done == 3);
    assert_int_equal(m[0].err, 0);
    assert_string_equal(m[0].value, "300");
    assert_int_equal(m[1].err, IE_DB);
    assert_string_equal(t.sqlstate, "22012");
    assert_int_equal(m[2].err, 0);
    assert_string_equal(m[2].value, "301");
    store_get_stats(t.s, &st);
    assert_int_equal(st.group_fallbacks, 1);
    /* each insert committed exactly once, on its second run */
    query_value(&t, "SELECT count(*) FROM t_store WHERE id IN (300, 301) AND v = 'g'");
    assert_string_equal(t.value, "2");
    t_close_store(&t);
    t_finish(&t);
}

static void large_grouped_statement_runs_alone(void **state)
{
    struct t t;
    struct gm m[2] = {{.t = &t}, {.t = &t}};
    size_t len = (size_t)70 << 10;
    char *big = malloc(len + 1);
    struct store_stats st;
    (void)state;
    assert_non_null(big);
    memset(big, 'x', len);
    big[len] = '\0';
    const char *p[] = {big};
    t_open(&t, main_url, 2, 100, 0);
    assert_int_equal(store_query_grouped(t.s, "SELECT txid_current()::text WHERE length($1) > 0", 1,
                                         p, gm_cb, &m[0]),
                     0);
    free(big); /* copied at submission */
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[1]), 0);
    RUN_UNTIL(&t, t.done == 2);
    assert_int_equal(m[0].err, 0);
    assert_int_equal(m[1].err, 0);
    assert_string_not_equal(m[0].value, m[1].value);
    store_get_stats(t.s, &st);
    assert_int_equal(st.group_members, 1);
    t_close_store(&t);
    t_finish(&t);
}

struct src {
    struct t *t;
    struct gm *m;
    int fills;
    bool want;
};

static void src_fill(void *arg)
{
    struct src *s = arg;
    s->fills++;
    if (!s->want)
        return;
    s->want = false;
    assert_int_equal(store_query_grouped(s->t->s, Q_TXID, 0, NULL, gm_cb, s->m), 0);
}

static void fill_sources_join_the_next_group(void **state)
{
    struct t t;
    struct gm m[3] = {{.t = &t}, {.t = &t}, {.t = &t}};
    struct src a = {.t = &t, .m = &m[0], .want = true}, b = {.t = &t, .m = &m[1], .want = true};
    struct src extra[STORE_GROUP_SOURCES];
    (void)state;
    t_open(&t, main_url, 2, 100, 0);
    assert_int_equal(store_group_source(t.s, NULL, &a), IE_INVAL);
    assert_int_equal(store_group_source(t.s, src_fill, &a), 0);
    assert_int_equal(store_group_source(t.s, src_fill, &b), 0);
    store_group_request(t.s);
    RUN_UNTIL(&t, t.done == 2);
    assert_int_equal(m[0].err, 0);
    assert_int_equal(m[1].err, 0);
    assert_string_equal(m[0].value, m[1].value); /* both fills' statements, one transaction */
    int a_fills = a.fills;
    assert_true(a_fills >= 1);
    store_group_source_remove(t.s, &a);
    b.m = &m[2];
    b.want = true;
    store_group_request(t.s);
    RUN_UNTIL(&t, t.done == 3);
    assert_int_equal(m[2].err, 0);
    assert_int_equal(a.fills, a_fills); /* removed: never asked again */
    /* the table of sources is bounded */
    for (int i = 0; i < STORE_GROUP_SOURCES - 1; i++)
        assert_int_equal(store_group_source(t.s, src_fill, &extra[i]), 0);
    assert_int_equal(store_group_source(t.s, src_fill, &extra[0]), IE_NOMEM);
    for (int i = 0; i < STORE_GROUP_SOURCES - 1; i++)
        store_group_source_remove(t.s, &extra[i]);
    store_group_source_remove(t.s, &b);
    t_close_store(&t);
    t_finish(&t);
}

static void grouped_statements_refused_when_queues_are_full(void **state)
{
    struct t t;
    char url[600];
    struct gm m[3] = {{.t = &t}, {.t = &t}, {.t = &t}};
    (void)state;
    /* nothing listens there, so every job stays queued until the (long) queue deadline */
    snprintf(url, sizeof(url), "host=%s port=1 dbname=postgres", main_dir);
    t_open(&t, url, 1, 2, 60000);
    for (int i = 0; i < 2; i++)
        assert_int_equal(store_query(t.s, "SELECT 1", 0, NULL, count_cb, &t), 0);
    /* the grouped queue has a bound of its own */
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[0]), 0);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[1]), 0);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[2]), IE_UNAVAIL);
    /* their group transaction finds the job queue full: both members are told */
    RUN_UNTIL(&t, t.done == 2);
    assert_int_equal(m[0].err, IE_UNAVAIL);
    assert_int_equal(m[1].err, IE_UNAVAIL);
    t_close_store(&t);
    t_finish(&t);
    assert_int_equal(t.done, 4);
    assert_int_equal(t.errs[3], 2); /* the two queued queries, cancelled by close */
}

static void close_cancels_grouped_statements(void **state)
{
    struct t t;
    struct gm m[2] = {{.t = &t}, {.t = &t}};
    (void)state;
    t_open(&t, main_url, 1, 100, 0);
    assert_int_equal(store_query_grouped(NULL, Q_TXID, 0, NULL, gm_cb, &m[0]), IE_INVAL);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, -1, NULL, gm_cb, &m[0]), IE_INVAL);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 1, NULL, gm_cb, &m[0]), IE_INVAL);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, NULL, &m[0]), IE_INVAL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[i]), 0);
    t_close_store(&t); /* before the loop ever ran: nothing was sent */
    assert_int_equal(t.done, 2);
    assert_int_equal(t.errs[3], 2);
    assert_int_equal(store_query_grouped(t.s, Q_TXID, 0, NULL, gm_cb, &m[0]), IE_UNAVAIL);
    t_finish(&t);
}

int main(void)
{
    const char *setup[] = {"CREATE TABLE IF NOT EXISTS t_store (id int PRIMARY KEY, v text)",
                           "CREATE TABLE IF NOT EXISTS t_many (id int PRIMARY KEY)",
                           "CREATE TABLE IF NOT EXISTS t_deferred (id int, CONSTRAINT t_deferred_u "
                           "UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)",
                           "CREATE TABLE IF NOT EXISTS t_kill (id int);"
                           "CREATE OR REPLACE FUNCTION t_kill_self() RETURNS trigger LANGUAGE "
                           "plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); "
                           "RETURN NULL; END $$;"
                           "DROP TRIGGER IF EXISTS t_kill_at_commit ON t_kill;"
                           "CREATE CONSTRAINT TRIGGER t_kill_at_commit AFTER INSERT ON t_kill "
                           "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "
                           "t_kill_self()"};
    char err[512];
    int rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(txn_returns_each_result),
        cmocka_unit_test(failing_statement_rolls_back),
        cmocka_unit_test(failing_commit_reports_db_error),
        cmocka_unit_test(prepared_statements_are_reused),
        cmocka_unit_test(many_concurrent_jobs_complete),
        cmocka_unit_test(query_runs_without_transaction),
        cmocka_unit_test(listen_receives_notify),
        cmocka_unit_test(terminated_connection_reconnects),
        cmocka_unit_test(close_cancels_queued_jobs),
        cmocka_unit_test(close_before_dispatch_cancels_all),
        cmocka_unit_test(queue_limit_and_bad_arguments),
        cmocka_unit_test(unreachable_database_fails_queued_jobs),
        cmocka_unit_test(server_down_at_open_then_up),
        cmocka_unit_test(job_past_deadline_fails_and_pool_recovers),
        cmocka_unit_test(close_abandons_a_stuck_job_after_grace),
        cmocka_unit_test(close_during_listener_startup_closes),
        cmocka_unit_test(commit_cut_by_the_server_is_unavailable),
        cmocka_unit_test(no_prepared_sends_unnamed_statements),
        cmocka_unit_test(listen_conninfo_serves_the_listener_only),
        cmocka_unit_test(exec_startup_reports_errors),
        cmocka_unit_test(grouped_statements_share_one_transaction),
        cmocka_unit_test(grouped_failure_runs_the_others_apart),
        cmocka_unit_test(large_grouped_statement_runs_alone),
        cmocka_unit_test(fill_sources_join_the_next_group),
        cmocka_unit_test(grouped_statements_refused_when_queues_are_full),
        cmocka_unit_test(close_cancels_grouped_statements),
        cmocka_unit_test(embedded_cluster_serves_the_store),
        cmocka_unit_test(embedded_cluster_refuses_a_second_owner),
        cmocka_unit_test(embedded_cluster_left_by_a_dead_owner_is_taken_over),
        /* Last: their lookups run on libuv's threadpool, and glibc's per-thread resolver memory
         * looks lost to valgrind in the children the embedded tests fork (whose exit status
         * --error-exitcode would then rewrite). */
        cmocka_unit_test(host_name_connects),
        cmocka_unit_test(unknown_host_name_fails_jobs),
    };
    log_set_level(getenv("TEST_STORE_DEBUG") ? LOG_DEBUG : LOG_ERROR);
    pg_test_find_harness(harness, sizeof harness);
    snprintf(main_dir, sizeof(main_dir), "/tmp/intentd-test-store-XXXXXX");
    if (!mkdtemp(main_dir)) {
        perror("mkdtemp");
        return 1;
    }
    rc = run_harness("start", main_dir, main_url, sizeof(main_url));
    if (rc == 77) {
        fprintf(stderr, "SKIP: PostgreSQL server binaries not found; test_store needs them\n");
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "test_store: %s start %s failed (%d)\n", harness, main_dir, rc);
        return 1;
    }
    if (store_exec_startup(main_url, setup, 4, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_store: setup failed: %s\n", err);
        rc = 1;
    } else {
        rc = cmocka_run_group_tests(tests, NULL, NULL);
    }
    if (run_harness("destroy", main_dir, NULL, 0) != 0)
        fprintf(stderr, "test_store: could not stop the cluster in %s\n", main_dir);
    return rc;
}
