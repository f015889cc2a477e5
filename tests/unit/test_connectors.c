/* Unit tests for the pure parts of connector configuration: the OAuth2 refresh form and the
 * token endpoint's answer, the limits' defaults and bounds, and the sealing of configuration
 * fields bound to tenant, connector and field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "connectors.h"
#include "test_json.h"

static const unsigned char key[CRYPTO_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static struct connector_config oauth_cfg(char *client_id, char *secret, char *refresh)
{
    struct connector_config cfg = {.refs = 1, .auth = CONNECTOR_AUTH_OAUTH2};
    cfg.client_id = client_id;
    cfg.client_secret = secret;
    cfg.refresh_token = refresh;
    return cfg;
}

static void free_body(char *body)
{
    crypto_free_secret(body, strlen(body));
}

/* ---- the refresh form ---- */

static void test_oauth_form_orders_and_encodes(void **state)
{
    (void)state;
    struct connector_config cfg = oauth_cfg("cid", "sec", "1//rt");
    char *body = NULL;
    assert_int_equal(connectors_oauth_form(&cfg, &body), 0);
    assert_string_equal(body, "grant_type=refresh_token&refresh_token=1%2F%2Frt&client_id=cid&"
                              "client_secret=sec");
    free_body(body);
}

static void test_oauth_form_escapes_every_reserved_byte(void **state)
{
    (void)state;
    struct connector_config cfg = oauth_cfg("a b+c", "x&y=z%", "caf\xc3\xa9~-._\n#?");
    char *body = NULL;
    assert_int_equal(connectors_oauth_form(&cfg, &body), 0);
    assert_string_equal(body, "grant_type=refresh_token&refresh_token=caf%C3%A9~-._%0A%23%3F&"
                              "client_id=a+b%2Bc&client_secret=x%26y%3Dz%25");
    free_body(body);
}

static void test_oauth_form_public_client_has_no_secret(void **state)
{
    (void)state;
    struct connector_config cfg = oauth_cfg("cid", NULL, "rt");
    char *body = NULL;
    assert_int_equal(connectors_oauth_form(&cfg, &body), 0);
    assert_string_equal(body, "grant_type=refresh_token&refresh_token=rt&client_id=cid");
    free_body(body);
}

static void test_oauth_form_refuses_incomplete_configs(void **state)
{
    (void)state;
    char *body = (char *)"untouched";
    struct connector_config no_refresh = oauth_cfg("cid", "s", NULL);
    struct connector_config empty_refresh = oauth_cfg("cid", "s", "");
    struct connector_config no_client = oauth_cfg(NULL, "s", "rt");
    struct connector_config bearer = oauth_cfg("cid", "s", "rt");
    bearer.auth = CONNECTOR_AUTH_BEARER;
    assert_int_equal(connectors_oauth_form(&no_refresh, &body), IE_INVAL);
    assert_null(body);
    assert_int_equal(connectors_oauth_form(&empty_refresh, &body), IE_INVAL);
    assert_int_equal(connectors_oauth_form(&no_client, &body), IE_INVAL);
    assert_int_equal(connectors_oauth_form(&bearer, &body), IE_INVAL);
    assert_int_equal(connectors_oauth_form(NULL, &body), IE_INVAL);
    assert_null(body);
}

/* ---- the token endpoint's answer ---- */

static void test_oauth_parse_token_and_expiry(void **state)
{
    (void)state;
    char *tok = NULL;
    double exp = 0;
    assert_int_equal(connectors_oauth_parse("{\"access_token\":\"ya29.a0-_~+/=\","
                                            "\"expires_in\":3599,\"token_type\":\"Bearer\","
                                            "\"scope\":\"x\"}",
                                            &tok, &exp),
                     0);
    assert_string_equal(tok, "ya29.a0-_~+/=");
    assert_true(exp == 3599);
    crypto_free_secret(tok, strlen(tok));
    /* no expires_in: unknown; a quoted number and a lower-case type are accepted */
    assert_int_equal(connectors_oauth_parse("{\"access_token\":\"t\"}", &tok, &exp), 0);
    assert_true(exp == -1);
    crypto_free_secret(tok, strlen(tok));
    assert_int_equal(connectors_oauth_parse("{\"access_token\":\"t\",\"expires_in\":\"60\","
                                            "\"token_type\":\"bearer\"}",
                                            &tok, &exp),
                     0);
    assert_true(exp == 60);
    crypto_free_secret(tok, strlen(tok));
    assert_int_equal(
        connectors_oauth_parse("{\"access_token\":\"t\",\"expires_in\":null}", &tok, &exp), 0);
    assert_true(exp == -1);
    crypto_free_secret(tok, strlen(tok));
}

static void test_oauth_parse_refuses_malformed_json(void **state)
{
    (void)state;
    const char *bad[] = {"", "{", "[\"access_token\"]", "\"t\"",
                         "{\"access_token\":\"a\","
                         "\"access_token\":\"b\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = (char *)"untouched";
        double exp = 0;
        assert_int_equal(connectors_oauth_parse(bad[i], &tok, &exp), IE_PARSE);
        assert_null(tok);
    }
    char *tok = NULL;
    double exp = 0;
    assert_int_equal(connectors_oauth_parse(NULL, &tok, &exp), IE_PARSE);
    char *huge = malloc(70 * 1024);
    assert_non_null(huge);
    memset(huge, ' ', 70 * 1024 - 1);
    huge[70 * 1024 - 1] = '\0';
    memcpy(huge, "{\"access_token\":\"t\"}", 20);
    assert_int_equal(connectors_oauth_parse(huge, &tok, &exp), IE_PARSE);
    free(huge);
}

static void test_oauth_parse_refuses_unusable_answers(void **state)
{
    (void)state;
    const char *bad[] = {
        "{}",
        "{\"access_token\":5}",
        "{\"access_token\":\"\"}",
        "{\"access_token\":\"a b\"}",
        "{\"access_token\":\"a\\r\\nX-Evil: 1\"}",
        "{\"access_token\":\"caf\\u00e9\"}",
        "{\"access_token\":\"t\",\"token_type\":\"mac\"}",
        "{\"access_token\":\"t\",\"token_type\":5}",
        "{\"access_token\":\"t\",\"expires_in\":-1}",
        "{\"access_token\":\"t\",\"expires_in\":1e12}",
        "{\"access_token\":\"t\",\"expires_in\":\"soon\"}",
        "{\"access_token\":\"t\",\"expires_in\":\"-5\"}",
        "{\"access_token\":\"t\",\"expires_in\":true}",
        "{\"error\":\"invalid_grant\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *tok = (char *)"untouched";
        double exp = 0;
        int rc = connectors_oauth_parse(bad[i], &tok, &exp);
        if (rc != IE_INVAL)
            print_error("%s: %d\n", bad[i], rc);
        assert_int_equal(rc, IE_INVAL);
        assert_null(tok);
    }
    char *long_tok = malloc(8200 + 40);
    assert_non_null(long_tok);
    strcpy(long_tok, "{\"access_token\":\"");
    memset(long_tok + 17, 'a', 8193);
    strcpy(long_tok + 17 + 8193, "\"}");
    char *tok = NULL;
    double exp = 0;
    assert_int_equal(connectors_oauth_parse(long_tok, &tok, &exp), IE_INVAL);
    free(long_tok);
}

/* ---- limits ---- */

static void test_limits_defaults_fill_zero_fields(void **state)
{
    (void)state;
    struct connector_limits lim = {0};
    connector_limits_defaults(&lim);
    assert_int_equal(lim.concurrency, 64);
    assert_true(lim.rate_per_second == 100);
    assert_int_equal(lim.burst, 200);
    assert_int_equal(lim.breaker_failures, 5);
    assert_int_equal(lim.breaker_open_seconds, 30);
    assert_true(lim.retry_budget == 0.2);
    assert_int_equal(lim.timeout_seconds, 30);
}

static void test_limits_defaults_keep_given_fields(void **state)
{
    (void)state;
    struct connector_limits lim = {.concurrency = 3,
                                   .rate_per_second = 2.5,
                                   .breaker_failures = 9,
                                   .breaker_open_seconds = 1,
                                   .retry_budget = 0.5,
                                   .timeout_seconds = 300};
    connector_limits_defaults(&lim);
    assert_int_equal(lim.concurrency, 3);
    assert_true(lim.rate_per_second == 2.5);
    assert_int_equal(lim.burst, 5); /* twice the rate */
    assert_int_equal(lim.breaker_failures, 9);
    assert_int_equal(lim.breaker_open_seconds, 1);
    assert_true(lim.retry_budget == 0.5);
    assert_int_equal(lim.timeout_seconds, 300);
}

static void test_limits_default_burst_is_bounded(void **state)
{
    (void)state;
    struct connector_limits slow = {.rate_per_second = 0.01};
    struct connector_limits fast = {.rate_per_second = 100000};
    struct connector_limits odd = {.rate_per_second = 0.7};
    connector_limits_defaults(&slow);
    connector_limits_defaults(&fast);
    connector_limits_defaults(&odd);
    assert_int_equal(slow.burst, 1);
    assert_int_equal(fast.burst, 200000);
    assert_int_equal(odd.burst, 2); /* rounded up: a bucket holds whole calls */
}

static void test_limits_explicit_zero_retry_budget_survives(void **state)
{
    (void)state;
    json_t *doc = doc_of("{\"retry_budget\":0}");
    struct connector_limits lim = {0};
    assert_int_equal(connector_limits_parse(doc, "/limits", &lim, NULL), 0);
    connector_limits_defaults(&lim);
    assert_true(lim.retry_budget == 0);
    json_decref(doc);
}

static void test_limits_parse_reads_every_member(void **state)
{
    (void)state;
    json_t *doc = doc_of("{\"concurrency\":10000,\"rate_per_second\":0.01,\"burst\":1000000,"
                         "\"breaker_failures\":1,\"breaker_open_seconds\":3600,"
                         "\"retry_budget\":1,\"timeout_seconds\":1}");
    json_t *errors = json_array();
    struct connector_limits lim = {0};
    assert_int_equal(connector_limits_parse(doc, "/limits", &lim, errors), 0);
    assert_int_equal(json_array_size(errors), 0);
    assert_int_equal(lim.concurrency, 10000);
    assert_true(lim.rate_per_second == 0.01);
    assert_int_equal(lim.burst, 1000000);
    assert_int_equal(lim.breaker_failures, 1);
    assert_int_equal(lim.breaker_open_seconds, 3600);
    assert_true(lim.retry_budget == 1);
    assert_int_equal(lim.timeout_seconds, 1);
    json_decref(doc);
    json_decref(errors);
}

static void test_limits_parse_reports_every_violation(void **state)
{
    (void)state;
    json_t *doc = doc_of("{\"concurrency\":0,\"rate_per_second\":\"5\",\"burst\":1.5,"
                         "\"breaker_failures\":1001,\"breaker_open_seconds\":-1,"
                         "\"retry_budget\":1.5,\"timeout_seconds\":301,\"a/b~c\":1,"
                         "\"timeout\":30}");
    json_t *errors = json_array();
    struct connector_limits lim = {0};
    assert_int_equal(connector_limits_parse(doc, "/limits", &lim, errors), IE_INVAL);
    json_t *ptrs = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e)
    {
        assert_true(json_is_string(json_object_get(e, "message")));
        json_array_append(ptrs, json_object_get(e, "pointer"));
    }
    assert_json_eq(ptrs, "[\"/limits/concurrency\",\"/limits/rate_per_second\","
                         "\"/limits/burst\",\"/limits/breaker_failures\","
                         "\"/limits/breaker_open_seconds\",\"/limits/retry_budget\","
                         "\"/limits/timeout_seconds\",\"/limits/a~1b~0c\",\"/limits/timeout\"]");
    /* nothing out of bounds was written */
    struct connector_limits zero = {0};
    assert_memory_equal(&lim, &zero, sizeof lim);
    json_decref(ptrs);
    json_decref(doc);
    json_decref(errors);
}

static void test_limits_parse_refuses_a_non_object(void **state)
{
    (void)state;
    json_t *doc = doc_of("[1]");
    json_t *errors = json_array();
    struct connector_limits lim = {0};
    assert_int_equal(connector_limits_parse(doc, "/limits", &lim, errors), IE_INVAL);
    assert_json_eq(errors, "[{\"pointer\":\"/limits\",\"message\":\"limits must be an object\"}]");
    assert_int_equal(connector_limits_parse(NULL, "/limits", &lim, NULL), IE_INVAL);
    json_decref(doc);
    json_decref(errors);
}

/* ---- sealing ---- */

static void test_seal_round_trip(void **state)
{
    (void)state;
    char *sealed = NULL, *plain = NULL;
    assert_int_equal(connectors_seal(key, "acme", "crm", "token", "s3cret", &sealed), 0);
    assert_null(strstr(sealed, "s3cret"));
    assert_int_equal(connectors_open(key, "acme", "crm", "token", sealed, &plain), 0);
    assert_string_equal(plain, "s3cret");
    crypto_free_secret(plain, strlen(plain));
    free(sealed);
}

static void test_seal_is_bound_to_tenant_connector_and_field(void **state)
{
    (void)state;
    char *sealed = NULL, *plain = (char *)"untouched";
    unsigned char other[CRYPTO_KEY_LEN] = {9};
    assert_int_equal(connectors_seal(key, "acme", "crm", "token", "s3cret", &sealed), 0);
    assert_int_equal(connectors_open(key, "acme2", "crm", "token", sealed, &plain), IE_CRYPTO);
    assert_null(plain);
    assert_int_equal(connectors_open(key, "acme", "email", "token", sealed, &plain), IE_CRYPTO);
    assert_int_equal(connectors_open(key, "acme", "crm", "client_secret", sealed, &plain),
                     IE_CRYPTO);
    assert_int_equal(connectors_open(other, "acme", "crm", "token", sealed, &plain), IE_CRYPTO);
    assert_int_equal(connectors_open(key, "acme", "crm", "token", "not base64!", &plain), IE_PARSE);
    assert_null(plain);
    free(sealed);
}

static void test_seal_refuses_oversized_names(void **state)
{
    (void)state;
    char tenant[300];
    char *out = (char *)"untouched";
    memset(tenant, 'a', sizeof tenant - 1);
    tenant[sizeof tenant - 1] = '\0';
    assert_int_equal(connectors_seal(key, tenant, "crm", "token", "x", &out), IE_INVAL);
    assert_null(out);
    out = (char *)"untouched";
    assert_int_equal(connectors_open(key, tenant, "crm", "token", "x", &out), IE_INVAL);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oauth_form_orders_and_encodes),
        cmocka_unit_test(test_oauth_form_escapes_every_reserved_byte),
        cmocka_unit_test(test_oauth_form_public_client_has_no_secret),
        cmocka_unit_test(test_oauth_form_refuses_incomplete_configs),
        cmocka_unit_test(test_oauth_parse_token_and_expiry),
        cmocka_unit_test(test_oauth_parse_refuses_malformed_json),
        cmocka_unit_test(test_oauth_parse_refuses_unusable_answers),
        cmocka_unit_test(test_limits_defaults_fill_zero_fields),
        cmocka_unit_test(test_limits_defaults_keep_given_fields),
        cmocka_unit_test(test_limits_default_burst_is_bounded),
        cmocka_unit_test(test_limits_explicit_zero_retry_budget_survives),
        cmocka_unit_test(test_limits_parse_reads_every_member),
        cmocka_unit_test(test_limits_parse_reports_every_violation),
        cmocka_unit_test(test_limits_parse_refuses_a_non_object),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_seal_is_bound_to_tenant_connector_and_field),
        cmocka_unit_test(test_seal_refuses_oversized_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
