/* Unit tests for engine/json_canon.c: the canonical text is byte for byte what
 * json_dumps(JSON_SORT_KEYS | JSON_COMPACT) writes (intent hashes depend on it) and the compact
 * text what json_dumps(JSON_COMPACT) writes, for hand-picked and for generated documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "json_canon.h"

static void expect_text(const json_t *doc, size_t flags, int (*write)(struct buf *, const json_t *))
{
    char *want = json_dumps(doc, flags);
    assert_non_null(want);
    struct buf b;
    buf_init(&b, 1 << 24);
    assert_int_equal(write(&b, doc), 0);
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    buf_free(&b);
    free(want);
}

static void expect_same_as_jansson(const json_t *doc)
{
    expect_text(doc, JSON_SORT_KEYS | JSON_COMPACT, json_canon_append);
    expect_text(doc, JSON_COMPACT, json_compact_append);
}

static void hand_picked_documents_match(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "{}",
        "[]",
        "{\"b\":1,\"a\":2,\"ab\":3,\"\":4,\"B\":5,\"\\u00e9\":6,\"z\\\"q\":7,\"a\\\\\":8}",
        "{\"n\":[1,-1,0,9223372036854775807,-9223372036854775808,true,false,null]}",
        "{\"r\":[0.1,1e300,-0.0,1.5,100.0,2.5e-7,123456789.125,1e-320]}",
        "{\"s\":\"tab\\t nl\\n cr\\r bs\\b ff\\f ctl\\u0001\\u001f del\\u007f / \\u2028 "
        "\\ud83d\\ude00\"}",
        "[{\"y\":{\"d\":[],\"c\":{}},\"x\":[[],[{}]]},\"\",[\"\\\"\"]]",
        "{\"schema\":\"action_intent.v1\",\"parameters\":{\"title\":\"Call\",\"due\":null},"
        "\"priority\":50,\"approval\":{\"approved_by\":\"u\",\"approval_id\":\"ap\"}}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_error_t err;
        json_t *doc = json_loads(docs[i], JSON_REJECT_DUPLICATES, &err);
        assert_non_null(doc);
        expect_same_as_jansson(doc);
        json_decref(doc);
    }
}

static uint64_t rng = 0x243f6a8885a308d3ULL;

static unsigned pick(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static const char *const pieces[] = {
    "a",  "b",  "A",  "Z",    "0",    "_", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\"", "\\", "\n", "\x01", "\x7f", " ", "/",        "aa",           "ab"};

static json_t *random_string(void)
{
    char s[64] = "";
    unsigned n = pick(6);
    for (unsigned i = 0; i < n; i++)
        strcat(s, pieces[pick(sizeof pieces / sizeof pieces[0])]);
    return json_string(s);
}

static json_t *random_value(int depth)
{
    static const double reals[] = {0.5, -2.25, 1e21, 3.0, 1e-7, 0.1, 12345.678};
    switch (depth > 4 ? pick(6) : pick(8)) {
    case 0:
        return json_integer((json_int_t)pick(2000000) - 1000000);
    case 1:
        return json_real(reals[pick(sizeof reals / sizeof reals[0])]);
    case 2:
        return random_string();
    case 3:
        return json_true();
    case 4:
        return json_false();
    case 5:
        return json_null();
    case 6: {
        json_t *a = json_array();
        for (unsigned i = pick(5); i > 0; i--)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        for (unsigned i = pick(7); i > 0; i--) {
            json_t *k = random_string();
            json_object_set_new(o, json_string_value(k), random_value(depth + 1));
            json_decref(k);
        }
        return o;
    }
    }
}

static void generated_documents_match(void **state)
{
    (void)state;
    for (int i = 0; i < 3000; i++) {
        json_t *doc = json_object();
        for (unsigned k = pick(24); k > 0; k--) {
            json_t *key = random_string();
            json_object_set_new(doc, json_string_value(key), random_value(0));
            json_decref(key);
        }
        expect_same_as_jansson(doc);
        json_decref(doc);
    }
}

static void compact_text_keeps_the_order_members_were_set_in(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:i}", "b", 1);
    json_object_set_new(doc, "a", json_pack("{s:n, s:[i, s]}", "z", "y", 2, "x"));
    json_object_set_new(doc, "c", json_real(0.5));
    json_object_set_new(doc, "gone", json_true());
    json_object_del(doc, "gone");
    json_object_set_new(doc, "b", json_integer(3)); /* replaced in place, not moved */
    struct buf b;
    buf_init(&b, 1024);
    assert_int_equal(json_compact_append(&b, doc), 0);
    assert_string_equal(b.data, "{\"b\":3,\"a\":{\"z\":null,\"y\":[2,\"x\"]},\"c\":0.5}");
    buf_free(&b);
    expect_same_as_jansson(doc);
    json_decref(doc);
}

static void past_the_buffer_max_is_an_error(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s}", "key", "a value longer than the limit");
    struct buf b;
    buf_init(&b, 16);
    assert_int_equal(json_canon_append(&b, doc), IE_TOOBIG);
    buf_free(&b);
    buf_init(&b, 16);
    assert_int_equal(json_compact_append(&b, doc), IE_TOOBIG);
    buf_free(&b);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_picked_documents_match),
        cmocka_unit_test(generated_documents_match),
        cmocka_unit_test(compact_text_keeps_the_order_members_were_set_in),
        cmocka_unit_test(past_the_buffer_max_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
