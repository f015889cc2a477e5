"""Roles and tenant isolation on every operation of proto/openapi.yaml (SPEC §6, issue 4).

One entry per operation (OPS, keyed `METHOD /path` as the spec writes it) knows how to build a
valid request against tenant A's resources, creating the fixture state it needs. From the
operation's `x-intentd-role` the matrix then checks, each cell a test:
  - no token, an unknown token and a token revoked through DELETE
    /v1/tenants/{tenant_id}/tokens/{token_id}: 401 problem (bearer operations);
  - every role below the minimum: 403 problem, and no row of intents, ledger or internal_*
    changed (every write of the API leaves a ledger row, so a refused write shows there), nor
    any token's revocation or tenant's key version;
  - the minimum role and every one above (tenant operator < oncall < tenant admin; the global
    admin, INTENTD_ADMIN_TOKEN): authorised, i.e. one of the entry's expected statuses;
  - tenant B's token (its admin, so the role is not what stops it) aimed at A's resource: 404,
    or, for a tenant-scoped collection, only B's own data;
  - the global admin without naming a tenant where the operation needs one: 400
    `tenant-required` (or the entry's documented refusal).
Signature operations get the submission matrix instead (no signature, another tenant's key, a
bearer token in place of the signature: 401), public ones answer without any token.

A new operation in the spec fails test_every_operation_has_an_entry until OPS has its entry:
add an Op(...) with a `build` that returns the request for a given Caller.
"""

import contextlib
import json
import pathlib
import urllib.parse

import pytest
import yaml

from fixtures import unchanged
from harness import assert_problem, canonical, make_intent, sign, unique

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "proto" / "openapi.yaml").read_text(encoding="utf-8"))
METHODS = ("get", "put", "post", "delete", "patch")

# Callers in ascending order of privilege; a role's rank is the first caller that has it.
CALLERS = ("operator", "oncall", "tenant_admin", "global_admin")
RANK = {"operator": 0, "oncall": 1, "admin": 2}


def spec_operations():
    out = {}
    for path, item in SPEC["paths"].items():
        for m in METHODS:
            if m in item:
                out["%s %s" % (m.upper(), path)] = item[m]
    return out


SPEC_OPS = spec_operations()


# ------------------------------------------------------------------------------------ world


class TenantCtx:
    """A tenant with one token per role, its approval key, and helpers for fixture state."""

    def __init__(self, world, name):
        self.world = world
        t = world.inst.create_tenant(unique(name + "-"))
        self.id, self.key = t.tenant_id, t.key
        r = world.admin.post("/v1/tenants/%s/tokens" % self.id, body={"role": "admin"})
        assert r.status == 201, r
        self.tokens = {"operator": t.operator, "oncall": t.oncall, "tenant_admin": r.json["token"]}
        self._done = None

    def submit(self, intent=None):
        intent = intent or make_intent(self.id)
        r = self.world.anon.submit(intent, key=self.key)
        assert r.status == 202, r
        return intent["action_intent_id"]

    def succeeded_intent(self, fresh=False):
        """The id of a SUCCEEDED internal.create_task intent (shared unless fresh)."""
        if self._done is None or fresh:
            iid = self.submit()
            self.world.admin.wait_for_state(iid, "SUCCEEDED", tenant_id=self.id)
            if fresh:
                return iid
            self._done = iid
        return self._done

    def configure(self, connector="crm"):
        r = self.world.admin.request("PUT", "/v1/connectors/" + connector, body=CONNECTOR_BODY(
            self.id))
        assert r.status == 200, r

    def configure_push(self):
        r = self.world.admin.request("PUT", "/v1/signals/push", body={
            "url": "https://signals.example.invalid/hook", "tenant_id": self.id})
        assert r.status == 200, r


class World:
    def __init__(self, inst, db):
        self.inst, self.db = inst, db
        self.admin = inst.admin()
        self.anon = inst.client()
        self.a = TenantCtx(self, "a")
        self.b = TenantCtx(self, "b")
        self.a.succeeded_intent()
        self.b.succeeded_intent()

    def client(self, token):
        return self.inst.client(token=token)


def CONNECTOR_BODY(tenant_id=None):
    body = {"base_url": "https://crm.example.invalid/api", "auth": {"type": "none"}}
    if tenant_id:
        body["tenant_id"] = tenant_id
    return body


@pytest.fixture(scope="module")
def world(shared):
    w = World(*shared)
    yield w
    w.admin.close()
    w.anon.close()


# ------------------------------------------------------------------------------- operations


class Caller:
    """Who the request is built for: `tenant` (a TenantCtx) is whose resources it targets;
    `global_admin` says the sender holds no tenant, so the request must name one;
    name_tenant=False leaves it out (to see the global admin refused)."""

    def __init__(self, tenant, global_admin=False, name_tenant=True):
        self.tenant = tenant
        self.global_admin = global_admin
        self.name_tenant = name_tenant and global_admin

    def q(self, path, **params):
        """path with a query: params plus tenant_id for a global admin."""
        if self.name_tenant:
            params["tenant_id"] = self.tenant.id
        params = {k: v for k, v in params.items() if v is not None}
        return path + ("?" + urllib.parse.urlencode(params) if params else "")

    def body(self, **members):
        if self.name_tenant:
            members["tenant_id"] = self.tenant.id
        return members


class Op:
    """build(world, caller) -> (method, path, body). ok: the statuses that mean "authorised and
    served". cross: what tenant B's admin token gets for A's resource: 404, a function
    (world, response) asserting it saw only B's data, or None (nothing tenant-owned).
    global_refusal: the status a global admin gets without naming a tenant (None: it needs
    none) and refusal_slug its problem type: `tenant-required` where the tenant is a query
    parameter, `invalid-request` (a JSON Pointer error) where it is a body member. served:
    called with each authorised answer, for state the world must follow."""

    def __init__(self, build, ok=(200,), cross=404, global_refusal=None, global_only=False,
                 served=None, refusal_slug="tenant-required"):
        self.build = build
        self.ok = set(ok)
        self.cross = cross
        self.global_refusal = global_refusal
        self.refusal_slug = refusal_slug
        self.global_only = global_only  # a tenant's own admin is refused (403) too
        self.served = served  # served(world, response): keeps the world in step with a success


def only_own(key, field="tenant_id"):
    """cross check for collections: every item of body[key] belongs to B."""
    def check(world, r):
        assert r.status == 200, r
        items = r.json[key]
        assert all(x[field] == world.b.id for x in items), items
    return check


def signals_own(world, r):
    assert r.status == 200, r
    ids = {s["action_intent_id"] for s in r.json["signals"]}
    assert world.a.succeeded_intent() not in ids


def ledger_own(world, r):
    assert r.status == 200, r
    rows = [json.loads(line) for line in r.body.decode().splitlines() if line]
    assert rows and all(x["tenant_id"] == world.b.id for x in rows), rows[:3]


def toggles_own(world, r):
    assert r.status == 200, r
    for t in r.json["toggles"]:
        assert t["key"] == "*" or t["key"].split("/")[0] in ("*", world.b.id), t


def preview_refuses_other_tenant(world, r):
    # A dry run for another tenant's intent is documented as valid:false, never a preview.
    assert r.status == 200 and r.json["valid"] is False, r


def intent_path(suffix=""):
    def build(w, c):
        return "GET", c.q("/v1/intents/%s%s" % (c.tenant.succeeded_intent(), suffix)), None
    return build


def operator_action(action, body=None):
    def build(w, c):
        iid = c.tenant.succeeded_intent(fresh=(action == "compensate"))
        return "POST", c.q("/v1/intents/%s/%s" % (iid, action)), dict(body or {"reason": "matrix"})
    return build


def connector_build(method):
    def build(w, c):
        if method == "PUT":
            return "PUT", "/v1/connectors/crm", dict(CONNECTOR_BODY(), **c.body())
        c.tenant.configure()
        return method, c.q("/v1/connectors/crm"), None
    return build


def push_build(method):
    def build(w, c):
        if method == "PUT":
            return "PUT", "/v1/signals/push", c.body(url="https://signals.example.invalid/hook")
        c.tenant.configure_push()
        return method, c.q("/v1/signals/push"), None
    return build


def new_token_id(world, tenant):
    """A fresh operator token of tenant's, for a revocation to act on (never the matrix's own)."""
    r = world.admin.post("/v1/tenants/%s/tokens" % tenant.id, body={"role": "operator"})
    assert r.status == 201, r
    return r.json["token_id"]


def revoke_build(w, c):
    return "DELETE", "/v1/tenants/%s/tokens/%s" % (c.tenant.id, new_token_id(w, c.tenant)), None


def key_rotated(world, r):
    # The key it replaced verifies only through the overlap and the next rotation drops it:
    # later submissions sign with the new one.
    assert r.json["tenant_id"] == world.a.id, r
    world.a.key = r.json["approval_key"]


OPS = {
    "POST /v1/tenants": Op(lambda w, c: ("POST", "/v1/tenants", {"tenant_id": unique("mx-")}),
                           ok=(201,), cross=None, global_only=True),
    "POST /v1/tenants/{tenant_id}/tokens": Op(
        lambda w, c: ("POST", "/v1/tenants/%s/tokens" % c.tenant.id, {"role": "operator"}),
        ok=(201,)),
    "GET /v1/tenants": Op(lambda w, c: ("GET", "/v1/tenants", None), cross=only_own("tenants")),
    "GET /v1/tenants/{tenant_id}/tokens": Op(
        lambda w, c: ("GET", "/v1/tenants/%s/tokens" % c.tenant.id, None)),
    "DELETE /v1/tenants/{tenant_id}/tokens/{token_id}": Op(revoke_build),
    "GET /v1/tenants/{tenant_id}/keys": Op(
        lambda w, c: ("GET", "/v1/tenants/%s/keys" % c.tenant.id, None)),
    # overlap_seconds: the replaced key keeps verifying while the next cell rotates again
    "POST /v1/tenants/{tenant_id}/keys:rotate": Op(
        lambda w, c: ("POST", "/v1/tenants/%s/keys:rotate" % c.tenant.id,
                      {"overlap_seconds": 3600}), served=key_rotated),
    "POST /v1/intents": Op(None),  # signature: see test_submission_matrix
    "POST /v1/intents:batch": Op(None),
    "GET /v1/intents/{id}": Op(intent_path()),
    "GET /v1/intents/{id}/timeline": Op(intent_path("/timeline"), global_refusal=400),
    # a SUCCEEDED intent cannot be cancelled (409) or redriven (409): both got past the roles
    "POST /v1/intents/{id}/cancel": Op(operator_action("cancel"), ok=(409,), global_refusal=400),
    "POST /v1/intents/{id}/compensate": Op(operator_action("compensate"), ok=(202,),
                                           global_refusal=400),
    "POST /v1/intents/{id}/redrive": Op(operator_action("redrive"), ok=(409,),
                                        global_refusal=400),
    "POST /v1/intents:preview": Op(
        lambda w, c: ("POST", "/v1/intents:preview", make_intent(c.tenant.id)),
        cross=preview_refuses_other_tenant),
    "GET /v1/signals": Op(lambda w, c: ("GET", c.q("/v1/signals", limit=1000), None),
                          cross=signals_own, global_refusal=400),
    "GET /v1/signals/push": Op(push_build("GET"), global_refusal=400),
    "PUT /v1/signals/push": Op(push_build("PUT"), global_refusal=400,
                               refusal_slug="invalid-request"),
    "DELETE /v1/signals/push": Op(push_build("DELETE"), global_refusal=400),
    "GET /v1/toggles": Op(lambda w, c: ("GET", c.q("/v1/toggles"), None), cross=toggles_own),
    "PUT /v1/toggles": Op(lambda w, c: ("PUT", "/v1/toggles", {
        "scope": "tenant", "key": c.tenant.id, "mode": "run", "reason": "role matrix"})),
    "GET /v1/action-types": Op(lambda w, c: ("GET", "/v1/action-types", None), cross=None),
    "GET /v1/executions": Op(lambda w, c: ("GET", c.q("/v1/executions", limit=500), None),
                             cross=only_own("items")),
    "GET /v1/accounts/{account_id}/executions": Op(
        lambda w, c: ("GET", c.q("/v1/accounts/acct_123/executions", limit=500), None),
        cross=only_own("items")),
    "GET /v1/ledger": Op(lambda w, c: ("GET", c.q("/v1/ledger"), None), cross=ledger_own),
    # the chain spans every tenant: a tenant's admin would learn about the others (403)
    "GET /v1/ledger/verify": Op(lambda w, c: ("GET", "/v1/ledger/verify", None), cross=None,
                                global_only=True),
    "GET /v1/connectors": Op(lambda w, c: ("GET", c.q("/v1/connectors"), None),
                             cross=only_own("connectors")),
    "PUT /v1/connectors/{connector}": Op(connector_build("PUT"), global_refusal=400,
                                         refusal_slug="invalid-request"),
    "GET /v1/connectors/{connector}": Op(connector_build("GET"), global_refusal=400),
    "DELETE /v1/connectors/{connector}": Op(connector_build("DELETE"), global_refusal=400),
    "GET /healthz": Op(lambda w, c: ("GET", "/healthz", None), cross=None),
    "GET /readyz": Op(lambda w, c: ("GET", "/readyz", None), cross=None),
    "GET /metrics": Op(lambda w, c: ("GET", "/metrics", None), cross=None),
    # the web console's files hold no data: the page calls the API with the operator's token
    "GET /console": Op(lambda w, c: ("GET", "/console", None), cross=None),
    "GET /console/": Op(lambda w, c: ("GET", "/console/", None), cross=None),
    "GET /console/{asset}": Op(lambda w, c: ("GET", "/console/app.js", None), cross=None),
}


def role_of(key):
    return SPEC_OPS[key]["x-intentd-role"]


def bearer_ops():
    return sorted(k for k in SPEC_OPS if role_of(k) in RANK and k in OPS)


def tenants_state(db):
    """Tokens and approval keys of every tenant: a refused revocation or rotation must leave
    them as they were (on top of `unchanged`, which counts rows)."""
    return (db.query("SELECT tenant_id, token_id, revoked_at FROM intentd.tokens "
                     "ORDER BY tenant_id, token_id"),
            db.query("SELECT tenant_id, key_version, previous_expires_at FROM intentd.tenants "
                     "ORDER BY tenant_id"))


@contextlib.contextmanager
def refused(world):
    with unchanged(world.db):
        before = tenants_state(world.db)
        yield
    assert tenants_state(world.db) == before


def send(world, token, req):
    method, path, body = req
    c = world.client(token)
    try:
        return c.request(method, path, body=body)
    finally:
        c.close()


# ------------------------------------------------------------------------------------ tests


def test_every_operation_has_an_entry():
    missing = sorted(set(SPEC_OPS) - set(OPS))
    assert not missing, "add these operations to OPS in test_role_matrix.py: %s" % missing
    stale = sorted(set(OPS) - set(SPEC_OPS))
    assert not stale, "OPS names operations the spec does not have: %s" % stale


def below_cells():
    for key in bearer_ops():
        for caller in CALLERS[:3]:
            rank = RANK["admin" if caller == "tenant_admin" else caller]
            if rank < RANK[role_of(key)] or (caller == "tenant_admin" and OPS[key].global_only):
                yield pytest.param(key, caller, id="%s-%s" % (key, caller))


def allowed_cells():
    for key in bearer_ops():
        for caller in CALLERS:
            rank = 3 if caller == "global_admin" else RANK[
                "admin" if caller == "tenant_admin" else caller]
            if rank >= RANK[role_of(key)] and not (caller == "tenant_admin"
                                                   and OPS[key].global_only):
                yield pytest.param(key, caller, id="%s-%s" % (key, caller))


@pytest.mark.parametrize("key,caller", list(below_cells()))
def test_role_below_the_minimum_is_403_and_changes_nothing(world, key, caller):
    req = OPS[key].build(world, Caller(world.a))
    with refused(world):
        b = assert_problem(send(world, world.a.tokens[caller], req), 403)
    assert "forbidden" in b["type"], b


@pytest.mark.parametrize("key,caller", list(allowed_cells()))
def test_minimum_role_and_above_are_served(world, key, caller):
    op = OPS[key]
    if caller == "global_admin":
        req, token = op.build(world, Caller(world.a, global_admin=True)), world.inst.admin_token
    else:
        req, token = op.build(world, Caller(world.a)), world.a.tokens[caller]
    r = send(world, token, req)
    assert r.status in op.ok, (req, r)
    if op.served:
        op.served(world, r)


@pytest.mark.parametrize("key", [k for k in bearer_ops() if OPS[k].cross is not None])
def test_another_tenant_gets_404_or_only_its_own_data(world, key):
    op = OPS[key]
    method, path, body = op.build(world, Caller(world.a))
    if op.cross == 404:
        # B's admin token (its role is not what stops it), aimed at A's resource: path, query
        # or body name A.
        if "/v1/intents/" not in path and not path.startswith("/v1/tenants/"):
            if method in ("PUT", "POST") and isinstance(body, dict):
                # a toggle names its tenant in `key` already; other bodies take tenant_id
                body = body if "key" in body else dict(body, tenant_id=world.a.id)
            else:
                path += ("&" if "?" in path else "?") + "tenant_id=" + world.a.id
        with refused(world):
            assert_problem(send(world, world.b.tokens["tenant_admin"], (method, path, body)),
                           404)
    else:
        # The collection as B sees it: only B's data; and asking for A's by name (?tenant_id=)
        # it is either refused as unknown (404) or answered with B's data all the same.
        b_token = world.b.tokens["tenant_admin"]
        op.cross(world, send(world, b_token, (method, path, body)))
        if method == "GET":
            path += ("&" if "?" in path else "?") + "tenant_id=" + world.a.id
            r = send(world, b_token, (method, path, body))
            if r.status == 404:
                assert_problem(r, 404)
            else:
                op.cross(world, r)


@pytest.mark.parametrize("key", [k for k in bearer_ops() if OPS[k].global_refusal])
def test_global_admin_must_name_the_tenant(world, key):
    op = OPS[key]
    req = op.build(world, Caller(world.a, global_admin=True, name_tenant=False))
    with refused(world):
        b = assert_problem(send(world, world.inst.admin_token, req), op.global_refusal)
    assert b["type"].endswith("/" + op.refusal_slug), b


@pytest.mark.parametrize("key", [k for k in bearer_ops() if not OPS[k].global_refusal])
def test_global_admin_is_served_without_naming_a_tenant(world, key):
    # Where no tenant is required the global admin acts across tenants (or on the one the
    # path or body names).
    op = OPS[key]
    req = op.build(world, Caller(world.a, global_admin=True, name_tenant=False))
    r = send(world, world.inst.admin_token, req)
    assert r.status in op.ok, (req, r)
    if op.served:
        op.served(world, r)


@pytest.mark.parametrize("key", bearer_ops())
@pytest.mark.parametrize("token", ["none", "unknown", "revoked"])
def test_missing_unknown_or_revoked_token_is_401(world, key, token):
    req = OPS[key].build(world, Caller(world.a))
    if token == "revoked":
        value = revoked_token(world)
    else:
        value = None if token == "none" else "itk_" + unique("")
    with refused(world):
        assert_problem(send(world, value, req), 401)


_revoked = {}


def revoked_token(world):
    """An admin token of A's, revoked by DELETE /v1/tenants/{tenant}/tokens/{token_id}; it
    worked before, so the 401 is the revocation's doing."""
    if "t" not in _revoked:
        path = "/v1/tenants/%s/tokens" % world.a.id
        r = world.admin.post(path, body={"role": "admin"})
        assert r.status == 201, r
        tok, tid = r.json["token"], r.json["token_id"]
        assert send(world, tok, ("GET", path, None)).status == 200
        r = world.admin.request("DELETE", "%s/%s" % (path, tid))
        assert r.status == 200 and r.json["changed"] is True and r.json["revoked_at"], r
        _revoked["t"] = tok
    return _revoked["t"]


@pytest.mark.parametrize("key", sorted(k for k in SPEC_OPS if role_of(k) == "public"))
def test_public_operations_need_no_token(world, key):
    assert send(world, None, OPS[key].build(world, Caller(world.a))).status == 200


@pytest.mark.parametrize("key", sorted(k for k in SPEC_OPS if role_of(k) == "signature"))
@pytest.mark.parametrize("how", ["valid", "unsigned", "other_tenants_key", "bearer_instead"])
def test_submission_matrix(world, key, how):
    intent = make_intent(world.a.id)
    body = canonical(intent if key == "POST /v1/intents" else {"intents": [intent]})
    path = key.split(" ", 1)[1]
    headers = {}
    if how == "valid":
        headers["Intent-Signature"] = sign(body, world.a.key)
    elif how == "other_tenants_key":
        headers["Intent-Signature"] = sign(body, world.b.key)
    c = world.client(world.inst.admin_token if how == "bearer_instead" else None)
    try:
        if how == "valid":
            r = c.request("POST", path, body=body, headers=headers)
            assert r.status == (202 if key == "POST /v1/intents" else 200), r
            return
        with refused(world):
            assert_problem(c.request("POST", path, body=body, headers=headers), 401)
    finally:
        c.close()
