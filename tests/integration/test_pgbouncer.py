"""intentd through pgbouncer in transaction pooling mode (SPEC §7), and the two settings that make
it work: INTENTD_LISTEN_DATABASE_URL (LISTEN goes to PostgreSQL directly) and
INTENTD_DB_PREPARED=0 (unnamed statements only).

The pgbouncer tests run when the session goes through pgbouncer (INTENTD_TEST_PGBOUNCER=1, as
tests/run's asan-integration-pgbouncer suite does) and are skipped otherwise; the settings'
own tests run either way."""

import os
import re
import subprocess
import tempfile
import threading

import pytest

from harness import STATE_TIMEOUT, TERMINAL_STATES, follow_up_intent, wait_until


def bouncer_of(pg_cluster):
    if pg_cluster.pgbouncer is None:
        pytest.skip("the session does not go through pgbouncer (set INTENTD_TEST_PGBOUNCER=1)")
    return pg_cluster.pgbouncer


def rows_for(bouncer, what, db):
    return [r for r in bouncer.show(what) if r.get("database") == db.name]


def submit_all(inst, tenant, intents):
    c = inst.client()
    try:
        for i in range(0, len(intents), 100):
            r = c.batch(intents[i:i + 100], key=tenant.key)
            assert r.status in (200, 202, 207), r
    finally:
        c.close()


def run_one(inst, timeout=STATE_TIMEOUT):
    """Submits one internal.create_task intent to inst and waits for it to succeed."""
    t = inst.create_tenant()
    intent = t.intent()
    r = inst.client().submit(intent, key=t.key)
    assert r.status == 202, r
    final = inst.client(token=t.operator).wait_for_state(intent["action_intent_id"],
                                                         TERMINAL_STATES, timeout=timeout)
    assert final["state"] == "SUCCEEDED", final
    return intent["action_intent_id"]


def test_transactions_take_turns_on_fewer_server_connections(pg_cluster, intentd_factory):
    """Eight pool connections share pgbouncer's three server connections: every intent still
    runs exactly once, and pgbouncer never opened more server connections than its pool."""
    bouncer = bouncer_of(pg_cluster)
    inst = intentd_factory(env={"INTENTD_DB_POOL": "8"})
    db = inst.database
    assert bouncer.pool_size < 8
    t = inst.create_tenant()
    seen = {"servers": 0, "samples": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            n = len(rows_for(bouncer, "SERVERS", db))
            seen["servers"] = max(seen["servers"], n)
            seen["samples"] += 1
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        intents = [t.intent() for _ in range(200)] + \
            [follow_up_intent(t.tenant_id, wait_seconds=1) for _ in range(100)]
        submit_all(inst, t, intents)
        wait_until(lambda: db.nonterminal_count() == 0 and
                   db.scalar("SELECT count(*) FROM intentd.intents") == len(intents),
                   STATE_TIMEOUT * 2, what="all 300 intents to be terminal")
    finally:
        done.set()
        sampler.join(30)
    states = dict(db.query("SELECT state, count(*) FROM intentd.intents GROUP BY state"))
    assert states == {"SUCCEEDED": 300}, states
    # exactly one task each (internal.follow_up creates one after its Wait too)
    assert db.query("SELECT count(*), count(DISTINCT action_intent_id) "
                    "FROM intentd.internal_tasks") == [(300, 300)]
    # intentd's eight pool connections are pgbouncer clients of this database...
    clients = rows_for(bouncer, "CLIENTS", db)
    assert len(clients) == 8, clients
    # ...served by at most pool_size server connections: transactions really took turns
    assert seen["samples"] > 0
    assert 1 <= seen["servers"] <= bouncer.pool_size, seen
    # ...and every transaction of the run went through pgbouncer
    stats = [r for r in bouncer.show("STATS") if r["database"] == db.name]
    assert stats and stats[0]["total_xact_count"] > bouncer.pool_size, stats
    r = inst.admin().verify_ledger()
    assert r.status == 200 and r.json.get("ok") is True, r


def test_listen_goes_direct_and_wakes_an_idle_node(pg_cluster, intentd_factory, new_db):
    """A node whose slow poll is a minute away runs an intent another node accepted: only the
    NOTIFY, heard on its direct LISTEN connection, can have woken it."""
    bouncer = bouncer_of(pg_cluster)
    db = new_db()
    worker = intentd_factory(db=db, env={"INTENTD_POLL_MS": "60000"})
    front = intentd_factory(db=db, env={"INTENTD_SCHEDULER": "off"})
    # The LISTEN session is on PostgreSQL itself, under the listener's application_name...
    wait_until(lambda: db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
        "application_name = 'intentd-listen' AND query LIKE 'LISTEN%%'", (db.name,)) == 1,
        STATE_TIMEOUT, what="the LISTEN session on PostgreSQL")
    # ...and not one of pgbouncer's clients (those are the two nodes' pool connections)
    clients = rows_for(bouncer, "CLIENTS", db)
    assert len(clients) == 8, clients
    assert all(c.get("application_name") == "intentd" for c in clients), clients
    # Well inside the worker's 60 s poll: fails only if the NOTIFY never reached it.
    iid = run_one(front, timeout=45)
    assert worker.node_id in {r["node_id"] for r in db.ledger_rows(iid)}
    assert worker.alive() and front.alive()


def test_nodes_starting_together_migrate_once_and_leave_no_lock(intentd_factory, new_db):
    """Three nodes start at once on a fresh database (through pgbouncer when the session does):
    each migration is applied once, all become ready, and the migration lock is not left held
    by any server session, which a session-level lock taken and released through a transaction
    pooler would be."""
    db = new_db()
    nodes = [intentd_factory(db=db, start=False) for _ in range(3)]
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_ready()
    applied = db.query("SELECT version, count(*) FROM intentd.schema_migrations GROUP BY version")
    assert applied and all(c == 1 for _, c in applied), applied
    logs = "".join(n.log_tail(400) for n in nodes)
    assert logs.count("applying migration 001_core.sql") == 1, logs
    assert db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND "
                     "objid = 7242000 AND database = (SELECT oid FROM pg_database "
                     "WHERE datname = %s)", (db.name,)) == 0
    run_one(nodes[0])


def statement_log(pg_cluster, dbname):
    """The cluster log's `execute <name>:` lines (log_statement = all) for one database."""
    with open(pg_cluster.logfile, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    names = []
    for line in text.splitlines():
        if ("@%s " % dbname) in line:
            m = re.search(r" LOG:  execute ([^:/ ]+)[^:]*:", line)
            if m:
                names.append(m.group(1))
    return names


def logged_db(new_db):
    db = new_db()
    db.query('ALTER DATABASE "%s" SET log_statement = \'all\'' % db.name)
    return db


def test_unnamed_statements_only_when_prepared_is_off(pg_cluster, intentd_factory, new_db):
    """INTENTD_DB_PREPARED=0 executes only unnamed statements; the default names ("s<n>") and
    reuses them. Both go to PostgreSQL's own log (log_statement = all on these databases)."""
    off, on = logged_db(new_db), logged_db(new_db)
    a = intentd_factory(db=off, env={"INTENTD_DB_PREPARED": "0"})
    # the default, always direct: named statements do not survive transaction pooling
    b = intentd_factory(db=on, env={"INTENTD_DB_PREPARED": None,
                                    "INTENTD_DATABASE_URL": on.url,
                                    "INTENTD_LISTEN_DATABASE_URL": None})
    for inst in (a, b):
        run_one(inst)
    unnamed = statement_log(pg_cluster, off.name)
    assert unnamed and set(unnamed) == {"<unnamed>"}, sorted(set(unnamed))
    named = statement_log(pg_cluster, on.name)
    assert any(re.fullmatch(r"s\d+", n) for n in named), sorted(set(named))


def test_unreachable_listen_url_falls_back_to_polling(intentd_factory):
    """A LISTEN connection that cannot connect does not stop the node: it says so and keeps
    retrying, and the slow poll still finds the work."""
    inst = intentd_factory(env={"INTENTD_LISTEN_DATABASE_URL":
                                "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2"})
    run_one(inst)
    wait_until(lambda: "connection -1 (listen) unavailable" in inst.log_tail(400), STATE_TIMEOUT,
               what="the listener's failure in the log")


def run_config(intentd_binary, **env):
    # INTENTD_TEST_* stay: a wrapper such as tests/valgrind-intentd reads them
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("INTENTD_") or k.startswith("INTENTD_TEST_")}
    with tempfile.TemporaryDirectory(prefix="intentd-home-", dir="/tmp") as home:
        e["INTENTD_HOME"] = home
        e.update(env)
        return subprocess.run([intentd_binary], env=e, capture_output=True, timeout=60)


@pytest.mark.parametrize("value", ["yes", "2", "off"])
def test_db_prepared_must_be_0_or_1(intentd_binary, value):
    r = run_config(intentd_binary, INTENTD_DATABASE_URL="postgresql://x@127.0.0.1:1/x",
                   INTENTD_DB_PREPARED=value)
    assert r.returncode == 2, r
    assert b"INTENTD_DB_PREPARED must be 0 or 1" in r.stderr, r.stderr


def test_listen_url_needs_a_database_url(intentd_binary):
    """The embedded cluster has no second address: a LISTEN URL without INTENTD_DATABASE_URL is
    a configuration error, not a silent second database."""
    r = run_config(intentd_binary, INTENTD_LISTEN_DATABASE_URL="postgresql://x@127.0.0.1:1/x")
    assert r.returncode == 2, r
    assert b"INTENTD_LISTEN_DATABASE_URL needs INTENTD_DATABASE_URL" in r.stderr, r.stderr
