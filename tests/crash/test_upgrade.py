"""Upgrade test: the previous release of intentd (commit 6bd018b, schema migrations 001-007)
fills a database, then the current intentd starts on it and applies 008 onwards (token ids and key
versions, the ledger partitioned by month with retention, set_toggle's lock order). Every check
below reads something an older release wrote and would fail if a migration lost or broke it.

The old daemon is built from git history once per session (only engine/intentd, no tests, no
optimisation). A clone without that commit (shallow) skips the module; CI clones main fully.
"""

import hashlib
import os
import shutil
import subprocess
import tempfile
import time

import pytest

import harness
from connector_env import FAST_LIMITS, VendorFake, crm_task_params, live
from harness import Intentd, canonical, follow_up_intent, wait_until

pytestmark = pytest.mark.crash

OLD_RELEASE = "6bd018b"  # main before migrations 008-010
TERMINAL = ("SUCCEEDED", "FAILED", "EXPIRED", "CANCELLED")
N_BATCHED = 190
N_SINGLE = 10
N_WAITING = 3
WAIT_SECONDS = 8  # the mid-workflow Wait: past the graceful stop even on a loaded CI machine


def run(argv, what, timeout=600):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    if p.returncode != 0:
        pytest.fail("%s failed (exit %d):\n%s" % (what, p.returncode,
                                                   p.stdout.decode(errors="replace")[-4000:]),
                    pytrace=False)


@pytest.fixture(scope="session")
def old_release():
    """(binary, statemachines dir) of the previous release, built from git history."""
    repo = harness.REPO
    for tool in ("git", "meson", "ninja"):
        if shutil.which(tool) is None:
            pytest.fail("the upgrade test needs %s on PATH to build the previous release" % tool,
                        pytrace=False)
    probe = subprocess.run(["git", "-C", repo, "cat-file", "-e", OLD_RELEASE + "^{commit}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if probe.returncode != 0:
        pytest.skip("the upgrade test builds the previous release from commit %s, which this "
                    "clone does not have (shallow clone or not a git checkout); CI clones main "
                    "fully" % OLD_RELEASE)
    tmp = tempfile.mkdtemp(prefix="intentd-old-release-", dir="/tmp")
    src, build = os.path.join(tmp, "src"), os.path.join(tmp, "build")
    os.mkdir(src)
    try:
        archive = subprocess.Popen(["git", "-C", repo, "archive", OLD_RELEASE],
                                   stdout=subprocess.PIPE)
        untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout,
                               stderr=subprocess.PIPE)
        archive.stdout.close()
        if archive.wait() != 0 or untar.returncode != 0:
            pytest.fail("git archive %s | tar failed: %s" % (OLD_RELEASE, untar.stderr.decode()),
                        pytrace=False)
        run(["meson", "setup", build, src, "-Dtests=false", "-Dbuildtype=plain"],
            "meson setup of the previous release")
        run(["ninja", "-C", build, "engine/intentd"], "building the previous release's intentd")
        yield os.path.join(build, "engine", "intentd"), os.path.join(src, "statemachines")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def token_id(secret):
    return "tok_" + hashlib.sha256(secret.encode()).hexdigest()[:16]


def ledger_verify(inst):
    r = inst.admin().verify_ledger()
    assert r.status == 200, r
    assert r.json["ok"] is True, r.json
    return r.json["rows"]


def tokens_of(admin, tenant_id):
    r = admin.get("/v1/tenants/%s/tokens" % tenant_id)
    assert r.status == 200, r
    return {t["token_id"]: t for t in r.json["tokens"]}


BACKDATE = """
DO $$
DECLARE
    r intentd.ledger;
    prev bytea := decode(repeat('00', 32), 'hex');
    n bigint;
BEGIN
    PERFORM intentd.ledger_lock();
    SELECT max(seq) INTO n FROM intentd.ledger;
    FOR r IN SELECT * FROM intentd.ledger ORDER BY seq LOOP
        r.created_at := r.created_at - CASE WHEN r.seq <= n / 3 THEN interval '70 days'
                                            WHEN r.seq <= 2 * n / 3 THEN interval '35 days'
                                            ELSE interval '0' END;
        r.prev_hash := prev;
        r.hash := sha256(prev || convert_to(intentd.ledger_canon(r), 'UTF8'));
        UPDATE intentd.ledger SET created_at = r.created_at, prev_hash = r.prev_hash,
            hash = r.hash WHERE seq = r.seq;
        prev := r.hash;
    END LOOP;
END $$
"""


def backdate(db):
    # the ledger lock keeps the (idle) old release from appending meanwhile; replica mode
    # switches off the append-only triggers for this superuser session only
    db.query(BACKDATE, setup=("SET session_replication_role = replica",))
    months = db.scalar("SELECT count(DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC'))"
                       " FROM intentd.ledger")
    assert months >= 2


@pytest.fixture(scope="module")
def vendor():
    f = VendorFake().start()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def upgraded(pg_cluster, intentd_binary, old_release, vendor):
    """Fills a database with the old release, stops it and starts the current intentd on it.
    Answers what the old release showed, for the tests to compare with."""
    old_bin, old_machines = old_release
    db = pg_cluster.create_database()
    s = {"db": db, "t0": time.monotonic()}
    old = Intentd(database=db, binary=old_bin, env={"INTENTD_STATEMACHINES": old_machines})
    new = None
    try:
        old.start()
        adm = old.admin()
        t1, t2 = old.create_tenant(), old.create_tenant()
        r = adm.post("/v1/tenants/%s/tokens" % t1.tenant_id, body={"role": "admin"})
        assert r.status == 201, r
        s["t1_admin"] = r.json["token"]
        # a connector with a sealed secret, and a toggle flip
        oc1 = old.client(token=t1.oncall)
        s["crm_secret"] = "crm-secret-" + os.urandom(8).hex()
        vendor.reset()
        vendor.config(tokens={"hubspot": [s["crm_secret"]]})
        r = oc1.request("PUT", "/v1/connectors/crm", body={
            "base_url": vendor.url(""), "auth": {"type": "bearer", "token": s["crm_secret"]},
            "settings": {"pipeline": "upgrade"}, "limits": FAST_LIMITS})
        assert r.status == 200, r
        s["crm_view"] = r.json
        r = old.client(token=t2.oncall).request("PUT", "/v1/toggles", body={
            "scope": "connector", "key": "%s/crm" % t2.tenant_id, "mode": "pause",
            "reason": "vendor incident before the upgrade"})
        assert r.status == 200 and r.json["changed"] is True, r
        # ~200 intents that SUCCEEDED, over both tenants, a few submitted one by one
        c = old.client()
        done = []
        for i in range(0, N_BATCHED, 95):
            t = t1 if i == 0 else t2
            batch = [t.intent() for _ in range(95)]
            r = c.batch(batch, key=t.key)
            assert r.status == 200 and {x["status"] for x in r.json["results"]} == {202}, r
            done += [(t, it) for it in batch]
        for _ in range(N_SINGLE):
            it = t1.intent()
            assert c.submit(it, key=t1.key).status == 202
            done.append((t1, it))
        # one cancelled in its Wait: the cancel takes effect at the step boundary, the end of
        # the Wait, so the Wait is short (long enough for the cancel to land in it)
        cancelled = follow_up_intent(t1.tenant_id, wait_seconds=5)
        assert c.submit(cancelled, key=t1.key).status == 202
        done.append((t1, cancelled))
        op = {t.tenant_id: old.client(token=t.operator) for t in (t1, t2)}
        cid = cancelled["action_intent_id"]
        wait_until(lambda: db.effect_count("internal_notes", cid) == 1, 60, what="the note")
        r = op[t1.tenant_id].cancel(cid, reason="withdrawn before the upgrade")
        assert r.status in (200, 202), r
        for t, it in done:
            want = "CANCELLED" if it is cancelled else "SUCCEEDED"
            got = op[t.tenant_id].wait_for_state(it["action_intent_id"], TERMINAL, timeout=120)
            assert got["state"] == want, got
        # A release that has run for months holds ledger rows of earlier months: move the
        # oldest third back 70 days and the next third back 35 (created_at still grows along
        # seq) and re-chain, as if they had been written then.
        backdate(db)
        # what the old release shows for each of them
        s["before"] = {}
        for t, it in done:
            iid = it["action_intent_id"]
            g, tl = op[t.tenant_id].intent(iid), op[t.tenant_id].timeline(iid)
            assert g.status == 200 and tl.status == 200, (g, tl)
            s["before"][iid] = (t, it, g.json, tl.json)
        s["rows_before"] = ledger_verify(old)
        s["ledger_before"] = db.query("SELECT seq, hash FROM intentd.ledger ORDER BY seq")
        # mid-workflow at the stop: the note written, the task not yet
        waiting = [follow_up_intent(t2.tenant_id, wait_seconds=WAIT_SECONDS)
                   for _ in range(N_WAITING)]
        for it in waiting:
            assert c.submit(it, key=t2.key).status == 202
        wait_until(lambda: all(db.effect_count("internal_notes", it["action_intent_id"]) == 1
                               for it in waiting), 60, what="the waiting intents' notes")
        assert old.stop() == 0, old.log_tail()
        for it in waiting:
            assert db.intent_state(it["action_intent_id"]) not in TERMINAL
            assert db.effect_count("internal_tasks", it["action_intent_id"]) == 0
        s["old_schema"] = db.scalar("SELECT max(version) FROM intentd.schema_migrations")
        s["tasks_before"] = db.scalar("SELECT count(*) FROM intentd.internal_tasks")
        new = Intentd(database=db, binary=intentd_binary)
        new.start()
        s.update(old=old, new=new, vendor=vendor, t1=t1, t2=t2, done=done, cancelled=cancelled,
                 waiting=waiting)
        yield s
    finally:
        for inst in (old, new):
            if inst is not None:
                inst.cleanup()
                inst.remove_home()
        print("\nupgrade test wall time: %.1f s (module, after the old build)"
              % (time.monotonic() - s["t0"]))


def test_migrations_applied(upgraded):
    db = upgraded["db"]
    assert upgraded["old_schema"] == 7
    assert db.scalar("SELECT max(version) FROM intentd.schema_migrations") >= 10


def test_old_intents_read_back_unchanged(upgraded):
    inst = upgraded["new"]
    clients = {}
    for iid, (t, _, got, tl) in upgraded["before"].items():
        c = clients.setdefault(t.tenant_id, inst.client(token=t.operator))
        g = c.intent(iid)
        assert g.status == 200, g
        # a newer release may add fields; every field the old one showed is the same
        assert {k: g.json.get(k) for k in got} == got, iid
        now = c.timeline(iid)
        assert now.status == 200, now
        assert now.json["events"] == tl["events"], iid


def test_ledger_partitioned_with_every_old_row(upgraded):
    db, inst = upgraded["db"], upgraded["new"]
    rows = ledger_verify(inst)
    assert rows >= upgraded["rows_before"]
    before = upgraded["ledger_before"]
    assert db.query("SELECT seq, hash FROM intentd.ledger WHERE seq <= %s ORDER BY seq",
                    (before[-1][0],)) == before
    assert db.scalar("SELECT count(*) FROM pg_partitioned_table "
                     "WHERE partrelid = 'intentd.ledger'::regclass") == 1
    parts = {r[0] for r in db.query("SELECT inhrelid::regclass::text FROM pg_inherits "
                                    "WHERE inhparent = 'intentd.ledger'::regclass")}
    months = db.query(
        "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY_MM'), "
        "to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', 'YYYY_MM')")
    for m in months[0]:
        assert "intentd.ledger_%s" % m in parts, parts
    assert "intentd.ledger_default" in parts
    assert db.scalar("SELECT count(DISTINCT tableoid) FROM intentd.ledger WHERE seq <= %s",
                     (before[-1][0],)) >= 2
    # each old row sits in the partition of its own UTC month; the default stays empty
    misplaced = db.scalar(
        "SELECT count(*) FROM intentd.ledger WHERE seq <= %s AND tableoid::regclass::text <> "
        "'intentd.ledger_' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY_MM')",
        (before[-1][0],))
    assert misplaced == 0
    assert db.scalar("SELECT count(*) FROM intentd.ledger_default") == 0


def test_old_tokens_authenticate_and_are_listed(upgraded):
    inst, t1, t2 = upgraded["new"], upgraded["t1"], upgraded["t2"]
    admin = inst.admin()
    for t, extra in ((t1, [upgraded["t1_admin"]]), (t2, [])):
        secrets = list(t.tokens.values()) + extra
        listed = tokens_of(admin, t.tenant_id)
        assert set(listed) == {token_id(x) for x in secrets}, listed
        assert all(x["revoked_at"] is None for x in listed.values())
        for x in secrets:
            r = inst.client(token=x).get("/v1/toggles")
            assert r.status == 200, r
    # the tenant admin token the old release made manages its tenant now
    ta = inst.client(token=upgraded["t1_admin"])
    assert set(tokens_of(ta, t1.tenant_id)) == set(tokens_of(admin, t1.tenant_id))


def test_old_key_signs_as_v1_and_rotates(upgraded):
    inst, db, t1 = upgraded["new"], upgraded["db"], upgraded["t1"]
    admin, c = inst.admin(), inst.client()
    keys = admin.get("/v1/tenants/%s/keys" % t1.tenant_id)
    assert keys.status == 200, keys
    assert [(k["key_id"], k["state"]) for k in keys.json["keys"]] == [("v1", "current")]
    it = t1.intent()
    assert c.submit(it, key=t1.key).status == 202
    r = admin.post("/v1/tenants/%s/keys:rotate" % t1.tenant_id, body={"overlap_seconds": 0})
    assert r.status == 200, r
    assert (r.json["key_id"], r.json["previous_key_id"]) == ("v2", "v1")
    new_key = r.json["approval_key"]
    rot = db.query("SELECT payload FROM intentd.ledger WHERE event = 'key.rotated' AND "
                   "tenant_id = %s", (t1.tenant_id,))
    assert [(x[0]["key_id"], x[0]["previous_key_id"]) for x in rot] == [("v2", "v1")], rot
    nxt = t1.intent()
    assert c.submit(nxt, key=new_key).status == 202
    refused = c.submit(t1.intent(), key=t1.key)
    assert refused.status == 401, refused
    op = inst.client(token=t1.operator)
    for x in (it, nxt):
        assert op.wait_for_state(x["action_intent_id"], TERMINAL)["state"] == "SUCCEEDED"
    upgraded["t1_key"] = new_key


def test_connector_config_still_opens(upgraded):
    inst, t1 = upgraded["new"], upgraded["t1"]
    r = inst.client(token=t1.operator).get("/v1/connectors/crm")
    assert r.status == 200, r
    v, was = r.json, upgraded["crm_view"]
    assert v["auth"] == {"type": "bearer", "token": "[redacted]", "set": {"token": True}}, v
    for k in ("base_url", "settings", "limits", "version", "updated_at", "updated_by"):
        assert v[k] == was[k], k
    assert upgraded["crm_secret"] not in r.body.decode()
    # the secret the old release sealed opens: the fake answers only that bearer token
    vendor = upgraded["vendor"]
    it = t1.intent(action_type="crm.create_task", parameters=crm_task_params())
    assert inst.client().submit(it, key=upgraded.get("t1_key", t1.key)).status == 202
    got = inst.client(token=t1.operator).wait_for_state(it["action_intent_id"], TERMINAL)
    assert got["state"] == "SUCCEEDED", got
    assert len(live(vendor, "hubspot")) == 1


def test_toggle_flip_is_listed_and_flips_back(upgraded):
    inst, t2 = upgraded["new"], upgraded["t2"]
    oc = inst.client(token=t2.oncall)
    r = oc.get("/v1/toggles")
    assert r.status == 200, r
    mine = [g for g in r.json["toggles"] if g["key"] == "%s/crm" % t2.tenant_id]
    assert [(g["scope"], g["mode"], g["reason"]) for g in mine] == \
        [("connector", "pause", "vendor incident before the upgrade")], r.json
    # 010's set_toggle on the old row
    r = oc.request("PUT", "/v1/toggles", body={"scope": "connector", "key": "%s/crm"
                                               % t2.tenant_id, "mode": "run",
                                               "reason": "vendor recovered"})
    assert r.status == 200 and r.json["changed"] is True and r.json["previous"] == "pause", r


def test_mid_workflow_intents_finish(upgraded):
    inst, db, t2 = upgraded["new"], upgraded["db"], upgraded["t2"]
    op = inst.client(token=t2.operator)
    for it in upgraded["waiting"]:
        iid = it["action_intent_id"]
        assert op.wait_for_state(iid, TERMINAL, timeout=60)["state"] == "SUCCEEDED"
        assert db.effect_count("internal_tasks", iid) == 1
        assert db.effect_count("internal_notes", iid) == 1


def resubmit_is_duplicate(inst, db, it, key):
    iid = it["action_intent_id"]
    ledger = db.ledger_rows(iid)
    r = inst.client().submit(canonical(it), key=key)
    assert r.status == 200, r
    assert db.effect_count("internal_tasks", iid) == 1
    assert db.ledger_rows(iid) == ledger


def test_resubmitting_an_old_intent_is_a_duplicate(upgraded):
    inst, db, t2 = upgraded["new"], upgraded["db"], upgraded["t2"]
    old = [it for t, it in upgraded["done"] if t is t2][0]
    resubmit_is_duplicate(inst, db, old, t2.key)


def test_oldest_month_of_old_rows_archives_and_verify_resumes(upgraded):
    inst, db = upgraded["new"], upgraded["db"]
    oldest = db.scalar("SELECT tableoid::regclass::text FROM intentd.ledger ORDER BY seq "
                       "LIMIT 1")
    assert oldest.startswith("intentd.ledger_20"), oldest
    n = db.scalar("SELECT count(*) FROM %s" % oldest)
    rows = db.query("SELECT from_seq, to_seq, rows FROM intentd.ledger_archive_partition(%s)",
                    (oldest.split(".", 1)[1],))
    assert rows == [(1, n, n)], rows
    assert db.scalar("SELECT count(*) FROM intentd.ledger WHERE seq <= %s", (n,)) == 0
    ledger_verify(inst)


def test_retention_archives_old_intents_and_verify_passes(upgraded):
    """Last: restarts the current release with a 1 s retention."""
    inst, db = upgraded["new"], upgraded["db"]
    assert inst.stop() == 0
    inst.env_extra["INTENTD_RETENTION_SECONDS"] = "1"
    inst.start()
    old_ids = list(upgraded["before"])
    wait_until(lambda: db.scalar("SELECT count(*) FROM intentd.intents_archive WHERE "
                                 "action_intent_id = ANY(%s)", (old_ids,)) == len(old_ids),
               60, what="the retention sweep to archive the old intents")
    assert db.scalar("SELECT count(*) FROM intentd.intents WHERE action_intent_id = ANY(%s)",
                     (old_ids,)) == 0
    ledger_verify(inst)
    cid = upgraded["cancelled"]["action_intent_id"]
    t1 = upgraded["t1"]
    g = inst.client(token=t1.operator).intent(cid)
    assert g.status == 200 and g.json["state"] == "CANCELLED", g
    t2 = upgraded["t2"]
    archived = [it for t, it in upgraded["done"] if t is t2][1]
    resubmit_is_duplicate(inst, db, archived, t2.key)
    assert db.scalar("SELECT count(*) FROM intentd.internal_tasks") >= upgraded["tasks_before"]
