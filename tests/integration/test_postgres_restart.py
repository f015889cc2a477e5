"""PostgreSQL restarted or stopped under a running intentd: requests get 503 meanwhile, nothing
accepted is lost, nothing runs twice, the ledger verifies. These tests restart their own
cluster, not the session's."""

import http.client
import threading
import time

import pytest

import harness
from fixtures import Factory
from harness import PgCluster, assert_problem, follow_up_intent, wait_until


@pytest.fixture(scope="module")
def own_cluster():
    cluster = PgCluster().init().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def factory(own_cluster, intentd_binary):
    f = Factory(own_cluster, intentd_binary)
    yield f
    f.cleanup()


def test_postgres_restart_mid_run_loses_nothing_and_repeats_nothing(own_cluster, factory):
    inst = factory()
    db = inst.database
    t = inst.create_tenant()
    c = inst.client()
    # 500 intents in progress: half quick tasks, half sitting in a 3 s Wait
    intents = [t.intent() for _ in range(250)] + \
        [follow_up_intent(t.tenant_id, wait_seconds=3) for _ in range(250)]
    accepted = set()
    for i in range(0, len(intents), 100):
        r = c.batch(intents[i:i + 100], key=t.key)
        assert r.status == 200, r
        assert {x["status"] for x in r.json["results"]} == {202}, r
        accepted.update(x["action_intent_id"] for x in r.json["results"])

    # a client submitting one intent at a time throughout, retrying on 503 / connection errors
    stop = threading.Event()
    statuses = []
    errors = []

    def submitter():
        cl = inst.client(timeout=60)
        while not stop.is_set():
            intent = t.intent()
            while not stop.is_set():
                try:
                    resp = cl.submit(intent, key=t.key)
                except (OSError, http.client.HTTPException) as e:
                    errors.append(repr(e))
                    time.sleep(0.1)
                    continue
                statuses.append(resp.status)
                if resp.status in (200, 202):
                    accepted.add(intent["action_intent_id"])
                    break
                if resp.status != 503:
                    break
                time.sleep(0.05)
        cl.close()

    th = threading.Thread(target=submitter, daemon=True)
    th.start()
    wait_until(lambda: len(statuses) >= 5, 60, what="the submitter to get going")
    own_cluster.restart(mode="fast")
    inst.wait_ready(timeout=120)
    n = len(statuses)
    wait_until(lambda: len([s for s in statuses[n:] if s == 202]) >= 5, 120,
               what="submissions accepted after the restart")
    stop.set()
    th.join(120)

    assert set(statuses) <= {200, 202, 503}, sorted(set(statuses))
    assert inst.alive(), inst.log_tail()
    db.wait_quiescent(timeout=180)
    states = dict(db.query("SELECT action_intent_id, state FROM intentd.intents "
                           "WHERE tenant_id = %s", (t.tenant_id,)))
    assert accepted <= set(states), "accepted but lost: %r" % sorted(accepted - set(states))[:10]
    assert set(states.values()) == {"SUCCEEDED"}, \
        {s: sum(1 for v in states.values() if v == s) for s in set(states.values())}
    n, distinct = db.query("SELECT count(*), count(DISTINCT action_intent_id) "
                           "FROM intentd.internal_tasks WHERE tenant_id = %s", (t.tenant_id,))[0]
    assert n == distinct == len(states), (n, distinct, len(states))
    v = inst.admin().verify_ledger()
    assert v.status == 200 and v.json["ok"] is True, v


def test_requests_during_a_postgres_outage_get_503_and_nothing_is_half_written(own_cluster,
                                                                               factory):
    inst = factory()
    db = inst.database
    t = inst.create_tenant()
    c = inst.client(timeout=60)
    own_cluster.stop(mode="fast")
    try:
        wait_until(lambda: c.get("/readyz").status == 503, 60, what="/readyz to say 503")
        assert c.get("/healthz").status == 200
        intent = t.intent()
        assert_problem(c.submit(intent, key=t.key), 503)
        r = c.batch([t.intent()], key=t.key)
        assert r.status == 503, r
    finally:
        own_cluster.start()
    inst.wait_ready(timeout=120)
    # the intent answered 503 was not stored, so it is new now
    r = c.submit(intent, key=t.key)
    assert r.status == 202, r
    final = c.with_token(t.operator).wait_for_state(intent["action_intent_id"],
                                                    harness.TERMINAL_STATES)
    assert final["state"] == "SUCCEEDED", final
    assert db.effect_count("internal_tasks", intent["action_intent_id"]) == 1
