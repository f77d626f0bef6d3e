"""POST /sentiment (issue 15 item 4): the lexicon scorer through HTTP, its 4xx answers, the
rate limit, and a server that refuses to start on a bad SENTIMENT_SCORER."""
import subprocess
import uuid

import pytest

from ragd_client import Server


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"RATE_LIMIT_API": "40/3600", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    s.user = s.register(f"sent-{uuid.uuid4().hex[:8]}@example.com")["access_token"]
    yield s
    assert s.stop() == 0


def score(s, text, status=200):
    r = s.post("/sentiment", {"text": text}, token=s.user)
    assert r.status == status, r
    return r.json


def test_labels_priorities_and_actions(srv):
    q = score(srv, "How do I reset my password?")
    assert (q["label"], q["priority"], q["scorer"]) == ("NEUTRAL", "MEDIUM", "lexicon")
    assert 0 <= q["score"] <= 1 and q["confidence"] == q["score"]
    assert "answer_from_knowledge_base" in q["suggested_actions"]
    assert "question" in q["cues"]

    t = score(srv, "Thank you so much, that fixed it 🙂")
    assert (t["label"], t["priority"]) == ("POSITIVE", "LOW")
    assert t["polarity"] > 0.3 and "thank_customer" in t["suggested_actions"]

    a = score(srv, "You charged me twice and nobody answers. I want a refund immediately!!!")
    assert (a["label"], a["priority"]) == ("NEGATIVE", "URGENT")
    assert a["polarity"] < -0.5
    assert {"refund", "urgent", "billing"} <= set(a["cues"])
    assert "escalate_to_human" in a["suggested_actions"]

    legal = score(srv, "This is fraud, my lawyer will hear about it")
    assert legal["priority"] == "URGENT" and "legal" in legal["cues"]
    assert "notify_legal_team" in legal["suggested_actions"]

    # negation and contrast move the label
    assert score(srv, "The export is not working")["label"] == "NEGATIVE"
    assert score(srv, "It was slow at first but now it works great")["label"] == "POSITIVE"


def test_any_bytes_are_scored(srv):
    r = score(srv, "\u00e9\u00e8 \u2603 \U0001F600\U0001F621 ::: ))) \u0001x")
    assert r["label"] in ("POSITIVE", "NEUTRAL", "NEGATIVE")


def test_bad_input(srv):
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 10001}, {"text": "a", "x": 1}):
        r = srv.post("/sentiment", body, token=srv.user)
        assert r.status in (400, 422), (body, r)
        assert r.json["code"], r
    assert srv.post("/sentiment", {"text": "hi"}).status == 401


def test_rate_limited(srv):
    seen = None
    for _ in range(45):
        r = srv.post("/sentiment", {"text": "hello"}, token=srv.user)
        if r.status == 429:
            seen = r
            break
        assert r.status == 200, r
    assert seen is not None and seen.json["code"] == "RATE_LIMIT_EXCEEDED"


def test_bad_scorer_refuses_to_start(tmp_path):
    import os
    env = dict(os.environ, SENTIMENT_SCORER="crystal-ball", RAGD_DATA_DIR=str(tmp_path))
    bin_ = os.environ.get("RAGD_BIN", "build/release/ragd")
    good = {k: v for k, v in env.items() if k != "SENTIMENT_SCORER"}
    subprocess.run([bin_, "init", "--data", str(tmp_path)], env=good, check=True,
                   capture_output=True, timeout=60)
    p = subprocess.run([bin_, "serve", "--data", str(tmp_path), "--port", "0"], env=env,
                       capture_output=True, timeout=60, text=True)
    assert p.returncode == 2 and "SENTIMENT_SCORER" in p.stderr, p.stderr
    env["SENTIMENT_SCORER"] = "model"
    p = subprocess.run([bin_, "serve", "--data", str(tmp_path), "--port", "0"], env=env,
                       capture_output=True, timeout=60, text=True)
    assert p.returncode == 2 and "SENTIMENT_MODEL" in p.stderr, p.stderr


def test_llm_scorer_and_its_fallback():
    """SENTIMENT_SCORER=llm asks the generator for a JSON verdict and uses it; a reply that is
    not exactly that verdict, or a failing upstream, falls back to the lexicon scorer."""
    from upstreams import Upstream
    up = Upstream(answer='{"label": "NEGATIVE", "score": 0.8, "polarity": -0.7}')
    s = Server(env={"LLM_PROVIDER": "openai", "OPENAI_API_BASE": up.base,
                    "OPENAI_API_KEY": "sk-sentiment-test", "OPENAI_MODEL": "judge",
                    "SENTIMENT_SCORER": "llm", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        tok = s.register(f"llm-{uuid.uuid4().hex[:8]}@example.com")["access_token"]
        r = s.post("/sentiment", {"text": "Thanks so much, all good"}, token=tok)
        assert r.status == 200, r
        # the generator's verdict wins over what the lexicon would say (POSITIVE)
        assert (r.json["label"], r.json["scorer"]) == ("NEGATIVE", "llm")
        assert r.json["score"] == 0.8 and r.json["polarity"] == -0.7
        assert r.json["priority"] == "HIGH"  # strongly negative, by ragd's rules
        path, body, auth = [q for q in up.requests if q[0].endswith("/chat/completions")][-1]
        msgs = body["messages"]
        assert msgs[0]["role"] == "system" and "JSON" in msgs[0]["content"]
        assert msgs[-1]["content"] == "Thanks so much, all good"
        assert body.get("temperature") == 0

        up.answer = "The customer seems happy. POSITIVE"
        r = s.post("/sentiment", {"text": "Thanks so much, all good"}, token=tok)
        assert (r.json["label"], r.json["scorer"]) == ("POSITIVE", "lexicon"), r
        up.answer = '{"label": "POSITIVE", "score": 0.9, "reason": "thanks"}'
        r = s.post("/sentiment", {"text": "this is broken"}, token=tok)
        assert (r.json["label"], r.json["scorer"]) == ("NEGATIVE", "lexicon"), r
        up.fail = True
        r = s.post("/sentiment", {"text": "this is broken"}, token=tok)
        assert (r.status, r.json["scorer"]) == (200, "lexicon"), r
    finally:
        assert s.stop() == 0
        up.close()


def test_cli_eval_and_score(tmp_path):
    """`ragd sentiment eval` prints accuracy, per-class precision / recall and the cost against
    strlen; a malformed line is refused with its line number."""
    import os
    import re
    bin_ = os.environ.get("RAGD_BIN", "build/release/ragd")
    f = tmp_path / "set.tsv"
    f.write_text("# comment\nPOSITIVE\tThanks, that fixed it!\nNEGATIVE\tThe app keeps crashing\n"
                 "NEUTRAL\tHow do I reset my password?\nNEGATIVE\tThanks for nothing.\n")
    p = subprocess.run([bin_, "sentiment", "eval", str(f)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "accuracy 0.750 (3/4)" in out, out
    assert re.search(r"^NEGATIVE +1\.000 +0\.500 ", out, re.M), out  # sarcasm is missed
    assert re.search(r"^POSITIVE +0\.500 +1\.000 ", out, re.M), out
    assert re.search(r"^cost \d+ ns/message \(strlen over the same messages [\d.]+ ns, ratio",
                     out, re.M), out
    f.write_text("POSITIVE\tfine\nHAPPY\tnot a label\n")
    p = subprocess.run([bin_, "sentiment", "eval", str(f)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and ":2: expected LABEL<TAB>TEXT" in p.stderr, p.stderr
    p = subprocess.run([bin_, "sentiment", "score", "I want a refund immediately!!!"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and '"label":"NEGATIVE"' in p.stdout, p.stdout
