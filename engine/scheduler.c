/* Claim loop, wake-ups and lease renewal; see scheduler.h. One claim round is in flight at a
 * time; rounds repeat while they come back full, and otherwise wait for a NOTIFY, the timer
 * for the earliest due item, or the slow poll. */
#include "scheduler.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "tenant_keys.h"
#include "toggles.h"

#define IN_HAND_FACTOR     4 /* intents in memory at most: claim_batch * this */
#define RELEASE_TIMEOUT_MS 10000

enum sched_phase { SCHED_RUNNING, SCHED_DRAINING, SCHED_RELEASING, SCHED_DONE };

struct scheduler {
    struct app *app;
    struct executor *exec;
    uv_timer_t wake_timer;  /* the next claim round: poll or earliest due */
    uv_timer_t renew_timer; /* lease renewal */
    uv_timer_t stop_timer;  /* bounds a graceful stop when the database is gone */
    int handles_open;
    bool claiming;
    bool again; /* a wake-up arrived during a claim */
    bool want;  /* a claim round waits for the next group transaction */
    enum sched_phase phase;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

static void request_claim(struct scheduler *s);
static void drain_check(struct scheduler *s);

static void wake_fire(uv_timer_t *t)
{
    request_claim(t->data);
}

static void arm_claim(struct scheduler *s, uint64_t ms)
{
    if (s->phase != SCHED_RUNNING)
        return;
    if (uv_is_active((uv_handle_t *)&s->wake_timer) && uv_timer_get_due_in(&s->wake_timer) <= ms)
        return;
    uv_timer_start(&s->wake_timer, wake_fire, ms, 0);
}

void scheduler_wake(struct scheduler *s)
{
    if (s && s->app->cfg.scheduler)
        request_claim(s);
}

static void claimed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct scheduler *s = arg;
    s->claiming = false;
    if (s->phase != SCHED_RUNNING) {
        /* Stopping: whatever this round claimed is given back by intentd.release. */
        drain_check(s);
        return;
    }
    if (err) {
        if (err != IE_CANCELED)
            log_warn("claiming work failed: %s %s", sqlstate ? sqlstate : "",
                     msg ? msg : ie_strerror(err));
        arm_claim(s, (uint64_t)s->app->cfg.poll_ms);
        return;
    }
    PGresult *r = res->results[0];
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        executor_take(s->exec, r, i);
    if (n > 0)
        log_debug("claimed %d intents", n);
    int room = s->app->cfg.claim_batch * IN_HAND_FACTOR - executor_in_hand(s->exec);
    if (s->again || (n >= s->app->cfg.claim_batch && room > 0)) {
        s->again = false;
        arm_claim(s, 0);
        return;
    }
    /* Idle: sleep until the slow poll or the earliest wake-up this node released (a Wait or a
     * retry), whichever is first; other nodes' wake-ups are found by the poll. */
    uint64_t ms = (uint64_t)s->app->cfg.poll_ms;
    double due = executor_take_next_due(s->exec);
    if (due > 0) {
        double in = (due - (double)time(NULL)) * 1000.0 + 5;
        if (in < (double)ms)
            ms = in <= 0 ? 0 : (uint64_t)in;
    }
    arm_claim(s, ms);
}

/* Claims go out with the node's other writes in group transactions (store_query_grouped): a
 * wanted claim asks the store for a group, and fill() sends it when the group is put together.
 * Asked from the submitter's fill, it joins the very group that carries the submissions, since
 * the scheduler's fill runs after the submitter's. The wake timer's job is done then: claimed()
 * arms it again. */
static void request_claim(struct scheduler *s)
{
    if (s->phase != SCHED_RUNNING)
        return;
    if (s->claiming) {
        s->again = true;
        return;
    }
    uv_timer_stop(&s->wake_timer);
    s->want = true;
    store_group_request(s->app->store);
}

static void claim_now(struct scheduler *s)
{
    if (s->phase != SCHED_RUNNING || s->claiming)
        return;
    int room = s->app->cfg.claim_batch * IN_HAND_FACTOR - executor_in_hand(s->exec);
    if (room <= 0)
        return; /* executor_notify re-arms when intents leave memory */
    int want = room < s->app->cfg.claim_batch ? room : s->app->cfg.claim_batch;
    char node[160], lim[16], lease[16], quar[16];
    snprintf(node, sizeof node, "%s", s->app->cfg.node_id);
    snprintf(lim, sizeof lim, "%d", want);
    snprintf(lease, sizeof lease, "%d", s->app->cfg.lease_seconds);
    snprintf(quar, sizeof quar, "%d", s->app->cfg.quarantine_after);
    const char *p[4] = {node, lim, lease, quar};
    int rc = store_query_grouped(s->app->store, Q_CLAIM, 4, p, claimed, s);
    if (rc) {
        arm_claim(s, (uint64_t)s->app->cfg.poll_ms);
        return;
    }
    s->claiming = true;
}

static void fill(void *arg)
{
    struct scheduler *s = arg;
    if (!s->want)
        return;
    s->want = false;
    claim_now(s);
}

static void renewed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    (void)arg;
    if (err && err != IE_CANCELED)
        log_warn("renewing leases failed: %s %s", sqlstate ? sqlstate : "",
                 msg ? msg : ie_strerror(err));
}

static void renew_fire(uv_timer_t *t)
{
    struct scheduler *s = t->data;
    if (!executor_in_hand(s->exec))
        return;
    char lease[16];
    snprintf(lease, sizeof lease, "%d", s->app->cfg.lease_seconds);
    char *keys = executor_held_keys(s->exec);
    if (!keys)
        return;
    const char *p[3] = {s->app->cfg.node_id, lease, keys};
    if (store_query(s->app->store, Q_RENEW, 3, p, renewed, NULL))
        log_warn("cannot queue lease renewal");
    free(keys);
}

/* The listener lives as long as the store, longer than the scheduler: it reaches the
 * scheduler through the app, which forgets it when it stops. */
static void notified(void *arg, const char *channel, const char *payload)
{
    struct app *app = arg;
    /* channel NULL = (re)connected: something may have been missed, so look anyway. */
    if (!channel || (payload && !strcmp(payload, "toggles")))
        toggles_refresh(app->toggles);
    /* a key rotation (intentd.rotate_key); after a reconnection any may have been missed */
    if (!channel)
        tenant_keys_forget(app->keys, NULL);
    else if (payload && !strncmp(payload, "keys:", 5))
        tenant_keys_forget(app->keys, payload + 5);
    scheduler_wake(app->scheduler);
}

static void executor_notify(void *arg)
{
    struct scheduler *s = arg;
    if (s->phase == SCHED_RUNNING)
        scheduler_wake(s);
    else
        drain_check(s);
}

int scheduler_start(struct app *app, struct scheduler **out)
{
    struct scheduler *s = calloc(1, sizeof *s);
    if (!s)
        return IE_NOMEM;
    s->app = app;
    int rc = executor_new(app, &s->exec);
    if (rc) {
        free(s);
        return rc;
    }
    if (app->cfg.scheduler && (rc = store_group_source(app->store, fill, s))) {
        executor_free(s->exec);
        free(s);
        return rc;
    }
    executor_set_notify(s->exec, executor_notify, s);
    uv_timer_init(app->loop, &s->wake_timer);
    uv_timer_init(app->loop, &s->renew_timer);
    uv_timer_init(app->loop, &s->stop_timer);
    s->wake_timer.data = s->renew_timer.data = s->stop_timer.data = s;
    s->handles_open = 3;
    if (app->cfg.scheduler) {
        uint64_t every = (uint64_t)app->cfg.lease_seconds * 1000 / 3;
        uv_timer_start(&s->renew_timer, renew_fire, every, every);
        rc = store_listen(app->store, "intentd_work", notified, app);
        if (rc)
            log_warn("cannot LISTEN for new work (%s); polling only", ie_strerror(rc));
        arm_claim(s, 0);
    } else {
        log_info("scheduler is off (INTENTD_SCHEDULER=off): accepting, not executing");
    }
    *out = s;
    return 0;
}

/* --- graceful stop --- */

static void handle_closed(uv_handle_t *h)
{
    struct scheduler *s = h->data;
    if (--s->handles_open == 0) {
        void (*cb)(void *) = s->stop_cb;
        void *arg = s->stop_arg;
        if (s->app->scheduler == s)
            s->app->scheduler = NULL;
        free(s);
        if (cb)
            cb(arg);
    }
}

static void finish_stop(struct scheduler *s)
{
    s->phase = SCHED_DONE;
    store_group_source_remove(s->app->store, s);
    executor_free(s->exec); /* deferred by the executor while an apply is in flight */
    s->exec = NULL;
    uv_close((uv_handle_t *)&s->wake_timer, handle_closed);
    uv_close((uv_handle_t *)&s->renew_timer, handle_closed);
    uv_close((uv_handle_t *)&s->stop_timer, handle_closed);
}

static void released(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct scheduler *s = arg;
    if (err) {
        log_warn("could not give leases back (%s %s); they lapse after %d s",
                 sqlstate ? sqlstate : "", msg ? msg : ie_strerror(err), s->app->cfg.lease_seconds);
    } else {
        /* intentd.release() answers no row (or NULL) when it held none */
        const PGresult *r = res->results[0];
        bool none = PQntuples(r) < 1 || PQgetisnull(r, 0, 0);
        log_info("gave back %s leases", none ? "0" : PQgetvalue(r, 0, 0));
    }
    finish_stop(s);
}

static void release_now(struct scheduler *s)
{
    s->phase = SCHED_RELEASING;
    uv_timer_stop(&s->stop_timer);
    uv_timer_stop(&s->renew_timer);
    const char *p[1] = {s->app->cfg.node_id};
    if (store_query(s->app->store, Q_RELEASE, 1, p, released, s))
        finish_stop(s);
}

static void drain_check(struct scheduler *s)
{
    if (s->phase == SCHED_DRAINING && !s->claiming && executor_pending(s->exec) == 0)
        release_now(s);
}

static void stop_timeout(uv_timer_t *t)
{
    struct scheduler *s = t->data;
    if (s->phase == SCHED_DRAINING) {
        log_warn("step outcomes still uncommitted after %d ms; releasing leases anyway",
                 RELEASE_TIMEOUT_MS);
        release_now(s);
    }
}

void scheduler_stop(struct scheduler *s, void (*cb)(void *arg), void *arg)
{
    s->stop_cb = cb;
    s->stop_arg = arg;
    if (s->phase != SCHED_RUNNING)
        return;
    s->phase = SCHED_DRAINING;
    uv_timer_stop(&s->wake_timer);
    if (!s->app->cfg.scheduler) {
        finish_stop(s);
        return;
    }
    uv_timer_start(&s->stop_timer, stop_timeout, RELEASE_TIMEOUT_MS, 0);
    drain_check(s);
}
