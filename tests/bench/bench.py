#!/usr/bin/python3
"""intentd benchmark (issue 2, "Benchmark"). Prints human progress on stderr and ONE JSON line
on stdout. Never fails CI: exits 0 whenever it could run (targets missed or not), 2 only when it
cannot run at all (no binary, PostgreSQL will not start, ...).

Phases (see tests/bench/README.md for the meaning of every JSON field):
  a  single-intent POST /v1/intents/s at 32 keep-alive connections (wrk, pre-signed requests,
     INTENTD_SCHEDULER=off: acceptance only)
  b  POST /v1/intents:batch intents/s (batches of BENCH_BATCH_SIZE, scheduler off)
  e  RSS of that scheduler-off intentd once BENCH_PENDING intents are pending
  c  end-to-end internal.create_task intents/s, first submit -> all SUCCEEDED (scheduler on,
     separate database), with CPU seconds of intentd / PostgreSQL / the load generator,
     PostgreSQL wait-event samples and (optional) pg_stat_statements top statements
  d  submit -> SUCCEEDED latency (ledger timestamps) at a fixed BENCH_D_RATE for BENCH_D_SECONDS
     (d_low: the same at BENCH_D_LOW_RATE, to show the unloaded floor)
  drain  a scheduler-on intentd started on the database holding the BENCH_PENDING backlog:
     drain rate and its peak RSS (the "64 MiB with 100,000 pending" figure while working)

Environment (all optional): BENCH_DURATION (a, s, 10), BENCH_CONNECTIONS (32), BENCH_WRK_THREADS
(2), BENCH_A_REQUESTS (pre-built requests for a, 120000), BENCH_BATCH_SIZE (1000),
BENCH_BATCHES (b, 40), BENCH_BATCH_CONC (4), BENCH_PENDING (100000), BENCH_E2E (20000),
BENCH_E2E_CONC (4), BENCH_E2E_TIMEOUT (600), BENCH_D_RATE (1000), BENCH_D_SECONDS (20),
BENCH_D_CONNECTIONS (32), BENCH_D_LOW_RATE (200; 0 skips) and BENCH_D_LOW_SECONDS (10): the same
latency measurement at a rate the engine sustains, BENCH_DRAIN (1), BENCH_DRAIN_TIMEOUT (600), BENCH_PGSS
(all|top|off, default all), BENCH_PHASES (default "a,b,e,c,d,d_low,drain"), BENCH_INTENTD_ENV
("INTENTD_DB_POOL=8,INTENTD_CLAIM_BATCH=512": extra intentd environment), BENCH_KEEP=1 (keep the
cluster directory), BENCH_PG_DB_SET ("plan_cache_mode=force_generic_plan": ALTER DATABASE SET
for experiments), INTENTD_BIN, PG_BIN.
"""

import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
import multiprocessing as mp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
from harness import PgCluster, Intentd, canonical, make_intent, sign  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
T0 = time.monotonic()


def log(msg, *args):
    if args:
        msg = msg % args
    sys.stderr.write("[bench %6.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def env_float(name, default):
    v = os.environ.get(name)
    return float(v) if v not in (None, "") else default


CFG = {
    "a_duration": env_float("BENCH_DURATION", 10.0),
    "a_connections": env_int("BENCH_CONNECTIONS", 32),
    "a_threads": env_int("BENCH_WRK_THREADS", 2),
    "a_requests": env_int("BENCH_A_REQUESTS", 120000),
    "batch_size": env_int("BENCH_BATCH_SIZE", 1000),
    "batches": env_int("BENCH_BATCHES", 40),
    "batch_conc": env_int("BENCH_BATCH_CONC", 4),
    "pending": env_int("BENCH_PENDING", 100000),
    "e2e": env_int("BENCH_E2E", 20000),
    "e2e_conc": env_int("BENCH_E2E_CONC", 4),
    "e2e_timeout": env_float("BENCH_E2E_TIMEOUT", 600.0),
    "d_rate": env_float("BENCH_D_RATE", 1000.0),
    "d_seconds": env_float("BENCH_D_SECONDS", 20.0),
    "d_connections": env_int("BENCH_D_CONNECTIONS", 32),
    "d_low_rate": env_float("BENCH_D_LOW_RATE", 200.0),
    "d_low_seconds": env_float("BENCH_D_LOW_SECONDS", 10.0),
    "drain": env_int("BENCH_DRAIN", 1),
    "drain_timeout": env_float("BENCH_DRAIN_TIMEOUT", 600.0),
    "pgss": os.environ.get("BENCH_PGSS", "all"),
    "phases": [p.strip() for p in os.environ.get("BENCH_PHASES", "a,b,e,c,d,d_low,drain").split(",")
               if p.strip()],
}
TARGETS = {"a_per_s": 10000, "c_per_s": 20000, "d_p50_ms": 5, "d_p99_ms": 25,
           "rss_pending_mib": 64}
RUN = uuid.uuid4().hex[:6]


def intentd_extra_env():
    out = {}
    for part in os.environ.get("BENCH_INTENTD_ENV", "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


# --------------------------------------------------------------------------------------------
# request bodies: one serialized template, ids substituted (cheap enough for 100,000s)


class Bodies:
    def __init__(self, tenant):
        self.tenant = tenant
        tpl = make_intent(tenant.tenant_id)
        tpl["action_intent_id"] = "@@ID@@"
        tpl["decision"]["decision_id"] = "d_@@ID@@"
        tpl["approval"]["approval_id"] = "ap_@@ID@@"
        self.parts = canonical(tpl).split(b"@@ID@@")

    def one(self, iid):
        return iid.encode().join(self.parts)

    def batch(self, ids):
        return b'{"intents":[' + b",".join(self.one(i) for i in ids) + b"]}"


def ids_for(tag, start, n):
    return ["%s%s_%07d" % (tag, RUN, i) for i in range(start, start + n)]


def raw_post(port, path, body, key):
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "Intent-Signature: %s\r\nContent-Length: %d\r\n\r\n" % (
                path, port, sign(body, key), len(body))).encode()
    return head + body


# --------------------------------------------------------------------------------------------
# CPU and memory accounting from /proc


def proc_stat(pid):
    """(utime+stime, cutime+cstime) in seconds, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    a = s.rsplit(")", 1)[1].split()
    # after ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    return (int(a[11]) + int(a[12])) / CLK, (int(a[13]) + int(a[14])) / CLK, int(a[1])


def proc_mem(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    k, v = line.split(":")
                    out[k] = round(int(v.split()[0]) / 1024.0, 1)  # kB -> MiB
    except OSError:
        pass
    return {"vm_hwm_mib": out.get("VmHWM"), "vm_rss_mib": out.get("VmRSS")}


def machine_jiffies():
    with open("/proc/stat") as f:
        a = [int(x) for x in f.readline().split()[1:]]
    idle = a[3] + a[4]
    return sum(a[:8]), idle


class CpuMeter:
    """CPU seconds burnt by intentd, by the PostgreSQL cluster (postmaster + live children +
    reaped children) and by this benchmark (self + reaped children such as wrk), plus the
    machine's busy fraction."""

    def __init__(self, cluster, intentd_pid):
        self.postmaster = int(open(os.path.join(cluster.data, "postmaster.pid")).readline())
        self.intentd_pid = intentd_pid

    def snap(self):
        pg = 0.0
        pm = proc_stat(self.postmaster)
        if pm:
            pg += pm[0] + pm[1]
        for e in os.listdir("/proc"):
            if e.isdigit():
                st = proc_stat(int(e))
                if st and st[2] == self.postmaster:
                    pg += st[0]  # a child's reaped children would be its own, never here
        it = proc_stat(self.intentd_pid)
        t = os.times()
        tot, idle = machine_jiffies()
        return {"wall": time.monotonic(), "intentd": it[0] if it else 0.0, "postgres": pg,
                "bench": t.user + t.system + t.children_user + t.children_system,
                "jt": tot, "ji": idle}

    @staticmethod
    def diff(a, b):
        wall = b["wall"] - a["wall"]
        jt = b["jt"] - a["jt"]
        return {"wall_s": round(wall, 2),
                "intentd_cpu_s": round(b["intentd"] - a["intentd"], 2),
                "postgres_cpu_s": round(b["postgres"] - a["postgres"], 2),
                "bench_client_cpu_s": round(b["bench"] - a["bench"], 2),
                "machine_busy_frac": round(1.0 - (b["ji"] - a["ji"]) / jt, 3) if jt else None}


# --------------------------------------------------------------------------------------------
# PostgreSQL-side observation: wait events, WAL and commit counters, pg_stat_statements


class WaitSampler(threading.Thread):
    """Samples pg_stat_activity of one database every interval: what its backends are doing."""

    def __init__(self, db, interval=0.1):
        super().__init__(daemon=True)
        self.db, self.interval = db, interval
        self.stop_ev = threading.Event()
        self.samples = 0
        self.counts = {}
        self.queries = {}

    def run(self):
        try:
            conn = self.db.connect()
        except Exception:  # noqa: BLE001
            return
        try:
            with conn.cursor() as cur:
                while not self.stop_ev.is_set():
                    cur.execute(
                        "SELECT state, coalesce(wait_event_type, 'CPU'), coalesce(wait_event, "
                        "'-'), left(regexp_replace(query, '\\s+', ' ', 'g'), 70) "
                        "FROM pg_stat_activity WHERE (datname = %s OR backend_type <> "
                        "'client backend') AND pid <> pg_backend_pid() "
                        "AND backend_type IN ('client backend', 'walwriter')",
                        (self.db.name,))
                    self.samples += 1
                    for state, wtype, wev, q in cur.fetchall():
                        if state == "idle" or (wtype == "Activity"):
                            continue
                        k = "%s:%s" % (wtype, wev)
                        self.counts[k] = self.counts.get(k, 0) + 1
                        if state == "active" or state is None:
                            self.queries[q] = self.queries.get(q, 0) + 1
                    self.stop_ev.wait(self.interval)
        finally:
            conn.close()

    def report(self):
        n = max(self.samples, 1)
        top = sorted(self.counts.items(), key=lambda kv: -kv[1])[:10]
        tq = sorted(self.queries.items(), key=lambda kv: -kv[1])[:5]
        return {"samples": self.samples,
                "avg_busy_backends": round(sum(self.counts.values()) / n, 2),
                "wait_events_avg": {k: round(v / n, 2) for k, v in top},
                "active_queries_avg": {k: round(v / n, 2) for k, v in tq}}


def db_counters(db):
    r = db.query("SELECT xact_commit, tup_inserted, tup_updated, blks_hit + blks_read "
                 "FROM pg_stat_database WHERE datname = %s", (db.name,))[0]
    w = db.query("SELECT wal_records, wal_fpi, wal_write, wal_sync FROM pg_stat_wal")[0]
    x = db.query("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0'), "
                 "pg_snapshot_xmax(pg_current_snapshot())::text::bigint")[0]
    # wal_bytes and write_xids are exact; the pg_stat_* counters are flushed by each backend
    # at most once a second (idle: within 10 s), so over short phases they lag
    t = db.query("SELECT relname, coalesce(seq_scan, 0), coalesce(seq_tup_read, 0), "
                 "coalesce(idx_scan, 0), n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                 "WHERE schemaname = 'intentd' AND relname IN ('intents', 'ledger')")
    tabs = {}
    for rel, ss, st, ix, up, hot in t:
        tabs.update({rel + "_seq_scan": ss, rel + "_seq_tup_read": st, rel + "_idx_scan": ix})
        if rel == "intents":
            # updates that added no index entries (heap-only tuples)
            tabs.update(intents_upd=up, intents_hot_upd=hot)
    return {"wal_bytes": int(x[0]), "write_xids": int(x[1]), **tabs, "xact_commit": r[0],
            "tup_inserted": r[1], "tup_updated": r[2], "wal_records": w[0], "wal_fpi": w[1],
            "wal_write": w[2], "wal_sync": w[3]}


def counters_diff(a, b, per=None):
    d = {k: b[k] - a[k] for k in a}
    if per:
        d["per_intent"] = {k: round(v / per, 2) for k, v in d.items()}
    return d


def db_settings(db):
    """BENCH_PG_DB_SET="plan_cache_mode=force_generic_plan,..." -> ALTER DATABASE ... SET, for
    experiments (applies to intentd's connections, opened after this)."""
    for part in os.environ.get("BENCH_PG_DB_SET", "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            db.query('ALTER DATABASE "%s" SET %s = %s' % (db.name, k.strip(), v.strip()))


def pgss_enable(db):
    db_settings(db)
    if CFG["pgss"] == "off":
        return
    db.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def pgss_reset(db):
    if CFG["pgss"] != "off":
        db.query("SELECT pg_stat_statements_reset()")


def pgss_top(db, n=10):
    if CFG["pgss"] == "off":
        return None
    rows = db.query(
        "SELECT left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110), s.calls, "
        "round(s.total_exec_time::numeric, 1), round(s.mean_exec_time::numeric, 3), s.rows, "
        "s.toplevel FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
        "WHERE d.datname = %s ORDER BY s.total_exec_time DESC LIMIT %s", (db.name, n))
    return [{"query": q, "calls": c, "total_ms": float(t), "mean_ms": float(m), "rows": r,
             "toplevel": tl} for q, c, t, m, r, tl in rows]


# --------------------------------------------------------------------------------------------
# load generators


def run_wrk(port, reqs_per_thread_files_prefix, duration, connections, threads):
    lua = os.path.join(HERE, "wrk_cycle.lua")
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % max(1, int(round(duration))),
           "--latency", "--timeout", "30s", "-s", lua, "http://127.0.0.1:%d/v1/intents" % port]
    env = dict(os.environ, BENCH_WRK_PREFIX=reqs_per_thread_files_prefix)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                       timeout=duration + 120)
    out = p.stdout.decode("utf-8", "replace")
    res = {"cmd": " ".join(cmd[:-2] + ["wrk_cycle.lua", cmd[-1]]), "rc": p.returncode}
    m = re.search(r"([\d.]+) requests in ([\d.]+)(m?s|m)", out)
    if m:
        res["requests"] = int(m.group(1))
        dur = float(m.group(2))
        res["duration_s"] = dur / 1000.0 if m.group(3) == "ms" else (
            dur * 60 if m.group(3) == "m" else dur)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["requests_per_s"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        res["socket_errors"] = m.group(1).strip()
    for pct in ("50", "90", "99"):
        m = re.search(r"\s%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)" % pct, out)
        if m:
            v = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            res["latency_p%s_ms" % pct] = round(v, 2)
    if p.returncode != 0 or "requests_per_s" not in res:
        res["output"] = out[-1500:]
    return res


def post_batches(port, bodies_iter, key, conc):
    """Sends batch bodies over conc keep-alive connections (threads). bodies_iter yields bytes.
    Returns (elapsed, {item status: count}, http error list)."""
    lock = threading.Lock()
    it = iter(bodies_iter)
    statuses, errors = {}, []

    def worker():
        c = harness.Client("127.0.0.1", port, timeout=300)
        try:
            while True:
                with lock:
                    body = next(it, None)
                if body is None:
                    return
                r = c.batch(body, key=key)
                if r.status != 200:
                    with lock:
                        errors.append((r.status, r.body[:200]))
                    continue
                loc = {}
                for res in json.loads(r.body)["results"]:
                    loc[res["status"]] = loc.get(res["status"], 0) + 1
                with lock:
                    for k, v in loc.items():
                        statuses[k] = statuses.get(k, 0) + v
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append(("exception", repr(e)))
        finally:
            c.close()

    ths = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    t = time.monotonic()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return time.monotonic() - t, statuses, errors


def _paced_worker(port, reqs, rate, start_at, nconn, q):
    res = {"lat": [], "statuses": {}, "max_lag_s": 0.0, "end": time.time(), "error": None}
    try:
        _paced(port, reqs, rate, start_at, nconn, res)
    except Exception as e:  # noqa: BLE001
        res["error"] = repr(e)[:300]
    res["end"] = time.time()
    q.put(res)


def _paced(port, reqs, rate, start_at, nconn, res):
    """Open-loop sender: request k goes out at start_at + k/rate on a free keep-alive
    connection. Records per-request latency (from when it was due) and status counts; gives up
    (error recorded) if the server goes away."""
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(nconn):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"sock": s, "buf": b"", "busy": None}
        conns.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    free = list(conns)
    lat, statuses = res["lat"], res["statuses"]
    k, n, done, lag = 0, len(reqs), 0, 0.0
    while time.time() < start_at:
        time.sleep(min(0.01, start_at - time.time()))
    while done < n:
        res["max_lag_s"] = lag
        now = time.time()
        while k < n and free and start_at + k / rate <= now:
            st = free.pop()
            due = start_at + k / rate
            lag = max(lag, now - due)
            st["busy"] = (k, due)
            st["sock"].sendall(reqs[k])  # small; the kernel buffer takes it whole
            k += 1
        timeout = None
        if k < n:
            timeout = max(0.0, start_at + k / rate - time.time()) if free else 0.05
        for key, _ in sel.select(timeout):
            st = key.data
            try:
                chunk = st["sock"].recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise RuntimeError("server closed a connection")
            st["buf"] += chunk
            while True:
                head, sep, rest = st["buf"].partition(b"\r\n\r\n")
                if not sep:
                    break
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                cl = int(m.group(1)) if m else 0
                if len(rest) < cl:
                    break
                st["buf"] = rest[cl:]
                code = int(head.split(b" ", 2)[1])
                statuses[code] = statuses.get(code, 0) + 1
                _, due = st["busy"]
                lat.append(time.time() - due)
                st["busy"] = None
                free.append(st)
                done += 1
    res["max_lag_s"] = lag
    for st in conns:
        st["sock"].close()


def paced_send(port, reqs, rate, nconn, procs=1):
    q = mp.Queue()
    start_at = time.time() + 0.5
    per = [reqs[i::procs] for i in range(procs)]
    ps = [mp.Process(target=_paced_worker, args=(port, per[i], rate / procs,
                                                 start_at + i / rate, max(1, nconn // procs), q))
          for i in range(procs)]
    for p in ps:
        p.start()
    res = []
    deadline = time.monotonic() + len(reqs) / rate + 120
    for _ in ps:
        try:
            res.append(q.get(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:  # noqa: BLE001 - queue.Empty: a worker died without reporting
            res.append({"lat": [], "statuses": {}, "max_lag_s": 0.0, "end": time.time(),
                        "error": "worker did not report"})
    for p in ps:
        p.join(timeout=10)
        if p.is_alive():
            p.terminate()
    lat = sorted(x for r in res for x in r["lat"])
    st = {}
    for r in res:
        for k, v in r["statuses"].items():
            st[k] = st.get(k, 0) + v
    end = max(r["end"] for r in res)
    return {"sent": len(reqs), "elapsed_s": round(end - start_at, 2),
            "achieved_rate": round(len(reqs) / (end - start_at), 1) if end > start_at else None,
            "statuses": {str(k): v for k, v in st.items()},
            "max_send_lag_ms": round(max(r["max_lag_s"] for r in res) * 1000, 1),
            "http_p50_ms": round(pct(lat, 0.5) * 1000, 2) if lat else None,
            "http_p99_ms": round(pct(lat, 0.99) * 1000, 2) if lat else None,
            "errors": [r["error"] for r in res if r.get("error")]}


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p * (len(sorted_vals) - 1)))))
    return sorted_vals[i]


# --------------------------------------------------------------------------------------------
# phases


def tenant_counts(db, tenant_id):
    r = db.query("SELECT count(*) FILTER (WHERE state = 'SUCCEEDED'), count(*) FILTER (WHERE "
                 "state IN ('FAILED', 'EXPIRED', 'CANCELLED')), count(*) FROM intentd.intents "
                 "WHERE tenant_id = %s", (tenant_id,))[0]
    return {"succeeded": r[0], "other_terminal": r[1], "total": r[2]}


class TerminalProgress:
    """A tenant's terminal transitions, read from the ledger rows newer than the last poll
    (through the partial index ledger_signals), so polling ten times a second costs the measured
    database next to nothing. Counting the intents table on every poll did not: about 28 ms of
    PostgreSQL CPU per poll at 20,000 intents, several percent of the machine being measured.
    Rows commit in seq order (the ledger lock is held until COMMIT), so no row below the highest
    seq seen can still appear. done_epoch is the ledger's own timestamp of the last one."""

    def __init__(self, cur, tenant_id):
        self.cur, self.tenant_id = cur, tenant_id
        self.seq, self.ok, self.bad, self.done_epoch = 0, 0, 0, None

    def poll(self):
        self.cur.execute(
            "SELECT count(*) FILTER (WHERE to_state = 'SUCCEEDED'), "
            "count(*) FILTER (WHERE to_state <> 'SUCCEEDED'), max(seq), "
            "extract(epoch FROM max(created_at))::float8 FROM intentd.ledger "
            "WHERE tenant_id = %s AND seq > %s AND event = 'intent.transition' "
            "AND to_state IN ('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED')",
            (self.tenant_id, self.seq))
        ok, bad, seq, at = self.cur.fetchone()
        if seq is not None:
            self.ok, self.bad, self.seq, self.done_epoch = self.ok + ok, self.bad + bad, seq, at
        return self.ok, self.bad


def phase_a(node, db, tenant, workdir):
    n_threads = CFG["a_threads"]
    per = CFG["a_requests"] // n_threads
    bodies = Bodies(tenant)
    log("(a) pre-building and signing %d single-intent requests", per * n_threads)
    prefix = os.path.join(workdir, "wrk_a_")
    for t in range(n_threads):
        with open(prefix + "%d.bin" % t, "wb") as f:
            for iid in ids_for("a%d_" % t, 0, per):
                f.write(raw_post(node.port, "/v1/intents", bodies.one(iid), tenant.key))
                f.write(b"\0")
    before = tenant_counts(db, tenant.tenant_id)["total"]
    pgss_reset(db)
    meter = CpuMeter(db.cluster, node.pid)
    sampler = WaitSampler(db)
    c0, s0 = db_counters(db), meter.snap()
    sampler.start()
    log("(a) wrk: %d connections, %d threads, %.0f s", CFG["a_connections"], n_threads,
        CFG["a_duration"])
    w = run_wrk(node.port, prefix, CFG["a_duration"], CFG["a_connections"], n_threads)
    s1 = meter.snap()
    sampler.stop_ev.set()
    sampler.join()
    after = tenant_counts(db, tenant.tenant_id)["total"]
    new = after - before
    dur = w.get("duration_s") or CFG["a_duration"]
    out = {"intents_per_s": round(new / dur, 1), "new_intents": new, "wrk": w,
           "exhausted_prebuilt": w.get("requests", 0) > per * n_threads,
           "cpu": CpuMeter.diff(s0, s1), "db": counters_diff(c0, db_counters(db), per=new or None),
           "pg_waits": sampler.report(), "pg_stat_statements_top": pgss_top(db)}
    log("(a) %.0f intents/s accepted (%d new rows; wrk %s req/s, p50 %s ms, p99 %s ms)",
        out["intents_per_s"], new, w.get("requests_per_s"), w.get("latency_p50_ms"),
        w.get("latency_p99_ms"))
    for t in range(n_threads):
        os.unlink(prefix + "%d.bin" % t)
    return out


def phase_b(node, db, tenant):
    size, nb = CFG["batch_size"], CFG["batches"]
    bodies = Bodies(tenant)
    log("(b) pre-building %d batches of %d", nb, size)
    batches = [bodies.batch(ids_for("b_", i * size, size)) for i in range(nb)]
    if len(batches[0]) > 1 << 20:
        log("(b) warning: a batch body is %d bytes (> 1 MiB): expect 413", len(batches[0]))
    meter = CpuMeter(db.cluster, node.pid)
    c0, s0 = db_counters(db), meter.snap()
    elapsed, statuses, errors = post_batches(node.port, batches, tenant.key, CFG["batch_conc"])
    s1 = meter.snap()
    accepted = statuses.get(202, 0)
    out = {"intents_per_s": round(accepted / elapsed, 1), "accepted": accepted,
           "batch_size": size, "batches": nb, "connections": CFG["batch_conc"],
           "batch_body_bytes": len(batches[0]), "elapsed_s": round(elapsed, 2),
           "item_statuses": {str(k): v for k, v in statuses.items()}, "http_errors": errors[:5],
           "cpu": CpuMeter.diff(s0, s1),
           "db": counters_diff(c0, db_counters(db), per=accepted or None)}
    log("(b) %.0f intents/s (%d accepted in %.2f s)", out["intents_per_s"], accepted, elapsed)
    return out


def phase_pending(node, db, tenant):
    have = db.scalar("SELECT count(*) FROM intentd.intents WHERE state = 'PENDING'")
    need = CFG["pending"] - have
    size = CFG["batch_size"]
    if need > 0:
        log("(e) topping up: %d pending, submitting %d more", have, need)
        bodies = Bodies(tenant)

        def gen():
            i = 0
            while i < need:
                n = min(size, need - i)
                yield bodies.batch(ids_for("e_", i, n))
                i += n

        _, _, errors = post_batches(node.port, gen(), tenant.key, 2)
        if errors:
            log("(e) errors while topping up: %r", errors[:3])
    pending = db.scalar("SELECT count(*) FROM intentd.intents WHERE state = 'PENDING'")
    mem = proc_mem(node.pid)
    out = dict(mem, pending=pending, scheduler="off")
    log("(e) %d pending: intentd VmRSS %s MiB, VmHWM %s MiB", pending, mem["vm_rss_mib"],
        mem["vm_hwm_mib"])
    return out


def phase_c(node, db, tenant):
    n, size = CFG["e2e"], CFG["batch_size"]
    bodies = Bodies(tenant)
    log("(c) pre-building %d intents in batches of %d", n, size)
    raw = [bodies.batch(ids_for("c_", i, min(size, n - i))) for i in range(0, n, size)]
    meter = CpuMeter(db.cluster, node.pid)
    sampler = WaitSampler(db)
    pgss_reset(db)
    c0 = db_counters(db)
    series = []
    submit_done = {}
    stop = threading.Event()

    def submit():
        el, st, err = post_batches(node.port, raw, tenant.key, CFG["e2e_conc"])
        submit_done.update(elapsed=el, statuses=st, errors=err, at=time.monotonic())

    s0 = meter.snap()
    t0 = time.monotonic()
    t0_epoch = time.time()
    sampler.start()
    th = threading.Thread(target=submit, daemon=True)
    th.start()
    conn = db.connect()
    done_at, ok, bad = None, 0, 0
    try:
        with conn.cursor() as cur:
            progress = TerminalProgress(cur, tenant.tenant_id)
            while True:
                ok, bad = progress.poll()
                now = time.monotonic()
                series.append((round(now - t0, 2), ok))
                if ok + bad >= n:
                    # the last intent's own commit, not when this poll noticed it
                    done_at = t0 + (progress.done_epoch - t0_epoch)
                    break
                if now - t0 > CFG["e2e_timeout"]:
                    log("(c) timed out after %.0f s with %d/%d succeeded", now - t0, ok, n)
                    break
                if len(series) % 20 == 0:
                    log("(c) %.1f s: %d succeeded", now - t0, ok)
                time.sleep(0.1)
    finally:
        conn.close()
    s1 = meter.snap()
    sampler.stop_ev.set()
    sampler.join()
    stop.set()
    th.join(timeout=60)
    end = done_at or time.monotonic()
    elapsed = end - t0
    # steady-state rate: succeeded between 20% and 80% of n
    lo = next((t for t, v in series if v >= 0.2 * n), None)
    hi = next((t for t, v in series if v >= 0.8 * n), None)
    steady = round(0.6 * n / (hi - lo), 1) if lo is not None and hi and hi > lo else None
    sub_el = submit_done.get("elapsed")
    out = {"intents_per_s": round(ok / elapsed, 1), "intents": n, "succeeded": ok,
           "other_terminal": bad, "elapsed_s": round(elapsed, 2), "completed": done_at is not None,
           "steady_20_80_per_s": steady,
           "submit_elapsed_s": round(sub_el, 2) if sub_el else None,
           "submit_per_s": round(n / sub_el, 1) if sub_el else None,
           "submit_statuses": {str(k): v for k, v in submit_done.get("statuses", {}).items()},
           "submit_errors": submit_done.get("errors", [])[:5],
           "cpu": CpuMeter.diff(s0, s1),
           "db": counters_diff(c0, db_counters(db), per=ok or None),
           "pg_waits": sampler.report(), "pg_stat_statements_top": pgss_top(db),
           "succeeded_series": series[::max(1, len(series) // 40)]}
    cpu = out["cpu"]
    log("(c) %d/%d SUCCEEDED in %.2f s = %.0f/s (submission alone %s/s); CPU s: intentd %.1f, "
        "postgres %.1f, bench %.1f over %.1f s wall", ok, n, elapsed, out["intents_per_s"],
        out["submit_per_s"], cpu["intentd_cpu_s"], cpu["postgres_cpu_s"],
        cpu["bench_client_cpu_s"], cpu["wall_s"])
    return out


def phase_d(node, db, tenant, rate=None, secs=None, tag="d"):
    rate = rate or CFG["d_rate"]
    secs = secs or CFG["d_seconds"]
    n = int(rate * secs)
    bodies = Bodies(tenant)
    log("(%s) pre-building and signing %d single requests for %.0f/s over %.0f s", tag, n, rate,
        secs)
    reqs = [raw_post(node.port, "/v1/intents", bodies.one(iid), tenant.key)
            for iid in ids_for("d_", 0, n)]
    meter = CpuMeter(db.cluster, node.pid)
    pgss_reset(db)
    sampler = WaitSampler(db, interval=0.25)
    sampler.start()
    s0 = meter.snap()
    sent = paced_send(node.port, reqs, rate, CFG["d_connections"])
    s1 = meter.snap()
    sampler.stop_ev.set()
    sampler.join()
    log("(%s) sent %d at %.0f/s (max send lag %.1f ms), HTTP p50 %s ms p99 %s ms; waiting for "
        "SUCCEEDED", tag, n, sent["achieved_rate"] or 0, sent["max_send_lag_ms"], sent["http_p50_ms"],
        sent["http_p99_ms"])
    try:
        harness.wait_until(lambda: tenant_counts(db, tenant.tenant_id)["succeeded"] +
                           tenant_counts(db, tenant.tenant_id)["other_terminal"] >= n,
                           120, interval=0.2, what="(d) intents to finish")
    except harness.HarnessError as e:
        log("(%s) %s", tag, e)
    rows = db.query(
        "WITH s AS (SELECT action_intent_id, min(created_at) t FROM intentd.ledger "
        "  WHERE tenant_id = %s AND event = 'intent.submitted' GROUP BY 1), "
        "f AS (SELECT action_intent_id, min(created_at) t FROM intentd.ledger "
        "  WHERE tenant_id = %s AND event = 'intent.transition' AND to_state = 'SUCCEEDED' "
        "  GROUP BY 1), "
        "l AS (SELECT extract(epoch FROM f.t - s.t) * 1000 AS ms FROM s JOIN f USING "
        "(action_intent_id)) "
        "SELECT count(*), percentile_cont(ARRAY[0.5, 0.9, 0.99, 0.999]) WITHIN GROUP "
        "(ORDER BY ms), max(ms), avg(ms) FROM l", (tenant.tenant_id, tenant.tenant_id))
    cnt, pcts, mx, avg = rows[0]
    pcts = pcts or [None] * 4
    r2 = lambda v: round(float(v), 2) if v is not None else None  # noqa: E731
    out = {"rate": rate, "seconds": secs, "measured": cnt, "p50_ms": r2(pcts[0]),
           "p90_ms": r2(pcts[1]), "p99_ms": r2(pcts[2]), "p999_ms": r2(pcts[3]),
           "max_ms": r2(mx), "mean_ms": r2(avg), "client": sent, "cpu": CpuMeter.diff(s0, s1),
           "saturated": bool(sent["achieved_rate"] and sent["achieved_rate"] < 0.95 * rate),
           "pg_waits": sampler.report(), "pg_stat_statements_top": pgss_top(db)}
    log("(%s) submit->SUCCEEDED over %d intents: p50 %s ms, p99 %s ms, max %s ms", tag, cnt,
        out["p50_ms"], out["p99_ms"], out["max_ms"])
    return out


def phase_drain(node, db):
    meter = CpuMeter(db.cluster, node.pid)
    pgss_reset(db)
    sampler = WaitSampler(db, interval=0.25)
    sampler.start()
    c0 = db_counters(db)
    s0 = meter.snap()
    t0 = time.monotonic()
    q = ("SELECT count(*) FROM intentd.intents WHERE state IN ('PENDING', 'EXECUTING', "
         "'COMPENSATING')")
    start_pending = db.scalar(q)
    log("(drain) %d not yet terminal; scheduler on", start_pending)
    left, hwm, shown = start_pending, 0.0, t0
    while left > 0 and time.monotonic() - t0 < CFG["drain_timeout"]:
        time.sleep(0.5)
        left = db.scalar(q)
        hwm = max(hwm, proc_mem(node.pid)["vm_hwm_mib"] or 0)
        if time.monotonic() - shown >= 10:
            shown = time.monotonic()
            log("(drain) %.0f s: %d left, intentd VmHWM %.1f MiB", time.monotonic() - t0, left,
                hwm)
    el = time.monotonic() - t0
    s1 = meter.snap()
    sampler.stop_ev.set()
    sampler.join()
    mem = proc_mem(node.pid)
    done = start_pending - left
    out = dict(mem, start_pending=start_pending, left=left, elapsed_s=round(el, 1),
               intents_per_s=round(done / el, 1) if el else None, cpu=CpuMeter.diff(s0, s1),
               db=counters_diff(c0, db_counters(db), per=done or None),
               pg_waits=sampler.report(), pg_stat_statements_top=pgss_top(db))
    log("(drain) %d done in %.1f s = %.0f/s; intentd VmHWM %s MiB", done, el,
        out["intents_per_s"] or 0, mem["vm_hwm_mib"])
    return out


# --------------------------------------------------------------------------------------------


def start_node(db, scheduler, results, workdir):
    env = {"INTENTD_LOG_LEVEL": "warn", "INTENTD_SCHEDULER": "on" if scheduler else "off"}
    env.update(intentd_extra_env())
    home = tempfile.mkdtemp(prefix="home-", dir=workdir)
    node = Intentd(db, env=env, home=home)
    node.start()
    results.setdefault("intentd_env", env)
    return node


def guarded(results, name, fn, node, *args):
    """Runs one phase; a failure is recorded in the JSON, never raised. If intentd died during
    the phase, its exit status and log tail go in too (and it is started again)."""
    try:
        results[name] = fn(node, *args)
    except Exception as e:  # noqa: BLE001
        log("phase %s failed: %s\n%s", name, e, traceback.format_exc())
        results[name] = {"error": repr(e)[:500]}
    if not node.alive():
        rc = node.proc.poll() if node.proc else None
        tail = node.log_tail(30)
        log("intentd died during %s (exit %s); log tail:\n%s", name, rc, tail)
        results[name]["intentd_died"] = {"exit": rc, "log_tail": tail[-3000:]}
        node.start()
    return results[name]


def summary(r):
    g = lambda *ks: _dig(r, ks)  # noqa: E731
    return {
        "a_post_per_s": g("a", "intents_per_s"),
        "b_batch_per_s": g("b", "intents_per_s"),
        "c_e2e_per_s": g("c", "intents_per_s"),
        "d_p50_ms": g("d", "p50_ms"),
        "d_p99_ms": g("d", "p99_ms"),
        "d_achieved_rate": g("d", "client", "achieved_rate"),
        "d_saturated": g("d", "saturated"),
        "d_low_rate": g("d_low", "rate"),
        "d_low_p50_ms": g("d_low", "p50_ms"),
        "d_low_p99_ms": g("d_low", "p99_ms"),
        "e_rss_pending_mib": g("e", "vm_rss_mib"),
        "e_hwm_pending_mib": g("e", "vm_hwm_mib"),
        "e_hwm_end_mib": g("end_rss", "vm_hwm_mib"),
        "drain_per_s": g("drain", "intents_per_s"),
        "drain_hwm_mib": g("drain", "vm_hwm_mib"),
        "c_intentd_cpu_s": g("c", "cpu", "intentd_cpu_s"),
        "c_postgres_cpu_s": g("c", "cpu", "postgres_cpu_s"),
        "c_bench_cpu_s": g("c", "cpu", "bench_client_cpu_s"),
        "c_wall_s": g("c", "cpu", "wall_s"),
    }


def _dig(d, ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def start_durable_cluster(results, extra=None):
    """A throwaway cluster with default durability (fsync, synchronous_commit and
    full_page_writes on), started; or None with results["error"] set and printed."""
    conf = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on",
            "max_wal_size": "1GB"}
    conf.update(extra or {})
    cluster = PgCluster(extra_conf=conf)
    try:
        cluster.init().start()
    except Exception as e:  # noqa: BLE001
        results["error"] = "cannot start PostgreSQL: %s" % (str(e)[:1000],)
        print(json.dumps(results))
        return None
    return cluster


def main():
    results = {"bench": "intentd issue 2", "run": RUN, "config": CFG, "targets": TARGETS,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": {"cpus": os.cpu_count()}}
    if shutil.which("wrk") is None and "a" in CFG["phases"]:
        log("wrk not found (apt-get install wrk): skipping (a)")
        CFG["phases"].remove("a")
    binary = harness.intentd_binary()
    if not os.access(binary, os.X_OK):
        results["error"] = "intentd binary not found at %s" % binary
        print(json.dumps(results))
        return 2
    results["binary"] = binary
    extra = {}
    if CFG["pgss"] != "off":
        extra["shared_preload_libraries"] = "'pg_stat_statements'"
        extra["pg_stat_statements.track"] = CFG["pgss"]
    cluster = start_durable_cluster(results, extra)
    if cluster is None:
        return 2
    nodes = []
    workdir = tempfile.mkdtemp(prefix="intentd-bench-")
    try:
        results["postgres"] = {
            k: _show(cluster, k) for k in ("server_version", "fsync", "synchronous_commit", "full_page_writes",
                      "wal_sync_method", "shared_buffers", "max_wal_size")}
        log("PostgreSQL up (fsync=%s, synchronous_commit=%s) in %s", results["postgres"]["fsync"],
            results["postgres"]["synchronous_commit"], cluster.base)
        ph = CFG["phases"]
        db1 = cluster.create_database()
        pgss_enable(db1)
        if any(p in ph for p in ("a", "b", "e")):
            node_a = start_node(db1, False, results, workdir)
            nodes.append(node_a)
            ta = node_a.create_tenant()
            if "a" in ph:
                guarded(results, "a", phase_a, node_a, db1, ta, workdir)
            if "b" in ph:
                guarded(results, "b", phase_b, node_a, db1, ta)
            if "e" in ph:
                guarded(results, "e", phase_pending, node_a, db1, ta)
            node_a.stop()
        if any(p in ph for p in ("c", "d")):
            db2 = cluster.create_database()
            pgss_enable(db2)
            node_b = start_node(db2, True, results, workdir)
            nodes.append(node_b)
            if "c" in ph:
                guarded(results, "c", phase_c, node_b, db2, node_b.create_tenant())
            if "d" in ph:
                guarded(results, "d", phase_d, node_b, db2, node_b.create_tenant())
            if "d_low" in ph and CFG["d_low_rate"] > 0:
                guarded(results, "d_low", phase_d, node_b, db2, node_b.create_tenant(),
                        CFG["d_low_rate"], CFG["d_low_seconds"], "d_low")
            results["end_rss"] = dict(proc_mem(node_b.pid), note="scheduler-on node after c+d")
            node_b.stop()
        if "drain" in ph and CFG["drain"]:
            node_c = start_node(db1, True, results, workdir)
            nodes.append(node_c)
            guarded(results, "drain", phase_drain, node_c, db1)
            node_c.stop()
    except Exception as e:  # noqa: BLE001
        log("bench aborted: %s\n%s", e, traceback.format_exc())
        results["error"] = repr(e)[:1000]
    finally:
        for n in nodes:
            try:
                n.cleanup()
            except Exception:  # noqa: BLE001
                pass
            if os.environ.get("BENCH_KEEP") != "1":
                n.remove_home()
        if os.environ.get("BENCH_KEEP") == "1":
            log("kept %s", cluster.base)
            cluster.stop()
        else:
            cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    results["summary"] = summary(results)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log("summary: %s", json.dumps(results["summary"]))
    print(json.dumps(results, default=str))
    return 0


def _show(cluster, name):
    conn = cluster.connect("postgres")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW %s" % name)
            return cur.fetchone()[0]
    finally:
        conn.close()


if __name__ == "__main__":
    try:
        rc = main()
    except Exception as e:  # noqa: BLE001 - the bench must not fail CI once it could start
        traceback.print_exc()
        print(json.dumps({"error": repr(e)[:1000]}))
        rc = 0
    sys.exit(rc)
