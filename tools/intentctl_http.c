/* intentctl's transport: one blocking libcurl easy handle with timeouts and a response size cap,
 * request ids, and the rendering of application/problem+json errors on stderr. See intentctl.h for
 * the contracts. */
#include "intentctl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#ifndef INTENTD_VERSION
#define INTENTD_VERSION "dev"
#endif

/* What the curl callbacks write into while one request is in flight. */
struct transfer {
    struct ctl_response *res;
    bool too_big; /* the body passed CTL_RESPONSE_MAX */
};

void ctl_cleanse(void *p, size_t len)
{
    if (p)
        OPENSSL_cleanse(p, len);
}

int ctl_http_init(struct ctl *c)
{
    c->curl = curl_easy_init();
    if (!c->curl) {
        fprintf(stderr, "intentctl: cannot initialise libcurl\n");
        return CTL_EXIT_UNAVAILABLE;
    }
    return 0;
}

void ctl_http_close(struct ctl *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
}

char *ctl_escape(const struct ctl *c, const char *s)
{
    return curl_easy_escape(c->curl, s, (int)strlen(s));
}

int ctl_add_query(const struct ctl *c, struct buf *p, const char *const *names,
                  const char *const *vals, size_t n)
{
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        if (!vals[i])
            continue;
        char *ev = ctl_escape(c, vals[i]);
        char sep = p->data && strchr(p->data, '?') ? '&' : '?';
        err = !ev || buf_printf(p, "%c%s=%s", sep, names[i], ev);
        curl_free(ev);
    }
    if (err)
        fprintf(stderr, "intentctl: the options are too long\n");
    return err ? CTL_EXIT_USAGE : 0;
}

/* Copies at most outlen - 1 bytes of s (n bytes long) into out, replacing anything that is not
 * printable ASCII with '?', so a hostile header cannot reach the terminal raw. */
static void copy_printable(char *out, size_t outlen, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n && i + 1 < outlen; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = '\0';
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    int err = buf_append(&t->res->body, data, n);
    if (err == IE_TOOBIG)
        t->too_big = true;
    return err ? 0 : n; /* a short count makes curl stop with CURLE_WRITE_ERROR */
}

/* Keeps the X-Request-ID the server echoes (a later one wins, e.g. after a 100 Continue). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    static const char name[] = "x-request-id:";
    size_t nlen = sizeof name - 1;
    if (n > nlen && strncasecmp(data, name, nlen) == 0) {
        const char *v = data + nlen;
        size_t vlen = n - nlen;
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen)
            copy_printable(t->res->request_id, sizeof t->res->request_id, v, vlen);
    }
    static const char next[] = "intentd-next-after-seq:";
    size_t xlen = sizeof next - 1;
    if (n > xlen && strncasecmp(data, next, xlen) == 0) {
        const char *v = data + xlen;
        size_t vlen = n - xlen;
        while (vlen && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        copy_printable(t->res->next_after_seq, sizeof t->res->next_after_seq, v, vlen);
    }
    return n;
}

/* "ictl-" followed by 24 random hex digits. */
static void new_request_id(char *out, size_t outlen)
{
    unsigned char r[12];
    if (RAND_bytes(r, sizeof r) != 1)
        memset(r, 0, sizeof r); /* an id is for correlation only; all-zero still works */
    int off = snprintf(out, outlen, "ictl-");
    for (size_t i = 0; i < sizeof r && off > 0 && (size_t)off + 2 < outlen; i++)
        off += snprintf(out + off, outlen - (size_t)off, "%02x", r[i]);
}

/* Appends "Name: value" to *list. Returns false when out of memory (the list is freed). */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    char line[CTL_REQUEST_ID_MAX + CTL_KEY_MAX];
    int n = snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *l = NULL;
    if (n >= 0 && (size_t)n < sizeof line)
        l = curl_slist_append(*list, line);
    ctl_cleanse(line, sizeof line); /* may have held the bearer token */
    if (!l) {
        curl_slist_free_all(*list);
        *list = NULL;
        return false;
    }
    *list = l;
    return true;
}

int ctl_request(struct ctl *c, const char *method, const char *path, const char *signature,
                const void *body, size_t len, struct ctl_response *res)
{
    char request_id[CTL_REQUEST_ID_MAX];
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct buf url;
    struct transfer t = {.res = res, .too_big = false};
    int rc = CTL_EXIT_UNAVAILABLE;
    CURLcode cc = CURLE_OUT_OF_MEMORY;

    memset(res, 0, sizeof *res);
    buf_init(&res->body, CTL_RESPONSE_MAX);
    buf_init(&url, 64 * 1024);
    new_request_id(request_id, sizeof request_id);
    snprintf(res->request_id, sizeof res->request_id, "%s", request_id);

    if (buf_printf(&url, "%s%s", c->url, path))
        goto out;
    bool ok = add_header(&headers, "X-Request-ID", request_id) &&
              add_header(&headers, "Accept", "application/json, application/problem+json") &&
              add_header(&headers, "User-Agent", "intentctl/" INTENTD_VERSION) &&
              add_header(&headers, "Expect", ""); /* no 100-continue round trip */
    if (ok && body)
        ok = add_header(&headers, "Content-Type", "application/json");
    if (ok && signature)
        ok = add_header(&headers, "Intent-Signature", signature);
    else if (ok && c->token) {
        char bearer[CTL_KEY_MAX + 16];
        snprintf(bearer, sizeof bearer, "Bearer %s", c->token);
        ok = add_header(&headers, "Authorization", bearer);
        ctl_cleanse(bearer, sizeof bearer);
    }
    if (!ok)
        goto out;

    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url.data);
#if LIBCURL_VERSION_NUM >= 0x075500 /* CURLOPT_PROTOCOLS_STR arrived in 7.85.0 */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, (long)CTL_CONNECT_TIMEOUT);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CTL_RESPONSE_MAX);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* 202's Location is data, not a redirect */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
        if (method[1] == 'U') /* a body sent like POST's, under another method */
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    } else if (strcmp(method, "DELETE") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }

    cc = curl_easy_perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL); /* headers are freed below */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    if (cc == CURLE_OK) {
        const char *ct = NULL;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
        if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
            size_t n = strcspn(ct, "; \t");
            copy_printable(res->content_type, sizeof res->content_type, ct, n);
            for (char *p = res->content_type; *p; p++)
                *p = (char)tolower((unsigned char)*p);
        }
        rc = 0;
    }

out:
    if (rc) {
        if (t.too_big || cc == CURLE_FILESIZE_EXCEEDED)
            fprintf(stderr, "intentctl: %s %s: the answer exceeds %zu MiB (request %s)\n", method,
                    path, CTL_RESPONSE_MAX >> 20, request_id);
        else
            fprintf(stderr, "intentctl: cannot complete %s %s at %s: %s (request %s)\n", method,
                    path, c->url, errbuf[0] ? errbuf : curl_easy_strerror(cc), request_id);
        ctl_response_free(res);
    }
    curl_slist_free_all(headers);
    buf_free(&url);
    return rc;
}

void ctl_response_free(struct ctl_response *res)
{
    buf_free(&res->body);
}

/* Reason phrases for answers that are not problem+json (a proxy's HTML page, say). */
static const char *reason_phrase(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

/* Prints s to f cleaned of control characters (see ctl_clean), so text from the server cannot
 * move the cursor or retitle the terminal. */
static void put_clean(FILE *f, const char *s)
{
    char *c = ctl_clean(s, 0);
    fputs(c ? c : "?", f);
    free(c);
}

void ctl_print_errors(const char *prefix, json_t *errors)
{
    size_t i;
    json_t *e;
    if (!json_is_array(errors))
        return;
    json_array_foreach(errors, i, e)
    {
        const char *ptr = json_string_value(json_object_get(e, "pointer"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        fputs("  ", stderr);
        if (prefix) {
            put_clean(stderr, prefix);
            fputs(": ", stderr);
        }
        put_clean(stderr, ptr && *ptr ? ptr : "(document)");
        fputs(": ", stderr);
        put_clean(stderr, msg ? msg : "invalid");
        fputc('\n', stderr);
    }
}

int ctl_check(const struct ctl *c, const struct ctl_response *res)
{
    if (res->status >= 200 && res->status <= 299)
        return 0;
    json_t *p = NULL;
    if (res->body.len)
        p = json_loadb(res->body.data, res->body.len, 0, NULL);
    const char *title = json_string_value(json_object_get(p, "title"));
    const char *detail = json_string_value(json_object_get(p, "detail"));
    fprintf(stderr, "intentctl: %ld ", res->status);
    put_clean(stderr, title && *title ? title : reason_phrase(res->status));
    if (detail && *detail) {
        fputs(": ", stderr);
        put_clean(stderr, detail);
    } else if (!p && res->body.len) {
        fprintf(stderr, ": (a %zu-byte %s answer)", res->body.len,
                res->content_type[0] ? res->content_type : "non-JSON");
    }
    fprintf(stderr, " (request ");
    put_clean(stderr, res->request_id);
    fprintf(stderr, ")\n");
    ctl_print_errors(NULL, json_object_get(p, "errors"));
    if (res->status == 401 && !c->token)
        fprintf(stderr, "intentctl: hint: no token given; use --token or INTENTCTL_TOKEN\n");
    json_decref(p);
    return res->status >= 400 && res->status <= 499 ? CTL_EXIT_REFUSED : CTL_EXIT_UNAVAILABLE;
}

json_t *ctl_parse_object(const struct ctl_response *res)
{
    json_error_t e;
    json_t *v = json_loadb(res->body.data ? res->body.data : "", res->body.len, 0, &e);
    if (!json_is_object(v)) {
        fprintf(stderr, "intentctl: unreadable answer (HTTP %ld, request %s): %s\n", res->status,
                res->request_id, v ? "not a JSON object" : e.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

void ctl_print_raw(const struct ctl_response *res)
{
    if (res->body.len)
        fwrite(res->body.data, 1, res->body.len, stdout);
    if (!res->body.len || res->body.data[res->body.len - 1] != '\n')
        fputc('\n', stdout);
}
