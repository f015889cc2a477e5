"""GET /metrics: the Prometheus text exposition format (0.0.4), parsed strictly here (the
Debian archive's python3-prometheus-client is not a test dependency), and the values checked
against what the tests did and what the database holds."""

import math
import re
import time

from connector_env import book_meeting, configure, crm_task_params, intent
from harness import wait_until

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class FormatError(AssertionError):
    pass


def _value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise FormatError("bad value %r" % text)
    return float(text)


def _labels(text, pos, line):
    """Parses {a="x",b="y"} from text[pos] == '{'; returns (dict, position after '}')."""
    out = {}
    pos += 1
    while True:
        if text[pos:pos + 1] == "}":
            return out, pos + 1
        m = LABEL.match(text, pos)
        if not m or text[m.end():m.end() + 2] != '="':
            raise FormatError("bad label at %d in %r" % (pos, line))
        name = m.group(0)
        pos = m.end() + 2
        val = []
        while True:
            if pos >= len(text):
                raise FormatError("unterminated label value in %r" % line)
            c = text[pos]
            if c == "\\":
                esc = text[pos + 1:pos + 2]
                if esc not in ("\\", '"', "n"):
                    raise FormatError("bad escape \\%s in %r" % (esc, line))
                val.append("\n" if esc == "n" else esc)
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                val.append(c)
                pos += 1
        if name in out:
            raise FormatError("label %s twice in %r" % (name, line))
        out[name] = "".join(val)
        if text[pos:pos + 1] == ",":
            pos += 1
        elif text[pos:pos + 1] != "}":
            raise FormatError("expected , or } in %r" % line)


def parse(text):
    """Returns {family: {"type", "help", "samples": [(name, labels, value)]}}; raises FormatError
    on anything the format does not allow or that this project's rules forbid."""
    if text and not text.endswith("\n"):
        raise FormatError("the text does not end with a line feed")
    fams = {}
    order = []  # families in the order their samples appear
    current = None

    def family_of(sample):
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample[:-len(suffix)] if sample.endswith(suffix) else None
            if base and fams.get(base, {}).get("type") == "histogram":
                return base
        return sample

    for line in text.split("\n")[:-1]:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not NAME.fullmatch(name):
                    raise FormatError("bad name in %r" % line)
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                key = parts[1].lower()
                if f[key] is not None:
                    raise FormatError("%s twice for %s" % (parts[1], name))
                if f["samples"]:
                    raise FormatError("%s after samples of %s" % (parts[1], name))
                if key == "type":
                    if len(parts) != 4 or parts[3] not in TYPES:
                        raise FormatError("bad TYPE line %r" % line)
                    f["type"] = parts[3]
                else:
                    f["help"] = parts[3] if len(parts) == 4 else ""
            continue
        if not line.strip():
            raise FormatError("blank line")
        m = NAME.match(line)
        if not m:
            raise FormatError("bad sample %r" % line)
        name, pos = m.group(0), m.end()
        labels = {}
        if line[pos:pos + 1] == "{":
            labels, pos = _labels(line, pos, line)
        rest = line[pos:].split(" ")
        if rest[0] != "" or len(rest) not in (2, 3):
            raise FormatError("bad sample %r" % line)
        value = _value(rest[1])
        fam = family_of(name)
        f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
        if current != fam:
            if fam in order:
                raise FormatError("samples of %s are not together" % fam)
            order.append(fam)
            current = fam
        f["samples"].append((name, labels, value))
    for name, f in fams.items():
        _check_family(name, f)
    return fams


def _check_family(name, f):
    if f["type"] is None or f["help"] is None:
        raise FormatError("%s lacks HELP or TYPE" % name)
    if not name.startswith("intentd_"):
        raise FormatError("%s lacks the intentd_ prefix" % name)
    if name != name.lower():
        raise FormatError("%s is not snake_case" % name)
    if (f["type"] == "counter") != name.endswith("_total"):
        raise FormatError("%s: only counters end in _total, and every counter does" % name)
    if f["type"] != "histogram":
        for s, _, _ in f["samples"]:
            if s != name:
                raise FormatError("sample %s in family %s" % (s, name))
        return
    series = {}
    for s, labels, v in f["samples"]:
        key = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if s == name + "_bucket":
            series[key]["buckets"].append((_value(labels["le"]), v))
        elif s == name + "_sum":
            series[key]["sum"] = v
        elif s == name + "_count":
            series[key]["count"] = v
        else:
            raise FormatError("sample %s in histogram %s" % (s, name))
    for key, h in series.items():
        les = [le for le, _ in h["buckets"]]
        counts = [c for _, c in h["buckets"]]
        if les != sorted(les) or len(set(les)) != len(les) or les[-1] != math.inf:
            raise FormatError("%s%r: buckets out of order or without +Inf" % (name, key))
        if counts != sorted(counts):
            raise FormatError("%s%r: buckets are not cumulative" % (name, key))
        if h["count"] != counts[-1] or h["sum"] is None:
            raise FormatError("%s%r: _count differs from the +Inf bucket" % (name, key))


def value(fams, name, **labels):
    """The sample called name with exactly these labels (0 when absent)."""
    for fam in fams.values():
        for s, l, v in fam["samples"]:
            if s == name and l == labels:
                return v
    return 0.0


def scrape(client):
    r = client.get("/metrics")
    assert r.status == 200, r
    assert r.header("content-type").startswith("text/plain; version=0.0.4"), r
    return parse(r.body.decode("utf-8"))


# ------------------------------------------------------------------------------ the parser


def test_parser_refuses_what_the_format_forbids():
    good = ("# HELP intentd_x_total X.\n# TYPE intentd_x_total counter\n"
            'intentd_x_total{a="q\\"\\\\\\n"} 1\n')
    assert parse(good)["intentd_x_total"]["samples"][0][1] == {"a": 'q"\\\n'}
    bad = [
        good.rstrip("\n"),  # no final line feed
        good + "# TYPE intentd_x_total counter\n",  # TYPE twice
        good.replace("counter", "gauge"),  # gauge named _total
        good.replace('\\"', '\\t'),  # unknown escape
        good.replace("} 1", "} one"),  # not a number
        good + "# HELP intentd_y Y.\n# TYPE intentd_y gauge\nintentd_y 1\nintentd_x_total 2\n",
        "# HELP intentd_h H.\n# TYPE intentd_h histogram\n"
        'intentd_h_bucket{le="1"} 2\nintentd_h_bucket{le="+Inf"} 1\n'
        "intentd_h_sum 1\nintentd_h_count 1\n",  # not cumulative
    ]
    for text in bad:
        try:
            parse(text)
        except FormatError:
            continue
        raise AssertionError("accepted %r" % text)


# ------------------------------------------------------------------------------ the endpoint


def test_metrics_move_with_the_work(shared_intentd, shared_db, client, tenant):
    before = scrape(client)
    n = 5
    ids = []
    for _ in range(n):
        intent = tenant.intent()
        assert client.submit(intent, key=tenant.key).status == 202
        ids.append(intent["action_intent_id"])
    shared_db.wait_quiescent()
    op = shared_intentd.client(token=tenant.operator)
    assert op.intent(ids[0], tenant.tenant_id).status == 200
    assert op.get("/v1/intents/no-such-intent").status == 404

    done = {"from": "EXECUTING", "to": "SUCCEEDED"}

    def settled():
        # the database gauges are cached for about a second, and the executor counts a
        # transition when the commit's answer reaches it, a moment after the row changed
        after = scrape(client)
        gauge_ok = value(after, "intentd_intents", state="SUCCEEDED") == \
            shared_db.scalar("SELECT count(*) FROM intentd.intents WHERE state='SUCCEEDED'")
        counted = value(after, "intentd_intent_transitions_total", **done) >= \
            value(before, "intentd_intent_transitions_total", **done) + n
        return after if gauge_ok and counted else None
    after = wait_until(settled, 10, what="the intents gauge to match the database")

    for state, count in shared_db.query("SELECT state, count(*) FROM intentd.intents "
                                        "GROUP BY state"):
        assert value(after, "intentd_intents", state=state) == count, state
    for state in ("PENDING", "EXECUTING", "COMPENSATING", "SUCCEEDED", "FAILED", "EXPIRED",
                  "CANCELLED"):
        assert any(l == {"state": state} for _, l, _ in after["intentd_intents"]["samples"])
    assert value(after, "intentd_due_queue_depth") == 0
    assert value(after, "intentd_due_queue_oldest_age_seconds") == 0
    assert value(after, "intentd_database_stats_up") == 1
    assert value(after, "intentd_leases_held") == 0

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("intentd_intent_transitions_total", **done) == n
    # outcomes of several intents share an apply call (group commit): at least one was made
    assert delta("intentd_ledger_append_duration_seconds_count") >= 1
    assert delta("intentd_ledger_append_duration_seconds_sum") > 0
    assert delta("intentd_http_requests_total", method="POST", route="/v1/intents",
                 status="202") == n
    assert delta("intentd_http_requests_total", method="GET", route="/v1/intents/*",
                 status="200") == 1
    assert delta("intentd_http_requests_total", method="GET", route="/v1/intents/*",
                 status="404") == 1
    assert value(after, "intentd_http_requests_total", method="GET", route="/metrics",
                 status="200") >= 1
    assert value(after, "intentd_db_pool_connections", state="up") >= 1
    assert delta("intentd_db_jobs_total", result="done") > 0
    # the submissions and outcomes went through group-commit transactions
    assert delta("intentd_db_group_transactions_total") >= 1
    assert delta("intentd_db_group_statements_total") >= \
        delta("intentd_db_group_transactions_total")
    # present from the start (a failed group is rare, and a scrape must not miss the series)
    assert any(name == "intentd_db_group_fallbacks_total" and not labels
               for fam in after.values() for name, labels, _ in fam["samples"])

    # no id, tenant or raw path in any label
    for fam in after.values():
        for _, labels, _ in fam["samples"]:
            for v in labels.values():
                assert tenant.tenant_id not in v and not any(i in v for i in ids), labels
                assert "no-such-intent" not in v, labels


def test_unmatched_paths_share_one_label(client):
    before = scrape(client)
    for path in ("/nowhere/1", "/nowhere/2", "/v1/intents/x/y/z"):
        assert client.get(path).status == 404
    after = scrape(client)
    key = dict(method="GET", route="unmatched", status="404")
    assert value(after, "intentd_http_requests_total", **key) - \
        value(before, "intentd_http_requests_total", **key) == 3


def test_metrics_need_no_token_and_refuse_other_methods(client):
    r = client.request("GET", "/metrics", token=None)
    assert r.status == 200
    assert client.post("/metrics", body={}).status == 405


def test_connector_attempts_and_latency_are_counted(shared, client, fake):
    """One rate-limited CRM answer, then success: the attempt counter has a rate_limited and a
    succeeded CRM attempt, the calendar call succeeded, and the latency histogram saw them."""
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"], "calendar": ["cal-token"],
                        "gmail": ["gmail-token"], "webhook": ["hook-token"]})
    inst = shared[0]
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    configure(c, fake, only=("crm", "calendar"))
    fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                   status=429, retry_after=1, count=1)
    before = scrape(client)
    it = book_meeting(tenant)
    assert c.submit(it, key=tenant.key).status == 202
    st = c.wait_for_state(it["action_intent_id"], ("SUCCEEDED", "FAILED", "EXPIRED"))
    assert st["state"] == "SUCCEEDED", st
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("intentd_connector_attempts_total", connector="crm",
                 outcome="rate_limited") == 1
    assert delta("intentd_connector_attempts_total", connector="crm", outcome="succeeded") == 1
    assert delta("intentd_connector_attempts_total", connector="calendar",
                 outcome="succeeded") == 1
    assert delta("intentd_connector_request_duration_seconds_count", connector="crm") >= 2
    assert delta("intentd_connector_request_duration_seconds_bucket", connector="crm",
                 le="+Inf") >= 2
    assert delta("intentd_connector_request_duration_seconds_sum", connector="crm") > 0
    c.close()


def test_deferrals_are_counted_by_cause(intentd_factory, fake):
    """A connector limited to one call every 2 s: the second of two intents is deferred by the
    rate guard, counted under cause rate_limited."""
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"]})
    inst = intentd_factory()
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    configure(c, fake, only=("crm",), limits={"rate_per_second": 0.5, "burst": 1})
    ids = []
    for _ in range(2):
        it = intent(tenant, "crm.create_task", crm_task_params())
        assert c.submit(it, key=tenant.key).status == 202
        ids.append(it["action_intent_id"])
    plain = inst.client()
    got = wait_until(lambda: value(scrape(plain), "intentd_deferrals_total",
                                   cause="rate_limited") >= 1, 15,
                     what="a deferral by the rate guard")
    assert got
    for i in ids:
        assert c.wait_for_state(i, ("SUCCEEDED", "FAILED"))["state"] == "SUCCEEDED"
    final = scrape(plain)
    assert value(final, "intentd_connector_attempts_total", connector="crm",
                 outcome="succeeded") == 2
    assert value(final, "intentd_leases_held") == 0
    c.close()
    plain.close()


# ------------------------------------------------------------------ transitions and toggles


def transitions(fams):
    """{(from, to): value} of intentd_intent_transitions_total."""
    return {(l["from"], l["to"]): v for _, l, v in
            fams.get("intentd_intent_transitions_total", {"samples": []})["samples"] if v}


def ledger_transitions(db, node):
    return {(f, t): n for f, t, n in db.query(
        "SELECT from_state, to_state, count(*) FROM intentd.ledger "
        "WHERE event = 'intent.transition' AND node_id = %s GROUP BY 1, 2", (node.node_id,))}


def agrees_with_ledger(plain, db, node):
    """Scrapes until the counter equals the ledger's count of the node's transitions (the
    counter catches up at each scrape); returns that count."""
    got = {}

    def same():
        got["metrics"] = transitions(scrape(plain))
        got["ledger"] = ledger_transitions(db, node)
        return got["metrics"] == got["ledger"]
    try:
        wait_until(same, 10, interval=0.2, what="the transitions counter to match the ledger")
    except Exception:
        raise AssertionError("metrics %r != ledger %r" % (got.get("metrics"), got.get("ledger")))
    return got["ledger"]


def test_transitions_of_claims_operators_kills_and_expiries_match_the_ledger(
        intentd_factory, fake):
    """Every transition the node commits is counted, whoever caused it: the claim that starts
    an intent, step outcomes, an operator's compensate and redrive, a kill switch's
    cancellation and an expiry. The counter is compared with the node's ledger rows."""
    fake.reset()
    fake.config(tokens={"hubspot": ["crm-token"], "calendar": ["cal-token"]})
    inst = intentd_factory()
    db = inst.database
    tenant = inst.create_tenant()
    c = inst.client(token=tenant.oncall)
    plain = inst.client()
    configure(c, fake, only=("crm", "calendar"))
    # succeeded, then undone by an operator
    done = book_meeting(tenant)
    assert c.submit(done, key=tenant.key).status == 202
    assert c.wait_for_state(done["action_intent_id"], ("SUCCEEDED", "FAILED"))["state"] == \
        "SUCCEEDED"
    assert c.post("/v1/intents/%s/compensate" % done["action_intent_id"],
                  body={"reason": "wrong customer"}).status == 202
    assert c.wait_for_state(done["action_intent_id"], ("CANCELLED", "FAILED"))["state"] == \
        "CANCELLED"
    # failed, then redriven by an operator
    rule = fake.add_fault(method="POST", path_regex="^/crm/v3/objects/tasks$", action="status",
                          status=400, count=-1)
    failed = intent(tenant, "crm.create_task", crm_task_params())
    assert c.submit(failed, key=tenant.key).status == 202
    assert c.wait_for_state(failed["action_intent_id"], ("FAILED", "SUCCEEDED"))["state"] == \
        "FAILED"
    fake.remove_fault(rule)
    assert c.post("/v1/intents/%s/redrive" % failed["action_intent_id"],
                  body={"reason": "fixed"}).status == 202
    assert c.wait_for_state(failed["action_intent_id"], ("SUCCEEDED", "FAILED"))["state"] == \
        "SUCCEEDED"
    # held by a paused CRM: one expires, the other is killed (its drafted event undone)
    crm = "%s/crm" % tenant.tenant_id
    assert c.request("PUT", "/v1/toggles", body={"scope": "connector", "key": crm,
                                                 "mode": "pause", "reason": "x"}).status == 200
    expiring = intent(tenant, "crm.create_task", crm_task_params(),
                      expires_at_epoch=int(time.time()) + 3)
    killed = book_meeting(tenant)
    for it in (expiring, killed):
        assert c.submit(it, key=tenant.key).status == 202
    wait_until(lambda: c.intent(killed["action_intent_id"]).json.get("held_by") ==
               "paused: connector %s" % crm, 15, what="the meeting held by the pause")
    r = c.request("PUT", "/v1/toggles", body={"scope": "action_type", "key": "%s/%s" % (
        tenant.tenant_id, "sales.book_meeting"), "mode": "kill", "reason": "runaway"})
    assert r.status == 200 and r.json["affected"] == 1, r
    assert c.wait_for_state(killed["action_intent_id"], ("CANCELLED", "SUCCEEDED"))["state"] == \
        "CANCELLED"
    assert c.wait_for_state(expiring["action_intent_id"], ("EXPIRED", "SUCCEEDED"))["state"] == \
        "EXPIRED"
    counted = agrees_with_ledger(plain, db, inst)
    for kind in (("PENDING", "EXECUTING"), ("EXECUTING", "SUCCEEDED"),
                 ("SUCCEEDED", "COMPENSATING"), ("COMPENSATING", "CANCELLED"),
                 ("EXECUTING", "FAILED"), ("FAILED", "EXECUTING")):
        assert counted.get(kind), (kind, counted)
    assert sum(n for (f, t), n in counted.items() if t == "EXPIRED") == 1, counted
    # the kill's cancellation and the compensation it started
    assert counted.get(("EXECUTING", "COMPENSATING")) == 1, counted
    assert counted[("COMPENSATING", "CANCELLED")] == 2, counted
    c.close()
    plain.close()


def test_pending_cancels_by_operators_and_kills_are_counted(intentd_factory):
    """With nothing claiming, an operator's cancel and a kill switch end PENDING intents in
    the database functions the API calls; those transitions are this node's too."""
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    db = inst.database
    tenant = inst.create_tenant()
    on = inst.client(token=tenant.oncall)
    plain = inst.client()
    items = [tenant.intent() for _ in range(3)]
    for it in items:
        assert on.submit(it, key=tenant.key).status == 202
    assert on.cancel(items[0]["action_intent_id"], reason="withdrawn").status == 200
    r = on.request("PUT", "/v1/toggles", body={"scope": "tenant", "key": tenant.tenant_id,
                                               "mode": "kill", "reason": "runaway"})
    assert r.status == 200 and r.json["affected"] == 2, r
    assert agrees_with_ledger(plain, db, inst) == {("PENDING", "CANCELLED"): 3}
    # a second node counts only what it commits itself
    other = intentd_factory(db, env={"INTENTD_SCHEDULER": "off"})
    assert transitions(scrape(other.client())) == {}
    # a restarted node counts from zero (a counter resets with its process), then what it does
    inst.restart()
    plain = inst.client()
    assert transitions(scrape(plain)) == {}
    late = tenant.intent()
    assert inst.client().submit(late, key=tenant.key).status == 202
    assert inst.client(token=tenant.operator).cancel(late["action_intent_id"]).status == 200
    wait_until(lambda: transitions(scrape(plain)) == {("PENDING", "CANCELLED"): 1}, 10,
               interval=0.2, what="the restarted node's count")
    on.close()
    plain.close()


def toggle_modes(fams):
    """{(scope, key): mode} from intentd_toggle_mode, checking each switch has exactly one
    mode at 1 and the others at 0."""
    by = {}
    for _, l, v in fams["intentd_toggle_mode"]["samples"]:
        by.setdefault((l["scope"], l["key"]), {})[l["mode"]] = v
    out = {}
    for k, modes in by.items():
        assert sorted(modes) == ["kill", "pause", "run"], (k, modes)
        assert sorted(modes.values()) == [0, 0, 1], (k, modes)
        out[k] = [m for m, v in modes.items() if v == 1][0]
    return out


def test_toggle_modes_are_exported_while_not_run(intentd_factory):
    inst = intentd_factory(env={"INTENTD_SCHEDULER": "off"})
    tenant = inst.create_tenant()
    on = inst.client(token=tenant.oncall)
    adm = inst.admin()
    plain = inst.client()
    assert toggle_modes(scrape(plain)) == {("global", "*"): "run"}
    assert scrape(plain)["intentd_toggle_mode"]["type"] == "gauge"

    def put(c, scope, key, mode):
        r = c.request("PUT", "/v1/toggles", body={"scope": scope, "key": key, "mode": mode,
                                                  "reason": "metrics"})
        assert r.status == 200, r

    def shows(want):
        return wait_until(lambda: toggle_modes(scrape(plain)) == want, 10, interval=0.1,
                          what="intentd_toggle_mode to show %r" % (want,))
    crm = "%s/crm" % tenant.tenant_id
    put(on, "connector", crm, "pause")
    put(on, "tenant", tenant.tenant_id, "kill")
    put(adm, "global", "*", "pause")
    shows({("global", "*"): "pause", ("connector", crm): "pause",
           ("tenant", tenant.tenant_id): "kill"})
    # a switch back in run mode leaves the gauge (bounded by the switches that are set)
    put(on, "connector", crm, "run")
    put(adm, "global", "*", "run")
    shows({("global", "*"): "run", ("tenant", tenant.tenant_id): "kill"})
    on.close()
    adm.close()
    plain.close()
