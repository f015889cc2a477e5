/* The calendar connector: Google Calendar v3 events (docs/connectors-wire.md, "calendar"). A
 * meeting is drafted as a tentative event inserted without notifying anyone; its id is derived
 * from the step's idempotency key, so a repeated insert answers 409 and a GET of that id finds
 * the earlier event. */
#include <stdio.h>
#include <string.h>

#include "connectors.h"
#include "http_common.h"
#include "params.h"

#define SUMMARY_MAX     1024
#define DESCRIPTION_MAX 8192
#define LOCATION_MAX    1024
#define TIME_ZONE_MAX   64
#define CALENDAR_ID_MAX 255
#define ATTENDEES_MAX   100
/* base32hex of a key of at most 64 bytes is at most 103 characters */
#define EVENT_ID_MAX 128

/* IANA names ("Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "UTC"). */
static bool time_zone_shape(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > TIME_ZONE_MAX || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || strchr("_+-/", s[i])))
            return false;
    return true;
}

/* Orders two parsed instants: seconds, then the fraction digits as a decimal. */
static int compare_instants(long long a, const char *fa, long long b, const char *fb)
{
    if (a != b)
        return a < b ? -1 : 1;
    char pa[7] = "000000", pb[7] = "000000";
    memcpy(pa, fa, strlen(fa));
    memcpy(pb, fb, strlen(fb));
    return strcmp(pa, pb) < 0 ? -1 : strcmp(pa, pb) > 0;
}

static size_t validate_draft_meeting(const json_t *params, struct adapter_errors *errs)
{
    static const char *const known[] = {"summary",   "start",       "end",
                                        "time_zone", "description", "location",
                                        "attendees", "calendar_id", NULL};
    size_t before = errs->count;
    if (!adapter_params_object(params, errs))
        return errs->count - before;
    adapter_params_known(params, "", known, errs);
    adapter_check_text(params, "summary", true, SUMMARY_MAX, false, errs);
    long long s_epoch, e_epoch;
    char s_frac[8], e_frac[8];
    const char *start = adapter_check_time(params, "start", true, &s_epoch, s_frac, errs);
    const char *end = adapter_check_time(params, "end", true, &e_epoch, e_frac, errs);
    if (start && end && compare_instants(e_epoch, e_frac, s_epoch, s_frac) <= 0)
        adapter_error(errs, "/end", "end must be after start");
    const char *tz = adapter_check_text(params, "time_zone", false, TIME_ZONE_MAX, false, errs);
    if (tz && !time_zone_shape(tz))
        adapter_error(errs, "/time_zone",
                      "time_zone must be an IANA time zone name like \"Europe/Paris\"");
    adapter_check_text(params, "description", false, DESCRIPTION_MAX, true, errs);
    adapter_check_text(params, "location", false, LOCATION_MAX, false, errs);
    adapter_check_text(params, "calendar_id", false, CALENDAR_ID_MAX, false, errs);
    const json_t *list = json_object_get(params, "attendees");
    if (list && !json_is_null(list) && !json_is_array(list)) {
        adapter_error(errs, "/attendees", "attendees must be an array of e-mail addresses");
    } else if (json_array_size(list) > ATTENDEES_MAX) {
        adapter_error(errs, "/attendees", "attendees must have at most %d addresses, not %zu",
                      ATTENDEES_MAX, json_array_size(list));
    } else {
        size_t i;
        const json_t *a;
        json_array_foreach(list, i, a)
        {
            char ptr[32];
            snprintf(ptr, sizeof ptr, "/attendees/%zu", i);
            adapter_check_email(a, ptr, "attendee", errs);
        }
    }
    return errs->count - before;
}

/* The calendar: the parameter, else the setting, else the user's primary calendar. */
static int calendar_of(const json_t *params, const struct adapter_ctx *ctx, const char **out,
                       char cause[ADAPTER_MESSAGE_MAX])
{
    *out = json_string_value(json_object_get(params, "calendar_id"));
    if (*out)
        return 0;
    return adapter_setting(ctx, "calendar_id", "primary", CALENDAR_ID_MAX, out, cause);
}

/* The event id Google is given: the key's bytes in base32hex. Google wants 5 to 1024
 * characters of [0-9a-v]. */
static int event_id_of(const struct adapter_ctx *ctx, char id[EVENT_ID_MAX],
                       char cause[ADAPTER_MESSAGE_MAX])
{
    const char *key = ctx->idempotency_key ? ctx->idempotency_key : "";
    if (adapter_base32hex(key, strlen(key), id, EVENT_ID_MAX) || strlen(id) < 5)
        return adapter_build_fail(cause, "idempotency key of %zu bytes cannot make an event id",
                                  strlen(key));
    return 0;
}

/* /calendars/{calendarId}/events[/{eventId}] */
static void events_path(struct adapter_path *p, const char *calendar, const char *event_id)
{
    adapter_path_init(p);
    adapter_path_lit(p, "/calendars/");
    adapter_path_esc(p, calendar);
    adapter_path_lit(p, "/events");
    if (event_id) {
        adapter_path_lit(p, "/");
        adapter_path_esc(p, event_id);
    }
}

static json_t *when(const char *date_time, const char *tz)
{
    json_t *w = json_pack("{s:s}", "dateTime", date_time);
    if (w && tz && json_object_set_new(w, "timeZone", json_string(tz))) {
        json_decref(w);
        return NULL;
    }
    return w;
}

static int build_draft_meeting(const json_t *params, const struct adapter_ctx *ctx,
                               json_t **request, char cause[ADAPTER_MESSAGE_MAX])
{
    const char *calendar, *tz = json_string_value(json_object_get(params, "time_zone"));
    char id[EVENT_ID_MAX];
    if (calendar_of(params, ctx, &calendar, cause) || event_id_of(ctx, id, cause))
        return -1;
    json_t *start = when(json_string_value(json_object_get(params, "start")), tz);
    json_t *end = when(json_string_value(json_object_get(params, "end")), tz);
    json_t *ev =
        json_pack("{s:s, s:s, s:s}", "id", id, "summary",
                  json_string_value(json_object_get(params, "summary")), "status", "tentative");
    int rc = !start || !end || !ev;
    if (!rc) {
        /* set_new takes the value over even when it fails */
        rc |= json_object_set_new(ev, "start", start);
        rc |= json_object_set_new(ev, "end", end);
        start = end = NULL;
    }
    static const char *const optional[] = {"description", "location", NULL};
    for (size_t i = 0; !rc && optional[i]; i++) {
        json_t *v = json_object_get(params, optional[i]);
        if (json_is_string(v))
            rc |= json_object_set(ev, optional[i], v);
    }
    const json_t *list = json_object_get(params, "attendees");
    if (!rc && json_is_array(list)) {
        json_t *people = json_array();
        size_t i;
        const json_t *a;
        json_array_foreach(list, i, a)
        {
            if (!people || json_array_append_new(people, json_pack("{s:O}", "email", a)))
                rc = 1;
        }
        rc |= json_object_set_new(ev, "attendees", people);
    }
    if (rc) {
        json_decref(start);
        json_decref(end);
        json_decref(ev);
        return adapter_build_fail(cause, "out of memory");
    }
    struct adapter_path p;
    events_path(&p, calendar, NULL);
    adapter_path_lit(&p, "?sendUpdates=none");
    return adapter_request("POST", &p, ev, request, cause);
}

/* An event as the Task's result: {"event_id", "html_link"?, "status"}. */
static void event_found(const struct adapter_ctx *ctx, const struct adapter_response *resp,
                        struct adapter_outcome *out)
{
    char fallback[EVENT_ID_MAX] = "", buf[ADAPTER_ID_MAX];
    event_id_of(ctx, fallback, NULL);
    json_t *body = adapter_body_object(resp);
    const char *id = adapter_id_text(json_object_get(body, "id"), buf, sizeof buf);
    const char *status = json_string_value(json_object_get(body, "status"));
    json_t *link = json_object_get(body, "htmlLink");
    json_t *result = json_pack("{s:s, s:s}", "event_id", id ? id : fallback, "status",
                               status ? status : "tentative");
    if (result && json_is_string(link) && json_object_set(result, "html_link", link)) {
        json_decref(result);
        result = NULL;
    }
    adapter_ok(out, id ? id : fallback, result);
    json_decref(body);
}

static void classify_draft_meeting(const json_t *params, const struct adapter_ctx *ctx,
                                   const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    if (adapter_is_2xx(resp->status)) {
        event_found(ctx, resp, out);
    } else if (resp->status == 409) {
        char msg[ADAPTER_MESSAGE_MAX - 48];
        adapter_vendor_message(resp, msg, sizeof msg);
        adapter_fail(out, ADAPTER_CONFLICT, "HTTP 409: the event id exists%s%s", msg[0] ? ": " : "",
                     msg);
    } else {
        adapter_classify_google(resp, out);
    }
}

static int build_get_event(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                           char cause[ADAPTER_MESSAGE_MAX])
{
    const char *calendar;
    char id[EVENT_ID_MAX];
    if (calendar_of(params, ctx, &calendar, cause) || event_id_of(ctx, id, cause))
        return -1;
    struct adapter_path p;
    events_path(&p, calendar, id);
    return adapter_request("GET", &p, NULL, request, cause);
}

/* 200: the earlier insert happened (even when the event was since cancelled, it was this
 * step's effect); 404: it did not. */
static void classify_get_event(const json_t *params, const struct adapter_ctx *ctx,
                               const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    if (adapter_is_2xx(resp->status))
        event_found(ctx, resp, out);
    else if (resp->status == 404)
        adapter_fail(out, ADAPTER_ABSENT, "no event with this step's id");
    else
        adapter_classify_google(resp, out);
}

/* The event to delete: the recorded id, else the id the draft was given (the compensation
 * runs with the drafting step's key). */
static const char *done_event(const struct adapter_ctx *ctx, char *buf, size_t buflen)
{
    const char *id = adapter_done_id(ctx, "event_id", buf, buflen);
    if (!id && buflen >= EVENT_ID_MAX && !event_id_of(ctx, buf, NULL))
        id = buf;
    return id;
}

static int build_delete_event(const json_t *params, const struct adapter_ctx *ctx, json_t **request,
                              char cause[ADAPTER_MESSAGE_MAX])
{
    (void)params;
    const char *calendar;
    char id[ADAPTER_ID_MAX];
    if (calendar_of(json_object_get(ctx->done, "params"), ctx, &calendar, cause))
        return -1;
    if (!done_event(ctx, id, sizeof id))
        return adapter_build_fail(cause, "no event id was recorded for the step to undo");
    struct adapter_path p;
    events_path(&p, calendar, id);
    adapter_path_lit(&p, "?sendUpdates=none");
    return adapter_request("DELETE", &p, NULL, request, cause);
}

/* 2xx deleted; 404 and 410 deleted before (an earlier attempt, or someone in the calendar). */
static void classify_delete_event(const json_t *params, const struct adapter_ctx *ctx,
                                  const struct adapter_response *resp, struct adapter_outcome *out)
{
    (void)params;
    char id[ADAPTER_ID_MAX] = "";
    done_event(ctx, id, sizeof id);
    bool gone = resp->status == 404 || resp->status == 410;
    if (adapter_is_2xx(resp->status) || gone)
        adapter_ok(
            out, id,
            json_pack("{s:s, s:b, s:b}", "event_id", id, "deleted", 1, "already_gone", gone));
    else
        adapter_classify_google(resp, out);
}

const struct adapter_op calendar_draft_meeting = {
    .name = "calendar.draft_meeting",
    .repeat_safe = true,
    .reversible = true,
    .validate = validate_draft_meeting,
    .build_request = build_draft_meeting,
    .classify = classify_draft_meeting,
    .build_reconcile = build_get_event,
    .classify_reconcile = classify_get_event,
};

const struct adapter_op calendar_delete_event = {
    .name = "calendar.delete_event",
    .repeat_safe = true,
    .validate = adapter_params_any,
    .build_request = build_delete_event,
    .classify = classify_delete_event,
};
