#!/usr/bin/env bash
# Generation (decode) speed of ragd against a reference engine's benchmark tool on the same GGUF
# files, in alternating rounds (the engine that goes first alternates), with the read bandwidth
# measured in every round: tg64 ratio and the fraction of the bandwidth bound (weight bytes per
# token / read bandwidth), as medians over the rounds. First, the 256-bit and 512-bit single-row
# kernels against each other (bench/quant_kernels.c).
#
#   REF_BENCH=/path/to/llama-bench bench/decode_compare.sh model-q8_0.gguf model-q4_k.gguf
#   ROUNDS=7 THREADS=2 RAGD_VECTOR_BITS=256 REF_BENCH=... bench/decode_compare.sh F...
# The reference is run as `REF_BENCH -m F -t THREADS -p 0 -n 64 -r 1 -o csv`; ragd as
# `ragd generate --model F --tokens 11,42,77,300 --n-predict 64 --greedy --threads THREADS`.
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
REF=${REF_BENCH:?set REF_BENCH to the reference benchmark binary}
ROUNDS=${ROUNDS:-5}
THREADS=${THREADS:-2}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
[ $# -gt 0 ] || { echo "usage: REF_BENCH=... $0 model.gguf..." >&2; exit 2; }
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s release

IDLE_WAIT=${IDLE_WAIT:-120}
. bench/lib.sh

ragd_tg() {
  "$RAGD" generate --model "$1" --tokens 11,42,77,300 --n-predict 64 --greedy \
    --threads "$THREADS" 2>&1 >/dev/null | sed -nE 's/.*generation: [0-9]+ tokens ([0-9.]+) tok\/s.*/\1/p'
}
ref_tg() {
  "$REF" -m "$1" -t "$THREADS" -p 0 -n 64 -r 1 -o csv 2>/dev/null |
    python3 -c 'import csv,sys; r=list(csv.DictReader(sys.stdin)); print(r[-1]["avg_ts"])'
}

# the two widths of single-row kernels against each other (bench/quant_kernels.c)
make -s FLAVOUR=release build/release/libragd.a
mkdir -p build/release/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/quant_kernels.c build/release/libragd.a -lm -pthread \
  -o build/release/bench/quant_kernels
build/release/bench/quant_kernels "${KERNEL_PASSES:-10}"
echo
printf '%-28s %5s %8s %8s %7s %8s %9s\n' file round "ragd" "ref" ratio "GB/s" "of bound"
for f in "$@"; do
  wb=$("$RAGD" model info "$f" | python3 -c 'import json,sys; print(json.load(sys.stdin)["weight_bytes_per_token"])')
  : > "$DIR/dc_ratio"; : > "$DIR/dc_frac"; : > "$DIR/dc_ragd"; : > "$DIR/dc_ref"
  for r in $(seq "$ROUNDS"); do
    wait_idle
    read -r bw _ < <(bw_probe "$THREADS")
    if [ $((r % 2)) -eq 1 ]; then
      wait_idle; a=$(ragd_tg "$f"); wait_idle; b=$(ref_tg "$f")
    else
      wait_idle; b=$(ref_tg "$f"); wait_idle; a=$(ragd_tg "$f")
    fi
    python3 - "$f" "$r" "$a" "$b" "$bw" "$wb" "$DIR" <<'PY'
import os, sys
f, r, a, b, bw, wb, d = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
bound = bw * 1e9 / wb
print(f"{os.path.basename(f):<28} {r:>5} {a:8.2f} {b:8.2f} {a/b:7.3f} {bw:8.1f} {100*a/bound:8.1f}%")
for name, v in (("dc_ratio", a / b), ("dc_frac", a / bound), ("dc_ragd", a), ("dc_ref", b)):
    open(os.path.join(d, name), "a").write(f"{v}\n")
PY
  done
  printf '%-28s %5s %8.2f %8.2f %7.3f %8s %8.1f%%\n' "$(basename "$f")" median \
    "$(median < "$DIR/dc_ragd")" "$(median < "$DIR/dc_ref")" "$(median < "$DIR/dc_ratio")" "" \
    "$(python3 -c "print(100*$(median < "$DIR/dc_frac"))")"
done
