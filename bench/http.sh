#!/usr/bin/env bash
# HTTP server overhead: wrk against GET /health and an authenticated GET /auth/me on a
# release build. Prints requests/s and latency percentiles, the median of RUNS runs.
# Usage: [RAGD_BIN=/abs/path/ragd] bench/http.sh [SECONDS=5] [RUNS=3] [CONNECTIONS=32] [THREADS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}; RUNS=${2:-3}; CONNS=${3:-32}; THREADS=${4:-2}
scripts/deps.sh
BIN=${RAGD_BIN:-build/release/ragd} # RAGD_BIN: measure another build (e.g. a saved earlier one)
[ -n "${RAGD_BIN:-}" ] || make -s -j2 build/release/ragd >/dev/null
TMP=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BCRYPT_ROUNDS=4 LOG_LEVEL=error JWT_SECRET_KEY=bench-secret-0123456789abcdef
"$BIN" seed --demo --data "$TMP/data" >/dev/null
"$BIN" serve --data "$TMP/data" --port "$PORT" 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"test@example.com","password":"testpassword123"}' |
  python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')

run() { # name path [header]
  local name=$1 path=$2 hdr=${3:-}
  local results=()
  for i in $(seq "$RUNS"); do
    if [ -n "$hdr" ]; then
      out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency -H "$hdr" "http://127.0.0.1:$PORT$path")
    else
      out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT$path")
    fi
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
    results+=("$rps $p50 $p99 ${non2xx:-0}")
  done
  printf '%s\n' "${results[@]}" | sort -n | awk -v n="$name" -v runs="$RUNS" '
    { r[NR]=$0 } END { split(r[int((NR+1)/2)], m, " ");
      printf "%-28s median of %d: %10.0f req/s   p50 %-8s p99 %-8s non-2xx %s\n", n, runs, m[1], m[2], m[3], m[4] }'
}
echo "ragd $("$BIN" version | cut -d' ' -f2), $(nproc) cores, wrk -t$THREADS -c$CONNS -d${SECS}s"
run "GET /health" /health
run "GET /auth/me (JWT + user)" /auth/me "Authorization: Bearer $TOKEN"
