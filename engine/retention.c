/* Retention sweeps and partition upkeep; see retention.h. One step at a time: a sweep is a
 * chain of batches (the next starts when one moved a full batch), and the timer is re-armed
 * only when the chain has ended, so a node never overlaps its own sweeps. */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "app_metrics.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define PARTITIONS_EVERY_MS (60ULL * 60 * 1000)
#define IDLE_TICK_MS        PARTITIONS_EVERY_MS
/* a sweep gives the loop back after this many full batches; the next tick goes on */
#define MAX_BATCHES_PER_SWEEP 100

struct retention {
    struct app *app;
    uv_timer_t timer;
    unsigned long long interval_ms;
    unsigned long long partitions_at; /* uv_now of the last partition check */
    long long swept;                  /* intents this sweep moved so far */
    int batches;
    bool busy; /* a query is in flight */
    bool stopping;
    bool timer_closed;
};

unsigned long long retention_sweep_interval_ms(int retention_s)
{
    unsigned long long ms = (unsigned long long)retention_s * 100; /* a tenth, in ms */
    if (ms < 1000)
        ms = 1000;
    if (ms > 60000)
        ms = 60000;
    return ms;
}

static void tick(uv_timer_t *t);
static void sweep_batch(struct retention *r);

static void step_done(struct retention *r)
{
    r->busy = false;
    if (!r->stopping)
        uv_timer_start(&r->timer, tick, r->interval_ms, 0);
    else if (r->timer_closed)
        free(r);
}

static void sweep_end(struct retention *r)
{
    if (r->swept > 0)
        log_info("retention: archived %lld terminal intents older than %d s", r->swept,
                 r->app->cfg.retention_seconds);
    step_done(r);
}

static void swept(void *arg, int err, const struct store_result *res, const char *sqlstate,
                  const char *msg)
{
    struct retention *r = arg;
    if (err) {
        log_warn("retention sweep failed: %s%s%s", sqlstate ? sqlstate : "", sqlstate ? " " : "",
                 msg ? msg : ie_strerror(err));
        sweep_end(r);
        return;
    }
    long long n = atoll(PQgetvalue(res->results[0], 0, 0));
    r->swept += n;
    app_metrics_retention_archived(r->app->metrics, (double)n);
    if (n >= RETENTION_BATCH && !r->stopping && ++r->batches < MAX_BATCHES_PER_SWEEP)
        sweep_batch(r);
    else
        sweep_end(r);
}

static void sweep_batch(struct retention *r)
{
    char age[24], batch[16];
    snprintf(age, sizeof age, "%d", r->app->cfg.retention_seconds);
    snprintf(batch, sizeof batch, "%d", RETENTION_BATCH);
    const char *p[2] = {age, batch};
    if (store_query(r->app->store, Q_RETENTION_SWEEP, 2, p, swept, r))
        sweep_end(r);
}

static void sweep_start(struct retention *r)
{
    if (r->app->cfg.retention_seconds <= 0 || r->stopping) {
        step_done(r);
        return;
    }
    r->swept = 0;
    r->batches = 0;
    sweep_batch(r);
}

static void partitions_checked(void *arg, int err, const struct store_result *res,
                               const char *sqlstate, const char *msg)
{
    struct retention *r = arg;
    if (err)
        /* lock_timeout or the database away: the next hour tries again, a month ahead */
        log_warn("creating the ledger's next partitions failed: %s", msg ? msg : ie_strerror(err));
    else if (*PQgetvalue(res->results[0], 0, 0))
        log_info("created ledger partitions %s", PQgetvalue(res->results[0], 0, 0));
    sweep_start(r);
}

static void tick(uv_timer_t *t)
{
    struct retention *r = t->data;
    r->busy = true;
    unsigned long long now = uv_now(r->app->loop);
    /* a second of slack: the hourly idle tick must not miss its check by a hair */
    if (now - r->partitions_at + 1000 >= PARTITIONS_EVERY_MS) {
        r->partitions_at = now;
        const char *p[1] = {"1"};
        if (store_query(r->app->store, Q_LEDGER_ENSURE_PARTITIONS, 1, p, partitions_checked, r) ==
            0)
            return;
    }
    sweep_start(r);
}

int retention_start(struct app *app, struct retention **out)
{
    struct retention *r = calloc(1, sizeof *r);
    if (!r)
        return IE_NOMEM;
    r->app = app;
    r->interval_ms = app->cfg.retention_seconds > 0
                         ? retention_sweep_interval_ms(app->cfg.retention_seconds)
                         : IDLE_TICK_MS;
    /* start-up made sure of this month's and next month's partitions (migrations.c) */
    r->partitions_at = uv_now(app->loop);
    uv_timer_init(app->loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, tick, r->interval_ms, 0);
    if (app->cfg.retention_seconds > 0)
        log_info("retention: terminal intents are archived %d s after they end (sweep every "
                 "%llu ms)",
                 app->cfg.retention_seconds, r->interval_ms);
    *out = r;
    return 0;
}

static void closed(uv_handle_t *h)
{
    struct retention *r = h->data;
    r->timer_closed = true;
    if (!r->busy)
        free(r);
}

void retention_stop(struct retention *r)
{
    if (!r)
        return;
    r->stopping = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, closed);
}
