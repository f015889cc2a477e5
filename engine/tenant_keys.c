/* Approval-key cache; see tenant_keys.h. */
#include "tenant_keys.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "queries.h"
#include "store.h"

#define TENANT_KEYS_MAX 4096

struct cached_key {
    struct cached_key *next;
    char tenant[72];
    char *key; /* secret: wiped on free */
    size_t keylen;
    uint64_t fetched_ms;
};

struct tenant_keys {
    struct cached_key *head;
    size_t n;
};

struct key_fetch {
    struct app *app;
    char tenant[72];
    tenant_key_cb cb;
    void *arg;
};

int tenant_keys_new(struct tenant_keys **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : IE_NOMEM;
}

static void entry_free(struct cached_key *e)
{
    crypto_free_secret(e->key, e->keylen);
    free(e);
}

void tenant_keys_free(struct tenant_keys *tk)
{
    if (!tk)
        return;
    while (tk->head) {
        struct cached_key *e = tk->head;
        tk->head = e->next;
        entry_free(e);
    }
    free(tk);
}

void tenant_keys_forget(struct tenant_keys *tk, const char *tenant)
{
    for (struct cached_key **pp = &tk->head; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->tenant, tenant)) {
            struct cached_key *e = *pp;
            *pp = e->next;
            entry_free(e);
            tk->n--;
            return;
        }
    }
}

static void fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct key_fetch *f = arg;
    struct app *app = f->app;
    if (err) {
        f->cb(f->arg, err, NULL, 0);
        free(f);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        f->cb(f->arg, IE_NOTFOUND, NULL, 0);
        free(f);
        return;
    }
    char *key = NULL;
    size_t keylen = 0;
    int rc = crypto_open_text(app->master_key, f->tenant, strlen(f->tenant), PQgetvalue(r, 0, 0),
                              &key, &keylen);
    if (rc) {
        f->cb(f->arg, IE_CRYPTO, NULL, 0);
        free(f);
        return;
    }
    struct tenant_keys *tk = app->keys;
    tenant_keys_forget(tk, f->tenant);
    struct cached_key *e = tk->n < TENANT_KEYS_MAX ? calloc(1, sizeof *e) : NULL;
    if (e) {
        snprintf(e->tenant, sizeof e->tenant, "%s", f->tenant);
        e->key = key;
        e->keylen = keylen;
        e->fetched_ms = uv_now(app->loop);
        e->next = tk->head;
        tk->head = e;
        tk->n++;
        f->cb(f->arg, 0, e->key, e->keylen);
    } else {
        f->cb(f->arg, 0, key, keylen);
        crypto_free_secret(key, keylen);
    }
    free(f);
}

void tenant_keys_get(struct app *app, const char *tenant, tenant_key_cb cb, void *arg)
{
    uint64_t now = uv_now(app->loop);
    for (struct cached_key *e = app->keys->head; e; e = e->next) {
        if (!strcmp(e->tenant, tenant) && now - e->fetched_ms < TENANT_KEY_TTL_MS) {
            cb(arg, 0, e->key, e->keylen);
            return;
        }
    }
    struct key_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        cb(arg, IE_NOMEM, NULL, 0);
        return;
    }
    f->app = app;
    snprintf(f->tenant, sizeof f->tenant, "%s", tenant);
    f->cb = cb;
    f->arg = arg;
    const char *params[1] = {tenant};
    int rc = store_query(app->store, Q_TENANT_KEY, 1, params, fetched, f);
    if (rc) {
        free(f);
        cb(arg, rc, NULL, 0);
    }
}
