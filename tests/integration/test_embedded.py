"""The embedded default (issue 2 item 3): with no INTENTD_DATABASE_URL, intentd creates, starts
and on exit stops a private PostgreSQL cluster under INTENTD_HOME. Runs as whoever we are; as
root the cluster must run as an unprivileged user."""

import os
import shutil
import tempfile

import pytest

from harness import (Intentd, TERMINAL_STATES, postgres_processes_under, wait_until)


@pytest.fixture(scope="module")
def embedded(intentd_binary):
    home = tempfile.mkdtemp(prefix="intentd-embedded-", dir="/tmp")
    os.chmod(home, 0o755)  # reachable by the unprivileged user the cluster runs as
    inst = Intentd(database=None, embedded=True, home=home, binary=intentd_binary)
    yield inst
    inst.cleanup()
    # leave no cluster behind even if a test failed
    for pid, _, _ in postgres_processes_under(home):
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    shutil.rmtree(home, ignore_errors=True)


def test_embedded_default_starts_and_runs_an_intent(embedded):
    assert "INTENTD_DATABASE_URL" not in embedded.environment()
    embedded.start(timeout=180)  # initdb on first start
    procs = postgres_processes_under(embedded.home)
    assert procs, "no PostgreSQL process found under %s" % embedded.home
    if os.geteuid() == 0:
        assert all(uid != 0 for _, uid, _ in procs), procs
    t = embedded.create_tenant()
    c = embedded.client()
    intent = t.intent()
    assert c.submit(intent, key=t.key).status == 202
    final = c.with_token(t.operator).wait_for_state(intent["action_intent_id"], TERMINAL_STATES)
    assert final["state"] == "SUCCEEDED", final
    embedded.saved = (t, intent["action_intent_id"])


def test_embedded_cluster_stops_with_intentd(embedded):
    if not embedded.alive():
        embedded.start(timeout=180)
    assert postgres_processes_under(embedded.home)
    assert embedded.stop(timeout=120) == 0, embedded.log_tail()
    wait_until(lambda: not postgres_processes_under(embedded.home), 30,
               what="the embedded PostgreSQL to stop")


def test_embedded_cluster_keeps_data_across_restarts(embedded):
    saved = getattr(embedded, "saved", None)
    if saved is None:
        pytest.skip("needs test_embedded_default_starts_and_runs_an_intent")
    embedded.start(timeout=180)
    t, iid = saved
    r = embedded.client(token=t.operator).intent(iid)
    assert r.status == 200 and r.json["state"] == "SUCCEEDED", r
    assert embedded.stop(timeout=120) == 0
    wait_until(lambda: not postgres_processes_under(embedded.home), 30,
               what="the embedded PostgreSQL to stop")
