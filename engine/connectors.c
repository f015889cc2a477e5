/* The connector configuration cache: loads a tenant's configuration of one connector through
 * the store, opens its sealed fields, and keeps it CONNECTORS_CACHE_S seconds; concurrent misses
 * for one key share a single query. See connectors.h. */
#include "connectors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "fnv.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define CACHE_BUCKETS 256
#define CACHE_MAX     4096 /* entries; past it a load is answered but not kept */
#define AAD_MAX       200

struct waiter {
    struct waiter *next;
    connectors_cb cb;
    void *arg;
};

/* One key. While a load is in flight the entry belongs to it: an invalidation then only unlinks
 * the entry (so later callers start a fresh load), and the load frees it when it ends. */
struct entry {
    struct entry *next; /* bucket chain */
    char tenant[72];
    char connector[32];
    struct connector_config *cfg; /* the cache's reference; NULL until loaded */
    uint64_t loaded_ms;
    bool loading;
    bool in_table;
    struct waiter *waiters, **wtail;
};

struct connectors {
    struct app *app;
    struct entry *buckets[CACHE_BUCKETS];
    size_t n;
};

/* --- sealing --- */

static int aad_for(const char *tenant, const char *connector, const char *field, char *aad)
{
    int n = snprintf(aad, AAD_MAX, "intentd.connector/%s/%s/%s", tenant, connector, field);
    return n > 0 && n < AAD_MAX ? n : -1;
}

int connectors_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *tenant,
                    const char *connector, const char *field, const char *plain, char **out)
{
    char aad[AAD_MAX];
    int n = aad_for(tenant, connector, field, aad);
    *out = NULL;
    if (n < 0)
        return IE_INVAL;
    return crypto_seal_text(key, aad, (size_t)n, plain, strlen(plain), out);
}

int connectors_open(const unsigned char key[CRYPTO_KEY_LEN], const char *tenant,
                    const char *connector, const char *field, const char *sealed, char **out)
{
    char aad[AAD_MAX];
    size_t len = 0;
    int n = aad_for(tenant, connector, field, aad);
    *out = NULL;
    if (n < 0)
        return IE_INVAL;
    int rc = crypto_open_text(key, aad, (size_t)n, sealed, out, &len);
    if (!rc && strlen(*out) != len) { /* only C strings are sealed here */
        crypto_free_secret(*out, len);
        *out = NULL;
        rc = IE_PARSE;
    }
    return rc;
}

/* --- configurations --- */

static void free_secret_string(char *s)
{
    if (s)
        crypto_free_secret(s, strlen(s));
}

void connector_config_ref(struct connector_config *cfg)
{
    cfg->refs++;
}

void connector_config_unref(struct connector_config *cfg)
{
    if (!cfg || --cfg->refs > 0)
        return;
    free_secret_string(cfg->base_url); /* notify's is a secret */
    free_secret_string(cfg->bearer);
    free_secret_string(cfg->client_secret);
    free_secret_string(cfg->refresh_token);
    free(cfg->token_url);
    free(cfg->client_id);
    json_decref(cfg->settings);
    crypto_cleanse(cfg, sizeof *cfg);
    free(cfg);
}

/* Opens the sealed column col of row into *out; a NULL column leaves *out NULL. */
static int open_column(const struct app *app, PGresult *r, int row, int col, const char *field,
                       char **out)
{
    *out = NULL;
    if (PQgetisnull(r, row, col))
        return 0;
    return connectors_open(app->master_key, PQgetvalue(r, row, CC_TENANT),
                           PQgetvalue(r, row, CC_CONNECTOR), field, PQgetvalue(r, row, col), out);
}

static char *dup_column(PGresult *r, int row, int col, int *rc)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    char *s = strdup(PQgetvalue(r, row, col));
    if (!s)
        *rc = IE_NOMEM;
    return s;
}

/* Builds a configuration (one reference) from a row of CONNECTOR_COLUMNS. Returns 0, IE_CRYPTO
 * (a sealed field does not open), IE_PARSE (a column is malformed), IE_NOMEM. */
static int config_from_row(const struct app *app, PGresult *r, int row,
                           struct connector_config **out)
{
    struct connector_config *cfg = calloc(1, sizeof *cfg);
    char *access = NULL;
    int rc = cfg ? 0 : IE_NOMEM;
    *out = NULL;
    if (rc)
        return rc;
    cfg->refs = 1;
    const char *tenant = PQgetvalue(r, row, CC_TENANT), *conn = PQgetvalue(r, row, CC_CONNECTOR);
    const char *auth = PQgetvalue(r, row, CC_AUTH);
    if (strlen(tenant) >= sizeof cfg->tenant_id || strlen(conn) >= sizeof cfg->connector) {
        rc = IE_PARSE;
        goto out;
    }
    snprintf(cfg->tenant_id, sizeof cfg->tenant_id, "%s", tenant);
    snprintf(cfg->connector, sizeof cfg->connector, "%s", conn);
    cfg->auth = !strcmp(auth, "bearer")   ? CONNECTOR_AUTH_BEARER
                : !strcmp(auth, "oauth2") ? CONNECTOR_AUTH_OAUTH2
                                          : CONNECTOR_AUTH_NONE;
    rc = open_column(app, r, row, CC_BASE_URL_ENC, "base_url", &cfg->base_url);
    if (!rc && !cfg->base_url)
        rc = IE_PARSE;
    if (!rc) {
        size_t n = strlen(cfg->base_url);
        while (n > 0 && cfg->base_url[n - 1] == '/')
            cfg->base_url[--n] = '\0';
    }
    if (!rc && cfg->auth == CONNECTOR_AUTH_BEARER)
        rc = open_column(app, r, row, CC_TOKEN_ENC, "token", &cfg->bearer);
    if (!rc && cfg->auth == CONNECTOR_AUTH_OAUTH2) {
        rc = open_column(app, r, row, CC_CLIENT_SECRET_ENC, "client_secret", &cfg->client_secret);
        if (!rc)
            rc = open_column(app, r, row, CC_REFRESH_TOKEN_ENC, "refresh_token",
                             &cfg->refresh_token);
        if (!rc)
            rc = open_column(app, r, row, CC_ACCESS_TOKEN_ENC, "access_token", &access);
        if (!rc) {
            cfg->bearer = access;
            access = NULL;
            cfg->token_url = dup_column(r, row, CC_TOKEN_URL, &rc);
            cfg->client_id = dup_column(r, row, CC_CLIENT_ID, &rc);
        }
        if (!rc && !PQgetisnull(r, row, CC_ACCESS_EXPIRES))
            cfg->access_expires_epoch = strtod(PQgetvalue(r, row, CC_ACCESS_EXPIRES), NULL);
    }
    if (rc)
        goto out;
    cfg->settings = json_loads(PQgetvalue(r, row, CC_SETTINGS), 0, NULL);
    json_t *limits = json_loads(PQgetvalue(r, row, CC_LIMITS), 0, NULL);
    if (!json_is_object(cfg->settings) || !json_is_object(limits)) {
        json_decref(limits);
        rc = IE_PARSE;
        goto out;
    }
    /* A member that no longer passes the bounds (they may tighten in a later version) is left
     * at its default rather than failing every call. */
    if (connector_limits_parse(limits, "/limits", &cfg->limits, NULL) == IE_NOMEM)
        rc = IE_NOMEM;
    json_decref(limits);
    connector_limits_defaults(&cfg->limits);
    cfg->version = strtoll(PQgetvalue(r, row, CC_VERSION), NULL, 10);
out:
    free_secret_string(access);
    if (rc) {
        connector_config_unref(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

/* A copy of src holding a new access token and version (for the cache after a refresh). */
static struct connector_config *config_with_token(const struct connector_config *src,
                                                  const char *token, double expires,
                                                  long long version)
{
    struct connector_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    *cfg = *src;
    cfg->refs = 1;
    cfg->base_url = strdup(src->base_url);
    cfg->bearer = strdup(token);
    cfg->token_url = src->token_url ? strdup(src->token_url) : NULL;
    cfg->client_id = src->client_id ? strdup(src->client_id) : NULL;
    cfg->client_secret = src->client_secret ? strdup(src->client_secret) : NULL;
    cfg->refresh_token = src->refresh_token ? strdup(src->refresh_token) : NULL;
    cfg->settings = json_incref(src->settings);
    cfg->access_expires_epoch = expires;
    cfg->version = version;
    if (!cfg->base_url || !cfg->bearer || (src->token_url && !cfg->token_url) ||
        (src->client_id && !cfg->client_id) || (src->client_secret && !cfg->client_secret) ||
        (src->refresh_token && !cfg->refresh_token)) {
        connector_config_unref(cfg);
        return NULL;
    }
    return cfg;
}

/* --- the cache --- */

int connectors_new(struct app *app, struct connectors **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return IE_NOMEM;
    (*out)->app = app;
    return 0;
}

static struct entry **bucket(struct connectors *c, const char *tenant, const char *connector)
{
    uint64_t h = fnv1a64(tenant) * 31 + fnv1a64(connector);
    return &c->buckets[h % CACHE_BUCKETS];
}

static struct entry *find(struct connectors *c, const char *tenant, const char *connector)
{
    for (struct entry *e = *bucket(c, tenant, connector); e; e = e->next)
        if (!strcmp(e->tenant, tenant) && !strcmp(e->connector, connector))
            return e;
    return NULL;
}

static void unlink_entry(struct connectors *c, struct entry *e)
{
    for (struct entry **pp = bucket(c, e->tenant, e->connector); *pp; pp = &(*pp)->next) {
        if (*pp == e) {
            *pp = e->next;
            e->next = NULL;
            e->in_table = false;
            c->n--;
            return;
        }
    }
}

static void entry_free(struct entry *e)
{
    while (e->waiters) {
        struct waiter *w = e->waiters;
        e->waiters = w->next;
        free(w);
    }
    connector_config_unref(e->cfg);
    free(e);
}

void connectors_free(struct connectors *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        while (c->buckets[i]) {
            struct entry *e = c->buckets[i];
            c->buckets[i] = e->next;
            entry_free(e);
        }
    }
    free(c);
}

static bool fresh(const struct connectors *c, const struct entry *e)
{
    return e->cfg && uv_now(c->app->loop) - e->loaded_ms < (uint64_t)CONNECTORS_CACHE_S * 1000;
}

/* Drops entries that are neither fresh nor loading, to make room. */
static void sweep(struct connectors *c)
{
    for (size_t i = 0; i < CACHE_BUCKETS; i++) {
        struct entry **pp = &c->buckets[i];
        while (*pp) {
            struct entry *e = *pp;
            if (!e->loading && !fresh(c, e)) {
                *pp = e->next;
                c->n--;
                entry_free(e);
            } else {
                pp = &e->next;
            }
        }
    }
}

void connectors_invalidate(struct connectors *c, const char *tenant, const char *connector)
{
    struct entry *e = find(c, tenant, connector);
    if (!e)
        return;
    unlink_entry(c, e);
    if (!e->loading) /* otherwise the load in flight frees it */
        entry_free(e);
}

struct load {
    struct connectors *c;
    struct entry *e;
};

static void loaded(void *arg, int err, const struct store_result *res, const char *sqlstate,
                   const char *msg)
{
    struct load *l = arg;
    struct connectors *c = l->c;
    struct entry *e = l->e;
    struct connector_config *cfg = NULL;
    free(l);
    if (err == IE_CANCELED)
        err = IE_UNAVAIL; /* the store is closing: to a caller that is the same */
    if (err == IE_DB)
        log_warn("loading connector %s of tenant %s: %s %s", e->connector, e->tenant,
                 sqlstate ? sqlstate : "", msg ? msg : "");
    if (!err && PQntuples(res->results[0]) != 1)
        err = IE_NOTFOUND;
    if (!err) {
        err = config_from_row(c->app, res->results[0], 0, &cfg);
        if (err)
            log_warn("connector %s of tenant %s cannot be read: %s", e->connector, e->tenant,
                     ie_strerror(err));
    }
    /* Settle the entry before any callback runs: a callback may come straight back here. */
    struct waiter *w = e->waiters;
    e->waiters = NULL;
    e->wtail = &e->waiters;
    e->loading = false;
    if (!err && e->in_table) {
        connector_config_unref(e->cfg);
        e->cfg = cfg;
        connector_config_ref(cfg);
        e->loaded_ms = uv_now(c->app->loop);
    } else {
        if (e->in_table)
            unlink_entry(c, e);
        entry_free(e);
    }
    while (w) {
        struct waiter *next = w->next;
        w->cb(w->arg, err, err ? NULL : cfg);
        free(w);
        w = next;
    }
    connector_config_unref(cfg);
}

int connectors_get(struct connectors *c, const char *tenant, const char *connector,
                   connectors_cb cb, void *arg)
{
    if (!tenant || !connector || !cb || strlen(tenant) >= sizeof(((struct entry *)0)->tenant) ||
        strlen(connector) >= sizeof(((struct entry *)0)->connector))
        return IE_INVAL;
    struct entry *e = find(c, tenant, connector);
    if (e && !e->loading && fresh(c, e)) {
        struct connector_config *cfg = e->cfg;
        connector_config_ref(cfg); /* the callback may invalidate the entry */
        cb(arg, 0, cfg);
        connector_config_unref(cfg);
        return 0;
    }
    struct waiter *w = calloc(1, sizeof *w);
    if (!w)
        return IE_NOMEM;
    w->cb = cb;
    w->arg = arg;
    if (e && e->loading) { /* a query for this key is on its way: share it */
        *e->wtail = w;
        e->wtail = &w->next;
        return 0;
    }
    bool created = !e;
    if (created) {
        if (c->n >= CACHE_MAX)
            sweep(c);
        e = calloc(1, sizeof *e);
        if (!e) {
            free(w);
            return IE_NOMEM;
        }
        snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
        snprintf(e->connector, sizeof e->connector, "%s", connector);
        e->wtail = &e->waiters;
        if (c->n < CACHE_MAX) {
            struct entry **b = bucket(c, tenant, connector);
            e->next = *b;
            *b = e;
            e->in_table = true;
            c->n++;
        }
    }
    struct load *l = malloc(sizeof *l);
    int rc = l ? 0 : IE_NOMEM;
    if (!rc) {
        l->c = c;
        l->e = e;
        const char *params[2] = {tenant, connector};
        rc = store_query(c->app->store, Q_CONNECTOR_GET, 2, params, loaded, l);
    }
    if (rc) {
        free(l);
        free(w);
        if (created) {
            if (e->in_table)
                unlink_entry(c, e);
            entry_free(e);
        }
        return rc;
    }
    e->loading = true;
    *e->wtail = w;
    e->wtail = &w->next;
    return 0;
}

/* --- storing a refreshed access token --- */

struct save {
    struct connectors *c;
    char tenant[72];
    char connector[32];
    char *token; /* secret */
    double expires;
    long long version; /* the one the refresh started from */
    void (*cb)(void *arg, int err);
    void *arg;
};

static void save_free(struct save *s)
{
    free_secret_string(s->token);
    free(s);
}

static void saved(void *arg, int err, const struct store_result *res, const char *sqlstate,
                  const char *msg)
{
    struct save *s = arg;
    struct connectors *c = s->c;
    if (err == IE_DB)
        log_warn("storing the access token of connector %s of tenant %s: %s %s", s->connector,
                 s->tenant, sqlstate ? sqlstate : "", msg ? msg : "");
    if (!err && PQgetisnull(res->results[0], 0, 0))
        err = IE_CONFLICT;
    struct entry *e = find(c, s->tenant, s->connector);
    if (!err && e && !e->loading && e->cfg && e->cfg->version == s->version) {
        long long v = strtoll(PQgetvalue(res->results[0], 0, 0), NULL, 10);
        struct connector_config *cfg = config_with_token(e->cfg, s->token, s->expires, v);
        if (cfg) {
            connector_config_unref(e->cfg);
            e->cfg = cfg;
            e->loaded_ms = uv_now(c->app->loop);
        } else {
            connectors_invalidate(c, s->tenant, s->connector);
        }
    } else if (e) {
        /* whatever the cache holds is older than the database now */
        connectors_invalidate(c, s->tenant, s->connector);
    }
    void (*cb)(void *, int) = s->cb;
    void *cb_arg = s->arg;
    save_free(s);
    if (cb)
        cb(cb_arg, err == IE_CANCELED ? IE_UNAVAIL : err);
}

int connectors_save_access_token(struct connectors *c, const struct connector_config *cfg,
                                 const char *access_token, double expires_epoch,
                                 void (*cb)(void *arg, int err), void *arg)
{
    if (!cfg || cfg->auth != CONNECTOR_AUTH_OAUTH2 || !access_token || !*access_token ||
        !(expires_epoch >= 0))
        return IE_INVAL;
    struct save *s = calloc(1, sizeof *s);
    char *sealed = NULL;
    char expires[48], version[32];
    int rc = s ? 0 : IE_NOMEM;
    if (!rc) {
        s->c = c;
        snprintf(s->tenant, sizeof s->tenant, "%s", cfg->tenant_id);
        snprintf(s->connector, sizeof s->connector, "%s", cfg->connector);
        s->expires = expires_epoch;
        s->version = cfg->version;
        s->cb = cb;
        s->arg = arg;
        s->token = strdup(access_token);
        rc = s->token ? 0 : IE_NOMEM;
    }
    if (!rc)
        rc = connectors_seal(c->app->master_key, cfg->tenant_id, cfg->connector, "access_token",
                             access_token, &sealed);
    if (!rc) {
        snprintf(expires, sizeof expires, "%.3f", expires_epoch);
        snprintf(version, sizeof version, "%lld", cfg->version);
        const char *params[5] = {cfg->tenant_id, cfg->connector, sealed, expires, version};
        rc = store_query(c->app->store, Q_CONNECTOR_SAVE_TOKEN, 5, params, saved, s);
    }
    free(sealed);
    if (rc && s)
        save_free(s);
    return rc;
}
