/* Unit tests for adapters/calendar.c (Google Calendar v3) and adapters/email.c (Gmail v1):
 * parameter checks with their pointers (including header injection), the exact requests
 * (deterministic event ids, RFC 2822 messages as base64url, checked against Python's base64
 * module), classification, reconcile look-ups and the compensation requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_json.h"
#include "adapter_cases.h"

#define DM "calendar.draft_meeting"
#define CD "email.create_draft"
/* python3: base64.b32hexencode(KEY.encode()).decode().rstrip("=").lower() */
#define EID "d5lluc1h68pj8d9m6ss3iob2cdi6aphg64p36d1l6orjgeb1c9hm8pb660oj4cpk6kr3e"
#define MEET_OK                                                                                    \
    "\"summary\":\"Intro call\",\"start\":\"2026-11-21T10:00:00Z\","                               \
    "\"end\":\"2026-11-21T10:30:00Z\""
#define MAIL_OK "\"to\":\"ana@example.com\",\"subject\":\"Renewal\",\"body\":\"Hi\""

/* ---- calendar: validate ---- */

static void draft_meeting_accepts_good_parameters(void **state)
{
    static const struct vcase cases[] = {
        {DM, "{" MEET_OK "}", {0}, 0},
        {DM,
         "{" MEET_OK ",\"time_zone\":\"America/Argentina/Buenos_Aires\",\"description\":"
         "\"Agenda:\\n1. intro\",\"location\":\"Room 4\",\"attendees\":[\"ana@example.com\","
         "\"bob@example.org\"],\"calendar_id\":\"team@group.calendar.google.com\"}",
         {0},
         0},
        {DM, "{" MEET_OK ",\"time_zone\":\"Etc/GMT+5\",\"attendees\":[]}", {0}, 0},
        {DM, "{" MEET_OK ",\"time_zone\":null,\"attendees\":null,\"location\":null}", {0}, 0},
        /* ends a fraction of a second later */
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\","
         "\"end\":\"2026-11-21T10:00:00.001Z\"}",
         {0},
         0},
        /* 10:00+02:00 is 08:00Z, before 08:30Z */
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00+02:00\","
         "\"end\":\"2026-11-21T08:30:00Z\"}",
         {0},
         0},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

static void draft_meeting_refuses_bad_parameters_at_their_pointer(void **state)
{
    static const struct vcase cases[] = {
        {DM, "{}", {"/summary", "/start", "/end"}, 3},
        {DM, "\"meet\"", {""}, 1},
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\","
         "\"end\":\"2026-11-21T10:00:00Z\"}",
         {"/end"},
         1},
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\","
         "\"end\":\"2026-11-21T09:59:59Z\"}",
         {"/end"},
         1},
        /* 11:00+02:00 is 09:00Z */
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\","
         "\"end\":\"2026-11-21T11:00:00+02:00\"}",
         {"/end"},
         1},
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00.5Z\","
         "\"end\":\"2026-11-21T10:00:00.25Z\"}",
         {"/end"},
         1},
        /* a bad start is one error, not also "end before start" */
        {DM,
         "{\"summary\":\"S\",\"start\":\"soon\",\"end\":\"2026-11-21T10:00:00Z\"}",
         {"/start"},
         1},
        {DM,
         "{\"summary\":\"S\",\"start\":\"2026-11-21T10:00:00Z\",\"end\":\"2026-11-21\"}",
         {"/end"},
         1},
        {DM, "{" MEET_OK ",\"summary\":\"\"}", {"/summary"}, 1},
        {DM, "{" MEET_OK ",\"time_zone\":\"Europe/Paris \"}", {"/time_zone"}, 1},
        {DM, "{" MEET_OK ",\"time_zone\":\"../etc/passwd\"}", {"/time_zone"}, 1},
        {DM, "{" MEET_OK ",\"time_zone\":\"/UTC\"}", {"/time_zone"}, 1},
        {DM, "{" MEET_OK ",\"time_zone\":3}", {"/time_zone"}, 1},
        {DM, "{" MEET_OK ",\"attendees\":\"ana@example.com\"}", {"/attendees"}, 1},
        {DM, "{" MEET_OK ",\"attendees\":[\"ana@example.com\",\"nope\"]}", {"/attendees/1"}, 1},
        {DM, "{" MEET_OK ",\"attendees\":[\"a@b.com\\r\\nBcc: x@y.com\"]}", {"/attendees/0"}, 1},
        {DM, "{" MEET_OK ",\"attendees\":[{\"email\":\"a@b.com\"}]}", {"/attendees/0"}, 1},
        {DM, "{" MEET_OK ",\"description\":\"\"}", {"/description"}, 1},
        {DM, "{" MEET_OK ",\"location\":\"a\\nb\"}", {"/location"}, 1},
        {DM, "{" MEET_OK ",\"calendar_id\":7}", {"/calendar_id"}, 1},
        {DM, "{" MEET_OK ",\"sendUpdates\":\"all\"}", {"/sendUpdates"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
    static const char *const attendees[] = {"/attendees"};
    json_t *list = json_array();

    for (int i = 0; i < 101; i++) {
        char a[32];

        snprintf(a, sizeof a, "p%d@example.com", i);
        json_array_append_new(list, json_string(a));
    }
    json_t *p = json_pack("{s:s, s:s, s:s, s:o}", "summary", "S", "start", "2026-11-21T10:00:00Z",
                          "end", "2026-11-21T11:00:00Z", "attendees", list);

    assert_true(check_errors(DM, p, attendees, 1, "101 attendees"));
    json_array_remove(json_object_get(p, "attendees"), 0);
    assert_true(check_errors(DM, p, NULL, 0, "100 attendees"));
    json_decref(p);
}

/* ---- calendar: requests ---- */

static void draft_meeting_request_is_exact(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(DM)->build_request, "{" MEET_OK "}", &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/calendars/primary/events?sendUpdates=none\","
                 "\"body\":{\"id\":\"" EID "\",\"summary\":\"Intro call\",\"start\":{"
                 "\"dateTime\":\"2026-11-21T10:00:00Z\"},\"end\":{\"dateTime\":"
                 "\"2026-11-21T10:30:00Z\"},\"status\":\"tentative\"}}");
    expect_build(op_of(DM)->build_request,
                 "{" MEET_OK ",\"time_zone\":\"Europe/Paris\",\"description\":\"Agenda\","
                 "\"location\":\"Room 4\",\"attendees\":[\"ana@example.com\",\"bob@example.org\"],"
                 "\"calendar_id\":\"team@group.calendar.google.com\"}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":"
                 "\"/calendars/team%40group.calendar.google.com/events?sendUpdates=none\","
                 "\"body\":{\"id\":\"" EID "\",\"summary\":\"Intro call\",\"start\":{"
                 "\"dateTime\":\"2026-11-21T10:00:00Z\",\"timeZone\":\"Europe/Paris\"},\"end\":{"
                 "\"dateTime\":\"2026-11-21T10:30:00Z\",\"timeZone\":\"Europe/Paris\"},"
                 "\"status\":\"tentative\",\"description\":\"Agenda\",\"location\":\"Room 4\","
                 "\"attendees\":[{\"email\":\"ana@example.com\"},{\"email\":\"bob@example.org\"}"
                 "]}}");
    ctx_free(&t);
}

static void calendar_id_comes_from_parameter_then_setting_then_primary(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, "{\"calendar_id\":\"sales/shared cal\"}", NULL, NULL);
    expect_build(op_of(DM)->build_reconcile, "{" MEET_OK "}", &t.ctx,
                 "{\"method\":\"GET\",\"path\":\"/calendars/sales%2Fshared%20cal/events/" EID
                 "\"}");
    expect_build(op_of(DM)->build_reconcile, "{" MEET_OK ",\"calendar_id\":\"x@y.example\"}",
                 &t.ctx,
                 "{\"method\":\"GET\",\"path\":\"/calendars/x%40y.example/events/" EID "\"}");
    ctx_free(&t);
    ctx_init(&t, "{\"calendar_id\":5}", NULL, NULL);
    expect_build_fails(op_of(DM)->build_request, "{" MEET_OK "}", &t.ctx, "calendar_id");
    expect_build_fails(op_of(DM)->build_reconcile, "{" MEET_OK "}", &t.ctx, "calendar_id");
    ctx_free(&t);
    /* a key too short for Google's 5-character minimum */
    ctx_init(&t, NULL, NULL, NULL);
    t.ctx.idempotency_key = "ab";
    expect_build_fails(op_of(DM)->build_request, "{" MEET_OK "}", &t.ctx, "event id");
    ctx_free(&t);
}

/* ---- calendar: classify ---- */

static void draft_meeting_classifies_its_answers(void **state)
{
    static const struct ccase inserts[] = {
        {200,
         "{\"kind\":\"calendar#event\",\"id\":\"" EID "\",\"status\":\"tentative\","
         "\"htmlLink\":\"https://www.google.com/calendar/event?eid=abc\"}",
         ADAPTER_OK, EID,
         "{\"event_id\":\"" EID "\",\"status\":\"tentative\","
         "\"html_link\":\"https://www.google.com/calendar/event?eid=abc\"}",
         NULL},
        /* inserted, answer unreadable: the id is known anyway */
        {200, "", ADAPTER_OK, EID, "{\"event_id\":\"" EID "\",\"status\":\"tentative\"}", NULL},
        {409,
         "{\"error\":{\"code\":409,\"message\":\"The requested identifier already exists.\","
         "\"errors\":[{\"domain\":\"global\",\"reason\":\"duplicate\"}]}}",
         ADAPTER_CONFLICT, NULL, NULL, "already exists"},
        {403,
         "{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\",\"errors\":[{"
         "\"reason\":\"rateLimitExceeded\"}]}}",
         ADAPTER_RATE_LIMITED, NULL, NULL, "Rate Limit"},
        {403, "{\"error\":{\"code\":403,\"message\":\"Forbidden\"}}", ADAPTER_PERMANENT, NULL, NULL,
         "Forbidden"},
        {404, "{\"error\":{\"code\":404,\"message\":\"Not Found\"}}", ADAPTER_PERMANENT, NULL, NULL,
         "Not Found"},
        {400, "{\"error\":{\"code\":400,\"message\":\"Invalid start time.\"}}", ADAPTER_PERMANENT,
         NULL, NULL, "Invalid start"},
    };
    static const struct ccase lookups[] = {
        {200, "{\"id\":\"" EID "\",\"status\":\"confirmed\"}", ADAPTER_OK, EID,
         "{\"event_id\":\"" EID "\",\"status\":\"confirmed\"}", NULL},
        /* deleted since, but it was this step's effect */
        {200, "{\"id\":\"" EID "\",\"status\":\"cancelled\"}", ADAPTER_OK, EID,
         "{\"event_id\":\"" EID "\",\"status\":\"cancelled\"}", NULL},
        {404, "{\"error\":{\"code\":404,\"message\":\"Not Found\"}}", ADAPTER_ABSENT, NULL, NULL,
         NULL},
        {410, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(DM)->classify, "{" MEET_OK "}", &t.ctx, inserts, NCASES(inserts));
    run_classify(op_of(DM)->classify_reconcile, "{" MEET_OK "}", &t.ctx, lookups, NCASES(lookups));
    ctx_free(&t);
}

static void delete_event_undoes_the_draft(void **state)
{
    static const struct ccase answers[] = {
        {204, "", ADAPTER_OK, "ev512",
         "{\"event_id\":\"ev512\",\"deleted\":true,\"already_gone\":false}", NULL},
        {410, "", ADAPTER_OK, "ev512",
         "{\"event_id\":\"ev512\",\"deleted\":true,\"already_gone\":true}", NULL},
        {404, "", ADAPTER_OK, "ev512",
         "{\"event_id\":\"ev512\",\"deleted\":true,\"already_gone\":true}", NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
        {403, "", ADAPTER_PERMANENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL,
             "{\"external_id\":\"ev512\",\"result\":{\"event_id\":\"ev512\"},\"params\":{"
             "\"calendar_id\":\"team@x.example\"}}");
    expect_build(op_of("calendar.delete_event")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":"
                 "\"/calendars/team%40x.example/events/ev512?sendUpdates=none\"}");
    run_classify(op_of("calendar.delete_event")->classify, "{}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
    /* no id recorded: the id the draft was given, from the drafting step's key */
    ctx_init(&t, "{\"calendar_id\":\"ops\"}", NULL, "{\"external_id\":\"\",\"params\":{}}");
    expect_build(op_of("calendar.delete_event")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/calendars/ops/events/" EID
                 "?sendUpdates=none\"}");
    ctx_free(&t);
    ctx_init(&t, "{\"calendar_id\":[]}", NULL, "{\"external_id\":\"ev512\"}");
    expect_build_fails(op_of("calendar.delete_event")->build_request, "{}", &t.ctx, "calendar_id");
    ctx_free(&t);
}

/* ---- email: validate ---- */

static void create_draft_checks_its_parameters(void **state)
{
    static const struct vcase cases[] = {
        {CD, "{" MAIL_OK "}", {0}, 0},
        {CD,
         "{\"to\":[\"ana@example.com\",\"bob@example.org\"],\"cc\":\"carl@example.net\","
         "\"from\":\"rep@seller.example\",\"subject\":\"Caf\\u00e9 \\u2615\","
         "\"body\":\"Hi Ana,\\n\\nSee you.\\r\\n\\t-- rep\"}",
         {0},
         0},
        {CD, "{" MAIL_OK ",\"cc\":[\"a@b.example\"],\"from\":null}", {0}, 0},
        {CD, "{}", {"/to", "/subject", "/body"}, 3},
        {CD, "[\"ana@example.com\"]", {""}, 1},
        {CD, "{\"to\":\"\",\"subject\":\"S\",\"body\":\"B\"}", {"/to"}, 1},
        {CD, "{\"to\":\"ana\",\"subject\":\"S\",\"body\":\"B\"}", {"/to"}, 1},
        {CD, "{\"to\":[],\"subject\":\"S\",\"body\":\"B\"}", {"/to"}, 1},
        {CD, "{\"to\":5,\"subject\":\"S\",\"body\":\"B\"}", {"/to"}, 1},
        {CD, "{\"to\":[\"a@b.example\",\"bad\"],\"subject\":\"S\",\"body\":\"B\"}", {"/to/1"}, 1},
        {CD, "{\"to\":[\"a@b.example\",7],\"subject\":\"S\",\"body\":\"B\"}", {"/to/1"}, 1},
        {CD, "{" MAIL_OK ",\"cc\":\"x\"}", {"/cc"}, 1},
        {CD, "{" MAIL_OK ",\"from\":\"Ana <ana@b.example>\"}", {"/from"}, 1},
        {CD, "{" MAIL_OK ",\"bcc\":\"x@y.example\"}", {"/bcc"}, 1},
        {CD, "{" MAIL_OK ",\"body\":\"\"}", {"/body"}, 1},
        {CD, "{" MAIL_OK ",\"body\":\"a\\u0000b\"}", {"/body"}, 1},
        {CD, "{" MAIL_OK ",\"subject\":\"\"}", {"/subject"}, 1},
    };

    (void)state;
    run_cases(cases, NCASES(cases));
}

/* CR or LF in a header-bound value would start a header of its own (Bcc: ...). */
static void header_injection_is_refused_at_validate(void **state)
{
    static const struct vcase cases[] = {
        {CD, "{" MAIL_OK ",\"subject\":\"Hi\\r\\nBcc: evil@x.example\"}", {"/subject"}, 1},
        {CD, "{" MAIL_OK ",\"subject\":\"Hi\\nBcc: evil@x.example\"}", {"/subject"}, 1},
        {CD, "{" MAIL_OK ",\"subject\":\"Hi\\rBcc: evil@x.example\"}", {"/subject"}, 1},
        {CD,
         "{\"to\":\"a@b.example\\r\\nBcc: evil@x.example\",\"subject\":\"S\",\"body\":\"B\"}",
         {"/to"},
         1},
        {CD, "{" MAIL_OK ",\"cc\":[\"a@b.example\\nBcc: evil@x.example\"]}", {"/cc/0"}, 1},
        {CD, "{" MAIL_OK ",\"from\":\"a@b.example\\r\\n\"}", {"/from"}, 1},
    };
    struct adapter_errors errs = {0};
    json_t *p = doc_of("{" MAIL_OK ",\"subject\":\"Hi\\r\\nBcc: evil@x.example\"}");

    (void)state;
    run_cases(cases, NCASES(cases));
    assert_int_equal(op_of(CD)->validate(p, &errs), 1);
    assert_non_null(strstr(errs.items[0].message, "CR or LF"));
    json_decref(p);
}

static void create_draft_bounds_recipients(void **state)
{
    static const char *const to[] = {"/to"};
    json_t *list = json_array();

    (void)state;
    for (int i = 0; i < 101; i++) {
        char a[32];

        snprintf(a, sizeof a, "p%d@example.com", i);
        json_array_append_new(list, json_string(a));
    }
    json_t *p = json_pack("{s:o, s:s, s:s}", "to", list, "subject", "S", "body", "B");

    assert_true(check_errors(CD, p, to, 1, "101 recipients"));
    json_array_remove(json_object_get(p, "to"), 0);
    assert_true(check_errors(CD, p, NULL, 0, "100 recipients"));
    json_decref(p);
}

/* ---- email: requests (raw values from Python's base64.urlsafe_b64encode) ---- */

static void create_draft_sends_a_deterministic_rfc2822_message(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    /* "To: ana@example.com\r\nSubject: Renewal\r\nMessage-ID: <KEY@intentd.invalid>\r\n
     * MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n
     * Content-Transfer-Encoding: base64\r\n\r\nSGkgQW5hLA0KU2VlIHlvdS4NCg==\r\n" */
    expect_build(op_of(CD)->build_request,
                 "{\"to\":\"ana@example.com\",\"subject\":\"Renewal\","
                 "\"body\":\"Hi Ana,\\nSee you.\\n\"}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/gmail/v1/users/me/drafts\",\"body\":{"
                 "\"message\":{\"raw\":\"VG86IGFuYUBleGFtcGxlLmNvbQ0KU3ViamVjdDogUmVuZXdhbA0KTWVz"
                 "c2FnZS1JRDogPGlrXzAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1NjdAaW50ZW"
                 "50ZC5pbnZhbGlkPg0KTUlNRS1WZXJzaW9uOiAxLjANCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbjsg"
                 "Y2hhcnNldD1VVEYtOA0KQ29udGVudC1UcmFuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNClNHa2dRVz"
                 "VoTEEwS1UyVmxJSGx2ZFM0TkNnPT0NCg==\"}}}");
    /* Subject "Café rendez-vous ☕" as one encoded word:
     * "=?UTF-8?B?Q2Fmw6kgcmVuZGV6LXZvdXMg4piV?=" */
    expect_build(op_of(CD)->build_request,
                 "{\"to\":\"ana@example.com\",\"subject\":\"Caf\\u00e9 rendez-vous \\u2615\","
                 "\"body\":\"ok\"}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/gmail/v1/users/me/drafts\",\"body\":{"
                 "\"message\":{\"raw\":\"VG86IGFuYUBleGFtcGxlLmNvbQ0KU3ViamVjdDogPT9VVEYtOD9CP1Ey"
                 "Rm13NmtnY21WdVpHVjZMWFp2ZFhNZzRwaVY_PQ0KTWVzc2FnZS1JRDogPGlrXzAxMjM0NTY3ODlhYm"
                 "NkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1NjdAaW50ZW50ZC5pbnZhbGlkPg0KTUlNRS1WZXJzaW9u"
                 "OiAxLjANCkNvbnRlbnQtVHlwZTogdGV4dC9wbGFpbjsgY2hhcnNldD1VVEYtOA0KQ29udGVudC1Ucm"
                 "Fuc2Zlci1FbmNvZGluZzogYmFzZTY0DQoNCmIycz0NCg==\"}}}");
    /* ASCII that reads like an encoded word is encoded too: "=?UTF-8?B?PT91dGYtOD9xP3g/PQ==?=" */
    expect_build(op_of(CD)->build_request,
                 "{\"to\":\"ana@example.com\",\"subject\":\"=?utf-8?q?x?=\",\"body\":\"ok\"}",
                 &t.ctx,
                 "{\"method\":\"POST\",\"path\":\"/gmail/v1/users/me/drafts\",\"body\":{"
                 "\"message\":{\"raw\":\"VG86IGFuYUBleGFtcGxlLmNvbQ0KU3ViamVjdDogPT9VVEYtOD9CP1BU"
                 "OTFkR1l0T0Q5eFAzZy9QUT09Pz0NCk1lc3NhZ2UtSUQ6IDxpa18wMTIzNDU2Nzg5YWJjZGVmMDEyMz"
                 "Q1Njc4OWFiY2RlZjAxMjM0NTY3QGludGVudGQuaW52YWxpZD4NCk1JTUUtVmVyc2lvbjogMS4wDQpD"
                 "b250ZW50LVR5cGU6IHRleHQvcGxhaW47IGNoYXJzZXQ9VVRGLTgNCkNvbnRlbnQtVHJhbnNmZXItRW"
                 "5jb2Rpbmc6IGJhc2U2NA0KDQpiMnM9DQo=\"}}}");
    ctx_free(&t);
}

/* Folded To, Cc, From, a subject split into encoded words without cutting a character, and a
 * body whose LF, CRLF and CR all become CRLF, wrapped at 76. */
static void create_draft_folds_encodes_and_wraps(void **state)
{
    struct test_ctx t;

    (void)state;
    ctx_init(&t,
             "{\"user_id\":\"sales@seller.example\",\"message_id_domain\":"
             "\"mail.seller.example\"}",
             NULL, NULL);
    /* "To: alexandra.example@customer-one.example,\r\n bartholomew.example@customer-two.example,
     *  c@x.example\r\nCc: dan@example.org\r\nFrom: rep@seller.example\r\n
     *  Subject: =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6k=?=\r\n
     *   =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqQ==?=\r\nMessage-ID: <KEY@mail.seller.example>..."
     */
    expect_build(
        op_of(CD)->build_request,
        "{\"to\":[\"alexandra.example@customer-one.example\","
        "\"bartholomew.example@customer-two.example\",\"c@x.example\"],"
        "\"cc\":\"dan@example.org\",\"from\":\"rep@seller.example\",\"subject\":"
        "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
        "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\","
        "\"body\":\"Line one\\nline two\\r\\nline three\\rend \\u2014 "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
        &t.ctx,
        "{\"method\":\"POST\",\"path\":\"/gmail/v1/users/sales%40seller.example/drafts\",\"body\":{"
        "\"message\":{\"raw\":\"VG86IGFsZXhhbmRyYS5leGFtcGxlQGN1c3RvbWVyLW9uZS5leGFtcGxlLA0KIGJh"
        "cnRob2xvbWV3LmV4YW1wbGVAY3VzdG9tZXItdHdvLmV4YW1wbGUsIGNAeC5leGFtcGxlDQpDYzogZGFuQGV4YW1w"
        "bGUub3JnDQpGcm9tOiByZXBAc2VsbGVyLmV4YW1wbGUNClN1YmplY3Q6ID0_VVRGLTg_Qj93Nm5EcWNPcHc2bkRx"
        "Y09wdzZuRHFjT3B3Nm5EcWNPcHc2bkRxY09wdzZuRHFjT3B3Nms9Pz0NCiA9P1VURi04P0I_dzZuRHFjT3B3Nm5E"
        "cWNPcHc2bkRxY09wdzZuRHFRPT0_PQ0KTWVzc2FnZS1JRDogPGlrXzAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5"
        "YWJjZGVmMDEyMzQ1NjdAbWFpbC5zZWxsZXIuZXhhbXBsZT4NCk1JTUUtVmVyc2lvbjogMS4wDQpDb250ZW50LVR5"
        "cGU6IHRleHQvcGxhaW47IGNoYXJzZXQ9VVRGLTgNCkNvbnRlbnQtVHJhbnNmZXItRW5jb2Rpbmc6IGJhc2U2NA0K"
        "DQpUR2x1WlNCdmJtVU5DbXhwYm1VZ2RIZHZEUXBzYVc1bElIUm9jbVZsRFFwbGJtUWc0b0NVSUhoNGVIaDRlSGg0"
        "ZUhoNGVIaDRlSGg0DQplSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0ZUhoNGVIaDRlSGg0"
        "ZUhoNGVBPT0NCg==\"}}}");
    ctx_free(&t);
}

static void email_settings_are_checked(void **state)
{
    static const char *const bad[] = {
        "{\"message_id_domain\":\"not a domain\"}",
        "{\"message_id_domain\":\"localhost\"}",
        "{\"message_id_domain\":7}",
        "{\"user_id\":\"\"}",
        "{\"user_id\":{}}",
    };

    (void)state;
    for (size_t i = 0; i < NCASES(bad); i++) {
        struct test_ctx t;

        ctx_init(&t, bad[i], NULL, "{\"external_id\":\"r-1\"}");
        expect_build_fails(op_of(CD)->build_request, "{" MAIL_OK "}", &t.ctx, "setting");
        expect_build_fails(op_of(CD)->build_reconcile, "{" MAIL_OK "}", &t.ctx, "setting");
        expect_build_fails(op_of("email.delete_draft")->build_request, "{}", &t.ctx, "setting");
        ctx_free(&t);
    }
}

static void reconcile_lists_drafts_by_message_id(void **state)
{
    static const struct ccase lookups[] = {
        {200,
         "{\"drafts\":[{\"id\":\"r-512\",\"message\":{\"id\":\"m1\",\"threadId\":\"t1\"}}],"
         "\"resultSizeEstimate\":1}",
         ADAPTER_OK, "r-512",
         "{\"draft_id\":\"r-512\",\"message_id\":\"m1\",\"thread_id\":\"t1\","
         "\"rfc822_message_id\":\"<" KEY "@intentd.invalid>\"}",
         NULL},
        {200, "{\"resultSizeEstimate\":0}", ADAPTER_ABSENT, NULL, NULL, NULL},
        {200, "{\"drafts\":[]}", ADAPTER_ABSENT, NULL, NULL, NULL},
        {200, "garbage", ADAPTER_PERMANENT, NULL, NULL, NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    expect_build(op_of(CD)->build_reconcile, "{" MAIL_OK "}", &t.ctx,
                 "{\"method\":\"GET\",\"path\":\"/gmail/v1/users/me/drafts?q=rfc822msgid%3A" KEY
                 "%40intentd.invalid\"}");
    run_classify(op_of(CD)->classify_reconcile, "{" MAIL_OK "}", &t.ctx, lookups, NCASES(lookups));
    ctx_free(&t);
}

static void create_draft_classifies_its_answers(void **state)
{
    static const struct ccase answers[] = {
        {200,
         "{\"id\":\"r-512\",\"message\":{\"id\":\"m1\",\"threadId\":\"t1\",\"labelIds\":["
         "\"DRAFT\"]}}",
         ADAPTER_OK, "r-512",
         "{\"draft_id\":\"r-512\",\"message_id\":\"m1\",\"thread_id\":\"t1\","
         "\"rfc822_message_id\":\"<" KEY "@intentd.invalid>\"}",
         NULL},
        {200, "", ADAPTER_OK, "",
         "{\"draft_id\":null,\"message_id\":null,\"thread_id\":null,"
         "\"rfc822_message_id\":\"<" KEY "@intentd.invalid>\"}",
         NULL},
        {400, "{\"error\":{\"code\":400,\"message\":\"Invalid To header\"}}", ADAPTER_PERMANENT,
         NULL, NULL, "Invalid To header"},
        {403, "{\"error\":{\"errors\":[{\"reason\":\"userRateLimitExceeded\"}]}}",
         ADAPTER_RATE_LIMITED, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, NULL);
    run_classify(op_of(CD)->classify, "{" MAIL_OK "}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
}

static void delete_draft_undoes_the_draft(void **state)
{
    static const struct ccase answers[] = {
        {204, "", ADAPTER_OK, "r-512",
         "{\"draft_id\":\"r-512\",\"deleted\":true,\"already_gone\":false}", NULL},
        {404, "", ADAPTER_OK, "r-512",
         "{\"draft_id\":\"r-512\",\"deleted\":true,\"already_gone\":true}", NULL},
        {500, "", ADAPTER_TRANSIENT, NULL, NULL, NULL},
    };
    struct test_ctx t;

    (void)state;
    ctx_init(&t, NULL, NULL, "{\"external_id\":\"r-512\",\"result\":{\"draft_id\":\"r-512\"}}");
    expect_build(op_of("email.delete_draft")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/gmail/v1/users/me/drafts/r-512\"}");
    run_classify(op_of("email.delete_draft")->classify, "{}", &t.ctx, answers, NCASES(answers));
    ctx_free(&t);
    ctx_init(&t, NULL, NULL, "{\"result\":{\"draft_id\":\"r 9\"}}");
    expect_build(op_of("email.delete_draft")->build_request, "{}", &t.ctx,
                 "{\"method\":\"DELETE\",\"path\":\"/gmail/v1/users/me/drafts/r%209\"}");
    ctx_free(&t);
    ctx_init(&t, NULL, NULL, "{\"result\":{\"draft_id\":null}}");
    expect_build_fails(op_of("email.delete_draft")->build_request, "{}", &t.ctx, "draft id");
    ctx_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(draft_meeting_accepts_good_parameters),
        cmocka_unit_test(draft_meeting_refuses_bad_parameters_at_their_pointer),
        cmocka_unit_test(draft_meeting_request_is_exact),
        cmocka_unit_test(calendar_id_comes_from_parameter_then_setting_then_primary),
        cmocka_unit_test(draft_meeting_classifies_its_answers),
        cmocka_unit_test(delete_event_undoes_the_draft),
        cmocka_unit_test(create_draft_checks_its_parameters),
        cmocka_unit_test(header_injection_is_refused_at_validate),
        cmocka_unit_test(create_draft_bounds_recipients),
        cmocka_unit_test(create_draft_sends_a_deterministic_rfc2822_message),
        cmocka_unit_test(create_draft_folds_encodes_and_wraps),
        cmocka_unit_test(email_settings_are_checked),
        cmocka_unit_test(reconcile_lists_drafts_by_message_id),
        cmocka_unit_test(create_draft_classifies_its_answers),
        cmocka_unit_test(delete_draft_undoes_the_draft),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
