"""`intentctl token create|list|revoke` and `key list|rotate` against the real intentd and
PostgreSQL (issue 4). Each test checks what the daemon did afterwards (tokens refused, keys
that verify), not only intentctl's output."""

import json

from fixtures import unchanged
from harness import assert_problem
from test_intentctl_ops import ctl


def token_ids(admin, tenant_id):
    return {t["token_id"]: t for t in admin.get("/v1/tenants/%s/tokens" % tenant_id).json[
        "tokens"]}


def test_token_create_list_and_revoke(shared_intentd, shared_db, admin, tenant):
    tok = shared_intentd.admin_token
    r = ctl(shared_intentd, tok, "token", "create", "--tenant", tenant.tenant_id, "--role",
            "oncall", "--json")
    assert r.returncode == 0, r.err
    made = json.loads(r.out)
    assert "shown only once" in r.err
    assert made["token_id"] in token_ids(admin, tenant.tenant_id)
    r = ctl(shared_intentd, tok, "token", "list", "--tenant", tenant.tenant_id)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["TOKEN-ID", "ROLE", "CREATED", "REVOKED"]
    assert sorted(l.split()[1] for l in lines[1:]) == ["oncall", "oncall", "operator"]
    assert made["token_id"] in r.out and made["token"] not in r.out
    assert tenant.operator not in r.out and tenant.oncall not in r.out
    r = ctl(shared_intentd, tok, "token", "revoke", "--tenant", tenant.tenant_id,
            made["token_id"])
    assert r.returncode == 0, r.err
    assert r.out.startswith("token %s revoked at " % made["token_id"])
    assert_problem(shared_intentd.client(token=made["token"]).get("/v1/executions"), 401)
    assert token_ids(admin, tenant.tenant_id)[made["token_id"]]["revoked_at"]
    with unchanged(shared_db):
        r = ctl(shared_intentd, tok, "token", "revoke", "--tenant", tenant.tenant_id,
                made["token_id"])
    assert r.returncode == 0, r.err
    assert "already revoked" in r.out and "nothing changed" in r.out
    r = ctl(shared_intentd, tok, "--json", "token", "list", "--tenant", tenant.tenant_id)
    assert r.returncode == 0, r.err
    assert {t["token_id"] for t in json.loads(r.out)["tokens"]} == set(
        token_ids(admin, tenant.tenant_id))


def test_token_commands_refusals(shared_intentd, shared_db, tenant):
    tok = shared_intentd.admin_token
    with unchanged(shared_db):
        r = ctl(shared_intentd, tok, "token", "revoke", "--tenant", tenant.tenant_id,
                "tok_0000000000000000")
        assert r.returncode == 1 and "404" in r.err and r.out == ""
        r = ctl(shared_intentd, tenant.operator, "token", "list", "--tenant", tenant.tenant_id)
        assert r.returncode == 1 and "403" in r.err
        r = ctl(shared_intentd, tok, "token", "list")
        assert r.returncode == 2 and "--tenant" in r.err
        r = ctl(shared_intentd, tok, "token", "revoke", "--tenant", tenant.tenant_id)
        assert r.returncode == 2 and "TOKEN_ID" in r.err
        r = ctl(shared_intentd, tok, "key", "rotate", "--tenant", tenant.tenant_id,
                "--overlap", "1w")
        assert r.returncode == 2 and "--overlap" in r.err
        r = ctl(shared_intentd, tok, "key", "rotate", "--tenant", tenant.tenant_id,
                "--overlap", "31d")
        assert r.returncode == 1 and "400" in r.err and "overlap_seconds" in r.err
        assert r.out == ""


def test_key_rotate_and_list(shared_intentd, shared_db, admin, tenant):
    tok = shared_intentd.admin_token
    c = shared_intentd.client()
    r = ctl(shared_intentd, tok, "key", "rotate", "--tenant", tenant.tenant_id, "--overlap", "1h")
    assert r.returncode == 0, r.err
    assert "shown only once" in r.err
    rows = dict(l.split("  ", 1) for l in r.out.splitlines())
    new = rows["approval key"].strip()
    assert new.startswith("iak_") and rows["key id"].strip() == "v2"
    assert rows["previous key"].strip() == "v1" and rows["previous valid until"].strip() != "-"
    assert c.submit(tenant.intent(), key=new).status == 202
    assert c.submit(tenant.intent(), key=tenant.approval_key).status == 202
    r = ctl(shared_intentd, tok, "key", "list", "--tenant", tenant.tenant_id)
    assert r.returncode == 0, r.err
    assert [l.split()[:2] for l in r.out.splitlines()] == [
        ["KEY-ID", "STATE"], ["v2", "current"], ["v1", "previous"]]
    assert new not in r.out
    r = ctl(shared_intentd, tok, "--json", "key", "rotate", "--tenant", tenant.tenant_id,
            "--overlap", "0")
    assert r.returncode == 0, r.err
    doc = json.loads(r.out)
    assert doc["key_id"] == "v3" and doc["overlap_seconds"] == 0 and doc["dropped_key_id"] == "v1"
    with unchanged(shared_db):
        assert_problem(c.submit(tenant.intent(), key=new), 401)
        assert_problem(c.submit(tenant.intent(), key=tenant.approval_key), 401)
    assert c.submit(tenant.intent(), key=doc["approval_key"]).status == 202
    c.close()


def test_tenant_list(shared_intentd, tenant):
    r = ctl(shared_intentd, shared_intentd.admin_token, "tenant", "list")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["TENANT", "CREATED", "KEY-ID", "TOKENS"]
    row = next(l.split() for l in lines if l.split()[0] == tenant.tenant_id)
    assert row[2:] == ["v1", "2"]
    assert tenant.approval_key not in r.out
    r = ctl(shared_intentd, shared_intentd.admin_token, "--json", "tenant", "list", "--after",
            tenant.tenant_id)
    assert r.returncode == 0, r.err
    assert tenant.tenant_id not in [t["tenant_id"] for t in json.loads(r.out)["tenants"]]
    r = ctl(shared_intentd, tenant.operator, "tenant", "list")
    assert r.returncode == 1 and "403" in r.err and r.out == ""
