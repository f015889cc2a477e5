/* The internal connector: records in intentd's own database (tasks, notes, briefs). Its
 * effects commit in the same transaction as the step's outcome, so each lands exactly once;
 * the record id is the step's idempotency key, so a repeat is a no-op as well. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "internal.h"

#define TITLE_MAX 500
#define TEXT_MAX 20000
#define NAME_MAX_LEN 200
#define URL_MAX 2048

/* True when s is valid RFC 3339 date-time text; the check is deliberately strict. */
static bool is_rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%*1[Tt]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
        n != 19)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d > mdays[mo - 1])
        return false;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    if (*p != '+' && *p != '-')
        return false;
    int oh, om;
    n = 0;
    if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || p[6] != '\0')
        return false;
    return oh <= 23 && om <= 59;
}

static bool has_control(const char *s, bool allow_newlines)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t' || c == '\r')))
            return true;
        if (c == 0x7f)
            return true;
    }
    return false;
}

/* Counts UTF-8 code points (the input is valid UTF-8: jansson guarantees it). */
static size_t utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

/* Checks one string field; required or optional, 1..max characters. */
static void check_text(const json_t *params, const char *key, bool required, size_t max,
                       bool multiline, struct adapter_errors *errs)
{
    char ptr[64];
    snprintf(ptr, sizeof ptr, "/%s", key);
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v)) {
        if (required)
            adapter_error(errs, ptr, "%s is required", key);
        return;
    }
    if (!json_is_string(v)) {
        adapter_error(errs, ptr, "%s must be a string", key);
        return;
    }
    const char *s = json_string_value(v);
    size_t n = utf8_len(s);
    if (n == 0 || n > max)
        adapter_error(errs, ptr, "%s must be 1 to %zu characters, not %zu", key, max, n);
    else if (strlen(s) != json_string_length(v) || has_control(s, multiline))
        adapter_error(errs, ptr, "%s must not contain control characters", key);
}

/* Flags keys the operation does not know, so a typo is an error and not a silent drop. */
static void check_known(const json_t *params, const char *const *known,
                        struct adapter_errors *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || !strcmp(known[i], key);
        if (!ok) {
            char ptr[ADAPTER_POINTER_MAX];
            snprintf(ptr, sizeof ptr, "/%.200s", key);
            adapter_error(errs, ptr, "unknown parameter \"%.100s\"", key);
        }
    }
}

static bool require_object(const json_t *params, struct adapter_errors *errs)
{
    if (json_is_object(params))
        return true;
    adapter_error(errs, "", "parameters must be an object");
    return false;
}

static size_t validate_create_task(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!require_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"title", "due_at", "assignee", "notes", NULL};
    check_known(params, known, errs);
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
    if (!require_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"body", NULL};
    check_known(params, known, errs);
    check_text(params, "body", true, TEXT_MAX, true, errs);
    return errs->count - before;
}

static size_t validate_attach_brief(const json_t *params, struct adapter_errors *errs)
{
    size_t before = errs->count;
    if (!require_object(params, errs))
        return errs->count - before;
    static const char *const known[] = {"title", "url", "content", NULL};
    check_known(params, known, errs);
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

static int effect_create_task(const json_t *params, const struct adapter_ctx *ctx,
                              json_t **effect, json_t **result)
{
    static const char *const keys[] = {"title", "due_at", "assignee", "notes", NULL};
    return build("task", params, ctx, keys, effect, result);
}

static int effect_log_note(const json_t *params, const struct adapter_ctx *ctx, json_t **effect,
                           json_t **result)
{
    static const char *const keys[] = {"body", NULL};
    return build("note", params, ctx, keys, effect, result);
}

static int effect_attach_brief(const json_t *params, const struct adapter_ctx *ctx,
                               json_t **effect, json_t **result)
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
static size_t validate_any(const json_t *params, struct adapter_errors *errs)
{
    (void)params;
    (void)errs;
    return 0;
}

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

static int effect_void_brief(const json_t *params, const struct adapter_ctx *ctx,
                             json_t **effect, json_t **result)
{
    (void)params;
    return build_void("brief", ctx, effect, result);
}

const struct adapter_op internal_void_task = {
    .name = "internal.void_task",
    .validate = validate_any,
    .build_effect = effect_void_task,
};

const struct adapter_op internal_void_note = {
    .name = "internal.void_note",
    .validate = validate_any,
    .build_effect = effect_void_note,
};

const struct adapter_op internal_void_brief = {
    .name = "internal.void_brief",
    .validate = validate_any,
    .build_effect = effect_void_brief,
};
