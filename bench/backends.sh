#!/usr/bin/env bash
# Backends under load: requests/s and latency of an authenticated, quota-checked route
# (POST /search: JWT + user lookup, search rate limit, api_calls reservation committed with a
# usage record per request) on embedded SQLite, on PostgreSQL + Redis, and on two nodes
# sharing PostgreSQL + Redis. The admin user is used: limits never refuse it, but every
# request is still reserved and recorded, so the write path is measured.
# Usage: [RAGD_BIN=/abs/path/ragd] bench/backends.sh [SECONDS=5] [RUNS=3] [CONNECTIONS=16]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; RUNS=${2:-3}; CONNS=${3:-16}
scripts/deps.sh
BIN=${RAGD_BIN:-build/release/ragd} # RAGD_BIN: measure another build (e.g. a saved earlier one)
[ -n "${RAGD_BIN:-}" ] || make -s -j2 build/release/ragd >/dev/null
. bench/nodes_lib.sh
nodes_scratch bench
export BCRYPT_ROUNDS=4 LOG_LEVEL=error JWT_SECRET_KEY=bench-secret-0123456789abcdef SEED_DEMO_DOCS=false

start_node() { # data-dir port -> pid in PIDS
  "$BIN" serve --data "$1" --port "$2" 2>>"$TMP/log" &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$2/health" >/dev/null && return; sleep 0.05; done
  echo "node on $2 did not start" >&2; exit 1
}
token() {
  curl -sf -X POST "http://127.0.0.1:$1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"admin@example.com","password":"adminpassword123"}' |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])'
}
search_lua # $TMP/post.lua

# wrk against each port at once; prints "rps p50 p99 non2xx" summed/maxed over ports.
load() {
  local tok=$1; shift
  local outs=()
  for p in "$@"; do
    wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$TMP/post.lua" -H "Authorization: Bearer $tok" \
      "http://127.0.0.1:$p/search" >"$TMP/wrk-$p" &
    outs+=($!)
  done
  for o in "${outs[@]}"; do wait "$o"; done
  for p in "$@"; do
    awk '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} /Non-2xx/ {n=$5}
         END {print r, p50, p99, n+0}' "$TMP/wrk-$p"
  done | awk '{r+=$1; if ($2>p50) p50=$2; if ($3>p99) p99=$3; n+=$4}
              END {printf "%.0f %s %s %d\n", r, p50, p99, n}'
}
report() { # name tok ports...
  local name=$1 tok=$2; shift 2
  for i in $(seq "$RUNS"); do load "$tok" "$@"; done | sort -n |
    awk -v n="$name" -v runs="$RUNS" '{ r[NR]=$0 } END { split(r[int((NR+1)/2)], m, " ");
      printf "%-34s median of %d: %8.0f req/s   p50 %-8s p99 %-8s non-2xx %s\n", n, runs, m[1], m[2], m[3], m[4] }'
}

echo "ragd $("$BIN" version | cut -d' ' -f2), $(nproc) cores, wrk -c$CONNS per node, ${SECS}s, POST /search as admin"

# 1. embedded SQLite
"$BIN" seed --demo --data "$TMP/sqlite" >/dev/null
P1=$(port); start_node "$TMP/sqlite" "$P1"
report "SQLite (synchronous=FULL)" "$(token "$P1")" "$P1"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true

# 2. PostgreSQL + Redis, one node, then two
SVC_ENV=$(scripts/services.sh start "$TMP/svc")
eval "$SVC_ENV"
PGDB=$(echo "$RAGD_TEST_PG_URL" | sed 's#/postgres$#/ragd_bench#')
/usr/bin/python3 -c "import psycopg2,sys; c=psycopg2.connect(sys.argv[1]); c.autocommit=True; c.cursor().execute('CREATE DATABASE ragd_bench')" "$RAGD_TEST_PG_URL"
export DATABASE_URL=$PGDB REDIS_URL=$RAGD_TEST_REDIS_URL ENCRYPTION_KEY=${ENCRYPTION_KEY:-$(printf "5e%.0s" $(seq 32))}
"$BIN" seed --demo --data "$TMP/pg1" >/dev/null
P2=$(port); start_node "$TMP/pg1" "$P2"
TOK=$(token "$P2")
report "PostgreSQL + Redis, 1 node" "$TOK" "$P2"
P3=$(port); start_node "$TMP/pg2" "$P3"
report "PostgreSQL + Redis, 2 nodes" "$TOK" "$P2" "$P3"
