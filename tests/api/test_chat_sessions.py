"""Chat sessions renamed by their owner (PATCH /chat/sessions/{id}), and answers that keep
every source they cite: more_sources beyond the top 3, and the sources stored with the answer
and returned by /chat/history."""
import uuid

import pytest

from kb_helpers import enterprise_user, private_server, upload_ready


@pytest.fixture(scope="module")
def chat():
    s = private_server()
    tok = enterprise_user(s, "sessions@example.com")
    for i, colour in enumerate(("green", "purple", "red", "blue", "white")):
        upload_ready(s, tok, f"# Aurora note {i}\n\nThe aurora glows {colour} when charged solar "
                             f"particles strike the upper atmosphere over the polar ovals.",
                     title=f"Aurora note {i}")
    yield s, tok
    assert s.stop() == 0


def ask(s, tok, message, **kw):
    r = s.post("/chat/message", {"message": message, **kw}, token=tok)
    assert r.status == 200, r
    return r.json


def test_rename_a_session(chat):
    s, tok = chat
    sid = ask(s, tok, "Why does the aurora glow?")["session_id"]
    r = s.patch(f"/chat/sessions/{sid}", {"title": "  Aurora colours  "}, token=tok)
    assert r.status == 200 and r.json == {"session_id": sid, "title": "Aurora colours"}
    titles = {x["session_id"]: x["title"] for x in s.get("/chat/sessions", token=tok).json["sessions"]}
    assert titles[sid] == "Aurora colours"
    for bad in ({"title": ""}, {"title": "   "}, {"title": "a\nb"}, {"title": "x" * 201}, {}):
        r = s.patch(f"/chat/sessions/{sid}", bad, token=tok)
        assert r.status == 422 and r.json["code"] == "VALIDATION_ERROR", (bad, r)
    assert {x["session_id"]: x["title"] for x in
            s.get("/chat/sessions", token=tok).json["sessions"]}[sid] == "Aurora colours"
    # Someone else's session, an unknown one and a malformed id are all "not found".
    other = s.register(f"other-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    for target, t in ((sid, other), (str(uuid.uuid4()), tok), ("not-a-uuid", tok)):
        r = s.patch(f"/chat/sessions/{target}", {"title": "mine now"}, token=t)
        assert r.status == 404 and r.json["code"] == "SESSION_NOT_FOUND", r
    assert s.patch(f"/chat/sessions/{sid}", {"title": "x"}).status == 401


def test_sources_beyond_the_top_three_and_in_history(chat):
    s, tok = chat
    r = ask(s, tok, "What colour does the aurora glow over the polar ovals?", top_k=5)
    assert len(r["sources"]) <= 3
    every = r["sources"] + r["more_sources"]
    assert len(r["sources"]) == 3 and len(r["more_sources"]) >= 1, r
    assert len({(x["document_id"], x["chunk_id"]) for x in every}) == len(every)
    for x in r["more_sources"]:
        assert set(x) == set(r["sources"][0]) and x["title"].startswith("Aurora note")
    h = s.get(f"/chat/history?session_id={r['session_id']}", token=tok).json["conversations"]
    answer = next(m for m in h if m["message_id"] == r["message_id"])
    assert answer["sources"] == every
    assert "sources" not in answer["metadata"]
    question = next(m for m in h if m["actor"] == "user")
    assert question["sources"] == []
