/* Tenants' approval keys, opened from their sealed form in the database and kept in memory for
 * a short while so a submission costs no extra database round trip. */
#ifndef INTENTD_TENANT_KEYS_H
#define INTENTD_TENANT_KEYS_H

#include "app.h"
#include "errors.h"

#define TENANT_KEY_TTL_MS 30000

struct tenant_keys;

int tenant_keys_new(struct tenant_keys **out) IE_MUST_CHECK;
/* Wipes and frees every cached key. */
void tenant_keys_free(struct tenant_keys *tk);
/* Forgets one tenant (after a change to its keys). */
void tenant_keys_forget(struct tenant_keys *tk, const char *tenant);

/* Calls cb exactly once with the tenant's approval key (borrowed, valid during the call):
 * err 0 and key; IE_NOTFOUND (no such tenant); IE_UNAVAIL or IE_DB (store failure); IE_CRYPTO
 * (the sealed key does not open under the master key). cb may run before this returns (a
 * cached key) or later. */
typedef void (*tenant_key_cb)(void *arg, int err, const char *key, size_t keylen);
void tenant_keys_get(struct app *app, const char *tenant, tenant_key_cb cb, void *arg);

#endif
