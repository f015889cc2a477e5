/* Tasks that call a connector over HTTP, and the HTTP half of compensation. One struct call
 * follows a step through its phases: the tenant's connector configuration, the guards, an
 * optional prepare read, the write-ahead of the attempt (committed before anything is sent),
 * the call, and when its outcome is unknown or a create answered "exists", the reconcile
 * look-up. An OAuth2 connector answered 401 refreshes its access token once and calls again.
 * The adapter builds every request and classifies every response; this file does the I/O. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "app_metrics.h"
#include "connectors.h"
#include "crypto.h"
#include "executor_internal.h"
#include "guards.h"
#include "toggles.h"
#include "http_client.h"
#include "connector_send.h"
#include "log.h"

#define CONFIG_RETRY_S 5.0  /* configuration unreadable (database down): look again */
#define DEFER_MIN_S    0.05 /* a deferred call is looked at again no sooner than this */
#define PARK_MAX_S                                                                                 \
    1.0 /* a guard wait this short stays in memory instead of giving the                           \
           lease back (a token batch on its way, a concurrency slot) */
/* a call held by a pause is looked at again after this, should the flip to run be missed */
#define PAUSE_RECHECK_S 5.0

enum phase { PH_CONFIG, PH_PREPARE, PH_CALL, PH_RECONCILE, PH_REFRESH };

struct call {
    struct item *it;
    const struct adapter_op *aop;
    enum phase phase;
    char connector[32];
    char key[EXEC_KEY_MAX];
    /* the Task (copied: the step the interpreter produced is gone once exec_call_task returns) */
    char *state;
    json_t *input;
    json_t *params;
    char *compensate;
    int timeout_s;
    struct connector_config *cfg;
    bool guard_held;
    bool refreshed;            /* an OAuth2 refresh was tried for this attempt */
    struct call *next_refresh; /* in executor.refreshing, when this call leads a refresh */
    struct call *next_parked;  /* in executor.parked */
    struct call *waiters;      /* calls waiting for this call's refresh */
    struct call *next_waiter;
    bool after_conflict; /* the reconcile follows a 409, not an unknown outcome */
    bool precheck;       /* the reconcile looks for an earlier attempt's effect */
    /* compensation of a step whose outcome stayed unknown: first find the effect with the
     * original operation's reconcile */
    const struct adapter_op *orig;
    /* compensation calls */
    bool comp;
    json_t *done;
    exec_comp_cb comp_cb;
};

/* Moves the call's Task into *st, which outlives the call (release it with step_release). */
static void take_step(struct call *c, struct asl_step *st)
{
    *st = (struct asl_step){.kind = ASL_STEP_TASK,
                            .state = c->state,
                            .input = c->input,
                            .parameters = c->params,
                            .resource = c->aop->name,
                            .compensate = c->compensate,
                            .timeout_seconds = c->timeout_s};
    c->state = NULL;
    c->input = c->params = NULL;
    c->compensate = NULL;
}

static void step_release(struct asl_step *st)
{
    free((char *)st->state);
    free((char *)st->compensate);
    json_decref(st->input);
    json_decref(st->parameters);
}

static void release_guard(struct call *c, enum guard_result r)
{
    if (!c->guard_held)
        return;
    c->guard_held = false;
    guards_done(c->it->e->app->guards, c->it->tenant, c->connector, r, exec_now());
}

static void call_free(struct call *c)
{
    struct item *it = c->it;
    release_guard(c, GUARD_RESULT_OTHER);
    if (c->cfg)
        connector_config_unref(c->cfg);
    free(c->state);
    free(c->compensate);
    json_decref(c->input);
    json_decref(c->params);
    json_decref(c->done);
    it->call = NULL;
    it->e->calling--;
    free(c);
}

/* Detaches the call from its item and frees it. Returns false when the executor is closing (the
 * item must not be touched any more). */
static bool call_end(struct call *c)
{
    struct executor *e = c->it->e;
    call_free(c);
    if (e->closing) {
        executor_call_ended(e);
        return false;
    }
    return true;
}

/* The item leaves memory while its call waits for nothing but an apply (which said the lease
 * is gone): give back what the call holds. */
void exec_call_abandon(struct item *it)
{
    if (it->call)
        call_free(it->call);
}

/* A new op for this step's attempt, carrying the attempt rows when nothing was written ahead
 * yet (a failure before the call: the ledger still shows the attempt). */
static json_t *attempt_op(struct call *c, bool with_start)
{
    struct item *it = c->it;
    json_t *op = exec_op_new(it);
    if (op && with_start)
        exec_attempt_rows(it, op, c->state, c->aop->name, c->key);
    return op;
}

/* Fails this attempt of the Task (Retry/Catch decide). keep_unknown: the call may have
 * happened and nothing proved otherwise, so the next attempt reconciles first. */
static void call_failed(struct call *c, bool written_ahead, const char *error, const char *cause,
                        double retry_after_s, bool keep_unknown)
{
    struct item *it = c->it;
    app_metrics_attempt(it->e->app->metrics, c->connector, error, keep_unknown);
    if (c->comp) {
        exec_comp_cb cb = c->comp_cb;
        enum adapter_verdict v = !strcmp(error, "Connector.Permanent")      ? ADAPTER_PERMANENT
                                 : !strcmp(error, "Connector.Unauthorized") ? ADAPTER_UNAUTHORIZED
                                                                            : ADAPTER_TRANSIENT;
        char why[ADAPTER_MESSAGE_MAX];
        snprintf(why, sizeof why, "%s", cause);
        if (call_end(c))
            cb(it, v, retry_after_s, why, NULL);
        return;
    }
    json_t *op = attempt_op(c, !written_ahead);
    if (op && !keep_unknown) {
        json_object_set_new(op, "inflight", json_null());
        json_decref(it->inflight);
        it->inflight = NULL;
    }
    char err[64], why[ADAPTER_MESSAGE_MAX + 64];
    snprintf(err, sizeof err, "%s", error);
    snprintf(why, sizeof why, "%s", cause);
    struct asl_step st;
    take_step(c, &st);
    if (call_end(c))
        exec_task_failed(it, &st, err, why, retry_after_s, op);
    else
        json_decref(op);
    step_release(&st);
}

static void call_succeeded(struct call *c, bool written_ahead, const char *external_id,
                           json_t *result)
{
    struct item *it = c->it;
    app_metrics_attempt(it->e->app->metrics, c->connector, NULL, false);
    if (c->comp) {
        exec_comp_cb cb = c->comp_cb;
        if (call_end(c))
            cb(it, ADAPTER_OK, -1, "", result);
        json_decref(result);
        return;
    }
    json_t *op = attempt_op(c, !written_ahead);
    const char *opname = c->aop->name; /* a static table's */
    char ext[ADAPTER_ID_MAX];
    snprintf(ext, sizeof ext, "%s", external_id ? external_id : "");
    struct asl_step st;
    take_step(c, &st);
    if (call_end(c))
        exec_task_succeeded(it, &st, opname, ext, result, op);
    else
        json_decref(op);
    json_decref(result);
    step_release(&st);
}

/* Sends a request an adapter described; the answer goes to cb. Returns 0 or an error message
 * in why. */
static void on_response(void *arg, const struct http_client_resp *resp);

static int send_described(struct call *c, const json_t *req, char why[ADAPTER_MESSAGE_MAX])
{
    /* the call itself (not a look-up) of an operation the vendor does not de-duplicate */
    bool fresh = c->phase == PH_CALL && !c->aop->repeat_safe;
    return connector_send(c->it->e->app->http_client, c->cfg, req, c->timeout_s, fresh, on_response,
                          c, why);
}

static void fill_ctx(struct call *c, struct adapter_ctx *ctx)
{
    struct item *it = c->it;
    *ctx = (struct adapter_ctx){.tenant_id = it->tenant,
                                .action_intent_id = it->id,
                                .account_id = it->account,
                                .step = c->state,
                                .idempotency_key = c->key,
                                .settings = c->cfg->settings,
                                .prior = it->prior,
                                .done = c->done};
}

/* Builds with fn and sends; on failure to build or send, fails the attempt. */
static void build_and_send(struct call *c, adapter_build_fn fn, enum phase phase,
                           bool written_ahead)
{
    struct adapter_ctx ctx;
    fill_ctx(c, &ctx);
    json_t *req = NULL;
    char why[ADAPTER_MESSAGE_MAX] = "";
    /* a look-up that cannot be made leaves an unknown outcome unknown: the marker stays, so
     * the next attempt looks before it repeats anything */
    bool unknown = phase == PH_RECONCILE && !c->comp;
    if (fn(c->params, &ctx, &req, why)) {
        json_decref(req);
        call_failed(c, written_ahead, "Connector.Permanent",
                    why[0] ? why : "the request could not be built", -1, unknown);
        return;
    }
    const char *skip = json_string_value(json_object_get(req, "skip"));
    if (skip) {
        json_t *result = json_pack("{s:s}", "skipped", skip);
        json_decref(req);
        release_guard(c, GUARD_RESULT_OTHER);
        call_succeeded(c, written_ahead, NULL, result);
        return;
    }
    c->phase = phase;
    int rc = send_described(c, req, why);
    json_decref(req);
    if (rc)
        call_failed(c, written_ahead, "Connector.Transient", why, -1, unknown);
}

static void refresh_token(struct call *c);

static void send_call(struct item *it)
{
    struct call *c = it->call;
    if (!c->comp && exec_now() >= (double)it->expires) {
        /* No call starts after the deadline, even one already written ahead. Its marker names
         * a call that never went out, so compensation must not look for (or undo) it. */
        if (call_end(c)) {
            json_decref(it->inflight);
            it->inflight = NULL;
            exec_finish(it, "EXPIRED", "the deadline passed before the call could start", NULL,
                        NULL);
        }
        return;
    }
    build_and_send(c, c->aop->build_request, PH_CALL, true);
}

/* Records the attempt before its call starts (SPEC §4.3), then sends it. */
static void write_ahead(struct call *c)
{
    struct item *it = c->it;
    int attempt = it->step_attempts + 1;
    json_t *op = exec_op_new(it);
    if (!op) {
        call_failed(c, false, "Connector.Transient", "out of memory", -1, false);
        return;
    }
    const char *phase = c->comp ? "compensate" : "call";
    if (c->comp) {
        exec_op_ledger(op, exec_ledger_row("compensation.started", "COMPENSATING", "COMPENSATING",
                                           json_pack("{s:s, s:i, s:s}", "step", c->state, "attempt",
                                                     attempt, "operation", c->aop->name)));
    } else {
        exec_attempt_rows(it, op, c->state, c->aop->name, c->key);
        if (it->prior)
            json_object_set(op, "prior", it->prior);
    }
    json_t *marker = json_pack("{s:s, s:i, s:s, s:s}", "step", c->state, "attempt", attempt,
                               "phase", phase, "key", c->key);
    if (marker && !c->comp) {
        /* enough to undo the call if its outcome stays unknown (exec_adopt_unknown) */
        json_object_set_new(marker, "operation", json_string(c->aop->name));
        if (c->compensate)
            json_object_set_new(marker, "compensate", json_string(c->compensate));
        json_object_set(marker, "params", c->params);
        if (it->prior)
            json_object_set(marker, "prior", it->prior);
    }
    json_object_set(op, "inflight", marker);
    json_decref(it->inflight);
    it->inflight = marker;
    it->after = send_call;
    exec_submit(it, op, false);
}

static void reconcile(struct call *c)
{
    build_and_send(c, c->aop->build_reconcile, PH_RECONCILE, true);
}

static void classify_with(struct call *c, adapter_classify_fn fn,
                          const struct http_client_resp *resp, struct adapter_outcome *out)
{
    struct adapter_ctx ctx;
    fill_ctx(c, &ctx);
    struct adapter_response ar = {.status = resp->status,
                                  .body = resp->body ? resp->body : "",
                                  .body_len = resp->body_len,
                                  .retry_after = resp->retry_after,
                                  .location = resp->location};
    memset(out, 0, sizeof *out);
    out->retry_after_s = -1;
    fn(c->params, &ctx, &ar, out);
    if (resp->retry_after)
        out->retry_after_s = http_retry_after_seconds(resp->retry_after, exec_now());
}

static void after_prepare(struct call *c, const struct http_client_resp *resp)
{
    if (resp->outcome != HTTP_RESPONSE) {
        release_guard(c, GUARD_RESULT_TRANSIENT);
        call_failed(c, false, "Connector.Transient", resp->error ? resp->error : "no response", -1,
                    false);
        return;
    }
    struct adapter_outcome out;
    classify_with(c, c->aop->classify_prepare, resp, &out);
    if (out.verdict != ADAPTER_OK) {
        json_decref(out.result);
        release_guard(c, out.verdict == ADAPTER_TRANSIENT ? GUARD_RESULT_TRANSIENT
                                                          : GUARD_RESULT_OTHER);
        bool perm = out.verdict == ADAPTER_PERMANENT || out.verdict == ADAPTER_ABSENT ||
                    out.verdict == ADAPTER_CONFLICT;
        call_failed(c, false,
                    perm                                  ? "Connector.Permanent"
                    : out.verdict == ADAPTER_RATE_LIMITED ? "Connector.RateLimited"
                    : out.verdict == ADAPTER_UNAUTHORIZED ? "Connector.Unauthorized"
                                                          : "Connector.Transient",
                    out.cause, out.retry_after_s, false);
        return;
    }
    c->it->prior = out.result ? out.result : json_object();
    write_ahead(c);
}

static void continue_call(struct call *c);

/* A compensation found (or not) the effect of a step whose outcome was unknown. */
static void comp_reconciled(struct call *c, struct adapter_outcome *out)
{
    if (out->verdict == ADAPTER_OK) {
        if (out->external_id[0])
            json_object_set_new(c->done, "external_id", json_string(out->external_id));
        if (out->result)
            json_object_set(c->done, "result", out->result);
        json_decref(out->result);
        write_ahead(c);
        return;
    }
    json_decref(out->result);
    release_guard(c,
                  out->verdict == ADAPTER_TRANSIENT ? GUARD_RESULT_TRANSIENT : GUARD_RESULT_OTHER);
    if (out->verdict == ADAPTER_ABSENT) {
        struct item *it = c->it;
        exec_comp_cb cb = c->comp_cb;
        if (call_end(c))
            cb(it, ADAPTER_ABSENT, -1, "the call never took effect: nothing to undo", NULL);
        return;
    }
    call_failed(c, false, "Connector.Transient", out->cause, out->retry_after_s, true);
}

static void after_reconcile(struct call *c, const struct http_client_resp *resp)
{
    if (resp->outcome != HTTP_RESPONSE) {
        release_guard(c, GUARD_RESULT_TRANSIENT);
        call_failed(c, true, "Connector.Transient",
                    "the outcome is unknown and the look-up for it failed", -1, true);
        return;
    }
    struct adapter_outcome out;
    classify_with(c, c->orig ? c->orig->classify_reconcile : c->aop->classify_reconcile, resp,
                  &out);
    if (c->comp) {
        comp_reconciled(c, &out);
        return;
    }
    if (out.verdict == ADAPTER_OK) {
        release_guard(c, GUARD_RESULT_SUCCESS);
        char ext[ADAPTER_ID_MAX];
        snprintf(ext, sizeof ext, "%s", out.external_id);
        if (!out.result)
            out.result = json_object();
        json_object_set_new(out.result, "reconciled", json_true());
        call_succeeded(c, true, ext, out.result);
        return;
    }
    json_decref(out.result);
    if (out.verdict == ADAPTER_ABSENT && c->precheck) {
        /* the earlier attempt left no effect: this attempt makes the call */
        c->precheck = false;
        json_decref(c->it->inflight);
        c->it->inflight = NULL;
        continue_call(c);
        return;
    }
    if (out.verdict == ADAPTER_ABSENT) {
        release_guard(c, GUARD_RESULT_OTHER);
        if (c->after_conflict)
            call_failed(c, true, "Connector.Permanent",
                        "the vendor said the object exists, but the look-up cannot find it", -1,
                        false);
        else
            call_failed(c, true, "Connector.Transient",
                        "the outcome was unknown; the look-up found no effect, so it is retried",
                        -1, false);
        return;
    }
    release_guard(c,
                  out.verdict == ADAPTER_TRANSIENT ? GUARD_RESULT_TRANSIENT : GUARD_RESULT_OTHER);
    call_failed(c, true, "Connector.Transient", out.cause, out.retry_after_s, true);
}

static void after_call(struct call *c, const struct http_client_resp *resp)
{
    if (resp->outcome == HTTP_NOT_SENT) {
        release_guard(c, GUARD_RESULT_TRANSIENT);
        char why[ADAPTER_MESSAGE_MAX];
        snprintf(why, sizeof why, "not sent: %s", resp->error ? resp->error : "connect failed");
        call_failed(c, true, "Connector.Transient", why, -1, false);
        return;
    }
    if (resp->outcome != HTTP_RESPONSE) {
        release_guard(c, GUARD_RESULT_TRANSIENT);
        if (!c->comp && c->aop->build_reconcile) {
            c->after_conflict = false;
            reconcile(c);
        } else if (!c->comp && c->aop->unknown_is_delivered) {
            call_succeeded(c, true, NULL,
                           json_pack("{s:s, s:s}", "delivery", "unknown", "reason",
                                     resp->error ? resp->error : "no response"));
        } else {
            char why[ADAPTER_MESSAGE_MAX];
            snprintf(why, sizeof why, "outcome unknown (%s); repeated with the same key",
                     resp->error ? resp->error : "no response");
            call_failed(c, true, "Connector.Transient", why, -1, !c->comp);
        }
        return;
    }
    struct adapter_outcome out;
    classify_with(c, c->aop->classify, resp, &out);
    if (c->comp && out.verdict == ADAPTER_ABSENT)
        out.verdict = ADAPTER_OK; /* nothing left to undo */
    switch (out.verdict) {
    case ADAPTER_OK: {
        release_guard(c, GUARD_RESULT_SUCCESS);
        char ext[ADAPTER_ID_MAX];
        snprintf(ext, sizeof ext, "%s", out.external_id);
        call_succeeded(c, true, ext, out.result ? out.result : json_object());
        return;
    }
    case ADAPTER_CONFLICT:
        release_guard(c, GUARD_RESULT_OTHER);
        if (!c->comp && c->aop->build_reconcile) {
            c->after_conflict = true;
            reconcile(c);
        } else {
            call_failed(c, true, "Connector.Permanent", out.cause, -1, false);
        }
        return;
    case ADAPTER_UNAUTHORIZED:
        release_guard(c, GUARD_RESULT_OTHER);
        if (c->cfg->auth == CONNECTOR_AUTH_OAUTH2 && !c->refreshed) {
            refresh_token(c);
            return;
        }
        call_failed(c, true, "Connector.Unauthorized", out.cause, -1, false);
        return;
    case ADAPTER_TRANSIENT:
        release_guard(c, GUARD_RESULT_TRANSIENT);
        call_failed(c, true, "Connector.Transient", out.cause, out.retry_after_s, false);
        return;
    case ADAPTER_RATE_LIMITED:
        release_guard(c, GUARD_RESULT_OTHER);
        call_failed(c, true, "Connector.RateLimited", out.cause, out.retry_after_s, false);
        return;
    case ADAPTER_PERMANENT:
    case ADAPTER_ABSENT:
        release_guard(c, GUARD_RESULT_OTHER);
        call_failed(c, true, "Connector.Permanent", out.cause, -1, false);
        return;
    }
}

/* --- OAuth2 refresh (once per attempt, one at a time per tenant and connector) --- */

/* A burst of calls answered 401 at once (an expired token) makes one token request: the first
 * call leads it, the others wait on it and are sent again with the token it brings. */

static struct call *refresh_leader(struct executor *e, const struct call *c)
{
    for (struct call *l = e->refreshing; l; l = l->next_refresh)
        if (!strcmp(l->it->tenant, c->it->tenant) && !strcmp(l->connector, c->connector))
            return l;
    return NULL;
}

/* The call that answered 401 had no effect: it is sent again in the same attempt. */
static void resend_with(struct call *c, struct connector_config *cfg)
{
    connector_config_ref(cfg);
    connector_config_unref(c->cfg);
    c->cfg = cfg;
    c->refreshed = true;
    /* the refresh may have outlasted the deadline; send_call does not start a call past it */
    send_call(c->it);
}

/* Ends the refresh leader leads: cfg (borrowed) is the configuration holding the new token, or
 * NULL when the refresh failed with error and why. Waiters go first, so that on a closing
 * executor the leader is the last call to end. */
static void refresh_finished(struct call *leader, struct connector_config *cfg, const char *error,
                             const char *why)
{
    struct executor *e = leader->it->e;
    for (struct call **pp = &e->refreshing; *pp; pp = &(*pp)->next_refresh) {
        if (*pp == leader) {
            *pp = leader->next_refresh;
            break;
        }
    }
    struct call *w = leader->waiters;
    leader->waiters = NULL;
    leader->next_waiter = NULL;
    while (w || leader) {
        struct call *c = w ? w : leader;
        if (w)
            w = w->next_waiter;
        else
            leader = NULL;
        if (e->closing)
            call_end(c);
        else if (cfg)
            resend_with(c, cfg);
        else
            call_failed(c, true, error, why, -1, false);
    }
}

static void token_saved(void *arg, int err);
static void config_reloaded(void *arg, int err, struct connector_config *cfg);

static void after_refresh(struct call *c, const struct http_client_resp *resp)
{
    char why[ADAPTER_MESSAGE_MAX];
    if (resp->outcome != HTTP_RESPONSE || resp->status != 200) {
        if (resp->outcome == HTTP_RESPONSE)
            snprintf(why, sizeof why, "refreshing the access token failed: HTTP %ld", resp->status);
        else
            snprintf(why, sizeof why, "refreshing the access token failed: %s",
                     resp->error ? resp->error : "no response");
        refresh_finished(c, NULL, "Connector.Unauthorized", why);
        return;
    }
    char *token = NULL;
    double expires_in = -1;
    if (connectors_oauth_parse(resp->body, &token, &expires_in)) {
        refresh_finished(c, NULL, "Connector.Unauthorized",
                         "the token endpoint's answer holds no access token");
        return;
    }
    double expires = expires_in > 0 ? exec_now() + expires_in : 0;
    int rc = connectors_save_access_token(c->it->e->app->connectors, c->cfg, token, expires,
                                          token_saved, c);
    crypto_free_secret(token, strlen(token));
    if (rc)
        refresh_finished(c, NULL, "Connector.Unauthorized",
                         "the new access token could not be stored");
}

/* The token is stored (or storing it lost to another node's newer one): whichever token the
 * configuration holds now is the one to use, provided it is newer than the one refused. */
static void token_saved(void *arg, int err)
{
    struct call *c = arg;
    (void)err;
    if (c->it->e->closing ||
        connectors_get(c->it->e->app->connectors, c->it->tenant, c->connector, config_reloaded, c))
        refresh_finished(c, NULL, "Connector.Transient",
                         "the connector configuration is unavailable");
}

static void config_reloaded(void *arg, int err, struct connector_config *cfg)
{
    struct call *c = arg;
    if (c->it->e->closing || err)
        refresh_finished(c, NULL, "Connector.Transient",
                         "the connector configuration is unavailable");
    else if (cfg->version == c->cfg->version || !cfg->bearer)
        refresh_finished(c, NULL, "Connector.Unauthorized",
                         "the new access token could not be stored");
    else
        refresh_finished(c, cfg, NULL, NULL);
}

static void send_token_request(struct call *c);

/* A 401 to a call sent with an older token than the one the configuration holds now (another
 * call, or another node, refreshed meanwhile) needs no new refresh. */
static void refresh_check(void *arg, int err, struct connector_config *cfg)
{
    struct call *c = arg;
    if (c->it->e->closing)
        refresh_finished(c, NULL, "Connector.Unauthorized", "the node is stopping");
    else if (!err && cfg->version != c->cfg->version && cfg->bearer)
        refresh_finished(c, cfg, NULL, NULL);
    else
        send_token_request(c);
}

static void refresh_token(struct call *c)
{
    struct executor *e = c->it->e;
    c->refreshed = true;
    struct call *leader = refresh_leader(e, c);
    if (leader) {
        c->next_waiter = leader->waiters;
        leader->waiters = c;
        return;
    }
    c->next_refresh = e->refreshing;
    e->refreshing = c;
    if (connectors_get(e->app->connectors, c->it->tenant, c->connector, refresh_check, c))
        send_token_request(c);
}

static void send_token_request(struct call *c)
{
    struct executor *e = c->it->e;
    char *form = NULL;
    if (connectors_oauth_form(c->cfg, &form)) {
        refresh_finished(c, NULL, "Connector.Unauthorized",
                         "the connector has no refresh credentials");
        return;
    }
    c->phase = PH_REFRESH;
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json"};
    struct http_client_req hr = {.method = "POST",
                                 .url = c->cfg->token_url,
                                 .headers = headers,
                                 .nheaders = 2,
                                 .body = form,
                                 .body_len = strlen(form),
                                 .timeout_ms = (long)c->cfg->limits.timeout_seconds * 1000};
    int rc = http_client_send(e->app->http_client, &hr, on_response, c);
    crypto_free_secret(form, strlen(form));
    if (rc)
        refresh_finished(c, NULL, "Connector.Unauthorized",
                         "the token request could not be started");
}

static void on_response(void *arg, const struct http_client_resp *resp)
{
    struct call *c = arg;
    if (resp->outcome == HTTP_CANCELLED || c->it->e->closing) {
        /* Shutting down: the write-ahead marker stays, so whoever takes the intent up next
         * reconciles before repeating anything. */
        if (c->phase == PH_REFRESH)
            refresh_finished(c, NULL, "Connector.Unauthorized", "the token request was cancelled");
        else
            call_end(c);
        return;
    }
    app_metrics_connector_latency(c->it->e->app->metrics, c->connector, resp->elapsed_ms / 1e3);
    switch (c->phase) {
    case PH_PREPARE:
        after_prepare(c, resp);
        return;
    case PH_CALL:
        after_call(c, resp);
        return;
    case PH_RECONCILE:
        after_reconcile(c, resp);
        return;
    case PH_REFRESH:
        after_refresh(c, resp);
        return;
    case PH_CONFIG:
        break;
    }
    call_end(c);
}

/* --- configuration and guards --- */

/* Defers the call without counting an attempt: the lease goes back, due again at due. */
static void defer(struct call *c, const char *held_by, double due)
{
    struct item *it = c->it;
    app_metrics_deferral(it->e->app->metrics, held_by);
    if (call_end(c)) {
        json_t *op = exec_op_new(it);
        if (op)
            json_object_set_new(op, "held_by", json_string(held_by));
        exec_release_at(it, op, due);
    }
}

static void start(struct call *c);

static void park_fire(uv_timer_t *t)
{
    exec_unpark(t->data, false);
}

/* Keeps the call (and its lease) in memory until the guards wake it or until at: giving the
 * lease back and claiming it again takes longer than such a wait, and tokens fetched for it
 * would go stale meanwhile. */
static void park(struct call *c, double at)
{
    struct executor *e = c->it->e;
    c->next_parked = e->parked;
    e->parked = c;
    double ms = (at - exec_now()) * 1000.0;
    uint64_t delay = ms < 1 ? 1 : (uint64_t)ms;
    if (!uv_is_active((uv_handle_t *)&e->park_timer) || uv_timer_get_due_in(&e->park_timer) > delay)
        uv_timer_start(&e->park_timer, park_fire, delay, 0);
}

void exec_unpark(struct executor *e, bool drop)
{
    struct call *list = e->parked;
    e->parked = NULL;
    uv_timer_stop(&e->park_timer);
    while (list) {
        struct call *c = list;
        list = c->next_parked;
        c->next_parked = NULL;
        if (drop)
            call_free(c);
        else
            start(c); /* may park it again */
    }
}

static void start(struct call *c)
{
    struct item *it = c->it;
    struct app *app = it->e->app;
    double now = exec_now();
    if (app->stopping) {
        defer(c, "node stopping", now);
        return;
    }
    if (!c->comp && now >= (double)it->expires) {
        if (call_end(c))
            exec_finish(it, "EXPIRED", "the deadline passed before the call could start", NULL,
                        NULL);
        return;
    }
    /* Kill switches: kill ends a forward call's intent as cancelled (compensating what
     * succeeded; that compensation is not held by kill); pause holds every external call,
     * compensation included, without an attempt, until the scope runs again (the flip to run
     * makes held intents due; the recheck below is the fallback) or the deadline passes. */
    char scope[300];
    if (!c->comp && toggles_find(app->toggles, TOGGLE_KILL, it->tenant, it->type, c->connector,
                                 scope, sizeof scope)) {
        char why[400];
        snprintf(why, sizeof why, "killed: %s", scope);
        if (call_end(c))
            exec_finish(it, "CANCELLED", why, NULL, NULL);
        return;
    }
    if (toggles_find(app->toggles, TOGGLE_PAUSE, it->tenant, it->type, c->connector, scope,
                     sizeof scope)) {
        char held[400];
        snprintf(held, sizeof held, "paused: %s", scope);
        double due = now + PAUSE_RECHECK_S;
        if (!c->comp && (double)it->expires < due)
            due = (double)it->expires;
        defer(c, held, due > now + DEFER_MIN_S ? due : now + DEFER_MIN_S);
        return;
    }
    struct guard_decision d;
    /* a retry is an attempt after a failed one; resuming a crash-cut attempt is not (the
     * retry budget guards vendors against retry storms, not against recovery) */
    bool retry = it->step_attempts > 0;
    guards_acquire(app->guards, it->tenant, c->connector, &c->cfg->limits, retry, now, &d);
    if (d.kind != GUARD_GO) {
        bool brief = d.kind == GUARD_RATE_LIMITED || d.kind == GUARD_CONCURRENCY;
        if (brief && d.retry_at_epoch - now <= PARK_MAX_S) {
            app_metrics_deferral(app->metrics, guard_kind_name(d.kind));
            park(c, d.retry_at_epoch > now ? d.retry_at_epoch : now + PARK_MAX_S);
            return;
        }
        double due = d.retry_at_epoch > now + DEFER_MIN_S ? d.retry_at_epoch : now + DEFER_MIN_S;
        defer(c, guard_kind_name(d.kind), due);
        return;
    }
    c->guard_held = true;
    if (c->comp) {
        if (c->orig)
            build_and_send(c, c->orig->build_reconcile, PH_RECONCILE, false);
        else
            write_ahead(c);
        return;
    }
    if (it->inflight) {
        /* An earlier attempt was written ahead and its outcome never recorded (a crash, a
         * timeout): find out before anything is repeated (SPEC §4.6). */
        if (c->aop->build_reconcile) {
            c->after_conflict = false;
            c->precheck = true;
            build_and_send(c, c->aop->build_reconcile, PH_RECONCILE, true);
            return;
        }
        if (c->aop->unknown_is_delivered) {
            release_guard(c, GUARD_RESULT_OTHER);
            call_succeeded(c, true, NULL,
                           json_pack("{s:s, s:s}", "delivery", "unknown", "reason",
                                     "an earlier attempt was cut short"));
            return;
        }
    }
    continue_call(c);
}

/* The call itself, after any look-up: a prepare read when the operation needs one and has not
 * made it yet, then the write-ahead and the call. */
static void continue_call(struct call *c)
{
    if (c->aop->build_prepare && !c->it->prior) {
        build_and_send(c, c->aop->build_prepare, PH_PREPARE, false);
        return;
    }
    write_ahead(c);
}

static void config_loaded(void *arg, int err, struct connector_config *cfg)
{
    struct call *c = arg;
    if (c->it->e->closing) {
        call_end(c);
        return;
    }
    if (err == IE_NOTFOUND) {
        char why[ADAPTER_MESSAGE_MAX];
        snprintf(why, sizeof why, "connector %s is not configured for tenant %.64s", c->connector,
                 c->it->tenant);
        call_failed(c, false, "Connector.Permanent", why, -1, false);
        return;
    }
    if (err) {
        defer(c, "connector configuration unavailable", exec_now() + CONFIG_RETRY_S);
        return;
    }
    connector_config_ref(cfg);
    c->cfg = cfg;
    start(c);
}

static struct call *call_new(struct item *it, const struct adapter_op *aop)
{
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->it = it;
    c->aop = aop;
    const char *dot = strchr(aop->name, '.');
    size_t n = dot ? (size_t)(dot - aop->name) : strlen(aop->name);
    snprintf(c->connector, sizeof c->connector, "%.*s", (int)n, aop->name);
    it->call = c;
    it->e->calling++;
    return c;
}

static void load_config(struct call *c)
{
    int rc =
        connectors_get(c->it->e->app->connectors, c->it->tenant, c->connector, config_loaded, c);
    if (rc)
        defer(c, "connector configuration unavailable", exec_now() + CONFIG_RETRY_S);
}

void exec_call_task(struct item *it, const struct asl_step *st, const struct adapter_op *aop)
{
    struct call *c = call_new(it, aop);
    if (!c) {
        exec_finish(it, "FAILED", "out of memory starting a step", NULL, NULL);
        return;
    }
    c->state = strdup(st->state);
    c->input = json_incref(st->input);
    c->params = json_incref(st->parameters);
    c->compensate = st->compensate ? strdup(st->compensate) : NULL;
    c->timeout_s = st->timeout_seconds;
    if (!c->state || (st->compensate && !c->compensate) ||
        exec_idempotency_key(it, st->state, c->key, sizeof c->key)) {
        call_failed(c, false, "Connector.Permanent", "internal error preparing the step", -1,
                    false);
        return;
    }
    struct adapter_errors errs;
    adapter_errors_reset(&errs);
    if (aop->validate(st->parameters, &errs)) {
        char cause[ADAPTER_POINTER_MAX + ADAPTER_MESSAGE_MAX + 4];
        snprintf(cause, sizeof cause, "%s%s%s", errs.items[0].pointer,
                 errs.items[0].pointer[0] ? ": " : "", errs.items[0].message);
        call_failed(c, false, "Connector.Permanent", cause, -1, false);
        return;
    }
    c->phase = PH_CONFIG;
    load_config(c);
}

void exec_call_compensation(struct item *it, const struct adapter_op *aop, const json_t *done,
                            const char *key, const struct adapter_op *orig, exec_comp_cb cb)
{
    struct call *c = call_new(it, aop);
    if (!c) {
        cb(it, ADAPTER_TRANSIENT, -1, "out of memory", NULL);
        return;
    }
    c->comp = true;
    c->orig = orig;
    c->comp_cb = cb;
    c->done = json_deep_copy(done);
    c->state = strdup(json_string_value(json_object_get(done, "step")));
    c->params = json_incref(json_object_get(done, "params"));
    if (!c->params)
        c->params = json_object();
    snprintf(c->key, sizeof c->key, "%s", key);
    if (!c->done || !c->state) {
        call_failed(c, false, "Connector.Transient", "out of memory", -1, false);
        return;
    }
    c->phase = PH_CONFIG;
    load_config(c);
}
