/* JSON helpers shared by the unit tests: parse a literal, compare a value with expected text. */
#ifndef INTENTD_TEST_JSON_H
#define INTENTD_TEST_JSON_H

#include <jansson.h>
#include <stdlib.h>

/* Parses text (any JSON value); fails the test when it does not parse. */
static inline json_t *doc_of(const char *text)
{
    json_error_t e;
    json_t *d = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

    if (!d)
        print_error("cannot parse %s: %s\n", text, e.text);
    assert_non_null(d);
    return d;
}

/* Fails the test, printing both, unless got equals the JSON in want_text. */
static inline void assert_json_eq(json_t *got, const char *want_text)
{
    json_t *want = doc_of(want_text);

    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        print_error("got %s, want %s\n", s, want_text);
        free(s);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

#endif
