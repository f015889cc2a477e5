"""Crash tests (issue 2, "Crash" and "Multi-node"). Select with `-m crash`:

    /usr/bin/python3 -m pytest -m crash tests/crash

Environment:
  CRASH_INTENTS      intents in the kill -9 test (default 20000)
  CRASH_KILLS        how many times intentd is kill -9'ed (default 5)
  MULTINODE_INTENTS  intents in the multi-node test (default 10000)
  CRASH_SEED         random seed (default: time-based; printed)
  CRASH_TIMEOUT      seconds to wait for all intents to be terminal (default 1800)

ASSUMPTION: intentd honours INTENTD_LEASE_SECONDS (a killed node's leases lapse after it; set to
5 here so that resumed work does not wait the default 30 s).

Nothing here asserts on timing: we wait (with generous deadlines) and then check the database.
"""

import os
import random
import sys
import time

import pytest

from harness import RetryingSubmitter, TERMINAL_STATES, unique, wait_until

pytestmark = pytest.mark.crash

CRASH_INTENTS = int(os.environ.get("CRASH_INTENTS", "20000"))
CRASH_KILLS = int(os.environ.get("CRASH_KILLS", "5"))
MULTINODE_INTENTS = int(os.environ.get("MULTINODE_INTENTS", "10000"))
TIMEOUT = float(os.environ.get("CRASH_TIMEOUT", "1800"))
LEASE = {"INTENTD_LEASE_SECONDS": "5"}


def _seed():
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time() * 1000) % 1000000)))
    print("CRASH_SEED=%d" % seed, file=sys.stderr)
    return random.Random(seed)


def _intents(tenant_id, n):
    now = int(time.time())
    out = []
    for i in range(n):
        out.append({
            "schema": "action_intent.v1",
            "action_intent_id": "c%06d_%s" % (i, unique("")[:8]),
            "tenant_id": tenant_id,
            "account_id": "acct_%d" % (i % 97),
            "action_type": "internal.create_task",
            "parameters": {"title": "crash test task %d" % i},
            "decision": {"decision_id": "d%d" % i, "proposal_id": "p%d" % i, "summary": "crash"},
            "approval": {"approval_id": "ap%d" % i, "approved_by": "u",
                         "approved_at": "2026-01-01T00:00:00Z"},
            "created_at": "2026-01-01T00:00:00Z",
            "expires_at_epoch": now + 6 * 3600,
            "priority": i % 101,
        })
    return out


def _succeeded(db, tenant_id):
    return db.scalar("SELECT count(*) FROM intentd.intents WHERE tenant_id=%s AND state='SUCCEEDED'",
                     (tenant_id,))


def _wait_all_terminal(db, tenant_id, n):
    def done():
        total, open_ = db.query(
            "SELECT count(*), count(*) FILTER (WHERE state <> ALL(%s)) FROM intentd.intents "
            "WHERE tenant_id=%s", (list(TERMINAL_STATES), tenant_id))[0]
        return total == n and open_ == 0
    wait_until(done, TIMEOUT, interval=1.0, what="all %d intents to be terminal" % n)


def _check_exactly_once(db, tenant_id, ids):
    """Every intent terminal, exactly one internal_tasks row each, one successful attempt each."""
    states = dict(db.query("SELECT state, count(*) FROM intentd.intents WHERE tenant_id=%s "
                           "GROUP BY state", (tenant_id,)))
    print("final states: %r" % states, file=sys.stderr)
    assert set(states) <= set(TERMINAL_STATES), states
    stored = {r[0] for r in db.query("SELECT action_intent_id FROM intentd.intents "
                                     "WHERE tenant_id=%s", (tenant_id,))}
    assert stored == set(ids), "missing %d, unexpected %d" % (len(set(ids) - stored),
                                                               len(stored - set(ids)))
    n, distinct = db.query("SELECT count(*), count(DISTINCT action_intent_id) "
                           "FROM intentd.internal_tasks WHERE tenant_id=%s", (tenant_id,))[0]
    dupes = db.query("SELECT action_intent_id, count(*) FROM intentd.internal_tasks "
                     "WHERE tenant_id=%s GROUP BY 1 HAVING count(*) > 1 LIMIT 10", (tenant_id,))
    assert not dupes, "intents with more than one task: %r" % dupes
    assert n == distinct == len(ids), "tasks %d, distinct %d, intents %d" % (n, distinct, len(ids))
    assert states == {"SUCCEEDED": len(ids)}, states
    twice = db.query(
        "SELECT action_intent_id, count(*) FROM intentd.ledger WHERE tenant_id=%s "
        "AND event='attempt.finished' AND payload::jsonb->>'outcome'='succeeded' "
        "GROUP BY 1 HAVING count(*) <> 1 LIMIT 10", (tenant_id,))
    assert not twice, "intents whose task succeeded other than once: %r" % twice


def _verify(inst):
    r = inst.admin().verify_ledger()
    assert r.status == 200, r
    assert r.json["ok"] is True, r.json
    return r.json["rows"]


def test_kill9_five_times_loses_nothing_and_does_nothing_twice(intentd_factory):
    rng = _seed()
    inst = intentd_factory(env=LEASE)
    db = inst.database
    t = inst.create_tenant()
    intents = _intents(t.tenant_id, CRASH_INTENTS)
    ids = [i["action_intent_id"] for i in intents]
    sub = RetryingSubmitter([("127.0.0.1", inst.port)], t, intents, batch_size=500,
                            give_up_after=TIMEOUT)
    sub.start()
    # kill at random points of progress (fractions of the intents succeeded), plus a random
    # extra delay, so kills land during submission, execution, and in between
    thresholds = sorted(rng.uniform(0.02, 0.9) for _ in range(CRASH_KILLS))
    completed = False
    try:
        for k, frac in enumerate(thresholds):
            target = int(frac * CRASH_INTENTS)
            wait_until(lambda: _succeeded(db, t.tenant_id) >= target or sub.done.is_set(),
                       TIMEOUT, interval=0.02, what="progress to %d" % target)
            time.sleep(rng.uniform(0, 0.3))
            before = _succeeded(db, t.tenant_id)
            inst.kill9()
            print("kill -9 #%d at %d/%d succeeded" % (k + 1, before, CRASH_INTENTS),
                  file=sys.stderr)
            time.sleep(rng.uniform(0, 0.5))
            inst.start(timeout=120)
        completed = True
    finally:
        if not completed:
            sub.stop_flag.set()
        sub.done.wait(TIMEOUT)
        sub.stop_flag.set()
    assert sub.error is None, repr(sub.error)
    assert not sub.bad, sub.bad[:10]
    assert len(sub.accepted) == CRASH_INTENTS
    print("submitter: retries=%d conn_errors=%d http=%r" % (sub.retries, sub.conn_errors,
                                                            sub.http_errors), file=sys.stderr)
    _wait_all_terminal(db, t.tenant_id, CRASH_INTENTS)
    interrupted = db.scalar("SELECT count(*) FROM intentd.ledger WHERE tenant_id=%s "
                            "AND event='attempt.interrupted'", (t.tenant_id,))
    print("attempt.interrupted rows: %d" % interrupted, file=sys.stderr)
    _check_exactly_once(db, t.tenant_id, ids)
    rows = _verify(inst)
    assert rows >= CRASH_INTENTS


def test_three_nodes_one_killed_for_good(intentd_factory, new_db):
    rng = _seed()
    db = new_db()
    run = unique("")[:6]
    nodes = [intentd_factory(db=db, env=LEASE, start=False, node_id="node%d-%s" % (i, run))
             for i in range(3)]
    for n in nodes:  # start together: migrations must be safe under concurrency
        n.start(wait=False)
    for n in nodes:
        n.wait_ready(timeout=120)
    t = nodes[0].create_tenant()
    intents = _intents(t.tenant_id, MULTINODE_INTENTS)
    ids = [i["action_intent_id"] for i in intents]
    rr = [0]

    def endpoint():
        live = [n for n in nodes if n.alive()]
        rr[0] += 1
        return ("127.0.0.1", live[rr[0] % len(live)].port)

    sub = RetryingSubmitter([endpoint], t, intents, batch_size=500, give_up_after=TIMEOUT)
    sub.start()
    victim = nodes[rng.randrange(3)]
    target = int(rng.uniform(0.2, 0.6) * MULTINODE_INTENTS)
    completed = False
    try:
        wait_until(lambda: _succeeded(db, t.tenant_id) >= target or sub.done.is_set(), TIMEOUT,
                   interval=0.02, what="progress to %d" % target)
        victim.kill9()
        print("killed %s for good at %d/%d succeeded" % (victim.node_id,
                                                         _succeeded(db, t.tenant_id),
                                                         MULTINODE_INTENTS), file=sys.stderr)
        completed = True
    finally:
        if not completed:
            sub.stop_flag.set()
        sub.done.wait(TIMEOUT)
        sub.stop_flag.set()
    assert sub.error is None, repr(sub.error)
    assert not sub.bad, sub.bad[:10]
    assert len(sub.accepted) == MULTINODE_INTENTS
    _wait_all_terminal(db, t.tenant_id, MULTINODE_INTENTS)
    _check_exactly_once(db, t.tenant_id, ids)
    by_node = dict(db.query("SELECT node_id, count(*) FROM intentd.ledger WHERE tenant_id=%s "
                            "AND event='attempt.finished' GROUP BY node_id", (t.tenant_id,)))
    print("attempts finished by node: %r" % by_node, file=sys.stderr)
    assert len([n for n in by_node if n]) >= 2, by_node
    assert set(by_node) <= {n.node_id for n in nodes}, by_node
    survivors = [n for n in nodes if n.alive()]
    assert len(survivors) == 2
    _verify(survivors[0])
