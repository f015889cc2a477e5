"""Connector intents end to end: the real intentd, a real PostgreSQL, and the vendor fake on
127.0.0.1 (tests/fakes). Each test checks what the vendor holds afterwards, not only the
intent's state: exactly one effect per succeeded step, none left behind where an undo exists."""

import time

import pytest

from connector_env import (book_meeting, configure, crm_contact, crm_task_params, draft_params,
                           intent, live, meeting_params, oauth2)
from harness import assert_problem, wait_until


@pytest.fixture
def env(fake, shared):
    """A fresh tenant with every connector pointed at a reset fake: (tenant, client, fake)."""
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"], "calendar": ["cal-token"],
                        "gmail": ["gmail-token"], "webhook": ["hook-token"]})
    inst = shared[0]
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    configure(c, fake)
    yield tenant, c, fake
    c.close()


def submit_and_wait(c, tenant, it, states):
    r = c.submit(it, key=tenant.approval_key)
    assert r.status == 202, r
    return c.wait_for_state(it["action_intent_id"], states)


def test_book_meeting_drafts_event_then_creates_task(env, shared_db):
    tenant, c, fake = env
    it = book_meeting(tenant)
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    events = live(fake, "calendar")
    tasks = live(fake, "hubspot", "create")
    assert len(events) == 1 and len(tasks) == 1
    # the calendar insert never notifies attendees, and its id is deterministic
    reqs = [r for r in fake.requests(vendor="calendar") if r["method"] == "POST"]
    assert "sendUpdates=none" in reqs[0]["query"]
    assert [s["external_id"] for s in st["steps"]] == [events[0]["id"], tasks[0]["id"]]
    assert all(s["compensation"]["state"] == "not_needed" for s in st["steps"])
    # every property HubSpot received is a string, and the key is in the unique property
    body = tasks[0]["body"]
    assert all(isinstance(v, str) for v in body["properties"].values())
    assert body["properties"]["intentd_idempotency_key"].startswith("ik_")
    # the attempt was on the ledger before the call's outcome
    events_seen = [r["event"] for r in shared_db.ledger_rows(it["action_intent_id"],
                                                             tenant.tenant_id)]
    first_start = events_seen.index("attempt.started")
    assert events_seen.index("attempt.finished") > first_start


def test_crm_503_until_retries_run_out_deletes_the_calendar_draft(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=503, count=-1)
    it = book_meeting(tenant)
    st = submit_and_wait(c, tenant, it, ("FAILED", "SUCCEEDED", "EXPIRED"))
    assert st["state"] == "FAILED", st
    assert "Connector.Transient" in st["terminal_reason"]
    assert st["last_error"]["error"] == "Connector.Transient"
    assert live(fake, "calendar") == []
    assert len(fake.effects(vendor="calendar", state="deleted")) == 1
    assert live(fake, "hubspot", "create") == []
    meeting = st["steps"][0]
    assert meeting["compensation"]["state"] == "compensated", st
    posts = [r for r in fake.requests(vendor="hubspot") if r["method"] == "POST"]
    assert len(posts) >= 2  # retried before giving up
    # its calendar draft was undone: running it again from the failed step would build on an
    # effect that is gone, so a redrive is refused
    b = assert_problem(c.post("/v1/intents/%s/redrive" % it["action_intent_id"],
                              body={"reason": "retry"}), 409)
    assert b["type"].endswith("compensated"), b


def test_reset_after_the_effect_is_reconciled_not_repeated(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="reset_after",
                   count=1)
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert len(fake.effects(vendor="hubspot", kind="create")) == 1
    # The fake de-duplicates on the unique property, so one effect alone would not show that
    # the engine looked before repeating: it made one attempt, which after the reset only looked
    # the task up. A second create can only be libcurl's own: on a reused keep-alive connection
    # that dies before any byte of the answer it sends the request once more on a new one,
    # which crm.create_task allows (repeat_safe) because the vendor refuses the duplicate.
    assert st["attempts"] == 1, st
    reqs = fake.requests(vendor="hubspot")
    creates = [r for r in reqs if r["method"] == "POST" and r["path"] == "/crm/v3/objects/tasks"]
    assert creates[0]["fault"] == "reset_after", reqs
    assert len(creates) <= 2 and all(r["status"] == 409 for r in creates[1:]), reqs
    after = [r for r in reqs if r["seq"] > creates[-1]["seq"]]
    assert after and all(r["method"] == "POST" and r["path"] == "/crm/v3/objects/tasks/search"
                         for r in after), reqs


def test_gmail_draft_unknown_outcome_is_found_by_message_id(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="/drafts$", action="reset_after", count=1)
    it = intent(tenant, "email.create_draft", draft_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert len(fake.effects(vendor="gmail")) == 1  # Gmail itself would have made a second


def test_timeout_after_the_effect_is_reconciled(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="/events$", action="timeout", count=1)
    it = intent(tenant, "calendar.draft_meeting", meeting_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    effects = fake.effects(vendor="calendar")
    assert len(effects) == 1
    # The event id is deterministic and the fake refuses a second insert of it, so one effect
    # alone would not show that the engine looked before repeating: the insert was sent once,
    # and then the event was looked up by its id.
    reqs = fake.requests(vendor="calendar")
    inserts = [r for r in reqs if r["method"] == "POST"]
    assert len(inserts) == 1 and inserts[0]["fault"] == "timeout", reqs
    assert inserts[0]["path"].endswith("/events"), reqs
    after = [r for r in reqs if r["seq"] > inserts[0]["seq"]]
    assert after and all(r["method"] == "GET" and r["path"] == "%s/%s" % (inserts[0]["path"],
                                                                         effects[0]["id"])
                         for r in after), reqs


def test_slack_unknown_outcome_is_never_repeated(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/services/", action="reset_after", count=1)
    it = intent(tenant, "notify.post_message", {"text": "Deal closed"})
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert len(fake.effects(vendor="slack")) == 1
    assert len([r for r in fake.requests(vendor="slack")]) == 1


def test_compensate_refuses_an_intent_with_nothing_to_undo(env):
    tenant, c, fake = env
    it = intent(tenant, "notify.post_message", {"text": "Deal closed"})
    assert submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))["state"] == "SUCCEEDED"
    path = "/v1/intents/%s/compensate" % it["action_intent_id"]
    b = assert_problem(c.post(path, body={"reason": "undo", "partial": True}), 409)
    assert b["type"].endswith("nothing-to-undo"), b
    assert c.intent(it["action_intent_id"]).json["state"] == "SUCCEEDED"


def test_rate_limited_honours_retry_after(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=429, retry_after="3", count=1)
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert st["attempts"] == 2
    assert len(live(fake, "hubspot", "create")) == 1
    # The retry reached the vendor no sooner than Retry-After after the refused request did
    # (the fake's arrival times; the Retrier's own backoff here is under 1 s, so only the
    # header can account for the gap). A lower bound only: how much later is not checked.
    creates = [r for r in fake.requests(vendor="hubspot")
               if r["method"] == "POST" and r["path"] == "/crm/v3/objects/tasks"]
    assert [r["status"] for r in creates] == [429, 201], creates
    assert creates[1]["time"] - creates[0]["time"] >= 3 - 0.05, \
        [(r["seq"], r["time"], r["status"]) for r in creates]


def test_permanent_error_fails_without_retry(env):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=400, count=-1)
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "FAILED" and st["last_error"]["error"] == "Connector.Permanent"
    assert st["attempts"] == 1


def test_wrong_bearer_token_fails_unauthorized(env, shared):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), crm_auth={"type": "bearer", "token": "wrong"})
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "FAILED" and st["last_error"]["error"] == "Connector.Unauthorized"
    assert fake.effects(vendor="hubspot") == []


def test_oauth2_refreshes_once_on_401_and_calls_again(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), crm_auth=oauth2(fake))
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    assert fake.oauth()["issued"] == 1
    assert len(live(fake, "hubspot", "create")) == 1
    # an expired token is refreshed again, by the same path
    fake.expire_tokens()
    it2 = intent(tenant, "crm.create_task", crm_task_params())
    st2 = submit_and_wait(c, tenant, it2, ("SUCCEEDED", "FAILED"))
    assert st2["state"] == "SUCCEEDED", st2
    assert fake.oauth()["issued"] == 2


def test_a_burst_of_401s_refreshes_the_token_once(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), crm_auth=oauth2(fake))
    # no access token yet: every call of the burst answers 401 at about the same time
    its = [intent(tenant, "crm.create_task", crm_task_params()) for _ in range(20)]
    r = c.batch(its, key=tenant.approval_key)
    assert r.status == 200, r
    for it in its:
        st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
        assert st["state"] == "SUCCEEDED", (st["last_error"], st["attempts"])
    assert fake.oauth()["issued"] == 1
    assert len(live(fake, "hubspot", "create")) == 20


def test_a_refresh_the_token_endpoint_refuses_fails_unauthorized(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), crm_auth=oauth2(fake, refresh_token="revoked-refresh-token"))
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "FAILED" and st["last_error"]["error"] == "Connector.Unauthorized", st
    assert "refreshing the access token failed" in st["last_error"]["cause"]
    assert fake.oauth()["issued"] == 0 and fake.effects(vendor="hubspot") == []


def test_no_call_is_sent_again_after_a_refresh_that_outlasted_the_deadline(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), crm_auth=oauth2(fake), limits={"timeout_seconds": 10})
    # the first call answers 401 (no access token yet); the new token comes after the deadline
    fake.add_fault(method="POST", path_regex="^/oauth2/token$", action="delay", delay_ms=3000,
                   count=1)
    it = intent(tenant, "crm.create_task", crm_task_params(),
                expires_at_epoch=int(time.time()) + 2)
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED", "EXPIRED"))
    assert st["state"] == "EXPIRED", st
    assert fake.oauth()["issued"] == 1
    posts = [r for r in fake.requests(vendor="hubspot") if r["method"] == "POST"]
    assert len(posts) == 1, posts  # the refused one; none after the deadline
    assert fake.effects(vendor="hubspot") == []


def test_a_call_written_ahead_but_never_sent_is_not_undone(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), limits={"timeout_seconds": 10})
    contact = crm_contact(fake, {"tier": "gold"})
    # the prepare read answers after the deadline: the call is written ahead, then not sent
    fake.add_fault(method="GET", path_regex="^/crm/v3/objects/contacts/", action="delay",
                   delay_ms=3000, count=1)
    it = intent(tenant, "crm.update_field",
                {"object_type": "contacts", "object_id": contact, "property": "tier",
                 "value": "platinum"}, expires_at_epoch=int(time.time()) + 2)
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED", "EXPIRED"))
    assert st["state"] == "EXPIRED", st
    assert "before the call could start" in st["terminal_reason"], st
    # neither the update nor an undo of it reached the vendor
    assert [r["method"] for r in fake.requests(vendor="hubspot")
            if r["path"] == "/crm/v3/objects/contacts/%s" % contact] == ["GET"]
    assert st["steps"] == [], st["steps"]


def test_an_undo_the_vendor_refuses_ends_in_compensation_failed(env, shared_db):
    tenant, c, fake = env
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=400, count=-1)
    fake.add_fault(method="DELETE", path_regex="/events/", action="status", status=400,
                   count=-1)
    it = book_meeting(tenant)
    st = submit_and_wait(c, tenant, it, ("FAILED", "SUCCEEDED", "CANCELLED"))
    assert st["state"] == "FAILED", st
    assert st["terminal_reason"].startswith("compensation_failed"), st
    assert st["last_error"]["error"] == "Intentd.CompensationFailed"
    assert st["steps"][0]["compensation"]["state"] == "failed"
    assert len(live(fake, "calendar")) == 1  # left behind, and a human is told
    assert shared_db.scalar("SELECT kind FROM intentd.alerts WHERE action_intent_id = %s",
                            (it["action_intent_id"],)) == "compensation_failed"


def test_unconfigured_connector_fails_with_a_clear_cause(fake, shared):
    inst = shared[0]
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "FAILED"
    assert "not configured" in st["last_error"]["cause"]
    c.close()


def test_cancel_mid_workflow_compensates_the_finished_step(env):
    tenant, c, fake = env
    # the calendar answers 3 s after the request arrives: the cancel lands while it is in flight
    configure(c, fake, only=("calendar",), limits={"timeout_seconds": 10})
    fake.add_fault(method="POST", path_regex="/events$", action="delay", delay_ms=3000, count=1)
    it = book_meeting(tenant)
    r = c.submit(it, key=tenant.approval_key)
    assert r.status == 202
    deadline = time.monotonic() + 20
    while not [q for q in fake.requests(vendor="calendar") if q["method"] == "POST"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert c.cancel(it["action_intent_id"], reason="customer changed their mind").status == 202
    st = c.wait_for_state(it["action_intent_id"], ("CANCELLED", "SUCCEEDED", "FAILED"))
    assert st["state"] == "CANCELLED", st
    assert live(fake, "calendar") == [] and live(fake, "hubspot", "create") == []
    assert st["steps"][0]["compensation"]["state"] == "compensated"


def test_ttl_passing_between_tasks_expires_and_compensates(env):
    tenant, c, fake = env
    # the deadline is at most 2 s away and the calendar answers after 3 s: the next step
    # boundary is past it, whatever the machine's speed
    configure(c, fake, only=("calendar",), limits={"timeout_seconds": 10})
    fake.add_fault(method="POST", path_regex="/events$", action="delay", delay_ms=3000, count=1)
    it = book_meeting(tenant, expires_at_epoch=int(time.time()) + 2)
    st = submit_and_wait(c, tenant, it, ("EXPIRED", "SUCCEEDED", "FAILED"))
    assert st["state"] == "EXPIRED", st
    assert live(fake, "calendar") == []
    # the event was made once (the first Task succeeded, past the deadline) and then undone
    events = fake.effects(vendor="calendar")
    assert len(events) == 1 and events[0]["state"] == "deleted", events
    assert st["steps"][0]["external_id"] == events[0]["id"], st
    assert st["steps"][0]["compensation"]["state"] == "compensated", st
    assert fake.effects(vendor="hubspot") == []  # no call started after the deadline


def test_operator_compensate_undoes_a_succeeded_intent(env):
    tenant, c, fake = env
    it = book_meeting(tenant)
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED"
    op = shared_client = c.with_token(tenant.operator)
    r = op.post("/v1/intents/%s/compensate" % it["action_intent_id"], body={"reason": "wrong"})
    assert r.status == 202, r
    st = op.wait_for_state(it["action_intent_id"], ("CANCELLED", "FAILED"))
    assert st["state"] == "CANCELLED", st
    assert st["compensating_to"] is None  # only while COMPENSATING
    assert live(fake, "calendar") == [] and live(fake, "hubspot", "create") == []
    assert [s["compensation"]["state"] for s in st["steps"]] == ["compensated", "compensated"]
    # only once
    assert_problem(op.post("/v1/intents/%s/compensate" % it["action_intent_id"],
                           body={"reason": "again"}), 409)
    shared_client.close()


def test_operator_compensate_names_irreversible_steps(env):
    tenant, c, fake = env
    it = intent(tenant, "cs.renewal_outreach",
                {"email": draft_params(), "task": crm_task_params(),
                 "notify": {"text": "Renewal outreach started"}})
    st = submit_and_wait(c, tenant, it, ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", st
    path = "/v1/intents/%s/compensate" % it["action_intent_id"]
    body = assert_problem(c.post(path, body={"reason": "undo"}), 409)
    assert "Notify" in body["detail"] or "notify" in body["detail"].lower()
    assert len(live(fake, "gmail")) == 1  # nothing changed
    r = c.post(path, body={"reason": "undo what can be", "partial": True})
    assert r.status == 202, r
    st = c.wait_for_state(it["action_intent_id"], ("CANCELLED", "FAILED"))
    assert st["state"] == "CANCELLED"
    assert live(fake, "gmail") == [] and live(fake, "hubspot", "create") == []
    assert len(live(fake, "slack")) == 1
    assert [s["compensation"]["state"] for s in st["steps"]][-1] == "irreversible"


def test_redrive_resumes_a_failed_intent(env, shared_db):
    tenant, c, fake = env
    rule = fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                          status=400, count=-1)
    it = intent(tenant, "crm.create_task", crm_task_params())
    st = submit_and_wait(c, tenant, it, ("FAILED", "SUCCEEDED"))
    assert st["state"] == "FAILED"
    fake.remove_fault(rule)
    r = c.post("/v1/intents/%s/redrive" % it["action_intent_id"], body={"reason": "fixed"})
    assert r.status == 202, r
    st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
    assert st["state"] == "SUCCEEDED", (st["terminal_reason"], st["last_error"], fake.faults())
    assert len(live(fake, "hubspot", "create")) == 1
    events = [r["event"] for r in shared_db.ledger_rows(it["action_intent_id"],
                                                        tenant.tenant_id)]
    assert "operator.redrive" in events
    # a SUCCEEDED one cannot be redriven; bad bodies change nothing
    assert_problem(c.post("/v1/intents/%s/redrive" % it["action_intent_id"],
                          body={"reason": "again"}), 409)
    assert_problem(c.post("/v1/intents/%s/redrive" % it["action_intent_id"], body={}), 400)
    assert_problem(c.post("/v1/intents/nope/redrive", body={"reason": "x"}), 404)


def test_signals_report_outcomes_in_ledger_order(env):
    tenant, c, fake = env
    ok = book_meeting(tenant)
    submit_and_wait(c, tenant, ok, ("SUCCEEDED",))
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=400, count=-1)
    bad = intent(tenant, "crm.create_task", crm_task_params())
    submit_and_wait(c, tenant, bad, ("FAILED",))
    r = c.get("/v1/signals?after=0&limit=10")
    assert r.status == 200, r
    sig = r.json["signals"]
    assert [s["type"] for s in sig] == ["ACTION_EXECUTED", "ACTION_FAILED"]
    assert sig[0]["steps"][0]["external_id"]
    r2 = c.get("/v1/signals?after=%d" % sig[0]["seq"])
    assert [s["action_intent_id"] for s in r2.json["signals"]] == [bad["action_intent_id"]]
    assert_problem(c.get("/v1/signals?after=-1"), 400)
    assert_problem(c.get("/v1/signals?limit=0"), 400)


def test_rate_limit_defers_without_counting_attempts(env, shared_db):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), limits={"rate_per_second": 2, "burst": 1})
    its = [intent(tenant, "crm.create_task", crm_task_params()) for _ in range(5)]
    for it in its:
        assert c.submit(it, key=tenant.approval_key).status == 202
    for it in its:
        st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
        assert st["state"] == "SUCCEEDED" and st["attempts"] == 1, st
    assert len(live(fake, "hubspot", "create")) == 5
    # one token at once, two a second: five calls cannot have gone out within 1.5 s
    times = sorted(r["time"] for r in fake.requests(vendor="hubspot") if r["method"] == "POST")
    assert times[-1] - times[0] >= 1.5, times
    # the bucket is the shared one, in PostgreSQL
    assert shared_db.scalar("SELECT count(*) FROM intentd.rate_buckets WHERE tenant_id = %s",
                            (tenant.tenant_id,)) == 1


def test_retry_budget_holds_retries_without_spending_attempts(env):
    tenant, c, fake = env
    # 0.2 of at least 10 calls a minute: two retries, then the rest wait for the window
    configure(c, fake, only=("crm",), limits={"retry_budget": 0.2})
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=503, count=-1)
    its = [intent(tenant, "crm.create_task", crm_task_params()) for _ in range(5)]
    for it in its:
        assert c.submit(it, key=tenant.approval_key).status == 202
    ids = [it["action_intent_id"] for it in its]

    def settled():
        sts = [c.get("/v1/intents/%s" % i).json for i in ids]
        posts = [r for r in fake.requests(vendor="hubspot") if r["method"] == "POST"]
        held = [st for st in sts if st.get("held_by") == "retry_budget"]
        # every call made is an attempt on the ledger; a retry the budget holds is not
        if held and sum(st["attempts"] for st in sts) == len(posts):
            return sts, posts
        return None

    sts, posts = wait_until(settled, 60, what="a retry held by the budget")
    assert len(posts) == 5 + 2, [r["time"] for r in posts]
    assert all(st["state"] == "EXECUTING" for st in sts), sts


def test_breaker_opens_on_an_outage_and_calls_are_held_not_failed(env):
    tenant, c, fake = env
    configure(c, fake, only=("crm",), limits={"breaker_failures": 2,
                                              "breaker_open_seconds": 2})
    outage = fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$",
                            action="status", status=503, count=-1)
    first = [intent(tenant, "crm.create_task", crm_task_params()) for _ in range(2)]
    for it in first:
        assert c.submit(it, key=tenant.approval_key).status == 202
    deadline = time.monotonic() + 30
    while len([r for r in fake.requests(vendor="hubspot") if r["method"] == "POST"]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    held = intent(tenant, "crm.create_task", crm_task_params())
    assert c.submit(held, key=tenant.approval_key).status == 202
    # while the outage lasts the new intent is held by the breaker, without spending attempts
    seen = c.wait_for_state(held["action_intent_id"], ("EXECUTING", "PENDING", "SUCCEEDED"))
    deadline = time.monotonic() + 30
    while seen.get("held_by") != "breaker_open":
        assert time.monotonic() < deadline, seen
        time.sleep(0.02)
        seen = c.intent(held["action_intent_id"]).json
    assert seen["attempts"] == 0
    fake.remove_fault(outage)
    for it in first + [held]:
        st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED"))
        assert st["state"] == "SUCCEEDED", st
    assert c.intent(held["action_intent_id"]).json["attempts"] == 1
