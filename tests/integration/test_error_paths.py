"""Error paths that the other suites do not reach: transport-level refusals, a node whose master
key differs from the one that sealed the tenant keys, crash-cut attempts up to quarantine, and a
workflow's own TimeoutSeconds."""

import os
import shutil
import tempfile

import pytest

from fixtures import unchanged, workflows_dir
from harness import TERMINAL_STATES, assert_problem


def test_non_json_content_type_is_415_and_changes_nothing(client, tenant, shared_db):
    intent = tenant.intent()
    with unchanged(shared_db):
        r = client.submit(intent, key=tenant.key, headers={"Content-Type": "text/plain"})
        assert_problem(r, 415)


def test_wrong_method_on_a_known_path_is_405(client):
    assert_problem(client.request("DELETE", "/v1/intents"), 405)


def test_unknown_path_is_404(client):
    assert_problem(client.get("/v1/no-such-thing"), 404)


def test_malformed_percent_encoding_in_the_path_is_400(client, tenant):
    assert_problem(client.get("/v1/intents/ai_%zz", token=tenant.operator), 400)


# Each decodes to bytes that are not UTF-8, which PostgreSQL refuses (GET /v1/intents/%FF
# reached it and answered 500): a stray lead or continuation byte, a cut sequence, an overlong
# '/', a surrogate, a code point past U+10FFFF.
NOT_UTF8 = ["%FF", "ai_%C3", "%E2%82", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%80abc"]


@pytest.mark.parametrize("encoded", NOT_UTF8)
def test_a_path_parameter_that_is_not_utf8_is_400(client, tenant, shared_db, encoded):
    with unchanged(shared_db):
        b = assert_problem(client.get("/v1/intents/%s" % encoded, token=tenant.operator), 400)
        assert "UTF-8" in b["detail"], b
        b = assert_problem(client.post("/v1/intents/%s/cancel" % encoded,
                                       body={"reason": "r"}, token=tenant.operator), 400)
        assert "UTF-8" in b["detail"], b


@pytest.mark.parametrize("encoded", NOT_UTF8)
def test_a_query_value_that_is_not_utf8_is_400(client, tenant, shared_db, encoded):
    op = client.with_token(tenant.operator)
    for path in ("/v1/executions?action_type=%s", "/v1/accounts/a/executions?status=%s",
                 "/v1/ledger?since=%s", "/v1/signals?after=%s"):
        b = assert_problem(op.get(path % encoded), 400)
        assert "UTF-8" in b["detail"], (path, b)


def test_a_tenant_id_that_is_not_utf8_is_400_for_a_global_admin(admin, shared_db):
    with unchanged(shared_db):
        for path in ("/v1/executions?tenant_id=%FF", "/v1/ledger?tenant_id=%C0%AF",
                     "/v1/intents/ai_x?tenant_id=%ED%A0%80"):
            b = assert_problem(admin.get(path), 400)
            assert "UTF-8" in b["detail"], (path, b)


def test_utf8_path_parameters_still_reach_the_service(client, tenant):
    # U+00E9, U+20AC, U+1F600 and U+10FFFF, the highest code point: looked up, not refused
    for encoded in ("caf%C3%A9", "%E2%82%AC", "%F0%9F%98%80", "%F4%8F%BF%BF"):
        b = assert_problem(client.get("/v1/intents/%s" % encoded, token=tenant.operator), 404)
        assert b["type"].endswith("/not-found"), b


def test_a_global_admin_must_name_the_tenant_of_one_intent(admin, shared_db):
    for method, path, body in (("GET", "/v1/intents/ai_x/timeline", None),
                               ("POST", "/v1/intents/ai_x/cancel", {"reason": "r"}),
                               ("POST", "/v1/intents/ai_x/compensate", {"reason": "r"}),
                               ("POST", "/v1/intents/ai_x/redrive", {"reason": "r"}),
                               ("GET", "/v1/signals", None)):
        with unchanged(shared_db):
            b = assert_problem(admin.request(method, path, body=body), 400)
        assert b["type"].endswith("tenant-required"), (path, b)


def test_node_with_another_master_key_refuses_clearly_and_stores_nothing(intentd_factory):
    first = intentd_factory()
    db = first.database
    t = first.create_tenant()
    keydir = tempfile.mkdtemp(prefix="intentd-otherkey-", dir="/tmp")
    try:
        # the second node generates its own, different key in an empty directory
        other = intentd_factory(db=db, env={
            "INTENTD_MASTER_KEY_FILE": os.path.join(keydir, "master.key")})
        intent = t.intent()
        before = db.scalar("SELECT count(*) FROM intentd.intents")
        b = assert_problem(other.client().submit(intent, key=t.key), 500)
        assert b["type"].endswith("/master-key-mismatch"), b
        assert db.scalar("SELECT count(*) FROM intentd.intents") == before
        assert "INTENTD_MASTER_KEY_FILE" in other.log_tail()
        # the node holding the right key still accepts it
        assert first.client().submit(intent, key=t.key).status == 202
    finally:
        shutil.rmtree(keydir, ignore_errors=True)


def _leave_in_hand(db, iid, crashes):
    """Leaves the intent as a node that claimed it and died leaves it: EXECUTING, in hand, the
    lease lapsed."""
    db.query("UPDATE intentd.intents SET state = 'EXECUTING', in_hand = true, "
             "lease_owner = 'dead-node', "
             "lease_expires_at = now() - interval '1 second', crash_attempts = %s "
             "WHERE action_intent_id = %s", (crashes, iid))


def test_an_interrupted_attempt_is_counted_and_the_intent_still_finishes(intentd_factory):
    held = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    db = held.database
    t = held.create_tenant()
    intent = t.intent()
    iid = intent["action_intent_id"]
    assert held.client().submit(intent, key=t.key).status == 202
    _leave_in_hand(db, iid, crashes=0)
    runner = intentd_factory(db=db, env={"INTENTD_QUARANTINE_AFTER": "3"})
    final = runner.client(token=t.operator).wait_for_state(iid, TERMINAL_STATES)
    assert final["state"] == "SUCCEEDED", final
    assert final["crash_attempts"] == 1, final
    events = [r["event"] for r in db.ledger_rows(iid)]
    assert events.count("attempt.interrupted") == 1, events
    assert db.effect_count("internal_tasks", iid) == 1


def test_the_last_allowed_crash_quarantines_the_intent_without_running_it(intentd_factory):
    held = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    db = held.database
    t = held.create_tenant()
    intent = t.intent()
    iid = intent["action_intent_id"]
    assert held.client().submit(intent, key=t.key).status == 202
    _leave_in_hand(db, iid, crashes=2)
    runner = intentd_factory(db=db, env={"INTENTD_QUARANTINE_AFTER": "3"})
    final = runner.client(token=t.operator).wait_for_state(iid, TERMINAL_STATES)
    assert final["state"] == "FAILED", final
    assert final["terminal_reason"] == "quarantined", final
    assert final["last_error"]["error"] == "Intentd.Quarantined", final
    assert "quarantined" in final["explanation"].lower(), final
    assert db.effect_count("internal_tasks", iid) == 0
    rows = db.ledger_rows(iid)
    assert any(r["event"] == "attempt.interrupted" for r in rows)
    assert rows[-1]["to_state"] == "FAILED", rows[-1]


TIMES_OUT = {
    "Comment": "Waits longer than its own TimeoutSeconds, then would create a task.",
    "StartAt": "Pause",
    "TimeoutSeconds": 1,
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 3, "Next": "Make"},
        "Make": {"Type": "Task", "Resource": "arn:aws:intentd:::internal.create_task",
                 "Compensate": "void_task", "End": True},
    },
}


def test_a_workflow_past_its_timeout_seconds_fails_with_states_timeout(intentd_factory):
    with workflows_dir({"testing.times_out": TIMES_OUT}) as machines:
        inst = intentd_factory(env={"INTENTD_STATEMACHINES": machines})
        db = inst.database
        t = inst.create_tenant()
        intent = t.intent(action_type="testing.times_out", parameters={"title": "never made"})
        iid = intent["action_intent_id"]
        assert inst.client().submit(intent, key=t.key).status == 202
        final = inst.client(token=t.operator).wait_for_state(iid, TERMINAL_STATES)
        assert final["state"] == "FAILED", final
        assert final["last_error"]["error"] == "States.Timeout", final
        assert db.effect_count("internal_tasks", iid) == 0
