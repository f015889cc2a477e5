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
#include "toggles.h"

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

/* The ledger rows written since $1 (the last seq looked at), at most LEDGER_CHUNK a scrape:
 * this node's ($2) transitions by kind, and how far the read got. Rows commit in seq order
 * (the ledger lock is held until commit), so no row below the highest one seen can still
 * appear. */
#define LEDGER_CHUNK "100000"
#define Q_METRICS_LEDGER                                                                           \
    "SELECT from_state, to_state, "                                                                \
    "count(*) FILTER (WHERE event = 'intent.transition' AND node_id = $2), max(seq) "              \
    "FROM (SELECT seq, event, from_state, to_state, node_id FROM intentd.ledger "                  \
    "WHERE seq > $1::bigint ORDER BY seq LIMIT " LEDGER_CHUNK ") l GROUP BY from_state, to_state"

static void render_reply(struct api_req *req)
{
    struct app *app = req->app;
    struct store_stats st;
    store_get_stats(app->store, &st);
    app_metrics_set_pool(app->metrics, &st);
    app_metrics_set_toggles(app->metrics, app->toggles);
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

/* Both reads are done (or failed): the scrapes that waited are answered. */
static void refreshed(struct app *app)
{
    struct app_metrics_scrape *sc = app_metrics_scrape_state(app->metrics);
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

static void ledger_read(void *arg, int err, const struct store_result *res, const char *sqlstate,
                        const char *msg)
{
    struct app *app = arg;
    (void)sqlstate;
    (void)msg;
    struct app_metrics_scrape *sc = app_metrics_scrape_state(app->metrics);
    if (!err) {
        /* a failed read counts nothing and moves nothing: the next scrape reads the same rows */
        PGresult *r = res->results[0];
        for (int i = 0; i < PQntuples(r); i++) {
            app_metrics_transitions(app->metrics, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                                    atof(PQgetvalue(r, i, 2)));
            long long seq = atoll(PQgetvalue(r, i, 3));
            if (seq > sc->ledger_seq)
                sc->ledger_seq = seq;
        }
    }
    refreshed(app);
}

static void read_ledger(struct app *app)
{
    struct app_metrics_scrape *sc = app_metrics_scrape_state(app->metrics);
    char seq[24];
    snprintf(seq, sizeof seq, "%lld", sc->ledger_seq);
    const char *p[2] = {seq, app->cfg.node_id};
    if (store_query(app->store, Q_METRICS_LEDGER, 2, p, ledger_read, app))
        refreshed(app);
}

static void db_read(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct app *app = arg;
    (void)sqlstate;
    (void)msg;
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
    read_ledger(app);
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
