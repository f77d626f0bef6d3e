import pytest

from ragd_client import Server


@pytest.fixture(scope="session")
def server():
    # Login throttling has its own tests on private servers; here many tests log in from
    # one address, so the per-IP allowance is raised.
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    yield s
    rc = s.stop()
    assert rc == 0, "ragd did not exit cleanly on SIGTERM:\n" + s.read_log()[-4000:]


@pytest.fixture(scope="session")
def admin_token(server):
    return server.login("admin@example.com", "adminpassword123")


@pytest.fixture(scope="session")
def pro_token(server):
    return server.login("test@example.com", "testpassword123")


@pytest.fixture(scope="session")
def free_token(server):
    return server.login("free@example.com", "freepassword123")
