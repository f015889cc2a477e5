"""A Task caught by its Catch hands nothing of its own call to the state the Catch names: not
the write-ahead marker of a call whose outcome stayed unknown (the next Task would take it for
its own cut-short attempt), and not the old value its prepare read (the next update would keep
the wrong value for its undo). Workflows written for these tests run on the real intentd
against the vendor fake."""

import pytest

from connector_env import configure, crm_contact, crm_contact_property, intent
from fixtures import workflows_dir
from harness import TERMINAL_STATES

def catch_to(state):
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.caught", "Next": state}]


WORKFLOWS = {
    "testing.catch_then_notify": {
        "Comment": "A webhook call whose failure is caught, then a Slack message.",
        "StartAt": "Hook",
        "States": {
            "Hook": {"Type": "Task", "Resource": "arn:aws:intentd:::webhook.call",
                     "Compensate": "undo", "InputPath": "$.hook",
                     "ResultPath": "$.results.hook", "TimeoutSeconds": 2,
                     "Catch": catch_to("Notify"), "Next": "Notify"},
            "Notify": {"Type": "Task", "Resource": "arn:aws:intentd:::notify.post_message",
                       "InputPath": "$.notify", "ResultPath": "$.results.notify",
                       "TimeoutSeconds": 5, "End": True},
        },
    },
    "testing.catch_then_update": {
        "Comment": "A field update whose failure is caught, another update, then a failure "
                   "that undoes what succeeded.",
        "StartAt": "First",
        "States": {
            "First": {"Type": "Task", "Resource": "arn:aws:intentd:::crm.update_field",
                      "Compensate": "restore_field", "InputPath": "$.first",
                      "ResultPath": "$.results.first", "TimeoutSeconds": 5,
                      "Catch": catch_to("Second"), "Next": "Second"},
            "Second": {"Type": "Task", "Resource": "arn:aws:intentd:::crm.update_field",
                       "Compensate": "restore_field", "InputPath": "$.second",
                       "ResultPath": "$.results.second", "TimeoutSeconds": 5,
                       "Next": "Stop"},
            "Stop": {"Type": "Fail", "Error": "Testing.Stop",
                     "Cause": "ends the intent after Second succeeded"},
        },
    },
}


@pytest.fixture(scope="module")
def machines():
    with workflows_dir(WORKFLOWS) as d:
        yield d


@pytest.fixture
def env(fake, machines, intentd_factory):
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"], "webhook": ["hook-token"]})
    inst = intentd_factory(env={"INTENTD_STATEMACHINES": machines})
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    configure(c, fake, only=("crm", "notify", "webhook"))
    yield inst, tenant, c
    c.close()


def test_a_caught_unknown_outcome_does_not_stand_for_the_next_tasks_call(env, fake):
    inst, tenant, c = env
    fake.add_fault(method="POST", path_regex="^/hooks/", action="timeout", count=1)
    it = intent(tenant, "testing.catch_then_notify",
                {"hook": {"deal": "d-1"}, "notify": {"text": "Deal closed"}})
    assert c.submit(it, key=tenant.approval_key).status == 202
    st = c.wait_for_state(it["action_intent_id"], TERMINAL_STATES)
    assert st["state"] == "SUCCEEDED", st
    # the message was really posted, once, rather than taken as an earlier attempt's
    assert len(fake.effects(vendor="slack")) == 1
    assert len(fake.requests(vendor="slack")) == 1
    rows = inst.database.ledger_rows(it["action_intent_id"], tenant.tenant_id)
    entered = [r["payload"]["step"] for r in rows if r["event"] == "step.entered"]
    assert entered == ["Hook", "Notify"], entered
    notify_done = [r["payload"] for r in rows if r["event"] == "attempt.finished"
                   and r["payload"]["step"] == "Notify"]
    assert len(notify_done) == 1 and notify_done[0]["outcome"] == "succeeded", notify_done
    assert "delivery" not in notify_done[0]["result"], notify_done
    # the caught call may have taken effect: it is kept with what its undo needs
    hook = [s for s in st["steps"] if s["step"] == "Hook"]
    assert len(hook) == 1, st["steps"]


def test_a_caught_update_does_not_lend_its_old_value_to_the_next_update(env, fake):
    inst, tenant, c = env
    first, second = (crm_contact(fake, {"email": "gold@example.com", "tier": "gold"}),
                     crm_contact(fake, {"email": "silver@example.com", "tier": "silver"}))
    fake.add_fault(method="PATCH", path_regex="^/crm/v3/objects/contacts/%s$" % first,
                   action="status", status=400, count=-1)
    upd = {"object_type": "contacts", "property": "tier", "value": "platinum"}
    it = intent(tenant, "testing.catch_then_update",
                {"first": dict(upd, object_id=first), "second": dict(upd, object_id=second)})
    assert c.submit(it, key=tenant.approval_key).status == 202
    st = c.wait_for_state(it["action_intent_id"], TERMINAL_STATES)
    assert st["state"] == "FAILED", st
    second_step = [s for s in st["steps"] if s["step"] == "Second"]
    assert len(second_step) == 1 and second_step[0]["compensation"]["state"] == "compensated", st
    # the second update read its own contact's old value (before this test reads it) ...
    reads = [r for r in fake.requests(vendor="hubspot")
             if r["method"] == "GET" and r["path"] == "/crm/v3/objects/contacts/%s" % second]
    assert len(reads) == 1, reads
    # ... and its undo put that value back
    assert crm_contact_property(fake, second, "tier") == "silver"
    assert crm_contact_property(fake, first, "tier") == "gold"
