/* The internal connector: records in intentd's own database (tasks, notes, briefs). Its
 * effects commit in the same transaction as the step's outcome, so each lands exactly once;
 * the record id is the step's idempotency key, so a repeat is a no-op as well. */
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "internal.h"
#include "params.h"

#define TITLE_MAX    500
#define TEXT_MAX     20000
#define NAME_MAX_LEN 200
#define URL_MAX      2048

static bool is_rfc3339(const char *s)
{
    long long e;
    char frac[8];
    return adapter_rfc3339_parse(s, &e, frac);
}

/* due_at normalised to UTC ("YYYY-MM-DDTHH:MM:SS[.ffffff]Z"), so the database never has to
 * interpret an offset. NULL when s is not valid or out of memory. */
static json_t *utc_text(const char *s)
{
    long long e;
    char frac[8];
    if (!adapter_rfc3339_parse(s, &e, frac))
        return NULL;
    long long days = e / 86400, rem = e % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    long long y = yoe + era * 400 + (m <= 2);
    char out[64];
    snprintf(out, sizeof out, "%04lld-%02d-%02dT%02lld:%02lld:%02lld%s%sZ", y, m, d, rem / 3600,
             rem % 3600 / 60, rem % 60, frac[0] ? "." : "", frac);
    return json_string(out);
}

static void check_text(const json_t *params, const char *key, bool required, size_t max,
                       bool multiline, struct adapter_errors *errs)
{
    (void)adapter_check_text(params, key, required, max, multiline, errs);
}

static size_t validate_create_task(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"title", "due_at", "assignee", "notes", NULL};
    adapter_params_known(params, "", known, errs);
    check_text(params, "title", true, TITLE_MAX, false, errs);
    check_text(params, "assignee", false, NAME_MAX_LEN, false, errs);
    check_text(params, "notes", false, TEXT_MAX, true, errs);
    const json_t *due = json_object_get(params, "due_at");
    if (due && !json_is_null(due) && (!json_is_string(due) || !is_rfc3339(json_string_value(due))))
        adapter_error(errs, "/due_at", "due_at must be an RFC 3339 date-time");
    return errs->count - before;
}

static size_t validate_log_note(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"body", NULL};
    adapter_params_known(params, "", known, errs);
    check_text(params, "body", true, TEXT_MAX, true, errs);
    return errs->count - before;
}

static size_t validate_attach_brief(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"title", "url", "content", NULL};
    adapter_params_known(params, "", known, errs);
    check_text(params, "title", true, TITLE_MAX, false, errs);
    check_text(params, "url", false, URL_MAX, false, errs);
    check_text(params, "content", false, TEXT_MAX * 10, true, errs);
    const json_t *url = json_object_get(params, "url");
    const json_t *content = json_object_get(params, "content");
    bool has_url = url && !json_is_null(url);
    bool has_content = content && !json_is_null(content);
    if (!has_url && !has_content)
        adapter_error(errs, "", "either url or content is required");
    if (has_url && json_is_string(url)) {
        const char *u = json_string_value(url);
        if (strncmp(u, "https://", 8) && strncmp(u, "http://", 7))
            adapter_error(errs, "/url", "url must be an http or https URL");
    }
    return errs->count - before;
}

/* Copies the named optional string fields of params into effect. */
static int copy_fields(json_t *effect, const json_t *params, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(params, keys[i]);
        if (v && json_is_string(v) && json_object_set(effect, keys[i], v))
            return -1;
    }
    return 0;
}

static int build(const char *kind, const json_t *params, const struct adapter_ctx *ctx,
                 const char *const *keys, json_t **effect, json_t **result)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "record_id", ctx->idempotency_key,
                          "step", ctx->step, "account_id", ctx->account_id);
    json_t *r = json_pack("{s:s, s:s}", "record_id", ctx->idempotency_key, "kind", kind);
    if (!e || !r || copy_fields(e, params, keys)) {
        json_decref(e);
        json_decref(r);
        return -1;
    }
    *effect = e;
    *result = r;
    return 0;
}

static int effect_create_task(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                              json_t **result)
{
    static const char *const keys[] = {"title", "assignee", "notes", NULL};
    if (build("task", params, ctx, keys, effect, result))
        return -1;
    const char *due = json_string_value(json_object_get(params, "due_at"));
    json_t *utc = due ? utc_text(due) : NULL;
    if (due && (!utc || json_object_set_new(*effect, "due_at", utc))) {
        json_decref(*effect);
        json_decref(*result);
        return -1;
    }
    return 0;
}

static int effect_log_note(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                           json_t **result)
{
    static const char *const keys[] = {"body", NULL};
    return build("note", params, ctx, keys, effect, result);
}

static int effect_attach_brief(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                               json_t **result)
{
    static const char *const keys[] = {"title", "url", "content", NULL};
    return build("brief", params, ctx, keys, effect, result);
}

const struct adapter_op internal_create_task = {
    .name = "internal.create_task",
    .reversible = true,
    .validate = validate_create_task,
    .build_effect = effect_create_task,
};

const struct adapter_op internal_log_note = {
    .name = "internal.log_note",
    .reversible = true,
    .validate = validate_log_note,
    .build_effect = effect_log_note,
};

const struct adapter_op internal_attach_brief = {
    .name = "internal.attach_brief",
    .reversible = true,
    .validate = validate_attach_brief,
    .build_effect = effect_attach_brief,
};

/* Compensation: a record is voided, never deleted, so the audit trail keeps what happened. The
 * record to void is the one the original step wrote, whose id is that step's idempotency key. */

static int build_void(const char *table, const struct adapter_ctx *ctx, json_t **effect,
                      json_t **result)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "kind", "void", "table", table, "record_id",
                          ctx->idempotency_key);
    json_t *r = json_pack("{s:s, s:b}", "record_id", ctx->idempotency_key, "voided", 1);
    if (!e || !r) {
        json_decref(e);
        json_decref(r);
        return -1;
    }
    *effect = e;
    *result = r;
    return 0;
}

static int effect_void_task(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                            json_t **result)
{
    (void)params;
    return build_void("task", ctx, effect, result);
}

static int effect_void_note(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                            json_t **result)
{
    (void)params;
    return build_void("note", ctx, effect, result);
}

static int effect_void_brief(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                             json_t **result)
{
    (void)params;
    return build_void("brief", ctx, effect, result);
}

const struct adapter_op internal_void_task = {
    .name = "internal.void_task",
    .validate = adapter_params_any,
    .build_effect = effect_void_task,
};

const struct adapter_op internal_void_note = {
    .name = "internal.void_note",
    .validate = adapter_params_any,
    .build_effect = effect_void_note,
};

const struct adapter_op internal_void_brief = {
    .name = "internal.void_brief",
    .validate = adapter_params_any,
    .build_effect = effect_void_brief,
};
