"""intentctl as a whole against the real intentd and PostgreSQL: every command has --help, the
bash completion is generated from the same command table, the exit codes, `watch` (one intent
to its outcome, or a filtered list) and the commands for the rest of the API (action-types,
signals push, metrics). The binaries are INTENTD_BIN and INTENTCTL_BIN (else build/...)."""

import json
import os
import pathlib
import queue
import signal
import socket
import subprocess
import threading

import pytest

from fixtures import unchanged

REPO = pathlib.Path(__file__).resolve().parents[2]
CTL = os.environ.get("INTENTCTL_BIN", str(REPO / "build" / "tools" / "intentctl"))
LONG = 60  # seconds: generous deadlines, never asserted as durations


def env_for(port, token):
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTENTCTL_")}
    env["INTENTCTL_URL"] = "http://127.0.0.1:%d" % port
    if token:
        env["INTENTCTL_TOKEN"] = token
    return env


def need_ctl():
    if not (os.path.isfile(CTL) and os.access(CTL, os.X_OK)):
        pytest.skip("%s not built (set INTENTCTL_BIN)" % CTL)


def ctl(port, token, *args, stdin=b""):
    """Runs intentctl with stdin a pipe (not a terminal)."""
    need_ctl()
    r = subprocess.run([CTL] + list(args), input=stdin, capture_output=True,
                       env=env_for(port, token), timeout=LONG)
    r.out, r.err = r.stdout.decode(), r.stderr.decode()
    return r


class Follower:
    """A running `intentctl watch`, its stdout lines read by a thread as they come."""

    def __init__(self, port, token, *args):
        need_ctl()
        self.p = subprocess.Popen([CTL] + list(args), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env_for(port, token))
        self.lines = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.decode().rstrip("\n"))

    def line(self):
        try:
            return self.lines.get(timeout=LONG)
        except queue.Empty:
            self.p.kill()
            pytest.fail("no line from intentctl watch within %d s: %s" %
                        (LONG, self.p.stderr.read().decode()))

    def finish(self, sig=None):
        if sig:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=LONG)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        self.t.join(LONG)
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return rc, rest, self.p.stderr.read().decode()


def commands():
    need_ctl()
    r = subprocess.run([CTL, "commands"], capture_output=True, timeout=LONG)
    assert r.returncode == 0 and r.stderr == b""
    names = r.stdout.decode().splitlines()
    assert len(names) == len(set(names)) and "watch" in names and "ledger export" in names
    return names


# ---------------------------------------------------------------------------- help


def test_every_command_has_help_with_usage_options_and_an_example():
    need_ctl()
    for name in commands():
        words = name.split()
        outs = []
        for args in (words + ["--help"], words + ["-h"], ["help"] + words,
                     ["--url", "bad:", "--help"] + words):
            r = subprocess.run([CTL] + args, capture_output=True, timeout=LONG,
                               env={"INTENTCTL_URL": "not a url", "PATH": "/usr/bin"})
            assert r.returncode == 0 and r.stderr == b"", (args, r)
            outs.append(r.stdout.decode())
        assert outs[1:] == outs[:-1], name  # the same text however asked
        text = outs[0]
        assert text.startswith("usage: intentctl %s" % name), text
        assert "\noptions:\n" in text and "-h, --help" in text, name
        example = text.split("\nexample:\n", 1)
        assert len(example) == 2 and example[1].startswith("  intentctl %s" % words[0]), name
        # every option the help shows is one the parser accepts for this command
        shown = text.split("\noptions:\n")[1].split("\nglobal options")[0]
        for line in shown.splitlines():
            parts = line.split()
            if not parts[0].startswith("--") or parts[0] == "--help":
                continue
            value = ["x"] if parts[1].isupper() else []
            r = subprocess.run([CTL] + words + [parts[0]] + value + ["--help"],
                               capture_output=True, timeout=LONG)
            assert r.returncode == 0 and r.stdout.decode() == text, (name, parts[0], r.stderr)


def test_usage_lists_every_visible_command_and_the_exit_codes():
    need_ctl()
    r = subprocess.run([CTL, "--help"], capture_output=True, timeout=LONG)
    assert r.returncode == 0 and r.stderr == b""
    text = r.stdout.decode()
    for name in commands():
        if name != "sign":  # hidden: a test helper
            assert "\n  %s" % name in text, name
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "130"):
        assert "\n  %s " % code in text, code
    r = subprocess.run([CTL], capture_output=True, timeout=LONG)
    assert r.returncode == 2 and r.stdout == b"" and r.stderr.decode() == text


@pytest.mark.parametrize("args,code,out", [
    (["ledger"], 2, "stderr"), (["ledger", "--help"], 0, "stdout"),
    (["signals", "push"], 2, "stderr"), (["help", "signals", "push"], 0, "stdout"),
    (["connector", "-h"], 0, "stdout")])
def test_a_group_word_lists_its_subcommands(args, code, out):
    need_ctl()
    r = subprocess.run([CTL] + args, capture_output=True, timeout=LONG)
    assert r.returncode == code
    text = getattr(r, out).decode()
    assert "SUBCOMMAND" in text and "\nsubcommands:\n" in text
    if args[0] == "ledger":
        assert "  ledger verify" in text and "  ledger export" in text


@pytest.mark.parametrize("args", [["nosuch"], ["help", "nosuch"], ["status", "--bogus", "x"],
                                  ["ledger", "export", "--reason", "x"], ["commands", "x"]])
def test_unknown_commands_and_options_exit_2(args):
    need_ctl()
    r = subprocess.run([CTL] + args, capture_output=True, timeout=LONG)
    assert r.returncode == 2 and r.stdout == b"" and b"intentctl" in r.stderr


# ---------------------------------------------------------------------------- completion


def completion_script(tmp_path):
    need_ctl()
    r = subprocess.run([CTL, "completion", "bash"], capture_output=True, timeout=LONG)
    assert r.returncode == 0 and r.stderr == b""
    path = tmp_path / "intentctl.bash"
    path.write_bytes(r.stdout)
    return path, r.stdout


def complete(script, *words):
    """COMPREPLY for the command line `intentctl WORDS...`, the last word being completed."""
    line = " ".join("'%s'" % w for w in ("intentctl",) + words)
    prog = ('source "%s"; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _intentctl; '
            'printf "%%s\\n" "${COMPREPLY[@]}"' % (script, line))
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True,
                       timeout=LONG, cwd=str(script.parent))
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    return [w for w in r.stdout.decode().splitlines() if w]


def test_bash_completion_completes_commands_subcommands_options_and_values(tmp_path):
    script, _ = completion_script(tmp_path)
    assert complete(script, "wat") == ["watch"]
    assert complete(script, "--json", "led") == ["ledger"]
    assert complete(script, "ledger", "") == ["verify", "export"]
    assert complete(script, "signals", "push", "") == ["get", "set", "delete"]
    assert complete(script, "ledger", "export", "--fo") == ["--format"]
    assert complete(script, "ledger", "export", "--format", "") == ["jsonl", "csv"]
    assert complete(script, "--url", "http://x", "list", "--status", "EX") == \
        ["EXECUTING", "EXPIRED"]
    assert "--yes" in complete(script, "toggle", "global", "pause", "--")
    assert "--json" in complete(script, "watch", "--")
    # a secret-bearing flag is refused by the parser, so it is never offered
    assert complete(script, "connector", "set", "crm", "--client-s") == []
    (tmp_path / "intent.json").write_text("{}")
    assert complete(script, "submit", "--key-file", "x", "intent.") == ["intent.json"]
    assert complete(script, "ledger", "export", "--out", "intent.") == ["intent.json"]
    assert complete(script, "sig") == ["signals"]  # the hidden `sign` is not offered


def test_bash_completion_knows_every_command_and_option_of_the_table(tmp_path):
    script, _ = completion_script(tmp_path)
    for name in commands():
        if name == "sign":
            continue
        words = name.split()
        assert words[-1] in complete(script, *words[:-1], words[-1][:2]), name
        r = subprocess.run([CTL] + words + ["--help"], capture_output=True, timeout=LONG)
        shown = r.stdout.decode().split("\noptions:\n")[1].split("\nglobal options")[0]
        opts = [l.split()[0] for l in shown.splitlines() if l.startswith("  --")]
        assert sorted(o for o in complete(script, *words, "--") if o not in
                      ("--url", "--token", "--json", "--timeout", "--help")) == sorted(opts), name


def test_the_built_completion_file_is_the_generated_script(tmp_path):
    """meson installs build/tools/completion/intentctl, made by running the binary."""
    _, text = completion_script(tmp_path)
    built = pathlib.Path(CTL).parent / "completion" / "intentctl"
    if not built.is_file():
        pytest.skip("%s not built (meson builds it with the binary)" % built)
    assert built.read_bytes() == text


# ---------------------------------------------------------------------------- exit codes


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_representative_exit_codes(shared_intentd, shared_db, tenant):
    port, op = shared_intentd.port, tenant.operator
    assert ctl(port, op, "toggles").returncode == 0
    r = ctl(port, op, "status", "ai_does_not_exist")
    assert r.returncode == 1 and "404" in r.err and r.out == ""
    r = ctl(port, "itk_wrong", "status", "ai_x")
    assert r.returncode == 1 and "401" in r.err
    with unchanged(shared_db):
        r = ctl(port, op, "cancel", "ai_x")  # --reason missing
    assert r.returncode == 2 and r.out == ""
    r = ctl(closed_port(), op, "status", "ai_x")
    assert r.returncode == 3 and r.out == "" and r.err


# ---------------------------------------------------------------------------- watch ID


def submit(node, tenant, **overrides):
    c = node.client(token=tenant.operator)
    it = tenant.intent(**overrides)
    assert c.submit(it, key=tenant.approval_key).status == 202
    c.close()
    return it["action_intent_id"]


def test_watch_follows_an_intent_to_success(shared_intentd, tenant):
    iid = submit(shared_intentd, tenant)
    r = ctl(shared_intentd.port, tenant.operator, "--json", "watch", iid, "--interval", "100ms")
    assert r.returncode == 0, r.err
    printed = [json.loads(l) for l in r.out.splitlines()]
    # exactly the timeline, each entry once, in order, ending with the last transition
    c = shared_intentd.client(token=tenant.operator)
    events = c.timeline(iid).json["events"]
    c.close()
    assert printed == events[:len(printed)]
    assert [e["event"] for e in printed[:2]] == ["decision", "approval"]
    last = [e for e in printed if e["event"] == "intent.transition"][-1]
    assert last["to_state"] == "SUCCEEDED"
    r = ctl(shared_intentd.port, tenant.operator, "watch", iid)
    assert r.returncode == 0 and r.out.splitlines()[-1].startswith("%s is SUCCEEDED: " % iid)
    assert "EXECUTING\u2192SUCCEEDED" in r.out


def test_watch_exit_5_when_the_intent_fails(shared_intentd, tenant):
    # crm is not configured for this tenant, so the intent fails at its first step
    from connector_env import crm_task_params, intent
    c = shared_intentd.client(token=tenant.operator)
    it = intent(tenant, "crm.create_task", crm_task_params())
    assert c.submit(it, key=tenant.approval_key).status == 202
    c.close()
    r = ctl(shared_intentd.port, tenant.operator, "watch", it["action_intent_id"])
    assert r.returncode == 5, r.err
    assert r.out.splitlines()[-1].startswith("%s is FAILED: " % it["action_intent_id"])


def test_watch_of_another_tenants_intent_is_404_exit_1(shared_intentd, tenant):
    other = shared_intentd.create_tenant()
    iid = submit(shared_intentd, other)
    r = ctl(shared_intentd.port, tenant.operator, "watch", iid)
    assert r.returncode == 1 and "404" in r.err and r.out == ""


@pytest.fixture
def idle(intentd_factory, new_db):
    """A node that accepts intents and never runs them, so they stay PENDING until cancelled."""
    db = new_db()
    node = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    return node, db, node.create_tenant()


def test_watch_exit_7_when_the_intent_is_cancelled(idle):
    node, _, t = idle
    iid = submit(node, t)
    w = Follower(node.port, t.operator, "watch", iid, "--interval", "100ms")
    assert w.line().split()[2] == "decision"
    c = node.client(token=t.operator)
    assert c.cancel(iid, reason="no longer wanted").status in (200, 202)
    c.close()
    rc, rest, err = w.finish()
    assert rc == 7, err
    assert rest[-1].startswith("%s is CANCELLED: " % iid)
    assert any("PENDING\u2192CANCELLED" in l for l in rest)


def test_watch_interrupted_before_an_outcome_exits_130(idle):
    node, _, t = idle
    iid = submit(node, t)
    w = Follower(node.port, t.operator, "watch", iid, "--interval", "100ms")
    w.line()
    rc, _, err = w.finish(signal.SIGINT)
    assert rc == 130, err


# ---------------------------------------------------------------------------- watch list


def test_watch_list_shows_appearances_and_changes_and_stops_cleanly(idle):
    node, _, t = idle
    first = submit(node, t)
    w = Follower(node.port, t.operator, "--json", "watch", "--status", "PENDING",
                 "--interval", "100ms")
    it = json.loads(w.line())
    assert (it["action_intent_id"], it["state"]) == (first, "PENDING")
    second = submit(node, t)
    it = json.loads(w.line())
    assert (it["action_intent_id"], it["state"]) == (second, "PENDING")
    c = node.client(token=t.operator)
    assert c.cancel(first, reason="x").status in (200, 202)
    it = json.loads(w.line())  # it left the filter: shown in its new state
    assert (it["action_intent_id"], it["state"]) == (first, "CANCELLED")
    rc, rest, err = w.finish(signal.SIGINT)
    assert rc == 0 and rest == [], err
    # scripts: --count and --until-empty end it by themselves
    r = ctl(node.port, t.operator, "watch", "--status", "PENDING", "--count", "1")
    assert r.returncode == 0 and r.out.split()[:5] == [second, t.tenant_id,
                                                       "internal.create_task", "PENDING", "0"]
    assert c.cancel(second, reason="x").status in (200, 202)
    c.close()
    r = ctl(node.port, t.operator, "watch", "--status", "PENDING", "--until-empty")
    assert r.returncode == 0 and r.out == "", r.err


def test_watch_list_bad_filter_is_the_servers_400(shared_intentd, tenant):
    r = ctl(shared_intentd.port, tenant.operator, "watch", "--status", "SLEEPING")
    assert r.returncode == 1 and "400" in r.err and r.out == ""


def test_watch_gives_up_on_a_server_that_is_not_there():
    r = ctl(closed_port(), "itk_x", "watch", "ai_1", "--retry-for", "1s")
    assert r.returncode == 3 and "retrying in" in r.err and "giving up" in r.err


# ---------------------------------------------------------------------------- the rest of the API


def test_action_types_lists_the_loaded_workflows(shared_intentd, tenant):
    r = ctl(shared_intentd.port, tenant.operator, "action-types")
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == ["TYPE", "START", "TASKS", "REVERSIBLE"]
    row = [l.split() for l in lines if l.startswith("internal.create_task ")][0]
    assert row[2] == "internal.create_task/internal.void_task" and row[-1] == "yes"
    r = ctl(shared_intentd.port, tenant.operator, "--json", "action-types")
    types = {a["action_type"] for a in json.loads(r.out)["action_types"]}
    assert {"internal.create_task", "crm.create_task"} <= types
    assert ctl(shared_intentd.port, None, "action-types").returncode == 1


def test_signals_push_set_get_delete(shared_intentd, shared_db, tenant):
    port, oc = shared_intentd.port, tenant.oncall
    r = ctl(port, oc, "signals", "push", "get")
    assert r.returncode == 1 and "404" in r.err
    url = "http://127.0.0.1:%d/hook" % closed_port()
    r = ctl(port, oc, "signals", "push", "set", url)
    assert r.returncode == 0, r.err
    assert [l.split(None, 1) for l in r.out.splitlines()][:2] == [["tenant", tenant.tenant_id],
                                                                  ["url", url]]
    r = ctl(port, oc, "--json", "signals", "push", "get")
    assert r.returncode == 0 and json.loads(r.out)["url"] == url
    # refusals change nothing
    with unchanged(shared_db):
        r = ctl(port, oc, "signals", "push", "set", "ftp://example.com/x")
        assert r.returncode == 1 and "400" in r.err and "/url" in r.err
        r = ctl(port, tenant.operator, "signals", "push", "set", url)
        assert r.returncode == 1 and "403" in r.err
        r = ctl(port, oc, "signals", "push", "set")
        assert r.returncode == 2
    # a global admin names the tenant
    admin = shared_intentd.admin_token
    r = ctl(port, admin, "--json", "signals", "push", "get", "--tenant", tenant.tenant_id)
    assert r.returncode == 0 and json.loads(r.out)["tenant_id"] == tenant.tenant_id
    r = ctl(port, oc, "signals", "push", "delete")
    assert r.returncode == 0 and r.out == "signal push of %s deleted\n" % tenant.tenant_id
    r = ctl(port, oc, "signals", "push", "delete")
    assert r.returncode == 1 and "404" in r.err


def test_metrics_prints_the_exposition_without_a_token(shared_intentd):
    r = ctl(shared_intentd.port, None, "metrics")
    assert r.returncode == 0, r.err
    assert "intentd_intents{" in r.out
