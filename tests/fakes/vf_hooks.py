"""Slack incoming webhooks, the generic idempotent webhook receiver and the OAuth2 token
endpoint of the vendor fake."""

import base64
import binascii
import json
from urllib.parse import parse_qs, unquote

from vf_common import Vendor, json_body
from vf_http import Response, json_response, text_response

MAX_IDEMPOTENCY_KEY = 255
_SLACK_ERRORS = {400: "invalid_payload", 403: "action_prohibited", 404: "no_service",
                 410: "channel_is_archived", 429: "rate_limited", 500: "internal_error",
                 503: "service_unavailable"}


# ---- Slack incoming webhook ----------------------------------------------------------------


def _slack_auth_error(reason):
    return text_response(401, "invalid_auth")


def _slack_status_error(status):
    return text_response(status, _SLACK_ERRORS.get(status, "request_failed"))


def _slack_payload(req):
    # Slack takes JSON, or a form whose `payload` field holds the JSON
    ctype = req.headers.get("content-type", "").lower()
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(req.body.decode("utf-8", "replace"))
        if "payload" in form:
            try:
                return json.loads(form["payload"][0])
            except ValueError:
                return None
    body, err = json_body(req)
    return None if err else body


def handle_slack(state, req):
    # /services/T…/B…/secret
    segs = req.segments()
    if len(segs) != 4 or not all(segs[1:]):
        return "slack.unknown", text_response(404, "no_service")
    if req.method != "POST":
        return "slack.unknown", text_response(405, "invalid_method")
    p = _slack_payload(req)
    if not isinstance(p, dict):
        return "slack.post", text_response(400, "invalid_payload")
    text, blocks = p.get("text"), p.get("blocks")
    if (text is not None and not isinstance(text, str)) or (
            blocks is not None and not isinstance(blocks, list)):
        return "slack.post", text_response(400, "invalid_payload")
    if not text and not blocks:
        return "slack.post", text_response(400, "invalid_payload")
    mid = "msg-%d" % state.new_id()
    state.record_effect("slack", "message", mid, None, p, path=req.path)
    return "slack.post", Response(200, "ok", content_type="text/html")


SLACK = Vendor("slack", handle_slack, _slack_auth_error, _slack_status_error)


# ---- generic webhook -----------------------------------------------------------------------


def _hook_auth_error(reason):
    return json_response(401, {"error": "unauthorized", "reason": reason})


def _hook_status_error(status):
    return json_response(status, {"error": "fault_injected", "status": status})


def _hook_body(req):
    if not req.body:
        return None
    try:
        return req.json()
    except (ValueError, UnicodeDecodeError):
        return req.body.decode("utf-8", "replace")


def _undo(state, ext_id):
    eff = state.hook_calls.get(ext_id)
    if eff is None or eff["state"] != "live":
        return json_response(404, {"error": "not_found", "id": ext_id})
    state.end_effect(eff, "deleted")
    return Response(204)


def handle_webhook(state, req):
    segs = req.segments()
    m = req.method
    if m == "DELETE":
        # the undo call names the external id as its last segment; it may repeat the
        # Idempotency-Key of the call it undoes, which must not be replayed here
        if len(segs) < 3:
            return "webhook.undo", json_response(404, {"error": "not_found"})
        return "webhook.undo", _undo(state, segs[-1])
    if m == "GET":
        eff = state.hook_calls.get(segs[-1]) if len(segs) >= 3 else None
        if eff is None:
            return "webhook.get", json_response(404, {"error": "not_found"})
        return "webhook.get", json_response(200, {"id": eff["id"], "state": eff["state"],
                                                  "received": eff["body"]})
    key = req.headers.get("idempotency-key")
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        return "webhook.call", json_response(400, {
            "error": "idempotency_key_required",
            "message": "an Idempotency-Key header of 1-%d characters is required"
                       % MAX_IDEMPOTENCY_KEY})
    body = _hook_body(req)
    seen = state.hook_keys.get(key)
    if seen is not None:
        if (seen["method"], seen["path"], seen["raw"]) != (m, req.path, req.body):
            return "webhook.call", json_response(422, {
                "error": "idempotency_key_reused",
                "message": "this Idempotency-Key was used with a different request"})
        seen["replays"] += 1
        resp = seen["response"]
        return "webhook.replay", Response(resp.status, resp.body, resp.content_type,
                                          {"Idempotent-Replayed": "true"})
    ext_id = "wh_%d" % state.new_id()
    eff = state.record_effect("webhook", "call", ext_id, key, body, method=m, path=req.path)
    resp = json_response(201, {"id": ext_id, "idempotency_key": key, "received": body})
    state.hook_keys[key] = {"method": m, "path": req.path, "raw": req.body, "response": resp,
                            "replays": 0}
    state.hook_calls[ext_id] = eff
    return "webhook.call", resp


WEBHOOK = Vendor("webhook", handle_webhook, _hook_auth_error, _hook_status_error)


# ---- OAuth2 token endpoint (RFC 6749 section 6) --------------------------------------------


def _oauth_error(status, code, description, headers=None):
    return json_response(status, {"error": code, "error_description": description},
                         headers=headers)


def _oauth_status_error(status):
    if status >= 500:
        return _oauth_error(status, "temporarily_unavailable", "fault injected")
    return _oauth_error(status, "invalid_request", "fault injected")


def _basic_client(req):
    auth = req.headers.get("authorization", "")
    scheme, _, cred = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, pw = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    return (unquote(user), unquote(pw)) if sep else ("", "")


def handle_oauth(state, req):
    if req.path != "/oauth2/token":
        return "oauth.unknown", _oauth_error(404, "invalid_request", "no such endpoint")
    if req.method != "POST":
        return "oauth.token", _oauth_error(405, "invalid_request", "POST only")
    ctype = req.headers.get("content-type", "").lower()
    if not ctype.startswith("application/x-www-form-urlencoded"):
        return "oauth.token", _oauth_error(400, "invalid_request",
                                           "body must be application/x-www-form-urlencoded")
    try:
        form = parse_qs(req.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return "oauth.token", _oauth_error(400, "invalid_request", "body is not UTF-8")
    if any(len(v) > 1 for v in form.values()):
        return "oauth.token", _oauth_error(400, "invalid_request", "repeated parameter")
    f = {k: v[0] for k, v in form.items()}
    cfg = state.config["oauth"]
    grant = f.get("grant_type")
    if not grant:
        return "oauth.token", _oauth_error(400, "invalid_request", "grant_type is required")
    basic = _basic_client(req)
    cid, secret = basic if basic else (f.get("client_id"), f.get("client_secret"))
    if cid != cfg["client_id"] or secret != cfg["client_secret"]:
        hdr = {"WWW-Authenticate": 'Basic realm="fake"'} if basic else None
        return "oauth.token", _oauth_error(401, "invalid_client", "client authentication failed",
                                           hdr)
    if grant != "refresh_token":
        return "oauth.token", _oauth_error(400, "unsupported_grant_type",
                                           "only refresh_token is supported")
    if not f.get("refresh_token"):
        return "oauth.token", _oauth_error(400, "invalid_request", "refresh_token is required")
    if f["refresh_token"] != cfg["refresh_token"]:
        return "oauth.token", _oauth_error(400, "invalid_grant", "refresh token is invalid")
    token = state.issue_access_token()
    return "oauth.token", json_response(200, {
        "access_token": token, "expires_in": cfg["access_ttl_s"], "token_type": "Bearer"},
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


OAUTH = Vendor("oauth", handle_oauth, None, _oauth_status_error)
