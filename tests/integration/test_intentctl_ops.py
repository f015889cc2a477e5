"""`intentctl compensate`, `redrive`, `signals` and `preview` against the real intentd and
PostgreSQL (docs/api-contract.md, issue 3). Each test checks what the daemon did afterwards (the
intent's state, the ledger, the effect tables, the vendor fake), not only intentctl's output.
The binaries are INTENTD_BIN and INTENTCTL_BIN (else build/...)."""

import json
import os
import pathlib
import subprocess
import uuid

import pytest

from connector_env import configure, crm_task_params, intent
from fixtures import unchanged

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("INTENTCTL_BIN", str(REPO / "build" / "tools" / "intentctl"))


def ctl(intentd, token, *args, stdin=None):
    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        pytest.skip("%s not built (set INTENTCTL_BIN)" % CTL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCTL_")}
    env["INTENTCTL_URL"] = "http://127.0.0.1:%d" % intentd.port
    if token:
        env["INTENTCTL_TOKEN"] = token
    r = subprocess.run([CTL] + list(args), input=stdin, capture_output=True, env=env,
                       timeout=60)
    r.out, r.err = r.stdout.decode(), r.stderr.decode()
    return r


@pytest.fixture
def op(shared_intentd, tenant):
    """The tenant's operator client."""
    c = shared_intentd.client(token=tenant.operator)
    yield c
    c.close()


def succeeded_task(op, tenant):
    it = tenant.intent()
    assert op.submit(it, key=tenant.approval_key).status == 202
    st = op.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    return it["action_intent_id"]


def ledger_events(db, tenant, intent_id):
    return [r["event"] for r in db.ledger_rows(intent_id, tenant.tenant_id)]


# ---------------------------------------------------------------------------- compensate


def test_compensate_undoes_a_succeeded_intent(shared_intentd, shared_db, tenant, op):
    iid = succeeded_task(op, tenant)
    r = ctl(shared_intentd, tenant.operator, "compensate", iid, "--reason", "wrong customer")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("compensating %s: it is COMPENSATING and ends CANCELLED" % iid)
    assert lines[2].split() == ["STEP", "OPERATION", "EXTERNAL", "ID", "UNDO", "BY",
                                "COMPENSATION"]
    assert lines[3].split()[:2] == ["CreateTask", "internal.create_task"]
    assert lines[3].split()[-2:] == ["internal.void_task", "pending"]
    st = op.wait_for_state(iid, ("CANCELLED", "FAILED"))
    assert st["state"] == "CANCELLED", st
    assert st["terminal_reason"] == "compensated by an operator: wrong customer"
    assert shared_db.scalar("SELECT count(*) FROM intentd.internal_tasks WHERE tenant_id = %s "
                            "AND action_intent_id = %s AND voided_at IS NOT NULL",
                            (tenant.tenant_id, iid)) == 1
    rows = [r for r in shared_db.ledger_rows(iid, tenant.tenant_id)
            if r["event"] == "operator.compensate"]
    assert len(rows) == 1 and rows[0]["payload"]["reason"] == "wrong customer"
    assert rows[0]["actor"] and tenant.operator not in json.dumps(rows[0], default=str)
    # status now shows how the step was undone
    r = ctl(shared_intentd, tenant.operator, "status", iid)
    assert r.returncode == 0, r.err
    assert "compensated" in [l.split()[-1] for l in r.out.splitlines() if "CreateTask" in l]


def test_compensate_again_is_refused_and_changes_nothing(shared_intentd, shared_db, tenant, op):
    iid = succeeded_task(op, tenant)
    assert ctl(shared_intentd, tenant.operator, "compensate", iid, "--reason", "x").returncode == 0
    op.wait_for_state(iid, ("CANCELLED",))
    with unchanged(shared_db):
        r = ctl(shared_intentd, tenant.operator, "compensate", iid, "--reason", "again")
    assert r.returncode == 1 and r.out == ""
    assert r.err.startswith("intentctl: 409 ") and "this one is CANCELLED" in r.err


def test_compensate_json_prints_the_intent(shared_intentd, tenant, op):
    iid = succeeded_task(op, tenant)
    r = ctl(shared_intentd, tenant.operator, "--json", "compensate", iid, "--reason", "dup",
            "--partial")
    assert r.returncode == 0, r.err
    doc = json.loads(r.out)
    assert doc["action_intent_id"] == iid and doc["state"] == "COMPENSATING"
    assert doc["compensating_to"] == "CANCELLED"
    assert [s["compensation"]["state"] for s in doc["steps"]] == ["pending"]
    op.wait_for_state(iid, ("CANCELLED",))


def test_compensate_unknown_and_foreign_intents_are_404(shared_intentd, tenant, op):
    iid = succeeded_task(op, tenant)
    other = shared_intentd.create_tenant()
    r = ctl(shared_intentd, other.operator, "compensate", iid, "--reason", "x")
    assert r.returncode == 1 and r.err.startswith("intentctl: 404 ")
    r = ctl(shared_intentd, tenant.operator, "compensate", "ai_nope", "--reason", "x")
    assert r.returncode == 1 and "no such intent" in r.err
    assert op.intent(iid).json["state"] == "SUCCEEDED"


def test_compensate_without_a_token_is_401(shared_intentd, tenant, op):
    iid = succeeded_task(op, tenant)
    r = ctl(shared_intentd, None, "compensate", iid, "--reason", "x")
    assert r.returncode == 1 and "401" in r.err and "no token given" in r.err


@pytest.mark.parametrize("args", [
    ["compensate", "ai_1"],                          # no reason
    ["compensate", "--reason", "x"],                 # no id
    ["compensate", "ai_1", "--reason", ""],          # empty reason
    ["redrive", "ai_1"],
    ["redrive", "ai_1", "--reason", "x", "--partial"],  # compensate only
    ["signals", "extra"],
    ["signals", "--after"],                          # needs a value
    ["preview"],
    ["preview", "/nonexistent/intent.json"],
])
def test_usage_errors_exit_2_without_a_request(shared_intentd, shared_db, tenant, args):
    with unchanged(shared_db):
        r = ctl(shared_intentd, tenant.operator, *args)
    assert r.returncode == 2 and r.out == "" and r.err.startswith("intentctl: "), r.err


# ---------------------------------------------------------------------------- redrive


def test_redrive_after_the_connector_is_configured(shared_intentd, shared_db, tenant, op, fake):
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"]})
    it = intent(tenant, "crm.create_task", crm_task_params())
    iid = it["action_intent_id"]
    assert op.submit(it, key=tenant.approval_key).status == 202
    st = op.wait_for_state(iid, ("FAILED", "SUCCEEDED"))
    assert st["state"] == "FAILED" and st["last_error"]["error"] == "Connector.Permanent", st
    oncall = shared_intentd.client(token=tenant.oncall)
    configure(oncall, fake, only=["crm"])
    oncall.close()
    r = ctl(shared_intentd, tenant.operator, "redrive", iid, "--reason", "crm configured")
    assert r.returncode == 0, r.err
    assert r.out == "redriven %s: EXECUTING again from step CreateTask, with fresh attempts\n" % iid
    st = op.wait_for_state(iid, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert len(fake.effects(vendor="hubspot", kind="create", state="live")) == 1
    assert ledger_events(shared_db, tenant, iid).count("operator.redrive") == 1
    # a SUCCEEDED intent cannot be redriven; the server says why and nothing changes
    with unchanged(shared_db):
        r = ctl(shared_intentd, tenant.operator, "redrive", iid, "--reason", "again")
    assert r.returncode == 1 and "only a FAILED intent can be redriven" in r.err


def test_redrive_json_and_global_admin_tenant(shared_intentd, tenant, op):
    it = intent(tenant, "crm.create_task", crm_task_params())
    iid = it["action_intent_id"]
    assert op.submit(it, key=tenant.approval_key).status == 202
    assert op.wait_for_state(iid, ("FAILED", "SUCCEEDED"))["state"] == "FAILED"
    admin = shared_intentd.admin_token
    r = ctl(shared_intentd, admin, "redrive", iid, "--reason", "x")  # no tenant named
    assert r.returncode == 1 and "400" in r.err and "tenant" in r.err
    r = ctl(shared_intentd, admin, "--json", "redrive", iid, "--reason", "still unconfigured",
            "--tenant", tenant.tenant_id)
    assert r.returncode == 0, r.err
    assert json.loads(r.out)["state"] == "EXECUTING"
    # nothing was fixed, so it fails again, with fresh attempts spent
    assert op.wait_for_state(iid, ("FAILED", "SUCCEEDED"))["state"] == "FAILED"


# ---------------------------------------------------------------------------- signals


def test_signals_table_paging_and_json(shared_intentd, tenant, op):
    a = succeeded_task(op, tenant)
    b = succeeded_task(op, tenant)
    assert ctl(shared_intentd, tenant.operator, "compensate", b, "--reason", "undo").returncode == 0
    op.wait_for_state(b, ("CANCELLED",))
    r = ctl(shared_intentd, tenant.operator, "signals", "--limit", "2")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["SEQ", "AT", "SIGNAL", "INTENT", "ACTION", "EXTERNAL", "IDS",
                                "REASON"]
    rows = [l.split() for l in lines[1:]]
    assert [(x[2], x[3], x[4]) for x in rows] == [
        ("ACTION_EXECUTED", a, "internal.create_task"),
        ("ACTION_EXECUTED", b, "internal.create_task")]
    assert rows[0][5].startswith("CreateTask=")
    last = int(rows[1][0])
    assert "more signals may follow: add --after %d" % last in r.err
    r = ctl(shared_intentd, tenant.operator, "signals", "--after", str(last))
    rows = [l.split() for l in r.out.splitlines()[1:]]
    assert [(x[2], x[3]) for x in rows] == [("ACTION_COMPENSATED", b)]
    assert " ".join(rows[0][6:]) == "compensated by an operator: undo"
    assert r.err == ""  # not a full page
    r = ctl(shared_intentd, tenant.operator, "--json", "signals", "--after", "0")
    doc = json.loads(r.out)
    assert [s["type"] for s in doc["signals"]] == ["ACTION_EXECUTED", "ACTION_EXECUTED",
                                                   "ACTION_COMPENSATED"]
    assert doc["next_after"] == doc["signals"][-1]["seq"]
    # another tenant sees none of them
    other = shared_intentd.create_tenant()
    r = ctl(shared_intentd, other.operator, "--json", "signals")
    assert json.loads(r.out)["signals"] == []


@pytest.mark.parametrize("args", [["--limit", "0"], ["--limit", "1001"], ["--after", "-1"],
                                  ["--after", "x"]])
def test_signals_bad_query_is_refused_by_the_server(shared_intentd, tenant, args):
    r = ctl(shared_intentd, tenant.operator, "signals", *args)
    assert r.returncode == 1 and r.out == "" and r.err.startswith("intentctl: 400 "), r.err


# ---------------------------------------------------------------------------- preview


def write_intent(tmp_path, it):
    f = tmp_path / "intent.json"
    f.write_text(json.dumps(it))
    return str(f)


def test_preview_shows_the_exact_request_with_the_token_redacted(shared_intentd, shared_db,
                                                                 tenant, tmp_path, fake):
    # the connector points at the vendor fake, which would take the call: so "nothing was
    # sent" is checked where it would land, not only in intentctl's output
    fake.reset()
    token = "crm-SECRET-%s" % uuid.uuid4().hex
    fake.config(tokens={"hubspot": [token]})
    oncall = shared_intentd.client(token=tenant.oncall)
    r = oncall.request("PUT", "/v1/connectors/crm", body={
        "base_url": fake.url(""), "auth": {"type": "bearer", "token": token}})
    assert r.status == 200, r
    oncall.close()
    seen = fake.get("/_fake/requests")["last_seq"]
    it = intent(tenant, "crm.create_task", crm_task_params())
    with unchanged(shared_db):
        r = ctl(shared_intentd, tenant.operator, "preview", write_intent(tmp_path, it))
    assert r.returncode == 0, r.err
    assert fake.requests(since=seen) == [] and fake.effects() == []
    assert token not in r.out + r.err
    out = r.out
    assert out.splitlines()[0] == ("preview of %s (crm.create_task): a dry run: nothing was "
                                   "stored or sent" % it["action_intent_id"])
    assert "CreateTask: crm.create_task on crm, undone by crm.archive_task" in out
    assert "  guards: go (breaker closed" in out
    assert "  call: POST %s/crm/v3/objects/tasks\n" % fake.url("") in out
    assert "    Authorization: Bearer [redacted]\n" in out
    body = json.loads([l for l in out.splitlines() if l.startswith("    {")][0])
    assert body["properties"]["hs_task_subject"] == "Follow up on the renewal"
    assert shared_db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id = %s",
                            (it["action_intent_id"],)) == 0


def test_preview_from_stdin_names_unconfigured_connectors_and_internal_effects(
        shared_intentd, tenant):
    it = intent(tenant, "email.create_draft",
                {"to": "buyer@example.com", "subject": "Hi", "body": "Hello"})
    r = ctl(shared_intentd, tenant.operator, "preview", "-", stdin=json.dumps(it).encode())
    assert r.returncode == 0, r.err
    assert "  problem: this connector is not configured for the tenant" in r.out
    r = ctl(shared_intentd, tenant.operator, "preview", "-",
            stdin=json.dumps(tenant.intent()).encode())
    assert r.returncode == 0, r.err
    assert "CreateTask: internal.create_task on internal, undone by internal.void_task" in r.out
    assert "  effect: a record in intentd's own database" in r.out
    assert '"title":"Call the customer back"' in r.out


def test_preview_of_an_invalid_intent_exits_1_with_the_reasons(shared_intentd, shared_db, tenant,
                                                               tmp_path):
    it = intent(tenant, "crm.create_task", {"subject": "no due date"})
    f = write_intent(tmp_path, it)
    with unchanged(shared_db):
        r = ctl(shared_intentd, tenant.operator, "preview", f)
        rj = ctl(shared_intentd, tenant.operator, "--json", "preview", f)
    assert r.returncode == 1 and r.out == ""
    assert r.err.startswith("intentctl: the intent would be refused: ")
    assert "  /parameters/due_at: " in r.err
    assert rj.returncode == 1 and json.loads(rj.out)["valid"] is False


def test_preview_of_another_tenants_intent_is_invalid(shared_intentd, tenant):
    other = shared_intentd.create_tenant()
    r = ctl(shared_intentd, tenant.operator, "preview", "-",
            stdin=json.dumps(other.intent()).encode())
    assert r.returncode == 1 and "/tenant_id: not the tenant of this token" in r.err


def test_preview_of_malformed_json_is_400(shared_intentd, tenant):
    r = ctl(shared_intentd, tenant.operator, "preview", "-", stdin=b'{"action_type": ')
    assert r.returncode == 1 and r.err.startswith("intentctl: 400 ")
