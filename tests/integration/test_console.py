"""The web console (SPEC §6): its files come from the binary with the right types and security
headers, unknown names and other methods are refused as elsewhere, the page and scripts keep to
what the Content-Security-Policy allows (same-origin files only, nothing inline, no markup built
from strings), and its page logic, clicked through by tests/console/live.js against this intentd,
does what it says (README, "Web console")."""

import html.parser
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from harness import assert_problem

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "engine" / "console"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
HTML = "text/html; charset=utf-8"
JS = "application/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
FILES = [
    ("/console", "index.html", HTML),
    ("/console/", "index.html", HTML),
    ("/console/index.html", "index.html", HTML),
    ("/console/lib.js", "lib.js", JS),
    ("/console/app.js", "app.js", JS),
    ("/console/app.css", "app.css", CSS),
]


@pytest.mark.parametrize("path,name,ctype", FILES)
def test_each_file_is_served_from_the_binary_with_its_type_and_headers(client, path, name,
                                                                          ctype):
    r = client.get(path)
    assert r.status == 200, r
    assert r.header("Content-Type") == ctype
    for header, value in SECURITY_HEADERS.items():
        assert r.header(header) == value, (header, r.headers)
    assert r.header("X-Request-ID")
    assert r.body == (CONSOLE / name).read_bytes()


def test_the_files_are_not_read_from_the_working_directory(shared_intentd, client):
    # intentd runs in its own home, where no console file is: what it serves is what the build
    # embedded (the test above compares it with engine/console byte for byte)
    cwd = os.readlink("/proc/%d/cwd" % shared_intentd.proc.pid)
    assert not any(os.path.exists(os.path.join(cwd, n)) for n in
                   ("index.html", "app.js", "console", "engine")), cwd
    assert client.get("/console/app.js").status == 200


def test_no_token_is_needed_and_a_bad_one_is_not_looked_at(shared_intentd):
    c = shared_intentd.client(token="not-a-token")
    try:
        r = c.get("/console/")
        assert r.status == 200, r
    finally:
        c.close()


@pytest.mark.parametrize("path", [
    "/console/nope.js", "/console/APP.JS", "/console/app.js.map", "/console/..",
    "/console/%2e%2e%2fapi.c", "/console/app.js/", "/console/index.html/x", "/consolex",
])
def test_an_unknown_file_is_a_404_problem(client, path):
    b = assert_problem(client.get(path), 404)
    assert b["type"] == "https://intentd.dev/problems/not-found"


def test_a_name_that_is_not_percent_encoding_is_a_400_problem(client):
    b = assert_problem(client.get("/console/%zz.js"), 400)
    assert b["type"] == "https://intentd.dev/problems/bad-path"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ["/console", "/console/", "/console/app.js"])
def test_other_methods_are_405_problems(client, method, path):
    b = assert_problem(client.request(method, path, body=b""), 405)
    assert b["type"] == "https://intentd.dev/problems/method-not-allowed"


@pytest.mark.parametrize("path", ["/console", "/console/app.css"])
def test_head_is_405_as_elsewhere(client, path):
    r = client.request("HEAD", path)
    assert r.status == 405, r
    assert r.header("Content-Type").startswith("application/problem+json")
    assert r.header("X-Request-ID")
    assert r.body == b""
    assert client.request("HEAD", "/healthz").status == 405  # the same answer as elsewhere


class PageScan(html.parser.HTMLParser):
    """Every start tag with its attributes, and the text inside each <script> and <style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []  # (tag, {attr: value})
        self.inline = []  # (tag, text) for script/style content
        self._open = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in ("script", "style") else None

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open and data.strip():
            self.inline.append((self._open, data))


def scan_page(client):
    r = client.get("/console")
    assert r.status == 200, r
    page = PageScan()
    page.feed(r.body.decode("utf-8"))
    page.close()
    return r.body.decode("utf-8"), page


def test_the_page_loads_only_its_own_files(client):
    text, page = scan_page(client)
    assert not re.search(r"(?i)(https?:)?//[a-z0-9]", text.replace("<!doctype html>", "")), \
        "the page names another origin"
    assert "javascript:" not in text.lower()
    scripts = [a for t, a in page.tags if t == "script"]
    styles = [a for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert [s.get("src") for s in scripts] == ["/console/lib.js", "/console/app.js"]
    assert [s.get("href") for s in styles] == ["/console/app.css"]
    for path, ctype in [(s["src"], JS) for s in scripts] + [(s["href"], CSS) for s in styles]:
        r = client.get(path)
        assert r.status == 200 and r.header("Content-Type") == ctype, (path, r)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name in ("src", "href", "action", "formaction"):
                assert (value or "").startswith("/console/"), (tag, name, value)


def test_the_page_has_nothing_inline(client):
    _, page = scan_page(client)
    assert page.inline == [], "inline script or style: %r" % page.inline
    assert not [t for t, _ in page.tags if t in ("style", "iframe", "object", "embed", "base")]
    for tag, attrs in page.tags:
        assert "style" not in attrs, tag
        handlers = [n for n in attrs if n.startswith("on")]
        assert not handlers, (tag, handlers)


@pytest.mark.parametrize("name", ["lib.js", "app.js"])
def test_the_scripts_never_turn_strings_into_markup_or_code(client, name):
    text = client.get("/console/" + name).body.decode("utf-8")
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "localStorage", "http://", "https://", "import("):
        assert banned not in text, "%s uses %s" % (name, banned)


def test_the_token_lives_in_session_storage_and_the_authorization_header(client):
    text = client.get("/console/app.js").body.decode("utf-8")
    assert "sessionStorage.setItem(TOKEN_KEY" in text
    assert "sessionStorage.removeItem(TOKEN_KEY" in text  # "Forget token"
    assert "Authorization: 'Bearer ' + tok" in text
    assert "credentials: 'omit'" in text  # no cookie ever rides along


def test_the_style_sheet_loads_nothing(client):
    text = client.get("/console/app.css").body.decode("utf-8")
    assert "url(" not in text and "@import" not in text


# ------------------------------------------------------------- the page against the real API

NODE = shutil.which("node")
LIVE = ROOT / "tests" / "console" / "live.js"


def run_live(inst, scenario, token, tenant_id, **env):
    """Runs tests/console/live.js: the console's page logic, clicked through against inst."""
    if NODE is None:
        pytest.skip("node is not installed (deploy/install-deps.sh installs nodejs)")
    e = dict(os.environ, CONSOLE_BASE="http://127.0.0.1:%d" % inst.port, CONSOLE_TOKEN=token,
             CONSOLE_TENANT=tenant_id, **env)
    r = subprocess.run([NODE, str(LIVE), scenario], env=e, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return json.loads(r.stdout)


def test_an_operator_compensates_through_the_console_and_cannot_set_a_switch(
        shared_intentd, shared_db, admin, client, tenant):
    intent = tenant.intent()
    assert client.submit(intent, key=tenant.key).status == 202
    iid = intent["action_intent_id"]
    admin.wait_for_state(iid, "SUCCEEDED", tenant_id=tenant.tenant_id)

    shown = run_live(shared_intentd, "compensate", tenant.operator, tenant.tenant_id,
                     CONSOLE_INTENT=iid)

    assert "decision" in shown["timeline"] and "intent.submitted" in shown["timeline"]
    assert shown["notice"] == "compensate: %s is now COMPENSATING" % iid
    admin.wait_for_state(iid, "CANCELLED", tenant_id=tenant.tenant_id)
    rows = [r for r in shared_db.ledger_rows(iid) if r["event"] == "operator.compensate"]
    assert len(rows) == 1, rows
    assert rows[0]["actor"].startswith("token:operator:%s:" % tenant.tenant_id), rows[0]
    assert rows[0]["payload"]["reason"] == "console e2e <b>undo</b>", rows[0]
    # the refusal is shown with the problem and the request id of the failed call
    assert "Forbidden" in shown["refused"] and "oncall" in shown["refused"], shown["refused"]
    assert re.search(r"X-Request-ID console-[0-9a-f]{16}", shown["refused"]), shown["refused"]
    assert "PUT /v1/toggles → 403" in shown["refused"]
    assert shared_db.query("SELECT count(*) FROM intentd.ledger WHERE event = 'toggle.set' "
                           "AND tenant_id = %s", (tenant.tenant_id,)) == [(0,)]


def test_oncall_pauses_kills_and_resumes_its_tenant_through_the_console(
        shared_intentd, shared_db, admin, tenant):
    shown = run_live(shared_intentd, "toggles", tenant.tokens["oncall"], tenant.tenant_id)

    t = tenant.tenant_id
    assert shown["notices"] == ["tenant %s: run → pause" % t, "tenant %s: pause → kill" % t,
                                "tenant %s: kill → run" % t], shown
    rows = shared_db.query("SELECT from_state, to_state, actor FROM intentd.ledger "
                           "WHERE event = 'toggle.set' AND tenant_id = %s ORDER BY seq", (t,))
    assert [(r[0], r[1]) for r in rows] == [("run", "pause"), ("pause", "kill"), ("kill", "run")]
    assert all(r[2].startswith("token:oncall:%s:" % t) for r in rows), rows
    r = admin.get("/v1/toggles?tenant_id=%s" % t)
    mine = [x for x in r.json["toggles"] if x["scope"] == "tenant" and x["key"] == t]
    assert [(x["mode"], x["reason"]) for x in mine] == [("run", "console e2e run")], r.json
