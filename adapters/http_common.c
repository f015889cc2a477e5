/* Helpers shared by the HTTP adapters; see http_common.h and adapter.h. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_common.h"
#include "params.h"

int adapter_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~';
        size_t need = keep ? 1 : 3;
        if (o + need >= outlen)
            return -1;
        if (keep) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

void adapter_path_init(struct adapter_path *p)
{
    p->s[0] = '\0';
    p->n = 0;
    p->overflow = false;
}

void adapter_path_lit(struct adapter_path *p, const char *lit)
{
    size_t n = strlen(lit);
    if (p->overflow || p->n + n >= sizeof p->s) {
        p->overflow = true;
        return;
    }
    memcpy(p->s + p->n, lit, n + 1);
    p->n += n;
}

void adapter_path_esc(struct adapter_path *p, const char *value)
{
    if (p->overflow || adapter_escape(value, p->s + p->n, sizeof p->s - p->n)) {
        p->overflow = true;
        return;
    }
    p->n += strlen(p->s + p->n);
}

int adapter_build_fail(char cause[ADAPTER_MESSAGE_MAX], const char *fmt, ...)
{
    if (cause) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cause, ADAPTER_MESSAGE_MAX, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int adapter_request(const char *method, const struct adapter_path *path, json_t *body,
                    json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    if (path->overflow) {
        json_decref(body);
        return adapter_build_fail(cause, "request path longer than %d bytes", ADAPTER_PATH_MAX);
    }
    json_t *r = json_pack("{s:s, s:s}", "method", method, "path", path->s);
    if (!r || (body && json_object_set_new(r, "body", body))) {
        if (!r)
            json_decref(body);
        json_decref(r);
        return adapter_build_fail(cause, "out of memory");
    }
    *request = r;
    return 0;
}

int adapter_skip(const char *why, json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    json_t *r = json_pack("{s:s}", "skip", why);
    if (!r)
        return adapter_build_fail(cause, "out of memory");
    *request = r;
    return 0;
}

void adapter_ok(struct adapter_outcome *out, const char *external_id, json_t *result)
{
    if (!result) {
        adapter_fail(out, ADAPTER_TRANSIENT, "out of memory building the result");
        return;
    }
    out->verdict = ADAPTER_OK;
    out->retry_after_s = -1;
    snprintf(out->external_id, sizeof out->external_id, "%s", external_id ? external_id : "");
    out->result = result;
    out->cause[0] = '\0';
}

void adapter_fail(struct adapter_outcome *out, enum adapter_verdict verdict, const char *fmt, ...)
{
    out->verdict = verdict;
    out->retry_after_s = -1;
    out->external_id[0] = '\0';
    out->result = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->cause, sizeof out->cause, fmt, ap);
    va_end(ap);
}

bool adapter_is_2xx(long status)
{
    return status >= 200 && status <= 299;
}

json_t *adapter_body_object(const struct adapter_response *resp)
{
    if (!resp->body || resp->body_len == 0 || resp->body_len > ADAPTER_BODY_PARSE_MAX)
        return NULL;
    json_error_t e;
    json_t *d = json_loadb(resp->body, resp->body_len, 0, &e);
    if (d && !json_is_object(d)) {
        json_decref(d);
        return NULL;
    }
    return d;
}

/* Copies one line of s into out: control characters become spaces, the copy stops at a line
 * break and at a UTF-8 boundary that fits. */
static void one_line(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    for (size_t i = 0; i < n && s[i] != '\n' && s[i] != '\r';) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        if (i + len > n || o + len >= outlen)
            break;
        if (len == 1) {
            out[o++] = (c < 0x20 || c >= 0x7f) ? ' ' : (char)c;
        } else {
            memcpy(out + o, s + i, len);
            o += len;
        }
        i += len;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

void adapter_vendor_message(const struct adapter_response *resp, char *out, size_t outlen)
{
    if (outlen)
        out[0] = '\0';
    if (!resp->body || resp->body_len == 0)
        return;
    json_t *d = adapter_body_object(resp);
    if (d) {
        const json_t *err = json_object_get(d, "error");
        const json_t *m = json_object_get(d, "message");
        if (!json_is_string(m))
            m = json_is_object(err) ? json_object_get(err, "message") : err;
        if (json_is_string(m))
            one_line(json_string_value(m), json_string_length(m), out, outlen);
        json_decref(d);
        return;
    }
    /* Text bodies (Slack's "invalid_payload"): the first line, unless it is markup from a
     * proxy's error page or JSON of another shape. */
    size_t n = resp->body_len < 1024 ? resp->body_len : 1024;
    if (resp->body[0] != '<' && resp->body[0] != '{' && resp->body[0] != '[')
        one_line(resp->body, n, out, outlen);
}

void adapter_classify_status(const struct adapter_response *resp, struct adapter_outcome *out)
{
    long s = resp->status;
    enum adapter_verdict v;
    if (s == 408 || s == 425 || (s >= 500 && s <= 599))
        v = ADAPTER_TRANSIENT;
    else if (s == 429)
        v = ADAPTER_RATE_LIMITED;
    else if (s == 401)
        v = ADAPTER_UNAUTHORIZED;
    else
        v = ADAPTER_PERMANENT; /* other 4xx, and statuses no call should answer with */
    char msg[ADAPTER_MESSAGE_MAX - 32];
    adapter_vendor_message(resp, msg, sizeof msg);
    if (msg[0])
        adapter_fail(out, v, "HTTP %ld: %s", s, msg);
    else
        adapter_fail(out, v, "HTTP %ld", s);
}

void adapter_classify_google(const struct adapter_response *resp, struct adapter_outcome *out)
{
    adapter_classify_status(resp, out);
    if (resp->status != 403)
        return;
    json_t *d = adapter_body_object(resp);
    const json_t *errors = json_object_get(json_object_get(d, "error"), "errors");
    size_t i;
    const json_t *e;
    json_array_foreach(errors, i, e)
    {
        const char *reason = json_string_value(json_object_get(e, "reason"));
        if (reason &&
            (!strcmp(reason, "rateLimitExceeded") || !strcmp(reason, "userRateLimitExceeded")))
            out->verdict = ADAPTER_RATE_LIMITED;
    }
    json_decref(d);
}

const char *adapter_id_text(const json_t *v, char *buf, size_t buflen)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n >= buflen || n >= ADAPTER_ID_MAX ||
        strlen(json_string_value(v)) != n)
        return NULL;
    memcpy(buf, json_string_value(v), n + 1);
    return buf;
}

int adapter_number_text(const json_t *v, char *out, size_t outlen)
{
    int w;
    if (json_is_integer(v)) {
        w = snprintf(out, outlen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v) && isfinite(json_real_value(v))) {
        double d = json_real_value(v);
        /* Whole numbers as integers ("1500", not "1500.0" or "1.5e+03") where exact. */
        if (d == floor(d) && fabs(d) < 1e15)
            w = snprintf(out, outlen, "%.0f", d);
        else
            w = snprintf(out, outlen, "%.15g", d);
    } else {
        return -1;
    }
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

int adapter_epoch_ms(const char *s, char *out, size_t outlen)
{
    long long epoch;
    char frac[8];
    if (!adapter_rfc3339_parse(s, &epoch, frac))
        return -1;
    /* The fraction as written: ".5" is 500 ms; digits past milliseconds are cut. */
    size_t nf = strlen(frac);
    long long ms = 0;
    for (size_t i = 0; i < 3; i++)
        ms = ms * 10 + (i < nf ? frac[i] - '0' : 0);
    int w = snprintf(out, outlen, "%lld", epoch * 1000 + ms);
    return w < 0 || (size_t)w >= outlen ? -1 : 0;
}

int adapter_base32hex(const void *in, size_t n, char *out, size_t outlen)
{
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuv";
    const unsigned char *p = in;
    size_t need = (n * 8 + 4) / 5;
    if (need >= outlen)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
    return 0;
}

char *adapter_base64(const void *in, size_t n, bool url, size_t wrap)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? safe : std;
    const unsigned char *p = in;
    if (n > SIZE_MAX / 2)
        return NULL;
    size_t chars = (n + 2) / 3 * 4;
    size_t lines = wrap ? (chars + wrap - 1) / wrap : 0;
    char *out = malloc(chars + lines * 2 + 1);
    if (!out)
        return NULL;
    size_t o = 0, col = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {a[(v >> 18) & 63], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
                     i + 2 < n ? a[v & 63] : '='};
        for (int k = 0; k < 4; k++) {
            out[o++] = q[k];
            if (wrap && ++col == wrap) {
                out[o++] = '\r';
                out[o++] = '\n';
                col = 0;
            }
        }
    }
    if (wrap && col) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = '\0';
    return out;
}

int adapter_setting(const struct adapter_ctx *ctx, const char *key, const char *dflt, size_t max,
                    const char **out, char cause[ADAPTER_MESSAGE_MAX])
{
    const json_t *v = ctx->settings ? json_object_get(ctx->settings, key) : NULL;
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    size_t n = json_string_length(v);
    if (!json_is_string(v) || n == 0 || n > max || strlen(json_string_value(v)) != n)
        return adapter_build_fail(cause, "setting %s must be a string of 1 to %zu bytes", key, max);
    *out = json_string_value(v);
    return 0;
}

const char *adapter_done_id(const struct adapter_ctx *ctx, const char *result_key, char *buf,
                            size_t buflen)
{
    if (!ctx->done)
        return NULL;
    const char *id = adapter_id_text(json_object_get(ctx->done, "external_id"), buf, buflen);
    if (!id)
        id = adapter_id_text(json_object_get(json_object_get(ctx->done, "result"), result_key), buf,
                             buflen);
    return id;
}
