#!/usr/bin/env bash
# Private PostgreSQL and Redis servers for the tests: own data dirs, loopback ports, no
# system services. Usage:
#   scripts/services.sh start DIR    -> starts both under DIR, prints shell exports
#   scripts/services.sh stop DIR     -> stops what DIR holds
#   scripts/services.sh pg-restart DIR | pg-stop DIR | pg-start DIR
#   scripts/services.sh redis-stop DIR | redis-start DIR
set -euo pipefail
cmd=$1; dir=$(realpath -m "$2")
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# initdb and postgres refuse to run as root: use the postgres account then.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A throwaway test server: no fsync (a clean stop still writes everything out), so that a
# shutdown checkpoint on a busy disk cannot outlast pg_ctl's wait.
PGOPTS="-c fsync=off -c full_page_writes=off"
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -m fast -w -t 180 stop >/dev/null; }

pg_start() {
  local port; port=$(cat "$dir/pg.port")
  as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=300 $PGOPTS" \
    start >/dev/null
}

redis_start() {
  local port; port=$(cat "$dir/redis.port")
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir"
  for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "redis did not start" >&2; return 1
}

case $cmd in
start)
  mkdir -p "$dir/sock"
  [ "$(id -u)" -eq 0 ] && chown -R postgres "$dir"
  free_port >"$dir/pg.port"; free_port >"$dir/redis.port"
  as_pg "$PGBIN/initdb" -D "$dir/pg" -A trust -U ragd --no-sync >"$dir/initdb.log" 2>&1
  pg_start
  redis_start
  echo "export RAGD_TEST_PG_URL=postgresql://ragd@127.0.0.1:$(cat "$dir/pg.port")/postgres"
  echo "export RAGD_TEST_REDIS_URL=redis://127.0.0.1:$(cat "$dir/redis.port")/0"
  echo "export RAGD_TEST_SERVICES=$dir"
  ;;
stop)
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  [ -d "$dir/pg" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
  ;;
pg-stop) pg_stop ;;
pg-start) pg_start ;;
pg-restart) pg_stop; pg_start ;;
redis-stop) kill "$(cat "$dir/redis.pid")"; for _ in $(seq 100); do
    redis-cli -p "$(cat "$dir/redis.port")" ping >/dev/null 2>&1 || exit 0; sleep 0.05; done ;;
redis-start) redis_start ;;
*) echo "usage: $0 start|stop|pg-stop|pg-start|pg-restart|redis-stop|redis-start DIR" >&2; exit 2 ;;
esac
