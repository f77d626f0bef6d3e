#!/usr/bin/env bash
# Two builds side by side on PostgreSQL + Redis: bench/backends.sh's route (POST /search as
# admin, quota-checked and recorded) against one node of each, each node with a database of
# its own on the same servers, in alternating short rounds (A B, then B A, ...) so that both
# see the same machine. Prints each round and the medians, and B's req/s and p99 as a ratio of
# A's: on a shared, noisy machine read the ratios, not the absolute figures.
# Usage: bench/backends_ab.sh BUILD_A BUILD_B [ROUNDS=8] [SECONDS=2] [CONNECTIONS=16]
# MEMBER=1: as test@example.com instead (a pro user in an organization: its reservation checks
# limits, its organization is read and counted, it is rate-limited), with limits raised far
# beyond what a run can use so that nothing is refused.
# ORG_MEMBERS=N (with MEMBER=1): N more members in that user's organization, as in a large
# organization (what a member's request reads about its organization must not grow with it).
# WIDGET=1: POST /widget/message instead, from a widget session of an organization (on the
# enterprise plan, so that its daily answers last the run), answered by the extractive provider.
# CHAT=1: POST /chat/message instead, each a new session answered by the extractive provider
# (no model: the route's own work, retrieval and its writes), as tests/api/test_round_trips.py's
# chat_new.
# GET=PATH: GET PATH as admin instead (a page of the web UI: GET='/users?limit=50' the admin's
# user list), with USERS=N more users, each with usage counters this month and today.
# COUNTER_DAYS=N: every user also has the daily counters of the N days before today (a
# long-lived install's counters).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$(realpath "$1") B=$(realpath "$2") ROUNDS=${3:-8} SECS=${4:-2} CONNS=${5:-16}
. bench/nodes_lib.sh
nodes_scratch ab
export BCRYPT_ROUNDS=4 LOG_LEVEL=error JWT_SECRET_KEY=bench-secret-0123456789abcdef SEED_DEMO_DOCS=false
export ENCRYPTION_KEY=${ENCRYPTION_KEY:-$(printf "5e%.0s" $(seq 32))}
eval "$(scripts/services.sh start "$TMP/svc")"
export REDIS_URL=$RAGD_TEST_REDIS_URL
EMAIL=admin@example.com PASSWORD=adminpassword123 WHO=admin
if [ -n "${MEMBER:-}" ]; then
  EMAIL=test@example.com PASSWORD=testpassword123 WHO="an organization member (limits checked)"
  big=1000000000000
  echo "{\"pro\": {\"limits\": {\"api_calls\": $big}, \"daily_limits\": {\"daily_requests\": $big}}}" >"$TMP/plans.json"
  export PLANS_FILE=$TMP/plans.json RATE_LIMIT_SEARCH=1000000000/3600
fi
search_lua # $TMP/post.lua
ROUTE=/search
if [ -n "${CHAT:-}" ]; then
  ROUTE=/chat/message
  printf '%s\n' 'wrk.method = "POST"' \
    "wrk.body = '{\"message\":\"round trip budget question\"}'" \
    'wrk.headers["Content-Type"] = "application/json"' >"$TMP/post.lua"
  export RATE_LIMIT_CHAT=1000000000/3600
fi
if [ -n "${GET:-}" ]; then
  ROUTE=$GET WHO="admin (GET)"
  echo 'wrk.method = "GET"' >"$TMP/post.lua"
fi
ORIGIN=http://127.0.0.1:9
if [ -n "${WIDGET:-}" ]; then
  ROUTE=/widget/message WHO="a widget visitor"
  printf '%s\n' 'wrk.method = "POST"' "wrk.body = '{\"message\":\"what does the warranty cover?\"}'" \
    'wrk.headers["Content-Type"] = "application/json"' "wrk.headers[\"Origin\"] = \"$ORIGIN\"" >"$TMP/post.lua"
  export WIDGET_MESSAGES_PER_SESSION_PER_MINUTE=100000 RATE_LIMIT_WIDGET=1000000000/3600
fi

# start_node TAG BIN: its own database and Redis db; sets PORT_<TAG> and TOK_<TAG>.
start_node() {
  local tag=$1 bin=$2 db=ragd_ab_${1,,} p
  /usr/bin/python3 -c "import psycopg2,sys; c=psycopg2.connect(sys.argv[1]); c.autocommit=True; c.cursor().execute('CREATE DATABASE $db')" "$RAGD_TEST_PG_URL"
  local url=${RAGD_TEST_PG_URL%/postgres}/$db redis=${RAGD_TEST_REDIS_URL%/0}/$([ "$tag" = A ] && echo 1 || echo 2)
  DATABASE_URL=$url REDIS_URL=$redis "$bin" seed --demo --data "$TMP/$tag" >/dev/null
  local copies=${ORG_MEMBERS:-${USERS:-}} from=$EMAIL
  [ -z "${USERS:-}" ] || from=test@example.com
  [ -z "$copies" ] || /usr/bin/python3 - "$url" "$copies" "$from" <<'PY'
import sys, time, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
# copies of the member's row, each with an id and an e-mail of its own, and usage counters
# this month and today
month, day = time.strftime("%Y-%m", time.gmtime()), time.strftime("%Y-%m-%d", time.gmtime())
c.cursor().execute(
    "CREATE TEMP TABLE m AS SELECT u.* FROM users u, generate_series(1, %s) WHERE email = %s;"
    "ALTER TABLE m ADD COLUMN n SERIAL;"
    "UPDATE m SET id = md5(n::text)::uuid::text, email = n || '@members.test', username = NULL;"
    "ALTER TABLE m DROP COLUMN n; INSERT INTO users SELECT * FROM m;"
    "INSERT INTO usage_counters (user_id, name, period, quantity, updated_at)"
    " SELECT id, k.name, k.period, 3, '2026-01-01T00:00:00Z' FROM m, (VALUES ('messages', %s),"
    " ('daily_requests', %s), ('daily_tokens', %s)) AS k(name, period)",
    (int(sys.argv[2]), sys.argv[3], month, day, day))
PY
  p=$(port)
  DATABASE_URL=$url REDIS_URL=$redis "$bin" serve --data "$TMP/$tag" --port "$p" 2>>"$TMP/log" &
  PIDS+=($!)
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$p/health" >/dev/null && break; sleep 0.05; done
  local tok
  tok=$(curl -sf -X POST "http://127.0.0.1:$p/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
  if [ -n "${WIDGET:-}" ]; then # an organization of the user's, its key, a visitor's session
    tok=$(/usr/bin/python3 - "$p" "$url" "$ORIGIN" <<'PY'
import json, sys, urllib.request, psycopg2
port, url, origin = sys.argv[1:]
def call(path, body, headers):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", **headers})
    return json.load(urllib.request.urlopen(req))
owner = {"email": "widget-owner@example.com", "password": "benchpassword123"}
call("/auth/register", owner, {})
auth = {"Authorization": "Bearer " + call("/auth/login", owner, {})["access_token"]}
org = call("/organizations", {"name": "Bench"}, auth)["id"]
c = psycopg2.connect(url); c.autocommit = True
c.cursor().execute("UPDATE organizations SET plan = 'enterprise' WHERE id = %s", (org,))
key = call(f"/organizations/{org}/widget-keys", {"name": "site", "allowed_origins": [origin]},
           auth)["key"]
print(call("/widget/session", {"key": key}, {"Origin": origin})["session_token"])
PY
)
  fi
  [ -z "${COUNTER_DAYS:-}" ] || /usr/bin/python3 - "$url" "$COUNTER_DAYS" <<'PY'
import sys, psycopg2
c = psycopg2.connect(sys.argv[1]); c.autocommit = True
c.cursor().execute(
    "INSERT INTO usage_counters (user_id, name, period, quantity, updated_at)"
    " SELECT u.id, k.name, to_char(current_date - d, 'YYYY-MM-DD'), 2, '2026-01-01T00:00:00Z'"
    " FROM users u, generate_series(1, %s) AS d, (VALUES ('daily_requests'), ('daily_tokens'),"
    " ('mcqs_per_day'), ('summaries_per_day')) AS k(name) ON CONFLICT DO NOTHING",
    (int(sys.argv[2]),))
PY
  printf -v "PORT_$tag" %s "$p"
  printf -v "TOK_$tag" %s "$tok"
}
start_node A "$A"
start_node B "$B"
sleep 4 # a login blocks refilling the session cache for a few seconds

load() { # TAG SECS -> "rps p99_ms non2xx"
  local p tok
  p=PORT_$1 tok=TOK_$1
  wrk -t1 -c"$CONNS" -d"${2}s" --latency -s "$TMP/post.lua" -H "Authorization: Bearer ${!tok}" \
    "http://127.0.0.1:${!p}$ROUTE" |
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         /Requests\/sec/ {r=$2} $1=="99%" {p99=ms($2)} /Non-2xx/ {n=$5}
         END {printf "%.0f %.2f %d\n", r, p99, n+0}'
}
load A 1 >/dev/null; load B 1 >/dev/null # warm-up: statements prepared, caches filled

echo "A $A"
echo "B $B"
echo "$(nproc) cores, wrk -c$CONNS, ${SECS}s rounds, POST $ROUTE as $WHO, PostgreSQL + Redis, 1 node each"
for r in $(seq "$ROUNDS"); do
  order="A B"; [ $((r % 2)) = 0 ] && order="B A"
  for tag in $order; do echo "round $r $tag $(load "$tag" "$SECS")"; done
done | tee "$TMP/rounds"
awk '{ k=$3; rps[k, ++n[k]]=$4; p99[k, n[k]]=$5; bad[k]+=$6 }
     function med(a, k, m,   i, j, t, v) { for (i = 1; i <= m; i++) v[i] = a[k, i];
       for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
       return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2 }
     END { ra = med(rps, "A", n["A"]); rb = med(rps, "B", n["B"]);
           pa = med(p99, "A", n["A"]); pb = med(p99, "B", n["B"]);
           printf "median A: %6.0f req/s  p99 %7.2f ms  non-2xx %d\n", ra, pa, bad["A"];
           printf "median B: %6.0f req/s  p99 %7.2f ms  non-2xx %d\n", rb, pb, bad["B"];
           printf "B/A: req/s %.2fx  p99 %.2fx\n", rb / ra, pb / pa }' "$TMP/rounds"
