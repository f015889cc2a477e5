"""HTTP/1.1 behaviour of the vendor fake: keep-alive, pipelining, chunked bodies,
100-continue, framing errors, many concurrent connections, and the command line."""

import asyncio
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from fake_client import VENDOR_FAKE, VendorFake
from fake_helpers import raw_exchange, task_body

SLACK = b"/services/T000/B000/XXXXSECRET"


def slack_req(text, extra=b""):
    body = b'{"text":"%s"}' % text
    return (b"POST %s HTTP/1.1\r\nHost: f\r\nContent-Length: %d\r\n%s\r\n%s"
            % (SLACK, len(body), extra, body))


def test_keep_alive_reuses_one_connection(fake):
    before = fake.stats()["connections_total"]
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    for i in range(20):
        conn.request("POST", SLACK.decode(), json.dumps({"text": str(i)}))
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == b"ok"
        assert resp.getheader("Connection") is None
    conn.close()
    # this connection plus the stats call itself
    assert fake.stats()["connections_total"] - before == 2
    assert len(fake.effects()) == 20


def test_pipelined_requests_answered_in_order(fake):
    data = slack_req(b"a") + slack_req(b"b") + slack_req(b"c", b"Connection: close\r\n")
    got, how = raw_exchange(fake.port, data)
    assert how == "eof"
    assert got.count(b"HTTP/1.1 200 OK") == 3 and got.endswith(b"ok")
    assert b"Connection: close" in got.rsplit(b"HTTP/1.1", 1)[1]
    assert [e["body"]["text"] for e in fake.effects()] == ["a", "b", "c"]


def test_http10_closes_unless_keep_alive(fake):
    body = b'{"text":"x"}'
    req = b"POST %s HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (SLACK, len(body), body)
    got, how = raw_exchange(fake.port, req)
    assert how == "eof" and got.startswith(b"HTTP/1.1 200") and b"Connection: close" in got
    req = (b"POST %s HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: %d\r\n\r\n%s"
           % (SLACK, len(body), body))
    got, how = raw_exchange(fake.port, req, timeout=0.5)
    assert how == "timeout" and got.startswith(b"HTTP/1.1 200")


def test_chunked_request_body(fake):
    body = json.dumps(task_body("ik_chunked")).encode()
    half = len(body) // 2
    req = (b"POST /crm/v3/objects/tasks HTTP/1.1\r\nHost: f\r\nTransfer-Encoding: chunked\r\n"
           b"Connection: close\r\n\r\n%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: t\r\n\r\n"
           % (half, body[:half], len(body) - half, body[half:]))
    got, how = raw_exchange(fake.port, req)
    assert got.startswith(b"HTTP/1.1 201"), got
    assert fake.effects()[0]["marker"] == "ik_chunked"


def test_expect_100_continue(fake):
    body = json.dumps({"text": "x" * 2000}).encode()
    s = socket.create_connection(("127.0.0.1", fake.port), timeout=5)
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: f\r\nExpect: 100-continue\r\n"
                  b"Content-Length: %d\r\n\r\n" % (SLACK, len(body)))
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        assert s.recv(1000).startswith(b"HTTP/1.1 200 OK")
    finally:
        s.close()


@pytest.mark.parametrize("req,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /x HTTP/1.1 extra\r\n\r\n", 400),
    (b"G(T / HTTP/1.1\r\n\r\n", 400),
    (b"GET http://h/x HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nName : v\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n", 413),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n", 413),
    (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"GET / HTTP/1.1\r\nX: " + b"y" * 70000 + b"\r\n\r\n", 431),
])
def test_framing_errors_close_the_connection(fake, req, status):
    got, how = raw_exchange(fake.port, req)
    assert got.startswith(b"HTTP/1.1 %d " % status), got[:80]
    assert how == "eof"


def test_peer_gone_mid_request_is_harmless(fake):
    got, how = raw_exchange(fake.port, b"POST %s HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"
                            % SLACK, timeout=1, shut_write=True)
    assert (got, how) == (b"", "eof")
    got, how = raw_exchange(fake.port, b"\r\n\r\n", timeout=1, shut_write=True)
    assert (got, how) == (b"", "eof")
    assert fake.call("POST", SLACK.decode(), {"text": "still alive"})[0] == 200


async def _concurrent(port, n, make):
    async def one(i):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(make(i))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            return status
        finally:
            writer.close()
    return await asyncio.gather(*(one(i) for i in range(n)))


def test_two_thousand_concurrent_requests(fake):
    fake.config(delay_ms=1000)

    def make(i):
        body = json.dumps(task_body("ik_c%d" % i)).encode()
        return (b"POST /crm/v3/objects/tasks HTTP/1.1\r\nHost: f\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body))

    t0 = time.monotonic()
    statuses = asyncio.run(_concurrent(fake.port, 2000, make))
    elapsed = time.monotonic() - t0
    assert statuses == [201] * 2000
    stats = fake.stats()
    assert stats["max_in_flight"] >= 500, stats
    # served side by side, not one second each
    assert elapsed < 30
    assert len({e["marker"] for e in fake.effects()}) == 2000


def test_cli_port_file_and_sigterm_with_a_held_connection():
    with tempfile.TemporaryDirectory() as d:
        pf = os.path.join(d, "port")
        proc = subprocess.Popen([sys.executable, VENDOR_FAKE, "--port", "0", "--port-file", pf,
                                 "--host", "127.0.0.1"], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(pf):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.02)
            port = int(open(pf).read())
            fake = VendorFake()
            fake.port = port
            fake.add_fault(path_regex=".", action="timeout")
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(slack_req(b"held"))
            time.sleep(0.2)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(10) == 0
            assert time.monotonic() - t0 < 5
            s.close()
            assert b"listening on 127.0.0.1:%d" % port in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_cli_fails_on_a_taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, VENDOR_FAKE, "--port", str(port)],
                           capture_output=True, timeout=10)
        assert r.returncode != 0
        assert b"address already in use" in r.stderr.lower()
