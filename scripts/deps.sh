#!/usr/bin/env bash
# Installs the Debian packages ragd needs to build, run and test, if any are missing.
# The web UI's libraries (served under /vendor/) and the browser tests' chromium come from here
# too. Works as root or through sudo. Idempotent and quiet when everything is present.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev
  libpq-dev libhiredis-dev libpcre2-dev libutf8proc-dev libcrypt-dev
  libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev libjpeg-dev
  libfreetype-dev libharfbuzz-dev zlib1g-dev
  libcmocka-dev
  python3 python3-pytest python3-psycopg2 python3-redis python3-aiosmtpd python3-jsonschema
  sqlite3 curl wrk
  prometheus
  postgresql redis-server
  clang libclang-rt-14-dev clang-format
  libjs-chart.js libjs-marked node-dompurify
  chromium chromium-driver python3-selenium
)
# prometheus: its promtool checks /metrics in the HTTP tests, and its server scrapes a ragd
# (the tests start their own on loopback; on a host with systemd, Debian's package also enables
# a prometheus.service on port 9090, which `systemctl disable --now prometheus` turns off).
# Node.js and npm run the official openai SDK against ragd in the HTTP tests; a machine that
# already has them (any source) keeps its own.
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)
[ "${RAGD_DEPS_EXTRA:-}" ] && PKGS+=(${RAGD_DEPS_EXTRA})

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: not root and no sudo; install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
