"""Tenants, tokens, roles and tenant isolation (SPEC §4.10, docs/api-contract.md)."""

import pytest

from harness import assert_problem, create_tenant, make_intent, unique


@pytest.fixture
def two_tenants(shared_intentd, client):
    a = shared_intentd.create_tenant()
    b = shared_intentd.create_tenant()
    intent = a.intent()
    assert client.submit(intent, key=a.key).status == 202
    client.with_token(a.operator).wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    return a, b, intent["action_intent_id"]


# ---------------------------------------------------------------------------- tenants API


def test_create_tenant_returns_key_and_tokens(admin):
    tid = unique("t")
    r = admin.post("/v1/tenants", body={"tenant_id": tid})
    assert r.status == 201, r
    b = r.json
    assert b["tenant_id"] == tid
    assert isinstance(b["approval_key"], str) and len(b["approval_key"]) >= 16
    assert b["tokens"]["operator"] and b["tokens"]["oncall"]
    assert b["tokens"]["operator"] != b["tokens"]["oncall"]


def test_create_existing_tenant_is_409(admin):
    t = create_tenant(admin)
    assert_problem(admin.post("/v1/tenants", body={"tenant_id": t.tenant_id}), 409)


@pytest.mark.parametrize("bad", ["", "has space", "x" * 65, "caf\u00e9", "a/b"],
                         ids=["empty", "space", "too_long", "non_ascii", "slash"])
def test_create_tenant_with_invalid_id_is_400(admin, bad):
    assert_problem(admin.post("/v1/tenants", body={"tenant_id": bad}), 400)


def test_create_tenant_with_64_char_id_is_201(admin):
    tid = ("t" + unique("") + "x" * 64)[:64]
    assert admin.post("/v1/tenants", body={"tenant_id": tid}).status == 201


def test_new_token_for_a_tenant_works(admin, client, two_tenants):
    a, _, iid = two_tenants
    r = admin.post("/v1/tenants/%s/tokens" % a.tenant_id, body={"role": "operator"})
    assert r.status == 201, r
    b = r.json
    assert b["tenant_id"] == a.tenant_id and b["role"] == "operator" and b["token"]
    assert client.with_token(b["token"]).intent(iid).status == 200


def test_token_for_unknown_tenant_is_404(admin):
    assert_problem(admin.post("/v1/tenants/%s/tokens" % unique("nosuch"),
                              body={"role": "operator"}), 404)


def test_token_with_bad_role_is_400(admin, tenant):
    assert_problem(admin.post("/v1/tenants/%s/tokens" % tenant.tenant_id,
                              body={"role": "superhero"}), 400)


# ---------------------------------------------------------------------------- 401 / 403


def test_missing_token_is_401(client, two_tenants):
    _, _, iid = two_tenants
    assert_problem(client.intent(iid), 401)
    assert_problem(client.executions(), 401)
    assert_problem(client.timeline(iid), 401)
    assert_problem(client.verify_ledger(), 401)
    assert_problem(client.post("/v1/tenants", body={"tenant_id": unique("t")}), 401)


def test_unknown_token_is_401(client, two_tenants):
    _, _, iid = two_tenants
    assert_problem(client.intent(iid, token="not-a-real-token"), 401)
    assert_problem(client.with_token("not-a-real-token").executions(), 401)


@pytest.mark.parametrize("role", ["operator", "oncall"])
def test_tenant_roles_get_403_on_admin_endpoints(client, tenant, role):
    c = client.with_token(tenant.tokens[role])
    assert_problem(c.post("/v1/tenants", body={"tenant_id": unique("t")}), 403)
    assert_problem(c.post("/v1/tenants/%s/tokens" % tenant.tenant_id, body={"role": "admin"}), 403)
    assert_problem(c.verify_ledger(), 403)


def test_tenant_admin_cannot_create_a_tenant(admin, client, tenant, shared_db):
    r = admin.post("/v1/tenants/%s/tokens" % tenant.tenant_id, body={"role": "admin"})
    assert r.status == 201, r
    tid = unique("t")
    before = shared_db.counts()
    p = assert_problem(client.with_token(r.json["token"]).post("/v1/tenants",
                                                               body={"tenant_id": tid}), 403)
    assert "global admin" in p["detail"]
    assert shared_db.counts() == before
    assert shared_db.scalar("SELECT count(*) FROM intentd.tenants WHERE tenant_id = %s",
                            (tid,)) == 0


def test_approval_key_is_not_a_bearer_token(client, tenant):
    assert_problem(client.with_token(tenant.key).executions(), 401)


# ---------------------------------------------------------------------------- isolation


def test_other_tenant_gets_404_for_the_intent(client, two_tenants):
    _, b, iid = two_tenants
    other = client.with_token(b.operator)
    assert_problem(other.intent(iid), 404)
    assert_problem(other.timeline(iid), 404)


def test_other_tenant_cannot_cancel_the_intent(client, two_tenants, shared_db):
    a, b, iid = two_tenants
    assert_problem(client.with_token(b.operator).cancel(iid, reason="not mine"), 404)


def test_other_tenant_does_not_see_the_intent_in_executions(client, two_tenants):
    a, b, iid = two_tenants
    mine = client.with_token(a.operator).executions(limit=500)
    assert mine.status == 200, mine
    assert iid in [x["action_intent_id"] for x in mine.json["items"]]
    theirs = client.with_token(b.operator).executions(limit=500)
    assert theirs.status == 200, theirs
    assert iid not in [x["action_intent_id"] for x in theirs.json["items"]]
    assert all(x["tenant_id"] == b.tenant_id for x in theirs.json["items"])


def test_other_tenant_does_not_see_the_intent_by_account(client, two_tenants):
    a, b, iid = two_tenants
    acct = make_intent()["account_id"]
    theirs = client.with_token(b.operator).executions(account_id=acct, limit=500)
    assert theirs.status == 200, theirs
    assert iid not in [x["action_intent_id"] for x in theirs.json["items"]]


def test_unknown_intent_is_404(client, tenant):
    assert_problem(client.with_token(tenant.operator).intent(unique("ai_")), 404)


def test_oncall_token_reads_its_tenant(client, two_tenants):
    a, _, iid = two_tenants
    assert client.with_token(a.oncall).intent(iid).status == 200


def test_global_admin_reads_any_tenant_with_tenant_id(admin, two_tenants):
    a, _, iid = two_tenants
    r = admin.intent(iid, tenant_id=a.tenant_id)
    assert r.status == 200, r
    assert r.json["tenant_id"] == a.tenant_id


def test_global_admin_verifies_the_ledger(admin):
    r = admin.verify_ledger()
    assert r.status == 200, r
    assert r.json["ok"] is True
