/* Unit tests for adapters/internal.c through the adapter interface (adapters/adapter.h): the
 * parameter checks of the internal connector's operations, the effect rows and results they
 * build, and the registry that lists them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "adapter_cases.h"

/* ---- helpers ---- */

/* A string of n copies of the UTF-8 sequence unit. */
static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

/* As check_errors, but fails the test; takes over params (released even on failure). */
static void expect_errors(const char *opname, json_t *params, const char *const *want, size_t nwant,
                          const char *what)
{
    bool ok = check_errors(opname, params, want, nwant, what);

    json_decref(params);
    if (!ok)
        fail();
}

#define CT "internal.create_task"
#define LN "internal.log_note"
#define AB "internal.attach_brief"

/* ---- registry ---- */

static void every_listed_operation_has_a_name_and_validate(void **state)
{
    size_t n = 0;

    (void)state;
    for (size_t i = 0; adapter_ops[i]; i++, n++) {
        assert_non_null(adapter_ops[i]->name);
        assert_non_null(strchr(adapter_ops[i]->name, '.'));
        assert_non_null(adapter_ops[i]->validate);
        assert_ptr_equal(adapter_find(adapter_ops[i]->name), adapter_ops[i]);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(adapter_ops[j]->name, adapter_ops[i]->name);
    }
    assert_true(n >= 6);
}

static void the_internal_operations_are_listed(void **state)
{
    static const char *const names[] = {
        CT, LN, AB, "internal.void_task", "internal.void_note", "internal.void_brief"};

    (void)state;
    for (size_t i = 0; i < NCASES(names); i++) {
        const struct adapter_op *op = op_of(names[i]);

        assert_string_equal(op->name, names[i]);
        assert_non_null(op->build_effect);
        /* Records are undone by voiding them; voiding itself has no undo. */
        assert_int_equal(op->reversible, i < 3);
    }
}

static void unknown_operation_names_are_not_found(void **state)
{
    (void)state;
    assert_null(adapter_find(""));
    assert_null(adapter_find("internal"));
    assert_null(adapter_find("internal."));
    assert_null(adapter_find("internal.create_tas"));
    assert_null(adapter_find("internal.create_task_"));
    assert_null(adapter_find("Internal.create_task"));
    assert_null(adapter_find("create_task"));
    assert_null(adapter_find("fax.send_page"));
    assert_null(adapter_find("crm.create_tasks"));
    assert_null(adapter_find("arn:aws:intentd:::internal.create_task"));
}

/* ---- internal.create_task: validate ---- */

static void create_task_accepts_good_parameters(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"Call back\"}", {0}, 0},
        {CT, "{\"title\":\"x\"}", {0}, 0},
        {CT,
         "{\"title\":\"Call back\",\"due_at\":\"2026-11-21T10:00:00Z\",\"assignee\":\"ana\","
         "\"notes\":\"line one\\nline two\\ttabbed\\r\\n\"}",
         {0},
         0},
        {CT, "{\"title\":\"T\",\"due_at\":null,\"assignee\":null,\"notes\":null}", {0}, 0},
        {CT, "{\"title\":\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\"}", {0}, 0},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void create_task_requires_a_title(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{}", {"/title"}, 1},
        {CT, "{\"title\":null}", {"/title"}, 1},
        {CT, "{\"title\":\"\"}", {"/title"}, 1},
        {CT, "{\"title\":42}", {"/title"}, 1},
        {CT, "{\"title\":true}", {"/title"}, 1},
        {CT, "{\"title\":[\"a\"]}", {"/title"}, 1},
        {CT, "{\"title\":{\"text\":\"a\"}}", {"/title"}, 1},
        {CT, "{\"notes\":\"n\"}", {"/title"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

/* Each length case: the unit repeated n times as the title, and whether it is accepted. */
static void title_length_counts_code_points_not_bytes(void **state)
{
    static const struct {
        const char *unit;
        size_t n;
        bool ok;
    } cases[] = {
        {"a", 500, true},
        {"a", 501, false},
        {"\xc3\xa9", 500, true},
        {"\xc3\xa9", 501, false}, /* é: 2 bytes */
        {"\xe2\x82\xac", 500, true},
        {"\xe2\x82\xac", 501, false}, /* €: 3 bytes */
        {"\xf0\x9f\x98\x80", 500, true},
        {"\xf0\x9f\x98\x80", 501, false}, /* 😀: 4 bytes */
    };
    static const char *const title[] = {"/title"};

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        char *s = repeat(cases[i].unit, cases[i].n);
        json_t *p = json_pack("{s:s}", "title", s);
        char what[48];

        assert_non_null(p);
        snprintf(what, sizeof what, "length case %zu (%zu)", i, cases[i].n);
        free(s);
        expect_errors(CT, p, title, cases[i].ok ? 0 : 1, what);
    }
}

static void due_at_accepts_rfc3339_date_times(void **state)
{
    static const char *const good[] = {
        "2026-11-21T10:00:00Z",
        "2026-11-21t10:00:00z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T12:00:00Z",
        "2026-11-21T10:00:00+02:00",
        "2026-11-21T10:00:00-05:30",
        "2026-11-21T10:00:00+00:00",
        "2026-11-21T10:00:00.5Z",
        "2026-11-21T10:00:00.123456789+02:00",
        "2026-12-31T23:59:60Z",
        "2026-01-31T23:59:59+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    };

    (void)state;
    for (size_t i = 0; i < NCASES(good); i++) {
        json_t *p = json_pack("{s:s, s:s}", "title", "T", "due_at", good[i]);

        assert_non_null(p);
        expect_errors(CT, p, NULL, 0, good[i]);
    }
}

static void due_at_rejects_what_is_not_rfc3339(void **state)
{
    static const char *const bad[] = {
        "",
        "2023-02-29T00:00:00Z",      /* not a leap year */
        "1900-02-29T00:00:00Z",      /* century, not a leap year */
        "2024-02-30T00:00:00Z",      /* no Feb 30 even in a leap year */
        "2026-04-31T00:00:00Z",      /* April has 30 days */
        "2026-13-01T00:00:00Z",      /* month 13 */
        "2026-00-10T00:00:00Z",      /* month 0 */
        "2026-11-00T00:00:00Z",      /* day 0 */
        "2026-11-32T00:00:00Z",      /* day 32 */
        "2026-11-21T24:00:00Z",      /* hour 24 */
        "2026-11-21T10:60:00Z",      /* minute 60 */
        "2026-11-21T10:00:61Z",      /* second 61 */
        "2026-11-21",                /* date only */
        "10:00:00Z",                 /* time only */
        "2026-11-21T10:00Z",         /* no seconds */
        "2026-11-21T10:00:00",       /* no offset */
        "2026-11-21T10:00:00.Z",     /* fraction without digits */
        "2026-11-21T10:00:00,5Z",    /* comma fraction */
        "2026-11-21T10:00:00+0200",  /* offset without colon */
        "2026-11-21T10:00:00+02",    /* offset without minutes */
        "2026-11-21T10:00:00+24:00", /* offset hour 24 */
        "2026-11-21T10:00:00+02:60", /* offset minute 60 */
        "2026-11-21T10:00:00Zjunk",  /* trailing text */
        "2026-11-21T10:00:00+02:00 ",
        "2026-11-21X10:00:00Z", /* bad separator */
        "26-11-21T10:00:00Z",   /* two-digit year */
        "2026-1-21T10:00:00Z",  /* one-digit month */
        "20261121T100000Z",     /* basic format */
        "tomorrow",
        " 2026-11-21T10:00:00Z", /* leading space */
    };
    static const char *const due[] = {"/due_at"};

    (void)state;
    for (size_t i = 0; i < NCASES(bad); i++) {
        json_t *p = json_pack("{s:s, s:s}", "title", "T", "due_at", bad[i]);

        assert_non_null(p);
        expect_errors(CT, p, due, 1, bad[i]);
    }
}

/* Fields that sscanf's %d accepts but RFC 3339's fixed-width digit fields do not: signs and
 * blanks inside a field. */
static void due_at_rejects_signs_and_blanks_inside_fields(void **state)
{
    static const char *const bad[] = {
        "2026-11-21T-1:00:00Z",      /* negative hour */
        "2026-11-21T10:-1:00Z",      /* negative minute */
        "2026-11-21T10:00:-1Z",      /* negative second */
        "2026-11-21T10:00:00+-1:00", /* negative offset hour */
        "2026-11-21T10:00:00+02:-1", /* negative offset minute */
        "2026-11- 1T10:00:00Z",      /* blank in the day */
        "2026-11-+1T10:00:00Z",      /* sign in the day */
        "+026-11-21T10:00:00Z",      /* sign in the year */
        "-001-11-21T10:00:00Z",      /* negative year */
    };
    static const char *const due[] = {"/due_at"};
    size_t failed = 0;

    (void)state;
    /* Every case is tried, so that the report lists all the inputs let through. */
    for (size_t i = 0; i < NCASES(bad); i++) {
        json_t *p = json_pack("{s:s, s:s}", "title", "T", "due_at", bad[i]);

        assert_non_null(p);
        failed += !check_errors(CT, p, due, 1, bad[i]);
        json_decref(p);
    }
    assert_int_equal(failed, 0);
}

static void due_at_must_be_a_string(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"T\",\"due_at\":1764000000}", {"/due_at"}, 1},
        {CT, "{\"title\":\"T\",\"due_at\":true}", {"/due_at"}, 1},
        {CT, "{\"title\":\"T\",\"due_at\":[\"2026-11-21T10:00:00Z\"]}", {"/due_at"}, 1},
        {CT, "{\"title\":\"T\",\"due_at\":{}}", {"/due_at"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void assignee_and_notes_must_be_strings_of_bounded_length(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"T\",\"assignee\":7}", {"/assignee"}, 1},
        {CT, "{\"title\":\"T\",\"assignee\":\"\"}", {"/assignee"}, 1},
        {CT, "{\"title\":\"T\",\"assignee\":[\"ana\"]}", {"/assignee"}, 1},
        {CT, "{\"title\":\"T\",\"assignee\":\"ana\\nbob\"}", {"/assignee"}, 1},
        {CT, "{\"title\":\"T\",\"notes\":false}", {"/notes"}, 1},
        {CT, "{\"title\":\"T\",\"notes\":{\"a\":1}}", {"/notes"}, 1},
        {CT, "{\"title\":\"T\",\"notes\":\"\"}", {"/notes"}, 1},
    };
    static const struct {
        const char *key;
        size_t n;
        bool ok;
    } lengths[] = {
        {"assignee", 200, true},
        {"assignee", 201, false},
        {"notes", 20000, true},
        {"notes", 20001, false},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
    for (size_t i = 0; i < NCASES(lengths); i++) {
        char *s = repeat("\xc3\xa9", lengths[i].n);
        json_t *p = json_pack("{s:s, s:s}", "title", "T", lengths[i].key, s);
        char ptr[32], what[48];
        const char *const want[] = {ptr};

        assert_non_null(p);
        snprintf(ptr, sizeof ptr, "/%s", lengths[i].key);
        snprintf(what, sizeof what, "%s of %zu", lengths[i].key, lengths[i].n);
        free(s);
        expect_errors(CT, p, want, lengths[i].ok ? 0 : 1, what);
    }
}

static void control_characters_are_rejected(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"a\\u0001b\"}", {"/title"}, 1},
        {CT, "{\"title\":\"a\\u001fb\"}", {"/title"}, 1},
        {CT, "{\"title\":\"a\\u007fb\"}", {"/title"}, 1},
        {CT, "{\"title\":\"a\\nb\"}", {"/title"}, 1}, /* one-line field */
        {CT, "{\"title\":\"a\\tb\"}", {"/title"}, 1},
        {CT, "{\"title\":\"a\\rb\"}", {"/title"}, 1},
        {CT, "{\"title\":\"a\\u0000b\"}", {"/title"}, 1}, /* embedded NUL */
        {CT, "{\"title\":\"T\",\"notes\":\"a\\u0000b\"}", {"/notes"}, 1},
        {CT, "{\"title\":\"T\",\"notes\":\"a\\u0007b\"}", {"/notes"}, 1},
        {CT, "{\"title\":\"T\",\"notes\":\"a\\u001bb\"}", {"/notes"}, 1},
        {CT, "{\"title\":\"T\",\"assignee\":\"a\\u0002\"}", {"/assignee"}, 1},
        {LN, "{\"body\":\"a\\u0000b\"}", {"/body"}, 1},
        {LN, "{\"body\":\"bell\\u0007\"}", {"/body"}, 1},
        {AB, "{\"title\":\"t\\u0003\",\"content\":\"c\"}", {"/title"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"https://a.example/\\u0001\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"https://a.example/\\nx\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"content\":\"a\\u0000\"}", {"/content"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void unknown_parameters_are_rejected_at_their_pointer(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"T\",\"colour\":\"red\"}", {"/colour"}, 1},
        {CT, "{\"title\":\"T\",\"Title\":\"T\"}", {"/Title"}, 1},
        {CT, "{\"title\":\"T\",\"due\":\"2026-11-21T10:00:00Z\"}", {"/due"}, 1},
        {CT, "{\"title\":\"T\",\"body\":\"b\"}", {"/body"}, 1},
        {CT, "{\"title\":\"T\",\"\":1}", {"/"}, 1},
        {LN, "{\"body\":\"b\",\"title\":\"T\"}", {"/title"}, 1},
        {AB, "{\"title\":\"t\",\"content\":\"c\",\"body\":\"b\"}", {"/body"}, 1},
        /* check_known runs first, then the fields in a fixed order */
        {CT, "{\"extra\":1,\"title\":5,\"due_at\":\"soon\"}", {"/extra", "/title", "/due_at"}, 3},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

/* A JSON Pointer escapes "~" as "~0" and "/" as "~1" (RFC 6901). */
static void unknown_parameter_pointers_are_escaped(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{\"title\":\"T\",\"a/b\":1}", {"/a~1b"}, 1},
        {CT, "{\"title\":\"T\",\"a~b\":1}", {"/a~0b"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void non_object_parameters_are_one_error_at_the_root(void **state)
{
    static const char *const docs[] = {"null", "[]", "[{\"title\":\"T\"}]", "\"T\"", "42", "true"};
    static const char *const ops[] = {CT, LN, AB};
    static const char *const root[] = {""};

    (void)state;
    for (size_t o = 0; o < NCASES(ops); o++) {
        for (size_t i = 0; i < NCASES(docs); i++) {
            json_t *p = doc_of(docs[i]);

            expect_errors(ops[o], p, root, 1, docs[i]);
        }
    }
}

static void validate_returns_only_the_errors_it_appended(void **state)
{
    const struct adapter_op *op = op_of(CT);
    struct adapter_errors errs = {0};
    json_t *p = doc_of("{\"title\":\"\",\"assignee\":3}");

    (void)state;
    adapter_error(&errs, "/earlier", "from another Task");
    assert_int_equal(op->validate(p, &errs), 2);
    assert_int_equal(errs.count, 3);
    assert_string_equal(errs.items[0].pointer, "/earlier");
    assert_string_equal(errs.items[1].pointer, "/title");
    assert_string_equal(errs.items[2].pointer, "/assignee");
    json_decref(p);
}

static void errors_past_the_maximum_are_dropped(void **state)
{
    const struct adapter_op *op = op_of(CT);
    struct adapter_errors errs = {0};
    json_t *p = json_object();

    (void)state;
    assert_non_null(p);
    for (int i = 0; i < ADAPTER_ERRORS_MAX + 8; i++) {
        char key[16];

        snprintf(key, sizeof key, "k%02d", i);
        assert_int_equal(json_object_set_new(p, key, json_true()), 0);
    }
    assert_int_equal(op->validate(p, &errs), ADAPTER_ERRORS_MAX);
    assert_int_equal(errs.count, ADAPTER_ERRORS_MAX);
    json_decref(p);
}

/* ---- internal.log_note and internal.attach_brief: validate ---- */

static void log_note_requires_a_body(void **state)
{
    static const struct vcase cases[] = {
        {LN, "{\"body\":\"called, no answer\"}", {0}, 0},
        {LN, "{\"body\":\"multi\\nline\\r\\n\\ttext\"}", {0}, 0},
        {LN, "{}", {"/body"}, 1},
        {LN, "{\"body\":null}", {"/body"}, 1},
        {LN, "{\"body\":\"\"}", {"/body"}, 1},
        {LN, "{\"body\":12}", {"/body"}, 1},
        {LN, "{\"body\":[\"x\"]}", {"/body"}, 1},
        {LN, "{\"note\":\"x\"}", {"/note", "/body"}, 2},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
    static const char *const body[] = {"/body"};
    char *s = repeat("x", 20000);
    json_t *p = json_pack("{s:s}", "body", s);

    free(s);
    expect_errors(LN, p, NULL, 0, "body of 20000");
    s = repeat("x", 20001);
    p = json_pack("{s:s}", "body", s);
    free(s);
    expect_errors(LN, p, body, 1, "body of 20001");
}

static void attach_brief_requires_a_title_and_a_url_or_content(void **state)
{
    static const struct vcase cases[] = {
        {AB, "{\"title\":\"Q3 plan\",\"url\":\"https://docs.example/q3\"}", {0}, 0},
        {AB, "{\"title\":\"Q3 plan\",\"url\":\"http://docs.example/q3\"}", {0}, 0},
        {AB, "{\"title\":\"Q3 plan\",\"content\":\"# Plan\\n\\n- one\"}", {0}, 0},
        {AB, "{\"title\":\"Q3\",\"url\":\"https://d.example/\",\"content\":\"c\"}", {0}, 0},
        {AB, "{\"title\":\"Q3\",\"url\":null,\"content\":\"c\"}", {0}, 0},
        {AB, "{\"url\":\"https://docs.example/q3\"}", {"/title"}, 1},
        {AB, "{\"title\":\"\",\"content\":\"c\"}", {"/title"}, 1},
        {AB, "{\"title\":7,\"content\":\"c\"}", {"/title"}, 1},
        {AB, "{\"title\":\"Q3\"}", {""}, 1},
        {AB, "{\"title\":\"Q3\",\"url\":null,\"content\":null}", {""}, 1},
        {AB, "{}", {"/title", ""}, 2},
        {AB, "{\"title\":\"Q3\",\"content\":\"\"}", {"/content"}, 1},
        {AB, "{\"title\":\"Q3\",\"content\":5}", {"/content"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void attach_brief_url_must_be_http_or_https(void **state)
{
    static const struct vcase cases[] = {
        {AB, "{\"title\":\"t\",\"url\":\"ftp://files.example/a\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"javascript:alert(1)\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"file:///etc/passwd\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"docs.example/q3\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"https:/docs.example\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"httpx://docs.example\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\" https://docs.example\"}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":42}", {"/url"}, 1},
        {AB, "{\"title\":\"t\",\"url\":\"ftp://x.example\",\"content\":\"c\"}", {"/url"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
    static const char *const url[] = {"/url"};
    char *tail = repeat("a", 2048 - 8);
    char s[2048 + 2];

    snprintf(s, sizeof s, "https://%s", tail);
    free(tail);
    json_t *p = json_pack("{s:s, s:s}", "title", "t", "url", s);

    expect_errors(AB, p, NULL, 0, "url of 2048");
    strcat(s, "a");
    p = json_pack("{s:s, s:s}", "title", "t", "url", s);
    expect_errors(AB, p, url, 1, "url of 2049");
}

/* ---- build_effect ---- */

static const struct adapter_ctx CTX = {
    .tenant_id = "ten_1",
    .action_intent_id = "ai_1",
    .account_id = "acct_123",
    .step = "CreateTask",
    .idempotency_key = "idem-7f3a",
};

static void expect_effect(const char *opname, const char *params, const char *want_effect,
                          const char *want_result)
{
    const struct adapter_op *op = op_of(opname);
    json_t *p = doc_of(params), *effect = NULL, *result = NULL;

    assert_int_equal(op->build_effect(p, &CTX, &effect, &result), 0);
    assert_json_eq(effect, want_effect);
    assert_json_eq(result, want_result);
    /* The effect is a new object, not a view of the parameters. */
    assert_ptr_not_equal(effect, p);
    assert_int_equal(effect->refcount, 1);
    assert_int_equal(result->refcount, 1);
    json_decref(effect);
    json_decref(result);
    json_decref(p);
}

static void create_task_effect_is_a_task_row_keyed_by_the_idempotency_key(void **state)
{
    (void)state;
    expect_effect(CT,
                  "{\"title\":\"Call back\",\"due_at\":\"2026-11-21T10:00:00Z\","
                  "\"assignee\":\"ana\",\"notes\":\"n\"}",
                  "{\"kind\":\"task\",\"record_id\":\"idem-7f3a\",\"step\":\"CreateTask\","
                  "\"account_id\":\"acct_123\",\"title\":\"Call back\","
                  "\"due_at\":\"2026-11-21T10:00:00Z\",\"assignee\":\"ana\",\"notes\":\"n\"}",
                  "{\"record_id\":\"idem-7f3a\",\"kind\":\"task\"}");
}

static void absent_and_null_optional_fields_stay_out_of_the_effect(void **state)
{
    (void)state;
    expect_effect(CT, "{\"title\":\"T\",\"due_at\":null,\"assignee\":null}",
                  "{\"kind\":\"task\",\"record_id\":\"idem-7f3a\",\"step\":\"CreateTask\","
                  "\"account_id\":\"acct_123\",\"title\":\"T\"}",
                  "{\"record_id\":\"idem-7f3a\",\"kind\":\"task\"}");
}

static void log_note_effect_is_a_note_row(void **state)
{
    (void)state;
    expect_effect(LN, "{\"body\":\"called\\nno answer\"}",
                  "{\"kind\":\"note\",\"record_id\":\"idem-7f3a\",\"step\":\"CreateTask\","
                  "\"account_id\":\"acct_123\",\"body\":\"called\\nno answer\"}",
                  "{\"record_id\":\"idem-7f3a\",\"kind\":\"note\"}");
}

static void attach_brief_effect_is_a_brief_row(void **state)
{
    (void)state;
    expect_effect(AB, "{\"title\":\"Q3\",\"url\":\"https://d.example/q3\"}",
                  "{\"kind\":\"brief\",\"record_id\":\"idem-7f3a\",\"step\":\"CreateTask\","
                  "\"account_id\":\"acct_123\",\"title\":\"Q3\","
                  "\"url\":\"https://d.example/q3\"}",
                  "{\"record_id\":\"idem-7f3a\",\"kind\":\"brief\"}");
    expect_effect(AB, "{\"title\":\"Q3\",\"content\":\"# Plan\"}",
                  "{\"kind\":\"brief\",\"record_id\":\"idem-7f3a\",\"step\":\"CreateTask\","
                  "\"account_id\":\"acct_123\",\"title\":\"Q3\",\"content\":\"# Plan\"}",
                  "{\"record_id\":\"idem-7f3a\",\"kind\":\"brief\"}");
}

static void the_same_context_builds_the_same_effect(void **state)
{
    const struct adapter_op *op = op_of(CT);
    json_t *p = doc_of("{\"title\":\"T\"}"), *e1, *r1, *e2, *r2;

    (void)state;
    assert_int_equal(op->build_effect(p, &CTX, &e1, &r1), 0);
    assert_int_equal(op->build_effect(p, &CTX, &e2, &r2), 0);
    assert_true(json_equal(e1, e2));
    assert_true(json_equal(r1, r2));
    json_decref(e1);
    json_decref(r1);
    json_decref(e2);
    json_decref(r2);
    json_decref(p);
}

static void void_operations_void_the_record_of_the_key(void **state)
{
    static const struct {
        const char *op;
        const char *table;
    } cases[] = {
        {"internal.void_task", "task"},
        {"internal.void_note", "note"},
        {"internal.void_brief", "brief"},
    };

    (void)state;
    for (size_t i = 0; i < NCASES(cases); i++) {
        const struct adapter_op *op = op_of(cases[i].op);
        json_t *p = doc_of("{\"title\":\"ignored\"}"), *effect = NULL, *result = NULL;
        char want[160];
        struct adapter_errors errs = {0};

        assert_int_equal(op->validate(p, &errs), 0);
        assert_int_equal(errs.count, 0);
        assert_int_equal(op->build_effect(p, &CTX, &effect, &result), 0);
        snprintf(want, sizeof want,
                 "{\"kind\":\"void\",\"table\":\"%s\",\"record_id\":\"idem-7f3a\"}",
                 cases[i].table);
        assert_json_eq(effect, want);
        assert_string_equal(json_string_value(json_object_get(result, "record_id")), "idem-7f3a");
        assert_true(json_is_true(json_object_get(result, "voided")));
        json_decref(effect);
        json_decref(result);
        json_decref(p);
    }
}

static void void_operations_accept_any_parameters(void **state)
{
    static const char *const docs[] = {"null", "{}", "[1]", "\"x\"", "{\"anything\":1}"};

    (void)state;
    for (size_t i = 0; adapter_ops[i]; i++) {
        if (strncmp(adapter_ops[i]->name, "internal.void_", 14))
            continue;
        for (size_t j = 0; j < NCASES(docs); j++) {
            json_t *p = doc_of(docs[j]);

            expect_errors(adapter_ops[i]->name, p, NULL, 0, docs[j]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_listed_operation_has_a_name_and_validate),
        cmocka_unit_test(the_internal_operations_are_listed),
        cmocka_unit_test(unknown_operation_names_are_not_found),
        cmocka_unit_test(create_task_accepts_good_parameters),
        cmocka_unit_test(create_task_requires_a_title),
        cmocka_unit_test(title_length_counts_code_points_not_bytes),
        cmocka_unit_test(due_at_accepts_rfc3339_date_times),
        cmocka_unit_test(due_at_rejects_what_is_not_rfc3339),
        cmocka_unit_test(due_at_rejects_signs_and_blanks_inside_fields),
        cmocka_unit_test(due_at_must_be_a_string),
        cmocka_unit_test(assignee_and_notes_must_be_strings_of_bounded_length),
        cmocka_unit_test(control_characters_are_rejected),
        cmocka_unit_test(unknown_parameters_are_rejected_at_their_pointer),
        cmocka_unit_test(unknown_parameter_pointers_are_escaped),
        cmocka_unit_test(non_object_parameters_are_one_error_at_the_root),
        cmocka_unit_test(validate_returns_only_the_errors_it_appended),
        cmocka_unit_test(errors_past_the_maximum_are_dropped),
        cmocka_unit_test(log_note_requires_a_body),
        cmocka_unit_test(attach_brief_requires_a_title_and_a_url_or_content),
        cmocka_unit_test(attach_brief_url_must_be_http_or_https),
        cmocka_unit_test(create_task_effect_is_a_task_row_keyed_by_the_idempotency_key),
        cmocka_unit_test(absent_and_null_optional_fields_stay_out_of_the_effect),
        cmocka_unit_test(log_note_effect_is_a_note_row),
        cmocka_unit_test(attach_brief_effect_is_a_brief_row),
        cmocka_unit_test(the_same_context_builds_the_same_effect),
        cmocka_unit_test(void_operations_void_the_record_of_the_key),
        cmocka_unit_test(void_operations_accept_any_parameters),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
