#!/usr/bin/env bash
# Encoder against the reference on the same BERT GGUF: the base shape (hidden 768, 12 layers,
# ffn 3072, random weights from `ragd model mktiny --arch bert --shape base --type T --seed 1`),
# 32 texts of 128 tokens embedded as one batch, 2 threads, ragd and llama-embedding in
# alternating rounds. Each side's time is the wall time of a process embedding the 32 texts
# minus that of the same process embedding one empty text (model load and start-up), so both
# sides are measured the same way; ragd's own timer (load excluded) is printed alongside.
# Then a 16-token query at batch 1: ragd's mean milliseconds per query over QN queries in one
# process, median over the rounds, with the f32 file's figure as the same-run reference.
#
#   bench/embed_compare.sh                      # f32 and q8_0, 3 rounds
#   TYPES=q8_0 ROUNDS=5 bench/embed_compare.sh
# Needs LLAMA_EMBEDDING (default /tmp/ref/build/bin/llama-embedding). Models go to
# $BENCH_DIR (default /tmp/ragd-bench, about 0.7 GB) and are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
REF=${LLAMA_EMBEDDING:-/tmp/ref/build/bin/llama-embedding}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
TYPES=${TYPES:-"f32 q8_0"}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
QN=${QN:-20}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
[ -x "$REF" ] || { echo "no reference binary at $REF (set LLAMA_EMBEDDING)" >&2; exit 1; }

# 32 texts of 126 words from the tiny vocabulary (each word is one token; 128 with [CLS]/[SEP])
WORDS=(the of and to in is it that this with for on as are was be by not or from at document
       question answer source search knowledge model token text vector sentence retrieval chat
       user team data file page quick brown fox jumps over lazy dog hello world)
TEXTS="$DIR/embed-texts.txt"
: > "$TEXTS"
seed=1
for ((t = 0; t < 32; t++)); do
  line=""
  for ((w = 0; w < 126; w++)); do
    seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
    line+="${WORDS[$(( seed / 65536 % ${#WORDS[@]} ))]} "
  done
  echo "${line% }" >> "$TEXTS"
done
QUERY=$(head -1 "$TEXTS" | cut -d' ' -f1-14) # 14 words + [CLS] + [SEP] = 16 tokens
EMPTY="$DIR/embed-empty.txt"
echo "a" > "$EMPTY"
QFILE="$DIR/embed-query.txt"
: > "$QFILE"
for ((q = 0; q < QN; q++)); do echo "$QUERY" >> "$QFILE"; done

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
wall() { # seconds a command takes, its output dropped
  local t0 t1
  t0=$(now); "$@" > /dev/null 2>&1; t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}
ragd_embed() { "$RAGD" embed --model "$1" --batch "$2" --threads "$THREADS" - < "$3"; }
ref_embed() {
  "$REF" -m "$1" -f "$2" -t "$THREADS" -c 4096 -b 4096 -ub 4096 --no-warmup \
    --embd-output-format '' 2>&1 | grep -q 'batch_decode'
}

declare -A QMS
echo "batch 32 x 128 tokens, $THREADS threads, texts/s (wall minus load), $ROUNDS alternating rounds"
for type in $TYPES; do
  model="$DIR/bert-base-$type.gguf"
  [ -f "$model" ] || "$RAGD" model mktiny --arch bert --shape base --type "$type" --seed 1 --out "$model"
  ntok=$("$RAGD" tokenize --model "$model" --add-special "$(head -1 "$TEXTS")" | wc -w)
  qtok=$("$RAGD" tokenize --model "$model" --add-special "$QUERY" | wc -w)
  ours=() theirs=() ratios=() inner=() qms=()
  for ((r = 0; r < ROUNDS; r++)); do
    ref_embed "$model" "$EMPTY" # first touch of the file for both sides
    rl=$(wall ref_embed "$model" "$EMPTY"); rf=$(wall ref_embed "$model" "$TEXTS")
    ol=$(wall ragd_embed "$model" 32 "$EMPTY"); of=$(wall ragd_embed "$model" 32 "$TEXTS")
    o=$(awk -v f="$of" -v l="$ol" 'BEGIN { d = f - l; printf "%.3f", d > 0 ? 32 / d : 0 }')
    t=$(awk -v f="$rf" -v l="$rl" 'BEGIN { d = f - l; printf "%.3f", d > 0 ? 32 / d : 0 }')
    ours+=("$o") theirs+=("$t")
    ratios+=("$(awk -v a="$o" -v b="$t" 'BEGIN { printf "%.2f", b > 0 ? a / b : 0 }')")
    inner+=("$(ragd_embed "$model" 32 "$TEXTS" 2>&1 >/dev/null |
      sed -nE 's/^embed:.*\(([0-9.]+) texts\/s\).*/\1/p')")
    qms+=("$(ragd_embed "$model" 1 "$QFILE" 2>&1 >/dev/null |
      sed -nE 's/^embed: ([0-9]+) texts in ([0-9.]+) s.*/\1 \2/p' |
      awk '{ printf "%.2f", 1000 * $2 / $1 }')")
    printf '  %-5s round %d: ragd %7.2f  llama.cpp %7.2f  ratio %5s  (ragd timer %s; query %s ms)\n' \
      "$type" "$r" "$o" "$t" "${ratios[-1]}" "${inner[-1]}" "${qms[-1]}"
  done
  QMS[$type]=$(printf '%s\n' "${qms[@]}" | median)
  printf '%-5s ragd %.2f texts/s  llama.cpp %.2f texts/s  ratio (median of rounds) %sx  [%s tokens/text]\n' \
    "$type" "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${theirs[@]}" | median)" \
    "$(printf '%s\n' "${ratios[@]}" | median)" "$ntok"
  printf '%-5s %s-token query at batch 1: p50 over rounds of the mean %.2f ms (target <= 15)\n' \
    "$type" "$qtok" "${QMS[$type]}"
done
if [ -n "${QMS[f32]:-}" ]; then
  for type in $TYPES; do
    [ "$type" = f32 ] && continue
    printf 'query %s vs f32 in the same rounds: %sx faster\n' "$type" \
      "$(awk -v a="${QMS[f32]}" -v b="${QMS[$type]}" 'BEGIN { printf "%.2f", b > 0 ? a / b : 0 }')"
  done
fi
