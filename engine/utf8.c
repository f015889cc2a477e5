/* See utf8.h. The byte ranges are RFC 3629's table (section 4). */
#include "utf8.h"

#include <string.h>

/* The length of the character a lead byte c starts (0: c cannot start one) and the range its
 * second byte must fall in; the narrowed ranges are what refuses overlong forms (E0, F0),
 * surrogates (ED) and code points past U+10FFFF (F4). */
static size_t lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef) {
        *lo = c == 0xe0 ? 0xa0 : 0x80;
        *hi = c == 0xed ? 0x9f : 0xbf;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        *lo = c == 0xf0 ? 0x90 : 0x80;
        *hi = c == 0xf4 ? 0x8f : 0xbf;
        return 4;
    }
    return 0; /* a continuation byte, C0/C1 (always overlong) or F5-FF */
}

size_t utf8_char_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned char lo, hi;
    size_t len = n ? lead(p[0], &lo, &hi) : 0;
    if (len <= 1)
        return len;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = utf8_char_len(s + i, n - i);
        if (!len)
            return false;
        i += len;
    }
    return true;
}

size_t utf8_cut_len(const char *s, size_t n)
{
    unsigned char lo, hi;
    /* the last byte that is not a continuation byte, if a character's length reaches it */
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xc0) != 0x80)
            return lead(c, &lo, &hi) > back ? n - back : n;
    }
    return n;
}

size_t utf8_copy_clean(char *dst, size_t cap, const char *s, size_t n)
{
    static const char replacement[] = "\xef\xbf\xbd"; /* U+FFFD */
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_char_len(s + i, n - i);
        size_t put = len ? len : sizeof replacement - 1;
        if (o + put >= cap)
            break;
        memcpy(dst + o, len ? s + i : replacement, put);
        o += put;
        i += len ? len : 1;
    }
    dst[o] = '\0';
    return o;
}
