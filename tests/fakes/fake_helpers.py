"""Helpers shared by the vendor fake's tests."""

import base64
import socket
import time


def raw_exchange(port, data, timeout=2.0, shut_write=False):
    """Sends raw bytes and reads until the peer closes or `timeout` passes.
    Returns (bytes received, how it ended: "eof", "reset" or "timeout")."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            except socket.timeout:
                return got, "timeout"
            if not chunk:
                return got, "eof"
            got += chunk
    finally:
        s.close()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rfc2822(to="alice@example.com", subject="Hello", msgid="<ik_abc@intentd.invalid>",
            body="Hi there"):
    lines = []
    if to is not None:
        lines.append("To: %s" % to)
    if subject is not None:
        lines.append("Subject: %s" % subject)
    if msgid is not None:
        lines.append("Message-ID: %s" % msgid)
    lines += ["Content-Type: text/plain; charset=UTF-8", "", body]
    return "\r\n".join(lines).encode()


def task_body(key="ik_" + "0" * 40, **extra):
    props = {"hs_task_subject": "Call back", "hs_timestamp": "1735689600000",
             "hs_task_status": "NOT_STARTED", "intentd_idempotency_key": key}
    props.update(extra)
    return {"properties": props, "associations": []}


def event_body(eid="abcdefghij0123456789", **extra):
    ev = {"id": eid, "summary": "Sync", "status": "tentative",
          "start": {"dateTime": "2026-12-01T10:00:00Z"},
          "end": {"dateTime": "2026-12-01T10:30:00Z"},
          "attendees": [{"email": "bob@example.com"}]}
    ev.update(extra)
    return ev
