/* JSONPath reference paths for ASL: a bounded parser that splits a path into segments, and the
 * get / set operations on jansson documents built on it. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "jsonpath.h"

struct segment {
    bool is_index;
    size_t index;
    const char *name; /* NUL-terminated, inside struct parsed.names */
};

struct parsed {
    size_t depth;
    struct segment seg[JSONPATH_MAX_DEPTH];
    char names[JSONPATH_MAX_LEN + 1]; /* segment names, each NUL-terminated */
};

static int parse_index(const char **pp, size_t *out)
{
    const char *p = *pp;
    size_t v = 0;

    if (*p < '0' || *p > '9')
        return IE_PARSE;
    /* A leading zero is only allowed for 0 itself, as in JSON numbers. */
    if (*p == '0' && p[1] >= '0' && p[1] <= '9')
        return IE_PARSE;
    while (*p >= '0' && *p <= '9') {
        if (v > (size_t)INT_MAX / 10)
            return IE_PARSE;
        v = v * 10 + (size_t)(*p - '0');
        p++;
    }
    if (*p != ']')
        return IE_PARSE;
    *pp = p + 1;
    *out = v;
    return 0;
}

/* Parses path into *ps. The names buffer cannot overflow: every name byte comes from a distinct
 * path byte plus one NUL per segment, and each segment consumes at least one delimiter byte. */
static int parse(const char *path, struct parsed *ps)
{
    size_t len, used = 0;
    const char *p;
    int rc;

    if (path == NULL)
        return IE_PARSE;
    len = strnlen(path, JSONPATH_MAX_LEN + 1);
    if (len > JSONPATH_MAX_LEN)
        return IE_TOOBIG;
    if (path[0] != '$')
        return IE_PARSE;
    ps->depth = 0;
    p = path + 1;
    while (*p != '\0') {
        struct segment *sg;
        const char *start;
        size_t n;

        if (ps->depth == JSONPATH_MAX_DEPTH)
            return IE_TOOBIG;
        sg = &ps->seg[ps->depth];
        if (*p == '.') {
            start = ++p;
            while (*p != '\0' && *p != '.' && *p != '[' && *p != ']' && *p != '\'' && *p != '"' &&
                   *p != ' ' && *p != '*' && *p != '$')
                p++;
            n = (size_t)(p - start);
            if (n == 0)
                return IE_PARSE;
        } else if (*p == '[' && (p[1] == '\'' || p[1] == '"')) {
            char quote = p[1];

            start = p + 2;
            p = start;
            while (*p != '\0' && *p != quote)
                p++;
            n = (size_t)(p - start);
            if (*p != quote || p[1] != ']' || n == 0)
                return IE_PARSE;
            p += 2;
        } else if (*p == '[') {
            p++;
            rc = parse_index(&p, &sg->index);
            if (rc != 0)
                return rc;
            sg->is_index = true;
            sg->name = NULL;
            ps->depth++;
            continue;
        } else {
            return IE_PARSE;
        }
        memcpy(ps->names + used, start, n);
        ps->names[used + n] = '\0';
        sg->is_index = false;
        sg->name = ps->names + used;
        used += n + 1;
        ps->depth++;
    }
    return 0;
}

int jsonpath_check(const char *path)
{
    struct parsed ps;

    return parse(path, &ps);
}

int jsonpath_get(json_t *doc, const char *path, json_t **out)
{
    struct parsed ps;
    json_t *cur = doc;
    int rc;

    *out = NULL;
    rc = parse(path, &ps);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < ps.depth; i++) {
        const struct segment *sg = &ps.seg[i];

        if (sg->is_index)
            cur = json_is_array(cur) ? json_array_get(cur, sg->index) : NULL;
        else
            cur = json_is_object(cur) ? json_object_get(cur, sg->name) : NULL;
        if (cur == NULL)
            return IE_NOTFOUND;
    }
    *out = cur;
    return 0;
}

/* Checks that every segment but the last can be walked or created without meeting a value of
 * the wrong type, so that jsonpath_set either changes the document fully or not at all. */
static int set_feasible(json_t *cur, const struct parsed *ps)
{
    for (size_t i = 0; i < ps->depth; i++) {
        const struct segment *sg = &ps->seg[i];

        if (cur == NULL) {
            /* Missing names are created as objects, so no index may follow one. */
            if (sg->is_index)
                return IE_CONFLICT;
            continue;
        }
        if (sg->is_index) {
            if (!json_is_array(cur) || sg->index >= json_array_size(cur))
                return IE_CONFLICT;
            cur = json_array_get(cur, sg->index);
        } else {
            if (!json_is_object(cur))
                return IE_CONFLICT;
            cur = json_object_get(cur, sg->name);
        }
    }
    return 0;
}

int jsonpath_set(json_t **doc, const char *path, json_t *value)
{
    struct parsed ps;
    json_t *cur;
    int rc;

    rc = parse(path, &ps);
    if (rc != 0)
        return rc;
    if (ps.depth == 0) {
        json_incref(value);
        json_decref(*doc);
        *doc = value;
        return 0;
    }
    rc = set_feasible(*doc, &ps);
    if (rc != 0)
        return rc;
    cur = *doc;
    for (size_t i = 0; i + 1 < ps.depth; i++) {
        const struct segment *sg = &ps.seg[i];
        json_t *next;

        if (sg->is_index) {
            cur = json_array_get(cur, sg->index);
            continue;
        }
        next = json_object_get(cur, sg->name);
        if (next == NULL) {
            next = json_object();
            if (next == NULL || json_object_set_new(cur, sg->name, next) != 0)
                return IE_NOMEM;
        }
        cur = next;
    }
    if (ps.seg[ps.depth - 1].is_index)
        rc = json_array_set(cur, ps.seg[ps.depth - 1].index, value);
    else
        rc = json_object_set(cur, ps.seg[ps.depth - 1].name, value);
    return rc == 0 ? 0 : IE_NOMEM;
}
