"""Feature toggles (issue 13, seed 003 "Feature Toggle Control Points"; seed 002's
feature_flags): one gate in the route table, slash commands by their feature, rollout by a
stable hash of the user id, strict admin input."""
import uuid

import pytest

from ragd_client import Server

FLAGS = {"chat", "flashcards", "mcqs", "highyield", "explanations", "concept_maps",
         "document_upload", "pdf_upload", "search", "v1_api", "registration"}


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    s.admin = s.login("admin@example.com", "adminpassword123")
    s.user = s.register(f"feat-{uuid.uuid4().hex[:8]}@example.com")["access_token"]
    yield s
    assert s.stop() == 0


def put_flag(s, name, **body):
    r = s.put(f"/admin/features/{name}", body, token=s.admin)
    assert r.status == 200, r
    return r.json


@pytest.fixture
def restore(srv):
    yield
    for name in FLAGS:
        put_flag(srv, name, enabled=True, rollout_percentage=100)


def bucket(name, user_id):
    """FNV-1a 64 of "name:user_id" modulo 100, as the server computes it."""
    h = 1469598103934665603
    for b in f"{name}:{user_id}".encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h % 100


def test_lists(srv):
    f = srv.get("/features").json
    assert set(f["features"]) == FLAGS
    assert all(v["enabled"] and v["reason"] is None for v in f["features"].values())
    assert f["maintenance"] == "none"
    a = srv.get("/admin/features", token=srv.admin).json["features"]
    assert {x["name"] for x in a} == FLAGS
    assert all(x["is_enabled"] and x["rollout_percentage"] == 100 for x in a)
    assert srv.get("/admin/features", token=srv.user).status == 403


def test_disabled_route_answers_503_naming_it(srv, restore):
    j = put_flag(srv, "search", enabled=False)
    assert j["is_enabled"] is False and j["updated_by"]
    r = srv.post("/search", {"query": "vector"}, token=srv.user)
    assert r.status == 503 and r.json["code"] == "FEATURE_DISABLED", r
    assert r.json["feature"] == "search"
    f = srv.get("/features", token=srv.user).json["features"]["search"]
    assert f["enabled"] is False and f["reason"] == "disabled"
    # Other features go on.
    assert srv.get("/chat/history", token=srv.user).status == 200
    put_flag(srv, "search", enabled=True)
    assert srv.post("/search", {"query": "vector"}, token=srv.user).status == 200
    # The /v1 API and uploads by the same gate.
    put_flag(srv, "v1_api", enabled=False)
    r = srv.get("/v1/models", token=srv.user)
    assert r.status == 503 and r.json["code"] == "FEATURE_DISABLED" and r.json["feature"] == "v1_api"
    assert r.json["error"]["code"] == "FEATURE_DISABLED"  # OpenAI's error shape as well
    put_flag(srv, "document_upload", enabled=False)
    r = srv.post("/documents", {"title": "t", "content": "text"}, token=srv.user)
    assert r.status == 503 and r.json["feature"] == "document_upload"
    audit = srv.get("/admin/audit-log?action=feature.update", token=srv.admin).json
    assert audit["items"][0]["target_id"] == "document_upload"
    assert audit["items"][0]["details"]["is_enabled"] is False


def test_slash_command_refused_by_its_feature(srv, restore):
    put_flag(srv, "mcqs", enabled=False)
    r = srv.post("/chat/message", {"message": "/mcq vector search"}, token=srv.user)
    assert r.status == 503 and r.json["code"] == "FEATURE_DISABLED", r
    assert r.json["feature"] == "mcqs"
    put_flag(srv, "concept_maps", enabled=False)
    r = srv.post("/chat/message", {"message": "/map embeddings"}, token=srv.user)
    assert r.status == 503 and r.json["feature"] == "concept_maps"
    # A refused command costs no quota: usage shows no message spent.
    u = srv.get("/billing/usage", token=srv.user).json
    assert u["messages_this_month"] == 0, u
    # Chat itself, and the other commands, still answer.
    r = srv.post("/chat/message", {"message": "/flashcard vector search"}, token=srv.user)
    assert r.status == 200, r
    put_flag(srv, "chat", enabled=False)
    r = srv.post("/chat/message", {"message": "what is hybrid search?"}, token=srv.user)
    assert r.status == 503 and r.json["feature"] == "chat"
    # The OpenAI-compatible chat is chat too; the rest of /v1 goes on.
    r = srv.post("/v1/chat/completions", {"model": "x", "messages": [
        {"role": "user", "content": "hi"}]}, token=srv.user)
    assert r.status == 503 and r.json["feature"] == "chat", r
    assert srv.get("/v1/models", token=srv.user).status == 200


def test_registration_toggle(srv, restore):
    put_flag(srv, "registration", enabled=False)
    body = {"email": f"r{uuid.uuid4().hex[:8]}@example.com", "password": "password123"}
    r = srv.post("/auth/register", body)
    assert r.status == 503 and r.json["code"] == "FEATURE_DISABLED"
    assert r.json["feature"] == "registration"
    assert srv.post("/auth/login", {"email": body["email"], "password": "password123"}
                    ).status == 401  # nothing was created
    put_flag(srv, "registration", enabled=True)
    assert srv.post("/auth/register", body).status == 201


def test_rollout_is_stable_per_user(srv, restore):
    users = []
    for _ in range(20):
        j = srv.register(f"roll-{uuid.uuid4().hex[:8]}@example.com")
        me = srv.get("/auth/me", token=j["access_token"]).json
        users.append((me["id"], j["access_token"]))
    put_flag(srv, "search", rollout_percentage=50)
    seen = set()
    for uid, tok in users:
        expected = bucket("search", uid) < 50
        seen.add(expected)
        for _ in range(2):  # the same answer every time
            f = srv.get("/features", token=tok).json["features"]["search"]
            assert f["enabled"] is expected, (uid, f)
            assert f["reason"] == (None if expected else "rollout")
        r = srv.post("/search", {"query": "vector"}, token=tok)
        assert r.status == (200 if expected else 503), (uid, r)
        if not expected:
            assert r.json["code"] == "FEATURE_DISABLED"
    assert seen == {True, False}
    # Anonymous callers only at 100 %.
    assert srv.get("/features").json["features"]["search"]["enabled"] is False
    put_flag(srv, "search", rollout_percentage=0)
    assert srv.post("/search", {"query": "vector"}, token=users[0][1]).status == 503
    put_flag(srv, "search", rollout_percentage=100)
    assert srv.post("/search", {"query": "vector"}, token=users[0][1]).status == 200


def test_bad_input_changes_nothing(srv):
    before = srv.get("/admin/features", token=srv.admin).json
    cases = [("search", {"rollout_percentage": 101}, 422, "rollout_percentage"),
             ("search", {"rollout_percentage": -1}, 422, "rollout_percentage"),
             ("search", {"rollout_percentage": 5.5}, 422, "rollout_percentage"),
             ("search", {"enabled": "no"}, 422, "enabled"),
             ("search", {}, 422, "body"),
             ("search", {"enabled": False, "x": 1}, 422, "body"),
             ("nope", {"enabled": False}, 404, None)]
    for name, body, status, field in cases:
        r = srv.put(f"/admin/features/{name}", body, token=srv.admin)
        assert r.status == status, (name, body, r)
        if field:
            assert r.json["code"] == "VALIDATION_ERROR" and r.json["field"] == field, r
        else:
            assert r.json["code"] == "FEATURE_NOT_FOUND"
    assert srv.put("/admin/features/search", {"enabled": False}, token=srv.user).status == 403
    assert srv.put("/admin/features/search", {"enabled": False}).status == 401
    assert srv.get("/admin/features", token=srv.admin).json == before
