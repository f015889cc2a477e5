"""The response checker itself (openapi_check.py), on made-up responses: it must pass what the
spec describes and name what it does not. No server needed."""

import json

import pytest

pytest.importorskip("jsonschema")

import openapi_check  # noqa: E402
from harness import Response  # noqa: E402

RID = [("X-Request-ID", "rid-1")]


def resp(status, body, ctype="application/json", headers=RID):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, list(headers) + [("Content-Type", ctype)], data)


def problem(status, slug="x"):
    return resp(status, {"type": "https://intentd.dev/problems/" + slug, "title": "T",
                         "status": status, "detail": "d", "request_id": "rid-1"},
                "application/problem+json")


def intent_ack(state="PENDING"):
    return {"action_intent_id": "ai_1", "tenant_id": "acme", "state": state,
            "status_url": "/v1/intents/ai_1"}


def test_a_conforming_answer_passes():
    ok = resp(202, intent_ack(), headers=RID + [("Location", "/v1/intents/ai_1")])
    assert openapi_check.check("POST", "/v1/intents", ok) == []
    assert openapi_check.check("GET", "/healthz", resp(200, {"status": "ok"})) == []
    assert openapi_check.check("GET", "/v1/intents/ai_1?tenant_id=a", problem(404)) == []


def test_an_undocumented_status_is_named():
    v = openapi_check.check("GET", "/healthz", problem(418))
    assert v and "418 is not documented" in v[0], v


def test_a_wrong_content_type_is_named():
    v = openapi_check.check("GET", "/healthz", resp(200, {"status": "ok"}, "text/html"))
    assert v and "Content-Type" in v[0], v


def test_a_body_against_the_schema_is_named_with_its_pointer():
    v = openapi_check.check("POST", "/v1/intents", resp(202, intent_ack("SLEEPING")))
    assert any("/state" in x for x in v), v


def test_a_missing_request_id_is_named():
    v = openapi_check.check("GET", "/healthz", resp(200, {"status": "ok"}, headers=[]))
    assert any("X-Request-ID" in x for x in v), v


def test_literal_paths_win_over_templates():
    # /v1/intents:batch is its own operation, not /v1/intents/{id} (nor a prefix match)
    op, tpl = openapi_check.spec().find("POST", "/v1/intents:batch")
    assert tpl == "/v1/intents:batch" and op["operationId"] == "submitIntentBatch"
    op, tpl = openapi_check.spec().find("GET", "/v1/intents/ai_1/timeline")
    assert tpl == "/v1/intents/{id}/timeline"


def test_undescribed_paths_and_methods_need_the_generic_answers():
    assert openapi_check.check("GET", "/nope", problem(404, "not-found")) == []
    assert openapi_check.check("PATCH", "/v1/toggles", problem(405)) == []
    assert openapi_check.check("GET", "/nope", resp(200, {"x": 1}))
    assert openapi_check.check("PATCH", "/v1/toggles", problem(404))


def test_the_http_layers_refusals_are_accepted_anywhere_but_only_as_about_blank():
    blank = resp(431, {"type": "about:blank", "title": "T", "status": 431, "detail": "d"},
                 "application/problem+json")
    assert openapi_check.check("GET", "/healthz", blank) == []
    assert openapi_check.check("GET", "/healthz", problem(431))


def test_a_malformed_request_line_still_needs_a_problem():
    assert openapi_check.check(None, None, problem(400)) == []
    assert openapi_check.check(None, None, resp(400, b"oops", "text/plain"))


def test_the_external_intent_schema_resolves():
    # preview's answer refers to the intent schema's fields through local refs; the submission
    # request refers to ./action_intent_v1.schema.json: resolving it must not raise.
    s = openapi_check.spec()
    v = s.validator({"$ref": "./action_intent_v1.schema.json"})
    assert list(v.iter_errors({"schema": "action_intent.v1"}))  # far from a whole intent


# ------------------------------------------------------------------ the spec's own examples


def media_entries():
    """(where, media object) for every request body and response content of every operation."""
    s = openapi_check.spec()
    for path, item in s.doc["paths"].items():
        for method in ("get", "put", "post", "delete", "patch"):
            op = item.get(method)
            if op is None:
                continue
            body = s.resolve(op.get("requestBody") or {})
            for ct, media in (body.get("content") or {}).items():
                yield "%s %s request %s" % (method.upper(), path, ct), media
            for code, r in op["responses"].items():
                for ct, media in (s.resolve(r).get("content") or {}).items():
                    yield "%s %s %s %s" % (method.upper(), path, code, ct), media


def examples_of(media):
    s = openapi_check.spec()
    if "example" in media:
        yield "example", media["example"]
    for name, ex in (media.get("examples") or {}).items():
        yield name, s.resolve(ex)["value"]


@pytest.mark.parametrize("where,media", list(media_entries()), ids=lambda x: x
                         if isinstance(x, str) else "")
def test_every_body_has_an_example_that_validates(where, media):
    found = list(examples_of(media))
    assert found, "%s: no example" % where
    schema = media.get("schema")
    if schema is None or not openapi_check._is_json(openapi_check._media_type(
            where.rsplit(" ", 1)[1])):
        return
    v = openapi_check.spec().validator(schema)
    for name, value in found:
        errors = [e.message for e in v.iter_errors(value)]
        assert not errors, "%s example %s: %s" % (where, name, errors[:3])


def test_a_head_answer_has_no_body_to_check_but_a_get_answer_does():
    empty_problem = resp(405, b"", "application/problem+json")
    assert openapi_check.check("HEAD", "/console", empty_problem) == []
    v = openapi_check.check("GET", "/v1/toggles", resp(401, b"", "application/problem+json"))
    assert any("not JSON" in x for x in v), v
    # its headers are still checked
    v = openapi_check.check("HEAD", "/console", resp(405, b"", "application/problem+json",
                                                     headers=[]))
    assert any("X-Request-ID" in x for x in v), v


CONSOLE_HEADERS = RID + [
    ("Content-Security-Policy", "default-src 'none'"), ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store")]


def test_a_console_file_without_its_security_headers_is_named():
    page = resp(200, b"<!doctype html>", "text/html; charset=utf-8", headers=CONSOLE_HEADERS)
    assert openapi_check.check("GET", "/console", page) == []
    js = resp(200, b"'use strict';", "application/javascript; charset=utf-8",
              headers=CONSOLE_HEADERS)
    assert openapi_check.check("GET", "/console/app.js", js) == []
    bare = resp(200, b"<!doctype html>", "text/html; charset=utf-8")
    v = openapi_check.check("GET", "/console/", bare)
    assert any("Content-Security-Policy" in x for x in v), v
    assert any("X-Content-Type-Options" in x for x in v), v
    v = openapi_check.check("GET", "/console/app.css", resp(200, b"x", "text/plain",
                                                            headers=CONSOLE_HEADERS))
    assert v and "Content-Type" in v[0], v
