"""Rate limits: per user and resource, per IP for anonymous callers, the seeds' "pro user hits
the chat limit at request 31", headers on every limited response, exact behaviour at the
boundary under 200 parallel requests, GCRA refill without window-edge bursts, admin bypass,
and the order auth -> rate -> quota (a refused request consumes nothing further on)."""
import http.client

from billing_helpers import login, parallel, private_server, set_clock


def test_pro_user_hits_the_chat_rate_limit_at_request_31():
    s = private_server()
    try:
        tok = login(s, "test@example.com")
        for i in range(30):
            r = s.post("/test/chat", {}, token=tok)
            assert r.status == 200, (i, r)
            assert r.header("X-RateLimit-Limit") == "30"
            assert int(r.header("X-RateLimit-Remaining")) == 29 - i
            assert int(r.header("X-RateLimit-Reset")) >= 1
        r = s.post("/test/chat", {}, token=tok)
        assert r.status == 429
        assert r.json["code"] == "RATE_LIMIT_EXCEEDED"
        assert r.json["detail"] == "Rate limit exceeded. Max 30 calls per 60 seconds"
        assert 1 <= int(r.header("Retry-After")) <= 2  # one slot refills every 2 s
        assert r.header("X-RateLimit-Remaining") == "0"
        # the refused request reserved no quota
        u = s.get("/billing/usage", token=tok).json
        assert u["messages_this_month"] == 30
        # limits are per user and per resource
        assert s.post("/test/search", {}, token=tok).status == 200
        free = login(s, "free@example.com")
        assert s.post("/test/chat", {}, token=free).status == 200
    finally:
        assert s.stop() == 0


def test_billing_routes_allow_20_per_minute():
    s = private_server()
    try:
        tok = login(s, "free@example.com")
        for i in range(20):
            r = s.get("/billing/usage" if i % 2 else "/billing/subscription", token=tok)
            assert r.status == 200, (i, r)
        r = s.get("/billing/history", token=tok)
        assert r.status == 429
        assert r.json["detail"] == "Rate limit exceeded. Max 20 calls per 60 seconds"
        # the quota endpoint counts against "api" (100/min), not "billing"
        r = s.get("/billing/quota/messages", token=tok)
        assert r.status == 200 and r.header("X-RateLimit-Limit") == "100"
    finally:
        assert s.stop() == 0


def test_anonymous_callers_are_limited_per_ip():
    s = private_server(RATE_LIMIT_API="5/3600")
    try:
        for i in range(5):
            r = s.get("/billing/plans")
            assert r.status == 200, (i, r)
            assert r.header("X-RateLimit-Limit") == "5"
        r = s.get("/billing/plans")
        assert r.status == 429 and r.json["detail"].endswith("Max 5 calls per 3600 seconds")
        assert int(r.header("Retry-After")) > 600
        # an authenticated caller has an allowance of their own
        tok = login(s, "free@example.com")
        assert s.get("/billing/plans", token=tok).status == 200
        # routes without a rate resource are not limited
        assert all(s.get("/health").status == 200 for _ in range(10))
    finally:
        assert s.stop() == 0


def test_rate_limiter_boundary_under_200_parallel_requests():
    s = private_server(RATE_LIMIT_BILLING="25/3600")
    try:
        tok = login(s, "test@example.com")

        def one(_):
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
            c.request("GET", "/billing/usage", headers={"Authorization": f"Bearer {tok}"})
            r = c.getresponse()
            r.read()
            c.close()
            return r.status

        statuses = parallel(200, one)
        assert statuses.count(200) == 25, sorted(set(map(str, statuses)))
        assert statuses.count(429) == 175
        assert s.get("/billing/usage", token=tok).status == 429
    finally:
        assert s.stop() == 0


def test_refill_has_no_window_edge_burst():
    # The Redis limiter keeps time by Redis's own clock, which a test cannot move: this server
    # limits in memory (None removes REDIS_URL from its environment).
    s = private_server(REDIS_URL=None)
    try:
        set_clock(s, "2028-01-01T00:00:58Z")
        tok = login(s, "test@example.com")
        ok = sum(s.post("/test/chat", {}, token=tok).status == 200 for _ in range(31))
        assert ok == 30
        # A fixed one-minute window would hand out 30 more at 00:01:00; GCRA gives back one
        # request per 2 s.
        set_clock(s, "2028-01-01T00:01:00.500Z")
        tok = login(s, "test@example.com")
        results = [s.post("/test/chat", {}, token=tok).status for _ in range(3)]
        assert results == [200, 429, 429]
        set_clock(s, "2028-01-01T00:02:05Z")
        tok = login(s, "test@example.com")
        ok = sum(s.post("/test/chat", {}, token=tok).status == 200 for _ in range(31))
        assert ok == 30
    finally:
        assert s.stop() == 0


def test_admin_is_not_rate_limited():
    s = private_server()
    try:
        tok = login(s, "admin@example.com")
        for i in range(40):
            r = s.post("/test/chat", {}, token=tok)
            assert r.status == 200, (i, r)
        assert s.get("/billing/usage", token=tok).json["messages_this_month"] == 40
    finally:
        assert s.stop() == 0


def test_checks_run_auth_then_rate_then_quota():
    s = private_server(RATE_LIMIT_CHAT="12/3600")
    try:
        tok = login(s, "free@example.com")
        # unauthenticated: 401, nothing consumed
        for _ in range(20):
            assert s.post("/test/chat", {}).status == 401
        for i in range(10):
            assert s.post("/test/chat", {}, token=tok).status == 200, i
        # quota refusals (messages 11, 12) still spend the rate allowance: rate comes first
        for _ in range(2):
            r = s.post("/test/chat", {}, token=tok)
            assert r.status == 429 and r.json["code"] == "QUOTA_EXCEEDED"
        r = s.post("/test/chat", {}, token=tok)
        assert r.status == 429 and r.json["code"] == "RATE_LIMIT_EXCEEDED"
        # ...and a rate refusal never reaches the quota layer
        with s.db() as db:
            assert db.execute("SELECT count(*) FROM quota_holds").fetchone()[0] == 0
            n = db.execute("SELECT sum(quantity) FROM usage_records").fetchone()[0]
        assert n == 10
    finally:
        assert s.stop() == 0


def test_requests_refused_before_the_rate_stage_spend_no_call():
    # With Redis the take goes out early, with the session read: a request refused after that
    # (a disabled feature) gives its call back, one refused before (a revoked token) never
    # sends it.
    s = private_server(RATE_LIMIT_SEARCH="3/3600")
    try:
        admin = login(s, "admin@example.com")
        tok = login(s, "test@example.com")
        gone = login(s, "test@example.com")
        assert s.post("/auth/logout", {}, token=gone).status == 200
        for _ in range(5):
            assert s.post("/search", {"query": "q"}, token=gone).status == 401
        assert s.put("/admin/features/search", {"enabled": False}, token=admin).status == 200
        for _ in range(5):
            r = s.post("/search", {"query": "q"}, token=tok)
            assert r.status == 503 and r.json["code"] == "FEATURE_DISABLED", r
        assert s.put("/admin/features/search", {"enabled": True}, token=admin).status == 200
        for i in range(3):
            r = s.post("/search", {"query": "q"}, token=tok)
            assert r.status == 200, (i, r)
            assert r.header("X-RateLimit-Remaining") == str(2 - i)
        r = s.post("/search", {"query": "q"}, token=tok)
        assert r.status == 429 and r.json["code"] == "RATE_LIMIT_EXCEEDED"
    finally:
        assert s.stop() == 0


def test_rate_limiting_can_be_switched_off():
    s = private_server(ENABLE_RATE_LIMITING="false")
    try:
        tok = login(s, "test@example.com")
        for _ in range(35):
            r = s.post("/test/chat", {}, token=tok)
            assert r.status == 200 and r.header("X-RateLimit-Limit") is None
    finally:
        assert s.stop() == 0


def test_bad_budget_refuses_to_start(tmp_path):
    from ragd_client import BIN
    import os
    import subprocess
    env = dict(os.environ, RATE_LIMIT_CHAT="lots", JWT_SECRET_KEY="x" * 32)
    p = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--port", "0"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "RATE_LIMIT_CHAT" in p.stderr
