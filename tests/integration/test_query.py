"""GET /v1/executions and /v1/accounts/{id}/executions: filters, limits, keyset cursor; and the
query parameters of GET /v1/signals."""

import base64
import time

import pytest

from harness import assert_problem, unique


@pytest.fixture(scope="module")
def populated(shared):
    """A tenant with five create_task and two log_note intents, all SUCCEEDED, on account X
    (the log notes on account Y)."""
    inst, db = shared
    t = inst.create_tenant()
    c = inst.client()
    acct_x, acct_y = unique("acct_"), unique("acct_")
    ids = []
    for i in range(5):
        intent = t.intent(account_id=acct_x)
        assert c.submit(intent, key=t.key).status == 202
        ids.append(intent["action_intent_id"])
        time.sleep(0.01)  # distinct submitted_at for a deterministic order
    notes = []
    for i in range(2):
        intent = t.intent(account_id=acct_y, action_type="internal.log_note",
                          parameters={"body": "n%d" % i})
        assert c.submit(intent, key=t.key).status == 202
        notes.append(intent["action_intent_id"])
        time.sleep(0.01)
    op = c.with_token(t.operator)
    for iid in ids + notes:
        op.wait_for_state(iid, "SUCCEEDED")
    c.close()
    return t, acct_x, acct_y, ids, notes


def _ids(r):
    assert r.status == 200, r
    return [x["action_intent_id"] for x in r.json["items"]]


def test_executions_lists_newest_first(client, populated):
    t, _, _, ids, notes = populated
    got = _ids(client.with_token(t.operator).executions())
    assert got == list(reversed(ids + notes))


def test_executions_items_are_summaries_without_output(client, populated):
    t, _, _, ids, _ = populated
    r = client.with_token(t.operator).executions()
    item = next(x for x in r.json["items"] if x["action_intent_id"] == ids[0])
    assert item["state"] == "SUCCEEDED" and item["tenant_id"] == t.tenant_id
    assert "output" not in item
    assert r.json["next_cursor"] is None


def test_executions_filter_by_action_type(client, populated):
    t, _, _, ids, notes = populated
    got = _ids(client.with_token(t.operator).executions(action_type="internal.log_note"))
    assert sorted(got) == sorted(notes)


def test_executions_filter_by_status(client, populated):
    t, _, _, ids, notes = populated
    op = client.with_token(t.operator)
    assert sorted(_ids(op.executions(status="SUCCEEDED"))) == sorted(ids + notes)
    assert _ids(op.executions(status="FAILED")) == []


def test_executions_filter_by_time_window(client, populated):
    t, _, _, ids, notes = populated
    op = client.with_token(t.operator)
    assert _ids(op.executions(since="2099-01-01T00:00:00Z")) == []
    assert _ids(op.executions(until="2000-01-01T00:00:00Z")) == []
    assert sorted(_ids(op.executions(since="2000-01-01T00:00:00Z",
                                     until="2099-01-01T00:00:00Z"))) == sorted(ids + notes)


def test_account_executions_lists_only_that_account(client, populated):
    t, acct_x, acct_y, ids, notes = populated
    op = client.with_token(t.operator)
    assert sorted(_ids(op.executions(account_id=acct_x))) == sorted(ids)
    assert sorted(_ids(op.executions(account_id=acct_y))) == sorted(notes)


def test_keyset_cursor_pages_through_everything_once(client, populated):
    t, _, _, ids, notes = populated
    op = client.with_token(t.operator)
    seen, cursor, pages = [], None, 0
    while True:
        r = op.executions(limit=2, cursor=cursor)
        assert r.status == 200, r
        assert len(r.json["items"]) <= 2
        seen += [x["action_intent_id"] for x in r.json["items"]]
        cursor = r.json["next_cursor"]
        pages += 1
        assert pages < 20
        if cursor is None:
            break
    assert seen == list(reversed(ids + notes))


def test_limit_over_500_is_400(client, populated):
    t = populated[0]
    assert_problem(client.with_token(t.operator).executions(limit=501), 400)


def test_limit_of_500_is_accepted(client, populated):
    t = populated[0]
    assert client.with_token(t.operator).executions(limit=500).status == 200


@pytest.mark.parametrize("param", ["since", "until"])
def test_bad_time_filter_is_400(client, populated, param):
    t = populated[0]
    assert_problem(client.with_token(t.operator).executions(**{param: "yesterday"}), 400)


def test_bad_cursor_is_400(client, populated):
    t = populated[0]
    assert_problem(client.with_token(t.operator).executions(cursor="!!garbage!!"), 400)


# PostgreSQL refuses year 0000 and offsets past 15:59; such filters used to reach it (500).
OUT_OF_RANGE_TIMES = ["2026-01-01T00:00:00+16:00", "2026-01-01T00:00:00-23:59",
                      "0000-06-01T00:00:00Z"]


@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMES)
@pytest.mark.parametrize("param", ["since", "until"])
def test_time_filter_outside_what_postgres_takes_is_400(client, populated, param, value):
    t = populated[0]
    b = assert_problem(client.with_token(t.operator).executions(**{param: value}), 400)
    assert param in b["detail"], b


def test_time_filter_at_the_edges_postgres_takes_is_accepted(client, populated):
    t, _, _, ids, notes = populated
    got = _ids(client.with_token(t.operator).executions(since="0001-01-01T00:00:00-15:59",
                                                        until="9999-12-31T23:59:59+15:59"))
    assert sorted(got) == sorted(ids + notes)


@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMES)
def test_cursor_with_a_time_outside_what_postgres_takes_is_400(client, populated, value):
    t, _, _, ids, _ = populated
    raw = ("%s|%s|%s" % (value, t.tenant_id, ids[0])).encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert_problem(client.with_token(t.operator).executions(cursor=cursor), 400)


def test_cursor_naming_a_tenant_that_is_not_utf8_is_400(client, populated):
    t, _, _, ids, _ = populated
    raw = b"2026-01-01T00:00:00Z|\xff|" + ids[0].encode()
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    assert_problem(client.with_token(t.operator).executions(cursor=cursor), 400)


# Past the range of a 64-bit seq, signed, padded ('+' is a space in a query) or trailed:
# strtoll saturated or skipped these (after=99999999999999999999 answered 200, empty).
BAD_SIGNALS_QUERIES = [
    "after=99999999999999999999", "after=9223372036854775808", "after=-0", "after=+1",
    "after=%2B1", "after=%201", "after=1%20", "after=1x", "after=0x10", "after=",
    "limit=99999999999999999999", "limit=1001", "limit=0", "limit=+5", "limit=%2B5",
    "limit=%205", "limit=5x", "limit=",
]


@pytest.mark.parametrize("query", BAD_SIGNALS_QUERIES)
def test_signals_query_out_of_range_or_malformed_is_400(client, populated, query):
    t = populated[0]
    b = assert_problem(client.with_token(t.operator).get("/v1/signals?" + query), 400)
    assert query.split("=")[0] in b["detail"], b


def test_signals_query_at_its_bounds_is_accepted(client, populated):
    op = client.with_token(populated[0].operator)
    r = op.get("/v1/signals?after=9223372036854775807&limit=1000")
    assert r.status == 200 and r.json["signals"] == [], r
    r = op.get("/v1/signals?after=0&limit=1")
    assert r.status == 200 and len(r.json["signals"]) == 1, r


@pytest.mark.parametrize("limit", ["+5", "%2B5", "%205", "5%20", "99999999999999999999"])
def test_executions_limit_signed_padded_or_huge_is_400(client, populated, limit):
    t = populated[0]
    assert_problem(client.with_token(t.operator).get("/v1/executions?limit=" + limit), 400)
