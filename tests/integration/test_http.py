"""HTTP basics: health endpoints, X-Request-ID, problem bodies, header limit."""

import http.client

import pytest

from harness import assert_problem, raw_http


def test_healthz_is_ok(client):
    r = client.get("/healthz")
    assert r.status == 200, r
    assert r.json == {"status": "ok"}


def test_readyz_is_ready(client):
    r = client.get("/readyz")
    assert r.status == 200, r
    assert r.json["status"] == "ready"


def test_request_id_is_echoed(client):
    r = client.get("/healthz", request_id="req-12345-abc")
    assert r.header("X-Request-ID") == "req-12345-abc"


def test_request_id_is_echoed_on_errors(client, tenant):
    r = client.submit(tenant.intent(), signature=False, request_id="req-err-777")
    assert r.header("X-Request-ID") == "req-err-777"
    assert assert_problem(r, 401)["request_id"] == "req-err-777"


def test_request_id_is_generated_when_absent(client):
    r = client.get("/healthz", headers={"X-Request-ID": None})
    assert r.status == 200
    assert r.header("X-Request-ID")
    r2 = client.get("/healthz", headers={"X-Request-ID": None})
    assert r2.header("X-Request-ID") != r.header("X-Request-ID")


def test_unknown_path_is_404_problem(client):
    assert_problem(client.get("/v1/no-such-thing"), 404)


def test_keep_alive_serves_several_requests_on_one_connection(shared_intentd):
    conn = http.client.HTTPConnection("127.0.0.1", shared_intentd.port, timeout=30)
    try:
        socks = []
        for _ in range(3):
            conn.request("GET", "/healthz", headers={"X-Request-ID": "ka"})
            r = conn.getresponse()
            assert r.status == 200
            r.read()
            socks.append(conn.sock)
        assert socks[0] is not None and socks[0] is socks[1] is socks[2]
    finally:
        conn.close()


def test_headers_over_16_kib_are_431(shared_intentd):
    req = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"a" * (17 * 1024) +
           b"\r\n\r\n")
    r = raw_http("127.0.0.1", shared_intentd.port, req)
    assert r.status == 431, r


def _raw_get(inst, target):
    return raw_http("127.0.0.1", inst.port,
                    b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")


def test_a_problem_naming_a_path_that_is_not_utf8_is_whole(shared_intentd):
    # The detail quotes the raw path; json_pack refused the 0xFF in it and the body was {}.
    b = assert_problem(_raw_get(shared_intentd, b"/\xff"), 404)
    assert b["detail"].startswith("no such resource: /"), b
    assert "\ufffd" in b["detail"], b


@pytest.mark.parametrize("pad", range(998, 1010))
def test_a_problem_detail_cut_near_a_multibyte_character_is_whole(shared_intentd, pad):
    # A path of about 1 KiB ending in U+20AC: the detail is cut to fit its buffer, and a cut
    # inside the character left it not UTF-8 (body {}). Some pad lands the cut in each byte.
    path = "/" + "a" * pad + "\u20ac\u20ac"
    r = _raw_get(shared_intentd, path.encode())
    r.body.decode("utf-8")  # strictly: the whole body is UTF-8
    b = assert_problem(r, 404)
    # cut between characters, never inside one, and nothing replaced
    full = "no such resource: " + path
    assert full.startswith(b["detail"]) and len(b["detail"]) > 1000, b
