"""Accounts: register, login (JSON and OAuth2 form), refresh rotation, logout, me, tokens."""
import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest

from ragd_client import TEST_SECRET, Server, form


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(claims, alg="HS256", secret=TEST_SECRET, header=None):
    h = header or {"alg": alg, "typ": "JWT"}
    signing = b64(json.dumps(h).encode()) + "." + b64(json.dumps(claims).encode())
    if alg == "none":
        return signing + "."
    sig = hmac.new(secret.encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(sig)


def claims_for(user_id, **over):
    now = int(time.time())
    c = {"sub": user_id, "user_id": user_id, "type": "access", "iat": now, "exp": now + 600,
         "jti": str(uuid.uuid4())}
    c.update(over)
    return c


def test_register_returns_tokens_and_free_plan(server):
    r = server.post("/auth/register", {"email": "New.User@Example.com", "password": "password123",
                                       "username": "newuser"})
    assert r.status == 201, r
    j = r.json
    assert uuid.UUID(j["user_id"])
    assert j["token_type"] == "bearer"
    assert j["subscription_plan"] == "free"
    assert j["email"] == "new.user@example.com"
    assert j["access_token"] and j["refresh_token"]
    me = server.get("/auth/me", token=j["access_token"])
    assert me.status == 200 and me.json["email"] == "new.user@example.com"
    assert me.json["username"] == "newuser"
    assert "hashed_password" not in me.body


def test_register_duplicate_email_is_409_case_insensitive(server):
    server.register("dup@example.com")
    r = server.post("/auth/register", {"email": "DUP@example.com", "password": "password123"})
    assert r.status == 409 and r.json["code"] == "EMAIL_TAKEN"


def test_register_duplicate_username_is_409(server):
    server.register("u1@example.com", username="samename")
    r = server.post("/auth/register", {"email": "u2@example.com", "password": "password123",
                                       "username": "samename"})
    assert r.status == 409 and r.json["code"] == "USERNAME_TAKEN"


@pytest.mark.parametrize("body,field", [
    ({"password": "password123"}, "email"),
    ({"email": "a@b.co"}, "password"),
    ({"email": "not-an-email", "password": "password123"}, "email"),
    ({"email": "a@b.co", "password": "short"}, "password"),
    ({"email": "a@b.co", "password": "x" * 73}, "password"),
    ({"email": 5, "password": "password123"}, "email"),
    ({"email": "a@b.co", "password": "password123", "is_superuser": True}, "body"),
    ({"email": "a@b.co", "password": "password123", "username": "bad\u0001name"}, "username"),
])
def test_register_validation(server, body, field):
    r = server.post("/auth/register", body)
    assert r.status == 422, r
    assert r.json["code"] == "VALIDATION_ERROR"
    assert r.json["field"] == field
    assert "request_id" in r.json and r.json["detail"]


def test_password_72_bytes_ok_and_multibyte_counts_bytes(server):
    server.register("long@example.com", password="p" * 72)
    # 25 three-byte characters are 75 bytes: over bcrypt's limit even though 25 characters.
    r = server.post("/auth/register", {"email": "mb@example.com", "password": "€" * 25})
    assert r.status == 422 and r.json["field"] == "password"


def test_login_json_and_oauth2_form(server):
    r = server.post("/auth/login", {"email": "test@example.com", "password": "testpassword123"})
    assert r.status == 200, r
    j = r.json
    assert j["token_type"] == "bearer" and j["expires_in"] == 1800
    assert j["user"]["email"] == "test@example.com"
    assert j["user"]["subscription_plan"] == "pro"
    assert j["user"]["last_login_at"]
    r = server.request("POST", "/auth/login",
                       raw=form({"username": "test@example.com", "password": "testpassword123",
                                 "grant_type": "password"}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 200, r
    assert r.json["access_token"]


def test_access_token_claims(server):
    tok = server.login("test@example.com", "testpassword123")
    payload = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
    for k in ("sub", "user_id", "type", "iat", "exp", "jti"):
        assert k in payload
    assert payload["type"] == "access"
    assert payload["exp"] - payload["iat"] == 30 * 60
    header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
    assert header["alg"] == "HS256"


def test_login_wrong_password_and_unknown_user(server):
    r = server.post("/auth/login", {"email": "test@example.com", "password": "wrongpassword"})
    assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS"
    assert r.header("WWW-Authenticate") == "Bearer"
    r = server.post("/auth/login", {"email": "nobody@example.com", "password": "whatever12"})
    assert r.status == 401 and r.json["code"] == "INVALID_CREDENTIALS"


def test_refresh_rotation_and_reuse_revokes_family(server):
    j = server.register("rot@example.com")
    r1 = server.post("/auth/refresh", {"refresh_token": j["refresh_token"]})
    assert r1.status == 200, r1
    assert r1.json["refresh_token"] != j["refresh_token"]
    assert server.get("/auth/me", token=r1.json["access_token"]).status == 200
    # The first token is now revoked: presenting it again is a replay.
    r2 = server.post("/auth/refresh", {"refresh_token": j["refresh_token"]})
    assert r2.status == 401 and r2.json["code"] == "TOKEN_REUSED"
    # ... which revoked the whole family, including the newest token.
    r3 = server.post("/auth/refresh", {"refresh_token": r1.json["refresh_token"]})
    assert r3.status == 401


def test_refresh_unknown_token(server):
    r = server.post("/auth/refresh", {"refresh_token": "not-a-real-token"})
    assert r.status == 401 and r.json["code"] == "INVALID_TOKEN"
    assert server.post("/auth/refresh", {}).status == 422


def test_refresh_tokens_stored_hashed(server):
    j = server.register("hashed@example.com")
    with server.db() as db:
        rows = [r[0] for r in db.execute("SELECT token_hash FROM refresh_tokens")]
    assert j["refresh_token"] not in rows
    assert hashlib.sha256(j["refresh_token"].encode()).hexdigest() in rows


def test_logout_revokes_access_and_refresh(server):
    j = server.register("logout@example.com")
    r = server.post("/auth/logout", {}, token=j["access_token"])
    assert r.status == 200, r
    r = server.get("/auth/me", token=j["access_token"])
    assert r.status == 401
    assert server.post("/auth/refresh", {"refresh_token": j["refresh_token"]}).status == 401
    assert server.post("/auth/logout", {}).status == 401


def test_me_requires_token(server):
    r = server.get("/auth/me")
    assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer"


def user_id(server, token):
    return server.get("/auth/me", token=token).json["id"]


def test_forged_tokens_rejected(server, pro_token):
    uid = user_id(server, pro_token)
    good = forge(claims_for(uid))
    assert server.get("/auth/me", token=good).status == 200  # sanity: the forge is right
    cases = {
        "alg none": forge(claims_for(uid), alg="none"),
        "alg HS512 header": forge(claims_for(uid), header={"alg": "HS512", "typ": "JWT"}),
        "wrong secret": forge(claims_for(uid), secret="another-secret-entirely-123"),
        "expired": forge(claims_for(uid, exp=int(time.time()) - 5)),
        "refresh type": forge(claims_for(uid, type="refresh")),
        "unknown user": forge(claims_for(str(uuid.uuid4()))),
        "bad user id": forge(claims_for("1 OR 1=1")),
        "no exp": forge({k: v for k, v in claims_for(uid).items() if k != "exp"}),
        "garbage": "abc.def.ghi",
        "two parts": "abc.def",
        "empty": "",
        "tampered payload": good.split(".")[0] + "." + b64(json.dumps(
            claims_for(uid, exp=int(time.time()) + 99999)).encode())
            + "." + good.split(".")[2],
    }
    for name, tok in cases.items():
        r = server.get("/auth/me", token=tok)
        assert r.status == 401, (name, r)
        assert r.header("WWW-Authenticate") == "Bearer", name


def test_deleted_user_token_is_401(server, admin_token):
    j = server.register("tobedeleted@example.com")
    assert server.delete(f"/users/{j['user_id']}", token=admin_token).status == 204
    assert server.get("/auth/me", token=j["access_token"]).status == 401
    assert server.post("/auth/refresh", {"refresh_token": j["refresh_token"]}).status == 401


def test_deactivated_user_is_403(server, admin_token):
    j = server.register("deact@example.com")
    r = server.patch(f"/users/{j['user_id']}", {"is_active": False}, token=admin_token)
    assert r.status == 200 and r.json["is_active"] is False
    r = server.get("/auth/me", token=j["access_token"])
    assert r.status == 403 and r.json["code"] == "USER_INACTIVE"
    r = server.post("/auth/login", {"email": "deact@example.com", "password": "password123"})
    assert r.status == 403
    # Deactivation dropped the user's sessions.
    assert server.post("/auth/refresh", {"refresh_token": j["refresh_token"]}).status == 401


def test_login_throttle_per_ip():
    s = Server(seed=False)
    try:
        s.register("thr@example.com")
        for i in range(5):
            r = s.post("/auth/login", {"email": "thr@example.com", "password": "wrongpass1"})
            assert r.status == 401, (i, r)
        r = s.post("/auth/login", {"email": "thr@example.com", "password": "password123"})
        assert r.status == 429 and r.json["code"] == "TOO_MANY_LOGIN_ATTEMPTS"
        assert int(r.header("Retry-After")) > 0
    finally:
        assert s.stop() == 0


def test_account_lockout_after_10_failures():
    s = Server(seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "1000"})
    try:
        s.register("lock@example.com")
        for i in range(10):
            r = s.post("/auth/login", {"email": "lock@example.com", "password": "wrongpass1"})
            assert r.status == 401, (i, r)
        r = s.post("/auth/login", {"email": "lock@example.com", "password": "password123"})
        assert r.status == 429 and r.json["code"] == "ACCOUNT_LOCKED", r
        # Another account is unaffected.
        s.register("other@example.com")
        assert s.post("/auth/login", {"email": "other@example.com",
                                      "password": "password123"}).status == 200
    finally:
        assert s.stop() == 0


def test_secret_generated_and_kept_in_data_dir(tmp_path):
    s = Server(seed=False, env={"JWT_SECRET_KEY": None})
    try:
        j = s.register("persist@example.com")
        assert s.get("/auth/me", token=j["access_token"]).status == 200
        # The forge with the test secret must fail: the server made its own.
        uid = j["user_id"]
        assert s.get("/auth/me", token=forge(claims_for(uid))).status == 401
    finally:
        assert s.stop() == 0
    import os
    from ragd_client import backend
    if backend() == "sqlite":
        path = os.path.join(s.data, "jwt_secret")
        assert os.path.exists(path) and (os.stat(path).st_mode & 0o077) == 0
    else:  # shared by every node on the database
        with s.db() as db:
            assert len(db.execute("SELECT value FROM kv WHERE key='auth.jwt_secret'"
                                  ).fetchone()[0]) == 128
    s2 = Server(seed=False, data=s.data, env={"JWT_SECRET_KEY": None})
    try:
        assert s2.get("/auth/me", token=j["access_token"]).status == 200
    finally:
        assert s2.stop() == 0


def test_passwords_are_bcrypt_2b(server):
    server.register("bcrypt@example.com")
    with server.db() as db:
        h = db.execute("SELECT hashed_password FROM users WHERE email='bcrypt@example.com'"
                       ).fetchone()[0]
    assert h.startswith("$2b$04$")
