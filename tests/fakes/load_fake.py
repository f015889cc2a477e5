#!/usr/bin/env python3
"""Closed-loop load generator for the vendor fake (standard library only).

Each worker process opens --connections/--procs keep-alive connections; every connection sends
one request, waits for the answer, and repeats until --seconds pass. Prints one JSON line:
completed requests/s, latency percentiles, status counts and the fake's own max_in_flight.

    python3 tests/fakes/load_fake.py --seconds 10 --connections 64 --procs 1
    python3 tests/fakes/load_fake.py --delay-ms 50 --connections 4000 --procs 1
Without --port a fake is started (and stopped) on a free port.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_client import VendorFake  # noqa: E402


def _request(route, n, tag):
    if route == "health":
        return b"GET /_fake/health HTTP/1.1\r\nHost: fake\r\n\r\n"
    if route == "slack":
        body = b'{"text":"load %d"}' % n
        path = b"/services/T0/B0/load"
        extra = b""
    elif route == "webhook":
        body = b'{"n":%d}' % n
        path = b"/hooks/load/things"
        extra = b"Idempotency-Key: ik_%s_%d\r\n" % (tag, n)
    else:
        body = (b'{"properties":{"hs_task_subject":"load","hs_timestamp":"1735689600000",'
                b'"intentd_idempotency_key":"ik_%s_%d"},"associations":[]}' % (tag, n))
        path = b"/crm/v3/objects/tasks"
        extra = b""
    return (b"POST %s HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n%s"
            b"Content-Length: %d\r\n\r\n%s" % (path, extra, len(body), body))


async def _conn(host, port, route, tag, deadline, out):
    reader, writer = await asyncio.open_connection(host, port)
    n = 0
    try:
        while time.monotonic() < deadline:
            n += 1
            t0 = time.monotonic()
            writer.write(_request(route, n, tag))
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            i = head.find(b"Content-Length: ")
            if i >= 0:
                j = head.index(b"\r\n", i)
                await reader.readexactly(int(head[i + 16:j]))
            out["lat"].append(time.monotonic() - t0)
            out["status"][status] = out["status"].get(status, 0) + 1
    except (ConnectionError, asyncio.IncompleteReadError) as e:
        out["errors"].append(repr(e))
    finally:
        writer.close()


async def _worker_main(host, port, route, conns, seconds, wid):
    out = {"lat": [], "status": {}, "errors": []}
    # connections are opened first, so the measured window holds no connect storm
    deadline = time.monotonic() + seconds + 3600
    tasks = []
    ready = []
    for c in range(conns):
        tasks.append(asyncio.ensure_future(
            _conn(host, port, route, b"%d_%d_%d" % (os.getpid(), wid, c), deadline, out)))
        ready.append(c)
        if c % 200 == 199:
            await asyncio.sleep(0)
    await asyncio.sleep(0.5)
    out["lat"].clear()
    out["status"].clear()
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    n = len(out["lat"])
    lat = sorted(out["lat"][:n])
    elapsed = time.monotonic() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"n": n, "elapsed": elapsed, "lat": lat, "status": out["status"],
            "errors": out["errors"][:5]}


def _worker(args):
    host, port, route, conns, seconds, wid = args
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return asyncio.run(_worker_main(host, port, route, conns, seconds, wid))


def _pct(sorted_vals, p):
    if not sorted_vals:
        return None
    return round(sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))] * 1000, 2)


def run(host, port, route, connections, seconds, procs):
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    with multiprocessing.Pool(procs) as pool:
        parts = pool.map(_worker, [(host, port, route, c, seconds, i)
                                   for i, c in enumerate(per)])
    total = sum(p["n"] for p in parts)
    elapsed = max(p["elapsed"] for p in parts)
    lat = sorted(x for p in parts for x in p["lat"])
    status = {}
    for p in parts:
        for k, v in p["status"].items():
            status[str(k)] = status.get(str(k), 0) + v
    return {"route": route, "connections": connections, "procs": procs,
            "seconds": round(elapsed, 2), "requests": total,
            "rps": round(total / elapsed, 1), "p50_ms": _pct(lat, 0.5),
            "p99_ms": _pct(lat, 0.99), "max_ms": _pct(lat, 1.0), "status": status,
            "errors": [e for p in parts for e in p["errors"]][:5]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="an already running fake (else one is started)")
    ap.add_argument("--route", default="hubspot", choices=("hubspot", "slack", "webhook",
                                                            "health"))
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--procs", type=int, default=1, help="load generator processes")
    ap.add_argument("--delay-ms", type=int, default=0, help="fake's added latency")
    args = ap.parse_args()
    fake = None
    if args.port is None:
        fake = VendorFake(host=args.host).start()
        port = fake.port
    else:
        port = args.port
        fake = VendorFake(host=args.host)
        fake.port = port
    try:
        fake.reset()
        fake.config(delay_ms=args.delay_ms)
        cpu0 = _fake_cpu(fake)
        result = run(args.host, port, args.route, args.connections, args.seconds, args.procs)
        cpu1 = _fake_cpu(fake)
        stats = fake.stats()
        result["delay_ms"] = args.delay_ms
        result["fake_max_in_flight"] = stats["max_in_flight"]
        if cpu0 is not None and cpu1 is not None:
            result["fake_cpu_s"] = round(cpu1 - cpu0, 2)
        fake.reset()
    finally:
        if fake is not None and fake.proc is not None:
            fake.stop()
    print(json.dumps(result))


def _fake_cpu(fake):
    if fake.proc is None:
        return None
    with open("/proc/%d/stat" % fake.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
