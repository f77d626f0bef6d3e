"""GET /admin/stats: the admin dashboard's figures in one document (activity per day, users
and messages by plan, top users, quota burn, this node's routes and generation queue)."""
import time

import pytest

from ragd_client import Server


@pytest.fixture(scope="module")
def server():
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    yield s
    assert s.stop() == 0


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def test_stats_need_an_admin(server):
    assert server.get("/admin/stats").status == 401
    user = server.login("free@example.com", "freepassword123")
    r = server.get("/admin/stats", token=user)
    assert r.status == 403 and r.json["code"] == "ADMIN_REQUIRED"


def test_stats_count_messages_searches_plans_and_top_users(server):
    admin = server.login("admin@example.com", "adminpassword123")
    before = server.get("/admin/stats", token=admin)
    assert before.status == 200, before
    b = before.json
    assert b["days"] == 30 and len(b["daily"]) == 30
    assert b["daily"][-1]["date"] == today()
    assert [d["date"] for d in b["daily"]] == sorted(d["date"] for d in b["daily"])

    email = "stats-user@example.com"
    server.register(email)
    tok = server.login(email, "password123")
    for q in ("What is ragd?", "How do plans work?"):
        assert server.post("/chat/message", {"message": q}, token=tok).status == 200
    assert server.post("/search", {"query": "plans"}, token=tok).status == 200

    a = server.get("/admin/stats", token=admin).json
    d0, d1 = b["daily"][-1], a["daily"][-1]
    assert d1["messages"] == d0["messages"] + 2 and d1["searches"] == d0["searches"] + 1

    users = server.get("/users?limit=1&plan=free", token=admin).json["total"]
    free = next(p for p in a["plans"] if p["plan"] == "free")
    assert free["users"] == users and free["active_users"] <= users
    assert free["message_limit"] > 0 and free["messages"] >= 2
    assert free["quota_burn"] == pytest.approx(free["messages"] / (free["users"] * free["message_limit"]))

    top = {u["email"]: u for u in a["top_users"]}
    assert top[email]["messages"] == 2 and top[email]["plan"] == "free"
    assert [u["messages"] for u in a["top_users"]] == sorted((u["messages"] for u in a["top_users"]), reverse=True)

    burn = a["quota_burn"]
    assert burn["month"] == today()[:7] and 0 <= burn["month_elapsed"] <= 1
    assert burn["messages_used"] >= 2 and burn["messages_allowed"] > 0
    assert burn["burn"] == pytest.approx(burn["messages_used"] / burn["messages_allowed"])

    routes = {r["route"]: r for r in a["server"]["routes"]}
    assert routes["/chat/message"]["requests"] >= 2
    assert routes["/chat/message"]["p95_ms"] > 0
    assert not any(r.startswith("/static/") or r in ("/", "/admin") for r in routes)
    assert set(a["server"]["generation"]) == {"queue_depth", "active", "tokens_total",
                                              "last_tokens_per_second"}
    assert a["server"]["inflight"] >= 1  # this request


def test_users_at_the_limit_are_counted(server):
    admin = server.login("admin@example.com", "adminpassword123")
    before = server.get("/admin/stats", token=admin).json["quota_burn"]
    email = "stats-heavy@example.com"
    server.register(email)
    tok = server.login(email, "password123")
    limit = next(p for p in server.get("/admin/stats", token=admin).json["plans"]
                 if p["plan"] == "free")["message_limit"]
    sent = 0
    while sent < limit:
        r = server.post("/chat/message", {"message": f"question {sent}"}, token=tok)
        assert r.status == 200, r
        sent += 1
    after = server.get("/admin/stats", token=admin).json["quota_burn"]
    assert after["users_at_limit"] == before["users_at_limit"] + 1
    assert after["users_over_80_percent"] >= before["users_over_80_percent"] + 1
