"""Small pieces shared by the vendor modules of the fake."""

import datetime
import time

from vf_http import Response


class Vendor:
    """One vendor surface: `handle(state, req)` returns (route name, Response);
    `auth_error(reason)` and `status_error(status)` answer in the vendor's own error shape."""

    def __init__(self, name, handle, auth_error, status_error):
        self.name = name
        self.handle = handle
        self.auth_error = auth_error
        self.status_error = status_error


def fault_response(vendor, rule):
    """The answer for a `status` fault: the rule's body when given (JSON unless a string),
    otherwise the vendor's error shape for that status."""
    if rule.body is None:
        resp = vendor.status_error(rule.status)
        resp.status = rule.status
    elif isinstance(rule.body, str):
        resp = Response(rule.status, rule.body, content_type="text/plain; charset=utf-8")
    else:
        resp = Response(rule.status, rule.body)
    if rule.retry_after is not None:
        resp.headers = dict(resp.headers or {})
        resp.headers["Retry-After"] = str(rule.retry_after)
    return resp


def iso_now(ts=None):
    """RFC 3339 UTC with milliseconds, as HubSpot and Google print timestamps."""
    if ts is None:
        ts = time.time()
    d = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (d.microsecond // 1000)


def parse_rfc3339(text, need_offset=True):
    """An aware datetime, or None when `text` is not RFC 3339 date-time (offset required
    unless need_offset is False, in which case a naive value is returned as UTC)."""
    if not isinstance(text, str) or len(text) < 19 or text[10] not in "Tt":
        return None
    try:
        d = datetime.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    if d.tzinfo is None:
        if need_offset:
            return None
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d


def json_body(req):
    """(value, None) or (None, error text)."""
    if not req.body:
        return None, "empty body"
    try:
        return req.json(), None
    except (ValueError, UnicodeDecodeError) as e:
        return None, str(e)
