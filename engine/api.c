/* Routing, authentication and replies for the HTTP API; see api.h. Services live in
 * api_intents.c, api_admin.c and api_connectors.c. */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "app_metrics.h"
#include "crypto.h"
#include "intent_schema.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "utf8.h"

#define SEGMENT_MAX  256
#define SEGMENTS_MAX 8
/* A problem's detail, in bytes with its NUL; longer ones are cut at a character boundary. */
#define PROBLEM_DETAIL_MAX 1024

enum route_auth { AUTH_NONE, AUTH_OPERATOR, AUTH_ONCALL, AUTH_ADMIN };

struct route {
    const char *method;
    const char *pattern; /* segments; "*" matches one path parameter */
    enum route_auth auth;
    void (*fn)(struct api_req *req);
};

static void svc_healthz(struct api_req *req)
{
    api_reply_json(req, 200, json_pack("{s:s}", "status", "ok"), NULL);
}

static const struct route routes[] = {
    {"GET", "/healthz", AUTH_NONE, svc_healthz},
    {"GET", "/readyz", AUTH_NONE, svc_readyz},
    {"GET", "/metrics", AUTH_NONE, svc_metrics},
    {"GET", "/console", AUTH_NONE, svc_console},
    {"GET", "/console/", AUTH_NONE, svc_console},
    {"GET", "/console/*", AUTH_NONE, svc_console_asset},
    {"POST", "/v1/intents", AUTH_NONE, svc_submit},
    {"POST", "/v1/intents:batch", AUTH_NONE, svc_submit_batch},
    {"POST", "/v1/intents:preview", AUTH_OPERATOR, svc_preview},
    {"GET", "/v1/intents/*", AUTH_OPERATOR, svc_get_intent},
    {"GET", "/v1/intents/*/timeline", AUTH_OPERATOR, svc_timeline},
    {"POST", "/v1/intents/*/cancel", AUTH_OPERATOR, svc_cancel},
    {"POST", "/v1/intents/*/compensate", AUTH_OPERATOR, svc_compensate},
    {"POST", "/v1/intents/*/redrive", AUTH_OPERATOR, svc_redrive},
    {"GET", "/v1/executions", AUTH_OPERATOR, svc_list_executions},
    {"GET", "/v1/accounts/*/executions", AUTH_OPERATOR, svc_list_executions},
    {"GET", "/v1/action-types", AUTH_OPERATOR, svc_action_types},
    {"GET", "/v1/signals", AUTH_OPERATOR, svc_signals},
    {"GET", "/v1/signals/push", AUTH_ONCALL, svc_get_signal_push},
    {"PUT", "/v1/signals/push", AUTH_ONCALL, svc_put_signal_push},
    {"DELETE", "/v1/signals/push", AUTH_ONCALL, svc_delete_signal_push},
    {"GET", "/v1/toggles", AUTH_OPERATOR, svc_get_toggles},
    {"PUT", "/v1/toggles", AUTH_ONCALL, svc_put_toggle},
    {"POST", "/v1/tenants", AUTH_ADMIN, svc_create_tenant},
    {"GET", "/v1/tenants", AUTH_ADMIN, svc_list_tenants},
    {"POST", "/v1/tenants/*/tokens", AUTH_ADMIN, svc_create_token},
    {"GET", "/v1/tenants/*/tokens", AUTH_ADMIN, svc_list_tokens},
    {"DELETE", "/v1/tenants/*/tokens/*", AUTH_ADMIN, svc_revoke_token},
    {"GET", "/v1/tenants/*/keys", AUTH_ADMIN, svc_list_keys},
    {"POST", "/v1/tenants/*/keys:rotate", AUTH_ADMIN, svc_rotate_key},
    {"GET", "/v1/ledger/verify", AUTH_ADMIN, svc_ledger_verify},
    {"GET", "/v1/ledger", AUTH_OPERATOR, svc_ledger_export},
    {"GET", "/v1/connectors", AUTH_OPERATOR, svc_list_connectors},
    {"GET", "/v1/connectors/*", AUTH_OPERATOR, svc_get_connector},
    {"PUT", "/v1/connectors/*", AUTH_ONCALL, svc_put_connector},
    {"DELETE", "/v1/connectors/*", AUTH_ONCALL, svc_delete_connector},
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes of s into a new string; NULL when malformed, or when the result
 * would hold a NUL or a control character or not be UTF-8 (every decoded value is text that
 * may reach PostgreSQL, which refuses invalid UTF-8 with an error, not a row). plus_space
 * turns '+' into ' ' (query strings). */
static char *pct_decode(const char *s, size_t n, bool plus_space)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if ((unsigned char)c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    if (!utf8_valid(out, o)) {
        free(out);
        return NULL;
    }
    out[o] = '\0';
    return out;
}

bool api_parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    /* strtoll would skip white space and take a sign, and saturates silently past its range */
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

const char *api_time_range_problem(const char *since, const char *until)
{
    if (since && intent_parse_rfc3339(since, NULL))
        return "since must be an RFC 3339 date-time (" INTENT_RFC3339_BOUNDS ")";
    if (until && intent_parse_rfc3339(until, NULL))
        return "until must be an RFC 3339 date-time (" INTENT_RFC3339_BOUNDS ")";
    return NULL;
}

char *api_query_param(const struct api_req *req, const char *name, bool *bad)
{
    const char *q = req->http->query;
    size_t nlen = strlen(name);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (klen == nlen && !memcmp(q, name, nlen)) {
            const char *v = eq ? eq + 1 : q + len;
            size_t vlen = eq ? len - klen - 1 : 0;
            char *d = pct_decode(v, vlen, true);
            if (!d)
                *bad = true;
            return d;
        }
        q = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* Matches path against pattern; fills params with decoded path parameters on success. */
static bool match(const char *pattern, const char *path, char **params, bool *bad)
{
    int np = 0;
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (*p == '*') {
            const char *end = s;
            while (*end && *end != '/')
                end++;
            /* a parameter may carry ":batch"-like suffixes only where a route says so */
            if (end == s || end - s > SEGMENT_MAX || np >= API_PATH_PARAMS)
                goto fail;
            params[np] = pct_decode(s, (size_t)(end - s), false);
            if (!params[np]) {
                *bad = true;
                goto fail;
            }
            np++;
            p++;
            s = end;
            continue;
        }
        if (*p != *s)
            goto fail;
        p++;
        s++;
    }
    if (*p == '\0' && *s == '\0')
        return true;
fail:
    for (int i = 0; i < np; i++) {
        free(params[i]);
        params[i] = NULL;
    }
    return false;
}

static void req_free(struct api_req *req)
{
    for (int i = 0; i < API_PATH_PARAMS; i++)
        free(req->params[i]);
    free(req);
}

static void respond(struct api_req *req, int status, const char *ctype, const char *body,
                    size_t len, const char *const *headers)
{
    app_metrics_http(req->app->metrics, req->http->method, req->route, status);
    http_respond(req->ex, status, ctype, body, len, headers);
    req_free(req);
}

void api_reply_raw(struct api_req *req, int status, const char *content_type, const char *body,
                   size_t len)
{
    respond(req, status, content_type, body, len, NULL);
}

void api_reply_raw_headers(struct api_req *req, int status, const char *content_type,
                           const char *body, size_t len, const char *const *headers)
{
    respond(req, status, content_type, body, len, headers);
}

void api_reply_json(struct api_req *req, int status, json_t *body, const char *const *headers)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] = "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                                  "\"status\":500,\"detail\":\"out of memory\"}";
        respond(req, 500, "application/problem+json", oom, sizeof oom - 1, NULL);
        return;
    }
    respond(req, status, "application/json", text, strlen(text), headers);
    free(text);
}

static const char *status_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

/* Formats a problem's detail into out (cap bytes) as well-formed UTF-8. json_pack refuses
 * anything else, which left the body "{}": a detail may quote request bytes that are not UTF-8
 * (a raw path), and the buffer may cut it inside a character, which is dropped, not replaced. */
static void format_detail(char *out, size_t cap, const char *fmt, va_list ap)
{
    char raw[PROBLEM_DETAIL_MAX];
    int n = vsnprintf(raw, sizeof raw, fmt, ap);
    size_t len = n < 0 ? 0 : (size_t)n;
    if (len >= sizeof raw)
        len = utf8_cut_len(raw, sizeof raw - 1);
    utf8_copy_clean(out, cap, raw, len);
}

static void reply_problem_v(struct api_req *req, int status, const char *slug, json_t *errors,
                            const char *fmt, va_list ap)
{
    char detail[PROBLEM_DETAIL_MAX];
    format_detail(detail, sizeof detail, fmt, ap);
    char type[160];
    snprintf(type, sizeof type, "https://intentd.dev/problems/%s", slug);
    json_t *p = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", status_title(status),
                          "status", status, "detail", detail, "request_id", req->request_id);
    if (p && errors)
        json_object_set_new(p, "errors", errors);
    else
        json_decref(errors);
    char *text = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (status >= 500)
        log_ctx(LOG_WARN, req->request_id, NULL, "%d %s: %s", status, slug, detail);
    respond(req, status, "application/problem+json", text ? text : "{}", text ? strlen(text) : 2,
            NULL);
    free(text);
}

void api_reply_problem(struct api_req *req, int status, const char *slug, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_problem_v(req, status, slug, NULL, fmt, ap);
    va_end(ap);
}

void api_reply_problem_errors(struct api_req *req, int status, const char *slug, json_t *errors,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_problem_v(req, status, slug, errors, fmt, ap);
    va_end(ap);
}

bool api_reply_not_found_or_archived(struct api_req *req, const PGresult *view)
{
    if (!view || PQntuples(view) == 0) {
        api_reply_problem(req, 404, "not-found", "no such intent");
        return false;
    }
    api_reply_problem(req, 409, "archived",
                      "the intent ended %s and was archived by retention; its record is "
                      "read-only",
                      PQgetvalue(view, 0, IC_STATE));
    return true;
}

void api_reply_store_error(struct api_req *req, int err, const char *sqlstate, const char *msg)
{
    if (err == IE_DB)
        api_reply_problem(req, 500, "database-error", "database error %s: %s",
                          sqlstate ? sqlstate : "", msg ? msg : "");
    else if (err == IE_NOMEM)
        api_reply_problem(req, 500, "internal", "out of memory");
    else
        /* Unreachable, closing, or the queue is full: the request changed nothing that a
         * retry could not safely repeat. */
        api_reply_problem(req, 503, "database-unavailable",
                          "the database is unavailable (%s); retry later", ie_name(err));
}

void api_reply_tenant_required(struct api_req *req)
{
    api_reply_problem(req, 400, "tenant-required",
                      "a global admin must name the tenant with ?tenant_id=");
}

bool api_valid_tenant_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == '-'))
            return false;
    return true;
}

bool api_tenant_visible(const struct api_req *req, const char *tenant)
{
    return (req->role == ROLE_ADMIN && req->tenant[0] == '\0') || !strcmp(req->tenant, tenant);
}

/* --- authentication --- */

struct auth_state {
    enum api_role min;
    void (*next)(struct api_req *req);
    char hash_prefix[13];
};

static enum api_role role_from_name(const char *s)
{
    if (!strcmp(s, "operator"))
        return ROLE_OPERATOR;
    if (!strcmp(s, "oncall"))
        return ROLE_ONCALL;
    if (!strcmp(s, "admin"))
        return ROLE_ADMIN;
    return ROLE_NONE;
}

static const char *role_name(enum api_role r)
{
    static const char *names[] = {"none", "operator", "oncall", "admin"};
    return names[r];
}

static void auth_done(void *arg, int err, const struct store_result *res, const char *sqlstate,
                      const char *msg)
{
    struct api_req *req = arg;
    struct auth_state *as = req->svc;
    req->svc = NULL;
    if (err) {
        free(as);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    if (PQntuples(r) != 1) {
        free(as);
        api_reply_problem(req, 401, "unauthorized", "the bearer token is not valid");
        return;
    }
    snprintf(req->tenant, sizeof req->tenant, "%s", PQgetvalue(r, 0, 0));
    req->role = role_from_name(PQgetvalue(r, 0, 1));
    snprintf(req->actor, sizeof req->actor, "token:%s:%s:%s", role_name(req->role), req->tenant,
             as->hash_prefix);
    void (*next)(struct api_req *) = as->next;
    enum api_role min = as->min;
    free(as);
    if (req->role < min) {
        api_reply_problem(req, 403, "forbidden", "this operation needs the %s role",
                          role_name(min));
        return;
    }
    next(req);
}

void api_authenticate(struct api_req *req, enum api_role min, void (*next)(struct api_req *req))
{
    const char *h = http_header_get(req->http, "authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7]) {
        api_reply_problem(req, 401, "unauthorized", "a bearer token is required");
        return;
    }
    const char *token = h + 7;
    size_t tlen = strlen(token);
    if (tlen > 512) {
        api_reply_problem(req, 401, "unauthorized", "the bearer token is not valid");
        return;
    }
    const char *admin = req->app->cfg.admin_token;
    if (admin && strlen(admin) == tlen && crypto_equal(admin, token, tlen)) {
        req->role = ROLE_ADMIN;
        req->tenant[0] = '\0';
        snprintf(req->actor, sizeof req->actor, "admin");
        next(req);
        return;
    }
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    struct auth_state *as = calloc(1, sizeof *as);
    if (!as || crypto_sha256_hex(token, tlen, hex)) {
        free(as);
        api_reply_problem(req, 500, "internal", "cannot check the token");
        return;
    }
    as->min = min;
    as->next = next;
    memcpy(as->hash_prefix, hex, 12);
    req->svc = as;
    const char *params[1] = {hex};
    int rc = store_query(req->app->store, Q_TOKEN_LOOKUP, 1, params, auth_done, req);
    if (rc) {
        req->svc = NULL;
        free(as);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

/* --- dispatch --- */

void api_handle(void *arg, struct http_exchange *ex, const struct http_request *http)
{
    struct app *app = arg;
    struct api_req *req = calloc(1, sizeof *req);
    if (!req) {
        http_respond(ex, 503, "application/problem+json", NULL, 0, NULL);
        return;
    }
    req->app = app;
    req->ex = ex;
    req->http = http;
    snprintf(req->request_id, sizeof req->request_id, "%s", http->request_id);

    bool path_matched = false, bad = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const struct route *rt = &routes[i];
        char *params[API_PATH_PARAMS] = {NULL, NULL};
        if (!match(rt->pattern, http->path, params, &bad)) {
            if (bad)
                break;
            continue;
        }
        path_matched = true;
        if (strcmp(rt->method, http->method)) {
            for (int k = 0; k < API_PATH_PARAMS; k++)
                free(params[k]);
            continue;
        }
        memcpy(req->params, params, sizeof params);
        req->route = rt->pattern;
        if (app->stopping && rt->auth == AUTH_NONE && rt->fn != svc_healthz &&
            rt->fn != svc_readyz) {
            api_reply_problem(req, 503, "shutting-down", "this node is shutting down");
            return;
        }
        if (rt->auth == AUTH_NONE)
            rt->fn(req);
        else
            api_authenticate(req, (enum api_role)rt->auth, rt->fn);
        return;
    }
    if (bad)
        api_reply_problem(req, 400, "bad-path",
                          "a path parameter is not valid percent-encoded UTF-8 text");
    else if (path_matched)
        api_reply_problem(req, 405, "method-not-allowed", "%s is not allowed on %s", http->method,
                          http->path);
    else
        api_reply_problem(req, 404, "not-found", "no such resource: %s", http->path);
}

json_t *api_read_json_object(struct api_req *req)
{
    struct schema_errors *perrs = malloc(sizeof *perrs);
    json_t *doc = NULL;
    if (!perrs) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return NULL;
    }
    intent_schema_errors_init(perrs);
    int prc = intent_schema_parse(req->http->body, req->http->body_len, &doc, perrs);
    free(perrs);
    if (prc || !json_is_object(doc)) {
        json_decref(doc);
        api_reply_problem(req, 400, "malformed-json", "the body must be a JSON object");
        return NULL;
    }
    return doc;
}
