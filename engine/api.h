/* The HTTP API: routes requests to services, authenticates bearer tokens and answers in JSON
 * or application/problem+json (RFC 9457). The request context (struct api_req) is what every
 * service handler works with; it is freed by api_reply_* exactly once. */
#ifndef INTENTD_API_H
#define INTENTD_API_H

#include <jansson.h>
#include <libpq-fe.h>

#include "app.h"
#include "http_server.h"
#include "intent_schema.h"

enum api_role { ROLE_NONE = 0, ROLE_OPERATOR = 1, ROLE_ONCALL = 2, ROLE_ADMIN = 3 };

#define API_PATH_PARAMS 2

/* One request in progress. Owned by the API layer; a handler finishes it with exactly one
 * api_reply_* call, which responds and frees it. */
struct api_req {
    struct app *app;
    struct http_exchange *ex;
    const struct http_request *http; /* valid until the reply */
    char request_id[80];
    char *params[API_PATH_PARAMS]; /* decoded path parameters, owned */
    /* who is asking (after api_authenticate) */
    enum api_role role;
    char tenant[72]; /* the token's tenant; "" for the bootstrap admin */
    char actor[200]; /* for the ledger: "token:<role>:<tenant>:<hash prefix>" or "admin" */
    void *svc;       /* the service's own state, freed by the service before replying */
    /* the matched route pattern (static), for metrics; NULL: none matched */
    const char *route;
};

/* The HTTP handler given to http_server_start; arg is the struct app. */
void api_handle(void *arg, struct http_exchange *ex, const struct http_request *req);

/* Replies with JSON (status, body; body reference is stolen) and frees req. */
void api_reply_json(struct api_req *req, int status, json_t *body, const char *const *headers);
/* Replies with application/problem+json: slug names the problem type, detail is the human text
 * (printf-style); frees req. */
void api_reply_problem(struct api_req *req, int status, const char *slug, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Like api_reply_problem with a list of {pointer, message} errors (reference stolen). */
void api_reply_problem_errors(struct api_req *req, int status, const char *slug, json_t *errors,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Replies with raw bytes of a content type (copied) and frees req. */
void api_reply_raw(struct api_req *req, int status, const char *content_type, const char *body,
                   size_t len);
/* Like api_reply_raw with extra headers (NULL or a NULL-terminated "Name: value" list). */
void api_reply_raw_headers(struct api_req *req, int status, const char *content_type,
                           const char *body, size_t len, const char *const *headers);

/* Checks the bearer token asynchronously, then calls next(req) with req->role/tenant/actor
 * set when the token's role is at least min; otherwise replies 401/403 itself (next is not
 * called). */
void api_authenticate(struct api_req *req, enum api_role min, void (*next)(struct api_req *req));

/* True when s is a valid tenant id: 1-64 of [A-Za-z0-9._-]. s may be NULL (false). */
bool api_valid_tenant_id(const char *s);

/* True when req may see tenant's data: its own tenant, or a global admin. */
bool api_tenant_visible(const struct api_req *req, const char *tenant);

/* Parses a query string value by name into a newly allocated decoded string (NULL when
 * absent); sets *bad when the value is not valid percent-encoding, or decodes to a control
 * character or to bytes that are not UTF-8. */
char *api_query_param(const struct api_req *req, const char *name, bool *bad);

/* Parses s, a query value, as a decimal integer in [lo, hi] into *out: digits only (no sign,
 * no white space, nothing after them) and in range, not saturated. Returns false (and leaves
 * *out) when it is not one. */
bool api_parse_int(const char *s, long long lo, long long hi, long long *out);

/* The problem with a query's since and until values (each may be NULL: absent), which must be
 * RFC 3339 date-times PostgreSQL takes (intent_parse_rfc3339), or NULL when both are fine. */
const char *api_time_range_problem(const char *since, const char *until);

/* The problem to answer when api_query_param set *bad. */
#define API_BAD_QUERY "a query parameter is not valid percent-encoded UTF-8 text"

/* Parses the request body as one JSON object (duplicate keys, NUL characters and deep nesting
 * refused, as for intents). Returns it (a new reference), or NULL after replying 400 (or 500). */
json_t *api_read_json_object(struct api_req *req);

/* The tenant a request reads from: the token's, or for a global admin ?tenant_id= (may be
 * NULL: any). Returns false after replying 400 to a malformed parameter, or 500 when the
 * token's tenant cannot be copied (out of memory). */
bool api_read_tenant(struct api_req *req, char **tenant);
/* api_read_tenant for a request that acts on one tenant: a global admin must name it, else the
 * reply is 400 tenant-required. Returns false after replying. */
bool api_require_tenant(struct api_req *req, char **tenant);
/* The 400 tenant-required reply: a global admin did not name the tenant an operation acts on. */
void api_reply_tenant_required(struct api_req *req);

/* Why s is not an acceptable outbound URL (NULL when it is): http or https, a host (name, IPv4
 * or [IPv6]) with an optional port, no user information, no fragment, a query only when
 * allow_query (connector base URLs get paths appended, so they have none), visible ASCII only,
 * at most 2048 bytes (api_connectors.c). */
const char *api_url_problem(const char *s, bool allow_query);

/* Schema violations as [{pointer, message}]. */
json_t *api_schema_errors_json(const struct schema_errors *errs);
/* The checks of a schema-valid intent that need the workflow registry and the clock: 0 =
 * acceptable, else 422 with *why (and *errors, a new array, for parameter problems). */
int api_intent_semantics(struct app *app, const json_t *intent, const char **why, json_t **errors);

/* Service entry points (api_intents.c, api_admin.c, api_connectors.c). */
void svc_submit(struct api_req *req);
void svc_submit_batch(struct api_req *req);
void svc_get_intent(struct api_req *req);
void svc_timeline(struct api_req *req);
void svc_list_executions(struct api_req *req);
void svc_cancel(struct api_req *req);
void svc_compensate(struct api_req *req);
void svc_redrive(struct api_req *req);
void svc_signals(struct api_req *req);
void svc_preview(struct api_req *req);
void svc_create_tenant(struct api_req *req);
void svc_create_token(struct api_req *req);
void svc_ledger_verify(struct api_req *req);
/* api_keys.c */
void svc_list_tenants(struct api_req *req);
void svc_list_tokens(struct api_req *req);
void svc_revoke_token(struct api_req *req);
void svc_list_keys(struct api_req *req);
void svc_rotate_key(struct api_req *req);
/* api_ledger.c */
void svc_ledger_export(struct api_req *req);
void svc_readyz(struct api_req *req);
void svc_action_types(struct api_req *req);
/* api_connectors.c */
void svc_put_connector(struct api_req *req);
void svc_get_connector(struct api_req *req);
void svc_list_connectors(struct api_req *req);
void svc_delete_connector(struct api_req *req);
/* api_toggles.c */
void svc_get_toggles(struct api_req *req);
void svc_put_toggle(struct api_req *req);
/* api_signal_push.c */
void svc_put_signal_push(struct api_req *req);
void svc_get_signal_push(struct api_req *req);
void svc_delete_signal_push(struct api_req *req);

/* api_metrics.c */
void svc_metrics(struct api_req *req);
/* api_console.c: the web console's page (/console, /console/) and its files (/console/{asset}) */
void svc_console(struct api_req *req);
void svc_console_asset(struct api_req *req);

/* An action on an intent found it missing from the hot table; view is the intent read from
 * intentd.intents_all. When the retention sweep archived it (a row is there), replies 409
 * "archived" and answers true; otherwise replies 404 and answers false. */
bool api_reply_not_found_or_archived(struct api_req *req, const PGresult *view);

/* Formats a store failure as a problem reply (503 when the database is unreachable). */
void api_reply_store_error(struct api_req *req, int err, const char *sqlstate, const char *msg);

#endif
