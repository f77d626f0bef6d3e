"""Documents: upload (JSON and multipart), type sniffing, ingestion status, list/get/delete,
size limits, malformed input, organization isolation, persistence across restarts."""
import json
import os
import socket
import time
import uuid

import pytest

from kb_helpers import (make_pdf, multipart, private_server, search, upload, upload_file,
                        upload_ready, wait_doc)
from ragd_client import Server


def unique():
    return "w" + uuid.uuid4().hex[:10]


def test_json_upload_is_processed_and_listed(server, pro_token):
    word = unique()
    doc = upload(server, pro_token, f"The {word} valve regulates pressure.\n\nIt opens at 3 bar.",
                 title="Valve manual", category="manuals", tags=["hardware", "valves"],
                 source="manual.txt", metadata={"revision": 2})
    # The worker may already have picked it up by the time the 202 is written.
    assert doc["status"] in ("pending", "processing") and doc["title"] == "Valve manual"
    assert doc["organization_id"] and doc["owner_id"] and doc["sha256"]
    ready = wait_doc(server, pro_token, doc["id"])
    assert ready["status"] == "ready", ready
    assert ready["chunk_count"] >= 1 and ready["mime_type"] == "text"
    assert ready["metadata"] == {"revision": 2} and ready["tags"] == ["hardware", "valves"]
    full = server.get(f"/documents/{doc['id']}?include_content=true", token=pro_token).json
    assert word in full["content"]
    lst = server.get("/documents?limit=100&category=manuals", token=pro_token).json
    assert any(d["id"] == doc["id"] for d in lst["documents"]) and lst["total"] >= 1
    assert "content" not in lst["documents"][0]
    hits = search(server, pro_token, word, route="exact")["results"]
    assert hits and hits[0]["document_id"] == doc["id"]
    meta = hits[0]["metadata"]
    assert meta["category"] == "manuals" and meta["tags"] == ["hardware", "valves"]
    assert "retrieval_count" in meta["usage_stats"]


def test_types_are_sniffed_from_content_not_name(server, pro_token):
    word = unique()
    html = f"<!DOCTYPE html><html><head><title>Pump page</title></head><body><h1>Pumps</h1>" \
           f"<p>The {word} pump moves water.</p><script>var {word}x = 1;</script></body></html>"
    r = upload_file(server, pro_token, "report.pdf", html.encode(), "application/pdf")
    assert r.status == 202, r
    d = wait_doc(server, pro_token, r.json["id"])
    assert d["status"] == "ready" and d["mime_type"] == "html", d
    assert r.json["filename"] == "report.pdf"
    md = f"# Setup guide\n\n## Install\n\n- run `make`\n- then start the {word} daemon\n\n" \
         f"See [docs](http://example.com) for **more**.\n"
    r = upload_file(server, pro_token, "notes.txt", md.encode(), "text/plain")
    d = wait_doc(server, pro_token, r.json["id"])
    assert d["mime_type"] == "markdown" and d["title"] == "notes", d
    full = server.get(f"/documents/{d['id']}?include_content=true", token=pro_token).json
    assert word in full["content"] and "**" not in full["content"]


def test_pdf_upload_extracts_text(server, pro_token):
    word = unique()
    pdf = make_pdf([f"Quarterly report for {word} systems.", "Revenue grew by twelve percent."],
                   compress=True)
    r = upload_file(server, pro_token, "q3.bin", pdf, title="Q3 report", category="finance")
    assert r.status == 202, r
    d = wait_doc(server, pro_token, r.json["id"])
    assert d["status"] == "ready", d
    assert d["mime_type"] == "pdf" and d["pages"] == 1 and d["title"] == "Q3 report"
    hits = search(server, pro_token, f"{word} revenue", route="exact")["results"]
    assert hits and hits[0]["document_id"] == d["id"]
    assert "twelve percent" in hits[0]["content"]


def test_malformed_pdf_fails_with_a_clear_error(server, pro_token):
    r = upload_file(server, pro_token, "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n"
                                                     b"garbage garbage\n%%EOF")
    assert r.status == 202, r
    d = wait_doc(server, pro_token, r.json["id"])
    assert d["status"] == "failed" and d["error"], d
    assert "pdf" in d["error"].lower() or "text" in d["error"].lower()
    # A failed document never shows up in search and can be deleted.
    assert server.delete(f"/documents/{d['id']}", token=pro_token).status == 200


def test_binary_junk_and_empty_are_rejected(server, pro_token):
    junk = bytes(range(256)) * 8
    r = upload_file(server, pro_token, "notes.txt", junk)
    assert r.status == 415 and r.json["code"] == "UNSUPPORTED_DOCUMENT", r
    r = upload_file(server, pro_token, "bad.txt", b"caf\xc3 latin-1 text \xff\xfe here")
    assert r.status == 415, r
    r = server.post("/documents", {"content": "   \n\n  "}, token=pro_token)
    assert r.status == 415, r


def test_upload_validation(server, pro_token):
    r = server.post("/documents", {}, token=pro_token)
    assert r.status == 422 and r.json["field"] == "content"
    r = server.post("/documents", {"content": "x", "tags": [1, 2]}, token=pro_token)
    assert r.status == 422 and r.json["field"] == "tags"
    r = server.post("/documents", {"content": "x", "tags": "a"}, token=pro_token)
    assert r.status == 422 and r.json["field"] == "tags"
    r = server.post("/documents", {"content": "x", "importance": -1}, token=pro_token)
    assert r.status == 422 and r.json["field"] == "importance"
    r = server.post("/documents", {"content": "hello", "shared": True}, token=pro_token)
    assert r.status == 403
    r = server.request("POST", "/documents", raw=b"hello", token=pro_token,
                       headers={"Content-Type": "text/plain"})
    assert r.status == 415
    r = server.request("POST", "/documents", raw=b"{not json", token=pro_token,
                       headers={"Content-Type": "application/json"})
    assert r.status == 400
    body, ct = multipart({"title": "t"}, {})
    r = server.request("POST", "/documents", raw=body, token=pro_token,
                       headers={"Content-Type": ct})
    assert r.status == 422 and r.json["field"] == "file"
    r = server.request("POST", "/documents", raw=b"--x\r\nno headers", token=pro_token,
                       headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert r.status == 400 and r.json["code"] == "INVALID_MULTIPART"
    r = server.request("POST", "/documents", raw=b"abc", token=pro_token,
                       headers={"Content-Type": "multipart/form-data"})
    assert r.status == 400
    body, ct = multipart({"importance": "lots"}, {"file": ("a.txt", b"hello there", "text/plain")})
    r = server.request("POST", "/documents", raw=body, token=pro_token,
                       headers={"Content-Type": ct})
    assert r.status == 422 and r.json["field"] == "importance"
    for bad in ("nope", str(uuid.uuid4())):
        assert server.get(f"/documents/{bad}", token=pro_token).status == 404
        assert server.delete(f"/documents/{bad}", token=pro_token).status == 404
    assert server.get("/documents?status=weird", token=pro_token).status == 422
    assert server.get("/documents?limit=0", token=pro_token).status == 422


def test_size_limit_413():
    s = private_server(DOCUMENT_MAX_BYTES="2048")
    try:
        tok = s.login("test@example.com", "testpassword123")
        r = s.post("/documents", {"content": "x " * 1500}, token=tok)
        assert r.status == 413 and r.json["code"] == "PAYLOAD_TOO_LARGE", r
        r = upload_file(s, tok, "big.txt", b"word " * 1000)
        assert r.status == 413, r
        r = upload_file(s, tok, "small.txt", b"word " * 100)
        assert r.status == 202, r
        # Beyond the server's body limit the answer is 413 before any parsing.
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        sock.sendall(b"POST /documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                     + tok.encode() + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                     b"Content-Length: 50000000\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 413"), "expected 413"
        sock.close()
        assert s.get("/documents", token=tok).json["total"] == 1
    finally:
        s.stop()


def test_delete_removes_document_chunks_and_results(server, pro_token):
    word = unique()
    doc = upload_ready(server, pro_token, f"Delete me: {word} appears only here.")
    # Search until the result is cached (an ingestion finishing elsewhere in the shared
    # server empties the cache meanwhile), then delete.
    assert search(server, pro_token, word, route="exact")["results"]
    for _ in range(50):
        again = search(server, pro_token, word, route="exact")
        if again["cached"]:
            break
        time.sleep(0.05)
    assert again["results"] and again["cached"]
    r = server.delete(f"/documents/{doc['id']}", token=pro_token)
    assert r.status == 200 and r.json["status"] == "deleted"
    assert search(server, pro_token, word, route="exact")["results"] == []
    assert server.get(f"/documents/{doc['id']}", token=pro_token).status == 404
    assert server.delete(f"/documents/{doc['id']}", token=pro_token).status == 404
    with server.db() as con:
        n = con.execute("SELECT count(*) FROM chunks WHERE document_id = ?",
                        (doc["id"],)).fetchone()
    assert n[0] == 0


def test_organization_isolation(server, pro_token, free_token):
    a = server.register(f"iso-a-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    b = server.register(f"iso-b-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    word = unique()
    doc = upload_ready(server, a, f"Secret plan: {word} launches in spring.")
    assert server.get(f"/documents/{doc['id']}", token=b).status == 404
    assert server.delete(f"/documents/{doc['id']}", token=b).status == 404
    assert all(d["id"] != doc["id"] for d in server.get("/documents", token=b).json["documents"])
    for route in ("exact", "auto", "hybrid"):
        assert search(server, b, word, route=route)["results"] == []
    assert search(server, b, word, path="/search/semantic")["results"] == []
    assert search(server, a, word, route="exact")["results"]
    # Members of one organization share documents; only the owner or an admin may delete.
    word2 = unique()
    org_doc = upload_ready(server, pro_token, f"Team handbook mentions {word2}.")
    assert server.get(f"/documents/{org_doc['id']}", token=free_token).status == 200
    assert search(server, free_token, word2, route="exact")["results"]
    assert search(server, a, word2, route="exact")["results"] == []
    assert server.delete(f"/documents/{org_doc['id']}", token=free_token).status == 403
    assert server.delete(f"/documents/{org_doc['id']}", token=pro_token).status == 200


def test_shared_documents_are_visible_to_everyone(server, admin_token):
    word = unique()
    doc = upload_ready(server, admin_token, f"Public notice about {word}.", shared=True,
                       category="public")
    assert doc["shared"] is True
    other = server.register(f"shared-{uuid.uuid4().hex[:6]}@example.com")["access_token"]
    hits = search(server, other, word, route="exact", filters={"shared": True})["results"]
    assert hits and hits[0]["document_id"] == doc["id"]
    assert server.delete(f"/documents/{doc['id']}", token=other).status == 403
    assert server.delete(f"/documents/{doc['id']}", token=admin_token).status == 200


def test_indexes_persist_and_rebuild_across_restarts():
    s = private_server()
    data = s.data
    try:
        tok = s.login("test@example.com", "testpassword123")
        keep = upload_ready(s, tok, "Persistent knowledge: the kestrel hovers over fields.")
        gone = upload_ready(s, tok, "Transient knowledge: the heron waits in reeds.")
        assert s.delete(f"/documents/{gone['id']}", token=tok).status == 200
    finally:
        assert s.stop() == 0
    assert os.path.exists(os.path.join(data, "index", "bm25.idx"))
    s = Server(env={"SEED_DEMO_DOCS": "false"}, data=data, seed=False)
    try:
        tok = s.login("test@example.com", "testpassword123")
        hits = search(s, tok, "kestrel", route="exact")["results"]
        assert hits and hits[0]["document_id"] == keep["id"]
        assert search(s, tok, "heron", route="exact")["results"] == []
    finally:
        assert s.stop() == 0
    # A lost or corrupt index file is rebuilt from the store.
    with open(os.path.join(data, "index", "bm25.idx"), "r+b") as f:
        f.seek(40)
        f.write(b"\xff\xff\xff\xff")
    s = Server(env={"SEED_DEMO_DOCS": "false"}, data=data, seed=False)
    try:
        tok = s.login("test@example.com", "testpassword123")
        hits = search(s, tok, "kestrel", route="exact")["results"]
        assert hits and hits[0]["document_id"] == keep["id"]
        # Corpus figures are for administrators.
        h = s.get("/health/detailed", token=s.login("admin@example.com", "adminpassword123")).json["services"]["indexes"]
        assert h["chunks"] == h["chunks_stored"] == 1
    finally:
        assert s.stop() == 0


def test_metadata_size_and_depth_are_capped(server, pro_token):
    """Document metadata is bounded (size and nesting) on both upload paths, and search hits
    carry the metadata of their document only, not a copy per search cache entry."""
    word = unique()
    big = {"blob": "m" * 20000}
    r = server.post("/documents", {"content": f"{word} note", "metadata": big}, token=pro_token)
    assert r.status == 422 and r.json["code"] == "METADATA_TOO_LARGE", r
    assert r.json["field"] == "metadata"
    deep = {}
    node = deep
    for _ in range(12):
        node["x"] = {}
        node = node["x"]
    r = server.post("/documents", {"content": f"{word} note", "metadata": deep}, token=pro_token)
    assert r.status == 422 and r.json["code"] == "METADATA_TOO_DEEP", r
    # The form path applies the same limits.
    body, ct = multipart({"metadata": json.dumps(big)},
                         {"file": ("m.txt", f"{word} form".encode(), "text/plain")})
    r = server.request("POST", "/documents", raw=body, token=pro_token,
                       headers={"Content-Type": ct})
    assert r.status == 422 and r.json["code"] == "METADATA_TOO_LARGE", r
    # Nothing was stored by the refusals.
    hits = search(server, pro_token, word, route="exact")["results"]
    assert hits == []
    # Within the limits it is kept and shown with each hit of the document.
    ok = {"k": "v" * 1000, "n": {"a": [1, 2, {"b": True}]}}
    doc = upload_ready(server, pro_token, f"{word} kept. " * 200, metadata=ok)
    assert doc["metadata"] == ok
    for _ in range(2):  # fresh, then from the search cache
        res = search(server, pro_token, word, route="exact", top_k=10)
        assert res["results"], res
        for h in res["results"]:
            assert h["document_id"] == doc["id"] and h["metadata"]["document"] == ok
    assert res["cached"] is True


def test_metadata_counts_as_storage():
    """An upload's storage reservation covers its metadata too."""
    s = private_server()
    try:
        tok = s.login("test@example.com", "testpassword123")
        mib = 1024 * 1024

        def storage():
            return s.get("/billing/usage", token=tok).json["storage_mb_this_month"]

        before = storage()
        # The content alone fits in one MiB; with its metadata it needs two.
        content = ("ledger " * (mib // 7))[: mib - 4000]
        meta = {"notes": "n" * 8000}
        assert len(content.encode()) + len(json.dumps(meta, separators=(",", ":"))) > mib
        r = s.post("/documents", {"content": content, "metadata": meta}, token=tok)
        assert r.status == 202, r
        assert storage() - before == 2
        r = s.post("/documents", {"content": content}, token=tok)
        assert r.status == 202, r
        assert storage() - before == 3
    finally:
        assert s.stop() == 0


def test_index_files_from_another_store_are_rebuilt():
    """Index files carry the identity of their store: files copied in from another data
    directory (with or without their manifest) are not trusted; the index is rebuilt from
    this store, search keeps finding this store's documents, and health says why."""
    import shutil
    a, b = private_server(), private_server()
    try:
        ta = a.login("test@example.com", "testpassword123")
        tb = b.login("test@example.com", "testpassword123")
        mine = upload_ready(a, ta, "Local knowledge: the osprey dives for fish.")
        upload_ready(b, tb, "Foreign knowledge: the albatross glides for days.")
        h = a.get("/health/detailed").json["services"]["indexes"]
        assert h["index_files"]["lexical"] in ("missing", "no_manifest", "loaded"), h
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
    src, dst = os.path.join(b.data, "index"), os.path.join(a.data, "index")
    for files, reason in ((["bm25.idx", "manifest"], "other_store"),
                          (["bm25.idx"], "checksum_mismatch")):
        for f in files:
            shutil.copyfile(os.path.join(src, f), os.path.join(dst, f))
        s = Server(env={"SEED_DEMO_DOCS": "false"}, data=a.data, seed=False)
        try:
            tok = s.login("test@example.com", "testpassword123")
            hits = search(s, tok, "osprey", route="exact")["results"]
            assert hits and hits[0]["document_id"] == mine["id"], hits
            assert search(s, tok, "albatross", route="exact")["results"] == []
            h = s.get("/health/detailed", token=s.login("admin@example.com", "adminpassword123")).json["services"]["indexes"]
            assert h["index_files"]["lexical"] == reason, h
            assert h["chunks"] == h["chunks_stored"] == 1
        finally:
            assert s.stop() == 0
    # After a clean stop the files are this store's again and load as they are.
    s = Server(env={"SEED_DEMO_DOCS": "false"}, data=a.data, seed=False)
    try:
        h = s.get("/health/detailed").json["services"]["indexes"]
        assert h["index_files"]["lexical"] == "loaded", h
    finally:
        assert s.stop() == 0


def test_document_over_its_time_budget_fails_with_a_reason():
    """A document whose processing exceeds INGEST_DOCUMENT_TIMEOUT_MS fails with a clear
    reason, and the worker goes on with the next document."""
    s = private_server(INGEST_DOCUMENT_TIMEOUT_MS="1", INGEST_WORKERS="1",
                       RATE_LIMIT_API="100000/60")
    try:
        tok = s.login("test@example.com", "testpassword123")
        pdf = make_pdf([f"Line {i} of a long report on turbine maintenance." for i in range(600)])
        r = upload_file(s, tok, "slow.pdf", pdf, "application/pdf")
        assert r.status == 202, r
        doc = wait_doc(s, tok, r.json["id"])
        assert doc["status"] == "failed", doc
        assert "time budget" in doc["error"] and "INGEST_DOCUMENT_TIMEOUT_MS" in doc["error"], doc
        # The queue is not stuck behind it.
        r = upload_file(s, tok, "next.pdf", make_pdf(["short"]), "application/pdf")
        assert r.status == 202, r
        assert wait_doc(s, tok, r.json["id"])["status"] in ("ready", "failed")
    finally:
        assert s.stop() == 0


def slow_embedder(delay):
    """An OpenAI-style embeddings endpoint that takes `delay` seconds per request, so that each
    document keeps the ingestion worker busy for a known time. Returns (server, base URL)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from upstreams import embed

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            inp = body["input"] if isinstance(body["input"], list) else [body["input"]]
            time.sleep(delay)
            out = json.dumps({"object": "list", "data": [
                {"object": "embedding", "index": i, "embedding": embed(t, 16)}
                for i, t in enumerate(inp)]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"


@pytest.mark.parametrize("queue", ["local", "redis"])
def test_ingestion_is_fair_across_users(queue):
    """One user's many queued uploads do not make another user's single upload wait for all
    of them: workers take the uploaders in turn, on this node's queue and on the shared
    Redis lists alike."""
    if queue == "redis" and not os.environ.get("RAGD_TEST_REDIS_URL"):
        pytest.skip("needs Redis")
    emb, base = slow_embedder(0.2)
    s = private_server(INGEST_WORKERS="1", INGEST_QUEUE=queue, RATE_LIMIT_API="100000/60",
                       EMBEDDING_API_BASE=base, EMBEDDING_DIMENSION="16",
                       EMBEDDING_MODEL="slow-16")
    try:
        from billing_helpers import new_user
        _, busy = new_user(s, f"busy-{uuid.uuid4().hex[:8]}@example.com", "enterprise")
        _, other = new_user(s, f"other-{uuid.uuid4().hex[:8]}@example.com", "enterprise")
        ids = [upload(s, busy, f"Quarterly revenue note number {n}.")["id"] for n in range(10)]
        mine = upload(s, other, "A single short note about lunch.")
        doc = wait_doc(s, other, mine["id"], timeout=60)
        assert doc["status"] == "ready", doc
        waiting = s.get("/documents?status=pending&limit=100", token=busy).json["total"]
        assert waiting >= 5, f"only {waiting} of the busy user's uploads were still queued"
        for i in ids:
            assert wait_doc(s, busy, i, timeout=60)["status"] == "ready"
    finally:
        assert s.stop() == 0
        emb.shutdown()


@pytest.mark.skipif(not os.environ.get("RAGD_TEST_REDIS_URL"), reason="needs Redis")
def test_stores_sharing_redis_keep_their_own_ingestion_jobs():
    """Two stores (separate databases) behind one Redis: each store's nodes only take their
    own store's jobs, so no upload waits for a sweeper after another store's node took it."""
    a = private_server(RATE_LIMIT_API="100000/60")
    b = private_server(RATE_LIMIT_API="100000/60", REDIS_URL=a.env["REDIS_URL"])
    try:
        tb = b.login("test@example.com", "testpassword123")
        t0 = time.time()
        ids = [upload(b, tb, f"Shared redis note {n} about herons.")["id"] for n in range(6)]
        for i in ids:
            assert wait_doc(b, tb, i, timeout=30)["status"] == "ready"
        took = time.time() - t0
        assert took < 4, f"ingestion took {took:.1f} s: jobs went to the other store's node"
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
