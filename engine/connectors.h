/* Connector configuration per tenant (PUT /v1/connectors/{connector}): base URL, credentials,
 * settings handed to the adapters, and limits. Credentials are sealed with AES-256-GCM under the
 * master key, bound to (tenant, connector), and never returned or logged. The engine reads
 * configurations through a small cache (entries live CONNECTORS_CACHE_S seconds, and a change
 * made through this node drops its entry at once, so every node sees a change within that
 * time). */
#ifndef INTENTD_CONNECTORS_H
#define INTENTD_CONNECTORS_H

#include <jansson.h>
#include <stdbool.h>

#include "connector_limits.h"
#include "crypto.h"
#include "errors.h"

#define CONNECTORS_CACHE_S 5

struct app;
struct connectors;

enum connector_auth { CONNECTOR_AUTH_NONE, CONNECTOR_AUTH_BEARER, CONNECTOR_AUTH_OAUTH2 };

/* A loaded configuration. Reference counted: the cache holds one reference, and a caller that
 * keeps it past its callback takes its own with connector_config_ref. Secrets are wiped when
 * the last reference goes. */
struct connector_config {
    int refs;
    char tenant_id[72];
    char connector[32];
    char *base_url; /* without a trailing slash */
    enum connector_auth auth;
    char *bearer;                   /* secret: what goes after "Authorization: Bearer " (the
                                       bearer token, or the current OAuth2 access token; NULL
                                       when an OAuth2 connector has none yet) */
    double access_expires_epoch;    /* OAuth2: when bearer expires (0: unknown) */
    char *token_url;                /* OAuth2 only */
    char *client_id;                /* OAuth2 only */
    char *client_secret;            /* secret, OAuth2 only */
    char *refresh_token;            /* secret, OAuth2 only */
    json_t *settings;               /* non-secret adapter settings (an object) */
    struct connector_limits limits; /* defaults filled in */
    long long version;              /* bumped by every PUT and every stored access token */
};

void connector_config_ref(struct connector_config *cfg);
void connector_config_unref(struct connector_config *cfg);

int connectors_new(struct app *app, struct connectors **out) IE_MUST_CHECK;
void connectors_free(struct connectors *c);

/* cfg is borrowed for the duration of the callback. err: 0; IE_NOTFOUND when the tenant has not
 * configured this connector; IE_UNAVAIL (database unreachable); IE_CRYPTO (the sealed secrets do
 * not open under this master key). Runs from inside connectors_get when the cache has a fresh
 * entry. */
typedef void (*connectors_cb)(void *arg, int err, struct connector_config *cfg);
int connectors_get(struct connectors *c, const char *tenant, const char *connector,
                   connectors_cb cb, void *arg) IE_MUST_CHECK;

/* Drops a cached entry (after a change, or a 401 that a refresh should follow). */
void connectors_invalidate(struct connectors *c, const char *tenant, const char *connector);

/* OAuth2 refresh, the pure halves: the form body of the token request (grant_type=
 * refresh_token with the refresh token and client credentials, form-encoded; a new string the
 * caller frees with crypto_free_secret(body, strlen(body))), and the parse of the token
 * endpoint's JSON answer (access_token, and expires_in when given: *expires_in is -1
 * otherwise; *access_token is a new string, freed likewise). Return 0, IE_INVAL, IE_PARSE or
 * IE_NOMEM. */
int connectors_oauth_form(const struct connector_config *cfg, char **body) IE_MUST_CHECK;
int connectors_oauth_parse(const char *json_body, char **access_token,
                           double *expires_in) IE_MUST_CHECK;

/* Stores a freshly refreshed access token for cfg's tenant and connector (sealed), unless the
 * configuration changed since cfg was loaded; updates the cache. cb may be NULL. */
int connectors_save_access_token(struct connectors *c, const struct connector_config *cfg,
                                 const char *access_token, double expires_epoch,
                                 void (*cb)(void *arg, int err), void *arg) IE_MUST_CHECK;

/* Fills the defaults into zero fields of lim (and a negative retry_budget, an explicit 0, into
 * 0). */
void connector_limits_defaults(struct connector_limits *lim);

/* Reads a "limits" object as PUT /v1/connectors takes it: every member optional, each within the
 * bounds connector_limits.h states, nothing else. Members given are written into lim (the others
 * are left alone; an explicit retry_budget 0 is written as -1, see connector_limits.h). Each
 * violation is appended to errors (a JSON array, may be NULL) as {"pointer", "message"}, the
 * pointer being pointer (the object's own, e.g. "/limits") plus the member. Returns 0, IE_INVAL
 * (violations), IE_NOMEM. */
int connector_limits_parse(const json_t *obj, const char *pointer, struct connector_limits *lim,
                           json_t *errors) IE_MUST_CHECK;

/* Seals one field of a tenant's connector configuration ("base_url", "token", "client_secret",
 * "refresh_token", "access_token") for its TEXT column, bound to (tenant, connector, field) so a
 * sealed value cannot be moved to another tenant, connector or column. *out is a new string the
 * caller frees with free(). Returns 0 or crypto_seal_text's errors. */
int connectors_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *tenant,
                    const char *connector, const char *field, const char *plain,
                    char **out) IE_MUST_CHECK;
/* Opens what connectors_seal sealed for the same (tenant, connector, field). *out is a new
 * string the caller frees with crypto_free_secret(*out, strlen(*out)). Returns 0, IE_PARSE,
 * IE_CRYPTO, IE_NOMEM. */
int connectors_open(const unsigned char key[CRYPTO_KEY_LEN], const char *tenant,
                    const char *connector, const char *field, const char *sealed,
                    char **out) IE_MUST_CHECK;

#endif
