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

# ---- read bandwidth: THREADS threads summing a 1 GiB buffer, best of 5 passes ----
cat > "$DIR/bw.c" <<'C'
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static uint64_t *buf; static size_t n; static int nth;
static void *rd(void *a) {
    size_t i0 = (size_t)(intptr_t)a * n / nth, i1 = ((size_t)(intptr_t)a + 1) * n / nth;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = i0; i + 4 <= i1; i += 4) { s0 += buf[i]; s1 += buf[i+1]; s2 += buf[i+2]; s3 += buf[i+3]; }
    return (void *)(intptr_t)(s0 + s1 + s2 + s3);
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    nth = argc > 1 ? atoi(argv[1]) : 1; n = (1u << 30) / 8;
    buf = malloc(n * 8); memset(buf, 1, n * 8);
    double best = 1e9, bestc = 1e9; pthread_t t[256];
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        for (int i = 0; i < nth; i++) pthread_create(&t[i], 0, rd, (void *)(intptr_t)i);
        for (int i = 0; i < nth; i++) pthread_join(t[i], 0);
        double dt = now() - t0; if (dt < best) best = dt;
    }
    char *dst = malloc(n * 8 / 2); memset(dst, 0, n * 8 / 2);
    for (int r = 0; r < 3; r++) { double t0 = now(); memcpy(dst, buf, n * 8 / 2); double dt = now() - t0; if (dt < bestc) bestc = dt; }
    printf("%.2f %.2f\n", n * 8 / best / 1e9, n * 8 / bestc / 1e9); /* read GB/s, memcpy GB/s (read+write) */
    return 0;
}
C
cc -O3 -march=native -pthread -o "$DIR/bw" "$DIR/bw.c"
read -r BW_READ BW_COPY < <("$DIR/bw" "$THREADS")
echo "memory: read ${BW_READ} GB/s with $THREADS threads; memcpy ${BW_COPY} GB/s (read+write)"

PROMPT="The quick brown fox jumps over the lazy dog. A retrieval augmented assistant answers \
questions from the documents of its users, and it cites the sources it used. When the answer \
is not in the knowledge base, the assistant says that it does not know. Tokens are pieces of \
words; the model reads tokens and predicts the next token."

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

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
