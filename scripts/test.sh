#!/usr/bin/env bash
# Runs every test: C unit tests (sanitizer build), a short run of every fuzz target, engine
# tests, HTTP tests against a live ragd on SQLite and on PostgreSQL + Redis, browser tests of
# the web UI (chromium). Prints one closing line "tests: N passed, N failed". Exit status 0 only if all pass.
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}

echo "== build (release and asan)"
mkdir -p build
for fl in release asan; do
  if ! make -j"$JOBS" --no-print-directory FLAVOUR=$fl build/$fl/ragd unit-bins >build/make-$fl.log 2>&1; then
    grep -E 'error|Error' build/make-$fl.log | head -40
    echo "tests: 0 passed, 1 failed"
    exit 1
  fi
done

passed=0; failed=0; failures=()
record() { # name status
  if [ "$2" -eq 0 ]; then passed=$((passed+1)); echo "PASS $1"
  else failed=$((failed+1)); failures+=("$1"); echo "FAIL $1"; fi
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Globs that match nothing expand to nothing (not to themselves).
shopt -s nullglob

echo "== format (clang-format, .clang-format)"
unformatted=$(git ls-files '*.c' '*.h' | xargs clang-format --dry-run 2>&1 | grep -o '^[^:]*\.[ch]:' | sort -u)
[ -n "$unformatted" ] && printf 'differs from .clang-format (run make format): %s\n' $unformatted
record "clang-format" $([ -z "$unformatted" ] && echo 0 || echo 1)

echo "== unit tests (asan+ubsan)"
nunit=0
for t in build/asan/tests/unit/* build/asan/tests/engine/*; do
  case $t in *.d) continue ;; esac
  [ -f "$t" ] && [ -x "$t" ] || continue
  nunit=$((nunit+1))
  out=$("$t" 2>&1); rc=$?
  [ $rc -ne 0 ] && echo "$out" | tail -40
  record "$t" $rc
done
# The build above makes one binary per tests/unit/*.c and tests/engine/*.c: none is a failure.
[ $nunit -gt 0 ] || record "unit test binaries under build/asan/tests (none found)" 1

echo "== fuzz targets (clang, libFuzzer + ASan/UBSan, ${FUZZ_SECONDS:-5} s each)"
out=$(scripts/fuzz.sh "${FUZZ_SECONDS:-5}" 2>&1); rc=$?
echo "$out" | grep -E '^== fuzz|number_of_executed_units'
[ $rc -ne 0 ] && echo "$out" | tail -40
record "fuzz targets" $rc

echo "== script tests"
# Every folder named here must exist: a missing one is a failure, not an empty loop.
for d in tests/engine; do
  [ -d "$d" ] || { record "$d (script test folder missing)" 1; continue; }
  for t in "$d"/*.sh; do
    out=$(bash "$t" 2>&1); rc=$?
    [ $rc -ne 0 ] && echo "$out" | tail -40
    record "$t" $rc
  done
done

# Every response the HTTP tests receive is recorded, and the last test file
# (test_zz_openapi_responses.py) checks them all against /openapi.json.
echo "== HTTP tests (embedded SQLite, asan build; responses checked against /openapi.json)"
rm -rf build/responses-sqlite build/responses-pg && mkdir -p build/responses-sqlite build/responses-pg
RAGD_RECORD_RESPONSES=build/responses-sqlite RAGD_BIN=build/asan/ragd \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/api
record "tests/api (sqlite)" $?

echo "== browser tests (chromium headless against the asan build; screenshots in build/ui-shots)"
RAGD_BIN=build/asan/ragd /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/ui
record "tests/ui (chromium)" $?

echo "== HTTP tests (PostgreSQL + Redis, asan build)"
SVC=$(mktemp -d /tmp/ragd-services-XXXXXX)
trap 'scripts/services.sh stop "$SVC"; rm -rf "$SVC"' EXIT
if out=$(scripts/services.sh start "$SVC" 2>&1); then
  eval "$out"
  RAGD_RECORD_RESPONSES=build/responses-pg RAGD_BIN=build/asan/ragd \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/api
  record "tests/api (postgresql+redis)" $?
  unset RAGD_TEST_PG_URL RAGD_TEST_REDIS_URL
else
  echo "$out" | tail -20
  record "start private postgresql and redis" 1
fi

echo
[ $failed -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
