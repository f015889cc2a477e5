"""The kill-switch matrix (issue 4): every scope (global, tenant, action_type, connector) x mode
(pause, kill) flipped during a run of TOGGLE_MATRIX_INTENTS intents (default 2000) on two
intentd nodes sharing one database, against the vendor fake answering after 50 ms. Select with
`-m crash`.

The product's promise is checked on the vendor's side: the fake records when each call reached
it (time.time() on this machine, the clock the test reads right after PUT /v1/toggles
answers), and no call the switch covers may start more than 1 s after that answer. A call that
started before then is allowed: it may have been on its way when the switch flipped. The test
reads the flip time only after the answer arrived, so the bound it checks is never looser than
the product's. Everything else waits for conditions with generous deadlines.

Workload per cell, on fresh tenants A and B (each with its own vendor tokens, which is how a
request in the fake's log is attributed to its tenant): half of each tenant's intents are
sales.book_meeting (a calendar draft, undone by deleting it, then a CRM task) and half
email.create_draft (Gmail). The switch always covers part of A: tenant A, A's
sales.book_meeting, A's crm connector (which only sales.book_meeting calls); global covers all.
pause is released with run; kill cancels what it covers and compensates its drafted events.

Environment:
  TOGGLE_MATRIX_INTENTS  intents per cell (default 2000)
  CRASH_TIMEOUT          deadline of each wait in seconds (default 1800)
"""

import base64
import hashlib
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))

import fixtures  # noqa: E402
from connector_env import (FAST_LIMITS, VendorFake, crm_task_params, draft_params,  # noqa: E402
                           intent, meeting_params)
from harness import TERMINAL_STATES, wait_until  # noqa: E402

pytestmark = pytest.mark.crash

N = int(os.environ.get("TOGGLE_MATRIX_INTENTS", "2000"))
TIMEOUT = float(os.environ.get("CRASH_TIMEOUT", "1800"))
BOUND_S = 1.0  # SPEC §6: every node obeys within 1 s
MEETING, DRAFT = "sales.book_meeting", "email.create_draft"
LATENCY_MS = 50


def step_key(tenant_id, intent_id, step):
    h = hashlib.sha256(("%s\x1f%s\x1f%s" % (tenant_id, intent_id, step)).encode()).hexdigest()
    return "ik_" + h[:40]


def event_id(key):
    return base64.b32hexencode(key.encode()).decode().lower().rstrip("=")


@pytest.fixture(scope="module")
def cluster(pg_cluster, intentd_binary):
    """Two nodes on one database and the vendor fake, shared by every cell."""
    factory = fixtures.Factory(pg_cluster, intentd_binary)
    fake = VendorFake().start()
    try:
        db = pg_cluster.create_database()
        # small claims, so that both nodes hold part of each run; held work resumes within 1 s
        env = {"INTENTD_CLAIM_BATCH": "50", "INTENTD_RESUME_WINDOW_MS": "1000"}
        a = factory(db, env=env)
        b = factory(db, env=env)
        yield a, b, db, fake
    finally:
        fake.stop()
        factory.cleanup()


def tokens_of(tenant):
    return {"hubspot": "crm-" + tenant.tenant_id, "calendar": "cal-" + tenant.tenant_id,
            "gmail": "gmail-" + tenant.tenant_id}


def configure_tenant(node, tenant, fake):
    tok = tokens_of(tenant)
    c = node.client(token=tenant.oncall)
    bodies = {
        "crm": (fake.url(""), tok["hubspot"]),
        "calendar": (fake.url("/calendar/v3"), tok["calendar"]),
        "email": (fake.url(""), tok["gmail"]),
    }
    for name, (url, token) in bodies.items():
        r = c.request("PUT", "/v1/connectors/%s" % name,
                      body={"base_url": url, "auth": {"type": "bearer", "token": token},
                            "limits": dict(FAST_LIMITS, timeout_seconds=10)})
        assert r.status == 200, r
    c.close()


def workload(tenant, n):
    out = []
    for i in range(n):
        if i % 2:
            out.append(intent(tenant, DRAFT, draft_params()))
        else:
            out.append(intent(tenant, MEETING, {"meeting": meeting_params(),
                                                "task": crm_task_params()}))
    return out


def submit(nodes, tenants, items_by_tenant):
    """Batches of 500, alternating tenants and nodes, so both tenants' work is mixed."""
    batches = []
    for t in tenants:
        items = items_by_tenant[t.tenant_id]
        batches.append([(t, items[i:i + 500]) for i in range(0, len(items), 500)])
    k = 0
    for round_ in zip(*batches):
        for t, chunk in round_:
            c = nodes[k % len(nodes)].client()
            k += 1
            r = c.batch(chunk, key=t.approval_key)
            c.close()
            assert r.status == 200, r
            assert all(x["status"] == 202 for x in r.json["results"]), r.json["results"][:3]


class Cell:
    """What one (scope, mode) covers in this run."""

    def __init__(self, scope, mode, ta, tb):
        self.scope, self.mode, self.ta, self.tb = scope, mode, ta, tb
        self.key = {"global": "*", "tenant": ta.tenant_id,
                    "action_type": "%s/%s" % (ta.tenant_id, MEETING),
                    "connector": "%s/crm" % ta.tenant_id}[scope]
        self.held_by = "paused: %s %s" % (scope, self.key)

    def covers_intent(self, tenant_id, action_type):
        if self.scope == "global":
            return True
        if tenant_id != self.ta.tenant_id:
            return False
        return self.scope == "tenant" or action_type == MEETING

    def covers_call(self, tenant_id, action_type, req):
        """A call the switch must stop: under pause, the calls the switch holds (the crm calls
        for a connector switch); under kill, every forward call of a covered intent (the
        compensation it triggers, the calendar's GET and DELETE, is expected after it)."""
        if not self.covers_intent(tenant_id, action_type):
            return False
        if self.mode == "kill":
            return req["method"] == "POST"
        return self.scope != "connector" or req["vendor"] == "hubspot"


def attribute(req, by_token):
    """(tenant id, action type) of a request in the fake's log, from its bearer token."""
    auth = {k.lower(): v for k, v in req["headers"].items()}.get("authorization", "")
    return by_token.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None


def put_toggle(c, scope, key, mode, reason):
    return c.request("PUT", "/v1/toggles",
                     body={"scope": scope, "key": key, "mode": mode, "reason": reason})


def states_of(db, tenants):
    rows = db.query("SELECT tenant_id, action_intent_id, action_type, state, held_by "
                    "FROM intentd.intents WHERE tenant_id = ANY(%s)",
                    ([t.tenant_id for t in tenants],))
    return {(r[0], r[1]): r for r in rows}


def toggle_rows(db, scope, key):
    return db.query("SELECT actor, from_state, to_state, payload FROM intentd.ledger "
                    "WHERE event = 'toggle.set' AND payload->>'scope' = %s "
                    "AND payload->>'key' = %s ORDER BY seq", (scope, key))


def effects_by_marker(fake, vendor):
    out = {}
    for e in fake.effects(vendor=vendor):
        out.setdefault(e["marker"], []).append(e)
    return out


def check_effects(fake, items, states):
    """Every SUCCEEDED intent has each of its effects exactly once and live; every other has
    none live (a CANCELLED one's drafted event was deleted); no marker was created twice.
    Returns how many intents had an effect undone."""
    cal, crm = effects_by_marker(fake, "calendar"), effects_by_marker(fake, "hubspot")
    mail = effects_by_marker(fake, "gmail")
    problems, undone, drafts_ok = [], 0, 0
    for m in (cal, crm, mail):
        problems += [("created twice", k, len(v)) for k, v in m.items() if len(v) > 1]
    for it in items:
        tid, iid = it["tenant_id"], it["action_intent_id"]
        st = states[(tid, iid)][3]
        if it["action_type"] == DRAFT:
            drafts_ok += st == "SUCCEEDED"
            continue
        ev = cal.get(event_id(step_key(tid, iid, "DraftMeeting")), [])
        tk = crm.get(step_key(tid, iid, "CreateTask"), [])
        live_ev = [e for e in ev if e["state"] == "live"]
        live_tk = [e for e in tk if e["state"] == "live"]
        if st == "SUCCEEDED":
            if len(live_ev) != 1 or len(live_tk) != 1:
                problems.append((iid, "SUCCEEDED without exactly one of each effect", ev, tk))
        elif live_ev or live_tk:
            problems.append((iid, "%s left effects behind" % st, live_ev, live_tk))
        else:
            undone += bool(ev)
    live_mail = [e for v in mail.values() for e in v if e["state"] == "live"]
    if len(live_mail) != drafts_ok:
        problems.append(("gmail drafts", len(live_mail), "SUCCEEDED drafts", drafts_ok))
    assert not problems, problems[:5]
    return undone


SCOPES = ("global", "tenant", "action_type", "connector")
MODES = ("pause", "kill")


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("mode", MODES)
def test_toggle_matrix(cluster, scope, mode):
    a, b, db, fake = cluster
    try:
        run_cell(a, b, db, fake, scope, mode)
    finally:
        # a cell that failed half-way must not leave the next ones globally held
        adm = a.admin()
        r = put_toggle(adm, "global", "*", "run", "matrix cleanup")
        adm.close()
        assert r.status == 200, r


def run_cell(a, b, db, fake, scope, mode):
    started = time.monotonic()
    adm = a.admin()
    ta, tb = a.create_tenant(), a.create_tenant()
    fake.reset()
    fake.config(delay_ms=LATENCY_MS, request_log_max=1000000,
                tokens={v: [tokens_of(t)[v] for t in (ta, tb)]
                        for v in ("hubspot", "calendar", "gmail")})
    for t in (ta, tb):
        configure_tenant(a, t, fake)
    cell = Cell(scope, mode, ta, tb)
    by_token = {}
    for t in (ta, tb):
        tok = tokens_of(t)
        by_token[tok["calendar"]] = (t.tenant_id, MEETING)
        by_token[tok["hubspot"]] = (t.tenant_id, MEETING)
        by_token[tok["gmail"]] = (t.tenant_id, DRAFT)
    items = {t.tenant_id: workload(t, N // 2) for t in (ta, tb)}
    every = items[ta.tenant_id] + items[tb.tenant_id]
    affected = {(x["tenant_id"], x["action_intent_id"]) for x in every
                if cell.covers_intent(x["tenant_id"], x["action_type"])}
    assert affected and (scope == "global" or len(affected) < len(every))
    submit((a, b), (ta, tb), items)

    # flip once a good share of the calls is flowing (and long before the run can end)
    wait_until(lambda: fake.stats()["requests"] >= N // 10, TIMEOUT, interval=0.05,
               what="calls under way")
    flipper = adm if scope == "global" else a.client(token=ta.oncall)
    reason = "matrix %s %s" % (scope, mode)
    r = put_toggle(flipper, scope, cell.key, mode, reason)
    flipped = time.time()
    assert r.status == 200, r
    assert r.json["changed"] is True and r.json["previous"] == "run", r.json
    assert r.json["mode"] == mode and r.json["key"] == cell.key, r.json
    kill_affected = r.json["affected"]

    def open_states():
        return states_of(db, (ta, tb))

    def all_terminal():
        st = open_states()
        return st if all(row[3] in TERMINAL_STATES for row in st.values()) else None

    if mode == "pause":
        # unaffected intents keep going to the end; every affected open one is held, and says so
        def settled():
            st = open_states()
            for k, row in st.items():
                if row[3] in TERMINAL_STATES:
                    continue
                if k not in affected or row[4] != cell.held_by:
                    return None
            # and the log has had time to show a call that came too late
            return st if time.time() > flipped + 2 * BOUND_S else None
        st = wait_until(settled, TIMEOUT, interval=0.25,
                        what="unaffected intents done and affected ones held")
        held = [k for k, row in st.items() if row[3] not in TERMINAL_STATES]
        assert held, "the run finished before the pause was seen"
        owner = ta if held[0][0] == ta.tenant_id else tb
        view = b.client(token=owner.operator).intent(held[0][1]).json
        assert view["held_by"] == cell.held_by, view
        assert all(row[3] == "SUCCEEDED" for k, row in st.items() if k not in affected)
    else:
        st = wait_until(all_terminal, TIMEOUT, interval=0.25,
                        what="every intent terminal after the kill")
    log = fake.requests()
    late, latest = [], None
    for req in log:
        who = attribute(req, by_token)
        assert who is not None, req["headers"]
        if not cell.covers_call(who[0], who[1], req):
            continue
        lag = req["time"] - flipped
        latest = lag if latest is None or lag > latest else latest
        if lag > BOUND_S:
            late.append((round(lag, 3), req["method"], req["vendor"], req["path"]))
    print("cell %s/%s: latest covered call began %.3f s after the flip"
          % (scope, mode, latest if latest is not None else float("nan")), file=sys.stderr)
    assert not late, "%d covered calls began more than %.1f s after the flip: %r" % (
        len(late), BOUND_S, late[:5])

    # flipping to the mode it has is answered and changes nothing
    before = toggle_rows(db, scope, cell.key)
    again = put_toggle(flipper, scope, cell.key, mode, "again")
    assert again.status == 200 and again.json["changed"] is False, again
    assert toggle_rows(db, scope, cell.key) == before

    if mode == "pause":
        r = put_toggle(flipper, scope, cell.key, "run", "released")
        assert r.status == 200 and r.json["changed"] is True and r.json["affected"] > 0, r
        st = wait_until(all_terminal, TIMEOUT, interval=0.25,
                        what="every intent terminal after run")
        counts = {}
        for row in st.values():
            counts[row[3]] = counts.get(row[3], 0) + 1
        assert counts == {"SUCCEEDED": N - N % 2}, counts
        assert all(row[4] is None for row in st.values())
        check_effects(fake, every, st)
        expect = [("run", "pause", reason), ("pause", "run", "released")]
    else:
        killed = [k for k in affected if st[k][3] == "CANCELLED"]
        assert killed, "the kill cancelled nothing"
        assert all(st[k][3] in ("CANCELLED", "SUCCEEDED") for k in affected)
        assert all(row[3] == "SUCCEEDED" for k, row in st.items() if k not in affected)
        # whatever was affected and ended otherwise was already past its last call's start
        undone = check_effects(fake, every, st)
        assert undone > 0, "no drafted event of a cancelled intent was compensated"
        asked = db.query("SELECT actor, payload->>'reason' FROM intentd.ledger "
                         "WHERE event = 'intent.cancel_requested' AND tenant_id = ANY(%s)",
                         ([ta.tenant_id, tb.tenant_id],))
        # one cancel request per intent the kill found open, all of them affected ones
        assert len(asked) == kill_affected and kill_affected >= len(killed) > 0, asked[:3]
        want = "killed: %s %s: %s" % (scope, cell.key, reason)
        assert all(x[1] == want for x in asked), asked[:3]
        expect = [("run", "kill", reason)]
    rows = toggle_rows(db, scope, cell.key)
    if scope == "global":
        rows = rows[-len(expect):]
    assert [(x[1], x[2], x[3]["reason"]) for x in rows] == expect, rows
    actor = "admin" if scope == "global" else "token:oncall:%s:" % ta.tenant_id
    assert all(x[0].startswith(actor) for x in rows), rows
    nodes = {x[0] for x in db.query(
        "SELECT DISTINCT node_id FROM intentd.ledger WHERE event = 'attempt.started' "
        "AND tenant_id = ANY(%s)", ([ta.tenant_id, tb.tenant_id],))}
    assert {a.node_id, b.node_id} <= nodes, nodes
    print("cell %s/%s took %.1f s" % (scope, mode, time.monotonic() - started), file=sys.stderr)
