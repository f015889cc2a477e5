/* UTF-8 checks for bytes that arrive from the network before anything has checked them
 * (percent-decoded path and query values): PostgreSQL and jansson refuse text that is not
 * UTF-8, so it is refused before it reaches them.
 * Well-formed means RFC 3629: no overlong forms, no UTF-16 surrogates, nothing past U+10FFFF. */
#ifndef INTENTD_UTF8_H
#define INTENTD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The length (1-4) of the well-formed character that starts s[0..n), or 0 when the bytes there
 * are not one (a continuation byte, a cut sequence, an overlong form, a surrogate, a code point
 * past U+10FFFF) or n is 0. */
size_t utf8_char_len(const char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8. NUL bytes count as characters (U+0000). */
bool utf8_valid(const char *s, size_t n);

#endif
