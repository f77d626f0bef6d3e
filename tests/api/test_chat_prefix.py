"""Chat sessions on a tiny local model replay their earlier turns as they were sent: a
follow-up's prompt starts with the previous turn's whole prompt (its passages included), the
prefix cache serves those tokens, a new session reuses the shared system prompt, and greedy
answers and their sources are the same with the prefix cache on and off."""
import shutil

import pytest

from kb_helpers import enterprise_user, private_server, upload_ready
from model_helpers import make_tiny_models, tiny_model_paths

MODELS, LLM, ENC = tiny_model_paths("ragd-chatprefix-models-")
SLICE = 64  # the prefix cache keeps whole slices of this many tokens
TOPICS = ["glaciers", "volcanoes", "tides", "auroras"]
QUESTIONS = ["How do people who study glaciers and volcanoes measure them?",
             "Which of them changes faster over a season?",
             "And what about tides and auroras, how are they measured?"]


def setup_module():
    make_tiny_models(LLM, ENC)


def teardown_module():
    shutil.rmtree(MODELS, True)


def serve(cache_mb):
    s = private_server(GENERATION_MODEL=LLM, EMBEDDING_MODEL=ENC, GENERATION_MAX_TOKENS="12",
                       GENERATION_CONTEXT_LENGTH="4096", GENERATION_TEMPERATURE="0",
                       GENERATION_PARALLEL="1", PREFIX_CACHE_MB=str(cache_mb),
                       RATE_LIMIT_CHAT="100000/60", RATE_LIMIT_BILLING="1000/60")
    tok = enterprise_user(s, "prefix@example.com")
    for t in TOPICS:
        upload_ready(s, tok, " ".join(
            f"Note {k} on {t}: the {t} of the world change slowly, and people who study {t} "
            f"measure them with care every season." for k in range(3)), title=t.title())
    return s, tok


@pytest.fixture(scope="module")
def servers():
    on = serve(1024)
    try:
        off = serve(0)
    except BaseException:
        on[0].stop()
        raise
    yield on, off
    on[0].stop()
    off[0].stop()


def cache_stats(s):
    return s.get("/health/detailed").json["services"]["models"]["generator"]["prefix_cache"]


def reused(s):
    return cache_stats(s)["reused_tokens"]


def conversation(s, tok, questions, saved=None):
    """[(reply, prompt tokens the prefix cache served)] of one session's turns; with a list
    in saved, the tokens whose rows each turn copied into the cache are appended to it."""
    out, sid = [], None
    for q in questions:
        st = cache_stats(s)
        before, saved_before = st["reused_tokens"], st["saved_tokens"]
        body = {"message": q, "top_k": 5, "debug_mode": True}
        if sid:
            body["session_id"] = sid
        r = s.post("/chat/message", body, token=tok, timeout=300)
        assert r.status == 200, r
        sid = r.json["session_id"]
        assert r.json["debug_info"]["provider"] == "local", r.json["debug_info"]
        st = cache_stats(s)
        assert st["bytes"] + st["spare_bytes"] <= st["budget_bytes"], st
        if saved is not None:
            saved.append(st["saved_tokens"] - saved_before)
        out.append((r.json, st["reused_tokens"] - before))
    return out


def test_follow_ups_extend_the_previous_prompt_and_reuse_its_tokens(servers):
    (s, tok), _ = servers
    saved = []
    turns = conversation(s, tok, QUESTIONS, saved)
    for k, ((prev, _), (cur, cached)) in enumerate(zip(turns, turns[1:])):
        p0, p1 = prev["debug_info"]["prompt"], cur["debug_info"]["prompt"]
        # The earlier prompt, passages included, byte for byte; then its answer; then the new
        # turn with its own passages.
        assert p1[:len(p0)] == p0
        assert p1[len(p0)] == {"role": "assistant", "content": prev["answer"]}
        assert p1[-1]["role"] == "user" and "Relevant Context:" in p1[-1]["content"]
        assert len(p1) == len(p0) + 2
        # Every whole slice of the previous prompt but the one its answer opener ends in.
        n0 = prev["debug_info"]["prompt_tokens"]
        assert cached >= n0 // SLICE * SLICE - SLICE, (cached, n0)
        assert cached > n0 // 2, (cached, n0)
        # The cache copies only the rows after the previous turn's: its chunks are shared.
        n1 = cur["debug_info"]["prompt_tokens"]
        assert 0 < saved[k + 1] <= n1 // SLICE * SLICE - cached, (saved, n1, cached)
        assert cur["sources"] and cur["sources"][0]["title"] in [t.title() for t in TOPICS]
        # A passage the earlier turn carried in full is only named again.
        again = {x["excerpt"] for x in prev["sources"]} & {x["excerpt"] for x in cur["sources"]}
        assert again and p1[-1]["content"].count("(in full above)") >= len(again)
    # A new session shares the system prompt (and the context header) with the others.
    first = turns[0][0]["debug_info"]["prompt_tokens"]
    (r, cached), = conversation(s, tok, ["Tell me about deserts and rivers."])
    assert cached >= SLICE and cached < first, (cached, first)


def test_answers_are_the_same_with_the_cache_off(servers):
    (on, tok_on), (off, tok_off) = servers
    a = conversation(on, tok_on, QUESTIONS[::-1])
    b = conversation(off, tok_off, QUESTIONS[::-1])
    assert [c for _, c in b] == [0, 0, 0]
    assert sum(c for _, c in a[1:]) > 0
    for (x, _), (y, _) in zip(a, b):
        assert x["answer"] == y["answer"]
        assert x["debug_info"]["prompt"] == y["debug_info"]["prompt"]
        assert x["debug_info"]["prompt_tokens"] == y["debug_info"]["prompt_tokens"]
        assert [(t["title"], t["excerpt"], t["relevance_score"]) for t in x["sources"]] == \
            [(t["title"], t["excerpt"], t["relevance_score"]) for t in y["sources"]]


def test_history_window_moves_by_whole_turns_three_at_a_time():
    # The extractive provider: no model, the same prompts. At most 10 earlier messages, starting
    # at a multiple of 6 messages of the session, so two turns in three extend the previous
    # prompt even once the window is full.
    s = private_server()
    try:
        tok = enterprise_user(s, "window@example.com")
        upload_ready(s, tok, "Glaciers move slowly and people measure them every season.",
                     title="Glaciers")
        sid, prompts = None, []
        for k in range(10):
            body = {"message": f"Question {k} about glaciers?", "debug_mode": True}
            if sid:
                body["session_id"] = sid
            r = s.post("/chat/message", body, token=tok)
            assert r.status == 200, r
            sid = r.json["session_id"]
            prompts.append(r.json["debug_info"]["prompt"])
        # earlier messages kept per turn: all up to 10, then 6, 8, 10, then 6 again
        assert [len(p) - 2 for p in prompts] == [0, 2, 4, 6, 8, 10, 6, 8, 10, 6]
        for k in range(1, 10):
            extends = prompts[k][:len(prompts[k - 1])] == prompts[k - 1]
            assert extends == (k not in (6, 9)), k
        # The turn that starts the window anew begins at the session's 7th message (turn 4).
        assert prompts[6][1]["content"] == prompts[3][-1]["content"]
        assert "User Question: Question 3 about glaciers?" in prompts[6][1]["content"]
    finally:
        s.stop()
