"""Maintenance modes (issue 13, seed 003 "Maintenance Mode Control Points"): soft pauses heavy
work and shows a banner header, hard shuts out everyone but administrators, automatic entry
and exit when chat has no provider, overrides, notifications and the audit trail."""
import json
import time
import uuid

import pytest

from ragd_client import Server


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    s.admin = s.login("admin@example.com", "adminpassword123")
    s.email = f"maint-{uuid.uuid4().hex[:8]}@example.com"
    s.user = s.register(s.email)["access_token"]
    yield s
    assert s.stop() == 0


def set_level(s, level, **kw):
    r = s.put("/admin/maintenance", {"level": level, "reason": "test " + level, **kw},
              token=s.admin)
    assert r.status == 200, r
    return r.json


@pytest.fixture
def none_after(srv):
    yield
    set_level(srv, "none")


def outbox_events(s):
    with s.db() as db:
        rows = db.execute("SELECT event, payload FROM notification_outbox ORDER BY created_ms"
                          ).fetchall()
    return [(e, json.loads(p)) for e, p in rows]


def test_none_by_default(srv):
    r = srv.get("/maintenance")
    assert r.status == 200
    assert r.json["level"] == "none" and r.json["active"] is False
    assert r.header("X-Maintenance") is None
    ops = srv.get("/health/detailed").json["services"]["operations"]
    assert ops["status"] == "healthy" and ops["maintenance"] == "none"
    assert srv.get("/chat/history", token=srv.user).status == 200


def test_bad_input_changes_nothing(srv):
    cases = [({"level": "medium", "reason": "x"}, "level"),
             ({"level": "soft"}, "reason"),
             ({"level": "soft", "reason": ""}, "reason"),
             ({"level": "soft", "reason": "x", "estimated_restoration": "tomorrow"},
              "estimated_restoration"),
             ({"level": "soft", "reason": "x", "colour": "red"}, "body"),
             ({"level": 2, "reason": "x"}, "level")]
    for body, field in cases:
        r = srv.put("/admin/maintenance", body, token=srv.admin)
        assert r.status == 422, (body, r)
        assert r.json["code"] == "VALIDATION_ERROR" and r.json["field"] == field, (body, r)
    assert srv.put("/admin/maintenance", {"level": "hard", "reason": "x"},
                   token=srv.user).status == 403
    assert srv.put("/admin/maintenance", {"level": "hard", "reason": "x"}).status == 401
    assert srv.get("/admin/maintenance", token=srv.user).status == 403
    assert srv.get("/maintenance").json["level"] == "none"


def test_soft_pauses_heavy_work_only(srv, none_after):
    j = set_level(srv, "soft", message="Uploads are paused for an upgrade")
    assert j["level"] == "soft" and j["automatic"] is False and j["reason"] == "test soft"
    for path, tok in (("/health", None), ("/maintenance", None), ("/chat/history", srv.user)):
        r = srv.get(path, token=tok)
        assert r.status == 200, (path, r)
        assert r.header("X-Maintenance") == "soft", path
    m = srv.get("/maintenance").json
    assert m["level"] == "soft" and m["message"] == "Uploads are paused for an upgrade"
    assert "reason" not in m  # operators' reason is not public
    # Heavy routes: uploads (users and admins) and bulk admin operations.
    for tok in (srv.user, srv.admin):
        r = srv.post("/documents", {"title": "t", "content": "some text"}, token=tok)
        assert r.status == 503 and r.json["code"] == "MAINTENANCE", r
        assert int(r.header("Retry-After")) >= 1
        assert r.header("X-Maintenance") == "soft"
    r = srv.post("/admin/seed-enhanced", {}, token=srv.admin)
    assert r.status == 503 and r.json["code"] == "MAINTENANCE", r
    # Light work goes on: search, admin views.
    assert srv.post("/search", {"query": "vector"}, token=srv.user).status == 200
    assert srv.get("/admin/audit-log", token=srv.admin).status == 200
    f = srv.get("/features", token=srv.user).json
    assert f["maintenance"] == "soft"
    assert f["features"]["document_upload"] == {
        "enabled": False, "description": f["features"]["document_upload"]["description"],
        "reason": "maintenance"}
    assert f["features"]["chat"]["enabled"] is True
    set_level(srv, "none")
    r = srv.get("/health")
    assert r.header("X-Maintenance") is None
    r = srv.post("/documents", {"title": "t", "content": "some text"}, token=srv.user)
    assert r.status == 202, r


def test_hard_admits_admins_and_the_essentials(srv, none_after):
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
    set_level(srv, "hard", message="Back soon: database upgrade", estimated_restoration=until)
    r = srv.get("/chat/history", token=srv.user)
    assert r.status == 503 and r.json["code"] == "MAINTENANCE", r
    assert r.json["detail"] == "Back soon: database upgrade"
    assert r.json["maintenance"]["level"] == "hard"
    assert r.json["maintenance"]["estimated_restoration"].startswith(until[:19])
    assert 100 <= int(r.header("Retry-After")) <= 120
    assert r.header("X-Maintenance") == "hard"
    for path in ("/users/me", "/billing/plans", "/documents", "/v1/models"):
        r = srv.get(path, token=srv.user)
        assert r.status == 503, (path, r)
    r = srv.post("/auth/register", {"email": f"h{uuid.uuid4().hex[:6]}@example.com",
                                    "password": "password123"})
    assert r.status == 503 and r.json["code"] == "MAINTENANCE"
    r = srv.post("/chat/message", {"message": "hello"})  # anonymous: still the lock screen
    assert r.status in (401, 503)
    # Open to everyone: health, readiness, metrics, the status, login, the web UI.
    for path in ("/health", "/health/detailed", "/ready", "/metrics", "/maintenance",
                 "/features"):
        assert srv.get(path).status == 200, path
    assert srv.get("/").status != 503
    assert srv.login(srv.email, "password123")
    # Administrators keep full access.
    assert srv.get("/chat/history", token=srv.admin).status == 200
    assert srv.get("/users", token=srv.admin).status == 200
    assert srv.get("/admin/maintenance", token=srv.admin).json["level"] == "hard"
    set_level(srv, "none")
    assert srv.get("/chat/history", token=srv.user).status == 200


def test_retry_after_default_without_estimate(srv, none_after):
    set_level(srv, "hard")
    r = srv.get("/chat/history", token=srv.user)
    assert r.status == 503 and r.header("Retry-After") == "300"
    assert r.json["detail"].startswith("We're currently performing maintenance")


def availability(s, feature, usable):
    r = s.post("/admin/test/feature-availability", {"feature": feature, "usable": usable},
               token=s.admin)
    assert r.status == 200, r
    return r.json


def test_automatic_entry_exit_and_override(srv, none_after):
    n0 = len(outbox_events(srv))
    j = availability(srv, "chat", False)
    assert j["level"] == "hard" and j["automatic"] is True and j["set_by"] is None
    h = srv.get("/health/detailed")
    assert h.status == 200 and h.json["status"] == "degraded"
    assert h.json["services"]["operations"] == {"status": "degraded", "maintenance": "hard",
                                                "automatic": True, "feature_outages": ["chat"]}
    assert {"feature": "chat", "since": j["feature_outages"][0]["since"]} in j["feature_outages"]
    assert srv.get("/chat/history", token=srv.user).status == 503
    # The same report again changes nothing (no second event).
    availability(srv, "chat", False)
    # Recovery leaves the automatic level.
    j = availability(srv, "chat", True)
    assert j["level"] == "none" and j["automatic"] is False and j["feature_outages"] == []
    assert srv.get("/chat/history", token=srv.user).status == 200
    # An administrator's soft level is kept through an outage and restored after it.
    set_level(srv, "soft", message="planned work")
    j = availability(srv, "chat", False)
    assert j["level"] == "hard" and j["automatic"] is True
    j = availability(srv, "chat", True)
    assert j["level"] == "soft" and j["automatic"] is False and j["message"] == "planned work"
    # An override stands while the outage lasts, and recovery never leaves a manual level.
    availability(srv, "chat", False)
    r = srv.put("/admin/maintenance", {"level": "none", "reason": "false positive"},
                token=srv.admin)
    assert r.status == 200 and r.json["overridden_automatic"] is True, r
    availability(srv, "chat", False)
    assert srv.get("/maintenance").json["level"] == "none"
    set_level(srv, "hard", message="manual")
    j = availability(srv, "chat", True)
    assert j["level"] == "hard" and j["message"] == "manual"
    events = [e for e, _ in outbox_events(srv)[n0:]]
    assert events == ["maintenance_entered", "maintenance_exited",        # automatic round
                      "maintenance_entered",                              # soft by hand
                      "maintenance_entered", "maintenance_exited",        # automatic on soft
                      "maintenance_entered", "maintenance_overridden",    # override
                      "maintenance_entered"], events                     # hard by hand
    payloads = [p for _, p in outbox_events(srv)[n0:]]
    assert payloads[0]["automatic"] is True and payloads[0]["feature"] == "chat"
    assert payloads[6]["overridden_level"] == "hard"
    audit = srv.get("/admin/audit-log?action=maintenance.set", token=srv.admin).json
    assert audit["total"] >= 3
    assert audit["items"][0]["details"]["level"] == "hard"


def test_noncritical_outage_switches_only_that_feature(srv, none_after):
    availability(srv, "mcq", False)
    assert srv.get("/maintenance").json["level"] == "none"
    f = srv.get("/features", token=srv.user).json["features"]
    assert f["mcqs"]["enabled"] is False and f["mcqs"]["reason"] == "unavailable"
    assert f["chat"]["enabled"] is True
    flags = {x["name"]: x for x in srv.get("/admin/features", token=srv.admin).json["features"]}
    assert flags["mcqs"]["unavailable"] is True and flags["mcqs"]["is_enabled"] is True
    availability(srv, "mcq", True)
    f = srv.get("/features", token=srv.user).json["features"]
    assert f["mcqs"]["enabled"] is True and f["mcqs"]["reason"] is None


def test_maintenance_pauses_ingestion_until_it_ends():
    """Queued documents are heavy work too: a node that starts while maintenance is in force
    leaves them pending, and ingests them once it ends."""
    from kb_helpers import upload, wait_doc
    api = Server(env={"INGEST_WORKERS": "0", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        admin = api.login("admin@example.com", "adminpassword123")
        docs = [upload(api, admin, f"Pause test document {i}: the valve opens at dawn.",
                       title=f"pause-{i}")["id"] for i in range(3)]
        assert [api.get(f"/documents/{d}", token=admin).json["status"] for d in docs] == \
            ["pending"] * 3
        r = api.put("/admin/maintenance", {"level": "soft", "reason": "pause ingestion"},
                    token=admin)
        assert r.status == 200, r
    finally:
        assert api.stop() == 0
    s = Server(data=api.data, seed=False, env={"INGEST_WORKERS": "1",
                                               "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        time.sleep(2)
        assert [s.get(f"/documents/{d}", token=admin).json["status"] for d in docs] == \
            ["pending"] * 3
        r = s.put("/admin/maintenance", {"level": "none", "reason": "done"}, token=admin)
        assert r.status == 200, r
        assert [wait_doc(s, admin, d)["status"] for d in docs] == ["ready"] * 3
    finally:
        assert s.stop() == 0
