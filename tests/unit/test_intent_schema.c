/* Unit tests for engine/intent_schema.c: parsing limits, every ActionIntentV1 rule with the
 * JSON Pointer it reports, the RFC 3339 parser, and a drift check against
 * proto/action_intent_v1.schema.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent_schema.h"

#ifndef INTENTD_SOURCE_ROOT
#define INTENTD_SOURCE_ROOT "."
#endif
#define SCHEMA_FILE INTENTD_SOURCE_ROOT "/proto/action_intent_v1.schema.json"

static const char VALID[] =
    "{\"schema\":\"action_intent.v1\",\"action_intent_id\":\"ai_7f3c9d2e\",\"tenant_id\":\"acme\","
    "\"account_id\":\"acct_123\",\"action_type\":\"crm.create_task\","
    "\"parameters\":{\"title\":\"Call back\"},"
    "\"decision\":{\"decision_id\":\"d_1\",\"proposal_id\":\"p_9\",\"summary\":\"why\"},"
    "\"approval\":{\"approval_id\":\"ap_4\",\"approved_by\":\"user_123\","
    "\"approved_at\":\"2026-11-21T10:00:00Z\"},"
    "\"created_at\":\"2026-11-21T10:00:01Z\",\"expires_at_epoch\":1795000000,\"priority\":50}";

/* The errors struct is about 20 KiB; tests keep it on the heap as the server will. */
static struct schema_errors *new_errors(void)
{
    struct schema_errors *e = malloc(sizeof *e);
    assert_non_null(e);
    intent_schema_errors_init(e);
    return e;
}

static json_t *parse_ok(const char *text)
{
    struct schema_errors *errs = new_errors();
    json_t *doc = NULL;
    int rc = intent_schema_parse(text, strlen(text), &doc, errs);
    if (rc)
        fail_msg("parse: %s", errs->count ? errs->items[0].message : "?");
    free(errs);
    return doc;
}

static void test_valid_document_passes(void **state)
{
    (void)state;
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok(VALID);

    assert_int_equal(intent_schema_validate(doc, errs), 0);
    assert_int_equal(errs->count, 0);
    /* Optional fields may be left out. */
    json_object_del(doc, "priority");
    json_object_del(json_object_get(doc, "decision"), "proposal_id");
    json_object_del(json_object_get(doc, "decision"), "summary");
    /* Nested objects accept fields they do not name (only the top level is closed). */
    json_object_set_new(json_object_get(doc, "approval"), "channel", json_string("slack"));
    assert_int_equal(intent_schema_validate(doc, errs), 0);
    json_decref(doc);
    free(errs);
}

/* One rule violation: set the value at path (one or two levels) to the JSON text value, or
 * delete it when value is NULL, and expect exactly one error at pointer mentioning msg. */
struct violation {
    const char *object; /* NULL for the top level, else "decision" / "approval" */
    const char *field;
    const char *value;
    const char *pointer;
    const char *msg;
};

static const struct violation violations[] = {
    {NULL, "schema", NULL, "/schema", "is required"},
    {NULL, "schema", "\"action_intent.v2\"", "/schema", "must be \"action_intent.v1\""},
    {NULL, "schema", "1", "/schema", "must be \"action_intent.v1\""},
    {NULL, "action_intent_id", NULL, "/action_intent_id", "is required"},
    {NULL, "action_intent_id", "\"\"", "/action_intent_id", "must not be empty"},
    {NULL, "action_intent_id", "\"ai 1\"", "/action_intent_id", "may contain only"},
    {NULL, "action_intent_id", "\"ai/1\"", "/action_intent_id", "may contain only"},
    {NULL, "action_intent_id", "\"\\u00e9\"", "/action_intent_id", "may contain only"},
    {NULL, "action_intent_id", "7", "/action_intent_id", "must be a string"},
    {NULL, "tenant_id", NULL, "/tenant_id", "is required"},
    {NULL, "tenant_id", "\"acme:eu\"", "/tenant_id", "may contain only"},
    {NULL, "account_id", NULL, "/account_id", "is required"},
    {NULL, "account_id", "\"\"", "/account_id", "must not be empty"},
    {NULL, "account_id", "\"acct\\n1\"", "/account_id", "control characters"},
    {NULL, "account_id", "\"acct\\u0085\"", "/account_id", "control characters"},
    {NULL, "account_id", "null", "/account_id", "must be a string, not null"},
    {NULL, "action_type", NULL, "/action_type", "is required"},
    {NULL, "action_type", "\"crm\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\"Crm.create_task\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\"crm.create.task\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\"crm._x\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\"crm.\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\".x\"", "/action_type", "<connector>.<operation>"},
    {NULL, "action_type", "\"1crm.x\"", "/action_type", "<connector>.<operation>"},
    {NULL, "parameters", NULL, "/parameters", "is required"},
    {NULL, "parameters", "[]", "/parameters", "must be an object, not an array"},
    {NULL, "decision", NULL, "/decision", "is required"},
    {NULL, "decision", "\"d_1\"", "/decision", "must be an object"},
    {"decision", "decision_id", NULL, "/decision/decision_id", "is required"},
    {"decision", "decision_id", "\"\"", "/decision/decision_id", "must not be empty"},
    {"decision", "proposal_id", "5", "/decision/proposal_id", "must be a string"},
    {"decision", "summary", "true", "/decision/summary", "must be a string, not a boolean"},
    {NULL, "approval", NULL, "/approval", "is required"},
    {"approval", "approval_id", NULL, "/approval/approval_id", "is required"},
    {"approval", "approved_by", NULL, "/approval/approved_by", "is required"},
    {"approval", "approved_by", "\"user\\t1\"", "/approval/approved_by", "control characters"},
    {"approval", "approved_at", NULL, "/approval/approved_at", "is required"},
    {"approval", "approved_at", "\"2026-02-30T10:00:00Z\"", "/approval/approved_at", "RFC 3339"},
    {"approval", "approved_at", "\"yesterday\"", "/approval/approved_at", "RFC 3339"},
    {NULL, "created_at", NULL, "/created_at", "is required"},
    {NULL, "created_at", "\"2026-11-21 10:00:01Z\"", "/created_at", "RFC 3339"},
    {NULL, "created_at", "\"2026-11-21T10:00:01\"", "/created_at", "RFC 3339"},
    {NULL, "created_at", "1795000000", "/created_at", "must be a string"},
    {NULL, "created_at", "\"0000-06-01T00:00:00Z\"", "/created_at", "years 0001-9999"},
    {NULL, "created_at", "\"2026-01-01T00:00:00+16:00\"", "/created_at", "offsets up to 15:59"},
    {"approval", "approved_at", "\"2026-01-01T00:00:00-23:59\"", "/approval/approved_at",
     "RFC 3339"},
    {NULL, "expires_at_epoch", NULL, "/expires_at_epoch", "is required"},
    {NULL, "expires_at_epoch", "1.5", "/expires_at_epoch", "must be an integer"},
    {NULL, "expires_at_epoch", "1795000000.0", "/expires_at_epoch", "must be an integer"},
    {NULL, "expires_at_epoch", "1.795e9", "/expires_at_epoch", "must be an integer"},
    {NULL, "expires_at_epoch", "\"1795000000\"", "/expires_at_epoch", "must be an integer"},
    {NULL, "expires_at_epoch", "0", "/expires_at_epoch", "between 1 and 253402300799"},
    {NULL, "expires_at_epoch", "-5", "/expires_at_epoch", "between 1 and 253402300799"},
    /* past the end of year 9999; PostgreSQL's to_timestamp fails from about 9.2e12 */
    {NULL, "expires_at_epoch", "253402300800", "/expires_at_epoch", "between 1 and 253402300799"},
    {NULL, "expires_at_epoch", "9007199254740991", "/expires_at_epoch",
     "between 1 and 253402300799"},
    {NULL, "priority", "101", "/priority", "between 0 and 100"},
    {NULL, "priority", "-1", "/priority", "between 0 and 100"},
    {NULL, "priority", "50.5", "/priority", "must be an integer"},
    {NULL, "priority", "null", "/priority", "must be an integer, not null"},
    {NULL, "approvals", "{}", "/approvals", "unknown field"},
};

static void test_each_violation_reports_its_pointer(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof violations / sizeof violations[0]; i++) {
        const struct violation *v = &violations[i];
        struct schema_errors *errs = new_errors();
        json_t *doc = parse_ok(VALID), *target = doc;
        json_error_t jerr;

        if (v->object)
            target = json_object_get(doc, v->object);
        if (v->value) {
            json_t *val = json_loads(v->value, JSON_DECODE_ANY, &jerr);
            assert_non_null(val);
            json_object_set_new(target, v->field, val);
        } else {
            json_object_del(target, v->field);
        }
        int rc = intent_schema_validate(doc, errs);
        if (rc != IE_INVAL || errs->count != 1 || strcmp(errs->items[0].pointer, v->pointer) != 0 ||
            !strstr(errs->items[0].message, v->msg))
            fail_msg("case %zu (%s = %s): rc %d, %zu errors, first %s: %s", i, v->field,
                     v->value ? v->value : "(deleted)", rc, errs->count,
                     errs->count ? errs->items[0].pointer : "-",
                     errs->count ? errs->items[0].message : "-");
        json_decref(doc);
        free(errs);
    }
}

static void test_boundary_values_pass(void **state)
{
    (void)state;
    static const char *const ok[][2] = {
        {"action_intent_id", "\"a.b_c:d-E9\""},
        {"tenant_id", "\"a\""},
        {"account_id", "\"caf\\u00e9 \\u2615 \\ud83d\\ude00\""},
        {"action_type", "\"a.b\""},
        {"action_type", "\"crm_2.create_task_v2\""},
        {"expires_at_epoch", "1"},
        {"expires_at_epoch", "253402300799"},
        {"created_at", "\"0001-01-01T00:00:00-15:59\""},
        {"created_at", "\"9999-12-31T23:59:59+15:59\""},
        {"priority", "0"},
        {"priority", "100"},
        {"created_at", "\"2024-02-29t23:59:60z\""},
        {"created_at", "\"2026-11-21T10:00:01.123456789+05:30\""},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        struct schema_errors *errs = new_errors();
        json_t *doc = parse_ok(VALID);
        json_error_t jerr;
        json_object_set_new(doc, ok[i][0], json_loads(ok[i][1], JSON_DECODE_ANY, &jerr));
        if (intent_schema_validate(doc, errs) != 0)
            fail_msg("case %zu (%s = %s): %s %s", i, ok[i][0], ok[i][1], errs->items[0].pointer,
                     errs->items[0].message);
        json_decref(doc);
        free(errs);
    }
}

/* Sets object/field (object NULL for the top level) to n copies of unit and validates. */
static int validate_repeated(const char *object, const char *field, const char *unit, size_t n,
                             struct schema_errors *errs)
{
    size_t ulen = strlen(unit);
    char *text = malloc(n * ulen + 1);
    json_t *doc = parse_ok(VALID), *target = object ? json_object_get(doc, object) : doc;
    int rc;

    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        memcpy(text + i * ulen, unit, ulen);
    text[n * ulen] = '\0';
    json_object_set_new(target, field, json_string(text));
    intent_schema_errors_init(errs);
    rc = intent_schema_validate(doc, errs);
    json_decref(doc);
    free(text);
    return rc;
}

static void test_length_limits(void **state)
{
    (void)state;
    static const struct {
        const char *object, *field, *unit, *pointer;
        size_t max;
    } limits[] = {
        {NULL, "action_intent_id", "x", "/action_intent_id", 128},
        {NULL, "tenant_id", "x", "/tenant_id", 64},
        {NULL, "account_id", "x", "/account_id", 128},
        /* Lengths count characters, as JSON Schema does: 128 two-byte characters pass. */
        {NULL, "account_id", "\xc3\xa9", "/account_id", 128},
        {NULL, "account_id", "\xf0\x9f\x98\x80", "/account_id", 128},
        {"decision", "decision_id", "x", "/decision/decision_id", 128},
        {"decision", "proposal_id", "x", "/decision/proposal_id", 128},
        {"decision", "summary", "\xe2\x98\x95", "/decision/summary", 4000},
        {"approval", "approval_id", "x", "/approval/approval_id", 128},
        {"approval", "approved_by", "x", "/approval/approved_by", 128},
    };
    struct schema_errors *errs = new_errors();

    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        if (validate_repeated(limits[i].object, limits[i].field, limits[i].unit, limits[i].max,
                              errs) != 0)
            fail_msg("%s at its limit: %s", limits[i].field, errs->items[0].message);
        assert_int_equal(validate_repeated(limits[i].object, limits[i].field, limits[i].unit,
                                           limits[i].max + 1, errs),
                         IE_INVAL);
        assert_int_equal(errs->count, 1);
        assert_string_equal(errs->items[0].pointer, limits[i].pointer);
        assert_non_null(strstr(errs->items[0].message, "at most"));
    }
    /* action_type: "a." then letters up to 128 characters in all. */
    assert_int_equal(validate_repeated(NULL, "action_type", "a", 1, errs), IE_INVAL);
    json_t *doc = parse_ok(VALID);
    char at[130];
    memset(at, 'b', sizeof at);
    memcpy(at, "a.", 2);
    at[128] = '\0';
    json_object_set_new(doc, "action_type", json_string(at));
    intent_schema_errors_init(errs);
    assert_int_equal(intent_schema_validate(doc, errs), 0);
    at[128] = 'b';
    at[129] = '\0';
    json_object_set_new(doc, "action_type", json_string(at));
    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    assert_string_equal(errs->items[0].pointer, "/action_type");
    json_decref(doc);
    free(errs);
}

static void test_all_errors_collected(void **state)
{
    (void)state;
    const char *text = "{\"schema\":\"x\",\"tenant_id\":\"a b\",\"priority\":500,"
                       "\"decision\":{},\"approval\":{\"approved_at\":\"now\"},\"extra\":1}";
    static const char *const want[] = {
        "/schema",
        "/action_intent_id",
        "/tenant_id",
        "/account_id",
        "/action_type",
        "/parameters",
        "/decision/decision_id",
        "/approval/approval_id",
        "/approval/approved_by",
        "/approval/approved_at",
        "/created_at",
        "/expires_at_epoch",
        "/priority",
        "/extra",
    };
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok(text);

    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    assert_int_equal(errs->count, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < errs->count; i++)
        assert_string_equal(errs->items[i].pointer, want[i]);
    assert_false(errs->truncated);
    json_decref(doc);
    free(errs);
}

static void test_not_an_object_reported_at_root(void **state)
{
    (void)state;
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok("[1,2]");
    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    assert_int_equal(errs->count, 1);
    assert_string_equal(errs->items[0].pointer, "");
    assert_string_equal(errs->items[0].message, "must be an object, not an array");
    json_decref(doc);
    free(errs);
}

static void test_pointer_escaping(void **state)
{
    (void)state;
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok(VALID);

    json_object_set_new(doc, "a/b~c", json_true());
    json_object_set_new(doc, "~01", json_true());
    json_object_set_new(doc, "", json_true());
    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    assert_int_equal(errs->count, 3);
    assert_string_equal(errs->items[0].pointer, "/a~1b~0c");
    assert_string_equal(errs->items[1].pointer, "/~001");
    assert_string_equal(errs->items[2].pointer, "/");
    json_decref(doc);
    free(errs);
}

static void test_long_pointer_cut_at_character_boundary(void **state)
{
    (void)state;
    char key[600];
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok(VALID);

    /* 'a' then 299 two-byte characters: the cut must not split one. */
    key[0] = 'a';
    for (int i = 0; i < 299; i++)
        memcpy(key + 1 + 2 * i, "\xc3\xa9", 2);
    key[599] = '\0';
    json_object_set_new(doc, key, json_true());
    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    const char *p = errs->items[0].pointer;
    size_t len = strlen(p);
    assert_true(len < SCHEMA_POINTER_MAX);
    assert_string_equal(p + len - 3, "...");
    assert_memory_equal(p, "/a\xc3\xa9", 4);
    /* Valid UTF-8: jansson accepts it back as a string. */
    json_t *s = json_string(p);
    assert_non_null(s);
    json_decref(s);
    json_decref(doc);
    free(errs);
}

static void test_error_list_is_bounded(void **state)
{
    (void)state;
    struct schema_errors *errs = new_errors();
    json_t *doc = parse_ok(VALID);
    char key[16];

    for (int i = 0; i < SCHEMA_ERRORS_MAX + 20; i++) {
        snprintf(key, sizeof key, "x%d", i);
        json_object_set_new(doc, key, json_null());
    }
    assert_int_equal(intent_schema_validate(doc, errs), IE_INVAL);
    assert_int_equal(errs->count, SCHEMA_ERRORS_MAX);
    assert_true(errs->truncated);
    json_decref(doc);
    free(errs);
}

/* ---- parsing ---- */

static void expect_parse_error(const char *body, size_t len, const char *msg)
{
    struct schema_errors *errs = new_errors();
    json_t *doc = (json_t *)1;
    assert_int_equal(intent_schema_parse(body, len, &doc, errs), IE_PARSE);
    assert_null(doc);
    assert_int_equal(errs->count, 1);
    assert_string_equal(errs->items[0].pointer, "");
    if (!strstr(errs->items[0].message, msg))
        fail_msg("message \"%s\" lacks \"%s\"", errs->items[0].message, msg);
    free(errs);
}

static void test_duplicate_keys_rejected(void **state)
{
    (void)state;
    const char *body = "{\"schema\":\"action_intent.v1\",\n \"schema\":\"action_intent.v1\"}";
    expect_parse_error(body, strlen(body), "duplicate object key at line 2");
    body = "{\"decision\":{\"decision_id\":\"a\",\"decision_id\":\"b\"}}";
    expect_parse_error(body, strlen(body), "duplicate object key");
}

static void test_invalid_utf8_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"account_id\":\"caf\xe9\"}",      /* Latin-1 byte */
        "{\"account_id\":\"\xc0\xaf\"}",     /* overlong */
        "{\"account_id\":\"\xed\xa0\x80\"}", /* UTF-16 surrogate */
        "{\"account_id\":\"\xe2\x98\"}",     /* truncated sequence */
        "{\"acc\xffount_id\":\"x\"}",        /* in a key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_parse_error(bad[i], strlen(bad[i]), "invalid UTF-8 at line 1, column");
}

static void test_nul_character_rejected(void **state)
{
    (void)state;
    const char *body = "{\"account_id\":\"a\\u0000b\"}";
    expect_parse_error(body, strlen(body), "invalid JSON at line 1");
    /* A raw NUL byte inside the body. */
    const char raw[] = "{\"a\":\"x\0y\"}";
    expect_parse_error(raw, sizeof raw - 1, "invalid JSON");
}

static void test_malformed_json_gives_position(void **state)
{
    (void)state;
    const char *body = "{\n  \"schema\": \"action_intent.v1\",\n  \"tenant_id\": acme\n}";
    expect_parse_error(body, strlen(body), "invalid JSON at line 3, column");
    expect_parse_error("", 0, "invalid JSON at line 1");
    expect_parse_error("{\"a\":1} x", 9, "invalid JSON");
    expect_parse_error("\"just a string\"", 15, "invalid JSON");
}

static char *nested(int depth, const char *open, const char *close, const char *inner)
{
    size_t olen = strlen(open), clen = strlen(close), ilen = strlen(inner);
    char *s = malloc((size_t)depth * (olen + clen) + ilen + 1), *p = s;
    assert_non_null(s);
    for (int i = 0; i < depth; i++, p += olen)
        memcpy(p, open, olen);
    memcpy(p, inner, ilen);
    p += ilen;
    for (int i = 0; i < depth; i++, p += clen)
        memcpy(p, close, clen);
    *p = '\0';
    return s;
}

static void test_deep_nesting_rejected(void **state)
{
    (void)state;
    struct schema_errors *errs = new_errors();
    json_t *doc = NULL;
    char *ok = nested(INTENT_SCHEMA_MAX_DEPTH, "{\"a\":", "}", "1");
    char *deep = nested(INTENT_SCHEMA_MAX_DEPTH + 1, "{\"a\":", "}", "1");
    char *arrays = nested(5000, "[", "]", "");
    /* Brackets inside strings do not count. */
    char *quoted =
        nested(1, "{\"a\":\"", "\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");

    assert_int_equal(intent_schema_parse(ok, strlen(ok), &doc, errs), 0);
    json_decref(doc);
    /* The 33rd '{' is the 161st character: 32 times {"a": before it. */
    expect_parse_error(deep, strlen(deep), "nesting deeper than 32 at line 1, column 161");
    expect_parse_error(arrays, strlen(arrays), "nesting deeper than 32");
    assert_int_equal(intent_schema_parse(quoted, strlen(quoted), &doc, errs), 0);
    json_decref(doc);
    assert_int_equal(errs->count, 0);
    /* Escaped quotes do not end a string; an escaped backslash before the quote does. */
    char *escaped = nested(1, "{\"a\":\"\\\"", "\"}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    assert_int_equal(intent_schema_parse(escaped, strlen(escaped), &doc, errs), 0);
    json_decref(doc);
    assert_int_equal(errs->count, 0);
    char *after = nested(INTENT_SCHEMA_MAX_DEPTH, "[", "]", "\"x\\\\\",[1]");
    expect_parse_error(after, strlen(after), "nesting deeper than 32 at line 1, column 39");
    char *multiline = nested(INTENT_SCHEMA_MAX_DEPTH + 1, "[\n\"\u00e9\\\"\",", "]", "");
    expect_parse_error(multiline, strlen(multiline), "nesting deeper than 32 at line 33, column 7");
    free(escaped);
    free(after);
    free(multiline);
    free(ok);
    free(deep);
    free(arrays);
    free(quoted);
    free(errs);
}

/* ---- RFC 3339 ---- */

static void test_rfc3339_valid(void **state)
{
    (void)state;
    /* Expected values from `date -u -d '<text>' +%s`. */
    static const struct {
        const char *text;
        long long epoch;
    } ok[] = {
        {"2026-11-21T10:00:00Z", 1795255200LL},
        {"2026-11-21t10:00:00z", 1795255200LL},
        {"2026-11-21T12:00:00+02:00", 1795255200LL},
        {"2026-11-21T05:30:00-04:30", 1795255200LL},
        {"2026-11-21T10:00:00.999999Z", 1795255200LL},
        {"2026-11-21T10:00:00-00:00", 1795255200LL},
        {"1970-01-01T00:00:00Z", 0},
        {"1969-12-31T23:59:59Z", -1},
        {"2000-02-29T23:59:59Z", 951868799LL},
        {"9999-12-31T23:59:59Z", 253402300799LL},
        {"0001-01-01T00:00:00Z", -62135596800LL},
        /* offsets up to 15:59, PostgreSQL's limit */
        {"2026-11-22T01:59:00+15:59", 1795255200LL},
        {"2026-11-20T18:01:00-15:59", 1795255200LL},
        /* A leap second counts as the next second. */
        {"2016-12-31T23:59:60Z", 1483228800LL},
        {"2017-01-01T01:59:60+02:00", 1483228800LL},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        long long e = 42;
        if (intent_parse_rfc3339(ok[i].text, &e) != 0 || e != ok[i].epoch)
            fail_msg("%s: got %lld, want %lld", ok[i].text, e, ok[i].epoch);
    }
    assert_int_equal(intent_parse_rfc3339("2026-11-21T10:00:00Z", NULL), 0);
}

static void test_rfc3339_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2026-11-21",
        "2026-11-21T10:00Z",
        "2026-11-21T10:00:00",
        "2026-11-21 10:00:00Z",
        "2026-11-21T10:00:00ZZ",
        "2026-11-21T10:00:00+0200",
        "2026-11-21T10:00:00+02",
        "2026-11-21T10:00:00+24:00",
        /* what PostgreSQL refuses: year 0 (it has none), offsets past 15:59 */
        "0000-01-01T00:00:00Z",
        "0000-06-01T00:00:00Z",
        "2026-11-21T10:00:00+16:00",
        "2026-11-21T10:00:00-16:00",
        "2026-11-21T10:00:00+23:59",
        "2026-11-21T10:00:00-23:59",
        /* in range as written, but not in UTC */
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T23:59:60Z",
        "2026-11-21T10:00:00+02:60",
        "2026-11-21T10:00:00.Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-11-21T24:00:00Z",
        "2026-11-21T10:60:00Z",
        "2026-11-21T10:00:61Z",
        "2026-11-21T10:00:60Z", /* leap second not at 23:59 UTC */
        "2016-12-31T23:59:60+01:00",
        "26-11-21T10:00:00Z",
        "+2026-11-21T10:00:00Z",
        "2026-1-21T10:00:00Z",
        "2026-11-21T10:00:00.1234567890123456789012345678901234567890123456789Z",
        " 2026-11-21T10:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (intent_parse_rfc3339(bad[i], NULL) != IE_PARSE)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(intent_parse_rfc3339(NULL, NULL), IE_PARSE);
}

/* ---- drift against proto/ ---- */

static json_t *load_schema_file(void)
{
    json_error_t jerr;
    json_t *s = json_load_file(SCHEMA_FILE, JSON_REJECT_DUPLICATES, &jerr);
    if (!s)
        fail_msg("cannot load %s: %s (line %d)", SCHEMA_FILE, jerr.text, jerr.line);
    return s;
}

static bool in_array(const json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
            return true;
    }
    return false;
}

/* The properties and required list of one object in the JSON Schema equal the validator's. */
static void compare_object(const json_t *node, const char *object)
{
    const json_t *props = json_object_get(node, "properties");
    const json_t *required = json_object_get(node, "required");
    size_t n = intent_schema_field_count(object), nrequired = 0;

    assert_non_null(props);
    assert_true(json_is_array(required));
    assert_int_equal(json_object_size(props), n);
    for (size_t i = 0; i < n; i++) {
        bool req = false;
        const char *name = intent_schema_field(object, i, &req);
        assert_non_null(name);
        if (!json_object_get(props, name))
            fail_msg("%s/%s is validated in C but not in the JSON Schema", object, name);
        if (req != in_array(required, name))
            fail_msg("%s/%s: required in C %d, in the JSON Schema %d", object, name, req, !req);
        nrequired += req;
    }
    assert_int_equal(json_array_size(required), nrequired);
}

static void test_json_schema_matches_validator(void **state)
{
    (void)state;
    json_t *s = load_schema_file();
    const json_t *props = json_object_get(s, "properties");

    assert_string_equal(json_string_value(json_object_get(s, "$schema")),
                        "https://json-schema.org/draft/2020-12/schema");
    assert_true(json_is_false(json_object_get(s, "additionalProperties")));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(props, "schema"), "const")),
        INTENT_SCHEMA_ID);
    compare_object(s, "");
    compare_object(json_object_get(props, "decision"), "/decision");
    compare_object(json_object_get(props, "approval"), "/approval");
    assert_int_equal(intent_schema_field_count("/parameters"), 0);
    assert_null(intent_schema_field("/nope", 0, NULL));
    json_decref(s);
}

static void test_json_schema_examples_pass_validator(void **state)
{
    (void)state;
    json_t *s = load_schema_file(), *ex;
    const json_t *examples = json_object_get(s, "examples");
    size_t i;

    assert_true(json_array_size(examples) > 0);
    json_array_foreach(examples, i, ex)
    {
        struct schema_errors *errs = new_errors();
        if (intent_schema_validate(ex, errs) != 0)
            fail_msg("example %zu: %s %s", i, errs->items[0].pointer, errs->items[0].message);
        free(errs);
    }
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_document_passes),
        cmocka_unit_test(test_each_violation_reports_its_pointer),
        cmocka_unit_test(test_boundary_values_pass),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_all_errors_collected),
        cmocka_unit_test(test_not_an_object_reported_at_root),
        cmocka_unit_test(test_pointer_escaping),
        cmocka_unit_test(test_long_pointer_cut_at_character_boundary),
        cmocka_unit_test(test_error_list_is_bounded),
        cmocka_unit_test(test_duplicate_keys_rejected),
        cmocka_unit_test(test_invalid_utf8_rejected),
        cmocka_unit_test(test_nul_character_rejected),
        cmocka_unit_test(test_malformed_json_gives_position),
        cmocka_unit_test(test_deep_nesting_rejected),
        cmocka_unit_test(test_rfc3339_valid),
        cmocka_unit_test(test_rfc3339_invalid),
        cmocka_unit_test(test_json_schema_matches_validator),
        cmocka_unit_test(test_json_schema_examples_pass_validator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
