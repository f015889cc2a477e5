/* Bounded growable buffer; see buf.h. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int reserve(struct buf *b, size_t n)
{
    if (n > b->max - b->len || b->len > b->max)
        return IE_TOOBIG;
    size_t need = b->len + n + 1;
    if (need <= b->alloc)
        return 0;
    size_t a = b->alloc ? b->alloc : 64;
    while (a < need)
        a = a > ((size_t)-1) / 2 ? need : a * 2;
    char *p = realloc(b->data, a);
    if (!p)
        return IE_NOMEM;
    b->data = p;
    b->alloc = a;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int r = reserve(b, n);
    if (r)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    /* Most text fits the room already allocated: format once there, measure only if not. */
    size_t room = b->alloc > b->len ? b->alloc - b->len : 0;
    if (room > 1 && b->len <= b->max) {
        va_copy(cp, ap);
        int n = vsnprintf(b->data + b->len, room, fmt, cp);
        va_end(cp);
        if (n < 0) {
            b->data[b->len] = '\0';
            return IE_INVAL;
        }
        if ((size_t)n < room && (size_t)n <= b->max - b->len) {
            b->len += (size_t)n;
            return 0;
        }
        b->data[b->len] = '\0';
    }
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return IE_INVAL;
    int r = reserve(b, (size_t)n);
    if (r)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

/* Extra bytes each byte takes in a JSON string: 0 as is, 1 for \" \\ \b \f \n \r \t, 5 for
 * \u00XX. */
static const unsigned char json_extra[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

int buf_json_string(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF"; /* jansson's case */
    /* Sized first, then written in place: a JSON body is mostly quotes to escape. */
    size_t extra = 2;
    for (size_t i = 0; i < n; i++)
        extra += json_extra[(unsigned char)s[i]];
    if (n > (size_t)-1 - extra)
        return IE_TOOBIG;
    int r = reserve(b, n + extra);
    if (r)
        return r;
    char *o = b->data + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (json_extra[c]) {
        case 0:
            *o++ = (char)c;
            break;
        case 1:
            *o++ = '\\';
            *o++ = c == '\b'   ? 'b'
                   : c == '\f' ? 'f'
                   : c == '\n' ? 'n'
                   : c == '\r' ? 'r'
                   : c == '\t' ? 't'
                               : (char)c;
            break;
        default:
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
            break;
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    return reserve(b, n);
}

char *buf_detach(struct buf *b, size_t *len)
{
    if (!b->data && reserve(b, 0))
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}
