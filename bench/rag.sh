#!/usr/bin/env bash
# Retrieval benchmark: ingestion (chunking + BM25, HNSW) and search latency p50/p99 for the
# exact, vector and hybrid routes at 10k and 100k chunks with 768-d vectors.
# usage: bench/rag.sh [sizes...]   (default: 10000 100000)
# RAG_BENCH_EFC sets HNSW ef_construction: default 200 (the library default) up to 50k
# chunks and 100 above, so the single-threaded build of the 100k index stays around a
# minute (measured recall@10 is unchanged on this data).
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 --no-print-directory FLAVOUR=release build/release/libragd.a >/dev/null
mkdir -p build/release/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Isrc bench/rag_bench.c build/release/libragd.a \
   $(pkg-config --libs libutf8proc) -lm -pthread -o build/release/bench/rag_bench
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(10000 100000)
for n in "${sizes[@]}"; do
  efc=${RAG_BENCH_EFC:-$([ "$n" -gt 50000 ] && echo 100 || echo 200)}
  echo "== $n chunks"
  build/release/bench/rag_bench "$n" 768 "$efc" 300
done
