"""Checks HTTP responses against proto/openapi.yaml (the response half of the API contract).

`check(method, target, response)` returns a list of violations (strings; empty when the response
conforms). The harness calls it for every response a `Client` or `raw_http` receives while a test
runs (see conftest.py), so each integration test doubles as a conformance test of the responses
it provoked, malformed requests included.

What is checked, for the operation found by method and path template (`{name}` matches one
path segment; literal paths such as `/v1/intents:batch` win over templates):
  - the status code is documented for the operation (exactly, as `4XX`, or as `default`);
  - the response's Content-Type (media type, parameters ignored) is one the spec lists for that
    status, and a response the spec gives no content has no body;
  - a JSON body (`application/json`, `application/problem+json`, any `+json`) parses and
    validates against the schema (JSON Schema 2020-12, as OpenAPI 3.1 uses; local `#/...` refs
    and the external `./action_intent_v1.schema.json` resolve); an answer to HEAD has the
    headers of the GET answer and no body to check;
  - the headers the spec marks `required`, and X-Request-ID on every response, are present.
A request whose path no operation describes must be answered by the generic 404 (and one whose
method the path does not allow by the generic 405) in `components.responses`: a problem+json
body with X-Request-ID.
"""

import json
import pathlib
import re
import threading
import urllib.parse

import yaml
from jsonschema import Draft202012Validator, RefResolver

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "proto" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
# Answers for requests no operation describes (see the module docstring).
UNMATCHED_PATH = {404: "NotFound", 400: "BadRequest"}  # 400: a path not percent-decodable
UNMATCHED_METHOD = {405: "MethodNotAllowed"}
# What the HTTP layer itself may answer to any request (components.responses.HttpError).
HTTP_LAYER = {400, 408, 413, 417, 431, 503}

_lock = threading.Lock()
_spec = None


class Spec:
    def __init__(self, path=SPEC_PATH):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        store = {}
        for ref in _external_refs(self.doc):
            target = (path.parent / ref).resolve()
            with open(target, encoding="utf-8") as f:
                ext = json.load(f)
            store[target.as_uri()] = ext
            if "$id" in ext:
                store[ext["$id"]] = ext
        self.resolver = RefResolver(base_uri=path.resolve().as_uri(), referrer=self.doc,
                                    store=store)
        self.ops = []  # (method, regex, template, operation), literal paths first
        for tpl, item in self.doc["paths"].items():
            rx = "^" + "".join(
                "[^/]+" if part.startswith("{") else re.escape(part)
                for part in re.split(r"(\{[^}]*\})", tpl) if part) + "$"
            for m in METHODS:
                if m in item:
                    self.ops.append((m.upper(), re.compile(rx), tpl, item[m]))
        self.ops.sort(key=lambda o: o[2].count("{"))
        self._validators = {}

    def resolve(self, node):
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) \
                and node["$ref"].startswith("#/"):
            target = self.doc
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def find(self, method, path):
        """(operation, template) for method+path; (None, 'path') when the path matches but
        not the method; (None, None) when no path matches."""
        path_seen = False
        for m, rx, tpl, op in self.ops:
            if rx.match(path):
                if m == method:
                    return op, tpl
                path_seen = True
        return None, ("path" if path_seen else None)

    def validator(self, schema):
        key = id(schema)
        v = self._validators.get(key)
        if v is None:
            v = self._validators[key] = (Draft202012Validator(schema, resolver=self.resolver),
                                         schema)
        return v[0]


def _external_refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and not v.startswith("#"):
                yield v.split("#", 1)[0]
            else:
                yield from _external_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _external_refs(v)


def spec():
    global _spec
    with _lock:
        if _spec is None:
            _spec = Spec()
        return _spec


def _media_type(value):
    return (value or "").split(";", 1)[0].strip().lower()


def _is_json(media):
    return media == "application/json" or media.endswith("+json")


def _problem_type(response):
    try:
        return json.loads(response.body.decode("utf-8")).get("type")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return None


def check(method, target, response):
    """Violations (strings) of the spec by this response to `method target` (target: the
    request's path and query, as sent)."""
    s = spec()
    status = response.status
    if method is None:
        # A request line the test malformed on purpose: whatever the HTTP layer answers is an
        # error, and errors are problems with a request id.
        if status < 400:
            return ["unparsable request answered %d" % status]
        generic = {"headers": {"X-Request-ID": {"$ref": "#/components/headers/XRequestID"}},
                   "content": {"application/problem+json": {
                       "schema": {"$ref": "#/components/schemas/Problem"}}}}
        return _check_response(s, "(malformed request)", status, generic, response)
    path = urllib.parse.urlsplit(target).path or target.split("?", 1)[0]
    head = method.upper() == "HEAD"
    if status in HTTP_LAYER and _problem_type(response) == "about:blank":
        return _check_response(s, "%s %s (HTTP layer)" % (method, path), status,
                               s.resolve({"$ref": "#/components/responses/HttpError"}), response,
                               head)
    op, tpl = s.find(method.upper(), path)
    if op is None:
        allowed = UNMATCHED_PATH if tpl is None else UNMATCHED_METHOD
        name = allowed.get(status)
        if name is None:
            what = "no operation" if tpl is None else "the path but not the method"
            return ["%s %s: status %d, but the spec describes %s here (the generic answers are "
                    "%s)" % (method, path, status, what, sorted(allowed))]
        return _check_response(s, "%s %s (undescribed)" % (method, path), status,
                               s.resolve({"$ref": "#/components/responses/" + name}), response,
                               head)
    responses = op.get("responses") or {}
    spec_resp = (responses.get(str(status)) or responses.get("%dXX" % (status // 100))
                 or responses.get("default"))
    where = "%s %s (%s %s)" % (method, path, op.get("operationId"), tpl)
    if spec_resp is None:
        return ["%s: status %d is not documented (documented: %s)"
                % (where, status, ", ".join(sorted(str(c) for c in responses)))]
    return _check_response(s, where, status, s.resolve(spec_resp), response, head)


def _check_response(s, where, status, spec_resp, response, head=False):
    out = []
    where = "%s -> %d" % (where, status)
    if not response.header("X-Request-ID"):
        out.append("%s: no X-Request-ID header" % where)
    for name, h in (spec_resp.get("headers") or {}).items():
        h = s.resolve(h)
        if h.get("required") and response.header(name) is None:
            out.append("%s: required header %s missing" % (where, name))
    content = spec_resp.get("content") or {}
    got = _media_type(response.header("Content-Type"))
    if not content:
        if response.body:
            out.append("%s: the spec documents no body, got %s %r"
                       % (where, got or "no Content-Type", response.body[:200]))
        return out
    media = {_media_type(k): v for k, v in content.items()}
    if got not in media:
        out.append("%s: Content-Type %r is not one of %s" % (where, got, sorted(media)))
        return out
    schema = (media[got] or {}).get("schema")
    if schema is None or not _is_json(got):
        return out
    if head and not response.body:
        return out  # the GET answer's headers without its body (RFC 9110 9.3.2)
    try:
        body = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        out.append("%s: the %s body is not JSON (%s): %r" % (where, got, e, response.body[:200]))
        return out
    errors = sorted(s.validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    for e in errors[:5]:
        pointer = "/" + "/".join(str(p) for p in e.absolute_path)
        out.append("%s: body at %s: %s (schema path %s)"
                   % (where, pointer, e.message[:300], "/".join(str(p) for p in e.schema_path)))
    if len(errors) > 5:
        out.append("%s: … and %d more schema errors" % (where, len(errors) - 5))
    return out
