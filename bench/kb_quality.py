#!/usr/bin/env python3
"""Retrieval quality on the demo knowledge base: recall@5 and MRR per search route over the
labelled questions in bench/kb_quality.json (question -> the document and a phrase of the chunk
that answers it). Starts a private ragd (RAGD_BIN, default build/release/ragd) seeded with
docs/. Vector and hybrid routes use a local embeddings peer that returns hashed bag-of-words
vectors (tests/api/upstreams.py): that measures the plumbing, not a neural encoder.

usage: bench/kb_quality.py [--chunk-size TOKENS] [--no-vector]"""
import argparse
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
os.environ.setdefault("RAGD_BIN", "build/release/ragd")

from ragd_client import Server  # noqa: E402
from upstreams import Upstream  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunk-size", type=int, default=512)
    ap.add_argument("--no-vector", action="store_true")
    a = ap.parse_args()
    labels = json.load(open(os.path.join(ROOT, "bench", "kb_quality.json")))
    env = {"CHUNK_SIZE": str(a.chunk_size), "CHUNK_OVERLAP": str(min(50, a.chunk_size // 4)),
           "KNOWLEDGE_DOCS_DIR": os.path.join(ROOT, "docs")}
    up = None
    if not a.no_vector:
        up = Upstream(dim=256)
        env.update(EMBEDDING_API_BASE=up.base, EMBEDDING_DIMENSION="256")
    s = Server(env=env)
    try:
        tok = s.login("admin@example.com", "adminpassword123")
        chunks = s.get("/health/detailed", token=tok).json["services"]["indexes"]["chunks"]
        routes = ["exact", "auto"] + ([] if a.no_vector else ["vector", "hybrid"])
        print(f"labelled questions: {len(labels)}, chunks indexed: {chunks}, "
              f"chunk size: {a.chunk_size} tokens")
        for route in routes:
            hits, rr = 0, 0.0
            for lab in labels:
                r = s.post("/search", {"query": lab["q"], "route": route, "top_k": 5},
                           token=tok)
                assert r.status == 200, r
                for rank, h in enumerate(r.json["results"], 1):
                    if h["source"] == lab["source"] and lab["phrase"] in h["content"]:
                        hits += 1
                        rr += 1.0 / rank
                        break
            n = len(labels)
            print(f"route {route:7s} recall@5 {hits / n:.3f} ({hits}/{n})  MRR {rr / n:.3f}")
    finally:
        s.stop()
        if up:
            up.close()


if __name__ == "__main__":
    main()
