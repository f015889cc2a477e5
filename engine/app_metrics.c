/* The engine's metric families and recorders; see app_metrics.h. */
#include "app_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct app_metrics {
    struct metrics *reg;
    struct metrics_family *intents, *transitions, *attempts, *connector_latency, *due_depth,
        *due_oldest, *leases, *ledger_append, *pool_conns, *pool_queued, *pool_jobs, *group_txns,
        *group_stmts, *group_fallbacks, *http, *deferrals, *db_up, *toggle_mode,
        *retention_archived;
    struct store_stats last_pool; /* the store's totals at the last scrape (for deltas) */
    struct app_metrics_scrape scrape;
};

/* Connector requests run from a few milliseconds to their timeout (at most tens of seconds). */
static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10,  30};
/* One apply call is a single round trip with a group commit: sub-millisecond to a few seconds
 * when the database is loaded. */
static const double apply_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                       0.05,   0.1,   0.25,   0.5,   1,    2.5};

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

static struct metrics_family *add(struct app_metrics *am, bool *ok, const char *name,
                                  const char *help, enum metrics_type type,
                                  const char *const *labels, int nlabels, const double *buckets,
                                  int nbuckets)
{
    struct metrics_family *f =
        metrics_add(am->reg, name, help, type, labels, nlabels, buckets, nbuckets);
    if (!f)
        *ok = false;
    return f;
}

int app_metrics_new(struct app_metrics **out)
{
    struct app_metrics *am = calloc(1, sizeof *am);
    if (!am || metrics_new(&am->reg)) {
        free(am);
        return IE_NOMEM;
    }
    static const char *const state[] = {"state"};
    static const char *const from_to[] = {"from", "to"};
    static const char *const conn_outcome[] = {"connector", "outcome"};
    static const char *const conn[] = {"connector"};
    static const char *const conn_state[] = {"state"};
    static const char *const result[] = {"result"};
    static const char *const http[] = {"method", "route", "status"};
    static const char *const cause[] = {"cause"};
    static const char *const toggle[] = {"scope", "key", "mode"};
    bool ok = true;
    am->intents = add(am, &ok, "intentd_intents",
                      "Intents in the intents table by lifecycle state, all tenants (from the "
                      "database, refreshed at most once a second).",
                      METRICS_GAUGE, state, 1, NULL, 0);
    am->transitions = add(am, &ok, "intentd_intent_transitions_total",
                          "Lifecycle transitions this node committed: claims, step outcomes, "
                          "operator actions, kill switches and expiries (from the ledger rows "
                          "it wrote, brought up to date at each scrape).",
                          METRICS_COUNTER, from_to, 2, NULL, 0);
    am->attempts = add(am, &ok, "intentd_connector_attempts_total",
                       "Attempts of connector calls by outcome class (succeeded, transient, "
                       "rate_limited, unauthorized, permanent, unknown).",
                       METRICS_COUNTER, conn_outcome, 2, NULL, 0);
    am->connector_latency =
        add(am, &ok, "intentd_connector_request_duration_seconds",
            "Duration of HTTP exchanges with connectors, until a response, a timeout or a "
            "connection failure.",
            METRICS_HISTOGRAM, conn, 1, latency_buckets, NB(latency_buckets));
    am->due_depth = add(am, &ok, "intentd_due_queue_depth",
                        "Non-terminal intents that are due and not leased (from the database).",
                        METRICS_GAUGE, NULL, 0, NULL, 0);
    am->due_oldest = add(am, &ok, "intentd_due_queue_oldest_age_seconds",
                         "Seconds since the longest-waiting claimable intent fell due; 0 when "
                         "none is waiting (from the database).",
                         METRICS_GAUGE, NULL, 0, NULL, 0);
    am->leases = add(am, &ok, "intentd_leases_held", "Intents this node holds a lease on.",
                     METRICS_GAUGE, NULL, 0, NULL, 0);
    am->ledger_append = add(am, &ok, "intentd_ledger_append_duration_seconds",
                            "Duration of the intentd.apply calls that commit batches of step "
                            "outcomes and their ledger rows.",
                            METRICS_HISTOGRAM, NULL, 0, apply_buckets, NB(apply_buckets));
    am->pool_conns = add(am, &ok, "intentd_db_pool_connections",
                         "Database pool connections: up (connected) and busy (running a job).",
                         METRICS_GAUGE, conn_state, 1, NULL, 0);
    am->pool_queued =
        add(am, &ok, "intentd_db_pool_queued_jobs", "Database jobs waiting for a pool connection.",
            METRICS_GAUGE, NULL, 0, NULL, 0);
    am->pool_jobs = add(am, &ok, "intentd_db_jobs_total",
                        "Database jobs (transactions and queries) finished, by result.",
                        METRICS_COUNTER, result, 1, NULL, 0);
    /* statements / transactions is the mean group size: what INTENTD_DB_GROUP_INFLIGHT tunes */
    am->group_txns = add(am, &ok, "intentd_db_group_transactions_total",
                         "Group-commit transactions sent: each carries the statements that "
                         "submissions, claims and step outcomes gathered meanwhile.",
                         METRICS_COUNTER, NULL, 0, NULL, 0);
    am->group_stmts =
        add(am, &ok, "intentd_db_group_statements_total",
            "Statements the group-commit transactions carried.", METRICS_COUNTER, NULL, 0, NULL, 0);
    am->group_fallbacks =
        add(am, &ok, "intentd_db_group_fallbacks_total",
            "Group-commit transactions that failed and whose statements were run again apart, "
            "each in a transaction of its own.",
            METRICS_COUNTER, NULL, 0, NULL, 0);
    am->http = add(am, &ok, "intentd_http_requests_total",
                   "API requests answered, by method, route pattern (\"*\" stands for a path "
                   "parameter; \"unmatched\" when no route matched) and status.",
                   METRICS_COUNTER, http, 3, NULL, 0);
    am->deferrals = add(am, &ok, "intentd_deferrals_total",
                        "Connector calls deferred without an attempt, by cause (the held_by "
                        "an intent shows).",
                        METRICS_COUNTER, cause, 1, NULL, 0);
    am->db_up = add(am, &ok, "intentd_database_stats_up",
                    "1 when the last refresh of the database-derived gauges succeeded.",
                    METRICS_GAUGE, NULL, 0, NULL, 0);
    am->toggle_mode = add(am, &ok, "intentd_toggle_mode",
                          "Kill switches: 1 for the mode each is in, 0 for the other modes. The "
                          "global switch always; other scopes while not in run mode (this "
                          "node's snapshot).",
                          METRICS_GAUGE, toggle, 3, NULL, 0);
    am->retention_archived =
        add(am, &ok, "intentd_retention_archived_total",
            "Terminal intents this node's retention sweeps moved from intentd.intents to "
            "intentd.intents_archive.",
            METRICS_COUNTER, NULL, 0, NULL, 0);
    if (!ok) {
        app_metrics_free(am);
        return IE_NOMEM;
    }
    /* the fixed series exist from the start, so a scrape never misses a state */
    struct app_metrics_db zero = {{0}, 0, 0};
    app_metrics_set_db(am, &zero, true);
    metrics_set(am->db_up, NULL, 0);
    app_metrics_set_toggles(am, NULL);
    metrics_inc(am->retention_archived, NULL, 0);
    metrics_inc(am->group_txns, NULL, 0);
    metrics_inc(am->group_stmts, NULL, 0);
    metrics_inc(am->group_fallbacks, NULL, 0);
    *out = am;
    return 0;
}

void app_metrics_free(struct app_metrics *am)
{
    if (!am)
        return;
    metrics_free(am->reg);
    free(am);
}

struct app_metrics_scrape *app_metrics_scrape_state(struct app_metrics *am)
{
    return &am->scrape;
}

void app_metrics_transitions(struct app_metrics *am, const char *from, const char *to, double n)
{
    enum intent_state a, b;
    if (!am || !from || !to || lifecycle_state_from_name(from, &a) ||
        lifecycle_state_from_name(to, &b))
        return;
    const char *v[] = {lifecycle_state_name(a), lifecycle_state_name(b)};
    metrics_inc(am->transitions, v, n);
}

/* One series per mode, the one it is in at 1 (the Prometheus way to expose an enum). */
static void set_modes(struct app_metrics *am, const char *scope, const char *key,
                      enum toggle_mode mode)
{
    for (int m = TOGGLE_RUN; m <= TOGGLE_KILL; m++) {
        const char *v[] = {scope, key, toggle_mode_name((enum toggle_mode)m)};
        metrics_set(am->toggle_mode, v, m == (int)mode ? 1 : 0);
    }
}

void app_metrics_set_toggles(struct app_metrics *am, const struct toggles *t)
{
    if (!am)
        return;
    /* a switch back in run mode leaves the snapshot, and its series with it */
    metrics_clear(am->toggle_mode);
    const char *scope, *key;
    enum toggle_mode mode, global = TOGGLE_RUN;
    for (size_t i = 0; toggles_at(t, i, &scope, &key, &mode); i++)
        if (!strcmp(scope, "global"))
            global = mode;
    set_modes(am, "global", "*", global);
    for (size_t i = 0; toggles_at(t, i, &scope, &key, &mode); i++)
        if (strcmp(scope, "global"))
            set_modes(am, scope, key, mode);
}

static const char *outcome_class(const char *error, bool unknown)
{
    if (unknown)
        return "unknown";
    if (!error)
        return "succeeded";
    if (!strcmp(error, "Connector.RateLimited"))
        return "rate_limited";
    if (!strcmp(error, "Connector.Unauthorized"))
        return "unauthorized";
    if (!strcmp(error, "Connector.Permanent"))
        return "permanent";
    return "transient";
}

void app_metrics_attempt(struct app_metrics *am, const char *connector, const char *error,
                         bool unknown)
{
    if (!am)
        return;
    const char *v[] = {connector, outcome_class(error, unknown)};
    metrics_inc(am->attempts, v, 1);
}

void app_metrics_connector_latency(struct app_metrics *am, const char *connector, double seconds)
{
    if (!am)
        return;
    const char *v[] = {connector};
    metrics_observe(am->connector_latency, v, seconds);
}

void app_metrics_ledger_append(struct app_metrics *am, double seconds)
{
    if (am)
        metrics_observe(am->ledger_append, NULL, seconds);
}

void app_metrics_http(struct app_metrics *am, const char *method, const char *route, int status)
{
    if (!am)
        return;
    char st[8];
    snprintf(st, sizeof st, "%d", status >= 100 && status <= 599 ? status : 0);
    const char *v[] = {method ? method : "", route ? route : "unmatched", st};
    metrics_inc(am->http, v, 1);
}

void app_metrics_retention_archived(struct app_metrics *am, double n)
{
    if (am && n > 0)
        metrics_inc(am->retention_archived, NULL, n);
}

void app_metrics_deferral(struct app_metrics *am, const char *held_by)
{
    if (!am || !held_by)
        return;
    /* held_by is prose for people ("node stopping"); the label is its snake_case form */
    char cause[METRICS_MAX_VALUE_LEN + 1];
    size_t n = 0;
    for (const char *p = held_by; *p && n < sizeof cause - 1; p++) {
        char c = *p;
        cause[n++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ? c
                     : (c >= 'A' && c <= 'Z')                         ? (char)(c - 'A' + 'a')
                                                                      : '_';
    }
    cause[n] = '\0';
    const char *v[] = {cause};
    metrics_inc(am->deferrals, v, 1);
}

void app_metrics_leases(struct app_metrics *am, int held)
{
    if (am)
        metrics_set(am->leases, NULL, held);
}

void app_metrics_set_db(struct app_metrics *am, const struct app_metrics_db *db, bool ok)
{
    if (!am)
        return;
    metrics_set(am->db_up, NULL, ok ? 1 : 0);
    if (!ok)
        return; /* keep the last values read */
    for (int s = 0; s < INTENT_STATE_COUNT; s++) {
        const char *v[] = {lifecycle_state_name((enum intent_state)s)};
        metrics_set(am->intents, v, db->by_state[s]);
    }
    metrics_set(am->due_depth, NULL, db->due_depth);
    metrics_set(am->due_oldest, NULL, db->oldest_due_age);
}

void app_metrics_set_pool(struct app_metrics *am, const struct store_stats *st)
{
    if (!am)
        return;
    static const char *const up[] = {"up"}, *const busy[] = {"busy"};
    static const char *const done[] = {"done"}, *const failed[] = {"failed"};
    metrics_set(am->pool_conns, up, st->connections_up);
    metrics_set(am->pool_conns, busy, st->connections_busy);
    metrics_set(am->pool_queued, NULL, st->jobs_queued);
    /* the store keeps totals; the counters take what was added since the last scrape */
    metrics_inc(am->pool_jobs, done, (double)(st->jobs_done - am->last_pool.jobs_done));
    metrics_inc(am->pool_jobs, failed, (double)(st->jobs_failed - am->last_pool.jobs_failed));
    metrics_inc(am->group_txns, NULL, (double)(st->group_txns - am->last_pool.group_txns));
    metrics_inc(am->group_stmts, NULL, (double)(st->group_members - am->last_pool.group_members));
    metrics_inc(am->group_fallbacks, NULL,
                (double)(st->group_fallbacks - am->last_pool.group_fallbacks));
    am->last_pool = *st;
}

int app_metrics_render(const struct app_metrics *am, struct buf *out)
{
    return metrics_render(am->reg, out);
}
