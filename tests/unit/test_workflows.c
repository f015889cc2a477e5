/* Unit tests for engine/workflows.c: loading the action types from a directory (with the checks
 * that every Task's operation exists) and the parameter dry run at submission. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "workflows.h"

#define STATEMACHINES INTENTD_SOURCE_ROOT "/statemachines"
#define NCASES(a)     (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* A scratch directory of workflow files, removed with everything in it by rm_tree. */
static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/intentd-test-workflows-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d))) {
        char path[512];

        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
}

/* A one-Task workflow running resource, with compensate when not NULL. */
static char *one_task(const char *resource, const char *compensate)
{
    char *s = NULL;
    char comp[128] = "";

    if (compensate)
        snprintf(comp, sizeof comp, "\"Compensate\":\"%s\",", compensate);
    assert_true(asprintf(&s,
                         "{\"StartAt\":\"DoIt\",\"States\":{\"DoIt\":{\"Type\":\"Task\","
                         "\"Resource\":\"arn:aws:intentd:::%s\",%s\"End\":true}}}",
                         resource, comp) > 0);
    return s;
}

/* Loads dir, which must fail with want; err must name every string in names. */
static void expect_load_error(const char *dir, int want, const char *const *names, size_t n)
{
    struct workflows *w = (struct workflows *)&w;
    char err[512] = "";
    int rc = workflows_load(dir, &w, err, sizeof err);

    if (rc != want)
        print_error("rc %d (%s), err \"%s\"\n", rc, ie_name(rc), err);
    assert_int_equal(rc, want);
    assert_null(w);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(err, names[i]))
            print_error("err \"%s\" does not name \"%s\"\n", err, names[i]);
        assert_non_null(strstr(err, names[i]));
    }
}

static json_t *doc_of(const char *text)
{
    json_error_t e;
    json_t *d = json_loads(text, JSON_DECODE_ANY, &e);

    assert_non_null(d);
    return d;
}

/* The shared workflows of the repository, loaded once for the dry-run tests. */
static int load_real(void **state)
{
    struct workflows *w = NULL;
    char err[512] = "";

    if (workflows_load(STATEMACHINES, &w, err, sizeof err)) {
        print_error("cannot load %s: %s\n", STATEMACHINES, err);
        return -1;
    }
    *state = w;
    return 0;
}

static int free_real(void **state)
{
    workflows_free(*state);
    return 0;
}

/* Dry-runs params (JSON text) through action_type and checks the pointers reported, in order. */
static void expect_params(void **state, const char *action_type, const char *params,
                          const char *const *want, size_t nwant)
{
    const struct workflows *w = *state;
    json_t *p = doc_of(params), *copy = json_deep_copy(p);
    struct adapter_errors errs = {0};
    int rc = workflows_validate_params(w, action_type, p, &errs);
    bool ok = rc == (int)nwant && errs.count == nwant;

    for (size_t i = 0; ok && i < nwant; i++)
        ok = !strcmp(errs.items[i].pointer, want[i]) && errs.items[i].message[0] != '\0';
    if (!ok) {
        print_error("%s %s: rc %d, %zu error(s):\n", action_type, params, rc, errs.count);
        for (size_t i = 0; i < errs.count; i++)
            print_error("  \"%s\": %s\n", errs.items[i].pointer, errs.items[i].message);
        print_error("want %zu:\n", nwant);
        for (size_t i = 0; i < nwant; i++)
            print_error("  \"%s\"\n", want[i]);
    }
    /* The dry run works on its own copy: the caller's parameters are left as they were. */
    bool untouched = json_equal(p, copy);

    json_decref(copy);
    json_decref(p);
    assert_true(untouched);
    assert_true(ok);
}

/* ---- loading ---- */

static void the_shipped_workflows_load_sorted(void **state)
{
    static const char *const names[] = {
        "calendar.draft_meeting", "crm.create_opportunity", "crm.create_task",
        "crm.update_field",       "cs.renewal_outreach",    "cs.risk_escalation",
        "email.create_draft",     "internal.attach_brief",  "internal.create_task",
        "internal.follow_up",     "internal.log_note",      "notify.post_message",
        "sales.book_meeting",     "sales.follow_up",        "webhook.call"};
    struct workflows *w = NULL;
    char err[512] = "";

    (void)state;
    assert_int_equal(workflows_load(STATEMACHINES, &w, err, sizeof err), 0);
    assert_non_null(w);
    assert_int_equal(workflows_count(w), NCASES(names));
    for (size_t i = 0; i < NCASES(names); i++) {
        assert_string_equal(workflows_name_at(w, i), names[i]);
        const struct asl_machine *m = workflows_get(w, names[i]);

        assert_non_null(m);
        assert_string_equal(asl_name(m), names[i]);
    }
    assert_null(workflows_name_at(w, NCASES(names)));
    assert_null(workflows_name_at(w, (size_t)-1));
    workflows_free(w);
}

static void an_unknown_action_type_has_no_workflow(void **state)
{
    const struct workflows *w = *state;

    assert_null(workflows_get(w, "internal.nope"));
    assert_null(workflows_get(w, ""));
    assert_null(workflows_get(w, "internal"));
    assert_null(workflows_get(w, "internal.create_task.asl.json"));
    assert_null(workflows_get(w, "lifecycle"));
    assert_null(workflows_get(w, "INTERNAL.CREATE_TASK"));
    assert_null(workflows_get(w, "zzz"));
    assert_null(workflows_get(w, "a"));
}

static void an_empty_directory_loads_no_workflows(void **state)
{
    char dir[64];
    struct workflows *w = NULL;
    char err[256] = "";

    (void)state;
    make_dir(dir, sizeof dir);
    assert_int_equal(workflows_load(dir, &w, err, sizeof err), 0);
    assert_non_null(w);
    assert_int_equal(workflows_count(w), 0);
    assert_null(workflows_get(w, "internal.create_task"));
    assert_null(workflows_name_at(w, 0));
    workflows_free(w);
    rm_tree(dir);
}

static void only_asl_json_files_are_loaded(void **state)
{
    char dir[64];
    struct workflows *w = NULL;
    char err[256] = "";
    char *good = one_task("internal.log_note", "void_note");

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "b.log.asl.json", good);
    put_file(dir, "a.task.asl.json", good);
    put_file(dir, "README.md", "not a workflow");
    put_file(dir, "lifecycle.json", "{\"not\":\"a workflow\"}");
    put_file(dir, "c.asl.json.bak", "{");
    put_file(dir, ".asl.json", "{");
    assert_int_equal(workflows_load(dir, &w, err, sizeof err), 0);
    assert_int_equal(workflows_count(w), 2);
    assert_string_equal(workflows_name_at(w, 0), "a.task");
    assert_string_equal(workflows_name_at(w, 1), "b.log");
    assert_non_null(workflows_get(w, "a.task"));
    assert_non_null(workflows_get(w, "b.log"));
    workflows_free(w);
    free(good);
    rm_tree(dir);
}

static void a_missing_directory_is_an_io_error(void **state)
{
    static const char *const names[] = {"/nonexistent/intentd-statemachines"};

    (void)state;
    expect_load_error("/nonexistent/intentd-statemachines", IE_IO, names, 1);
}

static void a_resource_no_adapter_provides_is_a_config_error(void **state)
{
    static const char *const names[] = {"bad.asl.json", "DoIt", "internal.send_fax"};
    char dir[64];
    char *good = one_task("internal.create_task", "void_task");
    char *bad = one_task("internal.send_fax", NULL);

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "good.asl.json", good);
    put_file(dir, "bad.asl.json", bad);
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    free(good);
    free(bad);
    rm_tree(dir);
}

static void a_resource_of_an_unknown_connector_is_a_config_error(void **state)
{
    static const char *const names[] = {"fax.asl.json", "DoIt", "fax.send_page"};
    char dir[64];
    char *bad = one_task("fax.send_page", NULL);

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "fax.asl.json", bad);
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    free(bad);
    rm_tree(dir);
}

static void a_compensate_no_adapter_provides_is_a_config_error(void **state)
{
    static const char *const names[] = {"undo.asl.json", "DoIt", "internal.unvoid_task"};
    char dir[64];
    char *bad = one_task("internal.create_task", "unvoid_task");

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "undo.asl.json", bad);
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    free(bad);
    rm_tree(dir);
}

static void a_later_task_is_checked_too(void **state)
{
    static const char *const names[] = {"two.asl.json", "Second", "internal.nope"};
    char dir[64];

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "two.asl.json",
             "{\"StartAt\":\"First\",\"States\":{"
             "\"First\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:intentd:::internal.log_note\","
             "\"Next\":\"Second\"},"
             "\"Second\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:intentd:::internal.nope\","
             "\"End\":true}}}");
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    rm_tree(dir);
}

static void invalid_json_is_a_config_error_naming_the_file(void **state)
{
    static const char *const names[] = {"broken.asl.json"};
    char dir[64];

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "broken.asl.json", "{\"StartAt\": \"DoIt\", \"States\": {");
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    rm_tree(dir);
}

static void an_invalid_workflow_is_a_config_error_naming_the_file(void **state)
{
    static const char *const names[] = {"nostart.asl.json"};
    char dir[64];

    (void)state;
    make_dir(dir, sizeof dir);
    put_file(dir, "nostart.asl.json",
             "{\"StartAt\":\"Missing\",\"States\":{\"Done\":{\"Type\":\"Succeed\"}}}");
    expect_load_error(dir, IE_CONFIG, names, NCASES(names));
    rm_tree(dir);
}

/* ---- the parameter dry run ---- */

static void create_task_with_good_parameters_passes(void **state)
{
    expect_params(state, "internal.create_task", "{\"title\":\"Call back\"}", NULL, 0);
    expect_params(state, "internal.create_task",
                  "{\"title\":\"Call back\",\"due_at\":\"2026-11-21T10:00:00Z\","
                  "\"assignee\":\"ana\",\"notes\":\"n\"}",
                  NULL, 0);
}

static void create_task_without_a_title_is_one_error_at_its_pointer(void **state)
{
    static const char *const want[] = {"/parameters/title"};

    expect_params(state, "internal.create_task", "{}", want, 1);
    expect_params(state, "internal.create_task", "{\"title\":\"\"}", want, 1);
    expect_params(state, "internal.create_task", "{\"due_at\":null}", want, 1);
}

static void create_task_errors_keep_their_field_pointers(void **state)
{
    static const char *const two[] = {"/parameters/colour", "/parameters/due_at"};
    static const char *const root[] = {"/parameters"};

    expect_params(state, "internal.create_task",
                  "{\"title\":\"T\",\"colour\":\"red\",\"due_at\":\"2023-02-29T00:00:00Z\"}", two,
                  2);
    expect_params(state, "internal.create_task", "[\"T\"]", root, 1);
}

static void log_note_errors_map_back_through_its_template(void **state)
{
    static const char *const body[] = {"/parameters/body"};

    expect_params(state, "internal.log_note", "{\"body\":\"called\"}", NULL, 0);
    expect_params(state, "internal.log_note", "{\"body\":\"\"}", body, 1);
    expect_params(state, "internal.log_note", "{\"body\":7}", body, 1);
}

static void attach_brief_without_url_or_content_concerns_the_whole(void **state)
{
    static const char *const root[] = {"/parameters"};
    static const char *const url[] = {"/parameters/url"};

    expect_params(state, "internal.attach_brief", "{\"title\":\"Q3\",\"content\":\"c\"}", NULL, 0);
    expect_params(state, "internal.attach_brief", "{\"title\":\"Q3\"}", root, 1);
    expect_params(state, "internal.attach_brief", "{\"title\":\"Q3\",\"url\":\"ftp://x\"}", url, 1);
}

static void follow_up_with_good_parameters_passes(void **state)
{
    expect_params(state, "internal.follow_up", "{\"note\":\"n\",\"title\":\"t\"}", NULL, 0);
    expect_params(state, "internal.follow_up",
                  "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":0}", NULL, 0);
    expect_params(state, "internal.follow_up",
                  "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":86400}", NULL, 0);
}

static void follow_up_errors_map_back_through_the_task_templates(void **state)
{
    static const char *const title[] = {"/parameters/title"};
    static const char *const note[] = {"/parameters/note"};

    /* Present but refused by the adapter: the pointer goes through "title.$": "$.title". */
    expect_params(state, "internal.follow_up", "{\"note\":\"n\",\"title\":\"\"}", title, 1);
    expect_params(state, "internal.follow_up", "{\"note\":\"n\",\"title\":5}", title, 1);
    expect_params(state, "internal.follow_up", "{\"note\":\"\",\"title\":\"t\"}", note, 1);
}

static void follow_up_without_a_title_names_the_title(void **state)
{
    static const char *const title[] = {"/parameters/title"};

    expect_params(state, "internal.follow_up", "{\"note\":\"n\"}", title, 1);
}

static void follow_up_without_a_note_names_the_note(void **state)
{
    static const char *const note[] = {"/parameters/note"};

    expect_params(state, "internal.follow_up", "{\"title\":\"t\"}", note, 1);
}

static void log_note_without_a_body_names_the_body(void **state)
{
    static const char *const body[] = {"/parameters/body"};

    expect_params(state, "internal.log_note", "{}", body, 1);
}

static void follow_up_refuses_a_bad_wait_at_its_pointer(void **state)
{
    static const char *const wait[] = {"/parameters/wait_seconds"};
    static const char *const bad[] = {
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":86401}",
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":-1}",
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":\"x\"}",
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":\"60\"}",
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":null}",
        "{\"note\":\"n\",\"title\":\"t\",\"wait_seconds\":true}",
    };

    for (size_t i = 0; i < NCASES(bad); i++)
        expect_params(state, "internal.follow_up", bad[i], wait, 1);
}

static void an_unknown_action_type_is_notfound(void **state)
{
    const struct workflows *w = *state;
    struct adapter_errors errs = {0};
    json_t *p = doc_of("{\"title\":\"t\"}");

    assert_int_equal(workflows_validate_params(w, "internal.nope", p, &errs), IE_NOTFOUND);
    assert_int_equal(workflows_validate_params(w, "", p, &errs), IE_NOTFOUND);
    assert_int_equal(errs.count, 0);
    json_decref(p);
}

static void earlier_errors_are_kept_and_not_counted(void **state)
{
    const struct workflows *w = *state;
    struct adapter_errors errs = {0};
    json_t *p = doc_of("{}");

    adapter_error(&errs, "/earlier", "x");
    assert_int_equal(workflows_validate_params(w, "internal.create_task", p, &errs), 1);
    assert_int_equal(errs.count, 2);
    assert_string_equal(errs.items[0].pointer, "/earlier");
    assert_string_equal(errs.items[1].pointer, "/parameters/title");
    json_decref(p);
}

/* ---- the connector workflows ---- */

#define MEETING                                                                                    \
    "{\"summary\":\"Intro\",\"start\":\"2026-11-21T10:00:00Z\",\"end\":\"2026-11-21T10:30:00Z\"}"
#define TASK   "{\"subject\":\"Prepare\",\"due_at\":\"2026-11-20T10:00:00Z\"}"
#define EMAIL  "{\"to\":\"ana@example.com\",\"subject\":\"Renewal\",\"body\":\"Hi\"}"
#define NOTIFY "{\"text\":\"Renewal outreach started\"}"
#define UPDATE                                                                                     \
    "{\"object_type\":\"companies\",\"object_id\":\"9\",\"property\":\"risk\",\"value\":\"high\"}"

static void connector_workflows_pass_good_parameters(void **state)
{
    static const struct {
        const char *type, *params;
    } cases[] = {
        {"crm.create_task", TASK},
        {"crm.create_opportunity", "{\"name\":\"Renewal\",\"stage\":\"contractsent\"}"},
        {"crm.update_field", UPDATE},
        {"calendar.draft_meeting", MEETING},
        {"email.create_draft", EMAIL},
        {"notify.post_message", NOTIFY},
        {"webhook.call", "{\"anything\":[1,2]}"},
        {"sales.book_meeting", "{\"meeting\":" MEETING ",\"task\":" TASK "}"},
        {"sales.follow_up", "{\"email\":" EMAIL ",\"task\":" TASK "}"},
        {"cs.renewal_outreach", "{\"email\":" EMAIL ",\"task\":" TASK ",\"notify\":" NOTIFY "}"},
        {"cs.risk_escalation", "{\"update\":" UPDATE ",\"notify\":" NOTIFY "}"},
    };

    for (size_t i = 0; i < NCASES(cases); i++)
        expect_params(state, cases[i].type, cases[i].params, NULL, 0);
}

static void connector_workflow_errors_keep_their_pointers(void **state)
{
    static const char *const subject_due[] = {"/parameters/subject", "/parameters/due_at"};
    static const char *const end[] = {"/parameters/meeting/end"};
    static const char *const subject[] = {"/parameters/task/subject"};
    static const char *const text[] = {"/parameters/notify/text"};
    static const char *const to[] = {"/parameters/email/to/1"};
    static const char *const update[] = {"/parameters/update"};

    expect_params(state, "crm.create_task", "{}", subject_due, 2);
    expect_params(state, "sales.book_meeting",
                  "{\"meeting\":{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\","
                  "\"end\":\"2026-11-21T09:00:00Z\"},\"task\":" TASK "}",
                  end, 1);
    expect_params(state, "sales.book_meeting",
                  "{\"meeting\":" MEETING ",\"task\":{\"due_at\":\"2026-11-20T10:00:00Z\"}}",
                  subject, 1);
    expect_params(state, "cs.risk_escalation", "{\"update\":" UPDATE ",\"notify\":{\"text\":\"\"}}",
                  text, 1);
    expect_params(state, "sales.follow_up",
                  "{\"email\":{\"to\":[\"a@b.example\",\"x\"],\"subject\":\"S\",\"body\":\"B\"},"
                  "\"task\":" TASK "}",
                  to, 1);
    expect_params(state, "cs.risk_escalation", "{\"update\":[],\"notify\":" NOTIFY "}", update, 1);
}

static void composite_workflows_name_a_missing_part(void **state)
{
    static const char *const meeting[] = {"/parameters/meeting"};
    static const char *const notify[] = {"/parameters/notify"};
    static const char *const email[] = {"/parameters/email"};

    expect_params(state, "sales.book_meeting", "{\"task\":" TASK "}", meeting, 1);
    expect_params(state, "sales.follow_up", "{}", email, 1);
    expect_params(state, "cs.renewal_outreach", "{\"email\":" EMAIL ",\"task\":" TASK "}", notify,
                  1);
    expect_params(state, "cs.risk_escalation", "{\"update\":" UPDATE "}", notify, 1);
}

int main(void)
{
    const struct CMUnitTest loading[] = {
        cmocka_unit_test(the_shipped_workflows_load_sorted),
        cmocka_unit_test(an_empty_directory_loads_no_workflows),
        cmocka_unit_test(only_asl_json_files_are_loaded),
        cmocka_unit_test(a_missing_directory_is_an_io_error),
        cmocka_unit_test(a_resource_no_adapter_provides_is_a_config_error),
        cmocka_unit_test(a_resource_of_an_unknown_connector_is_a_config_error),
        cmocka_unit_test(a_compensate_no_adapter_provides_is_a_config_error),
        cmocka_unit_test(a_later_task_is_checked_too),
        cmocka_unit_test(invalid_json_is_a_config_error_naming_the_file),
        cmocka_unit_test(an_invalid_workflow_is_a_config_error_naming_the_file),
    };
    const struct CMUnitTest dry_run[] = {
        cmocka_unit_test(an_unknown_action_type_has_no_workflow),
        cmocka_unit_test(create_task_with_good_parameters_passes),
        cmocka_unit_test(create_task_without_a_title_is_one_error_at_its_pointer),
        cmocka_unit_test(create_task_errors_keep_their_field_pointers),
        cmocka_unit_test(log_note_errors_map_back_through_its_template),
        cmocka_unit_test(attach_brief_without_url_or_content_concerns_the_whole),
        cmocka_unit_test(follow_up_with_good_parameters_passes),
        cmocka_unit_test(follow_up_errors_map_back_through_the_task_templates),
        cmocka_unit_test(follow_up_without_a_title_names_the_title),
        cmocka_unit_test(follow_up_without_a_note_names_the_note),
        cmocka_unit_test(log_note_without_a_body_names_the_body),
        cmocka_unit_test(follow_up_refuses_a_bad_wait_at_its_pointer),
        cmocka_unit_test(an_unknown_action_type_is_notfound),
        cmocka_unit_test(earlier_errors_are_kept_and_not_counted),
        cmocka_unit_test(connector_workflows_pass_good_parameters),
        cmocka_unit_test(connector_workflow_errors_keep_their_pointers),
        cmocka_unit_test(composite_workflows_name_a_missing_part),
    };
    int failed = cmocka_run_group_tests_name("loading", loading, NULL, NULL);

    failed += cmocka_run_group_tests_name("dry run", dry_run, load_real, free_real);
    return failed;
}
