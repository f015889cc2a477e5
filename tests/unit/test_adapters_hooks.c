/* Unit tests for adapters/notify.c (Slack incoming webhook) and adapters/webhook.c (generic
 * HTTP): parameter checks, the exact requests (body templates, Idempotency-Key, the undo
 * call), classification, and notify's never-repeat rule for unknown outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include "adapter_cases.h"

#define PM "notify.post_message"
#define WC "webhook.call"
#define WU "webhook.undo"

/* A string of n copies of c. */
static char *filled(char c, size_t n)
{
    char *s = malloc(n + 1);

    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ---- notify ---- */

static void post_message_checks_its_parameters(void **state)
{
    static const struct vcase cases[] = {
        {PM, "{\"text\":\"Deal won\"}", {0}, 0},
        {PM,
         "{\"text\":\"Deal won\\n*Acme*\",\"blocks\":[{\"type\":\"section\",\"text\":{"
         "\"type\":\"mrkdwn\",\"text\":\"*won*\"}},{\"type\":\"divider\"}]}",
         {0},
         0},
        {PM, "{\"text\":\"t\",\"blocks\":[]}", {0}, 0},
        {PM, "{\"text\":\"t\",\"blocks\":null}", {0}, 0},
        {PM, "{}", {"/text"}, 1},
        {PM, "[]", {""}, 1},
        {PM, "{\"text\":\"\"}", {"/text"}, 1},
        {PM, "{\"text\":5}", {"/text"}, 1},
        {PM, "{\"text\":\"a\\u0000b\"}", {"/text"}, 1},
        {PM, "{\"text\":\"t\",\"blocks\":{}}", {"/blocks"}, 1},
        {PM, "{\"text\":\"t\",\"blocks\":[1]}", {"/blocks/0"}, 1},
        {PM, "{\"text\":\"t\",\"blocks\":[{\"type\":\"divider\"},{}]}", {"/blocks/1/type"}, 1},
        {PM, "{\"text\":\"t\",\"blocks\":[{\"type\":\"\"}]}", {"/blocks/0/type"}, 1},
        {PM, "{\"text\":\"t\",\"blocks\":[{\"type\":3}]}", {"/blocks/0/type"}, 1},
        {PM, "{\"text\":\"t\",\"channel\":\"#sales\"}", {"/channel"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void post_message_bounds_text_and_blocks(void **state)
{
    static const char *const text[] = {"/text"};
    static const char *const blocks[] = {"/blocks"};
    char *s = filled('x', 40000);
    json_t *p = json_pack("{s:s}", "text", s), *list = json_array();

    (void)state;
    assert_true(check_errors(PM, p, NULL, 0, "text of 40000"));
    json_decref(p);
    free(s);
    s = filled('x', 40001);
    p = json_pack("{s:s}", "text", s);
    assert_true(check_errors(PM, p, text, 1, "text of 40001"));
    json_decref(p);
    free(s);
    for (int i = 0; i < 51; i++)
        json_array_append_new(list, json_pack("{s:s}", "type", "divider"));
    p = json_pack("{s:s, s:o}", "text", "t", "blocks", list);
    assert_true(check_errors(PM, p, blocks, 1, "51 blocks"));
    json_array_remove(json_object_get(p, "blocks"), 0);
    assert_true(check_errors(PM, p, NULL, 0, "50 blocks"));
    json_decref(p);
}

static void post_message_posts_to_the_webhook_url_itself(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(PM)->build_request, "{\"text\":\"Deal won\"}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"\",\"body\":{\"text\":\"Deal won\"}}");
    expect_build(op_of(PM)->build_request,
                 "{\"text\":\"Deal won\",\"blocks\":[{\"type\":\"divider\"}]}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"\",\"body\":{\"text\":\"Deal won\","
                 "\"blocks\":[{\"type\":\"divider\"}]}}");
    ctx_free(&t);
}

static void post_message_classifies_slack_text_answers(void **state)
{
    static const struct ccase cases[] = {
        {200, "ok", ADAPTER_OK, "", "{\"posted\":true}", NULL},
        {200, "", ADAPTER_OK, "", "{\"posted\":true}", NULL},
        {400, "invalid_payload", ADAPTER_PERMANENT, NULL, NULL, "invalid_payload"},
        {400, "no_text", ADAPTER_PERMANENT, NULL, NULL, "no_text"},
        {403, "action_prohibited", ADAPTER_PERMANENT, NULL, NULL, "action_prohibited"},
        {404, "no_service", ADAPTER_PERMANENT, NULL, NULL, "no_service"},
        {410, "channel_is_archived", ADAPTER_PERMANENT, NULL, NULL, "channel_is_archived"},
        {429, "rate_limited", ADAPTER_RATE_LIMITED, NULL, NULL, "rate_limited"},
        {500, "rollup_error", ADAPTER_TRANSIENT, NULL, NULL, "rollup_error"},
        {503, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {401, "invalid_token", ADAPTER_UNAUTHORIZED, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(PM)->classify, "{\"text\":\"t\"}", &t.ctx, cases, NCASES(cases));
    ctx_free(&t);
}

/* No key, no look-up, no undo: an unknown outcome must never be repeated. */
static void post_message_is_never_repeated_and_irreversible(void **state)
{
    const struct adapter_op *op = op_of(PM);

    (void)state;
    assert_true(op->unknown_is_delivered);
    assert_false(op->reversible);
    assert_null(op->build_reconcile);
    assert_null(op->build_prepare);
    assert_null(op->idempotency_header);
}

/* ---- webhook.call ---- */

static void call_accepts_any_object_of_bounded_size(void **state)
{
    static const struct vcase cases[] = {
        {WC, "{}", {0}, 0},
        {WC, "{\"any\":{\"nested\":[1,null,\"x\"]},\"n\":2.5}", {0}, 0},
        {WC, "[1]", {""}, 1},
        {WC, "\"x\"", {""}, 1},
    };
    static const char *const root[] = {""};
    char *s = filled('x', 256 * 1024);
    json_t *p = json_pack("{s:s}", "blob", s);

    (void)state;
    run_cases(cases, NCASES(cases));
    assert_true(check_errors(WC, p, root, 1, "over 256 KiB"));
    json_decref(p);
    s[256 * 1024 - 20] = '\0'; /* {"blob":"..."} is 11 bytes more */
    p = json_pack("{s:s}", "blob", s);
    assert_true(check_errors(WC, p, NULL, 0, "under 256 KiB"));
    json_decref(p);
    free(s);
}

static void call_sends_the_parameters_with_an_idempotency_key(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(WC)->build_request, "{\"account\":\"acme\",\"n\":2}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"\",\"headers\":{\"Idempotency-Key\":\"" KEY
                 "\"},\"body\":{\"account\":\"acme\",\"n\":2}}");
    ctx_free(&t);
    ctx_init(&t, "{\"method\":\"GET\",\"path\":\"/v1/ping?x=1\",\"body_template\":{\"a\":\"$\"}}",
             NULL, NULL);
    expect_build(op_of(WC)->build_request, "{\"account\":\"acme\"}", &t.ctx,
                 "{\"method\":\"GET\",\"path\":\"/v1/ping?x=1\",\"headers\":{\"Idempotency-Key\":"
                 "\"" KEY "\"}}");
    ctx_free(&t);
}

static void call_fills_the_body_template(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t,
             "{\"method\":\"PUT\",\"path\":\"/v1/things\",\"body_template\":{\"name\":\"$.name\","
             "\"owner\":{\"id\":\"$.owner.id\"},\"tags\":[\"$.tags.1\",\"literal\"],\"all\":\"$\","
             "\"n\":5,\"price\":\"$x\",\"none\":null}}",
             NULL, NULL);
    expect_build(op_of(WC)->build_request,
                 "{\"name\":\"Acme\",\"owner\":{\"id\":7},\"tags\":[\"a\",\"b\"]}", &t.ctx,
                 "{\"method\":\"PUT\",\"path\":\"/v1/things\",\"headers\":{\"Idempotency-Key\":"
                 "\"" KEY "\"},\"body\":{\"name\":\"Acme\",\"owner\":{\"id\":7},\"tags\":[\"b\","
                 "\"literal\"],\"all\":{\"name\":\"Acme\",\"owner\":{\"id\":7},\"tags\":[\"a\","
                 "\"b\"]},\"n\":5,\"price\":\"$x\",\"none\":null}}");
    /* a path the parameters lack fails the build, naming it */
    expect_build_fails(op_of(WC)->build_request, "{\"name\":\"Acme\"}", &t.ctx, "$.owner.id");
    expect_build_fails(op_of(WC)->build_request,
                       "{\"name\":\"Acme\",\"owner\":{\"id\":7},\"tags\":[\"a\"]}", &t.ctx,
                       "$.tags.1");
    ctx_free(&t);
    ctx_init(&t, "{\"body_template\":{\"x\":\"$.a.\"}}", NULL, NULL);
    expect_build_fails(op_of(WC)->build_request, "{\"a\":{\"\":1}}", &t.ctx, "$.a.");
    ctx_free(&t);
}

static void call_refuses_settings_it_cannot_use(void **state)
{
    static const struct {
        const char *settings, *has;
    } cases[] = {
        {"{\"method\":\"FETCH\"}", "method"}, {"{\"method\":5}", "method"},
        {"{\"method\":\"post\"}", "method"},  {"{\"path\":\"things\"}", "path"},
        {"{\"path\":\"/a b\"}", "path"},      {"{\"path\":\"/a\\nb\"}", "path"},
        {"{\"path\":\"/a#b\"}", "path"},      {"{\"path\":5}", "path"},
    };
    struct test_ctx t;

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        ctx_init(&t, cases[i].settings, NULL, NULL);
        expect_build_fails(op_of(WC)->build_request, "{}", &t.ctx, cases[i].has);
        ctx_free(&t);
    }
    /* a template nested past the bound */
    json_t *tmpl = json_string("$"), *settings;

    for (int i = 0; i < 40; i++)
        tmpl = json_pack("[o]", tmpl);
    settings = json_pack("{s:o}", "body_template", tmpl);
    char *text = json_dumps(settings, JSON_COMPACT);

    ctx_init(&t, text, NULL, NULL);
    expect_build_fails(op_of(WC)->build_request, "{}", &t.ctx, "deeper");
    ctx_free(&t);
    free(text);
    json_decref(settings);
}

static void call_classifies_and_finds_the_id(void **state)
{
    static const struct ccase plain[] = {
        {200, "{\"id\":\"t-1\",\"ok\":true}", ADAPTER_OK, "t-1",
         "{\"status\":200,\"id\":\"t-1\",\"body\":{\"id\":\"t-1\",\"ok\":true}}", NULL},
        {201, "{\"id\":42}", ADAPTER_OK, "42",
         "{\"status\":201,\"id\":\"42\",\"body\":{\"id\":42}}", NULL},
        {204, "", ADAPTER_OK, "", "{\"status\":204,\"id\":null,\"body\":null}", NULL},
        {200, "accepted", ADAPTER_OK, "", "{\"status\":200,\"id\":null,\"body\":null}", NULL},
        {200, "[1]", ADAPTER_OK, "", "{\"status\":200,\"id\":null,\"body\":[1]}", NULL},
        {409, "{\"message\":\"key reused\"}", ADAPTER_PERMANENT, NULL, NULL, "key reused"},
        {422, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {503, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    static const struct ccase nested[] = {
        {201, "{\"data\":{\"uid\":9}}", ADAPTER_OK, "9",
         "{\"status\":201,\"id\":\"9\",\"body\":{\"data\":{\"uid\":9}}}", NULL},
        {201, "{\"id\":\"x\"}", ADAPTER_OK, "",
         "{\"status\":201,\"id\":null,\"body\":{\"id\":\"x\"}}", NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(WC)->classify, "{}", &t.ctx, plain, NCASES(plain));
    ctx_free(&t);
    ctx_init(&t, "{\"id_field\":\"data.uid\"}", NULL, NULL);
    run_classify(op_of(WC)->classify, "{}", &t.ctx, nested, NCASES(nested));
    ctx_free(&t);
}

/* ---- webhook.undo ---- */

#define DONE_CALL                                                                                  \
    "{\"external_id\":\"t 1\",\"result\":{\"status\":201,\"id\":\"t 1\"},"                         \
    "\"params\":{\"name\":\"Acme\"}}"

static void undo_without_configuration_is_skipped(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, DONE_CALL);
    expect_build(op_of(WU)->build_request, "{}", &t.ctx, "{\"skip\":\"no undo call configured\"}");
    ctx_free(&t);
    ctx_init(&t, "{\"undo\":null}", NULL, DONE_CALL);
    expect_build(op_of(WU)->build_request, "{}", &t.ctx, "{\"skip\":\"no undo call configured\"}");
    ctx_free(&t);
}

static void undo_sends_the_configured_call(void **state)
{
    static const struct ccase answers[] = {
        {200, "{}", ADAPTER_OK, "t 1", "{\"status\":200,\"undone\":true,\"already_gone\":false}",
         NULL},
        {404, "", ADAPTER_OK, "t 1", "{\"status\":404,\"undone\":true,\"already_gone\":true}",
         NULL},
        {410, "", ADAPTER_OK, "t 1", "{\"status\":410,\"undone\":true,\"already_gone\":true}",
         NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {400, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, "{\"undo\":{\"method\":\"DELETE\",\"path\":\"/v1/things/{external_id}\"}}", NULL,
             DONE_CALL);
    /* its own key: the call's key would get the call's stored answer back */
    expect_build(op_of(WU)->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/v1/things/t%201\",\"headers\":{"
                 "\"Idempotency-Key\":\"" KEY "-undo\"}}");
    run_classify(op_of(WU)->classify, "{}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
    ctx_init(&t,
             "{\"undo\":{\"method\":\"POST\",\"path\":\"/v1/undo/{idempotency_key}/{x}\","
             "\"body_template\":{\"thing\":\"$.external_id\",\"name\":\"$.params.name\","
             "\"why\":\"compensation\"}}}",
             NULL, DONE_CALL);
    expect_build(op_of(WU)->build_request, "{}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/v1/undo/" KEY "/{x}\",\"headers\":{"
                 "\"Idempotency-Key\":\"" KEY "-undo\"},\"body\":{\"thing\":\"t 1\","
                 "\"name\":\"Acme\",\"why\":\"compensation\"}}");
    ctx_free(&t);
    /* DELETE unless configured otherwise */
    ctx_init(&t, "{\"undo\":{\"path\":\"/v1/things/{external_id}\"}}", NULL,
             "{\"result\":{\"id\":8}}");
    expect_build(op_of(WU)->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/v1/things/8\",\"headers\":{"
                 "\"Idempotency-Key\":\"" KEY "-undo\"}}");
    ctx_free(&t);
}

static void undo_refuses_what_it_cannot_build(void **state)
{
    static const struct {
        const char *settings, *done, *has;
    } cases[] = {
        {"{\"undo\":{\"path\":\"/v1/things/{external_id}\"}}", "{\"external_id\":\"\"}",
         "external_id"},
        {"{\"undo\":{\"path\":\"/v1/things/{external_id}\"}}", "{}", "external_id"},
        {"{\"undo\":\"DELETE /v1/things\"}", DONE_CALL, "undo"},
        {"{\"undo\":{\"path\":\"v1/things\"}}", DONE_CALL, "undo.path"},
        {"{\"undo\":{\"method\":\"REMOVE\",\"path\":\"/x\"}}", DONE_CALL, "undo.method"},
        {"{\"undo\":{\"path\":\"/x\",\"body_template\":{\"a\":\"$.params.missing\"}}}", DONE_CALL,
         "$.params.missing"},
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        struct test_ctx t;

        ctx_init(&t, cases[i].settings, NULL, cases[i].done);
        expect_build_fails(op_of(WU)->build_request, "{}", &t.ctx, cases[i].has);
        ctx_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(post_message_checks_its_parameters),
        cmocka_unit_test(post_message_bounds_text_and_blocks),
        cmocka_unit_test(post_message_posts_to_the_webhook_url_itself),
        cmocka_unit_test(post_message_classifies_slack_text_answers),
        cmocka_unit_test(post_message_is_never_repeated_and_irreversible),
        cmocka_unit_test(call_accepts_any_object_of_bounded_size),
        cmocka_unit_test(call_sends_the_parameters_with_an_idempotency_key),
        cmocka_unit_test(call_fills_the_body_template),
        cmocka_unit_test(call_refuses_settings_it_cannot_use),
        cmocka_unit_test(call_classifies_and_finds_the_id),
        cmocka_unit_test(undo_without_configuration_is_skipped),
        cmocka_unit_test(undo_sends_the_configured_call),
        cmocka_unit_test(undo_refuses_what_it_cannot_build),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
