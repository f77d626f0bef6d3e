#!/usr/bin/env bash
# Encoder CLI on tiny random models: model mktiny --arch bert|mpnet, embed with arguments and
# from stdin (one JSON array per line, unit length, batch-independent), EMBEDDING_MAX_SEQ
# truncation, and clear errors for bad files and usage.
set -euo pipefail
cd "$(dirname "$0")/../.."
RAGD=${RAGD_BIN:-build/release/ragd}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$RAGD" model mktiny --arch bert --out "$T/bert.gguf" --seed 5 || fail "mktiny bert"
"$RAGD" model mktiny --arch mpnet --out "$T/mpnet" --seed 5 || fail "mktiny mpnet"
"$RAGD" model mktiny --arch mpnet --out "$T/mpnet-bf16" --type bf16 --seed 5 || fail "mktiny bf16"
for f in config.json model.safetensors vocab.txt tokenizer_config.json \
         sentence_bert_config.json modules.json 1_Pooling/config.json; do
  [ -s "$T/mpnet/$f" ] || fail "mpnet folder lacks $f"
done

printf 'Hello world!\nThe quick brown fox jumps over the lazy dog.\na\n\nCafé 中文, naïve!\n' > "$T/in.txt"
for m in "$T/bert.gguf" "$T/mpnet" "$T/mpnet-bf16"; do
  "$RAGD" embed --model "$m" - < "$T/in.txt" > "$T/stdin.jsonl" 2> "$T/err" || fail "embed - ($m): $(cat "$T/err")"
  grep -q '^embed: 5 texts' "$T/err" || fail "timing line: $(cat "$T/err")"
  "$RAGD" embed --model "$m" --batch 1 - < "$T/in.txt" > "$T/b1.jsonl" 2>/dev/null
  mapfile -t lines < "$T/in.txt"
  "$RAGD" embed --model "$m" --batch 2 -- "${lines[@]}" > "$T/args.jsonl" 2>/dev/null
  EMBEDDING_MAX_SEQ=4 "$RAGD" embed --model "$m" - < "$T/in.txt" > "$T/short.jsonl" 2>/dev/null
  python3 - "$T" <<'PY' || fail "embed output for $m"
import json, math, sys
d = sys.argv[1]
def load(n):
    return [json.loads(l) for l in open(d + "/" + n)]
a, b, c, s = load("stdin.jsonl"), load("b1.jsonl"), load("args.jsonl"), load("short.jsonl")
assert len(a) == len(b) == len(c) == len(s) == 5, (len(a), len(b), len(c))
for v in a:
    assert len(v) == 64 and abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
for x, y, z in zip(a, b, c):
    assert max(abs(p - q) for p, q in zip(x, y)) < 1e-5
    assert max(abs(p - q) for p, q in zip(x, z)) < 1e-5
# max_seq 4 keeps "a" ([CLS] a [SEP]) and the empty text, changes the long ones
assert max(abs(p - q) for p, q in zip(a[2], s[2])) < 1e-6
assert max(abs(p - q) for p, q in zip(a[3], s[3])) < 1e-6
assert max(abs(p - q) for p, q in zip(a[1], s[1])) > 1e-3
assert max(abs(p - q) for p, q in zip(a[0], a[1])) > 1e-3
PY
done

# quantized and half-precision GGUF weights stay close to f32
"$RAGD" model mktiny --arch bert --out "$T/q8.gguf" --type q8_0 --seed 5 || fail "mktiny bert q8_0"
"$RAGD" model mktiny --arch bert --out "$T/f16.gguf" --type f16 --seed 5 || fail "mktiny bert f16"
"$RAGD" embed --model "$T/bert.gguf" - < "$T/in.txt" > "$T/f32.jsonl" 2>/dev/null
"$RAGD" embed --model "$T/q8.gguf" - < "$T/in.txt" > "$T/q8.jsonl" 2>/dev/null || fail "embed q8_0"
"$RAGD" embed --model "$T/f16.gguf" - < "$T/in.txt" > "$T/f16.jsonl" 2>/dev/null || fail "embed f16"
python3 - "$T" <<'PY' || fail "q8_0 / f16 vectors"
import json, sys
d = sys.argv[1]
def load(n):
    return [json.loads(l) for l in open(d + "/" + n)]
ref = load("f32.jsonl")
for name, tol in (("q8.jsonl", 0.99), ("f16.jsonl", 0.9999)):
    for x, y in zip(ref, load(name)):
        cos = sum(p * q for p, q in zip(x, y))
        assert cos > tol, (name, cos)
PY

# usage and file errors
set +e
"$RAGD" embed "text" 2> "$T/err"; [ $? -eq 2 ] || fail "embed without --model must be a usage error"
"$RAGD" embed --model "$T/bert.gguf" --batch 0 x 2> /dev/null; [ $? -eq 2 ] || fail "--batch 0"
EMBEDDING_MAX_SEQ=abc "$RAGD" embed --model "$T/bert.gguf" x 2> /dev/null; [ $? -eq 2 ] || fail "bad EMBEDDING_MAX_SEQ"
"$RAGD" model mktiny --arch mpnet --type q8_0 --out "$T/q8" 2> "$T/err"; [ $? -eq 2 ] || fail "mpnet q8_0"
"$RAGD" model mktiny --arch bert --shape huge --out "$T/x.gguf" 2> /dev/null; [ $? -eq 2 ] || fail "bad shape"
"$RAGD" embed --model "$T/none" x 2> "$T/err"; [ $? -eq 1 ] || fail "missing model"
grep -q "cannot open" "$T/err" || fail "missing model message: $(cat "$T/err")"
head -c 20000 "$T/bert.gguf" > "$T/trunc.gguf"
"$RAGD" embed --model "$T/trunc.gguf" x 2> "$T/err"; [ $? -eq 1 ] || fail "truncated gguf accepted"
grep -q "gguf:" "$T/err" || fail "truncated gguf message: $(cat "$T/err")"
cp -r "$T/mpnet" "$T/broken"
truncate -s 50000 "$T/broken/model.safetensors"
"$RAGD" embed --model "$T/broken" x 2> "$T/err"; [ $? -eq 1 ] || fail "truncated safetensors accepted"
grep -q "safetensors: truncated" "$T/err" || fail "truncated safetensors message: $(cat "$T/err")"
printf 'GARBAGE!' | dd of="$T/broken/model.safetensors" conv=notrunc status=none
"$RAGD" embed --model "$T/broken" x 2> "$T/err"; [ $? -eq 1 ] || fail "corrupt safetensors accepted"
grep -q "safetensors:" "$T/err" || fail "corrupt safetensors message: $(cat "$T/err")"
"$RAGD" model mktiny --arch qwen3 --out "$T/dec.gguf" --seed 1 >/dev/null
"$RAGD" embed --model "$T/dec.gguf" x 2> "$T/err"; [ $? -eq 1 ] || fail "decoder accepted as encoder"
grep -q "not an encoder" "$T/err" || fail "decoder message: $(cat "$T/err")"
set -e
echo "encoder CLI: ok"
