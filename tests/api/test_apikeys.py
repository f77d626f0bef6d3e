"""Personal API keys: created once and shown once, accepted in place of an access token
(Authorization: Bearer or X-API-Key), listed without the secret, revoked for good, scoped to
their owner, and subject to the owner's state (deactivated -> 403)."""
import hashlib

import pytest


@pytest.fixture()
def user(server):
    import uuid
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    reg = server.register(email)
    return reg["access_token"], reg["user_id"]


def make_key(server, tok, name="cli"):
    r = server.post("/users/me/api-keys", {"name": name}, token=tok)
    assert r.status == 201, r
    return r.json


def test_key_works_like_a_token_and_is_stored_hashed(server, user):
    tok, uid = user
    k = make_key(server, tok)
    assert k["key"].startswith("rgd_") and len(k["key"]) == 36
    assert k["key"].startswith(k["prefix"]) and len(k["prefix"]) == 12
    me = server.get("/auth/me", token=k["key"])
    assert me.status == 200 and me.json["id"] == uid
    me = server.get("/auth/me", headers={"X-API-Key": k["key"]})
    assert me.status == 200 and me.json["id"] == uid
    with server.db() as db:
        rows = db.execute("SELECT key_hash, prefix FROM api_keys WHERE user_id = ?",
                          (uid,)).fetchall()
    assert rows == [(hashlib.sha256(k["key"].encode()).hexdigest(), k["prefix"])]
    assert k["key"] not in server.read_log()
    lst = server.get("/users/me/api-keys", token=tok).json["api_keys"]
    assert [x["id"] for x in lst] == [k["id"]] and "key" not in lst[0]
    assert lst[0]["last_used_at"] is not None and lst[0]["name"] == "cli"


def test_revoked_and_unknown_keys_are_refused(server, user):
    tok, _ = user
    k = make_key(server, tok)
    assert server.delete(f"/users/me/api-keys/{k['id']}", token=tok).status == 200
    r = server.get("/auth/me", token=k["key"])
    assert r.status == 401 and r.json["code"] == "INVALID_API_KEY"
    assert r.header("WWW-Authenticate") == "Bearer"
    assert server.delete(f"/users/me/api-keys/{k['id']}", token=tok).status == 404
    r = server.get("/auth/me", token="rgd_" + "A" * 32)
    assert r.status == 401 and r.json["code"] == "INVALID_API_KEY"
    assert server.get("/users/me/api-keys", token=tok).json["api_keys"] == []


def test_keys_belong_to_their_owner(server, user, admin_token):
    tok, uid = user
    k = make_key(server, tok)
    other = server.register("keys-other-" + uid[:8] + "@example.com")["access_token"]
    assert server.delete(f"/users/me/api-keys/{k['id']}", token=other).status == 404
    assert server.get("/users/me/api-keys", token=other).json["api_keys"] == []
    assert server.get("/auth/me", token=k["key"]).status == 200
    # A key is no admin's key: admin routes stay closed to a normal user's key.
    assert server.get("/users", token=k["key"]).status == 403
    # The owner deactivated: the key is refused with 403 like the owner's tokens.
    assert server.patch(f"/users/{uid}", {"is_active": False}, token=admin_token).status == 200
    r = server.get("/auth/me", token=k["key"])
    assert r.status == 403 and r.json["code"] == "USER_INACTIVE"
    assert server.patch(f"/users/{uid}", {"is_active": True}, token=admin_token).status == 200


def test_bad_input_and_limits(server, user):
    tok, _ = user
    for body in ({}, {"name": ""}, {"name": "x" * 101}, {"name": 5}, {"name": "a", "x": 1}):
        r = server.post("/users/me/api-keys", body, token=tok)
        assert r.status == 422, (body, r)
    assert server.delete("/users/me/api-keys/not-a-uuid", token=tok).status == 404
    assert server.post("/users/me/api-keys", {"name": "a"}).status == 401
    keys = [make_key(server, tok, f"k{i}") for i in range(20)]
    r = server.post("/users/me/api-keys", {"name": "one too many"}, token=tok)
    assert r.status == 409 and r.json["code"] == "TOO_MANY_API_KEYS"
    assert server.delete(f"/users/me/api-keys/{keys[0]['id']}", token=tok).status == 200
    make_key(server, tok, "fits again")
    r = server.post("/auth/logout", {}, token=keys[1]["key"])
    assert r.status == 400 and r.json["code"] == "API_KEY_LOGOUT"
