/* Unit tests for engine/buf.c: the bounded growable buffer, its hard maximum and its trailing
 * NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <jansson.h>

#include "buf.h"

static void append_within_the_limit_keeps_the_bytes(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, "abc", 3), 0);
    assert_int_equal(buf_puts(&b, "def"), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "abcdef", 6);
    assert_true(b.alloc > b.len);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void init_allocates_nothing(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 10);
    buf_free(&b);
}

static void append_past_the_max_is_toobig_and_changes_nothing(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "12345"), 0);
    char *before = b.data;
    size_t alloc = b.alloc;

    assert_int_equal(buf_append(&b, "6789", 4), IE_TOOBIG);
    assert_int_equal(buf_puts(&b, "6789"), IE_TOOBIG);
    assert_int_equal(buf_printf(&b, "%s", "6789"), IE_TOOBIG);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.alloc, alloc);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "12345");
    buf_free(&b);
}

static void a_huge_length_is_toobig_not_an_overflow(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX), IE_TOOBIG);
    assert_int_equal(buf_append(&b, "x", SIZE_MAX - 1), IE_TOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    buf_free(&b);
}

static void filling_exactly_to_the_max_is_accepted(void **state)
{
    struct buf b;
    char block[100];

    (void)state;
    memset(block, 'x', sizeof block);
    buf_init(&b, sizeof block);
    assert_int_equal(buf_append(&b, block, 60), 0);
    assert_int_equal(buf_append(&b, block, 40), 0);
    assert_int_equal(b.len, 100);
    assert_int_equal(b.data[100], '\0');
    assert_int_equal(buf_append(&b, "y", 1), IE_TOOBIG);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_int_equal(b.len, 100);
    buf_free(&b);
}

static void a_zero_max_holds_only_the_empty_string(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_append(&b, "a", 1), IE_TOOBIG);
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void printf_grows_past_the_first_allocation(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%04d,", i), 0);
    assert_int_equal(b.len, 5000);
    assert_true(b.alloc > 5000);
    assert_memory_equal(b.data, "0000,0001,", 10);
    assert_memory_equal(b.data + 4995, "0999,", 5);
    assert_int_equal(b.data[5000], '\0');
    assert_int_equal(strlen(b.data), 5000);
    buf_free(&b);
}

static void printf_of_one_long_string_grows_once(void **state)
{
    struct buf b;
    char big[301];

    (void)state;
    memset(big, 'q', 300);
    big[300] = '\0';
    buf_init(&b, 1000);
    assert_int_equal(buf_printf(&b, "<%s>", big), 0);
    assert_int_equal(b.len, 302);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[301], '>');
    assert_int_equal(b.data[302], '\0');
    buf_free(&b);
}

static void printf_of_nothing_leaves_an_empty_string(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    assert_int_equal(buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 0);
    assert_non_null(b.data);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void printf_exactly_to_the_max_is_accepted(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 6);
    assert_int_equal(buf_printf(&b, "%d", 123), 0);
    assert_int_equal(buf_printf(&b, "%d", 456), 0);
    assert_string_equal(b.data, "123456");
    assert_int_equal(buf_printf(&b, "%d", 7), IE_TOOBIG);
    assert_string_equal(b.data, "123456");
    buf_free(&b);
}

static void detach_of_an_empty_buffer_gives_an_empty_string(void **state)
{
    struct buf b;
    size_t len = 99;

    (void)state;
    buf_init(&b, 16);
    char *s = buf_detach(&b, &len);

    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    assert_null(b.data);
    free(s);
    buf_free(&b);
}

static void detach_of_a_reset_buffer_gives_an_empty_string(void **state)
{
    struct buf b;
    size_t len = 99;

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_puts(&b, "abc"), 0);
    buf_reset(&b);
    char *s = buf_detach(&b, &len);

    assert_non_null(s);
    assert_int_equal(len, 0);
    assert_string_equal(s, "");
    free(s);
    buf_free(&b);
}

static void detach_hands_over_the_contents_and_empties_the_buffer(void **state)
{
    struct buf b;
    size_t len = 0;

    (void)state;
    buf_init(&b, 32);
    assert_int_equal(buf_puts(&b, "hello"), 0);
    char *s = buf_detach(&b, &len);

    assert_string_equal(s, "hello");
    assert_int_equal(len, 5);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(b.max, 32);
    free(s);
    /* The buffer is reusable after a detach. */
    assert_int_equal(buf_puts(&b, "again"), 0);
    s = buf_detach(&b, NULL);
    assert_string_equal(s, "again");
    free(s);
    buf_free(&b);
}

static void reset_empties_but_keeps_the_allocation(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 256);
    assert_int_equal(buf_puts(&b, "some text"), 0);
    char *data = b.data;
    size_t alloc = b.alloc;

    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.alloc, alloc);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_puts(&b, "new"), 0);
    assert_ptr_equal(b.data, data);
    assert_string_equal(b.data, "new");
    buf_free(&b);
}

static void reset_of_a_fresh_buffer_is_harmless(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    buf_reset(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void reset_restores_room_up_to_the_max(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4);
    assert_int_equal(buf_puts(&b, "abcd"), 0);
    assert_int_equal(buf_puts(&b, "e"), IE_TOOBIG);
    buf_reset(&b);
    assert_int_equal(buf_puts(&b, "wxyz"), 0);
    assert_string_equal(b.data, "wxyz");
    buf_free(&b);
}

static void contents_stay_nul_terminated_after_every_append(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 4096);
    for (size_t i = 0; i < 300; i++) {
        char c = (char)('a' + i % 26);

        assert_int_equal(buf_append(&b, &c, 1), 0);
        assert_int_equal(b.data[b.len], '\0');
        assert_int_equal(strlen(b.data), i + 1);
        assert_true(b.alloc >= b.len + 1);
    }
    buf_free(&b);
}

static void binary_contents_with_nul_bytes_are_kept(void **state)
{
    struct buf b;
    const char bytes[] = {'a', '\0', 'b', '\0'};

    (void)state;
    buf_init(&b, 16);
    assert_int_equal(buf_append(&b, bytes, sizeof bytes), 0);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, bytes, 4);
    assert_int_equal(b.data[4], '\0');
    buf_free(&b);
}

static void free_leaves_an_empty_reusable_buffer(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "abc"), 0);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.alloc, 0);
    assert_int_equal(buf_puts(&b, "12345678"), 0);
    assert_string_equal(b.data, "12345678");
    buf_free(&b);
    buf_free(&b);
}

static void json_string_escapes_quotes_backslashes_and_controls(void **state)
{
    static const char in[] = "a\"b\\c\n\t\x01\x1f\x7f/\xc3\xa9";
    struct buf b;

    (void)state;
    buf_init(&b, 64);
    assert_int_equal(buf_puts(&b, "x="), 0);
    assert_int_equal(buf_json_string(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.data, "x=\"a\\\"b\\\\c\\n\\t\\u0001\\u001F\x7f/\xc3\xa9\"");
    assert_int_equal(b.len, strlen(b.data));
    buf_free(&b);
}

/* Every ASCII byte and a few multi-byte characters come out exactly as jansson writes them. */
static void json_string_matches_jansson(void **state)
{
    (void)state;
    char in[160];
    size_t n = 0;
    for (int c = 1; c < 0x80; c++)
        in[n++] = (char)c;
    memcpy(in + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
    n += 9;
    for (size_t cut = 0; cut < 0x7f; cut += 7) { /* suffixes that start at an ASCII byte */
        json_t *s = json_stringn(in + cut, n - cut);
        assert_non_null(s);
        char *want = json_dumps(s, JSON_ENCODE_ANY);
        struct buf b;
        buf_init(&b, 4096);
        assert_int_equal(buf_json_string(&b, in + cut, n - cut), 0);
        assert_string_equal(b.data, want);
        buf_free(&b);
        free(want);
        json_decref(s);
    }
}

static void json_string_past_the_max_changes_nothing(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_int_equal(buf_json_string(&b, "cd\n", 3), 0); /* 6 bytes quoted: exactly full */
    assert_int_equal(buf_json_string(&b, "", 0), IE_TOOBIG);
    assert_string_equal(b.data, "ab\"cd\\n\"");
    buf_reset(&b);
    assert_int_equal(buf_json_string(&b, "abc\x01", 4), IE_TOOBIG);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

/* Formatting straight into spare room must still honour the maximum, not the allocation. */
static void printf_into_spare_room_past_the_max_changes_nothing(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_puts(&b, "ab"), 0);
    assert_true(b.alloc > 12); /* room for what follows, beyond the max */
    assert_int_equal(buf_printf(&b, "%s", "1234567"), IE_TOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    assert_int_equal(buf_printf(&b, "%d", 123456), 0);
    assert_string_equal(b.data, "ab123456");
    buf_free(&b);
}

static void reserve_makes_room_in_one_allocation(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 1000);
    assert_int_equal(buf_reserve(&b, 500), 0);
    assert_true(b.alloc >= 501);
    char *before = b.data;
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 50; i++)
        assert_int_equal(buf_puts(&b, "0123456789"), 0);
    assert_ptr_equal(b.data, before);
    assert_int_equal(buf_reserve(&b, 501), IE_TOOBIG);
    buf_free(&b);
}

int main(void)
{
#ifdef __GLIBC__
    /* Fresh heap memory is often zero; perturbing it makes an unterminated buffer visible
     * without valgrind too. */
    mallopt(M_PERTURB, 0x5a);
#endif
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_allocates_nothing),
        cmocka_unit_test(append_within_the_limit_keeps_the_bytes),
        cmocka_unit_test(append_past_the_max_is_toobig_and_changes_nothing),
        cmocka_unit_test(a_huge_length_is_toobig_not_an_overflow),
        cmocka_unit_test(filling_exactly_to_the_max_is_accepted),
        cmocka_unit_test(a_zero_max_holds_only_the_empty_string),
        cmocka_unit_test(printf_grows_past_the_first_allocation),
        cmocka_unit_test(printf_of_one_long_string_grows_once),
        cmocka_unit_test(printf_of_nothing_leaves_an_empty_string),
        cmocka_unit_test(printf_exactly_to_the_max_is_accepted),
        cmocka_unit_test(detach_of_an_empty_buffer_gives_an_empty_string),
        cmocka_unit_test(detach_of_a_reset_buffer_gives_an_empty_string),
        cmocka_unit_test(detach_hands_over_the_contents_and_empties_the_buffer),
        cmocka_unit_test(reset_empties_but_keeps_the_allocation),
        cmocka_unit_test(reset_of_a_fresh_buffer_is_harmless),
        cmocka_unit_test(reset_restores_room_up_to_the_max),
        cmocka_unit_test(contents_stay_nul_terminated_after_every_append),
        cmocka_unit_test(binary_contents_with_nul_bytes_are_kept),
        cmocka_unit_test(free_leaves_an_empty_reusable_buffer),
        cmocka_unit_test(json_string_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(json_string_matches_jansson),
        cmocka_unit_test(json_string_past_the_max_changes_nothing),
        cmocka_unit_test(printf_into_spare_room_past_the_max_changes_nothing),
        cmocka_unit_test(reserve_makes_room_in_one_allocation),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
