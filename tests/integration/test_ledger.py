"""Ledger immutability enforced by PostgreSQL (even for the table owner), illegal state changes
refused by the database, and tamper detection by GET /v1/ledger/verify (SPEC §3, §4.8)."""

import psycopg2
import pytest

from fixtures import intent_copy_sql, owner_of, unchanged
from harness import assert_problem


@pytest.mark.parametrize("statement", [
    "UPDATE intentd.ledger SET actor = 'mallory'",
    "UPDATE intentd.ledger SET event = event WHERE seq = (SELECT max(seq) FROM intentd.ledger)",
    "DELETE FROM intentd.ledger",
    "DELETE FROM intentd.ledger WHERE seq = (SELECT max(seq) FROM intentd.ledger)",
    "TRUNCATE intentd.ledger",
    "TRUNCATE intentd.ledger CASCADE",
], ids=["update_all", "update_one", "delete_all", "delete_one", "truncate", "truncate_cascade"])
def test_ledger_refuses_change_from_the_table_owner(shared_db, finished, statement):
    owner = owner_of(shared_db, "ledger")
    before = shared_db.query("SELECT seq, hash FROM intentd.ledger ORDER BY seq")
    assert before
    with pytest.raises(psycopg2.Error):
        shared_db.query(statement, role=owner)
    assert shared_db.query("SELECT seq, hash FROM intentd.ledger ORDER BY seq")[:len(before)] \
        == before


def test_ledger_refuses_change_from_a_superuser_with_guards_on(shared_db, finished):
    with pytest.raises(psycopg2.Error):
        shared_db.query("UPDATE intentd.ledger SET actor = 'mallory'")
    with pytest.raises(psycopg2.Error):
        shared_db.query("DELETE FROM intentd.ledger")


@pytest.mark.parametrize("to_state", ["PENDING", "EXECUTING", "FAILED"])
def test_illegal_state_change_is_refused_by_the_database(shared_db, finished, to_state):
    t, iid = finished
    owner = owner_of(shared_db, "intents")
    with pytest.raises(psycopg2.Error):
        shared_db.query("UPDATE intentd.intents SET state = %s WHERE action_intent_id = %s "
                        "AND tenant_id = %s", (to_state, iid, t.tenant_id), role=owner)
    assert shared_db.intent_state(iid, t.tenant_id) == "SUCCEEDED"


@pytest.mark.parametrize("to_state", ["EXECUTING", "SUCCEEDED"])
def test_intent_inserted_past_pending_is_refused_by_the_database(shared_db, finished, to_state):
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, iid + "-copy", to_state)
    with unchanged(shared_db):
        with pytest.raises(psycopg2.Error) as e:
            shared_db.query(sql, params, role=owner_of(shared_db, "intents"))
    assert e.value.pgcode == "23514" and "must start PENDING" in str(e.value), e.value


@pytest.mark.parametrize("bad_id", ["", "has space", "x" * 129, "caf\u00e9", "tab\t",
                                    "line\n", "semi;colon", "slash/"],
                         ids=["empty", "space", "129_chars", "non_ascii", "tab", "newline",
                              "semicolon", "slash"])
def test_bad_action_intent_id_is_refused_by_the_database(shared_db, finished, bad_id):
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, bad_id)
    with unchanged(shared_db):
        with pytest.raises(psycopg2.Error) as e:
            shared_db.query(sql, params, role=owner_of(shared_db, "intents"))
    assert e.value.pgcode == "23514" and "intents_action_intent_id_check" in str(e.value), \
        e.value


@pytest.mark.parametrize("good_id", ["A", "x" * 128, "Az09._:-"], ids=["one", "128", "every_class"])
def test_every_allowed_action_intent_id_is_accepted_by_the_database(shared_db, finished, good_id):
    # BEGIN without COMMIT: the connection closes and the row is rolled back, so no intent
    # is left for the scheduler
    t, iid = finished
    sql, params = intent_copy_sql(t, iid, good_id)
    assert shared_db.query(sql, params, setup=("BEGIN",)) == [(good_id,)]


def test_ledger_rows_without_a_hash_are_chained_by_the_database(shared_db, admin, finished):
    # The engine hands its rows over hashed; a row inserted without one (as psql would) is
    # chained by the trigger, and the chain still verifies.
    t, iid = finished
    shared_db.query("INSERT INTO intentd.ledger (tenant_id, action_intent_id, event, node_id, "
                    "actor) VALUES (%s, %s, 'operator.note', 'psql', 'test')", (t.tenant_id, iid))
    [row] = shared_db.query("SELECT seq, prev_hash, hash FROM intentd.ledger WHERE tenant_id = %s "
                            "AND action_intent_id = %s AND event = 'operator.note'",
                            (t.tenant_id, iid))
    [prev] = shared_db.query("SELECT hash FROM intentd.ledger WHERE seq = %s", (row[0] - 1,))
    assert bytes(row[1]) == bytes(prev[0]) and len(bytes(row[2])) == 32, (row, prev)
    r = admin.verify_ledger()
    assert r.status == 200 and r.json["ok"] is True, r


def test_ledger_verify_needs_admin(shared_intentd, finished):
    t, _ = finished
    assert_problem(shared_intentd.client(token=t.operator).verify_ledger(), 403)


def test_ledger_verify_is_the_global_admins_only(shared_intentd, shared_db, admin, finished):
    # The chain spans every tenant: a tenant's admin would learn the whole ledger's row count
    # (and a break's seq and reason in another tenant's rows), so it is refused, saying why.
    t, _ = finished
    r = admin.post("/v1/tenants/%s/tokens" % t.tenant_id, body={"role": "admin"})
    assert r.status == 201, r
    with unchanged(shared_db):
        p = assert_problem(shared_intentd.client(token=r.json["token"]).verify_ledger(), 403)
    assert p["type"].endswith("/forbidden") and "global admin" in p["detail"], p
    assert "rows" not in p and "ok" not in p, p
    r = admin.verify_ledger()
    assert r.status == 200 and r.json["ok"] is True and r.json["rows"] > 0, r


# ---------------------------------------------------------------------------- tamper detection
# Each of these breaks the chain for good, so each has its own database.


def _tamper_setup(intentd_factory):
    inst = intentd_factory()
    t = inst.create_tenant()
    c = inst.client()
    ids = []
    for _ in range(3):
        intent = t.intent()
        assert c.submit(intent, key=t.key).status == 202
        ids.append(intent["action_intent_id"])
    op = c.with_token(t.operator)
    for iid in ids:
        op.wait_for_state(iid, "SUCCEEDED")
    inst.database.wait_quiescent()
    r = inst.admin().verify_ledger()
    assert r.status == 200 and r.json["ok"] is True, r
    return inst, ids


def test_verify_names_the_row_whose_payload_was_altered(intentd_factory):
    inst, ids = _tamper_setup(intentd_factory)
    db = inst.database
    seqs = [r["seq"] for r in db.ledger_rows(ids[1])]
    victim = seqs[len(seqs) // 2]
    ptype = db.column_type("intentd", "ledger", "payload")
    n = db.query("UPDATE intentd.ledger SET payload = (coalesce(payload::jsonb, '{}'::jsonb) "
                 "|| '{\"tampered\": true}'::jsonb)::%s WHERE seq = %%s" % ptype, (victim,),
                 setup=("SET session_replication_role = replica",))
    assert n == 1, "the UPDATE with the guard disabled did not change the row"
    r = inst.admin().verify_ledger()
    assert r.status == 200, r
    assert r.json["ok"] is False, r.json
    assert r.json["seq"] == victim, r.json
    assert r.json.get("reason"), r.json


def test_verify_names_the_row_whose_actor_was_altered(intentd_factory):
    inst, ids = _tamper_setup(intentd_factory)
    db = inst.database
    victim = db.ledger_rows(ids[0])[0]["seq"]
    n = db.query("UPDATE intentd.ledger SET actor = 'mallory' WHERE seq = %s", (victim,),
                 setup=("SET session_replication_role = replica",))
    assert n == 1
    r = inst.admin().verify_ledger()
    assert r.status == 200 and r.json["ok"] is False and r.json["seq"] == victim, r.json


def test_verify_detects_a_deleted_row(intentd_factory):
    inst, ids = _tamper_setup(intentd_factory)
    db = inst.database
    seqs = [r["seq"] for r in db.ledger_rows(ids[1])]
    victim = seqs[1]
    n = db.query("DELETE FROM intentd.ledger WHERE seq = %s", (victim,),
                 setup=("SET session_replication_role = replica",))
    assert n == 1
    following = db.scalar("SELECT min(seq) FROM intentd.ledger WHERE seq > %s", (victim,))
    r = inst.admin().verify_ledger()
    assert r.status == 200 and r.json["ok"] is False, r.json
    assert r.json["seq"] in (victim, following), (r.json, victim, following)
