#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/seeds/<target>/: a few valid inputs and edge cases per
fuzz target, built here from the formats' definitions (the BM25 and HNSW index images come
from ragd's own writers, see make_index_seeds.c). Run from the repository root:
    python3 fuzz/seeds/generate.py
The seeds are checked in; scripts/fuzz.sh copies them into each target's working corpus."""
import base64
import hashlib
import hmac
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- dotenv: KEY=VALUE lines, comments, quotes, export, CRLF, malformed lines
put("dotenv", "basic", "# ragd settings\nAPI_PORT=8000\nLOG_LEVEL=info\n\nA=1\n")
put("dotenv", "quotes", "export A=\"quoted value\"\nB='single # not a comment'\nC=x # trailing\n")
put("dotenv", "crlf", "A=1\r\nB=two\r\n")
put("dotenv", "malformed", "NOEQUALS\n=novalue\nA==\n")
put("dotenv", "empty", "")

# ---- jsonv: request bodies against the target's schema (s, i, n, b, o, a, c)
put("jsonv", "valid", json.dumps({"s": "abc", "i": 3, "n": 0.5, "b": True, "o": {},
                                  "a": [1, 2], "c": "a"}))
put("jsonv", "wrong_types", json.dumps({"s": 1, "i": "x", "n": None, "b": 0, "a": {}, "c": "z"}))
put("jsonv", "bounds", '{"s": "", "i": 6, "n": 1.0000001, "a": [1, 2, 3, 4], "i": -5}')
put("jsonv", "unicode", '{"s": "\\u00e9\\ud83d\\ude00", "extra": [[[[{}]]]]}')
put("jsonv", "not_object", "[1, 2, 3]")
put("jsonv", "truncated", '{"s": "ab')

# ---- jwt: tokens for the target's key "fuzz-key"
# ---- grammar: a JSON schema, a NUL, then the text fed to its automaton
put("grammar", "json_object", b'\x00{"a": [1, -2.5e3, "x\\u00e9", true, null, {"b": {}}]}')
put("grammar", "schema", json.dumps({
    "type": "object", "properties": {
        "name": {"type": "string", "maxLength": 5}, "n": {"type": "integer"},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
        "o": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
            "x": {"const": 1}}, "required": ["x"]}]}},
    "required": ["name"], "additionalProperties": False}).encode()
    + b'\x00{"name": "ab", "n": 12, "tags": ["a"], "o": {"x": 1}}')
put("grammar", "types", b'{"type": ["number", "string", "null"], "minLength": 1}\x00"\xc3\xa9"')
put("grammar", "refused", b'{"type": "string", "pattern": "a"}\x00"a"')
put("grammar", "bad_text", b'\x00{"a" 1}')
put("grammar", "refs", json.dumps({
    "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "integer"}},
                     "required": ["x"]}},
    "type": "array", "items": {"anyOf": [{"$ref": "#/$defs/pt"}, {"type": "null"}]}}).encode()
    + b'\x00[{"x": 1}, null]')


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(header, claims, key=b"fuzz-key"):
    h = b64(json.dumps(header, separators=(",", ":")).encode())
    c = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{h}.{c}".encode(), hashlib.sha256).digest()
    return f"{h}.{c}.{b64(sig)}"


claims = {"user_id": "5b0c2a0e-8c1d-4a53-9d7e-1f2a3b4c5d6e", "type": "access",
          "exp": 4102444800, "iat": 1700000000}
put("jwt", "valid", jwt({"alg": "HS256", "typ": "JWT"}, claims))
put("jwt", "expired", jwt({"alg": "HS256", "typ": "JWT"}, dict(claims, exp=1000)))
put("jwt", "alg_none", jwt({"alg": "none"}, claims).rsplit(".", 1)[0] + ".")
put("jwt", "other_key", jwt({"alg": "HS256"}, claims, key=b"another-key"))
put("jwt", "malformed", "a.b")

# ---- multipart: first line the Content-Type value, then the body
body = ("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
        "Content-Type: text/plain\r\n\r\nhello world\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nNotes\r\n--XyZ--\r\n")
put("multipart", "file_and_field", "multipart/form-data; boundary=XyZ\n" + body)
put("multipart", "quoted_boundary", 'multipart/form-data; boundary="a b"\n'
    '--a b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n--a b--\r\n')
put("multipart", "unterminated", "multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disp")
put("multipart", "no_parts", "multipart/form-data; boundary=XyZ\n--XyZ--\r\n")

# ---- plans: the operator's JSON plans file
put("plans", "override", json.dumps({"pro": {"name": "Pro Plan", "limits": {"messages": 200},
                                             "daily_limits": {"mcqs_per_day": 100},
                                             "features": ["search"],
                                             "pricing": {"monthly": 2900}}}))
put("plans", "unlimited", json.dumps({"free": {"limits": {"messages": -1, "storage_mb": 0}},
                                      "enterprise": {"daily_limits": {"daily_tokens": -1}}}))
put("plans", "unknown_plan", json.dumps({"gold": {"limits": {"messages": 1}}}))
put("plans", "bad_limit", json.dumps({"free": {"limits": {"messages": -2}}}))
put("plans", "not_json", "{pro: }")

# ---- rate_budget: RATE_LIMIT_CHAT values ("calls/seconds")
for name, v in [("per_minute", "10/60"), ("zero", "0/1"), ("per_day", "100000/86400"),
                ("zero_period", "5/0"), ("negative", "-1/60"), ("words", "ten per minute"),
                ("empty", "")]:
    put("rate_budget", name, v)

# ---- rag_extract: documents of every type; a first byte 0xFF means "PDF body follows"
put("rag_extract", "text", "Plain notes.\n\nA second paragraph with caf\u00e9 and \u4e2d\u6587.\n")
put("rag_extract", "markdown", "# Title\n\nSome *emphasis* and a [link](http://x).\n\n"
    "- item one\n- item two\n\n```\ncode block\n```\n")
put("rag_extract", "html", "<!DOCTYPE html><html><head><title>Page</title><script>var x;"
    "</script></head><body><h1>Head</h1><p>Text &amp; more<br>line</p></body></html>")
put("rag_extract", "binary", b"\x00\x01\x02text\x00")
put("rag_extract", "bad_utf8", b"caf\xc3 \xff\xfe")


def pdf(lines):
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for ln in lines:
        ops.append("(" + ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                   + ") Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
            + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += str(i).encode() + b" 0 obj\n" + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objs) + 1).encode() + b"\n0000000000 65535 f \n"
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += (b"trailer\n<< /Size " + str(len(objs) + 1).encode() + b" /Root 1 0 R >>\n"
            b"startxref\n" + str(xref).encode() + b"\n%%EOF\n")
    return out


one_page = pdf(["Hello from a PDF.", "Second line (with parentheses)."])
assert one_page.startswith(b"%PDF-1.4\n")
put("rag_extract", "pdf_via_prefix", b"\xff" + one_page[len(b"%PDF-1.4\n"):])
put("rag_extract", "pdf_whole", one_page)
put("rag_extract", "pdf_no_text", b"\xff" + pdf([])[len(b"%PDF-1.4\n"):])

# ---- safetensors: u64 header length, JSON header, tensor bytes
def safetensors(header, data):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "two_tensors", safetensors(
    {"__metadata__": {"format": "pt"},
     "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
     "b": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]}},
    struct.pack("<4f", 1, 2, 3, 4) + struct.pack("<2e", 0.5, -1)))
put("safetensors", "empty_tensor", safetensors(
    {"e": {"dtype": "I64", "shape": [0], "data_offsets": [0, 0]}}, b""))
put("safetensors", "offsets_past_end", safetensors(
    {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 64]}}, b"\0" * 16))
put("safetensors", "header_too_long", struct.pack("<Q", 1 << 40) + b"{}")

# ---- gguf: version 3, key/values, tensor infos, aligned data
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gkv(key, typ, payload):
    return gstr(key) + struct.pack("<I", typ) + payload


def gguf(kvs, tensors, align=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    data, infos = b"", b""
    for name, dims, typ, raw in tensors:
        data += b"\0" * (-len(data) % align)
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(
            struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, len(data))
        data += raw
    out += infos
    out += b"\0" * (-len(out) % align)
    return out + data


kvs = [gkv("general.architecture", 8, gstr("llama")),
       gkv("general.name", 8, gstr("seed")),
       gkv("llama.context_length", 4, struct.pack("<I", 64)),
       gkv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 2) + gstr("a") + gstr("b")),
       gkv("llama.rope.freq_base", 6, struct.pack("<f", 10000.0))]
put("gguf", "kv_and_tensors", gguf(kvs, [("token_embd.weight", [4, 2], 0,
                                          struct.pack("<8f", *range(8))),
                                         ("output_norm.weight", [4], 0,
                                          struct.pack("<4f", 1, 1, 1, 1))]))
put("gguf", "no_tensors", gguf(kvs[:2], []))
put("gguf", "bad_type", gguf([gkv("x", 99, b"")], []))
put("gguf", "truncated", gguf(kvs, [("t", [4], 0, struct.pack("<4f", 0, 0, 0, 0))])[:-7])
put("gguf", "huge_count", b"GGUF" + struct.pack("<IQQ", 3, 1 << 60, 1 << 60))

# ---- tokenizer: first byte picks the mode (0/1 BPE round trip, 2 WordPiece, 3 loaders)
put("tokenizer", "bpe_text", b"\x00" + "the thing is interesting, caf\u00e9 123".encode())
put("tokenizer", "bpe_specials", b"\x04<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant")
put("tokenizer", "bpe_bytes", b"\x01\xff\xfe invalid \xc3 and \xf0\x9f\x98\x80")
put("tokenizer", "wordpiece", b"\x02Hello, unaffable WORLD! \xe4\xb8\xad\xe6\x96\x87")
put("tokenizer", "vocab_txt", b"\x03[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##lo\nworld\n")
put("tokenizer", "hf_json_bpe", b"\x07" + json.dumps({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
              "merges": ["a b"]},
    "added_tokens": [{"id": 4, "content": "<|im_end|>", "special": True}],
    "pre_tokenizer": {"type": "ByteLevel"}}).encode())
put("tokenizer", "hf_json_wordpiece", b"\x07" + json.dumps({
    "model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "hello": 1, "##lo": 2},
              "unk_token": "[UNK]"},
    "normalizer": {"type": "BertNormalizer", "lowercase": True}}).encode())

# ---- upstream_sse: first byte picks the chunk size, then an upstream's reply
sse = "".join("data: " + json.dumps({"choices": [{"delta": {"content": t}}]}) + "\n\n"
              for t in ["Hel", "lo", " world"]) + "data: [DONE]\n\n"
put("upstream_sse", "stream", "\x05" + sse)
put("upstream_sse", "stream_crlf", "\x00" + sse.replace("\n", "\r\n"))
put("upstream_sse", "plain_json", "\x3f" + json.dumps(
    {"choices": [{"message": {"role": "assistant", "content": "Hi there"}}]}))
put("upstream_sse", "error_event", "\x02data: {\"error\": {\"message\": \"overloaded\"}}\n\n")
put("upstream_sse", "stop_early", "\x07data: " + json.dumps(
    {"choices": [{"delta": {"content": "!stop"}}]}) + "\n\n")

# ---- web_headers: Accept-Encoding and If-None-Match values, path segments
put("web_headers", "accept_encoding", "gzip, deflate, br;q=0.9, *;q=0.1")
put("web_headers", "gzip_refused", "gzip;q=0, identity")
put("web_headers", "etag_list", 'W/"0123456789abcdef", "other", *')
put("web_headers", "segment", "app.js")
put("web_headers", "segment_dotdot", "..")
put("web_headers", "segment_hidden", ".env")
put("web_headers", "mime_css", "style.min.css")

# ---- payment_signatures: a signature header, a newline, then the webhook body (the target's
# secret is "whsec_fuzz"; Stripe signs "t.body", Razorpay the body alone)
pay_body = json.dumps({"id": "evt_1", "object": "event", "type": "checkout.session.completed",
                       "created": 1700000000, "data": {"object": {"amount_total": 2900}}})
pay_mac = hmac.new(b"whsec_fuzz", b"1700000000." + pay_body.encode(), hashlib.sha256).hexdigest()
rzp_mac = hmac.new(b"whsec_fuzz", pay_body.encode(), hashlib.sha256).hexdigest()
put("payment_signatures", "stripe_valid", f"t=1700000000,v1={pay_mac}\n{pay_body}")
put("payment_signatures", "stripe_several", f"t=1700000000,v1={'0' * 64},v0=x,v1={pay_mac}"
    f"\n{pay_body}")
put("payment_signatures", "stripe_stale", f"t=1600000000,v1={pay_mac}\n{pay_body}")
put("payment_signatures", "stripe_spaces", f" v1={pay_mac.upper()} , t=1700000000 \n{pay_body}")
put("payment_signatures", "stripe_malformed", "t=,v1=zz,=,,t=1,v1\n{}")
put("payment_signatures", "razorpay_valid", f"{rzp_mac}\n{pay_body}")
put("payment_signatures", "razorpay_short", f"{rzp_mac[:63]}\n{pay_body}")
put("payment_signatures", "empty", "")
# ---- sentiment: customer messages with every rule the lexicon scorer applies, emoji,
# emoticons, invalid UTF-8, and llm verdicts
put("sentiment", "question", "How do I reset my password?")
put("sentiment", "negation", "The export doesn't work and I never received the email.")
put("sentiment", "contrast", "The app is nice but it crashes constantly, although support is kind")
put("sentiment", "caps", "THIS IS UNACCEPTABLE. Fix it NOW!!!")
put("sentiment", "punctuation", "Why is this broken?!?! ... really??")
put("sentiment", "emoji", "love it \u2764\ufe0f \U0001F600 but \U0001F621\U0001F44E :( :-) <3 xD D:")
put("sentiment", "urgent", "Our site is down for everyone, my lawyer will call. Refund immediately.")
put("sentiment", "curly_quote", "It isn\u2019t working, I\u2019m fed up")
put("sentiment", "invalid_utf8", b"bad\xff\xfe\x80 \xf0\x9f\x98 great\x00terrible \xe2\x80")
put("sentiment", "long_word", "great" * 40 + " " + "!" * 50 + "?" * 50)
put("sentiment", "verdict", '{"label": "NEGATIVE", "score": 0.9, "polarity": -0.8}')
put("sentiment", "verdict_fenced", '```json\n{"label":"NEUTRAL","score":0.5}\n```')
