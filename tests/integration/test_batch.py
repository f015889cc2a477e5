"""POST /v1/intents:batch (docs/api-contract.md): per-item results in order, limits, one
tenant per batch, and that the accepted items are stored."""

import threading
import time

from fixtures import unchanged
from harness import assert_problem, canonical, make_intent, unique


def _small_intent(tenant_id):
    # short enough that 1001 of them stay well under 1 MiB
    return {
        "schema": "action_intent.v1",
        "action_intent_id": unique("b"),
        "tenant_id": tenant_id,
        "account_id": "a",
        "action_type": "internal.create_task",
        "parameters": {"title": "t"},
        "decision": {"decision_id": "d", "proposal_id": "p", "summary": "s"},
        "approval": {"approval_id": "ap", "approved_by": "u",
                     "approved_at": "2026-01-01T00:00:00Z"},
        "created_at": "2026-01-01T00:00:00Z",
        "expires_at_epoch": int(time.time()) + 3600,
    }


def test_batch_answers_each_item_in_order(client, tenant, shared_db):
    existing = tenant.intent()
    conflicting = tenant.intent()
    assert client.submit(existing, key=tenant.key).status == 202
    assert client.submit(conflicting, key=tenant.key).status == 202
    items = [
        tenant.intent(),                                             # 202 new
        existing,                                                    # 200 identical
        dict(conflicting, parameters={"title": "something else"}),   # 409
        tenant.intent(priority=500),                                 # 400 schema
        tenant.intent(action_type="internal.nope"),                  # 422 action type
        tenant.intent(parameters={"title": "x" * 501}),              # 422 parameters
        tenant.intent(expires_at_epoch=int(time.time()) - 60),       # 422 expired
        tenant.intent(),                                             # 202 new
    ]
    r = client.batch(items, key=tenant.key)
    assert r.status == 200, r
    results = r.json["results"]
    assert [x["action_intent_id"] for x in results] == [i["action_intent_id"] for i in items]
    assert [x["status"] for x in results] == [202, 200, 409, 400, 422, 422, 422, 202]
    assert results[3].get("errors"), results[3]
    assert any(e["pointer"] == "/priority" for e in results[3]["errors"]), results[3]
    assert any(e["pointer"] == "/parameters/title" for e in results[5].get("errors") or []), \
        results[5]
    for x in results:
        if x["status"] >= 400:
            assert x.get("error"), x


def test_batch_stores_accepted_items_and_only_those(client, tenant, shared_db):
    good1, good2 = tenant.intent(), tenant.intent()
    bad = tenant.intent(action_type="internal.nope")
    r = client.batch([good1, bad, good2], key=tenant.key)
    assert r.status == 200, r
    assert [x["status"] for x in r.json["results"]] == [202, 422, 202]
    for i in (good1, good2):
        assert shared_db.intent_state(i["action_intent_id"], tenant.tenant_id) is not None
        assert "intent.submitted" in [row["event"] for row in
                                      shared_db.ledger_rows(i["action_intent_id"])]
    assert shared_db.intent_state(bad["action_intent_id"]) is None
    op = client.with_token(tenant.operator)
    for i in (good1, good2):
        op.wait_for_state(i["action_intent_id"], "SUCCEEDED")
        assert shared_db.effect_count("internal_tasks", i["action_intent_id"]) == 1


def test_batch_resubmitted_whole_is_all_200(client, tenant, shared_db):
    items = [tenant.intent() for _ in range(5)]
    body = canonical({"intents": items})
    assert [x["status"] for x in client.batch(body, key=tenant.key).json["results"]] == [202] * 5
    with unchanged(shared_db):
        r = client.batch(body, key=tenant.key)
        assert r.status == 200, r
        assert [x["status"] for x in r.json["results"]] == [200] * 5


def test_batch_repeating_an_id_accepts_the_first_and_judges_the_rest_by_body(client, tenant,
                                                                            shared_db):
    first = tenant.intent()
    other = dict(first, parameters={"title": "not the same"})
    fresh = tenant.intent()
    r = client.batch([first, fresh, first, other, first], key=tenant.key)
    assert r.status == 200, r
    # the first occurrence is new; later ones compare with what it stored
    assert [x["status"] for x in r.json["results"]] == [202, 202, 200, 409, 200]
    iid = first["action_intent_id"]
    assert shared_db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id = %s",
                            (iid,)) == 1
    assert [row["event"] for row in shared_db.ledger_rows(iid)].count("intent.submitted") == 1
    op = client.with_token(tenant.operator)
    op.wait_for_state(iid, "SUCCEEDED")
    assert shared_db.effect_count("internal_tasks", iid) == 1


def test_concurrent_identical_submissions_accept_exactly_one(shared_intentd, tenant, shared_db):
    # Requests arriving together share one intentd.submit call (group commit): exactly one of
    # them is the 202, every other one a 200, whichever order they were put in.
    intent = tenant.intent()
    statuses, lock = [], threading.Lock()
    go = threading.Barrier(12)

    def send():
        c = shared_intentd.client()
        try:
            go.wait()
            st = c.submit(intent, key=tenant.key).status
        finally:
            c.close()
        with lock:
            statuses.append(st)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 11 + [202], statuses
    iid = intent["action_intent_id"]
    assert [row["event"] for row in shared_db.ledger_rows(iid)].count("intent.submitted") == 1


def test_batch_of_1000_is_accepted(client, tenant):
    items = [_small_intent(tenant.tenant_id) for _ in range(1000)]
    r = client.batch(items, key=tenant.key)
    assert r.status == 200, r
    assert [x["status"] for x in r.json["results"]] == [202] * 1000


def test_batch_over_1000_is_400(client, tenant, shared_db):
    items = [_small_intent(tenant.tenant_id) for _ in range(1001)]
    with unchanged(shared_db):
        assert_problem(client.batch(items, key=tenant.key), 400)


def test_empty_batch_is_400(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.batch([], key=tenant.key), 400)


def test_batch_without_intents_array_is_400(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.batch(canonical({"items": [tenant.intent()]}), key=tenant.key), 400)


def test_batch_mixing_tenants_is_400(shared_intentd, client, tenant, shared_db):
    other = shared_intentd.create_tenant()
    items = [tenant.intent(), make_intent(other.tenant_id), tenant.intent()]
    with unchanged(shared_db):
        assert_problem(client.batch(items, key=tenant.key), 400)


def test_batch_with_wrong_signature_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.batch([tenant.intent()], key="wrong-key"), 401)


def test_batch_unsigned_is_401(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.batch([tenant.intent()], signature=False), 401)


def test_batch_signature_covers_the_whole_body(client, tenant, shared_db):
    items = [tenant.intent(), tenant.intent()]
    body = canonical({"intents": items})
    from harness import sign
    sig = sign(canonical({"intents": items[:1]}), tenant.key)
    with unchanged(shared_db):
        assert_problem(client.batch(body, signature=sig), 401)


def test_batch_malformed_json_is_400(client, tenant, shared_db):
    with unchanged(shared_db):
        assert_problem(client.batch(b'{"intents":[{"schema":', key=tenant.key), 400)
