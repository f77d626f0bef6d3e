"""Erasure (issue 12 item 13): deleting a user, a document or an organization removes every
trace of it - rows, chunks, index entries, caches and the bytes of the database file - in
a recorded job that resumes after a crash. The audit log keeps ids only."""
import os
import random
import signal
import string
import time

import pytest

from kb_helpers import search, upload_ready, wait_doc
from ragd_client import PG_URL, REDIS_URL, Server, backend


def word():
    return "zq" + "".join(random.choice(string.ascii_lowercase) for _ in range(12))


def new_server(data=None, seed=True, **env):
    # The session cache stays on: an erased user must be refused although their session was
    # cached as active (users are placed in an organization before their first request).
    base = {"SEED_DEMO_DOCS": "false", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
            "INDEX_SAVE_INTERVAL_SECONDS": "1"}
    base.update(env)
    return Server(env=base, data=data, seed=seed)


def rows(server, sql, params=()):
    db = server.db()
    try:
        return list(db.execute(sql, params).fetchall())
    finally:
        (db.conn if hasattr(db, "conn") else db).close()


def tables(server):
    if backend() == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return [t[0] for t in rows(server, sql)]


def traces(server, needles, skip=()):
    """(table, needle) for every row of every table that holds one of needles."""
    found = []
    for t in tables(server):
        if t in skip:
            continue
        for row in rows(server, f'SELECT * FROM "{t}"'):
            text = " ".join(str(c) for c in row).lower()
            found += [(t, n) for n in needles if n.lower() in text]
    return found


def data_files_holding(server, needle):
    """Files under the data directory whose bytes contain needle (SQLite and the indexes)."""
    out = []
    for root, _, files in os.walk(server.data):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                if needle.encode() in fh.read():
                    out.append(os.path.relpath(p, server.data))
    return out


def admin_org(server):
    return rows(server, "SELECT organization_id FROM users WHERE email = ?",
                ("admin@example.com",))[0][0]


def person(server, email, org=None):
    """A registered user (optionally placed in org) with a document, a chat, an API key."""
    reg = server.register(email, username=email.split("@")[0])
    uid, tok = reg["user_id"], reg["access_token"]
    if org:
        db = server.db()
        db.execute("UPDATE users SET organization_id = ? WHERE id = ?", (org, uid))
        if backend() == "sqlite":
            db.commit()
        (db.conn if hasattr(db, "conn") else db).close()
    w_doc, w_chat = word(), word()
    doc = upload_ready(server, tok, f"Field notes: a {w_doc} specimen was found near the "
                                    f"river bank in spring.", title=f"Notes {w_doc}")
    assert doc["status"] == "ready", doc
    # No word in common with anybody's document: the answer quotes none (answers that
    # quote another user's document stay in the asker's history; see ARCHITECTURE.md).
    r = server.post("/chat/message", {"message": f"Explain {w_chat}"}, token=tok)
    assert r.status == 200, r
    key = server.post("/users/me/api-keys", {"name": "k"}, token=tok)
    assert key.status == 201, key
    return {"id": uid, "email": email, "token": tok, "refresh": reg["refresh_token"],
            "key": key.json["key"], "doc": doc["id"], "w_doc": w_doc, "w_chat": w_chat}


def hits(server, tok, w):
    return [h["document_id"] for h in search(server, tok, w, route="exact")["results"]]


def wait_job_done(server, kind, target, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = rows(server, "SELECT state FROM erasure_jobs WHERE kind = ? AND target_id = ?",
                  (kind, target))
        if st and all(s[0] == "done" for s in st):
            return
        time.sleep(0.1)
    raise AssertionError(f"erasure of {kind} {target} not done: {st}")


def assert_user_gone(server, admin, v):
    # Nothing of theirs is searchable, not even by an admin of their organization.
    assert hits(server, admin, v["w_doc"]) == []
    # Their credentials are refused.
    assert server.get("/auth/me", token=v["token"]).status == 401
    assert server.get("/auth/me", token=v["key"]).status == 401
    assert server.post("/auth/refresh", {"refresh_token": v["refresh"]}).status == 401
    assert server.post("/auth/login", {"email": v["email"], "password": "password123"}
                       ).status == 401
    assert server.get(f"/documents/{v['doc']}", token=admin).status == 404
    # No row anywhere holds their id, e-mail or words; the audit log and the job table
    # keep the id only (and the change log keeps document ids).
    needles = [v["id"], v["email"], v["email"].split("@")[0], v["w_doc"], v["w_chat"]]
    assert traces(server, needles, skip=("audit_log", "erasure_jobs")) == []
    assert traces(server, needles[1:]) == []
    audit = rows(server, "SELECT action FROM audit_log WHERE target_id = ?", (v["id"],))
    assert "user.delete" in [a[0] for a in audit]


def test_user_erasure_leaves_nothing():
    s = new_server()
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        org = admin_org(s)
        v = person(s, f"victim{word()}@example.com", org)
        other = person(s, f"bystander{word()}@example.com", org)
        # The admin shares the victim's organization: the document is visible to them.
        assert hits(s, admin, v["w_doc"]) == [v["doc"]]
        # An admin change to the user leaves their e-mail in the audit log, for now.
        assert s.patch(f"/users/{v['id']}", {"username": v["email"].split("@")[0] + "x"},
                       token=admin).status == 200
        assert s.get("/auth/me", token=v["token"]).status == 200  # cached as active
        assert s.delete(f"/users/{v['id']}", token=admin).status == 204
        assert s.get("/auth/me", token=v["token"]).status == 401
        assert s.delete(f"/users/{v['id']}", token=admin).status == 404
        assert_user_gone(s, admin, v)
        wait_job_done(s, "user", v["id"])
        # The bystander is untouched.
        assert hits(s, admin, other["w_doc"]) == [other["doc"]]
        assert s.get("/auth/me", token=other["token"]).status == 200
        assert s.get("/auth/me", token=other["key"]).status == 200
        assert rows(s, "SELECT count(*) FROM conversation_history WHERE user_id = ?",
                    (other["id"],))[0][0] == 2
        if backend() == "sqlite":
            # The bytes: secure_delete zeroed the rows, the log was checkpointed and
            # truncated, the saved indexes dropped the chunk (saved within a second).
            time.sleep(2.5)
            for w in (v["w_doc"], v["w_chat"], v["email"]):
                assert data_files_holding(s, w) == [], w
            assert data_files_holding(s, other["w_doc"]) != []
    finally:
        assert s.stop() == 0


def test_document_erasure_reaches_the_bytes():
    s = new_server()
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        reg = s.register(f"owner{word()}@example.com")
        w = word()
        doc = upload_ready(s, reg["access_token"], f"The {w} protocol is confidential.")
        assert hits(s, reg["access_token"], w) == [doc["id"]]
        r = s.delete(f"/documents/{doc['id']}", token=reg["access_token"])
        assert r.status == 200 and r.json["status"] == "deleted", r
        assert hits(s, reg["access_token"], w) == []
        wait_job_done(s, "document", doc["id"])
        assert traces(s, [w]) == []
        # Ids stay where they are the record: the job, the change log, and the owner's
        # usage ledger (id, size and type of what was stored and charged).
        assert traces(s, [doc["id"]], skip=("erasure_jobs", "kb_changes", "usage_records")) == []
        if backend() == "sqlite":
            time.sleep(2.5)
            assert data_files_holding(s, w) == []
        assert admin
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("kill_after", [1, 3, 5])
def test_kill_mid_erasure_resumes_after_restart(kill_after):
    s = new_server(RAGD_TEST_MODE="1", ERASURE_TEST_KILL_AFTER_STEP=str(kill_after))
    admin = s.login("admin@example.com", "adminpassword123")
    v = person(s, f"crash{word()}@example.com")
    extra = [upload_ready(s, v["token"], f"More about {v['w_doc']} number {i}.")["id"]
             for i in range(3)]
    assert len(hits(s, v["token"], v["w_doc"])) == 4
    assert s.get("/auth/me", token=v["token"]).status == 200  # the session is cached
    with pytest.raises(OSError):
        s.delete(f"/users/{v['id']}", token=admin, timeout=60)
    assert s.proc.wait(timeout=30) == -signal.SIGKILL
    s.log.close()
    job = rows(s, "SELECT state, step FROM erasure_jobs WHERE target_id = ?", (v["id"],))
    assert job == [("pending", kill_after)]
    if kill_after < 5:
        # Recorded first: the account was made unusable in the same transaction.
        u = rows(s, "SELECT is_active FROM users WHERE id = ?", (v["id"],))
        assert u == [(0,)]
    if kill_after == 1:
        assert rows(s, "SELECT count(*) FROM api_keys WHERE user_id = ? AND revoked_at IS NULL",
                    (v["id"],))[0][0] == 0
    # A restart (the test hook still set: the step it stops after is done) finishes it.
    s2 = new_server(data=s.data, seed=False, RAGD_TEST_MODE="1",
                    ERASURE_TEST_KILL_AFTER_STEP=str(kill_after))
    try:
        wait_job_done(s2, "user", v["id"])
        admin = s2.login("admin@example.com", "adminpassword123")
        assert_user_gone(s2, admin, v)
        for d in extra + [v["doc"]]:
            assert s2.get(f"/documents/{d}", token=admin).status == 404
    finally:
        assert s2.stop() == 0


def test_organization_erasure_from_the_cli():
    s = new_server()
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        org = "0f0f0f0f-1111-4222-8333-" + "".join(random.choice("0123456789abcdef")
                                                   for _ in range(12))
        name = "Org " + word()
        db = s.db()
        db.execute("INSERT INTO organizations (id, name, domain, settings, created_at)"
                   " VALUES (?, ?, ?, '{}', '2026-01-01T00:00:00Z')", (org, name, name + ".test"))
        # A day's analytics summary quotes visitors' questions: it goes with the organization.
        db.execute("INSERT INTO analytics_days (org_id, day, version, built, summary)"
                   " VALUES (?, '2026-01-02', 1, 1, ?)", (org, '{"example": "%s"}' % name))
        if backend() == "sqlite":
            db.commit()
        (db.conn if hasattr(db, "conn") else db).close()
        m = person(s, f"member{word()}@example.com", org)
        outsider = person(s, f"outsider{word()}@example.com")
        assert hits(s, m["token"], m["w_doc"]) == [m["doc"]]
        p = s.cli("erase", "organization", org, "--data", s.data)
        assert '"state":"done"' in p.stdout, p.stdout
        assert s.cli("erase", "organization", org, "--data", s.data, check=False).returncode == 3
        # The running node applies the change log: the document is gone from its index.
        deadline = time.time() + 10
        while hits(s, m["token"], m["w_doc"]) and time.time() < deadline:
            time.sleep(0.1)
        assert hits(s, m["token"], m["w_doc"]) == []
        assert rows(s, "SELECT count(*) FROM organizations WHERE id = ?", (org,))[0][0] == 0
        # Members stay, detached, with their own chats.
        assert rows(s, "SELECT organization_id FROM users WHERE id = ?", (m["id"],)) == [(None,)]
        assert s.get("/auth/me", token=m["token"]).status == 200
        assert traces(s, [org, name, m["w_doc"]], skip=("audit_log", "erasure_jobs")) == []
        assert hits(s, outsider["token"], outsider["w_doc"]) == [outsider["doc"]]
        assert admin
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs PostgreSQL and Redis")
def test_other_node_forgets_the_erased_users_document():
    a = new_server(JWT_SECRET_KEY=None)
    b = new_server(seed=False, data=a.data + "-b", JWT_SECRET_KEY=None,
                   DATABASE_URL=a.env["DATABASE_URL"], REDIS_URL=a.env["REDIS_URL"])
    try:
        admin_a = a.login("admin@example.com", "adminpassword123")
        admin_b = b.login("admin@example.com", "adminpassword123")
        v = person(a, f"twonode{word()}@example.com", admin_org(a))
        deadline = time.time() + 10
        while not hits(b, admin_b, v["w_doc"]) and time.time() < deadline:
            time.sleep(0.1)
        assert hits(b, admin_b, v["w_doc"]) == [v["doc"]]
        assert b.get("/auth/me", token=v["token"]).status == 200
        assert a.delete(f"/users/{v['id']}", token=admin_a).status == 204
        # Node B refuses the user at once (shared cache) and forgets the document.
        assert b.get("/auth/me", token=v["token"]).status == 401
        deadline = time.time() + 10
        while hits(b, admin_b, v["w_doc"]) and time.time() < deadline:
            time.sleep(0.1)
        assert hits(b, admin_b, v["w_doc"]) == []
        assert_user_gone(b, admin_b, v)
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
