"""The lifecycle of the four internal.* action types: each reaches SUCCEEDED with exactly one
internal record, the status and timeline tell the story, and the ledger verifies."""

import datetime

import pytest

from harness import follow_up_intent


def _run(client, tenant, intent):
    r = client.submit(intent, key=tenant.key)
    assert r.status == 202, r
    op = client.with_token(tenant.operator)
    return op.wait_for_state(intent["action_intent_id"], ("SUCCEEDED", "FAILED", "EXPIRED",
                                                          "CANCELLED"))


def test_create_task_succeeds_with_exactly_one_task(client, tenant, shared_db):
    intent = tenant.intent(parameters={"title": "Call Ada", "assignee": "user_7",
                                       "due_at": "2030-01-02T03:04:05Z", "notes": "re: renewal"})
    final = _run(client, tenant, intent)
    assert final["state"] == "SUCCEEDED", final
    iid = intent["action_intent_id"]
    assert shared_db.effect_count("internal_tasks", iid, tenant.tenant_id) == 1
    assert shared_db.effect_count("internal_notes", iid) == 0
    assert shared_db.effect_count("internal_briefs", iid) == 0


def test_status_of_a_finished_intent_is_complete(client, tenant):
    intent = tenant.intent(priority=70)
    final = _run(client, tenant, intent)
    assert final["state"] == "SUCCEEDED", final
    assert final["action_intent_id"] == intent["action_intent_id"]
    assert final["tenant_id"] == tenant.tenant_id
    assert final["account_id"] == intent["account_id"]
    assert final["action_type"] == "internal.create_task"
    assert final["priority"] == 70
    assert final["expires_at_epoch"] == intent["expires_at_epoch"]
    assert isinstance(final["explanation"], str) and final["explanation"].strip()
    assert final["attempts"] >= 1
    assert final["crash_attempts"] == 0
    assert final["cancel_requested"] is False
    assert final["last_error"] is None
    for k in ("created_at", "submitted_at", "updated_at", "expires_at"):
        assert isinstance(final[k], str) and final[k].endswith("Z"), (k, final[k])
    assert "output" in final and "current_step" in final and "terminal_reason" in final


def test_log_note_succeeds_with_exactly_one_note(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.log_note",
                           parameters={"body": "Customer prefers email."})
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    iid = intent["action_intent_id"]
    assert shared_db.effect_count("internal_notes", iid, tenant.tenant_id) == 1
    assert shared_db.effect_count("internal_tasks", iid) == 0


def test_attach_brief_with_url_succeeds_with_exactly_one_brief(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.attach_brief",
                           parameters={"title": "Account brief", "url": "https://example.com/b"})
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    assert shared_db.effect_count("internal_briefs", intent["action_intent_id"],
                                  tenant.tenant_id) == 1


def test_attach_brief_with_content_succeeds_with_exactly_one_brief(client, tenant, shared_db):
    intent = tenant.intent(action_type="internal.attach_brief",
                           parameters={"title": "Account brief", "content": "# Brief\nText."})
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    assert shared_db.effect_count("internal_briefs", intent["action_intent_id"],
                                  tenant.tenant_id) == 1


def test_follow_up_logs_a_note_waits_and_creates_a_task(client, tenant, shared_db):
    intent = follow_up_intent(tenant.tenant_id, wait_seconds=2)
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    iid = intent["action_intent_id"]
    assert shared_db.effect_count("internal_notes", iid, tenant.tenant_id) == 1
    assert shared_db.effect_count("internal_tasks", iid, tenant.tenant_id) == 1
    rows = shared_db.ledger_rows(iid)
    steps = [r for r in rows if r["event"] == "step.entered"]
    assert len(steps) >= 3, "note, wait and task steps expected: %r" % [r["event"] for r in rows]
    # the Wait really waited: measured with the database's own timestamps
    submitted = next(r["created_at"] for r in rows if r["event"] == "intent.submitted")
    done = next(r["created_at"] for r in rows
                if r["event"] == "intent.transition" and r["to_state"] == "SUCCEEDED")
    assert done - submitted >= datetime.timedelta(seconds=2), (submitted, done)
    # one attempt (started + finished) for each of the two Tasks at least
    attempts = [r for r in rows if r["event"] in ("attempt.started", "attempt.finished")]
    assert len(attempts) >= 4, [r["event"] for r in rows]


def test_timeline_tells_decision_approval_submission_steps_outcome_in_order(client, tenant):
    intent = tenant.intent()
    iid = intent["action_intent_id"]
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    op = client.with_token(tenant.operator)
    r = op.timeline(iid)
    assert r.status == 200, r
    b = r.json
    assert b["action_intent_id"] == iid and b["tenant_id"] == tenant.tenant_id
    ev = b["events"]
    names = [e["event"] for e in ev]
    assert names[0] == "decision" and names[1] == "approval", names
    assert names[2] == "intent.submitted", names
    pos = {n: names.index(n) for n in ("intent.submitted", "step.entered", "attempt.started",
                                       "attempt.finished")}
    assert pos["intent.submitted"] < pos["step.entered"] < pos["attempt.started"] < \
        pos["attempt.finished"], names
    claim = [i for i, e in enumerate(ev) if e["event"] == "intent.transition"
             and e["from_state"] == "PENDING" and e["to_state"] == "EXECUTING"]
    assert claim and pos["intent.submitted"] < claim[0] < pos["step.entered"], names
    last = ev[-1]
    assert last["event"] == "intent.transition" and last["to_state"] == "SUCCEEDED", last
    seqs = [e["seq"] for e in ev[2:]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs
    for e in ev[2:]:
        assert e["created_at"] and e["actor"], e
    for e in ev:
        if e["event"].startswith("attempt."):
            assert e["node_id"], e
    finished = [e for e in ev if e["event"] == "attempt.finished"]
    assert finished[-1]["payload"]["outcome"] == "succeeded", finished[-1]


def test_attempt_rows_carry_the_executing_node_id(shared_intentd, client, tenant, shared_db):
    intent = tenant.intent()
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    rows = shared_db.ledger_rows(intent["action_intent_id"])
    nodes = {r["node_id"] for r in rows if r["event"].startswith("attempt.")}
    assert nodes == {shared_intentd.node_id}, nodes


def test_ledger_verifies_after_work(shared_intentd, client, tenant, shared_db):
    _run(client, tenant, tenant.intent())
    shared_db.wait_quiescent()
    r = shared_intentd.admin().verify_ledger()
    assert r.status == 200, r
    assert r.json["ok"] is True, r.json
    assert r.json["rows"] == shared_db.scalar("SELECT count(*) FROM intentd.ledger")


@pytest.mark.parametrize("action_type,parameters,table", [
    ("internal.create_task", {"title": "Call the customer back"}, "internal_tasks"),
    ("internal.log_note", {"body": "Customer prefers email."}, "internal_notes"),
    ("internal.attach_brief", {"title": "Account brief", "url": "https://example.com/b"},
     "internal_briefs"),
], ids=["task", "note", "brief"])
def test_compensating_voids_exactly_its_own_record(client, tenant, shared_db, action_type,
                                                   parameters, table):
    # two intents of the type succeed; compensating one voids its record and leaves the other's
    kept, undone = (tenant.intent(action_type=action_type, parameters=parameters)
                    for _ in range(2))
    assert _run(client, tenant, kept)["state"] == "SUCCEEDED"
    assert _run(client, tenant, undone)["state"] == "SUCCEEDED"
    op = client.with_token(tenant.operator)
    r = op.post("/v1/intents/%s/compensate" % undone["action_intent_id"],
                body={"reason": "approved by mistake"})
    assert r.status == 202, r
    assert op.wait_for_state(undone["action_intent_id"], ("CANCELLED", "FAILED"))["state"] \
        == "CANCELLED"
    voided = dict(shared_db.query(
        "SELECT action_intent_id, voided_at IS NOT NULL FROM intentd.%s "
        "WHERE tenant_id = %%s AND action_intent_id IN (%%s, %%s)" % table,
        (tenant.tenant_id, kept["action_intent_id"], undone["action_intent_id"])))
    assert voided == {kept["action_intent_id"]: False, undone["action_intent_id"]: True}


def test_ops_without_account_and_submission_time_are_found_by_key(client, tenant, shared_db):
    # An op from a node older than schema 15 names its intent by key alone; intentd.apply_ops
    # reads the account and the submission time from the row, exactly.
    intent = tenant.intent()
    assert _run(client, tenant, intent)["state"] == "SUCCEEDED"
    iid = intent["action_intent_id"]
    [(acct, exact)] = shared_db.query(
        "SELECT o.acct, o.sub = i.submitted_at FROM intentd.apply_ops(jsonb_build_array("
        "jsonb_build_object('tenant_id', %s::text, 'action_intent_id', %s::text))) o "
        "JOIN intentd.intents i ON i.tenant_id = o.t AND i.action_intent_id = o.id",
        (tenant.tenant_id, iid))
    assert acct == intent["account_id"] and exact is True
    # and the microseconds the engine sends name the same instant
    [(same,)] = shared_db.query(
        "SELECT o.sub = i.submitted_at FROM intentd.intents i, intentd.apply_ops(jsonb_build_array("
        "jsonb_build_object('tenant_id', i.tenant_id, 'action_intent_id', i.action_intent_id, "
        "'account_id', i.account_id, 'submitted_us', "
        "(extract(epoch FROM i.submitted_at) * 1000000)::bigint))) o "
        "WHERE i.tenant_id = %s AND i.action_intent_id = %s", (tenant.tenant_id, iid))
    assert same is True
