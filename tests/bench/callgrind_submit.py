#!/usr/bin/python3
"""Instructions per single POST /v1/intents, counted by callgrind (deterministic, unlike
wall-clock figures on a shared machine).

Starts a throwaway PostgreSQL (the integration harness's) and intentd under
`valgrind --tool=callgrind` (scheduler off, log level warn, as bench.py's phase (a)), sends one
warm-up request per connection, zeroes the counters, submits N pre-signed single intents over C
keep-alive connections (each waits for its answer before sending the next, so requests still
group-commit), dumps the counters and stops intentd with SIGTERM.

    /usr/bin/python3 tests/bench/callgrind_submit.py [BIN] [OUT] [N] [C]
    (defaults: build/engine/intentd, ./callgrind.submit, 2000, 8)

Prints "instructions per request: <total Ir of the dump / N>" and the dump's path
(<OUT>.<pid>.1); `callgrind_annotate --inclusive=yes <dump>` shows where they go. Exits 1 if a
request is not answered 202."""
import os
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import PgCluster, Intentd, canonical, make_intent, sign  # noqa: E402


def raw_post(port, body, key):
    head = ("POST /v1/intents HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Intent-Signature: %s\r\nContent-Length: %d\r\n\r\n" % (
                port, sign(body, key), len(body))).encode()
    return head + body


def read_response(s, buf):
    """(status, rest of buf) for the next response on s."""
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            head = buf[:i].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            if len(buf) >= i + 4 + length:
                return int(head.split()[1]), buf[i + 4 + length:]
        d = s.recv(65536)
        if not d:
            raise RuntimeError("intentd closed the connection")
        buf += d


def main():
    binary = os.path.abspath(sys.argv[1] if len(sys.argv) > 1
                             else os.path.join(REPO, "build", "engine", "intentd"))
    out = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else "callgrind.submit")
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    conns = int(sys.argv[4]) if len(sys.argv) > 4 else 8
    work = tempfile.mkdtemp(prefix="callgrind-submit-")
    wrapper = os.path.join(work, "intentd-callgrind")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s.%%p "
                "--log-file=%s/valgrind.log %s \"$@\"\n" % (out, work, binary))
    os.chmod(wrapper, 0o755)
    cluster = PgCluster()
    cluster.init().start()
    node = None
    try:
        db = cluster.create_database()
        node = Intentd(db, env={"INTENTD_LOG_LEVEL": "warn", "INTENTD_SCHEDULER": "off"},
                       binary=wrapper)
        node.start(timeout=300)
        tenant = node.create_tenant()
        tpl = make_intent(tenant.tenant_id)
        tpl["action_intent_id"] = "@@ID@@"
        tpl["decision"]["decision_id"] = "d_@@ID@@"
        tpl["approval"]["approval_id"] = "ap_@@ID@@"
        parts = canonical(tpl).split(b"@@ID@@")
        reqs = [[raw_post(node.port, ("cg%d_%06d" % (c, i)).encode().join(parts), tenant.key)
                 for i in range(n // conns)] for c in range(conns)]
        socks = [socket.create_connection(("127.0.0.1", node.port)) for _ in range(conns)]
        bufs = [b""] * conns
        for c in range(conns):  # warm-up: key cache, prepared statements
            socks[c].sendall(raw_post(node.port, ("warm%d" % c).encode().join(parts), tenant.key))
            status, bufs[c] = read_response(socks[c], bufs[c])
            if status != 202:
                raise RuntimeError("warm-up answered %d" % status)
        subprocess.run(["callgrind_control", "--zero", str(node.pid)], check=True,
                       capture_output=True)
        statuses = {}
        lock = threading.Lock()

        def run(c):
            for r in reqs[c]:
                socks[c].sendall(r)
                st, bufs[c] = read_response(socks[c], bufs[c])
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1

        threads = [threading.Thread(target=run, args=(c,)) for c in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        subprocess.run(["callgrind_control", "--dump=submit", str(node.pid)], check=True,
                       capture_output=True)
        for s in socks:
            s.close()
        dump = "%s.%d.1" % (out, node.pid)
        node.stop(timeout=300)
        sent = (n // conns) * conns
        with open(dump) as f:
            total = next(int(line.split()[1]) for line in f if line.startswith("summary:"))
        print("answers: %s" % statuses)
        print("instructions per request: %d (%d over %d requests)" % (total // sent, total, sent))
        print("dump: %s" % dump)
        return 0 if statuses == {202: sent} else 1
    finally:
        if node is not None and node.alive():
            node.kill9()
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
