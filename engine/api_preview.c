/* POST /v1/intents:preview: a dry run. The intent is validated as a submission would be, its
 * workflow is walked as if every Task succeeded, and for each Task the answer shows the
 * connector configuration found, what the guards would decide now, and the exact requests the
 * adapter would send (credentials and secret URLs redacted). Nothing is stored and nothing is
 * sent. The tenant's connector configurations are loaded one after another through the cache. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "connectors.h"
#include "executor.h"
#include "guards.h"
#include "workflows.h"

#define PREVIEW_TASKS_MAX 64

struct ptask {
    char *state;
    const struct adapter_op *aop;
    char *compensate;
    json_t *params;
    char connector[32];
};

struct preview {
    json_t *intent;
    char tenant[72];
    char id[136];
    struct ptask tasks[PREVIEW_TASKS_MAX];
    int ntasks;
    int next; /* the task whose connector is being loaded */
    json_t *out_tasks;
};

static void preview_free(struct preview *p)
{
    for (int i = 0; i < p->ntasks; i++) {
        free(p->tasks[i].state);
        free(p->tasks[i].compensate);
        json_decref(p->tasks[i].params);
    }
    json_decref(p->intent);
    json_decref(p->out_tasks);
    free(p);
}

static void visit(void *arg, const struct asl_step *step)
{
    struct preview *p = arg;
    if (p->ntasks >= PREVIEW_TASKS_MAX)
        return;
    struct ptask *t = &p->tasks[p->ntasks++];
    t->state = strdup(step->state);
    t->aop = adapter_find(step->resource);
    t->compensate = step->compensate ? strdup(step->compensate) : NULL;
    t->params = json_deep_copy(step->parameters);
    const char *dot = strchr(step->resource, '.');
    snprintf(t->connector, sizeof t->connector, "%.*s",
             (int)(dot ? dot - step->resource : (long)strlen(step->resource)), step->resource);
}

/* A request as it would go out: base URL joined, Authorization redacted. notify's base URL is
 * itself a secret (the Slack webhook), so only its host is shown. */
static json_t *shown_request(const char *phase, const json_t *req,
                             const struct connector_config *cfg)
{
    json_t *o = json_deep_copy(req);
    if (!o)
        return NULL;
    json_object_set_new(o, "phase", json_string(phase));
    const char *path = json_string_value(json_object_get(req, "path"));
    if (!json_object_get(req, "skip") && path) {
        char url[4096];
        if (!strcmp(cfg->connector, "notify")) {
            const char *host = strstr(cfg->base_url, "://");
            const char *end = host ? strchr(host + 3, '/') : NULL;
            int n = end ? (int)(end - cfg->base_url) : (int)strlen(cfg->base_url);
            snprintf(url, sizeof url, "%.*s/[redacted]%s", n, cfg->base_url, path);
        } else {
            snprintf(url, sizeof url, "%s%s", cfg->base_url, path);
        }
        json_object_set_new(o, "url", json_string(url));
        json_t *h = json_object_get(o, "headers");
        if (!h) {
            h = json_object();
            json_object_set_new(o, "headers", h);
        }
        if (cfg->auth != CONNECTOR_AUTH_NONE)
            json_object_set_new(h, "Authorization", json_string("Bearer [redacted]"));
    }
    return o;
}

static json_t *requests_for(struct preview *p, const struct ptask *t,
                            const struct connector_config *cfg, json_t **problem)
{
    char key[64];
    json_t *list = json_array();
    if (executor_step_key(p->tenant, p->id, t->state, key, sizeof key)) {
        *problem = json_string("the step's idempotency key could not be derived");
        return list;
    }
    struct adapter_ctx ctx = {.tenant_id = p->tenant,
                              .action_intent_id = p->id,
                              .account_id =
                                  json_string_value(json_object_get(p->intent, "account_id")),
                              .step = t->state,
                              .idempotency_key = key,
                              .settings = cfg->settings};
    struct {
        const char *phase;
        adapter_build_fn fn;
    } phases[] = {{"prepare", t->aop->build_prepare}, {"call", t->aop->build_request}};
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        if (!phases[i].fn)
            continue;
        json_t *req = NULL;
        char why[ADAPTER_MESSAGE_MAX] = "";
        if (phases[i].fn(t->params, &ctx, &req, why)) {
            json_decref(req);
            *problem = json_string(why[0] ? why : "the request could not be built");
            break;
        }
        json_array_append_new(list, shown_request(phases[i].phase, req, cfg));
        json_decref(req);
    }
    return list;
}

static void load_next(struct api_req *req);

static void task_view(struct api_req *req, struct ptask *t, int err, struct connector_config *cfg)
{
    struct preview *p = req->svc;
    json_t *v = json_pack("{s:s, s:s, s:s, s:b, s:s?}", "step", t->state, "operation",
                          t->aop ? t->aop->name : "?", "connector", t->connector, "reversible",
                          t->compensate != NULL, "compensate", t->compensate);
    json_object_set(v, "parameters", t->params);
    if (t->aop && t->aop->build_effect) {
        json_object_set_new(v, "effect",
                            json_string("a record in intentd's own database, "
                                        "written with the step's outcome"));
    } else if (err == IE_NOTFOUND) {
        json_object_set_new(v, "configured", json_false());
        json_object_set_new(v, "problem",
                            json_string("this connector is not configured for the tenant: the "
                                        "step would fail with Connector.Permanent"));
    } else if (err) {
        json_object_set_new(v, "configured", json_null());
        json_object_set_new(v, "problem", json_string(ie_strerror(err)));
    } else {
        json_t *problem = NULL;
        json_object_set_new(v, "configured", json_true());
        json_object_set_new(v, "requests", requests_for(p, t, cfg, &problem));
        if (problem)
            json_object_set_new(v, "problem", problem);
        json_t *g = guards_peek(req->app->guards, p->tenant, t->connector, &cfg->limits, false,
                                (double)time(NULL));
        json_object_set_new(v, "guards", g ? g : json_null());
    }
    json_array_append_new(p->out_tasks, v);
}

static void config_loaded(void *arg, int err, struct connector_config *cfg)
{
    struct api_req *req = arg;
    struct preview *p = req->svc;
    task_view(req, &p->tasks[p->next], err, cfg);
    p->next++;
    load_next(req);
}

static void load_next(struct api_req *req)
{
    struct preview *p = req->svc;
    while (p->next < p->ntasks) {
        struct ptask *t = &p->tasks[p->next];
        if (!t->aop || t->aop->build_effect) {
            task_view(req, t, 0, NULL);
            p->next++;
            continue;
        }
        /* may answer from inside the call (a cached entry): config_loaded then recurses once
         * per Task, bounded by PREVIEW_TASKS_MAX */
        if (connectors_get(req->app->connectors, p->tenant, t->connector, config_loaded, req) == 0)
            return;
        task_view(req, t, IE_UNAVAIL, NULL);
        p->next++;
    }
    json_t *body =
        json_pack("{s:b, s:s, s:O, s:O, s:O}", "valid", 1, "action_intent_id", p->id, "action_type",
                  json_object_get(p->intent, "action_type"), "expires_at_epoch",
                  json_object_get(p->intent, "expires_at_epoch"), "tasks", p->out_tasks);
    json_object_set_new(body, "note", json_string("a dry run: nothing was stored or sent"));
    req->svc = NULL;
    preview_free(p);
    api_reply_json(req, 200, body, NULL);
}

static void reply_invalid(struct api_req *req, const char *why, json_t *errors)
{
    api_reply_json(req, 200,
                   json_pack("{s:b, s:s, s:o, s:s}", "valid", 0, "detail", why, "errors",
                             errors ? errors : json_array(), "note",
                             "a dry run: nothing was stored or sent"),
                   NULL);
}

void svc_preview(struct api_req *req)
{
    struct schema_errors *errs = malloc(sizeof *errs);
    struct preview *p = calloc(1, sizeof *p);
    if (!errs || !p) {
        free(errs);
        free(p);
        api_reply_problem(req, 500, "internal", "out of memory");
        return;
    }
    intent_schema_errors_init(errs);
    if (intent_schema_parse(req->http->body, req->http->body_len, &p->intent, errs)) {
        api_reply_problem_errors(req, 400, "malformed-json", api_schema_errors_json(errs),
                                 "the body is not a JSON document");
        free(errs);
        preview_free(p);
        return;
    }
    if (intent_schema_validate(p->intent, errs)) {
        reply_invalid(req, "the intent does not match ActionIntentV1",
                      api_schema_errors_json(errs));
        free(errs);
        preview_free(p);
        return;
    }
    free(errs);
    const char *tenant = json_string_value(json_object_get(p->intent, "tenant_id"));
    if (!api_tenant_visible(req, tenant)) {
        reply_invalid(req, "the intent names another tenant",
                      json_pack("[{s:s, s:s}]", "pointer", "/tenant_id", "message",
                                "not the tenant of this token"));
        preview_free(p);
        return;
    }
    const char *why = NULL;
    json_t *errors = NULL;
    if (api_intent_semantics(req->app, p->intent, &why, &errors)) {
        reply_invalid(req, why, errors);
        preview_free(p);
        return;
    }
    snprintf(p->tenant, sizeof p->tenant, "%s", tenant);
    snprintf(p->id, sizeof p->id, "%s",
             json_string_value(json_object_get(p->intent, "action_intent_id")));
    struct adapter_errors aerr;
    adapter_errors_reset(&aerr);
    p->out_tasks = json_array();
    if (workflows_walk(req->app->workflows,
                       json_string_value(json_object_get(p->intent, "action_type")),
                       json_object_get(p->intent, "parameters"), &aerr, visit, p) < 0) {
        preview_free(p);
        api_reply_problem(req, 500, "internal", "the workflow could not be walked");
        return;
    }
    req->svc = p;
    load_next(req);
}
