#!/usr/bin/env python3
"""HTTP-level knowledge-base figures: ingestion throughput (chunks/s through POST /documents and
the background queue) and search latency p50/p99 per route through POST /search.

Starts a private ragd (RAGD_BIN, default build/release/ragd) with SQLITE_SYNCHRONOUS=NORMAL and
small chunks (CHUNK_SIZE=64 tokens) over synthetic documents (Zipf-distributed pseudo-words).
With --vector, a local embeddings peer (hashed bag-of-words, 64-dim; tests/api/upstreams.py)
serves /v1/embeddings, so ingestion figures then include that Python peer's cost.

usage: bench/kb_http.py [--chunks 10000] [--queries 200] [--vector]"""
import argparse
import json
import os
import random
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("RAGD_BIN", "build/release/ragd")

from ragd_client import Server  # noqa: E402
from upstreams import Upstream  # noqa: E402


def words(rng, vocab, n):
    return " ".join(vocab[min(int(rng.paretovariate(1.1)) - 1, len(vocab) - 1)]
                    for _ in range(n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=10000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vector", action="store_true")
    a = ap.parse_args()
    rng = random.Random(7)
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "da", "gu", "ze"]
    vocab = sorted({"".join(rng.choice(syll) for _ in range(rng.randint(2, 4)))
                    for _ in range(20000)})
    rng.shuffle(vocab)
    env = {"CHUNK_SIZE": "64", "CHUNK_OVERLAP": "8", "SQLITE_SYNCHRONOUS": "NORMAL",
           "SEED_DEMO_DOCS": "false", "INGEST_WORKERS": "1", "MAX_BODY_BYTES": str(8 << 20)}
    up = None
    if a.vector:
        up = Upstream(dim=64)
        env.update(EMBEDDING_API_BASE=up.base, EMBEDDING_DIMENSION="64",
                   EMBEDDING_BATCH_SIZE="256")
    s = Server(env=env)
    try:
        tok = s.login("admin@example.com", "adminpassword123")
        # 25 paragraphs of 45 words per document; each makes about two 64-token chunks.
        per_doc = 25
        ndocs = max(1, a.chunks // (2 * per_doc))
        docs = []
        for d in range(ndocs):
            paras = [words(rng, vocab, 45) + "." for _ in range(per_doc)]
            docs.append("\n\n".join(paras))
        t0 = time.time()
        ids = []
        for d, text in enumerate(docs):
            r = s.post("/documents", {"content": text, "title": f"doc {d}",
                                      "category": f"c{d % 10}"}, token=tok)
            assert r.status == 202, r
            ids.append(r.json["id"])
        t_up = time.time() - t0
        while s.get("/health/detailed").json["services"]["indexes"]["documents_queued"]:
            time.sleep(0.2)
        t_all = time.time() - t0
        h = s.get("/health/detailed", token=tok).json["services"]["indexes"]  # admin figures
        print(f"ingested {ndocs} documents, {h['chunks']} chunks, {h['vectors']} vectors in "
              f"{t_all:.1f} s (uploads answered in {t_up:.1f} s): "
              f"{h['chunks'] / t_all:.0f} chunks/s")
        routes = ["exact", "auto"] + (["vector", "hybrid"] if a.vector else [])
        for route in routes:
            lat, srv = [], []
            for i in range(a.queries):
                q = words(rng, vocab, rng.choice([2, 3, 5, 8]))
                if route == "auto" and i % 2:
                    q = "what is " + q + "?"
                t = time.perf_counter()
                r = s.post("/search", {"query": q, "route": route, "top_k": 5}, token=tok)
                lat.append((time.perf_counter() - t) * 1000)
                assert r.status == 200, r
                srv.append(r.json["processing_time_ms"])
            lat.sort()
            srv.sort()
            p = lambda v, f: v[min(len(v) - 1, int(f * len(v)))]
            print(f"route {route:7s} HTTP p50 {p(lat, .5):.2f} ms p99 {p(lat, .99):.2f} ms | "
                  f"in-server p50 {p(srv, .5):.2f} ms p99 {p(srv, .99):.2f} ms "
                  f"({a.queries} queries)")
    finally:
        s.stop()
        if up:
            up.close()


if __name__ == "__main__":
    main()
