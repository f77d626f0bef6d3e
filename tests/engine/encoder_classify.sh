#!/usr/bin/env bash
# Sequence classification on random models from `ragd model mktiny --arch bert-cls|mpnet-cls`:
# the logits and probabilities `ragd embed --classify` prints are checked against a forward
# pass and head written here in pure Python from the raw safetensors (double precision), and
# the model scorer (SENTIMENT_SCORER=model) answers with the head's label; a checkpoint whose
# labels are not sentiments is refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
RAGD=${RAGD_BIN:-build/release/ragd}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$RAGD" model mktiny --arch bert-cls --out "$T/bert" --seed 11 || fail "mktiny bert-cls"
"$RAGD" model mktiny --arch mpnet-cls --out "$T/mpnet" --seed 12 || fail "mktiny mpnet-cls"
texts=("hello world" "the quick brown fox jumps over the lazy dog" "a" "good bad new old")
for m in bert mpnet; do
  "$RAGD" embed --classify --model "$T/$m" -- "${texts[@]}" > "$T/$m.jsonl" 2>/dev/null \
    || fail "embed --classify $m"
  "$RAGD" embed --classify --model "$T/$m" --batch 1 -- "${texts[@]}" > "$T/$m.b1.jsonl" \
    2>/dev/null || fail "embed --classify --batch 1 $m"
done

"$PY" - "$T" <<'PY' || fail "classification head against the reference"
import json, math, struct, sys

d = sys.argv[1]

def load_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in hdr.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", t
        a, b = t["data_offsets"]
        vals = struct.unpack("<%df" % ((b - a) // 4), raw[base + a:base + b])
        shape = t["shape"]
        out[name] = [list(vals[r * shape[1]:(r + 1) * shape[1]]) for r in range(shape[0])] \
            if len(shape) == 2 else list(vals)
    return out

def linear(W, b, x):
    return [bi + sum(w * xi for w, xi in zip(row, x)) for row, bi in zip(W, b)]

def ln(x, g, b, eps):
    m = sum(x) / len(x)
    v = sum((xi - m) ** 2 for xi in x) / len(x)
    return [(xi - m) / math.sqrt(v + eps) * gi + bi for xi, gi, bi in zip(x, g, b)]

def gelu(z):
    return 0.5 * z * (1 + math.erf(z / math.sqrt(2)))

def bucket(rel):
    """T5's bidirectional bucket of a relative position (32 buckets, max distance 128)."""
    n = -rel
    ret = 16 if n < 0 else 0
    n = abs(n)
    if n < 8:
        return ret + n
    large = 8 + int(math.log(n / 8) / math.log(128 / 8) * 8)
    return ret + min(large, 15)

def forward(d, mpnet, ids):
    w = load_st(d + "/model.safetensors")
    cfg = json.load(open(d + "/config.json"))
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    eps, hd = cfg["layer_norm_eps"], cfg["hidden_size"] // cfg["num_attention_heads"]
    p = "" if mpnet else "bert."
    n = len(ids)
    x = []
    for i, t in enumerate(ids):
        pos = i + 2 if mpnet else i  # MPNet numbers positions from padding_idx + 1
        e = [a + b for a, b in zip(w[p + "embeddings.word_embeddings.weight"][t],
                                   w[p + "embeddings.position_embeddings.weight"][pos])]
        if not mpnet:
            e = [a + b for a, b in zip(e, w["bert.embeddings.token_type_embeddings.weight"][0])]
        x.append(ln(e, w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"], eps))
    names = (["attention.attn.q", "attention.attn.k", "attention.attn.v", "attention.attn.o",
              "attention.LayerNorm"] if mpnet else
             ["attention.self.query", "attention.self.key", "attention.self.value",
              "attention.output.dense", "attention.output.LayerNorm"])
    for layer in range(L):
        pre = "%sencoder.layer.%d." % (p, layer)
        W = lambda k: (w[pre + k + ".weight"], w[pre + k + ".bias"])
        q = [linear(*W(names[0]), xi) for xi in x]
        k = [linear(*W(names[1]), xi) for xi in x]
        v = [linear(*W(names[2]), xi) for xi in x]
        ctx = [[0.0] * D for _ in range(n)]
        for h in range(H):
            sl = slice(h * hd, (h + 1) * hd)
            for i in range(n):
                s = []
                for j in range(n):
                    sc = sum(a * b for a, b in zip(q[i][sl], k[j][sl])) / math.sqrt(hd)
                    if mpnet:
                        sc += w["encoder.relative_attention_bias.weight"][bucket(j - i)][h]
                    s.append(sc)
                mx = max(s)
                e = [math.exp(si - mx) for si in s]
                z = sum(e)
                for dd in range(hd):
                    ctx[i][h * hd + dd] = sum(e[j] / z * v[j][h * hd + dd] for j in range(n))
        o = [linear(*W(names[3]), c) for c in ctx]
        x = [ln([a + b for a, b in zip(xi, oi)], *W(names[4]), eps) for xi, oi in zip(x, o)]
        f = [[gelu(z) for z in linear(*W("intermediate.dense"), xi)] for xi in x]
        y = [linear(*W("output.dense"), fi) for fi in f]
        x = [ln([a + b for a, b in zip(xi, yi)], *W("output.LayerNorm"), eps) for xi, yi in zip(x, y)]
    head = (("classifier.dense", "classifier.out_proj") if mpnet else
            ("bert.pooler.dense", "classifier"))
    pooled = [math.tanh(z) for z in linear(w[head[0] + ".weight"], w[head[0] + ".bias"], x[0])]
    logits = linear(w[head[1] + ".weight"], w[head[1] + ".bias"], pooled)
    mx = max(logits)
    e = [math.exp(l - mx) for l in logits]
    return logits, [ei / sum(e) for ei in e], [cfg["id2label"][str(i)] for i in range(len(e))]

worst = 0
for m, mpnet in (("bert", False), ("mpnet", True)):
    rows = [json.loads(l) for l in open("%s/%s.jsonl" % (d, m))]
    b1 = [json.loads(l) for l in open("%s/%s.b1.jsonl" % (d, m))]
    assert len(rows) == 4 and len(b1) == 4
    vocab = open("%s/%s/vocab.txt" % (d, m)).read().split("\n")
    labels_seen = set()
    for r, s in zip(rows, b1):
        ids = r["ids"]
        assert vocab[ids[0]] == ("<s>" if mpnet else "[CLS]"), ids
        assert vocab[ids[-1]] == ("</s>" if mpnet else "[SEP]"), ids
        logits, probs, names = forward("%s/%s" % (d, m), mpnet, ids)
        for a, b in zip(logits, r["logits"]):
            worst = max(worst, abs(a - b))
            assert abs(a - b) < 1e-4, (m, ids, logits, r["logits"])
        for a, b in zip(probs, r["probs"]):
            assert abs(a - b) < 1e-5, (m, ids, probs, r["probs"])
        assert abs(sum(r["probs"]) - 1) < 1e-5
        assert r["label"] == names[max(range(3), key=lambda c: probs[c])]
        assert max(abs(a - b) for a, b in zip(r["logits"], s["logits"])) < 1e-5  # batching
        labels_seen.add(tuple(round(p, 3) for p in r["probs"]))
    assert len(labels_seen) == 4, "texts should get different probabilities"
print("head matches the reference (worst logit difference %.2e)" % worst)
PY

# the GGUF layout (cls, cls.output, output_labels, rank pooling), f32 and q8_0 bodies
"$RAGD" model mktiny --arch bert-cls --out "$T/cls.gguf" --seed 11 || fail "mktiny bert-cls gguf"
"$RAGD" model mktiny --arch bert-cls --out "$T/cls8.gguf" --type q8_0 --seed 11 \
  || fail "mktiny bert-cls gguf q8_0"
"$RAGD" embed --classify --model "$T/cls.gguf" -- "${texts[@]}" > "$T/g.jsonl" 2>/dev/null \
  || fail "classify gguf"
"$RAGD" embed --classify --model "$T/cls8.gguf" -- "${texts[@]}" > "$T/g8.jsonl" 2>/dev/null \
  || fail "classify gguf q8_0"
"$PY" - "$T" <<'PY' || fail "GGUF classifier output"
import json, sys
d = sys.argv[1]
a = [json.loads(l) for l in open(d + "/g.jsonl")]
b = [json.loads(l) for l in open(d + "/g8.jsonl")]
assert len(a) == len(b) == 4
for x, y in zip(a, b):
    assert x["label"] in ("NEGATIVE", "NEUTRAL", "POSITIVE"), x
    assert abs(sum(x["probs"]) - 1) < 1e-5
    assert max(abs(p - q) for p, q in zip(x["logits"], y["logits"])) < 0.1, (x, y)
PY
"$RAGD" model mktiny --arch mpnet-cls --out "$T/m.gguf" 2> "$T/err" && fail "mpnet-cls as GGUF"
grep -q "Hugging Face folder" "$T/err" || fail "$(cat "$T/err")"

# the model scorer answers with the head's label; the lexicon answers when it is not set up
want=$(head -1 "$T/bert.jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["label"])')
got=$(SENTIMENT_SCORER=model SENTIMENT_MODEL="$T/bert" "$RAGD" sentiment score "hello world")
echo "$got" | grep -q "\"label\":\"$want\"" || fail "model scorer label: $got (want $want)"
echo "$got" | grep -q '"scorer":"model"' || fail "model scorer name: $got"
# labels that are not sentiments are refused at start
sed -i 's/"NEUTRAL"/"SPORTS"/' "$T/mpnet/config.json"
if SENTIMENT_SCORER=model SENTIMENT_MODEL="$T/mpnet" "$RAGD" sentiment score x 2> "$T/err"; then
  fail "a model with a SPORTS label was accepted"
fi
grep -q "SPORTS" "$T/err" || fail "refusal should name the label: $(cat "$T/err")"
# an embedding model has no head
"$RAGD" model mktiny --arch bert --out "$T/emb.gguf" --seed 1
if "$RAGD" embed --classify --model "$T/emb.gguf" x 2> "$T/err"; then fail "classify without a head"; fi
grep -q "no classification head" "$T/err" || fail "$(cat "$T/err")"
echo "encoder_classify: ok"
