"""The fake's own control API under /_fake/ (JSON in, JSON out). Never logged, never faulted."""

import time

from vf_common import json_body
from vf_http import json_response
from vf_state import ConfigError


def _bad(message):
    return json_response(400, {"error": message})


def _int_param(req, name, default):
    v = req.query1(name)
    if v is None:
        return default
    if not v.lstrip("-").isdigit():
        raise ConfigError("%s must be an integer" % name)
    return int(v)


def _effects(state, req):
    vendor, kind, st = req.query1("vendor"), req.query1("kind"), req.query1("state")
    out = [e for e in state.effects
           if (vendor is None or e["vendor"] == vendor) and (kind is None or e["kind"] == kind)
           and (st is None or e["state"] == st)]
    return json_response(200, {"effects": out, "count": len(out)})


def _requests(state, req):
    since = _int_param(req, "since", 0)
    limit = _int_param(req, "limit", 0)
    vendor = req.query1("vendor")
    out = [r for r in state.requests
           if r["seq"] > since and (vendor is None or r["vendor"] == vendor)]
    if limit > 0:
        out = out[:limit]
    return json_response(200, {"requests": out, "last_seq": state.request_seq})


def _stats(server):
    state = server.state
    return json_response(200, {
        "routes": state.routes,
        "requests": state.request_seq,
        "effects": len(state.effects),
        "oauth_issued": state.oauth_issued,
        "connections_open": server.conns_open,
        "connections_total": server.conns_total,
        "in_flight": server.in_flight,
        "max_in_flight": server.max_in_flight,
        "uptime_s": round(time.time() - server.started, 3),
    })


def _body_object(req):
    if not req.body:
        return {}
    body, err = json_body(req)
    if err:
        raise ConfigError("body is not JSON: %s" % err)
    return body


def handle(server, req):
    """(route name, Response) for a /_fake/ request."""
    state = server.state
    segs = req.segments()[1:]
    m = req.method
    name = "/".join(segs[:1]) or "root"
    try:
        if segs == ["effects"] and m == "GET":
            return name, _effects(state, req)
        if segs == ["requests"] and m == "GET":
            return name, _requests(state, req)
        if segs == ["stats"] and m == "GET":
            return name, _stats(server)
        if segs == ["health"] and m == "GET":
            return name, json_response(200, {"ok": True})
        if segs == ["reset"] and m == "POST":
            state.reset()
            server.max_in_flight = server.in_flight
            return name, json_response(200, {"ok": True})
        if segs == ["config"]:
            if m == "GET":
                return name, json_response(200, state.config)
            if m == "POST":
                return name, json_response(200, state.apply_config(_body_object(req)))
        if segs == ["faults"]:
            if m == "GET":
                return name, json_response(200, {"faults": [r.describe() for r in state.faults]})
            if m == "POST":
                rule = state.add_fault(_body_object(req))
                return name, json_response(200, {"id": rule.id, "rule": rule.describe()})
            if m == "DELETE":
                n = len(state.faults)
                state.faults = []
                return name, json_response(200, {"removed": n})
        if len(segs) == 2 and segs[0] == "faults" and m == "DELETE":
            before = len(state.faults)
            state.faults = [r for r in state.faults if str(r.id) != segs[1]]
            if len(state.faults) == before:
                return name, json_response(404, {"error": "no such fault rule"})
            return name, json_response(200, {"removed": 1})
        if segs == ["oauth"] and m == "GET":
            now = time.monotonic()
            return name, json_response(200, {
                "issued": state.oauth_issued,
                "live": sum(1 for e in state.access_tokens.values() if e > now)})
        if segs == ["oauth", "expire"] and m == "POST":
            return name, json_response(200, {"expired": state.expire_access_tokens()})
    except ConfigError as e:
        return name, _bad(str(e))
    return name, json_response(404, {"error": "no control route %s %s" % (m, req.path)})
