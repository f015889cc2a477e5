"""POST /v1/intents/{id}/cancel in both states, on terminal intents, and with bad bodies.

ASSUMPTION: intentd honours INTENTD_SCHEDULER=off (accepts and serves requests but claims no
work), so an intent can be held in PENDING deterministically. Tests that need it say so."""

from fixtures import unchanged
from harness import assert_problem, follow_up_intent, unique, wait_until


def test_cancel_pending_intent_cancels_at_once(intentd_factory):
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})  # assumes INTENTD_SCHEDULER=off
    t = inst.create_tenant()
    c = inst.client()
    intent = t.intent()
    iid = intent["action_intent_id"]
    assert c.submit(intent, key=t.key).status == 202
    op = c.with_token(t.operator)
    assert op.intent(iid).json["state"] == "PENDING", "is INTENTD_SCHEDULER=off honoured?"
    r = op.cancel(iid, reason="customer withdrew the request")
    assert r.status == 200, r
    assert r.json["state"] == "CANCELLED" and r.json["action_intent_id"] == iid
    assert op.intent(iid).json["state"] == "CANCELLED"
    events = inst.database.ledger_rows(iid)
    assert any(e["event"] == "intent.transition" and e["from_state"] == "PENDING"
               and e["to_state"] == "CANCELLED" for e in events), events
    # once the scheduler runs, nothing is executed for it
    inst.restart(env={"INTENTD_SCHEDULER": None})
    marker = t.intent()
    assert c.submit(marker, key=t.key).status == 202
    op.wait_for_state(marker["action_intent_id"], "SUCCEEDED")
    assert op.intent(iid).json["state"] == "CANCELLED"
    assert inst.database.effect_count("internal_tasks", iid) == 0
    assert not [e for e in inst.database.ledger_rows(iid) if e["event"].startswith("attempt.")]


def test_cancel_executing_intent_cancels_at_the_next_boundary(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    intent = follow_up_intent(t.tenant_id, wait_seconds=20)
    iid = intent["action_intent_id"]
    assert c.submit(intent, key=t.key).status == 202
    # the note is written, so the intent is EXECUTING in its Wait
    wait_until(lambda: db.effect_count("internal_notes", iid) == 1, 60, what="the note")
    op = c.with_token(t.operator)
    assert op.intent(iid).json["state"] == "EXECUTING"
    r = op.cancel(iid, reason="no longer needed")
    assert r.status == 202, r
    assert r.json["cancel_requested"] is True
    assert r.json["state"] in ("EXECUTING", "COMPENSATING", "CANCELLED")
    final = op.wait_for_state(iid, ("CANCELLED", "SUCCEEDED", "FAILED", "EXPIRED"), timeout=90)
    assert final["state"] == "CANCELLED", final
    assert db.effect_count("internal_tasks", iid) == 0
    events = [e["event"] for e in db.ledger_rows(iid)]
    assert "intent.cancel_requested" in events, events


def test_cancel_during_the_step_before_a_long_wait_does_not_wait_it_out(intentd_factory):
    """A cancel that lands while the step before a Wait is in hand must not sleep through the
    Wait: the step's outcome parks the intent until the Wait ends, and the cancel would be seen
    only then (an hour here). Many intents, each cancelled as soon as it is accepted, so some
    cancels land inside that window."""
    inst = intentd_factory()
    t = inst.create_tenant()
    c = inst.client()
    op = c.with_token(t.operator)
    items = [follow_up_intent(t.tenant_id, wait_seconds=3600) for _ in range(60)]
    for it in items:
        assert c.submit(it, key=t.key).status == 202
        r = op.cancel(it["action_intent_id"], reason="withdrawn")
        assert r.status in (200, 202), r
    for it in items:
        final = op.wait_for_state(it["action_intent_id"],
                                  ("CANCELLED", "SUCCEEDED", "FAILED", "EXPIRED"), timeout=60)
        assert final["state"] == "CANCELLED", final
    assert all(inst.database.effect_count("internal_tasks", it["action_intent_id"]) == 0
               for it in items)


def test_cancel_terminal_intent_is_409(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    op = client.with_token(tenant.operator)
    op.wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    with unchanged(shared_db):
        assert_problem(op.cancel(intent["action_intent_id"], reason="too late"), 409)
    assert op.intent(intent["action_intent_id"]).json["state"] == "SUCCEEDED"


def test_cancel_without_reason_is_400(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    op = client.with_token(tenant.operator)
    op.wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    with unchanged(shared_db):
        assert_problem(op.cancel(intent["action_intent_id"], body={}), 400)


def test_cancel_with_reason_over_1000_chars_is_400(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    op = client.with_token(tenant.operator)
    op.wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    with unchanged(shared_db):
        assert_problem(op.cancel(intent["action_intent_id"], reason="r" * 1001), 400)


def test_cancel_with_malformed_body_is_400(client, tenant, shared_db):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    op = client.with_token(tenant.operator)
    op.wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    with unchanged(shared_db):
        assert_problem(op.cancel(intent["action_intent_id"], body=b'{"reason":'), 400)


def test_cancel_unknown_intent_is_404(client, tenant):
    assert_problem(client.with_token(tenant.operator).cancel(unique("ai_"), reason="x"), 404)


def test_cancel_without_token_is_401(client, tenant):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    assert_problem(client.cancel(intent["action_intent_id"], reason="x"), 401)
