"""Per-tenant connector configuration: PUT/GET/DELETE /v1/connectors/{connector} and GET
/v1/connectors (issue text in docs/api-contract.md), and `intentctl connector`.

Every secret used here is a fresh marker string, so a test can look for it anywhere it must not
be: answers, the ledger, the daemon's log, and the table itself (where it must only be sealed)."""

import json
import os
import pathlib
import subprocess
import uuid

import pytest

from fixtures import unchanged
from harness import assert_problem, has_error_at, unique

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("INTENTCTL_BIN", str(REPO / "build" / "tools" / "intentctl"))
DEFAULT_LIMITS = {"concurrency": 64, "rate_per_second": 100.0, "burst": 200,
                  "breaker_failures": 5, "breaker_open_seconds": 30, "retry_budget": 0.2,
                  "timeout_seconds": 30}


def secret(name):
    return "%s-SECRET-%s" % (name, uuid.uuid4().hex)


def bearer_body(token=None, **kw):
    body = {"base_url": "https://api.hubapi.example/", "auth": {"type": "bearer",
                                                              "token": token or secret("tok")}}
    body.update(kw)
    return body


def oauth_body(client_secret=None, refresh_token=None, **kw):
    body = {"base_url": "https://www.googleapis.example/calendar/v3",
            "auth": {"type": "oauth2", "token_url": "https://oauth2.example/token",
                     "client_id": "client-123",
                     "client_secret": client_secret or secret("cs"),
                     "refresh_token": refresh_token or secret("rt")}}
    body.update(kw)
    return body


def put(client, connector, body, **kw):
    return client.request("PUT", "/v1/connectors/%s" % connector, body=body, **kw)


def delete(client, connector, query="", **kw):
    return client.request("DELETE", "/v1/connectors/%s%s" % (connector, query), **kw)


def table_text(db, tenant_id):
    """Every column of the tenant's rows as text, for searching."""
    rows = db.query("SELECT c::text FROM intentd.connectors c WHERE tenant_id = %s", (tenant_id,))
    return "\n".join(r[0] for r in rows)


def ledger_text(db, tenant_id):
    rows = db.query("SELECT event, actor, payload::text FROM intentd.ledger WHERE tenant_id = %s "
                    "ORDER BY seq", (tenant_id,))
    return "\n".join(" ".join(r) for r in rows)


def connector_ledger(db, tenant_id):
    return db.query("SELECT event, actor, payload FROM intentd.ledger WHERE tenant_id = %s "
                    "AND event LIKE 'connector.%%' ORDER BY seq", (tenant_id,))


def assert_hidden(values, *, responses=(), db=None, tenant_id=None, intentd=None):
    """None of values appears in any response body, the ledger, the log, or the table."""
    places = {"response %d" % i: r.body.decode("utf-8", "replace")
              for i, r in enumerate(responses)}
    if db is not None:
        places["ledger"] = ledger_text(db, tenant_id)
        places["table"] = table_text(db, tenant_id)
    if intentd is not None:
        places["log"] = pathlib.Path(intentd.log_path).read_text("utf-8", "replace")
    for v in values:
        for where, text in places.items():
            assert v not in text, "a secret reached the %s" % where


@pytest.fixture
def oncall(shared_intentd, tenant):
    c = shared_intentd.client(token=tenant.oncall)
    yield c
    c.close()


@pytest.fixture
def operator(shared_intentd, tenant):
    c = shared_intentd.client(token=tenant.operator)
    yield c
    c.close()


# ---------------------------------------------------------------------------- happy paths


def test_put_none_then_get_shows_it_with_default_limits(oncall, tenant):
    r = put(oncall, "webhook", {"base_url": "http://hooks.internal.example:8443/in/",
                                "auth": {"type": "none"}, "settings": {"method": "POST"}})
    assert r.status == 200, r
    v = r.json
    assert v["tenant_id"] == tenant.tenant_id and v["connector"] == "webhook"
    assert v["base_url"] == "http://hooks.internal.example:8443/in/"
    assert v["auth"] == {"type": "none"}
    assert v["settings"] == {"method": "POST"}
    assert v["limits"] == DEFAULT_LIMITS
    assert v["version"] == 1 and v["updated_by"].startswith("token:oncall:%s:" % tenant.tenant_id)
    assert v["updated_at"].endswith("Z")
    g = oncall.get("/v1/connectors/webhook")
    assert g.status == 200 and g.json == v


def test_put_bearer_redacts_the_token_everywhere(shared_intentd, shared_db, oncall, tenant):
    token = secret("bearer")
    r = put(oncall, "crm", bearer_body(token, settings={"idempotency_property": "ik"}))
    assert r.status == 200, r
    assert r.json["auth"] == {"type": "bearer", "token": "[redacted]", "set": {"token": True}}
    g = oncall.get("/v1/connectors/crm")
    lst = oncall.get("/v1/connectors")
    assert g.json["auth"]["token"] == "[redacted]"
    assert [c["connector"] for c in lst.json["connectors"]] == ["crm"]
    assert_hidden([token], responses=[r, g, lst], db=shared_db, tenant_id=tenant.tenant_id,
                  intentd=shared_intentd)
    sealed = shared_db.scalar("SELECT token_enc FROM intentd.connectors WHERE tenant_id = %s "
                              "AND connector = 'crm'", (tenant.tenant_id,))
    assert sealed and len(sealed) > len(token)


def test_put_oauth2_redacts_both_secrets(shared_intentd, shared_db, oncall, tenant):
    cs, rt = secret("client-secret"), secret("refresh")
    r = put(oncall, "calendar", oauth_body(cs, rt, limits={"retry_budget": 0, "burst": 7}))
    assert r.status == 200, r
    a = r.json["auth"]
    assert a["type"] == "oauth2" and a["token_url"] == "https://oauth2.example/token"
    assert a["client_id"] == "client-123"
    assert a["client_secret"] == "[redacted]" and a["refresh_token"] == "[redacted]"
    assert a["access_token"] is None
    assert a["set"] == {"client_secret": True, "refresh_token": True, "access_token": False}
    # an explicit 0 stays 0 rather than falling back to the default budget
    assert r.json["limits"]["retry_budget"] == 0 and r.json["limits"]["burst"] == 7
    g = oncall.get("/v1/connectors/calendar")
    assert g.json == r.json
    assert_hidden([cs, rt], responses=[r, g], db=shared_db, tenant_id=tenant.tenant_id,
                  intentd=shared_intentd)


def test_notify_base_url_is_a_secret(shared_intentd, shared_db, oncall, tenant):
    path = secret("T0/B0/xoxb")
    url = "https://hooks.slack.example/services/" + path
    r = put(oncall, "notify", {"base_url": url, "auth": {"type": "none"}})
    assert r.status == 200, r
    assert r.json["base_url"] == "https://hooks.slack.example/[redacted]"
    g = oncall.get("/v1/connectors/notify")
    assert g.json["base_url"] == "https://hooks.slack.example/[redacted]"
    assert_hidden([path, "hooks.slack.example/services"], responses=[r, g], db=shared_db,
                  tenant_id=tenant.tenant_id, intentd=shared_intentd)
    (event, _, payload), = connector_ledger(shared_db, tenant.tenant_id)
    assert payload["secrets_set"] == ["base_url"]


def test_put_again_replaces_and_bumps_the_version(oncall):
    assert put(oncall, "email", oauth_body()).json["version"] == 1
    r = put(oncall, "email", bearer_body(base_url="https://gmail.example",
                                         limits={"concurrency": 3}))
    assert r.status == 200, r
    assert r.json["version"] == 2 and r.json["auth"]["type"] == "bearer"
    assert r.json["base_url"] == "https://gmail.example"
    assert r.json["limits"]["concurrency"] == 3 and r.json["limits"]["burst"] == 200


def test_each_put_and_delete_writes_one_ledger_row(shared_db, oncall, tenant):
    assert put(oncall, "crm", bearer_body()).status == 200
    assert put(oncall, "calendar", oauth_body()).status == 200
    r = delete(oncall, "crm")
    assert r.status == 200, r
    assert r.json == {"tenant_id": tenant.tenant_id, "connector": "crm", "deleted": True}
    rows = connector_ledger(shared_db, tenant.tenant_id)
    assert [(e, p["connector"]) for e, _, p in rows] == [
        ("connector.configured", "crm"), ("connector.configured", "calendar"),
        ("connector.deleted", "crm")]
    assert all(a.startswith("token:oncall:") for _, a, _ in rows)
    assert rows[0][2]["auth"] == "bearer" and rows[0][2]["secrets_set"] == ["token"]
    assert rows[1][2]["auth"] == "oauth2"
    assert rows[1][2]["secrets_set"] == ["client_secret", "refresh_token"]
    assert_problem(oncall.get("/v1/connectors/crm"), 404)
    assert [c["connector"] for c in oncall.get("/v1/connectors").json["connectors"]] == [
        "calendar"]


def test_delete_of_an_unconfigured_connector_is_404(shared_db, oncall, tenant):
    before = shared_db.scalar("SELECT count(*) FROM intentd.ledger")
    assert_problem(delete(oncall, "email"), 404)
    assert shared_db.scalar("SELECT count(*) FROM intentd.ledger") == before


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_connector_is_404(oncall, method):
    r = oncall.request(method, "/v1/connectors/ftp",
                       body=bearer_body() if method == "PUT" else None)
    assert_problem(r, 404)


def test_ledger_still_verifies(admin, oncall):
    assert put(oncall, "crm", bearer_body()).status == 200
    assert delete(oncall, "crm").status == 200
    r = admin.verify_ledger()
    assert r.status == 200 and r.json["ok"] is True, r


# ---------------------------------------------------------------------------- roles, tenants


def test_operator_may_read_but_not_change(oncall, operator):
    assert_problem(put(operator, "crm", bearer_body()), 403)
    assert put(oncall, "crm", bearer_body()).status == 200
    assert operator.get("/v1/connectors/crm").status == 200
    assert operator.get("/v1/connectors").status == 200
    assert_problem(delete(operator, "crm"), 403)
    assert oncall.get("/v1/connectors/crm").status == 200


def test_no_token_is_401(client):
    assert_problem(client.get("/v1/connectors"), 401)
    assert_problem(put(client, "crm", bearer_body()), 401)


def test_tenant_admin_token_configures_its_own_tenant(shared_intentd, admin, tenant):
    tok = admin.post("/v1/tenants/%s/tokens" % tenant.tenant_id, body={"role": "admin"}).json
    c = shared_intentd.client(token=tok["token"])
    r = put(c, "crm", bearer_body())
    assert r.status == 200 and r.json["tenant_id"] == tenant.tenant_id, r
    c.close()


def test_global_admin_names_the_tenant(admin, tenant, oncall):
    body = bearer_body(tenant_id=tenant.tenant_id)
    r = put(admin, "crm", body)
    assert r.status == 200 and r.json["updated_by"] == "admin", r
    assert oncall.get("/v1/connectors/crm").json["version"] == 1
    g = admin.get("/v1/connectors/crm?tenant_id=%s" % tenant.tenant_id)
    assert g.status == 200 and g.json["tenant_id"] == tenant.tenant_id
    listed = admin.get("/v1/connectors").json["connectors"]
    assert (tenant.tenant_id, "crm") in [(c["tenant_id"], c["connector"]) for c in listed]
    assert delete(admin, "crm", "?tenant_id=%s" % tenant.tenant_id).status == 200


def test_global_admin_without_a_tenant_is_400(admin, shared_db, tenant, oncall):
    # PUT names the tenant in its body: a validation error at /tenant_id. GET and DELETE name
    # it in the query: tenant-required, as every other such operation answers.
    assert put(oncall, "crm", bearer_body()).status == 200
    with unchanged(shared_db):
        b = assert_problem(put(admin, "crm", bearer_body()), 400)
        assert b["type"].endswith("/invalid-request") and has_error_at(b, "/tenant_id"), b
        for r in (admin.get("/v1/connectors/crm"), delete(admin, "crm")):
            b = assert_problem(r, 400)
            assert b["type"].endswith("/tenant-required") and "tenant_id" in b["detail"], b
    assert oncall.get("/v1/connectors/crm").json["version"] == 1


def test_global_admin_naming_an_unknown_tenant_is_404(admin):
    assert_problem(put(admin, "crm", bearer_body(tenant_id=unique("nosuch"))), 404)


def test_another_tenant_sees_nothing(shared_intentd, shared_db, oncall, tenant):
    other = shared_intentd.create_tenant()
    theirs = shared_intentd.client(token=other.oncall)
    assert put(oncall, "crm", bearer_body()).status == 200
    assert_problem(theirs.get("/v1/connectors/crm"), 404)
    assert_problem(theirs.get("/v1/connectors/crm?tenant_id=%s" % tenant.tenant_id), 404)
    assert_problem(theirs.get("/v1/connectors?tenant_id=%s" % tenant.tenant_id), 404)
    assert theirs.get("/v1/connectors").json == {"connectors": []}
    assert_problem(delete(theirs, "crm"), 404)
    assert_problem(delete(theirs, "crm", "?tenant_id=%s" % tenant.tenant_id), 404)
    assert_problem(put(theirs, "crm", bearer_body(tenant_id=tenant.tenant_id)), 404)
    # their own configuration of the same connector is a separate row
    assert put(theirs, "crm", bearer_body()).json["version"] == 1
    assert oncall.get("/v1/connectors/crm").json["version"] == 1
    assert shared_db.scalar("SELECT count(*) FROM intentd.connectors WHERE tenant_id = %s",
                            (tenant.tenant_id,)) == 1
    theirs.close()


def test_sealed_values_do_not_move_between_tenants(shared_intentd, shared_db, oncall, tenant):
    """A sealed value copied into another tenant's row does not open there (the seal is bound to
    tenant and connector): the view says so rather than showing it."""
    other = shared_intentd.create_tenant()
    theirs = shared_intentd.client(token=other.oncall)
    assert put(oncall, "webhook", {"base_url": "https://mine.example",
                                   "auth": {"type": "none"}}).status == 200
    assert put(theirs, "webhook", {"base_url": "https://theirs.example",
                                   "auth": {"type": "none"}}).status == 200
    shared_db.query("UPDATE intentd.connectors SET base_url_enc = (SELECT base_url_enc FROM "
                    "intentd.connectors WHERE tenant_id = %s AND connector = 'webhook') "
                    "WHERE tenant_id = %s AND connector = 'webhook'",
                    (tenant.tenant_id, other.tenant_id))
    v = theirs.get("/v1/connectors/webhook").json
    assert v["base_url"] is None and "master key" in v["problem"]
    theirs.close()


# ---------------------------------------------------------------------------- validation

LONG_URL = "https://h.example/" + "a" * 2040

INVALID = [
    ("no_base_url", lambda b: b.pop("base_url"), "/base_url"),
    ("base_url_number", lambda b: b.update(base_url=5), "/base_url"),
    ("ftp_scheme", lambda b: b.update(base_url="ftp://h.example"), "/base_url"),
    ("no_scheme", lambda b: b.update(base_url="h.example/x"), "/base_url"),
    ("userinfo", lambda b: b.update(base_url="https://u:p@h.example"), "/base_url"),
    ("too_long", lambda b: b.update(base_url=LONG_URL), "/base_url"),
    ("query", lambda b: b.update(base_url="https://h.example/x?y=1"), "/base_url"),
    ("fragment", lambda b: b.update(base_url="https://h.example/x#y"), "/base_url"),
    ("no_host", lambda b: b.update(base_url="https:///x"), "/base_url"),
    ("port_zero", lambda b: b.update(base_url="https://h.example:0/"), "/base_url"),
    ("port_big", lambda b: b.update(base_url="https://h.example:70000"), "/base_url"),
    ("space", lambda b: b.update(base_url="https://h.example/a b"), "/base_url"),
    ("non_ascii", lambda b: b.update(base_url="https://h.example/caf\u00e9"), "/base_url"),
    ("bad_ipv6", lambda b: b.update(base_url="https://[zz]/"), "/base_url"),
    ("no_auth", lambda b: b.pop("auth"), "/auth"),
    ("auth_string", lambda b: b.update(auth="bearer"), "/auth"),
    ("auth_type", lambda b: b.update(auth={"type": "basic"}), "/auth/type"),
    ("auth_no_type", lambda b: b.update(auth={"token": "x"}), "/auth/type"),
    ("bearer_no_token", lambda b: b.update(auth={"type": "bearer"}), "/auth/token"),
    ("bearer_empty", lambda b: b.update(auth={"type": "bearer", "token": ""}), "/auth/token"),
    ("bearer_newline", lambda b: b.update(auth={"type": "bearer", "token": "a\r\nX: y"}),
     "/auth/token"),
    ("bearer_space", lambda b: b.update(auth={"type": "bearer", "token": "a b"}), "/auth/token"),
    ("bearer_long", lambda b: b.update(auth={"type": "bearer", "token": "t" * 4097}),
     "/auth/token"),
    ("bearer_number", lambda b: b.update(auth={"type": "bearer", "token": 5}), "/auth/token"),
    ("auth_extra", lambda b: b["auth"].update(extra=1), "/auth/extra"),
    ("none_with_token", lambda b: b.update(auth={"type": "none", "token": "x"}), "/auth/token"),
    ("oauth_no_refresh", lambda b: b.update(auth={k: v for k, v in oauth_body()["auth"].items()
                                                  if k != "refresh_token"}),
     "/auth/refresh_token"),
    ("oauth_no_secret", lambda b: b.update(auth={k: v for k, v in oauth_body()["auth"].items()
                                                 if k != "client_secret"}),
     "/auth/client_secret"),
    ("oauth_no_client_id", lambda b: b.update(auth={k: v for k, v in oauth_body()["auth"].items()
                                                    if k != "client_id"}),
     "/auth/client_id"),
    ("oauth_bad_token_url", lambda b: b.update(auth=dict(oauth_body()["auth"],
                                                         token_url="javascript:x")),
     "/auth/token_url"),
    ("oauth_no_token_url", lambda b: b.update(auth={k: v for k, v in oauth_body()["auth"].items()
                                                    if k != "token_url"}),
     "/auth/token_url"),
    ("settings_array", lambda b: b.update(settings=[1]), "/settings"),
    ("settings_big", lambda b: b.update(settings={"x": "y" * 16400}), "/settings"),
    ("limits_array", lambda b: b.update(limits=[]), "/limits"),
    ("limits_unknown", lambda b: b.update(limits={"speed": 1}), "/limits/speed"),
    ("limits_escaped", lambda b: b.update(limits={"a/b~": 1}), "/limits/a~1b~0"),
    ("concurrency_0", lambda b: b.update(limits={"concurrency": 0}), "/limits/concurrency"),
    ("concurrency_big", lambda b: b.update(limits={"concurrency": 10001}),
     "/limits/concurrency"),
    ("concurrency_real", lambda b: b.update(limits={"concurrency": 1.5}), "/limits/concurrency"),
    ("concurrency_text", lambda b: b.update(limits={"concurrency": "5"}), "/limits/concurrency"),
    ("rate_low", lambda b: b.update(limits={"rate_per_second": 0.001}),
     "/limits/rate_per_second"),
    ("rate_high", lambda b: b.update(limits={"rate_per_second": 100001}),
     "/limits/rate_per_second"),
    ("burst_0", lambda b: b.update(limits={"burst": 0}), "/limits/burst"),
    ("burst_big", lambda b: b.update(limits={"burst": 1000001}), "/limits/burst"),
    ("breaker_failures_0", lambda b: b.update(limits={"breaker_failures": 0}),
     "/limits/breaker_failures"),
    ("breaker_failures_big", lambda b: b.update(limits={"breaker_failures": 1001}),
     "/limits/breaker_failures"),
    ("breaker_open_0", lambda b: b.update(limits={"breaker_open_seconds": 0}),
     "/limits/breaker_open_seconds"),
    ("breaker_open_big", lambda b: b.update(limits={"breaker_open_seconds": 3601}),
     "/limits/breaker_open_seconds"),
    ("retry_budget_neg", lambda b: b.update(limits={"retry_budget": -0.1}),
     "/limits/retry_budget"),
    ("retry_budget_big", lambda b: b.update(limits={"retry_budget": 1.01}),
     "/limits/retry_budget"),
    ("timeout_0", lambda b: b.update(limits={"timeout_seconds": 0}), "/limits/timeout_seconds"),
    ("timeout_big", lambda b: b.update(limits={"timeout_seconds": 301}),
     "/limits/timeout_seconds"),
    ("unknown_member", lambda b: b.update(colour="blue"), "/colour"),
    ("bad_tenant_id", lambda b: b.update(tenant_id="a b"), "/tenant_id"),
]


@pytest.mark.parametrize("mutate,pointer", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_body_is_400_and_changes_nothing(shared_db, oncall, tenant, mutate, pointer):
    good = bearer_body()
    assert put(oncall, "crm", good).status == 200
    before = oncall.get("/v1/connectors/crm").json
    ledger = shared_db.scalar("SELECT count(*) FROM intentd.ledger")
    body = json.loads(json.dumps(bearer_body()))
    mutate(body)
    b = assert_problem(put(oncall, "crm", body), 400)
    assert has_error_at(b, pointer), b
    assert oncall.get("/v1/connectors/crm").json == before
    assert shared_db.scalar("SELECT count(*) FROM intentd.ledger") == ledger


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"{\"a\":1,\"a\":2}", b"\"x\""],
                         ids=["empty", "truncated", "array", "duplicate_key", "string"])
def test_malformed_body_is_400(shared_db, oncall, tenant, raw):
    assert_problem(put(oncall, "crm", raw), 400)
    assert shared_db.scalar("SELECT count(*) FROM intentd.connectors WHERE tenant_id = %s",
                            (tenant.tenant_id,)) == 0


def test_every_violation_is_reported_at_once(oncall):
    b = assert_problem(put(oncall, "crm", {"base_url": "ftp://x", "auth": {"type": "bearer"},
                                           "limits": {"burst": 0, "timeout_seconds": 0}}), 400)
    for p in ("/base_url", "/auth/token", "/limits/burst", "/limits/timeout_seconds"):
        assert has_error_at(b, p), (p, b)


def test_bounds_are_inclusive(oncall):
    lim = {"concurrency": 10000, "rate_per_second": 0.01, "burst": 1000000,
           "breaker_failures": 1000, "breaker_open_seconds": 3600, "retry_budget": 1,
           "timeout_seconds": 300}
    r = put(oncall, "crm", bearer_body(limits=lim, base_url="https://[::1]:65535/x%20y"))
    assert r.status == 200, r
    assert r.json["limits"] == {k: float(v) if isinstance(v, float) else v
                                for k, v in lim.items()}
    low = {"concurrency": 1, "rate_per_second": 0.01, "breaker_failures": 1,
           "breaker_open_seconds": 1, "retry_budget": 0, "timeout_seconds": 1}
    r = put(oncall, "crm", bearer_body(limits=low, base_url="http://10.0.0.1:1"))
    assert r.status == 200, r
    # the burst defaults to twice the rate, and never below 1
    assert r.json["limits"]["burst"] == 1 and r.json["limits"]["retry_budget"] == 0


# ---------------------------------------------------------------------------- intentctl


def ctl(intentd, token, *args, stdin=None):
    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        pytest.skip("%s not built (set INTENTCTL_BIN)" % CTL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCTL_")}
    env["INTENTCTL_URL"] = "http://127.0.0.1:%d" % intentd.port
    env["INTENTCTL_TOKEN"] = token
    return subprocess.run([CTL] + list(args), input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, timeout=60)


def test_intentctl_set_bearer_from_stdin(shared_intentd, shared_db, tenant, oncall):
    token = secret("ctl-bearer")
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "crm", "--base-url",
            "https://api.hubapi.example", "--auth", "bearer", "--settings",
            '{"idempotency_property":"ik"}', "--limits", '{"concurrency":4}',
            stdin=json.dumps({"token": token}).encode())
    assert r.returncode == 0, r.stderr
    assert b"secrets set  token" in r.stdout, r.stdout
    assert token.encode() not in r.stdout + r.stderr
    v = oncall.get("/v1/connectors/crm").json
    assert v["auth"]["set"] == {"token": True} and v["limits"]["concurrency"] == 4
    assert v["settings"] == {"idempotency_property": "ik"}
    assert_hidden([token], db=shared_db, tenant_id=tenant.tenant_id, intentd=shared_intentd)


def test_intentctl_set_oauth2_from_file(shared_intentd, shared_db, tenant, oncall, tmp_path):
    cs, rt = secret("ctl-cs"), secret("ctl-rt")
    f = tmp_path / "secrets.json"
    f.write_text(json.dumps({"client_secret": cs, "refresh_token": rt}))
    lim = tmp_path / "limits.json"
    lim.write_text('{"timeout_seconds": 12}')
    r = ctl(shared_intentd, tenant.oncall, "--json", "connector", "set", "calendar",
            "--base-url", "https://www.googleapis.example/calendar/v3", "--auth", "oauth2",
            "--token-url", "https://oauth2.example/token", "--client-id", "cid",
            "--secrets-file", str(f), "--limits", "@" + str(lim))
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    assert v["auth"]["client_id"] == "cid" and v["limits"]["timeout_seconds"] == 12
    assert cs.encode() not in r.stdout + r.stderr and rt.encode() not in r.stdout + r.stderr
    assert_hidden([cs, rt], db=shared_db, tenant_id=tenant.tenant_id, intentd=shared_intentd)


@pytest.mark.parametrize("flag", ["--client-secret", "--refresh-token", "--bearer-token",
                                  "--secret", "--access-token"])
def test_intentctl_refuses_secrets_in_argv(shared_intentd, tenant, oncall, flag):
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "crm", "--base-url",
            "https://api.hubapi.example", "--auth", "bearer", flag, "s3cr3t",
            stdin=b'{"token":"x"}')
    assert r.returncode == 2
    assert b"never taken from the command line" in r.stderr
    assert_problem(oncall.get("/v1/connectors/crm"), 404)


def test_intentctl_rejects_wrong_secrets_document(shared_intentd, tenant, oncall):
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "crm", "--base-url",
            "https://api.hubapi.example", "--auth", "bearer",
            stdin=b'{"client_secret":"zz-leak"}')
    assert r.returncode == 2 and b"zz-leak" not in r.stderr
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "crm", "--base-url",
            "https://api.hubapi.example", "--auth", "bearer", stdin=b'{"token": zz-leak')
    assert r.returncode == 2 and b"zz-leak" not in r.stderr
    assert_problem(oncall.get("/v1/connectors/crm"), 404)


def test_intentctl_reports_server_validation(shared_intentd, tenant):
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "crm", "--base-url", "ftp://x")
    assert r.returncode == 1
    assert b"400" in r.stderr and b"/base_url" in r.stderr


def test_intentctl_get_and_delete(shared_intentd, tenant, oncall):
    assert put(oncall, "crm", bearer_body()).status == 200
    r = ctl(shared_intentd, tenant.operator, "connector", "get")
    assert r.returncode == 0, r.stderr
    assert b"crm" in r.stdout and b"bearer" in r.stdout
    r = ctl(shared_intentd, tenant.operator, "connector", "get", "crm")
    assert r.returncode == 0 and b"secrets set  token" in r.stdout, r.stdout
    r = ctl(shared_intentd, tenant.operator, "connector", "delete", "crm")
    assert r.returncode == 1 and b"403" in r.stderr
    r = ctl(shared_intentd, tenant.oncall, "connector", "delete", "crm")
    assert r.returncode == 0 and b"deleted connector crm" in r.stdout
    assert_problem(oncall.get("/v1/connectors/crm"), 404)


def test_intentctl_notify_url_comes_from_the_secrets(shared_intentd, shared_db, tenant, oncall):
    path = secret("T1/B1/hook")
    url = "https://hooks.slack.example/services/" + path
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "notify", "--base-url", url)
    assert r.returncode == 2 and b"secret" in r.stderr
    assert_problem(oncall.get("/v1/connectors/notify"), 404)
    r = ctl(shared_intentd, tenant.oncall, "connector", "set", "notify",
            stdin=json.dumps({"base_url": url}).encode())
    assert r.returncode == 0, r.stderr
    assert b"https://hooks.slack.example/[redacted]" in r.stdout
    assert path.encode() not in r.stdout + r.stderr
    assert_hidden([path], db=shared_db, tenant_id=tenant.tenant_id, intentd=shared_intentd)
