"""The embeddable widget: sessions from publishable keys bound to origins (and secret keys
from servers), answers from the organization's own documents only (streamed or not),
conversation, feedback, hand-off, CORS, rate limits, expiry on the test clock, and widget
credentials refused on every route that is not a widget route."""
import uuid

import pytest

from kb_helpers import parse_sse
from support_helpers import ACME_DOC, GLOBEX_DOC, make_org, support_server

A_ORIGIN = "http://127.0.0.1:8101"
B_ORIGIN = "http://127.0.0.1:8102"


@pytest.fixture(scope="module")
def env():
    # One client address starts every session here: the per-address allowance is raised (the
    # per-organization one is tested below).
    s = support_server(WIDGET_SESSIONS_PER_IP_PER_MINUTE="1000", RATE_LIMIT_WIDGET="1000/60")
    a = make_org(s, "Acme", ACME_DOC, A_ORIGIN)
    b = make_org(s, "Globex", GLOBEX_DOC, B_ORIGIN)
    yield s, a, b
    s.stop()


def start(s, key, origin):
    h = {"Origin": origin} if origin else {}
    return s.post("/widget/session", {"key": key}, headers=h)


def session(s, org):
    r = start(s, org.key, org.origin)
    assert r.status == 201, r
    return r.json["session_token"]


def hdr(tok, origin):
    h = {"Authorization": "Bearer " + tok}
    if origin:
        h["Origin"] = origin
    return h


def ask(s, tok, origin, q, stream=False):
    return s.post("/widget/message", {"message": q, "stream": stream}, headers=hdr(tok, origin))


def test_session_from_allowed_origin(env):
    s, a, _ = env
    r = start(s, a.key, a.origin)
    assert r.status == 201, r
    j = r.json
    assert j["session_token"].startswith("wst_")
    assert 890 <= j["expires_in"] <= 900
    assert uuid.UUID(j["conversation_id"])
    assert j["theme"]["organization_name"] == "Acme"
    assert j["theme"]["position"] == "bottom-right"
    assert "sessions_per_minute" not in j["theme"]
    assert r.header("Access-Control-Allow-Origin") == a.origin
    assert r.header("Access-Control-Allow-Credentials") is None


def test_answers_come_from_own_documents_only(env):
    s, a, b = env
    ta, tb = session(s, a), session(s, b)
    r = ask(s, ta, a.origin, "What warranty does the Zephyr blender have?")
    assert r.status == 200, r
    assert "seven year" in r.json["answer"]
    assert [x["document_id"] for x in r.json["sources"]] == [a.doc_id]
    assert r.header("Access-Control-Allow-Origin") == a.origin
    # Acme's widget asked about Globex's product: nothing of Globex's comes back.
    r = ask(s, ta, a.origin, "How long is the Quantum toaster warranty? Globex refunds?")
    assert r.status == 200, r
    assert "Quantum" not in r.json["answer"] and "Globex" not in r.json["answer"]
    assert all(x["document_id"] != b.doc_id for x in r.json["sources"])
    r = ask(s, tb, b.origin, "How long is the Quantum toaster warranty?")
    assert r.status == 200, r
    assert "two year" in r.json["answer"]
    assert [x["document_id"] for x in r.json["sources"]] == [b.doc_id]
    assert "Zephyr" not in r.json["answer"]


def test_streamed_answer_with_sources(env):
    s, a, _ = env
    tok = session(s, a)
    r = ask(s, tok, a.origin, "How do I reset the blender?", stream=True)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/event-stream")
    assert r.header("Access-Control-Allow-Origin") == a.origin
    events = parse_sse(r.body)
    assert events[-1] == "[DONE]"
    tokens = [e for e in events[:-1] if e["type"] == "token"]
    done = [e for e in events[:-1] if e["type"] == "done"]
    assert tokens and len(done) == 1
    assert "".join(t["content"] for t in tokens) == done[0]["answer"]
    assert "pulse button" in done[0]["answer"]
    assert done[0]["sources"][0]["document_id"] == a.doc_id


def test_conversation_feedback_and_handoff(env):
    s, a, _ = env
    tok = session(s, a)
    h = hdr(tok, a.origin)
    r = ask(s, tok, a.origin, "When do orders ship?")
    assert r.status == 200, r
    mid = r.json["message_id"]
    r = s.post("/widget/feedback", {"message_id": mid, "helpful": True}, headers=h)
    assert r.status == 200 and r.json["feedback"] == "helpful", r
    r = s.post("/widget/feedback", {"message_id": r.json["message_id"], "helpful": False},
               headers=h)
    assert r.status == 200 and r.json["feedback"] == "not_helpful", r
    # The visitor's own message is not an answer; an unknown id is 404.
    vid = s.get("/widget/conversation", headers=h).json["messages"][0]["id"]
    assert s.post("/widget/feedback", {"message_id": vid, "helpful": True},
                  headers=h).status == 404
    assert s.post("/widget/feedback", {"message_id": str(uuid.uuid4()), "helpful": True},
                  headers=h).status == 404
    r = s.post("/widget/handoff", {"email": "bad"}, headers=h)
    assert r.status == 422, r
    r = s.post("/widget/handoff", {"email": "carol@customer.test", "message": "refund please"},
               headers=h)
    assert r.status == 200, r
    assert r.json["conversation_status"] == "handoff_requested"
    assert r.json["contact_email"] == "carol@customer.test"
    c = s.get("/widget/conversation", headers=h)
    assert c.status == 200, c
    assert c.json["status"] == "handoff_requested"
    roles = [m["role"] for m in c.json["messages"]]
    assert roles == ["visitor", "assistant", "system"]
    assert c.json["messages"][1]["feedback"] == "not_helpful"
    assert c.json["messages"][1]["sources"][0]["document_id"] == a.doc_id
    assert "refund please" in c.json["messages"][2]["body"]


def test_a_session_reaches_only_its_own_conversation(env):
    s, a, b = env
    t1, t2, tb = session(s, a), session(s, a), session(s, b)
    r = ask(s, t1, a.origin, "When do orders ship?")
    assert r.status == 200, r
    mid = r.json["message_id"]
    # Another visitor of the same organization, and another organization's visitor.
    for tok, origin in ((t2, a.origin), (tb, b.origin)):
        h = hdr(tok, origin)
        r = s.post("/widget/feedback", {"message_id": mid, "helpful": False}, headers=h)
        assert r.status == 404, r
        msgs = s.get("/widget/conversation", headers=h).json["messages"]
        assert all(m["id"] != mid for m in msgs) and msgs == []
    c = s.get("/widget/conversation", headers=hdr(t1, a.origin)).json
    assert [m["role"] for m in c["messages"]] == ["visitor", "assistant"]
    assert c["messages"][1]["feedback"] is None


def test_agent_reply_is_in_the_conversation(env):
    """Agents' replies (written by the ticket routes later) are part of the conversation the
    widget reads: the table is shared."""
    s, a, _ = env
    tok = session(s, a)
    h = hdr(tok, a.origin)
    conv = s.get("/widget/conversation", headers=h).json["conversation_id"]
    with s.db() as db:
        db.execute("INSERT INTO widget_messages (id, conversation_id, org_id, role, body,"
                   " author_id, created_at, seq) VALUES (?, ?, ?, 'agent', ?, ?, ?, 5)",
                   (str(uuid.uuid4()), conv, a.id, "Hello, this is Dana from Acme.",
                    a.people["agent"][0], "2026-01-01T00:00:00.000Z"))
        db.execute("INSERT INTO widget_messages (id, conversation_id, org_id, role, body,"
                   " internal, created_at, seq) VALUES (?, ?, ?, 'agent', ?, 1, ?, 6)",
                   (str(uuid.uuid4()), conv, a.id, "internal note", "2026-01-01T00:00:00.000Z"))
        if hasattr(db, "commit"):
            db.commit()
    msgs = s.get("/widget/conversation", headers=h).json["messages"]
    assert [m["body"] for m in msgs if m["role"] == "agent"] == ["Hello, this is Dana from Acme."]


def test_keys_and_origins_are_enforced(env):
    s, a, b = env
    r = start(s, b.key, a.origin)  # the other organization's key on this site
    assert r.status == 403 and r.json["code"] == "ORIGIN_NOT_ALLOWED", r
    assert r.header("Access-Control-Allow-Origin") is None
    r = start(s, a.key, "http://evil.test")
    assert r.status == 403 and r.json["code"] == "ORIGIN_NOT_ALLOWED", r
    r = start(s, a.key, None)
    assert r.status == 403 and r.json["code"] == "ORIGIN_REQUIRED", r
    r = start(s, "pk_" + "x" * 32, a.origin)
    assert r.status == 401 and r.json["code"] == "INVALID_WIDGET_KEY", r
    r = start(s, "rgd_" + "x" * 32, a.origin)
    assert r.status == 401 and r.json["code"] == "INVALID_WIDGET_KEY", r


def test_foreign_and_bogus_session_tokens_are_refused(env):
    s, a, b = env
    ta = session(s, a)
    # Acme's session used from Globex's site.
    r = ask(s, ta, b.origin, "warranty?")
    assert r.status == 403 and r.json["code"] == "ORIGIN_MISMATCH", r
    assert r.header("Access-Control-Allow-Origin") is None
    r = s.get("/widget/conversation", headers=hdr(ta, None))
    assert r.status == 403 and r.json["code"] == "ORIGIN_MISMATCH", r
    r = s.get("/widget/conversation", headers=hdr("wst_" + "A" * 32, a.origin))
    assert r.status == 401 and r.json["code"] == "INVALID_WIDGET_SESSION", r
    for bogus in ("garbage", ""):
        r = s.get("/widget/conversation", headers=hdr(bogus, a.origin) if bogus else {})
        assert r.status == 400 and r.json["code"] == "WIDGET_SESSION_REQUIRED", (bogus, r)
    # A user's access token is not a widget session.
    r = s.get("/widget/conversation", headers=hdr(a.people["owner"][1], a.origin))
    assert r.status == 400 and r.json["code"] == "WIDGET_SESSION_REQUIRED", r
    r = s.post("/widget/handoff", {}, headers={"Origin": a.origin})
    assert r.status == 400 and r.json["code"] == "WIDGET_SESSION_REQUIRED", r


def test_secret_keys_are_for_servers(env):
    s, a, _ = env
    owner = a.people["owner"][1]
    r = s.post(f"/organizations/{a.id}/widget-keys", {"kind": "secret", "name": "backend"},
               token=owner)
    assert r.status == 201 and r.json["key"].startswith("sk_"), r
    sk = r.json["key"]
    r = start(s, sk, a.origin)
    assert r.status == 403 and r.json["code"] == "SECRET_KEY_FROM_BROWSER", r
    r = start(s, sk, None)
    assert r.status == 201, r
    tok = r.json["session_token"]
    r = ask(s, tok, None, "What warranty does the Zephyr blender have?")
    assert r.status == 200 and "seven year" in r.json["answer"], r
    r = ask(s, tok, a.origin, "warranty?")
    assert r.status == 403 and r.json["code"] == "ORIGIN_MISMATCH", r
    kid = None
    for k in s.get(f"/organizations/{a.id}/widget-keys", token=owner).json["keys"]:
        if k["kind"] == "secret" and k["active"]:
            kid = k["id"]
    r2 = s.delete(f"/organizations/{a.id}/widget-keys/{kid}", token=owner)
    assert r2.status == 200, r2


def test_revoked_and_rotated_keys_end_sessions(env):
    s, a, _ = env
    owner = a.people["owner"][1]
    r = s.post(f"/organizations/{a.id}/widget-keys", {"allowed_origins": [a.origin]}, token=owner)
    assert r.status == 201, r
    key, kid = r.json["key"], r.json["id"]
    tok = session(s, type("O", (), {"key": key, "origin": a.origin}))
    r = s.post(f"/organizations/{a.id}/widget-keys/{kid}/rotate", token=owner)
    assert r.status == 201, r
    new_key, new_id = r.json["key"], r.json["id"]
    assert new_key != key and r.json["replaces"] == kid
    assert start(s, key, a.origin).status == 401
    r = s.get("/widget/conversation", headers=hdr(tok, a.origin))
    assert r.status == 401 and r.json["code"] == "INVALID_WIDGET_SESSION", r
    assert start(s, new_key, a.origin).status == 201
    keys = {k["id"]: k for k in s.get(f"/organizations/{a.id}/widget-keys", token=owner).json["keys"]}
    assert keys[kid]["active"] is False and keys[new_id]["active"] is True
    assert keys[new_id]["allowed_origins"] == [a.origin]
    assert "key" not in keys[new_id] and all("hash" not in f for f in keys[new_id])
    r = s.delete(f"/organizations/{a.id}/widget-keys/{new_id}", token=owner)
    assert r.status == 200, r
    assert start(s, new_key, a.origin).status == 401
    assert s.delete(f"/organizations/{a.id}/widget-keys/{new_id}", token=owner).status == 404


def test_keys_are_stored_hashed(env):
    s, a, _ = env
    with s.db() as db:
        rows = db.execute("SELECT key_hash, prefix FROM widget_keys").fetchall()
        toks = db.execute("SELECT token_hash FROM widget_sessions").fetchall()
    assert rows and all(len(h) == 64 and a.key not in h for h, _ in rows)
    assert any(a.key.startswith(p) for _, p in rows)
    assert toks and all(len(t[0]) == 64 and not t[0].startswith("wst_") for t in toks)


def test_widget_credentials_refused_on_every_other_route(env):
    s, a, _ = env
    tok = session(s, a)
    doc = s.get("/openapi.json").json
    checked = []
    for path, item in doc["paths"].items():
        if path.startswith("/widget/"):
            continue
        concrete = path
        for seg in [x for x in path.split("/") if x.startswith("{")]:
            concrete = concrete.replace(seg, str(uuid.uuid4()))
        for method in item:
            for cred in (tok, a.key):
                r = s.request(method.upper(), concrete, body={},
                              headers={"Authorization": "Bearer " + cred, "Origin": a.origin})
                if not (r.status == 403 and (r.json or {}).get("code") == "WIDGET_TOKEN_NOT_ALLOWED"):
                    checked.append((method, path, r.status, r.body[:120]))
            r = s.request(method.upper(), concrete, body={}, headers={"X-API-Key": tok})
            if r.status != 403:
                checked.append((method, path, "x-api-key", r.status))
    assert checked == []
    assert len(doc["paths"]) > 40


def test_cors_preflight_only_for_key_origins(env):
    s, a, _ = env
    pre = {"Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization, content-type"}
    r = s.request("OPTIONS", "/widget/message", headers={"Origin": a.origin, **pre})
    assert r.status == 204, r
    assert r.header("Access-Control-Allow-Origin") == a.origin
    assert "authorization" in r.header("Access-Control-Allow-Headers").lower()
    r = s.request("OPTIONS", "/widget/message", headers={"Origin": "http://evil.test", **pre})
    assert r.header("Access-Control-Allow-Origin") is None
    # A key's origin does not open the rest of the API.
    r = s.request("OPTIONS", "/users/me", headers={"Origin": a.origin, **pre})
    assert r.header("Access-Control-Allow-Origin") is None


def test_session_rate_per_organization(env):
    s, _, b = env
    owner = b.people["owner"][1]
    r = s.patch(f"/organizations/{b.id}", {"settings": {"widget": {"sessions_per_minute": 2}}},
                token=owner)
    assert r.status == 200, r
    assert r.json["settings"]["widget"]["sessions_per_minute"] == 2
    assert r.json["settings"]["widget"]["title"] == "Support"  # merged, not replaced
    codes = [start(s, b.key, b.origin).status for _ in range(4)]
    assert codes.count(429) >= 2, codes
    r = start(s, b.key, b.origin)
    assert r.status == 429 and r.json["code"] == "WIDGET_RATE_LIMITED", r
    assert int(r.header("Retry-After")) >= 1
    r = s.patch(f"/organizations/{b.id}", {"settings": {"widget": {"sessions_per_minute": 10**6}}},
                token=owner)
    assert r.status == 422 and r.json["field"] == "settings.widget.sessions_per_minute", r


def test_theme_follows_settings_and_feature_switch(env):
    s, a, _ = env
    owner = a.people["owner"][1]
    r = s.patch(f"/organizations/{a.id}", {"settings": {"widget": {
        "title": "Acme help", "primary_color": "#112233", "position": "bottom-left",
        "greeting": "Hello from Acme"}}}, token=owner)
    assert r.status == 200, r
    t = start(s, a.key, a.origin).json["theme"]
    assert (t["title"], t["primary_color"], t["position"], t["greeting"]) == (
        "Acme help", "#112233", "bottom-left", "Hello from Acme")
    for bad in ({"primary_color": "red; background:url(x)"}, {"position": "top"},
                {"title": "x" * 61}, {"script": "alert(1)"}):
        r = s.patch(f"/organizations/{a.id}", {"settings": {"widget": bad}}, token=owner)
        assert r.status == 422, (bad, r)
    r = s.patch(f"/organizations/{a.id}", {"settings": {"features_enabled": ["chat", "search"]}},
                token=owner)
    assert r.status == 200, r
    r = start(s, a.key, a.origin)
    assert r.status == 403 and r.json["code"] == "WIDGET_DISABLED", r
    r = s.patch(f"/organizations/{a.id}", {"settings": {
        "features_enabled": ["chat", "search", "widget"]}}, token=owner)
    assert r.status == 200, r
    assert start(s, a.key, a.origin).status == 201


def test_widget_js_is_served(env):
    s, _, _ = env
    r = s.get("/widget.js")
    assert r.status == 200, r
    assert "javascript" in r.header("Content-Type")
    assert "attachShadow" in r.body and "data-key" in r.body
    assert "innerHTML" not in r.body and "insertAdjacentHTML" not in r.body
    assert r.header("Cross-Origin-Resource-Policy") == "cross-origin"


def test_session_expires_and_renews_on_the_test_clock(env):
    s, a, _ = env
    admin = s.login("admin@example.com", "adminpassword123")
    tok = session(s, a)
    h = hdr(tok, a.origin)
    try:
        assert s.post("/admin/test/clock", {"offset_ms": 10 * 60000}, token=admin).status == 200
        r = s.get("/widget/conversation", headers=h)  # active: renewed to +15 min from now
        assert r.status == 200, r
        assert s.post("/admin/test/clock", {"offset_ms": 20 * 60000}, token=admin).status == 200
        assert s.get("/widget/conversation", headers=h).status == 200
        assert s.post("/admin/test/clock", {"offset_ms": 36 * 60000}, token=admin).status == 200
        r = s.get("/widget/conversation", headers=h)
        assert r.status == 401 and r.json["code"] == "WIDGET_SESSION_EXPIRED", r
        r = ask(s, tok, a.origin, "warranty?")
        assert r.status == 401 and r.json["code"] == "WIDGET_SESSION_EXPIRED", r
    finally:
        admin = s.login("admin@example.com", "adminpassword123")
        assert s.post("/admin/test/clock", {"offset_ms": 0}, token=admin).status == 200
