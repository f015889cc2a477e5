"""Self-tests of the harness: need PostgreSQL and openssl, not intentd."""

import os
import subprocess

import harness
from harness import sign


def _openssl_hmac(key, data):
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", key], input=data,
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    return out.strip().split()[-1]


def test_signature_matches_openssl_dgst():
    body = b'{"schema":"action_intent.v1","tenant_id":"acme","x":"\xc3\xa9"}'
    key = "ak_test_0123456789abcdef"
    t = 1795000000
    header = sign(body, key, t)
    assert header == "t=%d,v1=%s" % (t, _openssl_hmac(key, b"%d." % t + body))


def test_signature_uses_current_time_by_default():
    header = sign(b"{}", "k")
    t = int(header.split(",")[0][2:])
    assert abs(t - int(__import__("time").time())) < 60
    assert header.split(",")[1] == "v1=" + _openssl_hmac("k", b"%d.{}" % t)


def test_cluster_runs_as_unprivileged_user_and_databases_are_isolated(pg_cluster):
    a = pg_cluster.create_database()
    b = pg_cluster.create_database()
    assert a.name != b.name
    assert a.scalar("SELECT current_database()") == a.name
    assert a.scalar("SELECT current_setting('fsync')") == "off"
    owner_super = a.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (a.owner,))
    if os.environ.get("INTENTD_TEST_DB_SUPERUSER") != "1":
        assert owner_super is False
    pid = int(open(os.path.join(pg_cluster.data, "postmaster.pid")).readline())
    uid = os.stat("/proc/%d" % pid).st_uid
    if os.geteuid() == 0:
        assert uid != 0, "postgres must not run as root"
    # the owner role can connect and create a schema in its database
    conn = a.connect(user=a.owner)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE SCHEMA probe")
            cur.execute("CREATE TABLE probe.t (x int)")
    finally:
        conn.close()


def test_make_intent_is_valid_shape():
    i = harness.make_intent("acme", priority=harness.DELETE)
    assert "priority" not in i
    assert i["expires_at_epoch"] > i["expires_at_epoch"] - 3600
    assert i["action_type"] == "internal.create_task"
    assert set(i) >= {"schema", "action_intent_id", "tenant_id", "account_id", "action_type",
                      "parameters", "decision", "approval", "created_at", "expires_at_epoch"}


def test_cluster_restart_keeps_databases():
    cluster = harness.PgCluster().init().start()
    try:
        db = cluster.create_database()
        db.query("CREATE TABLE t (x int)")
        db.query("INSERT INTO t VALUES (1)")
        cluster.restart(mode="fast")
        assert db.scalar("SELECT count(*) FROM t") == 1
        cluster.stop()
        assert not harness.postgres_processes_under(cluster.data)
    finally:
        cluster.destroy()
    assert not os.path.exists(cluster.base)


def test_raw_http_and_client_against_a_stub_server():
    import http.server
    import threading

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            n = int(self.headers["Content-Length"])
            body = self.rfile.read(n)
            out = b'{"len":%d,"sig":"%s"}' % (len(body),
                                              self.headers.get("Intent-Signature", "").encode())
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.send_header("X-Request-ID", self.headers.get("X-Request-ID", ""))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        c = harness.Client("127.0.0.1", srv.server_address[1])
        intent = harness.make_intent("acme")
        r = c.submit(intent, key="k", t=1700000000)
        assert r.status == 200
        assert r.json["len"] == len(harness.canonical(intent))
        assert r.json["sig"] == sign(harness.canonical(intent), "k", 1700000000)
        assert r.header("x-request-id") == c.last_request_id
        raw = harness.raw_http("127.0.0.1", srv.server_address[1],
                               b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        assert raw.status == 200 and raw.json["len"] == 2
    finally:
        srv.shutdown()
