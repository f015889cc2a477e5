/* Canonical and compact JSON text; see json_canon.h. */
#include "json_canon.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STACK_MEMBERS 16

struct member {
    const char *key;
    size_t len;
    const json_t *value;
};

/* jansson's order for JSON_SORT_KEYS: bytes compared, then the shorter key first. */
static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int r = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    if (r)
        return r;
    return x->len < y->len ? -1 : x->len > y->len;
}

static int put(struct buf *out, const json_t *v, bool sorted);

static int put_member(struct buf *out, size_t i, const char *key, size_t len, const json_t *value,
                      bool sorted)
{
    int rc = buf_append(out, i ? "," : "{", 1);
    if (!rc)
        rc = buf_json_string(out, key, len);
    if (!rc)
        rc = buf_append(out, ":", 1);
    return rc ? rc : put(out, value, sorted);
}

/* Members in jansson's iteration order, which is the order they were set in. */
static int put_object_unsorted(struct buf *out, const json_t *obj)
{
    size_t i = 0;
    int rc = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        rc = put_member(out, i++, key, strlen(key), value, false);
        if (rc)
            return rc;
    }
    return buf_append(out, "}", 1);
}

static int put_object_sorted(struct buf *out, const json_t *obj)
{
    size_t n = json_object_size(obj);
    struct member stack[STACK_MEMBERS];
    struct member *m = n <= STACK_MEMBERS ? stack : malloc(n * sizeof *m);
    if (!m)
        return IE_NOMEM;
    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)obj, key, value)
    {
        m[i].key = key;
        m[i].len = strlen(key);
        m[i].value = value;
        i++;
    }
    qsort(m, n, sizeof *m, member_cmp);
    int rc = 0;
    for (i = 0; !rc && i < n; i++)
        rc = put_member(out, i, m[i].key, m[i].len, m[i].value, true);
    if (m != stack)
        free(m);
    return rc ? rc : buf_append(out, "}", 1);
}

static int put(struct buf *out, const json_t *v, bool sorted)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if (json_object_size(v) == 0)
            return buf_append(out, "{}", 2);
        return sorted ? put_object_sorted(out, v) : put_object_unsorted(out, v);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        int rc = buf_append(out, "[", 1);
        for (size_t i = 0; !rc && i < n; i++) {
            if (i)
                rc = buf_append(out, ",", 1);
            if (!rc)
                rc = put(out, json_array_get(v, i), sorted);
        }
        return rc ? rc : buf_append(out, "]", 1);
    }
    case JSON_STRING:
        return buf_json_string(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: {
        char num[32];
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf_append(out, num, (size_t)n);
    }
    case JSON_REAL: {
        /* Rare in intents, and jansson's number formatting has details of its own: its text. */
        char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!t)
            return IE_NOMEM;
        int rc = buf_append(out, t, strlen(t));
        free(t);
        return rc;
    }
    case JSON_TRUE:
        return buf_append(out, "true", 4);
    case JSON_FALSE:
        return buf_append(out, "false", 5);
    case JSON_NULL:
        return buf_append(out, "null", 4);
    }
    return IE_INVAL;
}

int json_canon_append(struct buf *out, const json_t *v)
{
    return put(out, v, true);
}

int json_compact_append(struct buf *out, const json_t *v)
{
    return put(out, v, false);
}
