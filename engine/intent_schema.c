/* ActionIntentV1 parsing and validation (see intent_schema.h). The rules are one table per
 * object below; proto/action_intent_v1.schema.json states the same rules for other readers,
 * and tests/unit/test_intent_schema.c checks that the two list the same fields. */
#include "intent_schema.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* ---- error list ---- */

void intent_schema_errors_init(struct schema_errors *errs)
{
    errs->count = 0;
    errs->truncated = false;
}

static struct schema_error *next_error(struct schema_errors *errs)
{
    if (errs->count == SCHEMA_ERRORS_MAX) {
        errs->truncated = true;
        return NULL;
    }
    return &errs->items[errs->count++];
}

static void add_error(struct schema_errors *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct schema_errors *errs, const char *pointer, const char *fmt, ...)
{
    struct schema_error *e = next_error(errs);
    va_list ap;

    if (!e)
        return;
    snprintf(e->pointer, sizeof e->pointer, "%s", pointer);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* Writes base + "/" + key with RFC 6901 escaping (~ as ~0, / as ~1) into dst. When it does
 * not fit, cuts it at a UTF-8 character boundary and appends "...", so dst stays valid UTF-8
 * (key comes from jansson, which guarantees valid UTF-8). */
static void pointer_join(char *dst, size_t cap, const char *base, const char *key, size_t keylen)
{
    size_t o = 0, keep;
    bool cut = false;

    o = (size_t)snprintf(dst, cap, "%s/", base);
    if (o >= cap) {
        o = cap - 1;
        cut = true;
    }
    for (size_t i = 0; i < keylen && !cut; i++) {
        const char *rep = key[i] == '~' ? "~0" : key[i] == '/' ? "~1" : NULL;
        size_t n = rep ? 2 : 1;
        if (o + n >= cap) {
            cut = true;
            break;
        }
        if (rep)
            memcpy(dst + o, rep, 2);
        else
            dst[o] = key[i];
        o += n;
    }
    dst[o] = '\0';
    if (!cut)
        return;
    keep = cap - 4; /* room for "..." and the NUL */
    if (o < keep)
        keep = o;
    keep = utf8_cut_len(dst, keep);
    memcpy(dst + keep, "...", 4);
}

/* Where a value sits: its object's pointer and its member name, joined only when an error
 * is reported (joining for every field of every valid intent was a third of validation). */
struct at {
    const char *base;
    const char *name;
    size_t namelen;
};

static void add_error_at(struct schema_errors *errs, const struct at *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error_at(struct schema_errors *errs, const struct at *at, const char *fmt, ...)
{
    struct schema_error *e = next_error(errs);
    va_list ap;

    if (!e)
        return;
    pointer_join(e->pointer, sizeof e->pointer, at->base, at->name, at->namelen);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- parsing ---- */

/* Replaces anything but printable ASCII: the parser's message may quote the bad bytes. */
static void sanitize(char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7f)
            *s = '?';
    }
}

/* The 1-based line and column (counted in characters, as jansson does) of body[at]. */
static void position_of(const char *body, size_t at, int *line, int *column)
{
    int ln = 1, col = 0;
    for (size_t i = 0; i <= at; i++) {
        unsigned char c = (unsigned char)body[i];
        if (c == '\n') {
            ln++;
            col = 0;
        } else if ((c & 0xc0) != 0x80) {
            col++;
        }
    }
    *line = ln;
    *column = col;
}

/* Finds the first point where arrays/objects nest deeper than INTENT_SCHEMA_MAX_DEPTH,
 * ignoring brackets inside strings, before jansson builds anything (its own limit is 2048).
 * Returns true and its position (position_of) if there is one; the position is worked out
 * only then, not for every byte of every body. Malformed input is left for jansson to
 * describe. */
static bool too_deep(const char *body, size_t len, int *line, int *column)
{
    int depth = 0;
    const char *p = body, *end = body + len;

    while (p < end) {
        char c = *p++;
        if (c == '"') {
            /* Skip the string: to its closing quote, stepping over escaped characters. */
            while (p < end && *p != '"') {
                const char *q = memchr(p, '"', (size_t)(end - p));
                const char *bs = memchr(p, '\\', (size_t)((q ? q : end) - p));
                if (!bs) {
                    p = q ? q : end;
                    break;
                }
                p = end - bs >= 2 ? bs + 2 : end;
            }
            if (p < end)
                p++;
        } else if (c == '{' || c == '[') {
            if (++depth > INTENT_SCHEMA_MAX_DEPTH) {
                position_of(body, (size_t)(p - 1 - body), line, column);
                return true;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return false;
}

int intent_schema_parse(const char *body, size_t len, json_t **out, struct schema_errors *errs)
{
    json_error_t jerr;
    int line = 0, column = 0;
    json_t *doc;

    *out = NULL;
    if (too_deep(body, len, &line, &column)) {
        add_error(errs, "", "nesting deeper than %d at line %d, column %d", INTENT_SCHEMA_MAX_DEPTH,
                  line, column);
        return IE_PARSE;
    }
    doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc) {
        *out = doc;
        return 0;
    }
    enum json_error_code code = json_error_code(&jerr);
    jerr.text[sizeof jerr.text - 1] = '\0';
    sanitize(jerr.text);
    switch (code) {
    case json_error_out_of_memory:
        add_error(errs, "", "out of memory while parsing");
        return IE_NOMEM;
    case json_error_invalid_utf8:
        add_error(errs, "", "invalid UTF-8 at line %d, column %d", jerr.line, jerr.column);
        break;
    case json_error_duplicate_key:
        add_error(errs, "", "duplicate object key at line %d, column %d", jerr.line, jerr.column);
        break;
    case json_error_stack_overflow:
        add_error(errs, "", "nesting deeper than %d at line %d, column %d", INTENT_SCHEMA_MAX_DEPTH,
                  jerr.line, jerr.column);
        break;
    default:
        add_error(errs, "", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                  jerr.text);
        break;
    }
    return IE_PARSE;
}

/* ---- RFC 3339 ---- */

static bool take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool take_char(const char **p, const char *set)
{
    if (**p && strchr(set, **p)) {
        (*p)++;
        return true;
    }
    return false;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil). */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* What PostgreSQL's timestamptz takes, as callers hand parsed times to it: years
 * 0001-9999 (it has no year 0) and offsets up to 15:59. */
#define RFC3339_YEAR_MIN     1
#define RFC3339_YEAR_MAX     9999
#define RFC3339_OFFSET_HOURS 15
#define RFC3339_EPOCH_MIN    (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define RFC3339_EPOCH_MAX    253402300799LL   /* 9999-12-31T23:59:59Z */

int intent_parse_rfc3339(const char *s, long long *epoch_out)
{
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;

    if (!s || strnlen(s, INTENT_RFC3339_MAX + 1) > INTENT_RFC3339_MAX)
        return IE_PARSE;
    if (!take_digits(&p, 4, &y) || !take_char(&p, "-") || !take_digits(&p, 2, &mo) ||
        !take_char(&p, "-") || !take_digits(&p, 2, &d) || !take_char(&p, "Tt") ||
        !take_digits(&p, 2, &h) || !take_char(&p, ":") || !take_digits(&p, 2, &mi) ||
        !take_char(&p, ":") || !take_digits(&p, 2, &sec))
        return IE_PARSE;
    if (take_char(&p, ".")) {
        if (*p < '0' || *p > '9')
            return IE_PARSE;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (take_char(&p, "Zz")) {
        sign = 0;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '+' ? 1 : -1;
        p++;
        if (!take_digits(&p, 2, &oh) || !take_char(&p, ":") || !take_digits(&p, 2, &om))
            return IE_PARSE;
        if (oh > RFC3339_OFFSET_HOURS || om > 59)
            return IE_PARSE;
    } else {
        return IE_PARSE;
    }
    if (*p != '\0')
        return IE_PARSE;
    if (y < RFC3339_YEAR_MIN || y > RFC3339_YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
        d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return IE_PARSE;
    int offset_min = sign * (oh * 60 + om);
    if (sec == 60) {
        /* A leap second exists only as 23:59:60 UTC. */
        int utc_min = ((h * 60 + mi - offset_min) % 1440 + 1440) % 1440;
        if (utc_min != 23 * 60 + 59)
            return IE_PARSE;
    }
    long long epoch =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (long long)offset_min * 60;
    /* An offset can carry 0001-01-01 back into year 0 (PostgreSQL has none) or 9999-12-31 on
     * into 10000: the time in UTC, which submissions store, keeps to the same years. */
    if (epoch < RFC3339_EPOCH_MIN || epoch > RFC3339_EPOCH_MAX)
        return IE_PARSE;
    if (epoch_out)
        *epoch_out = epoch;
    return 0;
}

/* ---- validation rules ---- */

enum check {
    CHECK_SCHEMA,   /* the string INTENT_SCHEMA_ID */
    CHECK_TEXT,     /* a string of min..max characters from charset */
    CHECK_DATETIME, /* an RFC 3339 date-time string */
    CHECK_OBJECT,   /* an object, checked against sub when given */
    CHECK_EPOCH,    /* an integer, 0 < n <= EPOCH_MAX */
    CHECK_PRIORITY, /* an integer, 0..100 */
};

enum charset {
    CS_ANY,         /* any characters */
    CS_NO_CONTROL,  /* no C0/C1 control characters or DEL */
    CS_INTENT_ID,   /* [A-Za-z0-9._:-] */
    CS_TENANT_ID,   /* [A-Za-z0-9._-] */
    CS_ACTION_TYPE, /* ^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$ */
};

struct object_rules;

struct rule {
    const char *name;
    bool required;
    enum check check;
    enum charset charset;
    size_t min, max; /* characters (Unicode code points), for CHECK_TEXT */
    const struct object_rules *sub;
};

struct object_rules {
    const char *pointer;
    const struct rule *rules;
    size_t nrules;
    bool closed; /* additionalProperties: false */
};

/* The last second of year 9999: PostgreSQL's to_timestamp fails not far past it (~9.2e12), and
 * no TTL needs more. */
#define EPOCH_MAX ((json_int_t)RFC3339_EPOCH_MAX)

static const struct rule decision_rules[] = {
    {"decision_id", true, CHECK_TEXT, CS_NO_CONTROL, 1, 128, NULL},
    {"proposal_id", false, CHECK_TEXT, CS_NO_CONTROL, 1, 128, NULL},
    {"summary", false, CHECK_TEXT, CS_ANY, 0, 4000, NULL},
};

static const struct rule approval_rules[] = {
    {"approval_id", true, CHECK_TEXT, CS_NO_CONTROL, 1, 128, NULL},
    {"approved_by", true, CHECK_TEXT, CS_NO_CONTROL, 1, 128, NULL},
    {"approved_at", true, CHECK_DATETIME, CS_ANY, 0, 0, NULL},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct object_rules decision_object = {"/decision", decision_rules,
                                                    NELEM(decision_rules), false};
static const struct object_rules approval_object = {"/approval", approval_rules,
                                                    NELEM(approval_rules), false};

static const struct rule top_rules[] = {
    {"schema", true, CHECK_SCHEMA, CS_ANY, 0, 0, NULL},
    {"action_intent_id", true, CHECK_TEXT, CS_INTENT_ID, 1, 128, NULL},
    {"tenant_id", true, CHECK_TEXT, CS_TENANT_ID, 1, 64, NULL},
    {"account_id", true, CHECK_TEXT, CS_NO_CONTROL, 1, 128, NULL},
    {"action_type", true, CHECK_TEXT, CS_ACTION_TYPE, 1, 128, NULL},
    {"parameters", true, CHECK_OBJECT, CS_ANY, 0, 0, NULL},
    {"decision", true, CHECK_OBJECT, CS_ANY, 0, 0, &decision_object},
    {"approval", true, CHECK_OBJECT, CS_ANY, 0, 0, &approval_object},
    {"created_at", true, CHECK_DATETIME, CS_ANY, 0, 0, NULL},
    {"expires_at_epoch", true, CHECK_EPOCH, CS_ANY, 0, 0, NULL},
    {"priority", false, CHECK_PRIORITY, CS_ANY, 0, 0, NULL},
};

static const struct object_rules top_object = {"", top_rules, NELEM(top_rules), true};

static const struct object_rules *find_object(const char *pointer)
{
    static const struct object_rules *const all[] = {&top_object, &decision_object,
                                                     &approval_object};
    if (!pointer)
        return NULL;
    for (size_t i = 0; i < NELEM(all); i++) {
        if (strcmp(all[i]->pointer, pointer) == 0)
            return all[i];
    }
    return NULL;
}

size_t intent_schema_field_count(const char *object)
{
    const struct object_rules *o = find_object(object);
    return o ? o->nrules : 0;
}

const char *intent_schema_field(const char *object, size_t i, bool *required)
{
    const struct object_rules *o = find_object(object);
    if (!o || i >= o->nrules)
        return NULL;
    if (required)
        *required = o->rules[i].required;
    return o->rules[i].name;
}

/* ---- validation ---- */

/* Decodes the UTF-8 character at s[*i] (jansson strings are valid UTF-8) and advances *i. */
static uint32_t next_codepoint(const unsigned char *s, size_t len, size_t *i)
{
    uint32_t c = s[(*i)++];
    int more = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
    if (more)
        c &= 0x3fu >> more;
    while (more-- > 0 && *i < len)
        c = c << 6 | (s[(*i)++] & 0x3fu);
    return c;
}

static bool is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

static bool in_id_set(uint32_t c, bool allow_colon)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || (allow_colon && c == ':');
}

static bool action_type_ok(const char *s, size_t len)
{
    size_t dot = 0, i;
    /* Two segments of [a-z][a-z0-9_]* joined by exactly one dot. */
    for (i = 0; i < len; i++) {
        char c = s[i];
        bool seg_start = i == 0 || s[i - 1] == '.';
        if (c == '.') {
            if (dot++ || seg_start)
                return false;
        } else if (seg_start ? !(c >= 'a' && c <= 'z')
                             : !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return false;
        }
    }
    return dot == 1 && len > 0 && s[len - 1] != '.';
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static void check_text(struct schema_errors *errs, const struct at *ptr, const json_t *v,
                       const struct rule *r)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t len = json_string_length(v), n = 0;
    bool bad_char = false;

    for (size_t i = 0; i < len;) {
        uint32_t c = next_codepoint(s, len, &i);
        n++;
        switch (r->charset) {
        case CS_ANY:
        case CS_ACTION_TYPE:
            break;
        case CS_NO_CONTROL:
            bad_char |= is_control(c);
            break;
        case CS_INTENT_ID:
            bad_char |= !in_id_set(c, true);
            break;
        case CS_TENANT_ID:
            bad_char |= !in_id_set(c, false);
            break;
        }
    }
    if (n < r->min) {
        add_error_at(errs, ptr, "must not be empty");
        return;
    }
    if (n > r->max) {
        add_error_at(errs, ptr, "must be at most %zu characters (has %zu)", r->max, n);
        return;
    }
    switch (r->charset) {
    case CS_ANY:
        break;
    case CS_NO_CONTROL:
        if (bad_char)
            add_error_at(errs, ptr, "must not contain control characters");
        break;
    case CS_INTENT_ID:
        if (bad_char)
            add_error_at(errs, ptr, "may contain only letters, digits, '.', '_', ':' and '-'");
        break;
    case CS_TENANT_ID:
        if (bad_char)
            add_error_at(errs, ptr, "may contain only letters, digits, '.', '_' and '-'");
        break;
    case CS_ACTION_TYPE:
        if (!action_type_ok((const char *)s, len))
            add_error_at(errs, ptr,
                         "must be \"<connector>.<operation>\": two parts of lowercase letters, "
                         "digits and '_', each starting with a letter");
        break;
    }
}

static void validate_object(struct schema_errors *errs, const json_t *obj,
                            const struct object_rules *o);

static void check_value(struct schema_errors *errs, const struct at *ptr, const json_t *v,
                        const struct rule *r)
{
    json_int_t n;

    switch (r->check) {
    case CHECK_SCHEMA:
        if (!json_is_string(v) || strcmp(json_string_value(v), INTENT_SCHEMA_ID) != 0 ||
            json_string_length(v) != strlen(INTENT_SCHEMA_ID))
            add_error_at(errs, ptr, "must be \"%s\"", INTENT_SCHEMA_ID);
        return;
    case CHECK_TEXT:
        if (!json_is_string(v)) {
            add_error_at(errs, ptr, "must be a string, not %s", type_name(v));
            return;
        }
        check_text(errs, ptr, v, r);
        return;
    case CHECK_DATETIME:
        if (!json_is_string(v)) {
            add_error_at(errs, ptr, "must be a string, not %s", type_name(v));
            return;
        }
        if (json_string_length(v) != strlen(json_string_value(v)) ||
            intent_parse_rfc3339(json_string_value(v), NULL) != 0)
            add_error_at(
                errs, ptr,
                "must be an RFC 3339 date-time such as 2026-11-21T10:00:00Z (" INTENT_RFC3339_BOUNDS
                ")");
        return;
    case CHECK_OBJECT:
        if (!json_is_object(v)) {
            add_error_at(errs, ptr, "must be an object, not %s", type_name(v));
            return;
        }
        if (r->sub)
            validate_object(errs, v, r->sub);
        return;
    case CHECK_EPOCH:
        if (!json_is_integer(v)) {
            add_error_at(errs, ptr, "must be an integer (unix seconds), not %s", type_name(v));
            return;
        }
        n = json_integer_value(v);
        if (n <= 0 || n > EPOCH_MAX)
            add_error_at(errs, ptr,
                         "must be between 1 and 253402300799 (unix seconds, at most the end of "
                         "year 9999)");
        return;
    case CHECK_PRIORITY:
        if (!json_is_integer(v)) {
            add_error_at(errs, ptr, "must be an integer, not %s", type_name(v));
            return;
        }
        n = json_integer_value(v);
        if (n < 0 || n > 100)
            add_error_at(errs, ptr, "must be between 0 and 100");
        return;
    }
}

static void validate_object(struct schema_errors *errs, const json_t *obj,
                            const struct object_rules *o)
{
    const char *key;
    size_t keylen;
    json_t *v;

    for (size_t i = 0; i < o->nrules; i++) {
        const struct rule *r = &o->rules[i];
        struct at at = {o->pointer, r->name, strlen(r->name)};
        v = json_object_get(obj, r->name);
        if (!v) {
            if (r->required)
                add_error_at(errs, &at, "is required");
            continue;
        }
        check_value(errs, &at, v, r);
    }
    if (!o->closed)
        return;
    json_object_foreach((json_t *)obj, key, v)
    {
        /* Keys cannot hold NUL: intent_schema_parse rejects \u0000 (no JSON_ALLOW_NUL). */
        keylen = strlen(key);
        bool known = false;
        for (size_t i = 0; i < o->nrules && !known; i++)
            known =
                strlen(o->rules[i].name) == keylen && memcmp(o->rules[i].name, key, keylen) == 0;
        if (known)
            continue;
        struct at at = {o->pointer, key, keylen};
        add_error_at(errs, &at, "unknown field (%s allows no other fields)", INTENT_SCHEMA_ID);
    }
}

int intent_schema_validate(const json_t *doc, struct schema_errors *errs)
{
    size_t before = errs->count;
    bool truncated = errs->truncated;

    if (!json_is_object(doc)) {
        add_error(errs, "", "must be an object, not %s", doc ? type_name(doc) : "nothing");
        return IE_INVAL;
    }
    validate_object(errs, doc, &top_object);
    return errs->count > before || errs->truncated != truncated ? IE_INVAL : 0;
}
