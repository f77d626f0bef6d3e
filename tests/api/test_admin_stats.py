"""GET /admin/stats: the admin dashboard's figures in one document (activity per day, users
and messages by plan, top users, quota burn, this node's routes and generation queue)."""
import time
import uuid

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


def test_per_user_averages_feature_popularity_and_conversion(server):
    admin = server.login("admin@example.com", "adminpassword123")
    b = server.get("/admin/stats", token=admin).json
    for key in ("per_user", "feature_popularity", "conversion"):
        assert key in b, key
    email = f"stats-features-{int(time.time() * 1000)}@example.com"
    uid = server.register(email)["user_id"]
    tok = server.login(email, "password123")
    for q in ("What is ragd?", "How do plans work?"):
        assert server.post("/chat/message", {"message": q}, token=tok).status == 200
    assert server.post("/search", {"query": "plans"}, token=tok).status == 200
    # A /v1 chat completion as billing records it (this server has no model to serve one).
    v1_tokens = 37
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    with server.db() as db:
        db.execute(
            "INSERT INTO usage_records (id, user_id, resource_type, quantity,"
            " billing_period_start, billing_period_end, extra_data, created_at, updated_at)"
            " VALUES (?, ?, 'messages', 1, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), uid, now, now,
             '{"message_id":"m","endpoint":"/v1/chat/completions","tokens_used":37}', now, now))
        if hasattr(db, "commit"):
            db.commit()

    a = server.get("/admin/stats", token=admin).json
    pu, pb = a["per_user"], b["per_user"]
    assert pu["since"] == a["daily"][0]["date"] + "T00:00:00.000Z"
    assert pu["users"] == pb["users"] + 1
    assert pu["active_users"] == pb["active_users"] + 1
    assert pu["requests"] == pb["requests"] + 4  # two messages, a search, a completion
    assert pu["tokens"] > pb["tokens"] + v1_tokens
    assert pu["average_requests_per_user"] == pytest.approx(pu["requests"] / pu["users"])
    assert pu["average_tokens_per_user"] == pytest.approx(pu["tokens"] / pu["users"])
    assert pu["average_requests_per_active_user"] == pytest.approx(
        pu["requests"] / pu["active_users"])

    fa = {f["feature"]: f for f in a["feature_popularity"]}
    fb = {f["feature"]: f for f in b["feature_popularity"]}
    assert set(fa) == {"chat", "search", "documents", "v1", "widget"}
    assert fa["chat"]["uses"] == fb["chat"]["uses"] + 2
    assert fa["search"]["uses"] == fb["search"]["uses"] + 1
    assert fa["v1"]["uses"] == fb["v1"]["uses"] + 1
    assert fa["documents"]["uses"] >= 1  # the demo knowledge base, uploaded at start
    uses = [f["uses"] for f in a["feature_popularity"]]
    assert uses == sorted(uses, reverse=True)
    assert sum(f["share"] for f in a["feature_popularity"]) == pytest.approx(1)


def test_free_to_paid_conversion(server):
    admin = server.login("admin@example.com", "adminpassword123")
    before = server.get("/admin/stats", token=admin).json["conversion"]
    # Three accounts that existed before the window on the free plan; one is upgraded.
    ids = []
    for i in range(3):
        ids.append(server.register(f"convert-{i}-{int(time.time() * 1000)}@example.com")["user_id"])
    old = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 40 * 86400))
    with server.db() as db:
        for uid in ids:
            db.execute("UPDATE users SET created_at = ? WHERE id = ?", (old, uid))
        if hasattr(db, "commit"):
            db.commit()
    # A fourth account made within the window and upgraded is no conversion of the window.
    fresh = server.register(f"convert-new-{int(time.time() * 1000)}@example.com")["user_id"]
    for uid in (ids[0], fresh):
        r = server.patch(f"/users/{uid}", {"subscription_plan": "pro"}, token=admin)
        assert r.status == 200, r
    c = server.get("/admin/stats", token=admin).json["conversion"]
    assert c["since"] == before["since"]
    assert c["free_at_start"] == before["free_at_start"] + 3
    assert c["converted"] == before["converted"] + 1
    assert c["rate"] == pytest.approx(c["converted"] / c["free_at_start"])
    # Back to free and up again: still one converted account.
    for plan in ("free", "pro"):
        assert server.patch(f"/users/{ids[0]}", {"subscription_plan": plan},
                            token=admin).status == 200
    c = server.get("/admin/stats", token=admin).json["conversion"]
    assert c["free_at_start"] == before["free_at_start"] + 3
    assert c["converted"] == before["converted"] + 1
