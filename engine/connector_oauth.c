/* The pure halves of an OAuth2 refresh (RFC 6749 §6): the form body of the token request and the
 * parse of the token endpoint's answer; see connectors.h. Both handle secrets, so every copy
 * made here is wiped before it is freed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors.h"

#define TOKEN_ANSWER_MAX (64 * 1024) /* bytes of a token endpoint's answer we parse */
#define ACCESS_TOKEN_MAX 8192        /* bytes of an access token we accept */
#define EXPIRES_IN_MAX   1e9         /* seconds; beyond is nonsense */

/* RFC 3986 unreserved characters pass; the form encoding turns a space into '+' and anything
 * else into %XX. */
static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

static size_t encoded_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += unreserved((unsigned char)*s) || *s == ' ' ? 1 : 3;
    return n;
}

static char *encode_into(char *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (unreserved(ch)) {
            *out++ = (char)ch;
        } else if (ch == ' ') {
            *out++ = '+';
        } else {
            *out++ = '%';
            *out++ = hex[ch >> 4];
            *out++ = hex[ch & 15];
        }
    }
    return out;
}

int connectors_oauth_form(const struct connector_config *cfg, char **body)
{
    *body = NULL;
    if (!cfg || cfg->auth != CONNECTOR_AUTH_OAUTH2 || !cfg->refresh_token || !*cfg->refresh_token ||
        !cfg->client_id || !*cfg->client_id)
        return IE_INVAL;
    const char *names[] = {"grant_type", "refresh_token", "client_id", "client_secret"};
    const char *values[] = {"refresh_token", cfg->refresh_token, cfg->client_id,
                            cfg->client_secret};
    size_t n = sizeof names / sizeof names[0];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        if (values[i])
            len += strlen(names[i]) + 2 + encoded_len(values[i]);
    /* sized exactly, so no reallocation leaves a copy of a secret behind */
    char *out = malloc(len + 1), *p = out;
    if (!out)
        return IE_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!values[i])
            continue; /* a public client has no secret */
        if (p != out)
            *p++ = '&';
        memcpy(p, names[i], strlen(names[i]));
        p += strlen(names[i]);
        *p++ = '=';
        p = encode_into(p, values[i]);
    }
    *p = '\0';
    *body = out;
    return 0;
}

/* An access token travels in an Authorization header: visible ASCII only (RFC 6750 b64token
 * is narrower; vendors' opaque tokens use a little more). */
static bool header_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return n > 0;
}

/* jansson keeps its own copy of every string; overwrite it before the document is freed. */
static void wipe_string(json_t *v)
{
    if (json_is_string(v))
        crypto_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
}

int connectors_oauth_parse(const char *json_body, char **access_token, double *expires_in)
{
    *access_token = NULL;
    *expires_in = -1;
    if (!json_body || strlen(json_body) > TOKEN_ANSWER_MAX)
        return IE_PARSE;
    json_t *doc = json_loads(json_body, JSON_REJECT_DUPLICATES, NULL);
    int rc = 0;
    if (!json_is_object(doc)) {
        rc = IE_PARSE;
        goto out;
    }
    json_t *tok = json_object_get(doc, "access_token");
    json_t *type = json_object_get(doc, "token_type");
    json_t *exp = json_object_get(doc, "expires_in");
    if (!json_is_string(tok) || json_string_length(tok) > ACCESS_TOKEN_MAX ||
        !header_safe(json_string_value(tok), json_string_length(tok))) {
        rc = IE_INVAL;
        goto out;
    }
    /* we send whatever we get as a Bearer token; another type would be refused by the API */
    if (type && (!json_is_string(type) || strcasecmp(json_string_value(type), "bearer"))) {
        rc = IE_INVAL;
        goto out;
    }
    double e = -1;
    if (json_is_number(exp)) {
        e = json_number_value(exp);
    } else if (json_is_string(exp)) { /* some endpoints quote it */
        const char *s = json_string_value(exp);
        char *end = NULL;
        e = strtod(s, &end);
        if (!*s || *end || strspn(s, "0123456789.") != strlen(s))
            e = -2;
    } else if (exp && !json_is_null(exp)) {
        e = -2;
    }
    if (exp && !json_is_null(exp) && !(e >= 0 && e <= EXPIRES_IN_MAX)) {
        rc = IE_INVAL;
        goto out;
    }
    *access_token = strdup(json_string_value(tok));
    if (!*access_token) {
        rc = IE_NOMEM;
        goto out;
    }
    *expires_in = e;
out:
    wipe_string(json_object_get(doc, "access_token"));
    wipe_string(json_object_get(doc, "refresh_token"));
    json_decref(doc);
    return rc;
}
