"""Human notification (SPEC §6): FAILED and EXPIRED intents (and compensation failures and
quarantine halts) post one Slack-shaped message per intent and kind to
INTENTD_ALERT_WEBHOOK_URL; a failed post is retried until the webhook acknowledges it."""

import time

import pytest

from connector_env import VendorFake, configure, crm_task_params, intent
from harness import wait_until


@pytest.fixture
def fake():
    f = VendorFake().start()
    yield f
    f.stop()


def test_failed_and_expired_intents_alert_once_each(fake, intentd_factory):
    inst = intentd_factory(env={"INTENTD_ALERT_WEBHOOK_URL": fake.url("/services/ALERTS/X/Y")})
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    configure(c, fake, only=("crm",))
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=400, count=-1)
    # the first post of an alert fails: it must come again
    fake.add_fault(method="POST", path_regex="^/services/ALERTS/", action="status", status=500,
                   count=1)
    bad = intent(tenant, "crm.create_task", crm_task_params())
    assert c.submit(bad, key=tenant.approval_key).status == 202
    assert c.wait_for_state(bad["action_intent_id"], ("FAILED",))["state"] == "FAILED"

    def messages():
        return [e for e in fake.effects(vendor="slack") if "ALERTS" in e.get("path", "")]

    wait_until(lambda: len(messages()) >= 1, 60, what="the failure alert")
    text = messages()[0]["body"]["text"]
    assert bad["action_intent_id"] in text and "FAILED" in text
    assert inst.database.scalar(
        "SELECT attempts FROM intentd.alerts WHERE action_intent_id = %s",
        (bad["action_intent_id"],)) >= 2
    time.sleep(2.5)  # a second round must not post it again
    assert len(messages()) == 1
    c.close()
