/* Unit tests for engine/lifecycle.c: the shipped statemachines/lifecycle.json holds exactly the
 * expected table, the checks agree with it, bad tables are refused, and the SQL text for the
 * PostgreSQL trigger is rendered from the same data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"

#ifndef INTENTD_SOURCE_STATEMACHINES_DIR
#define INTENTD_SOURCE_STATEMACHINES_DIR "statemachines"
#endif
#define LIFECYCLE_FILE INTENTD_SOURCE_STATEMACHINES_DIR "/lifecycle.json"

/* The table SPEC §3 and the issue call for; the file must hold exactly this. */
static const struct {
    const char *name;
    enum intent_state from, to;
    bool operator_action;
} expected[] = {
    {"claim", INTENT_PENDING, INTENT_EXECUTING, false},
    {"expire", INTENT_PENDING, INTENT_EXPIRED, false},
    {"cancel", INTENT_PENDING, INTENT_CANCELLED, false},
    {"release", INTENT_EXECUTING, INTENT_PENDING, false},
    {"succeed", INTENT_EXECUTING, INTENT_SUCCEEDED, false},
    {"fail", INTENT_EXECUTING, INTENT_FAILED, false},
    {"expire", INTENT_EXECUTING, INTENT_EXPIRED, false},
    {"cancel", INTENT_EXECUTING, INTENT_CANCELLED, false},
    {"compensate", INTENT_EXECUTING, INTENT_COMPENSATING, false},
    {"fail", INTENT_COMPENSATING, INTENT_FAILED, false},
    {"expire", INTENT_COMPENSATING, INTENT_EXPIRED, false},
    {"cancel", INTENT_COMPENSATING, INTENT_CANCELLED, false},
    {"redrive", INTENT_FAILED, INTENT_EXECUTING, true},
    {"compensate", INTENT_SUCCEEDED, INTENT_COMPENSATING, true},
};
#define NEXPECTED (sizeof expected / sizeof expected[0])

static int setup(void **state)
{
    struct lifecycle *lc;
    char err[256] = "";

    if (lifecycle_load(LIFECYCLE_FILE, &lc, err, sizeof err) != 0) {
        print_error("%s\n", err);
        return -1;
    }
    *state = lc;
    return 0;
}

static int teardown(void **state)
{
    lifecycle_free(*state);
    return 0;
}

static void file_has_exactly_the_expected_transitions(void **state)
{
    const struct lifecycle *lc = *state;

    assert_int_equal(lifecycle_transition_count(lc), NEXPECTED);
    for (size_t i = 0; i < NEXPECTED; i++) {
        enum intent_state from, to;
        const char *name;

        lifecycle_transition_at(lc, i, &from, &to, &name);
        assert_int_equal(from, expected[i].from);
        assert_int_equal(to, expected[i].to);
        assert_string_equal(name, expected[i].name);
        assert_int_equal(lifecycle_is_operator_action(lc, from, to), expected[i].operator_action);
    }
}

static void allowed_agrees_with_the_table_for_every_pair(void **state)
{
    const struct lifecycle *lc = *state;

    for (int f = 0; f < INTENT_STATE_COUNT; f++)
        for (int t = 0; t < INTENT_STATE_COUNT; t++) {
            bool want = false;

            for (size_t i = 0; i < NEXPECTED; i++)
                want = want || (expected[i].from == (enum intent_state)f &&
                                expected[i].to == (enum intent_state)t);
            if (lifecycle_allowed(lc, f, t) != want)
                fail_msg("%s -> %s", lifecycle_state_name(f), lifecycle_state_name(t));
            assert_int_equal(lifecycle_transition_name(lc, f, t) != NULL, want);
        }
}

static void last_four_states_are_terminal(void **state)
{
    const struct lifecycle *lc = *state;

    assert_false(lifecycle_is_terminal(lc, INTENT_PENDING));
    assert_false(lifecycle_is_terminal(lc, INTENT_EXECUTING));
    assert_false(lifecycle_is_terminal(lc, INTENT_COMPENSATING));
    assert_true(lifecycle_is_terminal(lc, INTENT_SUCCEEDED));
    assert_true(lifecycle_is_terminal(lc, INTENT_FAILED));
    assert_true(lifecycle_is_terminal(lc, INTENT_EXPIRED));
    assert_true(lifecycle_is_terminal(lc, INTENT_CANCELLED));
}

static void state_names_round_trip(void **state)
{
    enum intent_state s;

    (void)state;
    for (int i = 0; i < INTENT_STATE_COUNT; i++) {
        assert_int_equal(lifecycle_state_from_name(lifecycle_state_name(i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(lifecycle_state_from_name("pending", &s), IE_NOTFOUND);
    assert_int_equal(lifecycle_state_from_name(NULL, &s), IE_NOTFOUND);
}

static void change_state_moves_along_an_allowed_transition(void **state)
{
    const struct lifecycle *lc = *state;
    enum intent_state s = INTENT_PENDING;
    const char *name = NULL;

    assert_int_equal(lifecycle_change_state(lc, &s, INTENT_EXECUTING, &name), 0);
    assert_int_equal(s, INTENT_EXECUTING);
    assert_string_equal(name, "claim");
}

static void change_state_refuses_a_move_not_in_the_table(void **state)
{
    const struct lifecycle *lc = *state;
    enum intent_state s = INTENT_SUCCEEDED;

    assert_int_equal(lifecycle_change_state(lc, &s, INTENT_PENDING, NULL), IE_STATE);
    assert_int_equal(s, INTENT_SUCCEEDED);
    s = INTENT_PENDING;
    assert_int_equal(lifecycle_change_state(lc, &s, INTENT_PENDING, NULL), IE_STATE);
}

static void sql_pairs_render_the_table_in_file_order(void **state)
{
    const struct lifecycle *lc = *state;
    struct buf b;

    buf_init(&b, 4096);
    assert_int_equal(lifecycle_sql_pairs(lc, &b), 0);
    assert_string_equal(
        b.data, "('PENDING','EXECUTING'),('PENDING','EXPIRED'),('PENDING','CANCELLED'),"
                "('EXECUTING','PENDING'),('EXECUTING','SUCCEEDED'),('EXECUTING','FAILED'),"
                "('EXECUTING','EXPIRED'),('EXECUTING','CANCELLED'),('EXECUTING','COMPENSATING'),"
                "('COMPENSATING','FAILED'),('COMPENSATING','EXPIRED'),"
                "('COMPENSATING','CANCELLED'),('FAILED','EXECUTING'),"
                "('SUCCEEDED','COMPENSATING')");
    buf_free(&b);
}

static void sql_pairs_report_a_full_buffer(void **state)
{
    const struct lifecycle *lc = *state;
    struct buf b;

    buf_init(&b, 10);
    assert_int_equal(lifecycle_sql_pairs(lc, &b), IE_TOOBIG);
    buf_free(&b);
}

static void impossible_state_value_aborts(void **state)
{
    const struct lifecycle *lc = *state;
    int status = 0;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        enum intent_state s = (enum intent_state)42;

        (void)!freopen("/dev/null", "w", stderr);
        (void)!lifecycle_change_state(lc, &s, INTENT_PENDING, NULL);
        _exit(0); /* not reached when the check works */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* Asserts that a table is refused with a message containing needle. */
static void refuses(const char *text, const char *needle)
{
    struct lifecycle *lc = (struct lifecycle *)1;
    json_error_t e;
    json_t *doc = json_loads(text, 0, &e);
    char err[256] = "";

    assert_non_null(doc);
    assert_int_equal(lifecycle_load_json(doc, &lc, err, sizeof err), IE_PARSE);
    assert_null(lc);
    json_decref(doc);
    if (strstr(err, needle) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, needle);
}

#define ALL_STATES                                                                                 \
    "\"states\":[{\"name\":\"PENDING\",\"terminal\":false},"                                       \
    "{\"name\":\"EXECUTING\",\"terminal\":false},{\"name\":\"COMPENSATING\",\"terminal\":false},"  \
    "{\"name\":\"SUCCEEDED\",\"terminal\":true},{\"name\":\"FAILED\",\"terminal\":true},"          \
    "{\"name\":\"EXPIRED\",\"terminal\":true},{\"name\":\"CANCELLED\",\"terminal\":true}]"

static void bad_tables_are_refused(void **state)
{
    (void)state;
    refuses("{\"states\":[{\"name\":\"PENDING\",\"terminal\":false}],\"transitions\":[]}",
            "EXECUTING is missing");
    refuses("{\"states\":[{\"name\":\"LIMBO\",\"terminal\":false}],\"transitions\":[]}", "LIMBO");
    refuses("{" ALL_STATES ",\"transitions\":[{\"name\":\"claim\",\"from\":\"PENDING\","
            "\"to\":\"DONE\"}]}",
            "unknown \"to\"");
    refuses("{" ALL_STATES ",\"transitions\":[{\"name\":\"claim\",\"from\":\"PENDING\","
            "\"to\":\"EXECUTING\"},{\"name\":\"again\",\"from\":\"PENDING\","
            "\"to\":\"EXECUTING\"}]}",
            "listed twice");
    refuses("{" ALL_STATES ",\"transitions\":[{\"name\":\"stay\",\"from\":\"PENDING\","
            "\"to\":\"PENDING\"}]}",
            "to itself");
    refuses("{" ALL_STATES ",\"transitions\":[{\"name\":\"Bad Name\",\"from\":\"PENDING\","
            "\"to\":\"EXECUTING\"}]}",
            "\"name\"");
}

static void missing_file_is_an_io_error(void **state)
{
    struct lifecycle *lc;
    char err[256] = "";

    (void)state;
    assert_int_equal(lifecycle_load("/nonexistent/lifecycle.json", &lc, err, sizeof err), IE_IO);
    assert_non_null(strstr(err, "/nonexistent/lifecycle.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_has_exactly_the_expected_transitions),
        cmocka_unit_test(allowed_agrees_with_the_table_for_every_pair),
        cmocka_unit_test(last_four_states_are_terminal),
        cmocka_unit_test(state_names_round_trip),
        cmocka_unit_test(change_state_moves_along_an_allowed_transition),
        cmocka_unit_test(change_state_refuses_a_move_not_in_the_table),
        cmocka_unit_test(impossible_state_value_aborts),
        cmocka_unit_test(sql_pairs_render_the_table_in_file_order),
        cmocka_unit_test(sql_pairs_report_a_full_buffer),
        cmocka_unit_test(bad_tables_are_refused),
        cmocka_unit_test(missing_file_is_an_io_error),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
