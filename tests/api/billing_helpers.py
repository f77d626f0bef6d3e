"""Shared helpers for the billing, quota and rate-limit tests: private servers in test mode,
clock control, and firing many requests at once."""
import threading

from ragd_client import Server

PASSWORDS = {
    "admin@example.com": "adminpassword123",
    "test@example.com": "testpassword123",
    "free@example.com": "freepassword123",
}


def private_server(**env):
    """A private ragd with the test routes (/test/*, /admin/test/clock) switched on."""
    base = {"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"}
    base.update(env)
    return Server(env=base)


def login(server, email):
    return server.login(email, PASSWORDS[email])


def set_clock(server, iso):
    """Moves the server's clock to iso (UTC). Tokens issued before may now be expired, so the
    caller logs in again."""
    tok = login(server, "admin@example.com")
    r = server.post("/admin/test/clock", {"now": iso}, token=tok)
    assert r.status == 200, r
    return r.json


def new_user(server, email, plan="free"):
    """Registers a user (plan free); returns (user_id, token). Another plan is set by an admin."""
    reg = server.register(email)
    if plan != "free":
        admin = login(server, "admin@example.com")
        r = server.patch(f"/users/{reg['user_id']}", {"subscription_plan": plan}, token=admin)
        assert r.status == 200, r
    return reg["user_id"], server.login(email, "password123")


def parallel(n, fn):
    """Runs fn(i) on n threads released at the same moment; returns the results in order."""
    results = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - reported by the caller's assertions
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
