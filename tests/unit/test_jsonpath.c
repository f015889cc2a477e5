/* Unit tests for engine/jsonpath.c: the ASL reference-path subset, its get and set operations
 * and its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include <stdlib.h>
#include <string.h>

#include "jsonpath.h"

static void dollar_yields_the_document(void **state)
{
    json_t *d = doc_of("{\"a\":1}"), *v;

    (void)state;
    assert_int_equal(jsonpath_get(d, "$", &v), 0);
    assert_ptr_equal(v, d);
    json_decref(d);
}

static void dotted_bracketed_and_indexed_segments_chain(void **state)
{
    json_t *d = doc_of("{\"a\":{\"b c\":[10,{\"d\":\"x\"}]}}"), *v;

    (void)state;
    assert_int_equal(jsonpath_get(d, "$.a['b c'][1].d", &v), 0);
    assert_string_equal(json_string_value(v), "x");
    assert_int_equal(jsonpath_get(d, "$[\"a\"][\"b c\"][0]", &v), 0);
    assert_int_equal(json_integer_value(v), 10);
    json_decref(d);
}

static void absent_name_or_index_is_notfound(void **state)
{
    json_t *d = doc_of("{\"a\":[1,2]}"), *v = (json_t *)1;

    (void)state;
    assert_int_equal(jsonpath_get(d, "$.b", &v), IE_NOTFOUND);
    assert_null(v);
    assert_int_equal(jsonpath_get(d, "$.a[2]", &v), IE_NOTFOUND);
    assert_int_equal(jsonpath_get(d, "$.a.x", &v), IE_NOTFOUND);
    assert_int_equal(jsonpath_get(d, "$[0]", &v), IE_NOTFOUND);
    json_decref(d);
}

static void malformed_paths_are_parse_errors(void **state)
{
    static const char *const bad[] = {
        "",      "a",     "$.",    "$..a", "$[",     "$[]",   "$['a'",
        "$['']", "$[01]", "$[-1]", "$[*]", "$.a[*]", "$$.x",  "$$",
        "$a",    "$.a b", "$['a]", "$[1",  "$.*",    "$[1]x", NULL,
    };
    json_t *d = doc_of("{}"), *v;

    (void)state;
    for (size_t i = 0; bad[i] != NULL; i++) {
        if (jsonpath_check(bad[i]) != IE_PARSE)
            fail_msg("path \"%s\" was accepted", bad[i]);
        assert_int_equal(jsonpath_get(d, bad[i], &v), IE_PARSE);
    }
    assert_int_equal(jsonpath_check(NULL), IE_PARSE);
    json_decref(d);
}

static void path_longer_than_limit_is_toobig(void **state)
{
    char *p = malloc(JSONPATH_MAX_LEN + 2);

    (void)state;
    p[0] = '$';
    p[1] = '.';
    memset(p + 2, 'a', JSONPATH_MAX_LEN - 1);
    p[JSONPATH_MAX_LEN + 1] = '\0';
    assert_int_equal(jsonpath_check(p), IE_TOOBIG);
    p[JSONPATH_MAX_LEN] = '\0';
    assert_int_equal(jsonpath_check(p), 0);
    free(p);
}

static void path_deeper_than_limit_is_toobig(void **state)
{
    char p[3 * (JSONPATH_MAX_DEPTH + 1) + 2] = "$";

    (void)state;
    for (int i = 0; i < JSONPATH_MAX_DEPTH; i++)
        strcat(p, "[0]");
    assert_int_equal(jsonpath_check(p), 0);
    strcat(p, "[0]");
    assert_int_equal(jsonpath_check(p), IE_TOOBIG);
}

static void set_dollar_replaces_the_document(void **state)
{
    json_t *d = doc_of("{\"a\":1}"), *v = json_integer(7);

    (void)state;
    assert_int_equal(jsonpath_set(&d, "$", v), 0);
    assert_ptr_equal(d, v);
    json_decref(v);
    json_decref(d);
}

static void set_creates_intermediate_objects(void **state)
{
    json_t *d = doc_of("{\"a\":1}"), *v = json_string("r");

    (void)state;
    assert_int_equal(jsonpath_set(&d, "$.x.y['z']", v), 0);
    assert_json_eq(d, "{\"a\":1,\"x\":{\"y\":{\"z\":\"r\"}}}");
    json_decref(v);
    json_decref(d);
}

static void set_replaces_existing_array_element(void **state)
{
    json_t *d = doc_of("{\"a\":[1,2,3]}"), *v = json_true();

    (void)state;
    assert_int_equal(jsonpath_set(&d, "$.a[1]", v), 0);
    assert_json_eq(d, "{\"a\":[1,true,3]}");
    json_decref(d);
}

static void set_through_a_scalar_conflicts_and_changes_nothing(void **state)
{
    json_t *d = doc_of("{\"a\":1,\"l\":[0]}"), *v = json_null();

    (void)state;
    assert_int_equal(jsonpath_set(&d, "$.a.b", v), IE_CONFLICT);
    assert_int_equal(jsonpath_set(&d, "$.new.l[0]", v), IE_CONFLICT);
    assert_int_equal(jsonpath_set(&d, "$.l[5]", v), IE_CONFLICT);
    assert_int_equal(jsonpath_set(&d, "$.l.x", v), IE_CONFLICT);
    assert_json_eq(d, "{\"a\":1,\"l\":[0]}");
    assert_int_equal(jsonpath_set(&d, "$..", v), IE_PARSE);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dollar_yields_the_document),
        cmocka_unit_test(dotted_bracketed_and_indexed_segments_chain),
        cmocka_unit_test(absent_name_or_index_is_notfound),
        cmocka_unit_test(malformed_paths_are_parse_errors),
        cmocka_unit_test(path_longer_than_limit_is_toobig),
        cmocka_unit_test(path_deeper_than_limit_is_toobig),
        cmocka_unit_test(set_dollar_replaces_the_document),
        cmocka_unit_test(set_creates_intermediate_objects),
        cmocka_unit_test(set_replaces_existing_array_element),
        cmocka_unit_test(set_through_a_scalar_conflicts_and_changes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
