"""Kill switches (SPEC §6, issue 4): PUT and GET /v1/toggles against the real intentd, a real
PostgreSQL and the vendor fake. The promise under test is the incident one: after the PUT
answers, no new call reaches the paused vendor more than a second later on any node; held work
resumes with nothing lost and nothing doubled; kill cancels and compensates."""

import os
import subprocess
import time

import pytest

from connector_env import (book_meeting, configure, crm_task_params, intent, live)
from harness import assert_problem, wait_until


@pytest.fixture
def vendor(fake):
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"], "calendar": ["cal-token"],
                        "gmail": ["gmail-token"], "webhook": ["hook-token"]})
    return fake


def put(c, scope, key, mode, reason="incident 42", **kw):
    body = {"scope": scope, "mode": mode, "reason": reason}
    if key is not None:
        body["key"] = key
    return c.request("PUT", "/v1/toggles", body=body, **kw)


def toggle_rows(db):
    return db.query("SELECT actor, from_state, to_state, node_id, payload FROM intentd.ledger "
                    "WHERE event = 'toggle.set' ORDER BY seq")


def posts(fake, vendor):
    return [r for r in fake.requests(vendor=vendor) if r["method"] == "POST"]


def submit_all(c, tenant, items):
    for i in range(0, len(items), 500):
        r = c.batch(items[i:i + 500], key=tenant.approval_key)
        assert r.status == 200, r
        assert all(x["status"] == 202 for x in r.json["results"]), r.json


def paused_run(a, vendor, timeout):
    """200 crm.create_task intents of a fresh tenant on a's database, slowed to 40 calls a
    second at 50 ms each so the run is still going when the connector is paused once 20 calls
    are out. Returns (tenant, oncall client, items, pause answer, wall time of the answer)."""
    tenant = a.create_tenant()
    c = a.client(token=tenant.oncall)
    configure(c, vendor, only=("crm",), limits={"rate_per_second": 40, "burst": 5})
    vendor.config(delay_ms=50)
    items = [intent(tenant, "crm.create_task", crm_task_params()) for _ in range(200)]
    submit_all(c, tenant, items)
    wait_until(lambda: len(posts(vendor, "hubspot")) >= 20, timeout, what="calls under way")
    r = put(c, "connector", "%s/crm" % tenant.tenant_id, "pause")
    return tenant, c, items, r, time.time()


def test_pause_on_two_nodes_stops_calls_within_a_second_and_run_resumes_all(
        intentd_factory, new_db, vendor):
    db = new_db()
    # small claims, so that both nodes hold part of the run
    env = {"INTENTD_RESUME_WINDOW_MS": "1500", "INTENTD_CLAIM_BATCH": "20"}
    a = intentd_factory(db, env=env)
    b = intentd_factory(db, env=env)
    tenant, c, items, r, flipped = paused_run(a, vendor, 30)
    assert r.status == 200, r
    assert r.json["changed"] is True and r.json["previous"] == "run"
    assert r.json["mode"] == "pause" and r.json["updated_by"].startswith("token:oncall:")
    time.sleep(3)
    late = [p for p in posts(vendor, "hubspot") if p["time"] > flipped + 1.0]
    assert late == [], "calls started more than 1 s after the pause: %r" % late[:3]
    done = db.scalar("SELECT count(*) FROM intentd.intents WHERE state = 'SUCCEEDED'")
    assert done < 200, "the run finished before the pause could be seen"
    # both nodes hold the rest, and say why
    held = db.query("SELECT held_by FROM intentd.intents WHERE state <> 'SUCCEEDED'")
    assert held and all(h[0] == "paused: connector %s/crm" % tenant.tenant_id for h in held
                        if h[0] and h[0].startswith("paused")), held
    some = db.scalar("SELECT action_intent_id FROM intentd.intents "
                     "WHERE held_by LIKE 'paused:%' LIMIT 1")
    assert some, held
    view = c.intent(some).json
    assert view["held_by"] == "paused: connector %s/crm" % tenant.tenant_id, view
    assert view["attempts"] == 0
    nodes = {n[0] for n in db.query("SELECT DISTINCT node_id FROM intentd.ledger "
                                    "WHERE event = 'attempt.started'")}
    assert {a.node_id, b.node_id} <= nodes, nodes
    # the same flip again is answered and changes nothing
    before = len(toggle_rows(db))
    r = put(b.client(token=tenant.oncall), "connector", "%s/crm" % tenant.tenant_id, "pause")
    assert r.status == 200 and r.json["changed"] is False, r
    assert len(toggle_rows(db)) == before
    # run: everything finishes, each with exactly one task at the vendor
    r = put(c, "connector", "%s/crm" % tenant.tenant_id, "run", reason="vendor recovered")
    assert r.status == 200 and r.json["changed"] is True and r.json["affected"] > 0, r
    for it in items:
        st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED", "EXPIRED"))
        assert st["state"] == "SUCCEEDED", st
        assert st.get("held_by") is None, st
    tasks = live(vendor, "hubspot", "create")
    keys = [t["body"]["properties"]["intentd_idempotency_key"] for t in tasks]
    assert len(tasks) == 200 and len(set(keys)) == 200
    rows = toggle_rows(db)
    assert [(x[1], x[2]) for x in rows] == [("run", "pause"), ("pause", "run")]
    assert all(x[0].startswith("token:oncall:%s:" % tenant.tenant_id) for x in rows)
    assert rows[0][4]["reason"] == "incident 42" and rows[1][4]["reason"] == "vendor recovered"
    assert rows[0][4]["scope"] == "connector"
    assert a.admin().verify_ledger().json["ok"] is True


def test_poll_alone_stops_calls_within_a_second(intentd_factory, new_db, vendor):
    """The NOTIFY is a shortcut, not the promise: a node whose LISTEN connection never comes up
    learns of a pause from its poll alone, still within a second."""
    db = new_db()
    # a serves the API only; b does every call and can hear no NOTIFY
    a = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    b = intentd_factory(db, env={"INTENTD_LISTEN_DATABASE_URL":
                                 "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2",
                                 "INTENTD_RESUME_WINDOW_MS": "500"})
    wait_until(lambda: "(listen) unavailable" in b.log_tail(400), 60,
               what="b's listener failing")
    tenant, c, items, r, flipped = paused_run(a, vendor, 60)
    assert r.status == 200 and r.json["changed"] is True, r
    wait_until(lambda: db.scalar("SELECT count(*) FROM intentd.intents "
                                 "WHERE held_by LIKE 'paused:%%'") > 0, 60,
               what="b holding work")
    time.sleep(2)
    late = [p for p in posts(vendor, "hubspot") if p["time"] > flipped + 1.0]
    assert late == [], "calls started more than 1 s after the pause: %r" % late[:3]
    assert db.scalar("SELECT count(*) FROM intentd.intents WHERE state = 'SUCCEEDED'") < 200
    r = put(c, "connector", "%s/crm" % tenant.tenant_id, "run", reason="vendor recovered")
    assert r.status == 200 and r.json["changed"] is True, r
    for it in items:
        st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED", "EXPIRED"))
        assert st["state"] == "SUCCEEDED", st
    assert len(live(vendor, "hubspot", "create")) == 200


def test_ttl_runs_while_paused(intentd_factory, new_db, vendor):
    """A pause holds calls, not the clock: an intent whose deadline passes while it is held
    ends EXPIRED without a call, and a run afterwards does not bring it back."""
    db = new_db()
    a = intentd_factory(db)
    tenant = a.create_tenant()
    c = a.client(token=tenant.oncall)
    configure(c, vendor, only=("crm",))
    r = put(c, "connector", "%s/crm" % tenant.tenant_id, "pause")
    assert r.status == 200 and r.json["changed"] is True, r
    it = intent(tenant, "crm.create_task", crm_task_params(),
                expires_at_epoch=int(time.time()) + 4)
    r = c.submit(it, key=tenant.approval_key)
    assert r.status == 202, r
    iid = it["action_intent_id"]
    held = wait_until(lambda: (c.intent(iid).json.get("held_by") or "").startswith("paused"),
                      30, what="the intent held by the pause")
    assert held
    st = c.wait_for_state(iid, ("SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED"))
    assert st["state"] == "EXPIRED", st
    assert posts(vendor, "hubspot") == []
    r = put(c, "connector", "%s/crm" % tenant.tenant_id, "run", reason="over")
    assert r.status == 200, r
    assert c.intent(iid).json["state"] == "EXPIRED"
    assert posts(vendor, "hubspot") == []


def test_kill_cancels_and_compensates_and_later_intents_are_cancelled(
        intentd_factory, new_db, vendor):
    db = new_db()
    node = intentd_factory(db)
    tenant = node.create_tenant()
    c = node.client(token=tenant.oncall)
    configure(c, vendor)
    # hold them after their calendar step: the CRM is paused
    assert put(c, "connector", "%s/crm" % tenant.tenant_id, "pause").status == 200
    items = [book_meeting(tenant) for _ in range(10)]
    submit_all(c, tenant, items)
    wait_until(lambda: len(live(vendor, "calendar")) == 10, 30, what="calendar drafts")
    wait_until(lambda: db.scalar("SELECT count(*) FROM intentd.intents "
                                 "WHERE held_by LIKE 'paused:%'") == 10, 30, what="held")
    r = put(c, "action_type", "%s/sales.book_meeting" % tenant.tenant_id, "kill")
    assert r.status == 200 and r.json["affected"] == 10, r
    for it in items:
        st = c.wait_for_state(it["action_intent_id"], ("CANCELLED", "SUCCEEDED", "FAILED"))
        assert st["state"] == "CANCELLED", st
        asked = [x for x in db.ledger_rows(it["action_intent_id"], tenant.tenant_id)
                 if x["event"] == "intent.cancel_requested"]
        assert len(asked) == 1 and asked[0]["actor"].startswith("token:oncall:"), asked
        assert asked[0]["payload"]["reason"].startswith(
            "killed: action_type %s/sales.book_meeting: incident 42" % tenant.tenant_id), asked
        assert st["steps"][0]["compensation"]["state"] == "compensated", st
    assert live(vendor, "calendar") == []
    assert len(vendor.effects(vendor="calendar", state="deleted")) == 10
    assert posts(vendor, "hubspot") == []
    # an intent submitted after the kill is cancelled before any call
    late = book_meeting(tenant)
    submit_all(c, tenant, [late])
    st = c.wait_for_state(late["action_intent_id"], ("CANCELLED", "SUCCEEDED", "FAILED"))
    assert st["state"] == "CANCELLED" and "killed" in st["terminal_reason"], st
    assert len(posts(vendor, "calendar")) == 10
    # other action types of the tenant are not killed (the CRM pause is lifted first)
    assert put(c, "connector", "%s/crm" % tenant.tenant_id, "run").status == 200
    other = intent(tenant, "crm.create_task", crm_task_params())
    submit_all(c, tenant, [other])
    st = c.wait_for_state(other["action_intent_id"], ("CANCELLED", "SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st


def test_roles_validation_listing_and_pending_kill(intentd_factory, new_db):
    db = new_db()
    node = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    t1, t2 = node.create_tenant(), node.create_tenant()
    adm = node.admin()
    op = node.client(token=t1.operator)
    on = node.client(token=t1.oncall)
    key = "%s/crm" % t1.tenant_id
    assert_problem(put(op, "connector", key, "pause"), 403)
    assert_problem(put(on, "connector", "%s/crm" % t2.tenant_id, "pause"), 404)
    assert_problem(put(on, "tenant", t2.tenant_id, "pause"), 404)
    assert_problem(put(on, "global", None, "pause"), 403)
    assert_problem(put(on, "connector", "*/crm", "pause"), 403)
    assert_problem(put(on, "action_type", "*/crm.create_task", "kill"), 403)
    assert toggle_rows(db) == []
    bad = [
        ({"scope": "everything", "mode": "pause", "reason": "x"}, "/scope"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "stop", "reason": "x"}, "/mode"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "pause"}, "/reason"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "pause", "reason": ""}, "/reason"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "pause", "reason": "a\nb"}, "/reason"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "pause", "reason": "x" * 501},
         "/reason"),
        ({"scope": "tenant", "mode": "pause", "reason": "x"}, "/key"),
        ({"scope": "tenant", "key": 7, "mode": "pause", "reason": "x"}, "/key"),
        ({"scope": "tenant", "key": "a b", "mode": "pause", "reason": "x"}, "/key"),
        ({"scope": "global", "key": "acme", "mode": "pause", "reason": "x"}, "/key"),
        ({"scope": "connector", "key": "crm", "mode": "pause", "reason": "x"}, "/key"),
        ({"scope": "connector", "key": t1.tenant_id + "/nope", "mode": "pause", "reason": "x"},
         "/key"),
        ({"scope": "action_type", "key": t1.tenant_id + "/no.such", "mode": "pause",
          "reason": "x"}, "/key"),
        ({"scope": "tenant", "key": t1.tenant_id, "mode": "pause", "reason": "x", "extra": 1},
         ""),
    ]
    for body, pointer in bad:
        b = assert_problem(on.request("PUT", "/v1/toggles", body=body), 400)
        assert pointer in [e["pointer"] for e in b["errors"]], (body, b)
    assert_problem(on.request("PUT", "/v1/toggles", body=[1]), 400)
    assert db.scalar("SELECT count(*) FROM intentd.toggles") == 0
    assert toggle_rows(db) == []
    # a global admin may set anything, including every tenant's scopes
    r = put(adm, "global", None, "pause", reason="maintenance")
    assert r.status == 200 and r.json["key"] == "*" and r.json["updated_by"] == "admin", r
    assert put(adm, "connector", "*/crm", "pause").status == 200
    assert put(adm, "connector", "%s/crm" % t2.tenant_id, "pause").status == 200
    assert put(on, "connector", key, "pause").status == 200
    # listing: a tenant sees its own and the ones covering every tenant
    seen = op.get("/v1/toggles")
    assert seen.status == 200, seen
    got = {(x["scope"], x["key"], x["mode"]) for x in seen.json["toggles"]}
    assert got == {("global", "*", "pause"), ("connector", "*/crm", "pause"),
                   ("connector", key, "pause")}, got
    assert len(adm.get("/v1/toggles").json["toggles"]) == 4
    only = adm.get("/v1/toggles?tenant_id=%s" % t2.tenant_id).json["toggles"]
    assert {x["key"] for x in only} == {"*", "*/crm", "%s/crm" % t2.tenant_id}
    assert_problem(adm.get("/v1/toggles?tenant_id=a%20b"), 400)
    assert_problem(node.client().get("/v1/toggles"), 401)
    # kill of a tenant: PENDING intents (nothing runs here) are cancelled at once
    items = [intent(t1, "crm.create_task", crm_task_params()) for _ in range(5)]
    submit_all(node.client(), t1, items)
    other = intent(t2, "crm.create_task", crm_task_params())
    submit_all(node.client(), t2, [other])
    r = put(on, "tenant", t1.tenant_id, "kill", reason="runaway agent")
    assert r.status == 200 and r.json["affected"] == 5, r
    for it in items:
        st = op.intent(it["action_intent_id"]).json
        assert st["state"] == "CANCELLED" and "runaway agent" in st["terminal_reason"], st
    assert db.intent_state(other["action_intent_id"], t2.tenant_id) == "PENDING"
    # kill of a connector: the intents of the action types that call it
    email = intent(t2, "email.create_draft", {"to": ["a@example.com"], "subject": "s",
                                              "body": "b"})
    submit_all(node.client(), t2, [email])
    r = put(adm, "connector", "%s/crm" % t2.tenant_id, "kill")
    assert r.status == 200 and r.json["affected"] == 1 and r.json["previous"] == "pause", r
    assert db.intent_state(other["action_intent_id"], t2.tenant_id) == "CANCELLED"
    assert db.intent_state(email["action_intent_id"], t2.tenant_id) == "PENDING"
    rows = toggle_rows(db)
    assert [x[2] for x in rows] == ["pause", "pause", "pause", "pause", "kill", "kill"]
    assert rows[0][0] == "admin" and rows[0][4]["reason"] == "maintenance"
    assert rows[-2][0].startswith("token:oncall:%s:" % t1.tenant_id)
    assert rows[-2][4]["affected"] == 5
    assert adm.verify_ledger().json["ok"] is True


def test_emergency_stop_starts_paused(intentd_factory, new_db, vendor):
    db = new_db()
    node = intentd_factory(db, env={"INTENTD_EMERGENCY_STOP": "1"})
    adm = node.admin()
    wait_until(lambda: toggle_rows(db), 10, what="the emergency stop on the ledger")
    rows = toggle_rows(db)
    assert len(rows) == 1 and rows[0][0] == "node:%s" % node.node_id, rows
    assert rows[0][2] == "pause" and "INTENTD_EMERGENCY_STOP" in rows[0][4]["reason"]
    listed = adm.get("/v1/toggles").json["toggles"]
    assert [(x["scope"], x["key"], x["mode"]) for x in listed] == [("global", "*", "pause")]
    tenant = node.create_tenant()
    c = node.client(token=tenant.oncall)
    configure(c, vendor, only=("crm",))
    it = intent(tenant, "crm.create_task", crm_task_params())
    submit_all(c, tenant, [it])
    wait_until(lambda: c.intent(it["action_intent_id"]).json.get("held_by") ==
               "paused: global *", 10, what="held by the global pause")
    assert posts(vendor, "hubspot") == []
    assert put(adm, "global", "*", "run", reason="all clear").status == 200
    st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st


def test_emergency_stop_value_is_checked(intentd_binary):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTD_")}
    env["INTENTD_EMERGENCY_STOP"] = "yes"
    p = subprocess.run([intentd_binary], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "INTENTD_EMERGENCY_STOP" in p.stderr, p


CTL = os.environ.get("INTENTCTL_BIN", os.path.join(os.path.dirname(__file__), "..", "..",
                                                   "build", "tools", "intentctl"))


def ctl(node, token, *args, stdin=None, tty_answer=None):
    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        pytest.skip("%s not built (set INTENTCTL_BIN)" % CTL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCTL_")}
    env["INTENTCTL_URL"] = "http://127.0.0.1:%d" % node.port
    env["INTENTCTL_TOKEN"] = token
    if tty_answer is None:
        return subprocess.run([CTL] + list(args), input=stdin, capture_output=True, env=env,
                              timeout=60)
    import pty
    master, slave = pty.openpty()
    try:
        os.write(master, tty_answer)
        return subprocess.run([CTL] + list(args), stdin=slave, capture_output=True, env=env,
                              timeout=60)
    finally:
        os.close(master)
        os.close(slave)


def test_intentctl_toggle_and_toggles(intentd_factory, new_db):
    db = new_db()
    node = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    t = node.create_tenant()
    key = "%s/crm" % t.tenant_id
    # on a terminal it asks; anything but yes leaves everything as it was
    r = ctl(node, t.oncall, "toggle", "connector", key, "pause", "--reason", "x",
            tty_answer=b"n\n")
    assert r.returncode == 1 and b"not confirmed" in r.stderr, r
    assert db.scalar("SELECT count(*) FROM intentd.toggles") == 0
    r = ctl(node, t.oncall, "toggle", "connector", key, "pause", "--reason", "x",
            tty_answer=b"yes\n")
    assert r.returncode == 0 and b"run -> pause" in r.stdout, r
    assert b"set the connector kill switch" in r.stderr
    r = ctl(node, t.oncall, "toggle", "connector", key, "pause", "--reason", "again", "--yes")
    assert r.returncode == 0 and b"already pause" in r.stdout, r
    r = ctl(node, t.oncall, "toggles")
    assert r.returncode == 0 and key.encode() in r.stdout and b"pause" in r.stdout, r
    r = ctl(node, t.oncall, "--json", "toggles")
    assert [x["key"] for x in __import__("json").loads(r.stdout)["toggles"]] == [key]
    # the server's refusals and usage errors
    r = ctl(node, t.oncall, "toggle", "global", "pause", "--reason", "x", "--yes")
    assert r.returncode == 1 and b"403" in r.stderr, r
    r = ctl(node, t.oncall, "toggle", "connector", key, "stop", "--reason", "x", "--yes")
    assert r.returncode == 1 and b"/mode" in r.stderr, r
    r = ctl(node, t.oncall, "toggle", "connector", key, "run", "--yes")
    assert r.returncode == 2, r
    r = ctl(node, node.admin_token, "toggle", "global", "pause", "--reason", "drill", "--yes")
    assert r.returncode == 0, r
    assert db.scalar("SELECT mode FROM intentd.toggles WHERE scope = 'global'") == "pause"
    r = ctl(node, t.oncall, "toggle", "--help")
    assert r.returncode == 0 and b"--yes" in r.stdout


def test_intentctl_toggle_without_a_terminal_needs_yes(intentd_factory, new_db):
    db = new_db()
    node = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    t = node.create_tenant()
    key = "%s/crm" % t.tenant_id
    # stdin a pipe, as in a script: refused before any request, nothing changed
    ledger = db.scalar("SELECT count(*) FROM intentd.ledger")
    r = ctl(node, t.oncall, "toggle", "connector", key, "pause", "--reason", "incident",
            stdin=b"yes\n")
    assert r.returncode == 2 and b"--yes" in r.stderr and r.stdout == b"", r
    assert db.scalar("SELECT count(*) FROM intentd.toggles") == 0
    assert db.scalar("SELECT count(*) FROM intentd.ledger") == ledger
    r = ctl(node, t.oncall, "toggle", "connector", key, "pause", "--reason", "incident", "--yes",
            stdin=b"")
    assert r.returncode == 0 and b"run -> pause" in r.stdout, r
    assert db.scalar("SELECT mode FROM intentd.toggles") == "pause"
