"""HubSpot CRM v3 objects (tasks, deals, contacts, companies) for the vendor fake.

Request rules follow HubSpot's published spec (SimplePublicObjectInputForCreate: `properties`
of string values and `associations` both required) plus its documented per-object rules
(tasks need `hs_timestamp`; deals are created with `dealname` and `dealstage` as intentd's
contract requires). A configurable property has unique values per object type among live
objects: a second create (or a PATCH) with a taken value is a 409 CONFLICT.
"""

import uuid

from vf_common import Vendor, iso_now, json_body, parse_rfc3339
from vf_http import Response

ALIASES = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-27": "tasks"}
TYPES = ("contacts", "companies", "deals", "tasks")
ASSOC_CATEGORIES = ("HUBSPOT_DEFINED", "INTEGRATOR_DEFINED", "USER_DEFINED", "WORK")
ENUMS = {
    "tasks": {
        "hs_task_status": ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        "hs_task_priority": ("LOW", "MEDIUM", "HIGH", "NONE"),
        "hs_task_type": ("TODO", "EMAIL", "CALL", "LINKED_IN_CONNECT", "LINKED_IN_MESSAGE"),
    },
}
REQUIRED = {"tasks": ("hs_timestamp",), "deals": ("dealname", "dealstage")}
TIME_PROPS = ("hs_timestamp", "closedate")
SEARCH_OPERATORS = ("EQ", "NEQ", "HAS_PROPERTY", "NOT_HAS_PROPERTY")
SEARCH_MAX_LIMIT = 200
MAX_PROPERTIES = 1000
MAX_PROPERTY_LEN = 65536
_STATUS_CATEGORY = {400: "VALIDATION_ERROR", 401: "INVALID_AUTHENTICATION", 403: "MISSING_SCOPES",
                    404: "OBJECT_NOT_FOUND", 409: "CONFLICT", 423: "LOCKED",
                    429: "RATE_LIMITS"}


def error(status, message, category=None, **extra):
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category or _STATUS_CATEGORY.get(status, "INTERNAL_ERROR"),
    }
    body.update(extra)
    return Response(status, body)


def auth_error(reason):
    if reason == "expired":
        return error(401, "The OAuth token used to make this call expired.",
                     "EXPIRED_AUTHENTICATION")
    if reason == "missing":
        return error(401, "Authentication credentials not found. This API supports OAuth 2.0 "
                     "authentication.", "INVALID_AUTHENTICATION")
    return error(401, "Authentication credentials are invalid.", "INVALID_AUTHENTICATION")


def status_error(status):
    if status == 429:
        return error(429, "You have reached your secondly limit.", "RATE_LIMITS",
                     policyName="SECONDLY")
    if status >= 500:
        return error(status, "internal error", "INTERNAL_ERROR")
    return error(status, "fault injected", None)


def _invalid(message):
    return error(400, message, "VALIDATION_ERROR")


def _check_properties(props, what):
    if not isinstance(props, dict):
        return "Invalid input JSON: %s.properties must be an object" % what
    if len(props) > MAX_PROPERTIES:
        return "Invalid input JSON: too many properties"
    for k, v in props.items():
        if not isinstance(v, str):
            return ("Invalid input JSON: property %r must be a string, got %s"
                    % (k, type(v).__name__))
        if len(v) > MAX_PROPERTY_LEN:
            return "Property values were not valid: %s is too long" % k
    return None


def _check_values(otype, props):
    """Property value rules HubSpot applies to the object's own properties."""
    for name, allowed in ENUMS.get(otype, {}).items():
        v = props.get(name)
        if v and v not in allowed:
            return "Property values were not valid: %r was not one of the allowed options " \
                   "for %s: %s" % (v, name, ", ".join(allowed))
    for name in TIME_PROPS:
        v = props.get(name)
        if v and not v.isdigit() and parse_rfc3339(v) is None:
            return "Property values were not valid: %s %r is not a valid date " \
                   "(epoch milliseconds or ISO 8601)" % (name, v)
    if otype == "deals" and props.get("amount"):
        try:
            float(props["amount"])
        except ValueError:
            return "Property values were not valid: amount %r is not a number" % props["amount"]
    return None


def _check_associations(assocs):
    if not isinstance(assocs, list):
        return "Invalid input JSON: associations must be an array"
    for i, a in enumerate(assocs):
        if not isinstance(a, dict) or not isinstance(a.get("to"), dict):
            return "Invalid input JSON: associations[%d].to is required" % i
        if not isinstance(a["to"].get("id"), str) or not a["to"]["id"]:
            return "Invalid input JSON: associations[%d].to.id must be a string" % i
        types = a.get("types")
        if not isinstance(types, list) or not types:
            return "Invalid input JSON: associations[%d].types is required" % i
        for t in types:
            if not isinstance(t, dict) or t.get("associationCategory") not in ASSOC_CATEGORIES:
                return ("Invalid input JSON: associations[%d].types[].associationCategory "
                        "must be one of %s" % (i, ", ".join(ASSOC_CATEGORIES)))
            tid = t.get("associationTypeId")
            if not isinstance(tid, int) or isinstance(tid, bool) or not -2**31 <= tid < 2**31:
                return ("Invalid input JSON: associations[%d].types[].associationTypeId "
                        "must be an int32" % i)
    return None


def _view(obj, names=None):
    if names is None:
        props = dict(obj["properties"])
    else:
        props = {n: obj["properties"].get(n) for n in names}
    props["hs_object_id"] = obj["id"]
    props["hs_createdate"] = obj["createdAt"]
    props["hs_lastmodifieddate"] = obj["updatedAt"]
    out = {"id": obj["id"], "properties": props, "createdAt": obj["createdAt"],
           "updatedAt": obj["updatedAt"], "archived": obj["archived"]}
    if obj["archived"]:
        out["archivedAt"] = obj["archivedAt"]
    return out


def _unique_index(state):
    """{(type, value): id} over live objects for the configured unique property, rebuilt
    when the property is reconfigured, so that creates stay O(1) in long benchmarks."""
    prop = state.config["hubspot_unique_property"]
    if state.hubspot_index_prop != prop:
        index = {}
        for otype, objs in state.hubspot.items():
            for obj in objs.values():
                v = obj["properties"].get(prop) if prop else None
                if v and not obj["archived"]:
                    index[(otype, v)] = obj["id"]
        state.hubspot_index = index
        state.hubspot_index_prop = prop
    return prop, state.hubspot_index


def _unique_clash(state, otype, props, self_id=None):
    prop, index = _unique_index(state)
    if not prop or not props.get(prop):
        return None
    owner = index.get((otype, props[prop]))
    if owner is not None and owner != self_id:
        return error(409, "Object already exists. Existing ID: %s" % owner, "CONFLICT")
    return None


def _reindex(state, otype, oid, old_props, new_props):
    prop, index = _unique_index(state)
    if not prop:
        return
    old = old_props.get(prop) if old_props else None
    new = new_props.get(prop) if new_props else None
    if old and index.get((otype, old)) == oid:
        del index[(otype, old)]
    if new:
        index[(otype, new)] = oid


def _create(state, otype, req):
    body, err = json_body(req)
    if err:
        return _invalid("Invalid input JSON on line 1: %s" % err)
    if not isinstance(body, dict):
        return _invalid("Invalid input JSON: expected an object")
    if "properties" not in body:
        return _invalid("Invalid input JSON: properties is required")
    if "associations" not in body:
        return _invalid("Invalid input JSON: associations is required")
    msg = (_check_properties(body["properties"], "input")
           or _check_associations(body["associations"]))
    if msg:
        return _invalid(msg)
    props = {k: v for k, v in body["properties"].items() if v != ""}
    for name in REQUIRED.get(otype, ()):
        if name not in props:
            return _invalid("Property values were not valid: %s is required" % name)
    msg = _check_values(otype, props)
    if msg:
        return _invalid(msg)
    clash = _unique_clash(state, otype, props)
    if clash:
        return clash
    if otype == "deals":
        props.setdefault("pipeline", "default")
    oid = str(10000000000 + state.new_id())
    now = iso_now()
    prop = state.config["hubspot_unique_property"]
    eff = state.record_effect("hubspot", "create", oid, props.get(prop) if prop else None, body,
                              object_type=otype)
    obj = {"id": oid, "properties": props, "associations": body["associations"],
           "createdAt": now, "updatedAt": now, "archived": False, "archivedAt": None,
           "effect": eff}
    state.hubspot.setdefault(otype, {})[oid] = obj
    _reindex(state, otype, oid, None, props)
    return Response(201, _view(obj))


def _requested(req):
    names = []
    for v in req.query.get("properties", ()):
        names.extend(p for p in v.split(",") if p)
    return names or None


def _find(state, otype, oid, archived=False):
    obj = state.hubspot.get(otype, {}).get(oid)
    if obj is None or obj["archived"] != archived:
        return None
    return obj


def _get(state, otype, oid, req):
    obj = _find(state, otype, oid, req.query1("archived") == "true")
    if obj is None:
        return error(404, "resource not found", "OBJECT_NOT_FOUND")
    return Response(200, _view(obj, _requested(req)))


def _update(state, otype, oid, req):
    body, err = json_body(req)
    if err:
        return _invalid("Invalid input JSON on line 1: %s" % err)
    if not isinstance(body, dict) or "properties" not in body:
        return _invalid("Invalid input JSON: properties is required")
    msg = _check_properties(body["properties"], "input")
    if msg:
        return _invalid(msg)
    obj = _find(state, otype, oid)
    if obj is None:
        return error(404, "resource not found", "OBJECT_NOT_FOUND")
    merged = dict(obj["properties"])
    for k, v in body["properties"].items():
        if v == "":
            merged.pop(k, None)
        else:
            merged[k] = v
    msg = _check_values(otype, merged)
    if msg:
        return _invalid(msg)
    clash = _unique_clash(state, otype, merged, oid)
    if clash:
        return clash
    previous = {k: obj["properties"].get(k) for k in body["properties"]}
    _reindex(state, otype, oid, obj["properties"], merged)
    obj["properties"] = merged
    obj["updatedAt"] = iso_now()
    eff = state.record_effect("hubspot", "update", oid, None, body, object_type=otype,
                              previous=previous)
    eff["state"] = "applied"
    return Response(200, _view(obj))


def _archive(state, otype, oid):
    obj = _find(state, otype, oid)
    if obj is None:
        return error(404, "resource not found", "OBJECT_NOT_FOUND")
    obj["archived"] = True
    _reindex(state, otype, oid, obj["properties"], None)
    obj["archivedAt"] = iso_now()
    state.end_effect(obj["effect"], "archived")
    return Response(204)


def _matches(obj, f):
    op = f["operator"]
    v = obj["properties"].get(f["propertyName"])
    if op == "EQ":
        return v is not None and v == f.get("value")
    if op == "NEQ":
        return v != f.get("value")
    if op == "HAS_PROPERTY":
        return v is not None
    return v is None


def _search(state, otype, req):
    body, err = json_body(req)
    if err:
        return _invalid("Invalid input JSON on line 1: %s" % err)
    if not isinstance(body, dict):
        return _invalid("Invalid input JSON: expected an object")
    groups = body.get("filterGroups", [])
    if not isinstance(groups, list) or len(groups) > 5:
        return _invalid("filterGroups must be an array of at most 5 groups")
    for g in groups:
        filters = g.get("filters") if isinstance(g, dict) else None
        if not isinstance(filters, list) or len(filters) > 6:
            return _invalid("each filter group needs filters: an array of at most 6")
        for f in filters:
            if not isinstance(f, dict) or not isinstance(f.get("propertyName"), str):
                return _invalid("each filter needs propertyName")
            if f.get("operator") not in SEARCH_OPERATORS:
                return _invalid("unsupported operator %r (fake supports %s)"
                                % (f.get("operator"), ", ".join(SEARCH_OPERATORS)))
            if f["operator"] in ("EQ", "NEQ") and not isinstance(f.get("value"), str):
                return _invalid("filter value must be a string")
    names = body.get("properties")
    if names is not None and (not isinstance(names, list)
                              or not all(isinstance(n, str) for n in names)):
        return _invalid("properties must be an array of strings")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= SEARCH_MAX_LIMIT:
        return _invalid("limit must be an integer in [1, %d]" % SEARCH_MAX_LIMIT)
    after = body.get("after", "0")
    if not isinstance(after, str) or not after.isdigit():
        return _invalid("after must be a numeric string")
    hits = [o for o in state.hubspot.get(otype, {}).values() if not o["archived"]
            and (not groups or any(all(_matches(o, f) for f in g["filters"]) for g in groups))]
    hits.sort(key=lambda o: int(o["id"]))
    start = int(after)
    page = hits[start:start + limit]
    out = {"total": len(hits), "results": [_view(o, names or []) for o in page]}
    if start + limit < len(hits):
        out["paging"] = {"next": {"after": str(start + limit)}}
    return Response(200, out)


def handle(state, req):
    # /crm/v3/objects/{type}[/{id}|/search]
    segs = req.segments()[3:]
    if not segs:
        return "hubspot.unknown", error(404, "resource not found", "OBJECT_NOT_FOUND")
    otype = ALIASES.get(segs[0], segs[0])
    if otype not in TYPES:
        return "hubspot.unknown", _invalid("Unable to infer object type from: %s" % segs[0])
    m = req.method
    if len(segs) == 1:
        if m == "POST":
            return "hubspot.create", _create(state, otype, req)
    elif len(segs) == 2:
        if segs[1] == "search" and m == "POST":
            return "hubspot.search", _search(state, otype, req)
        if m == "GET":
            return "hubspot.get", _get(state, otype, segs[1], req)
        if m == "PATCH":
            return "hubspot.update", _update(state, otype, segs[1], req)
        if m == "DELETE":
            return "hubspot.archive", _archive(state, otype, segs[1])
    else:
        return "hubspot.unknown", error(404, "resource not found", "OBJECT_NOT_FOUND")
    return "hubspot.unknown", error(405, "method %s not allowed here" % m, "VALIDATION_ERROR")


VENDOR = Vendor("hubspot", handle, auth_error, status_error)
