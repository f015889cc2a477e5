"""Fault rules and the control API of the vendor fake."""

import http.client
import json
import socket
import time

import pytest

from fake_client import FakeError
from fake_helpers import event_body, raw_exchange, task_body

HOOK = "/services/T000/B000/XXXXSECRET"


def raw_post(path, body, extra=""):
    data = json.dumps(body).encode()
    return (b"POST %s HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n%s"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), extra.encode(), len(data), data))


# ---- status ---------------------------------------------------------------------------------


def test_status_fault_uses_vendor_shape_and_applies_nothing(fake):
    fake.add_fault(path_regex="^/crm/", action="status", status=503, retry_after=7)
    st, hdrs, body = fake.request("POST", "/crm/v3/objects/tasks", task_body())
    assert st == 503 and hdrs["retry-after"] == "7"
    data = json.loads(body)
    assert data["status"] == "error" and data["category"] == "INTERNAL_ERROR"
    assert fake.effects() == []
    # count defaults to 1: the next call goes through
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body())[0] == 201
    assert len(fake.effects()) == 1
    assert fake.faults()[0]["fired"] == 1 and fake.faults()[0]["count"] == 0


@pytest.mark.parametrize("path,body,check", [
    ("/calendar/v3/calendars/primary/events", event_body(),
     lambda st, d: d["error"]["code"] == 429 and d["error"]["errors"][0]["reason"]
     == "rateLimitExceeded"),
    (HOOK, {"text": "x"}, lambda st, d: d == "rate_limited"),
    ("/crm/v3/objects/tasks", task_body(), lambda st, d: d["category"] == "RATE_LIMITS"),
])
def test_status_429_per_vendor(fake, path, body, check):
    fake.add_fault(path_regex=".", action="status", status=429, retry_after="1")
    st, data = fake.call("POST", path, body)
    assert st == 429 and check(st, data)
    assert fake.effects() == []


def test_status_fault_custom_bodies_count_and_method(fake):
    fake.add_fault(method="post", path_regex="^/hooks/", action="status", status=500,
                   body="boom", count=2)
    fake.add_fault(method="GET", path_regex="^/hooks/", action="status", status=418)
    hdr = {"Idempotency-Key": "k"}
    assert fake.call("POST", "/hooks/a/b", {"a": 1}, hdr) == (500, "boom")
    assert fake.call("POST", "/hooks/a/b", {"a": 1}, hdr) == (500, "boom")
    assert fake.call("POST", "/hooks/a/b", {"a": 1}, hdr)[0] == 201
    assert fake.call("GET", "/hooks/a/b/wh_1")[0] == 418
    fake.add_fault(path_regex="^/hooks/", action="status", status=502, body={"x": 1}, count=-1)
    for _ in range(3):
        assert fake.call("POST", "/hooks/a/c", {"a": 1}, {"Idempotency-Key": "k2"}) == (
            502, {"x": 1})
    assert len(fake.effects()) == 1


def test_faults_never_touch_the_control_api(fake):
    fake.add_fault(path_regex=".", action="reset_before", count=-1)
    assert fake.stats()["requests"] == 0
    assert len(fake.faults()) == 1


# ---- delay ---------------------------------------------------------------------------------


def test_delay_fault_and_global_delay(fake):
    fake.add_fault(path_regex="^/services/", action="delay", delay_ms=300)
    t0 = time.monotonic()
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 200
    assert time.monotonic() - t0 >= 0.3
    fake.config(delay_ms=200)
    t0 = time.monotonic()
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 200
    assert time.monotonic() - t0 >= 0.2
    assert len(fake.effects()) == 2
    # a delay rule and a status rule on the same request: both happen
    fake.config(delay_ms=0)
    fake.add_fault(path_regex="^/services/", action="delay", delay_ms=200)
    fake.add_fault(path_regex="^/services/", action="status", status=503)
    t0 = time.monotonic()
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 503
    assert time.monotonic() - t0 >= 0.2


# ---- connection faults ---------------------------------------------------------------------


def test_reset_before_applies_nothing(fake):
    fake.add_fault(path_regex="^/crm/v3/objects/tasks$", action="reset_before")
    got, how = raw_exchange(fake.port, raw_post("/crm/v3/objects/tasks", task_body()))
    assert (got, how) == (b"", "reset")
    assert fake.effects() == []
    assert fake.requests()[-1]["status"] == "reset"
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        fake.add_fault(path_regex="^/crm/", action="reset_before")
        fake.request("POST", "/crm/v3/objects/tasks", task_body(), timeout=2)
    assert fake.effects() == []


def test_reset_after_applies_the_effect(fake):
    fake.add_fault(path_regex="^/crm/", action="reset_after")
    got, how = raw_exchange(fake.port, raw_post("/crm/v3/objects/tasks", task_body("ik_r")))
    assert (got, how) == (b"", "reset")
    effs = fake.effects()
    assert len(effs) == 1 and effs[0]["marker"] == "ik_r" and effs[0]["state"] == "live"
    # the retry sees HubSpot's conflict, which is how intentd detects the lost answer
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body("ik_r"))[0] == 409


def test_reset_after_on_webhook_then_replay(fake):
    fake.add_fault(path_regex="^/hooks/", action="reset_after")
    got, how = raw_exchange(fake.port, raw_post("/hooks/a/b", {"a": 1}, "Idempotency-Key: k\r\n"))
    assert how == "reset"
    st, hdrs, body = fake.request("POST", "/hooks/a/b", {"a": 1}, {"Idempotency-Key": "k"})
    assert st == 201 and hdrs["idempotent-replayed"] == "true"
    assert len(fake.effects()) == 1


def test_timeout_applies_and_holds(fake):
    fake.add_fault(path_regex="^/calendar/", action="timeout")
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(socket.timeout):
        conn.request("POST", "/calendar/v3/calendars/primary/events",
                     json.dumps(event_body()), {"Content-Type": "application/json"})
        conn.getresponse()
    assert time.monotonic() - t0 >= 0.5
    conn.close()
    effs = fake.effects()
    assert len(effs) == 1 and effs[0]["vendor"] == "calendar"
    assert fake.call("POST", "/calendar/v3/calendars/primary/events", event_body())[0] == 409


def test_timeout_without_apply_and_short_hold(fake):
    fake.add_fault(path_regex="^/services/", action="timeout", apply=False, delay_ms=300)
    t0 = time.monotonic()
    got, how = raw_exchange(fake.port, raw_post(HOOK, {"text": "x"}), timeout=5)
    assert (got, how) == (b"", "eof")
    assert time.monotonic() - t0 >= 0.3
    assert fake.effects() == []
    fake.config(timeout_hold_ms=200)
    fake.add_fault(path_regex="^/services/", action="timeout")
    got, how = raw_exchange(fake.port, raw_post(HOOK, {"text": "x"}), timeout=5)
    assert (got, how) == (b"", "eof")
    assert len(fake.effects()) == 1
    stats = fake.stats()["routes"]
    assert stats["slack.fault"] == {"timeout": 1} and stats["slack.post"] == {"timeout": 1}


def test_expire_token_fault(fake):
    fake.config(tokens={"hubspot": []})
    form = ("grant_type=refresh_token&refresh_token=fake-refresh&client_id=fake-client"
            "&client_secret=fake-secret")
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    tok = fake.call("POST", "/oauth2/token", form, ctype)[1]["access_token"]
    auth = {"Authorization": "Bearer " + tok}
    fake.add_fault(path_regex="^/crm/", action="expire_token")
    st, data = fake.call("POST", "/crm/v3/objects/tasks", task_body(), auth)
    assert st == 401 and data["category"] == "EXPIRED_AUTHENTICATION"
    assert fake.call("POST", "/crm/v3/objects/tasks", task_body(), auth)[0] == 401
    tok = fake.call("POST", "/oauth2/token", form, ctype)[1]["access_token"]
    st, _ = fake.call("POST", "/crm/v3/objects/tasks", task_body(),
                      {"Authorization": "Bearer " + tok})
    assert st == 201


def test_fault_on_token_endpoint(fake):
    fake.add_fault(path_regex="^/oauth2/token$", action="status", status=503)
    st, data = fake.call("POST", "/oauth2/token", "grant_type=refresh_token",
                         {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 503 and data["error"] == "temporarily_unavailable"


# ---- probability ---------------------------------------------------------------------------


def _pattern(fake, seed):
    fake.reset()
    fake.config(seed=seed)
    fake.add_fault(path_regex="^/services/", action="status", status=500, count=-1,
                   probability=0.5)
    return [fake.call("POST", HOOK, {"text": "x"})[0] for _ in range(40)]


def test_probability_is_seeded(fake):
    a = _pattern(fake, 42)
    b = _pattern(fake, 42)
    c = _pattern(fake, 7)
    assert a == b
    assert a != c
    assert set(a) == {200, 500}
    fake.reset()
    fake.add_fault(path_regex="^/services/", action="status", status=500, count=-1,
                   probability=0)
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 200
    fake.add_fault(path_regex="^/services/", action="status", status=501, probability=1)
    assert fake.call("POST", HOOK, {"text": "x"})[0] == 501


# ---- fault rule management -----------------------------------------------------------------


@pytest.mark.parametrize("rule", [
    {"action": "status", "status": 500},
    {"path_regex": "(", "action": "status", "status": 500},
    {"path_regex": ".", "action": "explode"},
    {"path_regex": ".", "action": "status"},
    {"path_regex": ".", "action": "status", "status": 99},
    {"path_regex": ".", "action": "delay"},
    {"path_regex": ".", "action": "delay", "delay_ms": -1},
    {"path_regex": ".", "action": "reset_after", "status": 500},
    {"path_regex": ".", "action": "timeout", "count": 0},
    {"path_regex": ".", "action": "timeout", "count": -2},
    {"path_regex": ".", "action": "timeout", "probability": 1.5},
    {"path_regex": ".", "action": "timeout", "probability": True},
    {"path_regex": ".", "action": "timeout", "apply": "yes"},
    {"path_regex": ".", "action": "status", "status": 503, "retry_after": "1\r\nX: y"},
    {"path_regex": ".", "action": "timeout", "method": ""},
    {"path_regex": ".", "action": "timeout", "colour": "red"},
    [],
])
def test_invalid_fault_rules(fake, rule):
    st, data = fake.call("POST", "/_fake/faults", rule)
    assert st == 400 and data["error"]
    assert fake.faults() == []


def test_fault_listing_and_removal(fake):
    a = fake.add_fault(path_regex="^/a", action="reset_before", count=-1)
    b = fake.add_fault(path_regex="^/b", action="status", status=500)
    assert [f["id"] for f in fake.faults()] == [a, b]
    fake.remove_fault(a)
    assert [f["id"] for f in fake.faults()] == [b]
    with pytest.raises(FakeError):
        fake.remove_fault(a)
    assert fake.clear_faults() == 1
    assert fake.faults() == []


# ---- control API ---------------------------------------------------------------------------


def test_request_log(fake):
    fake.call("POST", HOOK, {"text": "one"}, {"X-Trace": "t1", "Authorization": "Bearer zz"})
    fake.call("POST", "/crm/v3/objects/tasks", task_body())
    log = fake.requests()
    assert [(r["method"], r["path"], r["vendor"], r["status"]) for r in log] == [
        ("POST", HOOK, "slack", 200), ("POST", "/crm/v3/objects/tasks", "hubspot", 201)]
    assert log[0]["headers"]["X-Trace"] == "t1"
    assert log[0]["headers"]["Authorization"] == "Bearer zz"
    assert json.loads(log[0]["body"]) == {"text": "one"}
    assert [r["seq"] for r in fake.requests(since=log[0]["seq"])] == [log[1]["seq"]]
    assert [r["vendor"] for r in fake.requests(vendor="hubspot")] == ["hubspot"]
    fake.call("GET", "/gmail/v1/users/me/drafts?q=rfc822msgid:x")
    assert fake.requests(since=log[1]["seq"])[0]["query"] == "q=rfc822msgid:x"
    st, data = fake.call("GET", "/_fake/requests?since=x")
    assert st == 400
    st, data = fake.call("GET", "/_fake/requests?limit=1")
    assert len(data["requests"]) == 1 and data["last_seq"] == 3


def test_request_log_is_bounded(fake):
    fake.config(request_log_max=3)
    for i in range(5):
        fake.call("POST", HOOK, {"text": str(i)})
    log = fake.requests()
    assert [json.loads(r["body"])["text"] for r in log] == ["2", "3", "4"]
    assert fake.stats()["requests"] == 5
    fake.call("POST", HOOK, "x" * (70 * 1024))
    last = fake.requests()[-1]
    assert last["body_truncated"] is True and len(last["body"]) == 64 * 1024


def test_stats_and_reset(fake):
    fake.call("POST", HOOK, {"text": "x"})
    fake.call("POST", HOOK, {})
    fake.call("POST", HOOK, {"text": "y"})
    fake.call("GET", "/nowhere")
    s = fake.stats()
    assert s["routes"]["slack.post"] == {"200": 2, "400": 1}
    assert s["routes"]["unknown"] == {"404": 1}
    assert s["effects"] == 2 and s["connections_open"] >= 1
    fake.config(delay_ms=5, tokens={"slack": ["t"]})
    fake.add_fault(path_regex=".", action="status", status=500)
    fake.reset()
    s = fake.stats()
    assert s["routes"] == {} and s["effects"] == 0 and s["requests"] == 0
    assert fake.faults() == [] and fake.requests() == []
    cfg = fake.get("/_fake/config")
    assert cfg["delay_ms"] == 0 and cfg["tokens"] == {}
    assert cfg["hubspot_unique_property"] == "intentd_idempotency_key"


@pytest.mark.parametrize("patch", [
    {"delay_ms": -1}, {"delay_ms": "5"}, {"tokens": {"stripe": ["x"]}},
    {"tokens": {"hubspot": "x"}}, {"tokens": {"hubspot": [""]}}, {"tokens": []},
    {"oauth": {"client_id": ""}}, {"oauth": {"access_ttl_s": 0}}, {"oauth": {"scope": "x"}},
    {"hubspot_unique_property": 5}, {"seed": 1.5}, {"request_log_max": 0},
    {"timeout_hold_ms": True}, {"colour": "red"},
])
def test_invalid_config(fake, patch):
    st, data = fake.call("POST", "/_fake/config", patch)
    assert st == 400 and data["error"]
    assert fake.get("/_fake/config")["delay_ms"] == 0


def test_control_errors(fake):
    assert fake.call("GET", "/_fake/nothing")[0] == 404
    assert fake.call("PUT", "/_fake/effects")[0] == 404
    st, data = fake.call("POST", "/_fake/config", "{bad")
    assert st == 400
    fake.call("POST", HOOK, {"text": "x"})
    assert fake.effects(vendor="hubspot") == []
    assert len(fake.effects(vendor="slack", kind="message", state="live")) == 1
