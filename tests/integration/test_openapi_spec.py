"""proto/openapi.yaml against docs/api-contract.md: structural checks that need no server.

Every `METHOD /path` the contract names is described; every operation answers with at least one
success and one application/problem+json error, declares its security, and every response carries
X-Request-ID; every local $ref resolves; the intent schema is referenced by its file."""

import pathlib
import re

import pytest

yaml = pytest.importorskip("yaml")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "proto" / "openapi.yaml"
CONTRACT_PATH = ROOT / "docs" / "api-contract.md"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
PUBLIC_PATHS = {"/healthz", "/readyz", "/metrics", "/console", "/console/", "/console/{asset}"}
SUBMISSION_PATHS = {"/v1/intents", "/v1/intents:batch"}


@pytest.fixture(scope="module")
def spec():
    with SPEC_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def contract_endpoints():
    text = CONTRACT_PATH.read_text(encoding="utf-8")
    found = set(re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", text))
    assert found, "no endpoints found in docs/api-contract.md"
    return sorted(found)


def template(path):
    """/v1/intents/{id} and /v1/intents/{intent_id} are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(spec, node):
    """Follows one chain of local $refs (#/a/b) to the object they name."""
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        target = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def all_refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from all_refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from all_refs(v)


def test_is_openapi_3_1(spec):
    assert str(spec["openapi"]).startswith("3.1")
    assert spec["info"]["title"] and spec["info"]["version"]


@pytest.mark.parametrize("method,path", contract_endpoints())
def test_contract_endpoint_is_described(spec, method, path):
    by_template = {template(p): item for p, item in spec["paths"].items()}
    assert template(path) in by_template, f"{path} missing from proto/openapi.yaml"
    assert method.lower() in by_template[template(path)], f"{method} {path} missing"


def test_no_endpoint_beyond_the_contract(spec):
    contract = {(m.lower(), template(p)) for m, p in contract_endpoints()}
    extra = [(m, p) for p, m, _ in operations(spec) if (m, template(p)) not in contract]
    assert not extra, f"described but not in docs/api-contract.md: {extra}"


def test_every_operation_has_success_and_problem_responses(spec):
    for path, method, op in operations(spec):
        responses = op.get("responses") or {}
        codes = [str(c) for c in responses]
        assert any(c.startswith("2") for c in codes), f"{method} {path}: no 2xx"
        problems = [c for c in codes if c[0] in "45"]
        assert problems, f"{method} {path}: no error responses"
        for code in problems:
            content = resolve(spec, responses[code]).get("content", {})
            assert "application/problem+json" in content, f"{method} {path} {code}: not problem+json"
            schema = content["application/problem+json"]["schema"]
            assert schema.get("$ref") == "#/components/schemas/Problem", f"{method} {path} {code}"


def test_every_response_carries_request_id(spec):
    for path, method, op in operations(spec):
        for code, resp in op["responses"].items():
            headers = resolve(spec, resp).get("headers", {})
            assert "X-Request-ID" in headers, f"{method} {path} {code}: no X-Request-ID header"


def test_every_operation_documents_its_errors_and_id(spec):
    ids = [op.get("operationId") for _, _, op in operations(spec)]
    assert all(ids) and len(ids) == len(set(ids)), "operationIds missing or repeated"


def test_security_is_declared(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    sig = schemes["intentSignature"]
    assert (sig["type"], sig["in"], sig["name"]) == ("apiKey", "header", "Intent-Signature")
    assert spec["security"] == [{"bearerAuth": []}]
    for path, method, op in operations(spec):
        declared = op.get("security", spec["security"])
        if path in PUBLIC_PATHS:
            assert declared == [], f"{method} {path} should need no authentication"
        elif path in SUBMISSION_PATHS:
            assert declared == [{"intentSignature": []}], f"{method} {path}: signature only"
        else:
            assert declared == [{"bearerAuth": []}], f"{method} {path}: bearer token"
            assert "401" in op["responses"], f"{method} {path}: no 401"


def test_roles_are_described(spec):
    for path, method, op in operations(spec):
        if path in PUBLIC_PATHS | SUBMISSION_PATHS:
            continue
        text = (op.get("description", "") + op.get("summary", "")).lower()
        assert re.search(r"\b(operator|oncall|admin)\b", text), f"{method} {path}: no role named"


def test_submissions_reference_the_intent_schema(spec):
    one = spec["paths"]["/v1/intents"]["post"]["requestBody"]["content"]["application/json"]
    assert one["schema"]["$ref"] == "./action_intent_v1.schema.json"
    batch = resolve(spec, spec["paths"]["/v1/intents:batch"]["post"]["requestBody"]
                    ["content"]["application/json"]["schema"])
    assert batch["properties"]["intents"]["items"]["$ref"] == "./action_intent_v1.schema.json"
    assert batch["properties"]["intents"]["maxItems"] == 1000
    assert (ROOT / "proto" / "action_intent_v1.schema.json").exists()


def test_problem_schema_matches_rfc_9457(spec):
    problem = spec["components"]["schemas"]["Problem"]
    for field in ("type", "title", "status", "detail", "request_id", "errors"):
        assert field in problem["properties"], field
    item = resolve(spec, problem["properties"]["errors"]["items"])
    assert set(item["required"]) == {"pointer", "message"}


def test_every_local_ref_resolves(spec):
    for ref in set(all_refs(spec)):
        if ref.startswith("#/"):
            resolve(spec, {"$ref": ref})  # raises KeyError when dangling
        else:
            assert (SPEC_PATH.parent / ref).exists(), f"{ref} does not exist"


def test_path_parameters_are_declared(spec):
    for path, method, op in operations(spec):
        params = [resolve(spec, p) for p in op.get("parameters", [])]
        declared = {p["name"] for p in params if p["in"] == "path"}
        assert declared == set(re.findall(r"\{([^}]*)\}", path)), f"{method} {path}"
        assert all(p["required"] for p in params if p["in"] == "path")


# ------------------------------------------------------------------- roles against the routes

ROLES = {"public", "signature", "operator", "oncall", "admin"}
AUTH_TO_ROLE = {"AUTH_OPERATOR": "operator", "AUTH_ONCALL": "oncall", "AUTH_ADMIN": "admin"}
API_C = ROOT / "engine" / "api.c"


def routes_table():
    """(METHOD, /path/{}, role) for each row of engine/api.c's routes[]; a path parameter `*`
    becomes `{}`. AUTH_NONE is `signature` for the submissions, `public` otherwise."""
    src = API_C.read_text(encoding="utf-8")
    table = re.search(r"static const struct route routes\[\] = \{(.*?)\n\};", src, re.S)
    assert table, "routes[] not found in engine/api.c"
    rows = re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)",\s*(AUTH_[A-Z]+),\s*\w+\s*\}',
                      table.group(1))
    assert rows, "no rows parsed from routes[]"
    out = set()
    for method, pattern, auth in rows:
        if auth == "AUTH_NONE":
            role = "signature" if pattern in SUBMISSION_PATHS else "public"
        else:
            role = AUTH_TO_ROLE[auth]
        out.add((method, pattern.replace("*", "{}"), role))
    return out


def spec_roles(spec):
    return {(m.upper(), template(p), op.get("x-intentd-role")) for p, m, op in operations(spec)}


def test_every_operation_names_its_role(spec):
    for path, method, op in operations(spec):
        assert op.get("x-intentd-role") in ROLES, f"{method} {path}: x-intentd-role"


def test_routes_table_and_spec_agree_on_methods_paths_and_roles(spec):
    code, described = routes_table(), spec_roles(spec)
    assert not code - described, f"engine/api.c routes not so in the spec: {code - described}"
    assert not described - code, f"spec operations not so in engine/api.c: {described - code}"


def test_roles_agree_with_security(spec):
    for path, method, op in operations(spec):
        role = op["x-intentd-role"]
        declared = op.get("security", spec["security"])
        if role == "public":
            assert declared == [], f"{method} {path}"
        elif role == "signature":
            assert declared == [{"intentSignature": []}], f"{method} {path}"
        else:
            assert declared == [{"bearerAuth": []}], f"{method} {path}"
            if role != "operator":  # operator is the lowest role: nothing below it
                assert "403" in op["responses"], f"{method} {path}: roles below {role} get 403"
            text = (op.get("description", "") + op.get("summary", "")).lower()
            assert role in text, f"{method} {path}: the description does not name {role}"


# --------------------------------------------------------------------------- problem types


def engine_problem_slugs():
    """Every problem slug engine/*.c passes as a literal to api_reply_problem(_errors) or the
    submission's finish_problem (a slug chosen at run time by a ternary is caught as both)."""
    slugs = set()
    call = re.compile(r'(?:api_reply_problem(?:_errors)?|finish_problem)\(\s*\w+,\s*[^,]+,\s*'
                      r'(?:[^,"]*\?\s*)?"([a-z0-9-]+)"(?:\s*:\s*"([a-z0-9-]+)")?', re.S)
    for path in (ROOT / "engine").glob("*.c"):
        for m in call.finditer(path.read_text(encoding="utf-8")):
            slugs.update(s for s in m.groups() if s)
    assert len(slugs) > 20, slugs
    return slugs


def test_every_problem_type_the_engine_sends_is_documented(spec):
    catalogue = spec["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
    missing = sorted(s for s in engine_problem_slugs() if "`%s`" % s not in catalogue)
    assert not missing, f"Problem.type in proto/openapi.yaml does not list {missing}"


def test_every_problem_example_uses_a_type_the_engine_sends(spec):
    text = SPEC_PATH.read_text(encoding="utf-8")
    used = set(re.findall(r"type: https://intentd\.dev/problems/([a-z0-9-]+)", text))
    assert used, "no problem examples found"
    unknown = sorted(used - engine_problem_slugs())
    assert not unknown, f"examples use problem types the engine never sends: {unknown}"
