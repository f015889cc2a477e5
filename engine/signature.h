/* The Intent-Signature header (SPEC §2), Stripe's webhook scheme: "t=<unix seconds>,v1=<hex>"
 * where v1 is HMAC-SHA256(approval key, "<t>.<raw body>") in hex. Parsing, verification against
 * one key or several (key rotation overlap), and signing for intentctl and tests. */
#ifndef INTENTD_SIGNATURE_H
#define INTENTD_SIGNATURE_H

#include <stddef.h>

#include "errors.h"

/* Allowed distance between t and the verifier's clock, either way (SPEC §2). */
#define SIG_TOLERANCE_S 300
/* A longer header value is malformed: a t, a handful of v1 entries and some unknown items
 * fit comfortably. */
#define SIG_HEADER_MAX 1024
/* At most this many v1 entries are considered; more makes the header malformed. */
#define SIG_MAX_V1 8
/* Digits allowed in t (keeps it inside long long). */
#define SIG_T_MAX_DIGITS 18
/* Size of the buffer sig_sign needs: "t=" 18 digits ",v1=" 64 hex and the NUL. */
#define SIG_HEADER_BUFLEN (2 + SIG_T_MAX_DIGITS + 4 + 64 + 1)

struct crypto_hmac_key;

/* One approval key as the tenant received it: the string's bytes exactly, no decoding. */
struct sig_key {
    const char *key;
    size_t len;
    struct crypto_hmac_key *hmac; /* the same key made ready (crypto.h), or NULL */
};

/* Verifies header (the Intent-Signature value, NUL-terminated; NULL or blank when the request
 * had none) for bodylen bytes of body, with now the verifier's clock in unix seconds and
 * tolerance_s the allowed skew (SIG_TOLERANCE_S). Items are comma-separated key=value pairs
 * in any order with optional spaces around them; exactly one t (digits only), one or more v1
 * (64 hex digits each; the header passes if any one matches), unknown keys ignored. Returns 0
 * when valid, IE_AUTH otherwise; then *why (if why is not NULL) points to a static reason:
 * "missing signature", "malformed signature header", "timestamp outside tolerance" or
 * "signature mismatch". IE_CRYPTO if OpenSSL fails. Comparison is constant time. */
int sig_verify(const char *header, const char *key, size_t keylen, const char *body, size_t bodylen,
               long long now, int tolerance_s, const char **why) IE_MUST_CHECK;

/* As sig_verify, but the header passes if it is valid under any of nkeys keys (the current
 * and the previous approval key during a rotation). On success *matched (if not NULL) gets
 * the index of the first key that matched. */
int sig_verify_any(const char *header, const struct sig_key *keys, size_t nkeys, const char *body,
                   size_t bodylen, long long now, int tolerance_s, const char **why,
                   size_t *matched) IE_MUST_CHECK;

/* Writes the header value "t=<t>,v1=<hex>" for body signed with key into out (outlen >=
 * SIG_HEADER_BUFLEN is always enough). Returns 0, IE_INVAL (t negative), IE_TOOBIG or
 * IE_CRYPTO. */
int sig_sign(const char *key, size_t keylen, long long t, const char *body, size_t bodylen,
             char *out, size_t outlen) IE_MUST_CHECK;

#endif
