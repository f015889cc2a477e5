#!/usr/bin/python3
"""The floor under bench.py's phases (a) and (c) and bench_connectors.py: how many intents per
second PostgreSQL alone can store on this machine, written as bare set-based SQL (run by pgbench)
into copies of intentd's own tables with all their indexes, with the same durability as
bench.py. Three kinds: internal.create_task run to the end (as in (c), floor_cycle.sql);
crm.create_task run to the end (as in the connector benchmark: one more transaction per intent,
the call's write-ahead; floor_cycle.sql); and accept, submissions alone in group commits of the
sizes phase (a) forms (floor_accept.sql).

It starts a throwaway cluster and the vendor fake, lets one intentd create the schema and run one
intent of each kind to the end, copies the tables (LIKE ... INCLUDING ALL) and the finished
intent's rows as the prototype, then runs pgbench. Prints human progress on stderr and ONE JSON
line on stdout; exits 0 whenever it could run, 2 when it cannot run at all. Never fails CI.

Environment (all optional): BENCH_FLOOR_SECONDS (20), BENCH_FLOOR_CLIENTS (2), BENCH_FLOOR_RUNS
(2 per kind and group size), BENCH_FLOOR_KINDS ("internal,connector,accept"),
BENCH_FLOOR_ACCEPT_GROUPS ("10,16": intents per group commit for accept), INTENTD_BIN, PG_BIN.
The batch size of the other two kinds is :n in floor_cycle.sql (512, intentd's claim batch).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from bench import env_int, log, start_durable_cluster  # noqa: E402
from bench_connectors import fresh_tenant  # noqa: E402
from connector_env import VendorFake, crm_task_params  # noqa: E402
from harness import Intentd  # noqa: E402

SCRIPT = os.path.join(HERE, "floor_cycle.sql")
ACCEPT_SCRIPT = os.path.join(HERE, "floor_accept.sql")
KINDS = ("internal", "connector", "accept")
with open(SCRIPT) as _f:
    N_BATCH = int(re.search(r"^\\set n (\d+)$", _f.read(), re.M).group(1))  # intents a cycle


SETUP = """
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;
CREATE TABLE floor.intents (LIKE intentd.intents INCLUDING ALL);
CREATE TABLE floor.ledger (LIKE intentd.ledger INCLUDING ALL);
CREATE TABLE floor.tasks (LIKE intentd.internal_tasks INCLUDING ALL);
CREATE TABLE floor.submissions (LIKE intentd.submissions INCLUDING ALL);
CREATE SEQUENCE floor.batch;
CREATE SEQUENCE floor.seq;
CREATE TABLE floor.proto AS SELECT * FROM intentd.intents
    WHERE tenant_id = %(t)s AND action_intent_id = %(id)s;
CREATE TABLE floor.sproto AS SELECT s.* FROM intentd.submissions s, floor.proto p
    WHERE s.submission_id = p.submission_id;
CREATE TABLE floor.tproto AS SELECT * FROM intentd.internal_tasks
    WHERE tenant_id = %(t)s AND action_intent_id = %(id)s;
CREATE TABLE floor.lproto AS
    SELECT CASE WHEN event = 'intent.submitted' THEN 1
                WHEN event = 'intent.transition' AND to_state = 'EXECUTING' THEN 2
                WHEN event IN ('step.entered', 'attempt.started') THEN 3
                ELSE 4 END AS phase, event, from_state, to_state, payload
    FROM intentd.ledger WHERE tenant_id = %(t)s AND action_intent_id = %(id)s ORDER BY seq;
-- the prototype's ledger rows of phases p_from..p_to (1 submit, 2 claim, 3 step and attempt
-- start, 4 outcome) for batch b
CREATE FUNCTION floor.ledger_rows(p_b bigint, p_n int, p_from int, p_to int, p_actor text)
RETURNS void LANGUAGE sql AS $f$
    INSERT INTO floor.ledger
    SELECT nextval('floor.seq'), p.tenant_id, 'f' || p_b || '_' || g, e.event, e.from_state,
           e.to_state, 'node', p_actor, e.payload, now(), sha256(g::text::bytea),
           sha256(('h' || g)::bytea)
    FROM floor.proto p, generate_series(1, p_n) g, floor.lproto e
    WHERE e.phase BETWEEN p_from AND p_to
$f$;
"""


def prototypes(db, workdir, kinds):
    """One SUCCEEDED intent of each kind, run by a real intentd (crm.create_task against the
    vendor fake; accept takes internal's): {kind: {"t": tenant_id, "id": action_intent_id}}."""
    node = Intentd(db, env={"INTENTD_LOG_LEVEL": "warn"},
                   home=tempfile.mkdtemp(prefix="home-", dir=workdir))
    fake = None
    try:
        fake = VendorFake().start() if "connector" in kinds else None
        node.start()
        out = {}
        for kind in dict.fromkeys("internal" if k == "accept" else k for k in kinds):
            if kind == "connector":
                t = fresh_tenant(node, fake, 0)
                intent = t.intent(action_type="crm.create_task", parameters=crm_task_params())
            else:
                t = node.create_tenant()
                intent = t.intent()
            c = node.client()
            r = c.submit(intent, key=t.key)
            assert r.status == 202, r
            c.with_token(t.operator).wait_for_state(intent["action_intent_id"], "SUCCEEDED")
            c.close()
            out[kind] = {"t": t.tenant_id, "id": intent["action_intent_id"]}
        if "accept" in kinds:
            out["accept"] = out["internal"]
        return out
    finally:
        node.cleanup()
        node.remove_home()
        if fake is not None:
            fake.stop()


def pgbench(cluster, db, kind, seconds, clients, group):
    cmd = [os.path.join(harness.PG_BIN, "pgbench"), "-n", "-h", cluster.host,
           "-p", str(cluster.port), "-U", cluster.superuser, "-c", str(clients),
           "-j", str(clients), "-T", str(seconds)]
    if kind == "accept":
        cmd += ["-D", "n=%d" % group, "-f", ACCEPT_SCRIPT, db.name]
    else:
        cmd += ["-D", "connector=%d" % (kind == "connector"), "-f", SCRIPT, db.name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    tps = float(re.search(r"^tps = ([0-9.]+)", out, re.M).group(1))
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return tps, int(failed.group(1)) if failed else 0


def one_run(cluster, db, kind, keys, seconds, clients, group=N_BATCH):
    db.query(SETUP, keys)
    [(lsn0,)] = db.query("SELECT pg_current_wal_lsn()")
    t0 = time.monotonic()
    tps, failed = pgbench(cluster, db, kind, seconds, clients, group)
    wall = time.monotonic() - t0
    [(wal, n, done, ledger, tasks)] = db.query("""
        SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s),
               (SELECT count(*) FROM floor.intents),
               (SELECT count(*) FROM floor.intents WHERE state = 'SUCCEEDED'),
               (SELECT count(*) FROM floor.ledger), (SELECT count(*) FROM floor.tasks)""",
                                          (lsn0,))
    run = {"intents_per_s": round(tps * group, 1), "group": group, "pgbench_tps": tps,
           "failed": failed,
           "intents": n, "succeeded": done, "ledger_rows_per_intent": round(ledger / max(n, 1), 2),
           "tasks": tasks, "wal_bytes_per_intent": round(float(wal) / max(n, 1), 1),
           "wall_s": round(wall, 1)}
    log("%s, %d a transaction: %.0f intents/s (%d written, %d SUCCEEDED, %.1f ledger rows and "
        "%.0f WAL bytes each)", kind, group, run["intents_per_s"], n, done,
        run["ledger_rows_per_intent"], run["wal_bytes_per_intent"])
    return run


def main():
    seconds = env_int("BENCH_FLOOR_SECONDS", 20)
    clients = env_int("BENCH_FLOOR_CLIENTS", 2)
    runs = env_int("BENCH_FLOOR_RUNS", 2)
    kinds = [k.strip() for k in os.environ.get("BENCH_FLOOR_KINDS", ",".join(KINDS))
             .split(",") if k.strip() in KINDS]
    groups = [int(g) for g in os.environ.get("BENCH_FLOOR_ACCEPT_GROUPS", "10,16").split(",")
              if g.strip().isdigit() and 0 < int(g) <= 1000]
    results = {"bench": "intentd storage floor", "machine": {"cpus": os.cpu_count()},
               "config": {"seconds": seconds, "clients": clients, "runs": runs, "kinds": kinds,
                          "accept_groups": groups},
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if not os.access(harness.intentd_binary(), os.X_OK):
        results["error"] = "intentd binary not found at %s" % harness.intentd_binary()
        print(json.dumps(results))
        return 2
    cluster = start_durable_cluster(results)
    if cluster is None:
        return 2
    workdir = tempfile.mkdtemp(prefix="intentd-floor-")
    try:
        db = cluster.create_database()
        protos = prototypes(db, workdir, kinds)
        results["summary"] = {}
        for kind in kinds:
            for group in groups if kind == "accept" else [N_BATCH]:
                name = "%s_%d" % (kind, group) if kind == "accept" else kind
                rs = [one_run(cluster, db, kind, protos[kind], seconds, clients, group)
                      for _ in range(runs)]
                results[name] = rs
                rates = [r["intents_per_s"] for r in rs]
                results["summary"]["%s_per_s_best" % name] = max(rates)
                results["summary"]["%s_per_s_mean" % name] = round(sum(rates) / len(rates), 1)
    except Exception as e:  # noqa: BLE001
        log("floor bench aborted: %r", e)
        results["error"] = repr(e)[:1000]
    finally:
        cluster.destroy()
        shutil.rmtree(workdir, ignore_errors=True)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
