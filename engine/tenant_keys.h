/* Tenants' approval keys, opened from their sealed form in the database and kept in memory for
 * a short while so a submission costs no extra database round trip. During a rotation's overlap
 * (SPEC §6) the previous key is kept beside the current one. A node learns of a rotation from
 * the NOTIFY intentd.rotate_key sends (tenant_keys_forget), at the latest when its entry's TTL
 * runs out, and at once when a signature fails and tenant_keys_refresh re-reads the key. A
 * cached key that was rotated out is still refused: every submission names the version that
 * verified it and intentd.check_key_versions checks it in the submission's transaction. */
#ifndef INTENTD_TENANT_KEYS_H
#define INTENTD_TENANT_KEYS_H

#include <stdbool.h>

#include "app.h"
#include "errors.h"

#define TENANT_KEY_TTL_MS 30000
/* A failed signature re-reads its tenant's keys at most this often, so a stream of bad
 * signatures cannot turn into a stream of database reads. */
#define TENANT_KEY_REFETCH_MS 500

struct tenant_keys;

/* A tenant's keys as they stand (borrowed, valid during the callback only). */
struct tenant_key_set {
    const char *key; /* the current key */
    size_t keylen;
    int version;      /* its version (the previous key's is version - 1) */
    const char *prev; /* the previous key while its overlap lasts, else NULL */
    size_t prevlen;
    /* The same keys made ready for HMAC once per cache entry (NULL if that failed: then the
     * bytes above are used), so a submission does not set OpenSSL up again. */
    struct crypto_hmac_key *hmac, *prev_hmac;
};

int tenant_keys_new(struct tenant_keys **out) IE_MUST_CHECK;
/* Wipes and frees every cached key. */
void tenant_keys_free(struct tenant_keys *tk);
/* Forgets one tenant (after a change to its keys); tenant NULL forgets them all. */
void tenant_keys_forget(struct tenant_keys *tk, const char *tenant);

/* Calls cb exactly once with the tenant's keys: err 0 and ks; IE_NOTFOUND (no such tenant);
 * IE_UNAVAIL or IE_DB (store failure); IE_CRYPTO (a sealed key does not open under the master
 * key). cb may run before this returns (cached keys) or later. */
typedef void (*tenant_key_cb)(void *arg, int err, const struct tenant_key_set *ks);
void tenant_keys_get(struct app *app, const char *tenant, tenant_key_cb cb, void *arg);
/* Like tenant_keys_get but reads the database, unless the tenant's keys were read less than
 * TENANT_KEY_REFETCH_MS ago: then it returns false and cb is not called. */
bool tenant_keys_refresh(struct app *app, const char *tenant, tenant_key_cb cb, void *arg);

#endif
