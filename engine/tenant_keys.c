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
    char *key; /* secrets: wiped on free */
    size_t keylen;
    char *prev;
    size_t prevlen;
    struct crypto_hmac_key *hmac, *prev_hmac; /* key and prev made ready; may be NULL */
    int version;
    uint64_t prev_until_ms; /* loop time the previous key stops verifying */
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
    crypto_hmac_key_free(e->hmac);
    crypto_hmac_key_free(e->prev_hmac);
    crypto_free_secret(e->key, e->keylen);
    if (e->prev)
        crypto_free_secret(e->prev, e->prevlen);
    free(e);
}

void tenant_keys_free(struct tenant_keys *tk)
{
    if (!tk)
        return;
    tenant_keys_forget(tk, NULL);
    free(tk);
}

void tenant_keys_forget(struct tenant_keys *tk, const char *tenant)
{
    struct cached_key **pp = &tk->head;
    while (*pp) {
        struct cached_key *e = *pp;
        if (tenant && strcmp(e->tenant, tenant)) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        entry_free(e);
        tk->n--;
    }
}

static struct cached_key *find(struct tenant_keys *tk, const char *tenant)
{
    for (struct cached_key *e = tk->head; e; e = e->next)
        if (!strcmp(e->tenant, tenant))
            return e;
    return NULL;
}

static void answer(struct app *app, const struct cached_key *e, tenant_key_cb cb, void *arg)
{
    struct tenant_key_set ks = {
        .key = e->key, .keylen = e->keylen, .version = e->version, .hmac = e->hmac};
    if (e->prev && uv_now(app->loop) < e->prev_until_ms) {
        ks.prev = e->prev;
        ks.prevlen = e->prevlen;
        ks.prev_hmac = e->prev_hmac;
    }
    cb(arg, 0, &ks);
}

static void fetched(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct key_fetch *f = arg;
    struct app *app = f->app;
    struct cached_key *e = NULL;
    PGresult *r = err ? NULL : res->results[0];
    if (!err && PQntuples(r) != 1)
        err = IE_NOTFOUND;
    if (!err && !(e = calloc(1, sizeof *e)))
        err = IE_NOMEM;
    if (!err &&
        (crypto_open_text(app->master_key, f->tenant, strlen(f->tenant), PQgetvalue(r, 0, 0),
                          &e->key, &e->keylen) ||
         (!PQgetisnull(r, 0, 2) && crypto_open_text(app->master_key, f->tenant, strlen(f->tenant),
                                                    PQgetvalue(r, 0, 2), &e->prev, &e->prevlen))))
        err = IE_CRYPTO;
    if (err) {
        if (e)
            entry_free(e);
        f->cb(f->arg, err, NULL);
        free(f);
        return;
    }
    snprintf(e->tenant, sizeof e->tenant, "%s", f->tenant);
    /* Failing here only costs speed: verification falls back to the key bytes. */
    if (crypto_hmac_key_new(e->key, e->keylen, &e->hmac))
        e->hmac = NULL;
    if (e->prev && crypto_hmac_key_new(e->prev, e->prevlen, &e->prev_hmac))
        e->prev_hmac = NULL;
    e->version = atoi(PQgetvalue(r, 0, 1));
    e->fetched_ms = uv_now(app->loop);
    e->prev_until_ms = e->fetched_ms + (uint64_t)atoll(PQgetvalue(r, 0, 3));
    struct tenant_keys *tk = app->keys;
    tenant_keys_forget(tk, f->tenant);
    answer(app, e, f->cb, f->arg);
    if (tk->n < TENANT_KEYS_MAX) {
        e->next = tk->head;
        tk->head = e;
        tk->n++;
    } else {
        entry_free(e);
    }
    free(f);
}

static void fetch(struct app *app, const char *tenant, tenant_key_cb cb, void *arg)
{
    struct key_fetch *f = calloc(1, sizeof *f);
    if (!f) {
        cb(arg, IE_NOMEM, NULL);
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
        cb(arg, rc, NULL);
    }
}

void tenant_keys_get(struct app *app, const char *tenant, tenant_key_cb cb, void *arg)
{
    struct cached_key *e = find(app->keys, tenant);
    if (e && uv_now(app->loop) - e->fetched_ms < TENANT_KEY_TTL_MS) {
        answer(app, e, cb, arg);
        return;
    }
    fetch(app, tenant, cb, arg);
}

bool tenant_keys_refresh(struct app *app, const char *tenant, tenant_key_cb cb, void *arg)
{
    struct cached_key *e = find(app->keys, tenant);
    if (e && uv_now(app->loop) - e->fetched_ms < TENANT_KEY_REFETCH_MS)
        return false;
    fetch(app, tenant, cb, arg);
    return true;
}
