/* The toggle snapshot; see toggles.h. One query in flight at a time: the emergency stop's
 * write first (when asked for), then snapshot loads. A load replaces the whole snapshot, so a
 * toggle flipped back to run disappears from it. */
#include "toggles.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "log.h"
#include "queries.h"
#include "store.h"

enum toggle_scope { SCOPE_GLOBAL, SCOPE_TENANT, SCOPE_ACTION_TYPE, SCOPE_CONNECTOR, SCOPES };

static const char *const scope_names[SCOPES] = {"global", "tenant", "action_type", "connector"};

struct entry {
    enum toggle_scope scope;
    enum toggle_mode mode;
    char key[201];
    char tenant[72]; /* "*" for every tenant */
    char name[136];  /* action type or connector; "" for global and tenant scopes */
};

struct toggles {
    struct app *app;
    uv_timer_t timer;
    struct entry *entries;
    size_t n;
    bool inflight;
    bool again;         /* a refresh was asked for while a load was in flight */
    bool estop_pending; /* the emergency stop is not recorded in the database yet */
    bool stopping;
    bool timer_closed;
};

const char *toggle_mode_name(enum toggle_mode m)
{
    return m == TOGGLE_KILL ? "kill" : m == TOGGLE_PAUSE ? "pause" : "run";
}

int toggle_mode_parse(const char *s)
{
    if (!s)
        return -1;
    if (!strcmp(s, "run"))
        return TOGGLE_RUN;
    if (!strcmp(s, "pause"))
        return TOGGLE_PAUSE;
    if (!strcmp(s, "kill"))
        return TOGGLE_KILL;
    return -1;
}

static int scope_parse(const char *s)
{
    for (int i = 0; i < SCOPES; i++)
        if (!strcmp(s, scope_names[i]))
            return i;
    return -1;
}

/* Splits a stored key into its entry; false for a row the engine cannot read (written by
 * hand), which is then ignored rather than guessed at. */
static bool entry_from(struct entry *e, const char *scope, const char *key, const char *mode)
{
    int sc = scope_parse(scope), m = toggle_mode_parse(mode);
    if (sc < 0 || m < 0 || strlen(key) >= sizeof e->key)
        return false;
    memset(e, 0, sizeof *e);
    e->scope = (enum toggle_scope)sc;
    e->mode = (enum toggle_mode)m;
    snprintf(e->key, sizeof e->key, "%s", key);
    if (sc == SCOPE_GLOBAL)
        return !strcmp(key, "*");
    if (sc == SCOPE_TENANT) {
        snprintf(e->tenant, sizeof e->tenant, "%s", key);
        return strlen(key) < sizeof e->tenant;
    }
    const char *slash = strchr(key, '/');
    if (!slash || (size_t)(slash - key) >= sizeof e->tenant || strlen(slash + 1) >= sizeof e->name)
        return false;
    snprintf(e->tenant, sizeof e->tenant, "%.*s", (int)(slash - key), key);
    snprintf(e->name, sizeof e->name, "%s", slash + 1);
    return true;
}

static bool covers(const struct entry *e, const char *tenant, const char *action_type,
                   const char *connector)
{
    bool tenant_ok = !strcmp(e->tenant, "*") || !strcmp(e->tenant, tenant);
    switch (e->scope) {
    case SCOPE_GLOBAL:
        return true;
    case SCOPE_TENANT:
        return !strcmp(e->tenant, tenant);
    case SCOPE_ACTION_TYPE:
        return tenant_ok && action_type && !strcmp(e->name, action_type);
    default:
        return tenant_ok && connector && !strcmp(e->name, connector);
    }
}

bool toggles_find(const struct toggles *t, enum toggle_mode mode, const char *tenant,
                  const char *action_type, const char *connector, char *scope, size_t scope_len)
{
    if (!t)
        return false;
    for (int sc = 0; sc < SCOPES; sc++) {
        for (size_t i = 0; i < t->n; i++) {
            const struct entry *e = &t->entries[i];
            if ((int)e->scope != sc || e->mode != mode ||
                !covers(e, tenant, action_type, connector))
                continue;
            if (scope && scope_len)
                snprintf(scope, scope_len, "%s %s", scope_names[sc], e->key);
            return true;
        }
    }
    return false;
}

bool toggles_at(const struct toggles *t, size_t i, const char **scope, const char **key,
                enum toggle_mode *mode)
{
    if (!t || i >= t->n)
        return false;
    *scope = scope_names[t->entries[i].scope];
    *key = t->entries[i].key;
    *mode = t->entries[i].mode;
    return true;
}

static void kick(struct toggles *t);

/* Every callback ends here: when stopping, the last one out frees. */
static void settle(struct toggles *t)
{
    t->inflight = false;
    if (t->stopping) {
        if (t->timer_closed) {
            free(t->entries);
            free(t);
        }
        return;
    }
    if (t->again) {
        t->again = false;
        kick(t);
    }
}

static void loaded(void *arg, int err, const struct store_result *res, const char *sqlstate,
                   const char *msg)
{
    struct toggles *t = arg;
    if (err) {
        if (err != IE_CANCELED && !t->stopping)
            log_warn("loading the kill switches failed: %s %s (the last snapshot stays)",
                     sqlstate ? sqlstate : "", msg ? msg : ie_strerror(err));
        settle(t);
        return;
    }
    PGresult *r = res->results[0];
    int rows = PQntuples(r);
    if (rows > TOGGLES_MAX) {
        log_error("more than %d kill switches are set; only the first %d are obeyed", TOGGLES_MAX,
                  TOGGLES_MAX);
        rows = TOGGLES_MAX;
    }
    struct entry *next = rows ? calloc((size_t)rows, sizeof *next) : NULL;
    if (rows && !next) {
        log_warn("out of memory loading the kill switches (the last snapshot stays)");
        settle(t);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < rows; i++) {
        if (entry_from(&next[n], PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2)))
            n++;
        else
            log_warn("ignoring a malformed kill switch row (%s %s)", PQgetvalue(r, i, 0),
                     PQgetvalue(r, i, 1));
    }
    free(t->entries);
    t->entries = next;
    t->n = n;
    settle(t);
}

static void estop_recorded(void *arg, int err, const struct store_result *res, const char *sqlstate,
                           const char *msg)
{
    struct toggles *t = arg;
    if (err) {
        if (err != IE_CANCELED && !t->stopping)
            log_warn("recording the emergency stop failed: %s %s; retrying (this node stays "
                     "paused)",
                     sqlstate ? sqlstate : "", msg ? msg : ie_strerror(err));
    } else {
        t->estop_pending = false;
        log_warn("INTENTD_EMERGENCY_STOP: the global kill switch is set to pause");
        t->again = true; /* load the snapshot the write produced */
    }
    settle(t);
}

static void kick(struct toggles *t)
{
    if (t->stopping)
        return;
    if (t->inflight) {
        t->again = true;
        return;
    }
    int rc;
    if (t->estop_pending) {
        struct config *c = &t->app->cfg;
        char actor[160], window[16];
        snprintf(actor, sizeof actor, "node:%s", c->node_id);
        snprintf(window, sizeof window, "%d", c->resume_window_ms);
        const char *p[8] = {"global", "*",        "pause", "INTENTD_EMERGENCY_STOP=1 at start-up",
                            actor,    c->node_id, window,  "{}"};
        rc = store_query(t->app->store, Q_TOGGLE_SET, 8, p, estop_recorded, t);
    } else {
        rc = store_query(t->app->store, Q_TOGGLES_SNAPSHOT, 0, NULL, loaded, t);
    }
    if (rc == 0)
        t->inflight = true;
}

static void tick(uv_timer_t *h)
{
    kick(h->data);
}

void toggles_refresh(struct toggles *t)
{
    if (t)
        kick(t);
}

int toggles_start(struct app *app, struct toggles **out)
{
    struct toggles *t = calloc(1, sizeof *t);
    if (!t)
        return IE_NOMEM;
    t->app = app;
    if (app->cfg.emergency_stop) {
        /* obeyed from the first claim, before the database has answered */
        t->entries = calloc(1, sizeof *t->entries);
        if (!t->entries) {
            free(t);
            return IE_NOMEM;
        }
        if (!entry_from(&t->entries[0], "global", "*", "pause")) {
            free(t->entries);
            free(t);
            return IE_INVAL;
        }
        t->n = 1;
        t->estop_pending = true;
    }
    uv_timer_init(app->loop, &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, tick, TOGGLES_POLL_MS, TOGGLES_POLL_MS);
    kick(t);
    *out = t;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    struct toggles *t = h->data;
    t->timer_closed = true;
    if (!t->inflight) {
        free(t->entries);
        free(t);
    }
}

void toggles_stop(struct toggles *t)
{
    if (!t)
        return;
    t->stopping = true;
    uv_timer_stop(&t->timer);
    uv_close((uv_handle_t *)&t->timer, timer_closed);
}
