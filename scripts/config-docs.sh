#!/usr/bin/env bash
# Regenerates the README's configuration table and .env.example from the table of variables
# (src/core/config_vars.c) through `ragd config table`. Usage: scripts/config-docs.sh [RAGD_BIN]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${RAGD_BIN:-build/release/ragd}}
"$BIN" config table --env >.env.example
table=$("$BIN" config table --markdown)
/usr/bin/python3 - "$table" <<'PY'
import re, sys
begin, end = "<!-- config-table:begin -->", "<!-- config-table:end -->"
text = open("README.md").read()
if begin not in text or end not in text:
    sys.exit("README.md has no config-table markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open("README.md", "w").write(head + begin + "\n" + sys.argv[1] + "\n" + end + tail)
PY
echo "README.md and .env.example regenerated"
