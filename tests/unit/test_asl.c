/* Unit tests for engine/asl.c and engine/asl_run.c: load-time validation messages, Pass and
 * Choice interpretation, Parameters and the path fields, Retry/Catch decisions, Wait variants,
 * and the workflows shipped in statemachines/. JSON in this file is written with single quotes
 * (J() turns them into double quotes) to keep it readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

#ifndef INTENTD_SOURCE_STATEMACHINES_DIR
#define INTENTD_SOURCE_STATEMACHINES_DIR "statemachines"
#endif

static json_t *J(const char *text)
{
    char *s = strdup(text);
    json_error_t e;
    json_t *d;

    assert_non_null(s);
    for (char *p = s; *p != '\0'; p++)
        if (*p == '\'')
            *p = '"';
    d = json_loads(s, JSON_DECODE_ANY, &e);
    if (d == NULL)
        fail_msg("bad test JSON (%s): %s", e.text, s);
    free(s);
    return d;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
    json_t *want = J(want_text);

    if (!json_equal(got, want)) {
        char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

        print_error("got %s\nwant %s\n", s ? s : "(null)", want_text);
        free(s);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

static struct asl_machine *load(const char *text)
{
    struct asl_machine *m = NULL;
    json_t *doc = J(text);
    char err[512] = "";

    if (asl_load_json("t", doc, &m, err, sizeof err) != 0)
        fail_msg("load failed: %s", err);
    json_decref(doc);
    return m;
}

/* Asserts that text is rejected and that the message contains each of the needles. */
static void rejects(const char *text, const char *needle1, const char *needle2)
{
    struct asl_machine *m = (struct asl_machine *)1;
    json_t *doc = J(text);
    char err[512] = "";

    assert_int_equal(asl_load_json("t", doc, &m, err, sizeof err), IE_PARSE);
    assert_null(m);
    json_decref(doc);
    if (strstr(err, needle1) == NULL || (needle2 != NULL && strstr(err, needle2) == NULL))
        fail_msg("message \"%s\" lacks \"%s\" / \"%s\"", err, needle1, needle2 ? needle2 : "");
}

/* Runs asl_advance from state on input and returns the step (clear it). */
static struct asl_step advance(const struct asl_machine *m, const char *state, const char *input)
{
    struct asl_step s;
    json_t *in = J(input);
    char err[256] = "";

    if (asl_advance(m, state, in, &s, err, sizeof err) != 0)
        fail_msg("asl_advance failed: %s", err);
    json_decref(in);
    return s;
}

#define TASK(extra) "{'Type':'Task','Resource':'arn:aws:intentd:::crm.create_task'" extra "}"
#define ONE(state)  "{'StartAt':'A','States':{'A':" state "}}"

/* ---- load-time validation ---- */

static void unknown_state_type_is_rejected_naming_the_state(void **state)
{
    (void)state;
    rejects(ONE("{'Type':'Parallel','End':true}"), "state \"A\"", "unknown state type");
}

static void missing_next_and_end_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK("")), "state \"A\"", "needs Next or");
}

static void next_and_end_together_are_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'A','States':{'A':{'Type':'Pass','Next':'B','End':true},"
            "'B':{'Type':'Succeed'}}}",
            "state \"A\"", "both Next and End");
}

static void next_to_missing_state_is_rejected(void **state)
{
    (void)state;
    rejects(ONE("{'Type':'Pass','Next':'Nowhere'}"), "state \"A\"", "Next \"Nowhere\"");
}

static void default_to_missing_state_is_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.x',"
            "'IsPresent':true,'Next':'S'}],'Default':'Gone'},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "Default \"Gone\"");
}

static void choice_next_to_missing_state_is_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.x',"
            "'IsPresent':true,'Next':'Gone'}],'Default':'S'},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "Choices[0].Next \"Gone\"");
}

static void catch_to_missing_state_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Catch':[{'ErrorEquals':['States.ALL'],'Next':'Gone'}]")),
            "state \"A\"", "Catch[0].Next \"Gone\"");
}

static void startat_to_missing_state_is_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'Zed','States':{'A':{'Type':'Succeed'}}}", "StartAt \"Zed\"",
            "names no state");
}

static void unreachable_state_is_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'A','States':{'A':{'Type':'Succeed'},'Lost':{'Type':'Succeed'}}}",
            "state \"Lost\"", "unreachable");
}

static void bad_jsonpath_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'InputPath':'$..x'")), "state \"A\"", "InputPath");
    rejects(ONE("{'Type':'Pass','End':true,'ResultPath':'x'}"), "state \"A\"", "ResultPath");
}

static void context_path_in_parameters_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Parameters':{'a':{'id.$':'$$.Execution.Id'}}")), "state \"A\"",
            "context paths");
}

static void intrinsic_function_in_parameters_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Parameters':{'s.$':'States.Format(1)'}")), "state \"A\"",
            "intrinsic");
}

static void unknown_field_in_state_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'HeartbeatSeconds':5")), "state \"A\"",
            "\"HeartbeatSeconds\" is not allowed");
    rejects(ONE("{'Type':'Succeed','Next':'A'}"), "state \"A\"", "\"Next\" is not allowed");
}

static void unknown_top_level_field_is_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'A','Bogus':1,'States':{'A':{'Type':'Succeed'}}}", "\"Bogus\"", NULL);
}

static void states_all_not_last_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL']},"
                     "{'ErrorEquals':['Connector.Transient']}]")),
            "state \"A\"", "must be the last");
    rejects(ONE(TASK(",'End':true,'Catch':[{'ErrorEquals':['States.ALL'],'Next':'A'},"
                     "{'ErrorEquals':['Connector.Transient'],'Next':'A'}]")),
            "state \"A\"", "must be the last");
}

static void states_all_with_other_names_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['Connector.Transient','States.ALL']}"
                     "]")),
            "state \"A\"", "alone");
}

static void unknown_error_name_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['Connector.Transiant']}]")),
            "state \"A\"", "Connector.Transiant");
}

static void negative_numbers_are_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL'],"
                     "'IntervalSeconds':-1}]")),
            "state \"A\"", "IntervalSeconds");
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL'],'MaxAttempts':-2}]")),
            "state \"A\"", "MaxAttempts");
    rejects(ONE(TASK(",'End':true,'TimeoutSeconds':-5")), "state \"A\"", "TimeoutSeconds");
    rejects(ONE("{'Type':'Wait','Seconds':-1,'End':true}"), "state \"A\"", "Seconds");
}

static void backoff_rate_below_one_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL'],"
                     "'BackoffRate':0.5}]")),
            "state \"A\"", "BackoffRate");
}

static void bad_jitter_strategy_is_rejected(void **state)
{
    (void)state;
    rejects(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL'],"
                     "'JitterStrategy':'SOME'}]")),
            "state \"A\"", "JitterStrategy");
}

static void resource_outside_intentd_form_is_rejected(void **state)
{
    (void)state;
    rejects(ONE("{'Type':'Task','Resource':'arn:aws:states:::lambda:invoke','End':true}"),
            "state \"A\"", "Resource");
    rejects(ONE("{'Type':'Task','Resource':'arn:aws:intentd:::crm','End':true}"), "state \"A\"",
            "Resource");
}

static void choice_rule_errors_are_rejected(void **state)
{
    (void)state;
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.x',"
            "'NumericEquals':'1','Next':'S'}]},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "NumericEquals must be a number");
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.x',"
            "'IsPresent':true}]},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "missing Next");
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Variable':'$.x',"
            "'StringFoo':'a','Next':'S'}]},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "StringFoo");
    rejects("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[{'Not':{'Variable':'$.x',"
            "'IsNull':true,'Next':'S'},'Next':'S'}]},'S':{'Type':'Succeed'}}}",
            "state \"C\"", "must not have Next");
}

static void wait_needs_exactly_one_duration_field(void **state)
{
    (void)state;
    rejects(ONE("{'Type':'Wait','Seconds':1,'SecondsPath':'$.s','End':true}"), "state \"A\"",
            "exactly one");
    rejects(ONE("{'Type':'Wait','End':true}"), "state \"A\"", "exactly one");
    rejects(ONE("{'Type':'Wait','Timestamp':'tomorrow','End':true}"), "state \"A\"", "RFC 3339");
}

static void load_file_names_the_file_and_the_machine(void **state)
{
    const char *path = "/tmp/intentd_test_asl.bad.asl.json";
    struct asl_machine *m;
    char err[512] = "";
    FILE *f = fopen(path, "w");

    (void)state;
    assert_non_null(f);
    fputs("{\"StartAt\": ", f);
    fclose(f);
    assert_int_equal(asl_load_file(path, &m, err, sizeof err), IE_PARSE);
    assert_non_null(strstr(err, path));
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Succeed\"}}}", f);
    fclose(f);
    assert_int_equal(asl_load_file(path, &m, err, sizeof err), 0);
    assert_string_equal(asl_name(m), "intentd_test_asl.bad");
    asl_free(m);
    remove(path);
    assert_int_equal(asl_load_file("/nonexistent/x.asl.json", &m, err, sizeof err), IE_IO);
}

static void task_accessors_expose_resource_compensate_and_retry_defaults(void **state)
{
    struct asl_machine *m =
        load(ONE(TASK(",'Compensate':'delete_task','End':true,'TimeoutSeconds':9,"
                      "'Retry':[{'ErrorEquals':['Connector.Transient']}]")));
    const struct asl_state *t;

    (void)state;
    assert_int_equal(asl_task_count(m), 1);
    t = asl_task_at(m, 0);
    assert_string_equal(asl_resource_of(t), "crm.create_task");
    assert_string_equal(t->connector, "crm");
    assert_string_equal(t->compensate, "crm.delete_task");
    assert_int_equal(t->timeout_seconds, 9);
    assert_int_equal(t->nretry, 1);
    assert_int_equal(t->retry[0].interval_seconds, 1);
    assert_true(t->retry[0].backoff_rate == 2.0);
    assert_int_equal(t->retry[0].max_attempts, 3);
    assert_false(t->retry[0].jitter_full);
    assert_null(asl_task_at(m, 1));
    assert_string_equal(asl_start_at(m), "A");
    asl_free(m);
}

/* ---- Pass, Parameters and the path fields ---- */

static void pass_applies_result_resultpath_and_outputpath(void **state)
{
    struct asl_machine *m =
        load("{'StartAt':'P','States':{'P':{'Type':'Pass','Result':{'v':1},"
             "'ResultPath':'$.r','OutputPath':'$.r','Next':'S'},'S':{'Type':'Succeed'}}}");
    struct asl_step s = advance(m, "P", "{'in':true}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_SUCCEED);
    assert_string_equal(s.state, "S");
    assert_json_eq(s.input, "{'v':1}");
    assert_json_eq(s.output, "{'v':1}");
    asl_step_clear(&s);
    asl_free(m);
}

static void pass_with_end_succeeds_with_its_output(void **state)
{
    struct asl_machine *m = load(ONE("{'Type':'Pass','InputPath':'$.a','End':true}"));
    struct asl_step s = advance(m, "A", "{'a':[1,2]}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_SUCCEED);
    assert_json_eq(s.output, "[1,2]");
    asl_step_clear(&s);
    asl_free(m);
}

static void parameters_resolve_dollar_keys_recursively(void **state)
{
    struct asl_machine *m =
        load(ONE(TASK(",'End':true,'InputPath':'$.p','Parameters':{'title.$':'$.t','fixed':'x',"
                      "'nested':{'who.$':'$[\\\"a b\\\"][0]','n':[1,{'k.$':'$.t'}]}}")));
    struct asl_step s;

    (void)state;
    s = advance(m, "A", "{'p':{'t':'Call','a b':['bo']},'other':1}");
    assert_int_equal(s.kind, ASL_STEP_TASK);
    assert_json_eq(s.parameters,
                   "{'title':'Call','fixed':'x','nested':{'who':'bo','n':[1,{'k':'Call'}]}}");
    assert_json_eq(s.input, "{'p':{'t':'Call','a b':['bo']},'other':1}");
    asl_step_clear(&s);
    asl_free(m);
}

static void parameters_path_matching_nothing_is_a_runtime_failure(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'End':true,'Parameters':{'title.$':'$.missing'}")));
    struct asl_step s = advance(m, "A", "{}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, ASL_ERR_RUNTIME);
    assert_non_null(strstr(s.cause, "$.missing"));
    assert_string_equal(s.state, "A");
    assert_null(s.parameters);
    asl_step_clear(&s);
    asl_free(m);
}

static void inputpath_null_gives_empty_object(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'End':true,'InputPath':null")));
    struct asl_step s = advance(m, "A", "{'a':1}");

    (void)state;
    assert_json_eq(s.parameters, "{}");
    asl_step_clear(&s);
    asl_free(m);
}

static void task_step_reports_resource_compensate_and_timeout(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'Compensate':'undo','TimeoutSeconds':12,'End':true")));
    struct asl_step s = advance(m, "A", "{'x':1}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_TASK);
    assert_string_equal(s.resource, "crm.create_task");
    assert_string_equal(s.compensate, "crm.undo");
    assert_int_equal(s.timeout_seconds, 12);
    assert_json_eq(s.parameters, "{'x':1}");
    asl_step_clear(&s);
    asl_free(m);
}

static void task_succeeded_applies_resultpath_then_outputpath(void **state)
{
    struct asl_machine *m =
        load("{'StartAt':'A','States':{'A':" TASK(",'ResultPath':'$.res.id','OutputPath':'$.res',"
                                                  "'Next':'B'") ",'B':{'Type':'Succeed'}}}");
    json_t *in = J("{'a':1}"), *result = J("'t_9'");
    struct asl_next n;

    (void)state;
    assert_int_equal(asl_task_succeeded(m, "A", in, result, &n), 0);
    assert_int_equal(n.kind, ASL_NEXT_STATE);
    assert_string_equal(n.state, "B");
    assert_json_eq(n.output, "{'id':'t_9'}");
    assert_json_eq(in, "{'a':1}"); /* the caller's input is not modified */
    asl_next_clear(&n);
    json_decref(in);
    json_decref(result);
    asl_free(m);
}

static void task_succeeded_with_null_resultpath_keeps_input_and_ends(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'ResultPath':null,'End':true")));
    json_t *in = J("{'a':1}"), *result = J("{'big':true}");
    struct asl_next n;

    (void)state;
    assert_int_equal(asl_task_succeeded(m, "A", in, result, &n), 0);
    assert_int_equal(n.kind, ASL_NEXT_END);
    assert_null(n.state);
    assert_json_eq(n.output, "{'a':1}");
    asl_next_clear(&n);
    json_decref(in);
    json_decref(result);
    asl_free(m);
}

static void task_succeeded_with_default_resultpath_outputs_the_result(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'End':true")));
    json_t *in = J("{'a':1}"), *result = J("{'id':5}");
    struct asl_next n;

    (void)state;
    assert_int_equal(asl_task_succeeded(m, "A", in, result, &n), 0);
    assert_json_eq(n.output, "{'id':5}");
    asl_next_clear(&n);
    json_decref(in);
    json_decref(result);
    asl_free(m);
}

static void resultpath_through_a_scalar_is_a_runtime_failure(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'ResultPath':'$.a.b','End':true")));
    json_t *in = J("{'a':1}"), *result = J("2");
    struct asl_next n;

    (void)state;
    assert_int_equal(asl_task_succeeded(m, "A", in, result, &n), 0);
    assert_int_equal(n.kind, ASL_NEXT_FAIL);
    assert_string_equal(n.error, ASL_ERR_RUNTIME);
    asl_next_clear(&n);
    json_decref(in);
    json_decref(result);
    asl_free(m);
}

static void wrong_state_kind_or_name_is_an_api_error(void **state)
{
    struct asl_machine *m = load(ONE("{'Type':'Succeed'}"));
    json_t *in = J("{}");
    struct asl_next n;
    struct asl_step s;
    char err[128];

    (void)state;
    assert_int_equal(asl_task_succeeded(m, "A", in, in, &n), IE_INVAL);
    assert_int_equal(asl_wait_next(m, "Z", in, &n), IE_NOTFOUND);
    assert_int_equal(asl_advance(m, "Z", in, &s, err, sizeof err), IE_NOTFOUND);
    assert_non_null(strstr(err, "\"Z\""));
    json_decref(in);
    asl_free(m);
}

/* ---- Choice ---- */

/* A machine whose Choice has one rule (rule_text, without Next) leading to "Yes", Default "No". */
static bool choose(const char *rule_text, const char *input)
{
    char text[2048];
    struct asl_machine *m;
    struct asl_step s;
    bool yes;

    /* rule_text ends with '}': splice the Next in before it. */
    snprintf(text, sizeof text,
             "{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':[%.*s,'Next':'Yes'}],"
             "'Default':'No'},'Yes':{'Type':'Succeed'},'No':{'Type':'Succeed'}}}",
             (int)strlen(rule_text) - 1, rule_text);
    m = load(text);
    s = advance(m, "C", input);
    if (s.kind != ASL_STEP_SUCCEED)
        fail_msg("rule %s on %s: %s %s", rule_text, input, s.error, s.cause);
    yes = strcmp(s.state, "Yes") == 0;
    asl_step_clear(&s);
    asl_free(m);
    return yes;
}

static void choice_string_comparators(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.s','StringEquals':'b'}", "{'s':'b'}"));
    assert_false(choose("{'Variable':'$.s','StringEquals':'b'}", "{'s':'c'}"));
    assert_false(choose("{'Variable':'$.s','StringEquals':'1'}", "{'s':1}"));
    assert_true(choose("{'Variable':'$.s','StringLessThan':'b'}", "{'s':'a'}"));
    assert_false(choose("{'Variable':'$.s','StringLessThan':'b'}", "{'s':'b'}"));
    assert_true(choose("{'Variable':'$.s','StringLessThanEquals':'b'}", "{'s':'b'}"));
    assert_true(choose("{'Variable':'$.s','StringGreaterThan':'b'}", "{'s':'c'}"));
    assert_false(choose("{'Variable':'$.s','StringGreaterThan':'b'}", "{'s':'b'}"));
    assert_true(choose("{'Variable':'$.s','StringGreaterThanEquals':'b'}", "{'s':'b'}"));
    assert_false(choose("{'Variable':'$.s','StringGreaterThanEquals':'b'}", "{'s':'a'}"));
}

static void choice_numeric_comparators(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.n','NumericEquals':2}", "{'n':2.0}"));
    assert_false(choose("{'Variable':'$.n','NumericEquals':2}", "{'n':'2'}"));
    assert_true(choose("{'Variable':'$.n','NumericLessThan':2.5}", "{'n':2}"));
    assert_false(choose("{'Variable':'$.n','NumericLessThan':2}", "{'n':2}"));
    assert_true(choose("{'Variable':'$.n','NumericLessThanEquals':2}", "{'n':2}"));
    assert_true(choose("{'Variable':'$.n','NumericGreaterThan':-1}", "{'n':0}"));
    assert_false(choose("{'Variable':'$.n','NumericGreaterThan':0}", "{'n':0}"));
    assert_true(choose("{'Variable':'$.n','NumericGreaterThanEquals':0}", "{'n':0}"));
}

static void choice_boolean_comparator(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.b','BooleanEquals':true}", "{'b':true}"));
    assert_false(choose("{'Variable':'$.b','BooleanEquals':true}", "{'b':false}"));
    assert_false(choose("{'Variable':'$.b','BooleanEquals':false}", "{'b':0}"));
}

static void choice_timestamp_comparators(void **state)
{
    const char *in = "{'t':'2026-01-01T10:00:00+01:00'}";

    (void)state;
    assert_true(choose("{'Variable':'$.t','TimestampEquals':'2026-01-01T09:00:00Z'}", in));
    assert_true(choose("{'Variable':'$.t','TimestampLessThan':'2026-01-01T09:00:01Z'}", in));
    assert_false(choose("{'Variable':'$.t','TimestampLessThan':'2026-01-01T09:00:00Z'}", in));
    assert_true(choose("{'Variable':'$.t','TimestampLessThanEquals':'2026-01-01T09:00:00Z'}", in));
    assert_true(choose("{'Variable':'$.t','TimestampGreaterThan':'2025-12-31T23:59:59Z'}", in));
    assert_true(
        choose("{'Variable':'$.t','TimestampGreaterThanEquals':'2026-01-01T09:00:00Z'}", in));
    assert_false(choose("{'Variable':'$.t','TimestampEquals':'2026-01-01T09:00:00Z'}",
                        "{'t':'not a time'}"));
}

static void choice_type_tests(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.x','IsPresent':true}", "{'x':null}"));
    assert_false(choose("{'Variable':'$.x','IsPresent':true}", "{}"));
    assert_true(choose("{'Variable':'$.x','IsPresent':false}", "{}"));
    assert_true(choose("{'Variable':'$.x','IsNull':true}", "{'x':null}"));
    assert_true(choose("{'Variable':'$.x','IsNull':false}", "{'x':0}"));
    assert_true(choose("{'Variable':'$.x','IsString':true}", "{'x':'s'}"));
    assert_false(choose("{'Variable':'$.x','IsString':true}", "{'x':1}"));
    assert_true(choose("{'Variable':'$.x','IsNumeric':true}", "{'x':1.5}"));
    assert_true(choose("{'Variable':'$.x','IsBoolean':true}", "{'x':false}"));
    assert_true(choose("{'Variable':'$.x','IsTimestamp':true}", "{'x':'2026-02-28T00:00:00Z'}"));
    assert_false(choose("{'Variable':'$.x','IsTimestamp':true}", "{'x':'2026-02-30T00:00:00Z'}"));
}

static void choice_string_matches_wildcards(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.s','StringMatches':'log-*.txt'}", "{'s':'log-1.txt'}"));
    assert_true(choose("{'Variable':'$.s','StringMatches':'*'}", "{'s':''}"));
    assert_true(choose("{'Variable':'$.s','StringMatches':'a*b*c'}", "{'s':'aXbYbZc'}"));
    assert_false(choose("{'Variable':'$.s','StringMatches':'a*b*c'}", "{'s':'aXbYcZ'}"));
    assert_true(choose("{'Variable':'$.s','StringMatches':'a\\\\*'}", "{'s':'a*'}"));
    assert_false(choose("{'Variable':'$.s','StringMatches':'a\\\\*'}", "{'s':'ab'}"));
}

static void choice_path_variants_compare_two_input_values(void **state)
{
    (void)state;
    assert_true(choose("{'Variable':'$.a','NumericEqualsPath':'$.b'}", "{'a':3,'b':3}"));
    assert_false(choose("{'Variable':'$.a','NumericLessThanPath':'$.b'}", "{'a':3,'b':3}"));
    assert_true(choose("{'Variable':'$.a','StringGreaterThanPath':'$.b'}", "{'a':'z','b':'y'}"));
    assert_true(choose("{'Variable':'$.a','BooleanEqualsPath':'$.b'}", "{'a':true,'b':true}"));
    assert_true(choose("{'Variable':'$.a','TimestampLessThanPath':'$.b'}",
                       "{'a':'2026-01-01T00:00:00Z','b':'2026-01-02T00:00:00Z'}"));
}

static void choice_and_or_not_combine_rules(void **state)
{
    const char *and_rule = "{'And':[{'Variable':'$.x','IsPresent':true},"
                           "{'Variable':'$.x','NumericGreaterThan':1}]}";
    const char *or_rule = "{'Or':[{'Variable':'$.a','BooleanEquals':true},"
                          "{'Variable':'$.b','BooleanEquals':true}]}";
    const char *not_rule = "{'Not':{'Variable':'$.s','StringEquals':'x'}}";

    (void)state;
    assert_true(choose(and_rule, "{'x':2}"));
    assert_false(choose(and_rule, "{'x':1}"));
    assert_false(choose(and_rule, "{}")); /* short-circuits before the missing variable */
    assert_true(choose(or_rule, "{'a':false,'b':true}"));
    assert_false(choose(or_rule, "{'a':false,'b':false}"));
    assert_true(choose(not_rule, "{'s':'y'}"));
    assert_false(choose(not_rule, "{'s':'x'}"));
}

static void choice_takes_first_matching_rule_and_applies_its_paths(void **state)
{
    struct asl_machine *m = load(
        "{'StartAt':'C','States':{'C':{'Type':'Choice','InputPath':'$.in','OutputPath':'$.keep',"
        "'Choices':[{'Variable':'$.n','NumericGreaterThan':0,'Next':'One'},"
        "{'Variable':'$.n','NumericGreaterThan':1,'Next':'Two'}]},"
        "'One':{'Type':'Succeed'},'Two':{'Type':'Succeed'}}}");
    struct asl_step s = advance(m, "C", "{'in':{'n':5,'keep':{'k':1}}}");

    (void)state;
    assert_string_equal(s.state, "One");
    assert_json_eq(s.output, "{'k':1}");
    asl_step_clear(&s);
    asl_free(m);
}

static void choice_without_match_or_default_fails_no_choice_matched(void **state)
{
    struct asl_machine *m = load("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':"
                                 "[{'Variable':'$.n','NumericEquals':1,'Next':'S'}]},"
                                 "'S':{'Type':'Succeed'}}}");
    struct asl_step s = advance(m, "C", "{'n':2}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, ASL_ERR_NO_CHOICE);
    assert_string_equal(s.state, "C");
    asl_step_clear(&s);
    asl_free(m);
}

static void choice_variable_missing_is_a_runtime_failure(void **state)
{
    struct asl_machine *m = load("{'StartAt':'C','States':{'C':{'Type':'Choice','Choices':"
                                 "[{'Variable':'$.n','NumericEquals':1,'Next':'S'}],"
                                 "'Default':'S'},'S':{'Type':'Succeed'}}}");
    struct asl_step s = advance(m, "C", "{}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, ASL_ERR_RUNTIME);
    assert_non_null(strstr(s.cause, "$.n"));
    asl_step_clear(&s);
    asl_free(m);
}

static void pass_choice_loop_stops_at_the_hop_limit(void **state)
{
    struct asl_machine *m = load("{'StartAt':'P','States':{'P':{'Type':'Pass','Next':'C'},"
                                 "'C':{'Type':'Choice','Choices':[{'Variable':'$.stop',"
                                 "'IsPresent':true,'Next':'S'}],'Default':'P'},"
                                 "'S':{'Type':'Succeed'}}}");
    struct asl_step s = advance(m, "P", "{}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, ASL_ERR_RUNTIME);
    assert_non_null(strstr(s.cause, "loop"));
    asl_step_clear(&s);
    asl_free(m);
}

static void fail_state_reports_error_and_cause(void **state)
{
    struct asl_machine *m = load(ONE("{'Type':'Fail','Error':'Custom.Bad','Cause':'why'}"));
    struct asl_step s = advance(m, "A", "{}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, "Custom.Bad");
    assert_string_equal(s.cause, "why");
    asl_step_clear(&s);
    asl_free(m);
}

/* ---- Retry and Catch ---- */

#define RETRY_MACHINE                                                                              \
    "{'StartAt':'A','States':{'A':" TASK(                                                          \
        ",'Next':'Done','Retry':["                                                                 \
        "{'ErrorEquals':['Connector.RateLimited'],'IntervalSeconds':5,'MaxAttempts':1},"           \
        "{'ErrorEquals':['Connector.Transient','States.Timeout'],'IntervalSeconds':2,"             \
        "'BackoffRate':3,'MaxAttempts':4,'MaxDelaySeconds':40,'JitterStrategy':'FULL'},"           \
        "{'ErrorEquals':['States.TaskFailed'],'MaxAttempts':0}],"                                  \
        "'Catch':[{'ErrorEquals':['Connector.Permanent'],'Next':'Handle',"                         \
        "'ResultPath':'$.error'},{'ErrorEquals':['States.ALL'],'Next':'Handle'}]") ","             \
                                                                                   "'Handle':{'"   \
                                                                                   "Type':'Fail'}" \
                                                                                   ",'Done':{'"    \
                                                                                   "Type':'"       \
                                                                                   "Succeed'}}}"

static struct asl_error_decision decide(const struct asl_machine *m, const char *error,
                                        int attempts, double rand01)
{
    struct asl_error_decision d;
    json_t *in = J("{'a':1}");

    assert_int_equal(asl_task_failed(m, "A", in, error, "boom", attempts, rand01, &d), 0);
    json_decref(in);
    return d;
}

static void retry_uses_the_first_matching_retrier(void **state)
{
    struct asl_machine *m = load(RETRY_MACHINE);
    struct asl_error_decision d = decide(m, "Connector.RateLimited", 1, 1.0);

    (void)state;
    assert_int_equal(d.kind, ASL_DECIDE_RETRY);
    assert_int_equal(d.retrier, 0);
    assert_true(d.delay_seconds == 5.0);
    asl_decision_clear(&d);
    d = decide(m, "Connector.Transient", 1, 1.0);
    assert_int_equal(d.retrier, 1);
    asl_decision_clear(&d);
    asl_free(m);
}

static void retry_backoff_grows_and_is_capped(void **state)
{
    struct asl_machine *m = load(RETRY_MACHINE);
    const double want[] = {2, 6, 18, 40}; /* 2*3^0, 2*3^1, 2*3^2, min(54, 40) */

    (void)state;
    for (int a = 1; a <= 4; a++) {
        struct asl_error_decision d = decide(m, "Connector.Transient", a, 1.0);

        assert_int_equal(d.kind, ASL_DECIDE_RETRY);
        if (d.delay_seconds != want[a - 1])
            fail_msg("attempt %d: delay %g, want %g", a, d.delay_seconds, want[a - 1]);
        asl_decision_clear(&d);
    }
    asl_free(m);
}

static void full_jitter_scales_delay_by_rand01(void **state)
{
    struct asl_machine *m = load(RETRY_MACHINE);
    struct asl_error_decision d = decide(m, "States.Timeout", 2, 0.5);

    (void)state;
    assert_true(d.delay_seconds == 3.0);
    asl_decision_clear(&d);
    d = decide(m, "Connector.RateLimited", 1, 0.5); /* NONE jitter: unaffected */
    assert_true(d.delay_seconds == 5.0);
    asl_decision_clear(&d);
    asl_free(m);
}

static void exhausted_retrier_falls_through_to_catch(void **state)
{
    struct asl_machine *m = load(RETRY_MACHINE);
    struct asl_error_decision d = decide(m, "Connector.RateLimited", 2, 1.0);

    (void)state;
    /* The RateLimited Retrier is exhausted; later Retriers are not consulted. */
    assert_int_equal(d.kind, ASL_DECIDE_CATCH);
    assert_int_equal(d.catcher, 1);
    assert_string_equal(d.state, "Handle");
    assert_json_eq(d.output, "{'Error':'Connector.RateLimited','Cause':'boom'}");
    asl_decision_clear(&d);
    asl_free(m);
}

static void catch_places_error_at_its_resultpath(void **state)
{
    struct asl_machine *m = load(RETRY_MACHINE);
    struct asl_error_decision d = decide(m, "Connector.Permanent", 1, 1.0);

    (void)state;
    /* Connector.Permanent matches States.TaskFailed, whose MaxAttempts is 0: no retry. */
    assert_int_equal(d.kind, ASL_DECIDE_CATCH);
    assert_int_equal(d.catcher, 0);
    assert_json_eq(d.output, "{'a':1,'error':{'Error':'Connector.Permanent','Cause':'boom'}}");
    asl_decision_clear(&d);
    asl_free(m);
}

static void max_attempts_zero_never_retries(void **state)
{
    struct asl_machine *m = load(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.ALL'],"
                                          "'MaxAttempts':0}]")));
    struct asl_error_decision d = decide(m, "Connector.Transient", 1, 1.0);

    (void)state;
    assert_int_equal(d.kind, ASL_DECIDE_FAIL);
    assert_null(d.output);
    asl_decision_clear(&d);
    asl_free(m);
}

static void retries_exhausted_without_catch_fail(void **state)
{
    struct asl_machine *m =
        load(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['Connector.Transient']}]")));
    struct asl_error_decision d;

    (void)state;
    for (int a = 1; a <= 3; a++) {
        d = decide(m, "Connector.Transient", a, 1.0);
        assert_int_equal(d.kind, ASL_DECIDE_RETRY);
        asl_decision_clear(&d);
    }
    d = decide(m, "Connector.Transient", 4, 1.0);
    assert_int_equal(d.kind, ASL_DECIDE_FAIL);
    asl_decision_clear(&d);
    d = decide(m, "Connector.Permanent", 1, 1.0); /* no Retrier matches */
    assert_int_equal(d.kind, ASL_DECIDE_FAIL);
    asl_decision_clear(&d);
    asl_free(m);
}

static void states_all_matches_everything_but_runtime_errors(void **state)
{
    struct asl_machine *m = load("{'StartAt':'A','States':{'A':" TASK(
        ",'End':true,'Catch':[{'ErrorEquals':['States.ALL'],'Next':'H','ResultPath':"
        "null}]") ","
                  "'H':{'Type':'Succeed'}}}");
    struct asl_error_decision d = decide(m, "States.Timeout", 1, 1.0);

    (void)state;
    assert_int_equal(d.kind, ASL_DECIDE_CATCH);
    assert_json_eq(d.output, "{'a':1}"); /* ResultPath null: input unchanged */
    asl_decision_clear(&d);
    d = decide(m, "Connector.Unauthorized", 1, 1.0);
    assert_int_equal(d.kind, ASL_DECIDE_CATCH);
    asl_decision_clear(&d);
    d = decide(m, ASL_ERR_RUNTIME, 1, 1.0);
    assert_int_equal(d.kind, ASL_DECIDE_FAIL);
    asl_decision_clear(&d);
    asl_free(m);
}

static void task_failed_matches_all_but_timeout(void **state)
{
    struct asl_machine *m =
        load(ONE(TASK(",'End':true,'Retry':[{'ErrorEquals':['States.TaskFailed']}]")));
    struct asl_error_decision d = decide(m, "Connector.Unauthorized", 1, 1.0);

    (void)state;
    assert_int_equal(d.kind, ASL_DECIDE_RETRY);
    asl_decision_clear(&d);
    d = decide(m, "States.Timeout", 1, 1.0);
    assert_int_equal(d.kind, ASL_DECIDE_FAIL);
    asl_decision_clear(&d);
    asl_free(m);
}

/* ---- Wait ---- */

static struct asl_step wait_step(const char *wait_fields, const char *input)
{
    char text[512];
    struct asl_machine *m;
    struct asl_step s;

    snprintf(text, sizeof text, ONE("{'Type':'Wait',%s,'End':true}"), wait_fields);
    m = load(text);
    s = advance(m, "A", input);
    asl_free(m);
    return s;
}

static void wait_seconds_gives_a_relative_delay(void **state)
{
    struct asl_step s = wait_step("'Seconds':7", "{}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_WAIT);
    assert_false(s.wait_absolute);
    assert_int_equal(s.wait_seconds, 7);
    asl_step_clear(&s);
}

static void wait_timestamp_gives_an_absolute_time(void **state)
{
    struct asl_step s = wait_step("'Timestamp':'2026-11-21T10:00:00Z'", "{}");

    (void)state;
    assert_true(s.wait_absolute);
    assert_true(s.wait_until == 1795255200.0);
    asl_step_clear(&s);
}

static void wait_seconds_path_reads_the_input(void **state)
{
    struct asl_step s = wait_step("'SecondsPath':'$.d'", "{'d':3}");

    (void)state;
    assert_int_equal(s.kind, ASL_STEP_WAIT);
    assert_int_equal(s.wait_seconds, 3);
    asl_step_clear(&s);
    s = wait_step("'SecondsPath':'$.d'", "{'d':'3'}");
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, ASL_ERR_RUNTIME);
    asl_step_clear(&s);
}

static void wait_timestamp_path_reads_the_input(void **state)
{
    struct asl_step s = wait_step("'TimestampPath':'$.t'", "{'t':'1970-01-02T00:00:00.5Z'}");

    (void)state;
    assert_true(s.wait_absolute);
    assert_true(s.wait_until == 86400.5);
    asl_step_clear(&s);
    s = wait_step("'TimestampPath':'$.t'", "{}");
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    asl_step_clear(&s);
}

static void wait_next_applies_paths_and_names_next(void **state)
{
    struct asl_machine *m = load("{'StartAt':'W','States':{'W':{'Type':'Wait','Seconds':1,"
                                 "'OutputPath':'$.k','Next':'S'},'S':{'Type':'Succeed'}}}");
    json_t *in = J("{'k':{'v':2}}");
    struct asl_next n;

    (void)state;
    assert_int_equal(asl_wait_next(m, "W", in, &n), 0);
    assert_int_equal(n.kind, ASL_NEXT_STATE);
    assert_string_equal(n.state, "S");
    assert_json_eq(n.output, "{'v':2}");
    asl_next_clear(&n);
    json_decref(in);
    asl_free(m);
}

static void timestamps_parse_per_rfc3339(void **state)
{
    double t;

    (void)state;
    assert_int_equal(asl_parse_timestamp("1970-01-01T00:00:00Z", &t), 0);
    assert_true(t == 0);
    assert_int_equal(asl_parse_timestamp("2000-02-29T12:00:00-02:30", &t), 0);
    assert_true(t == 951825600.0 + 9000.0);
    assert_int_equal(asl_parse_timestamp("2001-02-29T00:00:00Z", &t), IE_PARSE);
    assert_int_equal(asl_parse_timestamp("2026-11-21 10:00:00Z", &t), IE_PARSE);
    assert_int_equal(asl_parse_timestamp("2026-11-21T10:00:00", &t), IE_PARSE);
    assert_int_equal(asl_parse_timestamp("2026-11-21T10:00:00Zx", &t), IE_PARSE);
    assert_int_equal(asl_parse_timestamp("2026-13-01T00:00:00Z", &t), IE_PARSE);
}

/* ---- the shipped workflows ---- */

static void shipped_statemachines_all_load(void **state)
{
    DIR *d = opendir(INTENTD_SOURCE_STATEMACHINES_DIR);
    struct dirent *e;
    int loaded = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct asl_machine *m;
        char path[1024], err[512] = "";

        if (n < 9 || strcmp(e->d_name + n - 9, ".asl.json") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", INTENTD_SOURCE_STATEMACHINES_DIR, e->d_name);
        if (asl_load_file(path, &m, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_true(asl_task_count(m) >= 1);
        asl_free(m);
        loaded++;
    }
    closedir(d);
    assert_true(loaded >= 4);
}

static void follow_up_logs_waits_then_creates_a_task(void **state)
{
    struct asl_machine *m;
    struct asl_step s;
    struct asl_next n;
    json_t *result = J("{'id':'n1'}");
    char err[512] = "";

    (void)state;
    if (asl_load_file(INTENTD_SOURCE_STATEMACHINES_DIR "/internal.follow_up.asl.json", &m, err,
                      sizeof err) != 0)
        fail_msg("%s", err);
    assert_string_equal(asl_name(m), "internal.follow_up");
    s = advance(m, asl_start_at(m), "{'note':'called','title':'Call back'}");
    assert_int_equal(s.kind, ASL_STEP_TASK);
    assert_string_equal(s.resource, "internal.log_note");
    assert_json_eq(s.parameters, "{'body':'called'}");
    assert_int_equal(asl_task_succeeded(m, s.state, s.input, result, &n), 0);
    asl_step_clear(&s);
    assert_int_equal(n.kind, ASL_NEXT_STATE);
    s = advance(m, n.state, "{'note':'called','title':'Call back'}");
    assert_int_equal(s.kind, ASL_STEP_WAIT);
    assert_int_equal(s.wait_seconds, 1); /* the default */
    asl_next_clear(&n);
    assert_int_equal(asl_wait_next(m, s.state, s.input, &n), 0);
    asl_step_clear(&s);
    s = advance(m, n.state, "{'note':'x','wait_seconds':9,'title':'T'}");
    assert_int_equal(s.kind, ASL_STEP_TASK);
    assert_string_equal(s.resource, "internal.create_task");
    assert_string_equal(s.compensate, "internal.void_task");
    assert_json_eq(s.parameters, "{'title':'T'}");
    asl_step_clear(&s);
    asl_next_clear(&n);
    s = advance(m, "HasDelay", "{'wait_seconds':9}");
    assert_int_equal(s.wait_seconds, 9);
    asl_step_clear(&s);
    /* the workflow refuses a wait outside 0..86400 itself, before any Task runs */
    s = advance(m, asl_start_at(m), "{'note':'x','title':'T','wait_seconds':86401}");
    assert_int_equal(s.kind, ASL_STEP_FAIL);
    assert_string_equal(s.error, "Intentd.InvalidParameters");
    asl_step_clear(&s);
    json_decref(result);
    asl_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unknown_state_type_is_rejected_naming_the_state),
        cmocka_unit_test(missing_next_and_end_is_rejected),
        cmocka_unit_test(next_and_end_together_are_rejected),
        cmocka_unit_test(next_to_missing_state_is_rejected),
        cmocka_unit_test(default_to_missing_state_is_rejected),
        cmocka_unit_test(choice_next_to_missing_state_is_rejected),
        cmocka_unit_test(catch_to_missing_state_is_rejected),
        cmocka_unit_test(startat_to_missing_state_is_rejected),
        cmocka_unit_test(unreachable_state_is_rejected),
        cmocka_unit_test(bad_jsonpath_is_rejected),
        cmocka_unit_test(context_path_in_parameters_is_rejected),
        cmocka_unit_test(intrinsic_function_in_parameters_is_rejected),
        cmocka_unit_test(unknown_field_in_state_is_rejected),
        cmocka_unit_test(unknown_top_level_field_is_rejected),
        cmocka_unit_test(states_all_not_last_is_rejected),
        cmocka_unit_test(states_all_with_other_names_is_rejected),
        cmocka_unit_test(unknown_error_name_is_rejected),
        cmocka_unit_test(negative_numbers_are_rejected),
        cmocka_unit_test(backoff_rate_below_one_is_rejected),
        cmocka_unit_test(bad_jitter_strategy_is_rejected),
        cmocka_unit_test(resource_outside_intentd_form_is_rejected),
        cmocka_unit_test(choice_rule_errors_are_rejected),
        cmocka_unit_test(wait_needs_exactly_one_duration_field),
        cmocka_unit_test(load_file_names_the_file_and_the_machine),
        cmocka_unit_test(task_accessors_expose_resource_compensate_and_retry_defaults),
        cmocka_unit_test(pass_applies_result_resultpath_and_outputpath),
        cmocka_unit_test(pass_with_end_succeeds_with_its_output),
        cmocka_unit_test(parameters_resolve_dollar_keys_recursively),
        cmocka_unit_test(parameters_path_matching_nothing_is_a_runtime_failure),
        cmocka_unit_test(inputpath_null_gives_empty_object),
        cmocka_unit_test(task_step_reports_resource_compensate_and_timeout),
        cmocka_unit_test(task_succeeded_applies_resultpath_then_outputpath),
        cmocka_unit_test(task_succeeded_with_null_resultpath_keeps_input_and_ends),
        cmocka_unit_test(task_succeeded_with_default_resultpath_outputs_the_result),
        cmocka_unit_test(resultpath_through_a_scalar_is_a_runtime_failure),
        cmocka_unit_test(wrong_state_kind_or_name_is_an_api_error),
        cmocka_unit_test(choice_string_comparators),
        cmocka_unit_test(choice_numeric_comparators),
        cmocka_unit_test(choice_boolean_comparator),
        cmocka_unit_test(choice_timestamp_comparators),
        cmocka_unit_test(choice_type_tests),
        cmocka_unit_test(choice_string_matches_wildcards),
        cmocka_unit_test(choice_path_variants_compare_two_input_values),
        cmocka_unit_test(choice_and_or_not_combine_rules),
        cmocka_unit_test(choice_takes_first_matching_rule_and_applies_its_paths),
        cmocka_unit_test(choice_without_match_or_default_fails_no_choice_matched),
        cmocka_unit_test(choice_variable_missing_is_a_runtime_failure),
        cmocka_unit_test(pass_choice_loop_stops_at_the_hop_limit),
        cmocka_unit_test(fail_state_reports_error_and_cause),
        cmocka_unit_test(retry_uses_the_first_matching_retrier),
        cmocka_unit_test(retry_backoff_grows_and_is_capped),
        cmocka_unit_test(full_jitter_scales_delay_by_rand01),
        cmocka_unit_test(exhausted_retrier_falls_through_to_catch),
        cmocka_unit_test(catch_places_error_at_its_resultpath),
        cmocka_unit_test(max_attempts_zero_never_retries),
        cmocka_unit_test(retries_exhausted_without_catch_fail),
        cmocka_unit_test(states_all_matches_everything_but_runtime_errors),
        cmocka_unit_test(task_failed_matches_all_but_timeout),
        cmocka_unit_test(wait_seconds_gives_a_relative_delay),
        cmocka_unit_test(wait_timestamp_gives_an_absolute_time),
        cmocka_unit_test(wait_seconds_path_reads_the_input),
        cmocka_unit_test(wait_timestamp_path_reads_the_input),
        cmocka_unit_test(wait_next_applies_paths_and_names_next),
        cmocka_unit_test(timestamps_parse_per_rfc3339),
        cmocka_unit_test(shipped_statemachines_all_load),
        cmocka_unit_test(follow_up_logs_waits_then_creates_a_task),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
