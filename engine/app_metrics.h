/* The engine's metrics: the families intentd exposes at GET /metrics and the calls the engine
 * makes where things happen. Every recorder accepts a NULL struct app_metrics (a test app
 * without metrics) and runs on the loop thread. Label sets are bounded: states come from the
 * lifecycle enum, connectors from the compiled-in adapters, routes from the route table;
 * tenants and intent ids are never labels. */
#ifndef INTENTD_APP_METRICS_H
#define INTENTD_APP_METRICS_H

#include <stdbool.h>

#include "lifecycle.h"

#include "buf.h"
#include "errors.h"
#include "metrics.h"
#include "store.h"
#include "toggles.h"

struct app_metrics;

int app_metrics_new(struct app_metrics **out) IE_MUST_CHECK;
void app_metrics_free(struct app_metrics *am);

/* n lifecycle transitions from -> to that this node committed (from and to are state names;
 * anything else is ignored). They are read from the ledger rows the node wrote (api_metrics.c),
 * so claims, step outcomes, operator actions, kill switches and expiries all count. */
void app_metrics_transitions(struct app_metrics *am, const char *from, const char *to, double n);
/* The kill switches of the node's snapshot, as intentd_toggle_mode: the global switch always,
 * the others while they are not in run mode. Rebuilt at each scrape. NULL t: all run. */
void app_metrics_set_toggles(struct app_metrics *am, const struct toggles *t);
/* An attempt of a connector call ended: error is NULL when it succeeded, otherwise the ASL
 * error name ("Connector.Transient", ...); unknown: the outcome was not learnt. */
void app_metrics_attempt(struct app_metrics *am, const char *connector, const char *error,
                         bool unknown);
/* One HTTP exchange with a connector took seconds (response, timeout or connect failure). */
void app_metrics_connector_latency(struct app_metrics *am, const char *connector, double seconds);
/* One intentd.apply call (the ledger append of a batch of step outcomes) committed. */
void app_metrics_ledger_append(struct app_metrics *am, double seconds);
/* An API request was answered. route is the matched route pattern, or NULL for none. */
void app_metrics_http(struct app_metrics *am, const char *method, const char *route, int status);
/* A call was deferred without an attempt; held_by is the cause the intent shows. */
void app_metrics_deferral(struct app_metrics *am, const char *held_by);
/* A retention sweep batch moved n intents to the archive. */
void app_metrics_retention_archived(struct app_metrics *am, double n);
/* Intents this node holds a lease on right now. */
void app_metrics_leases(struct app_metrics *am, int held);

/* The database-derived gauges. by_state is indexed by enum intent_state. */
struct app_metrics_db {
    double by_state[INTENT_STATE_COUNT];
    double due_depth;      /* claimable now: due and with no live lease */
    double oldest_due_age; /* seconds since the oldest of them fell due; 0 when none */
};
void app_metrics_set_db(struct app_metrics *am, const struct app_metrics_db *db, bool ok);
void app_metrics_set_pool(struct app_metrics *am, const struct store_stats *st);

/* The scrape cache (api_metrics.c): the database gauges are refreshed at most once a second
 * and by one query at a time; scrapes arriving while it runs wait for it. */
#define APP_METRICS_WAITERS 16
struct app_metrics_scrape {
    unsigned long long db_at_ms; /* uv_now of the last refresh; 0: never */
    bool inflight;
    long long ledger_seq; /* the last ledger row looked at for the transitions counter */
    void *waiters[APP_METRICS_WAITERS];
    int nwaiters;
};
struct app_metrics_scrape *app_metrics_scrape_state(struct app_metrics *am);

/* Appends the exposition text. Returns 0, IE_TOOBIG or IE_NOMEM. */
int app_metrics_render(const struct app_metrics *am, struct buf *out) IE_MUST_CHECK;

#endif
