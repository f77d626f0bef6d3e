#!/usr/bin/env bash
# Chat time-to-first-token: a ragd serving a Qwen3-1.7B-shaped random model (q8_0 by default)
# answers POST /chat/message with stream: true and 5 retrieved context chunks; the figure is
# the time from sending the request to the first token event (retrieval, prompt building,
# prompt evaluation and the first decoding step), median of RUNS runs, with the prompt size.
#
#   bench/chat_ttft.sh
#   TYPE=q4_k RUNS=5 bench/chat_ttft.sh
# The model goes to $BENCH_DIR (default /tmp/ragd-bench) and is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
TYPE=${TYPE:-q8_0}
RUNS=${RUNS:-7}
PORT=${PORT:-8791}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
MODEL="$DIR/qwen3-1.7b-$TYPE.gguf"
[ -s "$MODEL" ] || "$RAGD" model mktiny --arch qwen3 --shape 1.7b --type "$TYPE" --seed 1 --out "$MODEL"

WORK=$(mktemp -d /tmp/ragd-ttft-XXXXXX)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
export BCRYPT_ROUNDS=4 JWT_SECRET_KEY=bench-secret-0123456789abcdef LOG_LEVEL=warning
export GENERATION_MODEL="$MODEL" GENERATION_CONTEXT_LENGTH=4096 GENERATION_MAX_TOKENS=8
export SEED_DEMO_DOCS=false RATE_LIMIT_CHAT=100000/60
"$RAGD" seed --demo --data "$WORK/data" >/dev/null 2>&1
"$RAGD" serve --data "$WORK/data" --port "$PORT" >"$WORK/log" 2>&1 &
PID=$!

python3 - "$PORT" "$RUNS" "$MODEL" <<'PY'
import http.client, json, statistics, sys, time
port, runs, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].rsplit("/", 1)[1]

def call(method, path, body=None, tok=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    h = {"Content-Type": "application/json"}
    if tok: h["Authorization"] = "Bearer " + tok
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, json.loads(data) if data else None

for _ in range(600):
    try:
        if call("GET", "/health")[0] == 200: break
    except OSError: pass
    time.sleep(0.1)
st, j = call("POST", "/auth/login", {"email": "admin@example.com", "password": "adminpassword123"})
tok = j["access_token"]
topics = ["glaciers", "volcanoes", "tides", "auroras", "deserts", "forests", "rivers"]
for i, t in enumerate(topics):
    text = " ".join(f"Paragraph {k} about {t}: the {t} of the world change slowly, and people "
                    f"who study {t} measure them with care every season." for k in range(3))
    st, d = call("POST", "/documents", {"title": t, "content": text}, tok)
    assert st in (200, 201, 202), (st, d)
deadline = time.time() + 120
while time.time() < deadline:
    st, d = call("GET", "/documents?limit=100", tok)
    items = d.get("documents") or d.get("items") or []
    if len(items) >= len(topics) and all(x["status"] == "ready" for x in items): break
    time.sleep(0.2)

def ttft(path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", path, json.dumps(body),
              {"Content-Type": "application/json", "Authorization": "Bearer " + tok})
    r = c.getresponse()
    assert r.status == 200, (r.status, r.read()[:300])
    first, info = None, {}
    for line in r:
        if not line.startswith(b"data: {"): continue
        ev = json.loads(line[6:])
        if first is None and (ev.get("type") == "token" or
                              (ev.get("choices") and ev["choices"][0]["delta"].get("content"))):
            first = time.perf_counter() - t0
        if ev.get("type") == "done": info = ev
        if ev.get("usage"): info = ev
    c.close()
    return first, info

q = {"message": "How do people who study glaciers and volcanoes measure them?", "stream": True,
     "top_k": 5, "debug_mode": True}
ttft("/chat/message", q)  # warm-up (page cache, first allocations)
chat, passages, prompt_tok = [], 0, 0
for _ in range(runs):
    t, info = ttft("/chat/message", q)
    chat.append(t)
    dbg = info.get("debug_info") or {}
    passages, prompt_tok = dbg.get("passages_retrieved", 0), dbg.get("prompt_tokens", 0)
st, h = call("GET", "/health/detailed")
g = h["services"]["models"]["generator"]
print(f"model {model}; /chat/message stream, {passages} context chunks retrieved, "
      f"{prompt_tok} prompt tokens")
print(f"  time to first token: median {1000*statistics.median(chat):.0f} ms "
      f"(min {1000*min(chat):.0f}, max {1000*max(chat):.0f}; {runs} runs)")
print(f"  server figures: prompt {g['prompt_tokens_per_second']:.1f} tok/s, "
      f"decode {g['tokens_per_second']:.2f} tok/s, avg ttft {g['avg_ttft_ms']:.0f} ms")
PY
