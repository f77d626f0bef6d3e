#!/usr/bin/env bash
# The provider router's own added latency per generation against a fast loopback upstream,
# compared with calling the same upstream through the OpenAI backend directly (median and
# p99, alternating rounds). See bench/router_bench.c.
# usage: bench/router.sh [ROUNDS=6] [REQUESTS_PER_ROUND=300]
set -euo pipefail
cd "$(dirname "$0")/.."
make -j2 --no-print-directory FLAVOUR=release build/release/libragd.a >/dev/null
mkdir -p build/release/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Isrc $(pkg-config --cflags jansson) bench/router_bench.c \
   build/release/libragd.a $(pkg-config --libs libmicrohttpd jansson sqlite3 libcrypto libcurl \
   libpq hiredis libpcre2-8 libutf8proc libcrypt zlib) \
   $(pkg-config --libs --static mupdf 2>/dev/null) -lharfbuzz -lfreetype -lm -pthread \
   -o build/release/bench/router_bench
build/release/bench/router_bench "${1:-6}" "${2:-300}"
