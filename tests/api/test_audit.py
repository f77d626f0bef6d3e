"""The audit log, complete (issue 13 item 7): filters, CSV export, append-only in the
database itself, auth events; and the role operations it records: emergency tokens,
usage resets, SUPER_ADMIN_EMAIL, the last super_admin. Runs on SQLite, and on PostgreSQL
with RAGD_TEST_PG_URL (scripts/services.sh)."""
import csv
import io
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

from ragd_client import BIN, Server, backend

PASSWORD = "password123"


@pytest.fixture(scope="module")
def srv():
    docs = tempfile.mkdtemp(prefix="ragd-empty-docs-")
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                    "SEED_DEMO_DOCS": "false", "KNOWLEDGE_DOCS_DIR": docs,
                    "ACCOUNT_LOCKOUT_THRESHOLD": "3",
                    "SUPER_ADMIN_EMAIL": "test@example.com"})
    yield s
    assert s.stop() == 0, s.read_log()[-3000:]


@pytest.fixture(scope="module")
def root(srv):
    return srv.login("admin@example.com", "adminpassword123")


def audit(srv, tok, query=""):
    r = srv.get("/admin/audit-log?limit=500" + query, token=tok)
    assert r.status == 200, r
    return r.json


def sql(srv, statement, params=()):
    """Runs one statement on the server's database; returns (rows or None, error or None)."""
    db = srv.db()
    try:
        cur = db.execute(statement, params)
        rows = cur.fetchall() if cur.description else None
        if backend() == "sqlite":
            db.commit()
        return rows, None
    except Exception as e:  # the triggers' refusal, whatever the driver calls it
        return None, e
    finally:
        (db.conn if hasattr(db, "conn") else db).close()


def emergency_token(srv, email=None):
    args = ["admin", "emergency-token", "--data", srv.data] + (["--email", email] if email else [])
    p = srv.cli(*args)
    return json.loads(p.stdout)


# ---- auth events ----

def test_logins_failures_and_lockouts_are_audited(srv, root):
    email = f"locked-{uuid.uuid4().hex[:6]}@example.com"
    uid = srv.register(email)["user_id"]
    ua = {"User-Agent": "audit-test-agent/2.0"}
    assert srv.post("/auth/login", {"email": email, "password": PASSWORD}, headers=ua).status == 200
    for _ in range(3):  # ACCOUNT_LOCKOUT_THRESHOLD=3: the third failure locks
        r = srv.post("/auth/login", {"email": email, "password": "wrong-password"}, headers=ua)
        assert r.status == 401
    r = srv.post("/auth/login", {"email": email, "password": "wrong-password"}, headers=ua)
    assert r.status == 429 and r.json["code"] == "ACCOUNT_LOCKED"
    srv.post("/auth/login", {"email": "nobody-" + email, "password": "x" * 10}, headers=ua)
    items = audit(srv, root, f"&target={uid}")["items"]
    actions = [e["action"] for e in items]
    assert actions.count("auth.login") == 1
    assert actions.count("auth.login_failed") == 4  # three wrong passwords, one while locked
    assert actions.count("auth.lockout") == 1
    ok = [e for e in items if e["action"] == "auth.login"][0]
    assert ok["actor_id"] == uid and ok["actor_email"] == email
    for e in items:
        assert e["user_agent"] == "audit-test-agent/2.0" and e["ip"] == "127.0.0.1"
    reasons = sorted(e["details"]["reason"] for e in items if e["action"] == "auth.login_failed")
    assert reasons == ["bad_credentials"] * 3 + ["locked"]
    # An unknown address is audited without it (it may be a mistyped password).
    unknown = audit(srv, root, "&action=auth.login_failed&q=known_account%22:false")
    assert unknown["total"] >= 1
    assert all("nobody-" not in json.dumps(e) for e in unknown["items"])
    # The lockout is a security notification in the outbox.
    rows, err = sql(srv, "SELECT payload FROM notification_outbox WHERE event = 'security_event'")
    assert err is None
    assert any(json.loads(p[0]).get("user_id") == uid and
               json.loads(p[0])["event"] == "account_locked" for p in rows)


# ---- filters and CSV ----

def test_filters(srv, root):
    word = "zq" + uuid.uuid4().hex[:10]
    a = srv.register(f"filter-a-{word}@example.com")["user_id"]
    b = srv.register(f"filter-b-{word}@example.com")["user_id"]
    assert srv.patch(f"/users/{a}", {"username": f"{word}-one"}, token=root).status == 200
    assert srv.patch(f"/users/{b}", {"username": f"{word}-two"}, token=root).status == 200
    assert srv.patch(f"/users/{b}", {"is_verified": True}, token=root).status == 200
    me = srv.get("/users/me", token=root).json
    # text search in the details
    got = audit(srv, root, f"&q={word}")
    assert got["total"] == 2 and {e["target_id"] for e in got["items"]} == {a, b}
    # target, and target with action
    assert audit(srv, root, f"&target={b}&action=user.update")["total"] == 2
    assert audit(srv, root, f"&target={a}&action=user.delete")["total"] == 0
    # actor by id or by e-mail (any case), combined with the search
    assert audit(srv, root, f"&actor={me['id']}&q={word}")["total"] == 2
    assert audit(srv, root, f"&actor=ADMIN@example.com&q={word}")["total"] == 2
    assert audit(srv, root, f"&actor={a}&q={word}")["total"] == 0
    # an action family
    fam = audit(srv, root, "&action=auth.*")
    assert fam["total"] >= 1 and all(e["action"].startswith("auth.") for e in fam["items"])
    # date range: today's entries are inside today, none before or after
    today = got["items"][0]["created_at"][:10]
    assert audit(srv, root, f"&q={word}&from={today}&to={today}")["total"] == 2
    assert audit(srv, root, f"&q={word}&to={today}T00:00:00Z")["total"] == 0
    assert audit(srv, root, f"&q={word}&from=2999-01-01")["total"] == 0
    first = got["items"][-1]["created_at"]
    assert audit(srv, root, f"&q={word}&from={first}")["total"] == 2
    # wildcards in the search are literal
    assert audit(srv, root, "&q=%25%25%25zz_none")["total"] == 0
    for bad in ("from=yesterday", "to=2026-13-45", "format=xml", "limit=0"):
        r = srv.get(f"/admin/audit-log?{bad}", token=root)
        assert r.status == 422, (bad, r)


def test_csv_export_quotes_and_defuses_formulas(srv, root):
    word = "zq" + uuid.uuid4().hex[:10]
    uid = srv.register(f"csv-{word}@example.com")["user_id"]
    name = f'{word}, "quoted"'
    agents = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3", "@SUM(A1)", "plain, agent"]
    for i, ua in enumerate(agents):
        body = {"username": f"{name} {i}"}
        r = srv.patch(f"/users/{uid}", body, token=root, headers={"User-Agent": ua})
        assert r.status == 200, r
    r = srv.get(f"/admin/audit-log?format=csv&q={word}&action=user.update", token=root)
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/csv")
    assert "attachment" in r.header("Content-Disposition")
    rows = list(csv.reader(io.StringIO(r.body, newline="")))
    head, data = rows[0], rows[1:]
    assert head[:5] == ["id", "created_at", "actor_id", "actor_email", "action"]
    assert len(data) == len(agents)
    col = {h: i for i, h in enumerate(head)}
    for row in data:
        assert row[col["action"]] == "user.update" and row[col["target_id"]] == uid
        assert json.loads(row[col["details"]])["username"].startswith(name)
    got_agents = sorted(row[col["user_agent"]] for row in data)
    want = sorted(("'" + a) if a[0] in "=+-@" else a for a in agents)
    assert got_agents == want
    # Nothing a spreadsheet would evaluate is left at the start of a cell.
    for row in data:
        for cell in row:
            assert not cell or cell[0] not in "=+-@", cell
    # The same entries as the JSON view, newest first.
    js = audit(srv, root, f"&q={word}&action=user.update")["items"]
    assert [int(row[col["id"]]) for row in data] == [e["id"] for e in js]


# ---- append-only ----

def test_no_route_deletes_or_edits_the_audit_log(srv):
    doc = srv.get("/openapi.json").json
    for path, item in doc["paths"].items():
        if "audit" in path:
            assert set(item) == {"get"}, (path, list(item))


def test_database_refuses_update_and_delete(srv, root):
    srv.patch(f"/users/{srv.register(f'ao-{uuid.uuid4().hex[:6]}@example.com')['user_id']}",
              {"is_verified": True}, token=root)
    (newest,), = sql(srv, "SELECT max(id) FROM audit_log")[0]
    before = sql(srv, "SELECT count(*) FROM audit_log")[0][0][0]
    for statement in ("UPDATE audit_log SET action = 'forged' WHERE id = ?",
                      "UPDATE audit_log SET details = '{}' WHERE id = ?",
                      "UPDATE audit_log SET actor_email = NULL WHERE id = ?",
                      "DELETE FROM audit_log WHERE id = ?"):
        _, err = sql(srv, statement, (newest,))
        assert err is not None and "append-only" in str(err), (statement, err)
    _, err = sql(srv, "DELETE FROM audit_log")
    assert err is not None
    if backend() != "sqlite":
        _, err = sql(srv, "TRUNCATE audit_log")
        assert err is not None and "append-only" in str(err)
    assert sql(srv, "SELECT count(*) FROM audit_log")[0][0][0] == before
    # A redaction permit is not a way around: it allows one UPDATE, which uses it up.
    _, err = sql(srv, "UPDATE audit_redactions SET used = 0")
    assert err is None  # (no row to change yet, or only used ones: nothing changes)
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    _, err = sql(srv, "INSERT INTO audit_redactions (audit_id, created_at) VALUES (?, ?)",
                 (newest, now))
    assert err is None
    _, err = sql(srv, "UPDATE audit_log SET ip = NULL WHERE id = ?", (newest,))
    assert err is None
    _, err = sql(srv, "UPDATE audit_log SET ip = '1.2.3.4' WHERE id = ?", (newest,))
    assert err is not None and "append-only" in str(err)
    _, err = sql(srv, "UPDATE audit_redactions SET used = 0 WHERE audit_id = ?", (newest,))
    assert err is not None and "append-only" in str(err)
    _, err = sql(srv, "DELETE FROM audit_redactions WHERE audit_id = ?", (newest,))
    assert err is not None and "append-only" in str(err)


def test_only_entries_past_retention_can_be_pruned(srv):
    old = "2020-01-02T03:04:05.000Z"
    _, err = sql(srv, "INSERT INTO audit_log (created_at, action, details) VALUES (?, ?, ?)",
                 (old, "test.ancient", "{}"))
    assert err is None
    _, err = sql(srv, "UPDATE audit_log SET action = 'x' WHERE action = 'test.ancient'")
    assert err is not None  # old entries are not editable either
    _, err = sql(srv, "DELETE FROM audit_log WHERE action = 'test.ancient'")
    assert err is None
    assert sql(srv, "SELECT count(*) FROM audit_log WHERE action = 'test.ancient'")[0][0][0] == 0


def test_retention_is_pruned_at_start_and_never_below_90_days(tmp_path):
    s = Server(env={"SEED_DEMO_DOCS": "false", "AUDIT_RETENTION_DAYS": "90"})
    try:
        for ts, action in (("2020-01-02T03:04:05.000Z", "test.expired"),
                           ("2999-01-01T00:00:00.000Z", "test.future")):
            _, err = sql(s, "INSERT INTO audit_log (created_at, action, details) VALUES (?, ?, ?)",
                         (ts, action, "{}"))
            assert err is None
    finally:
        assert s.stop() == 0
    s2 = Server(env={"SEED_DEMO_DOCS": "false", "AUDIT_RETENTION_DAYS": "90"}, data=s.data,
                seed=False)
    try:
        left = {a for (a,) in sql(s2, "SELECT action FROM audit_log")[0]}
        assert "test.expired" not in left and "test.future" in left
    finally:
        assert s2.stop() == 0
    env = dict(s.env, AUDIT_RETENTION_DAYS="30")
    p = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--port", "0"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "AUDIT_RETENTION_DAYS" in p.stderr, p.stderr


# ---- roles: SUPER_ADMIN_EMAIL, usage reset, emergency tokens, the last super_admin ----

def test_super_admin_email_applies_at_start(srv, root):
    tok = srv.login("test@example.com", "testpassword123")
    me = srv.get("/users/me", token=tok).json
    assert me["role"] == "super_admin" and me["is_superuser"] is True
    assert "roles.manage" in me["permissions"]
    log = audit(srv, root, f"&action=role.change&target={me['id']}")["items"]
    assert log and log[-1]["details"] == {"from": "user", "to": "super_admin",
                                           "via": "SUPER_ADMIN_EMAIL"}
    assert log[-1]["actor_id"] is None


def test_reset_usage(srv, root):
    reg = srv.register(f"reset-{uuid.uuid4().hex[:6]}@example.com")
    uid, tok = reg["user_id"], reg["access_token"]
    for _ in range(3):
        assert srv.post("/test/consume", {"feature": "mcqs_per_day"}, token=tok).status == 200
    assert srv.post("/test/chat", {}, token=tok).status == 200

    def usage():
        items = srv.get(f"/users?email=reset-&limit=500", token=root).json["items"]
        return [u for u in items if u["id"] == uid][0]["usage"]

    u = usage()
    assert u["daily"]["mcqs_per_day"] == 3 and u["daily"]["daily_requests"] == 1
    assert u["monthly"]["messages"] == 1
    support = srv.register(f"support-{uuid.uuid4().hex[:6]}@example.com")
    assert srv.put(f"/users/{support['user_id']}/role", {"role": "support"},
                   token=root).status == 200
    r = srv.post(f"/users/{uid}/reset-usage", token=support["access_token"])
    assert r.status == 200, r
    assert r.json["counters_cleared"] == 2
    u = usage()
    assert u["daily"].get("mcqs_per_day", 0) == 0 and u["daily"]["daily_requests"] == 0
    assert u["monthly"]["messages"] == 1  # the month's usage is kept
    assert srv.get("/billing/usage", token=tok).status == 200
    e = audit(srv, root, f"&action=usage.reset&target={uid}")["items"]
    assert len(e) == 1 and e[0]["actor_id"] == support["user_id"]
    assert e[0]["details"]["counters_cleared"] == 2
    assert srv.post(f"/users/{uuid.uuid4()}/reset-usage", token=root).status == 404
    assert srv.post(f"/users/{uid}/reset-usage", token=tok).status == 403


def test_emergency_token_is_single_use_and_audited(srv, root):
    email = f"rescuer-{uuid.uuid4().hex[:6]}@example.com"
    uid = srv.register(email)["user_id"]
    out = emergency_token(srv, email)
    assert out["user_id"] == uid and out["single_use"] is True and out["role"] == "super_admin"
    tok = out["access_token"]
    # One request with super_admin rights (the account itself is a plain user) ...
    r = srv.put(f"/users/{uid}/role", {"role": "ops"}, token=tok)
    assert r.status == 200 and r.json["role"] == "ops", r
    # ... and never again, not even for what a plain user may do.
    r = srv.get("/users/me", token=tok)
    assert r.status == 401
    issued = audit(srv, root, f"&action=auth.emergency_token.issued&target={uid}")["items"]
    used = audit(srv, root, f"&action=auth.emergency_token.used&target={uid}")["items"]
    assert len(issued) == 1 and len(used) == 1
    assert issued[0]["details"]["via"] == "cli" and issued[0]["details"]["jti"]
    assert used[0]["details"]["jti"] == issued[0]["details"]["jti"]
    assert used[0]["details"]["path"] == f"/users/{uid}/role"
    change = audit(srv, root, f"&action=role.change&target={uid}")["items"][0]
    assert change["actor_id"] == uid and change["details"] == {"from": "user", "to": "ops"}
    # The token itself is never stored; the issue is a security notification.
    rows, _ = sql(srv, "SELECT payload FROM notification_outbox WHERE event = 'security_event'")
    mine = [json.loads(p[0]) for p in rows if json.loads(p[0]).get("user_id") == uid]
    assert sorted(p["event"] for p in mine) == ["emergency_token_issued", "emergency_token_used"]
    assert all(tok not in json.dumps(p) for p in mine)
    assert tok not in json.dumps(audit(srv, root))
    # Without --email: the oldest active super_admin.
    assert emergency_token(srv)["email"] == "admin@example.com"
    p = srv.cli("admin", "emergency-token", "--data", srv.data, "--email",
                "nobody@example.com", check=False)
    assert p.returncode == 3 and not p.stdout


def test_last_super_admin_cannot_be_demoted_deactivated_or_deleted(srv, root):
    admin_id = srv.get("/users/me", token=root).json["id"]
    test_id = srv.get("/users?email=test@example.com", token=root).json["items"][0]["id"]
    # Two super_admins (admin@ from the seed, test@ from SUPER_ADMIN_EMAIL): one may go.
    r = srv.put(f"/users/{test_id}/role", {"role": "admin"}, token=root)
    assert r.status == 200, r
    # Now admin@example.com is the last one. Only an emergency token can still try.
    helper = srv.register(f"helper-{uuid.uuid4().hex[:6]}@example.com")["email"]
    for method, path, body in (("PUT", f"/users/{admin_id}/role", {"role": "admin"}),
                               ("PATCH", f"/users/{admin_id}", {"is_superuser": False}),
                               ("PATCH", f"/users/{admin_id}", {"is_active": False}),
                               ("DELETE", f"/users/{admin_id}", None)):
        tok = emergency_token(srv, helper)["access_token"]
        r = srv.request(method, path, body=body, token=tok)
        assert r.status == 409 and r.json["code"] == "LAST_SUPER_ADMIN", (method, body, r)
    me = srv.get("/users/me", token=root).json
    assert me["role"] == "super_admin" and me["is_active"] is True
    # A second super_admin again: then the first may be demoted by it.
    assert srv.put(f"/users/{test_id}/role", {"role": "super_admin"}, token=root).status == 200
    other = srv.login("test@example.com", "testpassword123")
    assert srv.put(f"/users/{admin_id}/role", {"role": "admin"}, token=other).status == 200
    assert srv.put(f"/users/{admin_id}/role", {"role": "super_admin"}, token=other).status == 200


def test_user_list_usage_and_pages_past_the_end(srv, root):
    # GET /users reads every listed user's counters with the page, in one query: each user
    # is listed once, with their own month's and day's counts. Every list carries the count
    # of all with its page, and says it too on a page past the end (which has no row).
    tag = uuid.uuid4().hex[:6]
    made = {}
    for k in (1, 2, 3):
        reg = srv.register(f"lu{k}-{tag}@example.com")
        tok = reg["access_token"]
        for _ in range(k):
            assert srv.post("/test/chat", {}, token=tok).status == 200
        assert srv.post("/test/consume", {"feature": "mcqs_per_day"}, token=tok).status == 200
        made[reg["user_id"]] = (k, tok)
    page = srv.get(f"/users?email=-{tag}@&limit=500", token=root).json
    assert page["total"] == 3 and len(page["items"]) == 3, page
    assert {u["id"] for u in page["items"]} == set(made)
    for u in page["items"]:
        k, tok = made[u["id"]]
        assert u["usage"]["monthly"]["messages"] == k, u
        assert u["usage"]["daily"]["daily_requests"] == k, u
        assert u["usage"]["daily"]["mcqs_per_day"] == 1, u
        own = srv.get("/billing/usage", token=tok).json
        assert own["usage"]["messages"]["used"] == k, own
    second = srv.get(f"/users?email=-{tag}@&limit=2&offset=2", token=root).json
    assert second["total"] == 3 and len(second["items"]) == 1
    assert second["items"][0]["usage"]["monthly"]["messages"] == made[
        second["items"][0]["id"]][0]
    past = srv.get(f"/users?email=-{tag}@&limit=2&offset=7", token=root).json
    assert past["total"] == 3 and past["items"] == [], past
    # the other lists: the total of the first page, again past the end
    k, tok = made[page["items"][0]["id"]]
    assert srv.post("/chat/message", {"message": "past the end"}, token=tok).status == 200
    for path, key, who in (("/chat/history", "conversations", tok),
                           ("/billing/history", "items", tok),
                           ("/admin/audit-log", "items", root),
                           ("/admin/organizations", "items", root)):
        first = srv.get(f"{path}?limit=1", token=who)
        assert first.status == 200, (path, first)
        last = srv.get(f"{path}?limit=1&offset=100000", token=who)
        assert last.status == 200 and last.json[key] == [], (path, last)
        assert last.json["total"] == first.json["total"], (path, first.json, last.json)
        if path == "/chat/history":
            assert first.json["total"] == 2, first.json
        if path == "/billing/history":
            assert first.json["total"] >= 1, first.json
