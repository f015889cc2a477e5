/* A growable byte buffer with a hard maximum fixed at init: input fed from the network goes
 * through one of these so that no buffer grows without bound. The buffer keeps a trailing NUL
 * after its contents (not counted in len) so text can be used as a C string. */
#ifndef INTENTD_BUF_H
#define INTENTD_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "errors.h"

struct buf {
    char *data;   /* NULL until the first append; owned by the buf */
    size_t len;   /* bytes in use, excluding the trailing NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* hard maximum of len */
};

/* Prepares an empty buffer that may hold at most max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the contents; the buffer is empty and reusable afterwards. */
void buf_free(struct buf *b);
/* Empties the buffer but keeps its allocation. */
void buf_reset(struct buf *b);
/* Appends n bytes. Returns IE_TOOBIG (buffer unchanged) when len would pass max, IE_NOMEM. */
int buf_append(struct buf *b, const void *p, size_t n) IE_MUST_CHECK;
/* Appends a NUL-terminated string. Same errors as buf_append. */
int buf_puts(struct buf *b, const char *s) IE_MUST_CHECK;
/* Appends printf-formatted text. Same errors as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) IE_MUST_CHECK
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) IE_MUST_CHECK;
/* Appends s[0..n) as a JSON string literal, escaped as jansson's json_dumps does ('"', '\\' and
 * control characters; UTF-8 is copied as is). s must be valid UTF-8: this writes text that
 * jansson or PostgreSQL parse again, and checking is the caller's (usually jansson's) job. Same
 * errors as buf_append; on error the buffer is unchanged. */
int buf_json_string(struct buf *b, const char *s, size_t n) IE_MUST_CHECK;
/* Makes room for n more bytes (one allocation instead of several as text is appended). Same
 * errors as buf_append. */
int buf_reserve(struct buf *b, size_t n) IE_MUST_CHECK;
/* Hands the contents to the caller (free() them) and leaves the buffer empty. Never NULL on
 * success: an empty buffer yields an allocated "". Returns NULL on allocation failure. */
char *buf_detach(struct buf *b, size_t *len);

#endif
