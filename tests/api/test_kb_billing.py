"""Billing joined to the knowledge base and chat: the message quota on the real POST
/chat/message (message 11, 200 in parallel), usage records with extra_data, streamed answers
committed with their tokens or released when the client leaves, slash-command daily counters,
storage_mb / background_tasks / pdf_uploads on uploads, and api_calls on the search routes.
Refused requests consume nothing."""
import json
import socket
import struct
import time
import uuid

import pytest

from billing_helpers import new_user, parallel
from kb_helpers import make_pdf, parse_sse, private_server, upload, upload_file, wait_doc
from upstreams import Upstream

# These tests are about quotas, not rate limits.
ROOMY = {"RATE_LIMIT_CHAT": "100000/60", "RATE_LIMIT_SEARCH": "100000/60",
         "RATE_LIMIT_API": "100000/60", "RATE_LIMIT_BILLING": "100000/60"}
# Small free-plan limits where the defaults would need huge uploads or many requests; a limit
# on a command seed 003 leaves unlimited, set the way an operator would.
PLANS = {"free": {"limits": {"storage_mb": 3, "api_calls": 4},
                  "daily_limits": {"highyield_per_day": 1}}}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    path = tmp_path_factory.mktemp("plans") / "plans.json"
    path.write_text(json.dumps(PLANS))
    s = private_server(PLANS_FILE=str(path), **ROOMY)
    yield s
    assert s.stop() == 0


def fresh(server, plan="free"):
    return new_user(server, f"kb-{uuid.uuid4().hex[:10]}@example.com", plan)


def usage(server, tok):
    r = server.get("/billing/usage", token=tok)
    assert r.status == 200, r
    return r.json


def daily(u, name):
    return u["daily"]["counters"].get(name, {"used": 0})["used"]


def records(server, user_id, resource):
    with server.db() as db:
        rows = db.execute("SELECT quantity, extra_data FROM usage_records WHERE user_id = ?"
                          " AND resource_type = ? ORDER BY created_at", (user_id, resource))
        return [(q, json.loads(x)) for q, x in rows.fetchall()]


def holds(server, user_id):
    with server.db() as db:
        return db.execute("SELECT count(*) FROM quota_holds WHERE user_id = ?",
                          (user_id,)).fetchone()[0]


def chat(server, tok, message, **kw):
    r = server.post("/chat/message", {"message": message, **kw}, token=tok)
    assert r.status == 200, r
    return r.json


def assert_quota_exceeded(r, resource, used, limit):
    assert r.status == 429, r
    assert r.json["code"] == "QUOTA_EXCEEDED" and r.json["request_id"]
    d = r.json["detail"]
    assert d["error"] == "Quota exceeded" and d["resource"] == resource
    assert d["current_usage"] == used and d["limit"] == limit
    assert d["upgrade_to"] == "pro" and d["upgrade_url"] == "/billing/plans"
    assert int(r.header("Retry-After")) >= 1


# ---- chat: messages ----

def test_free_user_gets_429_on_message_11_of_real_chat(srv):
    _, tok = fresh(srv)
    sid, tokens = None, 0
    for i in range(10):
        body = {"session_id": sid} if sid else {}
        r = chat(srv, tok, f"question number {i} about anything", **body)
        sid = r["session_id"]
        tokens += r["tokens_used"]
        assert r["subscription_plan"] == "free"
        ui = r["usage_info"]
        assert ui["messages_used"] == i + 1 and ui["messages_limit"] == 10
        assert ui["messages_remaining"] == 9 - i and ui["limits_bypassed"] is False
        assert ui["period_start"].endswith("01T00:00:00.000Z")
    r = srv.post("/chat/message", {"message": "the eleventh", "session_id": sid}, token=tok)
    assert_quota_exceeded(r, "messages", 10, 10)
    # The refused message was not answered, stored or counted.
    assert srv.get(f"/chat/history?session_id={sid}", token=tok).json["total"] == 20
    u = usage(srv, tok)
    assert u["messages_this_month"] == 10 and u["quota_remaining"] == 0
    assert daily(u, "daily_requests") == 10
    assert daily(u, "daily_tokens") == tokens > 0


def test_usage_records_carry_chat_extra_data(srv):
    uid, tok = fresh(srv)
    doc = upload(srv, tok, "The Kestrel pump moves forty litres of coolant per minute.",
                 title="Kestrel pump")
    wait_doc(srv, tok, doc["id"])
    a = chat(srv, tok, "How much coolant does the Kestrel pump move?")
    assert a["context_used"] is True
    b = chat(srv, tok, "And without retrieval?", enable_rag=False, session_id=a["session_id"])
    recs = records(srv, uid, "messages")
    assert len(recs) == 2 and all(q == 1 for q, _ in recs)
    for resp, (_, x), rag in ((a, recs[0], True), (b, recs[1], False)):
        assert x["session_id"] == resp["session_id"] and x["message_id"] == resp["message_id"]
        assert x["tokens_used"] == resp["tokens_used"] > 0
        assert isinstance(x["processing_time_ms"], int) and x["processing_time_ms"] >= 0
        assert x["rag_enabled"] is rag
    assert holds(srv, uid) == 0


def test_200_parallel_chat_messages_with_3_left_exactly_3_succeed(srv):
    import http.client

    uid, tok = fresh(srv)
    for i in range(7):
        chat(srv, tok, f"warm up {i}", enable_rag=False)

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        c.request("POST", "/chat/message",
                  body=json.dumps({"message": f"parallel {i}", "enable_rag": False}),
                  headers={"Authorization": f"Bearer {tok}",
                           "Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read() or b"null")
        c.close()
        return r.status, body

    res = parallel(200, one)
    assert not [x for x in res if isinstance(x, Exception)], res
    ok = [b for st, b in res if st == 200]
    refused = [b for st, b in res if st != 200]
    assert len(ok) == 3
    assert all(b["code"] == "QUOTA_EXCEEDED" for b in refused), refused[:3]
    assert sorted(b["usage_info"]["messages_used"] for b in ok)[-1] == 10
    u = usage(srv, tok)
    assert u["messages_this_month"] == 10 and u["quota_remaining"] == 0
    assert len(records(srv, uid, "messages")) == 10
    assert holds(srv, uid) == 0
    assert srv.get("/chat/history", token=tok).json["total"] == 20


# ---- chat: streaming ----

def stream_chat(server, tok, body):
    import http.client

    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    c.request("POST", "/chat/message", body=json.dumps({**body, "stream": True}),
              headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200
    events = parse_sse(r.read().decode())
    c.close()
    return events


def test_streamed_answer_is_committed_with_its_tokens(srv):
    uid, tok = fresh(srv)
    doc = upload(srv, tok, "Basalt forms when lava cools quickly at the surface.", title="Rocks")
    wait_doc(srv, tok, doc["id"])
    events = stream_chat(srv, tok, {"message": "How does basalt form?"})
    assert events[-1] == "[DONE]"
    done = [e for e in events[:-1] if e["type"] == "done"]
    assert len(done) == 1
    final = done[0]
    assert final["tokens_used"] > 0 and final["usage_info"]["messages_used"] == 1
    assert final["subscription_plan"] == "free"
    u = usage(srv, tok)
    assert u["messages_this_month"] == 1
    assert daily(u, "daily_tokens") == final["tokens_used"]
    (q, x), = records(srv, uid, "messages")
    assert x["tokens_used"] == final["tokens_used"] and x["message_id"] == final["message_id"]
    assert x["session_id"] == final["session_id"] and x["rag_enabled"] is True
    assert holds(srv, uid) == 0


@pytest.fixture(scope="module")
def slow():
    """A server whose generator is a slow OpenAI-compatible upstream, and a tight search
    rate limit."""
    up = Upstream(answer=" ".join(f"word{i}" for i in range(60)) + " [1].", delay=0.1)
    s = private_server(OPENAI_API_BASE=up.base, OPENAI_API_KEY="sk-test", OPENAI_MODEL="m",
                       **{**ROOMY, "RATE_LIMIT_SEARCH": "2/60"})
    yield s, up
    assert s.stop() == 0
    up.close()


def test_stream_released_when_the_client_goes_away(slow):
    s, up = slow
    uid, tok = fresh(s)
    body = json.dumps({"message": "Tell me a long story", "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=30)
    sock.sendall(b"POST /chat/message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + tok.encode() +
                 b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    got = b""
    while b'"type":"token"' not in got:
        chunk = sock.recv(4096)
        assert chunk, got
        got += chunk
    assert got.startswith(b"HTTP/1.1 200")
    # Hang up hard (RST) after the first token.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    q = None
    deadline = time.time() + 20
    while time.time() < deadline:
        q = s.get("/billing/quota/messages", token=tok).json
        if q["reserved"] == 0:
            break
        time.sleep(0.1)
    assert q["reserved"] == 0 and q["current_usage"] == 0, q
    assert usage(s, tok)["messages_this_month"] == 0
    assert records(s, uid, "messages") == [] and holds(s, uid) == 0
    assert s.get("/chat/history", token=tok).json["total"] == 0
    # A stream read to the end on the same server is charged.
    up.delay = 0
    events = stream_chat(s, tok, {"message": "Tell me a short story"})
    final = [e for e in events if isinstance(e, dict) and e["type"] == "done"][0]
    assert final["answer"] == up.answer and final["usage_info"]["messages_used"] == 1
    assert usage(s, tok)["messages_this_month"] == 1


# ---- chat: slash commands ----

def test_slash_commands_take_their_daily_counters(srv):
    uid, tok = fresh(srv)
    for i in range(5):
        assert chat(srv, tok, f"/mcq topic {i}")["command"] == "mcq"
    r = srv.post("/chat/message", {"message": "/mcq one more"}, token=tok)
    assert r.status == 429 and r.json["code"] == "MCQ_LIMIT_EXCEEDED", r
    d = r.json["detail"]
    assert d["feature"] == "mcqs_per_day" and d["limit"] == 5 and d["used"] == 5
    assert d["reset_at"].endswith("T00:00:00.000Z") and d["upgrade_url"] == "/billing/plans"
    assert int(r.header("Retry-After")) >= 1
    assert chat(srv, tok, "/flashcard volcanoes")["command"] == "flashcard"
    assert chat(srv, tok, "/highyield volcanoes")["command"] == "highyield"
    r = srv.post("/chat/message", {"message": "/highyield again"}, token=tok)
    assert r.status == 429 and r.json["code"] == "HIGHYIELD_LIMIT_EXCEEDED", r
    assert r.json["detail"]["feature"] == "highyield_per_day"
    assert chat(srv, tok, "/explain volcanoes")["command"] == "explain"
    assert chat(srv, tok, "/map volcanoes")["command"] == "map"
    u = usage(srv, tok)
    # The two refused commands consumed neither a message nor a daily request.
    assert u["messages_this_month"] == 9 and daily(u, "daily_requests") == 9
    assert daily(u, "mcqs_per_day") == 5 and daily(u, "flashcards_per_day") == 1
    assert daily(u, "highyield_per_day") == 1
    assert daily(u, "explanations_per_day") == 1 and daily(u, "concept_maps_per_day") == 1
    assert u["daily"]["counters"]["explanations_per_day"]["limit"] == -1
    assert [x["command"] for _, x in records(srv, uid, "messages")][:1] == ["mcq"]


# ---- uploads ----

def test_upload_reserves_storage_and_a_background_task(srv):
    uid, tok = fresh(srv)
    # Input that is refused consumes nothing.
    r = upload_file(srv, tok, "junk.bin", bytes(range(256)) * 8)
    assert r.status == 415, r
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 0 and u["background_tasks_this_month"] == 0
    doc = upload(srv, tok, "A small note about gearboxes.")
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 1 and u["background_tasks_this_month"] == 1
    (q, x), = records(srv, uid, "storage_mb")
    assert q == 1 and x["document_id"] == doc["id"] and x["size_bytes"] == doc["size_bytes"]
    (q, x), = records(srv, uid, "background_tasks")
    assert q == 1 and x["document_id"] == doc["id"]
    # Just over one MiB is two.
    big = (b"gearbox oil change interval notes " * (MIB // 34 + 1))[:MIB + 1]
    r = upload_file(srv, tok, "big.txt", big, "text/plain")
    assert r.status == 202, r
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 3 and u["background_tasks_this_month"] == 2
    # The plan's 3 MB are used up: refused, and the background task is not taken either.
    r = srv.post("/documents", {"content": "one more note"}, token=tok)
    assert_quota_exceeded(r, "storage_mb", 3, 3)
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 3 and u["background_tasks_this_month"] == 2
    assert srv.get("/documents", token=tok).json["total"] == 2
    assert holds(srv, uid) == 0


def test_pdf_upload_takes_the_daily_pdf_counter(srv):
    pdf = make_pdf(["Turbine blade inspection schedule.", "Check every 400 hours."])
    uid, tok = fresh(srv)
    r = upload_file(srv, tok, "manual.pdf", pdf, "application/pdf")
    assert r.status == 429 and r.json["code"] == "PDF_UPLOAD_LIMIT_EXCEEDED", r
    d = r.json["detail"]
    assert d["feature"] == "pdf_uploads" and d["limit"] == 0 and d["used"] == 0
    assert d["plan_type"] == "free" and d["reset_at"]
    u = usage(srv, tok)
    assert u["storage_mb_this_month"] == 0 and u["background_tasks_this_month"] == 0
    assert daily(u, "pdf_uploads") == 0 and holds(srv, uid) == 0
    assert srv.get("/documents", token=tok).json["total"] == 0
    # Text is still fine for free users; PDFs are fine for pro users and counted.
    assert upload(srv, tok, "Turbine notes in plain text.")["status"] in ("pending", "processing")
    _, pro = fresh(srv, "pro")
    r = upload_file(srv, pro, "manual.pdf", pdf, "application/pdf")
    assert r.status == 202, r
    assert wait_doc(srv, pro, r.json["id"])["status"] == "ready"
    u = usage(srv, pro)
    assert daily(u, "pdf_uploads") == 1 and u["daily"]["counters"]["pdf_uploads"]["limit"] == 50
    assert u["storage_mb_this_month"] == 1 and u["background_tasks_this_month"] == 1


# ---- search ----

def test_search_routes_consume_api_calls(srv):
    uid, tok = fresh(srv)

    def calls():
        return usage(srv, tok)["api_calls_this_month"]

    assert srv.post("/search/semantic", {"query": "gearbox"}, token=tok).status == 200
    assert calls() == 1
    assert srv.post("/search/hybrid", {"query": "gearbox"}, token=tok).status == 200
    assert calls() == 2
    assert srv.post("/search", {"query": "gearbox"}, token=tok).status == 200
    assert calls() == 3
    # Refused by the body schema, by the handler's checks, or unavailable: nothing consumed.
    assert srv.post("/search", {"query": ""}, token=tok).status == 422
    r = srv.post("/search", {"query": "gearbox", "filters": {"colour": "red"}}, token=tok)
    assert r.status == 422, r
    r = srv.post("/search", {"query": "gearbox", "route": "vector"}, token=tok)
    assert r.status == 503 and r.json["code"] == "VECTOR_SEARCH_UNAVAILABLE", r
    assert calls() == 3
    assert srv.post("/search", {"query": "gearbox"}, token=tok).status == 200
    r = srv.post("/search/semantic", {"query": "gearbox"}, token=tok)
    assert_quota_exceeded(r, "api_calls", 4, 4)
    u = usage(srv, tok)
    assert u["api_calls_this_month"] == 4 and daily(u, "daily_requests") == 4
    assert len(records(srv, uid, "api_calls")) == 4 and holds(srv, uid) == 0


def test_search_refused_by_the_rate_limit_consumes_no_quota(slow):
    s, _ = slow
    _, tok = fresh(s)
    for _ in range(2):
        assert s.post("/search", {"query": "anything"}, token=tok).status == 200
    r = s.post("/search/hybrid", {"query": "anything"}, token=tok)
    assert r.status == 429 and r.json["code"] == "RATE_LIMIT_EXCEEDED", r
    u = usage(s, tok)
    assert u["api_calls_this_month"] == 2 and daily(u, "daily_requests") == 2
