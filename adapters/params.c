/* Parameter checks shared by every connector's validate(); see params.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "params.h"

/* Reads exactly n ASCII digits (no signs, no blanks, which sscanf would allow). */
static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool adapter_rfc3339_parse(const char *s, long long *epoch, char frac[8])
{
    int y, mo, d, h, mi, sec;
    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return false;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || sec > 60)
        return false;
    const char *p = s + 19;
    size_t nf = 0;
    frac[0] = '\0';
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            if (nf < 6)
                frac[nf++] = *p;
            p++;
        }
        if (nf == 0)
            return false;
        frac[nf] = '\0';
    }
    long long off = 0;
    if (*p == 'Z' || *p == 'z') {
        if (p[1])
            return false;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || p[6] || oh > 23 ||
            om > 59)
            return false;
        off = (oh * 60 + om) * 60LL * (*p == '-' ? -1 : 1);
    } else {
        return false;
    }
    /* Days from the civil date (proleptic Gregorian), without the C library's time zone. */
    long long yy = y - (mo <= 2);
    long long era = (yy >= 0 ? yy : yy - 399) / 400;
    long long yoe = yy - era * 400;
    long long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long long days = era * 146097 + doe - 719468;
    *epoch = days * 86400 + h * 3600LL + mi * 60LL + (sec == 60 ? 59 : sec) - off;
    return true;
}

size_t adapter_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

void adapter_pointer(char *out, size_t outlen, const char *base, const char *key)
{
    size_t o = 0;
    if (outlen == 0)
        return;
    for (const char *b = base; *b && o + 1 < outlen; b++)
        out[o++] = *b;
    if (o + 1 < outlen)
        out[o++] = '/';
    for (const char *k = key; *k && o + 3 < outlen; k++) {
        if (*k == '~' || *k == '/') {
            out[o++] = '~';
            out[o++] = *k == '~' ? '0' : '1';
        } else {
            out[o++] = *k;
        }
    }
    out[o] = '\0';
}

bool adapter_params_object(const json_t *params, struct adapter_errors *errs)
{
    if (json_is_object(params))
        return true;
    adapter_error(errs, "", "parameters must be an object");
    return false;
}

void adapter_params_known(const json_t *obj, const char *base, const char *const *known,
                          struct adapter_errors *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok = ok || !strcmp(known[i], key);
        if (!ok) {
            char ptr[ADAPTER_POINTER_MAX];
            adapter_pointer(ptr, sizeof ptr, base, key);
            adapter_error(errs, ptr, "unknown parameter \"%.100s\"", key);
        }
    }
}

size_t adapter_params_any(const json_t *params, struct adapter_errors *errs)
{
    (void)params;
    (void)errs;
    return 0;
}

/* 0: clean; 1: a line break where none is allowed; 2: another control character. */
static int control_kind(const char *s, bool multiline)
{
    int kind = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\r' || c == '\n') {
            if (!multiline && kind == 0)
                kind = 1;
        } else if ((c < 0x20 && !(multiline && c == '\t')) || c == 0x7f) {
            return 2;
        }
    }
    return kind;
}

const char *adapter_check_string(const json_t *v, const char *ptr, const char *name, bool required,
                                 size_t max, bool multiline, struct adapter_errors *errs)
{
    if (!v || json_is_null(v)) {
        if (required)
            adapter_error(errs, ptr, "%s is required", name);
        return NULL;
    }
    if (!json_is_string(v)) {
        adapter_error(errs, ptr, "%s must be a string", name);
        return NULL;
    }
    const char *s = json_string_value(v);
    size_t n = adapter_utf8_len(s);
    if (n == 0 || n > max) {
        adapter_error(errs, ptr, "%s must be 1 to %zu characters, not %zu", name, max, n);
        return NULL;
    }
    int kind = strlen(s) != json_string_length(v) ? 2 : control_kind(s, multiline);
    if (kind == 1) {
        adapter_error(errs, ptr, "%s must be one line (no CR or LF)", name);
        return NULL;
    }
    if (kind == 2) {
        adapter_error(errs, ptr, "%s must not contain control characters", name);
        return NULL;
    }
    return s;
}

const char *adapter_check_text(const json_t *params, const char *key, bool required, size_t max,
                               bool multiline, struct adapter_errors *errs)
{
    char ptr[ADAPTER_POINTER_MAX];
    adapter_pointer(ptr, sizeof ptr, "", key);
    return adapter_check_string(json_object_get(params, key), ptr, key, required, max, multiline,
                                errs);
}

const char *adapter_check_enum_at(const json_t *v, const char *ptr, const char *name, bool required,
                                  const char *const *values, struct adapter_errors *errs)
{
    if (!v || json_is_null(v)) {
        if (required)
            adapter_error(errs, ptr, "%s is required", name);
        return NULL;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; s && values[i]; i++)
        if (!strcmp(values[i], s) && strlen(s) == json_string_length(v))
            return s;
    char list[ADAPTER_MESSAGE_MAX / 2];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; values[i] && o < sizeof list; i++) {
        int w = snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", values[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    adapter_error(errs, ptr, "%s must be one of %s", name, list);
    return NULL;
}

const char *adapter_check_enum(const json_t *params, const char *key, bool required,
                               const char *const *values, struct adapter_errors *errs)
{
    char ptr[ADAPTER_POINTER_MAX];
    adapter_pointer(ptr, sizeof ptr, "", key);
    return adapter_check_enum_at(json_object_get(params, key), ptr, key, required, values, errs);
}

const char *adapter_check_time(const json_t *params, const char *key, bool required,
                               long long *epoch, char frac[8], struct adapter_errors *errs)
{
    char ptr[ADAPTER_POINTER_MAX];
    adapter_pointer(ptr, sizeof ptr, "", key);
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v)) {
        if (required)
            adapter_error(errs, ptr, "%s is required", key);
        return NULL;
    }
    long long e;
    char f[8];
    const char *s = json_string_value(v);
    if (!s || strlen(s) != json_string_length(v) || !adapter_rfc3339_parse(s, &e, f)) {
        adapter_error(errs, ptr, "%s must be an RFC 3339 date-time", key);
        return NULL;
    }
    if (epoch)
        *epoch = e;
    if (frac)
        memcpy(frac, f, sizeof f);
    return s;
}

static bool atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

bool adapter_domain_shape(const char *d)
{
    size_t n = strlen(d), labels = 0, len = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.' || c == '\0') {
            if (len == 0 || len > 63 || d[i - 1] == '-')
                return false;
            labels++;
            len = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   (c == '-' && len > 0)) {
            len++;
        } else {
            return false;
        }
    }
    return labels >= 2;
}

bool adapter_email_shape(const char *s)
{
    const char *at = strrchr(s, '@');
    if (!at || at == s || at - s > 64 || strlen(s) > 254)
        return false;
    /* dot-atom local part: atext runs separated by single dots */
    for (const char *p = s; p < at; p++) {
        if (*p == '.') {
            if (p == s || p + 1 == at || p[1] == '.')
                return false;
        } else if (!atext((unsigned char)*p)) {
            return false;
        }
    }
    return adapter_domain_shape(at + 1);
}

const char *adapter_check_email(const json_t *v, const char *ptr, const char *name,
                                struct adapter_errors *errs)
{
    const char *s = adapter_check_string(v, ptr, name, true, 254, false, errs);
    if (s && !adapter_email_shape(s)) {
        adapter_error(errs, ptr, "%s must be an e-mail address like name@example.com", name);
        return NULL;
    }
    return s;
}

bool adapter_check_id(const json_t *v, const char *ptr, const char *name, char *out,
                      struct adapter_errors *errs)
{
    if (!v || json_is_null(v)) {
        adapter_error(errs, ptr, "%s is required", name);
        return false;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, 33, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return true;
    }
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    bool ok = s && n >= 1 && n <= 32;
    for (size_t i = 0; ok && i < n; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        adapter_error(errs, ptr, "%s must be a numeric id (1 to 32 digits)", name);
        return false;
    }
    memcpy(out, s, n + 1);
    return true;
}
