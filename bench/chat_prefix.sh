#!/usr/bin/env bash
# Prefix cache and chat time to first token: two ragd serving the same Qwen3-1.7B-shaped random
# model (q8_0 by default), one with PREFIX_CACHE_MB=0 (off) and one with the cache on, answer
# the same 3-turn conversations in alternating rounds (off, on, on, off, ...). Time to first
# token (streamed) of every turn, medians over ROUNDS rounds, and the ratio off / on:
#   - /chat/message: one chat session, 5 retrieved chunks per turn (the chat route's prompt:
#     system prompt, earlier questions and answers, then the retrieved context and question);
#   - /v1/chat/completions: a client that sends 5 retrieved chunks in its first message and
#     then the whole conversation each turn (earlier turns are a true prefix);
#   - /chat/message asked the same question again in a new session (a repeated question).
#
#   bench/chat_prefix.sh
#   TYPE=q4_k ROUNDS=5 bench/chat_prefix.sh
# The model goes to $BENCH_DIR (default /tmp/ragd-bench) and is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
TYPE=${TYPE:-q8_0}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-8793}
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
SHAPE=${SHAPE:-1.7b}
MODEL="$DIR/qwen3-$SHAPE-$TYPE.gguf"
[ -s "$MODEL" ] || "$RAGD" model mktiny --arch qwen3 --shape "$SHAPE" --type "$TYPE" --seed 1 --out "$MODEL"
WORK=$(mktemp -d /tmp/ragd-bench-prefix-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$WORK"' EXIT
export BCRYPT_ROUNDS=4 JWT_SECRET_KEY=bench-secret-0123456789abcdef LOG_LEVEL=warning
export GENERATION_MODEL="$MODEL" SEED_DEMO_DOCS=false RATE_LIMIT_CHAT=100000/60
export GENERATION_CONTEXT_LENGTH=4096 GENERATION_MAX_TOKENS=8 GENERATION_PARALLEL=1
for i in 0 1; do
  "$RAGD" seed --demo --data "$WORK/data$i" >/dev/null 2>&1
  PREFIX_CACHE_MB=$((i * 1024)) "$RAGD" serve --data "$WORK/data$i" --port $((PORT + i)) \
    >"$WORK/log$i" 2>&1 &
  PIDS+=($!)
done

PYTHONPATH=bench python3 - "$PORT" "$ROUNDS" "$MODEL" <<'PY'
import json, statistics, sys, time
from ragd_http import Ragd
port, rounds, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].rsplit("/", 1)[1]
servers = [Ragd(port), Ragd(port + 1)]  # cache off, cache on
topics = ["glaciers", "volcanoes", "tides", "auroras", "deserts", "forests", "rivers"]
texts = {t: " ".join(f"Paragraph {k} about {t}: the {t} of the world change slowly, and people "
                     f"who study {t} measure them with care every season." for k in range(3))
         for t in topics}
for r in servers:
    r.wait_and_login()
    for t in topics:
        st, d = r.call("POST", "/documents", {"title": t, "content": texts[t]})
        assert st in (200, 201, 202), (st, d)
for r in servers:
    deadline = time.time() + 300
    while time.time() < deadline:
        st, d = r.call("GET", "/documents?limit=100")
        items = d.get("documents") or d.get("items") or []
        if len(items) >= len(topics) and all(x["status"] == "ready" for x in items): break
        time.sleep(0.2)

def ttft(r, path, body):
    t0 = time.perf_counter()
    c, resp = r.open("POST", path, body)
    assert resp.status == 200, (resp.status, resp.read()[:300])
    first, info, text = None, {}, ""
    for line in resp:
        if not line.startswith(b"data: {"): continue
        ev = json.loads(line[6:])
        piece = ev.get("content") if ev.get("type") == "token" else (
            ev["choices"][0]["delta"].get("content") if ev.get("choices") else None)
        if piece:
            text += piece
            if first is None: first = time.perf_counter() - t0
        if ev.get("type") == "done": info = ev
    c.close()
    return first, info, text

questions = ["How do people who study glaciers and volcanoes measure them?",
             "Which of them changes faster over a season?",
             "And what about tides and auroras, how are they measured?"]

def chat_route(r, rd):
    """3 turns in one chat session: [ttft per turn], [prompt tokens per turn]. The round number
    starts the first question, so no round reuses an earlier round's history (turn 1 still
    finds the system prompt and the same 5 retrieved chunks of earlier rounds)."""
    sid, out, toks = None, [], []
    for k, q in enumerate(questions):
        q = f"(Round {rd}) {q}" if k == 0 else q
        body = {"message": q, "stream": True, "top_k": 5, "debug_mode": True}
        if sid: body["session_id"] = sid
        t, info, _ = ttft(r, "/chat/message", body)
        sid = info.get("session_id", sid)
        out.append(t)
        toks.append((info.get("debug_info") or {}).get("prompt_tokens", 0))
    return out, toks

context = "Relevant Context:" + "".join(
    f"\n{i + 1}. [Score: 0.{90 - i}] ({t}) {texts[t][:500]}"
    for i, t in enumerate(topics[:5]))

def openai_route(r, rd):
    """3 turns of a client that keeps the conversation (5 chunks in the first message); the
    round number starts the system prompt, so turn 1 finds nothing cached."""
    msgs = [{"role": "system", "content": f"(Conversation {rd}) You are a helpful AI assistant. Answer questions "
             "based on the provided context and cite it by number, like [1]."}]
    out = []
    for k, q in enumerate(questions):
        msgs.append({"role": "user", "content": (context + "\n\nUser Question: " + q) if k == 0
                     else q})
        t, _, text = ttft(r, "/v1/chat/completions",
                          {"model": model, "messages": msgs, "stream": True, "max_tokens": 8})
        out.append(t)
        msgs.append({"role": "assistant", "content": text})
    return out

def repeated(r):
    return ttft(r, "/chat/message", {"message": questions[0], "stream": True, "top_k": 5})[0]

for r in servers:  # warm-up: page cache, first allocations
    ttft(r, "/chat/message", {"message": "Hello", "stream": True, "top_k": 5})
res = {name: [[[] for _ in range(3)] for _ in servers] for name in ("chat", "openai")}
rep = [[] for _ in servers]
ptoks = None
for rd in range(rounds):
    order = (0, 1) if rd % 2 == 0 else (1, 0)
    for r in servers:  # a round can outlast an access token
        r.wait_and_login()
    for i in order:
        ts = openai_route(servers[i], rd)
        for k in range(3): res["openai"][i][k].append(ts[k])
    for i in order:
        ts, ptoks = chat_route(servers[i], rd)
        for k in range(3): res["chat"][i][k].append(ts[k])
    for i in order:
        rep[i].append(repeated(servers[i]))
    ms = lambda v: [round(1000 * x) for x in v]
    print(f"round {rd + 1}: openai off {ms(res['openai'][0][k][-1] for k in range(3))} on "
          f"{ms(res['openai'][1][k][-1] for k in range(3))}; chat off "
          f"{ms(res['chat'][0][k][-1] for k in range(3))} on "
          f"{ms(res['chat'][1][k][-1] for k in range(3))}; repeated off "
          f"{ms([rep[0][-1]])} on {ms([rep[1][-1]])}", flush=True)

med = lambda v: 1000 * statistics.median(v)
print(f"model {model}; medians of {rounds} alternating rounds; time to first token (ms)")
print(f"chat route prompt tokens per turn: {ptoks}")
for name in ("chat", "openai"):
    for k in range(3):
        off, on = med(res[name][0][k]), med(res[name][1][k])
        print(f"  {name:7s} turn {k + 1}: cache off {off:7.0f}   on {on:7.0f}   ratio {off / on:5.2f}")
off, on = med(rep[0]), med(rep[1])
print(f"  repeated question:  cache off {off:7.0f}   on {on:7.0f}   ratio {off / on:5.2f}")
for i, r in enumerate(servers):
    g = r.generator()
    print(f"  server {'on' if i else 'off'}: prefix cache {json.dumps(g.get('prefix_cache'))}")
PY
