#!/usr/bin/python3
"""Connector benchmark (issue 3, "Benchmark"): end-to-end intents/s and submit -> SUCCEEDED
p50/p99 for crm.create_task against the vendor fake (tests/fakes) answering at 0 ms and at 50 ms,
every ledger row written, PostgreSQL durable (fsync, synchronous_commit, full_page_writes on).
Prints progress on stderr and ONE JSON line on stdout; exits 0 whenever it could run (figures are
reported, never asserted), 2 when it cannot run at all.

Environment (optional): CB_INTENTS (per phase, 20000), CB_BATCH (1000), CB_CONC (4 submitting
connections), CB_DELAYS ("0,50": fake response times in ms), CB_TIMEOUT (600 s per phase),
CB_PACED_RATE (500/s) and CB_PACED_SECONDS (10): single submissions at a steady rate, for the
latency of an engine that is not saturated (0 skips),
BENCH_INTENTD_ENV (extra intentd environment, as for bench.py), INTENTD_BIN. BENCH_PGSS (top|all)
adds each burst phase's ten costliest statements from pg_stat_statements; unset, it stays off so the
figures compare with runs made without it. CB_STATS_WAIT (0 s): a pause before the database counters
are read at the end of a burst, so that the pg_stat_* ones (heap-only updates and the like) are
complete; wal_bytes is exact either way.
"""

import json
import os
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import bench  # noqa: E402
from bench import CpuMeter, TerminalProgress, log, post_batches  # noqa: E402
from connector_env import VendorFake, configure, crm_task_params  # noqa: E402
from harness import Intentd, canonical, make_intent  # noqa: E402

N = int(os.environ.get("CB_INTENTS", "20000"))
BATCH = int(os.environ.get("CB_BATCH", "1000"))
CONC = int(os.environ.get("CB_CONC", "4"))
DELAYS = [int(x) for x in os.environ.get("CB_DELAYS", "0,50").split(",") if x.strip()]
TIMEOUT = float(os.environ.get("CB_TIMEOUT", "600"))
PACED_RATE = float(os.environ.get("CB_PACED_RATE", "500"))
PACED_SECONDS = float(os.environ.get("CB_PACED_SECONDS", "10"))
RUN = "%x" % int(time.time())
STATS_WAIT = float(os.environ.get("CB_STATS_WAIT", "0"))
PGSS = os.environ.get("BENCH_PGSS", "off")
bench.CFG["pgss"] = PGSS


def template(tenant):
    tpl = make_intent(tenant.tenant_id, action_type="crm.create_task",
                      parameters=crm_task_params())
    tpl["action_intent_id"] = "@@ID@@"
    tpl["decision"]["decision_id"] = "d_@@ID@@"
    tpl["approval"]["approval_id"] = "ap_@@ID@@"
    return canonical(tpl).split(b"@@ID@@")


def bodies(tenant, tag):
    parts = template(tenant)
    ids = ["%s%s_%07d" % (tag, RUN, i) for i in range(N)]
    return [b'{"intents":[' + b",".join(i.encode().join(parts) for i in ids[k:k + BATCH]) + b"]}"
            for k in range(0, N, BATCH)]


def latency(db, tenant_id):
    """submit -> SUCCEEDED from the ledger's own timestamps (ms)."""
    row = db.query(
        "WITH s AS (SELECT action_intent_id, created_at FROM intentd.ledger "
        "           WHERE tenant_id = %s AND event = 'intent.submitted'), "
        "     f AS (SELECT action_intent_id, created_at FROM intentd.ledger "
        "           WHERE tenant_id = %s AND event = 'intent.transition' "
        "             AND to_state = 'SUCCEEDED') "
        "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY "
        "       extract(epoch FROM f.created_at - s.created_at) * 1000) "
        "FROM s JOIN f USING (action_intent_id)", (tenant_id, tenant_id))[0][0]
    return [round(v, 1) for v in row] if row else None


def fresh_tenant(node, fake, delay_ms):
    fake.reset()
    fake.config(delay_ms=delay_ms, tokens={"hubspot": ["crm-token"]}, request_log_max=100)
    tenant = node.create_tenant()
    c = node.client(token=tenant.oncall)
    configure(c, fake, only=("crm",), limits={"timeout_seconds": 30, "concurrency": 10000})
    c.close()
    return tenant


def paced(node, db, fake, delay_ms):
    """Single POSTs at a steady rate: latency without a backlog."""
    tenant = fresh_tenant(node, fake, delay_ms)
    parts = template(tenant)
    n = int(PACED_RATE * PACED_SECONDS)
    reqs = [bench.raw_post(node.port, "/v1/intents",
                           ("p%d_%s_%07d" % (delay_ms, RUN, i)).encode().join(parts), tenant.key)
            for i in range(n)]
    sent = bench.paced_send(node.port, reqs, PACED_RATE, 32)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline and db.scalar(
            "SELECT count(*) FROM intentd.intents WHERE tenant_id = %s AND state IN "
            "('SUCCEEDED', 'FAILED', 'EXPIRED', 'CANCELLED')", (tenant.tenant_id,)) < n:
        time.sleep(0.2)
    out = {"fake_delay_ms": delay_ms, "rate": PACED_RATE, "intents": n,
           "achieved_rate": sent.get("achieved_rate"),
           "latency_ms_p50_p99": latency(db, tenant.tenant_id)}
    log("[%d ms, paced %.0f/s] submit->SUCCEEDED p50/p99 %s ms", delay_ms, PACED_RATE,
        out["latency_ms_p50_p99"])
    return out


def phase(node, db, fake, delay_ms):
    tenant = fresh_tenant(node, fake, delay_ms)
    raw = bodies(tenant, "cb%d_" % delay_ms)
    meter = CpuMeter(db.cluster, node.pid)
    bench.pgss_reset(db)
    c0 = bench.db_counters(db)
    s0 = meter.snap()
    t0 = time.monotonic()
    t0_epoch = time.time()
    submitted = {}

    def submit():
        el, st, err = post_batches(node.port, raw, tenant.key, CONC)
        submitted.update(elapsed=el, statuses=st, errors=err[:5])

    th = threading.Thread(target=submit, daemon=True)
    th.start()
    conn = db.connect()
    ok = bad = 0
    done = False
    try:
        with conn.cursor() as cur:
            progress = TerminalProgress(cur, tenant.tenant_id)
            while time.monotonic() - t0 < TIMEOUT:
                ok, bad = progress.poll()
                if ok + bad >= N:
                    done = True
                    break
                time.sleep(0.1)
    finally:
        conn.close()
    # to the last intent's own commit (the ledger's timestamp), not to when the poll saw it
    elapsed = (progress.done_epoch - t0_epoch) if done else time.monotonic() - t0
    s1 = meter.snap()
    th.join(timeout=60)
    # pg_stat_* counters reach the views up to 10 s after a backend goes idle
    time.sleep(STATS_WAIT)
    stats = fake.stats()
    out = {"fake_delay_ms": delay_ms, "intents": N, "succeeded": ok, "other_terminal": bad,
           "completed": done, "elapsed_s": round(elapsed, 2),
           "intents_per_s": round(ok / elapsed, 1),
           "submit_per_s": round(N / submitted["elapsed"], 1) if submitted.get("elapsed") else
           None, "submit_errors": submitted.get("errors"),
           "latency_ms_p50_p99": latency(db, tenant.tenant_id),
           "fake_max_in_flight": stats.get("max_in_flight"),
           "fake_requests": stats.get("requests"), "fake_effects": stats.get("effects"),
           "ledger_rows_per_intent": round(db.scalar(
               "SELECT count(*) FROM intentd.ledger WHERE tenant_id = %s",
               (tenant.tenant_id,)) / max(N, 1), 2),
           "cpu": CpuMeter.diff(s0, s1),
           "db": bench.counters_diff(c0, bench.db_counters(db), per=ok or None),
           "pg_stat_statements_top": bench.pgss_top(db)}
    log("[%d ms] %d/%d SUCCEEDED in %.1f s = %.0f/s; p50/p99 %s ms; fake max in flight %s",
        delay_ms, ok, N, elapsed, out["intents_per_s"], out["latency_ms_p50_p99"],
        out["fake_max_in_flight"])
    return out


def main():
    results = {"bench": "intentd issue 3 connectors", "intents_per_phase": N,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": {"cpus": os.cpu_count()}, "phases": []}
    extra = {}
    if PGSS != "off":
        extra = {"shared_preload_libraries": "'pg_stat_statements'",
                 "pg_stat_statements.track": PGSS}
    cluster = bench.start_durable_cluster(results, extra)
    if cluster is None:
        return 2
    fake = None
    node = None
    try:
        fake = VendorFake().start()
        db = cluster.create_database()
        bench.pgss_enable(db)
        env = {"INTENTD_LOG_LEVEL": "warn", "INTENTD_DB_POOL": "8",
               "INTENTD_CLAIM_BATCH": "1024"}
        env.update(bench.intentd_extra_env())
        results["intentd_env"] = env
        node = Intentd(db, env=env, home=tempfile.mkdtemp(prefix="intentd-cbench-"))
        node.start()
        for d in DELAYS:
            results["phases"].append(phase(node, db, fake, d))
            if PACED_RATE > 0:
                results.setdefault("paced", []).append(paced(node, db, fake, d))
    except Exception as e:  # noqa: BLE001
        results["error"] = repr(e)[:1000]
        print(json.dumps(results))
        return 2
    finally:
        if node is not None:
            node.cleanup()
            node.remove_home()
        if fake is not None:
            fake.stop()
        cluster.destroy()
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
