#!/usr/bin/env bash
# Two builds of bench/prefix_turns.c on one conversation in alternating rounds (the build that
# goes first alternates): each turn's prompt time and whole time per build as medians over the
# rounds, and the ratios of the medians (B over A; under 1: B is faster).
#
#   bench/prefix_turns.sh ROUNDS A_BIN B_BIN MODEL.gguf [turns [slots [first [new [answer]]]]]
# where A_BIN and B_BIN are prefix_turns built against each tree's build/release/libragd.a.
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 ROUNDS A_BIN B_BIN MODEL.gguf [prefix_turns args]" >&2; exit 2; }
ROUNDS=$1 A=$2 B=$3; shift 3
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
for r in $(seq "$ROUNDS"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for tag in $order; do
    bin=$A; [ "$tag" = B ] && bin=$B
    "$bin" "$@" | sed -nE "s/^turn ([0-9]+): .*: prompt ([0-9]+) ms, turn ([0-9]+) ms$/$tag \1 \2 \3/p" >>"$OUT"
  done
done
python3 - "$OUT" <<'PY'
import statistics as st, sys
t = {}
for line in open(sys.argv[1]):
    tag, turn, prompt, whole = line.split()
    t.setdefault((tag, int(turn)), []).append((float(prompt), float(whole)))
print("| turn | prompt, A / B ms | B / A | whole turn, A / B ms | B / A |")
print("| ---: | ---: | ---: | ---: | ---: |")
for turn in sorted({k[1] for k in t}):
    row = f"| {turn} "
    for i in (0, 1):
        a = st.median(x[i] for x in t[("A", turn)])
        b = st.median(x[i] for x in t[("B", turn)])
        row += f"| {a:.0f} / {b:.0f} | {b / a:.3f} "
    print(row + "|")
PY
