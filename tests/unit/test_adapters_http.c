/* Unit tests for what the HTTP adapters share (adapters/http_common.c, adapters/params.c):
 * escaping, the encodings (checked against Python's base64 module), RFC 3339 to epoch
 * milliseconds, the status classification every vendor shares and the vendor messages it
 * quotes; and, across every HTTP operation, the registry's pairing of operations with their
 * compensations, the shared error table, and validate() on any JSON value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include "adapter_cases.h"
#include "http_common.h"
#include "params.h"

/* ---- adapter_escape ---- */

static void escape_keeps_unreserved_and_encodes_the_rest(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"primary", "primary"},
        {"AZaz09-._~", "AZaz09-._~"},
        {"a b", "a%20b"},
        {"a/b?c=d&e#f", "a%2Fb%3Fc%3Dd%26e%23f"},
        {"team@group.calendar.google.com", "team%40group.calendar.google.com"},
        {"100%", "100%25"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"+:;,", "%2B%3A%3B%2C"},
        {"..", ".."},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        assert_int_equal(adapter_escape(cases[i].in, out, sizeof out), 0);
        assert_string_equal(out, cases[i].out);
    }
}

static void escape_refuses_a_short_buffer(void **state)
{
    char out[8];

    (void)state;
    assert_int_equal(adapter_escape("abcdefg", out, sizeof out), 0); /* 7 + NUL fits */
    assert_string_equal(out, "abcdefg");
    assert_int_equal(adapter_escape("abcdefgh", out, sizeof out), -1);
    assert_int_equal(adapter_escape("abcde f", out, sizeof out), -1); /* %20 needs 9 */
    assert_int_equal(adapter_escape("", out, 0), -1);
    assert_int_equal(adapter_escape("", out, 1), 0);
}

static void paths_past_the_maximum_are_refused(void **state)
{
    struct adapter_path p;
    char *big = malloc(ADAPTER_PATH_MAX);
    json_t *req = (json_t *)&req;
    char cause[ADAPTER_MESSAGE_MAX] = "";

    (void)state;
    assert_non_null(big);
    memset(big, 'a', ADAPTER_PATH_MAX - 1);
    big[ADAPTER_PATH_MAX - 1] = '\0';
    adapter_path_init(&p);
    adapter_path_lit(&p, "/");
    adapter_path_esc(&p, big);
    assert_true(p.overflow);
    assert_int_equal(adapter_request("GET", &p, json_object(), &req, cause), -1);
    assert_non_null(strstr(cause, "path"));
    adapter_path_init(&p);
    adapter_path_lit(&p, big);
    assert_false(p.overflow);
    adapter_path_lit(&p, "b");
    assert_true(p.overflow);
    free(big);
}

/* ---- encodings (expected values from Python's base64 module) ---- */

static void base32hex_matches_python(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *out;
    } cases[] = {
        {"", 0, ""},
        {"f", 1, "co"},
        {"fo", 2, "cpng"},
        {"foo", 3, "cpnmu"},
        {"foob", 4, "cpnmuog"},
        {"fooba", 5, "cpnmuoj1"},
        {"foobar", 6, "cpnmuoj1e8"},
        {"\x00\xff\x80\x01\x02", 5, "03vo0082"},
        {KEY, 43, "d5lluc1h68pj8d9m6ss3iob2cdi6aphg64p36d1l6orjgeb1c9hm8pb660oj4cpk6kr3e"},
    };
    char out[128];

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        assert_int_equal(adapter_base32hex(cases[i].in, cases[i].n, out, sizeof out), 0);
        assert_string_equal(out, cases[i].out);
    }
    assert_int_equal(adapter_base32hex("foo", 3, out, 5), -1); /* 5 characters need 6 bytes */
    assert_int_equal(adapter_base32hex("foo", 3, out, 6), 0);
}

static void base64_matches_python(void **state)
{
    static const struct {
        const char *in;
        size_t n;
        const char *std, *url;
    } cases[] = {
        {"", 0, "", ""},
        {"f", 1, "Zg==", "Zg=="},
        {"fo", 2, "Zm8=", "Zm8="},
        {"foo", 3, "Zm9v", "Zm9v"},
        {"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
        {"\x00\xff\x80\x01\x02", 5, "AP+AAQI=", "AP-AAQI="},
        {"\xfb\xff\xfe", 3, "+//+", "-__-"},
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        char *s = adapter_base64(cases[i].in, cases[i].n, false, 0);
        char *u = adapter_base64(cases[i].in, cases[i].n, true, 0);

        assert_non_null(s);
        assert_non_null(u);
        assert_string_equal(s, cases[i].std);
        assert_string_equal(u, cases[i].url);
        free(s);
        free(u);
    }
}

static void base64_wraps_mime_lines_with_crlf(void **state)
{
    /* python3: base64.encodebytes(b"x" * 60) with "\n" turned into "\r\n" */
    char in[60];
    char *s;

    (void)state;
    memset(in, 'x', sizeof in);
    s = adapter_base64(in, sizeof in, false, 76);
    assert_non_null(s);
    assert_string_equal(
        s, "eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4eHh4\r\n"
           "eHh4\r\n");
    free(s);
    s = adapter_base64(in, 57, false, 76); /* exactly one line */
    assert_non_null(s);
    assert_int_equal(strlen(s), 78);
    assert_string_equal(s + 76, "\r\n");
    free(s);
    s = adapter_base64("", 0, false, 76);
    assert_string_equal(s, "");
    free(s);
}

static void epoch_ms_matches_python(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"2026-11-21T10:00:00Z", "1795255200000"},
        {"2026-11-21T10:00:00.5+02:00", "1795248000500"},
        {"2026-11-21T10:00:00.123456-05:30", "1795275000123"},
        {"1969-12-31T23:59:59.250Z", "-750"},
        {"2024-02-29T00:00:00Z", "1709164800000"},
    };
    char out[32];

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        assert_int_equal(adapter_epoch_ms(cases[i].in, out, sizeof out), 0);
        assert_string_equal(out, cases[i].out);
    }
    assert_int_equal(adapter_epoch_ms("2026-11-21", out, sizeof out), -1);
    assert_int_equal(adapter_epoch_ms("2026-11-21T10:00:00Z", out, 5), -1);
}

static void numbers_become_decimal_text(void **state)
{
    static const struct {
        const char *json, *text;
    } cases[] = {
        {"0", "0"},          {"1500", "1500"},       {"-3", "-3"},
        {"1500.0", "1500"},  {"1500.25", "1500.25"}, {"0.1", "0.1"},
        {"1e300", "1e+300"}, {"-0.5", "-0.5"},
    };
    char out[64];

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        json_t *v = doc_of(cases[i].json);

        assert_int_equal(adapter_number_text(v, out, sizeof out), 0);
        assert_string_equal(out, cases[i].text);
        json_decref(v);
    }
    json_t *s = json_string("1");

    assert_int_equal(adapter_number_text(s, out, sizeof out), -1);
    assert_int_equal(adapter_number_text(NULL, out, sizeof out), -1);
    json_decref(s);
}

/* ---- adapter_classify_status and vendor messages ---- */

static void shared_statuses_classify_as_documented(void **state)
{
    static const struct ccase cases[] = {
        {400, "", ADAPTER_PERMANENT, NULL, NULL, "HTTP 400"},
        {401, "", ADAPTER_UNAUTHORIZED, NULL, NULL, "HTTP 401"},
        {403, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {404, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {408, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {409, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {410, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {422, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {425, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {429, "", ADAPTER_RATE_LIMITED, NULL, NULL, NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {502, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {503, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {599, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {302, "", ADAPTER_PERMANENT, NULL, NULL, "HTTP 302"},
        {200, "", ADAPTER_PERMANENT, NULL, NULL, NULL}, /* not an error status: not for here */
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct adapter_response resp = {.status = cases[i].status, .body = "", .body_len = 0};
        struct adapter_outcome out;

        memset(&out, 0x5a, sizeof out);
        adapter_classify_status(&resp, &out);
        assert_int_equal(out.verdict, cases[i].verdict);
        assert_null(out.result);
        assert_true(out.retry_after_s < 0);
        assert_string_equal(out.external_id, "");
        if (cases[i].cause_has)
            assert_non_null(strstr(out.cause, cases[i].cause_has));
    }
}

static void vendor_messages_are_quoted_in_the_cause(void **state)
{
    static const struct {
        long status;
        const char *body, *cause;
    } cases[] = {
        /* HubSpot */
        {400,
         "{\"status\":\"error\",\"message\":\"Property values were not valid\","
         "\"correlationId\":\"c-1\",\"category\":\"VALIDATION_ERROR\"}",
         "HTTP 400: Property values were not valid"},
        /* Google */
        {404, "{\"error\":{\"code\":404,\"message\":\"Not Found\",\"errors\":[]}}",
         "HTTP 404: Not Found"},
        /* Slack text bodies */
        {400, "invalid_payload", "HTTP 400: invalid_payload"},
        {410, "channel_is_archived\n", "HTTP 410: channel_is_archived"},
        {403, "{\"ok\":false,\"error\":\"invalid_token\"}", "HTTP 403: invalid_token"},
        /* nothing usable */
        {502, "<html><body>Bad Gateway</body></html>", "HTTP 502"},
        {500, "{\"unexpected\":true}", "HTTP 500"},
        {500, "[1,2]", "HTTP 500"},
        {400, "{\"message\":42}", "HTTP 400"},
        {503, "", "HTTP 503"},
        /* control characters never reach the cause */
        {400, "{\"message\":\"line\\u0007one\\ttab\\nsecond line\"}", "HTTP 400: line one tab"},
        {400, "bad\x01thing\r\nmore", "HTTP 400: bad thing"},
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct adapter_response resp = {
            .status = cases[i].status, .body = cases[i].body, .body_len = strlen(cases[i].body)};
        struct adapter_outcome out;

        adapter_classify_status(&resp, &out);
        if (strcmp(out.cause, cases[i].cause))
            print_error("case %zu: cause \"%s\", want \"%s\"\n", i, out.cause, cases[i].cause);
        assert_string_equal(out.cause, cases[i].cause);
    }
}

static void long_vendor_messages_are_cut_at_a_character_boundary(void **state)
{
    /* 300 "é": the cut must not leave half a character */
    char body[16 + 600 + 4] = "{\"message\":\"";
    struct adapter_response resp;
    struct adapter_outcome out;

    (void)state;
    for (int i = 0; i < 300; i++)
        strcat(body, "\xc3\xa9");
    strcat(body, "\"}");
    resp = (struct adapter_response){.status = 400, .body = body, .body_len = strlen(body)};
    adapter_classify_status(&resp, &out);
    size_t n = strlen(out.cause);

    assert_true(n < ADAPTER_MESSAGE_MAX);
    assert_true(n > 100);
    assert_int_equal((n - strlen("HTTP 400: ")) % 2, 0);
    json_t *s = json_string(out.cause); /* NULL when the text is not valid UTF-8 */

    assert_non_null(s);
    json_decref(s);
}

static void google_rate_limit_reasons_are_rate_limited(void **state)
{
    static const struct {
        long status;
        const char *body;
        enum adapter_verdict verdict;
    } cases[] = {
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\",\"errors\":[{\"domain\":"
         "\"usageLimits\",\"reason\":\"rateLimitExceeded\"}]}}",
         ADAPTER_RATE_LIMITED},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"User Rate Limit Exceeded\",\"errors\":[{"
         "\"reason\":\"userRateLimitExceeded\"}]}}",
         ADAPTER_RATE_LIMITED},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Forbidden\",\"errors\":[{\"reason\":"
         "\"forbidden\"}]}}",
         ADAPTER_PERMANENT},
        {403, "{\"error\":{\"errors\":\"rateLimitExceeded\"}}", ADAPTER_PERMANENT},
        {403, "not json", ADAPTER_PERMANENT},
        {400, "{\"error\":{\"errors\":[{\"reason\":\"rateLimitExceeded\"}]}}", ADAPTER_PERMANENT},
        {429, "", ADAPTER_RATE_LIMITED},
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct adapter_response resp = {
            .status = cases[i].status, .body = cases[i].body, .body_len = strlen(cases[i].body)};
        struct adapter_outcome out;

        adapter_classify_google(&resp, &out);
        assert_int_equal(out.verdict, cases[i].verdict);
        assert_null(out.result);
    }
}

/* ---- every HTTP operation ---- */

/* Each HTTP operation, whether a Task may name a Compensate for it, and which. */
static const struct {
    const char *op, *compensate;
    bool reversible, unknown_is_delivered, reconciles;
} HTTP_OPS[] = {
    {"crm.create_task", "crm.archive_task", true, false, true},
    {"crm.create_opportunity", "crm.archive_deal", true, false, true},
    {"crm.update_field", "crm.restore_field", true, false, false},
    {"crm.archive_task", NULL, false, false, false},
    {"crm.archive_deal", NULL, false, false, false},
    {"crm.restore_field", NULL, false, false, false},
    {"calendar.draft_meeting", "calendar.delete_event", true, false, true},
    {"calendar.delete_event", NULL, false, false, false},
    {"email.create_draft", "email.delete_draft", true, false, true},
    {"email.delete_draft", NULL, false, false, false},
    {"notify.post_message", NULL, false, true, false},
    {"webhook.call", "webhook.undo", true, false, false},
    {"webhook.undo", NULL, false, false, false},
};

static void every_http_operation_is_registered_with_its_slots(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCASES(HTTP_OPS); i++) {
        const struct adapter_op *op = op_of(HTTP_OPS[i].op);

        assert_null(op->build_effect);
        assert_non_null(op->validate);
        assert_non_null(op->build_request);
        assert_non_null(op->classify);
        assert_int_equal(op->reversible, HTTP_OPS[i].reversible);
        assert_int_equal(op->unknown_is_delivered, HTTP_OPS[i].unknown_is_delivered);
        assert_int_equal(op->build_reconcile != NULL, HTTP_OPS[i].reconciles);
        assert_int_equal(op->classify_reconcile != NULL, HTTP_OPS[i].reconciles);
        assert_int_equal(op->build_prepare != NULL, op->classify_prepare != NULL);
        /* a key nobody can look up must not be retried blind unless the vendor de-duplicates */
        assert_false(op->unknown_is_delivered && op->build_reconcile);
        if (HTTP_OPS[i].compensate) {
            const struct adapter_op *undo = op_of(HTTP_OPS[i].compensate);
            size_t dot = strcspn(HTTP_OPS[i].op, ".");

            /* ASL's Compensate names an operation of the same connector */
            assert_int_equal(strncmp(undo->name, HTTP_OPS[i].op, dot + 1), 0);
            assert_false(undo->reversible);
        }
    }
    assert_non_null(op_of("crm.update_field")->build_prepare);
    assert_string_equal(op_of("webhook.call")->idempotency_header, "Idempotency-Key");
}

/* The outcome of the step each compensation undoes, so every operation can build. */
static const char *const DONE =
    "{\"external_id\":\"512\",\"result\":{\"id\":\"512\",\"event_id\":\"ev512\","
    "\"draft_id\":\"r-512\"},\"prior\":{\"property\":\"lifecyclestage\",\"value\":\"lead\"},"
    "\"params\":{\"object_type\":\"contacts\",\"object_id\":\"512\","
    "\"property\":\"lifecyclestage\",\"value\":\"customer\"}}";

/* The statuses every operation classifies alike (404 differs: "gone" for compensations,
 * "absent" for a calendar look-up). */
static void every_operation_shares_the_error_table(void **state)
{
    static const struct ccase cases[] = {
        {400, "{\"message\":\"bad\"}", ADAPTER_PERMANENT, NULL, NULL, "bad"},
        {401, "", ADAPTER_UNAUTHORIZED, NULL, NULL, "401"},
        {403, "", ADAPTER_PERMANENT, NULL, NULL, "403"},
        {408, "", ADAPTER_TRANSIENT, NULL, NULL, "408"},
        {425, "", ADAPTER_TRANSIENT, NULL, NULL, "425"},
        {429, "", ADAPTER_RATE_LIMITED, NULL, NULL, "429"},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, "500"},
        {503, "<html>down</html>", ADAPTER_TRANSIENT, NULL, NULL, "503"},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, "{\"property\":\"lifecyclestage\",\"value\":\"lead\"}", DONE);
    for (size_t i = 0; i < NCASES(HTTP_OPS); i++) {
        const struct adapter_op *op = op_of(HTTP_OPS[i].op);

        print_message("%s\n", op->name);
        run_classify(op->classify, "{}", &t.ctx, cases, NCASES(cases));
        if (op->classify_reconcile)
            run_classify(op->classify_reconcile, "{}", &t.ctx, cases, NCASES(cases));
        if (op->classify_prepare)
            run_classify(op->classify_prepare, "{}", &t.ctx, cases, NCASES(cases));
    }
    ctx_free(&t);
}

/* validate() must answer, never crash, on any JSON value, and a non-object is one error at
 * the root (compensations accept anything: their requests come from ctx->done). */
static void validate_survives_any_json_value(void **state)
{
    static const char *const docs[] = {
        "null",
        "true",
        "0",
        "-1.5",
        "\"x\"",
        "[]",
        "[null]",
        "{}",
        "{\"to\":{},\"cc\":[[]],\"subject\":[],\"body\":{},\"from\":1}",
        "{\"summary\":{},\"start\":[],\"end\":1,\"attendees\":{\"a\":1},\"time_zone\":5}",
        "{\"subject\":null,\"due_at\":{},\"associations\":[1,\"x\",null,[],{}],\"owner_id\":-1}",
        "{\"name\":[],\"stage\":{},\"amount\":{},\"close_date\":true,\"associations\":{}}",
        "{\"object_type\":[],\"object_id\":1.5,\"property\":{},\"value\":[1]}",
        "{\"text\":[],\"blocks\":[1,{},{\"type\":{}}]}",
        "{\"\":null,\"a/b~c\":{\"d\":[]}}",
    };

    (void)state;
    for (size_t i = 0; i < NCASES(HTTP_OPS); i++) {
        const struct adapter_op *op = op_of(HTTP_OPS[i].op);
        bool compensation = !HTTP_OPS[i].reversible && strcmp(op->name, "notify.post_message");

        for (size_t j = 0; j < NCASES(docs); j++) {
            json_t *p = doc_of(docs[j]);
            struct adapter_errors errs = {0};
            size_t n = op->validate(p, &errs);

            assert_int_equal(n, errs.count);
            for (size_t k = 0; k < errs.count; k++) {
                assert_true(errs.items[k].pointer[0] == '\0' || errs.items[k].pointer[0] == '/');
                assert_true(errs.items[k].message[0] != '\0');
            }
            if (compensation)
                assert_int_equal(n, 0);
            else if (!json_is_object(p))
                assert_int_equal(n, 1);
            else if (j > 7 && strcmp(op->name, "webhook.call"))
                assert_true(n > 0);
            json_decref(p);
        }
    }
}

/* ---- shared parameter checks ---- */

static void email_shapes(void **state)
{
    static const char *const good[] = {
        "a@b.co",
        "ana@example.com",
        "first.last+tag@sub.example.org",
        "x_y-z@a-b.example",
        "o'brien@example.ie",
        "UPPER@EXAMPLE.COM",
    };
    static const char *const bad[] = {
        "",
        "ana",
        "@example.com",
        "ana@",
        "ana@localhost",
        "a@@b.com",
        "a b@c.com",
        "ana@exa mple.com",
        ".ana@b.com",
        "ana.@b.com",
        "a..b@c.com",
        "ana@-b.com",
        "ana@b-.com",
        "ana@b..com",
        "<ana@b.com>",
        "Ana <ana@b.com>",
        "ana@b.com\r\nBcc: x@y.com",
        "ana@b.com,bob@c.com",
        "caf\xc3\xa9@b.com",
    };

    (void)state;
    for (size_t i = 0; i < NCASES(good); i++)
        assert_true(adapter_email_shape(good[i]));
    for (size_t i = 0; i < NCASES(bad); i++) {
        if (adapter_email_shape(bad[i]))
            print_error("accepted \"%s\"\n", bad[i]);
        assert_false(adapter_email_shape(bad[i]));
    }
}

static void line_breaks_get_their_own_message(void **state)
{
    struct adapter_errors errs = {0};
    json_t *v = json_string("a\r\nBcc: x@y.com");

    (void)state;
    assert_null(adapter_check_string(v, "/subject", "subject", true, 100, false, &errs));
    assert_int_equal(errs.count, 1);
    assert_string_equal(errs.items[0].pointer, "/subject");
    assert_non_null(strstr(errs.items[0].message, "CR or LF"));
    assert_non_null(adapter_check_string(v, "/body", "body", true, 100, true, &errs));
    assert_int_equal(errs.count, 1);
    json_decref(v);
}

static void pointers_escape_tilde_and_slash(void **state)
{
    char out[32];

    (void)state;
    adapter_pointer(out, sizeof out, "", "a/b~c");
    assert_string_equal(out, "/a~1b~0c");
    adapter_pointer(out, sizeof out, "/associations/2", "id");
    assert_string_equal(out, "/associations/2/id");
    adapter_pointer(out, 6, "/abc", "defgh");
    assert_string_equal(out, "/abc/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(escape_keeps_unreserved_and_encodes_the_rest),
        cmocka_unit_test(escape_refuses_a_short_buffer),
        cmocka_unit_test(paths_past_the_maximum_are_refused),
        cmocka_unit_test(base32hex_matches_python),
        cmocka_unit_test(base64_matches_python),
        cmocka_unit_test(base64_wraps_mime_lines_with_crlf),
        cmocka_unit_test(epoch_ms_matches_python),
        cmocka_unit_test(numbers_become_decimal_text),
        cmocka_unit_test(shared_statuses_classify_as_documented),
        cmocka_unit_test(vendor_messages_are_quoted_in_the_cause),
        cmocka_unit_test(long_vendor_messages_are_cut_at_a_character_boundary),
        cmocka_unit_test(google_rate_limit_reasons_are_rate_limited),
        cmocka_unit_test(every_http_operation_is_registered_with_its_slots),
        cmocka_unit_test(every_operation_shares_the_error_table),
        cmocka_unit_test(validate_survives_any_json_value),
        cmocka_unit_test(email_shapes),
        cmocka_unit_test(line_breaks_get_their_own_message),
        cmocka_unit_test(pointers_escape_tilde_and_slash),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
