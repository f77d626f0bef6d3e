#!/usr/bin/env bash
# Sentiment benchmark: accuracy, per-class precision / recall and cost per message of the
# lexicon scorer on the held-out set (tests/data/sentiment/eval.tsv), the cost measured in the
# same run against strlen over the same messages. With MODEL=1 also the model scorer's cost on
# a random classifier of the 110M BERT shape (`ragd model mktiny --arch bert-cls --shape base`;
# its labels are random, so only its cost means anything).
#
#   bench/sentiment.sh
#   MODEL=1 bench/sentiment.sh      # writes the model to $BENCH_DIR (default /tmp/ragd-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
RAGD=${RAGD_BIN:-build/release/ragd}
SET=${SET:-tests/data/sentiment/eval.tsv}
SENTIMENT_SCORER=lexicon "$RAGD" sentiment eval "$SET"
if [ "${MODEL:-0}" = 1 ]; then
  DIR=${BENCH_DIR:-/tmp/ragd-bench}
  mkdir -p "$DIR"
  [ -d "$DIR/bert-cls-base" ] ||
    "$RAGD" model mktiny --arch bert-cls --shape base --out "$DIR/bert-cls-base" --seed 1
  echo
  SENTIMENT_SCORER=model SENTIMENT_MODEL="$DIR/bert-cls-base" SENTIMENT_THREADS=${THREADS:-1} \
    "$RAGD" sentiment eval "$SET" | grep -E '^scorer|^cost'
fi
