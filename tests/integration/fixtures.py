"""pytest fixtures shared by tests/integration and tests/crash (star-imported by their conftests).

Session:  pg_cluster          a throwaway PostgreSQL cluster for the whole run
Function: new_db()            a fresh database (factory)
          intentd_factory()   start intentd processes (factory); all stopped at test end
          tenant              a fresh tenant on the module's shared intentd
Module:   shared              (Intentd, Database) started once per test module
          admin               an admin Client for `shared`
          fake                the vendor fake (tests/fakes), started once per test module
Helpers:  workflows_dir(extra) the shipped statemachines/ plus workflows written for a test
"""

import contextlib
import json
import os
import shutil
import tempfile

import pytest

import harness
from harness import Intentd, PgBouncer, PgCluster


def pytest_configure(config):
    config.addinivalue_line("markers", "crash: kill -9 / multi-node crash tests (slow)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        start = getattr(item, "_intentd_registry_start", 0)
        for i, inst in enumerate(harness.REGISTRY):
            if i >= start or inst.alive():
                rep.sections.append(("intentd %s (port %d) stderr tail" % (inst.node_id,
                                                                           inst.port),
                                     inst.log_tail(60)))
        cluster = getattr(item.session, "_intentd_pg_cluster", None)
        if cluster is not None:
            rep.sections.append(("postgres log tail", harness.tail(cluster.logfile, 20)))


@pytest.fixture(autouse=True)
def _mark_registry(request):
    request.node._intentd_registry_start = len(harness.REGISTRY)
    yield


@pytest.fixture(scope="session")
def pg_cluster(request):
    """The session's cluster; with INTENTD_TEST_PGBOUNCER=1 also a pgbouncer in transaction
    mode in front of it, which every intentd started on its databases goes through."""
    cluster = PgCluster().init().start()
    request.session._intentd_pg_cluster = cluster
    try:
        if harness.pgbouncer_wanted():
            cluster.pgbouncer = PgBouncer(cluster).start()
        yield cluster
    finally:
        if cluster.pgbouncer is not None:
            cluster.pgbouncer.stop()
        cluster.destroy()


@pytest.fixture(scope="session")
def intentd_binary():
    path = harness.intentd_binary()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("intentd binary not found at %s: build it (`meson setup build && ninja -C "
                    "build`) or set INTENTD_BIN" % path, pytrace=False)
    return path


@pytest.fixture
def new_db(pg_cluster):
    def make():
        return pg_cluster.create_database()
    return make


class Factory:
    def __init__(self, cluster, binary):
        self.cluster = cluster
        self.binary = binary
        self.instances = []

    def __call__(self, db=None, env=None, start=True, embedded=False, ready_timeout=None,
                 **kw):
        """Creates (and by default starts) an intentd. db: a Database, or None for a new one
        (ignored when embedded=True). env: extra environment."""
        if db is None and not embedded:
            db = self.cluster.create_database()
        inst = Intentd(database=db, env=env, binary=self.binary, embedded=embedded, **kw)
        self.instances.append(inst)
        if start:
            inst.start(timeout=ready_timeout)
        return inst

    def cleanup(self):
        """Stops every instance even when stopping one raises (under INTENTD_TEST_STRICT_EXIT
        a memory checker's exit code does), then raises the first such error. The home of an
        instance whose cleanup raised is kept: it holds the checker's report."""
        errors = []
        for inst in self.instances:
            try:
                inst.cleanup()
            except Exception as e:  # noqa: BLE001 - re-raised below, once all are stopped
                errors.append((inst, e))
        failed = {id(inst) for inst, _ in errors}
        for inst in self.instances:
            if id(inst) not in failed:
                inst.remove_home()
        if errors:
            if len(errors) > 1:
                print("intentd_factory cleanup: %d instances failed: %s" % (
                    len(errors), "; ".join("%s: %s" % (i.node_id, e) for i, e in errors)))
            raise errors[0][1]


@pytest.fixture
def intentd_factory(pg_cluster, intentd_binary):
    f = Factory(pg_cluster, intentd_binary)
    yield f
    f.cleanup()


@pytest.fixture(scope="module")
def shared(pg_cluster, intentd_binary):
    """One intentd with its own database for a whole test module: (Intentd, Database)."""
    db = pg_cluster.create_database()
    inst = Intentd(database=db, binary=intentd_binary)
    try:
        inst.start()
    except Exception as e:  # noqa: BLE001
        inst.cleanup()
        pytest.fail(str(e), pytrace=False)
    yield inst, db
    inst.cleanup()
    inst.remove_home()


@pytest.fixture
def shared_intentd(shared):
    return shared[0]


@pytest.fixture
def shared_db(shared):
    return shared[1]


@pytest.fixture
def admin(shared):
    c = shared[0].admin()
    yield c
    c.close()


@pytest.fixture
def client(shared):
    c = shared[0].client()
    yield c
    c.close()


@pytest.fixture
def tenant(shared):
    return shared[0].create_tenant()


@pytest.fixture(scope="module")
def fake():
    """The vendor fake for a whole test module; tests reset and configure it as they need."""
    from connector_env import VendorFake  # puts tests/fakes on the path

    f = VendorFake().start()
    yield f
    f.stop()


@contextlib.contextmanager
def workflows_dir(extra):
    """A directory for INTENTD_STATEMACHINES: lifecycle.json and every shipped workflow, plus
    extra ({action type: ASL document}) written for the test. Removed afterwards."""
    d = tempfile.mkdtemp(prefix="intentd-sm-", dir="/tmp")
    try:
        src = os.path.join(harness.REPO, "statemachines")
        for name in os.listdir(src):
            if name.endswith(".json"):
                shutil.copy(os.path.join(src, name), d)
        for name, body in extra.items():
            with open(os.path.join(d, name + ".asl.json"), "w") as f:
                json.dump(body, f)
        os.chmod(d, 0o755)  # the embedded cluster's user reads nothing here, intentd does
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def finished(shared):
    """A tenant and one SUCCEEDED create_task intent on the module's intentd."""
    inst = shared[0]
    t = inst.create_tenant()
    c = inst.client()
    intent = t.intent()
    assert c.submit(intent, key=t.key).status == 202
    c.with_token(t.operator).wait_for_state(intent["action_intent_id"], "SUCCEEDED")
    c.close()
    return t, intent["action_intent_id"]


def intent_copy_sql(t, iid, new_id, state="PENDING", tenant_expr="tenant_id",
                    submission_expr="submission_id"):
    """An INSERT of a second intent made from tenant t's intent iid, as psql would write it:
    (sql, params). The expressions replace the copied tenant and submission columns."""
    return ("INSERT INTO intentd.intents (tenant_id, action_intent_id, account_id, action_type, "
            "state, intent_hash, intent, submission_id, expires_at, created_at) "
            "SELECT " + tenant_expr + ", %s, account_id, action_type, %s, intent_hash, intent, "
            + submission_expr + ", expires_at, created_at FROM intentd.intents "
            "WHERE tenant_id = %s AND action_intent_id = %s RETURNING action_intent_id",
            (new_id, state, t.tenant_id, iid))


def owner_of(db, table):
    """The role that owns intentd.<table>: the guards below must hold for it too."""
    owner = db.table_owner("intentd", table)
    assert owner, "intentd.%s does not exist" % table
    return owner


@contextlib.contextmanager
def unchanged(db, timeout=harness.STATE_TIMEOUT):
    """Asserts the block added or removed no row of intents, ledger or the internal_* tables,
    and rewrote no stored intent (its intent_hash, intent or submission_id). Waits for every
    intent to be terminal first so background work does not move the counts."""
    db.wait_quiescent(timeout)
    before = db.counts()
    stored = db.intent_identities()
    yield
    after = db.counts()
    assert after == before, "a rejected request changed the database: %r -> %r" % (before, after)
    now = db.intent_identities()
    changed = sorted(k for k in set(stored) | set(now) if stored.get(k) != now.get(k))
    assert not changed, "a rejected request rewrote stored intents: %r" % [
        (k, stored.get(k), now.get(k)) for k in changed[:5]]
