"""Start, drive and stop the vendor fake from Python tests (standard library only).

    from fake_client import VendorFake
    with VendorFake() as fake:
        fake.config(tokens={"hubspot": ["t1"]})
        fake.add_fault(path_regex="^/crm/", action="status", status=503)
        ... point intentd's connector base URLs at fake.url("/") ...
        assert fake.effects(vendor="hubspot") == [...]
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENDOR_FAKE = os.path.join(HERE, "vendor_fake.py")


class FakeError(Exception):
    pass


class VendorFake:
    def __init__(self, host="127.0.0.1", python=None, log_path=None):
        self.host = host
        self.python = python or sys.executable or "/usr/bin/python3"
        self.log_path = log_path
        self.port = None
        self.proc = None
        self._dir = None
        self._log = None

    # ---- process -------------------------------------------------------------------------

    def start(self, timeout=15.0):
        """Runs the fake on a free port and returns once it answers /_fake/health."""
        if self.proc is not None:
            raise FakeError("already started")
        self._dir = tempfile.mkdtemp(prefix="vendor-fake-")
        port_file = os.path.join(self._dir, "port")
        log_path = self.log_path or os.path.join(self._dir, "fake.log")
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, VENDOR_FAKE, "--port", "0", "--port-file", port_file,
             "--host", self.host],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise FakeError("vendor fake exited with %s; log: %s"
                                % (self.proc.returncode, log_path))
            if time.monotonic() > deadline:
                self.stop()
                raise FakeError("vendor fake did not write its port file in %.0f s" % timeout)
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read().strip())
        self.get("/_fake/health")
        return self

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it lingers; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP ----------------------------------------------------------------------------

    def url(self, path=""):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """(status, headers dict with lower-case names, body bytes) on a fresh connection.
        A dict or list body is sent as JSON."""
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def call(self, method, path, body=None, headers=None, timeout=10.0):
        """(status, parsed JSON body or text or None)."""
        status, hdrs, data = self.request(method, path, body, headers, timeout)
        if not data:
            return status, None
        if hdrs.get("content-type", "").startswith("application/json"):
            return status, json.loads(data)
        return status, data.decode("utf-8", "replace")

    def _control(self, method, path, body=None):
        status, data = self.call(method, path, body)
        if status != 200:
            raise FakeError("%s %s -> %d %r" % (method, path, status, data))
        return data

    def get(self, path):
        return self._control("GET", path)

    # ---- control API ---------------------------------------------------------------------

    def reset(self):
        return self._control("POST", "/_fake/reset")

    def config(self, **settings):
        """Merges settings (delay_ms, tokens, oauth, hubspot_unique_property, seed,
        request_log_max, timeout_hold_ms); returns the whole configuration."""
        return self._control("POST", "/_fake/config", settings)

    def effects(self, vendor=None, kind=None, state=None):
        q = "&".join("%s=%s" % (k, v) for k, v in
                     (("vendor", vendor), ("kind", kind), ("state", state)) if v is not None)
        return self.get("/_fake/effects" + ("?" + q if q else ""))["effects"]

    def requests(self, since=0, vendor=None):
        q = "?since=%d" % since + ("&vendor=%s" % vendor if vendor else "")
        return self.get("/_fake/requests" + q)["requests"]

    def add_fault(self, **rule):
        """Adds a fault rule (see README.md); returns its id."""
        return self._control("POST", "/_fake/faults", rule)["id"]

    def faults(self):
        return self.get("/_fake/faults")["faults"]

    def clear_faults(self):
        return self._control("DELETE", "/_fake/faults")["removed"]

    def remove_fault(self, rule_id):
        return self._control("DELETE", "/_fake/faults/%d" % rule_id)

    def stats(self):
        return self.get("/_fake/stats")

    def expire_tokens(self):
        return self._control("POST", "/_fake/oauth/expire")["expired"]

    def oauth(self):
        return self.get("/_fake/oauth")
