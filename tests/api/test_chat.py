"""Chat: RAG answers with sources, streaming (SSE), sessions and history, feedback, slash
commands, and the OpenAI-compatible provider against a real upstream on 127.0.0.1."""
import http.client
import json
import uuid

import pytest

from kb_helpers import enterprise_user, parse_sse, private_server, upload_ready
from upstreams import Upstream

FIELDS = ("session_id", "message_id", "answer", "confidence", "response_type", "context_used",
          "sources", "retrieval_route", "response_time_ms", "tokens_used", "subscription_plan",
          "usage_info", "debug_info")


@pytest.fixture(scope="module")
def chat():
    s = private_server()
    tok = enterprise_user(s, "chatter@example.com")
    upload_ready(s, tok, "# Aurora\n\nThe aurora borealis is caused by charged solar particles "
                         "colliding with gases in the upper atmosphere. Oxygen gives green light "
                         "and nitrogen gives purple light.", title="Aurora guide",
                 category="science", source="aurora.md")
    upload_ready(s, tok, "Volcanoes erupt when magma rises through the crust. Lava cools into "
                         "basalt. Pyroclastic flows are fast and dangerous.",
                 title="Volcano notes", category="science")
    yield s, tok
    s.stop()


def ask(s, tok, message, **kw):
    r = s.post("/chat/message", {"message": message, **kw}, token=tok)
    assert r.status == 200, r
    return r.json


def test_rag_answer_with_sources(chat):
    s, tok = chat
    r = ask(s, tok, "What causes the aurora borealis?", debug_mode=True)
    for k in FIELDS:
        assert k in r, k
    assert r["response_type"] == "rag_enhanced" and r["context_used"] is True
    assert r["confidence"] == 0.9 and r["subscription_plan"] == "enterprise"
    assert "charged solar particles" in r["answer"] and "[1]" in r["answer"]
    assert "Extractive" in r["answer"]
    src = r["sources"][0]
    assert src["title"] == "Aurora guide" and src["source_type"] == "aurora.md"
    assert len(src["excerpt"]) <= 200 and src["relevance_score"] > 0
    assert len(r["sources"]) <= 3
    assert r["retrieval_route"] == "exact" and r["tokens_used"] > 0
    assert r["usage_info"]["messages_used"] >= 1
    dbg = r["debug_info"]
    assert dbg["provider"] == "extractive" and dbg["fallback_applied"] is False
    prompt = dbg["prompt"]
    assert prompt[0]["role"] == "system" and "Answer questions based on" in prompt[0]["content"]
    assert "Relevant Context:" in prompt[-1]["content"]
    assert "[Score: " in prompt[-1]["content"]
    assert "User Question: What causes the aurora borealis?" in prompt[-1]["content"]


def test_without_rag_and_without_matches(chat):
    s, tok = chat
    r = ask(s, tok, "What causes the aurora borealis?", enable_rag=False)
    assert r["response_type"] == "generation_only" and r["sources"] == []
    assert r["confidence"] == 0.7 and r["retrieval_route"] is None
    r = ask(s, tok, "What causes the aurora borealis?", use_rag=False)
    assert r["response_type"] == "generation_only"
    r = ask(s, tok, "zyxwvut qqqq")
    assert r["context_used"] is False and "could not find" in r["answer"]
    r = ask(s, tok, "volcano lava", filters={"category": "nothing"})
    assert r["sources"] == []


def test_sessions_history_and_isolation(chat):
    s, tok = chat
    first = ask(s, tok, "Tell me about volcanoes")
    sid = first["session_id"]
    second = ask(s, tok, "And what about lava?", session_id=sid, debug_mode=True)
    assert second["session_id"] == sid
    # The previous turn is part of the prompt.
    roles = [m["role"] for m in second["debug_info"]["prompt"]]
    assert roles[:3] == ["system", "user", "assistant"]
    h = s.get(f"/chat/history?session_id={sid}", token=tok).json
    assert h["total"] == 4 and len(h["conversations"]) == 4
    newest = h["conversations"][0]
    assert newest["actor"] == "assistant" and newest["message_id"] == second["message_id"]
    for k in ("session_id", "timestamp", "message_id", "user_id", "actor", "message",
              "embedding_used", "tokens_used", "response_time_ms", "model_used", "confidence",
              "feedback_score", "metadata"):
        assert k in newest
    assert newest["model_used"] == "extractive" and newest["metadata"]["retrieval_route"]
    assert h["conversations"][-1]["message"] == "Tell me about volcanoes"
    page = s.get(f"/chat/history?session_id={sid}&limit=1&offset=1", token=tok).json
    assert page["total"] == 4 and page["conversations"][0]["actor"] == "user"
    sess = s.get("/chat/sessions", token=tok).json
    mine = [x for x in sess["sessions"] if x["session_id"] == sid]
    assert mine and mine[0]["message_count"] == 4 and mine[0]["title"] == "Tell me about volcanoes"
    # Another user sees none of it and cannot continue or delete the session.
    other = s.register(f"snoop-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    assert s.get(f"/chat/history?session_id={sid}", token=other).json["total"] == 0
    assert s.get("/chat/history", token=other).json["total"] == 0
    assert s.get("/chat/sessions", token=other).json["total"] == 0
    r = s.post("/chat/message", {"message": "hi", "session_id": sid}, token=other)
    assert r.status == 404 and r.json["code"] == "SESSION_NOT_FOUND"
    assert s.delete(f"/chat/sessions/{sid}", token=other).status == 404
    r = s.post("/chat/feedback", {"message_id": second["message_id"], "score": 1}, token=other)
    assert r.status == 404
    # Other users' documents are not used for their answers.
    r = s.post("/chat/message", {"message": "aurora borealis charged particles"}, token=other)
    assert r.status == 200 and r.json["sources"] == []
    # Feedback and deletion by the owner.
    r = s.post("/chat/feedback", {"message_id": second["message_id"], "score": 5}, token=tok)
    assert r.status == 200
    h = s.get(f"/chat/history?session_id={sid}&limit=1", token=tok).json
    assert h["conversations"][0]["feedback_score"] == 5
    r = s.post("/chat/feedback", {"message_id": h["conversations"][0]["message_id"],
                                  "score": 9}, token=tok)
    assert r.status == 422 and r.json["field"] == "score"
    user_msg = s.get(f"/chat/history?session_id={sid}", token=tok).json["conversations"][1]
    assert user_msg["actor"] == "user"
    r = s.post("/chat/feedback", {"message_id": user_msg["message_id"], "score": 1}, token=tok)
    assert r.status == 404
    r = s.delete(f"/chat/sessions/{sid}", token=tok)
    assert r.status == 200 and r.json["messages_deleted"] == 4
    assert s.get(f"/chat/history?session_id={sid}", token=tok).json["total"] == 0
    an = s.get("/chat/analytics", token=tok).json["usage_analytics"]
    assert any(a["resource_type"] == "messages" and a["count"] >= 2 for a in an)


def test_session_named_by_the_client(chat):
    # A session id the client chose starts a session with its first message; another user
    # cannot write into it, streamed or not (404 before any event), and nothing of theirs is
    # stored in it.
    s, tok = chat
    sid = str(uuid.uuid4())
    first = ask(s, tok, "Tell me about volcanoes", session_id=sid)
    assert first["session_id"] == sid
    second = ask(s, tok, "And lava?", session_id=sid, debug_mode=True)
    assert [m["role"] for m in second["debug_info"]["prompt"]][:3] == ["system", "user",
                                                                       "assistant"]
    other = s.register(f"intruder-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    r = s.post("/chat/message", {"message": "mine now", "session_id": sid}, token=other)
    assert r.status == 404 and r.json["code"] == "SESSION_NOT_FOUND", r
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    conn.request("POST", "/chat/message",
                 body=json.dumps({"message": "mine now", "session_id": sid, "stream": True}),
                 headers={"Authorization": f"Bearer {other}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 404 and json.loads(body)["code"] == "SESSION_NOT_FOUND", body
    h = s.get(f"/chat/history?session_id={sid}", token=tok).json
    owner = second["debug_info"]["user_id"]
    assert h["total"] == 4 and {m["user_id"] for m in h["conversations"]} == {owner}
    mine = [x for x in s.get("/chat/sessions", token=tok).json["sessions"]
            if x["session_id"] == sid]
    assert mine and mine[0]["message_count"] == 4 and mine[0]["title"] == "Tell me about volcanoes"
    assert s.get("/chat/sessions", token=other).json["total"] == 0
    # Their own new id works for them.
    own = str(uuid.uuid4())
    assert ask(s, other, "hello there", session_id=own)["session_id"] == own


def test_validation(chat):
    s, tok = chat
    for body, field in (({}, "message"), ({"message": ""}, "message"),
                        ({"message": "x" * 10001}, "message"),
                        ({"message": "hi", "session_id": "not-a-uuid"}, "session_id"),
                        ({"message": "hi", "top_k": 0}, "top_k"),
                        ({"message": "hi", "route": "teleport"}, "route"),
                        ({"message": "hi", "filters": {"bad": 1}}, "filters"),
                        ({"message": "/quiz volcanoes"}, "message"),
                        ({"message": "/mcq   "}, "message")):
        r = s.post("/chat/message", body, token=tok)
        assert r.status == 422 and r.json["field"] == field, (body, r)
    assert s.post("/chat/message", {"message": "hi"}).status == 401
    assert s.get("/chat/history?session_id=zzz", token=tok).status == 422
    assert s.get("/chat/history?limit=0", token=tok).status == 422


def test_streaming_sse(chat):
    s, tok = chat
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    conn.request("POST", "/chat/message",
                 body=json.dumps({"message": "What colour does oxygen give the aurora?",
                                  "stream": True}),
                 headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Content-Type").startswith("text/event-stream")
    body = resp.read().decode()
    conn.close()
    events = parse_sse(body)
    assert events[-1] == "[DONE]"
    tokens = [e for e in events[:-1] if e["type"] == "token"]
    done = [e for e in events[:-1] if e["type"] == "done"]
    assert len(tokens) > 3 and len(done) == 1
    final = done[0]
    for k in FIELDS:
        assert k in final
    assert "".join(t["content"] for t in tokens) == final["answer"]
    assert "green" in final["answer"] and final["sources"]
    h = s.get(f"/chat/history?session_id={final['session_id']}", token=tok).json
    assert h["total"] == 2


def test_slash_commands(chat):
    s, tok = chat
    r = ask(s, tok, "/mcq aurora oxygen")
    assert r["command"] == "mcq"
    q = r["command_output"]
    assert q["question"] and set(q["options"]) == {"A", "B", "C", "D"}
    assert q["answer"] in q["options"] and q["explanation"]
    assert len(set(q["options"].values())) == 4
    correct = q["options"][q["answer"]]
    assert correct.lower() not in q["question"].lower().replace("_____", "")
    r = ask(s, tok, "/flashcard volcano lava")
    cards = r["command_output"]["flashcards"]
    assert cards and all(c["front"] and c["back"] for c in cards)
    assert "Flashcard 1" in r["answer"]
    r = ask(s, tok, "/highyield aurora")
    assert r["command"] == "highyield" and r["answer"].startswith("- ")
    r = ask(s, tok, "/explain volcano")
    assert r["command"] == "explain" and "magma" in r["answer"]
    r = ask(s, tok, "/map aurora")
    m = r["command_output"]
    assert m["nodes"][0]["type"] == "central" and m["edges"]
    assert all(e["from"] == m["topic"] for e in m["edges"])
    an = s.get("/chat/analytics", token=tok).json["usage_analytics"]
    kinds = {a["resource_type"] for a in an}
    assert {"mcqs_generated", "flashcards_generated", "concept_maps_generated"} <= kinds


def test_openai_compatible_provider():
    up = Upstream(answer="Aurora comes from solar particles hitting the atmosphere [1].")
    s = private_server(OPENAI_API_BASE=up.base, OPENAI_API_KEY="sk-upstream-test",
                       OPENAI_MODEL="tiny-gpt")
    try:
        tok = enterprise_user(s, "oa@example.com")
        upload_ready(s, tok, "The aurora is caused by charged solar particles.",
                     title="Aurora")
        r = ask(s, tok, "What causes the aurora?", debug_mode=True)
        assert r["answer"] == up.answer
        assert r["debug_info"]["provider"] == "openai" and not r["debug_info"]["fallback_applied"]
        assert r["debug_info"]["model_used"] == "upstream-model"
        path, body, auth = [q for q in up.requests if q[0].endswith("/chat/completions")][-1]
        assert auth == "Bearer sk-upstream-test" and body["model"] == "tiny-gpt"
        assert body["stream"] is True and body["max_tokens"] == 512
        assert body["messages"][0]["role"] == "system"
        assert "charged solar particles" in body["messages"][-1]["content"]
        # Streaming passes the upstream's pieces through.
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request("POST", "/chat/message",
                     body=json.dumps({"message": "aurora?", "stream": True,
                                      "session_id": r["session_id"]}),
                     headers={"Authorization": f"Bearer {tok}",
                              "Content-Type": "application/json"})
        events = parse_sse(conn.getresponse().read().decode())
        conn.close()
        toks = [e["content"] for e in events if isinstance(e, dict) and e["type"] == "token"]
        assert "".join(toks) == up.answer and len(toks) > 3
        last = [q for q in up.requests if q[0].endswith("/chat/completions")][-1][1]
        assert [m["role"] for m in last["messages"]][:3] == ["system", "user", "assistant"]
        # A non-streaming upstream works too.
        up.stream = False
        assert ask(s, tok, "aurora again?")["answer"] == up.answer
        # A failing upstream falls back to the extractive provider.
        up.fail = True
        r = ask(s, tok, "What causes the aurora?", debug_mode=True)
        assert r["debug_info"]["fallback_applied"] is True
        assert r["answer_source"] == "extractive"  # labelled whatever debug_mode is
        assert "500" in r["debug_info"]["generation_error"]
        assert "charged solar particles" in r["answer"]
        h = s.get("/health/detailed").json["services"]["models"]
        assert h["generator"]["provider"] == "openai"
    finally:
        s.stop()
        up.close()
