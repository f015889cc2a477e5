"""One vendor fake for the whole session, reset before every test."""

import pytest

from fake_client import VendorFake


@pytest.fixture(scope="session")
def fake_server():
    fake = VendorFake().start()
    yield fake
    rc = fake.stop()
    assert rc == 0, "vendor fake exited with %r on SIGTERM" % rc


@pytest.fixture
def fake(fake_server):
    fake_server.reset()
    yield fake_server
    fake_server.reset()
