#!/usr/bin/env bash
# Embedding benchmark: embeddings per second of the 110M-parameter encoder shape (hidden 768,
# 12 layers, 12 heads, ffn 3072; random weights from `ragd model mktiny --shape base`) at
# batch 1 and batch 32, with inputs of 128 tokens each ([CLS] + 126 words + [SEP]); median of
# RUNS runs (each run embeds 8 texts at batch 1, 32 at batch 32, in one process; model
# loading is not timed). Also reports the matrix-product rate this implies (2 x 85M multiply-adds per
# token in the transformer layers).
#
#   bench/embed.sh                       # mpnet and bert, batch 1 and 32
#   ARCHS=mpnet BATCHES=32 RUNS=3 bench/embed.sh
# Models go to $BENCH_DIR (default /tmp/ragd-bench, about 0.9 GB) and are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
ARCHS=${ARCHS:-"mpnet bert"}
BATCHES=${BATCHES:-"1 32"}
RUNS=${RUNS:-5}
THREADS=${THREADS:-0}
TYPE=${TYPE:-f32}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd

. bench/lib.sh
TEXTS="$DIR/embed-texts.txt"
embed_texts "$TEXTS"


echo "embeddings/s, 128-token inputs, $( [ "$THREADS" = 0 ] && nproc || echo "$THREADS") threads, $TYPE weights, median of $RUNS"
for arch in $ARCHS; do
  if [ "$arch" = bert ]; then model="$DIR/bert-base-$TYPE.gguf"; else model="$DIR/mpnet-base-$TYPE"; fi
  [ -e "$model/model.safetensors" ] || [ -f "$model" ] ||
    "$RAGD" model mktiny --arch "$arch" --shape base --type "$TYPE" --seed 1 --out "$model"
  [ "$arch" = bert ] && ntok=$("$RAGD" tokenize --model "$model" --add-special "$(head -1 "$TEXTS")" | wc -w)
  for b in $BATCHES; do
    n=$(( b < 8 ? 8 : 32 )) # at least 8 texts, so that first touches of the weights amortise
    rates=()
    for ((r = 0; r < RUNS; r++)); do
      line=$(head -n "$n" "$TEXTS" | "$RAGD" embed --model "$model" --batch "$b" --threads "$THREADS" - 2>&1 >/dev/null | grep '^embed:')
      rates+=("$(sed -E 's/.*\(([0-9.]+) texts\/s\).*/\1/' <<<"$line")")
    done
    med=$(printf '%s\n' "${rates[@]}" | median)
    gflops=$(awk -v r="$med" 'BEGIN { printf "%.0f", r * 128 * 2 * 85e6 / 1e9 }')
    printf '%-6s batch %-3s %8.2f embeddings/s  (~%s GFLOP/s; runs: %s)\n' "$arch" "$b" "$med" \
      "$gflops" "${rates[*]}"
  done
done
if [ -n "${ntok:-}" ]; then echo "(input length check: ${ntok} tokens per text)"; fi
