"""/billing: plans, subscriptions created from the user's plan, plan changes with proration
and history (also through the admin API and the CLI), usage and quota for every resource, and
durability of usage and history across kill -9."""
import signal

import pytest

from billing_helpers import login, new_user, private_server, set_clock
from ragd_client import Server

RESOURCES = ["messages", "api_calls", "background_tasks", "storage_mb"]
LIMITS = {
    "free": {"messages": 10, "background_tasks": 5, "api_calls": 20, "storage_mb": 100},
    "pro": {"messages": 100, "background_tasks": 50, "api_calls": 500, "storage_mb": 1000},
    "enterprise": {"messages": 10000, "background_tasks": 1000, "api_calls": 50000,
                   "storage_mb": 10000},
}


@pytest.fixture(scope="module")
def srv():
    s = private_server(RATE_LIMIT_BILLING="100000/60", RATE_LIMIT_API="100000/60")
    yield s
    assert s.stop() == 0


def test_plans_are_public_with_seed_values(srv):
    r = srv.get("/billing/plans")
    assert r.status == 200
    plans = {p["plan_type"]: p for p in r.json["plans"]}
    assert list(plans) == ["free", "pro", "enterprise"]
    for name, limits in LIMITS.items():
        assert plans[name]["limits"] == limits
    assert plans["free"]["pricing"] == {"monthly": 0, "yearly": 0}
    assert plans["pro"]["pricing"] == {"monthly": 2900, "yearly": 29000}
    assert plans["enterprise"]["pricing"] == {"monthly": 9900, "yearly": 99000}
    assert plans["pro"]["name"] == "Pro Plan"
    assert "vector_search" in plans["pro"]["features"]
    assert plans["free"]["daily_limits"]["mcqs_per_day"] == 5
    assert plans["free"]["daily_limits"]["daily_tokens"] == 10000
    assert plans["enterprise"]["daily_limits"] == {}
    # anonymous callers are limited per IP
    assert r.header("X-RateLimit-Limit") == "100000"


@pytest.mark.parametrize("email,plan", [("admin@example.com", "enterprise"),
                                        ("test@example.com", "pro"),
                                        ("free@example.com", "free")])
def test_subscription_inherits_the_users_plan(srv, email, plan):
    tok = login(srv, email)
    r = srv.get("/billing/subscription", token=tok)
    assert r.status == 200, r
    s = r.json
    assert s["plan_type"] == plan  # never silently "free"
    assert s["status"] == "active"
    assert s["billing_cycle"] == "monthly"
    assert s["limits"] == LIMITS[plan]
    assert s["amount_cents"] == {"free": 0, "pro": 2900, "enterprise": 9900}[plan]
    assert s["ends_at"] == s["current_period_end"]
    again = srv.get("/billing/subscription", token=tok).json
    assert again["id"] == s["id"]
    with srv.db() as db:
        n = db.execute("SELECT count(*) FROM subscriptions s JOIN users u ON u.id = s.user_id"
                       " WHERE u.email = ? AND s.status = 'active'", (email,)).fetchone()[0]
    assert n == 1


def test_billing_routes_need_a_user(srv):
    for path in ("/billing/subscription", "/billing/usage", "/billing/history",
                 "/billing/quota/messages"):
        assert srv.get(path).status == 401
    assert srv.put("/billing/subscription", {"plan_type": "pro"}).status == 401


def test_usage_and_quota_for_every_resource(srv):
    set_clock(srv, "2028-02-15T10:00:00Z")  # a leap-year February
    for email, plan in (("free@example.com", "free"), ("test@example.com", "pro")):
        tok = login(srv, email)
        u = srv.get("/billing/usage", token=tok).json
        assert u["plan_type"] == plan
        assert u["limits"] == LIMITS[plan]
        assert u["period_start"] == "2028-02-01T00:00:00.000Z"
        assert u["period_end"] == "2028-02-29T23:59:59.999Z"
        for res in RESOURCES:
            assert u[f"{res}_this_month"] == 0
            assert u["usage"][res] == {"used": 0, "limit": LIMITS[plan][res],
                                       "remaining": LIMITS[plan][res]}
            q = srv.get(f"/billing/quota/{res}", token=tok)
            assert q.status == 200, q
            assert q.json["resource_type"] == res
            assert q.json["has_quota"] is True
            assert q.json["current_usage"] == 0
            assert q.json["max_allowed"] == LIMITS[plan][res]
            assert q.json["remaining"] == LIMITS[plan][res]
            assert q.json["plan_type"] == plan
        assert u["quota_remaining"] == LIMITS[plan]["messages"]
        assert u["daily"]["date"] == "2028-02-15"
        assert u["daily"]["reset_at"] == "2028-02-16T00:00:00.000Z"
    # use some of everything and read it back
    tok = login(srv, "free@example.com")
    assert srv.post("/test/chat", {}, token=tok).status == 200
    assert srv.post("/test/search", {}, token=tok).status == 200
    assert srv.post("/test/consume", {"resource": "background_tasks"}, token=tok).status == 200
    assert srv.post("/test/consume", {"resource": "storage_mb", "quantity": 7},
                    token=tok).status == 200
    u = srv.get("/billing/usage", token=tok).json
    assert (u["messages_this_month"], u["api_calls_this_month"],
            u["background_tasks_this_month"], u["storage_mb_this_month"]) == (1, 1, 1, 7)
    assert u["quota_remaining"] == 9
    assert u["daily"]["counters"]["daily_requests"]["used"] == 2  # chat + search
    q = srv.get("/billing/quota/storage_mb", token=tok).json
    assert (q["current_usage"], q["remaining"]) == (7, 93)


def test_unknown_resource_is_400_listing_valid_ones(srv):
    tok = login(srv, "free@example.com")
    r = srv.get("/billing/quota/tokens", token=tok)
    assert r.status == 400
    assert r.json["code"] == "INVALID_RESOURCE_TYPE"
    for res in RESOURCES:
        assert res in r.json["detail"]


def test_put_subscription_validation(srv):
    tok = login(srv, "free@example.com")
    for body in ({}, {"plan_type": "gold"}, {"plan_type": "pro", "billing_cycle": "weekly"},
                 {"plan_type": 3}, {"plan_type": "pro", "extra": 1}):
        r = srv.put("/billing/subscription", body, token=tok)
        assert r.status == 422, (body, r)
    r = srv.get("/billing/history?limit=0", token=tok)
    assert r.status == 422
    r = srv.get("/billing/history?offset=-1", token=tok)
    assert r.status == 422


def test_plan_change_mid_month_prorates_and_records_history():
    s = private_server()
    try:
        set_clock(s, "2028-02-01T00:00:00Z")
        uid, tok = new_user(s, "mid-month@example.com")
        assert s.get("/billing/subscription", token=tok).json["plan_type"] == "free"
        set_clock(s, "2028-02-15T00:00:00Z")  # 15 of February's 29 days are left
        tok = s.login("mid-month@example.com", "password123")
        r = s.put("/billing/subscription", {"plan_type": "pro"}, token=tok)
        assert r.status == 200, r
        assert r.json["changed"] is True
        p = r.json["proration"]
        assert (p["credit_cents"], p["charge_cents"], p["net_cents"]) == (0, 1500, 1500)
        assert p["new_period_end"] == "2028-03-01T00:00:00.000Z"
        assert r.json["subscription"]["plan_type"] == "pro"
        # the new limits apply at once
        u = s.get("/billing/usage", token=tok).json
        assert u["plan_type"] == "pro" and u["limits"]["messages"] == 100
        assert s.get("/users/me", token=tok).json["subscription_plan"] == "pro"
        # no change, no event
        r = s.put("/billing/subscription", {"plan_type": "pro", "billing_cycle": "monthly"},
                  token=tok)
        assert r.status == 200 and r.json["changed"] is False and r.json["proration"] is None
        # pro monthly -> enterprise yearly: credit 1500; charge 99000 * 352/366 = 95213
        r = s.put("/billing/subscription", {"plan_type": "enterprise", "billing_cycle": "yearly"},
                  token=tok)
        p = r.json["proration"]
        assert (p["credit_cents"], p["charge_cents"], p["net_cents"]) == (1500, 95213, 93713)
        assert r.json["subscription"]["current_period_end"] == "2029-02-01T00:00:00.000Z"
        h = s.get("/billing/history", token=tok).json
        assert h["total"] == 3
        kinds = [(i["event_type"], i["amount_cents"]) for i in h["items"]]
        assert kinds == [("subscription_updated", 93713), ("subscription_updated", 1500),
                         ("subscription_created", 0)]
        meta = h["items"][1]["metadata"]
        assert (meta["old_plan"], meta["new_plan"], meta["change"]) == ("free", "pro", "upgrade")
        assert meta["changed_by"] == uid and meta["source"] == "user"
        page = s.get("/billing/history?limit=1&offset=1", token=tok).json
        assert page["total"] == 3 and len(page["items"]) == 1
        assert page["items"][0]["id"] == h["items"][1]["id"]
        # other users see only their own history
        other = login(s, "test@example.com")
        assert all(i["id"] not in {x["id"] for x in h["items"]}
                   for i in s.get("/billing/history", token=other).json["items"])
    finally:
        assert s.stop() == 0


def test_admin_plan_change_goes_through_billing(srv):
    uid, tok = new_user(srv, "admin-changed@example.com")
    assert srv.get("/billing/subscription", token=tok).json["plan_type"] == "free"
    admin = login(srv, "admin@example.com")
    admin_id = srv.get("/users/me", token=admin).json["id"]
    r = srv.patch(f"/users/{uid}", {"subscription_plan": "pro"}, token=admin)
    assert r.status == 200 and r.json["subscription_plan"] == "pro"
    s = srv.get("/billing/subscription", token=tok).json
    assert s["plan_type"] == "pro" and s["limits"] == LIMITS["pro"]
    h = srv.get("/billing/history", token=tok).json
    ev = h["items"][0]
    assert ev["event_type"] == "subscription_updated"
    assert ev["metadata"]["source"] == "admin"
    assert ev["metadata"]["changed_by"] == admin_id
    assert srv.get("/billing/usage", token=tok).json["limits"]["messages"] == 100


def test_plan_changed_by_cli_is_synced_with_history(srv):
    uid, tok = new_user(srv, "cli-changed@example.com")
    assert srv.get("/billing/subscription", token=tok).json["plan_type"] == "free"
    srv.cli("user", "set-plan", "--email", "cli-changed@example.com", "--plan", "enterprise",
            "--data", srv.data)
    tok = srv.login("cli-changed@example.com", "password123")
    assert srv.get("/billing/subscription", token=tok).json["plan_type"] == "enterprise"
    ev = srv.get("/billing/history", token=tok).json["items"][0]
    assert ev["metadata"]["source"] == "sync" and ev["metadata"]["new_plan"] == "enterprise"


def test_usage_and_history_survive_kill_9():
    s = private_server()
    data = s.data
    try:
        tok = login(s, "free@example.com")
        r = s.post("/test/chat", {"session_id": "durable-1", "tokens_used": 42}, token=tok)
        assert r.status == 200, r
        message_id = r.json["message_id"]
        s.proc.send_signal(signal.SIGKILL)  # right after the 200
        s.proc.wait()
        s.log.close()
        with s.db() as db:
            rows = db.execute("SELECT resource_type, quantity, extra_data FROM usage_records"
                              " WHERE extra_data LIKE ?", (f"%{message_id}%",)).fetchall()
        assert len(rows) == 1 and rows[0][:2] == ("messages", 1)
        assert '"session_id":"durable-1"' in rows[0][2] and '"tokens_used":42' in rows[0][2]

        s2 = Server(env=dict(s.env), data=data, seed=False)
        tok = login(s2, "free@example.com")
        assert s2.get("/billing/usage", token=tok).json["messages_this_month"] == 1
        r = s2.put("/billing/subscription", {"plan_type": "pro"}, token=tok)
        assert r.status == 200, r
        s2.proc.send_signal(signal.SIGKILL)
        s2.proc.wait()
        s2.log.close()
        with s2.db() as db:
            ev = db.execute("SELECT event_type, metadata FROM billing_history"
                            " ORDER BY seq DESC LIMIT 1").fetchone()
            plan = db.execute("SELECT subscription_plan FROM users WHERE email = ?",
                              ("free@example.com",)).fetchone()[0]
        assert ev[0] == "subscription_updated" and '"new_plan":"pro"' in ev[1]
        assert plan == "pro"
    finally:
        if s.proc.poll() is None:
            s.stop()
