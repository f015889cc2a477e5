"""What intents and submissions refer to is checked per statement, and what they refer to is
kept (schema 18, which replaced the foreign keys and the per-row archive trigger). Every refusal
comes from PostgreSQL itself, for the table owner at a psql prompt as for the engine, and leaves
the tables as they were."""

import contextlib

import psycopg2
import pytest

from fixtures import intent_copy_sql, owner_of, unchanged


def _kept_rows(db):
    """Everything the refusals below must leave alone, row by row."""
    return {
        "tenants": db.query("SELECT tenant_id FROM intentd.tenants ORDER BY 1"),
        "submissions": db.query("SELECT submission_id, tenant_id, md5(body), signature "
                                "FROM intentd.submissions ORDER BY 1"),
        "intents": db.query("SELECT tenant_id, action_intent_id, submission_id, state "
                            "FROM intentd.intents ORDER BY 1, 2"),
    }


def _refused(db, sql, params, pgcode, constraint, role="owner", table="intents"):
    before = _kept_rows(db)
    with unchanged(db):
        with pytest.raises(psycopg2.Error) as e:
            db.query(sql, params, role=owner_of(db, table) if role == "owner" else None)
    assert e.value.pgcode == pgcode, e.value
    if constraint:
        assert e.value.diag.constraint_name == constraint, (e.value.diag.constraint_name, e.value)
    assert _kept_rows(db) == before
    return e.value


@contextlib.contextmanager
def _rolled_back(db):
    """A cursor in a transaction that is rolled back whatever the block does."""
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            yield cur
    finally:
        conn.rollback()
        conn.close()


def test_intent_of_an_unknown_tenant_is_refused(shared_db, finished):
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, iid + "-stray", tenant_expr="'no-such-tenant'")
    err = _refused(shared_db, sql, params, "23503", "intents_tenant_ref")
    assert 'tenant "no-such-tenant" does not exist' in str(err), err


def test_intent_naming_an_unknown_submission_is_refused(shared_db, finished):
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, iid + "-stray",
                                  submission_expr="submission_id + 1000000000")
    err = _refused(shared_db, sql, params, "23503", "intents_submission_ref")
    assert "which does not exist" in str(err), err


def test_submission_of_an_unknown_tenant_is_refused(shared_db, finished):
    _refused(shared_db, "INSERT INTO intentd.submissions (tenant_id, body, signature) "
             "VALUES ('no-such-tenant', '{}', 't=0,v1=x')", None, "23503",
             "submissions_tenant_ref", table="submissions")


def test_one_bad_row_refuses_the_whole_statement(shared_db, finished):
    # a good copy and a stray one in one INSERT: neither is stored
    t, iid = finished
    sql = ("INSERT INTO intentd.intents (tenant_id, action_intent_id, account_id, action_type, "
           "intent_hash, intent, submission_id, expires_at, created_at) "
           "SELECT x.tenant, %s || x.suffix, account_id, action_type, intent_hash, intent, "
           "submission_id, expires_at, created_at FROM intentd.intents, "
           "(VALUES (%s, '-good'), ('no-such-tenant', '-bad')) AS x(tenant, suffix) "
           "WHERE tenant_id = %s AND action_intent_id = %s")
    _refused(shared_db, sql, (iid, t.tenant_id, t.tenant_id, iid), "23503", "intents_tenant_ref")


def test_an_archived_id_inserted_again_is_refused(shared_db, finished):
    # the engine's submissions leave archived ids out (test_retention.py); any other insert of
    # one is refused, so the id stays taken and nothing runs twice
    t, iid = finished
    with _rolled_back(shared_db) as cur:
        cur.execute("INSERT INTO intentd.intents_archive SELECT * FROM intentd.intents "
                    "WHERE tenant_id = %s AND action_intent_id = %s", (t.tenant_id, iid))
        cur.execute("UPDATE intentd.intents_archive SET action_intent_id = %s "
                    "WHERE tenant_id = %s AND action_intent_id = %s",
                    (iid + "-arch", t.tenant_id, iid))
        sql, params = intent_copy_sql(t, iid, iid + "-arch")
        with pytest.raises(psycopg2.Error) as e:
            cur.execute(sql, params)
        assert e.value.pgcode == "23505", e.value
        assert e.value.diag.constraint_name == "intents_not_archived", e.value
        assert "is archived; its id stays taken" in str(e.value), e.value
    assert shared_db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id = %s",
                            (iid + "-arch",)) == 0


def test_an_id_that_is_neither_stored_nor_archived_is_accepted_by_the_database(shared_db,
                                                                             finished):
    # the positive side of the checks: BEGIN without COMMIT, rolled back at close
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, iid + "-fine")
    assert shared_db.query(sql, params, setup=("BEGIN",)) == [(iid + "-fine",)]


@pytest.mark.parametrize("table,statement", [
    ("tenants", "DELETE FROM intentd.tenants WHERE tenant_id = %(t)s"),
    ("tenants", "UPDATE intentd.tenants SET tenant_id = tenant_id || '-renamed' "
                "WHERE tenant_id = %(t)s"),
    ("tenants", "TRUNCATE intentd.tenants CASCADE"),
    ("submissions", "DELETE FROM intentd.submissions WHERE tenant_id = %(t)s"),
    ("submissions", "UPDATE intentd.submissions SET submission_id = submission_id + 1000000000 "
                    "WHERE tenant_id = %(t)s"),
    ("submissions", "UPDATE intentd.submissions SET tenant_id = %(other)s "
                    "WHERE tenant_id = %(t)s"),
    ("submissions", "TRUNCATE intentd.submissions"),
    ("intents", "UPDATE intentd.intents SET tenant_id = %(other)s WHERE tenant_id = %(t)s"),
    ("intents", "UPDATE intentd.intents SET submission_id = submission_id + 1 "
                "WHERE tenant_id = %(t)s"),
], ids=["delete_tenant", "rename_tenant", "truncate_tenants", "delete_submission",
        "renumber_submission", "move_submission", "truncate_submissions", "move_intent",
        "repoint_intent"])
def test_what_rows_refer_to_is_kept(shared, shared_db, finished, table, statement):
    t, _ = finished
    other = shared[0].create_tenant()
    _refused(shared_db, statement, {"t": t.tenant_id, "other": other.tenant_id}, "23503", None,
             table=table)


def test_retention_share_takes_each_tenant_s_lock_once(shared_db, finished):
    # intentd.submit and the insert check hold it for every tenant they insert for, so the
    # retention sweep (which takes it exclusively) never archives an id under them
    t, _ = finished
    with _rolled_back(shared_db) as cur:
        cur.execute("SELECT intentd.retention_share(%s)",
                    ([t.tenant_id, "other-a", t.tenant_id, "other-b"],))
        cur.execute("SELECT count(*), count(DISTINCT objid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND mode = 'ShareLock' "
                    "AND classid = 7242003 AND pid = pg_backend_pid()")
        assert cur.fetchall() == [(3, 3)]


def test_updates_that_keep_the_references_are_allowed(shared_db, finished):
    # the guards look at the referring columns only when they change
    t, iid = finished
    n = shared_db.query("UPDATE intentd.intents SET tenant_id = tenant_id, "
                        "submission_id = submission_id WHERE tenant_id = %s",
                        (t.tenant_id,), setup=("BEGIN",))
    assert n == 1
    n = shared_db.query("UPDATE intentd.tenants SET tenant_id = tenant_id WHERE tenant_id = %s",
                        (t.tenant_id,), setup=("BEGIN",))
    assert n == 1
