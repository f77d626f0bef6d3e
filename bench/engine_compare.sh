#!/usr/bin/env bash
# Side-by-side engine speed against a reference llama-bench (bench/engine_compare.md's method):
# prompt processing pp128 and pp512 and generation tg64 on each file, both engines at the same
# thread count, rounds in which the engine going first alternates, each measurement started
# once the CPUs are idle, the read bandwidth probed in every round (and just before and after
# ragd's tg64 run, for its bound), medians over the rounds.
#
#   REF_BENCH=/path/to/llama-bench bench/engine_compare.sh
#   ROUNDS=3 FILES="a.gguf b.gguf" THREADS=2 REF_BENCH=... bench/engine_compare.sh
#
# Environment: REF_BENCH (required), RAGD_BIN (default build/release/ragd), FILES (default the
# 1.7b-shaped q8_0 and q4_k files, made with `ragd model mktiny` under BENCH_DIR, default
# /tmp/ragd-bench, and reused), ROUNDS (5), THREADS (2), IDLE_PCT (15: busy
# share of all CPUs over 3 s under which a run may start), IDLE_WAIT (180 s: longest wait for
# idle CPUs; a round that had to start anyway is marked "busy").
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
REF=${REF_BENCH:?set REF_BENCH to the reference llama-bench binary}
[ -x "$RAGD" ] || { echo "engine_compare: $RAGD is not built (make release)" >&2; exit 2; }
MODELS=${BENCH_DIR:-/tmp/ragd-bench}
if [ -z "${FILES:-}" ]; then
    mkdir -p "$MODELS"
    for t in q8_0 q4_k; do
        f="$MODELS/qwen3-1.7b-$t.gguf"
        [ -s "$f" ] || "$RAGD" model mktiny --arch qwen3 --shape 1.7b --type "$t" --seed 1 --out "$f"
        FILES="${FILES:-}${FILES:+ }$f"
    done
fi
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
IDLE_PCT=${IDLE_PCT:-15}
IDLE_WAIT=${IDLE_WAIT:-180}
[ -x "$REF" ] || { echo "engine_compare: $REF is not executable" >&2; exit 2; }
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

. bench/lib.sh

ids() { python3 -c "import sys; print(','.join(str(1000 + 37 * i % 50000) for i in range(int(sys.argv[1]))))" "$1"; }
P128=$(ids 128)
P512=$(ids 512)

# ragd: one figure (tok/s) from its stderr line 'prompt: N tokens X tok/s; generation: M tokens Y tok/s'
ragd_run() { # file tokens n_predict field(prompt|gen)
    local line
    line=$("$RAGD" generate --model "$1" --tokens "$2" --n-predict "$3" --greedy --threads "$THREADS" \
        2>&1 >/dev/null | grep '^prompt:')
    if [ "$4" = prompt ]; then
        echo "$line" | sed -E 's/^prompt: [0-9]+ tokens ([0-9.]+) tok\/s.*/\1/'
    else
        echo "$line" | sed -E 's/.*generation: [0-9]+ tokens ([0-9.]+) tok\/s.*/\1/'
    fi
}
ragd_round() { # file -> "pp128 pp512 tg64 bw": bw is the mean of read-bandwidth probes taken
    # just before and just after the tg64 run, the bandwidth that run could have had
    wait_idle; local a b c b0 b1
    a=$(ragd_run "$1" "$P128" 1 prompt)
    wait_idle; b=$(ragd_run "$1" "$P512" 1 prompt)
    wait_idle; read -r b0 _ < <(bw_probe "$THREADS")
    c=$(ragd_run "$1" "11,42,77,300" 64 gen)
    read -r b1 _ < <(bw_probe "$THREADS")
    echo "$a $b $c $(python3 -c "print(round(($b0 + $b1) / 2, 2))")"
}
ref_round() { # file -> "pp128 pp512 tg64"
    wait_idle
    "$REF" -m "$1" -t "$THREADS" -p 128,512 -n 64 -r 1 -o csv 2>/dev/null | python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
def get(p, g):
    for r in rows:
        if int(r["n_prompt"]) == p and int(r["n_gen"]) == g:
            return float(r["avg_ts"])
    return float("nan")
print(get(128, 0), get(512, 0), get(0, 64))'
}

for f in $FILES; do
    [ -s "$f" ] || { echo "engine_compare: no file $f" >&2; exit 2; }
    tag=$(basename "$f" .gguf)
    : > "$DIR/$tag.rounds"
    for r in $(seq "$ROUNDS"); do
        rm -f "$DIR/busy"
        read -r bw _ < <(bw_probe "$THREADS")
        if [ $((r % 2)) -eq 1 ]; then
            g=$(ragd_round "$f"); l=$(ref_round "$f")
        else
            l=$(ref_round "$f"); g=$(ragd_round "$f")
        fi
        busy=0
        [ -e "$DIR/busy" ] && busy=1
        echo "$r $bw $g $l $busy" >> "$DIR/$tag.rounds"
        echo "$tag round $r: bw $bw GB/s | ragd pp128 pp512 tg64, bw at tg64: $g | reference: $l | busy $busy" >&2
    done
done

echo
echo "| file | figure | ragd tok/s | reference tok/s | ratio (of medians) | median of per-round ratios |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
for f in $FILES; do
    tag=$(basename "$f" .gguf)
    wb=$("$RAGD" model info "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight_bytes_per_token"])')
    python3 - "$tag" "$wb" "$DIR/$tag.rounds" <<'PY'
import statistics as st, sys
tag, wb, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = [l.split() for l in open(path) if l.strip()]
bw = [float(r[1]) for r in rows]
names = ["pp128", "pp512", "tg64"]
for i, name in enumerate(names):
    g = [float(r[2 + i]) for r in rows]
    l = [float(r[6 + i]) for r in rows]
    mg, ml = st.median(g), st.median(l)
    pr = st.median([a / b for a, b in zip(g, l) if b > 0])
    print(f"| {tag} | {name} | {mg:.2f} | {ml:.2f} | {mg / ml:.2f}x | {pr:.2f}x |")
tg = [float(r[4]) for r in rows]
bwt = [float(r[5]) for r in rows]
frac = st.median([t / (b * 1e9 / wb) for t, b in zip(tg, bw)])
fract = st.median([t / (b * 1e9 / wb) for t, b in zip(tg, bwt)])
busy = sum(int(r[9]) for r in rows)
print(f"| {tag} | read bandwidth (median) | {st.median(bw):.1f} GB/s | | tg64 at {100 * frac:.0f}% "
      f"of the bound ({wb / 1e9:.3f} GB/token) | {len(rows)} rounds, {busy} busy |")
print(f"| {tag} | read bandwidth around ragd's tg64 (median) | {st.median(bwt):.1f} GB/s | | "
      f"tg64 at {100 * fract:.0f}% of that bound | |")
PY
done
