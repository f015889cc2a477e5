/* Unit tests for engine/utf8.c: which byte sequences are well-formed UTF-8 (RFC 3629), and
 * the repair of text that must be UTF-8 (a problem's detail). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

#define VALID(lit)   utf8_valid(lit, sizeof lit - 1)
#define CHARLEN(lit) utf8_char_len(lit, sizeof lit - 1)

static void ascii_and_well_formed_characters_are_valid(void **state)
{
    (void)state;
    assert_true(VALID(""));
    assert_true(VALID("ai_7f3c9d2e"));
    assert_true(VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
    assert_true(VALID("\x00")); /* U+0000 is a character; refusing NUL is the caller's rule */
    assert_int_equal(CHARLEN("\x7f"), 1);
    assert_int_equal(CHARLEN("\xc2\x80"), 2);         /* U+0080, the first two-byte form */
    assert_int_equal(CHARLEN("\xdf\xbf"), 2);         /* U+07FF */
    assert_int_equal(CHARLEN("\xe0\xa0\x80"), 3);     /* U+0800, the first three-byte form */
    assert_int_equal(CHARLEN("\xed\x9f\xbf"), 3);     /* U+D7FF, just below the surrogates */
    assert_int_equal(CHARLEN("\xee\x80\x80"), 3);     /* U+E000, just above them */
    assert_int_equal(CHARLEN("\xef\xbf\xbf"), 3);     /* U+FFFF */
    assert_int_equal(CHARLEN("\xf0\x90\x80\x80"), 4); /* U+10000, the first four-byte form */
    assert_int_equal(CHARLEN("\xf4\x8f\xbf\xbf"), 4); /* U+10FFFF, the last code point */
}

static void overlong_forms_are_refused(void **state)
{
    (void)state;
    assert_int_equal(CHARLEN("\xc0\xaf"), 0); /* '/' in two bytes */
    assert_int_equal(CHARLEN("\xc1\xbf"), 0);
    assert_int_equal(CHARLEN("\xe0\x80\xaf"), 0);
    assert_int_equal(CHARLEN("\xe0\x9f\xbf"), 0); /* U+07FF in three bytes */
    assert_int_equal(CHARLEN("\xf0\x80\x80\xaf"), 0);
    assert_int_equal(CHARLEN("\xf0\x8f\xbf\xbf"), 0); /* U+FFFF in four bytes */
    assert_false(VALID("a\xc0\x80"));                 /* "modified UTF-8" NUL */
}

static void surrogates_are_refused(void **state)
{
    (void)state;
    assert_int_equal(CHARLEN("\xed\xa0\x80"), 0);    /* U+D800 */
    assert_int_equal(CHARLEN("\xed\xbf\xbf"), 0);    /* U+DFFF */
    assert_false(VALID("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 for U+1F600 */
}

static void code_points_past_10ffff_are_refused(void **state)
{
    (void)state;
    assert_int_equal(CHARLEN("\xf4\x90\x80\x80"), 0); /* U+110000 */
    assert_int_equal(CHARLEN("\xf5\x80\x80\x80"), 0);
    assert_int_equal(CHARLEN("\xf7\xbf\xbf\xbf"), 0);
    assert_int_equal(CHARLEN("\xf8\x88\x80\x80\x80"), 0); /* the old five-byte form */
    assert_int_equal(CHARLEN("\xff"), 0);
}

static void cut_and_stray_bytes_are_refused(void **state)
{
    (void)state;
    assert_int_equal(CHARLEN("\x80"), 0); /* a continuation byte alone */
    assert_int_equal(CHARLEN("\xbf"), 0);
    assert_int_equal(CHARLEN("\xc3"), 0);
    assert_int_equal(CHARLEN("\xe2\x82"), 0);
    assert_int_equal(CHARLEN("\xf0\x9f\x98"), 0);
    assert_int_equal(CHARLEN("\xe2\x41\x82"), 0);          /* a lead byte, then ASCII */
    assert_int_equal(utf8_char_len("\xe2\x82\xac", 2), 0); /* n ends inside the character */
    assert_int_equal(utf8_char_len("a", 0), 0);
    assert_false(VALID("caf\xc3"));
    assert_false(VALID("\xc3\xa9\xa9"));
}

/* The code point of a sequence by its bit pattern alone, or -1; then RFC 3629's rules. An
 * independent reading of the standard to check the table in utf8.c against. */
static long reference_decode(const unsigned char *p, size_t n, size_t *len)
{
    static const long min[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t want = p[0] < 0x80         ? 1
                  : (p[0] >> 5) == 6  ? 2
                  : (p[0] >> 4) == 14 ? 3
                  : (p[0] >> 3) == 30 ? 4
                                      : 0;
    if (!want || n < want)
        return -1;
    long cp = want == 1 ? p[0] : p[0] & (0x7f >> want);
    for (size_t i = 1; i < want; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min[want] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return -1;
    *len = want;
    return cp;
}

static void char_len_agrees_with_decoding_for_every_short_sequence(void **state)
{
    (void)state;
    /* every sequence of up to three bytes, and four-byte ones over each lead and second byte */
    static const unsigned char tails[] = {0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xff};
    unsigned char b[4];
    for (unsigned x = 0; x < 1u << 24; x++) {
        b[0] = (unsigned char)(x >> 16), b[1] = (unsigned char)(x >> 8), b[2] = (unsigned char)x;
        for (size_t n = 1; n <= 3; n++) {
            size_t want = 0;
            if (reference_decode(b, n, &want) < 0)
                want = 0;
            if (utf8_char_len((const char *)b, n) != want)
                fail_msg("%02x %02x %02x (n %zu): got %zu, want %zu", b[0], b[1], b[2], n,
                         utf8_char_len((const char *)b, n), want);
        }
    }
    for (unsigned lead = 0xf0; lead <= 0xff; lead++)
        for (unsigned second = 0; second <= 0xff; second++)
            for (size_t i = 0; i < sizeof tails; i++)
                for (size_t j = 0; j < sizeof tails; j++) {
                    b[0] = (unsigned char)lead, b[1] = (unsigned char)second;
                    b[2] = tails[i], b[3] = tails[j];
                    size_t want = 0;
                    if (reference_decode(b, 4, &want) < 0)
                        want = 0;
                    assert_int_equal(utf8_char_len((const char *)b, 4), want);
                }
}

static void cut_len_drops_only_a_character_cut_at_the_end(void **state)
{
    (void)state;
    static const char euro[] = "ab\xe2\x82\xac";
    assert_int_equal(utf8_cut_len(euro, 5), 5); /* whole */
    assert_int_equal(utf8_cut_len(euro, 4), 2); /* cut after its second byte */
    assert_int_equal(utf8_cut_len(euro, 3), 2); /* after its first */
    assert_int_equal(utf8_cut_len(euro, 2), 2);
    assert_int_equal(utf8_cut_len("\xf0\x9f\x98", 3), 0);
    assert_int_equal(utf8_cut_len("\xc3", 1), 0);
    assert_int_equal(utf8_cut_len("", 0), 0);
    /* bytes that start nothing are not a cut character: left for utf8_copy_clean to replace */
    assert_int_equal(utf8_cut_len("a\xff", 2), 2);
    assert_int_equal(utf8_cut_len("a\x80\x80\x80\x80", 5), 5);
}

static void copy_clean_replaces_each_bad_byte_with_u_fffd(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(utf8_copy_clean(out, sizeof out, "/\xff", 2), 4);
    assert_string_equal(out, "/\xef\xbf\xbd");
    utf8_copy_clean(out, sizeof out,
                    "a\xc0\xaf"
                    "b\xed\xa0\x80"
                    "c",
                    8);
    assert_string_equal(out, "a\xef\xbf\xbd\xef\xbf\xbd"
                             "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                             "c");
    utf8_copy_clean(out, sizeof out, "caf\xc3\xa9 \xf0\x9f\x98\x80", 10);
    assert_string_equal(out, "caf\xc3\xa9 \xf0\x9f\x98\x80"); /* valid text is copied as is */
    assert_true(utf8_valid(out, strlen(out)));
}

static void copy_clean_that_does_not_fit_ends_at_a_character_boundary(void **state)
{
    (void)state;
    char out[6];
    /* "ab" then U+20AC: 5 bytes and the NUL fit; one byte less and the euro sign goes whole */
    assert_int_equal(utf8_copy_clean(out, 6, "ab\xe2\x82\xac!", 6), 5);
    assert_string_equal(out, "ab\xe2\x82\xac");
    assert_int_equal(utf8_copy_clean(out, 5, "ab\xe2\x82\xac", 5), 2);
    assert_string_equal(out, "ab");
    assert_int_equal(utf8_copy_clean(out, 4, "a\xff", 2), 1); /* nor a replacement half */
    assert_string_equal(out, "a");
    assert_int_equal(utf8_copy_clean(out, 1, "abc", 3), 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_and_well_formed_characters_are_valid),
        cmocka_unit_test(overlong_forms_are_refused),
        cmocka_unit_test(surrogates_are_refused),
        cmocka_unit_test(code_points_past_10ffff_are_refused),
        cmocka_unit_test(cut_and_stray_bytes_are_refused),
        cmocka_unit_test(char_len_agrees_with_decoding_for_every_short_sequence),
        cmocka_unit_test(cut_len_drops_only_a_character_cut_at_the_end),
        cmocka_unit_test(copy_clean_replaces_each_bad_byte_with_u_fffd),
        cmocka_unit_test(copy_clean_that_does_not_fit_ends_at_a_character_boundary),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
