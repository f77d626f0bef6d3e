"""Tool calling and structured output through /v1/chat/completions. On the local engine (a tiny
random model written by `ragd model mktiny`): response_format json_schema answers always parse
and validate, whatever the sampling; tool_choice required or a named function returns
tool_calls whose arguments fit the tool's parameters (also streamed); a tool result goes back
to the model; schema keywords the engine cannot honour are a 400. With an upstream provider
tools, tool_choice and response_format pass through unchanged and its tool calls come back."""
import json
import os
import shutil
import subprocess
import tempfile
import threading

import jsonschema
import pytest

from kb_helpers import enterprise_user, parse_sse, private_server
from ragd_client import BIN

MODELS = tempfile.mkdtemp(prefix="ragd-tools-")
LLM = os.path.join(MODELS, "tiny-qwen3.gguf")

WEATHER = {"type": "object",
           "properties": {"city": {"type": "string", "maxLength": 10},
                          "days": {"type": "integer"},
                          "unit": {"enum": ["C", "F"]}},
           "required": ["city", "days"], "additionalProperties": False}
TOOLS = [{"type": "function",
          "function": {"name": "get_weather", "description": "Weather in a city",
                       "parameters": WEATHER}},
         {"type": "function",
          "function": {"name": "get_time", "description": "Local time in a city",
                       "parameters": {"type": "object",
                                      "properties": {"tz": {"type": "string", "maxLength": 6}},
                                      "required": ["tz"], "additionalProperties": False}}}]
PERSON = {"type": "object",
          "properties": {"name": {"type": "string", "maxLength": 8},
                         "age": {"type": "integer"},
                         "pets": {"type": "array", "items": {"enum": ["cat", "dog"]},
                                  "maxItems": 2},
                         "home": {"type": "object",
                                  "properties": {"city": {"type": "string", "maxLength": 6}},
                                  "required": ["city"], "additionalProperties": False}},
          "required": ["name", "age", "home"], "additionalProperties": False}


def setup_module():
    p = subprocess.run([BIN, "model", "mktiny", "--arch", "qwen3", "--out", LLM, "--seed", "7"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def teardown_module():
    shutil.rmtree(MODELS, True)


@pytest.fixture(scope="module")
def served():
    s = private_server(GENERATION_MODEL=LLM, GENERATION_CONTEXT_LENGTH="2048",
                       GENERATION_MAX_TOKENS="700", RATE_LIMIT_BILLING="1000/60",
                       RATE_LIMIT_CHAT="1000/60",  # one user makes every call of the module
                       GENERATION_PARALLEL="3", GENERATION_PER_USER="3")
    tok = enterprise_user(s, "tools@example.com")
    yield s, tok
    s.stop()


def complete(s, tok, **body):
    body.setdefault("model", "tiny-qwen3.gguf")
    body.setdefault("messages", [{"role": "user", "content": "Describe someone as JSON."}])
    body.setdefault("temperature", 1)
    body.setdefault("max_tokens", 700)
    return s.post("/v1/chat/completions", body, token=tok, timeout=300)


def test_response_format_json_schema(served):
    s, tok = served
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON,
                                                   "strict": True}}
    for seed in range(6):
        r = complete(s, tok, response_format=fmt, seed=seed)
        assert r.status == 200, r
        ch = r.json["choices"][0]
        assert ch["finish_reason"] == "stop", ch
        jsonschema.validate(json.loads(ch["message"]["content"]), PERSON)
    # streamed: the pieces add up to a valid value
    r = complete(s, tok, response_format=fmt, seed=42, stream=True)
    assert r.status == 200, r
    ev = [e for e in parse_sse(r.body) if e != "[DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in ev if e["choices"])
    jsonschema.validate(json.loads(text), PERSON)
    assert ev[-1]["choices"][0]["finish_reason"] == "stop"


def test_constraint_holds_with_bias_and_penalties(served):
    """The /v1 sampling fields act on the logits the grammar has masked: a +100 bias on 300
    tokens, penalties that reward repetition, top_k, min_p, n = 2 and logprobs leave every
    answer valid."""
    s, tok = served
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
    bias = {str(i): 100 for i in range(300)}
    for seed in range(2):
        r = complete(s, tok, response_format=fmt, seed=seed, logit_bias=bias,
                     presence_penalty=-2, frequency_penalty=-2, repetition_penalty=0.5,
                     top_k=5, min_p=0.01, n=2, logprobs=True, top_logprobs=2)
        assert r.status == 200, r
        assert len(r.json["choices"]) == 2
        for ch in r.json["choices"]:
            assert ch["finish_reason"] == "stop", ch
            jsonschema.validate(json.loads(ch["message"]["content"]), PERSON)
            assert ch["logprobs"]["content"], ch


def test_constrained_answers_decoded_together(served):
    """Three constrained generations at once (their decoding steps batched into shared forward
    passes) each keep their own automaton: every answer validates against its own schema."""
    s, tok = served
    schemas = [PERSON, WEATHER, {"type": "array", "items": {"type": "integer"}, "minItems": 1,
                                 "maxItems": 4}]
    out = [None] * 3

    def one(i):
        out[i] = complete(s, tok, seed=100 + i, response_format={
            "type": "json_schema", "json_schema": {"name": f"s{i}", "schema": schemas[i]}})

    ts = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i, r in enumerate(out):
        assert r.status == 200, r
        assert r.json["choices"][0]["finish_reason"] == "stop", r.json
        jsonschema.validate(json.loads(r.json["choices"][0]["message"]["content"]), schemas[i])
    h = s.get("/health/detailed").json["services"]["models"]["generator"]
    assert h["decode_batch_avg"] > 1.0, h  # the steps did run together


def test_response_format_json_object(served):
    s, tok = served
    r = complete(s, tok, response_format={"type": "json_object"}, seed=3, max_tokens=60)
    assert r.status == 200, r
    text = r.json["choices"][0]["message"]["content"]
    assert text.startswith("{"), text
    if r.json["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(text), dict)


def test_unsupported_schema_is_400(served):
    s, tok = served
    bad = {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}
    r = complete(s, tok, response_format={"type": "json_schema",
                                          "json_schema": {"name": "x", "schema": bad}})
    assert r.status == 400, r
    assert r.json["error"]["type"] == "invalid_request_error"
    assert "'format'" in r.json["error"]["message"] and "$.d" in r.json["error"]["message"]
    r = complete(s, tok, tools=[{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {
            "x": {"type": "string", "pattern": "^a"}}}}}], tool_choice="required")
    assert r.status == 400 and "'pattern'" in r.json["error"]["message"], r
    r = complete(s, tok, tools=TOOLS, tool_choice={"type": "function",
                                                   "function": {"name": "nope"}})
    assert r.status == 400 and "nope" in r.json["error"]["message"], r
    r = complete(s, tok, tool_choice="required")
    assert r.status == 400, r
    r = complete(s, tok, tools=[{"type": "function", "function": {"name": "has space"}}])
    assert r.status == 400 and r.json["error"]["param"] == "tools", r
    r = complete(s, tok, messages=[{"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f"}}]}])
    assert r.status == 422 and "tool_calls[0]" in r.json["detail"], r
    r = complete(s, tok, response_format={"type": "yaml"})
    assert r.status == 400 and r.json["error"]["param"] == "response_format", r


def test_tool_choice_required(served):
    s, tok = served
    msgs = [{"role": "user", "content": "What is the weather in Oslo?"}]
    names = set()
    for seed in range(4):
        r = complete(s, tok, messages=msgs, tools=TOOLS, tool_choice="required", seed=seed)
        assert r.status == 200, r
        ch = r.json["choices"][0]
        assert ch["finish_reason"] == "tool_calls", ch
        assert ch["message"]["content"] is None
        (call,) = ch["message"]["tool_calls"]
        assert call["id"].startswith("call_") and len(call["id"]) > 10
        assert call["type"] == "function"
        fn = call["function"]
        names.add(fn["name"])
        schema = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}[fn["name"]]
        jsonschema.validate(json.loads(fn["arguments"]), schema)
    assert names <= {"get_weather", "get_time"}
    # a named function is the one called
    r = complete(s, tok, messages=msgs, tools=TOOLS, seed=9,
                 tool_choice={"type": "function", "function": {"name": "get_time"}})
    assert r.status == 200, r
    call = r.json["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "get_time"
    jsonschema.validate(json.loads(call["function"]["arguments"]),
                        TOOLS[1]["function"]["parameters"])
    # streamed: the call comes as a tool_calls delta with its index, then finish_reason
    r = complete(s, tok, messages=msgs, tools=TOOLS, seed=5, stream=True,
                 tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert r.status == 200, r
    ev = [e for e in parse_sse(r.body) if e != "[DONE]"]
    deltas = [d for e in ev for d in e["choices"][0]["delta"].get("tool_calls", [])]
    assert len(deltas) == 1 and deltas[0]["index"] == 0, ev
    assert deltas[0]["function"]["name"] == "get_weather" and deltas[0]["id"].startswith("call_")
    jsonschema.validate(json.loads(deltas[0]["function"]["arguments"]), WEATHER)
    assert ev[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert not "".join(e["choices"][0]["delta"].get("content") or "" for e in ev)


def test_tool_result_round_trip(served):
    s, tok = served
    msgs = [{"role": "user", "content": "What is the weather in Oslo?"}]
    r = complete(s, tok, messages=msgs, tools=TOOLS, tool_choice="required", seed=1)
    call = r.json["choices"][0]["message"]["tool_calls"][0]
    follow = msgs + [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call["id"], "content": "22 C and sunny"}]
    r2 = complete(s, tok, messages=follow, tools=TOOLS, seed=1, max_tokens=16)
    assert r2.status == 200, r2
    ch = r2.json["choices"][0]
    assert ch["finish_reason"] in ("stop", "length", "tool_calls"), ch
    # the call and its result are in the prompt: it is longer than the question alone
    r3 = complete(s, tok, messages=msgs, tools=TOOLS, seed=1, max_tokens=16)
    assert r2.json["usage"]["prompt_tokens"] > r3.json["usage"]["prompt_tokens"] + 10
    # without tools (tool_choice none) the signatures are not in the prompt
    r4 = complete(s, tok, messages=msgs, tools=TOOLS, tool_choice="none", seed=1, max_tokens=16)
    assert r4.status == 200 and "tool_calls" not in r4.json["choices"][0]["message"]
    assert r4.json["usage"]["prompt_tokens"] + 50 < r3.json["usage"]["prompt_tokens"]


def test_upstream_passthrough():
    from upstreams import Upstream
    up = Upstream(dim=16)
    up.tool_calls = [{"id": "call_up1", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]
    s = private_server(OPENAI_API_BASE=up.base, OPENAI_API_KEY="sk-test", OPENAI_MODEL="up-gpt")
    try:
        tok = enterprise_user(s, "tools-up@example.com")
        fmt = {"type": "json_schema", "json_schema": {"name": "p", "schema": {
            "type": "string", "pattern": "^a"}}}  # not for the local engine: passed through
        msgs = [{"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": up.tool_calls},
                {"role": "tool", "tool_call_id": "call_up1", "content": "22 C"}]
        r = s.post("/v1/chat/completions", {"model": "up-gpt", "messages": msgs, "tools": TOOLS,
                                            "tool_choice": "auto", "response_format": fmt},
                   token=tok)
        assert r.status == 200, r
        sent = [b for p, b, _ in up.requests if p.endswith("/chat/completions")][-1]
        assert sent["tools"] == TOOLS and sent["tool_choice"] == "auto"
        assert sent["response_format"] == fmt
        assert sent["messages"][1]["tool_calls"] == up.tool_calls
        assert sent["messages"][1]["content"] is None
        assert sent["messages"][2]["tool_call_id"] == "call_up1"
        ch = r.json["choices"][0]
        assert ch["finish_reason"] == "tool_calls"
        assert ch["message"]["tool_calls"] == up.tool_calls
        # streamed to the client as a tool_calls delta
        r = s.post("/v1/chat/completions", {"model": "up-gpt", "messages": msgs[:1],
                                            "tools": TOOLS, "stream": True}, token=tok)
        ev = [e for e in parse_sse(r.body) if e != "[DONE]"]
        deltas = [d for e in ev for d in e["choices"][0]["delta"].get("tool_calls", [])]
        assert deltas and deltas[0]["id"] == "call_up1", ev
        assert ev[-1]["choices"][0]["finish_reason"] == "tool_calls"
    finally:
        s.stop()
        up.close()
