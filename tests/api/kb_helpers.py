"""Helpers for the knowledge-base tests: documents, PDFs, multipart bodies, SSE."""
import json
import time
import uuid
import zlib

from ragd_client import Server


def wait_doc(server, token, doc_id, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = server.get(f"/documents/{doc_id}", token=token)
        assert r.status == 200, r
        if r.json["status"] not in ("pending", "processing"):
            return r.json
        time.sleep(0.05)
    raise AssertionError(f"document {doc_id} still processing")


def upload(server, token, content, **fields):
    r = server.post("/documents", {"content": content, **fields}, token=token)
    assert r.status == 202, r
    return r.json


def upload_ready(server, token, content, **fields):
    doc = upload(server, token, content, **fields)
    return wait_doc(server, token, doc["id"])


def make_pdf(lines, compress=False):
    """A small valid PDF (one page, Helvetica) with the given text lines."""
    ops = ["BT", "/F1 12 Tf", "72 720 Td", "14 TL"]
    for ln in lines:
        esc = ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        ops.append(f"({esc}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode()
    extra = b""
    if compress:
        stream = zlib.compress(stream)
        extra = b" /Filter /FlateDecode"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), extra) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1,
                                                                              xref)
    return bytes(out)


def multipart(fields, files):
    """fields: {name: str}; files: {name: (filename, bytes, content_type)}."""
    b = "----ragdtest" + uuid.uuid4().hex
    out = bytearray()
    for k, v in fields.items():
        out += (f"--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n").encode()
        out += v.encode() + b"\r\n"
    for k, (fn, data, ct) in files.items():
        out += (f"--{b}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{fn}\"\r\n"
                f"Content-Type: {ct}\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{b}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={b}"


def upload_file(server, token, filename, data, ctype="application/octet-stream", **fields):
    body, ct = multipart({k: str(v) for k, v in fields.items()}, {"file": (filename, data, ctype)})
    return server.request("POST", "/documents", raw=body, token=token,
                          headers={"Content-Type": ct})


def search(server, token, query, path="/search", **kw):
    r = server.post(path, {"query": query, **kw}, token=token)
    assert r.status == 200, r
    return r.json


def parse_sse(body):
    events = []
    for block in body.split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                data = line[6:]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


def enterprise_user(server, email):
    server.cli("user", "create", "--email", email, "--password", "password123", "--plan",
               "enterprise", "--data", server.data)
    return server.login(email, "password123")


def private_server(**env):
    env.setdefault("SEED_DEMO_DOCS", "false")
    env.setdefault("LOGIN_MAX_ATTEMPTS_PER_IP", "100000")
    return Server(env=env)
