#!/usr/bin/env bash
# Engine benchmark: prompt-processing and generation tokens/s of Qwen3-0.6B- and 1.7B-shaped
# random models at q8_0 and q4_k (median of 5 runs each), and the memory-bandwidth bound:
# weight bytes read per generated token / measured read bandwidth.
#
#   bench/engine.sh                 # all four models
#   SHAPES=0.6b TYPES=q8_0 RUNS=3 bench/engine.sh
# Model files go to $BENCH_DIR (default /tmp/ragd-bench, about 3.5 GB) and are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
SHAPES=${SHAPES:-"0.6b 1.7b"}
TYPES=${TYPES:-"q8_0 q4_k"}
RUNS=${RUNS:-5}
NPRED=${NPRED:-32}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd

# ---- read bandwidth (bench/bw_probe.c) ----
. bench/lib.sh
read -r BW_READ BW_COPY < <(bw_probe "$THREADS")
echo "memory: read ${BW_READ} GB/s with $THREADS threads; memcpy ${BW_COPY} GB/s (read+write)"

PROMPT="The quick brown fox jumps over the lazy dog. A retrieval augmented assistant answers \
questions from the documents of its users, and it cites the sources it used. When the answer \
is not in the knowledge base, the assistant says that it does not know. Tokens are pieces of \
words; the model reads tokens and predicts the next token."


printf '\n%-6s %-5s %9s %10s %10s %12s %8s\n' shape type "GB/token" "prompt t/s" "gen t/s" "bound t/s" "of bound"
for shape in $SHAPES; do
  for type in $TYPES; do
    f="$DIR/qwen3-$shape-$type.gguf"
    [ -s "$f" ] || "$RAGD" model mktiny --arch qwen3 --shape "$shape" --type "$type" --seed 1 --out "$f"
    wb=$("$RAGD" model info "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight_bytes_per_token"])')
    : > "$DIR/pp"; : > "$DIR/tg"
    for r in $(seq "$RUNS"); do
      line=$("$RAGD" generate --model "$f" --prompt "$PROMPT" --n-predict "$NPRED" --seed "$r" \
             --threads "$THREADS" 2>&1 >/dev/null | grep '^prompt:')
      echo "$line" | sed -E 's/.*tokens ([0-9.]+) tok\/s; gen.*/\1/' >> "$DIR/pp"
      echo "$line" | sed -E 's/.*generation: [0-9]+ tokens ([0-9.]+) tok\/s.*/\1/' >> "$DIR/tg"
    done
    pp=$(median < "$DIR/pp"); tg=$(median < "$DIR/tg")
    python3 - "$shape" "$type" "$wb" "$pp" "$tg" "$BW_READ" <<'PY'
import sys
shape, typ, wb, pp, tg, bw = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
bound = bw * 1e9 / wb
print(f"{shape:<6} {typ:<5} {wb/1e9:9.3f} {pp:10.2f} {tg:10.2f} {bound:12.2f} {100*tg/bound:7.1f}%")
PY
  done
done
