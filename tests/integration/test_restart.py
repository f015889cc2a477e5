"""Durability across intentd restarts: durable Wait timers, TTL expiry before and between
states, and graceful shutdown on SIGTERM.

ASSUMPTION: intentd honours INTENTD_SCHEDULER=off (serves the API, claims no work) and
INTENTD_LEASE_SECONDS (lease length; documented in docs/api-contract.md)."""

import datetime
import threading
import time

import pytest

from harness import TERMINAL_STATES, follow_up_intent, wait_until


def _submitted_at(db, iid):
    return next(r["created_at"] for r in db.ledger_rows(iid) if r["event"] == "intent.submitted")


def _wait_row(db, iid):
    """(step_name, wait_until, due_at, the database clock) of intent iid, read at one instant."""
    return db.query("SELECT step_name, wait_until, due_at, now() FROM intentd.intents "
                    "WHERE action_intent_id = %s", (iid,))[0]


def _wait_entries(db, iid):
    return [r for r in db.ledger_rows(iid) if r["event"] == "step.entered"
            and (r["payload"] or {}).get("type") == "Wait"]


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_wait_survives_a_restart(intentd_factory, how):
    inst = intentd_factory(env={"INTENTD_LEASE_SECONDS": "3"})
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    intent = follow_up_intent(t.tenant_id, wait_seconds=8)
    iid = intent["action_intent_id"]
    assert c.submit(intent, key=t.key).status == 202
    wait_until(lambda: db.effect_count("internal_notes", iid) == 1, 60, what="the note")
    # the Wait is entered (and its due time stored) in the run after the note
    wait_until(lambda: _wait_row(db, iid)[1] is not None, 60, what="the Wait to be entered")
    step, waits_until, due, _ = _wait_row(db, iid)
    assert step == "WaitGiven", step
    assert due == waits_until, (due, waits_until)  # the deadline is far later
    entered = _wait_entries(db, iid)
    assert len(entered) == 1, entered
    assert abs(entered[0]["payload"]["wait_until_epoch"] - waits_until.timestamp()) < 1e-3, \
        (entered, waits_until)
    assert db.effect_count("internal_tasks", iid) == 0
    rc = inst.restart(kill=(how == "kill9"))
    if how == "sigterm":
        assert rc == 0, inst.log_tail()
    # Still inside the Wait (the usual case: the restart takes well under 8 s): the new process
    # left its stored due time alone. Past it, the ledger checks below still hold.
    step2, waits_until2, due2, db_now = _wait_row(db, iid)
    if db_now < waits_until:
        assert (step2, waits_until2, due2) == (step, waits_until, due), \
            "the restart moved the Wait: %r -> %r" % ((step, waits_until, due),
                                                       (step2, waits_until2, due2))
    final = c.with_token(t.operator).wait_for_state(iid, TERMINAL_STATES, timeout=120)
    assert final["state"] == "SUCCEEDED", final
    assert db.effect_count("internal_notes", iid) == 1
    assert db.effect_count("internal_tasks", iid) == 1
    # the Wait was entered once, with the due time read before the restart (a Wait restarted by
    # the new process would be entered again with a later one)
    assert _wait_entries(db, iid) == entered
    # the task's attempt started no earlier than that due time (database clock)
    submitted = _submitted_at(db, iid)
    rows = db.ledger_rows(iid)
    task_attempts = [r for r in rows if r["event"] == "attempt.started"
                     and (r["payload"] or {}).get("step") == "CreateTask"]
    assert len(task_attempts) == 1, rows
    task_attempt = task_attempts[0]
    assert task_attempt["seq"] > entered[0]["seq"], rows
    assert task_attempt["created_at"] >= waits_until, (waits_until, task_attempt)
    assert task_attempt["created_at"] - submitted >= datetime.timedelta(seconds=8), \
        (submitted, task_attempt)
    if db.has_column("intentd", "internal_tasks", "created_at"):
        created = db.scalar("SELECT created_at FROM intentd.internal_tasks "
                            "WHERE action_intent_id = %s", (iid,))
        assert created >= waits_until, (waits_until, created)


def test_ttl_passed_while_pending_expires_without_running(intentd_factory):
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})  # assumes INTENTD_SCHEDULER=off
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    expires = int(time.time()) + 2
    intent = t.intent(expires_at_epoch=expires)
    iid = intent["action_intent_id"]
    assert c.submit(intent, key=t.key).status == 202
    op = c.with_token(t.operator)
    assert op.intent(iid).json["state"] == "PENDING", "is INTENTD_SCHEDULER=off honoured?"
    wait_until(lambda: time.time() > expires + 1, 30, what="the TTL to pass")
    inst.restart(env={"INTENTD_SCHEDULER": None})
    final = op.wait_for_state(iid, TERMINAL_STATES)
    assert final["state"] == "EXPIRED", final
    assert db.effect_count("internal_tasks", iid) == 0
    rows = db.ledger_rows(iid)
    assert not [r for r in rows if r["event"].startswith("attempt.")], rows
    assert any(r["event"] == "intent.transition" and r["to_state"] == "EXPIRED" for r in rows)


def test_ttl_passed_between_states_expires_before_the_next_task(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    intent = follow_up_intent(t.tenant_id, wait_seconds=20,
                              expires_at_epoch=int(time.time()) + 6)
    iid = intent["action_intent_id"]
    assert c.submit(intent, key=t.key).status == 202
    final = c.with_token(t.operator).wait_for_state(iid, TERMINAL_STATES, timeout=90)
    assert final["state"] == "EXPIRED", final
    assert db.effect_count("internal_tasks", iid) == 0
    rows = db.ledger_rows(iid)
    ok_attempts = [r for r in rows if r["event"] == "attempt.finished"
                   and (r["payload"] or {}).get("outcome") == "succeeded"]
    assert len(ok_attempts) == 1, "the note step should have run once: %r" % rows
    expired = [r for r in rows if r["event"] == "intent.transition" and r["to_state"] == "EXPIRED"]
    assert expired and expired[0]["seq"] > ok_attempts[0]["seq"], rows


def test_sigterm_exits_0_and_a_new_process_finishes_the_work(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    # work in hand at shutdown: intents sitting in a Wait
    waiting = [follow_up_intent(t.tenant_id, wait_seconds=3) for _ in range(20)]
    r = c.batch(waiting, key=t.key)
    assert r.status == 200 and {x["status"] for x in r.json["results"]} == {202}, r
    wait_until(lambda: db.scalar("SELECT count(*) FROM intentd.internal_notes WHERE tenant_id=%s",
                                 (t.tenant_id,)) >= 1, 60, what="a note")

    # requests in flight at shutdown: four clients submitting batches back to back
    stop = threading.Event()
    outcomes = []
    lock = threading.Lock()

    def worker():
        cl = inst.client(timeout=60)
        while not stop.is_set():
            items = [t.intent() for _ in range(25)]
            try:
                resp = cl.batch(items, key=t.key)
                rec = (items, resp.status, resp.json)
            except Exception as e:  # noqa: BLE001 - refused/reset once it stops accepting
                rec = (items, None, repr(e))
            with lock:
                outcomes.append(rec)
            if rec[1] is None:
                if not inst.alive():
                    break
                time.sleep(0.05)
        cl.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for th in threads:
        th.start()
    wait_until(lambda: sum(1 for o in outcomes if o[1] == 200) >= 8, 60,
               what="some batches accepted")
    rc = inst.stop(timeout=90)
    stop.set()
    for th in threads:
        th.join(60)
    assert rc == 0, inst.log_tail()
    # the stop gave back every lease it held: nothing is left owned by the stopped node or
    # marked in hand (a row left so would wait out its lease and count as a crash)
    held = db.query("SELECT action_intent_id, state, lease_owner, in_hand FROM intentd.intents "
                    "WHERE tenant_id = %s AND (lease_owner = %s OR in_hand)",
                    (t.tenant_id, inst.node_id))
    assert held == [], "still held after SIGTERM: %r" % held[:10]

    accepted = {i["action_intent_id"] for i in waiting}
    unanswered = []
    for items, status, body in outcomes:
        if status is None:
            unanswered.append(items)
            continue
        assert status in (200, 503), (status, body)
        if status == 200:
            for item, res in zip(items, body["results"]):
                assert res["status"] == 202, res
                accepted.add(item["action_intent_id"])
        else:
            unanswered.append(items)
    # every accepted intent was durably stored before its 202
    stored = {row[0] for row in db.query(
        "SELECT action_intent_id FROM intentd.intents WHERE tenant_id = %s", (t.tenant_id,))}
    assert accepted <= stored, "accepted but lost: %r" % sorted(accepted - stored)[:10]

    # a new process on the same database finishes everything; resubmitting what got no answer
    # (as the approval service would) is safe
    new = intentd_factory(db=db)
    nc = new.client()
    for items in unanswered:
        resp = nc.batch(items, key=t.key)
        assert resp.status == 200, resp
        for item, res in zip(items, resp.json["results"]):
            assert res["status"] in (200, 202), res
            accepted.add(item["action_intent_id"])
    db.wait_quiescent(timeout=120)
    states = dict(db.query("SELECT action_intent_id, state FROM intentd.intents "
                           "WHERE tenant_id = %s", (t.tenant_id,)))
    assert set(states) == accepted
    assert {s for s in states.values()} == {"SUCCEEDED"}, states
    n, distinct = db.query("SELECT count(*), count(DISTINCT action_intent_id) "
                           "FROM intentd.internal_tasks WHERE tenant_id = %s", (t.tenant_id,))[0]
    assert n == distinct == len(accepted)
    # the new process took over nothing that was cut short: no attempt was interrupted
    interrupted = db.query("SELECT action_intent_id, node_id, payload FROM intentd.ledger "
                           "WHERE tenant_id = %s AND event = 'attempt.interrupted'",
                           (t.tenant_id,))
    assert interrupted == [], interrupted[:10]
    v = new.admin().verify_ledger()
    assert v.status == 200 and v.json["ok"] is True, v


def test_sigterm_when_idle_exits_0(intentd_factory):
    inst = intentd_factory()
    assert inst.stop() == 0
    assert '"gave back 0 leases"' in inst.log_tail(), inst.log_tail()
