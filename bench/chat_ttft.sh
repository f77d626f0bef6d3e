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
TYPE=${TYPE:-q8_0}
RUNS=${RUNS:-7}
PORT=${PORT:-8791}
export GENERATION_CONTEXT_LENGTH=4096 GENERATION_MAX_TOKENS=8
. bench/model_server.sh

PYTHONPATH=bench python3 - "$PORT" "$RUNS" "$MODEL" <<'PY'
import json, statistics, sys, time
from ragd_http import Ragd
port, runs, model = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].rsplit("/", 1)[1]
r = Ragd(port)
r.wait_and_login()
topics = ["glaciers", "volcanoes", "tides", "auroras", "deserts", "forests", "rivers"]
for i, t in enumerate(topics):
    text = " ".join(f"Paragraph {k} about {t}: the {t} of the world change slowly, and people "
                    f"who study {t} measure them with care every season." for k in range(3))
    st, d = r.call("POST", "/documents", {"title": t, "content": text})
    assert st in (200, 201, 202), (st, d)
deadline = time.time() + 120
while time.time() < deadline:
    st, d = r.call("GET", "/documents?limit=100")
    items = d.get("documents") or d.get("items") or []
    if len(items) >= len(topics) and all(x["status"] == "ready" for x in items): break
    time.sleep(0.2)

def ttft(path, body):
    t0 = time.perf_counter()
    c, resp = r.open("POST", path, body)
    assert resp.status == 200, (resp.status, resp.read()[:300])
    first, info = None, {}
    for line in resp:
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
g = r.generator()
print(f"model {model}; /chat/message stream, {passages} context chunks retrieved, "
      f"{prompt_tok} prompt tokens")
print(f"  time to first token: median {1000*statistics.median(chat):.0f} ms "
      f"(min {1000*min(chat):.0f}, max {1000*max(chat):.0f}; {runs} runs)")
print(f"  server figures: prompt {g['prompt_tokens_per_second']:.1f} tok/s, "
      f"decode {g['tokens_per_second']:.2f} tok/s, avg ttft {g['avg_ttft_ms']:.0f} ms")
PY
