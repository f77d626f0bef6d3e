"""Users and admin routes, the audit log, and the authorization matrix over every route."""
import uuid

import pytest


def test_users_me_get_and_patch(server):
    j = server.register("me@example.com")
    t = j["access_token"]
    r = server.get("/users/me", token=t)
    assert r.status == 200 and r.json["email"] == "me@example.com"
    r = server.patch("/users/me", {"username": "meme", "preferences": {"theme": "dark"}}, token=t)
    assert r.status == 200, r
    assert r.json["username"] == "meme" and r.json["preferences"] == {"theme": "dark"}
    assert r.json["updated_at"] >= r.json["created_at"]
    # Users cannot raise their own privileges through /users/me.
    r = server.patch("/users/me", {"is_superuser": True}, token=t)
    assert r.status == 422 and r.json["field"] == "body"
    r = server.patch("/users/me", {"subscription_plan": "enterprise"}, token=t)
    assert r.status == 422
    assert server.get("/users/me", token=t).json["is_superuser"] is False
    r = server.patch("/users/me", {"preferences": "dark"}, token=t)
    assert r.status == 422 and r.json["field"] == "preferences"


def test_admin_list_filter_paginate(server, admin_token):
    for i in range(3):
        server.register(f"page{i}@example.com")
    r = server.get("/users?limit=2&offset=0&email=page", token=admin_token)
    assert r.status == 200, r
    assert r.json["total"] == 3 and len(r.json["items"]) == 2
    r2 = server.get("/users?limit=2&offset=2&email=page", token=admin_token)
    assert len(r2.json["items"]) == 1
    ids = {u["id"] for u in r.json["items"] + r2.json["items"]}
    assert len(ids) == 3
    r = server.get("/users?plan=enterprise", token=admin_token)
    assert all(u["subscription_plan"] == "enterprise" for u in r.json["items"])
    assert any(u["email"] == "admin@example.com" for u in r.json["items"])
    for bad in ("limit=0", "limit=501", "limit=abc", "offset=-1", "is_active=maybe"):
        r = server.get(f"/users?{bad}", token=admin_token)
        assert r.status == 422, (bad, r)


def test_admin_get_patch_delete_and_audit(server, admin_token):
    j = server.register("managed@example.com")
    uid = j["user_id"]
    r = server.get(f"/users/{uid}", token=admin_token)
    assert r.status == 200 and r.json["email"] == "managed@example.com"
    r = server.patch(f"/users/{uid}", {"subscription_plan": "pro", "is_verified": True},
                     token=admin_token)
    assert r.status == 200, r
    assert r.json["subscription_plan"] == "pro" and r.json["is_verified"] is True
    r = server.patch(f"/users/{uid}", {"subscription_plan": "platinum"}, token=admin_token)
    assert r.status == 422 and r.json["field"] == "subscription_plan"
    r = server.patch(f"/users/{uid}", {"is_superuser": True}, token=admin_token)
    assert r.json["is_superuser"] is True
    assert server.get("/users", token=j["access_token"]).status == 200  # now an admin
    assert server.delete(f"/users/{uid}", token=admin_token).status == 204
    assert server.get(f"/users/{uid}", token=admin_token).status == 404
    assert server.delete(f"/users/{uid}", token=admin_token).status == 404
    assert server.get(f"/users/{uuid.uuid4()}", token=admin_token).status == 404
    assert server.get("/users/not-a-uuid", token=admin_token).status == 404
    r = server.get("/admin/audit-log?limit=50", token=admin_token)
    assert r.status == 200
    mine = [e for e in r.json["items"] if e["target_id"] == uid]
    actions = [e["action"] for e in mine]
    assert actions.count("user.update") == 2 and actions.count("user.delete") == 1
    for e in mine:
        assert e["actor_email"] == "admin@example.com"
        assert e["request_id"] and e["ip"] == "127.0.0.1" and e["created_at"]
    upd = [e for e in mine if e["action"] == "user.update"]
    assert {"subscription_plan": "pro", "is_verified": True} in [e["details"] for e in upd]


def test_admin_cannot_demote_or_delete_self(server, admin_token):
    me = server.get("/auth/me", token=admin_token).json["id"]
    assert server.patch(f"/users/{me}", {"is_superuser": False}, token=admin_token).status == 409
    assert server.patch(f"/users/{me}", {"is_active": False}, token=admin_token).status == 409
    assert server.delete(f"/users/{me}", token=admin_token).status == 409
    assert server.get("/auth/me", token=admin_token).json["is_superuser"] is True


def test_seed_status_and_seed_enhanced(server, admin_token, pro_token):
    r = server.get("/admin/seed-status", token=admin_token)
    assert r.status == 200 and "status" in r.json
    assert server.get("/admin/seed-status", token=pro_token).status == 403
    assert server.post("/admin/seed-enhanced", token=pro_token).status == 403
    r = server.post("/admin/seed-enhanced", token=admin_token)
    assert r.status == 200, r
    assert r.json["status"] == "success" and r.json["triggered_by"] == "admin@example.com"
    assert r.json["details"]["files"] >= 1, r.json
    status = server.get("/admin/seed-status", token=admin_token).json
    assert status["last_run"]["files"] == r.json["details"]["files"], status
    log = server.get("/admin/audit-log?action=admin.seed_enhanced", token=admin_token).json
    assert log["total"] >= 1


@pytest.fixture(scope="module")
def identities(server, admin_token):
    user = server.register("matrix-user@example.com")
    inactive = server.register("matrix-inactive@example.com")
    r = server.patch(f"/users/{inactive['user_id']}", {"is_active": False}, token=admin_token)
    assert r.status == 200
    return {"anonymous": None, "user": user["access_token"],
            "deactivated": inactive["access_token"], "admin": admin_token}


def all_routes(server):
    doc = server.get("/openapi.json").json
    for path, item in doc["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_authorization_matrix(server, identities):
    """Every route × anonymous / user / deactivated / admin."""
    checked = 0
    for method, path, op in all_routes(server):
        if path == "/auth/logout":
            continue  # revokes the caller's token; covered in test_auth
        if method == "DELETE":
            continue  # destructive with a random id is harmless, but covered in test_users
        concrete = path.replace("{id}", str(uuid.uuid4()))
        for p in ("{resource_type}", "{session_id}", "{document_id}"):
            concrete = concrete.replace(p, "messages")
        # No user credential: `security: []` (public) or the widget's own session token.
        public = not any("bearerAuth" in s for s in op.get("security", []))
        admin_only = op.get("x-admin-only", False)
        for who, tok in identities.items():
            body = {} if method in ("POST", "PUT", "PATCH") else None
            r = server.request(method, concrete, body=body, token=tok)
            checked += 1
            if public:
                assert r.status not in (401, 403), (method, path, who, r)
            elif who == "anonymous":
                assert r.status == 401, (method, path, who, r)
            elif who == "deactivated":
                assert r.status == 403 and r.json["code"] == "USER_INACTIVE", (method, path, r)
            elif who == "user" and admin_only:
                assert r.status == 403 and r.json["code"] == "ADMIN_REQUIRED", (method, path, r)
            else:
                assert r.status not in (401, 403), (method, path, who, r)
    assert checked >= 40


def test_admin_routes_deny_non_admin_delete(server, identities):
    victim = server.register("victim@example.com")["user_id"]
    r = server.delete(f"/users/{victim}", token=identities["user"])
    assert r.status == 403
    r = server.delete(f"/users/{victim}")
    assert r.status == 401
    r = server.delete(f"/users/{victim}", token=identities["deactivated"])
    assert r.status == 403
