#!/usr/bin/env bash
# Chat time to first token, before and after: two ragd serving the same Qwen3-1.7B-shaped random
# model (q4_k by default) answer the same 3-turn /chat/message conversations (one session, 5
# retrieved chunks per turn) in alternating rounds (A B, B A, ...). Time to first token
# (streamed) of every turn, medians over ROUNDS rounds, and the ratio reference / candidate,
# with the prompt tokens of each turn and how many of them the prefix cache served, and the
# time of each turn until its stream ended (the turn's rows are saved into the cache last).
#   - candidate: $RAGD_BIN (default build/release/ragd), prefix cache on (PREFIX_CACHE_MB=1024);
#   - reference: $RAGD_BEFORE (another build, e.g. the main branch's), prefix cache on; without
#     RAGD_BEFORE, the candidate itself with PREFIX_CACHE_MB=0 (no reuse at all).
# PARTS=chat,openai,repeated adds the OpenAI-compatible route (a client that sends 5 chunks in
# its first message, then the whole conversation) and a repeated question in a new session.
#
#   bench/chat_prefix.sh
#   RAGD_BEFORE=/path/to/main/ragd ROUNDS=5 THREADS=4 bench/chat_prefix.sh
# The model goes to $BENCH_DIR (default /tmp/ragd-bench) and is reused; MODEL=path uses a
# model file already made with the same command.
set -euo pipefail
cd "$(dirname "$0")/.."
TYPE=${TYPE:-q4_k}
SHAPE=${SHAPE:-1.7b}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
PARTS=${PARTS:-chat}
PORT=${PORT:-8793}
RAGD=${RAGD_BIN:-build/release/ragd}
BEFORE=${RAGD_BEFORE:-}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
MODEL=${MODEL:-$DIR/qwen3-$SHAPE-$TYPE.gguf}
[ -s "$MODEL" ] || "$RAGD" model mktiny --arch qwen3 --shape "$SHAPE" --type "$TYPE" --seed 1 --out "$MODEL"
WORK=$(mktemp -d /tmp/ragd-bench-prefix-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; wait $p 2>/dev/null; done; rm -rf "$WORK"' EXIT
export BCRYPT_ROUNDS=4 JWT_SECRET_KEY=bench-secret-0123456789abcdef LOG_LEVEL=warning
export GENERATION_MODEL="$MODEL" SEED_DEMO_DOCS=false RATE_LIMIT_CHAT=100000/60
export GENERATION_CONTEXT_LENGTH=4096 GENERATION_MAX_TOKENS=8 GENERATION_PARALLEL=1
export GENERATION_THREADS=$THREADS
# server 0: the reference, server 1: the candidate
if [ -n "$BEFORE" ]; then BINS=("$BEFORE" "$RAGD"); CACHE=(1024 1024); NAMES=(before after)
else BINS=("$RAGD" "$RAGD"); CACHE=(0 1024); NAMES=(cache-off cache-on); fi
for i in 0 1; do
  "${BINS[$i]}" seed --demo --data "$WORK/data$i" >/dev/null 2>&1
  PREFIX_CACHE_MB=${CACHE[$i]} "${BINS[$i]}" serve --data "$WORK/data$i" --port $((PORT + i)) \
    >"$WORK/log$i" 2>&1 &
  PIDS+=($!)
done

PYTHONPATH=bench python3 - "$PORT" "$ROUNDS" "$MODEL" "$PARTS" "${NAMES[@]}" <<'PY'
import json, statistics, sys, time
from ragd_http import Ragd
port, rounds, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].rsplit("/", 1)[1]
parts, names = sys.argv[4].split(","), sys.argv[5:7]
servers = [Ragd(port), Ragd(port + 1)]  # reference, candidate
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

def reused(r):
    return r.generator()["prefix_cache"]["reused_tokens"]

last_total = [0.0]  # seconds the last ttft() call took until its stream ended

def ttft(r, path, body):
    """(seconds to the first token, the done event, the text, prompt tokens the cache served);
    the seconds until the stream ended go to last_total[0]"""
    before = reused(r)
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
    last_total[0] = time.perf_counter() - t0
    return first, info, text, reused(r) - before

questions = ["How do people who study glaciers and volcanoes measure them?",
             "Which of them changes faster over a season?",
             "And what about tides and auroras, how are they measured?"]

def chat_route(r, rd):
    """3 turns in one chat session: [ttft], [prompt tokens], [tokens reused], [seconds to the
    stream's end] per turn. The round
    number starts the first question, so no round reuses an earlier round's history (turn 1
    still finds the system prompt of earlier rounds)."""
    sid, out, toks, reuse, total = None, [], [], [], []
    for k, q in enumerate(questions):
        q = f"(Round {rd}) {q}" if k == 0 else q
        body = {"message": q, "stream": True, "top_k": 5, "debug_mode": True}
        if sid: body["session_id"] = sid
        t, info, _, n = ttft(r, "/chat/message", body)
        sid = info.get("session_id", sid)
        out.append(t)
        total.append(last_total[0])
        toks.append((info.get("debug_info") or {}).get("prompt_tokens", 0))
        reuse.append(n)
    return out, toks, reuse, total

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
        t, _, text, _ = ttft(r, "/v1/chat/completions",
                             {"model": model, "messages": msgs, "stream": True, "max_tokens": 8})
        out.append(t)
        msgs.append({"role": "assistant", "content": text})
    return out

def repeated(r):
    return ttft(r, "/chat/message", {"message": questions[0], "stream": True, "top_k": 5})[0]

for r in servers:  # warm-up: page cache, first allocations
    ttft(r, "/chat/message", {"message": "Hello", "stream": True, "top_k": 5})
res = {name: [[[] for _ in range(3)] for _ in servers] for name in ("chat", "openai", "total")}
rep = [[] for _ in servers]
ptoks, preuse = [None, None], [None, None]
ms = lambda v: [round(1000 * x) for x in v]
for rd in range(rounds):
    order = (0, 1) if rd % 2 == 0 else (1, 0)
    for r in servers:  # a round can outlast an access token
        r.wait_and_login()
    if "openai" in parts:
        for i in order:
            ts = openai_route(servers[i], rd)
            for k in range(3): res["openai"][i][k].append(ts[k])
    for i in order:
        ts, ptoks[i], preuse[i], tot = chat_route(servers[i], rd)
        for k in range(3):
            res["chat"][i][k].append(ts[k])
            res["total"][i][k].append(tot[k])
    if "repeated" in parts:
        for i in order:
            rep[i].append(repeated(servers[i]))
    print(f"round {rd + 1}: chat {names[0]} {ms(res['chat'][0][k][-1] for k in range(3))} "
          f"{names[1]} {ms(res['chat'][1][k][-1] for k in range(3))}", flush=True)

med = lambda v: 1000 * statistics.median(v)
print(f"model {model}; medians of {rounds} alternating rounds; time to first token (ms); "
      f"ratio = {names[0]} / {names[1]}")
for i in (0, 1):
    print(f"  {names[i]:9s} chat prompt tokens per turn {ptoks[i]}, served by the prefix cache "
          f"{preuse[i]}")
for name in ["chat"] + (["openai"] if "openai" in parts else []):
    for k in range(3):
        a, b = med(res[name][0][k]), med(res[name][1][k])
        print(f"  {name:7s} turn {k + 1}: {names[0]} {a:7.0f}   {names[1]} {b:7.0f}   "
              f"ratio {a / b:5.2f}")
for k in range(3):  # the whole answer: the save of the turn's rows into the cache comes last
    a, b = med(res["total"][0][k]), med(res["total"][1][k])
    print(f"  chat turn {k + 1} until the stream ended: {names[0]} {a:7.0f}   {names[1]} "
          f"{b:7.0f}   ratio {a / b:5.2f}")
if "repeated" in parts:
    a, b = med(rep[0]), med(rep[1])
    print(f"  repeated question: {names[0]} {a:7.0f}   {names[1]} {b:7.0f}   ratio {a / b:5.2f}")
for i, r in enumerate(servers):
    g = r.generator()
    print(f"  {names[i]}: prefix cache {json.dumps(g.get('prefix_cache'))}")
PY
