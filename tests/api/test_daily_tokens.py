"""The daily token allowance (daily_tokens) cannot be overspent. A generation holds its prompt
plus its longest answer before it starts, the answer is cut to what the allowance leaves, the
tokens used are committed and the rest released: sequential and parallel chat messages (JSON,
streamed, slash commands) and /v1 completions (JSON and streamed) never take the counter
above the limit, GET /billing/usage and the usage_records ledger agree with the answers'
tokens_used, and a refused request changes nothing."""
import http.client
import json
import os
import shutil
import subprocess
import tempfile
import uuid

import pytest

from billing_helpers import new_user, parallel, private_server
from kb_helpers import parse_sse, upload, wait_doc
from ragd_client import BIN
from upstreams import Upstream

ROOMY = {"RATE_LIMIT_CHAT": "100000/60", "RATE_LIMIT_SEARCH": "100000/60",
         "RATE_LIMIT_API": "100000/60", "RATE_LIMIT_BILLING": "100000/60",
         "SEED_DEMO_DOCS": "false"}
LIMIT = 4000


def plans_file(tmp_path_factory, limit):
    """A free plan whose only tight limit is the daily token allowance."""
    plans = {"free": {"limits": {"messages": 100000, "api_calls": 100000,
                                 "background_tasks": 100000},
                      "daily_limits": {"daily_tokens": limit, "daily_requests": 100000}}}
    path = tmp_path_factory.mktemp("plans") / "plans.json"
    path.write_text(json.dumps(plans))
    return str(path)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """Chat answered by the extractive provider."""
    s = private_server(PLANS_FILE=plans_file(tmp_path_factory, LIMIT), **ROOMY)
    yield s
    assert s.stop() == 0


DOC = ("The Kestrel pump moves forty litres of coolant per minute through the engine block. "
       "Its impeller is cast from bronze so that it resists corrosion in salt water. "
       "The pump is driven by a belt from the crankshaft and needs no electric motor. "
       "Operators inspect the Kestrel pump seals every two hundred hours of running. "
       "A worn seal lets coolant leak past the shaft and the engine then runs hot. "
       "Spare seals for the Kestrel pump are kept in the blue cabinet of the workshop.")
QUESTION = "How does the Kestrel pump move coolant and how are its seals kept?"


def fresh(server):
    uid, tok = new_user(server, f"tok-{uuid.uuid4().hex[:10]}@example.com")
    return uid, tok


def with_doc(server):
    uid, tok = fresh(server)
    wait_doc(server, tok, upload(server, tok, DOC, title="Kestrel pump")["id"])
    return uid, tok


def usage(server, tok):
    r = server.get("/billing/usage", token=tok)
    assert r.status == 200, r
    return r.json


def daily(server, tok, name="daily_tokens"):
    return usage(server, tok)["daily"]["counters"].get(name, {"used": 0})["used"]


def ledger(server, uid):
    """The tokens_used of every committed message in usage_records."""
    with server.db() as db:
        rows = db.execute("SELECT extra_data FROM usage_records WHERE user_id = ?"
                          " AND resource_type = 'messages'", (uid,)).fetchall()
    xs = [x if isinstance(x, dict) else json.loads(x) for (x,) in rows]
    return sum(x.get("tokens_used", 0) for x in xs), len(xs)


def holds(server, uid):
    with server.db() as db:
        return db.execute("SELECT count(*) FROM quota_holds WHERE user_id = ?",
                          (uid,)).fetchone()[0]


def leave(server, tok, remaining, limit=LIMIT):
    """Spends the allowance down to `remaining` tokens with the test route (usage measured
    after the fact, as a route without a generation records it)."""
    spend = limit - daily(server, tok) - remaining
    assert spend >= 0
    if spend:
        r = server.post("/test/chat", {"tokens_used": spend}, token=tok)
        assert r.status == 200, r
    assert daily(server, tok) == limit - remaining


def post_raw(server, path, tok, body, timeout=180):
    """(status, JSON body, or the SSE events of a stream)."""
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    c.request("POST", path, body=json.dumps(body),
              headers={"Authorization": f"Bearer {tok}", "Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    c.close()
    if r.status == 200 and r.getheader("Content-Type", "").startswith("text/event-stream"):
        return r.status, parse_sse(data)
    return r.status, json.loads(data or "null")


def chat_tokens(status, body):
    """tokens_used of a successful /chat/message answer, JSON or streamed."""
    assert status == 200, body
    if isinstance(body, list):
        assert body[-1] == "[DONE]", body[-3:]
        done = [e for e in body[:-1] if e.get("type") == "done"]
        assert len(done) == 1, body[-3:]
        return done[0]["tokens_used"]
    return body["tokens_used"]


def assert_token_refusal(status, body, used=None, limit=LIMIT):
    assert status == 429, body
    assert body["code"] == "TOKEN_LIMIT_EXCEEDED", body
    d = body["detail"]
    assert d["feature"] == "daily_tokens" and d["limit"] == limit
    assert d["error"] == "Daily limit exceeded" and d["upgrade_url"] == "/billing/plans"
    if used is not None:
        assert d["used"] == used, d


# ---- chat ----

def test_sequential_messages_never_pass_the_limit(srv):
    uid, tok = with_doc(srv)
    spent, n = 0, 0
    while True:
        # plain questions and a slash command, each in a session of its own
        msg = "/explain the Kestrel pump seals" if n % 3 == 2 else f"{QUESTION} ({n})"
        status, body = post_raw(srv, "/chat/message", tok, {"message": msg})
        if status != 200:
            break
        spent += chat_tokens(status, body)
        n += 1
        assert daily(srv, tok) == spent <= LIMIT
        assert n < 200
    assert_token_refusal(status, body)
    assert body["detail"]["used"] <= LIMIT
    assert n >= 3, n  # several answers fitted before the refusal
    assert daily(srv, tok) == spent <= LIMIT
    assert ledger(srv, uid) == (spent, n)
    assert holds(srv, uid) == 0


@pytest.mark.parametrize("stream", [False, True])
def test_answer_is_capped_at_what_remains(srv, stream):
    uid, tok = with_doc(srv)
    full = post_raw(srv, "/chat/message", tok, {"message": QUESTION, "debug_mode": True})[1]
    prompt = full["debug_info"]["prompt_tokens"]
    answer = full["debug_info"]["completion_tokens"]
    assert full["tokens_used"] == prompt + answer and answer >= 60, full["debug_info"]
    # room for the prompt and a third of the answer
    room = prompt + answer // 3
    leave(srv, tok, room)
    status, body = post_raw(srv, "/chat/message", tok,
                            {"message": QUESTION, "debug_mode": True, "stream": stream})
    used = chat_tokens(status, body)
    cut = [e for e in body if isinstance(e, dict) and e.get("type") == "done"][0] \
        if stream else body
    dbg = cut["debug_info"]
    assert dbg["prompt_tokens"] == prompt
    assert 16 <= dbg["completion_tokens"] <= room - prompt < answer
    assert used == dbg["prompt_tokens"] + dbg["completion_tokens"] <= room
    # the same answer, cut short
    assert full["answer"].startswith(cut["answer"]) and len(cut["answer"]) < len(full["answer"])
    assert daily(srv, tok) == LIMIT - room + used <= LIMIT
    # the first answer, the test route's spending and the capped answer
    assert ledger(srv, uid) == (daily(srv, tok), 3)
    assert holds(srv, uid) == 0


def test_refused_request_changes_nothing(srv):
    uid, tok = with_doc(srv)
    first = post_raw(srv, "/chat/message", tok, {"message": QUESTION, "debug_mode": True})[1]
    prompt = first["debug_info"]["prompt_tokens"]
    # the prompt would fit, but not the shortest answer worth generating
    leave(srv, tok, prompt + 5)
    before = (usage(srv, tok), ledger(srv, uid),
              srv.get("/chat/history", token=tok).json["total"])
    for body in ({"message": QUESTION}, {"message": QUESTION, "stream": True},
                 {"message": "/explain the Kestrel pump", "stream": True},
                 {"message": "/mcq Kestrel pump seals"}):
        status, resp = post_raw(srv, "/chat/message", tok, body)
        assert_token_refusal(status, resp, used=LIMIT - prompt - 5)
    after = (usage(srv, tok), ledger(srv, uid),
             srv.get("/chat/history", token=tok).json["total"])
    assert after == before
    assert daily(srv, tok) == LIMIT - prompt - 5
    assert daily(srv, tok, "daily_requests") == 2  # the first answer and the test route
    assert daily(srv, tok, "mcqs_per_day") == 0 and daily(srv, tok, "explanations_per_day") == 0
    assert holds(srv, uid) == 0


def test_parallel_messages_never_overspend(srv):
    uid, tok = with_doc(srv)
    one = post_raw(srv, "/chat/message", tok, {"message": QUESTION})[1]["tokens_used"]
    # room for about four answers; twelve ask at once
    leave(srv, tok, 4 * one + one // 2)
    start = daily(srv, tok)

    def ask(i):
        body = {"message": f"{QUESTION} [{i}]"}
        if i % 4 == 1:
            body["stream"] = True
        if i % 4 == 2:
            body = {"message": "/explain the Kestrel pump seals", "stream": i % 8 == 2}
        return post_raw(srv, "/chat/message", tok, body)

    res = parallel(12, ask)
    assert not [x for x in res if isinstance(x, Exception)], res
    ok = [chat_tokens(st, b) for st, b in res if st == 200]
    refused = [(st, b) for st, b in res if st != 200]
    for st, b in refused:
        assert_token_refusal(st, b)
    assert ok and refused, (len(ok), len(refused))
    assert daily(srv, tok) == start + sum(ok) <= LIMIT
    # the ledger: the first answer, the test route's spending and every answer that got in
    assert ledger(srv, uid) == (daily(srv, tok), 2 + len(ok))
    assert holds(srv, uid) == 0


def test_upstream_answers_never_overspend(tmp_path_factory):
    """An OpenAI-compatible upstream that reports no usage and ignores max_tokens: its answer
    is stopped at max_tokens (4 bytes a token) and the prompt charged at the estimate that
    was held for it."""
    up = Upstream(answer=" ".join(f"word{i}" for i in range(120)) + " [1].")
    limit = 3000
    s = private_server(PLANS_FILE=plans_file(tmp_path_factory, limit), OPENAI_API_BASE=up.base,
                       OPENAI_API_KEY="sk-test", OPENAI_MODEL="m", GENERATION_MAX_TOKENS="64",
                       **ROOMY)
    try:
        uid, tok = with_doc(s)
        first = post_raw(s, "/chat/message", tok, {"message": QUESTION, "debug_mode": True})[1]
        dbg = first["debug_info"]
        assert dbg["provider"] == "openai" and dbg["completion_tokens"] == 64, dbg
        assert len(first["answer"]) <= 64 * 4 and first["answer"].startswith("word0 word1")
        one = first["tokens_used"]
        assert one == dbg["prompt_tokens"] + 64
        # room for three and a half answers: three fit, whatever the timing
        leave(s, tok, 3 * one + one // 2, limit)
        start = daily(s, tok)
        res = parallel(10, lambda i: post_raw(s, "/chat/message", tok,
                                              {"message": QUESTION, "stream": i % 2 == 1}))
        assert not [x for x in res if isinstance(x, Exception)], res
        ok = [chat_tokens(st, b) for st, b in res if st == 200]
        for st, b in res:
            if st != 200:
                assert_token_refusal(st, b, limit=limit)
        assert ok == [one] * 3, ok
        assert daily(s, tok) == start + 3 * one <= limit
        assert ledger(s, uid) == (daily(s, tok), 2 + len(ok))
        assert holds(s, uid) == 0
    finally:
        assert s.stop() == 0
        up.close()


# ---- /v1 and chat through a local model ----

V1_LIMIT = 2000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    models = tempfile.mkdtemp(prefix="ragd-tok-models-")
    llm = os.path.join(models, "tiny-qwen3.gguf")
    p = subprocess.run([BIN, "model", "mktiny", "--arch", "qwen3", "--out", llm, "--seed", "7"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    s = private_server(PLANS_FILE=plans_file(tmp_path_factory, V1_LIMIT), GENERATION_MODEL=llm,
                       GENERATION_CONTEXT_LENGTH="2048", GENERATION_MAX_TOKENS="48",
                       GENERATION_PER_USER="16", GENERATION_QUEUE_SIZE="32", **ROOMY)
    yield s
    assert s.stop() == 0
    shutil.rmtree(models, True)


MESSAGES = [{"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "Tell me a story about a lighthouse keeper."}]


def v1_tokens(status, body):
    """total_tokens of a successful completion, JSON or streamed with include_usage."""
    assert status == 200, body
    if isinstance(body, list):
        assert body[-1] == "[DONE]", body[-3:]
        usage_chunks = [e for e in body[:-1] if e.get("usage")]
        assert len(usage_chunks) == 1
        return usage_chunks[0]["usage"]
    return body["usage"]


def complete(s, tok, stream=False, **kw):
    body = {"model": "tiny-qwen3.gguf", "messages": MESSAGES, "max_tokens": 48,
            "temperature": 0, **kw}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return post_raw(s, "/v1/chat/completions", tok, body)


@pytest.mark.parametrize("stream", [False, True])
def test_v1_answer_is_capped_at_what_remains(tiny, stream):
    uid, tok = fresh(tiny)
    full = v1_tokens(*complete(tiny, tok))
    prompt = full["prompt_tokens"]
    assert full["completion_tokens"] == 48  # a random model talks until it is stopped
    leave(tiny, tok, prompt + 20, V1_LIMIT)
    u = v1_tokens(*complete(tiny, tok, stream=stream))
    assert u["prompt_tokens"] == prompt and 16 <= u["completion_tokens"] <= 20
    assert u["total_tokens"] == prompt + u["completion_tokens"]
    assert daily(tiny, tok) == V1_LIMIT - 20 + u["completion_tokens"] <= V1_LIMIT
    assert ledger(tiny, uid) == (daily(tiny, tok), 3)
    assert holds(tiny, uid) == 0


def test_v1_refused_request_changes_nothing(tiny):
    uid, tok = fresh(tiny)
    prompt = v1_tokens(*complete(tiny, tok))["prompt_tokens"]
    leave(tiny, tok, prompt + 10, V1_LIMIT)
    before = (usage(tiny, tok), ledger(tiny, uid))
    for stream in (False, True):
        assert_token_refusal(*complete(tiny, tok, stream=stream), used=V1_LIMIT - prompt - 10,
                             limit=V1_LIMIT)
    assert (usage(tiny, tok), ledger(tiny, uid)) == before
    assert daily(tiny, tok) == V1_LIMIT - prompt - 10
    assert holds(tiny, uid) == 0


def test_v1_and_chat_in_parallel_never_overspend(tiny):
    uid, tok = fresh(tiny)
    one = v1_tokens(*complete(tiny, tok))["total_tokens"]
    leave(tiny, tok, 5 * one + one // 2, V1_LIMIT)
    start = daily(tiny, tok)

    def ask(i):
        if i % 4 == 3:
            st, b = post_raw(tiny, "/chat/message", tok,
                             {"message": f"Tell me about lighthouses ({i})", "enable_rag": False,
                              "stream": i % 8 == 3})
            return st, (chat_tokens(st, b) if st == 200 else b)
        st, b = complete(tiny, tok, stream=i % 2 == 1)
        return st, (v1_tokens(st, b)["total_tokens"] if st == 200 else b)

    res = parallel(16, ask)
    assert not [x for x in res if isinstance(x, Exception)], res
    ok = [t for st, t in res if st == 200]
    refused = [(st, b) for st, b in res if st != 200]
    for st, b in refused:
        assert_token_refusal(st, b, limit=V1_LIMIT)
    assert ok and refused, (len(ok), len(refused))
    assert daily(tiny, tok) == start + sum(ok) <= V1_LIMIT
    assert ledger(tiny, uid) == (daily(tiny, tok), 2 + len(ok))
    assert holds(tiny, uid) == 0
