/* Intent-Signature parsing, verification and signing (see signature.h). */
#include "signature.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"

static const char WHY_MISSING[] = "missing signature";
static const char WHY_MALFORMED[] = "malformed signature header";
static const char WHY_STALE[] = "timestamp outside tolerance";
static const char WHY_MISMATCH[] = "signature mismatch";

struct parsed_header {
    const char *t; /* the digits of t, exactly as sent: they are part of the signed payload */
    size_t tlen;
    long long tval;
    size_t nv1;
    unsigned char v1[SIG_MAX_V1][CRYPTO_SHA256_LEN];
};

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Parses one trimmed "key=value" item into h. Returns false if the header is malformed. */
static bool parse_item(const char *s, size_t len, struct parsed_header *h)
{
    const char *eq = memchr(s, '=', len);
    size_t klen, vlen;
    const char *v;

    if (!eq || eq == s)
        return false;
    klen = (size_t)(eq - s);
    v = eq + 1;
    vlen = len - klen - 1;
    if (klen == 1 && s[0] == 't') {
        if (h->t || vlen == 0 || vlen > SIG_T_MAX_DIGITS)
            return false;
        long long t = 0;
        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9')
                return false;
            t = t * 10 + (v[i] - '0');
        }
        h->t = v;
        h->tlen = vlen;
        h->tval = t;
        return true;
    }
    if (klen == 2 && s[0] == 'v' && s[1] == '1') {
        size_t n = 0;
        if (h->nv1 == SIG_MAX_V1 || vlen != CRYPTO_SHA256_HEX_LEN)
            return false;
        if (crypto_hex_decode(v, vlen, h->v1[h->nv1], CRYPTO_SHA256_LEN, &n) != 0)
            return false;
        h->nv1++;
        return true;
    }
    /* Unknown schemes (v0=, future v2=) are ignored, as Stripe does. */
    return true;
}

/* Splits the header on commas. Returns NULL when it parsed, otherwise the reason. */
static const char *parse_header(const char *header, struct parsed_header *h)
{
    size_t len;
    const char *p, *end;

    memset(h, 0, sizeof *h);
    if (!header)
        return WHY_MISSING;
    len = strnlen(header, SIG_HEADER_MAX + 1);
    if (len > SIG_HEADER_MAX)
        return WHY_MALFORMED;
    p = header;
    end = header + len;
    while (p < end && is_ows(*p))
        p++;
    if (p == end)
        return WHY_MISSING;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *ie = comma ? comma : end, *is = p;
        while (is < ie && is_ows(*is))
            is++;
        while (ie > is && is_ows(ie[-1]))
            ie--;
        if (!parse_item(is, (size_t)(ie - is), h))
            return WHY_MALFORMED;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (!h->t || h->nv1 == 0)
        return WHY_MALFORMED;
    return NULL;
}

int sig_verify_any(const char *header, const struct sig_key *keys, size_t nkeys, const char *body,
                   size_t bodylen, long long now, int tolerance_s, const char **why,
                   size_t *matched)
{
    struct parsed_header h;
    const char *reason;
    long long skew;
    unsigned char mac[CRYPTO_SHA256_LEN];
    int rc = IE_AUTH;

    reason = parse_header(header, &h);
    if (reason)
        goto out;
    /* |now - t| without overflow: t < 10^18 and now is a real clock. */
    skew = h.tval > now ? h.tval - now : now - h.tval;
    if (tolerance_s < 0 || skew > tolerance_s) {
        reason = WHY_STALE;
        goto out;
    }
    reason = WHY_MISMATCH;
    for (size_t k = 0; k < nkeys; k++) {
        struct iovec iov[3] = {
            {.iov_base = (void *)h.t, .iov_len = h.tlen},
            {.iov_base = (void *)".", .iov_len = 1},
            {.iov_base = (void *)body, .iov_len = bodylen},
        };
        int r = keys[k].hmac ? crypto_hmac_sha256_keyed_v(keys[k].hmac, iov, 3, mac)
                             : crypto_hmac_sha256_v(keys[k].key, keys[k].len, iov, 3, mac);
        if (r) {
            rc = r;
            goto out;
        }
        for (size_t i = 0; i < h.nv1; i++) {
            if (crypto_equal(mac, h.v1[i], sizeof mac)) {
                if (matched)
                    *matched = k;
                reason = NULL;
                rc = 0;
                goto out;
            }
        }
    }
out:
    crypto_cleanse(mac, sizeof mac);
    if (why)
        *why = rc == IE_AUTH ? reason : NULL;
    return rc;
}

int sig_verify(const char *header, const char *key, size_t keylen, const char *body, size_t bodylen,
               long long now, int tolerance_s, const char **why)
{
    struct sig_key k = {.key = key, .len = keylen, .hmac = NULL};
    return sig_verify_any(header, &k, 1, body, bodylen, now, tolerance_s, why, NULL);
}

int sig_sign(const char *key, size_t keylen, long long t, const char *body, size_t bodylen,
             char *out, size_t outlen)
{
    char ts[SIG_T_MAX_DIGITS + 2];
    char hex[CRYPTO_SHA256_HEX_LEN + 1];
    unsigned char mac[CRYPTO_SHA256_LEN];
    int n, rc;

    if (t < 0)
        return IE_INVAL;
    n = snprintf(ts, sizeof ts, "%lld", t);
    if (n < 0 || (size_t)n > SIG_T_MAX_DIGITS)
        return IE_INVAL;
    struct iovec iov[3] = {
        {.iov_base = ts, .iov_len = (size_t)n},
        {.iov_base = (void *)".", .iov_len = 1},
        {.iov_base = (void *)body, .iov_len = bodylen},
    };
    rc = crypto_hmac_sha256_v(key, keylen, iov, 3, mac);
    if (rc)
        return rc;
    rc = crypto_hex_encode(mac, sizeof mac, hex, sizeof hex);
    if (rc)
        return rc;
    n = snprintf(out, outlen, "t=%s,v1=%s", ts, hex);
    if (n < 0 || (size_t)n >= outlen)
        return IE_TOOBIG;
    return 0;
}
