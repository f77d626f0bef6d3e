#!/usr/bin/env bash
# Regenerates every seed corpus under fuzz/seeds/ (checked in; run after a format changes).
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 fuzz/seeds/generate.py
make -s -j2 build/release/libragd.a
mkdir -p build/release/fuzz-seeds fuzz/seeds/rag_index_load
cc -std=gnu11 -D_GNU_SOURCE -O1 -Isrc -o build/release/fuzz-seeds/make_index_seeds \
  fuzz/seeds/make_index_seeds.c build/release/libragd.a \
  $(pkg-config --libs jansson libcrypto libutf8proc libpcre2-8) -lm -pthread
build/release/fuzz-seeds/make_index_seeds fuzz/seeds/rag_index_load
