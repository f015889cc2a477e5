"""POST /v1/intents: every status code of the submission contract (docs/api-contract.md,
SPEC §2, §4.1, §4.11), and that every rejected request changes nothing in the database."""

import hashlib
import json
import time

import pytest

from fixtures import unchanged
from harness import (DELETE, assert_problem, canonical, has_error_at, make_intent, raw_http,
                     sign, unique)

MIB = 1024 * 1024


# ---------------------------------------------------------------------------- 202 / 200 / 409


def test_new_intent_is_accepted_with_202_location_and_status_url(client, tenant, shared_db):
    intent = tenant.intent()
    iid = intent["action_intent_id"]
    r = client.submit(intent, key=tenant.key)
    assert r.status == 202, r
    assert r.header("Location") == "/v1/intents/%s" % iid
    b = r.json
    assert b["action_intent_id"] == iid
    assert b["tenant_id"] == tenant.tenant_id
    assert b["state"] == "PENDING"
    assert b["status_url"] == "/v1/intents/%s" % iid
    # 202 only after commit: the intent and its first ledger row are already there
    assert shared_db.intent_state(iid, tenant.tenant_id) is not None
    events = [row["event"] for row in shared_db.ledger_rows(iid, tenant.tenant_id)]
    assert "intent.submitted" in events


def test_stored_body_signature_and_intent_are_exactly_what_was_sent(client, tenant, shared_db):
    # The submit call's JSON is written by hand (engine/submitter.c): quotes, backslashes,
    # control-character escapes, non-ASCII text and raw whitespace must all survive it.
    intent = tenant.intent(account_id='acct "q" \\ \u00e9\u20ac\U0001f600',
                           parameters={"title": "caf\u00e9 \"x\" \\ / \u2028",
                                       "assignee": "user_7", "notes": "line1\nline2\tend"})
    body = b"\r\n " + json.dumps(intent, indent=1, ensure_ascii=False).encode() + b"\t\n"
    sig = sign(body, tenant.key) + ", v0=ignored \\ \"x\""
    r = client.submit(body, signature=sig)
    assert r.status == 202, r
    row = shared_db.query(
        "SELECT s.body, s.signature, i.intent, i.account_id FROM intentd.intents i JOIN "
        "intentd.submissions s USING (submission_id) WHERE i.tenant_id = %s AND "
        "i.action_intent_id = %s", (tenant.tenant_id, intent["action_intent_id"]))
    assert len(row) == 1
    stored_body, stored_sig, stored_intent, account = row[0]
    assert stored_body.encode() == body
    assert stored_sig == sig
    assert stored_intent == intent
    assert account == intent["account_id"]


def test_intent_hash_is_sha256_of_the_sorted_compact_json(client, tenant, shared_db):
    # Resubmissions are compared by this hash against rows written by earlier versions: its
    # canonical form (keys sorted by code point, no spaces, UTF-8 unescaped) must not change.
    intent = tenant.intent(account_id="acct \u00e9\u20ac \"q\" \\ /",
                           parameters={"title": "T \U0001f600", "assignee": "user_7",
                                       "notes": "a\nb\tc"})
    intent["decision"]["summary"] = "\u00fcber \\\"quoted\\\" \u2028"
    body = json.dumps(intent, indent=2).encode()
    r = client.submit(body, key=tenant.key)
    assert r.status == 202, r
    want = hashlib.sha256(json.dumps(intent, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()
    got = shared_db.scalar("SELECT encode(intent_hash, 'hex') FROM intentd.intents WHERE "
                           "tenant_id = %s AND action_intent_id = %s",
                           (tenant.tenant_id, intent["action_intent_id"]))
    assert got == want


def test_identical_resubmission_answers_200_with_current_state(client, tenant, shared_db):
    intent = tenant.intent()
    body = canonical(intent)
    assert client.submit(body, key=tenant.key).status == 202
    r = client.submit(body, key=tenant.key)
    assert r.status == 200, r
    b = r.json
    assert b["action_intent_id"] == intent["action_intent_id"]
    assert b["tenant_id"] == tenant.tenant_id
    assert b["status_url"] == "/v1/intents/%s" % intent["action_intent_id"]
    assert b["state"] in ("PENDING", "EXECUTING", "SUCCEEDED")
    assert shared_db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id=%s",
                            (intent["action_intent_id"],)) == 1


def test_resubmission_with_reordered_keys_and_whitespace_is_identical(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202

    def reorder(v):
        if isinstance(v, dict):
            return {k: reorder(v[k]) for k in reversed(list(v))}
        return v

    body = json.dumps(reorder(intent), indent=4, ensure_ascii=True).encode()
    body = b"  \n" + body.replace(b": ", b" :\t ") + b"\n\n"
    assert body != canonical(intent)
    with unchanged(shared_db):
        r = client.submit(body, key=tenant.key)
        assert r.status == 200, r
    assert r.json["action_intent_id"] == intent["action_intent_id"]


def test_resubmission_after_success_does_not_run_again(client, tenant, shared_db):
    intent = tenant.intent()
    iid = intent["action_intent_id"]
    assert client.submit(intent, key=tenant.key).status == 202
    tenant_client = client.with_token(tenant.operator)
    tenant_client.wait_for_state(iid, "SUCCEEDED")
    with unchanged(shared_db):
        r = client.submit(intent, key=tenant.key)
        assert r.status == 200, r
        assert r.json["state"] == "SUCCEEDED"
    assert shared_db.effect_count("internal_tasks", iid) == 1


def test_same_id_different_body_is_409(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    other = dict(intent, parameters={"title": "a different task"})
    iid = intent["action_intent_id"]
    sql = ("SELECT intent_hash, intent, submission_id FROM intentd.intents "
           "WHERE tenant_id = %s AND action_intent_id = %s")
    before = shared_db.query(sql, (tenant.tenant_id, iid))
    assert len(before) == 1 and before[0][1]["parameters"] == intent["parameters"], before
    with unchanged(shared_db):  # also compares every stored intent_hash, intent, submission_id
        assert_problem(client.submit(other, key=tenant.key), 409)
    # the first body is the one kept: same hash, same intent, same submission row
    assert shared_db.query(sql, (tenant.tenant_id, iid)) == before


def test_same_id_in_another_tenant_is_a_different_intent(shared_intentd, client, tenant):
    other_tenant = shared_intentd.create_tenant()
    iid = unique("ai_")
    assert client.submit(tenant.intent(action_intent_id=iid), key=tenant.key).status == 202
    r = client.submit(other_tenant.intent(action_intent_id=iid), key=other_tenant.key)
    assert r.status == 202, r


# ---------------------------------------------------------------------------- 400


def test_malformed_json_is_400(client, tenant, shared_db):
    body = b'{"schema":"action_intent.v1","tenant_id":"%s",' % tenant.tenant_id.encode()
    with unchanged(shared_db):
        assert_problem(client.submit(body, key=tenant.key), 400)


def test_json_that_is_not_an_object_is_400(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(b'["not","an","object"]', key=tenant.key), 400)


def test_empty_body_is_400(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(b"", key=tenant.key), 400)


def test_invalid_utf8_is_400(client, tenant, shared_db):
    body = canonical(tenant.intent(parameters={"title": "PLACEHOLDER"}))
    body = body.replace(b"PLACEHOLDER", b"caf\xc3 \xff\xfe")
    with unchanged(shared_db):
        assert_problem(client.submit(body, key=tenant.key), 400)


def test_missing_tenant_id_is_400_even_unsigned(client, tenant, shared_db):
    intent = tenant.intent(tenant_id=DELETE)
    with unchanged(shared_db):
        assert_problem(client.submit(intent, signature=False), 400)


def _long_id():
    return "a" * 129


SCHEMA_CASES = [
    # (name, overrides, pointer, member name for required/additionalProperties errors)
    ("missing_account_id", {"account_id": DELETE}, "/account_id", "account_id"),
    ("missing_schema", {"schema": DELETE}, "/schema", "schema"),
    ("missing_decision", {"decision": DELETE}, "/decision", "decision"),
    ("missing_expires_at_epoch", {"expires_at_epoch": DELETE}, "/expires_at_epoch",
     "expires_at_epoch"),
    ("wrong_schema_name", {"schema": "action_intent.v2"}, "/schema", None),
    ("priority_wrong_type", {"priority": "high"}, "/priority", None),
    ("priority_above_100", {"priority": 101}, "/priority", None),
    ("priority_negative", {"priority": -1}, "/priority", None),
    ("expires_at_epoch_wrong_type", {"expires_at_epoch": "tomorrow"}, "/expires_at_epoch", None),
    ("id_bad_pattern", {"action_intent_id": "bad id!"}, "/action_intent_id", None),
    ("id_too_long", {"action_intent_id": _long_id()}, "/action_intent_id", None),
    ("id_empty", {"action_intent_id": ""}, "/action_intent_id", None),
    ("parameters_not_object", {"parameters": "title"}, "/parameters", None),
    ("unknown_top_level_field", {"surprise": True}, "/surprise", "surprise"),
    # outside what PostgreSQL stores (years 0001-9999, offsets up to 15:59): once a 500
    ("created_at_year_0000", {"created_at": "0000-06-01T00:00:00Z"}, "/created_at", None),
    ("created_at_offset_16h", {"created_at": "2026-01-01T00:00:00+16:00"}, "/created_at", None),
    ("created_at_offset_minus_23h59", {"created_at": "2026-01-01T00:00:00-23:59"},
     "/created_at", None),
    ("created_at_before_year_1_in_utc", {"created_at": "0001-01-01T00:00:00+15:00"},
     "/created_at", None),
    ("expires_at_epoch_past_year_9999", {"expires_at_epoch": 253402300800},
     "/expires_at_epoch", None),
    ("expires_at_epoch_2_53_minus_1", {"expires_at_epoch": 9007199254740991},
     "/expires_at_epoch", None),
]


@pytest.mark.parametrize("name,overrides,pointer,member", SCHEMA_CASES,
                         ids=[c[0] for c in SCHEMA_CASES])
def test_schema_violation_is_400_with_pointer(client, tenant, shared_db, name, overrides,
                                              pointer, member):
    intent = tenant.intent(**overrides)
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 400)
    assert has_error_at(b, pointer, member), "no error at %s in %r" % (pointer, b.get("errors"))


def test_missing_nested_field_is_400_with_pointer(client, tenant, shared_db):
    intent = tenant.intent()
    del intent["approval"]["approved_by"]
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 400)
    assert has_error_at(b, "/approval/approved_by", "approved_by"), b.get("errors")


def test_approved_at_with_an_offset_past_15_59_is_400_with_pointer(client, tenant, shared_db):
    intent = tenant.intent()
    intent["approval"]["approved_at"] = "2026-01-01T00:00:00+16:00"
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 400)
    assert has_error_at(b, "/approval/approved_at"), b.get("errors")


def test_times_at_the_edges_postgres_stores_are_accepted(client, tenant, shared_db):
    intent = tenant.intent(created_at="0001-01-01T00:00:00-15:59",
                           expires_at_epoch=253402300799)
    intent["approval"]["approved_at"] = "9999-12-31T23:59:59+15:59"
    r = client.submit(intent, key=tenant.key)
    assert r.status == 202, r
    row = shared_db.query(
        "SELECT extract(epoch FROM expires_at)::bigint, extract(epoch FROM created_at)::bigint "
        "FROM intentd.intents WHERE tenant_id = %s AND action_intent_id = %s",
        (tenant.tenant_id, intent["action_intent_id"]))
    assert row == [(253402300799, -62135596800 + 15 * 3600 + 59 * 60)], row


def test_several_schema_violations_are_all_reported(client, tenant, shared_db):
    intent = tenant.intent(priority="high", account_id=DELETE)
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 400)
    assert has_error_at(b, "/priority"), b.get("errors")
    assert has_error_at(b, "/account_id", "account_id"), b.get("errors")


# ---------------------------------------------------------------------------- 401


def test_missing_signature_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(tenant.intent(), signature=False), 401)


def test_signature_with_wrong_key_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(tenant.intent(), key=tenant.key + "x"), 401)


def test_signature_of_another_tenant_key_is_401(shared_intentd, client, tenant, shared_db):
    other = shared_intentd.create_tenant()
    with unchanged(shared_db):
        assert_problem(client.submit(tenant.intent(), key=other.key), 401)


def test_signature_over_a_different_body_is_401(client, tenant, shared_db):
    intent = tenant.intent()
    sig = sign(canonical(intent), tenant.key)
    altered = dict(intent, priority=51)
    with unchanged(shared_db):
        assert_problem(client.submit(altered, signature=sig), 401)


def test_stale_signature_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        r = client.submit(tenant.intent(), key=tenant.key, t=int(time.time()) - 400)
        assert_problem(r, 401)


def test_signature_from_the_future_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        r = client.submit(tenant.intent(), key=tenant.key, t=int(time.time()) + 400)
        assert_problem(r, 401)


def test_malformed_signature_header_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(tenant.intent(), signature="v1=deadbeef"), 401)


def test_unknown_tenant_is_401(client, shared_db):
    intent = make_intent(unique("nosuch"))
    with unchanged(shared_db):
        assert_problem(client.submit(intent, key="some-key"), 401)


def test_signature_is_checked_before_schema(client, tenant, shared_db):
    intent = tenant.intent(priority="high")
    with unchanged(shared_db):
        assert_problem(client.submit(intent, key="wrong"), 401)


# ---------------------------------------------------------------------------- 413


def test_body_over_one_mib_is_413(shared_intentd, tenant, shared_db):
    intent = tenant.intent(parameters={"title": "big", "notes": "PAD"})
    body = canonical(intent)
    body = body.replace(b"PAD", b"x" * (MIB + 1 - len(body) + 3))
    assert len(body) == MIB + 1
    head = ("POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nIntent-Signature: %s\r\nX-Request-ID: test-413\r\n"
            "Connection: close\r\n\r\n" % (len(body), sign(body, tenant.key))).encode()
    with unchanged(shared_db):
        r = raw_http("127.0.0.1", shared_intentd.port, head, body=body)
        assert r.status == 413, r
    assert r.header("X-Request-ID"), r.headers


# ---------------------------------------------------------------------------- 422


def test_unknown_action_type_is_422(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.submit(tenant.intent(action_type="internal.does_not_exist"),
                                     key=tenant.key), 422)


def test_title_too_long_is_422_with_parameters_pointer(client, tenant, shared_db):
    intent = tenant.intent(parameters={"title": "t" * 501})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert has_error_at(b, "/parameters/title"), b.get("errors")


def test_title_of_500_characters_is_accepted(client, tenant):
    r = client.submit(tenant.intent(parameters={"title": "t" * 500}), key=tenant.key)
    assert r.status == 202, r


def test_missing_title_is_422_with_parameters_pointer(client, tenant, shared_db):
    intent = tenant.intent(parameters={"assignee": "user_7"})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert has_error_at(b, "/parameters/title", "title"), b.get("errors")


def test_empty_title_is_422(client, tenant, shared_db):
    with unchanged(shared_db):
        b = assert_problem(client.submit(tenant.intent(parameters={"title": ""}),
                                         key=tenant.key), 422)
    assert has_error_at(b, "/parameters/title"), b.get("errors")


def test_bad_due_at_is_422(client, tenant, shared_db):
    intent = tenant.intent(parameters={"title": "x", "due_at": "next tuesday"})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert has_error_at(b, "/parameters/due_at"), b.get("errors")


def test_log_note_without_body_is_422(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.log_note", parameters={})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert has_error_at(b, "/parameters/body", "body"), b.get("errors")


def test_attach_brief_without_url_or_content_is_422(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.attach_brief", parameters={"title": "brief"})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert any(p.startswith("/parameters") for p in
               [e.get("pointer", "") for e in b.get("errors") or []]), b.get("errors")


def test_follow_up_wait_over_a_day_is_422(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.follow_up",
                           parameters={"note": "n", "title": "t", "wait_seconds": 86401})
    with unchanged(shared_db):
        b = assert_problem(client.submit(intent, key=tenant.key), 422)
    assert has_error_at(b, "/parameters/wait_seconds"), b.get("errors")


def test_already_expired_intent_is_422(client, tenant, shared_db):
    intent = tenant.intent(expires_at_epoch=int(time.time()) - 60)
    with unchanged(shared_db):
        assert_problem(client.submit(intent, key=tenant.key), 422)


def test_rejected_intent_can_be_submitted_later_when_fixed(client, tenant):
    intent = tenant.intent(parameters={"title": ""})
    assert client.submit(intent, key=tenant.key).status == 422
    intent["parameters"]["title"] = "fixed"
    assert client.submit(intent, key=tenant.key).status == 202
