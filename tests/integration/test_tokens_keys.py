"""Token listing and revocation, approval-key rotation (issue 4; SPEC §6 admin;
docs/api-contract.md "Tokens and keys"), against the real intentd and PostgreSQL."""

import hashlib
import json

import pytest

from fixtures import unchanged
from harness import assert_problem, has_error_at, unique, wait_until

WAIT = 30  # generous deadline for conditions that need a clock to pass


def tokens_path(tenant_id):
    return "/v1/tenants/%s/tokens" % tenant_id


def keys_path(tenant_id):
    return "/v1/tenants/%s/keys" % tenant_id


def rotate(admin, tenant_id, body=None):
    return admin.post(keys_path(tenant_id) + ":rotate", body=body)


def ledger_ok(admin):
    r = admin.get("/v1/ledger/verify")
    assert r.status == 200 and r.json["ok"] is True, r


def rows(db, tenant_id, event):
    return [{"actor": a, "payload": p} for a, p in db.query(
        "SELECT actor, payload FROM intentd.ledger WHERE tenant_id = %s AND event = %s "
        "ORDER BY seq", (tenant_id, event))]


def submit_ok(c, tenant, key):
    it = tenant.intent()
    r = c.submit(it, key=key)
    assert r.status == 202, r
    return it


# ----------------------------------------------------------------------------------- tokens


def test_list_shows_ids_and_roles_never_secrets(admin, tenant):
    r = admin.post(tokens_path(tenant.tenant_id), body={"role": "admin"})
    assert r.status == 201, r
    made = r.json
    assert made["token_id"].startswith("tok_") and len(made["token_id"]) == 20
    r = admin.get(tokens_path(tenant.tenant_id))
    assert r.status == 200, r
    listed = r.json["tokens"]
    assert r.json["tenant_id"] == tenant.tenant_id
    assert sorted(t["role"] for t in listed) == ["admin", "oncall", "operator"]
    assert made["token_id"] in [t["token_id"] for t in listed]
    for t in listed:
        assert set(t) == {"token_id", "role", "created_at", "revoked_at"}, t
        assert t["revoked_at"] is None
    text = r.body.decode()
    for secret in (made["token"], tenant.operator, tenant.oncall):
        assert secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text
    # the ids shown at creation are the listed ones
    created = admin.post("/v1/tenants", body={"tenant_id": unique("t")}).json
    ids = {t["role"]: t["token_id"] for t in admin.get(tokens_path(created["tenant_id"])).json[
        "tokens"]}
    assert ids == created["token_ids"]
    assert created["key_id"] == "v1"


def test_revoked_token_is_refused_at_once_and_revoking_again_changes_nothing(
        shared_intentd, shared_db, admin, tenant):
    op = shared_intentd.client(token=tenant.operator)
    assert op.get("/v1/executions").status == 200
    tid = next(t["token_id"] for t in admin.get(tokens_path(tenant.tenant_id)).json["tokens"]
               if t["role"] == "operator")
    r = admin.request("DELETE", tokens_path(tenant.tenant_id) + "/" + tid)
    assert r.status == 200, r
    assert r.json["changed"] is True and r.json["role"] == "operator" and r.json["revoked_at"]
    assert_problem(op.get("/v1/executions"), 401)
    listed = {t["token_id"]: t for t in admin.get(tokens_path(tenant.tenant_id)).json["tokens"]}
    assert listed[tid]["revoked_at"] == r.json["revoked_at"]
    revoked = rows(shared_db, tenant.tenant_id, "token.revoked")
    assert len(revoked) == 1 and revoked[0]["actor"] == "admin"
    assert revoked[0]["payload"] == {"token_id": tid, "role": "operator"}
    with unchanged(shared_db):
        again = admin.request("DELETE", tokens_path(tenant.tenant_id) + "/" + tid)
    assert again.status == 200, again
    assert again.json["changed"] is False and again.json["revoked_at"] == r.json["revoked_at"]
    # the other tokens still work
    assert shared_intentd.client(token=tenant.oncall).get("/v1/executions").status == 200
    op.close()
    ledger_ok(admin)


def test_unknown_and_foreign_tokens_and_tenants_are_404(shared_intentd, shared_db, admin):
    a = shared_intentd.create_tenant()
    b = shared_intentd.create_tenant()
    b_id = admin.get(tokens_path(b.tenant_id)).json["tokens"][0]["token_id"]
    with unchanged(shared_db):
        for path in (tokens_path(a.tenant_id) + "/" + b_id,
                     tokens_path(a.tenant_id) + "/tok_0000000000000000",
                     tokens_path(a.tenant_id) + "/not-a-token-id",
                     tokens_path(a.tenant_id) + "/admin",
                     tokens_path(unique("nosuch")) + "/" + b_id):
            assert_problem(admin.request("DELETE", path), 404)
        nosuch = unique("nosuch")
        assert_problem(admin.get(tokens_path(nosuch)), 404)
        assert_problem(admin.get(keys_path(nosuch)), 404)
        assert_problem(rotate(admin, nosuch, {"overlap_seconds": 0}), 404)
    assert all(t["revoked_at"] is None
               for t in admin.get(tokens_path(b.tenant_id)).json["tokens"])


def test_a_tenant_admin_manages_only_its_own_tenant(shared_intentd, shared_db, admin):
    a = shared_intentd.create_tenant()
    b = shared_intentd.create_tenant()
    tok = admin.post(tokens_path(a.tenant_id), body={"role": "admin"}).json["token"]
    ta = shared_intentd.client(token=tok)
    assert ta.get(tokens_path(a.tenant_id)).status == 200
    assert ta.get(keys_path(a.tenant_id)).status == 200
    b_id = admin.get(tokens_path(b.tenant_id)).json["tokens"][0]["token_id"]
    with unchanged(shared_db):
        assert_problem(ta.get(tokens_path(b.tenant_id)), 404)
        assert_problem(ta.get(keys_path(b.tenant_id)), 404)
        assert_problem(ta.request("DELETE", tokens_path(b.tenant_id) + "/" + b_id), 404)
        assert_problem(rotate(ta, b.tenant_id, {"overlap_seconds": 0}), 404)
        assert_problem(ta.post(tokens_path(b.tenant_id), body={"role": "admin"}), 404)
    assert len(admin.get(tokens_path(b.tenant_id)).json["tokens"]) == 2
    ta.close()


@pytest.mark.parametrize("role", ["operator", "oncall"])
def test_operator_and_oncall_are_forbidden(shared_intentd, shared_db, tenant, role):
    c = shared_intentd.client(token=tenant.tokens[role])
    tid = "tok_0123456789abcdef"
    with unchanged(shared_db):
        assert_problem(c.get(tokens_path(tenant.tenant_id)), 403)
        assert_problem(c.request("DELETE", tokens_path(tenant.tenant_id) + "/" + tid), 403)
        assert_problem(c.get(keys_path(tenant.tenant_id)), 403)
        assert_problem(rotate(c, tenant.tenant_id, {"overlap_seconds": 0}), 403)
    c.close()


# ------------------------------------------------------------------------------------- keys


@pytest.mark.parametrize("body,pointer", [
    ({"overlap_seconds": -1}, "/overlap_seconds"),
    ({"overlap_seconds": 2592001}, "/overlap_seconds"),
    ({"overlap_seconds": "60"}, "/overlap_seconds"),
    ({"overlap_seconds": 1.5}, "/overlap_seconds"),
    ({"overlap_seconds": True}, "/overlap_seconds"),
    ({"overlap_seconds": None}, "/overlap_seconds"),
    ({"overlap_seconds": 60, "key": "mine"}, "/key"),
    ([60], None),
    (b"{not json", None),
])
def test_bad_rotation_bodies_change_nothing(shared_intentd, shared_db, admin, tenant, body,
                                            pointer):
    before = admin.get(keys_path(tenant.tenant_id)).json
    with unchanged(shared_db):
        p = assert_problem(rotate(admin, tenant.tenant_id, body), 400)
    if pointer:
        assert has_error_at(p, pointer), p
    assert admin.get(keys_path(tenant.tenant_id)).json == before
    assert "approval_key" not in json.dumps(p)
    submit_ok(shared_intentd.client(), tenant, tenant.approval_key)


def test_rotation_with_overlap_then_expiry(shared_intentd, shared_db, admin, tenant):
    c = shared_intentd.client()
    submit_ok(c, tenant, tenant.approval_key)  # this node caches v1
    r = rotate(admin, tenant.tenant_id, {"overlap_seconds": 2})
    assert r.status == 200, r
    b = r.json
    new = b["approval_key"]
    assert new.startswith("iak_") and new != tenant.approval_key
    assert (b["key_id"], b["previous_key_id"], b["overlap_seconds"]) == ("v2", "v1", 2)
    assert b["previous_expires_at"] and b["dropped_key_id"] is None
    keys = admin.get(keys_path(tenant.tenant_id)).json["keys"]
    assert [(k["key_id"], k["state"]) for k in keys] == [("v2", "current"), ("v1", "previous")]
    assert new not in json.dumps(keys) and tenant.approval_key not in json.dumps(keys)
    rot = rows(shared_db, tenant.tenant_id, "key.rotated")
    assert len(rot) == 1 and rot[0]["actor"] == "admin"
    assert rot[0]["payload"]["key_id"] == "v2" and rot[0]["payload"]["overlap_seconds"] == 2
    assert new not in json.dumps(rot)
    # inside the overlap either key verifies (if the overlap ran out meanwhile, the old key's
    # refusal is checked below anyway)
    it = tenant.intent()
    old = c.submit(it, key=tenant.approval_key)
    assert old.status in (202, 401), old
    submit_ok(c, tenant, new)
    wait_until(lambda: admin.get(keys_path(tenant.tenant_id)).json["keys"][1]["state"] ==
               "expired", WAIT, what="the overlap to run out")
    with unchanged(shared_db):
        assert_problem(c.submit(tenant.intent(), key=tenant.approval_key), 401)
    submit_ok(c, tenant, new)
    c.close()
    ledger_ok(admin)


def test_overlap_is_verified_for_both_keys_and_a_second_rotation_drops_the_oldest(
        shared_intentd, shared_db, admin, tenant):
    c = shared_intentd.client()
    k1 = tenant.approval_key
    k2 = rotate(admin, tenant.tenant_id, {"overlap_seconds": 3600}).json["approval_key"]
    submit_ok(c, tenant, k1)
    submit_ok(c, tenant, k2)
    # a batch signed with the old key too
    assert c.batch([tenant.intent()], key=k1).status == 200
    r = rotate(admin, tenant.tenant_id)  # no body: the default overlap
    assert r.status == 200, r
    assert (r.json["key_id"], r.json["overlap_seconds"], r.json["dropped_key_id"]) == (
        "v3", 86400, "v1")
    k3 = r.json["approval_key"]
    with unchanged(shared_db):
        assert_problem(c.submit(tenant.intent(), key=k1), 401)
    submit_ok(c, tenant, k2)
    submit_ok(c, tenant, k3)
    keys = admin.get(keys_path(tenant.tenant_id)).json["keys"]
    assert [(k["key_id"], k["state"]) for k in keys] == [("v3", "current"), ("v2", "previous")]
    c.close()
    ledger_ok(admin)


def test_overlap_zero_refuses_the_old_key_at_once_on_every_node(intentd_factory):
    a = intentd_factory()
    # b does not LISTEN (no scheduler), so only the check in the submission's transaction can
    # stop it from trusting the key it cached
    b = intentd_factory(db=a.database, env={"INTENTD_SCHEDULER": "off"})
    adm = a.admin()
    tenant = a.create_tenant()
    cb, ca = b.client(), a.client()
    submit_ok(cb, tenant, tenant.approval_key)
    submit_ok(ca, tenant, tenant.approval_key)
    r = rotate(adm, tenant.tenant_id, {"overlap_seconds": 0})
    assert r.status == 200, r
    assert r.json["previous_expires_at"] is None
    new = r.json["approval_key"]
    with unchanged(a.database):
        assert_problem(cb.submit(tenant.intent(), key=tenant.approval_key), 401)
        assert_problem(ca.submit(tenant.intent(), key=tenant.approval_key), 401)
        assert_problem(cb.batch([tenant.intent()], key=tenant.approval_key), 401)
    # b learns the new key when a signature fails to verify with the one it holds (re-read at
    # most every half second, hence the wait)
    it = tenant.intent()
    wait_until(lambda: cb.submit(it, key=new).status == 202, WAIT, what="node b to take the key")
    submit_ok(ca, tenant, new)
    keys = adm.get(keys_path(tenant.tenant_id)).json["keys"]
    assert [k["key_id"] for k in keys] == ["v2"]
    ledger_ok(adm)
    for cl in (cb, ca, adm):
        cl.close()


# ---------------------------------------------------------------------------------- tenants


def test_tenant_list(shared_intentd, shared_db, admin):
    a = shared_intentd.create_tenant()
    b = shared_intentd.create_tenant()
    r = admin.get("/v1/tenants")
    assert r.status == 200, r
    listed = {t["tenant_id"]: t for t in r.json["tenants"]}
    assert listed[a.tenant_id]["active_tokens"] == 2 and listed[a.tenant_id]["key_id"] == "v1"
    assert set(listed[a.tenant_id]) == {"tenant_id", "created_at", "key_id", "active_tokens"}
    assert r.json["next_after"] is None  # fewer than a page
    ids = [t["tenant_id"] for t in r.json["tenants"]]
    assert ids == sorted(ids)
    for secret in (a.approval_key, a.operator, a.oncall):
        assert secret not in r.body.decode()
    after = admin.get("/v1/tenants?after=%s" % min(a.tenant_id, b.tenant_id)).json["tenants"]
    assert max(a.tenant_id, b.tenant_id) in [t["tenant_id"] for t in after]
    assert min(a.tenant_id, b.tenant_id) not in [t["tenant_id"] for t in after]
    # a tenant's admin token sees its own tenant only
    tok = admin.post(tokens_path(a.tenant_id), body={"role": "admin"}).json["token"]
    own = shared_intentd.client(token=tok).get("/v1/tenants").json["tenants"]
    assert [t["tenant_id"] for t in own] == [a.tenant_id] and own[0]["active_tokens"] == 3
    with unchanged(shared_db):
        p = assert_problem(admin.get("/v1/tenants?after=%2F.."), 400)
        assert has_error_at(p, "/after"), p
        assert_problem(admin.get("/v1/tenants?after=%zz"), 400)
        assert_problem(shared_intentd.client(token=a.operator).get("/v1/tenants"), 403)
        assert_problem(shared_intentd.client(token=a.oncall).get("/v1/tenants"), 403)
        assert_problem(shared_intentd.client().get("/v1/tenants"), 401)
