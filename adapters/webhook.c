/* The webhook connector: one configurable HTTP call per tenant (docs/connectors-wire.md,
 * "webhook"). Every call carries Idempotency-Key: the receiver is expected to de-duplicate
 * it, so an unknown outcome is retried with the same key. The undo call, when configured, is
 * the compensation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "http_common.h"
#include "params.h"

#define PARAMS_MAX     (256 * 1024)
#define SET_PATH_MAX   2048
#define FIELD_MAX      200
#define TEMPLATE_DEPTH 32
#define UNDO_SUFFIX    "-undo"

static const char *const METHODS[] = {"GET", "POST", "PUT", "PATCH", "DELETE", NULL};

static size_t validate_call(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    /* json_dumpb with no buffer only measures */
    size_t n = json_dumpb(params, NULL, 0, JSON_COMPACT);
    if (n > PARAMS_MAX)
        adapter_error(errs, "", "parameters must be at most %d bytes as JSON, not %zu", PARAMS_MAX,
                      n);
    return errs->count - before;
}

/* The value at a dotted path ("a.b.0"): object members by name, array items by index. */
static const json_t *lookup(const json_t *data, const char *path)
{
    const json_t *at = data;
    while (at && *path) {
        const char *dot = strchr(path, '.');
        size_t len = dot ? (size_t)(dot - path) : strlen(path);
        char seg[FIELD_MAX + 1];
        if (len == 0 || len > FIELD_MAX)
            return NULL;
        memcpy(seg, path, len);
        seg[len] = '\0';
        if (json_is_object(at)) {
            at = json_object_get(at, seg);
        } else if (json_is_array(at) && strspn(seg, "0123456789") == len && len < 10) {
            at = json_array_get(at, (size_t)strtoul(seg, NULL, 10));
        } else {
            return NULL;
        }
        path = dot ? dot + 1 : path + len;
        if (dot && !*path)
            return NULL;
    }
    return at;
}

/* A copy of tmpl where each string "$" is data and each string "$.a.b" the value at that path
 * of data. Returns 0 with *out, or -1 with cause (a path data lacks, too deep, no memory). */
static int fill(const json_t *tmpl, const json_t *data, int depth, json_t **out,
                char cause[ADAPTER_MESSAGE_MAX])
{
    if (depth > TEMPLATE_DEPTH)
        return adapter_build_fail(cause, "body_template nests deeper than %d", TEMPLATE_DEPTH);
    const char *s = json_string_value(tmpl);
    if (s && (!strcmp(s, "$") || !strncmp(s, "$.", 2))) {
        const json_t *v = s[1] ? lookup(data, s + 2) : data;
        if (!v)
            return adapter_build_fail(cause, "body_template: %.100s is not in the parameters", s);
        *out = json_deep_copy(v);
    } else if (json_is_object(tmpl)) {
        json_t *o = json_object();
        const char *key;
        json_t *v, *c;
        if (!o)
            return adapter_build_fail(cause, "out of memory");
        json_object_foreach((json_t *)tmpl, key, v)
        {
            if (fill(v, data, depth + 1, &c, cause)) {
                json_decref(o);
                return -1;
            }
            if (json_object_set_new(o, key, c)) {
                json_decref(o);
                return adapter_build_fail(cause, "out of memory");
            }
        }
        *out = o;
    } else if (json_is_array(tmpl)) {
        json_t *a = json_array();
        size_t i;
        json_t *v, *c;
        if (!a)
            return adapter_build_fail(cause, "out of memory");
        json_array_foreach(tmpl, i, v)
        {
            if (fill(v, data, depth + 1, &c, cause)) {
                json_decref(a);
                return -1;
            }
            if (json_array_append_new(a, c)) {
                json_decref(a);
                return adapter_build_fail(cause, "out of memory");
            }
        }
        *out = a;
    } else {
        *out = json_deep_copy(tmpl);
    }
    return *out ? 0 : adapter_build_fail(cause, "out of memory");
}

/* A configured path: "" or "/..." of printable ASCII without blanks (it is sent as written,
 * so it must be escaped already). */
static bool path_shape(const char *s)
{
    if (*s && *s != '/')
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f || *s == '#')
            return false;
    return true;
}

/* The method, path and body template of a call described by the object conf. */
struct call {
    const char *method;
    const char *path;
    const json_t *body_template; /* NULL: none */
};

static int call_of(const json_t *conf, const char *what, const char *dflt_method, struct call *c,
                   char cause[ADAPTER_MESSAGE_MAX])
{
    const json_t *m = json_object_get(conf, "method");
    const json_t *p = json_object_get(conf, "path");
    c->method = dflt_method;
    if (m && !json_is_null(m)) {
        c->method = NULL;
        for (size_t i = 0; METHODS[i]; i++)
            if (json_is_string(m) && !strcmp(json_string_value(m), METHODS[i]))
                c->method = METHODS[i];
    }
    if (!c->method)
        return adapter_build_fail(cause, "setting %smethod must be GET, POST, PUT, PATCH or DELETE",
                                  what);
    c->path = p && !json_is_null(p) ? json_string_value(p) : "";
    if (!c->path || strlen(c->path) > SET_PATH_MAX || !path_shape(c->path))
        return adapter_build_fail(cause,
                                  "setting %spath must be \"\" or an escaped path starting "
                                  "with / (at most %d bytes)",
                                  what, SET_PATH_MAX);
    c->body_template = json_object_get(conf, "body_template");
    return 0;
}

/* Adds the Idempotency-Key header to *request; on failure releases it. */
static int with_key_header(json_t **request, const char *key, const char *suffix,
                           char cause[ADAPTER_MESSAGE_MAX])
{
    char value[ADAPTER_ID_MAX];
    snprintf(value, sizeof value, "%s%s", key ? key : "", suffix);
    if (json_object_set_new(*request, "headers", json_pack("{s:s}", "Idempotency-Key", value))) {
        json_decref(*request);
        *request = NULL;
        return adapter_build_fail(cause, "out of memory");
    }
    return 0;
}

static int build_call(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                      char cause[ADAPTER_MESSAGE_MAX])
{
    struct call c;
    if (call_of(ctx->settings, "", "POST", &c, cause))
        return -1;
    json_t *body = NULL;
    /* A GET carries no body: what it needs is in its configured path. */
    if (strcmp(c.method, "GET")) {
        if (c.body_template && fill(c.body_template, params, 0, &body, cause))
            return -1;
        if (!c.body_template && !(body = json_deep_copy(params)))
            return adapter_build_fail(cause, "out of memory");
    }
    struct adapter_path p;
    adapter_path_init(&p);
    adapter_path_lit(&p, c.path);
    if (adapter_request(c.method, &p, body, request, cause))
        return -1;
    return with_key_header(request, ctx->idempotency_key, "", cause);
}

static void classify_call(const json_t *params, const struct adapter_ctx *ctx,
                          const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_status(resp, out);
        return;
    }
    const char *field = NULL;
    if (adapter_setting(ctx, "id_field", "id", FIELD_MAX, &field, NULL))
        field = "id";
    json_error_t e;
    json_t *body = resp->body_len && resp->body_len <= ADAPTER_BODY_PARSE_MAX
                       ? json_loadb(resp->body, resp->body_len, JSON_DECODE_ANY, &e)
                       : NULL;
    char buf[ADAPTER_ID_MAX];
    const char *id = adapter_id_text(lookup(body, field), buf, sizeof buf);
    json_t *result = json_pack("{s:i, s:s?, s:o}", "status", (int)resp->status, "id", id, "body",
                               body ? body : json_null());
    adapter_ok(out, id, result);
}

/* ---- webhook.undo ---- */

/* The configured undo path with {external_id} and {idempotency_key} put in, escaped. */
static int undo_path(const char *tmpl, const char *external_id, const char *key,
                     struct adapter_path *p, char cause[ADAPTER_MESSAGE_MAX])
{
    static const char EXT[] = "{external_id}", KEY[] = "{idempotency_key}";
    adapter_path_init(p);
    for (const char *s = tmpl; *s;) {
        if (!strncmp(s, EXT, sizeof EXT - 1)) {
            if (!external_id)
                return adapter_build_fail(cause, "undo path needs {external_id}, and the step "
                                                 "to undo recorded none");
            adapter_path_esc(p, external_id);
            s += sizeof EXT - 1;
        } else if (!strncmp(s, KEY, sizeof KEY - 1)) {
            adapter_path_esc(p, key ? key : "");
            s += sizeof KEY - 1;
        } else {
            char one[2] = {*s++, '\0'};
            adapter_path_lit(p, one);
        }
    }
    return 0;
}

static int build_undo(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                      char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    const json_t *conf = ctx->settings ? json_object_get(ctx->settings, "undo") : NULL;
    if (!conf || json_is_null(conf))
        return adapter_skip("no undo call configured", request, cause);
    if (!json_is_object(conf))
        return adapter_build_fail(cause, "setting undo must be an object {\"method\", \"path\"}");
    struct call c;
    if (call_of(conf, "undo.", "DELETE", &c, cause))
        return -1;
    char id[ADAPTER_ID_MAX];
    struct adapter_path p;
    if (undo_path(c.path, adapter_done_id(ctx, "id", id, sizeof id), ctx->idempotency_key, &p,
                  cause))
        return -1;
    json_t *body = NULL;
    if (c.body_template && strcmp(c.method, "GET") &&
        fill(c.body_template, ctx->done ? ctx->done : json_null(), 0, &body, cause))
        return -1;
    if (adapter_request(c.method, &p, body, request, cause))
        return -1;
    /* Its own key: under the call's key a de-duplicating receiver would answer with the
     * call's stored response instead of undoing it. */
    return with_key_header(request, ctx->idempotency_key, UNDO_SUFFIX, cause);
}

/* 2xx undone; 404 and 410 gone already. */
static void classify_undo(const json_t *params, const struct adapter_ctx *ctx,
                          const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    char id[ADAPTER_ID_MAX] = "";
    adapter_done_id(ctx, "id", id, sizeof id);
    bool gone = resp->status == 404 || resp->status == 410;
    if (adapter_is_2xx(resp->status) || gone)
        adapter_ok(out, id,
                   json_pack("{s:i, s:b, s:b}", "status", (int)resp->status, "undone", 1,
                             "already_gone", gone));
    else
        adapter_classify_status(resp, out);
}

const struct adapter_op webhook_call = {
    .name = "webhook.call",
    .repeat_safe = true,
    .reversible = true,
    .validate = validate_call,
    .build_request = build_call,
    .classify = classify_call,
    .idempotency_header = "Idempotency-Key",
};

const struct adapter_op webhook_undo = {
    .name = "webhook.undo",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_undo,
    .classify = classify_undo,
    .idempotency_header = "Idempotency-Key",
};
