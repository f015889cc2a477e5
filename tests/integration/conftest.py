"""Integration tests drive the real intentd binary against a throwaway PostgreSQL cluster.
Fixtures live in fixtures.py (shared with tests/crash); helpers in harness.py."""

from fixtures import *  # noqa: F401,F403
