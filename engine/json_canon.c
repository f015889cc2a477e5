/* Canonical JSON text; see json_canon.h. */
#include "json_canon.h"

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

static int put_object(struct buf *out, const json_t *obj)
{
    size_t n = json_object_size(obj);
    if (n == 0)
        return buf_append(out, "{}", 2);
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
    for (i = 0; !rc && i < n; i++) {
        rc = buf_append(out, i ? "," : "{", 1);
        if (!rc)
            rc = buf_json_string(out, m[i].key, m[i].len);
        if (!rc)
            rc = buf_append(out, ":", 1);
        if (!rc)
            rc = json_canon_append(out, m[i].value);
    }
    if (m != stack)
        free(m);
    return rc ? rc : buf_append(out, "}", 1);
}

int json_canon_append(struct buf *out, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return put_object(out, v);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        int rc = buf_append(out, "[", 1);
        for (size_t i = 0; !rc && i < n; i++) {
            if (i)
                rc = buf_append(out, ",", 1);
            if (!rc)
                rc = json_canon_append(out, json_array_get(v, i));
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
