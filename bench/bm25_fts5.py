#!/usr/bin/python3
"""ragd's BM25 index against SQLite FTS5's bm25() on the same corpus, one thread.

usage: /usr/bin/python3 bench/bm25_fts5.py [--docs 50000] [--words 150] [--nq 2000]
           [--rounds 3] [--seed 1]

Needs only Debian's python3 (its sqlite3 module has FTS5). Builds build/release/libragd.a
and the C driver bench/bm25_bench.c (build/release/bench/bm25_bench) first.

Corpus: synthetic documents of about --words pseudo-words (lower-case letters only, so both
tokenisers split them identically) from a 20,000-word vocabulary drawn with a Zipf
distribution (s = 1), so posting lists look like natural text. Queries: 2 to 4 words drawn
from the same distribution. Both sides rank with k1 = 1.2, b = 0.75 and return the top 10;
FTS5 is asked for the OR of the query words (its default is AND), ordered by bm25(). The two
idf formulas differ: ragd uses ln(1 + (N - df + 0.5) / (df + 0.5)) (never negative), FTS5
ln((N - df + 0.5) / (df + 0.5)) floored at 1e-6, so very common words weigh differently and
the top 10 need not agree exactly; agreement is the mean overlap of the two top-10 sets.

Builds and search passes alternate (ragd, FTS5, ragd, ...); figures are medians. FTS5 runs
in memory (":memory:"), so neither side touches the disk while timed.
"""

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "build/release/bench/bm25_bench")


def build_driver():
    subprocess.run(["make", "-j2", "--no-print-directory", "FLAVOUR=release",
                    "build/release/libragd.a"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    libs = subprocess.run(["pkg-config", "--libs", "libutf8proc"], capture_output=True,
                          text=True, check=True).stdout.split()
    subprocess.run(["cc", "-std=gnu11", "-D_GNU_SOURCE", "-O2", "-g", "-Isrc",
                    "bench/bm25_bench.c", "build/release/libragd.a", *libs, "-lm", "-pthread",
                    "-o", DRIVER], cwd=ROOT, check=True)


def vocabulary(rng, n):
    """n distinct pseudo-words of 3 to 9 random lower-case letters."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters, int(rng.integers(3, 10)))))
    return np.array(sorted(words))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=50000)
    ap.add_argument("--words", type=int, default=150)
    ap.add_argument("--nq", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    build_driver()

    rng = np.random.default_rng(a.seed)
    vocab = vocabulary(rng, 20000)
    vocab = vocab[rng.permutation(len(vocab))]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    lens = rng.integers(a.words // 2, a.words * 3 // 2 + 1, a.docs)
    toks = vocab[rng.choice(len(vocab), int(lens.sum()), p=p)]
    docs, at = [], 0
    for n in lens:
        docs.append(" ".join(toks[at:at + n]))
        at += n
    queries = [" ".join(vocab[rng.choice(len(vocab), int(rng.integers(2, 5)), p=p)])
               for _ in range(a.nq)]
    print(f"# docs={a.docs} words/doc~{a.words} queries={a.nq} k={a.k} threads=1 "
          f"sqlite={sqlite3.sqlite_version}", flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dpath, qpath = os.path.join(tmp, "docs.txt"), os.path.join(tmp, "queries.txt")
        ipath, idpath = os.path.join(tmp, "bm25.idx"), os.path.join(tmp, "ids.bin")
        with open(dpath, "w") as f:
            f.write("\n".join(docs) + "\n")
        with open(qpath, "w") as f:
            f.write("\n".join(queries) + "\n")
        for r in range(a.rounds):
            out = subprocess.run([DRIVER, "build", dpath, ipath], capture_output=True,
                                 text=True, check=True).stdout
            rb = json.loads(out)
            out = subprocess.run([DRIVER, "search", ipath, qpath, str(a.k), idpath],
                                 capture_output=True, text=True, check=True).stdout
            rs = json.loads(out)
            rids = np.fromfile(idpath, dtype=np.int64).reshape(a.nq, a.k)

            db = sqlite3.connect(":memory:")
            db.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
            t0, c0 = time.perf_counter(), time.process_time()
            with db:
                db.executemany("INSERT INTO t(rowid, body) VALUES (?, ?)",
                               ((i + 1, d) for i, d in enumerate(docs)))
            fbt, fbc = time.perf_counter() - t0, time.process_time() - c0
            sql = "SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t) LIMIT ?"
            match = [" OR ".join(q.split()) for q in queries]
            for m in match[:50]:  # untimed warm-up, as the C driver does
                db.execute(sql, (m, a.k)).fetchall()
            t0, c0 = time.perf_counter(), time.process_time()
            fids = [[x for (x,) in db.execute(sql, (m, a.k))] for m in match]
            fq, fc = a.nq / (time.perf_counter() - t0), a.nq / (time.process_time() - c0)
            db.close()
            agree = statistics.mean(len(set(rids[i][rids[i] >= 0]) & set(fids[i])) /
                                    max(1, len(fids[i])) for i in range(a.nq))
            rows.append((rb["build_s"], rb["build_cpu_s"], rs["qps"], rs["cpu_qps"], fbt, fbc,
                         fq, fc, agree))
            print(f"round {r + 1}: ragd build {rb['build_s']:.2f} s, {rs['qps']:.0f} QPS | "
                  f"FTS5 build {fbt:.2f} s, {fq:.0f} QPS | top-10 agreement {agree:.3f}",
                  flush=True)

    m = [statistics.median(x) for x in zip(*rows)]
    print()
    print("| figure | ragd BM25 | SQLite FTS5 bm25() | ratio ragd/FTS5 |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| build, wall (s) | {m[0]:.2f} | {m[4]:.2f} | {m[0] / m[4]:.2f} |")
    print(f"| build, CPU (s) | {m[1]:.2f} | {m[5]:.2f} | {m[1] / m[5]:.2f} |")
    print(f"| QPS, wall | {m[2]:.0f} | {m[6]:.0f} | {m[2] / m[6]:.2f} |")
    print(f"| QPS, CPU | {m[3]:.0f} | {m[7]:.0f} | {m[3] / m[7]:.2f} |")
    print(f"| top-10 agreement | {m[8]:.3f} | | |")
    print(f"\n(medians of {a.rounds} alternating rounds)")


if __name__ == "__main__":
    sys.exit(main())
