#!/usr/bin/env bash
# Slow-client flood (issue: slow connections take the server offline): a release ragd with
# default connection settings, 4,200 sockets trickling one header line every 2 s, and a
# legitimate client's GET /health latency before and during. Loopback only, stops by itself.
# Usage: bench/slow_clients.sh [SECONDS=30] [SOCKETS=4200] [ADDRS=20]
#   ADDRS=1 sends the whole flood from one address (the per-IP cap refuses most of it).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}; SOCKS=${2:-4200}; ADDRS=${3:-20}
# Both ends hold a descriptor per socket.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SOCKS + 512)) ]; then
  echo "open-file limit $(ulimit -n) is below $((SOCKS + 512)): run with fewer sockets" >&2
  exit 1
fi
scripts/deps.sh
make -s -j2 build/release/ragd >/dev/null
TMP=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export BCRYPT_ROUNDS=4 LOG_LEVEL=error JWT_SECRET_KEY=bench-secret-0123456789abcdef
build/release/ragd serve --data "$TMP/data" --port "$PORT" 2>"$TMP/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.05; done
echo "ragd $(build/release/ragd version | cut -d' ' -f2), $(nproc) cores, defaults" \
  "(HEADER_TIMEOUT_SECONDS=10, MAX_CONNECTIONS=4096, MAX_CONNECTIONS_PER_IP=256)"
FLOOD_SECONDS=$SECS SOCKETS=$SOCKS ADDRS=$ADDRS timeout $((SECS + 120)) \
  python3 bench/slow_clients.py "$PORT"
curl -sf "http://127.0.0.1:$PORT/metrics" | grep 'ragd_rejections_total' || true
