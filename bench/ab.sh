#!/usr/bin/env bash
# Runs a benchmark script against two builds in alternating rounds (A B A B ...), so both
# see the same machine conditions, and prints every round's figures tagged with its build.
# Usage: bench/ab.sh ROUNDS BUILD_A BUILD_B SCRIPT [ARGS...]   (builds as absolute paths)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=$1 A=$2 B=$3; shift 3
for r in $(seq "$ROUNDS"); do
  for tag in A B; do
    bin=$A; [ $tag = B ] && bin=$B
    RAGD_BIN=$bin "$@" 2>&1 | grep -E 'req/s|tok/s|/s ' | sed "s/^/round $r $tag: /"
  done
done
