/* Kill switches over HTTP: GET and PUT /v1/toggles (the snapshot every node obeys is
 * toggles.c; the flip and its side effects are intentd.set_toggle). Who may flip what: a
 * tenant's oncall or admin token its own tenant's scopes (tenant "<t>", action_type and
 * connector "<t>/<name>"); only a global admin the global scope and the keys with tenant "*"
 * that cover every tenant. Another tenant's key is answered 404, as if it did not exist. */
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "json_errors.h"
#include "asl.h"
#include "log.h"
#include "queries.h"
#include "store.h"
#include "toggles.h"
#include "workflows.h"

#define REASON_MAX 500
#define NAME_MAX_  128
#define TYPES_MAX  16384 /* bytes of the text[] literal of a connector's action types */

struct flip {
    char scope[16];
    char key[201];
    char mode[8];
    char reason[REASON_MAX + 1];
};

static bool valid_name(const char *s)
{
    return strlen(s) <= NAME_MAX_ && api_valid_tenant_id(s);
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* The action types whose workflows call connector, as a text[] literal; NULL when none (or
 * out of memory: *nomem). */
static char *types_calling(const struct workflows *w, const char *connector, bool *nomem)
{
    char *out = malloc(TYPES_MAX);
    if (!out) {
        *nomem = true;
        return NULL;
    }
    size_t len = 0;
    out[len++] = '{';
    size_t count = 0;
    for (size_t i = 0; i < workflows_count(w); i++) {
        const char *name = workflows_name_at(w, i);
        const struct asl_machine *m = workflows_get(w, name);
        bool calls = false;
        for (size_t k = 0; m && k < asl_task_count(m) && !calls; k++) {
            const struct asl_state *st = asl_task_at(m, k);
            calls = st->connector && !strcmp(st->connector, connector);
        }
        if (!calls)
            continue;
        /* workflow names are file names: quoted, with the two characters an array literal
         * escapes refused rather than escaped */
        if (strchr(name, '"') || strchr(name, '\\') || len + strlen(name) + 4 >= TYPES_MAX)
            continue;
        len += (size_t)snprintf(out + len, TYPES_MAX - len, "%s\"%s\"", count ? "," : "", name);
        count++;
    }
    out[len++] = '}';
    out[len] = '\0';
    if (!count) {
        free(out);
        return NULL;
    }
    return out;
}

static void flipped(void *arg, int err, const struct store_result *res, const char *sqlstate,
                    const char *msg)
{
    struct api_req *req = arg;
    struct flip *f = req->svc;
    req->svc = NULL;
    if (err) {
        free(f);
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    bool changed = !strcmp(PQgetvalue(r, 0, 0), "t");
    if (changed)
        log_ctx(LOG_WARN, req->request_id, NULL, "kill switch %s %s: %s -> %s by %s (%s)", f->scope,
                f->key, PQgetvalue(r, 0, 1), f->mode, req->actor, f->reason);
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:i, s:s, s:s?, s:s?}", "scope", f->scope, "key",
                  f->key, "mode", f->mode, "previous", PQgetvalue(r, 0, 1), "changed", changed,
                  "affected", atoi(PQgetvalue(r, 0, 2)), "reason", f->reason, "updated_at",
                  PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3), "updated_by",
                  PQgetisnull(r, 0, 4) ? NULL : PQgetvalue(r, 0, 4));
    free(f);
    if (!body) {
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    api_reply_json(req, 200, body, NULL);
}

/* Checks the shape of the flip; errors get {pointer, message}. */
static void check_flip(const json_t *doc, json_t *errors)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)doc, k, v)
    {
        if (strcmp(k, "scope") && strcmp(k, "key") && strcmp(k, "mode") && strcmp(k, "reason"))
            json_errors_add(errors, "", NULL,
                            "unknown member (only scope, key, mode and reason are allowed)");
    }
    const char *scope = json_string_value(json_object_get(doc, "scope"));
    if (!scope || (strcmp(scope, "global") && strcmp(scope, "tenant") &&
                   strcmp(scope, "action_type") && strcmp(scope, "connector")))
        json_errors_add(errors, "/scope", NULL,
                        "scope must be global, tenant, action_type or connector");
    if (toggle_mode_parse(json_string_value(json_object_get(doc, "mode"))) < 0)
        json_errors_add(errors, "/mode", NULL, "mode must be run, pause or kill");
    const char *reason = json_string_value(json_object_get(doc, "reason"));
    if (!reason || !reason[0] || strlen(reason) > REASON_MAX || !printable(reason))
        json_errors_add(errors, "/reason", NULL,
                        "reason is required: 1-500 characters without control characters");
    json_t *kj = json_object_get(doc, "key");
    const char *key = json_string_value(kj);
    if (kj && !key) {
        json_errors_add(errors, "/key", NULL, "key must be a string");
        return;
    }
    if (!scope)
        return;
    if (!strcmp(scope, "global")) {
        if (key && strcmp(key, "*"))
            json_errors_add(errors, "/key", NULL, "the global scope's key is \"*\" (or omitted)");
        return;
    }
    if (!key) {
        json_errors_add(errors, "/key", NULL, "key is required for this scope");
        return;
    }
    if (!strcmp(scope, "tenant")) {
        if (!api_valid_tenant_id(key))
            json_errors_add(errors, "/key", NULL, "a tenant scope's key is a tenant id");
        return;
    }
    const char *slash = strchr(key, '/');
    char tenant[80];
    if (!slash || (size_t)(slash - key) >= sizeof tenant) {
        json_errors_add(errors, "/key", NULL,
                        "this scope's key is \"<tenant>/<name>\" or \"*/<name>\"");
        return;
    }
    snprintf(tenant, sizeof tenant, "%.*s", (int)(slash - key), key);
    if (strcmp(tenant, "*") && !api_valid_tenant_id(tenant))
        json_errors_add(errors, "/key", NULL, "the key's tenant must be a tenant id or \"*\"");
    if (!valid_name(slash + 1))
        json_errors_add(errors, "/key", NULL, "the key's name must be 1-128 of [A-Za-z0-9._-]");
}

void svc_put_toggle(struct api_req *req)
{
    json_t *doc = api_read_json_object(req);
    if (!doc)
        return;
    json_t *errors = json_array();
    if (!errors) {
        json_decref(doc);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    check_flip(doc, errors);
    struct app *app = req->app;
    char *types = NULL;
    bool nomem = false;
    const char *scope = json_string_value(json_object_get(doc, "scope"));
    const char *key = json_string_value(json_object_get(doc, "key"));
    if (scope && !strcmp(scope, "global"))
        key = "*";
    const char *name = key ? strchr(key, '/') : NULL;
    if (!json_array_size(errors) && name) {
        name++;
        if (!strcmp(scope, "action_type") && !workflows_get(app->workflows, name))
            json_errors_add(errors, "/key", NULL, "no such action type");
        if (!strcmp(scope, "connector") && !(types = types_calling(app->workflows, name, &nomem)) &&
            !nomem)
            json_errors_add(errors, "/key", NULL, "no action type calls this connector");
    }
    if (nomem) {
        json_decref(errors);
        json_decref(doc);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    if (json_array_size(errors)) {
        api_reply_problem_errors(req, 400, "invalid-request", errors,
                                 "the kill switch is not valid");
        json_decref(doc);
        free(types);
        return;
    }
    json_decref(errors);
    /* whose scope it is: "*" for every tenant */
    char owner[80];
    if (!strcmp(scope, "global"))
        snprintf(owner, sizeof owner, "*");
    else if (!strcmp(scope, "tenant"))
        snprintf(owner, sizeof owner, "%s", key);
    else
        snprintf(owner, sizeof owner, "%.*s", (int)(strchr(key, '/') - key), key);
    bool global_admin = req->role == ROLE_ADMIN && req->tenant[0] == '\0';
    const char *deny = NULL;
    int status = 0;
    if (!strcmp(owner, "*") && !global_admin) {
        status = 403;
        deny = "a kill switch that covers every tenant needs a global admin token";
    } else if (!global_admin && strcmp(owner, req->tenant)) {
        status = 404;
        deny = "no such tenant";
    }
    if (deny) {
        api_reply_problem(req, status, status == 403 ? "forbidden" : "not-found", "%s", deny);
        json_decref(doc);
        free(types);
        return;
    }
    struct flip *f = calloc(1, sizeof *f);
    if (!f) {
        api_reply_problem(req, 500, "internal", "out of memory");
        json_decref(doc);
        free(types);
        return;
    }
    snprintf(f->scope, sizeof f->scope, "%s", scope);
    snprintf(f->key, sizeof f->key, "%s", key);
    snprintf(f->mode, sizeof f->mode, "%s", json_string_value(json_object_get(doc, "mode")));
    snprintf(f->reason, sizeof f->reason, "%s", json_string_value(json_object_get(doc, "reason")));
    json_decref(doc);
    char window[16];
    snprintf(window, sizeof window, "%d", app->cfg.resume_window_ms);
    const char *p[8] = {f->scope,   f->key,           f->mode, f->reason,
                        req->actor, app->cfg.node_id, window,  types ? types : "{}"};
    req->svc = f;
    int rc = store_query(app->store, Q_TOGGLE_SET, 8, p, flipped, req);
    free(types);
    if (rc) {
        req->svc = NULL;
        free(f);
        api_reply_store_error(req, rc, NULL, NULL);
    }
}

static void listed(void *arg, int err, const struct store_result *res, const char *sqlstate,
                   const char *msg)
{
    struct api_req *req = arg;
    if (err) {
        api_reply_store_error(req, err, sqlstate, msg);
        return;
    }
    PGresult *r = res->results[0];
    json_t *items = json_array();
    bool bad = !items;
    for (int i = 0; !bad && i < PQntuples(r); i++)
        bad = json_array_append_new(
            items, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "scope", PQgetvalue(r, i, 0), "key",
                             PQgetvalue(r, i, 1), "mode", PQgetvalue(r, i, 2), "reason",
                             PQgetvalue(r, i, 3), "updated_at", PQgetvalue(r, i, 4), "updated_by",
                             PQgetvalue(r, i, 5)));
    if (bad) {
        json_decref(items);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    api_reply_json(req, 200, json_pack("{s:o}", "toggles", items), NULL);
}

void svc_get_toggles(struct api_req *req)
{
    char *tenant = NULL;
    if (!api_read_tenant(req, &tenant))
        return;
    if (tenant && !api_valid_tenant_id(tenant)) {
        free(tenant);
        api_reply_problem_errors(req, 400, "invalid-request",
                                 json_pack("[{s:s, s:s}]", "pointer", "/tenant_id", "message",
                                           "tenant_id must be 1-64 of [A-Za-z0-9._-]"),
                                 "the tenant_id parameter is not valid");
        return;
    }
    const char *p[1] = {tenant};
    int rc = store_query(req->app->store, Q_TOGGLES_LIST, 1, p, listed, req);
    free(tenant);
    if (rc)
        api_reply_store_error(req, rc, NULL, NULL);
}
