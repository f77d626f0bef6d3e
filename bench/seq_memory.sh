#!/usr/bin/env bash
# Memory of idle decoder sequences: each with a scratch context of its own (the layout before
# the KV cache and the scratch were split) against KV-only sequences sharing one scratch
# (bench/seq_memory.c). Not a timing: runs anywhere.
#
#   bench/seq_memory.sh model.gguf [N_CTX [N_SEQ [PROMPT [STEPS [THREADS]]]]]
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || { echo "usage: $0 model.gguf [N_CTX N_SEQ PROMPT STEPS THREADS]" >&2; exit 2; }
make -s FLAVOUR=release build/release/libragd.a
mkdir -p build/release/bench
cc -std=gnu11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Isrc bench/seq_memory.c \
  build/release/libragd.a -lm -pthread -o build/release/bench/seq_memory
build/release/bench/seq_memory "$@"
