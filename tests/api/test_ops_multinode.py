"""Operations state across nodes (issue 13): a feature toggle, a maintenance change and a plan
edit made on one node are in force on the other within a second. Runs only in the PostgreSQL +
Redis pass of `make test`."""
import time

import pytest

from ragd_client import PG_URL, REDIS_URL, Server

pytestmark = pytest.mark.skipif(not (PG_URL and REDIS_URL),
                                reason="needs the private PostgreSQL and Redis of make test")


@pytest.fixture(scope="module")
def nodes():
    a = Server(env={"JWT_SECRET_KEY": None})
    b = Server(seed=False, data=a.data + "-b", env={
        "JWT_SECRET_KEY": None, "DATABASE_URL": a.env["DATABASE_URL"],
        "REDIS_URL": a.env["REDIS_URL"]})
    a.admin = a.login("admin@example.com", "adminpassword123")
    a.user = a.register("ops-multi@example.com")["access_token"]
    yield a, b
    assert a.stop() == 0
    assert b.stop() == 0


def within_1s(check):
    """Polls check() from now; returns the seconds it took to hold (fails after 1 s)."""
    t0 = time.monotonic()
    while True:
        if check():
            return time.monotonic() - t0
        assert time.monotonic() - t0 < 1.0, "not in force on the other node within 1 s"
        time.sleep(0.02)


def test_toggle_seen_by_the_other_node(nodes):
    a, b = nodes
    assert b.post("/search", {"query": "vector"}, token=a.user).status == 200
    r = a.put("/admin/features/search", {"enabled": False}, token=a.admin)
    assert r.status == 200
    within_1s(lambda: b.post("/search", {"query": "vector"}, token=a.user).status == 503)
    r = b.post("/search", {"query": "vector"}, token=a.user)
    assert r.json["code"] == "FEATURE_DISABLED" and r.json["feature"] == "search"
    assert a.put("/admin/features/search", {"enabled": True}, token=a.admin).status == 200
    within_1s(lambda: b.post("/search", {"query": "vector"}, token=a.user).status == 200)


def test_maintenance_seen_by_the_other_node(nodes):
    a, b = nodes
    r = a.put("/admin/maintenance", {"level": "hard", "reason": "multi-node test"},
              token=a.admin)
    assert r.status == 200
    within_1s(lambda: b.get("/chat/history", token=a.user).status == 503)
    r = b.get("/chat/history", token=a.user)
    assert r.json["code"] == "MAINTENANCE" and r.header("X-Maintenance") == "hard"
    assert b.get("/maintenance").json["level"] == "hard"
    assert b.get("/chat/history", token=a.admin).status == 200
    assert a.put("/admin/maintenance", {"level": "none", "reason": "done"},
                 token=a.admin).status == 200
    within_1s(lambda: b.get("/chat/history", token=a.user).status == 200)
    assert b.get("/health").header("X-Maintenance") is None


def test_plan_edit_seen_by_the_other_node(nodes):
    a, b = nodes
    student = {"name": "Student Plan",
               "limits": {"messages": 50, "background_tasks": 10, "api_calls": 100,
                          "storage_mb": 200},
               "daily_limits": {"daily_tokens": 50000, "daily_requests": 100},
               "pricing": {"monthly": 199}}
    assert a.put("/admin/plans/student", student, token=a.admin).status == 201

    def listed():
        return {p["plan_type"]: p for p in b.get("/billing/plans").json["plans"]}
    within_1s(lambda: "student" in listed())
    assert listed()["student"]["pricing"]["monthly"] == 199
    assert a.put("/admin/plans/free", {"limits": {"api_calls": 21}},
                 token=a.admin).status == 200
    within_1s(lambda: listed()["free"]["limits"]["api_calls"] == 21)
    q = b.get("/billing/quota/api_calls", token=a.user).json
    assert q["max_allowed"] == 21, q
