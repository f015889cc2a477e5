"""Google Calendar v3 events and Gmail v1 drafts for the vendor fake.

Calendar: insert with a client-chosen id (base32hex, 5-1024 chars; a taken id, deleted or not,
is 409 duplicate), get (a deleted event is still returned, with status "cancelled", as Google
documents), delete (204, then 410 deleted; 404 unknown). Gmail: drafts.create parses the RFC 2822
message in `message.raw` and never de-duplicates; drafts.list understands `rfc822msgid:`.
"""

import base64
import binascii
import email.parser
import email.policy
import re
import secrets

from vf_common import Vendor, iso_now, json_body, parse_rfc3339
from vf_http import Response

_EVENT_ID = re.compile(r"[a-v0-9]{5,1024}\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_B64URL = re.compile(r"[A-Za-z0-9_\-]*={0,2}\Z")
SEND_UPDATES = ("all", "externalOnly", "none")
EVENT_STATUS = ("confirmed", "tentative", "cancelled")
_GSTATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
            404: "NOT_FOUND", 409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED",
            500: "INTERNAL", 503: "UNAVAILABLE"}
_REASON = {400: "badRequest", 401: "authError", 403: "forbidden", 404: "notFound",
           409: "duplicate", 410: "deleted", 429: "rateLimitExceeded", 500: "backendError",
           503: "backendError"}


def error(code, message, reason, with_status=False, **item):
    err = {"domain": "global", "reason": reason, "message": message}
    err.update(item)
    body = {"error": {"code": code, "message": message, "errors": [err]}}
    if with_status and code in _GSTATUS:
        body["error"]["status"] = _GSTATUS[code]
    return Response(code, body)


def auth_error(reason):
    msg = ("Request had invalid authentication credentials. Expected OAuth 2 access token, "
           "login cookie or other valid authentication credential.")
    return error(401, msg, "authError", True, location="Authorization", locationType="header")


def status_error(status):
    if status == 429:
        return error(429, "Rate Limit Exceeded", "rateLimitExceeded", True)
    if status == 403:
        return error(403, "Rate Limit Exceeded", "rateLimitExceeded", True)
    return error(status, "fault injected", _REASON.get(status, "backendError"), True)


def _bad(message, reason="invalid"):
    return error(400, message, reason)


# ---- Calendar ------------------------------------------------------------------------------


def _check_when(ev, which):
    """(epoch-comparable value, kind) or an error Response."""
    w = ev.get(which)
    if w is None:
        return _bad("Missing %s time." % which, "required")
    if not isinstance(w, dict):
        return _bad("Invalid %s time." % which)
    tz = w.get("timeZone")
    if tz is not None and (not isinstance(tz, str) or not tz):
        return _bad("Invalid time zone definition for %s time." % which)
    if "dateTime" in w:
        d = parse_rfc3339(w["dateTime"], need_offset=False)
        if d is None:
            return _bad("Invalid %s time." % which)
        if parse_rfc3339(w["dateTime"]) is None and tz is None:
            return _bad("Missing time zone definition for %s time." % which, "required")
        return (d.timestamp(), "dateTime")
    if "date" in w:
        if not isinstance(w["date"], str) or not _DATE.match(w["date"]):
            return _bad("Invalid %s time." % which)
        d = parse_rfc3339(w["date"] + "T00:00:00Z")
        if d is None:
            return _bad("Invalid %s time." % which)
        return (d.timestamp(), "date")
    return _bad("Missing %s time." % which, "required")


def _check_event(ev):
    if "id" in ev and (not isinstance(ev["id"], str) or not _EVENT_ID.match(ev["id"])):
        return _bad("Invalid resource id value.")
    start = _check_when(ev, "start")
    if isinstance(start, Response):
        return start
    end = _check_when(ev, "end")
    if isinstance(end, Response):
        return end
    if start[1] != end[1]:
        return _bad("Start and end times must either both be date or both be dateTime.")
    if end[0] < start[0] or (end[0] == start[0] and start[1] == "date"):
        return _bad("The specified time range is empty.", "timeRangeEmpty")
    if "status" in ev and ev["status"] not in EVENT_STATUS:
        return _bad("Invalid value for: status")
    for k in ("summary", "description", "location"):
        if k in ev and not isinstance(ev[k], str):
            return _bad("Invalid value for: %s" % k)
    att = ev.get("attendees", [])
    if not isinstance(att, list) or not all(
            isinstance(a, dict) and isinstance(a.get("email"), str) and "@" in a["email"]
            for a in att):
        return _bad("Invalid attendee email.")
    return None


def _insert(state, cal_id, req):
    su = req.query1("sendUpdates")
    if su is not None and su not in SEND_UPDATES:
        return _bad("Invalid value for: sendUpdates")
    ev, err = json_body(req)
    if err:
        return _bad("Parse Error", "parseError")
    if not isinstance(ev, dict):
        return _bad("Parse Error", "parseError")
    bad = _check_event(ev)
    if bad:
        return bad
    events = state.calendar.setdefault(cal_id, {})
    eid = ev.get("id") or base64.b32hexencode(secrets.token_bytes(10)).decode().lower()
    if eid in events:
        return error(409, "The requested identifier already exists.", "duplicate")
    now = iso_now()
    stored = dict(ev)
    stored.update({
        "kind": "calendar#event",
        "etag": '"%d"' % state.new_id(),
        "id": eid,
        "status": ev.get("status", "confirmed"),
        "htmlLink": "https://www.google.com/calendar/event?eid=" + eid,
        "created": now,
        "updated": now,
        "creator": {"email": "fake@example.invalid", "self": True},
        "organizer": {"email": "fake@example.invalid", "self": True},
        "iCalUID": eid + "@google.com",
        "sequence": 0,
        "reminders": ev.get("reminders", {"useDefault": True}),
        "eventType": "default",
    })
    stored["effect"] = state.record_effect("calendar", "event", eid, eid, ev,
                                           calendar_id=cal_id, send_updates=su)
    events[eid] = stored
    return Response(200, _public(stored))


def _public(ev):
    return {k: v for k, v in ev.items() if k != "effect"}


def _get_event(state, cal_id, eid):
    ev = state.calendar.get(cal_id, {}).get(eid)
    if ev is None:
        return error(404, "Not Found", "notFound")
    return Response(200, _public(ev))


def _delete_event(state, cal_id, eid, req):
    su = req.query1("sendUpdates")
    if su is not None and su not in SEND_UPDATES:
        return _bad("Invalid value for: sendUpdates")
    ev = state.calendar.get(cal_id, {}).get(eid)
    if ev is None:
        return error(404, "Not Found", "notFound")
    if ev["status"] == "cancelled":
        return error(410, "Resource has been deleted", "deleted")
    ev["status"] = "cancelled"
    ev["updated"] = iso_now()
    state.end_effect(ev["effect"], "deleted")
    return Response(204)


def handle_calendar(state, req):
    segs = req.segments()
    if segs[:2] == ["calendar", "v3"]:
        segs = segs[2:]
    # calendars/{calendarId}/events[/{eventId}]
    if len(segs) < 3 or segs[0] != "calendars" or segs[2] != "events" or len(segs) > 4:
        return "calendar.unknown", error(404, "Not Found", "notFound")
    cal_id, m = segs[1], req.method
    if len(segs) == 3:
        if m == "POST":
            return "calendar.insert", _insert(state, cal_id, req)
    else:
        if m == "GET":
            return "calendar.get", _get_event(state, cal_id, segs[3])
        if m == "DELETE":
            return "calendar.delete", _delete_event(state, cal_id, segs[3], req)
    return "calendar.unknown", error(405, "Method Not Allowed", "httpMethodNotAllowed")


CALENDAR = Vendor("calendar", handle_calendar, auth_error, status_error)


# ---- Gmail ---------------------------------------------------------------------------------


def _gbad(message, reason="invalidArgument"):
    return error(400, message, reason, True)


def _strip_brackets(msgid):
    msgid = msgid.strip()
    if msgid.startswith("<") and msgid.endswith(">"):
        msgid = msgid[1:-1]
    return msgid


def _create_draft(state, user, req):
    body, err = json_body(req)
    if err or not isinstance(body, dict):
        return _gbad("Invalid JSON payload received.")
    msg = body.get("message")
    if not isinstance(msg, dict) or not isinstance(msg.get("raw"), str) or not msg["raw"]:
        return _gbad("Invalid draft: message.raw is required")
    raw = msg["raw"]
    if not _B64URL.match(raw):
        return _gbad("Invalid value at 'draft.message.raw' (TYPE_BYTES), Base64 decoding failed")
    try:
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return _gbad("Invalid value at 'draft.message.raw' (TYPE_BYTES), Base64 decoding failed")
    parsed = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(data)
    if parsed.defects and not parsed.keys():
        return _gbad("Invalid RFC 2822 message")
    to = parsed.get("To", "").strip()
    if not to:
        return _gbad("Invalid To header: recipient address required")
    if parsed.get("Subject") is None:
        return _gbad("Invalid draft: Subject header required")
    headers = [{"name": k, "value": str(v)} for k, v in parsed.items()]
    msgid_header = parsed.get("Message-ID")
    if msgid_header is None:
        msgid_header = "<%s@mail.gmail.com>" % secrets.token_hex(12)
        headers.append({"name": "Message-ID", "value": msgid_header})
    msgid = _strip_brackets(str(msgid_header))
    payload = parsed.get_payload(decode=True) if not parsed.is_multipart() else b""
    text = (payload or b"").decode("utf-8", "replace")
    draft_id = "r%d" % (5000000000000000000 + state.new_id())
    message_id = "%016x" % (0x18c0000000000000 + state.new_id())
    draft = {
        "id": draft_id,
        "message": {"id": message_id, "threadId": msg.get("threadId") or message_id,
                    "labelIds": ["DRAFT"], "snippet": text[:200],
                    "sizeEstimate": len(data),
                    "payload": {"mimeType": parsed.get_content_type(), "headers": headers}},
        "deleted": False,
    }
    draft["effect"] = state.record_effect(
        "gmail", "draft", draft_id, msgid,
        {"headers": {h["name"]: h["value"] for h in headers}, "body": text},
        user_id=user, message_id=message_id)
    state.gmail.setdefault(user, {})[draft_id] = draft
    state.gmail_msgids.setdefault((user, msgid), []).append(draft_id)
    return Response(200, {"id": draft_id, "message": {k: draft["message"][k]
                                                      for k in ("id", "threadId", "labelIds")}})


def _list_drafts(state, user, req):
    q = req.query1("q", "")
    mr = req.query1("maxResults", "100")
    if not mr.isdigit() or not 1 <= int(mr) <= 500:
        return _gbad("Invalid value for: maxResults")
    wanted = None
    for term in q.split():
        if term.lower().startswith("rfc822msgid:"):
            wanted = _strip_brackets(term[len("rfc822msgid:"):])
        else:
            return _gbad("vendor fake: unsupported search term %r (only rfc822msgid:)" % term)
    drafts = state.gmail.get(user, {})
    if wanted is None:
        ids = list(drafts)
    else:
        ids = state.gmail_msgids.get((user, wanted), [])
    live = [drafts[i] for i in ids if not drafts[i]["deleted"]][:int(mr)]
    out = {"resultSizeEstimate": len(live)}
    if live:
        out["drafts"] = [{"id": d["id"], "message": {"id": d["message"]["id"],
                                                     "threadId": d["message"]["threadId"]}}
                         for d in live]
    return Response(200, out)


def _live_draft(state, user, draft_id):
    d = state.gmail.get(user, {}).get(draft_id)
    if d is None or d["deleted"]:
        return None
    return d


def _not_found():
    return error(404, "Requested entity was not found.", "notFound", True)


def handle_gmail(state, req):
    # gmail/v1/users/{userId}/drafts[/{id}]
    segs = req.segments()
    if len(segs) < 5 or segs[4] != "drafts" or len(segs) > 6:
        return "gmail.unknown", _not_found()
    user, m = segs[3], req.method
    if len(segs) == 5:
        if m == "POST":
            return "gmail.create_draft", _create_draft(state, user, req)
        if m == "GET":
            return "gmail.list_drafts", _list_drafts(state, user, req)
    else:
        d = _live_draft(state, user, segs[5])
        if m == "GET":
            if d is None:
                return "gmail.get_draft", _not_found()
            return "gmail.get_draft", Response(200, {"id": d["id"], "message": d["message"]})
        if m == "DELETE":
            if d is None:
                return "gmail.delete_draft", _not_found()
            d["deleted"] = True
            state.end_effect(d["effect"], "deleted")
            return "gmail.delete_draft", Response(204)
    return "gmail.unknown", error(405, "Method Not Allowed", "httpMethodNotAllowed", True)


GMAIL = Vendor("gmail", handle_gmail, auth_error, status_error)
