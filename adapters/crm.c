/* The crm connector: HubSpot CRM v3 objects (docs/connectors-wire.md, "crm"). Every object it
 * creates carries a unique-valued custom property set to the step's idempotency key, so a
 * repeated create is refused with 409 and the earlier object is found by a search on that
 * property; an update reads the value it overwrites first, so it can be put back. */
#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "http_common.h"
#include "params.h"

#define SUBJECT_MAX      500
#define TEXT_MAX         65536
#define NAME_MAX_CHARS   500
#define STAGE_MAX        100
#define PROPERTY_MAX     100
#define ASSOCIATIONS_MAX 100
#define IDEM_PROPERTY    "intentd_idempotency_key"

/* HubSpot's default (unlabelled) association type ids, by direction. */
struct assoc_type {
    const char *object_type;
    int type_id;
};

static const struct assoc_type TASK_ASSOC[] = {
    {"contact", 204}, {"company", 192}, {"deal", 216}, {NULL, 0}};
static const struct assoc_type DEAL_ASSOC[] = {{"contact", 3}, {"company", 341}, {NULL, 0}};

static const char *const OBJECT_TYPES[] = {"contacts", "companies", "deals", "tasks", NULL};

/* ---- validate ---- */

static void check_associations(const json_t *params, const struct assoc_type *types,
                               struct adapter_errors *errs)
{
    const json_t *list = json_object_get(params, "associations");
    if (!list || json_is_null(list))
        return;
    if (!json_is_array(list)) {
        adapter_error(errs, "/associations", "associations must be an array");
        return;
    }
    if (json_array_size(list) > ASSOCIATIONS_MAX) {
        adapter_error(errs, "/associations", "associations must have at most %d items, not %zu",
                      ASSOCIATIONS_MAX, json_array_size(list));
        return;
    }
    const char *names[8];
    size_t n = 0;
    for (; types[n].object_type && n < 7; n++)
        names[n] = types[n].object_type;
    names[n] = NULL;
    static const char *const known[] = {"object_type", "id", NULL};
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        char base[64], ptr[96], id[40];
        snprintf(base, sizeof base, "/associations/%zu", i);
        if (!json_is_object(a)) {
            adapter_error(errs, base, "an association must be an object {\"object_type\", \"id\"}");
            continue;
        }
        adapter_params_known(a, base, known, errs);
        snprintf(ptr, sizeof ptr, "%s/object_type", base);
        adapter_check_enum_at(json_object_get(a, "object_type"), ptr, "object_type", true, names,
                              errs);
        snprintf(ptr, sizeof ptr, "%s/id", base);
        adapter_check_id(json_object_get(a, "id"), ptr, "id", id, errs);
    }
}

static void check_owner(const json_t *params, struct adapter_errors *errs)
{
    const json_t *v = json_object_get(params, "owner_id");
    char id[40];
    if (v && !json_is_null(v))
        adapter_check_id(v, "/owner_id", "owner_id", id, errs);
}

static size_t validate_create_task(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"subject",  "due_at",       "body",
                                        "status",   "priority",     "task_type",
                                        "owner_id", "associations", NULL};
    static const char *const statuses[] = {"NOT_STARTED", "IN_PROGRESS", "WAITING",
                                           "COMPLETED",   "DEFERRED",    NULL};
    static const char *const priorities[] = {"LOW", "MEDIUM", "HIGH", NULL};
    static const char *const kinds[] = {"TODO", "EMAIL", "CALL", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    adapter_check_text(params, "subject", true, SUBJECT_MAX, false, errs);
    adapter_check_time(params, "due_at", true, NULL, NULL, errs);
    adapter_check_text(params, "body", false, TEXT_MAX, true, errs);
    adapter_check_enum(params, "status", false, statuses, errs);
    adapter_check_enum(params, "priority", false, priorities, errs);
    adapter_check_enum(params, "task_type", false, kinds, errs);
    check_owner(params, errs);
    check_associations(params, TASK_ASSOC, errs);
    return errs->count - before;
}

/* A decimal amount: digits with at most one point, an optional leading minus. */
static bool decimal_shape(const char *s)
{
    size_t i = s[0] == '-', digits = 0, points = 0;
    for (; s[i]; i++) {
        if (s[i] == '.')
            points++;
        else if (s[i] >= '0' && s[i] <= '9')
            digits++;
        else
            return false;
    }
    return digits > 0 && digits <= 30 && points <= 1 && s[strlen(s) - 1] != '.' &&
           s[s[0] == '-'] != '.';
}

static size_t validate_create_opportunity(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"name",       "stage",    "pipeline",     "amount",
                                        "close_date", "owner_id", "associations", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    adapter_check_text(params, "name", true, NAME_MAX_CHARS, false, errs);
    adapter_check_text(params, "stage", true, STAGE_MAX, false, errs);
    adapter_check_text(params, "pipeline", false, STAGE_MAX, false, errs);
    const json_t *amount = json_object_get(params, "amount");
    char text[64];
    if (amount && !json_is_null(amount) && adapter_number_text(amount, text, sizeof text) &&
        !(json_is_string(amount) && decimal_shape(json_string_value(amount))))
        adapter_error(errs, "/amount", "amount must be a number or decimal text like \"1500.00\"");
    adapter_check_time(params, "close_date", false, NULL, NULL, errs);
    check_owner(params, errs);
    check_associations(params, DEAL_ASSOC, errs);
    return errs->count - before;
}

/* HubSpot property internal names: a lowercase letter, then lowercase letters, digits, _. */
static bool property_shape(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PROPERTY_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static size_t validate_update_field(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"object_type", "object_id", "property", "value", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    adapter_check_enum(params, "object_type", true, OBJECT_TYPES, errs);
    char id[40];
    adapter_check_id(json_object_get(params, "object_id"), "/object_id", "object_id", id, errs);
    const char *p = adapter_check_text(params, "property", true, PROPERTY_MAX, false, errs);
    if (p && !property_shape(p))
        adapter_error(errs, "/property",
                      "property must be a HubSpot internal name ([a-z][a-z0-9_]*, at most %d)",
                      PROPERTY_MAX);
    const json_t *v = json_object_get(params, "value");
    char text[64];
    if (!v)
        adapter_error(errs, "/value", "value is required (null clears the property)");
    else if (json_is_string(v))
        adapter_check_string(v, "/value", "value", true, TEXT_MAX, true, errs);
    else if (!json_is_null(v) && !json_is_boolean(v) && adapter_number_text(v, text, sizeof text))
        adapter_error(errs, "/value", "value must be a string, number, boolean or null");
    return errs->count - before;
}

/* ---- building ---- */

static int idem_property(const struct adapter_ctx *ctx, const char **out,
                         char cause[ADAPTER_MESSAGE_MAX])
{
    if (adapter_setting(ctx, "idempotency_property", IDEM_PROPERTY, PROPERTY_MAX, out, cause))
        return -1;
    if (!property_shape(*out))
        return adapter_build_fail(cause, "setting idempotency_property must be a HubSpot "
                                         "internal property name ([a-z][a-z0-9_]*)");
    return 0;
}

/* Sets a string member; remembers a failure in *bad rather than returning it, so a builder
 * checks once. */
static void put(json_t *o, const char *key, const char *value, bool *bad)
{
    if (value && (!o || json_object_set_new(o, key, json_string(value))))
        *bad = true;
}

/* A value as the text HubSpot stores: strings as they are, numbers in decimal, booleans as
 * "true"/"false", null as "" (clears the property). */
static const char *value_text(const json_t *v, char *buf, size_t buflen)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (!adapter_number_text(v, buf, buflen))
        return buf;
    return "";
}

static json_t *associations(const json_t *params, const struct assoc_type *types)
{
    json_t *out = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(params, "associations"), i, a)
    {
        const char *kind = json_string_value(json_object_get(a, "object_type"));
        char id[40];
        const struct assoc_type *t = types;
        while (t->object_type && kind && strcmp(t->object_type, kind))
            t++;
        if (!t->object_type || !adapter_id_text(json_object_get(a, "id"), id, sizeof id) ||
            json_array_append_new(out, json_pack("{s:{s:s}, s:[{s:s, s:i}]}", "to", "id", id,
                                                 "types", "associationCategory", "HUBSPOT_DEFINED",
                                                 "associationTypeId", t->type_id))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* POST /crm/v3/objects/{object_type} with props (stolen) plus the idempotency property. */
static int build_create(const char *object_type, json_t *props, const json_t *params,
                        const struct assoc_type *types, const struct adapter_ctx *ctx,
                        json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    const char *prop;
    if (idem_property(ctx, &prop, cause)) {
        json_decref(props);
        return -1;
    }
    bool bad = false;
    put(props, prop, ctx->idempotency_key, &bad);
    json_t *assoc = associations(params, types);
    json_t *body = json_object();
    if (bad || !props || !assoc || !body) {
        json_decref(props);
        json_decref(assoc);
        json_decref(body);
        return adapter_build_fail(cause, "out of memory");
    }
    /* both calls take their value over, even when they fail */
    int rc = json_object_set_new(body, "properties", props);
    rc |= json_object_set_new(body, "associations", assoc);
    if (rc) {
        json_decref(body);
        return adapter_build_fail(cause, "out of memory");
    }
    struct adapter_path p;
    adapter_path_init(&p);
    adapter_path_lit(&p, "/crm/v3/objects/");
    adapter_path_lit(&p, object_type);
    return adapter_request("POST", &p, body, request, cause);
}

static int build_create_task(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                             char cause[ADAPTER_MESSAGE_MAX])
{
    char ms[32], owner[40];
    if (adapter_epoch_ms(json_string_value(json_object_get(params, "due_at")), ms, sizeof ms))
        return adapter_build_fail(cause, "due_at is not an RFC 3339 date-time");
    const char *status = json_string_value(json_object_get(params, "status"));
    json_t *props = json_object();
    bool bad = false;
    put(props, "hs_task_subject", json_string_value(json_object_get(params, "subject")), &bad);
    put(props, "hs_timestamp", ms, &bad);
    put(props, "hs_task_status", status ? status : "NOT_STARTED", &bad);
    put(props, "hs_task_body", json_string_value(json_object_get(params, "body")), &bad);
    put(props, "hs_task_priority", json_string_value(json_object_get(params, "priority")), &bad);
    put(props, "hs_task_type", json_string_value(json_object_get(params, "task_type")), &bad);
    put(props, "hubspot_owner_id",
        adapter_id_text(json_object_get(params, "owner_id"), owner, sizeof owner), &bad);
    if (bad) {
        json_decref(props);
        return adapter_build_fail(cause, "out of memory");
    }
    return build_create("tasks", props, params, TASK_ASSOC, ctx, request, cause);
}

static int build_create_opportunity(const json_t *params, const struct adapter_ctx *ctx,
                                    json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    char ms[32], owner[40], amount[64];
    const char *close = json_string_value(json_object_get(params, "close_date"));
    if (close && adapter_epoch_ms(close, ms, sizeof ms))
        return adapter_build_fail(cause, "close_date is not an RFC 3339 date-time");
    const json_t *a = json_object_get(params, "amount");
    const char *pipeline = json_string_value(json_object_get(params, "pipeline"));
    json_t *props = json_object();
    bool bad = false;
    put(props, "dealname", json_string_value(json_object_get(params, "name")), &bad);
    put(props, "dealstage", json_string_value(json_object_get(params, "stage")), &bad);
    put(props, "pipeline", pipeline ? pipeline : "default", &bad);
    put(props, "amount", a && !json_is_null(a) ? value_text(a, amount, sizeof amount) : NULL, &bad);
    put(props, "closedate", close ? ms : NULL, &bad);
    put(props, "hubspot_owner_id",
        adapter_id_text(json_object_get(params, "owner_id"), owner, sizeof owner), &bad);
    if (bad) {
        json_decref(props);
        return adapter_build_fail(cause, "out of memory");
    }
    return build_create("deals", props, params, DEAL_ASSOC, ctx, request, cause);
}

/* POST /crm/v3/objects/{object_type}/search for the object carrying this step's key. */
static int build_search(const char *object_type, const struct adapter_ctx *ctx, json_t **request,
                        char cause[ADAPTER_MESSAGE_MAX])
{
    const char *prop;
    if (idem_property(ctx, &prop, cause))
        return -1;
    json_t *body = json_pack("{s:[{s:[{s:s, s:s, s:s}]}], s:[s], s:i}", "filterGroups", "filters",
                             "propertyName", prop, "operator", "EQ", "value", ctx->idempotency_key,
                             "properties", prop, "limit", 1);
    if (!body)
        return adapter_build_fail(cause, "out of memory");
    struct adapter_path p;
    adapter_path_init(&p);
    adapter_path_lit(&p, "/crm/v3/objects/");
    adapter_path_lit(&p, object_type);
    adapter_path_lit(&p, "/search");
    return adapter_request("POST", &p, body, request, cause);
}

static int build_search_task(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                             char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    return build_search("tasks", ctx, request, cause);
}

static int build_search_deal(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                             char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    return build_search("deals", ctx, request, cause);
}

/* /crm/v3/objects/{object_type}/{id} */
static void object_path(struct adapter_path *p, const char *object_type, const char *id)
{
    adapter_path_init(p);
    adapter_path_lit(p, "/crm/v3/objects/");
    adapter_path_esc(p, object_type);
    adapter_path_lit(p, "/");
    adapter_path_esc(p, id);
}

static int build_read_field(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                            char cause[ADAPTER_MESSAGE_MAX])
{
    (void)ctx;
    char id[40];
    struct adapter_path p;
    if (!adapter_id_text(json_object_get(params, "object_id"), id, sizeof id))
        return adapter_build_fail(cause, "object_id is not an id");
    object_path(&p, json_string_value(json_object_get(params, "object_type")), id);
    adapter_path_lit(&p, "?properties=");
    adapter_path_esc(&p, json_string_value(json_object_get(params, "property")));
    return adapter_request("GET", &p, NULL, request, cause);
}

/* PATCH /crm/v3/objects/{object_type}/{id} {"properties": {property: value}} */
static int build_patch(const char *object_type, const char *id, const char *property,
                       const char *value, json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    json_t *body = json_pack("{s:{s:s}}", "properties", property, value);
    if (!body)
        return adapter_build_fail(cause, "out of memory");
    struct adapter_path p;
    object_path(&p, object_type, id);
    return adapter_request("PATCH", &p, body, request, cause);
}

static int build_update_field(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)ctx;
    char id[40], buf[64];
    if (!adapter_id_text(json_object_get(params, "object_id"), id, sizeof id))
        return adapter_build_fail(cause, "object_id is not an id");
    return build_patch(json_string_value(json_object_get(params, "object_type")), id,
                       json_string_value(json_object_get(params, "property")),
                       value_text(json_object_get(params, "value"), buf, sizeof buf), request,
                       cause);
}

/* ---- classifying ---- */

static void classify_create(const char *object_type, const struct adapter_response *resp,
                            struct adapter_outcome *out)
{
    if (resp->status == 409) {
        char msg[ADAPTER_MESSAGE_MAX - 48];
        adapter_vendor_message(resp, msg, sizeof msg);
        adapter_fail(out, ADAPTER_CONFLICT, "HTTP 409: an object with this step's key exists%s%s",
                     msg[0] ? ": " : "", msg);
        return;
    }
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_status(resp, out);
        return;
    }
    /* Created: keep what is known even when the body is not what HubSpot documents. */
    json_t *body = adapter_body_object(resp);
    char buf[ADAPTER_ID_MAX];
    const char *id = adapter_id_text(json_object_get(body, "id"), buf, sizeof buf);
    json_decref(body);
    json_t *result = id ? json_pack("{s:s, s:s}", "id", id, "object_type", object_type)
                        : json_pack("{s:n, s:s}", "id", "object_type", object_type);
    adapter_ok(out, id, result);
}

static void classify_create_task(const json_t *params, const struct adapter_ctx *ctx,
                                 const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    (void)ctx;
    classify_create("tasks", resp, out);
}

static void classify_create_deal(const json_t *params, const struct adapter_ctx *ctx,
                                 const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    (void)ctx;
    classify_create("deals", resp, out);
}

static void classify_search(const char *object_type, const struct adapter_response *resp,
                            struct adapter_outcome *out)
{
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_status(resp, out);
        return;
    }
    json_t *body = adapter_body_object(resp);
    const json_t *results = json_object_get(body, "results");
    char buf[ADAPTER_ID_MAX];
    if (!json_is_array(results)) {
        adapter_fail(out, ADAPTER_PERMANENT, "HTTP %ld: search answer without results",
                     resp->status);
    } else if (json_array_size(results) == 0) {
        adapter_fail(out, ADAPTER_ABSENT, "no %s object carries this step's key", object_type);
    } else {
        const char *id =
            adapter_id_text(json_object_get(json_array_get(results, 0), "id"), buf, sizeof buf);
        if (id)
            adapter_ok(out, id, json_pack("{s:s, s:s}", "id", id, "object_type", object_type));
        else
            adapter_fail(out, ADAPTER_PERMANENT, "HTTP %ld: search result without an id",
                         resp->status);
    }
    json_decref(body);
}

static void classify_search_task(const json_t *params, const struct adapter_ctx *ctx,
                                 const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    (void)ctx;
    classify_search("tasks", resp, out);
}

static void classify_search_deal(const json_t *params, const struct adapter_ctx *ctx,
                                 const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    (void)ctx;
    classify_search("deals", resp, out);
}

/* The prior value: {"property": p, "value": the text HubSpot holds, or null when unset}. */
static void classify_read_field(const json_t *params, const struct adapter_ctx *ctx,
                                const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)ctx;
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_status(resp, out);
        return;
    }
    const char *property = json_string_value(json_object_get(params, "property"));
    json_t *body = adapter_body_object(resp);
    const json_t *props = json_object_get(body, "properties");
    if (!json_is_object(props)) {
        /* Without the old value the update could not be undone: do not make it. */
        adapter_fail(out, ADAPTER_PERMANENT, "HTTP %ld: object read without properties",
                     resp->status);
        json_decref(body);
        return;
    }
    const json_t *v = json_object_get(props, property);
    char buf[64], id[40];
    json_t *old = json_is_string(v) || json_is_boolean(v) || json_is_number(v)
                      ? json_string(value_text(v, buf, sizeof buf))
                      : json_null();
    adapter_ok(out, adapter_id_text(json_object_get(params, "object_id"), id, sizeof id),
               old ? json_pack("{s:s, s:o}", "property", property, "value", old) : NULL);
    json_decref(body);
}

static void classify_update_field(const json_t *params, const struct adapter_ctx *ctx,
                                  const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)ctx;
    if (!adapter_is_2xx(resp->status)) {
        adapter_classify_status(resp, out);
        return;
    }
    char id[40] = "", buf[64];
    adapter_id_text(json_object_get(params, "object_id"), id, sizeof id);
    adapter_ok(out, id,
               json_pack("{s:s, s:s, s:s, s:s}", "id", id, "object_type",
                         json_string_value(json_object_get(params, "object_type")), "property",
                         json_string_value(json_object_get(params, "property")), "value",
                         value_text(json_object_get(params, "value"), buf, sizeof buf)));
}

/* ---- compensation ---- */

static int build_archive(const char *object_type, const struct adapter_ctx *ctx, json_t **request,
                         char cause[ADAPTER_MESSAGE_MAX])
{
    char id[ADAPTER_ID_MAX];
    if (!adapter_done_id(ctx, "id", id, sizeof id))
        return adapter_build_fail(cause, "no %s id was recorded for the step to undo", object_type);
    struct adapter_path p;
    object_path(&p, object_type, id);
    return adapter_request("DELETE", &p, NULL, request, cause);
}

static int build_archive_task(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    return build_archive("tasks", ctx, request, cause);
}

static int build_archive_deal(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    return build_archive("deals", ctx, request, cause);
}

/* 2xx archived, 404 archived before (by an earlier attempt, or by someone in HubSpot). */
static void classify_archive(const json_t *params, const struct adapter_ctx *ctx,
                             const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    char id[ADAPTER_ID_MAX] = "";
    adapter_done_id(ctx, "id", id, sizeof id);
    if (adapter_is_2xx(resp->status) || resp->status == 404)
        adapter_ok(out, id,
                   json_pack("{s:s, s:b, s:b}", "id", id, "archived", 1, "already_gone",
                             resp->status == 404));
    else
        adapter_classify_status(resp, out);
}

/* What restore_field puts back, from the update's recorded outcome. */
struct restore {
    const char *object_type;
    char id[ADAPTER_ID_MAX];
    const char *property;
    const char *value;
};

static bool restore_of(const struct adapter_ctx *ctx, struct restore *r)
{
    const json_t *params = json_object_get(ctx->done, "params");
    const json_t *prior = json_object_get(ctx->done, "prior");
    const char *type = json_string_value(json_object_get(params, "object_type"));
    r->object_type = NULL;
    for (size_t i = 0; type && OBJECT_TYPES[i]; i++)
        if (!strcmp(OBJECT_TYPES[i], type))
            r->object_type = OBJECT_TYPES[i];
    r->property = json_string_value(json_object_get(prior, "property"));
    if (!r->property)
        r->property = json_string_value(json_object_get(params, "property"));
    /* HubSpot has no "unset": an empty value is how a property is cleared. */
    r->value = json_string_value(json_object_get(prior, "value"));
    if (!r->value)
        r->value = "";
    if (!adapter_id_text(json_object_get(params, "object_id"), r->id, sizeof r->id) &&
        !adapter_done_id(ctx, "id", r->id, sizeof r->id))
        return false;
    return json_is_object(prior) && r->object_type && r->property && property_shape(r->property);
}

static int build_restore_field(const json_t *params, const struct adapter_ctx *ctx,
                               json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    struct restore r;
    if (!restore_of(ctx, &r))
        return adapter_build_fail(cause, "the update to undo recorded no object, property and "
                                         "prior value");
    return build_patch(r.object_type, r.id, r.property, r.value, request, cause);
}

static void classify_restore_field(const json_t *params, const struct adapter_ctx *ctx,
                                   const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    struct restore r;
    bool ok = restore_of(ctx, &r);
    if (ok && (adapter_is_2xx(resp->status) || resp->status == 404))
        adapter_ok(out, r.id,
                   json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", r.id, "object_type", r.object_type,
                             "property", r.property, "value", r.value, "restored",
                             resp->status != 404));
    else if (ok)
        adapter_classify_status(resp, out);
    else
        adapter_fail(out, ADAPTER_PERMANENT, "the update to undo recorded no prior value");
}

/* ---- the operations ---- */

const struct adapter_op crm_create_task = {
    .name = "crm.create_task",
    .repeat_safe = true,
    .reversible = true,
    .validate = validate_create_task,
    .build_request = build_create_task,
    .classify = classify_create_task,
    .build_reconcile = build_search_task,
    .classify_reconcile = classify_search_task,
};

const struct adapter_op crm_create_opportunity = {
    .name = "crm.create_opportunity",
    .repeat_safe = true,
    .reversible = true,
    .validate = validate_create_opportunity,
    .build_request = build_create_opportunity,
    .classify = classify_create_deal,
    .build_reconcile = build_search_deal,
    .classify_reconcile = classify_search_deal,
};

/* A PATCH of the same value is harmless to repeat: an unknown outcome is retried. */
const struct adapter_op crm_update_field = {
    .name = "crm.update_field",
    .repeat_safe = true,
    .reversible = true,
    .validate = validate_update_field,
    .build_prepare = build_read_field,
    .classify_prepare = classify_read_field,
    .build_request = build_update_field,
    .classify = classify_update_field,
};

const struct adapter_op crm_archive_task = {
    .name = "crm.archive_task",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_archive_task,
    .classify = classify_archive,
};

const struct adapter_op crm_archive_deal = {
    .name = "crm.archive_deal",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_archive_deal,
    .classify = classify_archive,
};

const struct adapter_op crm_restore_field = {
    .name = "crm.restore_field",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_restore_field,
    .classify = classify_restore_field,
};
