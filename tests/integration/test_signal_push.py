"""Signal push: PUT/GET/DELETE /v1/signals/push and the pusher that POSTs a tenant's outcome
signals, signed with its approval key, retried until acknowledged, in ledger order.

A tiny receiver (http.server on 127.0.0.1, one thread) checks every request's Intent-Signature
with the tenant's approval key, can answer 500 a number of times, and records the bodies."""

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import wait_until

PUSH = "/v1/signals/push"


def verify(header, body, key, tolerance=300):
    """True when header is a valid Intent-Signature of body under key (the SPEC §2 scheme)."""
    items = dict(p.strip().split("=", 1) for p in (header or "").split(",") if "=" in p)
    if "t" not in items or "v1" not in items or not items["t"].isdigit():
        return False
    if abs(time.time() - int(items["t"])) > tolerance:
        return False
    mac = hmac.new(key.encode(), items["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, items["v1"])


class Receiver:
    def __init__(self, key):
        self.key = key
        self.fail = 0  # answer 500 to this many requests first
        self.requests = []  # every request: {"signed", "body", "status", "ctype"}
        self.lock = threading.Lock()
        rcv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rcv.lock:
                    status = 500 if rcv.fail > 0 else 204
                    rcv.fail -= status == 500
                    rcv.requests.append({
                        "signed": verify(self.headers.get("Intent-Signature"), body, rcv.key),
                        "header": self.headers.get("Intent-Signature"),
                        "raw": body, "status": status,
                        "ctype": self.headers.get("Content-Type")})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hooks/intentd?src=test" % self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def acked(self):
        """The signals of every acknowledged request, in arrival order."""
        with self.lock:
            return [s for r in self.requests if r["status"] == 204
                    for s in json.loads(r["raw"])["signals"]]

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver_for():
    made = []

    def make(tenant):
        r = Receiver(tenant.key)
        made.append(r)
        return r
    yield make
    for r in made:
        r.close()


def submit_and_finish(client, tenant, n):
    ids = []
    for _ in range(n):
        intent = tenant.intent()
        assert client.submit(intent, key=tenant.key).status == 202
        ids.append(intent["action_intent_id"])
    op = client.with_token(tenant.operator)
    for iid in ids:
        op.wait_for_state(iid, "SUCCEEDED")
    return ids


def push_ledger_rows(db, tenant_id):
    return db.query("SELECT event, payload FROM intentd.ledger WHERE tenant_id = %s AND "
                    "event LIKE 'signal_push.%%' ORDER BY seq", (tenant_id,))


def test_push_delivers_every_signal_signed_in_order_once(client, tenant, shared_db, receiver_for):
    rcv = receiver_for(tenant)
    oc = client.with_token(tenant.oncall)
    before = submit_and_finish(client, tenant, 1)  # an outcome before configuration: not pushed
    r = oc.request("PUT", PUSH, body={"url": rcv.url})
    assert r.status == 200, r
    assert r.json["url"] == rcv.url and r.json["tenant_id"] == tenant.tenant_id
    assert r.json["attempts"] == 0 and r.json["last_error"] is None
    start = r.json["last_seq"]
    ids = submit_and_finish(client, tenant, 5)
    wait_until(lambda: len(rcv.acked()) >= 5, 30, what="five pushed signals")
    time.sleep(1.5)  # a duplicate push would arrive within a poll round
    got = rcv.acked()
    seqs = [s["seq"] for s in got]
    assert seqs == sorted(set(seqs)) and len(seqs) == 5, seqs
    assert all(s > start for s in seqs)
    assert sorted(s["action_intent_id"] for s in got) == sorted(ids)
    assert before[0] not in [s["action_intent_id"] for s in got]
    # exactly what GET /v1/signals serves
    served = client.with_token(tenant.operator).get("/v1/signals?after=%d" % start).json
    assert served["signals"] == got
    assert all(s["type"] == "ACTION_EXECUTED" for s in got)
    with rcv.lock:
        reqs = list(rcv.requests)
    assert all(q["signed"] for q in reqs), reqs
    assert all(q["ctype"] == "application/json" for q in reqs)
    # the receiver's check does fail for another key or a changed body
    q = reqs[0]
    assert not verify(q["header"], q["raw"], tenant.key + "x")
    assert not verify(q["header"], q["raw"] + b" ", tenant.key)
    view = oc.get(PUSH).json
    assert view["last_seq"] == seqs[-1] and view["attempts"] == 0
    rows = push_ledger_rows(shared_db, tenant.tenant_id)
    assert [e for e, _ in rows] == ["signal_push.configured"]
    # the ledger names the origin only: the path or query may hold a secret
    assert rows[0][1]["origin"] == rcv.url.split("/hooks")[0]
    assert "hooks" not in json.dumps(rows[0][1])


def test_push_retries_a_failed_batch_until_acknowledged(client, tenant, receiver_for):
    rcv = receiver_for(tenant)
    rcv.fail = 3
    oc = client.with_token(tenant.oncall)
    assert oc.request("PUT", PUSH, body={"url": rcv.url}).status == 200
    ids = submit_and_finish(client, tenant, 2)
    wait_until(lambda: rcv.count() >= 2, 30, what="a failed push")
    view = oc.get(PUSH).json
    assert view["attempts"] >= 1 and view["last_error"] == "HTTP 500", view
    wait_until(lambda: {s["action_intent_id"] for s in rcv.acked()} == set(ids), 60,
               what="both signals acknowledged after the 500s")
    with rcv.lock:
        reqs = list(rcv.requests)
    assert [q["status"] for q in reqs[:3]] == [500, 500, 500]
    # a failed batch is sent again from the same place: nothing skipped
    first = json.loads(reqs[0]["raw"])["signals"][0]["seq"]
    assert all(json.loads(q["raw"])["signals"][0]["seq"] == first for q in reqs[:4])
    assert all(q["signed"] for q in reqs)
    seqs = [s["seq"] for s in rcv.acked()]
    assert seqs == sorted(set(seqs))
    view = oc.get(PUSH).json
    assert view["attempts"] == 0 and view["last_error"] is None and view["last_seq"] == seqs[-1]


def test_delete_stops_pushes(client, tenant, shared_db, receiver_for):
    rcv = receiver_for(tenant)
    oc = client.with_token(tenant.oncall)
    assert oc.request("PUT", PUSH, body={"url": rcv.url}).status == 200
    submit_and_finish(client, tenant, 1)
    wait_until(lambda: len(rcv.acked()) == 1, 30, what="the first signal")
    r = oc.request("DELETE", PUSH)
    assert r.status == 200, r
    assert r.json == {"tenant_id": tenant.tenant_id, "deleted": True}
    n = rcv.count()
    submit_and_finish(client, tenant, 1)
    time.sleep(3)
    assert rcv.count() == n
    assert oc.get(PUSH).status == 404
    assert oc.request("DELETE", PUSH).status == 404
    assert [e for e, _ in push_ledger_rows(shared_db, tenant.tenant_id)] == [
        "signal_push.configured", "signal_push.deleted"]


BAD_BODIES = [
    ({"url": "ftp://example.com/x"}, "/url"),
    ({"url": "http://"}, "/url"),
    ({"url": "https://user:pw@example.com/x"}, "/url"),
    ({"url": "https://example.com/" + "a" * 2040}, "/url"),
    ({"url": "https://example.com/x#frag"}, "/url"),
    ({"url": "https://exa mple.com/"}, "/url"),
    ({"url": 42}, "/url"),
    ({}, ""),
    ({"url": "https://example.com/x", "extra": 1}, ""),
    ({"url": "https://example.com/x", "tenant_id": "no spaces"}, "/tenant_id"),
]


@pytest.mark.parametrize("body,pointer", BAD_BODIES)
def test_invalid_configuration_is_400_and_changes_nothing(client, tenant, shared_db, body,
                                                          pointer):
    oc = client.with_token(tenant.oncall)
    r = oc.request("PUT", PUSH, body=body)
    assert r.status == 400, r
    assert pointer in [e["pointer"] for e in r.json["errors"]], r.json
    assert oc.get(PUSH).status == 404
    assert push_ledger_rows(shared_db, tenant.tenant_id) == []


def test_malformed_json_is_400(client, tenant):
    oc = client.with_token(tenant.oncall)
    assert oc.request("PUT", PUSH, body=b"{not json").status == 400
    assert oc.request("PUT", PUSH, body=b"[]").status == 400
    assert oc.get(PUSH).status == 404


def test_reconfiguring_keeps_the_position_and_records_a_change(client, tenant, shared_db):
    oc = client.with_token(tenant.oncall)
    a = oc.request("PUT", PUSH, body={"url": "http://127.0.0.1:9/a"}).json
    b = oc.request("PUT", PUSH, body={"url": "https://example.invalid/b"}).json
    assert b["url"] == "https://example.invalid/b" and b["last_seq"] == a["last_seq"]
    assert len(push_ledger_rows(shared_db, tenant.tenant_id)) == 2


def test_roles(client, admin, tenant):
    op = client.with_token(tenant.operator)
    assert op.request("PUT", PUSH, body={"url": "https://example.invalid/"}).status == 403
    assert op.get(PUSH).status == 403
    assert op.request("DELETE", PUSH).status == 403
    assert client.get(PUSH).status == 401
    # a global admin names the tenant
    r = admin.request("PUT", PUSH, body={"url": "https://example.invalid/"})
    assert r.status == 400 and r.json["errors"][0]["pointer"] == ""
    assert admin.get(PUSH).status == 400
    r = admin.request("PUT", PUSH, body={"url": "https://example.invalid/",
                                         "tenant_id": tenant.tenant_id})
    assert r.status == 200, r
    assert r.json["updated_by"] == "admin" or r.json["updated_by"].startswith("admin")
    assert admin.get(PUSH + "?tenant_id=" + tenant.tenant_id).json["url"] == \
        "https://example.invalid/"
    assert admin.request("PUT", PUSH, body={"url": "https://example.invalid/",
                                            "tenant_id": "no-such-tenant"}).status == 404
    assert admin.get(PUSH + "?tenant_id=bad%20id").status == 400
    assert admin.request("DELETE", PUSH + "?tenant_id=" + tenant.tenant_id).status == 200
    assert op.get(PUSH).status == 403


def test_tenant_isolation(client, shared, tenant, receiver_for):
    other = shared[0].create_tenant()
    rcv = receiver_for(tenant)
    oc = client.with_token(tenant.oncall)
    other_oc = client.with_token(other.oncall)
    assert oc.request("PUT", PUSH, body={"url": rcv.url}).status == 200
    # another tenant can neither see nor change this configuration
    assert other_oc.get(PUSH).status == 404
    assert other_oc.get(PUSH + "?tenant_id=" + tenant.tenant_id).status == 404
    assert other_oc.request("PUT", PUSH, body={"url": "https://example.invalid/",
                                               "tenant_id": tenant.tenant_id}).status == 404
    assert other_oc.request("DELETE", PUSH + "?tenant_id=" + tenant.tenant_id).status == 404
    assert oc.get(PUSH).json["url"] == rcv.url
    other_ids = submit_and_finish(client, other, 2)
    mine = submit_and_finish(client, tenant, 1)
    wait_until(lambda: len(rcv.acked()) >= 1, 30, what="this tenant's signal")
    time.sleep(1.5)
    got = [s["action_intent_id"] for s in rcv.acked()]
    assert got == mine and not set(other_ids) & set(got)
