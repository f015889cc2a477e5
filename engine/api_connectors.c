/* Connector configuration services: PUT, GET and DELETE /v1/connectors/{connector} and GET
 * /v1/connectors. Secrets are sealed before they leave this file (connectors_seal) and answers
 * only ever show them as "[redacted]" with a flag saying whether each one is set. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "json_errors.h"
#include "connectors.h"
#include "crypto.h"
#include "log.h"
#include "queries.h"
#include "store.h"

#define URL_MAX       2048
#define SECRET_MAX    4096
#define CLIENT_ID_MAX 512
#define SETTINGS_MAX  (16 * 1024) /* bytes of the settings as compact JSON */
#define REDACTED      "[redacted]"

static const char *const connector_names[] = {"crm", "calendar", "email", "notify", "webhook"};

static bool known_connector(const char *s)
{
    for (size_t i = 0; i < sizeof connector_names / sizeof connector_names[0]; i++)
        if (!strcmp(s, connector_names[i]))
            return true;
    return false;
}

/* --- validation --- */

/* Reports every member of obj not named in allowed (NULL-terminated). */
static void unknown_members(json_t *obj, const char *base, const char *const *allowed,
                            json_t *errors)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(*a, key);
        if (!ok)
            json_errors_add(errors, base, key, "unknown member");
    }
}

const char *api_url_problem(const char *s, bool allow_query)
{
    size_t len = strlen(s);
    if (len == 0 || len > URL_MAX)
        return "must be an http or https URL of at most 2048 characters";
    const char *p;
    if (!strncasecmp(s, "https://", 8))
        p = s + 8;
    else if (!strncasecmp(s, "http://", 7))
        p = s + 7;
    else
        return "must start with http:// or https://";
    size_t alen = strcspn(p, "/?#");
    if (memchr(p, '@', alen))
        return "must not carry user information (user:password@)";
    const char *h = p, *end = p + alen;
    if (*h == '[') {
        const char *close = memchr(h, ']', alen);
        if (!close || close == h + 1)
            return "has a malformed IPv6 host";
        for (const char *q = h + 1; q < close; q++)
            if (!strchr("0123456789abcdefABCDEF:.", *q))
                return "has a malformed IPv6 host";
        h = close + 1;
    } else {
        const char *q = h;
        while (q < end && (strchr("-.", *q) || (*q >= '0' && *q <= '9') ||
                           (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
            q++;
        if (q == h)
            return "must name a host";
        h = q;
    }
    if (h < end) {
        if (*h != ':' || h + 1 == end || end - h > 6)
            return "has a malformed host or port";
        long port = 0;
        for (const char *q = h + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return "has a malformed port";
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return "has a port outside 1-65535";
    }
    for (const char *q = end; *q; q++) {
        if (*q == '#' || (*q == '?' && !allow_query))
            return allow_query ? "must not have a fragment"
                               : "must not have a query or fragment (request paths are appended "
                                 "to it)";
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f || strchr("\"<>\\^`{|}", *q))
            return "may hold only visible ASCII characters allowed in a URL (percent-encode "
                   "others)";
    }
    return NULL;
}

/* A secret or identifier: 1..max bytes, no control characters (it may end up in a header or
 * a form). */
static const char *text_problem(json_t *v, size_t max, const char *what)
{
    static char msg[128];
    if (!json_is_string(v)) {
        snprintf(msg, sizeof msg, "%s must be a string", what);
        return msg;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > max) {
        snprintf(msg, sizeof msg, "%s must be 1 to %zu characters", what, max);
        return msg;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(msg, sizeof msg, "%s must not hold control characters", what);
            return msg;
        }
    }
    return NULL;
}

/* What a valid PUT body says; strings point into the document. */
struct put_input {
    const char *base_url;
    const char *auth_kind;
    const char *token, *client_secret, *refresh_token, *token_url, *client_id;
    json_t *settings, *limits;
};

/* Checks one required string member of auth; returns it or NULL after recording why. */
static const char *auth_text(json_t *auth, const char *name, size_t max, json_t *errors)
{
    json_t *v = json_object_get(auth, name);
    const char *why = v ? text_problem(v, max, name) : NULL;
    if (!v)
        json_errors_add(errors, "/auth", name, "is required for this auth type");
    else if (why)
        json_errors_add(errors, "/auth", name, why);
    return v && !why ? json_string_value(v) : NULL;
}

static void check_auth(json_t *auth, struct put_input *in, json_t *errors)
{
    static const char *const none_m[] = {"type", NULL};
    static const char *const bearer_m[] = {"type", "token", NULL};
    static const char *const oauth_m[] = {"type",          "token_url",     "client_id",
                                          "client_secret", "refresh_token", NULL};
    if (!json_is_object(auth)) {
        json_errors_add(errors, auth ? "/auth" : "", auth ? NULL : "auth",
                        auth ? "auth must be an object" : "auth is required");
        return;
    }
    const char *type = json_string_value(json_object_get(auth, "type"));
    if (type && !strcmp(type, "none")) {
        unknown_members(auth, "/auth", none_m, errors);
    } else if (type && !strcmp(type, "bearer")) {
        unknown_members(auth, "/auth", bearer_m, errors);
        in->token = auth_text(auth, "token", SECRET_MAX, errors);
        if (in->token && strchr(in->token, ' '))
            json_errors_add(errors, "/auth", "token", "token must not hold spaces");
    } else if (type && !strcmp(type, "oauth2")) {
        unknown_members(auth, "/auth", oauth_m, errors);
        json_t *u = json_object_get(auth, "token_url");
        const char *why = json_is_string(u) ? api_url_problem(json_string_value(u), false)
                                            : "token_url must be a string";
        if (!u)
            json_errors_add(errors, "/auth", "token_url", "is required for this auth type");
        else if (why)
            json_errors_add(errors, "/auth", "token_url", why);
        else
            in->token_url = json_string_value(u);
        in->client_id = auth_text(auth, "client_id", CLIENT_ID_MAX, errors);
        in->client_secret = auth_text(auth, "client_secret", SECRET_MAX, errors);
        in->refresh_token = auth_text(auth, "refresh_token", SECRET_MAX, errors);
    } else {
        json_errors_add(errors, "/auth", "type", "type must be none, bearer or oauth2");
        return;
    }
    in->auth_kind = type;
}

/* Validates the whole body, appending every violation to errors. */
static void check_body(json_t *doc, struct put_input *in, json_t *errors)
{
    static const char *const top[] = {"tenant_id", "base_url", "auth", "settings", "limits", NULL};
    unknown_members(doc, "", top, errors);
    json_t *u = json_object_get(doc, "base_url");
    const char *why = !u                  ? "base_url is required"
                      : json_is_string(u) ? api_url_problem(json_string_value(u), false)
                                          : "base_url must be a string";
    if (why)
        json_errors_add(errors, u ? "/base_url" : "", u ? NULL : "base_url", why);
    else
        in->base_url = json_string_value(u);
    check_auth(json_object_get(doc, "auth"), in, errors);
    in->settings = json_object_get(doc, "settings");
    if (in->settings && !json_is_object(in->settings)) {
        json_errors_add(errors, "/settings", NULL, "settings must be an object");
    } else if (in->settings) {
        char *text = json_dumps(in->settings, JSON_COMPACT);
        if (!text || strlen(text) > SETTINGS_MAX)
            json_errors_add(errors, "/settings", NULL,
                            "settings must be at most 16384 bytes as JSON");
        free(text);
    }
    in->limits = json_object_get(doc, "limits");
    struct connector_limits lim = {0};
    if (in->limits && connector_limits_parse(in->limits, "/limits", &lim, errors) == IE_NOMEM)
        json_errors_add(errors, "/limits", NULL, "out of memory");
}

/* --- which tenant --- */

/* The tenant a request acts on: the token's own, or for a global admin the one it names (NULL
 * when it names none). A tenant token naming another tenant sees nothing, as for intents. */
static int pick_tenant(struct api_req *req, const char *named, const char **tenant)
{
    if (req->tenant[0]) {
        *tenant = req->tenant;
        return named && strcmp(named, req->tenant) ? IE_NOTFOUND : 0;
    }
    *tenant = named;
    return 0;
}

/* --- the redacted view --- */

/* base_url as shown: notify's is a secret (a Slack webhook URL), so only its scheme and host. */
static json_t *shown_url(const char *connector, const char *url)
{
    if (strcmp(connector, "notify"))
        return json_string(url);
    const char *p = strstr(url, "://");
    size_t n = p ? (size_t)(p + 3 - url) + strcspn(p + 3, "/") : 0;
    return json_sprintf("%.*s/" REDACTED, (int)n, url);
}

static json_t *secret_field(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(REDACTED);
}

static json_t *auth_view(PGresult *r, int row)
{
    const char *kind = PQgetvalue(r, row, CC_AUTH);
    if (!strcmp(kind, "bearer"))
        return json_pack("{s:s, s:o, s:{s:b}}", "type", kind, "token",
                         secret_field(r, row, CC_TOKEN_ENC), "set", "token",
                         !PQgetisnull(r, row, CC_TOKEN_ENC));
    if (!strcmp(kind, "oauth2")) {
        json_t *a = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:{s:b, s:b, s:b}}", "type", kind,
                              "token_url", PQgetvalue(r, row, CC_TOKEN_URL), "client_id",
                              PQgetvalue(r, row, CC_CLIENT_ID), "client_secret",
                              secret_field(r, row, CC_CLIENT_SECRET_ENC), "refresh_token",
                              secret_field(r, row, CC_REFRESH_TOKEN_ENC), "access_token",
                              secret_field(r, row, CC_ACCESS_TOKEN_ENC), "set", "client_secret",
                              !PQgetisnull(r, row, CC_CLIENT_SECRET_ENC), "refresh_token",
                              !PQgetisnull(r, row, CC_REFRESH_TOKEN_ENC), "access_token",
                              !PQgetisnull(r, row, CC_ACCESS_TOKEN_ENC));
        if (a && !PQgetisnull(r, row, CC_ACCESS_EXPIRES))
            json_object_set_new(
                a, "access_expires_at_epoch",
                json_integer((json_int_t)strtod(PQgetvalue(r, row, CC_ACCESS_EXPIRES), NULL)));
        return a;
    }
    return json_pack("{s:s}", "type", kind);
}

/* One row of CONNECTOR_COLUMNS as the API shows it. */
static json_t *row_view(const struct app *app, PGresult *r, int row)
{
    const char *tenant = PQgetvalue(r, row, CC_TENANT);
    const char *connector = PQgetvalue(r, row, CC_CONNECTOR);
    char *url = NULL;
    int rc = connectors_open(app->master_key, tenant, connector, "base_url",
                             PQgetvalue(r, row, CC_BASE_URL_ENC), &url);
    json_t *settings = json_loads(PQgetvalue(r, row, CC_SETTINGS), 0, NULL);
    json_t *configured = json_loads(PQgetvalue(r, row, CC_LIMITS), 0, NULL);
    struct connector_limits lim = {0};
    if (connector_limits_parse(configured, "/limits", &lim, NULL) == IE_NOMEM)
        rc = rc ? rc : IE_NOMEM;
    json_decref(configured);
    connector_limits_defaults(&lim);
    json_t *v = json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:{s:i, s:f, s:i, s:i, s:i, s:f, s:i}, s:I, s:s, s:s}",
        "tenant_id", tenant, "connector", connector, "base_url",
        url ? shown_url(connector, url) : json_null(), "auth", auth_view(r, row), "settings",
        settings ? settings : json_object(), "limits", "concurrency", lim.concurrency,
        "rate_per_second", lim.rate_per_second, "burst", lim.burst, "breaker_failures",
        lim.breaker_failures, "breaker_open_seconds", lim.breaker_open_seconds, "retry_budget",
        lim.retry_budget, "timeout_seconds", lim.timeout_seconds, "version",
        (json_int_t)strtoll(PQgetvalue(r, row, CC_VERSION), NULL, 10), "updated_at",
        PQgetvalue(r, row, CC_UPDATED_AT), "updated_by", PQgetvalue(r, row, CC_UPDATED_BY));
    if (url)
        crypto_free_secret(url, strlen(url));
    if (v && rc)
        json_object_set_new(v, "problem",
                            json_string("the sealed fields do not open under this node's master "
                                        "key: the engine cannot use this configuration"));
    return v;
}

/* --- PUT --- */

struct put_ctx {
    char tenant[72];
    char connector[32];
    char auth[16];
};

static void put_done(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct api_req *req = arg;
    struct put_ctx *c = req->svc;
    req->svc = NULL;
    if (err) {
        free(c);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        free(c);
        api_reply_problem(req, 404, "not-found", "no such tenant");
        return;
    }
    /* Before answering, so the caller's next request on this node sees the change. */
    connectors_invalidate(req->app->connectors, c->tenant, c->connector);
    log_ctx(LOG_INFO, req->request_id, NULL, "connector %s of tenant %s configured by %s (auth %s)",
            c->connector, c->tenant, req->actor, c->auth);
    free(c);
    json_t *view = row_view(req->app, r, 0);
    if (!view)
        api_reply_problem(req, 500, "internal", "out of memory");
    else
        api_reply_json(req, 200, view, NULL);
}

/* Seals the secrets of in and sends the upsert. Returns 0 (put_done will answer) or an error
 * (nothing was sent). */
static int send_put(struct api_req *req, const char *tenant, const struct put_input *in)
{
    const unsigned char *key = req->app->master_key;
    const char *connector = req->params[0];
    char *base = NULL, *token = NULL, *secret = NULL, *refresh = NULL, *settings = NULL,
         *limits = NULL;
    struct put_ctx *c = calloc(1, sizeof *c);
    int rc = c ? 0 : IE_NOMEM;
    if (!rc)
        rc = connectors_seal(key, tenant, connector, "base_url", in->base_url, &base);
    if (!rc && in->token)
        rc = connectors_seal(key, tenant, connector, "token", in->token, &token);
    if (!rc && in->client_secret)
        rc = connectors_seal(key, tenant, connector, "client_secret", in->client_secret, &secret);
    if (!rc && in->refresh_token)
        rc = connectors_seal(key, tenant, connector, "refresh_token", in->refresh_token, &refresh);
    if (!rc) {
        settings = in->settings ? json_dumps(in->settings, JSON_COMPACT) : strdup("{}");
        limits = in->limits ? json_dumps(in->limits, JSON_COMPACT) : strdup("{}");
        rc = settings && limits ? 0 : IE_NOMEM;
    }
    if (!rc) {
        snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
        snprintf(c->connector, sizeof c->connector, "%s", connector);
        snprintf(c->auth, sizeof c->auth, "%s", in->auth_kind);
        const char *p[13] = {tenant,
                             connector,
                             base,
                             in->auth_kind,
                             token,
                             secret,
                             refresh,
                             in->token_url,
                             in->client_id,
                             settings,
                             limits,
                             req->actor,
                             req->app->cfg.node_id};
        req->svc = c;
        rc = store_query(req->app->store, Q_CONNECTOR_PUT, 13, p, put_done, req);
        if (rc)
            req->svc = NULL;
    }
    if (rc)
        free(c);
    free(base);
    free(token);
    free(secret);
    free(refresh);
    free(settings);
    free(limits);
    return rc;
}

void svc_put_connector(struct api_req *req)
{
    const char *connector = req->params[0];
    if (!known_connector(connector)) {
        api_reply_problem(req, 404, "not-found", "no such connector");
        return;
    }
    json_t *doc = api_read_json_object(req);
    if (!doc)
        return;
    json_t *errors = json_array();
    struct put_input in = {0};
    json_t *tid = json_object_get(doc, "tenant_id");
    if (tid && !api_valid_tenant_id(json_string_value(tid)))
        json_errors_add(errors, "/tenant_id", NULL, "tenant_id must be 1-64 of [A-Za-z0-9._-]");
    else if (!tid && !req->tenant[0])
        json_errors_add(errors, "", "tenant_id", "tenant_id is required with a global admin token");
    check_body(doc, &in, errors);
    const char *tenant = NULL;
    int rc = json_array_size(errors) ? 0 : pick_tenant(req, json_string_value(tid), &tenant);
    if (!errors) {
        api_reply_problem(req, 500, "internal", "out of memory");
    } else if (json_array_size(errors)) {
        api_reply_problem_errors(req, 400, "invalid-request", json_incref(errors),
                                 "the connector configuration is not valid");
    } else if (rc) {
        api_reply_problem(req, 404, "not-found", "no such tenant");
    } else if ((rc = send_put(req, tenant, &in))) {
        api_reply_store_error(req, rc, NULL, NULL);
    }
    json_decref(errors);
    json_decref(doc);
}

/* --- GET and DELETE --- */

/* The tenant named by ?tenant_id=; replies and returns -1 when it is malformed or invisible. */
static int query_tenant(struct api_req *req, const char **tenant, char **owned)
{
    bool bad = false;
    *owned = api_query_param(req, "tenant_id", &bad);
    if (bad || (*owned && !api_valid_tenant_id(*owned))) {
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/tenant_id", "message",
                                           "tenant_id must be 1-64 of [A-Za-z0-9._-]"),
                                 "the tenant_id parameter is not valid");
        return -1;
    }
    if (pick_tenant(req, *owned, tenant)) {
        api_reply_problem(req, 404, "not-found", "no such connector configuration");
        return -1;
    }
    return 0;
}

static void got_one(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        api_reply_problem(req, 404, "not-found", "no such connector configuration");
        return;
    }
    json_t *view = row_view(req->app, r, 0);
    if (!view)
        api_reply_problem(req, 500, "internal", "out of memory");
    else
        api_reply_json(req, 200, view, NULL);
}

static void got_list(void *arg, int err, const struct store_result *res, const char *sqlstate,
                     const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    json_t *items = json_array();
    for (int i = 0; items && i < PQntuples(r); i++) {
        if (json_array_append_new(items, row_view(req->app, r, i))) {
            json_decref(items);
            items = NULL;
        }
    }
    if (!items)
        api_reply_problem(req, 500, "internal", "out of memory");
    else
        api_reply_json(req, 200, json_pack("{s:o}", "connectors", items), NULL);
}

void svc_list_connectors(struct api_req *req)
{
    const char *tenant = NULL;
    char *owned = NULL;
    if (query_tenant(req, &tenant, &owned)) {
        free(owned);
        return;
    }
    const char *p[1] = {tenant};
    int rc = store_query(req->app->store, Q_CONNECTOR_LIST, 1, p, got_list, req);
    free(owned);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

void svc_get_connector(struct api_req *req)
{
    const char *tenant = NULL;
    char *owned = NULL;
    if (!known_connector(req->params[0])) {
        api_reply_problem(req, 404, "not-found", "no such connector");
        return;
    }
    if (query_tenant(req, &tenant, &owned)) {
        free(owned);
        return;
    }
    int rc = 0;
    if (!tenant) {
        api_reply_tenant_required(req);
    } else {
        const char *p[2] = {tenant, req->params[0]};
        rc = store_query(req->app->store, Q_CONNECTOR_GET, 2, p, got_one, req);
    }
    free(owned);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}

struct delete_ctx {
    char tenant[72];
};

static void deleted(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct api_req *req = arg;
    struct delete_ctx *c = req->svc;
    req->svc = NULL;
    if (err) {
        free(c);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    if (strcmp(PQgetvalue(res->results[0], 0, 0), "t")) {
        free(c);
        api_reply_problem(req, 404, "not-found", "no such connector configuration");
        return;
    }
    connectors_invalidate(req->app->connectors, c->tenant, req->params[0]);
    log_ctx(LOG_INFO, req->request_id, NULL, "connector %s of tenant %s deleted by %s",
            req->params[0], c->tenant, req->actor);
    json_t *body = json_pack("{s:s, s:s, s:b}", "tenant_id", c->tenant, "connector", req->params[0],
                             "deleted", 1);
    free(c);
    api_reply_json(req, 200, body, NULL);
}

void svc_delete_connector(struct api_req *req)
{
    const char *tenant = NULL;
    char *owned = NULL;
    if (!known_connector(req->params[0])) {
        api_reply_problem(req, 404, "not-found", "no such connector");
        return;
    }
    if (query_tenant(req, &tenant, &owned)) {
        free(owned);
        return;
    }
    struct delete_ctx *c = tenant ? calloc(1, sizeof *c) : NULL;
    int rc = 0;
    if (!tenant) {
        api_reply_tenant_required(req);
    } else if (!c) {
        rc = IE_NOMEM;
    } else {
        snprintf(c->tenant, sizeof c->tenant, "%s", tenant);
        const char *p[4] = {tenant, req->params[0], req->actor, req->app->cfg.node_id};
        req->svc = c;
        rc = store_query(req->app->store, Q_CONNECTOR_DELETE, 4, p, deleted, req);
        if (rc) {
            req->svc = NULL;
            free(c);
        }
    }
    free(owned);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}
