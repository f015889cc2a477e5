/* Unit tests for the Intent-Signature header (engine/signature.c). Every expected HMAC below
 * was produced by the openssl command line, never by the code under test; the exact command
 * is in the comment above each vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "signature.h"

#define KEY      "ak_test_4f9c2b7e1d"
#define KEY_NEXT "ak_rotated_9a8b7c6d"
#define T        1795000000LL
#define BODY                                                                                       \
    "{\"schema\":\"action_intent.v1\",\"action_intent_id\":\"ai_1\",\"tenant_id\":\"acme\"}"

/* BODY='{"schema":"action_intent.v1","action_intent_id":"ai_1","tenant_id":"acme"}'
 * printf '%s' "1795000000.$BODY" | openssl dgst -sha256 -hmac 'ak_test_4f9c2b7e1d' */
#define MAC_KEY "07b28c2234eb7136f619cd10765ae31bd1eef701e1086d26d725b64b968cf084"
/* printf '%s' "1795000000.$BODY" | openssl dgst -sha256 -hmac 'ak_rotated_9a8b7c6d' */
#define MAC_KEY_NEXT "6675e79273f8dcf493fe2d49300cf12a54759894243d9e55ca49705c4f3214e0"
/* printf '%s' "1795000000." | openssl dgst -sha256 -hmac 'ak_test_4f9c2b7e1d' (empty body) */
#define MAC_EMPTY_BODY "57a9bfcf1263be752f6dad5e9f097f0208233689ff2df066e86880fc29e9875e"
/* BODY2='{"note":"caf\u00e9 ☕","n":1}' (the ☕ is raw UTF-8 in the body)
 * printf '%s' "1700000000.$BODY2" | openssl dgst -sha256 -hmac 'ak_test_4f9c2b7e1d' */
#define BODY2     "{\"note\":\"caf\\u00e9 \xe2\x98\x95\",\"n\":1}"
#define MAC_BODY2 "deaebc0e1acded378c2e58df7992dc2da395b0dd8271c0da373995d23f8c2e6a"
/* printf '%s' "1795000000.{}" | openssl dgst -sha256 -hmac '' (an empty key is legal HMAC) */
#define MAC_EMPTY_KEY "7b81d871a96ec6788eb81b8abf38cc1c98f45e6e0c7fcbf70e38cbbf8528423f"

#define OTHER_MAC "00000000000000000000000000000000000000000000000000000000000000ff"

static int verify(const char *header, long long now, const char **why)
{
    return sig_verify(header, KEY, strlen(KEY), BODY, strlen(BODY), now, SIG_TOLERANCE_S, why);
}

static void expect_reject(const char *header, long long now, const char *reason)
{
    const char *why = NULL;
    assert_int_equal(verify(header, now, &why), IE_AUTH);
    assert_non_null(why);
    assert_string_equal(why, reason);
}

static void test_valid_signature_passes(void **state)
{
    (void)state;
    const char *why = "unset";
    assert_int_equal(verify("t=1795000000,v1=" MAC_KEY, T, &why), 0);
    assert_null(why);
}

static void test_items_in_any_order_with_spaces(void **state)
{
    (void)state;
    assert_int_equal(verify("v1=" MAC_KEY ",t=1795000000", T, NULL), 0);
    assert_int_equal(verify("  t=1795000000 , v1=" MAC_KEY "  ", T, NULL), 0);
}

static void test_uppercase_hex_accepted(void **state)
{
    (void)state;
    char header[128], upper[65];
    for (size_t i = 0; i < 64; i++)
        upper[i] = (char)(MAC_KEY[i] >= 'a' ? MAC_KEY[i] - 32 : MAC_KEY[i]);
    upper[64] = '\0';
    snprintf(header, sizeof header, "t=1795000000,v1=%s", upper);
    assert_int_equal(verify(header, T, NULL), 0);
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    assert_int_equal(verify("t=1795000000,v0=abc,v1=" MAC_KEY ",scheme=x", T, NULL), 0);
}

static void test_utf8_body_and_empty_body(void **state)
{
    (void)state;
    assert_int_equal(sig_verify("t=1700000000,v1=" MAC_BODY2, KEY, strlen(KEY), BODY2,
                                strlen(BODY2), 1700000000LL, SIG_TOLERANCE_S, NULL),
                     0);
    assert_int_equal(sig_verify("t=1795000000,v1=" MAC_EMPTY_BODY, KEY, strlen(KEY), "", 0, T,
                                SIG_TOLERANCE_S, NULL),
                     0);
    assert_int_equal(
        sig_verify("t=1795000000,v1=" MAC_EMPTY_KEY, "", 0, "{}", 2, T, SIG_TOLERANCE_S, NULL), 0);
}

static void test_wrong_key_rejected(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(sig_verify("t=1795000000,v1=" MAC_KEY, KEY_NEXT, strlen(KEY_NEXT), BODY,
                                strlen(BODY), T, SIG_TOLERANCE_S, &why),
                     IE_AUTH);
    assert_string_equal(why, "signature mismatch");
    /* The key is its exact bytes: a prefix of it is another key. */
    assert_int_equal(sig_verify("t=1795000000,v1=" MAC_KEY, KEY, strlen(KEY) - 1, BODY,
                                strlen(BODY), T, SIG_TOLERANCE_S, &why),
                     IE_AUTH);
}

static void test_tampered_body_rejected(void **state)
{
    (void)state;
    char body[] = BODY;
    const char *why = NULL;
    body[strlen(body) - 3] = 'X';
    assert_int_equal(sig_verify("t=1795000000,v1=" MAC_KEY, KEY, strlen(KEY), body, strlen(body), T,
                                SIG_TOLERANCE_S, &why),
                     IE_AUTH);
    assert_string_equal(why, "signature mismatch");
    /* One byte more (a trailing newline) is tampering too. */
    assert_int_equal(sig_verify("t=1795000000,v1=" MAC_KEY, KEY, strlen(KEY), BODY "\n",
                                strlen(BODY) + 1, T, SIG_TOLERANCE_S, &why),
                     IE_AUTH);
}

static void test_tampered_timestamp_rejected(void **state)
{
    (void)state;
    /* A t moved by one second no longer matches its MAC, though it is within tolerance. */
    expect_reject("t=1795000001,v1=" MAC_KEY, T, "signature mismatch");
    /* Leading zeros change the signed payload ("<t>." is signed as sent). */
    expect_reject("t=01795000000,v1=" MAC_KEY, T, "signature mismatch");
}

static void test_tolerance_boundaries(void **state)
{
    (void)state;
    /* Exactly 300 s either way passes; 301 s fails, both when t is old and when it is ahead. */
    assert_int_equal(verify("t=1795000000,v1=" MAC_KEY, T + 300, NULL), 0);
    assert_int_equal(verify("t=1795000000,v1=" MAC_KEY, T - 300, NULL), 0);
    expect_reject("t=1795000000,v1=" MAC_KEY, T + 301, "timestamp outside tolerance");
    expect_reject("t=1795000000,v1=" MAC_KEY, T - 301, "timestamp outside tolerance");
}

static void test_far_future_and_ancient_timestamps_rejected(void **state)
{
    (void)state;
    expect_reject("t=999999999999999999,v1=" MAC_KEY, T, "timestamp outside tolerance");
    expect_reject("t=0,v1=" MAC_KEY, T, "timestamp outside tolerance");
}

static void test_missing_header_rejected(void **state)
{
    (void)state;
    expect_reject(NULL, T, "missing signature");
    expect_reject("", T, "missing signature");
    expect_reject("   ", T, "missing signature");
}

static void test_malformed_headers_rejected(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "v1=" MAC_KEY,                    /* no t */
        "t=1795000000",                   /* no v1 */
        "t=1795000000,v1=",               /* empty v1 */
        "t=1795000000,v1=" OTHER_MAC "0", /* 65 hex digits */
        "t=1795000000,v1=zz" MAC_KEY,     /* wrong length, non-hex */
        "t=1795000000,v1=g7b28c2234eb7136f619cd10765ae31bd1eef701e1086d26d725b64b968cf084",
        "t=,v1=" MAC_KEY,                        /* empty t */
        "t=-1795000000,v1=" MAC_KEY,             /* sign */
        "t=1795000000.5,v1=" MAC_KEY,            /* fraction */
        "t=1795000000x,v1=" MAC_KEY,             /* trailing junk */
        "t=0x6afcf580,v1=" MAC_KEY,              /* hex */
        "t=1795000000,t=1795000000,v1=" MAC_KEY, /* two t */
        "t=1795000000,,v1=" MAC_KEY,             /* empty item */
        "t=1795000000,v1=" MAC_KEY ",",          /* trailing comma */
        "t=1795000000;v1=" MAC_KEY,              /* wrong separator */
        "t 1795000000,v1=" MAC_KEY,              /* no '=' */
        "=1795000000,v1=" MAC_KEY,               /* empty key */
        "t=1234567890123456789,v1=" MAC_KEY,     /* 19 digits */
        "Bearer abc",                            /* another scheme */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = NULL;
        int rc = verify(bad[i], T, &why);
        if (rc != IE_AUTH || !why || strcmp(why, "malformed signature header") != 0)
            fail_msg("header %zu \"%s\": rc %d why %s", i, bad[i], rc, why ? why : "(null)");
    }
}

static void test_huge_header_rejected(void **state)
{
    (void)state;
    /* A valid header padded with an unknown item past SIG_HEADER_MAX bytes. */
    char header[SIG_HEADER_MAX + 200];
    int n = snprintf(header, sizeof header, "t=1795000000,v1=%s,x=", MAC_KEY);
    memset(header + n, 'a', sizeof header - (size_t)n - 1);
    header[sizeof header - 1] = '\0';
    expect_reject(header, T, "malformed signature header");
    /* And one just within the limit still passes. */
    header[SIG_HEADER_MAX] = '\0';
    assert_int_equal(verify(header, T, NULL), 0);
}

static void test_too_many_v1_rejected(void **state)
{
    (void)state;
    char header[SIG_HEADER_MAX];
    size_t o = (size_t)snprintf(header, sizeof header, "t=1795000000");
    for (int i = 0; i <= SIG_MAX_V1; i++)
        o += (size_t)snprintf(header + o, sizeof header - o, ",v1=%s", OTHER_MAC);
    expect_reject(header, T, "malformed signature header");
}

static void test_multiple_v1_one_valid_passes(void **state)
{
    (void)state;
    assert_int_equal(verify("t=1795000000,v1=" OTHER_MAC ",v1=" MAC_KEY, T, NULL), 0);
    assert_int_equal(verify("t=1795000000,v1=" MAC_KEY ",v1=" OTHER_MAC, T, NULL), 0);
    expect_reject("t=1795000000,v1=" OTHER_MAC ",v1=" MAC_KEY_NEXT, T, "signature mismatch");
}

static void rotation_checks(const struct sig_key *keys);

static void test_rotation_second_key_valid(void **state)
{
    (void)state;
    struct crypto_hmac_key *ready[2] = {NULL, NULL};
    assert_int_equal(crypto_hmac_key_new(KEY, strlen(KEY), &ready[0]), 0);
    assert_int_equal(crypto_hmac_key_new(KEY_NEXT, strlen(KEY_NEXT), &ready[1]), 0);
    /* The same checks with the key bytes and with the keys made ready (tenant_keys' cache). */
    for (int prepared = 0; prepared < 2; prepared++) {
        const struct sig_key keys[] = {{KEY, strlen(KEY), prepared ? ready[0] : NULL},
                                       {KEY_NEXT, strlen(KEY_NEXT), prepared ? ready[1] : NULL}};
        rotation_checks(keys);
    }
    crypto_hmac_key_free(ready[0]);
    crypto_hmac_key_free(ready[1]);
}

static void rotation_checks(const struct sig_key *keys)
{
    size_t matched = 99;
    const char *why = NULL;

    assert_int_equal(sig_verify_any("t=1795000000,v1=" MAC_KEY_NEXT, keys, 2, BODY, strlen(BODY), T,
                                    SIG_TOLERANCE_S, &why, &matched),
                     0);
    assert_int_equal(matched, 1);
    assert_int_equal(sig_verify_any("t=1795000000,v1=" MAC_KEY, keys, 2, BODY, strlen(BODY), T,
                                    SIG_TOLERANCE_S, &why, &matched),
                     0);
    assert_int_equal(matched, 0);
    /* Only the old key configured: the new signature fails. */
    assert_int_equal(sig_verify_any("t=1795000000,v1=" MAC_KEY_NEXT, keys, 1, BODY, strlen(BODY), T,
                                    SIG_TOLERANCE_S, &why, &matched),
                     IE_AUTH);
    assert_string_equal(why, "signature mismatch");
    /* No keys at all: nothing can match. */
    assert_int_equal(sig_verify_any("t=1795000000,v1=" MAC_KEY, keys, 0, BODY, strlen(BODY), T,
                                    SIG_TOLERANCE_S, &why, NULL),
                     IE_AUTH);
}

static void test_sign_matches_openssl_vectors(void **state)
{
    (void)state;
    char out[SIG_HEADER_BUFLEN];
    assert_int_equal(sig_sign(KEY, strlen(KEY), T, BODY, strlen(BODY), out, sizeof out), 0);
    assert_string_equal(out, "t=1795000000,v1=" MAC_KEY);
    assert_int_equal(
        sig_sign(KEY, strlen(KEY), 1700000000LL, BODY2, strlen(BODY2), out, sizeof out), 0);
    assert_string_equal(out, "t=1700000000,v1=" MAC_BODY2);
    /* What sig_sign makes, sig_verify accepts. */
    assert_int_equal(verify(out, 1700000000LL, NULL), IE_AUTH);
    assert_int_equal(sig_verify(out, KEY, strlen(KEY), BODY2, strlen(BODY2), 1700000000LL,
                                SIG_TOLERANCE_S, NULL),
                     0);
}

static void test_sign_rejects_bad_arguments(void **state)
{
    (void)state;
    char small[20];
    char out[SIG_HEADER_BUFLEN];
    assert_int_equal(sig_sign(KEY, strlen(KEY), T, BODY, strlen(BODY), small, sizeof small),
                     IE_TOOBIG);
    assert_int_equal(sig_sign(KEY, strlen(KEY), -1, BODY, strlen(BODY), out, sizeof out), IE_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signature_passes),
        cmocka_unit_test(test_items_in_any_order_with_spaces),
        cmocka_unit_test(test_uppercase_hex_accepted),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_utf8_body_and_empty_body),
        cmocka_unit_test(test_wrong_key_rejected),
        cmocka_unit_test(test_tampered_body_rejected),
        cmocka_unit_test(test_tampered_timestamp_rejected),
        cmocka_unit_test(test_tolerance_boundaries),
        cmocka_unit_test(test_far_future_and_ancient_timestamps_rejected),
        cmocka_unit_test(test_missing_header_rejected),
        cmocka_unit_test(test_malformed_headers_rejected),
        cmocka_unit_test(test_huge_header_rejected),
        cmocka_unit_test(test_too_many_v1_rejected),
        cmocka_unit_test(test_multiple_v1_one_valid_passes),
        cmocka_unit_test(test_rotation_second_key_valid),
        cmocka_unit_test(test_sign_matches_openssl_vectors),
        cmocka_unit_test(test_sign_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
