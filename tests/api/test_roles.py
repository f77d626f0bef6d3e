"""Roles (issue 13 item 6): the authorization matrix over every admin route x every role and
anonymous, driven by /openapi.json so routes added later are covered too, and the role rules
themselves (is_superuser in step with the role, who may change roles)."""
import tempfile
import uuid

import pytest

from ragd_client import Server

# The role -> permission table, as the operators' brief states it. The server's own table
# (src/auth/roles.c) must agree with it on every admin route.
READS = {"users.read", "audit.read", "providers.read", "ops.read", "stats.read"}
ALL = READS | {"users.manage", "usage.reset", "roles.manage", "providers.manage", "ops.manage",
               "plans.manage", "knowledge.manage", "tickets.manage"}
TABLE = {
    "user": set(),
    "viewer": READS,
    "support": {"users.read", "usage.reset", "stats.read", "tickets.manage"},
    "ops": {"providers.read", "providers.manage", "ops.read", "ops.manage", "stats.read",
            "audit.read"},
    "admin": ALL - {"roles.manage"},
    "super_admin": ALL,
}
ROLES = list(TABLE)


def allowed(role, perm):
    if perm == "admin":  # a route without a permission of its own: full admins only
        return role in ("admin", "super_admin")
    return perm in TABLE[role]


@pytest.fixture(scope="module")
def srv():
    docs = tempfile.mkdtemp(prefix="ragd-empty-docs-")  # seeding from here is instant
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                    "SEED_DEMO_DOCS": "false", "KNOWLEDGE_DOCS_DIR": docs})
    yield s
    assert s.stop() == 0, s.read_log()[-3000:]


@pytest.fixture(scope="module")
def root(srv):
    return srv.login("admin@example.com", "adminpassword123")


@pytest.fixture(scope="module")
def people(srv, root):
    """A token and an id for one account of each role (plus anonymous)."""
    out = {"anonymous": (None, None)}
    for role in ROLES:
        reg = srv.register(f"role-{role}-{uuid.uuid4().hex[:6]}@example.com")
        if role != "user":
            r = srv.put(f"/users/{reg['user_id']}/role", {"role": role}, token=root)
            assert r.status == 200, r
            assert r.json["role"] == role
        out[role] = (reg["access_token"], reg["user_id"])
    return out


def sample(schema):
    """A plausible value for a JSON schema: for an enum, a choice that changes nothing if
    there is one (a maintenance level "none" rather than "hard"), else the first."""
    if "enum" in schema:
        for harmless in ("none", "off", "disabled", "user", "free", "low"):
            if harmless in schema["enum"]:
                return harmless
        return schema["enum"][0]
    t = schema.get("type")
    if t == "string":
        n = max(schema.get("minLength", 1), 1)
        return ("x" * n)[: schema.get("maxLength", n) or n]
    if t == "integer":
        return max(schema.get("minimum", 1), 1)
    if t == "number":
        return max(schema.get("minimum", 1), 1)
    if t == "boolean":
        return False
    if t == "array":
        return []
    return {}


def body_for(op):
    """The required fields of an operation's JSON body, or None when it takes none."""
    rb = op.get("requestBody")
    if not rb:
        return None
    schema = rb["content"]["application/json"]["schema"]
    props = schema.get("properties", {})
    return {k: sample(props.get(k, {})) for k in schema.get("required", [])}


def admin_ops(srv):
    doc = srv.get("/openapi.json").json
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("x-admin-only"):
                yield method.upper(), path, op


def test_every_admin_route_names_a_known_permission(srv):
    ops = list(admin_ops(srv))
    assert len(ops) >= 8, ops
    for method, path, op in ops:
        perm = op.get("x-ragd-permission")
        assert perm == "admin" or perm in ALL, (method, path, perm)
    perms = {(m, p): op["x-ragd-permission"] for m, p, op in ops}
    assert perms[("GET", "/users")] == "users.read"
    assert perms[("PUT", "/users/{id}/role")] == "roles.manage"
    assert perms[("POST", "/users/{id}/reset-usage")] == "usage.reset"
    assert perms[("GET", "/admin/audit-log")] == "audit.read"


def test_authorization_matrix(srv, people):
    """Every admin route x anonymous and each role: 401, 403 or through - 0 violations."""
    violations, checked = [], 0
    for method, path, op in admin_ops(srv):
        perm = op["x-ragd-permission"]
        concrete = path
        for seg in [s for s in path.split("/") if s.startswith("{")]:
            concrete = concrete.replace(seg, str(uuid.uuid4()))
        body = body_for(op)  # None: the route takes no JSON body
        for who, (tok, _) in people.items():
            r = srv.request(method, concrete, body=body, token=tok)
            checked += 1
            code = (r.json or {}).get("code") if r.json is not None else None
            if who == "anonymous":
                ok = r.status == 401
            elif not allowed(who, perm):
                want = "ADMIN_REQUIRED" if who == "user" else "INSUFFICIENT_PERMISSIONS"
                ok = r.status == 403 and code == want
            else:
                ok = r.status not in (401, 403)
            if not ok:
                violations.append((method, path, perm, who, r.status, r.body[:200]))
    assert violations == []
    assert checked >= 8 * 7


def test_refusals_are_audited_with_the_permission(srv, root, people):
    tok, uid = people["support"]
    r = srv.get("/admin/audit-log", token=tok, headers={"User-Agent": "matrix-probe/1"})
    assert r.status == 403 and r.json["code"] == "INSUFFICIENT_PERMISSIONS"
    assert r.json["detail"]["required_permission"] == "audit.read"
    log = srv.get(f"/admin/audit-log?action=auth.admin_access_refused&actor={uid}",
                  token=root).json
    assert log["total"] >= 1
    e = log["items"][0]
    assert e["details"]["permission"] == "audit.read" and e["details"]["role"] == "support"
    assert e["target_id"] == "/admin/audit-log" and e["user_agent"] == "matrix-probe/1"


def test_role_and_is_superuser_stay_in_step(srv, root, people):
    reg = srv.register(f"stepper-{uuid.uuid4().hex[:6]}@example.com")
    uid, tok = reg["user_id"], reg["access_token"]
    me = srv.get("/users/me", token=tok).json
    assert me["role"] == "user" and me["is_superuser"] is False and me["permissions"] == []
    for role, sup in [("viewer", False), ("admin", True), ("ops", False),
                      ("super_admin", True), ("support", False), ("user", False)]:
        r = srv.put(f"/users/{uid}/role", {"role": role}, token=root)
        assert r.status == 200, r
        assert r.json["role"] == role and r.json["is_superuser"] is sup, (role, r.json)
        me = srv.get("/users/me", token=tok).json  # in force at once, same token
        assert me["role"] == role and me["is_superuser"] is sup
        assert set(me["permissions"]) == TABLE[role]
        assert srv.get("/auth/me", token=tok).json["is_superuser"] is sup
    # The flag alone still works for clients that only know it: true -> admin, false -> user.
    r = srv.patch(f"/users/{uid}", {"is_superuser": True}, token=root)
    assert r.json["role"] == "admin" and r.json["is_superuser"] is True
    r = srv.patch(f"/users/{uid}", {"role": "super_admin"}, token=root)
    assert r.json["role"] == "super_admin"
    r = srv.patch(f"/users/{uid}", {"is_superuser": True}, token=root)  # already one: kept
    assert r.json["role"] == "super_admin"
    r = srv.patch(f"/users/{uid}", {"is_superuser": False}, token=root)
    assert r.json["role"] == "user" and r.json["is_superuser"] is False
    listed = srv.get("/users?email=stepper", token=root).json["items"]
    assert listed[0]["role"] == "user" and listed[0]["plan"] == "free"
    log = srv.get(f"/admin/audit-log?action=role.change&target={uid}&limit=500",
                  token=root).json
    assert log["total"] == 9  # the no-op PATCH (already super_admin) changes nothing
    assert {"from": "user", "to": "viewer"} in [e["details"] for e in log["items"]]


def test_only_roles_manage_changes_roles(srv, people):
    target = people["viewer"][1]
    for who in ("admin", "ops", "support", "viewer"):
        tok = people[who][0]
        r = srv.put(f"/users/{target}/role", {"role": "admin"}, token=tok)
        assert r.status == 403, (who, r)
        # An admin manages users but not roles: the role fields of PATCH are refused too.
        if who == "admin":
            for body in ({"role": "super_admin"}, {"is_superuser": True}):
                r = srv.patch(f"/users/{target}", body, token=tok)
                assert r.status == 403 and r.json["code"] == "INSUFFICIENT_PERMISSIONS", r
                assert r.json["detail"]["required_permission"] == "roles.manage"
            r = srv.patch(f"/users/{target}", {"is_verified": True}, token=tok)
            assert r.status == 200 and r.json["role"] == "viewer"
    r = srv.put(f"/users/{target}/role", {"role": "emperor"}, token=people["super_admin"][0])
    assert r.status == 422 and r.json["field"] == "role"
    r = srv.put(f"/users/{uuid.uuid4()}/role", {"role": "ops"}, token=people["super_admin"][0])
    assert r.status == 404


def test_admins_cannot_touch_super_admins(srv, people):
    admin_tok = people["admin"][0]
    sup_tok, sup_id = people["super_admin"]
    for method, body in (("PATCH", {"is_active": False}), ("PATCH", {"username": "renamed"}),
                         ("DELETE", None)):
        r = srv.request(method, f"/users/{sup_id}", body=body, token=admin_tok)
        assert r.status == 403 and r.json["code"] == "INSUFFICIENT_PERMISSIONS", (method, r)
    me = srv.get("/users/me", token=sup_tok).json
    assert me["is_active"] is True and me["username"] != "renamed"
    # Other accounts are the admin's to manage.
    r = srv.patch(f"/users/{people['ops'][1]}", {"is_verified": True}, token=admin_tok)
    assert r.status == 200


def test_nobody_lowers_their_own_role(srv, people):
    tok, uid = people["super_admin"]
    r = srv.put(f"/users/{uid}/role", {"role": "admin"}, token=tok)
    assert r.status == 409 and r.json["code"] == "SELF_MODIFICATION"
    assert srv.get("/users/me", token=tok).json["role"] == "super_admin"


def test_users_list_carries_plan_and_month_usage(srv, root, people):
    tok, uid = people["user"]
    assert srv.post("/test/chat", {}, token=tok).status == 200
    items = srv.get("/users?limit=500", token=root).json["items"]
    me = [u for u in items if u["id"] == uid][0]
    assert me["plan"] == "free" and me["role"] == "user"
    assert me["usage"]["monthly"]["messages"] == 1
    assert me["usage"]["daily"]["daily_requests"] == 1
    assert me["usage"]["period_start"] < me["usage"]["period_end"]
    # Support reads users (usage included) but changes nothing.
    r = srv.get("/users?limit=500", token=people["support"][0])
    assert r.status == 200
    r = srv.patch(f"/users/{uid}", {"is_active": False}, token=people["support"][0])
    assert r.status == 403
