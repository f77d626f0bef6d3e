#!/usr/bin/env bash
# Tokenizer encode throughput (MB/s, tokens/s) on 8 MB of synthetic text, for byte-level BPE
# with each pre-tokenizer and for WordPiece. Builds the release library first.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -j2 build/release/libragd.a
mkdir -p build/release/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -Isrc bench/tokenizer.c build/release/libragd.a \
   $(pkg-config --libs libutf8proc jansson) -lm -pthread -o build/release/bench/tokenizer
build/release/bench/tokenizer
