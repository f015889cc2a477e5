/* UTF-8 checks for bytes that arrive from the network before anything has checked them
 * (percent-decoded path and query values, a raw request path quoted in a reply): PostgreSQL and
 * jansson refuse text that is not UTF-8, so it is refused or repaired before it reaches them.
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

/* The length of s[0..n) without a character cut off at its end: a text that a fixed buffer cut
 * short may end inside a character, and that part is dropped rather than replaced. */
size_t utf8_cut_len(const char *s, size_t n);

/* Copies s[0..n) into dst (cap >= 1 bytes, NUL-terminated) as well-formed UTF-8: each byte that
 * does not start a well-formed character becomes U+FFFD. When the result does not fit, the copy
 * ends at a character boundary. Returns the bytes written, not counting the NUL. */
size_t utf8_copy_clean(char *dst, size_t cap, const char *s, size_t n);

#endif
