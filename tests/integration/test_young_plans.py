"""Plans the engine's functions make while the tables are young stay index probes as the tables
grow.

PL/pgSQL keeps one plan per statement and connection, made with the table sizes of that moment,
until an ANALYZE invalidates it; a node that starts on a new database plans before autovacuum has
analyzed anything. Here one session plans intentd.claim, intentd.apply and intentd.submit
(generic plans, as a connection keeps after five calls) while intents holds a single row, the
table then grows to 2,002 rows, and auto_explain (at NOTICE level, so the plans come back to this
session) shows how many rows the same plans read. Row counts, not timings, are asserted."""

import hashlib
import json
import re
import time

from harness import canonical, explain_to_notices, sql_apply, sql_claim, submit_batches, unique

GROWTH = 2000
NODE = "young-plans-node"


def _session(db):
    conn = db.connect()
    with conn.cursor() as cur:
        explain_to_notices(cur)
        # the plan made at the first call is kept, as after five calls in the engine
        cur.execute("SET plan_cache_mode = force_generic_plan")
    return conn


def _claim_one(cur):
    rows = sql_claim(cur, NODE, 1)
    assert len(rows) == 1, rows
    return rows[0]


def _apply(cur, op):
    sql_apply(cur, NODE, [op])


def _submit_direct(cur, tenant):
    """One intent through intentd.submit, with the arguments the engine gives it."""
    intent = tenant.intent(action_intent_id=unique("yd"))
    body = canonical(intent).decode("utf-8")
    item = {"req": 0, "idx": 0, "id": intent["action_intent_id"],
            "account_id": intent["account_id"], "action_type": intent["action_type"],
            "priority": intent.get("priority", 50), "expires_epoch": intent["expires_at_epoch"],
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "hash": hashlib.sha256(body.encode("utf-8")).hexdigest(), "intent": intent}
    subs = [{"tenant": tenant.tenant_id, "body": body, "signature": "t=0,v1=test"}]
    cur.execute("SELECT status FROM intentd.submit(%s, %s::jsonb, %s::jsonb)",
                (NODE, json.dumps(subs), json.dumps([item])))
    assert cur.fetchall() == [(202,)]


def _rows_removed(notices):
    """The largest 'Rows Removed by [Join ]Filter' of any plan node in the notices."""
    found = [int(n) for text in notices
             for n in re.findall(r"Rows Removed by (?:Join )?Filter: (\d+)", text)]
    return max(found, default=0)


def _grow_archive_and_submissions(db, tenant):
    """What a submission probes besides intents (the archive for an id that stays taken, the
    submissions its intents name) grows as much, so that a kept plan reading either whole
    shows in its row counts too."""
    db.query("INSERT INTO intentd.intents_archive SELECT * FROM intentd.intents")
    db.query("UPDATE intentd.intents_archive SET action_intent_id = 'archived-' || "
             "action_intent_id")
    db.query("INSERT INTO intentd.submissions (tenant_id, body, signature) "
             "SELECT %s, '{}', 't=0,v1=x' FROM generate_series(1, %s)",
             (tenant.tenant_id, GROWTH))
    assert db.scalar("SELECT count(*) FROM intentd.intents_archive") == GROWTH + 2


def test_plans_made_on_a_young_table_probe_by_key(intentd_factory):
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    tenant = inst.create_tenant()
    submit_batches(inst, tenant, 1, "yp")
    conn = _session(inst.database)
    try:
        with conn.cursor() as cur:
            # planned now, on a table of one intent
            _apply(cur, _claim_one(cur))
            _submit_direct(cur, tenant)
            submit_batches(inst, tenant, GROWTH, "yp")
            assert inst.database.scalar("SELECT count(*) FROM intentd.intents") == GROWTH + 2
            _grow_archive_and_submissions(inst.database, tenant)
            del conn.notices[:]
            op = _claim_one(cur)
            claim_plans = list(conn.notices)
            del conn.notices[:]
            _apply(cur, op)
            apply_plans = list(conn.notices)
            del conn.notices[:]
            _submit_direct(cur, tenant)
            submit_plans = list(conn.notices)
    finally:
        conn.close()
    assert any("Update on intents" in p for p in apply_plans), apply_plans
    assert any("Update on intents" in p for p in claim_plans), claim_plans
    # a probe by key reads its own row; a plan made for a one-row table and kept would read
    # (and filter away) every intent the table has gained since
    assert _rows_removed(claim_plans) < 10, claim_plans
    assert _rows_removed(apply_plans) < 10, apply_plans
    assert any("Insert on intents" in p for p in submit_plans), submit_plans
    assert _rows_removed(submit_plans) < 10, submit_plans
    # nor a whole table read without a filter: the archive and submissions probes too
    assert not re.search(r"Seq Scan on (intents|intents_archive|submissions|tenants)\b",
                         "\n".join(submit_plans)), submit_plans
