"""intentctl against a scripted stand-in for intentd: requests as docs/api-contract.md says, tables
and --json output, problem+json errors on stderr, and the exit codes. No database needed.
The binary is INTENTCTL_BIN, else build/tools/intentctl."""

import hashlib
import hmac
import json
import os
import pathlib
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("INTENTCTL_BIN", str(REPO / "build" / "tools" / "intentctl"))
KEY = "ak_test-key"

INTENT = {
    "action_intent_id": "ai_1", "tenant_id": "acme", "account_id": "acct_1",
    "action_type": "internal.create_task", "state": "FAILED",
    "explanation": "It failed\x1b[31m after 3 attempts.", "current_step": "CreateTask",
    "attempts": 3, "crash_attempts": 0, "priority": 50, "cancel_requested": False,
    "terminal_reason": "retries exhausted", "output": None,
    "last_error": {"error": "Connector.Permanent", "cause": "400 from vendor"},
    "created_at": "2026-11-21T10:00:01Z", "submitted_at": "2026-11-21T10:00:02Z",
    "updated_at": "2026-11-21T10:00:03Z", "expires_at": "2026-11-22T10:00:00Z",
    "expires_at_epoch": 1795341600,
}

STEPS = [{"step": "Post\x1b[2J", "operation": "notify.post_message", "external_id": None,
          "reversible": False, "compensate": None, "compensation": {"state": "irreversible"}},
         {"step": "CreateTask", "operation": "crm.create_task", "external_id": "77",
          "reversible": True, "compensate": "crm.archive_task",
          "compensation": {"state": "failed", "attempts": 4, "cause": "HTTP 500: boom"}}]

PREVIEW = {"valid": True, "action_intent_id": "ai_1", "action_type": "crm.create_task",
           "expires_at_epoch": 1795341600, "note": "a dry run: nothing was stored or sent",
           "tasks": [{"step": "CreateTask", "operation": "crm.create_task", "connector": "crm",
                      "reversible": True, "compensate": "crm.archive_task",
                      "parameters": {"subject": "x"}, "configured": True,
                      "guards": {"breaker": "open", "in_flight": 3, "concurrency": 64,
                                 "tokens": 12.0, "retry_budget_left": 0.5,
                                 "decision": "breaker_open"},
                      "requests": [{"phase": "call", "method": "POST",
                                    "path": "/crm/v3/objects/tasks",
                                    "url": "https://crm.example/crm/v3/objects/tasks",
                                    "headers": {"Authorization": "Bearer [redacted]"},
                                    "body": {"properties": {"hs_task_subject": "x"}}}]},
                     {"step": "Hook", "operation": "webhook.call", "connector": "webhook",
                      "reversible": True, "compensate": "webhook.undo", "parameters": {},
                      "configured": False,
                      "problem": "this connector is not configured for the tenant"}]}


TIMELINE = {"action_intent_id": "ai_1", "tenant_id": "acme", "events": [
    {"seq": None, "event": "decision", "from_state": None, "to_state": None,
     "node_id": None, "actor": "approval", "payload": {"summary": "why"},
     "created_at": "2026-11-21T10:00:00Z"},
    {"seq": 17, "event": "intent.transition", "from_state": "PENDING",
     "to_state": "EXECUTING", "node_id": "n1", "actor": "scheduler",
     "payload": {"reason": "claimed"}, "created_at": "2026-11-21T10:00:02Z"}]}


class Handler(BaseHTTPRequestHandler):
    seen = []  # (method, path, headers, body) of every request
    calls = {}  # scripted intent id -> requests so far

    def log_message(self, *args):
        pass

    def answer(self, code, doc, ctype="application/json"):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-ID", self.headers.get("X-Request-ID", "srv-1"))
        self.end_headers()
        self.wfile.write(body)

    def problem(self, code, title, detail, errors=None):
        doc = {"type": "https://intentd.dev/problems/x", "title": title, "status": code,
               "detail": detail, "request_id": self.headers.get("X-Request-ID")}
        if errors:
            doc["errors"] = errors
        self.answer(code, doc, "application/problem+json")

    def do_GET(self):
        Handler.seen.append(("GET", self.path, dict(self.headers), b""))
        p = self.path
        if p == "/healthz":
            return self.answer(200, {"status": "ok"})
        if p == "/readyz":
            return self.problem(503, "Service Unavailable", "database unreachable")
        m = re.match(r"/v1/intents/(ai_flaky|ai_down|ai_exp)(/timeline)?$", p)
        if m:  # scripted for watch: ai_flaky fails twice first, ai_down always
            iid = m.group(1)
            Handler.calls[iid] = Handler.calls.get(iid, 0) + 1
            if iid == "ai_down" or (iid == "ai_flaky" and Handler.calls[iid] <= 2):
                return self.problem(503, "Service Unavailable", "database unreachable")
            if m.group(2):
                return self.answer(200, dict(TIMELINE, action_intent_id=iid))
            return self.answer(200, dict(INTENT, action_intent_id=iid,
                                         state="EXPIRED" if iid == "ai_exp" else "SUCCEEDED"))
        if p.startswith("/v1/intents/ai_1/timeline"):
            return self.answer(200, TIMELINE)
        if p.startswith("/v1/intents/ai_1"):
            return self.answer(200, INTENT)
        if p.startswith("/v1/intents/"):
            return self.problem(404, "Not Found", "no such intent")
        if p.startswith("/v1/executions") or p.startswith("/v1/accounts/"):
            item = {k: v for k, v in INTENT.items() if k != "output"}
            if "cursor=c2" in p:
                return self.answer(200, {"items": [dict(item, action_intent_id="ai_2")],
                                         "next_cursor": None})
            return self.answer(200, {"items": [item], "next_cursor": "c2"})
        if p.startswith("/v1/signals"):
            return self.answer(200, {"signals": [
                {"seq": 41, "type": "ACTION_FAILED", "action_intent_id": "ai_1", "state": "FAILED",
                 "at": "2026-11-21T10:00:03Z", "action_type": "sales.book_meeting",
                 "account_id": "acct_1", "reason": "", "decision_id": "d_1",
                 "last_error": {"error": "Connector.Permanent", "cause": "HTTP 400"},
                 "steps": [{"step": "DraftMeeting", "operation": "calendar.draft_meeting",
                            "external_id": "ev1", "compensation": "compensated"}]},
                {"seq": 42, "type": "ACTION_EXECUTED", "action_intent_id": "ai_2",
                 "state": "SUCCEEDED", "at": "2026-11-21T10:00:04Z",
                 "action_type": "internal.log_note", "account_id": "acct_1", "reason": "",
                 "last_error": None, "steps": []}], "next_after": 42})
        if p == "/v1/ledger/verify":
            return self.answer(200, {"ok": False, "rows": 10, "seq": 7, "reason": "hash mismatch"})
        return self.problem(404, "Not Found", "no route")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Handler.seen.append(("POST", self.path, dict(self.headers), body))
        p = self.path
        if p == "/v1/intents:batch":
            return self.answer(200, {"results": [
                {"action_intent_id": "a", "status": 202},
                {"action_intent_id": "b", "status": 400, "error": "schema",
                 "errors": [{"pointer": "/intents/1/priority", "message": "must be <= 100"}]}]})
        if p == "/v1/intents":
            if b"bad" in body:
                return self.problem(400, "Bad Request", "schema violation",
                                    [{"pointer": "/parameters/title", "message": "required"}])
            return self.answer(202, {"action_intent_id": "ai_1", "tenant_id": "acme",
                                     "state": "PENDING", "status_url": "/v1/intents/ai_1"})
        if "/compensate" in p and "ai_irr" in p:
            return self.problem(409, "Conflict", "steps [\"Notify\"] cannot be undone", [
                {"pointer": "/partial", "message": "these steps cannot be undone",
                 "irreversible_steps": ["Notify"]}])
        if "/compensate" in p:
            return self.answer(202, dict(INTENT, state="COMPENSATING",
                                         compensating_to="CANCELLED", steps=STEPS))
        if "/redrive" in p:
            return self.answer(202, dict(INTENT, state="EXECUTING"))
        if p == "/v1/intents:preview":
            if b"bad" in body:
                return self.answer(200, {"valid": False, "detail": "parameters rejected",
                                         "errors": [{"pointer": "/parameters/due_at",
                                                     "message": "is required"}],
                                         "note": "a dry run"})
            return self.answer(200, PREVIEW)
        if p.endswith("/cancel"):
            return self.answer(202, dict(INTENT, state="EXECUTING", cancel_requested=True))
        if p == "/v1/tenants":
            return self.answer(201, {"tenant_id": "acme", "approval_key": "ak_SECRET",
                                     "tokens": {"operator": "tok_op", "oncall": "tok_oc"}})
        return self.problem(404, "Not Found", "no route")


@pytest.fixture(scope="module")
def server():
    if not os.access(BIN, os.X_OK):
        pytest.skip(f"{BIN} not built (set INTENTCTL_BIN)")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def run(server, *args, stdin=None, env=None):
    Handler.seen.clear()
    Handler.calls.clear()
    e = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCTL_")}
    e.update(env or {})
    return subprocess.run([BIN, "--url", server, "--token", "T0K", *args], input=stdin,
                          capture_output=True, env=e, timeout=30)


def test_status_prints_a_cleaned_key_value_table(server):
    r = run(server, "status", "ai_1")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "state             FAILED" in out
    assert "last error        Connector.Permanent: 400 from vendor" in out
    assert "\x1b" not in out
    method, path, headers, _ = Handler.seen[0]
    assert (method, path, headers["Authorization"]) == ("GET", "/v1/intents/ai_1", "Bearer T0K")


def test_status_json_is_the_server_document(server):
    r = run(server, "--json", "status", "ai_1", "--tenant", "a b")
    assert r.returncode == 0 and json.loads(r.stdout) == INTENT
    assert Handler.seen[0][1] == "/v1/intents/ai_1?tenant_id=a%20b"


def test_not_found_is_exit_1_with_the_problem_on_stderr(server):
    r = run(server, "status", "nope")
    assert r.returncode == 1 and r.stdout == b""
    rid = Handler.seen[0][2]["X-Request-ID"]
    assert r.stderr.decode() == f"intentctl: 404 Not Found: no such intent (request {rid})\n"


def test_timeline_table(server):
    r = run(server, "timeline", "ai_1")
    lines = r.stdout.decode().splitlines()
    assert r.returncode == 0 and lines[0].split() == ["SEQ", "TIME", "EVENT", "FROM→TO", "ACTOR",
                                                      "DETAIL"]
    assert "PENDING→EXECUTING" in lines[2]


def test_list_all_follows_cursors(server):
    r = run(server, "list", "--all", "--status", "FAILED")
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["ID", "TENANT", "TYPE", "STATE", "ATTEMPTS", "SUBMITTED"]
    assert [l.split()[0] for l in lines[1:]] == ["ai_1", "ai_2"]
    assert [s[1] for s in Handler.seen] == ["/v1/executions?status=FAILED",
                                            "/v1/executions?status=FAILED&cursor=c2"]


def test_list_all_json_is_one_document(server):
    r = run(server, "--json", "list", "--all", "--account", "acct 1")
    doc = json.loads(r.stdout)
    assert [i["action_intent_id"] for i in doc["items"]] == ["ai_1", "ai_2"]
    assert doc["next_cursor"] is None
    assert Handler.seen[0][1] == "/v1/accounts/acct%201/executions"


def test_list_one_page_hints_the_cursor(server):
    r = run(server, "list")
    assert r.returncode == 0 and "--cursor 'c2'" in r.stderr.decode()


def test_ledger_tampering_is_exit_4(server):
    r = run(server, "ledger", "verify")
    assert r.returncode == 4 and "TAMPERED at seq 7: hash mismatch" in r.stdout.decode()


def test_health_not_ready_is_exit_3(server):
    r = run(server, "--json", "health")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["healthz"] == {"status": "ok"} and doc["readyz"]["status"] == 503
    assert all("Authorization" not in s[2] for s in Handler.seen)


def test_submit_signs_the_exact_bytes_without_the_token(server):
    body = b'{"x": "caf\xc3\xa9"}\n\n'
    r = run(server, "submit", "-", stdin=body, env={"INTENTCTL_APPROVAL_KEY": KEY})
    assert r.returncode == 0, r.stderr
    assert r.stderr == b""  # no --key, no warning
    _, path, headers, sent = Handler.seen[0]
    assert path == "/v1/intents" and sent == body and "Authorization" not in headers
    t = headers["Intent-Signature"].split(",")[0][2:]
    mac = hmac.new(KEY.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["Intent-Signature"] == f"t={t},v1={mac}"


def test_submit_schema_errors_list_pointers(server):
    r = run(server, "submit", "-", "--key", KEY, stdin=b'{"bad":1}')
    assert r.returncode == 1
    err = r.stderr.decode().splitlines()
    assert "visible to other users" in err[0]
    assert err[1].startswith("intentctl: 400 Bad Request: schema violation (request ")
    assert err[2] == "  /parameters/title: required"


def test_batch_with_a_rejected_intent_is_exit_1(server):
    r = run(server, "submit", "-", stdin=b'{"intents":[{},{}]}',
            env={"INTENTCTL_APPROVAL_KEY": KEY})
    assert r.returncode == 1
    assert Handler.seen[0][1] == "/v1/intents:batch"
    assert "2 intents, 1 rejected" in r.stdout.decode()
    assert "  b: /intents/1/priority: must be <= 100" in r.stderr.decode()


def test_cancel_executing_says_it_stops_later(server):
    r = run(server, "cancel", "ai_1", "--reason", "customer said \"stop\"")
    assert r.returncode == 0 and "next state boundary" in r.stdout.decode()
    assert json.loads(Handler.seen[0][3]) == {"reason": "customer said \"stop\""}


def test_tenant_create_shows_secrets_once_with_a_warning(server):
    r = run(server, "tenant", "create", "acme")
    assert r.returncode == 0 and "shown only once" in r.stderr.decode()
    out = r.stdout.decode()
    assert "approval key    ak_SECRET" in out and "operator token  tok_op" in out
    assert json.loads(Handler.seen[0][3]) == {"tenant_id": "acme"}


def test_compensate_partial_sends_the_flag_and_shows_the_steps(server):
    r = run(server, "compensate", "ai_1", "--reason", "undo it", "--partial", "--tenant", "acme")
    assert r.returncode == 0, r.stderr
    method, path, headers, body = Handler.seen[0]
    assert (method, path) == ("POST", "/v1/intents/ai_1/compensate?tenant_id=acme")
    assert headers["Authorization"] == "Bearer T0K"
    assert json.loads(body) == {"reason": "undo it", "partial": True}
    out = r.stdout.decode()
    assert out.startswith("compensating ai_1: it is COMPENSATING and ends CANCELLED")
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[3].split() == ["Post?[2J", "notify.post_message", "-", "-", "irreversible"]
    assert lines[4].split()[-4:] == ["failed:", "HTTP", "500:", "boom"]


def test_compensate_without_partial_sends_only_the_reason(server):
    r = run(server, "compensate", "ai_1", "--reason", "r")
    assert r.returncode == 0 and json.loads(Handler.seen[0][3]) == {"reason": "r"}


def test_compensate_irreversible_is_exit_1_with_a_hint(server):
    r = run(server, "compensate", "ai_irr", "--reason", "r")
    assert r.returncode == 1 and r.stdout == b""
    err = r.stderr.decode().splitlines()
    assert err[0].startswith('intentctl: 409 Conflict: steps ["Notify"] cannot be undone')
    assert err[1] == "  /partial: these steps cannot be undone"
    assert err[2].startswith('intentctl: hint: ["Notify"] cannot be undone; --partial')


def test_redrive_sends_the_reason(server):
    r = run(server, "redrive", "ai_1", "--reason", "fixed the token")
    assert r.returncode == 0, r.stderr
    assert Handler.seen[0][1] == "/v1/intents/ai_1/redrive"
    assert json.loads(Handler.seen[0][3]) == {"reason": "fixed the token"}
    assert r.stdout.decode() == ("redriven ai_1: EXECUTING again from step CreateTask, "
                                 "with fresh attempts\n")


def test_signals_table_and_full_page_hint(server):
    r = run(server, "signals", "--after", "40", "--limit", "2", "--tenant", "a b")
    assert r.returncode == 0, r.stderr
    assert Handler.seen[0][1] == "/v1/signals?after=40&limit=2&tenant_id=a%20b"
    lines = r.stdout.decode().splitlines()
    assert lines[1].split() == ["41", "2026-11-21T10:00:03Z", "ACTION_FAILED", "ai_1",
                                "sales.book_meeting", "DraftMeeting=ev1", "Connector.Permanent"]
    assert lines[2].split()[2:] == ["ACTION_EXECUTED", "ai_2", "internal.log_note", "-", "-"]
    assert r.stderr.decode() == "intentctl: more signals may follow: add --after 42\n"


def test_signals_json_is_the_server_page_without_hint(server):
    r = run(server, "--json", "signals", "--limit", "2")
    assert r.returncode == 0 and json.loads(r.stdout)["next_after"] == 42
    assert r.stderr == b""


def test_preview_posts_the_file_byte_exact_with_the_token(server, tmp_path):
    f = tmp_path / "it.json"
    f.write_bytes(b'{"x": 1}\n')
    r = run(server, "preview", str(f))
    assert r.returncode == 0, r.stderr
    method, path, headers, body = Handler.seen[0]
    assert (method, path, body) == ("POST", "/v1/intents:preview", b'{"x": 1}\n')
    assert headers["Authorization"] == "Bearer T0K" and "Intent-Signature" not in headers
    out = r.stdout.decode()
    assert "CreateTask: crm.create_task on crm, undone by crm.archive_task" in out
    assert ("  guards: breaker_open (breaker open, 3 of 64 in flight, 12 "
            "rate tokens held, 0.5 retries left in the budget)") in out
    assert "  call: POST https://crm.example/crm/v3/objects/tasks\n" in out
    assert '    {"properties":{"hs_task_subject":"x"}}' in out
    assert "  problem: this connector is not configured for the tenant" in out


def test_preview_invalid_is_exit_1_with_reasons(server):
    r = run(server, "preview", "-", stdin=b'{"bad": 1}')
    assert r.returncode == 1 and r.stdout == b""
    assert r.stderr.decode() == ("intentctl: the intent would be refused: parameters rejected\n"
                                 "  /parameters/due_at: is required\n")
    r = run(server, "--json", "preview", "-", stdin=b'{"bad": 1}')
    assert r.returncode == 1 and json.loads(r.stdout)["valid"] is False


# ---------------------------------------------------------------------------- watch


def test_watch_survives_transient_errors_and_exits_0_on_success(server):
    r = run(server, "watch", "ai_flaky", "--interval", "100ms")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert err.count("503 Service Unavailable") == 2 and err.count("retrying in") == 2
    lines = r.stdout.decode().splitlines()
    assert [l.split()[2] for l in lines[:2]] == ["decision", "intent.transition"]
    assert lines[2].startswith("ai_flaky is SUCCEEDED: ")
    assert len(lines) == 3


def test_watch_gives_up_after_retry_for(server):
    r = run(server, "watch", "ai_down", "--retry-for", "1s")
    assert r.returncode == 3 and r.stdout == b""
    assert "giving up" in r.stderr.decode() and "retrying in" in r.stderr.decode()


@pytest.mark.parametrize("iid,code", [("ai_1", 5), ("ai_exp", 6)])
def test_watch_exit_code_is_the_outcome(server, iid, code):
    r = run(server, "--json", "watch", iid)
    assert r.returncode == code, r.stderr
    events = [json.loads(l) for l in r.stdout.decode().splitlines()]
    assert events == TIMELINE["events"]


def test_watch_of_an_unknown_intent_is_exit_1_without_retrying(server):
    r = run(server, "watch", "nope")
    assert r.returncode == 1 and "404 Not Found" in r.stderr.decode()
    assert len(Handler.seen) == 1


def test_watch_list_prints_each_intent_once_per_state(server):
    r = run(server, "--json", "watch", "--status", "FAILED", "--count", "2")
    assert r.returncode == 0, r.stderr
    assert [json.loads(l)["action_intent_id"] for l in r.stdout.decode().splitlines()] == \
        ["ai_1", "ai_2"]
    assert [s[1] for s in Handler.seen] == ["/v1/executions?status=FAILED&limit=500",
                                            "/v1/executions?status=FAILED&limit=500&cursor=c2"]


@pytest.mark.parametrize("args", [
    ["ai_1", "--status", "FAILED"], ["ai_1", "ai_2"], ["ai_1", "--interval", "10ms"],
    ["ai_1", "--interval", "fast"], ["ai_1", "--interval", "2d"], ["ai_1", "--retry-for", "0s"],
    ["--count", "0"], ["--count", "x"], ["ai_1", "--since", "2026-01-01T00:00:00Z"],
    ["--status", "FAILED", "--tenant", "acme"]])
def test_watch_usage_errors_exit_2_without_a_request(server, args):
    r = run(server, "watch", *args)
    assert r.returncode == 2 and r.stderr and r.stdout == b""
    assert Handler.seen == []
