"""GET /v1/action-types: every workflow in statemachines/ with its states, Tasks, retry
policies and reversibility (issue 3, item 12)."""

from harness import assert_problem

EXPECTED = {"internal.create_task", "internal.log_note", "internal.attach_brief",
            "internal.follow_up", "crm.create_task", "crm.update_field", "crm.create_opportunity",
            "calendar.draft_meeting", "email.create_draft", "notify.post_message", "webhook.call",
            "sales.book_meeting", "sales.follow_up", "cs.renewal_outreach", "cs.risk_escalation"}


def test_lists_every_action_type_with_retries_and_reversibility(client, tenant):
    r = client.get("/v1/action-types", token=tenant.operator)
    assert r.status == 200, r
    types = {t["action_type"]: t for t in r.json["action_types"]}
    assert set(types) == EXPECTED
    book = types["sales.book_meeting"]
    assert book["reversible"] is True
    tasks = {t["state"]: t for t in book["tasks"]}
    draft = tasks["DraftMeeting"]
    assert draft["operation"] == "calendar.draft_meeting"
    assert draft["compensate"] == "calendar.delete_event" and draft["reversible"] is True
    assert draft["retry"], draft
    rule = draft["retry"][0]
    assert "Connector.Transient" in rule["error_equals"] and rule["jitter"] == "FULL"
    assert rule["max_attempts"] >= 1 and rule["max_delay_seconds"] > 0
    assert tasks["CreateTask"]["compensate"] == "crm.archive_task"
    # a notification cannot be taken back, and a workflow holding one is not reversible
    assert types["notify.post_message"]["reversible"] is False
    assert types["cs.renewal_outreach"]["reversible"] is False
    assert {"CheckInput", "DraftMeeting", "CreateTask"} <= set(book["states"])


def test_needs_a_token(client):
    assert_problem(client.get("/v1/action-types", token=None), 401)
