#!/usr/bin/env bash
# Generation throughput under concurrency: a ragd serving a Qwen3-1.7B-shaped random model
# (q4_k by default) answers 1, 2 and 4 simultaneous /v1/chat/completions of 48 greedy tokens;
# prints the aggregate tokens/s (median of RUNS rounds) and the average number of sessions
# decoded per forward pass. The answers all come from one user, so GENERATION_PER_USER is raised
# with GENERATION_PARALLEL (at its default of 1 they would run one after another).
#
#   bench/generation_concurrency.sh
#   TYPE=q8_0 RUNS=5 bench/generation_concurrency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TYPE=${TYPE:-q4_k}
RUNS=${RUNS:-3}
PORT=${PORT:-8792}
export GENERATION_CONTEXT_LENGTH=512 GENERATION_PARALLEL=4 GENERATION_PER_USER=4
. bench/model_server.sh
PYTHONPATH=bench python3 - "$PORT" "$(basename "$MODEL")" "$RUNS" <<'PY'
import statistics, sys, threading, time
from ragd_http import Ragd
port, model, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
r = Ragd(port)
r.wait_and_login()

def gen(out, n=48):
    st, j = r.call("POST", "/v1/chat/completions", {"model": model, "max_tokens": n,
                   "temperature": 0, "messages": [{"role": "user", "content": "hi"}]})
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
g = r.generator()
print(f"sessions per decoding pass: {g['decode_batch_avg']:.2f} over {g['decode_steps']} passes")
PY
