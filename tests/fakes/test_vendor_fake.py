"""Vendor behaviours of the fake: happy paths, required fields, idempotency and duplicates,
auth and OAuth. Faults, the control API and HTTP framing are in test_vendor_fake_faults.py and
test_vendor_fake_http.py."""

import time

import pytest

from fake_helpers import b64url, event_body, rfc2822, task_body

KEY = "ik_" + "ab" * 20


def hs_error_ok(data, category):
    assert data["status"] == "error"
    assert data["category"] == category
    assert isinstance(data["message"], str) and data["message"]
    assert isinstance(data["correlationId"], str) and len(data["correlationId"]) == 36


def google_error_ok(data, code, reason):
    err = data["error"]
    assert err["code"] == code
    assert isinstance(err["message"], str) and err["message"]
    assert err["errors"][0]["reason"] == reason
    assert err["errors"][0]["domain"] == "global"


# ---- HubSpot -------------------------------------------------------------------------------


def test_hubspot_create_task_and_deal(fake):
    st, task = fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY))
    assert st == 201
    assert task["id"].isdigit() and task["archived"] is False
    assert task["properties"]["hs_task_subject"] == "Call back"
    assert task["properties"]["hs_object_id"] == task["id"]
    deal = {"properties": {"dealname": "Big", "dealstage": "appointmentscheduled",
                           "amount": "12.50", "closedate": "2026-12-31T00:00:00Z"},
            "associations": [{"to": {"id": "501"}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]}
    st, d = fake.call("POST", "/crm/v3/objects/0-3", deal)
    assert st == 201
    assert d["properties"]["pipeline"] == "default"
    effs = fake.effects(vendor="hubspot")
    assert [(e["kind"], e["object_type"], e["id"], e["state"]) for e in effs] == [
        ("create", "tasks", task["id"], "live"), ("create", "deals", d["id"], "live")]
    assert effs[0]["marker"] == KEY and effs[1]["marker"] is None
    assert effs[0]["body"] == task_body(KEY) and effs[0]["deleted_at"] is None


@pytest.mark.parametrize("otype,body,needle", [
    ("tasks", {"associations": []}, "properties is required"),
    ("tasks", {"properties": {"hs_timestamp": "1"}}, "associations is required"),
    ("tasks", {"properties": {"hs_timestamp": 1735689600000}, "associations": []}, "string"),
    ("tasks", {"properties": {"hs_task_subject": "x"}, "associations": []}, "hs_timestamp"),
    ("tasks", {"properties": {"hs_timestamp": "tomorrow"}, "associations": []}, "hs_timestamp"),
    ("tasks", {"properties": {"hs_timestamp": "1", "hs_task_status": "DONE"},
               "associations": []}, "hs_task_status"),
    ("tasks", {"properties": {"hs_timestamp": "1"},
               "associations": [{"to": {"id": 5}, "types": [
                   {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]}]},
     "to.id"),
    ("tasks", {"properties": {"hs_timestamp": "1"},
               "associations": [{"to": {"id": "5"}, "types": [
                   {"associationCategory": "MINE", "associationTypeId": 1}]}]},
     "associationCategory"),
    ("tasks", {"properties": {"hs_timestamp": "1"},
               "associations": [{"to": {"id": "5"}, "types": [
                   {"associationCategory": "WORK", "associationTypeId": "1"}]}]},
     "associationTypeId"),
    ("tasks", {"properties": {"hs_timestamp": "1"}, "associations": [{"to": {"id": "5"}}]},
     "types"),
    ("deals", {"properties": {"dealstage": "s"}, "associations": []}, "dealname"),
    ("deals", {"properties": {"dealname": "n"}, "associations": []}, "dealstage"),
    ("deals", {"properties": {"dealname": "n", "dealstage": "s", "amount": "lots"},
               "associations": []}, "amount"),
    ("tasks", "[]", "object"),
    ("tasks", "{not json", "Invalid input JSON"),
])
def test_hubspot_create_validation(fake, otype, body, needle):
    st, data = fake.call("POST", "/crm/v3/objects/" + otype, body)
    assert st == 400
    hs_error_ok(data, "VALIDATION_ERROR")
    assert needle in data["message"]
    assert fake.effects() == []


def test_hubspot_unknown_object_type_and_route(fake):
    st, data = fake.call("POST", "/crm/v3/objects/widgets", task_body())
    assert st == 400 and "widgets" in data["message"]
    st, data = fake.call("GET", "/crm/v3/objects/tasks/1/associations")
    assert st == 404
    hs_error_ok(data, "OBJECT_NOT_FOUND")
    st, data = fake.call("PUT", "/crm/v3/objects/tasks")
    assert st == 405


def test_hubspot_unique_property_conflict(fake):
    st, first = fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY))
    assert st == 201
    st, data = fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY, hs_task_subject="y"))
    assert st == 409
    hs_error_ok(data, "CONFLICT")
    assert first["id"] in data["message"]
    # unique per object type
    deal = {"properties": {"dealname": "n", "dealstage": "s", "intentd_idempotency_key": KEY},
            "associations": []}
    assert fake.call("POST", "/crm/v3/objects/deals", deal)[0] == 201
    # a PATCH onto a taken value conflicts too
    st, other = fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_other"))
    st, data = fake.call("PATCH", "/crm/v3/objects/tasks/" + other["id"],
                         {"properties": {"intentd_idempotency_key": KEY}})
    assert st == 409
    # archiving releases the value
    assert fake.call("DELETE", "/crm/v3/objects/tasks/" + first["id"])[0] == 204
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY))[0] == 201
    assert len(fake.effects(vendor="hubspot", kind="create")) == 4


def test_hubspot_unique_property_is_configurable(fake):
    fake.config(hubspot_unique_property="my_key")
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY))[0] == 201
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY))[0] == 201
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(my_key="a"))[0] == 201
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(my_key="a"))[0] == 409
    assert [e["marker"] for e in fake.effects()] == [None, None, "a"]
    fake.config(hubspot_unique_property=None)
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(my_key="a"))[0] == 201


def test_hubspot_get_patch_archive(fake):
    st, obj = fake.call("POST", "/crm/v3/objects/tasks", task_body(KEY, hs_task_body="old"))
    oid = obj["id"]
    st, got = fake.call("GET", "/crm/v3/objects/tasks/%s?properties=hs_task_body,hs_nothing"
                        % oid)
    assert st == 200
    assert got["properties"]["hs_task_body"] == "old"
    assert got["properties"]["hs_nothing"] is None
    assert "hs_task_subject" not in got["properties"]
    st, upd = fake.call("PATCH", "/crm/v3/objects/tasks/" + oid,
                        {"properties": {"hs_task_body": "new", "hs_task_priority": ""}})
    assert st == 200 and upd["properties"]["hs_task_body"] == "new"
    eff = fake.effects(kind="update")[0]
    assert eff["id"] == oid and eff["previous"] == {"hs_task_body": "old",
                                                    "hs_task_priority": None}
    st, data = fake.call("PATCH", "/crm/v3/objects/tasks/" + oid, {"props": {}})
    assert st == 400
    st, data = fake.call("PATCH", "/crm/v3/objects/tasks/" + oid,
                         {"properties": {"hs_task_status": "NOPE"}})
    assert st == 400
    st, body = fake.call("DELETE", "/crm/v3/objects/tasks/" + oid)
    assert st == 204 and body is None
    created = fake.effects(kind="create")[0]
    assert created["state"] == "archived" and created["deleted_at"] >= created["created_at"]
    for method, body in (("GET", None), ("PATCH", {"properties": {"a": "b"}}),
                         ("DELETE", None)):
        st, data = fake.call(method, "/crm/v3/objects/tasks/" + oid, body)
        assert st == 404, method
        hs_error_ok(data, "OBJECT_NOT_FOUND")
    st, got = fake.call("GET", "/crm/v3/objects/tasks/%s?archived=true" % oid)
    assert st == 200 and got["archived"] is True
    assert fake.call("GET", "/crm/v3/objects/tasks/999")[0] == 404


def test_hubspot_search(fake):
    ids = [fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_%d" % i))[1]["id"]
           for i in range(3)]

    def search(value, **extra):
        body = {"filterGroups": [{"filters": [{"propertyName": "intentd_idempotency_key",
                                               "operator": "EQ", "value": value}]}],
                "properties": ["intentd_idempotency_key"], "limit": 1}
        body.update(extra)
        return fake.call("POST", "/crm/v3/objects/tasks/search", body)

    st, res = search("ik_1")
    assert st == 200 and res["total"] == 1
    assert res["results"][0]["id"] == ids[1]
    assert res["results"][0]["properties"]["intentd_idempotency_key"] == "ik_1"
    assert search("ik_9")[1] == {"total": 0, "results": []}
    fake.call("DELETE", "/crm/v3/objects/tasks/" + ids[1])
    assert search("ik_1")[1]["total"] == 0
    st, res = fake.call("POST", "/crm/v3/objects/tasks/search", {"limit": 1})
    assert res["total"] == 2 and res["paging"]["next"]["after"] == "1"
    st, res = fake.call("POST", "/crm/v3/objects/tasks/search", {"limit": 1, "after": "1"})
    assert res["results"][0]["id"] == ids[2] and "paging" not in res
    assert search("ik_1", limit=0)[0] == 400
    st, data = fake.call("POST", "/crm/v3/objects/tasks/search", {"filterGroups": [
        {"filters": [{"propertyName": "x", "operator": "CONTAINS_TOKEN", "value": "a"}]}]})
    assert st == 400
    hs_error_ok(data, "VALIDATION_ERROR")


# ---- Google Calendar -----------------------------------------------------------------------

EV = "/calendar/v3/calendars/primary/events"


def test_calendar_insert_get_delete(fake):
    st, ev = fake.call("POST", EV + "?sendUpdates=none", event_body())
    assert st == 200
    assert ev["id"] == "abcdefghij0123456789" and ev["status"] == "tentative"
    assert ev["kind"] == "calendar#event" and ev["attendees"] == [{"email": "bob@example.com"}]
    eff = fake.effects(vendor="calendar")[0]
    assert eff["marker"] == ev["id"] and eff["calendar_id"] == "primary"
    assert eff["send_updates"] == "none"
    st, got = fake.call("GET", EV + "/" + ev["id"])
    assert st == 200 and got["summary"] == "Sync"
    # the path without the /calendar/v3 prefix is the same calendar
    assert fake.call("GET", "/calendars/primary/events/" + ev["id"])[0] == 200
    st, body = fake.call("DELETE", EV + "/" + ev["id"] + "?sendUpdates=none")
    assert st == 204 and body is None
    eff = fake.effects(vendor="calendar")[0]
    assert eff["state"] == "deleted" and eff["deleted_at"] is not None
    st, data = fake.call("DELETE", EV + "/" + ev["id"])
    assert st == 410
    google_error_ok(data, 410, "deleted")
    # Google's get still returns a deleted event, as cancelled
    st, got = fake.call("GET", EV + "/" + ev["id"])
    assert st == 200 and got["status"] == "cancelled"
    for method in ("GET", "DELETE"):
        st, data = fake.call(method, EV + "/unknown0001")
        assert st == 404
        google_error_ok(data, 404, "notFound")


def test_calendar_duplicate_id(fake):
    assert fake.call("POST", EV, event_body())[0] == 200
    st, data = fake.call("POST", EV, event_body(summary="again"))
    assert st == 409
    assert data == {"error": {"code": 409, "message": "The requested identifier already exists.",
                              "errors": [{"domain": "global", "reason": "duplicate",
                                          "message": "The requested identifier already exists."}]}}
    fake.call("DELETE", EV + "/abcdefghij0123456789")
    assert fake.call("POST", EV, event_body())[0] == 409
    # ids are per calendar
    assert fake.call("POST", "/calendar/v3/calendars/other/events", event_body())[0] == 200
    assert len(fake.effects(vendor="calendar")) == 2


@pytest.mark.parametrize("eid,ok", [
    ("abcde", True), ("v" * 1024, True), ("0123456789abcdefghijklmnopqrstuv", True),
    ("abcd", False), ("v" * 1025, False), ("abcdW", False), ("abcdw", False),
    ("abc-de", False), (12345, False),
])
def test_calendar_event_id_rules(fake, eid, ok):
    st, data = fake.call("POST", EV, event_body(eid))
    if ok:
        assert st == 200 and data["id"] == eid
    else:
        assert st == 400
        google_error_ok(data, 400, "invalid")
        assert fake.effects() == []


def test_calendar_generates_id_when_absent(fake):
    body = event_body()
    del body["id"]
    st, ev = fake.call("POST", EV, body)
    assert st == 200 and len(ev["id"]) >= 5
    assert set(ev["id"]) <= set("0123456789abcdefghijklmnopqrstuv")


@pytest.mark.parametrize("change,reason", [
    ({"start": None}, "required"),
    ({"end": None}, "required"),
    ({"end": {}}, "required"),
    ({"start": "2026-12-01T10:00:00Z"}, "invalid"),
    ({"start": {"dateTime": "not a time"}}, "invalid"),
    ({"start": {"dateTime": "2026-12-01T10:00:00"}}, "required"),
    ({"end": {"dateTime": "2026-12-01T09:00:00Z"}}, "timeRangeEmpty"),
    ({"end": {"date": "2026-12-02"}}, "invalid"),
    ({"status": "maybe"}, "invalid"),
    ({"attendees": [{"email": "nobody"}]}, "invalid"),
])
def test_calendar_validation(fake, change, reason):
    body = event_body()
    for k, v in change.items():
        if v is None:
            del body[k]
        else:
            body[k] = v
    st, data = fake.call("POST", EV, body)
    assert st == 400
    google_error_ok(data, 400, reason)
    assert fake.effects() == []


def test_calendar_accepts_local_time_with_zone_and_all_day(fake):
    body = event_body(start={"dateTime": "2026-12-01T10:00:00", "timeZone": "Europe/Berlin"},
                      end={"dateTime": "2026-12-01T11:00:00", "timeZone": "Europe/Berlin"})
    assert fake.call("POST", EV, body)[0] == 200
    body = event_body("fulldate01", start={"date": "2026-12-01"}, end={"date": "2026-12-02"})
    assert fake.call("POST", EV, body)[0] == 200


def test_calendar_bad_query_and_body(fake):
    st, data = fake.call("POST", EV + "?sendUpdates=some", event_body())
    assert st == 400
    st, data = fake.call("POST", EV, "{")
    assert st == 400
    google_error_ok(data, 400, "parseError")
    st, data = fake.call("PUT", EV)
    assert st == 405
    assert fake.call("GET", "/calendar/v3/calendars/primary")[0] == 404


# ---- Gmail ---------------------------------------------------------------------------------

DR = "/gmail/v1/users/me/drafts"


def draft(raw):
    return {"message": {"raw": b64url(raw)}}


def test_gmail_create_list_delete(fake):
    st, d = fake.call("POST", DR, draft(rfc2822()))
    assert st == 200
    assert d["id"] and d["message"]["id"] and d["message"]["threadId"]
    assert d["message"]["labelIds"] == ["DRAFT"]
    eff = fake.effects(vendor="gmail")[0]
    assert eff["id"] == d["id"] and eff["marker"] == "ik_abc@intentd.invalid"
    assert eff["body"]["headers"]["To"] == "alice@example.com"
    assert eff["body"]["headers"]["Subject"] == "Hello"
    assert eff["body"]["body"] == "Hi there"
    for q in ("rfc822msgid:ik_abc@intentd.invalid", "rfc822msgid:<ik_abc@intentd.invalid>"):
        st, lst = fake.call("GET", DR + "?q=" + q)
        assert st == 200
        assert lst["drafts"] == [{"id": d["id"], "message": {"id": d["message"]["id"],
                                                             "threadId": d["message"]["threadId"]}}]
    st, lst = fake.call("GET", DR + "?q=rfc822msgid:other@intentd.invalid")
    assert st == 200 and lst == {"resultSizeEstimate": 0}
    st, got = fake.call("GET", DR + "/" + d["id"])
    assert st == 200 and got["message"]["id"] == d["message"]["id"]
    st, body = fake.call("DELETE", DR + "/" + d["id"])
    assert st == 204 and body is None
    assert fake.effects(vendor="gmail")[0]["state"] == "deleted"
    assert "drafts" not in fake.call("GET", DR + "?q=rfc822msgid:ik_abc@intentd.invalid")[1]
    for method in ("DELETE", "GET"):
        st, data = fake.call(method, DR + "/" + d["id"])
        assert st == 404
        google_error_ok(data, 404, "notFound")
        assert data["error"]["status"] == "NOT_FOUND"


def test_gmail_does_not_deduplicate(fake):
    a = fake.call("POST", DR, draft(rfc2822()))[1]
    b = fake.call("POST", DR, draft(rfc2822()))[1]
    assert a["id"] != b["id"]
    st, lst = fake.call("GET", DR + "?q=rfc822msgid:ik_abc@intentd.invalid")
    assert [x["id"] for x in lst["drafts"]] == [a["id"], b["id"]]
    assert len(fake.effects(vendor="gmail")) == 2
    # drafts are per user
    assert "drafts" not in fake.call("GET", "/gmail/v1/users/other/drafts")[1]


def test_gmail_generates_message_id_when_absent(fake):
    st, d = fake.call("POST", DR, draft(rfc2822(msgid=None)))
    assert st == 200
    marker = fake.effects()[0]["marker"]
    assert marker.endswith("@mail.gmail.com")
    assert fake.call("GET", DR + "?q=rfc822msgid:" + marker)[1]["drafts"][0]["id"] == d["id"]


@pytest.mark.parametrize("body,needle", [
    ({}, "message.raw"),
    ({"message": {}}, "message.raw"),
    ({"message": {"raw": ""}}, "message.raw"),
    ({"message": {"raw": 5}}, "message.raw"),
    ({"message": {"raw": "a+b/c"}}, "Base64"),
    ({"message": {"raw": "abcde"}}, "Base64"),
    (draft(rfc2822(to=None)), "To"),
    (draft(rfc2822(to="  ")), "To"),
    (draft(rfc2822(subject=None)), "Subject"),
    ("not json", "JSON"),
])
def test_gmail_create_validation(fake, body, needle):
    st, data = fake.call("POST", DR, body)
    assert st == 400
    google_error_ok(data, 400, "invalidArgument")
    assert data["error"]["status"] == "INVALID_ARGUMENT"
    assert needle in data["error"]["message"]
    assert fake.effects() == []


def test_gmail_list_rejects_unsupported_queries(fake):
    assert fake.call("GET", DR + "?q=from:bob")[0] == 400
    assert fake.call("GET", DR + "?maxResults=0")[0] == 400
    assert fake.call("GET", DR + "?maxResults=501")[0] == 400
    assert fake.call("GET", "/gmail/v1/users/me/messages")[0] == 404
    assert fake.call("PUT", DR)[0] == 405


# ---- Slack incoming webhook ----------------------------------------------------------------

HOOK = "/services/T000/B000/XXXXSECRET"


def test_slack_webhook(fake):
    st, body = fake.call("POST", HOOK, {"text": "hello"})
    assert st == 200 and body == "ok"
    st, body = fake.call("POST", HOOK, {"blocks": [{"type": "section"}]})
    assert st == 200 and body == "ok"
    st, body = fake.call("POST", HOOK, "payload=%7B%22text%22%3A%22form%22%7D",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 200 and body == "ok"
    effs = fake.effects(vendor="slack")
    assert [e["body"] for e in effs] == [{"text": "hello"}, {"blocks": [{"type": "section"}]},
                                         {"text": "form"}]
    assert all(e["kind"] == "message" and e["marker"] is None for e in effs)


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"blocks": []}, {"text": 5},
                                  {"text": "x", "blocks": "no"}, "nope", [1]])
def test_slack_invalid_payload(fake, body):
    st, data = fake.call("POST", HOOK, body)
    assert (st, data) == (400, "invalid_payload")
    assert fake.effects() == []


def test_slack_unknown_service_and_method(fake):
    assert fake.call("POST", "/services/T000/B000", {"text": "x"}) == (404, "no_service")
    assert fake.call("GET", HOOK)[0] == 405


# ---- generic webhook -----------------------------------------------------------------------


def test_webhook_idempotency_and_undo(fake):
    hdr = {"Idempotency-Key": KEY}
    st1, h1, b1 = fake.request("POST", "/hooks/crm/things", {"a": 1}, hdr)
    assert st1 == 201
    first = __import__("json").loads(b1)
    assert first["idempotency_key"] == KEY and first["received"] == {"a": 1}
    st2, h2, b2 = fake.request("POST", "/hooks/crm/things", {"a": 1}, hdr)
    assert (st2, b2) == (st1, b1)
    assert h2["idempotent-replayed"] == "true" and "idempotent-replayed" not in h1
    effs = fake.effects(vendor="webhook")
    assert len(effs) == 1 and effs[0]["marker"] == KEY and effs[0]["id"] == first["id"]
    st, data = fake.call("POST", "/hooks/crm/things", {"a": 2}, hdr)
    assert st == 422 and data["error"] == "idempotency_key_reused"
    st, data = fake.call("GET", "/hooks/crm/things/" + first["id"])
    assert st == 200 and data["state"] == "live"
    # the undo may repeat the Idempotency-Key; it is not a replay
    st, data = fake.call("DELETE", "/hooks/crm/things/" + first["id"], headers=hdr)
    assert st == 204
    eff = fake.effects(vendor="webhook")[0]
    assert eff["state"] == "deleted" and eff["deleted_at"] is not None
    assert fake.call("DELETE", "/hooks/crm/things/" + first["id"])[0] == 404
    assert fake.call("DELETE", "/hooks/crm/things/wh_999")[0] == 404
    assert fake.call("GET", "/hooks/crm/things/wh_999")[0] == 404
    assert fake.call("POST", "/hooks/crm/things", {"a": 1}, hdr)[0] == 201  # still replayed
    assert len(fake.effects(vendor="webhook")) == 1


def test_webhook_requires_idempotency_key(fake):
    st, data = fake.call("POST", "/hooks/x/y", {"a": 1})
    assert st == 400 and data["error"] == "idempotency_key_required"
    st, data = fake.call("POST", "/hooks/x/y", {"a": 1}, {"Idempotency-Key": "k" * 256})
    assert st == 400
    st, data = fake.call("PUT", "/hooks/x/y", "plain text", {"Idempotency-Key": "k"})
    assert st == 201 and data["received"] == "plain text"
    assert fake.effects()[0]["method"] == "PUT"


def test_unknown_vendor_path(fake):
    st, data = fake.call("POST", "/nothing/here", {})
    assert st == 404


# ---- auth and OAuth ------------------------------------------------------------------------

TOKEN_FORM = ("grant_type=refresh_token&refresh_token=fake-refresh&client_id=fake-client"
              "&client_secret=fake-secret")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def refresh(fake, form=TOKEN_FORM, headers=FORM):
    return fake.call("POST", "/oauth2/token", form, headers)


def test_bearer_tokens_per_vendor(fake):
    fake.config(tokens={"hubspot": ["hs-1"], "calendar": ["g-1"], "gmail": ["g-1"],
                        "slack": ["s-1"], "webhook": ["w-1"]})
    calls = [("hubspot", "POST", "/crm/v3/objects/tasks", task_body()),
             ("calendar", "POST", EV, event_body()),
             ("gmail", "POST", DR, draft(rfc2822())),
             ("slack", "POST", HOOK, {"text": "x"}),
             ("webhook", "POST", "/hooks/a/b", {"a": 1})]
    good = {"hubspot": "hs-1", "calendar": "g-1", "gmail": "g-1", "slack": "s-1",
            "webhook": "w-1"}
    for vendor, method, path, body in calls:
        for auth in (None, "Bearer wrong", "Basic aGk6aG8=", "Bearer "):
            hdr = {"Idempotency-Key": "k1"}
            if auth:
                hdr["Authorization"] = auth
            st, data = fake.call(method, path, body, hdr)
            assert st == 401, (vendor, auth)
            if vendor == "hubspot":
                hs_error_ok(data, "INVALID_AUTHENTICATION")
            elif vendor in ("calendar", "gmail"):
                google_error_ok(data, 401, "authError")
                assert data["error"]["status"] == "UNAUTHENTICATED"
            elif vendor == "slack":
                assert data == "invalid_auth"
            else:
                assert data["error"] == "unauthorized"
    assert fake.effects() == []
    for vendor, method, path, body in calls:
        st, _ = fake.call(method, path, body, {"Authorization": "Bearer " + good[vendor],
                                               "Idempotency-Key": "k1"})
        assert st in (200, 201), vendor
    assert len(fake.effects()) == 5
    # a vendor without tokens configured takes anything
    fake.config(tokens={})
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 200


def test_oauth_refresh_and_expiry(fake):
    fake.config(tokens={"hubspot": []},
                oauth={"client_id": "cid", "client_secret": "cs", "refresh_token": "rt",
                       "access_ttl_s": 600})
    form = "grant_type=refresh_token&refresh_token=rt&client_id=cid&client_secret=cs"
    st, tok = refresh(fake, form)
    assert st == 200 and tok["token_type"] == "Bearer" and tok["expires_in"] == 600
    auth = {"Authorization": "Bearer " + tok["access_token"]}
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_1"), auth)[0] == 201
    assert fake.expire_tokens() == 1
    st, data = fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_2"), auth)
    assert st == 401
    hs_error_ok(data, "EXPIRED_AUTHENTICATION")
    st, tok2 = refresh(fake, form)
    assert st == 200 and tok2["access_token"] != tok["access_token"]
    auth = {"Authorization": "Bearer " + tok2["access_token"]}
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_2"), auth)[0] == 201
    assert fake.oauth() == {"issued": 2, "live": 1}


def test_oauth_token_lifetime(fake):
    fake.config(tokens={"gmail": []}, oauth={"access_ttl_s": 2})
    tok = refresh(fake)[1]["access_token"]
    auth = {"Authorization": "Bearer " + tok}
    assert fake.call("POST", DR, draft(rfc2822()), auth)[0] == 200
    time.sleep(2.1)
    st, data = fake.call("POST", DR, draft(rfc2822()), auth)
    assert st == 401
    google_error_ok(data, 401, "authError")


def test_oauth_client_basic_auth(fake):
    basic = {"Authorization": "Basic ZmFrZS1jbGllbnQ6ZmFrZS1zZWNyZXQ="}  # fake-client:fake-secret
    st, tok = refresh(fake, "grant_type=refresh_token&refresh_token=fake-refresh",
                      dict(FORM, **basic))
    assert st == 200 and tok["access_token"]
    st, data = refresh(fake, "grant_type=refresh_token&refresh_token=fake-refresh",
                       dict(FORM, Authorization="Basic d3Jvbmc6d3Jvbmc="))
    assert st == 401 and data["error"] == "invalid_client"


@pytest.mark.parametrize("form,headers,status,err", [
    (TOKEN_FORM.replace("fake-refresh", "stale"), FORM, 400, "invalid_grant"),
    (TOKEN_FORM.replace("fake-secret", "nope"), FORM, 401, "invalid_client"),
    (TOKEN_FORM.replace("&client_id=fake-client", ""), FORM, 401, "invalid_client"),
    (TOKEN_FORM.replace("refresh_token&", "client_credentials&"), FORM, 400,
     "unsupported_grant_type"),
    (TOKEN_FORM.replace("grant_type=refresh_token&", ""), FORM, 400, "invalid_request"),
    (TOKEN_FORM.replace("refresh_token=fake-refresh&", ""), FORM, 400, "invalid_request"),
    (TOKEN_FORM + "&client_id=x", FORM, 400, "invalid_request"),
    (TOKEN_FORM, {"Content-Type": "application/json"}, 400, "invalid_request"),
])
def test_oauth_errors(fake, form, headers, status, err):
    st, data = refresh(fake, form, headers)
    assert st == status and data["error"] == err and data["error_description"]
    assert fake.oauth()["issued"] == 0


def test_oauth_wrong_method_and_path(fake):
    assert fake.call("GET", "/oauth2/token")[0] == 405
    assert fake.call("POST", "/oauth2/other", TOKEN_FORM, FORM)[0] == 404
