#!/usr/bin/env bash
# Soak (by hand, loopback only, bounded): mixed traffic from many users on two nodes sharing a
# private PostgreSQL + Redis, with Redis restarted twice and PostgreSQL stopped once, and a flood
# of slow header trickles, registrations, wrong logins and /v1 hogging in the middle. The nodes
# serve a tiny random model for /v1 (GENERATION_MAX_TOKENS=16). bench/soak.py drives the traffic
# and prints the figures; everything stops by itself.
# Usage: [RAGD_BIN=/abs/path/ragd] bench/soak.sh [SECONDS=600] [USERS=40] [WORKERS=12]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}; USERS=${2:-40}; WORKERS=${3:-12}
scripts/deps.sh
BIN=${RAGD_BIN:-build/release/ragd}
[ -n "${RAGD_BIN:-}" ] || make -s -j2 build/release/ragd >/dev/null
. bench/nodes_lib.sh
nodes_scratch soak

"$BIN" model mktiny --arch qwen3 --seed 3 --out "$TMP/tiny.gguf" >/dev/null
eval "$(scripts/services.sh start "$TMP/svc")"
PGDB=$(echo "$RAGD_TEST_PG_URL" | sed 's#/postgres$#/ragd_soak#')
/usr/bin/python3 -c "import psycopg2,sys; c=psycopg2.connect(sys.argv[1]); c.autocommit=True; c.cursor().execute('CREATE DATABASE ragd_soak')" "$RAGD_TEST_PG_URL"
export DATABASE_URL=$PGDB REDIS_URL=$RAGD_TEST_REDIS_URL ENCRYPTION_KEY=${ENCRYPTION_KEY:-$(printf "5e%.0s" $(seq 32))} BCRYPT_ROUNDS=${BCRYPT_ROUNDS:-10}
export LOG_LEVEL=warning JWT_SECRET_KEY=soak-secret-0123456789abcdef
export GENERATION_MODEL="$TMP/tiny.gguf" GENERATION_MAX_TOKENS=16 GENERATION_CONTEXT_LENGTH=2048

"$BIN" seed --demo --data "$TMP/n1" >/dev/null
PORTS=(); for n in n1 n2; do
  p=$(port)
  "$BIN" serve --data "$TMP/$n" --port "$p" 2>>"$TMP/$n.log" &
  PIDS+=($!); PORTS+=("$p")
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.05; done
done
echo "ragd $("$BIN" version | cut -d' ' -f2), $(nproc) cores, 2 nodes, PostgreSQL + Redis, ${SECS}s"
/usr/bin/python3 bench/soak.py --ports "$(IFS=,; echo "${PORTS[*]}")" \
  --pids "$(IFS=,; echo "${PIDS[*]}")" --services "$TMP/svc" --pg-url "$PGDB" \
  --seconds "$SECS" --users "$USERS" --workers "$WORKERS" --model tiny.gguf
for n in n1 n2; do
  echo "== $n: $(grep -c '"level":"error"' "$TMP/$n.log" || true) error lines;" \
    "sanitizer reports: $(grep -c 'Sanitizer' "$TMP/$n.log" || true)"
done
