"""Retention and ledger archiving (issue 4 item 5, engine/sql/009_retention.sql): terminal
intents older than INTENTD_RETENTION_SECONDS leave intentd.intents for intentd.intents_archive
while their ledger rows stay and verify passes; export round trips after it; non-terminal intents
stay; an archived id stays taken (a re-submission is a duplicate and runs nothing); GET still
answers it; two nodes sweep without double moves; bad configuration refuses to start. The ledger
is partitioned by month; an archived (detached) partition leaves verify passing from its anchor,
and tampering with a retained row still fails it. A database holding data from migrations
001-007 is upgraded with every ledger row and the chain intact."""

import hashlib
import pathlib
import re
import threading
import time

import psycopg2
import pytest

from harness import STATE_TIMEOUT, Intentd, assert_problem, follow_up_intent, wait_until
from test_intentctl_ops import ctl
from test_ledger_export import (canonical, db_rows, export, parse_csv, parse_jsonl,
                                parse_jsonl_exact)

SQL_DIR = pathlib.Path(__file__).resolve().parents[2] / "engine" / "sql"


def archived(db, iid):
    return db.scalar("SELECT count(*) FROM intentd.intents_archive WHERE action_intent_id = %s",
                     (iid,)) == 1


def hot(db, iid):
    return db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id = %s",
                     (iid,)) == 1


def wait_archived(db, ids, timeout=STATE_TIMEOUT):
    wait_until(lambda: all(archived(db, i) and not hot(db, i) for i in ids), timeout,
               what="the retention sweep to archive %d intents" % len(ids))


def metric(client, name):
    r = client.get("/metrics")
    assert r.status == 200, r
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.body.decode(), re.M)
    assert m, "%s is not exposed" % name
    return float(m.group(1))


def submit_done(inst, t, n):
    c = inst.client()
    ids = []
    for _ in range(n):
        intent = t.intent()
        assert c.submit(intent, key=t.key).status == 202
        ids.append(intent)
    op = c.with_token(t.operator)
    for intent in ids:
        op.wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    return ids


@pytest.fixture(scope="module")
def swept(pg_cluster, intentd_binary):
    """One node with a 2 s retention; three intents that SUCCEEDED and were archived, and one
    that waits for an hour (EXECUTING, in a durable Wait)."""
    db = pg_cluster.create_database()
    inst = Intentd(database=db, binary=intentd_binary, env={"INTENTD_RETENTION_SECONDS": "2"})
    inst.start()
    try:
        t = inst.create_tenant()
        c = inst.client()
        waiting = follow_up_intent(t.tenant_id, wait_seconds=3600)
        assert c.submit(waiting, key=t.key).status == 202
        done = submit_done(inst, t, 3)
        ledger_before = {i["action_intent_id"]: db.ledger_rows(i["action_intent_id"])
                         for i in done}
        effects = {i["action_intent_id"]: db.effect_count("internal_tasks", i["action_intent_id"])
                   for i in done}
        wait_archived(db, [i["action_intent_id"] for i in done])
        yield {"inst": inst, "db": db, "t": t, "done": done, "waiting": waiting,
               "ledger_before": ledger_before, "effects": effects}
    finally:
        inst.cleanup()
        inst.remove_home()


def test_terminal_intents_leave_the_hot_table_and_their_ledger_rows_stay(swept):
    db = swept["db"]
    for intent in swept["done"]:
        iid = intent["action_intent_id"]
        assert not hot(db, iid) and archived(db, iid)
        assert db.ledger_rows(iid) == swept["ledger_before"][iid]
        assert db.scalar("SELECT state FROM intentd.intents_archive WHERE action_intent_id = %s",
                         (iid,)) == "SUCCEEDED"
    r = swept["inst"].admin().verify_ledger()
    assert r.status == 200 and r.json["ok"] is True and r.json["from_seq"] == 1, r.json
    assert r.json["rows"] == db.scalar("SELECT count(*) FROM intentd.ledger")
    assert metric(swept["inst"].admin(), "intentd_retention_archived_total") >= 3
    assert "retention: archived" in swept["inst"].log_tail(400)


def test_non_terminal_intents_stay(swept):
    db = swept["db"]
    # the sweep has run past them: intents that ended after they were submitted are gone
    iid = swept["waiting"]["action_intent_id"]
    assert hot(db, iid) and not archived(db, iid)
    assert db.intent_state(iid) == "EXECUTING"
    # the sweep passes over it however old it is; only its end time counts
    db.query("UPDATE intentd.intents SET submitted_at = now() - interval '30 days', "
             "updated_at = now() - interval '30 days' WHERE action_intent_id = %s", (iid,))
    marker = swept["t"].intent()
    c = swept["inst"].client()
    assert c.submit(marker, key=swept["t"].key).status == 202
    c.with_token(swept["t"].operator).wait_for_state(marker["action_intent_id"], "SUCCEEDED")
    wait_archived(db, [marker["action_intent_id"]])
    assert hot(db, iid) and not archived(db, iid)


def test_get_of_an_archived_intent_answers_its_record(swept):
    inst, t = swept["inst"], swept["t"]
    op = inst.client(token=t.operator)
    iid = swept["done"][0]["action_intent_id"]
    r = op.intent(iid)
    assert r.status == 200, r
    assert r.json["state"] == "SUCCEEDED" and r.json["action_intent_id"] == iid, r.json
    tl = op.timeline(iid)
    assert tl.status == 200, tl
    assert [e["seq"] for e in tl.json["events"] if e.get("seq") is not None] == \
        [row["seq"] for row in swept["ledger_before"][iid]], tl.json
    # its outcome signal is still served (signals join intents_all)
    sig = op.get("/v1/signals?after=0&limit=1000")
    assert sig.status == 200, sig
    assert [x["state"] for x in sig.json["signals"] if x["action_intent_id"] == iid] == \
        ["SUCCEEDED"], sig.json
    # listings show the hot table only
    listed = op.executions(limit=500)
    assert listed.status == 200, listed
    assert iid not in [x["action_intent_id"] for x in listed.json["items"]]
    assert swept["waiting"]["action_intent_id"] in [x["action_intent_id"]
                                                     for x in listed.json["items"]]
    # nothing can act on it any more
    assert_problem(op.intent("no-such-" + iid), 404)
    b = assert_problem(op.cancel(iid), 409)
    assert b["type"].endswith("/archived") and "SUCCEEDED" in b["detail"], b
    oc = inst.client(token=t.oncall)
    b = assert_problem(oc.post("/v1/intents/%s/compensate" % iid, body={"reason": "undo"}), 409)
    assert b["type"].endswith("/archived"), b
    b = assert_problem(oc.post("/v1/intents/%s/redrive" % iid, body={"reason": "again"}), 409)
    assert b["type"].endswith("/archived"), b
    assert archived(swept["db"], iid) and not hot(swept["db"], iid)


def test_resubmitting_an_archived_intent_is_a_duplicate_and_runs_nothing(swept):
    inst, db, t = swept["inst"], swept["db"], swept["t"]
    c = inst.client()
    intent = swept["done"][1]
    iid = intent["action_intent_id"]
    ledger = db.scalar("SELECT count(*) FROM intentd.ledger")
    r = c.submit(intent, key=t.key)
    assert r.status == 200, r
    r = c.batch([intent, t.intent()], key=t.key)
    assert r.status == 200 and [x["status"] for x in r.json["results"]] == [200, 202], r
    other = dict(intent, priority=intent["priority"] + 1)
    assert_problem(c.submit(other, key=t.key), 409)
    # give a wrongly re-created intent every chance to run, then look
    marker = t.intent()
    assert c.submit(marker, key=t.key).status == 202
    c.with_token(t.operator).wait_for_state(marker["action_intent_id"], "SUCCEEDED")
    assert not hot(db, iid) and archived(db, iid)
    assert db.effect_count("internal_tasks", iid) == swept["effects"][iid] == 1
    assert db.ledger_rows(iid) == swept["ledger_before"][iid]
    assert db.scalar("SELECT count(*) FROM intentd.ledger") > ledger


def test_a_submission_racing_the_sweep_waits_for_it_and_is_a_duplicate(intentd_factory):
    """The sweep's moment of danger: the intent is deleted from the hot table but the move has
    not committed. A re-submission then must neither insert it again nor answer 409; it waits
    for the tenant's retention lock and answers from the archive."""
    inst = intentd_factory()
    db = inst.database
    t = inst.create_tenant()
    intent = submit_done(inst, t, 1)[0]
    iid = intent["action_intent_id"]
    conn = db.connect(user=db.owner)
    try:
        conn.autocommit = False
        cur = conn.cursor()
        # what intentd.retention_sweep does for one row, left uncommitted
        cur.execute("SELECT pg_advisory_xact_lock(7242003, intentd.retention_tenant_key(%s))",
                    (t.tenant_id,))
        cur.execute("WITH m AS (DELETE FROM intentd.intents WHERE tenant_id = %s AND "
                    "action_intent_id = %s RETURNING *) INSERT INTO intentd.intents_archive "
                    "SELECT * FROM m", (t.tenant_id, iid))
        assert cur.rowcount == 1
        out = {}
        th = threading.Thread(target=lambda: out.update(r=inst.client().submit(intent,
                                                                               key=t.key)))
        th.start()
        wait_until(lambda: db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                     "AND NOT granted") > 0, STATE_TIMEOUT,
                   what="the submission to wait for the retention lock")
        conn.commit()
        th.join(STATE_TIMEOUT)
        assert out["r"].status == 200, out["r"]
    finally:
        conn.close()
    assert not hot(db, iid) and archived(db, iid)
    assert db.effect_count("internal_tasks", iid) == 1
    assert [r["event"] for r in db.ledger_rows(iid)].count("intent.submitted") == 1


def test_export_round_trips_after_retention_and_matches_verify(swept):
    inst, db = swept["inst"], swept["db"]
    admin = inst.admin()
    r = export(admin, format="jsonl", limit=100000)
    assert r.status == 200, r
    rows = parse_jsonl(r.body)
    exact = parse_jsonl_exact(r.body)
    table = db_rows(db)
    assert rows == table[:len(rows)] and len(rows) >= len(table) - 2
    prev = "00" * 32
    for row in exact:
        assert row["prev_hash"] == prev, row["seq"]
        h = hashlib.sha256(bytes.fromhex(prev) + canonical(row).encode()).hexdigest()
        assert h == row["hash"], row["seq"]
        prev = row["hash"]
    v = admin.verify_ledger().json
    assert v["ok"] is True and v["rows"] >= len(rows), v
    csv_rows = parse_csv(export(admin, format="csv", limit=len(rows)).body)
    assert [x["seq"] for x in csv_rows] == [str(x["seq"]) for x in rows]
    assert [x["hash"] for x in csv_rows] == [x["hash"] for x in rows]
    # the archived intents' rows are all in the export
    seqs = {row["seq"] for row in rows}
    for iid, before in swept["ledger_before"].items():
        assert {b["seq"] for b in before} <= seqs, iid


def test_two_nodes_sweeping_at_once_move_each_intent_once(intentd_factory):
    env = {"INTENTD_RETENTION_SECONDS": "1"}
    a = intentd_factory(env=env)
    b = intentd_factory(db=a.database, env=env)
    db = a.database
    t = a.create_tenant()
    c = a.client()
    ids = []
    for _ in range(4):
        batch = [t.intent() for _ in range(10)]
        r = c.batch(batch, key=t.key)
        assert r.status == 200 and [x["status"] for x in r.json["results"]] == [202] * 10, r
        ids += [i["action_intent_id"] for i in batch]
    wait_archived(db, ids)
    assert db.scalar("SELECT count(*) FROM intentd.intents_archive") == 40
    assert db.scalar("SELECT count(*) FROM intentd.intents") == 0
    total = metric(a.admin(), "intentd_retention_archived_total") + \
        metric(b.admin(), "intentd_retention_archived_total")
    assert total == 40
    for inst in (a, b):
        assert "retention sweep failed" not in inst.log_tail(2000)
    assert a.admin().verify_ledger().json["ok"] is True


@pytest.mark.parametrize("env, message", [
    ({"INTENTD_RETENTION_SECONDS": "-1"}, "INTENTD_RETENTION_SECONDS must be an integer"),
    ({"INTENTD_RETENTION_SECONDS": "2h"}, "INTENTD_RETENTION_SECONDS must be an integer"),
    ({"INTENTD_RETENTION_DAYS": "3651"}, "INTENTD_RETENTION_DAYS must be an integer from 0 to "
                                         "3650"),
    ({"INTENTD_RETENTION_DAYS": "7", "INTENTD_RETENTION_SECONDS": "60"}, "not both"),
], ids=["negative", "unit", "too_many_days", "both"])
def test_invalid_retention_config_refuses_to_start(intentd_factory, env, message):
    inst = intentd_factory(env=env, start=False)
    inst.start(wait=False)
    assert inst.wait_exit(timeout=60, expect=2) == 2
    assert message in inst.log_tail()


@pytest.mark.parametrize("sql", [
    "SELECT intentd.retention_sweep(0, 1000)",
    "SELECT intentd.retention_sweep(NULL, 1000)",
    "SELECT intentd.retention_sweep(60, 0)",
    "SELECT intentd.retention_sweep(60, 10001)",
    "SELECT intentd.ledger_ensure_partitions(-1)",
    "SELECT intentd.ledger_ensure_partitions(25)",
], ids=["age_zero", "age_null", "batch_zero", "batch_too_big", "ahead_negative", "ahead_big"])
def test_maintenance_functions_refuse_bad_arguments(swept, sql):
    db = swept["db"]
    # intents_all: the node's own sweep may move intents that other tests of this module left
    # behind from intents to the archive meanwhile; it never changes how many there are
    before = (db.scalar("SELECT count(*) FROM intentd.intents_all"),
              db.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                        "'intentd.ledger'::regclass"))
    with pytest.raises(psycopg2.Error) as e:
        db.query(sql, role=db.owner)
    assert e.value.pgcode == "22023", e.value
    assert (db.scalar("SELECT count(*) FROM intentd.intents_all"),
            db.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = "
                      "'intentd.ledger'::regclass")) == before


# ------------------------------------------------------------------------- ledger partitions


def month_start(months_back):
    y, m = time.gmtime().tm_year, time.gmtime().tm_mon - months_back
    while m < 1:
        y, m = y - 1, m + 12
    return "%04d-%02d-01" % (y, m), "ledger_%04d_%02d" % (y, m)


def add_historic_rows(db, when, n):
    """Chains n rows stamped at `when` (a past month) onto the ledger as the superuser, as an
    older intentd would have written them."""
    for _ in range(n):
        db.query(
            "INSERT INTO intentd.ledger (seq, event, node_id, actor, payload, created_at, "
            "prev_hash, hash) SELECT s, 'test.historic', 'old-node', 'test', '{}', ts, p, "
            "sha256(p || convert_to(jsonb_build_array(s, NULL::text, NULL::text, "
            "'test.historic', NULL::text, NULL::text, 'old-node', 'test', '{}'::jsonb, "
            "(extract(epoch FROM ts) * 1000000)::bigint)::text, 'UTF8')) "
            "FROM (SELECT coalesce(max(seq), 0) + 1 AS s, %s::timestamptz AS ts, "
            "coalesce((SELECT hash FROM intentd.ledger ORDER BY seq DESC LIMIT 1), "
            "decode(repeat('00', 32), 'hex')) AS p FROM intentd.ledger) x", (when,))


def test_ledger_is_partitioned_by_month_with_a_default(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    assert db.scalar("SELECT partstrat FROM pg_partitioned_table "
                     "WHERE partrelid = 'intentd.ledger'::regclass") == "r"
    parts = {r[0] for r in db.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'intentd.ledger'::regclass")}
    assert {month_start(0)[1], month_start(-1)[1], "ledger_default"} <= parts, parts
    t = inst.create_tenant()
    submit_done(inst, t, 2)
    assert db.scalar("SELECT count(*) FROM intentd.ledger_default") == 0
    assert db.scalar("SELECT count(*) FROM intentd.%s" % month_start(0)[1]) == \
        db.scalar("SELECT count(*) FROM intentd.ledger") > 0
    # the guards hold on a partition addressed directly too
    owner = db.table_owner("intentd", "ledger")
    for stmt in ("UPDATE intentd.%s SET actor = 'mallory'", "DELETE FROM intentd.%s",
                 "TRUNCATE intentd.%s"):
        with pytest.raises(psycopg2.Error):
            db.query(stmt % month_start(0)[1], role=owner)
    # creating partitions again is a no-op
    assert db.scalar("SELECT intentd.ledger_ensure_partitions(1)") == []


def test_archiving_a_partition_keeps_verify_passing_and_tampering_still_fails(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    assert db.scalar("SELECT count(*) FROM intentd.ledger") == 0
    older, older_name = month_start(3)
    first, name = month_start(2)
    for m, n in ((older, older_name), (first, name)):
        assert db.query("SELECT intentd.ledger_create_partition(%s::date)", (m,),
                        role=db.owner) == [(n,)]
    add_historic_rows(db, older + " 12:00:00+00", 2)
    add_historic_rows(db, first + " 12:00:00+00", 3)
    t = inst.create_tenant()
    submit_done(inst, t, 2)
    admin = inst.admin()
    v = admin.verify_ledger().json
    assert v["ok"] is True and v["from_seq"] == 1, v
    total = v["rows"]
    owner = db.table_owner("intentd", "ledger")

    # refusals change nothing; the newer month cannot go before the older one
    for bad in ("ledger_default", month_start(0)[1], "ledger_nonsense", "intents", name):
        with pytest.raises(psycopg2.Error):
            db.query("SELECT * FROM intentd.ledger_archive_partition(%s)", (bad,), role=owner)
    assert db.scalar("SELECT count(*) FROM intentd.ledger_archives") == 0

    def archive(n):
        return db.query("SELECT from_seq, to_seq, rows, encode(last_hash, 'hex') "
                        "FROM intentd.ledger_archive_partition(%s)", (n,), role=owner)

    assert archive(older_name)[0][:3] == (1, 2, 2)
    v = admin.verify_ledger().json
    assert v == {"ok": True, "rows": total - 2, "from_seq": 3}, v
    rec = archive(name)
    last_hash = db.scalar("SELECT encode(hash, 'hex') FROM intentd.%s WHERE seq = 5" % name)
    assert rec == [(3, 5, 3, last_hash)]
    # detached: it is an ordinary table now, for pg_dump and DROP
    assert db.scalar("SELECT count(*) FROM pg_inherits WHERE inhrelid = "
                     "'intentd.%s'::regclass" % name) == 0
    assert db.scalar("SELECT count(*) FROM intentd.%s" % name) == 3
    assert db.scalar("SELECT min(seq) FROM intentd.ledger") == 6
    # the archive record itself is append-only
    with pytest.raises(psycopg2.Error):
        db.query("DELETE FROM intentd.ledger_archives", role=owner)

    v = admin.verify_ledger().json
    assert v == {"ok": True, "rows": total - 5, "from_seq": 6}, v
    r = ctl(inst, inst.admin_token, "ledger", "verify")
    assert r.returncode == 0 and r.out == "ledger ok: %d rows verified from seq 6 (the rows " \
        "before it are archived)\n" % (total - 5), (r.out, r.err)
    # appends go on after the archive, and verify still passes
    submit_done(inst, t, 1)
    assert admin.verify_ledger().json["ok"] is True

    victim = db.scalar("SELECT max(seq) FROM intentd.ledger WHERE action_intent_id IS NOT NULL")
    db.query("UPDATE intentd.ledger SET actor = 'mallory' WHERE seq = %s", (victim,),
             setup=("SET session_replication_role = replica",))
    v = admin.verify_ledger().json
    assert v["ok"] is False and v["seq"] == victim and v["from_seq"] == 6, v
    assert ctl(inst, inst.admin_token, "ledger", "verify").returncode == 4


def test_rows_of_a_month_without_partition_land_in_the_default_and_stay_valid(intentd_factory):
    inst = intentd_factory()
    db = inst.database
    first, name = month_start(6)
    add_historic_rows(db, first + " 09:00:00+00", 2)
    assert db.scalar("SELECT count(*) FROM intentd.ledger_default") == 2
    # the month's partition can no longer be created; that is reported, not an error
    assert db.query("SELECT intentd.ledger_create_partition(%s::date)", (first,),
                    role=db.owner) == [(None,)]
    t = inst.create_tenant()
    submit_done(inst, t, 1)
    v = inst.admin().verify_ledger().json
    assert v["ok"] is True and v["from_seq"] == 1, v


def test_rows_missing_before_the_first_retained_row_without_an_archive_record_fail(
        intentd_factory):
    inst = intentd_factory()
    db = inst.database
    first, name = month_start(1)
    db.query("SELECT intentd.ledger_create_partition(%s::date)", (first,), role=db.owner)
    add_historic_rows(db, first + " 08:00:00+00", 2)
    t = inst.create_tenant()
    submit_done(inst, t, 1)
    # detached behind intentd's back: no archive record vouches for seq 1 and 2
    db.query("ALTER TABLE intentd.ledger DETACH PARTITION intentd.%s" % name)
    v = inst.admin().verify_ledger().json
    assert v["ok"] is False and v["seq"] == 1 and "missing" in v["reason"], v


# ------------------------------------------------------------------------------- the upgrade


def test_upgrade_from_007_keeps_every_ledger_row_and_the_chain(new_db, intentd_factory):
    """Migrations 001-007 applied and used as an older intentd would have, then this intentd
    starts on the database and applies the newer ones."""
    db = new_db()
    setup = [(SQL_DIR / ("%s.sql" % n)).read_text() for n in (
        "001_core", "002_functions", "003_connectors", "004_guards", "005_alerts",
        "006_signal_push", "007_toggles")]
    db.query("CREATE SCHEMA IF NOT EXISTS intentd; CREATE TABLE intentd.schema_migrations ("
             "version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL "
             "DEFAULT now())", role=db.owner)
    for i, sql in enumerate(setup, 1):
        db.query(sql, role=db.owner)
        db.query("INSERT INTO intentd.schema_migrations (version, name) VALUES (%s, %s)",
                 (i, "%03d" % i), role=db.owner)
    db.query("SELECT intentd.create_tenant('old', 'sealed', '[]', 'test', 'old-node')",
             role=db.owner)
    db.query("SELECT intentd.ledger_append('old-node', %s::jsonb)",
             ('[{"tenant_id": "old", "event": "test.batch", "payload": {"n": 1}}, '
              '{"tenant_id": "old", "event": "test.batch", "payload": {"n": 2}}]',),
             role=db.owner)
    db.query("SELECT intentd.set_toggle('tenant', 'old', 'pause', 'test', 'test', 'old-node', 0, "
             "'{}')", role=db.owner)
    before = db_rows(db)
    assert len(before) == 4
    assert db.scalar("SELECT relkind FROM pg_class WHERE oid = 'intentd.ledger'::regclass") == "r"

    inst = intentd_factory(db=db)
    assert db.scalar("SELECT relkind FROM pg_class WHERE oid = 'intentd.ledger'::regclass") == "p"
    assert db_rows(db)[:4] == before
    assert db.scalar("SELECT max(version) FROM intentd.schema_migrations") >= 9
    v = inst.admin().verify_ledger().json
    assert v["ok"] is True and v["from_seq"] == 1, v
    t = inst.create_tenant()
    submit_done(inst, t, 1)
    assert db.scalar("SELECT count(*) FROM intentd.alerts") == 0
    v = inst.admin().verify_ledger().json
    assert v["ok"] is True and v["rows"] == db.scalar("SELECT count(*) FROM intentd.ledger"), v
