# nodes_lib.sh - shared by the benchmarks that run ragd nodes on private PostgreSQL + Redis
# (backends.sh, backends_ab.sh, soak.sh). Source it, then call nodes_scratch NAME: TMP becomes
# a fresh /tmp/ragd-NAME-XXXXXX, PIDS an empty list of the nodes started, and on exit the nodes
# are stopped, the services under $TMP/svc stopped and TMP removed. port prints a free port;
# search_lua writes $TMP/post.lua, wrk's script for the measured route (POST /search, as in
# tests/api/test_round_trips.py).
nodes_scratch() {
  TMP=$(mktemp -d "/tmp/ragd-$1-XXXXXX")
  chmod 755 "$TMP" # the private PostgreSQL runs as the postgres account
  PIDS=()
  trap nodes_cleanup EXIT
}

nodes_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  scripts/services.sh stop "$TMP/svc" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

search_lua() {
  cat >"$TMP/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"query":"quota checked benchmark query","top_k":5,"route":"exact"}'
wrk.headers["Content-Type"] = "application/json"
LUA
}
