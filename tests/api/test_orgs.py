"""Organizations: creation (the caller becomes owner), members and roles, invitations for
people without an account, max_users and features_enabled enforced, the last owner kept,
knowledge isolation between organizations, plans, and an authorization matrix over every
organization route x owner / admin / agent / member / other organization's member /
anonymous."""
import uuid

import pytest

from support_helpers import code, support_server, two_orgs, user

A_ORIGIN = "http://127.0.0.1:8201"
B_ORIGIN = "http://127.0.0.1:8202"


@pytest.fixture(scope="module")
def env():
    s, a, b = two_orgs(A_ORIGIN, B_ORIGIN)
    yield s, a, b
    s.stop()


def test_create_makes_the_caller_owner(env):
    s, a, _ = env
    uid, tok = user(s, f"founder-{uuid.uuid4().hex[:6]}@initech.test")
    r = s.post("/organizations", {"name": "Initech", "domain": f"{uuid.uuid4().hex[:6]}.test"},
               token=tok)
    assert r.status == 201, r
    org = r.json
    assert org["your_role"] == "owner" and org["member_count"] == 1 and org["plan"] == "free"
    assert org["settings"]["max_users"] == org["max_users"] == 5
    assert "widget" in org["settings"]["features_enabled"]
    me = s.get("/users/me", token=tok).json
    assert me["organization_id"] == org["id"]
    r = s.post("/organizations", {"name": "Initech 2"}, token=tok)
    assert r.status == 409 and code(r) == "ALREADY_IN_ORGANIZATION", r
    # A member of another organization cannot found one either.
    r = s.post("/organizations", {"name": "Side"}, token=a.people["member"][1])
    assert r.status == 409 and code(r) == "ALREADY_IN_ORGANIZATION", r
    members = s.get(f"/organizations/{org['id']}/members", token=tok).json["members"]
    assert [(m["user_id"], m["role"]) for m in members] == [(uid, "owner")]
    assert s.post("/organizations", {"name": ""}, token=tok).status == 422
    assert s.post("/organizations", {"name": "x"}).status == 401


def test_documents_belong_to_the_organization(env):
    s, a, b = env
    for org, other in ((a, b), (b, a)):
        for role in ("member", "agent"):
            tok = org.people[role][1]
            assert s.get(f"/documents/{org.doc_id}", token=tok).status == 200
            assert s.get(f"/documents/{other.doc_id}", token=tok).status == 404
    # A member's upload belongs to the organization and its colleagues see it.
    from kb_helpers import upload_ready
    d = upload_ready(s, a.people["member"][1], "Acme gift cards never expire.", title="Cards")
    assert d["organization_id"] == a.id
    assert s.get(f"/documents/{d['id']}", token=a.people["agent"][1]).status == 200
    assert s.get(f"/documents/{d['id']}", token=b.people["owner"][1]).status == 404


def test_invitation_for_someone_without_an_account(env):
    s, a, _ = env
    owner = a.people["owner"][1]
    email = f"newbie-{uuid.uuid4().hex[:6]}@acme.test"
    r = s.post(f"/organizations/{a.id}/members", {"email": email.upper(), "role": "agent"},
               token=owner)
    assert r.status == 201, r
    assert r.json["status"] == "invited" and r.json["invitation"]["delivery"] == "manual"
    token = r.json["invite_token"]
    assert token.startswith("inv_")
    pend = s.get(f"/organizations/{a.id}/members", token=owner).json["invitations"]
    assert [(i["email"], i["role"]) for i in pend] == [(email, "agent")]
    # Members without members.invite do not see invitations.
    assert "invitations" not in s.get(f"/organizations/{a.id}/members",
                                      token=a.people["member"][1]).json
    with s.db() as db:
        stored = [row[0] for row in db.execute("SELECT token_hash FROM org_invitations")]
    assert token not in stored and all(len(h) == 64 for h in stored)
    # Someone else with the code cannot use it.
    _, other = user(s, f"other-{uuid.uuid4().hex[:6]}@elsewhere.test")
    r = s.post("/organizations/join", {"token": token}, token=other)
    assert r.status == 404 and code(r) == "INVITATION_NOT_FOUND", r
    uid, tok = user(s, email)
    r = s.post("/organizations/join", {"token": token}, token=tok)
    assert r.status == 200 and r.json == {"status": "joined", "organization_id": a.id,
                                          "role": "agent"}, r
    roles = {m["user_id"]: m["role"] for m in
             s.get(f"/organizations/{a.id}/members", token=owner).json["members"]}
    assert roles[uid] == "agent"
    assert s.post("/organizations/join", {"token": token}, token=tok).status == 409
    r = s.delete(f"/organizations/{a.id}/members/{uid}", token=tok)  # leaves
    assert r.status == 200, r
    r = s.post("/organizations/join", {"token": token}, token=tok)  # used up
    assert r.status == 404, r


def test_invitation_accepted_at_registration(env):
    s, a, _ = env
    owner = a.people["owner"][1]
    email = f"fresh-{uuid.uuid4().hex[:6]}@acme.test"
    r = s.post(f"/organizations/{a.id}/members", {"email": email, "role": "member"}, token=owner)
    assert r.status == 201, r
    token = r.json["invite_token"]
    r = s.post("/auth/register", {"email": email, "password": "password123",
                                  "invite_token": token})
    assert r.status == 201, r
    assert r.json["organization"] == {"id": a.id, "role": "member"}
    assert s.get("/users/me", token=r.json["access_token"]).json["organization_id"] == a.id
    # A wrong code does not stop the registration; it says why no organization was joined.
    r = s.post("/auth/register", {"email": f"x-{uuid.uuid4().hex[:6]}@acme.test",
                                  "password": "password123", "invite_token": token})
    assert r.status == 201 and r.json["organization"] == {"error": "INVITATION_NOT_FOUND"}, r
    assert s.get("/users/me", token=r.json["access_token"]).json["organization_id"] is None


def test_invitation_mail_when_smtp_is_configured():
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from ragd_client import free_port

    class Inbox:
        def __init__(self):
            self.msgs = []

        async def handle_DATA(self, server, session, envelope):
            self.msgs.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
            return "250 OK"

    inbox = Inbox()
    ctl = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    s = support_server(SMTP_HOST="127.0.0.1", SMTP_PORT=str(ctl.port),
                       SMTP_FROM="noreply@ragd.test")
    try:
        _, tok = user(s, "boss@mailco.test")
        org = s.post("/organizations", {"name": "Mailco"}, token=tok).json["id"]
        r = s.post(f"/organizations/{org}/members", {"email": "friend@mailco.test"}, token=tok)
        assert r.status == 201, r
        assert r.json["invitation"]["delivery"] == "email" and "invite_token" not in r.json
        import time
        deadline = time.time() + 20
        while not inbox.msgs and time.time() < deadline:
            time.sleep(0.1)
        assert inbox.msgs and inbox.msgs[0][0] == ["friend@mailco.test"]
        body = inbox.msgs[0][1]
        code_line = [ln.strip() for ln in body.splitlines() if ln.strip().startswith("inv_")]
        assert code_line, body
        _, ftok = user(s, "friend@mailco.test")
        r = s.post("/organizations/join", {"token": code_line[0]}, token=ftok)
        assert r.status == 200 and r.json["role"] == "member", r
    finally:
        s.stop()
        ctl.stop()


def test_max_users_is_enforced(env):
    s, _, b = env
    owner = b.people["owner"][1]
    n = s.get(f"/organizations/{b.id}", token=owner).json["member_count"]
    r = s.patch(f"/organizations/{b.id}", {"settings": {"max_users": n}}, token=owner)
    assert r.status == 200 and r.json["max_users"] == n, r
    uid, _ = user(s, f"late-{uuid.uuid4().hex[:6]}@globex.test")
    email = s.get(f"/users/me", token=_).json["email"]
    r = s.post(f"/organizations/{b.id}/members", {"email": email}, token=owner)
    assert r.status == 409 and code(r) == "MAX_USERS_REACHED", r
    r = s.post(f"/organizations/{b.id}/members", {"email": "nobody-yet@globex.test"}, token=owner)
    assert r.status == 409 and code(r) == "MAX_USERS_REACHED", r
    r = s.patch(f"/organizations/{b.id}", {"settings": {"max_users": 6}}, token=owner)
    assert r.status == 422 and r.json["field"] == "settings.max_users", r  # over the plan's 5
    r = s.patch(f"/organizations/{b.id}", {"settings": {"max_users": 5}}, token=owner)
    assert r.status == 200, r


def test_features_enabled_gates_members_routes(env):
    s, _, b = env
    owner, member = b.people["owner"][1], b.people["member"][1]
    r = s.patch(f"/organizations/{b.id}", {"settings": {"features_enabled": ["search"]}},
                token=owner)
    assert r.status == 200, r
    r = s.post("/chat/message", {"message": "toaster warranty?"}, token=member)
    assert r.status == 403 and code(r) == "ORG_FEATURE_DISABLED", r
    r = s.post("/search", {"query": "toaster"}, token=member)
    assert r.status == 200, r
    r = s.patch(f"/organizations/{b.id}", {"settings": {"features_enabled": ["chat", "warp"]}},
                token=owner)
    assert r.status == 422, r
    r = s.patch(f"/organizations/{b.id}", {"settings": {
        "features_enabled": ["chat", "search", "analytics", "widget", "tickets"]}}, token=owner)
    assert r.status == 200, r
    r = s.post("/chat/message", {"message": "toaster warranty?"}, token=member)
    assert r.status == 200, r


def test_the_last_owner_stays(env):
    s, _, _ = env
    oid, otok = user(s, f"solo-{uuid.uuid4().hex[:6]}@hooli.test")
    org = s.post("/organizations", {"name": "Hooli"}, token=otok).json["id"]
    r = s.delete(f"/organizations/{org}/members/{oid}", token=otok)
    assert r.status == 409 and code(r) == "LAST_OWNER", r
    r = s.patch(f"/organizations/{org}/members/{oid}", {"role": "admin"}, token=otok)
    assert r.status == 409 and code(r) == "LAST_OWNER", r
    aid, atok = user(s, f"second-{uuid.uuid4().hex[:6]}@hooli.test")
    aemail = s.get("/users/me", token=atok).json["email"]
    assert s.post(f"/organizations/{org}/members", {"email": aemail, "role": "admin"},
                  token=otok).status == 201
    # An admin can neither make owners nor touch the owner.
    r = s.patch(f"/organizations/{org}/members/{aid}", {"role": "owner"}, token=atok)
    assert r.status == 403, r
    assert s.delete(f"/organizations/{org}/members/{oid}", token=atok).status == 403
    assert s.patch(f"/organizations/{org}/members/{oid}", {"role": "member"},
                   token=atok).status == 403
    r = s.patch(f"/organizations/{org}/members/{aid}", {"role": "owner"}, token=otok)
    assert r.status == 200, r
    r = s.delete(f"/organizations/{org}/members/{oid}", token=otok)  # now it may leave
    assert r.status == 200, r
    assert s.get("/users/me", token=otok).json["organization_id"] is None
    assert s.get(f"/organizations/{org}", token=otok).status == 404
    r = s.delete(f"/organizations/{org}/members/{aid}", token=atok)
    assert r.status == 409 and code(r) == "LAST_OWNER", r


def test_plan_is_for_platform_admins(env):
    s, a, _ = env
    r = s.patch(f"/organizations/{a.id}", {"plan": "pro"}, token=a.people["owner"][1])
    assert r.status == 403, r
    admin = s.login("admin@example.com", "adminpassword123")
    r = s.get(f"/organizations/{a.id}", token=admin)  # a platform admin acts as an owner
    assert r.status == 200 and r.json["your_role"] == "owner", r
    r = s.patch(f"/organizations/{a.id}", {"plan": "pro"}, token=admin)
    assert r.status == 200 and r.json["plan"] == "pro", r
    assert r.json["usage_today"]["messages_limit"] == 1000  # the settings' limit, under pro's
    r = s.patch(f"/organizations/{a.id}", {"settings": {"limits": {"messages_per_day": 20000}}},
                token=a.people["owner"][1])
    assert r.status == 200 and r.json["usage_today"]["messages_limit"] == 20000, r
    r = s.patch(f"/organizations/{a.id}", {"settings": {"max_users": 50}},
                token=a.people["owner"][1])
    assert r.status == 200 and r.json["max_users"] == 50, r
    r = s.patch(f"/organizations/{a.id}", {"plan": "platinum"}, token=admin)
    assert r.status == 422, r


def test_usage_is_counted_for_the_organization(env):
    s, _, b = env
    before = s.get(f"/organizations/{b.id}", token=b.people["owner"][1]).json["usage_today"]
    r = s.post("/widget/session", {"key": b.key}, headers={"Origin": b.origin})
    assert r.status == 201, r
    tok = r.json["session_token"]
    r = s.post("/widget/message", {"message": "toaster warranty?"},
               headers={"Origin": b.origin, "Authorization": "Bearer " + tok})
    assert r.status == 200, r
    after = s.get(f"/organizations/{b.id}", token=b.people["owner"][1]).json["usage_today"]
    assert after["widget_messages"] == before["widget_messages"] + 1
    assert after["widget_messages_limit"] == 200
    with s.db() as db:
        db.execute("UPDATE org_usage SET count = 200 WHERE org_id = ?"
                   " AND resource = 'widget_messages'", (b.id,))
        if hasattr(db, "commit"):
            db.commit()
    r = s.post("/widget/message", {"message": "toaster warranty?"},
               headers={"Origin": b.origin, "Authorization": "Bearer " + tok})
    assert r.status == 429 and code(r) == "WIDGET_QUOTA_EXCEEDED", r
    with s.db() as db:
        db.execute("UPDATE org_usage SET count = 0 WHERE org_id = ?"
                   " AND resource = 'widget_messages'", (b.id,))
        if hasattr(db, "commit"):
            db.commit()


def test_members_chat_counts_for_the_organization_and_the_member(env):
    s, _, b = env
    owner = b.people["owner"][1]
    mid, member = b.people["member"][0], b.people["member"][1]

    def usage():
        org = s.get(f"/organizations/{b.id}", token=owner).json["usage_today"]
        ms = s.get(f"/organizations/{b.id}/members", token=owner).json["members"]
        return org["messages"], {m["user_id"]: m["messages_today"] for m in ms}

    org0, per0 = usage()
    assert s.get(f"/organizations/{b.id}", token=owner).json["usage_today"][
        "messages_limit"] == 1000
    for _ in range(2):
        r = s.post("/chat/message", {"message": "toaster warranty?"}, token=member)
        assert r.status == 200, r
    org1, per1 = usage()
    assert org1 == org0 + 2
    assert per1[mid] == per0[mid] + 2
    assert per1[b.people["owner"][0]] == per0[b.people["owner"][0]]
    # A refused request counts for nobody.
    assert s.post("/chat/message", {"message": ""}, token=member).status == 422
    assert usage()[0] == org1
    # Members do not see each other's usage.
    ms = s.get(f"/organizations/{b.id}/members", token=member).json["members"]
    assert all("messages_today" not in m for m in ms)
    # The organization's daily messages run out for every member at once.
    with s.db() as db:
        db.execute("UPDATE org_usage SET count = 1000 WHERE org_id = ? AND resource = 'messages'"
                   " AND subject = ''", (b.id,))
        if hasattr(db, "commit"):
            db.commit()
    r = s.post("/chat/message", {"message": "toaster warranty?"}, token=b.people["agent"][1])
    assert r.status == 429 and code(r) == "ORG_QUOTA_EXCEEDED", r
    assert int(r.header("Retry-After")) >= 1
    with s.db() as db:
        db.execute("UPDATE org_usage SET count = 0 WHERE org_id = ? AND resource = 'messages'",
                   (b.id,))
        if hasattr(db, "commit"):
            db.commit()
    assert s.post("/chat/message", {"message": "toaster?"}, token=member).status == 200


def test_organization_request_rate(env):
    s, _, b = env
    owner, member = b.people["owner"][1], b.people["member"][1]
    org = s.get(f"/organizations/{b.id}", token=owner).json
    assert org["settings"]["limits"] == {"requests_per_minute": 120, "messages_per_day": 1000}
    r = s.patch(f"/organizations/{b.id}", {"settings": {"limits": {"requests_per_minute": 500}}},
                token=owner)
    assert r.status == 422 and r.json["field"] == "settings.limits", r  # over the plan's 120
    r = s.patch(f"/organizations/{b.id}", {"settings": {"limits": {"requests_per_minute": 2}}},
                token=owner)
    assert r.status == 200, r
    assert r.json["settings"]["limits"] == {"requests_per_minute": 2, "messages_per_day": 1000}
    statuses = [s.post("/chat/message", {"message": "toaster?"}, token=tok).status
                for tok in (member, b.people["agent"][1], member, owner)]
    assert statuses.count(429) >= 2, statuses
    r = s.post("/chat/message", {"message": "toaster?"}, token=b.people["admin"][1])
    assert r.status == 429 and code(r) == "ORG_RATE_LIMITED", r
    r = s.patch(f"/organizations/{b.id}", {"settings": {"limits": {"requests_per_minute": 120}}},
                token=owner)
    assert r.status == 200, r


# ---- the authorization matrix ----

# Who may do what (support/orgs.h): the roles each route lets through.
MANAGERS = {"owner", "admin"}
EVERYONE = {"owner", "admin", "agent", "member"}


def test_authorization_matrix(env):
    """Every organization route x owner / admin / agent / member / another organization's
    owner and member / a user of no organization / anonymous: allowed roles get through
    (2xx), members without the permission get 403 ORG_PERMISSION_DENIED, outsiders 404
    ORGANIZATION_NOT_FOUND, anonymous 401."""
    s, a, b = env
    # A target member of Acme to act on, re-created whenever a route removed it.
    target = {}

    def fresh_target():
        uid, tok = user(s, f"target-{uuid.uuid4().hex[:6]}@acme.test")
        email = s.get("/users/me", token=tok).json["email"]
        r = s.post(f"/organizations/{a.id}/members", {"email": email, "role": "member"},
                   token=a.people["owner"][1])
        assert r.status == 201, r
        target["id"] = uid

    def fresh_key():
        r = s.post(f"/organizations/{a.id}/widget-keys", {"allowed_origins": [a.origin]},
                   token=a.people["owner"][1])
        assert r.status == 201, r
        return r.json["id"]

    fresh_target()
    routes = [
        ("GET", lambda: f"/organizations/{a.id}", None, EVERYONE),
        ("PATCH", lambda: f"/organizations/{a.id}",
         lambda: {"settings": {"widget": {"title": "Acme"}}}, MANAGERS),
        ("GET", lambda: f"/organizations/{a.id}/members", None, EVERYONE),
        ("POST", lambda: f"/organizations/{a.id}/members",
         lambda: {"email": f"inv-{uuid.uuid4().hex[:8]}@acme.test", "role": "member"}, MANAGERS),
        ("PATCH", lambda: f"/organizations/{a.id}/members/{target['id']}",
         lambda: {"role": "member"}, MANAGERS),
        ("DELETE", lambda: f"/organizations/{a.id}/members/{target['id']}", None, MANAGERS),
        ("GET", lambda: f"/organizations/{a.id}/widget-keys", None, MANAGERS),
        ("POST", lambda: f"/organizations/{a.id}/widget-keys",
         lambda: {"allowed_origins": [a.origin]}, MANAGERS),
        ("POST", lambda: f"/organizations/{a.id}/widget-keys/{target['key']}/rotate", None,
         MANAGERS),
        ("DELETE", lambda: f"/organizations/{a.id}/widget-keys/{target['key']}", None, MANAGERS),
    ]
    callers = {role: a.people[role][1] for role in ("owner", "admin", "agent", "member")}
    callers["other_org_owner"] = b.people["owner"][1]
    callers["other_org_member"] = b.people["member"][1]
    callers["no_org_user"] = user(s, f"loner-{uuid.uuid4().hex[:6]}@nowhere.test")[1]
    callers["anonymous"] = None
    # A platform admin's plan lifts the key limit out of the way of the many creations below.
    admin = s.login("admin@example.com", "adminpassword123")
    assert s.patch(f"/organizations/{a.id}", {"plan": "enterprise"}, token=admin).status == 200
    assert s.patch(f"/organizations/{a.id}", {"settings": {"max_users": 1000}},
                   token=admin).status == 200
    target["key"] = fresh_key()

    violations, checked = [], 0
    for method, path, body, allowed in routes:
        for who, tok in callers.items():
            if path in (routes[8][1], routes[9][1]):
                target["key"] = fresh_key()  # a live key to rotate or revoke
            r = s.request(method, path(), body=body() if body else None, token=tok)
            checked += 1
            if who == "anonymous":
                ok = r.status == 401
            elif who.startswith("other_org") or who == "no_org_user":
                ok = r.status == 404 and code(r) == "ORGANIZATION_NOT_FOUND"
            elif who in allowed:
                ok = 200 <= r.status < 300
            else:
                ok = r.status == 403 and code(r) == "ORG_PERMISSION_DENIED"
            if not ok:
                violations.append((method, path(), who, r.status, r.body[:160]))
            if method == "DELETE" and "members" in path() and r.status == 200:
                fresh_target()
    for path in ("/organizations", "/organizations/join"):
        r = s.post(path, {"name": "x", "token": "inv_" + "x" * 20})
        checked += 1
        if r.status != 401:
            violations.append(("POST", path, "anonymous", r.status))
    assert violations == []
    assert checked == len(routes) * len(callers) + 2
    # Revoke what the matrix made so the key count stays small.
    for k in s.get(f"/organizations/{a.id}/widget-keys", token=callers["owner"]).json["keys"]:
        if k["active"] and k["id"] != a.key_id:
            s.delete(f"/organizations/{a.id}/widget-keys/{k['id']}", token=callers["owner"])


def test_every_organization_route_is_in_the_matrix(env):
    s, _, _ = env
    doc = s.get("/openapi.json").json
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item
           if p.startswith("/organizations/{")}
    assert ops == {
        ("GET", "/organizations/{id}"), ("PATCH", "/organizations/{id}"),
        ("GET", "/organizations/{id}/members"), ("POST", "/organizations/{id}/members"),
        ("PATCH", "/organizations/{id}/members/{user_id}"),
        ("DELETE", "/organizations/{id}/members/{user_id}"),
        ("GET", "/organizations/{id}/widget-keys"), ("POST", "/organizations/{id}/widget-keys"),
        ("POST", "/organizations/{id}/widget-keys/{key_id}/rotate"),
        ("DELETE", "/organizations/{id}/widget-keys/{key_id}"),
    }, ops


def test_platform_admins_list_every_organization(env):
    """GET /admin/organizations: every organization with its plan and member count for the
    console (users.read); searched by part of the name; refused to plain users and to roles
    without users.read."""
    s, a, b = env
    admin = s.login("admin@example.com", "adminpassword123")
    r = s.get("/admin/organizations?limit=500", token=admin)
    assert r.status == 200, r
    rows = {o["id"]: o for o in r.json["items"]}
    assert r.json["total"] >= 2 and {a.id, b.id} <= set(rows)
    assert rows[a.id]["name"] == "Acme" and rows[b.id]["name"] == "Globex"
    for org in (a, b):  # the same figures as the organization's own page
        full = s.get(f"/organizations/{org.id}", token=org.people["owner"][1]).json
        assert rows[org.id]["members"] == full["member_count"] >= 4
        assert rows[org.id]["plan"] == full["plan"] and rows[org.id]["created_at"] == full["created_at"]
    assert set(rows[a.id]) == {"id", "name", "domain", "plan", "members", "created_at"}
    r = s.get("/admin/organizations?q=gLoBe", token=admin)
    assert r.status == 200 and [o["id"] for o in r.json["items"]] == [b.id], r
    assert r.json["total"] == 1
    # LIKE's wildcards are taken literally.
    assert s.get("/admin/organizations?q=%25", token=admin).json["total"] == 0
    r = s.get("/admin/organizations?limit=1&offset=1", token=admin)
    assert r.status == 200 and len(r.json["items"]) == 1 and r.json["offset"] == 1
    assert s.get("/admin/organizations?limit=0", token=admin).status == 422
    # A platform admin (users.manage) reads each organization's details from the list.
    assert s.get(f"/organizations/{a.id}", token=admin).json["member_count"] == rows[a.id]["members"]

    # A plain user, even an organization's owner, is refused; so is a role without users.read.
    r = s.get("/admin/organizations", token=a.people["owner"][1])
    assert r.status == 403, r
    for role, status in (("ops", 403), ("support", 200)):  # support has users.read
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        uid, _ = user(s, email)
        assert s.put(f"/users/{uid}/role", {"role": role}, token=admin).status == 200
        r = s.get("/admin/organizations?q=acme", token=s.login(email, "password123"))
        assert r.status == status, (role, r)
        if status == 200:
            assert a.id in [o["id"] for o in r.json["items"]], r
    assert s.get("/admin/organizations").status == 401


def test_widget_sessions_are_limited_per_client_address(env):
    """WIDGET_SESSIONS_PER_IP_PER_MINUTE (20 by default) counts one address's new sessions
    across organizations, below either organization's own allowance (30 on free)."""
    s, a, b = env
    statuses = []
    for i in range(24):
        org = (a, b)[i % 2]
        r = s.post("/widget/session", {"key": org.key}, headers={"Origin": org.origin})
        statuses.append(r.status)
        if r.status == 429:
            assert r.json["code"] == "WIDGET_RATE_LIMITED" and int(r.header("Retry-After")) >= 1
    assert 201 in statuses and statuses.count(201) <= 20 and statuses.count(429) >= 4, statuses
    assert statuses[-1] == 429, statuses
