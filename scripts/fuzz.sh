#!/usr/bin/env bash
# Builds every fuzz/*.c with libFuzzer + ASan/UBSan and runs each for SECONDS (default 30),
# starting from its seed corpus in fuzz/seeds/<target>/ (a target without seeds fails).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}; shift || true
scripts/deps.sh
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=($(ls fuzz/*.c | xargs -n1 basename | sed 's/\.c$//'))
make -s -j2 FLAVOUR=fuzz $(printf 'build/fuzz/fuzz/%s ' "${targets[@]}") >/dev/null
status=0
for t in "${targets[@]}"; do
  # New inputs go to the working corpus under build/; the checked-in seeds (valid inputs and
  # edge cases, fuzz/seeds/<target>/) are read as a second corpus and never written.
  corpus=build/fuzz/corpus-$t
  seeds=fuzz/seeds/$t
  mkdir -p "$corpus"
  echo "== fuzz $t (${SECS}s)"
  if [ -z "$(ls -A "$seeds" 2>/dev/null)" ]; then
    echo "no seed corpus in $seeds (see fuzz/seeds/generate.sh)"; status=1; continue
  fi
  if ! build/fuzz/fuzz/$t -max_total_time="$SECS" -max_len=65536 -print_final_stats=1 \
      "$corpus" "$seeds" 2>build/fuzz/$t.log; then
    tail -40 build/fuzz/$t.log; status=1
  else
    grep -E 'stat::number_of_executed_units|cov:' build/fuzz/$t.log | tail -2
  fi
done
exit $status
