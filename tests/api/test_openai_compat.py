"""What OpenAI clients send by default, on a tiny random model: the sampling fields ragd honours
(penalties, logit_bias, top_k, min_p, n, logprobs, stream_options), the fields it ignores and
those it refuses in OpenAI's 400 shape, STRICT_OPENAI, messages as SDKs build them,
MODEL_ALIASES, /v1/completions, /v1/responses (plain and streamed) and the knowledge-grounded
ragd-rag models with their sources."""
import json
import os
import shutil
import subprocess

import pytest

from kb_helpers import enterprise_user, parse_sse, private_server, upload_ready
from model_helpers import make_tiny_models, tiny_model_paths
from ragd_client import ROOT, Server

MODELS, LLM, ENC = tiny_model_paths("ragd-oa-models-")
MODEL = "tiny-qwen3.gguf"
ALIASES = "gpt-4o-mini=local, text-embedding-3-small=local,kb=ragd-rag"
DOC = ("The Zephyr lighthouse on Marrow Point was built in 1887 and its lamp is visible for "
       "twenty-two nautical miles.")


def setup_module():
    make_tiny_models(LLM, ENC)


def teardown_module():
    shutil.rmtree(MODELS, True)


@pytest.fixture(scope="module")
def served():
    s = private_server(GENERATION_MODEL=LLM, EMBEDDING_MODEL=ENC, GENERATION_MAX_TOKENS="24",
                       GENERATION_CONTEXT_LENGTH="2048", MODEL_ALIASES=ALIASES,
                       RATE_LIMIT_BILLING="1000/60", RATE_LIMIT_CHAT="100000/60",
                       RATE_LIMIT_API="100000/60")
    tok = enterprise_user(s, "oa@example.com")
    yield s, tok
    s.stop()


def chat(s, tok, **body):
    body.setdefault("model", MODEL)
    body.setdefault("messages", [{"role": "user", "content": "Say something."}])
    return s.post("/v1/chat/completions", body, token=tok, timeout=120)


def text_of(r):
    assert r.status == 200, r
    return r.json["choices"][0]["message"]["content"]


def named_events(body):
    """The Responses API's stream: [(event name, data)]."""
    out = []
    for block in body.split("\n\n"):
        name = data = None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if name:
            out.append((name, data))
    return out


# ---- sampling ----

def test_defaults_and_neutral_fields_leave_greedy_output_unchanged(served):
    s, tok = served
    base = text_of(chat(s, tok, temperature=0, max_tokens=10))
    assert base
    same = chat(s, tok, temperature=0, max_tokens=10, presence_penalty=0, frequency_penalty=0,
                logit_bias={}, min_p=0, metadata={"a": "b"}, store=False, user="u-1",
                service_tier="auto", prompt_cache_key="k", safety_identifier="s",
                parallel_tool_calls=True, stream_options=None)
    assert text_of(same) == base
    # top_k 1 and a min_p close to 1 keep only the most likely token: the greedy text
    assert text_of(chat(s, tok, temperature=1, seed=5, top_k=1, max_tokens=10)) == base
    assert text_of(chat(s, tok, temperature=1, seed=5, min_p=0.99, max_tokens=10)) == base
    # a strong frequency penalty changes the greedy text of a repetitive tiny model
    pen = chat(s, tok, temperature=0, max_tokens=10, frequency_penalty=2, presence_penalty=2)
    assert pen.status == 200, pen
    bad = chat(s, tok, presence_penalty=3)
    assert bad.status == 422 and bad.json["error"]["param"] == "presence_penalty"


def test_logit_bias_and_logprobs(served):
    s, tok = served
    r = chat(s, tok, temperature=0, max_tokens=6, logit_bias={"100": 100}, logprobs=True,
             top_logprobs=2)
    assert r.status == 200, r
    ch = r.json["choices"][0]
    content = ch["logprobs"]["content"]
    assert 0 < len(content) <= r.json["usage"]["completion_tokens"]
    # +100 on token 100: every token is that one, with all the probability mass
    assert len({c["token"] for c in content}) == 1
    for c in content:
        assert -1e-3 < c["logprob"] <= 0 and isinstance(c["bytes"], list)
        top = c["top_logprobs"]
        assert len(top) == 2 and top[0]["token"] == c["token"]
        assert top[0]["logprob"] >= top[1]["logprob"]
    plain = chat(s, tok, temperature=0, max_tokens=6)
    assert plain.json["choices"][0]["logprobs"] is None
    lp = chat(s, tok, temperature=0, max_tokens=6, logprobs=True)
    content = lp.json["choices"][0]["logprobs"]["content"]
    assert content and all(c["logprob"] <= 0 and c["top_logprobs"] == [] for c in content)
    assert "".join(c["token"] for c in content).startswith(text_of(plain)[:1])
    r = chat(s, tok, logit_bias={"x": 1})
    assert r.status == 422 and r.json["error"]["param"] == "logit_bias"
    r = chat(s, tok, top_logprobs=2)
    assert r.status == 422 and r.json["error"]["param"] == "top_logprobs"


def test_n_choices(served):
    s, tok = served
    one = chat(s, tok, seed=9, temperature=0.9, max_tokens=6)
    r = chat(s, tok, seed=9, temperature=0.9, max_tokens=6, n=3)
    assert r.status == 200, r
    ch = r.json["choices"]
    assert [c["index"] for c in ch] == [0, 1, 2]
    assert ch[0]["message"]["content"] == text_of(one)
    assert r.json["usage"]["prompt_tokens"] == 3 * one.json["usage"]["prompt_tokens"]
    assert 3 <= r.json["usage"]["completion_tokens"] <= 18
    r = chat(s, tok, seed=9, temperature=0.9, max_tokens=6, n=2, stream=True)
    ev = parse_sse(r.body)
    assert ev[-1] == "[DONE]"
    texts = {0: "", 1: ""}
    roles = set()
    finals = set()
    for c in ev[:-1]:
        for x in c["choices"]:
            texts[x["index"]] += x["delta"].get("content", "")
            if x["delta"].get("role"):
                roles.add(x["index"])
            if x["finish_reason"]:
                finals.add(x["index"])
    assert roles == {0, 1} and finals == {0, 1}
    assert texts[0] == text_of(one)
    assert chat(s, tok, n=9).status == 422


def test_stream_options_obfuscation_and_usage(served):
    s, tok = served
    plain = text_of(chat(s, tok, temperature=0, max_tokens=6))
    r = chat(s, tok, temperature=0, max_tokens=6, stream=True,
             stream_options={"include_usage": True, "include_obfuscation": True})
    ev = parse_sse(r.body)
    chunks = ev[:-1]
    assert all(isinstance(c["obfuscation"], str) and c["obfuscation"] for c in chunks)
    assert chunks[-1]["usage"]["completion_tokens"] > 0
    assert "".join(c["choices"][0]["delta"].get("content", "")
                   for c in chunks if c["choices"]) == plain
    r = chat(s, tok, temperature=0, max_tokens=6, stream=True)
    assert all("obfuscation" not in c for c in parse_sse(r.body)[:-1])


# ---- fields ignored and refused ----

def test_unknown_fields_ignored_and_named(served):
    s, tok = served
    r = chat(s, tok, max_tokens=2, some_future_field=1, another={"x": 1})
    assert r.status == 200, r
    assert r.header("X-Ragd-Ignored-Fields") == "some_future_field, another"
    r = chat(s, tok, max_tokens=2, metadata={"k": "v"})
    assert r.status == 200 and r.header("X-Ragd-Ignored-Fields") is None


@pytest.mark.parametrize("body,param,code", [
    ({"audio": {"voice": "alloy", "format": "wav"}}, "audio", "unsupported_parameter"),
    ({"prediction": {"type": "content", "content": "x"}}, "prediction", "unsupported_parameter"),
    ({"web_search_options": {}}, "web_search_options", "unsupported_parameter"),
    ({"modalities": ["text", "audio"]}, "modalities", "unsupported_value"),
])
def test_meaning_changing_fields_refused_in_openai_shape(served, body, param, code):
    s, tok = served
    before = s.get("/billing/usage", token=tok).json["messages_this_month"]
    r = chat(s, tok, **body)
    assert r.status == 400, r
    e = r.json["error"]
    assert e["type"] == "invalid_request_error" and e["code"] == code and e["param"] == param
    assert e["code"] == e["code"].lower() and param in e["message"]
    assert s.get("/billing/usage", token=tok).json["messages_this_month"] == before


def test_modalities_text_and_tool_fields(served):
    s, tok = served
    assert chat(s, tok, max_tokens=2, modalities=["text"]).status == 200
    # tool calling and structured output are honoured on chat completions, never taken
    # silently: an empty tools list is no tools, json_object constrains the answer
    r = chat(s, tok, tools=[], max_tokens=4)
    assert r.status == 200 and r.header("X-Ragd-Ignored-Fields") is None, r
    r = chat(s, tok, response_format={"type": "json_object"}, max_tokens=64)
    assert r.status == 200, r
    if r.json["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(text_of(r)), dict)
    # where an endpoint cannot honour them, and for the legacy functions, OpenAI's 400
    for path, body in (("/v1/completions", {"prompt": "x", "tools": []}),
                       ("/v1/responses", {"input": "x", "response_format": {"type": "text"}}),
                       ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                                 "functions": [{"name": "f"}]})):
        before = s.get("/billing/usage", token=tok).json["messages_this_month"]
        r = s.post(path, {"model": MODEL, **body}, token=tok, timeout=120)
        e = r.json["error"]
        assert r.status == 400 and e["code"] == "unsupported_parameter", (path, r)
        assert e["param"] in body and e["type"] == "invalid_request_error", (path, r)
        assert s.get("/billing/usage", token=tok).json["messages_this_month"] == before


# ---- messages ----

def test_messages_as_sdks_build_them(served):
    s, tok = served
    msgs = [
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "What is the weather?", "name": "ann"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "{\"celsius\": 4}"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "ok"}]},
        {"role": "assistant", "content": None, "refusal": "I cannot say."},
        {"role": "user", "content": [{"type": "text", "text": "And "}, {"type": "text",
                                                                       "text": "tomorrow?"}]},
    ]
    r = chat(s, tok, messages=msgs, max_tokens=3)
    assert r.status == 200, r
    # the tool turns and the calls are part of the prompt
    short = chat(s, tok, messages=msgs[-1:], max_tokens=3)
    assert r.json["usage"]["prompt_tokens"] > short.json["usage"]["prompt_tokens"] + 20
    for bad in ({"role": "tool", "content": "x"},
                {"role": "assistant", "content": None},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
                {"role": "user", "content": "x", "tool_call_id": "c"}):
        r = chat(s, tok, messages=[bad, {"role": "user", "content": "x"}])
        assert r.status == 422 and r.json["field"] == "messages", (bad, r)


# ---- aliases ----

def test_model_aliases(served):
    s, tok = served
    models = {m["id"]: m for m in s.get("/v1/models", token=tok).json["data"]}
    assert models["gpt-4o-mini"]["alias_of"] == "local"
    assert models["text-embedding-3-small"]["alias_of"] == "local"
    assert models["kb"]["alias_of"] == "ragd-rag" and models["ragd-rag"]["kind"] == "rag"
    assert s.get("/v1/models/gpt-4o-mini", token=tok).json["alias_of"] == "local"
    r = chat(s, tok, model="gpt-4o-mini", temperature=0, max_tokens=5)
    assert r.status == 200 and r.json["model"] == "gpt-4o-mini"
    assert text_of(r) == text_of(chat(s, tok, temperature=0, max_tokens=5))
    a = s.post("/v1/embeddings", {"model": "text-embedding-3-small", "input": "ice"}, token=tok)
    b = s.post("/v1/embeddings", {"model": "tiny-bert.gguf", "input": "ice"}, token=tok)
    assert a.status == 200 and a.json["model"] == "text-embedding-3-small"
    assert a.json["data"][0]["embedding"] == b.json["data"][0]["embedding"]
    assert chat(s, tok, model="gpt-4o").status == 404


def test_bad_model_aliases_stop_ragd():
    for bad in ("gpt-4o-mini", "a=local,a=local", "=local", "x=y=z", "ragd-rag=local"):
        with pytest.raises(AssertionError) as e:
            Server(env={"MODEL_ALIASES": bad, "SEED_DEMO_DOCS": "false"})
        assert "MODEL_ALIASES" in str(e.value), (bad, str(e.value)[-500:])


# ---- /v1/completions ----

def test_legacy_completions(served):
    s, tok = served
    r = s.post("/v1/completions", {"model": MODEL, "prompt": "Say something.", "max_tokens": 6,
                                   "temperature": 0}, token=tok, timeout=120)
    assert r.status == 200, r
    j = r.json
    assert j["object"] == "text_completion" and j["id"].startswith("cmpl-")
    c = j["choices"][0]
    assert c["index"] == 0 and c["finish_reason"] in ("stop", "length") and c["logprobs"] is None
    # the prompt is answered as a user turn: the same text as the chat completion
    assert c["text"] == text_of(chat(s, tok, temperature=0, max_tokens=6))
    assert 0 < j["usage"]["completion_tokens"] <= 6
    r = s.post("/v1/completions", {"model": "gpt-4o-mini", "prompt": ["a", "b"], "n": 2,
                                   "max_tokens": 3, "logprobs": 1}, token=tok, timeout=120)
    assert r.status == 200, r
    assert [c["index"] for c in r.json["choices"]] == [0, 1, 2, 3]
    lp = r.json["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"])
    assert all(len(t) == 1 for t in lp["top_logprobs"])
    # default max_tokens is OpenAI's 16 (here capped by GENERATION_MAX_TOKENS)
    r = s.post("/v1/completions", {"model": MODEL, "prompt": "x", "stream": True,
                                   "temperature": 0, "max_tokens": 6}, token=tok, timeout=120)
    ev = parse_sse(r.body)
    assert ev[-1] == "[DONE]"
    assert all(e["object"] == "text_completion" for e in ev[:-1])
    assert ev[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    streamed = "".join(e["choices"][0]["text"] for e in ev[:-1])
    r = s.post("/v1/completions", {"model": MODEL, "prompt": "x", "temperature": 0,
                                   "max_tokens": 6}, token=tok, timeout=120)
    assert streamed == r.json["choices"][0]["text"]
    for body, param, status in (({"suffix": "end"}, "suffix", 400),
                                ({"echo": True}, "echo", 400),
                                ({"best_of": 3}, "best_of", 400),
                                ({"prompt": [1, 2]}, "prompt", 422)):
        b = {"model": MODEL, "prompt": "x"}
        b.update(body)
        r = s.post("/v1/completions", b, token=tok)
        assert r.status == status and r.json["error"]["param"] == param, r
        assert r.json["error"]["type"] == "invalid_request_error"


# ---- /v1/responses ----

def test_responses_plain_and_streamed(served):
    s, tok = served
    body = {"model": MODEL, "input": "Say something.", "instructions": "Be brief.",
            "max_output_tokens": 6, "temperature": 0, "store": False}
    r = s.post("/v1/responses", body, token=tok, timeout=120)
    assert r.status == 200, r
    j = r.json
    assert j["object"] == "response" and j["id"].startswith("resp_")
    assert j["status"] in ("completed", "incomplete") and j["model"] == MODEL
    assert j["metadata"] == {}  # no metadata sent: an empty object, as OpenAI answers
    out = j["output"][0]
    assert out["type"] == "message" and out["role"] == "assistant"
    part = out["content"][0]
    assert part["type"] == "output_text" and part["annotations"] == []
    same = chat(s, tok, temperature=0, max_tokens=6,
                messages=[{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Say something."}])
    assert part["text"] == text_of(same)
    u = j["usage"]
    assert u["output_tokens"] > 0 and u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
    # a message list with typed parts
    r2 = s.post("/v1/responses", {"model": MODEL, "temperature": 0, "max_output_tokens": 6,
                                  "instructions": "Be brief.", "input": [
                                      {"role": "user", "content": [
                                          {"type": "input_text", "text": "Say something."}]}]},
                token=tok, timeout=120)
    assert r2.json["output"][0]["content"][0]["text"] == part["text"]
    body["stream"] = True
    r = s.post("/v1/responses", body, token=tok, timeout=120)
    assert r.status == 200 and r.header("Content-Type").startswith("text/event-stream")
    ev = named_events(r.body)
    names = [n for n, _ in ev]
    assert names[0] == "response.created" and names[-1] in ("response.completed",
                                                            "response.incomplete")
    assert "response.output_text.delta" in names and "response.output_text.done" in names
    assert [d["sequence_number"] for _, d in ev] == list(range(len(ev)))
    assert all(d["type"] == n for n, d in ev)
    deltas = "".join(d["delta"] for n, d in ev if n == "response.output_text.delta")
    assert deltas == part["text"]
    final = ev[-1][1]["response"]
    assert final["output"][0]["content"][0]["text"] == part["text"]
    r = s.post("/v1/responses", {"model": MODEL, "input": "x", "previous_response_id": "r"},
               token=tok)
    assert r.status == 400 and r.json["error"]["param"] == "previous_response_id"


# ---- ragd-rag ----

def test_ragd_rag_answers_from_the_callers_documents(served):
    s, tok = served
    doc = upload_ready(s, tok, DOC, title="Lighthouse notes")
    assert doc["status"] == "ready", doc
    q = [{"role": "user", "content": "When was the Zephyr lighthouse on Marrow Point built?"}]
    r = chat(s, tok, model="ragd-rag", messages=q)
    assert r.status == 200, r
    assert r.json["model"] == "ragd-rag"
    src = r.json["ragd"]["sources"]
    assert src and src[0]["index"] == 1 and src[0]["document_id"] == doc["id"]
    assert src[0]["title"] == "Lighthouse notes"
    r = chat(s, tok, model="kb", messages=q, stream=True)
    ev = parse_sse(r.body)
    assert ev[-1] == "[DONE]"
    final = [c for c in ev[:-1] if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(final) == 1 and final[0]["ragd"]["sources"][0]["document_id"] == doc["id"]
    # another user does not see the document
    other = enterprise_user(s, "oa-other@example.com")
    r = chat(s, other, model="ragd-rag", messages=q)
    assert r.status == 200 and all(x["document_id"] != doc["id"] for x in r.json["ragd"]["sources"])
    # an organization's model: members only
    r = s.post("/organizations", {"name": "Lighthouse Keepers"}, token=tok)
    assert r.status == 201, r
    org = r.json["id"]
    ids = [m["id"] for m in s.get("/v1/models", token=tok).json["data"]]
    assert f"ragd-rag/{org}" in ids
    assert f"ragd-rag/{org}" not in [m["id"] for m in
                                     s.get("/v1/models", token=other).json["data"]]
    assert s.get(f"/v1/models/ragd-rag/{org}", token=tok).json["id"] == f"ragd-rag/{org}"
    assert s.get(f"/v1/models/ragd-rag/{org}", token=other).status == 404
    assert s.get("/v1/models/ragd-rag", token=tok).json["kind"] == "rag"
    assert chat(s, tok, model=f"ragd-rag/{org}", messages=q).status == 200
    r = chat(s, other, model=f"ragd-rag/{org}", messages=q)
    assert r.status == 404 and r.json["code"] == "MODEL_NOT_FOUND"
    assert chat(s, tok, model="ragd-rag", n=2).status == 400


# ---- STRICT_OPENAI, and citations from the extractive answerer ----

@pytest.fixture(scope="module")
def strict():
    s = private_server(EMBEDDING_MODEL=ENC, STRICT_OPENAI="true")
    tok = enterprise_user(s, "strict@example.com")
    yield s, tok
    s.stop()


@pytest.mark.parametrize("body,field", [
    ({"n": 2}, "n"),
    ({"logit_bias": {}}, "body"),  # unknown fields are refused by name
    ({"metadata": {"a": "b"}}, "body"),
])
def test_strict_openai_refuses_unknown_fields(strict, body, field):
    s, tok = strict
    before = s.get("/billing/usage", token=tok).json["messages_this_month"]
    r = chat(s, tok, model="ragd-rag", **body)
    assert r.status == 422, r
    assert r.json["code"] == "VALIDATION_ERROR" and r.json["field"] == field
    assert list(body)[0] in r.json["detail"]
    assert s.get("/billing/usage", token=tok).json["messages_this_month"] == before


def test_strict_openai_knows_the_tool_fields(strict):
    s, tok = strict
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    # a known field under STRICT_OPENAI (not a 422); ragd-rag answers from the knowledge base
    # and cannot call tools: OpenAI's 400
    r = chat(s, tok, model="ragd-rag", tools=[tool], tool_choice="auto",
             parallel_tool_calls=False)
    assert r.status == 400, r
    assert r.json["error"]["code"] == "unsupported_parameter"
    assert r.json["error"]["param"] == "tools"
    r = chat(s, tok, model="ragd-rag", response_format={"type": "json_object"})
    assert r.status == 400 and r.json["error"]["param"] == "response_format", r


def test_ragd_rag_cites_with_numbered_markers(strict):
    s, tok = strict
    doc = upload_ready(s, tok, DOC, title="Lighthouse notes")
    r = chat(s, tok, model="ragd-rag",
             messages=[{"role": "user", "content": "When was the Zephyr lighthouse built?"}])
    assert r.status == 200, r
    text = text_of(r)
    assert "[1]" in text and "1887" in text
    assert r.json["ragd"]["sources"][0]["document_id"] == doc["id"]


# ---- the official openai npm SDK with hard-coded OpenAI model names ----

def test_official_sdk_with_aliases(served):
    d = os.path.join(ROOT, "build", "npm-openai")  # installed by test_models.py
    if not shutil.which("node") or not os.path.isdir(os.path.join(d, "node_modules", "openai")):
        pytest.skip("the openai npm package is not installed (test_models.py installs it when "
                    "npm can reach its registry)")
    s, tok = served
    upload_ready(s, tok, "Glaciers carve U-shaped valleys and leave moraines behind.",
                 title="SDK glaciers")
    key = s.post("/users/me/api-keys", {"name": "sdk"}, token=tok).json["key"]
    script = os.path.join(os.path.dirname(__file__), "openai_sdk.mjs")
    shutil.copy(script, os.path.join(d, "openai_sdk.mjs"))
    env = dict(os.environ, NODE_PATH=os.path.join(d, "node_modules"),
               RAGD_BASE_URL=f"http://127.0.0.1:{s.port}/v1", RAGD_TOKEN=key,
               RAGD_CHAT_MODEL=MODEL, RAGD_EMBED_MODEL="tiny-bert.gguf",
               RAGD_RAG_TITLE="SDK glaciers", RAGD_ALIASES="1")
    p = subprocess.run(["node", os.path.join(d, "openai_sdk.mjs")], env=env,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "openai sdk: all checks passed" in p.stdout


# ---- an OpenAI-compatible upstream ----

def test_upstream_receives_sampling_fields_and_tool_turns():
    from fake_providers import FakeProvider
    fake = FakeProvider("openai", answer="Upstream answer.")
    s = private_server(OPENAI_API_BASE=fake.base, OPENAI_API_KEY="sk-test-upstream",
                       OPENAI_MODEL="up-model", MODEL_ALIASES="gpt-4o=local")
    try:
        tok = enterprise_user(s, "oa-up@example.com")
        calls = [{"id": "call_1", "type": "function",
                  "function": {"name": "f", "arguments": "{}"}}]
        r = chat(s, tok, model="gpt-4o", presence_penalty=0.5, frequency_penalty=-0.5,
                 logit_bias={"42": -100}, top_k=5, min_p=0.1, repetition_penalty=1.2,
                 seed=3, messages=[{"role": "user", "content": "x"},
                                   {"role": "assistant", "content": None, "tool_calls": calls},
                                   {"role": "tool", "tool_call_id": "call_1", "content": "1"}])
        assert r.status == 200, r
        assert text_of(r) == "Upstream answer." and r.json["model"] == "gpt-4o"
        body = [b for p, _, b in fake.requests if p.endswith("/chat/completions")][-1]
        assert body["model"] == "up-model"
        assert body["presence_penalty"] == 0.5 and body["frequency_penalty"] == -0.5
        assert body["logit_bias"] == {"42": -100} and body["top_k"] == 5
        assert body["min_p"] == 0.1 and body["repetition_penalty"] == 1.2 and body["seed"] == 3
        m = body["messages"]
        assert m[1]["content"] is None and m[1]["tool_calls"] == calls
        assert m[2] == {"role": "tool", "content": "1", "tool_call_id": "call_1"}
        # fields the client sends for itself stay here
        r = chat(s, tok, model="gpt-4o", metadata={"a": "b"}, store=True, user="u")
        assert r.status == 200, r
        body = [b for p, _, b in fake.requests if p.endswith("/chat/completions")][-1]
        assert "metadata" not in body and "store" not in body and "user" not in body
    finally:
        s.stop()
        fake.close()
