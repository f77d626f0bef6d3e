"""Plan edits at run time (issue 13 item 5): PUT /admin/plans/{name} edits a plan's limits or
adds one (seed 003's student plan); /billing/plans and the quotas follow; bad input is
refused with the field and changes nothing."""
import uuid

import pytest

from ragd_client import Server

STUDENT = {"name": "Student Plan",
           "limits": {"messages": 50, "background_tasks": 10, "api_calls": 100,
                      "storage_mb": 200},
           "daily_limits": {"daily_tokens": 50000, "daily_requests": 100, "pdf_uploads": 5,
                            "mcqs_per_day": 50, "images_per_day": 10,
                            "flashcards_per_day": 100},
           "features": ["basic_chat", "pdf_upload"],
           "pricing": {"monthly": 199}}


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    s.admin = s.login("admin@example.com", "adminpassword123")
    yield s
    assert s.stop() == 0


def new_user(s):
    j = s.register(f"plan-{uuid.uuid4().hex[:8]}@example.com")
    uid = s.get("/auth/me", token=j["access_token"]).json["id"]
    return uid, j["access_token"]


def plans(s):
    return {p["plan_type"]: p for p in s.get("/billing/plans").json["plans"]}


def test_add_student_plan(srv):
    r = srv.put("/admin/plans/student", STUDENT, token=srv.admin)
    assert r.status == 201, r
    assert r.json["pricing"]["monthly"] == 199 and r.json["pricing"]["yearly"] == 1990
    listed = srv.get("/billing/plans").json["plans"]
    assert [p["plan_type"] for p in listed] == ["free", "student", "pro", "enterprise"]
    st = plans(srv)["student"]
    assert st["name"] == "Student Plan"
    assert st["daily_limits"] == STUDENT["daily_limits"]
    assert st["limits"] == STUDENT["limits"]
    # A second edit of it merges (200, not 201).
    r = srv.put("/admin/plans/student", {"daily_limits": {"mcqs_per_day": 60}}, token=srv.admin)
    assert r.status == 200 and r.json["daily_limits"]["mcqs_per_day"] == 60
    assert r.json["daily_limits"]["daily_tokens"] == 50000
    # Users can be put on it, and its limits are theirs.
    uid, tok = new_user(srv)
    r = srv.patch(f"/users/{uid}", {"subscription_plan": "student"}, token=srv.admin)
    assert r.status == 200, r
    u = srv.get("/billing/usage", token=tok).json
    assert u["plan_type"] == "student" and u["limits"]["messages"] == 50
    assert u["daily"]["counters"]["mcqs_per_day"]["limit"] == 60
    assert u["daily"]["counters"]["daily_tokens"]["limit"] == 50000
    r = srv.put("/billing/subscription", {"plan_type": "student"}, token=new_user(srv)[1])
    assert r.status == 200 and r.json["subscription"]["plan_type"] == "student", r
    audit = srv.get("/admin/audit-log?action=plan.update", token=srv.admin).json
    assert audit["items"][0]["target_id"] == "student"


def test_edit_changes_quota_enforcement(srv):
    uid, tok = new_user(srv)  # on the free plan: 5 MCQs a day
    body = {"feature": "mcqs_per_day"}
    assert srv.post("/test/consume", body, token=tok).status == 200
    r = srv.put("/admin/plans/free", {"daily_limits": {"mcqs_per_day": 1}}, token=srv.admin)
    assert r.status == 200 and r.json["daily_limits"]["mcqs_per_day"] == 1
    r = srv.post("/test/consume", body, token=tok)
    assert r.status == 429 and r.json["code"] == "MCQ_LIMIT_EXCEEDED", r
    assert r.json["detail"]["limit"] == 1
    r = srv.put("/admin/plans/free", {"daily_limits": {"mcqs_per_day": 5}}, token=srv.admin)
    assert r.status == 200
    assert srv.post("/test/consume", body, token=tok).status == 200
    # Monthly limits too: GET /billing/quota reports the edited limit.
    srv.put("/admin/plans/free", {"limits": {"api_calls": 33}}, token=srv.admin)
    q = srv.get("/billing/quota/api_calls", token=tok).json
    assert q["max_allowed"] == 33, q
    srv.put("/admin/plans/free", {"limits": {"api_calls": 20}}, token=srv.admin)


def test_bad_input_changes_nothing(srv):
    before = srv.get("/billing/plans").json
    cases = [("free", {"limits": {"messages": "ten"}}, "limits.messages"),
             ("free", {"limits": {"messages": -2}}, "limits.messages"),
             ("free", {"limits": {"tokens": 5}}, "limits.tokens"),
             ("free", {"daily_limits": {"mcqs_per_day": 1.5}}, "daily_limits.mcqs_per_day"),
             ("free", {"daily_limits": {"Bad Name": 1}}, "daily_limits.Bad Name"),
             ("free", {"pricing": {"monthly": -1}}, "pricing.monthly"),
             ("free", {"pricing": {"weekly": 100}}, "pricing.weekly"),
             ("free", {"features": [1]}, "features"),
             ("free", {"limits": 5}, "limits"),
             ("free", {"colour": "red"}, "body"),
             ("free", {}, "body"),
             ("Bad-Name", {"name": "x"}, "plan"),
             ("waytoolongplanname", dict(STUDENT), "plan"),
             ("gold", {"name": "Gold"}, "limits.messages"),
             ("gold", {"name": "Gold", "limits": STUDENT["limits"]}, "pricing.monthly"),
             ("gold", {"limits": STUDENT["limits"], "pricing": {"monthly": 1}}, "name")]
    for name, body, field in cases:
        r = srv.put(f"/admin/plans/{name}", body, token=srv.admin)
        assert r.status == 422, (name, body, r)
        assert r.json["code"] == "VALIDATION_ERROR" and r.json["field"] == field, (name, r)
    _, tok = new_user(srv)
    assert srv.put("/admin/plans/free", {"limits": {"messages": 1}}, token=tok).status == 403
    assert srv.put("/admin/plans/free", {"limits": {"messages": 1}}).status == 401
    assert srv.get("/billing/plans").json == before
    assert srv.put("/billing/subscription", {"plan_type": "gold"}, token=tok).status == 422
