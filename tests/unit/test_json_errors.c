/* Unit tests for engine/json_errors.c: the pointer of a validation error, escaped, and cut
 * where a long member name would not fit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "json_errors.h"

static const char *pointer_of(json_t *errors, size_t i)
{
    return json_string_value(json_object_get(json_array_get(errors, i), "pointer"));
}

static void a_member_is_escaped_after_its_base(void **state)
{
    (void)state;
    json_t *errors = json_array();
    assert_int_equal(json_errors_add(errors, "/settings", "a/b~c", "is wrong"), 0);
    assert_int_equal(json_errors_add(errors, "", NULL, "must be an object"), 0);
    assert_string_equal(pointer_of(errors, 0), "/settings/a~1b~0c");
    assert_string_equal(pointer_of(errors, 1), "");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                        "is wrong");
    json_decref(errors);
}

static void a_long_member_is_cut_at_a_character_boundary(void **state)
{
    (void)state;
    /* 'a' and 100 two-byte characters: the 64-byte cut falls inside the 32nd one, which is
     * left out rather than split (or the whole name dropped) */
    char member[1 + 200 + 1];
    member[0] = 'a';
    for (int i = 0; i < 100; i++)
        memcpy(member + 1 + 2 * i, "\xc3\xa9", 2);
    member[201] = '\0';
    char want[3 + 1 + 62 + 1] = "/x/a";
    for (int i = 0; i < 31; i++)
        memcpy(want + 4 + 2 * i, "\xc3\xa9", 2);
    want[4 + 62] = '\0';
    json_t *errors = json_array();
    assert_int_equal(json_errors_add(errors, "/x", member, "unknown"), 0);
    assert_string_equal(pointer_of(errors, 0), want);
    json_decref(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_member_is_escaped_after_its_base),
        cmocka_unit_test(a_long_member_is_cut_at_a_character_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
