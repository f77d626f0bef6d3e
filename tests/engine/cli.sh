#!/usr/bin/env bash
# Engine CLI on tiny random models: mktiny, model info, eval (batched vs token by token),
# generate reproducibility, tokenize/detokenize round trip, and clear errors for broken files.
set -euo pipefail
cd "$(dirname "$0")/../.."
RAGD=${RAGD_BIN:-build/release/ragd}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for arch in qwen3 qwen2 llama; do
  "$RAGD" model mktiny --arch $arch --out "$T/$arch.gguf" --seed 3 || fail "mktiny $arch"
  "$RAGD" model info "$T/$arch.gguf" > "$T/info.json" || fail "info $arch"
  python3 - "$T/info.json" $arch <<'PY' || fail "model info json for $arch"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["architecture"] == sys.argv[2], d
assert d["n_layer"] == 2 and d["n_embd"] == 256 and d["n_head_kv"] == 4
assert d["tokenizer"]["model"] == "gpt2" and d["chat_template"] is True
assert d["tensor_types"] == {"f32": d["n_tensors"]}
PY
done
"$RAGD" model mktiny --arch qwen3 --out "$T/q8.gguf" --type q8_0 --seed 3
# --vocab-from copies the tokenizer of another file (here the llama one, with its own specials)
"$RAGD" model mktiny --arch qwen2 --out "$T/vf.gguf" --vocab-from "$T/llama.gguf" --type q4_k
"$RAGD" model info "$T/vf.gguf" > "$T/vf.json"
"$RAGD" model info "$T/llama.gguf" > "$T/ll.json"
python3 - "$T/vf.json" "$T/ll.json" <<'PY' || fail "--vocab-from"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["architecture"] == "qwen2" and a["tokenizer"] == b["tokenizer"], (a, b)
assert a["n_vocab"] == b["n_vocab"] and a["tokenizer"]["pre"] == "llama-bpe"
assert set(a["tensor_types"]) == {"f32", "q4_k", "q6_k"}, a["tensor_types"]
PY
"$RAGD" model info "$T/q8.gguf" | grep -q '"q8_0"' || fail "q8_0 tensors"

# eval: batched and token-by-token logits agree; f32 vs q8_0 stay close
IDS="1 2 3 40 50 60 70 80 90 100 110"
"$RAGD" eval --model "$T/qwen3.gguf" --tokens "$IDS" --out "$T/a.bin"
"$RAGD" eval --model "$T/qwen3.gguf" --tokens "$IDS" --out "$T/b.bin" --batch 1 --threads 1
"$RAGD" eval --model "$T/q8.gguf" --tokens "$IDS" --out "$T/c.bin"
python3 - "$T" <<'PY' || fail "eval logits"
import array, sys, math
def load(n):
    a = array.array("f"); a.frombytes(open(sys.argv[1] + "/" + n, "rb").read()); return a
a, b, c = load("a.bin"), load("b.bin"), load("c.bin")
assert len(a) == len(b) == len(c) and len(a) % 11 == 0 and len(a) > 0
scale = max(abs(x) for x in a)
assert max(abs(x - y) for x, y in zip(a, b)) < 1e-4 * scale
rel = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, c)) / sum(x * x for x in a))
assert rel < 0.05, rel
PY

# errors: truncated, corrupted, missing file, bad token, usage
head -c 100000 "$T/qwen3.gguf" > "$T/trunc.gguf"
if "$RAGD" eval --model "$T/trunc.gguf" --tokens "1" --out "$T/x.bin" 2> "$T/err"; then
  fail "truncated file accepted"; fi
grep -q "gguf:" "$T/err" || fail "no clear error for a truncated file: $(cat "$T/err")"
printf 'GGUX' | dd of="$T/q8.gguf" conv=notrunc status=none
if "$RAGD" model info "$T/q8.gguf" 2> "$T/err"; then fail "bad magic accepted"; fi
grep -q "bad magic" "$T/err" || fail "bad magic message"
if "$RAGD" model info "$T/none.gguf" 2>/dev/null; then fail "missing file"; fi
if "$RAGD" eval --model "$T/qwen3.gguf" --tokens "999999" --out "$T/x.bin" 2>/dev/null; then
  fail "out-of-vocabulary token accepted"; fi
set +e
"$RAGD" eval --model "$T/qwen3.gguf" --out "$T/x.bin" 2>/dev/null; [ $? -eq 2 ] || fail "usage"
"$RAGD" model mktiny --arch gpt9 --out "$T/x" 2>/dev/null; [ $? -eq 2 ] || fail "bad arch"
set -e

# text verbs
TEXT="Hello world! The quick brown fox: 42 <|im_start|>user"
IDS=$("$RAGD" tokenize --model "$T/qwen3.gguf" "$TEXT")
[ "$("$RAGD" detokenize --model "$T/qwen3.gguf" $IDS)" = "$TEXT" ] || fail "detokenize round trip"
G1=$("$RAGD" generate --model "$T/qwen3.gguf" --prompt "Hello" --n-predict 20 --seed 5 2>/dev/null)
G2=$("$RAGD" generate --model "$T/qwen3.gguf" --prompt "Hello" --n-predict 20 --seed 5 2>/dev/null)
[ "$G1" = "$G2" ] || fail "fixed seed does not reproduce"
"$RAGD" generate --model "$T/qwen3.gguf" --prompt "Hi" --chat --n-predict 5 --greedy \
  2> "$T/err" > /dev/null || fail "chat generate"
grep -q "generation:" "$T/err" || fail "timing line"
echo ok
