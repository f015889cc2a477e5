/* Unit tests for engine/crypto.c: digests and MACs against published and openssl(1) vectors,
 * the codecs, random tokens, AES-256-GCM sealing (round trip, known answer, every kind of
 * tampering) and the master key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"

/* ---- digests and MACs ---- */

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    unsigned char raw[CRYPTO_SHA256_LEN], raw2[CRYPTO_SHA256_LEN];

    /* printf '%s' abc | openssl dgst -sha256 */
    assert_int_equal(crypto_sha256_hex("abc", 3, hex), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* printf '' | openssl dgst -sha256 */
    assert_int_equal(crypto_sha256_hex("", 0, hex), 0);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* The vectored form hashes the concatenation. */
    struct iovec iov[3] = {{"a", 1}, {"", 0}, {"bc", 2}};
    assert_int_equal(crypto_sha256("abc", 3, raw), 0);
    assert_int_equal(crypto_sha256_v(iov, 3, raw2), 0);
    assert_memory_equal(raw, raw2, sizeof raw);
}

static void test_hmac_sha256_vectors(void **state)
{
    (void)state;
    unsigned char mac[CRYPTO_SHA256_LEN];
    char hex[CRYPTO_SHA256_HEX_LEN + 1];

    /* RFC 4231 test case 2; also
     * printf '%s' 'what do ya want for nothing?' | openssl dgst -sha256 -hmac Jefe */
    assert_int_equal(crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac), 0);
    assert_int_equal(crypto_hex_encode(mac, sizeof mac, hex, sizeof hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    /* printf '%s' "1795000000.{}" | openssl dgst -sha256 -hmac '' */
    struct iovec iov[2] = {{"1795000000.", 11}, {"{}", 2}};
    assert_int_equal(crypto_hmac_sha256_v("", 0, iov, 2, mac), 0);
    assert_int_equal(crypto_hex_encode(mac, sizeof mac, hex, sizeof hex), 0);
    assert_string_equal(hex, "7b81d871a96ec6788eb81b8abf38cc1c98f45e6e0c7fcbf70e38cbbf8528423f");
}

/* A key made ready once gives the one-shot MAC every time, whatever came before: an empty key,
 * the RFC 4231 key, and a key longer than SHA-256's block (hashed first). */
static void test_hmac_key_reused_matches_one_shot(void **state)
{
    (void)state;
    char long_key[131];
    memset(long_key, 0xaa, sizeof long_key);
    const struct {
        const char *key;
        size_t len;
    } keys[] = {{"", 0}, {"Jefe", 4}, {long_key, sizeof long_key}};
    const char *msgs[] = {"what do ya want for nothing?", "", "1795000000.{\"a\":1}",
                          "what do ya want for nothing?"};
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        struct crypto_hmac_key *hk = NULL;
        assert_int_equal(crypto_hmac_key_new(keys[k].key, keys[k].len, &hk), 0);
        for (int round = 0; round < 2; round++) {
            for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++) {
                unsigned char want[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
                size_t half = strlen(msgs[m]) / 2;
                struct iovec iov[2] = {{(void *)msgs[m], half},
                                       {(void *)(msgs[m] + half), strlen(msgs[m]) - half}};
                assert_int_equal(
                    crypto_hmac_sha256(keys[k].key, keys[k].len, msgs[m], strlen(msgs[m]), want),
                    0);
                assert_int_equal(crypto_hmac_sha256_keyed_v(hk, iov, 2, got), 0);
                assert_memory_equal(got, want, sizeof want);
            }
        }
        crypto_hmac_key_free(hk);
    }
    /* RFC 4231 test case 2 through a ready key. */
    struct crypto_hmac_key *hk = NULL;
    unsigned char mac[CRYPTO_SHA256_LEN];
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    struct iovec iov = {"what do ya want for nothing?", 28};
    assert_int_equal(crypto_hmac_key_new("Jefe", 4, &hk), 0);
    assert_int_equal(crypto_hmac_sha256_keyed_v(hk, &iov, 1, mac), 0);
    assert_int_equal(crypto_hex_encode(mac, sizeof mac, hex, sizeof hex), 0);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    assert_int_equal(crypto_hmac_sha256_keyed_v(hk, NULL, 1, mac), IE_INVAL);
    crypto_hmac_key_free(hk);
    crypto_hmac_key_free(NULL);
    assert_int_equal(crypto_hmac_key_new(NULL, 3, &hk), IE_INVAL);
    assert_null(hk);
}

static void test_equal_is_exact(void **state)
{
    (void)state;
    assert_true(crypto_equal("abcd", "abcd", 4));
    assert_false(crypto_equal("abcd", "abce", 4));
    assert_true(crypto_equal("x", "y", 0));
}

/* ---- codecs ---- */

static void test_hex_round_trip_and_errors(void **state)
{
    (void)state;
    const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
    unsigned char out[4];
    char hex[9];
    size_t n = 0;

    assert_int_equal(crypto_hex_encode(in, sizeof in, hex, sizeof hex), 0);
    assert_string_equal(hex, "0001abff");
    assert_int_equal(crypto_hex_encode(in, sizeof in, hex, 8), IE_TOOBIG);
    assert_int_equal(crypto_hex_decode("0001ABff", 8, out, sizeof out, &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, in, 4);
    assert_int_equal(crypto_hex_decode("000", 3, out, sizeof out, &n), IE_PARSE);
    assert_int_equal(crypto_hex_decode("0g", 2, out, sizeof out, &n), IE_PARSE);
    assert_int_equal(crypto_hex_decode("0001abff00", 10, out, sizeof out, &n), IE_TOOBIG);
}

static void test_base64url_rfc4648_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10 vectors, unpadded. */
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    char out[16];
    unsigned char back[16];
    size_t n;

    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(crypto_base64url_encode(plain[i], strlen(plain[i]), out, sizeof out), 0);
        assert_string_equal(out, coded[i]);
        assert_int_equal(strlen(out), CRYPTO_B64URL_LEN(strlen(plain[i])));
        n = 99;
        assert_int_equal(crypto_base64url_decode(coded[i], strlen(coded[i]), back, sizeof back, &n),
                         0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(back, plain[i], n);
    }
    /* The url-safe alphabet: 0xfb 0xff -> "-_8" (standard base64 would say "+/8="). */
    const unsigned char hi[] = {0xfb, 0xff};
    assert_int_equal(crypto_base64url_encode(hi, 2, out, sizeof out), 0);
    assert_string_equal(out, "-_8");
}

static void test_base64url_rejects_bad_input(void **state)
{
    (void)state;
    unsigned char back[16];
    size_t n;
    assert_int_equal(crypto_base64url_decode("Zg==", 4, back, sizeof back, &n), IE_PARSE);
    assert_int_equal(crypto_base64url_decode("Z+8", 3, back, sizeof back, &n), IE_PARSE);
    assert_int_equal(crypto_base64url_decode("Zm9vY", 5, back, sizeof back, &n), IE_PARSE);
    /* "Zh" decodes to 'f' but with non-zero leftover bits: not the canonical encoding. */
    assert_int_equal(crypto_base64url_decode("Zh", 2, back, sizeof back, &n), IE_PARSE);
    assert_int_equal(crypto_base64url_decode("Zm9vYmFy", 8, back, 5, &n), IE_TOOBIG);
    char out[3];
    assert_int_equal(crypto_base64url_encode("foo", 3, out, sizeof out), IE_TOOBIG);
}

/* ---- randomness ---- */

static void test_random_token_format(void **state)
{
    (void)state;
    char a[64], b[64];
    assert_int_equal(crypto_random_token("itk_", a, sizeof a), 0);
    assert_int_equal(crypto_random_token("itk_", b, sizeof b), 0);
    assert_int_equal(strlen(a), 4 + 43);
    assert_int_equal(CRYPTO_TOKEN_RANDOM_CHARS, 43);
    assert_memory_equal(a, "itk_", 4);
    assert_string_not_equal(a, b);
    for (size_t i = 4; a[i]; i++)
        assert_non_null(
            strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]));
    /* No prefix; exact fit; one byte short. */
    assert_int_equal(crypto_random_token(NULL, a, 44), 0);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(crypto_random_token("itk_", a, 47), IE_TOOBIG);
}

static void test_random_bytes_differ(void **state)
{
    (void)state;
    unsigned char a[32], b[32];
    assert_int_equal(crypto_random_bytes(a, sizeof a), 0);
    assert_int_equal(crypto_random_bytes(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
}

/* ---- AES-256-GCM ---- */

static const unsigned char KEY1[CRYPTO_KEY_LEN] = {
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
    0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
static const unsigned char KEY2[CRYPTO_KEY_LEN] = {1};

#define SECRET "ak_live_a1b2c3d4e5f6"
#define AAD    "acme"

static size_t seal(unsigned char *blob, size_t cap)
{
    size_t n = 0;
    assert_int_equal(crypto_seal(KEY1, AAD, strlen(AAD), SECRET, strlen(SECRET), blob, cap, &n), 0);
    return n;
}

static int open_blob(const unsigned char *key, const char *aad, const unsigned char *blob, size_t n)
{
    unsigned char pt[64];
    size_t m = 0;
    return crypto_open(key, aad, aad ? strlen(aad) : 0, blob, n, pt, sizeof pt, &m);
}

static void test_seal_round_trip(void **state)
{
    (void)state;
    unsigned char blob[128], blob2[128], pt[64];
    size_t n = seal(blob, sizeof blob), n2 = seal(blob2, sizeof blob2), m = 0;

    assert_int_equal(n, strlen(SECRET) + CRYPTO_SEAL_OVERHEAD);
    assert_int_equal(blob[0], CRYPTO_SEAL_VERSION);
    /* Fresh nonce each time, so equal secrets do not give equal blobs. */
    assert_memory_not_equal(blob + 1, blob2 + 1, CRYPTO_GCM_NONCE_LEN);
    assert_int_equal(n, n2);
    assert_int_equal(crypto_open(KEY1, AAD, strlen(AAD), blob, n, pt, sizeof pt, &m), 0);
    assert_int_equal(m, strlen(SECRET));
    assert_memory_equal(pt, SECRET, m);

    /* Empty plaintext and no AAD work too. */
    assert_int_equal(crypto_seal(KEY1, NULL, 0, "", 0, blob, sizeof blob, &n), 0);
    assert_int_equal(n, CRYPTO_SEAL_OVERHEAD);
    assert_int_equal(crypto_open(KEY1, NULL, 0, blob, n, pt, sizeof pt, &m), 0);
    assert_int_equal(m, 0);
}

static void test_open_known_answer(void **state)
{
    (void)state;
    /* GCM spec (McGrew & Viega) test case 14: K = 0^256, IV = 0^96, P = 0^128, no AAD:
     * C = cea7403d4d606b6e074ec5d3baf39d18, T = d0d1c8a799996bf0265b98b5d48ab919. Laid out in
     * intentd's format: version || IV || C || T. */
    static const unsigned char zero_key[CRYPTO_KEY_LEN] = {0};
    unsigned char blob[1 + 12 + 16 + 16] = {CRYPTO_SEAL_VERSION};
    static const unsigned char c[16] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
                                        0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18};
    static const unsigned char t[16] = {0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
                                        0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
    unsigned char pt[16], zeros[16] = {0};
    size_t m = 0;

    memcpy(blob + 13, c, 16);
    memcpy(blob + 29, t, 16);
    assert_int_equal(crypto_open(zero_key, NULL, 0, blob, sizeof blob, pt, sizeof pt, &m), 0);
    assert_int_equal(m, 16);
    assert_memory_equal(pt, zeros, 16);
}

static void test_open_rejects_tampering(void **state)
{
    (void)state;
    unsigned char blob[128];
    size_t n = seal(blob, sizeof blob);
    /* Flip one bit in the nonce, the first and last ciphertext byte, and the tag. */
    const size_t where[] = {1,
                            CRYPTO_GCM_NONCE_LEN,
                            1 + CRYPTO_GCM_NONCE_LEN,
                            n - CRYPTO_GCM_TAG_LEN - 1,
                            n - CRYPTO_GCM_TAG_LEN,
                            n - 1};

    assert_int_equal(open_blob(KEY1, AAD, blob, n), 0);
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        blob[where[i]] ^= 0x01;
        assert_int_equal(open_blob(KEY1, AAD, blob, n), IE_CRYPTO);
        blob[where[i]] ^= 0x01;
    }
    /* Truncated (tag cut short) and extended blobs. */
    assert_int_equal(open_blob(KEY1, AAD, blob, n - 1), IE_CRYPTO);
    blob[n] = 0;
    assert_int_equal(open_blob(KEY1, AAD, blob, n + 1), IE_CRYPTO);
    assert_int_equal(open_blob(KEY1, AAD, blob, n), 0);
}

static void test_open_rejects_wrong_aad_and_key(void **state)
{
    (void)state;
    unsigned char blob[128];
    size_t n = seal(blob, sizeof blob);
    assert_int_equal(open_blob(KEY1, "acmf", blob, n), IE_CRYPTO);
    assert_int_equal(open_blob(KEY1, "acme2", blob, n), IE_CRYPTO);
    assert_int_equal(open_blob(KEY1, NULL, blob, n), IE_CRYPTO);
    assert_int_equal(open_blob(KEY2, AAD, blob, n), IE_CRYPTO);
}

static void test_open_rejects_bad_format(void **state)
{
    (void)state;
    unsigned char blob[128], pt[4];
    size_t n = seal(blob, sizeof blob), m;
    assert_int_equal(open_blob(KEY1, AAD, blob, CRYPTO_SEAL_OVERHEAD - 1), IE_PARSE);
    blob[0] = 2;
    assert_int_equal(open_blob(KEY1, AAD, blob, n), IE_PARSE);
    blob[0] = CRYPTO_SEAL_VERSION;
    assert_int_equal(crypto_open(KEY1, AAD, 4, blob, n, pt, sizeof pt, &m), IE_TOOBIG);
    assert_int_equal(crypto_seal(KEY1, AAD, 4, SECRET, strlen(SECRET), blob,
                                 strlen(SECRET) + CRYPTO_SEAL_OVERHEAD - 1, &m),
                     IE_TOOBIG);
}

static void test_seal_text_round_trip_and_tamper(void **state)
{
    (void)state;
    char *text = NULL, *pt = NULL;
    size_t m = 0;

    assert_int_equal(crypto_seal_text(KEY1, AAD, strlen(AAD), SECRET, strlen(SECRET), &text), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), CRYPTO_B64URL_LEN(strlen(SECRET) + CRYPTO_SEAL_OVERHEAD));
    assert_int_equal(crypto_open_text(KEY1, AAD, strlen(AAD), text, &pt, &m), 0);
    assert_int_equal(m, strlen(SECRET));
    assert_string_equal(pt, SECRET);
    crypto_free_secret(pt, m);
    pt = NULL;

    assert_int_equal(crypto_open_text(KEY2, AAD, strlen(AAD), text, &pt, &m), IE_CRYPTO);
    assert_null(pt);
    assert_int_equal(crypto_open_text(KEY1, "other", 5, text, &pt, &m), IE_CRYPTO);
    text[10] = text[10] == 'A' ? 'B' : 'A';
    assert_int_equal(crypto_open_text(KEY1, AAD, strlen(AAD), text, &pt, &m), IE_CRYPTO);
    assert_int_equal(crypto_open_text(KEY1, AAD, strlen(AAD), "not base64!", &pt, &m), IE_PARSE);
    assert_int_equal(crypto_open_text(KEY1, AAD, strlen(AAD), "AQID", &pt, &m), IE_PARSE);
    assert_null(pt);
    free(text);
}

/* ---- master key file ---- */

struct keydir {
    char dir[64];
    char path[96];
};

static int keydir_setup(void **state)
{
    struct keydir *k = calloc(1, sizeof *k);
    if (!k)
        return -1;
    snprintf(k->dir, sizeof k->dir, "/tmp/intentd-test-key.XXXXXX");
    if (!mkdtemp(k->dir)) {
        free(k);
        return -1;
    }
    snprintf(k->path, sizeof k->path, "%s/master.key", k->dir);
    *state = k;
    return 0;
}

static int keydir_teardown(void **state)
{
    struct keydir *k = *state;
    unlink(k->path);
    rmdir(k->dir);
    free(k);
    return 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

#define KEY_HEX "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"

static void test_master_key_created_then_reloaded(void **state)
{
    struct keydir *k = *state;
    unsigned char key[CRYPTO_KEY_LEN], again[CRYPTO_KEY_LEN], zero[CRYPTO_KEY_LEN] = {0};
    char err[256], text[80];
    struct stat st;

    assert_int_equal(crypto_master_key_load_or_create(k->path, key, err, sizeof err), 0);
    assert_memory_not_equal(key, zero, sizeof key);
    assert_int_equal(stat(k->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 65);
    FILE *f = fopen(k->path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof text, f));
    fclose(f);
    assert_int_equal(strlen(text), 65);
    assert_int_equal(text[64], '\n');

    assert_int_equal(crypto_master_key_load_or_create(k->path, again, err, sizeof err), 0);
    assert_memory_equal(key, again, sizeof key);
    /* No temporary file is left beside it. */
    DIR *d = opendir(k->dir);
    struct dirent *de;
    int entries = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        entries += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    assert_int_equal(entries, 1);
}

static void test_master_key_reads_given_key(void **state)
{
    struct keydir *k = *state;
    unsigned char key[CRYPTO_KEY_LEN];
    char err[256];
    static const char *const good[] = {KEY_HEX, KEY_HEX "\n", KEY_HEX "\r\n"};

    for (size_t i = 0; i < 3; i++) {
        write_file(k->path, good[i], 0600);
        assert_int_equal(crypto_master_key_load_or_create(k->path, key, err, sizeof err), 0);
        assert_memory_equal(key, KEY1, sizeof key);
    }
    /* Read-only for the owner is fine too. */
    write_file(k->path, KEY_HEX, 0400);
    assert_int_equal(crypto_master_key_load_or_create(k->path, key, err, sizeof err), 0);
}

static void test_master_key_bad_contents_rejected(void **state)
{
    struct keydir *k = *state;
    unsigned char key[CRYPTO_KEY_LEN], zero[CRYPTO_KEY_LEN] = {0};
    char err[256];
    static const char *const bad[] = {
        "",
        "\n",
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff",  /* 63 */
        KEY_HEX "0",                                                        /* 65 */
        "g03deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", /* not hex */
        KEY_HEX "\n\n",                                                     /* two newlines */
        KEY_HEX "\n" KEY_HEX "\n",                                          /* two keys */
        " " KEY_HEX,                                                        /* leading space */
        KEY_HEX " ",                                                        /* trailing space */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(k->path, bad[i], 0600);
        memset(key, 0xaa, sizeof key);
        err[0] = '\0';
        int rc = crypto_master_key_load_or_create(k->path, key, err, sizeof err);
        if (rc != IE_CONFIG)
            fail_msg("contents %zu: rc %d", i, rc);
        assert_non_null(strstr(err, "64 hex characters"));
        assert_non_null(strstr(err, k->path));
        assert_memory_equal(key, zero, sizeof key);
    }
}

static void test_master_key_loose_permissions_rejected(void **state)
{
    struct keydir *k = *state;
    unsigned char key[CRYPTO_KEY_LEN];
    char err[256];
    static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0660, 0610};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        write_file(k->path, KEY_HEX "\n", modes[i]);
        assert_int_equal(crypto_master_key_load_or_create(k->path, key, err, sizeof err),
                         IE_CONFIG);
        assert_non_null(strstr(err, "chmod 600"));
    }
}

static void test_master_key_not_a_file_rejected(void **state)
{
    struct keydir *k = *state;
    unsigned char key[CRYPTO_KEY_LEN];
    char err[256], sub[128];

    /* A directory at the path. */
    assert_int_equal(crypto_master_key_load_or_create(k->dir, key, err, sizeof err), IE_CONFIG);
    assert_non_null(strstr(err, "not a regular file"));
    /* A parent that does not exist: cannot create. */
    snprintf(sub, sizeof sub, "%s/missing/master.key", k->dir);
    assert_int_equal(crypto_master_key_load_or_create(sub, key, err, sizeof err), IE_IO);
    assert_non_null(strstr(err, sub));
    assert_int_equal(crypto_master_key_load_or_create("", key, err, sizeof err), IE_CONFIG);
    /* err may be omitted. */
    assert_int_equal(crypto_master_key_load_or_create(k->dir, key, NULL, 0), IE_CONFIG);
}

#define KEY_TEST(f) cmocka_unit_test_setup_teardown(f, keydir_setup, keydir_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_hmac_sha256_vectors),
        cmocka_unit_test(test_hmac_key_reused_matches_one_shot),
        cmocka_unit_test(test_equal_is_exact),
        cmocka_unit_test(test_hex_round_trip_and_errors),
        cmocka_unit_test(test_base64url_rfc4648_vectors),
        cmocka_unit_test(test_base64url_rejects_bad_input),
        cmocka_unit_test(test_random_token_format),
        cmocka_unit_test(test_random_bytes_differ),
        cmocka_unit_test(test_seal_round_trip),
        cmocka_unit_test(test_open_known_answer),
        cmocka_unit_test(test_open_rejects_tampering),
        cmocka_unit_test(test_open_rejects_wrong_aad_and_key),
        cmocka_unit_test(test_open_rejects_bad_format),
        cmocka_unit_test(test_seal_text_round_trip_and_tamper),
        KEY_TEST(test_master_key_created_then_reloaded),
        KEY_TEST(test_master_key_reads_given_key),
        KEY_TEST(test_master_key_bad_contents_rejected),
        KEY_TEST(test_master_key_loose_permissions_rejected),
        KEY_TEST(test_master_key_not_a_file_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
