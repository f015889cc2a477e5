"""A claim and the write-ahead before a connector call rewrite an intent without adding index
entries (heap-only updates), the outcome that ends it moves it from intents_due to
intents_retention, and finished_at agrees with the state whatever writes the row.

The functions are called the way the engine calls them, each step in its own transaction, and
pg_stat_xact_user_tables counts this session's own updates: exact counts, no timing."""

import psycopg2
import pytest

from harness import explain_to_notices, sql_apply, sql_claim, submit_batches

NODE = "hot-updates-node"


def _node(intentd_factory, pending):
    """A node that accepts and does not execute, with this many intents of a new tenant
    pending; the test claims and applies them itself."""
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    tenant = inst.create_tenant()
    submit_batches(inst, tenant, pending, "hu")
    return inst, tenant


def _write_ahead(row):
    """What the executor commits before a connector call: the call in flight, one more
    attempt, and the attempt's first ledger row; state and indexed columns unchanged."""
    return dict(row, step_attempts=1, attempts_inc=1,
                inflight={"step": "CreateTask", "attempt": 1, "phase": "call", "key": "k"},
                ledger=[{"event": "attempt.started", "from_state": "EXECUTING",
                         "to_state": "EXECUTING", "payload": {"step": "CreateTask"}}])


def _outcome(row):
    return dict(row, state="SUCCEEDED", inflight=None, release=True, output={"ok": True},
                ledger=[{"event": "intent.transition", "from_state": "EXECUTING",
                         "to_state": "SUCCEEDED", "payload": {"reason": "done"}}])


def _counted(cur):
    """(updates, heap-only updates) of intents this session has made and not yet reported to
    the statistics collector (pg_stat_xact_user_tables: the open transaction's, and those of
    committed ones still pending)."""
    cur.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
                "WHERE schemaname = 'intentd' AND relname = 'intents'")
    return cur.fetchone()


def _row(db, row):
    return db.query("SELECT state, finished_at, version FROM intentd.intents "
                    "WHERE tenant_id = %s AND action_intent_id = %s",
                    (row["tenant_id"], row["action_intent_id"]))


def _updates(cur, step):
    """(updates, heap-only updates) of intents made by step()."""
    before = _counted(cur)
    step()
    after = _counted(cur)
    return after[0] - before[0], after[1] - before[1]


def test_claim_and_write_ahead_are_heap_only_and_the_outcome_is_not(intentd_factory):
    inst, tenant = _node(intentd_factory, 3)
    conn = inst.database.connect()
    conn.autocommit = False
    try:
        with conn.cursor() as cur:
            # each step its own transaction, as in the engine: the versions a committed step
            # left behind are pruned from the page when the next one needs the room
            rows = []
            assert _updates(cur, lambda: rows.extend(sql_claim(cur, NODE, 3))) == (3, 3)
            assert len(rows) == 3
            conn.commit()
            ops = [_write_ahead(r) for r in rows]
            assert _updates(cur, lambda: sql_apply(cur, NODE, ops)) == (3, 3)
            conn.commit()
            ends = [_outcome(dict(r, version=op["version"])) for r, op in zip(rows, ops)]
            # ending sets finished_at: the row leaves intents_due and enters intents_retention
            assert _updates(cur, lambda: sql_apply(cur, NODE, ends)) == (3, 0)
            conn.commit()
    finally:
        conn.close()
    db = inst.database
    assert db.scalar("SELECT count(*) FROM intentd.intents WHERE state = 'SUCCEEDED' "
                     "AND finished_at IS NOT NULL AND tenant_id = %s", (tenant.tenant_id,)) == 3
    # a new intent is still found by the claim through intents_due, the finished ones are not
    submit_batches(inst, tenant, 1, "hu")
    conn = inst.database.connect()
    try:
        with conn.cursor() as cur:
            assert len(sql_claim(cur, NODE, 10)) == 1
            assert sql_claim(cur, NODE, 10) == []
    finally:
        conn.close()


def test_claim_reads_only_unfinished_intents(intentd_factory):
    """With hundreds of finished intents and one new one, the claim's plan takes intents_due
    and reads the one row."""
    inst, tenant = _node(intentd_factory, 300)
    conn = inst.database.connect()
    try:
        with conn.cursor() as cur:
            rows = sql_claim(cur, NODE, 300)
            assert len(rows) == 300
            sql_apply(cur, NODE, [_outcome(r) for r in rows])
            cur.execute("ANALYZE intentd.intents")
        submit_batches(inst, tenant, 1, "hu")
        with conn.cursor() as cur:
            explain_to_notices(cur)
            del conn.notices[:]
            assert len(sql_claim(cur, NODE, 10)) == 1
            plans = "\n".join(conn.notices)
    finally:
        conn.close()
    assert "intents_due" in plans, plans
    assert "Seq Scan on intents" not in plans, plans


@pytest.mark.parametrize("change", [
    "state = 'SUCCEEDED'",                   # a legal transition, without finished_at
    "finished_at = clock_timestamp()",       # finished while still EXECUTING
])
def test_finished_at_and_state_cannot_disagree(intentd_factory, change):
    inst, _ = _node(intentd_factory, 1)
    conn = inst.database.connect()
    try:
        with conn.cursor() as cur:
            row = sql_claim(cur, NODE, 1)[0]
            before = _row(inst.database, row)
            with pytest.raises(psycopg2.errors.CheckViolation) as e:
                cur.execute("UPDATE intentd.intents SET %s WHERE tenant_id = %%s "
                            "AND action_intent_id = %%s" % change,
                            (row["tenant_id"], row["action_intent_id"]))
            assert "intents_finished_iff_terminal" in str(e.value)
    finally:
        conn.close()
    assert _row(inst.database, row) == before
    assert before[0][0] == "EXECUTING" and before[0][1] is None
