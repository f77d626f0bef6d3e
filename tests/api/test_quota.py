"""Quotas and daily limits: the seeds' "free user gets 429 on message 11", reservations that
200 concurrent requests cannot overspend, release on failure, admin bypass, month rollover
(leap year, year end), daily counters, and the ENABLE_* switches."""
import http.client
import json

import pytest

from billing_helpers import login, new_user, parallel, private_server, set_clock

# Quota tests are not about rate limits: give chat and search room.
ROOMY = {"RATE_LIMIT_CHAT": "100000/60", "RATE_LIMIT_SEARCH": "100000/60",
         "RATE_LIMIT_API": "100000/60", "RATE_LIMIT_BILLING": "100000/60"}


@pytest.fixture(scope="module")
def srv():
    s = private_server(**ROOMY)
    yield s
    assert s.stop() == 0


def usage(server, tok):
    r = server.get("/billing/usage", token=tok)
    assert r.status == 200, r
    return r.json


def test_free_user_gets_429_on_message_11(srv):
    tok = login(srv, "free@example.com")
    for i in range(10):
        r = srv.post("/test/chat", {}, token=tok)
        assert r.status == 200, (i, r)
    r = srv.post("/test/chat", {}, token=tok)
    assert r.status == 429
    assert r.json["code"] == "QUOTA_EXCEEDED"
    d = r.json["detail"]
    assert d["error"] == "Quota exceeded"
    assert d["resource"] == "messages"
    assert d["current_usage"] == 10 and d["limit"] == 10
    assert d["upgrade_to"] == "pro" and d["upgrade_url"] == "/billing/plans"
    assert int(r.header("Retry-After")) >= 1
    assert r.json["request_id"]
    u = usage(srv, tok)
    assert u["messages_this_month"] == 10 and u["quota_remaining"] == 0
    q = srv.get("/billing/quota/messages", token=tok).json
    assert q["has_quota"] is False and q["remaining"] == 0 and q["current_usage"] == 10
    # other resources are separate
    assert srv.post("/test/search", {}, token=tok).status == 200


def test_failed_request_releases_its_reservation(srv):
    _, tok = new_user(srv, "fails@example.com")
    for _ in range(3):
        r = srv.post("/test/chat", {"fail": True}, token=tok)
        assert r.status == 500
    r = srv.post("/test/consume", {"resource": "storage_mb", "quantity": 50, "fail": True},
                 token=tok)
    assert r.status == 500
    u = usage(srv, tok)
    assert u["messages_this_month"] == 0 and u["storage_mb_this_month"] == 0
    assert u["daily"]["counters"]["daily_requests"]["used"] == 0
    assert srv.get("/billing/quota/messages", token=tok).json["reserved"] == 0
    with srv.db() as db:
        assert db.execute("SELECT count(*) FROM quota_holds").fetchone()[0] == 0


def test_quantities_reserved_by_handlers(srv):
    _, tok = new_user(srv, "storage@example.com")
    r = srv.post("/test/consume", {"resource": "storage_mb", "quantity": 60}, token=tok)
    assert r.status == 200
    r = srv.post("/test/consume", {"resource": "storage_mb", "quantity": 41}, token=tok)
    assert r.status == 429 and r.json["detail"]["resource"] == "storage_mb"
    assert r.json["detail"]["current_usage"] == 60 and r.json["detail"]["limit"] == 100
    assert srv.post("/test/consume", {"resource": "storage_mb", "quantity": 40},
                    token=tok).status == 200
    for _ in range(5):
        assert srv.post("/test/consume", {"resource": "background_tasks"},
                        token=tok).status == 200
    r = srv.post("/test/consume", {"resource": "background_tasks"}, token=tok)
    assert r.status == 429 and r.json["detail"]["resource"] == "background_tasks"
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 100 and u["background_tasks_this_month"] == 5


def test_admin_bypasses_limits_but_usage_is_recorded():
    s = private_server(ENTERPRISE_MESSAGE_LIMIT="2", **ROOMY)
    try:
        tok = login(s, "admin@example.com")
        for _ in range(5):
            assert s.post("/test/chat", {}, token=tok).status == 200
        u = usage(s, tok)
        assert u["messages_this_month"] == 5 and u["limits"]["messages"] == 2
        assert u["limits_bypassed"] is True
        q = s.get("/billing/quota/messages", token=tok).json
        assert q["has_quota"] is True and q["current_usage"] == 5
        with s.db() as db:
            n = db.execute("SELECT count(*) FROM usage_records r JOIN users u ON u.id = r.user_id"
                           " WHERE u.email = 'admin@example.com'").fetchone()[0]
        assert n == 5
    finally:
        assert s.stop() == 0


def fire_chat(server, tok, hold_ms):
    def one(_):
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        c.request("POST", "/test/chat", body=json.dumps({"hold_ms": hold_ms}),
                  headers={"Authorization": f"Bearer {tok}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read() or b"null")
        c.close()
        return r.status, body
    return one


def test_200_parallel_requests_with_3_left_exactly_3_succeed():
    s = private_server(**ROOMY)
    try:
        tok = login(s, "free@example.com")
        for _ in range(7):
            assert s.post("/test/chat", {}, token=tok).status == 200
        # Each success holds its reservation for 300 ms of "work": a check-then-record
        # design would let many more through in that window.
        results = parallel(200, fire_chat(s, tok, 300))
        assert all(not isinstance(x, Exception) for x in results), results[:3]
        statuses = [st for st, _ in results]
        assert statuses.count(200) == 3, sorted(set(statuses))
        assert statuses.count(429) == 197
        assert all(b["code"] == "QUOTA_EXCEEDED" for st, b in results if st == 429)
        u = usage(s, tok)
        assert u["messages_this_month"] == 10  # at the limit, never above
        with s.db() as db:
            total = db.execute("SELECT sum(quantity) FROM usage_records"
                               " WHERE resource_type = 'messages'").fetchone()[0]
            holds = db.execute("SELECT count(*) FROM quota_holds").fetchone()[0]
        assert total == 10 and holds == 0
    finally:
        assert s.stop() == 0


def exhaust(server, tok, n=10):
    for i in range(n):
        r = server.post("/test/chat", {}, token=tok)
        assert r.status == 200, (i, r)
    assert server.post("/test/chat", {}, token=tok).status == 429


@pytest.mark.parametrize("before,after,period_end", [
    ("2028-02-29T23:59:00Z", "2028-03-01T00:00:00Z", "2028-02-29T23:59:59.999Z"),  # leap day
    ("2027-02-28T23:59:00Z", "2027-03-01T00:00:00Z", "2027-02-28T23:59:59.999Z"),
    ("2028-12-31T23:59:59Z", "2029-01-01T00:00:00Z", "2028-12-31T23:59:59.999Z"),  # year end
    ("2029-04-30T12:00:00Z", "2029-05-01T00:00:00Z", "2029-04-30T23:59:59.999Z"),
])
def test_month_rollover(before, after, period_end):
    s = private_server(**ROOMY)
    try:
        set_clock(s, before)
        tok = login(s, "free@example.com")
        exhaust(s, tok)
        u = usage(s, tok)
        assert u["period_end"] == period_end and u["messages_this_month"] == 10
        set_clock(s, after)
        tok = login(s, "free@example.com")  # the old token expired when the clock moved
        u = usage(s, tok)
        assert u["period_start"] == after.replace("Z", ".000Z")
        assert u["messages_this_month"] == 0 and u["quota_remaining"] == 10
        exhaust(s, tok)
        with s.db() as db:
            periods = db.execute("SELECT billing_period_start, sum(quantity) FROM usage_records"
                                 " GROUP BY 1 ORDER BY 1").fetchall()
        assert [p[1] for p in periods] == [10, 10]
    finally:
        assert s.stop() == 0


def test_daily_feature_limits_reset_at_midnight_utc():
    s = private_server(**ROOMY)
    try:
        set_clock(s, "2028-06-10T23:00:00Z")
        tok = login(s, "free@example.com")
        for _ in range(5):
            assert s.post("/test/consume", {"feature": "mcqs_per_day"}, token=tok).status == 200
        r = s.post("/test/consume", {"feature": "mcqs_per_day"}, token=tok)
        assert r.status == 429 and r.json["code"] == "MCQ_LIMIT_EXCEEDED"
        d = r.json["detail"]
        assert (d["limit"], d["used"]) == (5, 5)
        assert d["reset_at"] == "2028-06-11T00:00:00.000Z"
        assert d["message"] == "You've reached your daily MCQ limit of 5."
        assert d["upgrade_url"] == "/billing/plans"
        # free has no PDF uploads per day (seed 003)
        r = s.post("/test/consume", {"feature": "pdf_uploads"}, token=tok)
        assert r.status == 429 and r.json["code"] == "PDF_UPLOAD_LIMIT_EXCEEDED"
        # a feature that failed gave its unit back; counted features show in usage
        assert s.post("/test/consume", {"feature": "flashcards_per_day", "fail": True},
                      token=tok).status == 500
        daily = usage(s, tok)["daily"]["counters"]
        assert daily["mcqs_per_day"]["used"] == 5 and daily["flashcards_per_day"]["used"] == 0
        # pro has more
        pro = login(s, "test@example.com")
        for _ in range(6):
            assert s.post("/test/consume", {"feature": "mcqs_per_day"}, token=pro).status == 200
        set_clock(s, "2028-06-11T00:00:00Z")
        tok = login(s, "free@example.com")
        assert s.post("/test/consume", {"feature": "mcqs_per_day"}, token=tok).status == 200
    finally:
        assert s.stop() == 0


def test_daily_request_and_token_limits():
    s = private_server(FREE_MESSAGE_LIMIT="1000", **ROOMY)
    try:
        tok = login(s, "free@example.com")
        for i in range(12):
            assert s.post("/test/chat", {}, token=tok).status == 200, i
        for i in range(8):
            assert s.post("/test/search", {}, token=tok).status == 200, i
        r = s.post("/test/chat", {}, token=tok)  # request 21 of the day
        assert r.status == 429 and r.json["code"] == "REQUEST_LIMIT_EXCEEDED"
        assert r.json["detail"]["limit"] == 20 and r.json["detail"]["used"] == 20
        # a refused request consumed nothing
        assert usage(s, tok)["messages_this_month"] == 12

        uid, tok2 = new_user(s, "tokens@example.com")
        assert s.post("/test/chat", {"tokens_used": 10000}, token=tok2).status == 200
        r = s.post("/test/chat", {}, token=tok2)
        assert r.status == 429 and r.json["code"] == "TOKEN_LIMIT_EXCEEDED"
        assert r.json["detail"]["used"] == 10000 and r.json["detail"]["limit"] == 10000
        assert "reset_at" in r.json["detail"]
    finally:
        assert s.stop() == 0


def test_quota_enforcement_can_be_switched_off():
    s = private_server(ENABLE_QUOTA_ENFORCEMENT="false", **ROOMY)
    try:
        tok = login(s, "free@example.com")
        for _ in range(12):
            assert s.post("/test/chat", {}, token=tok).status == 200
        assert usage(s, tok)["messages_this_month"] == 12  # still recorded
    finally:
        assert s.stop() == 0


def test_billing_can_be_switched_off():
    s = private_server(ENABLE_BILLING="false", **ROOMY)
    try:
        tok = login(s, "free@example.com")
        for _ in range(12):
            assert s.post("/test/chat", {}, token=tok).status == 200
        assert s.get("/billing/plans").status == 404
        with s.db() as db:
            assert db.execute("SELECT count(*) FROM usage_records").fetchone()[0] == 0
    finally:
        assert s.stop() == 0


def test_test_routes_absent_without_test_mode(server, admin_token, free_token):
    assert server.post("/admin/test/clock", {"offset_ms": 1}, token=admin_token).status == 404
    assert server.post("/test/chat", {}, token=free_token).status == 404
    paths = server.get("/openapi.json").json["paths"]
    assert not [p for p in paths if p.startswith("/test") or p.startswith("/admin/test")]
    assert "/billing/usage" in paths and "/billing/quota/{resource_type}" in paths


def test_reservation_abandoned_by_a_crash_expires():
    import signal
    import threading
    import time
    from ragd_client import Server
    s = private_server(QUOTA_HOLD_TTL_SECONDS="2", **ROOMY)
    try:
        tok = login(s, "free@example.com")
        for _ in range(9):
            assert s.post("/test/chat", {}, token=tok).status == 200
        # a request that takes the last unit and dies with the server
        t = threading.Thread(target=lambda: _swallow(lambda: s.post(
            "/test/chat", {"hold_ms": 5000}, token=tok, timeout=10)))
        t.start()
        deadline = time.time() + 10
        while time.time() < deadline:
            with s.db() as db:
                if db.execute("SELECT count(*) FROM quota_holds"
                              " WHERE name = 'messages'").fetchone()[0]:
                    break
            time.sleep(0.02)
        r = s.post("/test/chat", {}, token=tok)
        assert r.status == 429 and r.json["detail"]["current_usage"] == 10  # 9 used + 1 held
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        s.log.close()
        t.join()
        s = Server(env=dict(s.env), data=s.data, seed=False)
        admin = login(s, "admin@example.com")
        # the hold stops counting once it has expired (moving the clock instead of sleeping)
        assert s.post("/admin/test/clock", {"offset_ms": 3000}, token=admin).status == 200
        tok = login(s, "free@example.com")
        assert s.post("/test/chat", {}, token=tok).status == 200
        assert s.post("/test/chat", {}, token=tok).status == 429
        assert usage(s, tok)["messages_this_month"] == 10
    finally:
        if s.proc.poll() is None:
            assert s.stop() == 0


def _swallow(fn):
    try:
        fn()
    except OSError:
        pass
