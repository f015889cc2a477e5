/* Cryptographic primitives on OpenSSL 3 EVP (see crypto.h): digests, MACs, codecs, randomness,
 * AES-256-GCM sealing and the master key file. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* ---- digests and MACs ---- */

int crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return crypto_sha256_v(&iov, 1, out);
}

int crypto_sha256_v(const struct iovec *iov, int iovcnt, unsigned char out[CRYPTO_SHA256_LEN])
{
    int rc = IE_CRYPTO;
    unsigned int n = 0;
    EVP_MD_CTX *ctx = NULL;

    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return IE_INVAL;
    ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL))
        goto out;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len && !EVP_DigestUpdate(ctx, iov[i].iov_base, iov[i].iov_len))
            goto out;
    }
    if (!EVP_DigestFinal_ex(ctx, out, &n) || n != CRYPTO_SHA256_LEN)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int crypto_sha256_hex(const void *data, size_t len, char out[CRYPTO_SHA256_HEX_LEN + 1])
{
    unsigned char md[CRYPTO_SHA256_LEN];
    int rc = crypto_sha256(data, len, md);
    if (rc)
        return rc;
    return crypto_hex_encode(md, sizeof md, out, CRYPTO_SHA256_HEX_LEN + 1);
}

int crypto_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
                       unsigned char out[CRYPTO_SHA256_LEN])
{
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    return crypto_hmac_sha256_v(key, keylen, &iov, 1, out);
}

struct crypto_hmac_key {
    EVP_MAC_CTX *ctx; /* initialised with the key */
};

/* Sets k up with key; k->ctx is NULL or a context to free on failure too. */
static int hmac_key_init(struct crypto_hmac_key *k, const void *key, size_t keylen)
{
    /* EVP_MAC_init refuses a NULL key, and an empty key is legal HMAC: point at a dummy. */
    static const unsigned char empty[1] = {0};
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };

    k->ctx = NULL;
    if (keylen && !key)
        return IE_INVAL;
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac)
        return IE_CRYPTO;
    k->ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if (!k->ctx || !EVP_MAC_init(k->ctx, keylen ? key : empty, keylen, params))
        return IE_CRYPTO;
    return 0;
}

int crypto_hmac_key_new(const void *key, size_t keylen, struct crypto_hmac_key **out)
{
    *out = NULL;
    struct crypto_hmac_key *k = malloc(sizeof *k);
    if (!k)
        return IE_NOMEM;
    int rc = hmac_key_init(k, key, keylen);
    if (rc)
        crypto_hmac_key_free(k);
    else
        *out = k;
    return rc;
}

void crypto_hmac_key_free(struct crypto_hmac_key *k)
{
    if (k)
        EVP_MAC_CTX_free(k->ctx);
    free(k);
}

int crypto_hmac_sha256_keyed_v(struct crypto_hmac_key *k, const struct iovec *iov, int iovcnt,
                               unsigned char out[CRYPTO_SHA256_LEN])
{
    size_t n = 0;

    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return IE_INVAL;
    /* Without a key, EVP_MAC_init starts a new MAC under the key already set: OpenSSL's HMAC
     * copies its saved inner state instead of hashing the padded key again. */
    if (!EVP_MAC_init(k->ctx, NULL, 0, NULL))
        return IE_CRYPTO;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len && !EVP_MAC_update(k->ctx, iov[i].iov_base, iov[i].iov_len))
            return IE_CRYPTO;
    }
    if (!EVP_MAC_final(k->ctx, out, &n, CRYPTO_SHA256_LEN) || n != CRYPTO_SHA256_LEN)
        return IE_CRYPTO;
    return 0;
}

int crypto_hmac_sha256_v(const void *key, size_t keylen, const struct iovec *iov, int iovcnt,
                         unsigned char out[CRYPTO_SHA256_LEN])
{
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return IE_INVAL;
    struct crypto_hmac_key k;
    int rc = hmac_key_init(&k, key, keylen);
    if (!rc)
        rc = crypto_hmac_sha256_keyed_v(&k, iov, iovcnt, out);
    EVP_MAC_CTX_free(k.ctx);
    return rc;
}

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

/* ---- codecs ---- */

int crypto_hex_encode(const void *in, size_t len, char *out, size_t outlen)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;

    if (len > (SIZE_MAX - 1) / 2 || outlen < 2 * len + 1)
        return IE_TOOBIG;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * len] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int crypto_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outlen,
                      size_t *written)
{
    if (hexlen % 2)
        return IE_PARSE;
    if (hexlen / 2 > outlen)
        return IE_TOOBIG;
    for (size_t i = 0; i < hexlen; i += 2) {
        int hi = hexval(hex[i]), lo = hexval(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return IE_PARSE;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    if (written)
        *written = hexlen / 2;
    return 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int crypto_base64url_encode(const void *in, size_t len, char *out, size_t outlen)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;

    if (len > SIZE_MAX / 2 || outlen < CRYPTO_B64URL_LEN(len) + 1)
        return IE_TOOBIG;
    for (; i + 3 <= len; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
        out[o++] = b64url[v & 63];
    }
    if (len - i == 1) {
        unsigned long v = (unsigned long)p[i] << 16;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
    } else if (len - i == 2) {
        unsigned long v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
        out[o++] = b64url[(v >> 18) & 63];
        out[o++] = b64url[(v >> 12) & 63];
        out[o++] = b64url[(v >> 6) & 63];
    }
    out[o] = '\0';
    return 0;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int crypto_base64url_decode(const char *src, size_t srclen, unsigned char *out, size_t outlen,
                            size_t *written)
{
    size_t rem = srclen % 4, need = srclen / 4 * 3 + (rem ? rem - 1 : 0), o = 0;
    unsigned long v = 0;
    int bits = 0;

    if (rem == 1)
        return IE_PARSE;
    if (need > outlen)
        return IE_TOOBIG;
    for (size_t i = 0; i < srclen; i++) {
        int d = b64val(src[i]);
        if (d < 0)
            return IE_PARSE;
        v = (v << 6 | (unsigned long)d) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(v >> bits);
        }
    }
    /* Leftover bits must be zero, so every byte string has exactly one encoding. */
    if (bits && (v & ((1ul << bits) - 1)))
        return IE_PARSE;
    if (written)
        *written = o;
    return 0;
}

/* ---- randomness ---- */

int crypto_random_bytes(void *out, size_t len)
{
    unsigned char *p = out;
    while (len) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        if (RAND_bytes(p, n) != 1)
            return IE_CRYPTO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int crypto_random_token(const char *prefix, char *out, size_t outlen)
{
    unsigned char raw[CRYPTO_TOKEN_RANDOM_BYTES];
    size_t plen = prefix ? strlen(prefix) : 0;
    int rc;

    if (plen > outlen || outlen - plen < CRYPTO_TOKEN_RANDOM_CHARS + 1)
        return IE_TOOBIG;
    rc = crypto_random_bytes(raw, sizeof raw);
    if (rc)
        goto out;
    memcpy(out, prefix ? prefix : "", plen);
    rc = crypto_base64url_encode(raw, sizeof raw, out + plen, outlen - plen);
out:
    crypto_cleanse(raw, sizeof raw);
    return rc;
}

/* ---- AES-256-GCM ---- */

void crypto_cleanse(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

void crypto_free_secret(void *p, size_t len)
{
    crypto_cleanse(p, len);
    free(p);
}

int crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                const void *pt, size_t ptlen, unsigned char *out, size_t outlen, size_t *written)
{
    int rc = IE_CRYPTO, n = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *nonce = out + 1, *ct = out + 1 + CRYPTO_GCM_NONCE_LEN;

    if (ptlen > CRYPTO_SEAL_MAX || aadlen > INT_MAX || outlen < ptlen + CRYPTO_SEAL_OVERHEAD)
        return IE_TOOBIG;
    if ((aadlen && !aad) || (ptlen && !pt))
        return IE_INVAL;
    out[0] = CRYPTO_SEAL_VERSION;
    /* A random 96-bit nonce per message: safe for far more seals than intentd will ever make
     * under one key (the NIST bound is 2^32). */
    if (crypto_random_bytes(nonce, CRYPTO_GCM_NONCE_LEN))
        return IE_CRYPTO;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_EncryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL))
        goto out;
    if (aadlen && !EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        goto out;
    if (ptlen && !EVP_EncryptUpdate(ctx, ct, &n, pt, (int)ptlen))
        goto out;
    if ((size_t)n != ptlen)
        goto out;
    if (!EVP_EncryptFinal_ex(ctx, ct + ptlen, &n) || n != 0)
        goto out;
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, CRYPTO_GCM_TAG_LEN, ct + ptlen))
        goto out;
    *written = ptlen + CRYPTO_SEAL_OVERHEAD;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc)
        crypto_cleanse(out, ptlen + CRYPTO_SEAL_OVERHEAD);
    return rc;
}

int crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                const unsigned char *sealed, size_t sealedlen, unsigned char *out, size_t outlen,
                size_t *written)
{
    int rc = IE_CRYPTO, n = 0;
    EVP_CIPHER_CTX *ctx = NULL;
    const unsigned char *nonce = sealed + 1, *ct = sealed + 1 + CRYPTO_GCM_NONCE_LEN;
    size_t ctlen;
    unsigned char tag[CRYPTO_GCM_TAG_LEN];

    if (sealedlen < CRYPTO_SEAL_OVERHEAD || sealed[0] != CRYPTO_SEAL_VERSION)
        return IE_PARSE;
    ctlen = sealedlen - CRYPTO_SEAL_OVERHEAD;
    if (ctlen > CRYPTO_SEAL_MAX || aadlen > INT_MAX || outlen < ctlen)
        return IE_TOOBIG;
    if (aadlen && !aad)
        return IE_INVAL;
    memcpy(tag, ct + ctlen, sizeof tag);
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || !EVP_DecryptInit_ex2(ctx, EVP_aes_256_gcm(), key, nonce, NULL))
        goto out;
    if (aadlen && !EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aadlen))
        goto out;
    if (ctlen && !EVP_DecryptUpdate(ctx, out, &n, ct, (int)ctlen))
        goto out;
    if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, CRYPTO_GCM_TAG_LEN, tag))
        goto out;
    /* The tag is checked here; until it passes, nothing written to out may be used. */
    if (EVP_DecryptFinal_ex(ctx, out + ctlen, &n) != 1)
        goto out;
    *written = ctlen;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (rc)
        crypto_cleanse(out, ctlen);
    return rc;
}

int crypto_seal_text(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                     const void *pt, size_t ptlen, char **out)
{
    int rc;
    size_t blen, n = 0, tlen;
    unsigned char *blob = NULL;
    char *text = NULL;

    *out = NULL;
    if (ptlen > CRYPTO_SEAL_MAX)
        return IE_TOOBIG;
    blen = ptlen + CRYPTO_SEAL_OVERHEAD;
    tlen = CRYPTO_B64URL_LEN(blen) + 1;
    blob = malloc(blen);
    text = malloc(tlen);
    rc = IE_NOMEM;
    if (!blob || !text)
        goto out;
    rc = crypto_seal(key, aad, aadlen, pt, ptlen, blob, blen, &n);
    if (rc)
        goto out;
    rc = crypto_base64url_encode(blob, n, text, tlen);
    if (rc)
        goto out;
    *out = text;
    text = NULL;
out:
    free(blob);
    free(text);
    return rc;
}

int crypto_open_text(const unsigned char key[CRYPTO_KEY_LEN], const void *aad, size_t aadlen,
                     const char *text, char **out, size_t *outlen)
{
    int rc;
    size_t tlen = strlen(text), blen = tlen / 4 * 3 + 3, n = 0, ptlen = 0, cap = 0;
    unsigned char *blob = NULL, *pt = NULL;

    *out = NULL;
    if (outlen)
        *outlen = 0;
    if (tlen > CRYPTO_B64URL_LEN((size_t)CRYPTO_SEAL_MAX + CRYPTO_SEAL_OVERHEAD))
        return IE_TOOBIG;
    blob = malloc(blen);
    rc = IE_NOMEM;
    if (!blob)
        goto out;
    rc = crypto_base64url_decode(text, tlen, blob, blen, &n);
    if (rc)
        goto out;
    rc = IE_PARSE;
    if (n < CRYPTO_SEAL_OVERHEAD)
        goto out;
    cap = n - CRYPTO_SEAL_OVERHEAD + 1;
    pt = malloc(cap);
    rc = IE_NOMEM;
    if (!pt)
        goto out;
    rc = crypto_open(key, aad, aadlen, blob, n, pt, cap, &ptlen);
    if (rc)
        goto out;
    pt[ptlen] = '\0';
    *out = (char *)pt;
    if (outlen)
        *outlen = ptlen;
    pt = NULL;
out:
    free(blob);
    crypto_free_secret(pt, cap);
    return rc;
}

/* ---- master key file ---- */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The key file holds 64 hex digits and optionally "\n" or "\r\n"; nothing else. */
#define KEYFILE_MAX (CRYPTO_SHA256_HEX_LEN + 2)

static int read_key_file(int fd, const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err,
                         size_t errlen)
{
    int rc = IE_CONFIG;
    struct stat st;
    char text[KEYFILE_MAX + 1];
    size_t len = 0, n = 0;

    if (fstat(fd, &st) != 0) {
        seterr(err, errlen, "master key file %s: stat: %s", path, strerror(errno));
        rc = IE_IO;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        seterr(err, errlen, "master key file %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        seterr(err, errlen,
               "master key file %s has mode %04o; it must not be accessible by group or others "
               "(chmod 600 %s)",
               path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    /* Read one byte past the largest valid file so that trailing junk is seen. */
    while (len < sizeof text) {
        ssize_t r = read(fd, text + len, sizeof text - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            seterr(err, errlen, "master key file %s: read: %s", path, strerror(errno));
            rc = IE_IO;
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len == CRYPTO_SHA256_HEX_LEN + 2 && text[len - 2] == '\r' && text[len - 1] == '\n')
        len -= 2;
    else if (len == CRYPTO_SHA256_HEX_LEN + 1 && text[len - 1] == '\n')
        len -= 1;
    if (len != CRYPTO_SHA256_HEX_LEN ||
        crypto_hex_decode(text, len, key, CRYPTO_KEY_LEN, &n) != 0 || n != CRYPTO_KEY_LEN) {
        seterr(err, errlen,
               "master key file %s must hold exactly 64 hex characters (32 bytes) and an "
               "optional newline",
               path);
        goto out;
    }
    rc = 0;
out:
    crypto_cleanse(text, sizeof text);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes a fresh key to a private temporary file beside path and links it into place: link()
 * never replaces an existing file, so two processes starting together agree on one key, and
 * nobody can read a half-written key. Returns 0, IE_EXISTS (someone else won the race),
 * IE_IO or IE_CRYPTO. */
static int create_key_file(const char *path, char *err, size_t errlen)
{
    int rc = IE_IO, fd = -1;
    unsigned char key[CRYPTO_KEY_LEN];
    char text[CRYPTO_SHA256_HEX_LEN + 2];
    char *tmp = NULL;
    size_t plen = strlen(path);

    tmp = malloc(plen + sizeof ".tmp.XXXXXX");
    if (!tmp) {
        seterr(err, errlen, "master key file %s: out of memory", path);
        rc = IE_NOMEM;
        goto out;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    /* mkstemp creates with O_EXCL and mode 0600 regardless of umask. */
    fd = mkstemp(tmp);
    if (fd >= 0)
        (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "master key file %s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        seterr(err, errlen, "master key file %s: chmod: %s", path, strerror(errno));
        goto out;
    }
    rc = crypto_random_bytes(key, sizeof key);
    if (rc) {
        seterr(err, errlen, "master key file %s: no randomness available", path);
        goto out;
    }
    rc = crypto_hex_encode(key, sizeof key, text, sizeof text);
    if (rc)
        goto out;
    text[CRYPTO_SHA256_HEX_LEN] = '\n';
    rc = IE_IO;
    if (write_all(fd, text, CRYPTO_SHA256_HEX_LEN + 1) != 0 || fsync(fd) != 0) {
        seterr(err, errlen, "master key file %s: write: %s", path, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        seterr(err, errlen, "master key file %s: close: %s", path, strerror(errno));
        goto out;
    }
    fd = -1;
    if (link(tmp, path) != 0) {
        if (errno == EEXIST) {
            rc = IE_EXISTS;
            goto out;
        }
        seterr(err, errlen, "master key file %s: cannot create: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    crypto_cleanse(key, sizeof key);
    crypto_cleanse(text, sizeof text);
    return rc;
}

int crypto_master_key_load_or_create(const char *path, unsigned char key[CRYPTO_KEY_LEN], char *err,
                                     size_t errlen)
{
    int rc = IE_IO;

    if (err && errlen)
        err[0] = '\0';
    memset(key, 0, CRYPTO_KEY_LEN);
    if (!path || !*path) {
        seterr(err, errlen, "master key file path is empty");
        return IE_CONFIG;
    }
    /* Two rounds at most: if another process creates the file between our open and our
     * link, we read theirs. */
    for (int attempt = 0; attempt < 2; attempt++) {
        /* Symbolic links are followed (secret volumes are often mounted that way); fstat on
         * the opened descriptor checks the file actually read. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            rc = read_key_file(fd, path, key, err, errlen);
            close(fd);
            goto out;
        }
        if (errno != ENOENT) {
            seterr(err, errlen, "master key file %s: open: %s", path, strerror(errno));
            rc = IE_IO;
            goto out;
        }
        rc = create_key_file(path, err, errlen);
        if (rc != IE_EXISTS && rc != 0)
            goto out;
        /* Created (or lost the race): read back what is now on disk. */
    }
    seterr(err, errlen, "master key file %s keeps disappearing", path);
    rc = IE_IO;
out:
    if (rc)
        memset(key, 0, CRYPTO_KEY_LEN);
    return rc;
}
