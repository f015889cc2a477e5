"""Connector intents under faults and crashes (issue 3, "Fault matrix" and "Crash"). Select with
`-m crash`. The vendor fake (tests/fakes) records every effect with its idempotency marker, so
the checks are about the vendor's state: exactly one effect per succeeded step, none left live
for an intent whose reversible steps were compensated.

Environment:
  FAULT_INTENTS   composite intents in the fault matrix (default 2000)
  CONNECTOR_CRASH_INTENTS  intents in the kill -9 test (default 400)
  CRASH_SEED      seed for the fake's fault dice (default: time-based; printed)
"""

import base64
import hashlib
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))

from connector_env import (VendorFake, configure, crm_task_params,  # noqa: E402
                           meeting_params)
from harness import RetryingSubmitter, TERMINAL_STATES, unique, wait_until  # noqa: E402

pytestmark = pytest.mark.crash

FAULT_INTENTS = int(os.environ.get("FAULT_INTENTS", "2000"))
CRASH_INTENTS = int(os.environ.get("CONNECTOR_CRASH_INTENTS", "400"))
TIMEOUT = float(os.environ.get("CRASH_TIMEOUT", "1800"))
TOKENS = {"hubspot": ["crm-token"], "calendar": ["cal-token"]}


def seed():
    s = int(os.environ.get("CRASH_SEED", str(int(time.time() * 1000) % 1000000)))
    print("CRASH_SEED=%d" % s, file=sys.stderr)
    return s


def step_key(tenant, intent_id, step):
    h = hashlib.sha256(("%s\x1f%s\x1f%s" % (tenant, intent_id, step)).encode()).hexdigest()
    return "ik_" + h[:40]


def event_id(key):
    return base64.b32hexencode(key.encode()).decode().lower().rstrip("=")


def intents(tenant, n, action_type, params):
    now = int(time.time())
    out = []
    for i in range(n):
        out.append({
            "schema": "action_intent.v1",
            "action_intent_id": "k%05d_%s" % (i, unique("")[:8]),
            "tenant_id": tenant.tenant_id,
            "account_id": "acct_%d" % (i % 31),
            "action_type": action_type,
            "parameters": params(),
            "decision": {"decision_id": "d%d" % i, "proposal_id": "p%d" % i,
                         "summary": "faults"},
            "approval": {"approval_id": "ap%d" % i, "approved_by": "u",
                         "approved_at": "2026-01-01T00:00:00Z"},
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at_epoch": now + 6 * 3600,
        })
    return out


def wait_terminal(db, tenant_id, n):
    def done():
        total, open_ = db.query(
            "SELECT count(*), count(*) FILTER (WHERE state <> ALL(%s)) FROM intentd.intents "
            "WHERE tenant_id=%s", (list(TERMINAL_STATES), tenant_id))[0]
        return total == n and open_ == 0
    wait_until(done, TIMEOUT, interval=1.0, what="all %d intents to be terminal" % n)


def submit_all(inst, tenant, items):
    sub = RetryingSubmitter([("127.0.0.1", inst.port)], tenant, items, batch_size=500)
    sub.start()
    sub.join(TIMEOUT)
    assert sub.error is None and not sub.bad, (sub.error, sub.bad[:5])


def effects_by_marker(fake, vendor):
    out = {}
    for e in fake.effects(vendor=vendor):
        out.setdefault(e["marker"], []).append(e)
    return out


def test_fault_matrix_composites(pg_cluster, intentd_factory):
    fake = VendorFake().start()
    try:
        fake.config(tokens=TOKENS, seed=seed(), request_log_max=1000)
        # first matching rule decides; each fires with its probability
        for rule in (
            {"path_regex": "^/(crm|calendar)/", "action": "reset_after", "probability": 0.05,
             "count": -1},
            {"path_regex": "^/(crm|calendar)/", "action": "reset_before", "probability": 0.05,
             "count": -1},
            {"path_regex": "^/(crm|calendar)/", "action": "timeout", "probability": 0.10,
             "count": -1},
            {"path_regex": "^/(crm|calendar)/", "action": "status", "status": 503,
             "probability": 0.30, "count": -1},
        ):
            fake.add_fault(**rule)
        inst = intentd_factory(env={"INTENTD_LEASE_SECONDS": "10"})
        db = inst.database
        tenant = inst.create_tenant()
        c = inst.client(token=tenant.oncall)
        configure(c, fake, limits={"timeout_seconds": 1}, only=("crm", "calendar"))
        items = intents(tenant, FAULT_INTENTS, "sales.book_meeting",
                        lambda: {"meeting": meeting_params(), "task": crm_task_params()})
        submit_all(inst, tenant, items)
        wait_terminal(db, tenant.tenant_id, FAULT_INTENTS)

        states = dict(db.query("SELECT action_intent_id, state FROM intentd.intents "
                               "WHERE tenant_id=%s", (tenant.tenant_id,)))
        print("states:", {s: list(states.values()).count(s) for s in set(states.values())},
              file=sys.stderr)
        # At this fault rate an undo can fail every one of its retries (each attempt may need a
        # search and an archive, about half of which fail): the engine then ends the intent
        # FAILED compensation_failed and names the steps whose undo failed. Those steps, and
        # only those, may leave a live effect: nothing is left behind unreported.
        undo_failed = {}
        for iid, completed in db.query(
                "SELECT action_intent_id, completed FROM intentd.intents WHERE tenant_id=%s "
                "AND state = 'FAILED' AND terminal_reason LIKE 'compensation_failed%%'",
                (tenant.tenant_id,)):
            undo_failed[iid] = {c["step"] for c in completed or []
                                if (c.get("comp") or {}).get("state") == "failed"}
        print("compensation_failed:", len(undo_failed), file=sys.stderr)
        events = effects_by_marker(fake, "calendar")
        tasks = effects_by_marker(fake, "hubspot")
        problems = []
        for it in items:
            iid = it["action_intent_id"]
            ev = events.get(event_id(step_key(tenant.tenant_id, iid, "DraftMeeting")), [])
            tk = tasks.get(step_key(tenant.tenant_id, iid, "CreateTask"), [])
            live_ev = [e for e in ev if e["state"] == "live"]
            live_tk = [e for e in tk if e["state"] == "live"]
            if len(ev) > 1 or len(tk) > 1:
                problems.append((iid, "duplicate effect", len(ev), len(tk)))
            if states[iid] == "SUCCEEDED":
                if len(live_ev) != 1 or len(live_tk) != 1:
                    problems.append((iid, "SUCCEEDED without its effects", ev, tk))
            else:
                reported = undo_failed.get(iid, set())
                if (live_ev and "DraftMeeting" not in reported) or \
                        (live_tk and "CreateTask" not in reported):
                    problems.append((iid, "%s left effects behind" % states[iid], live_ev,
                                     live_tk))
        for p in problems[:5]:
            print("problem intent:", p[0], db.query(
                "SELECT state, terminal_reason, last_error::text, completed::text "
                "FROM intentd.intents WHERE tenant_id=%s AND action_intent_id=%s",
                (tenant.tenant_id, p[0])), file=sys.stderr)
        assert not problems, problems[:10]
        assert list(states.values()).count("SUCCEEDED") > FAULT_INTENTS // 2
        adm = inst.admin()
        v = adm.verify_ledger()
        assert v.status == 200 and v.json.get("ok") is True, v
        adm.close()
        c.close()
    finally:
        fake.stop()


def test_kill9_with_calls_in_flight_never_duplicates(pg_cluster, intentd_factory):
    fake = VendorFake().start()
    try:
        fake.config(tokens=TOKENS, request_log_max=1000000)
        fake.add_fault(path_regex="^/crm/v3/objects/tasks$", method="POST", action="delay",
                       delay_ms=400, count=-1)
        # every intent is in hand at each kill: quarantine must not be what ends them
        inst = intentd_factory(env={"INTENTD_LEASE_SECONDS": "3",
                                    "INTENTD_QUARANTINE_AFTER": "20"})
        db = inst.database
        tenant = inst.create_tenant()
        c = inst.client(token=tenant.oncall)
        # At most 16 calls at once, each answered 400 ms late: a pass over the run takes ten
        # seconds or more, so each of the three kills lands with calls in flight and work left
        # (unlimited, all 400 went out at once and the run could be over before the last kill).
        configure(c, fake, limits={"timeout_seconds": 5, "concurrency": 16}, only=("crm",))
        c.close()
        items = intents(tenant, CRASH_INTENTS, "crm.create_task", crm_task_params)
        submit_all(inst, tenant, items)
        for _ in range(3):
            # kill while answers are being held back: calls are in flight
            n0 = len(fake.requests(vendor="hubspot"))
            wait_until(lambda: len(fake.requests(vendor="hubspot")) > n0 + 5, 60,
                       what="calls in flight")
            inst.kill9()
            inst.start()
        wait_terminal(db, tenant.tenant_id, CRASH_INTENTS)
        tasks = effects_by_marker(fake, "hubspot")
        states = dict(db.query("SELECT state, count(*) FROM intentd.intents WHERE tenant_id=%s "
                               "GROUP BY state", (tenant.tenant_id,)))
        assert states == {"SUCCEEDED": CRASH_INTENTS}, states
        dup = {k: len(v) for k, v in tasks.items() if len(v) != 1}
        assert not dup, list(dup.items())[:10]
        keys = {step_key(tenant.tenant_id, it["action_intent_id"], "CreateTask") for it in items}
        assert set(tasks) == keys
    finally:
        fake.stop()
