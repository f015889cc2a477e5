/* Cryptographic primitives for intentd, all on OpenSSL 3 EVP: SHA-256, HMAC-SHA256, hex and
 * base64url codecs, random bytes and tokens, AES-256-GCM sealing of secrets at rest, and the
 * master key file. Every function is synchronous and pure CPU work except the master key
 * helper, which does blocking file I/O and is meant for start-up only. */
#ifndef INTENTD_CRYPTO_H
#define INTENTD_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "errors.h"

#define CRYPTO_SHA256_LEN     32
#define CRYPTO_SHA256_HEX_LEN 64 /* characters, without the NUL */
#define CRYPTO_KEY_LEN        32 /* AES-256 key and master key */
#define CRYPTO_GCM_NONCE_LEN  12
#define CRYPTO_GCM_TAG_LEN    16
#define CRYPTO_SEAL_VERSION   1
/* A sealed blob is version (1) || nonce (12) || ciphertext (same length as plaintext) || tag. */
#define CRYPTO_SEAL_OVERHEAD (1 + CRYPTO_GCM_NONCE_LEN + CRYPTO_GCM_TAG_LEN)
/* Largest plaintext crypto_seal accepts (GCM takes int lengths; secrets are small anyway). */
#define CRYPTO_SEAL_MAX (16u * 1024 * 1024)

/* Characters of unpadded base64url for n input bytes (without the NUL). */
#define CRYPTO_B64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* Random part of a token: 32 random bytes as unpadded base64url. */
#define CRYPTO_TOKEN_RANDOM_BYTES 32
#define CRYPTO_TOKEN_RANDOM_CHARS CRYPTO_B64URL_LEN(CRYPTO_TOKEN_RANDOM_BYTES) /* 43 */

/* SHA-256 of len bytes at data into out. Returns 0 or IE_CRYPTO. */
int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN]) IE_MUST_CHECK;
/* SHA-256 over the concatenation of iovcnt pieces (no copy is made). Returns 0, IE_INVAL,
 * IE_CRYPTO. */
int crypto_sha256_v(const struct iovec *iov, int iovcnt,
                    unsigned char out[CRYPTO_SHA256_LEN]) IE_MUST_CHECK;
/* SHA-256 as 64 lowercase hex characters plus a NUL in out. Returns 0 or IE_CRYPTO. */
int crypto_sha256_hex(const void *data, size_t len,
                      char out[CRYPTO_SHA256_HEX_LEN + 1]) IE_MUST_CHECK;

/* HMAC-SHA256 of data under key (any length, may be 0) into out. Returns 0 or IE_CRYPTO. */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_LEN]) IE_MUST_CHECK;
/* HMAC-SHA256 over the concatenation of iovcnt pieces. Returns 0, IE_INVAL or IE_CRYPTO. */
int crypto_hmac_sha256_v(const void *key, size_t keylen, const struct iovec *iov, int iovcnt,
                         unsigned char out[CRYPTO_SHA256_LEN]) IE_MUST_CHECK;

/* An HMAC-SHA256 key made ready once (its padded blocks hashed, OpenSSL's context set up) for
 * many MACs: a cached approval key verifies every submission of its tenant. Holds a copy of
 * the key; not for use from two threads at once. */
struct crypto_hmac_key;
/* Returns 0, IE_INVAL, IE_NOMEM or IE_CRYPTO. */
int crypto_hmac_key_new(const void *key, size_t keylen, struct crypto_hmac_key **out) IE_MUST_CHECK;
/* Frees k (OpenSSL wipes the key material); NULL is ignored. */
void crypto_hmac_key_free(struct crypto_hmac_key *k);
/* As crypto_hmac_sha256_v, under k. */
int crypto_hmac_sha256_keyed_v(struct crypto_hmac_key *k, const struct iovec *iov, int iovcnt,
                               unsigned char out[CRYPTO_SHA256_LEN]) IE_MUST_CHECK;

/* Constant-time comparison of two equal-length byte strings (CRYPTO_memcmp): true if equal. */
bool crypto_equal(const void *a, const void *b, size_t len);

/* Writes len bytes as lowercase hex plus a NUL into out (outlen >= 2 * len + 1).
 * Returns 0 or IE_TOOBIG (out untouched). */
int crypto_hex_encode(const void *in, size_t len, char *out, size_t outlen) IE_MUST_CHECK;
/* Decodes hexlen hex characters (either case) into out; *written gets the byte count (may be
 * NULL). Returns 0, IE_PARSE (odd length or a non-hex character) or IE_TOOBIG (outlen too
 * small). out may be partly written on error. */
int crypto_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outlen,
                      size_t *written) IE_MUST_CHECK;

/* Writes len bytes as unpadded base64url (RFC 4648 §5) plus a NUL into out
 * (outlen >= CRYPTO_B64URL_LEN(len) + 1). Returns 0 or IE_TOOBIG (out untouched). */
int crypto_base64url_encode(const void *in, size_t len, char *out, size_t outlen) IE_MUST_CHECK;
/* Decodes srclen characters of unpadded base64url into out. Padding, characters outside the
 * alphabet and non-canonical trailing bits are rejected with IE_PARSE; IE_TOOBIG when outlen
 * is too small. *written gets the byte count (may be NULL). */
int crypto_base64url_decode(const char *src, size_t srclen, unsigned char *out, size_t outlen,
                            size_t *written) IE_MUST_CHECK;

/* Fills out with len bytes from the OpenSSL CSPRNG. Returns 0 or IE_CRYPTO. */
int crypto_random_bytes(void *out, size_t len) IE_MUST_CHECK;
/* Writes prefix (may be NULL or "", e.g. "itk_") followed by CRYPTO_TOKEN_RANDOM_CHARS
 * base64url characters of fresh randomness, NUL-terminated, into out. Returns 0, IE_TOOBIG
 * (outlen < strlen(prefix) + 44; out untouched) or IE_CRYPTO. */
int crypto_random_token(const char *prefix, char *out, size_t outlen) IE_MUST_CHECK;

/* Encrypts ptlen bytes with AES-256-GCM under key with a fresh random nonce, authenticating
 * aadlen bytes of aad too (aad may be NULL when aadlen is 0; the same aad must be given to
 * open, e.g. the tenant id so a sealed value cannot be moved between tenants). Writes
 * version || nonce || ciphertext || tag into out (outlen >= ptlen + CRYPTO_SEAL_OVERHEAD) and
 * its length into *written. Returns 0, IE_TOOBIG (ptlen > CRYPTO_SEAL_MAX or out too small)
 * or IE_CRYPTO. */
int crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                const void *pt, size_t ptlen, unsigned char *out, size_t outlen,
                size_t *written) IE_MUST_CHECK;
/* Reverses crypto_seal: writes the plaintext (sealedlen - CRYPTO_SEAL_OVERHEAD bytes; outlen
 * must allow it) into out and its length into *written. Returns 0; IE_PARSE when the blob is
 * too short or has an unknown version; IE_TOOBIG when out is too small; IE_CRYPTO when
 * authentication fails (wrong key, wrong aad, any altered byte). On error out holds no
 * plaintext. */
int crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                const unsigned char *sealed, size_t sealedlen, unsigned char *out, size_t outlen,
                size_t *written) IE_MUST_CHECK;
/* crypto_seal, then unpadded base64url, for a TEXT column. On success *out is a new
 * NUL-terminated string the caller frees with free(). Same errors as crypto_seal, IE_NOMEM. */
int crypto_seal_text(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                     const void *pt, size_t ptlen, char **out) IE_MUST_CHECK;
/* Reverses crypto_seal_text. On success *out is a new buffer holding the plaintext followed by
 * a NUL (not counted in *outlen, which may be NULL), so a sealed string comes back as a C
 * string; the caller releases it with crypto_free_secret(*out, *outlen). Returns 0, IE_PARSE
 * (not base64url, or see crypto_open), IE_CRYPTO, IE_NOMEM. */
int crypto_open_text(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                     const char *text, char **out, size_t *outlen) IE_MUST_CHECK;
/* Overwrites len bytes at p (OPENSSL_cleanse) and frees p. p may be NULL. */
void crypto_free_secret(void *p, size_t len);
/* Overwrites len bytes at p so the compiler cannot skip it (OPENSSL_cleanse). */
void crypto_cleanse(void *p, size_t len);

/* Loads the 32-byte master key from path, which holds exactly 64 hex characters and an
 * optional trailing newline. When path does not exist, a random key is written there first
 * (mode 0600, created atomically: it never replaces an existing file, and a reader never
 * sees it half-written). A file that is not a regular file, is readable or writable by group
 * or others, or does not hold exactly one key is refused with IE_CONFIG; I/O failures give
 * IE_IO, RNG failure IE_CRYPTO. On failure a one-line reason naming path is written to err
 * (errlen bytes, may be 0) and key is zeroed. Blocking file I/O: call at start-up only,
 * never on the loop thread once serving. */
int crypto_master_key_load_or_create(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err,
                                     size_t errlen) IE_MUST_CHECK;

#endif
