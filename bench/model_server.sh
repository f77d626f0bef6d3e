# Sourced by the model-serving benchmarks: makes (or reuses) a Qwen3-1.7B-shaped random model
# of type $TYPE in $BENCH_DIR (default /tmp/ragd-bench) and starts a ragd serving it on $PORT
# with a demo admin; the server and its data go away when the calling script exits.
# The caller sets TYPE and PORT and may export GENERATION_* settings first.
RAGD=${RAGD_BIN:-build/release/ragd}
DIR=${BENCH_DIR:-/tmp/ragd-bench}
mkdir -p "$DIR"
[ -x "$RAGD" ] || make -s build/release/ragd
MODEL="$DIR/qwen3-1.7b-$TYPE.gguf"
[ -s "$MODEL" ] || "$RAGD" model mktiny --arch qwen3 --shape 1.7b --type "$TYPE" --seed 1 --out "$MODEL"
WORK=$(mktemp -d /tmp/ragd-bench-serve-XXXXXX)
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
export BCRYPT_ROUNDS=4 JWT_SECRET_KEY=bench-secret-0123456789abcdef LOG_LEVEL=warning
export GENERATION_MODEL="$MODEL" SEED_DEMO_DOCS=false RATE_LIMIT_CHAT=100000/60
"$RAGD" seed --demo --data "$WORK/data" >/dev/null 2>&1
"$RAGD" serve --data "$WORK/data" --port "$PORT" >"$WORK/log" 2>&1 &
PID=$!
