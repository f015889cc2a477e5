/* GET /metrics: the Prometheus scrape. The database-derived gauges come from one grouped
 * query over intentd.intents, run at most once a second and one at a time, so any number of
 * scrapers (or an unauthenticated caller) cannot load the database; everything else is read
 * from memory. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "api.h"
#include "app_metrics.h"
#include "lifecycle.h"
#include "store.h"

#define DB_REFRESH_MS 1000
#define RENDER_MAX    (4u << 20) /* bounded series make a scrape tens of kilobytes */

/* One scan: counts by state, and among the non-terminal rows those a claim would take now
 * (due, no live lease) with the age of the oldest. */
#define Q_METRICS                                                                                  \
    "SELECT state, count(*), count(*) FILTER (WHERE d), "                                          \
    "coalesce(extract(epoch FROM now() - min(due_at) FILTER (WHERE d)), 0) "                       \
    "FROM (SELECT state, due_at, state IN ('PENDING', 'EXECUTING', 'COMPENSATING') "               \
    "AND due_at <= now() AND (lease_owner IS NULL OR lease_expires_at < now()) AS d "              \
    "FROM intentd.intents) q GROUP BY state"

static void render_reply(struct api_req *req)
{
    struct app *app = req->app;
    struct store_stats st;
    store_get_stats(app->store, &st);
    app_metrics_set_pool(app->metrics, &st);
    struct buf out;
    buf_init(&out, RENDER_MAX);
    if (app_metrics_render(app->metrics, &out)) {
        buf_free(&out);
        api_reply_problem(req, 500, "internal", "the metrics could not be rendered");
        return;
    }
    api_reply_raw(req, 200, METRICS_CONTENT_TYPE, out.data ? out.data : "", out.len);
    buf_free(&out);
}

static void db_read(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct app *app = arg;
    (void)sqlstate;
    (void)msg;
    struct app_metrics_scrape *sc = app_metrics_scrape_state(app->metrics);
    struct app_metrics_db db = {{0}, 0, 0};
    if (!err) {
        PGresult *r = res->results[0];
        for (int i = 0; i < PQntuples(r); i++) {
            enum intent_state s;
            if (lifecycle_state_from_name(PQgetvalue(r, i, 0), &s))
                continue;
            db.by_state[s] = atof(PQgetvalue(r, i, 1));
            db.due_depth += atof(PQgetvalue(r, i, 2));
            double age = atof(PQgetvalue(r, i, 3));
            if (age > db.oldest_due_age)
                db.oldest_due_age = age;
        }
    }
    app_metrics_set_db(app->metrics, &db, err == 0);
    sc->inflight = false;
    sc->db_at_ms = uv_now(app->loop);
    /* the scrapes that waited are answered from this refresh (or the last one that worked) */
    int n = sc->nwaiters;
    void *waiters[APP_METRICS_WAITERS];
    memcpy(waiters, sc->waiters, (size_t)n * sizeof waiters[0]);
    sc->nwaiters = 0;
    for (int i = 0; i < n; i++)
        render_reply(waiters[i]);
}

void svc_metrics(struct api_req *req)
{
    struct app *app = req->app;
    if (!app->metrics) {
        api_reply_problem(req, 503, "metrics-unavailable", "this node keeps no metrics");
        return;
    }
    struct app_metrics_scrape *sc = app_metrics_scrape_state(app->metrics);
    uint64_t now = uv_now(app->loop);
    bool fresh = sc->db_at_ms && now - sc->db_at_ms < DB_REFRESH_MS;
    if (fresh || (sc->inflight && sc->nwaiters == APP_METRICS_WAITERS)) {
        render_reply(req);
        return;
    }
    if (!sc->inflight) {
        if (store_query(app->store, Q_METRICS, 0, NULL, db_read, app)) {
            struct app_metrics_db none = {{0}, 0, 0};
            app_metrics_set_db(app->metrics, &none, false);
            render_reply(req);
            return;
        }
        sc->inflight = true;
    }
    sc->waiters[sc->nwaiters++] = req;
}
