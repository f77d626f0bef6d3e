#!/usr/bin/env bash
# Encoder against the reference on the same BERT GGUF: the base shape (hidden 768, 12 layers,
# ffn 3072, random weights from `ragd model mktiny --arch bert --shape base --type T --seed 1`),
# 32 texts of 128 tokens embedded as one batch, 2 threads, ragd and llama-embedding in
# alternating rounds. Each side's time is the wall time of a process embedding the 32 texts
# minus that of the same process embedding one empty text (model load and start-up), so both
# sides are measured the same way; ragd's own timer (load excluded) is printed alongside.
# ragd runs three times per round: its exact f32 path, its bf16 path (--bf16, AVX-512 BF16)
# and its int8 path (--int8: q8_0 weights, int8 activations, AVX-512 VNNI).
# Then a 16-token query at batch 1: ragd's mean milliseconds per query over QN queries in one
# process, median over the rounds, for both paths (the f32 path is the same-run reference).
#
#   bench/embed_compare.sh                      # f32 and q8_0 files, 3 rounds
#   TYPES=q8_0 ROUNDS=5 bench/embed_compare.sh
# Needs LLAMA_EMBEDDING, the reference llama-embedding binary. Models go to
# $BENCH_DIR (default /tmp/ragd-bench, about 0.7 GB) and are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
REF=${LLAMA_EMBEDDING:?set LLAMA_EMBEDDING to the reference llama-embedding binary}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
TYPES=${TYPES:-"f32 q8_0"}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
QN=${QN:-20}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
[ -x "$REF" ] || { echo "no reference binary at $REF (set LLAMA_EMBEDDING)" >&2; exit 1; }

. bench/lib.sh
TEXTS="$DIR/embed-texts.txt"
embed_texts "$TEXTS"
QUERY=$(head -1 "$TEXTS" | cut -d' ' -f1-14) # 14 words + [CLS] + [SEP] = 16 tokens
EMPTY="$DIR/embed-empty.txt"
echo "a" > "$EMPTY"
QFILE="$DIR/embed-query.txt"
: > "$QFILE"
for ((q = 0; q < QN; q++)); do echo "$QUERY" >> "$QFILE"; done

now() { date +%s.%N; }
wall() { # seconds a command takes, its output dropped
  local t0 t1
  t0=$(now); "$@" > /dev/null 2>&1; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}
ragd_embed() { "$RAGD" embed $PATHOPT --model "$1" --batch "$2" --threads "$THREADS" - < "$3"; }
ref_embed() {
  "$REF" -m "$1" -f "$2" -t "$THREADS" -c 4096 -b 4096 -ub 4096 --no-warmup \
    --embd-output-format '' 2>&1 | grep 'batch_decode' > /dev/null
}

echo "batch 32 x 128 tokens, $THREADS threads, texts/s (wall minus load), $ROUNDS alternating rounds"
for type in $TYPES; do
  model="$DIR/bert-base-$type.gguf"
  [ -f "$model" ] || "$RAGD" model mktiny --arch bert --shape base --type "$type" --seed 1 --out "$model"
  ntok=$("$RAGD" tokenize --model "$model" --add-special "$(head -1 "$TEXTS")" | wc -w)
  qtok=$("$RAGD" tokenize --model "$model" --add-special "$QUERY" | wc -w)
  declare -A ours=() qms=() ratios=() inner=()
  theirs=()
  for ((r = 0; r < ROUNDS; r++)); do
    ref_embed "$model" "$EMPTY" # first touch of the file for both sides
    rl=$(wall ref_embed "$model" "$EMPTY"); rf=$(wall ref_embed "$model" "$TEXTS")
    t=$(awk -v f="$rf" -v l="$rl" 'BEGIN { d = f - l; printf "%.3f", (d > 0 ? 32 / d : 0) }')
    theirs+=("$t")
    line="  $type round $r: llama.cpp $t"
    for path in f32 bf16 int8; do
      PATHOPT=$([ "$path" = f32 ] || echo "--$path")
      ol=$(wall ragd_embed "$model" 32 "$EMPTY"); of=$(wall ragd_embed "$model" 32 "$TEXTS")
      o=$(awk -v f="$of" -v l="$ol" 'BEGIN { d = f - l; printf "%.3f", (d > 0 ? 32 / d : 0) }')
      ratio=$(awk -v a="$o" -v b="$t" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
      in=$(ragd_embed "$model" 32 "$TEXTS" 2>&1 >/dev/null |
        sed -nE 's/^embed:.*\(([0-9.]+) texts\/s\).*/\1/p')
      q=$(ragd_embed "$model" 1 "$QFILE" 2>&1 >/dev/null |
        sed -nE 's/^embed: ([0-9]+) texts in ([0-9.]+) s.*/\1 \2/p' |
        awk '{ printf "%.2f", 1000 * $2 / $1 }')
      ours[$path]+="$o " ratios[$path]+="$ratio " inner[$path]+="$in " qms[$path]+="$q "
      line+=" | ragd $path $o (x$ratio; own timer $in; query $q ms)"
    done
    echo "$line"
  done
  printf '%-5s llama.cpp %.2f texts/s [%s tokens/text]\n' "$type" \
    "$(printf '%s\n' "${theirs[@]}" | median)" "$ntok"
  for path in f32 bf16 int8; do
    printf '%-5s ragd %-4s %.2f texts/s, ratio to llama.cpp (median of rounds) %sx; %s-token query p50 %s ms\n' \
      "$type" "$path" "$(tr ' ' '\n' <<<"${ours[$path]}" | grep . | median)" \
      "$(tr ' ' '\n' <<<"${ratios[$path]}" | grep . | median)" "$qtok" \
      "$(tr ' ' '\n' <<<"${qms[$path]}" | grep . | median)"
  done
  for path in bf16 int8; do
    printf '%-5s query %s vs f32 path in the same rounds: %sx faster (target p50 <= 15 ms)\n' "$type" \
      "$path" "$(awk -v a="$(tr ' ' '\n' <<<"${qms[f32]}" | grep . | median)" \
        -v b="$(tr ' ' '\n' <<<"${qms[$path]}" | grep . | median)" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  done
done
