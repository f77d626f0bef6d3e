#!/usr/bin/env bash
# Generation throughput under concurrency: a ragd serving a Qwen3-1.7B-shaped random model
# (q4_k by default) answers 1, 2 and 4 simultaneous /v1/chat/completions of 48 greedy tokens;
# prints the aggregate tokens/s (median of RUNS rounds) and the average number of sessions
# decoded per forward pass.
#
#   bench/generation_concurrency.sh
#   TYPE=q8_0 RUNS=5 bench/generation_concurrency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
TYPE=${TYPE:-q4_k}
RUNS=${RUNS:-3}
PORT=${PORT:-8792}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
MODEL="$DIR/qwen3-1.7b-$TYPE.gguf"
[ -s "$MODEL" ] || "$RAGD" model mktiny --arch qwen3 --shape 1.7b --type "$TYPE" --seed 1 --out "$MODEL"
WORK=$(mktemp -d /tmp/ragd-conc-XXXXXX)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
export BCRYPT_ROUNDS=4 JWT_SECRET_KEY=bench-secret-0123456789abcdef LOG_LEVEL=warning
export GENERATION_MODEL="$MODEL" GENERATION_CONTEXT_LENGTH=512 GENERATION_PARALLEL=4
export SEED_DEMO_DOCS=false RATE_LIMIT_CHAT=100000/60
"$RAGD" seed --demo --data "$WORK/data" >/dev/null 2>&1
"$RAGD" serve --data "$WORK/data" --port "$PORT" >"$WORK/log" 2>&1 &
PID=$!
python3 - "$PORT" "$(basename "$MODEL")" "$RUNS" <<'PY'
import http.client, json, statistics, sys, threading, time
port, model, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

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
tok = call("POST", "/auth/login", {"email": "admin@example.com", "password": "adminpassword123"})[1]["access_token"]

def gen(out, n=48):
    st, j = call("POST", "/v1/chat/completions", {"model": model, "max_tokens": n, "temperature": 0,
                 "messages": [{"role": "user", "content": "hi"}]}, tok)
    assert st == 200, (st, j)
    out.append(j["usage"]["completion_tokens"])

gen([], 4)  # warm-up
rates = {1: [], 2: [], 4: []}
for _ in range(runs):
    for par in rates:
        got = []
        t0 = time.perf_counter()
        th = [threading.Thread(target=gen, args=(got,)) for _ in range(par)]
        for t in th: t.start()
        for t in th: t.join()
        rates[par].append(sum(got) / (time.perf_counter() - t0))
base = statistics.median(rates[1])
for par, v in rates.items():
    m = statistics.median(v)
    print(f"{par} concurrent: {m:6.1f} tok/s aggregate ({m / base:.2f}x one), runs "
          + ", ".join(f"{x:.1f}" for x in v))
g = call("GET", "/health/detailed")[1]["services"]["models"]["generator"]
print(f"sessions per decoding pass: {g['decode_batch_avg']:.2f} over {g['decode_steps']} passes")
PY
