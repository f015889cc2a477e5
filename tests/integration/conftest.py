"""Integration tests drive the real intentd binary against a throwaway PostgreSQL cluster.
Fixtures live in fixtures.py (shared with tests/crash); helpers in harness.py.

Every response a test receives is checked against proto/openapi.yaml (openapi_check.py); the
violations fail that test at teardown. INTENTD_TEST_OPENAPI_CHECK=0 turns the check off for
debugging a server change before the spec is updated; it is refused when CI is set."""

import os

import pytest

import harness
from fixtures import *  # noqa: F401,F403

CHECK_ENV = "INTENTD_TEST_OPENAPI_CHECK"


def _check_enabled():
    if os.environ.get(CHECK_ENV, "1") != "0":
        return True
    if os.environ.get("CI"):
        raise pytest.UsageError("%s=0 is for debugging only, never in CI" % CHECK_ENV)
    return False


@pytest.fixture(autouse=True)
def _openapi_conformance(request):
    """Records every response this test receives that proto/openapi.yaml does not describe and
    fails the test at teardown, naming each request."""
    if not _check_enabled():
        yield
        return
    import openapi_check  # imported here so a missing python3-jsonschema names itself

    violations = []

    def observe(port, method, target, resp):
        # Only intentd's answers: tests also talk to their own stub servers.
        if not any(inst.port == port for inst in harness.REGISTRY):
            return
        try:
            found = openapi_check.check(method, target, resp)
        except Exception as e:  # noqa: BLE001 - a checker bug must fail the test, not hide
            found = ["%s %s: the conformance check raised %r" % (method, target, e)]
        for v in found:
            violations.append("%s\n    request id %s; body %r" % (
                v, resp.header("X-Request-ID"), resp.body[:300]))

    harness.RESPONSE_OBSERVERS.append(observe)
    try:
        yield
    finally:
        harness.RESPONSE_OBSERVERS.remove(observe)
    if violations:
        shown = violations[:20]
        more = len(violations) - len(shown)
        pytest.fail("%d response(s) do not conform to proto/openapi.yaml:\n  %s%s" % (
            len(violations), "\n  ".join(shown), "\n  … and %d more" % more if more else ""),
            pytrace=False)
