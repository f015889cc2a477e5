/* Unit tests for adapters/crm.c (HubSpot CRM v3): parameter checks with their pointers, the
 * exact requests (every property a string, associations always present), classification of
 * creates, searches, reads and updates, and the compensation requests built from `done`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include "adapter_cases.h"

#define CT "crm.create_task"
#define CO "crm.create_opportunity"
#define UF "crm.update_field"

#define TASK_OK "\"subject\":\"Call Ana\",\"due_at\":\"2026-11-21T10:00:00Z\""
#define DEAL_OK "\"name\":\"Renewal 2027\",\"stage\":\"contractsent\""
#define FIELD_OK                                                                                   \
    "\"object_type\":\"contacts\",\"object_id\":\"512\",\"property\":\"lifecyclestage\""
#define ASSOC(id, type_id)                                                                         \
    "{\"to\":{\"id\":\"" id "\"},\"types\":[{\"associationCategory\":\"HUBSPOT_DEFINED\","         \
    "\"associationTypeId\":" #type_id "}]}"

/* ---- validate ---- */

static void create_task_accepts_good_parameters(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{" TASK_OK "}", {0}, 0},
        {CT,
         "{" TASK_OK ",\"body\":\"Agenda:\\n- renewal\\tterms\",\"status\":\"WAITING\","
         "\"priority\":\"HIGH\",\"task_type\":\"CALL\",\"owner_id\":\"42\",\"associations\":["
         "{\"object_type\":\"contact\",\"id\":\"101\"},{\"object_type\":\"company\",\"id\":7},"
         "{\"object_type\":\"deal\",\"id\":\"9\"}]}",
         {0},
         0},
        {CT, "{" TASK_OK ",\"owner_id\":42,\"associations\":[]}", {0}, 0},
        {CT,
         "{" TASK_OK ",\"body\":null,\"status\":null,\"priority\":null,\"task_type\":null,"
         "\"owner_id\":null,\"associations\":null}",
         {0},
         0},
        {CT, "{\"subject\":\"T\",\"due_at\":\"2026-11-21T10:00:00.250+05:30\"}", {0}, 0},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void create_task_refuses_bad_parameters_at_their_pointer(void **state)
{
    static const struct vcase cases[] = {
        {CT, "{}", {"/subject", "/due_at"}, 2},
        {CT, "[]", {""}, 1},
        {CT, "{\"subject\":\"\",\"due_at\":\"2026-11-21T10:00:00Z\"}", {"/subject"}, 1},
        {CT, "{\"subject\":7,\"due_at\":\"2026-11-21T10:00:00Z\"}", {"/subject"}, 1},
        {CT, "{\"subject\":\"a\\nb\",\"due_at\":\"2026-11-21T10:00:00Z\"}", {"/subject"}, 1},
        {CT, "{\"subject\":\"T\",\"due_at\":\"tomorrow\"}", {"/due_at"}, 1},
        {CT, "{\"subject\":\"T\",\"due_at\":\"2026-11-21\"}", {"/due_at"}, 1},
        {CT, "{\"subject\":\"T\",\"due_at\":1795255200000}", {"/due_at"}, 1},
        {CT, "{" TASK_OK ",\"status\":\"DONE\"}", {"/status"}, 1},
        {CT, "{" TASK_OK ",\"status\":\"not_started\"}", {"/status"}, 1},
        {CT, "{" TASK_OK ",\"priority\":\"low\"}", {"/priority"}, 1},
        {CT, "{" TASK_OK ",\"priority\":1}", {"/priority"}, 1},
        {CT, "{" TASK_OK ",\"task_type\":\"MEETING\"}", {"/task_type"}, 1},
        {CT, "{" TASK_OK ",\"body\":\"\"}", {"/body"}, 1},
        {CT, "{" TASK_OK ",\"body\":\"a\\u0000b\"}", {"/body"}, 1},
        {CT, "{" TASK_OK ",\"owner_id\":\"abc\"}", {"/owner_id"}, 1},
        {CT, "{" TASK_OK ",\"owner_id\":-1}", {"/owner_id"}, 1},
        {CT, "{" TASK_OK ",\"owner_id\":1.5}", {"/owner_id"}, 1},
        {CT, "{" TASK_OK ",\"owner_id\":\"\"}", {"/owner_id"}, 1},
        {CT, "{" TASK_OK ",\"associations\":{}}", {"/associations"}, 1},
        {CT, "{" TASK_OK ",\"associations\":[\"101\"]}", {"/associations/0"}, 1},
        {CT,
         "{" TASK_OK ",\"associations\":[{\"object_type\":\"contact\",\"id\":\"1\"},"
         "{\"object_type\":\"ticket\",\"id\":\"2\"}]}",
         {"/associations/1/object_type"},
         1},
        {CT,
         "{" TASK_OK ",\"associations\":[{\"object_type\":\"contact\"}]}",
         {"/associations/0/id"},
         1},
        {CT,
         "{" TASK_OK ",\"associations\":[{\"object_type\":\"contact\",\"id\":\"x1\"}]}",
         {"/associations/0/id"},
         1},
        {CT,
         "{" TASK_OK ",\"associations\":[{\"object_type\":\"contact\",\"id\":\"1\","
         "\"label\":\"x\"}]}",
         {"/associations/0/label"},
         1},
        {CT,
         "{" TASK_OK ",\"associations\":[{}]}",
         {"/associations/0/object_type", "/associations/0/id"},
         2},
        {CT, "{" TASK_OK ",\"colour\":\"red\"}", {"/colour"}, 1},
        {CT, "{" TASK_OK ",\"title\":\"x\"}", {"/title"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void create_task_bounds_lengths_and_counts(void **state)
{
    static const char *const subject[] = {"/subject"};
    static const char *const assoc[] = {"/associations"};
    char s[501 * 2 + 1] = "";
    json_t *p, *list;

    (void)state;
    for (int i = 0; i < 500; i++)
        strcat(s, "\xc3\xa9");
    p = json_pack("{s:s, s:s}", "subject", s, "due_at", "2026-11-21T10:00:00Z");
    assert_true(check_errors(CT, p, NULL, 0, "subject of 500"));
    json_decref(p);
    strcat(s, "x");
    p = json_pack("{s:s, s:s}", "subject", s, "due_at", "2026-11-21T10:00:00Z");
    assert_true(check_errors(CT, p, subject, 1, "subject of 501"));
    json_decref(p);

    list = json_array();
    for (int i = 0; i < 101; i++)
        json_array_append_new(list, json_pack("{s:s, s:i}", "object_type", "contact", "id", i));
    p = json_pack("{s:s, s:s, s:o}", "subject", "T", "due_at", "2026-11-21T10:00:00Z",
                  "associations", list);
    assert_true(check_errors(CT, p, assoc, 1, "101 associations"));
    json_array_remove(json_object_get(p, "associations"), 0);
    assert_true(check_errors(CT, p, NULL, 0, "100 associations"));
    json_decref(p);
}

static void create_opportunity_checks_its_parameters(void **state)
{
    static const struct vcase cases[] = {
        {CO, "{" DEAL_OK "}", {0}, 0},
        {CO,
         "{" DEAL_OK ",\"pipeline\":\"sales\",\"amount\":1500.5,"
         "\"close_date\":\"2026-12-31T00:00:00Z\",\"owner_id\":\"42\",\"associations\":["
         "{\"object_type\":\"contact\",\"id\":\"101\"},{\"object_type\":\"company\",\"id\":7}]}",
         {0},
         0},
        {CO, "{" DEAL_OK ",\"amount\":\"1500.00\"}", {0}, 0},
        {CO, "{" DEAL_OK ",\"amount\":\"-20\"}", {0}, 0},
        {CO, "{" DEAL_OK ",\"amount\":0}", {0}, 0},
        {CO, "{}", {"/name", "/stage"}, 2},
        {CO, "{\"name\":\"N\"}", {"/stage"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\"1,500\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\"1.\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\".5\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\"-\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\"1.2.3\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":\"\"}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":true}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"amount\":[1]}", {"/amount"}, 1},
        {CO, "{" DEAL_OK ",\"close_date\":\"2026-12-31\"}", {"/close_date"}, 1},
        {CO, "{" DEAL_OK ",\"pipeline\":\"\"}", {"/pipeline"}, 1},
        {CO, "{" DEAL_OK ",\"stage\":\"a\\r\\nb\"}", {"/stage"}, 1},
        {CO,
         "{" DEAL_OK ",\"associations\":[{\"object_type\":\"deal\",\"id\":\"1\"}]}",
         {"/associations/0/object_type"},
         1},
        {CO, "{" DEAL_OK ",\"dealname\":\"x\"}", {"/dealname"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void update_field_checks_its_parameters(void **state)
{
    static const struct vcase cases[] = {
        {UF, "{" FIELD_OK ",\"value\":\"customer\"}", {0}, 0},
        {UF, "{" FIELD_OK ",\"value\":null}", {0}, 0},
        {UF, "{" FIELD_OK ",\"value\":3}", {0}, 0},
        {UF, "{" FIELD_OK ",\"value\":2.5}", {0}, 0},
        {UF, "{" FIELD_OK ",\"value\":false}", {0}, 0},
        {UF, "{" FIELD_OK ",\"value\":\"two\\nlines\"}", {0}, 0},
        {UF,
         "{\"object_type\":\"deals\",\"object_id\":77,\"property\":\"hs_priority_2\","
         "\"value\":\"high\"}",
         {0},
         0},
        {UF, "{}", {"/object_type", "/object_id", "/property", "/value"}, 4},
        {UF, "{" FIELD_OK "}", {"/value"}, 1},
        {UF, "{" FIELD_OK ",\"value\":[1]}", {"/value"}, 1},
        {UF, "{" FIELD_OK ",\"value\":{}}", {"/value"}, 1},
        {UF, "{" FIELD_OK ",\"value\":\"\"}", {"/value"}, 1},
        {UF,
         "{\"object_type\":\"contact\",\"object_id\":\"512\",\"property\":\"p\",\"value\":1}",
         {"/object_type"},
         1},
        {UF,
         "{\"object_type\":\"contacts\",\"object_id\":\"5/12\",\"property\":\"p\",\"value\":1}",
         {"/object_id"},
         1},
        {UF,
         "{\"object_type\":\"contacts\",\"object_id\":\"512\",\"property\":\"Life Cycle\","
         "\"value\":1}",
         {"/property"},
         1},
        {UF,
         "{\"object_type\":\"contacts\",\"object_id\":\"512\",\"property\":\"hs-stage\","
         "\"value\":1}",
         {"/property"},
         1},
        {UF,
         "{\"object_type\":\"contacts\",\"object_id\":\"512\",\"property\":\"1stage\","
         "\"value\":1}",
         {"/property"},
         1},
        {UF, "{" FIELD_OK ",\"value\":1,\"idProperty\":\"email\"}", {"/idProperty"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

/* ---- requests ---- */

static void create_task_request_is_exact(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(
        op_of(CT)->build_request,
        "{" TASK_OK ",\"body\":\"Agenda:\\n- renewal\",\"priority\":\"HIGH\","
        "\"task_type\":\"CALL\",\"owner_id\":42,\"associations\":["
        "{\"object_type\":\"contact\",\"id\":\"101\"},{\"object_type\":\"company\","
        "\"id\":7},{\"object_type\":\"deal\",\"id\":\"9\"}]}",
        &t.ctx,
        "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/tasks\",\"body\":{"
        "\"properties\":{\"hs_task_subject\":\"Call Ana\",\"hs_timestamp\":"
        "\"1795255200000\",\"hs_task_status\":\"NOT_STARTED\",\"hs_task_body\":"
        "\"Agenda:\\n- renewal\",\"hs_task_priority\":\"HIGH\",\"hs_task_type\":"
        "\"CALL\",\"hubspot_owner_id\":\"42\",\"intentd_idempotency_key\":\"" KEY "\"},"
        "\"associations\":[" ASSOC("101", 204) "," ASSOC("7", 192) "," ASSOC("9", 216) "]}}");
    expect_build(op_of(CT)->build_request,
                 "{\"subject\":\"T\",\"due_at\":\"2026-11-21T10:00:00.5+02:00\","
                 "\"status\":\"COMPLETED\",\"body\":null}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/tasks\",\"body\":{"
                 "\"properties\":{\"hs_task_subject\":\"T\",\"hs_timestamp\":\"1795248000500\","
                 "\"hs_task_status\":\"COMPLETED\",\"intentd_idempotency_key\":\"" KEY "\"},"
                 "\"associations\":[]}}");
    ctx_free(&t);
}

static void create_opportunity_request_is_exact(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, "{\"idempotency_property\":\"acme_intent_key\"}", NULL, NULL);
    expect_build(op_of(CO)->build_request,
                 "{" DEAL_OK ",\"amount\":1500.5,\"close_date\":\"2026-11-21T10:00:00.5+02:00\","
                 "\"owner_id\":\"42\",\"associations\":[{\"object_type\":\"contact\",\"id\":"
                 "\"101\"},{\"object_type\":\"company\",\"id\":\"7\"}]}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/deals\",\"body\":{"
                 "\"properties\":{\"dealname\":\"Renewal 2027\",\"dealstage\":\"contractsent\","
                 "\"pipeline\":\"default\",\"amount\":\"1500.5\",\"closedate\":\"1795248000500\","
                 "\"hubspot_owner_id\":\"42\",\"acme_intent_key\":\"" KEY "\"},"
                 "\"associations\":[" ASSOC("101", 3) "," ASSOC("7", 341) "]}}");
    expect_build(op_of(CO)->build_request,
                 "{" DEAL_OK ",\"pipeline\":\"renewals\",\"amount\":\"1500.00\"}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/deals\",\"body\":{"
                 "\"properties\":{\"dealname\":\"Renewal 2027\",\"dealstage\":\"contractsent\","
                 "\"pipeline\":\"renewals\",\"amount\":\"1500.00\","
                 "\"acme_intent_key\":\"" KEY "\"},\"associations\":[]}}");
    ctx_free(&t);
}

/* HubSpot's schema types every property value as a string. */
static void every_property_value_sent_is_a_string(void **state)
{
    static const struct {
        const char *op, *params;
    } cases[] = {
        {CT, "{" TASK_OK ",\"owner_id\":42,\"priority\":\"LOW\"}"},
        {CO, "{" DEAL_OK ",\"amount\":20,\"owner_id\":3,\"close_date\":\"2026-01-01T00:00:00Z\"}"},
        {UF, "{" FIELD_OK ",\"value\":3}"},
        {UF, "{" FIELD_OK ",\"value\":true}"},
        {UF, "{" FIELD_OK ",\"value\":null}"},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    for (size_t i = 0; i < NCASES(cases); i++) {
        json_t *p = doc_of(cases[i].params), *req = NULL;
        char cause[ADAPTER_MESSAGE_MAX];
        const char *key;
        json_t *v;

        assert_int_equal(op_of(cases[i].op)->build_request(p, &t.ctx, &req, cause), 0);
        json_t *props = json_object_get(json_object_get(req, "body"), "properties");

        assert_true(json_object_size(props) > 0);
        json_object_foreach(props, key, v) assert_true(json_is_string(v));
        json_decref(req);
        json_decref(p);
    }
    ctx_free(&t);
}

static void bad_idempotency_property_settings_fail_the_build(void **state)
{
    static const char *const settings[] = {
        "{\"idempotency_property\":\"Bad-Name\"}", "{\"idempotency_property\":5}",
        "{\"idempotency_property\":\"\"}", "{\"idempotency_property\":\"1key\"}"};
    adapter_build_fn fns[] = {op_of(CT)->build_request, op_of(CO)->build_request,
                              op_of(CT)->build_reconcile, op_of(CO)->build_reconcile};
    const char *params[] = {"{" TASK_OK "}", "{" DEAL_OK "}", "{}", "{}"};

    (void)state;
    for (size_t i = 0; i < NCASES(settings); i++) {
        struct test_ctx t;

        ctx_init(&t, settings[i], NULL, NULL);
        for (size_t f = 0; f < NCASES(fns); f++)
            expect_build_fails(fns[f], params[f], &t.ctx, "idempotency_property");
        ctx_free(&t);
    }
}

static void reconcile_searches_by_the_idempotency_property(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(CT)->build_reconcile, "{" TASK_OK "}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/tasks/search\",\"body\":{"
                 "\"filterGroups\":[{\"filters\":[{\"propertyName\":\"intentd_idempotency_key\","
                 "\"operator\":\"EQ\",\"value\":\"" KEY "\"}]}],"
                 "\"properties\":[\"intentd_idempotency_key\"],\"limit\":1}}");
    expect_build(op_of(CO)->build_reconcile, "{" DEAL_OK "}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/crm/v3/objects/deals/search\",\"body\":{"
                 "\"filterGroups\":[{\"filters\":[{\"propertyName\":\"intentd_idempotency_key\","
                 "\"operator\":\"EQ\",\"value\":\"" KEY "\"}]}],"
                 "\"properties\":[\"intentd_idempotency_key\"],\"limit\":1}}");
    ctx_free(&t);
}

static void update_field_reads_then_patches(void **state)
{
    static const struct {
        const char *value, *text;
    } values[] = {
        {"\"customer\"", "customer"}, {"null", ""}, {"3", "3"}, {"2.50", "2.5"}, {"true", "true"},
        {"false", "false"},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(UF)->build_prepare, "{" FIELD_OK ",\"value\":\"customer\"}", &t.ctx,
                 "{\"method\":\"GET\",\"path\":"
                 "\"/crm/v3/objects/contacts/512?properties=lifecyclestage\"}");
    for (size_t i = 0; i < NCASES(values); i++) {
        char params[256], want[256];

        snprintf(params, sizeof params, "{" FIELD_OK ",\"value\":%s}", values[i].value);
        snprintf(want, sizeof want,
                 "{\"method\":\"PATCH\",\"path\":\"/crm/v3/objects/contacts/512\","
                 "\"body\":{\"properties\":{\"lifecyclestage\":\"%s\"}}}",
                 values[i].text);
        expect_build(op_of(UF)->build_request, params, &t.ctx, want);
    }
    ctx_free(&t);
}

/* ---- classify ---- */

static void creates_classify_their_answers(void **state)
{
    static const struct ccase tasks[] = {
        {201, "{\"id\":\"1001\",\"properties\":{\"hs_task_subject\":\"Call Ana\"}}", ADAPTER_OK,
         "1001", "{\"id\":\"1001\",\"object_type\":\"tasks\"}", NULL},
        {200, "{\"id\":1001}", ADAPTER_OK, "1001", "{\"id\":\"1001\",\"object_type\":\"tasks\"}",
         NULL},
        /* created, but the answer cannot be read: what is known */
        {201, "", ADAPTER_OK, "", "{\"id\":null,\"object_type\":\"tasks\"}", NULL},
        {201, "created", ADAPTER_OK, "", "{\"id\":null,\"object_type\":\"tasks\"}", NULL},
        {201, "{\"id\":\"\"}", ADAPTER_OK, "", "{\"id\":null,\"object_type\":\"tasks\"}", NULL},
        {409,
         "{\"status\":\"error\",\"message\":\"A task with intentd_idempotency_key already "
         "exists\",\"category\":\"CONFLICT\"}",
         ADAPTER_CONFLICT, NULL, NULL, "already exists"},
        {409, "", ADAPTER_CONFLICT, NULL, NULL, "409"},
        {404, "{\"message\":\"Object type not found\"}", ADAPTER_PERMANENT, NULL, NULL,
         "Object type not found"},
        {400, "{\"message\":\"Property values were not valid\"}", ADAPTER_PERMANENT, NULL, NULL,
         "not valid"},
        {429, "{\"message\":\"You have reached your secondly limit\"}", ADAPTER_RATE_LIMITED, NULL,
         NULL, "secondly limit"},
    };
    static const struct ccase deals[] = {
        {201, "{\"id\":\"77\"}", ADAPTER_OK, "77", "{\"id\":\"77\",\"object_type\":\"deals\"}",
         NULL},
        {409, "{}", ADAPTER_CONFLICT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(CT)->classify, "{" TASK_OK "}", &t.ctx, tasks, NCASES(tasks));
    run_classify(op_of(CO)->classify, "{" DEAL_OK "}", &t.ctx, deals, NCASES(deals));
    ctx_free(&t);
}

static void reconcile_finds_or_reports_absent(void **state)
{
    static const struct ccase tasks[] = {
        {200, "{\"total\":1,\"results\":[{\"id\":\"1001\",\"properties\":{}}]}", ADAPTER_OK, "1001",
         "{\"id\":\"1001\",\"object_type\":\"tasks\"}", NULL},
        {200, "{\"total\":0,\"results\":[]}", ADAPTER_ABSENT, NULL, NULL, NULL},
        {200, "{\"results\":[{\"properties\":{}}]}", ADAPTER_PERMANENT, NULL, NULL, "id"},
        {200, "{\"total\":0}", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {200, "garbage", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    static const struct ccase deals[] = {
        {200, "{\"total\":1,\"results\":[{\"id\":\"77\"}]}", ADAPTER_OK, "77",
         "{\"id\":\"77\",\"object_type\":\"deals\"}", NULL},
        {200, "{\"total\":0,\"results\":[]}", ADAPTER_ABSENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(CT)->classify_reconcile, "{" TASK_OK "}", &t.ctx, tasks, NCASES(tasks));
    run_classify(op_of(CO)->classify_reconcile, "{" DEAL_OK "}", &t.ctx, deals, NCASES(deals));
    ctx_free(&t);
}

static void update_field_keeps_the_prior_value(void **state)
{
    static const struct ccase reads[] = {
        {200,
         "{\"id\":\"512\",\"properties\":{\"lifecyclestage\":\"lead\",\"hs_object_id\":"
         "\"512\"}}",
         ADAPTER_OK, "512", "{\"property\":\"lifecyclestage\",\"value\":\"lead\"}", NULL},
        {200, "{\"id\":\"512\",\"properties\":{\"lifecyclestage\":null}}", ADAPTER_OK, "512",
         "{\"property\":\"lifecyclestage\",\"value\":null}", NULL},
        {200, "{\"id\":\"512\",\"properties\":{}}", ADAPTER_OK, "512",
         "{\"property\":\"lifecyclestage\",\"value\":null}", NULL},
        /* the update cannot be undone without the old value: it is not made */
        {200, "{\"id\":\"512\"}", ADAPTER_PERMANENT, NULL, NULL, "properties"},
        {200, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {404, "{\"message\":\"Object not found\"}", ADAPTER_PERMANENT, NULL, NULL, "not found"},
    };
    static const struct ccase updates[] = {
        {200, "{\"id\":\"512\"}", ADAPTER_OK, "512",
         "{\"id\":\"512\",\"object_type\":\"contacts\",\"property\":\"lifecyclestage\","
         "\"value\":\"customer\"}",
         NULL},
        {200, "", ADAPTER_OK, "512",
         "{\"id\":\"512\",\"object_type\":\"contacts\",\"property\":\"lifecyclestage\","
         "\"value\":\"customer\"}",
         NULL},
        {404, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {400, "{\"message\":\"Property lifecyclestage does not exist\"}", ADAPTER_PERMANENT, NULL,
         NULL, "does not exist"},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(UF)->classify_prepare, "{" FIELD_OK ",\"value\":\"customer\"}", &t.ctx,
                 reads, NCASES(reads));
    run_classify(op_of(UF)->classify, "{" FIELD_OK ",\"value\":\"customer\"}", &t.ctx, updates,
                 NCASES(updates));
    ctx_free(&t);
}

/* ---- compensation ---- */

#define DONE_TASK                                                                                  \
    "{\"external_id\":\"1001\",\"result\":{\"id\":\"1001\",\"object_type\":\"tasks\"},"            \
    "\"params\":{\"subject\":\"T\"}}"
#define DONE_UPDATE(prior)                                                                         \
    "{\"external_id\":\"512\",\"result\":{\"id\":\"512\"},\"prior\":" prior ",\"params\":{"        \
    "\"object_type\":\"contacts\",\"object_id\":\"512\",\"property\":\"lifecyclestage\","          \
    "\"value\":\"customer\"}}"

static void archives_delete_the_created_object(void **state)
{
    static const struct ccase answers[] = {
        {204, "", ADAPTER_OK, "1001", "{\"id\":\"1001\",\"archived\":true,\"already_gone\":false}",
         NULL},
        {404, "{\"message\":\"not found\"}", ADAPTER_OK, "1001",
         "{\"id\":\"1001\",\"archived\":true,\"already_gone\":true}", NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {403, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, DONE_TASK);
    expect_build(op_of("crm.archive_task")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/crm/v3/objects/tasks/1001\"}");
    run_classify(op_of("crm.archive_task")->classify, "{}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
    /* the id from the result when external_id is missing */
    ctx_init(&t, NULL, NULL, "{\"external_id\":\"\",\"result\":{\"id\":77}}");
    expect_build(op_of("crm.archive_deal")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/crm/v3/objects/deals/77\"}");
    ctx_free(&t);
    /* nothing to archive is a failure, not a silent success */
    ctx_init(&t, NULL, NULL, "{\"external_id\":\"\",\"result\":{\"id\":null}}");
    expect_build_fails(op_of("crm.archive_task")->build_request, "{}", &t.ctx, "no tasks id");
    ctx_free(&t);
    ctx_init(&t, NULL, NULL, NULL);
    expect_build_fails(op_of("crm.archive_deal")->build_request, "{}", &t.ctx, "no deals id");
    ctx_free(&t);
}

static void restore_field_puts_the_prior_value_back(void **state)
{
    static const struct ccase answers[] = {
        {200, "{\"id\":\"512\"}", ADAPTER_OK, "512",
         "{\"id\":\"512\",\"object_type\":\"contacts\",\"property\":\"lifecyclestage\","
         "\"value\":\"lead\",\"restored\":true}",
         NULL},
        {404, "", ADAPTER_OK, "512",
         "{\"id\":\"512\",\"object_type\":\"contacts\",\"property\":\"lifecyclestage\","
         "\"value\":\"lead\",\"restored\":false}",
         NULL},
        {503, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    static const char *const unusable[] = {
        DONE_UPDATE("null"),
        "{\"external_id\":\"512\",\"params\":{\"object_type\":\"contacts\",\"object_id\":"
        "\"512\",\"property\":\"lifecyclestage\"}}",
        "{\"prior\":{\"property\":\"p\",\"value\":\"v\"},\"params\":{\"object_type\":"
        "\"../admin\",\"object_id\":\"512\"}}",
        "{\"prior\":{\"property\":\"Bad Name\",\"value\":\"v\"},\"params\":{\"object_type\":"
        "\"contacts\",\"object_id\":\"512\"}}",
        "{\"prior\":{\"property\":\"p\",\"value\":\"v\"},\"params\":{\"object_type\":"
        "\"contacts\"}}",
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, DONE_UPDATE("{\"property\":\"lifecyclestage\",\"value\":\"lead\"}"));
    expect_build(op_of("crm.restore_field")->build_request, "{}", &t.ctx,
                 "{\"method\":\"PATCH\",\"path\":\"/crm/v3/objects/contacts/512\","
                 "\"body\":{\"properties\":{\"lifecyclestage\":\"lead\"}}}");
    run_classify(op_of("crm.restore_field")->classify, "{}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
    /* a value that was unset is cleared again */
    ctx_init(&t, NULL, NULL, DONE_UPDATE("{\"property\":\"lifecyclestage\",\"value\":null}"));
    expect_build(op_of("crm.restore_field")->build_request, "{}", &t.ctx,
                 "{\"method\":\"PATCH\",\"path\":\"/crm/v3/objects/contacts/512\","
                 "\"body\":{\"properties\":{\"lifecyclestage\":\"\"}}}");
    ctx_free(&t);
    for (size_t i = 0; i < NCASES(unusable); i++) {
        static const struct ccase refused[] = {
            {200, "", ADAPTER_PERMANENT, NULL, NULL, "prior value"}};

        ctx_init(&t, NULL, NULL, unusable[i]);
        expect_build_fails(op_of("crm.restore_field")->build_request, "{}", &t.ctx, "prior value");
        run_classify(op_of("crm.restore_field")->classify, "{}", &t.ctx, refused, 1);
        ctx_free(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_task_accepts_good_parameters),
        cmocka_unit_test(create_task_refuses_bad_parameters_at_their_pointer),
        cmocka_unit_test(create_task_bounds_lengths_and_counts),
        cmocka_unit_test(create_opportunity_checks_its_parameters),
        cmocka_unit_test(update_field_checks_its_parameters),
        cmocka_unit_test(create_task_request_is_exact),
        cmocka_unit_test(create_opportunity_request_is_exact),
        cmocka_unit_test(every_property_value_sent_is_a_string),
        cmocka_unit_test(bad_idempotency_property_settings_fail_the_build),
        cmocka_unit_test(reconcile_searches_by_the_idempotency_property),
        cmocka_unit_test(update_field_reads_then_patches),
        cmocka_unit_test(creates_classify_their_answers),
        cmocka_unit_test(reconcile_finds_or_reports_absent),
        cmocka_unit_test(update_field_keeps_the_prior_value),
        cmocka_unit_test(archives_delete_the_created_object),
        cmocka_unit_test(restore_field_puts_the_prior_value_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
