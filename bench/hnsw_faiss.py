#!/usr/bin/python3
"""ragd's HNSW index against FAISS's IndexHNSWFlat on the same vectors, one thread.

usage: /usr/bin/python3 bench/hnsw_faiss.py [--n 100000] [--dim 768] [--nq 1000] [--M 16]
           [--efc 200] [--rounds 3] [--build-rounds 1] [--efs 10,16,...] [--seed 1]

Needs Debian's FAISS, used by this benchmark only:  apt-get install python3-faiss
(plus python3-numpy, which it pulls in). Builds build/release/libragd.a and the C driver
bench/hnsw_bench.c (build/release/bench/hnsw_bench) first.

Data: synthetic clustered vectors, a stand-in for sentence embeddings: n/50 random cluster
centres on the unit sphere, each vector a centre plus Gaussian noise (cosine to its centre
about 0.75), normalised; queries drawn the same way. Metric: cosine, i.e. inner product of
unit vectors (METRIC_INNER_PRODUCT for FAISS). Ground truth: exact top-k by numpy.

Both indexes get the same M (2*M links on layer 0) and efConstruction, one thread
(faiss.omp_set_num_threads(1)). Builds and search sweeps alternate between the two
(ragd, FAISS, ragd, FAISS, ...); the figures are medians over the rounds. Memory per vector
is the resident-set growth over the build divided by n (the input vectors are loaded before
the measurement starts, so they are not counted). QPS at recall 0.90 / 0.95 / 0.99 is
interpolated linearly between the two sweep points that bracket the recall (None when the
sweep never reaches it).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DRIVER = os.path.join(ROOT, "build/release/bench/hnsw_bench")


def build_driver():
    subprocess.run(["make", "-j2", "--no-print-directory", "FLAVOUR=release",
                    "build/release/libragd.a"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    os.makedirs(os.path.dirname(DRIVER), exist_ok=True)
    libs = subprocess.run(["pkg-config", "--libs", "libutf8proc"], capture_output=True,
                          text=True, check=True).stdout.split()
    subprocess.run(["cc", "-std=gnu11", "-D_GNU_SOURCE", "-O2", "-g", "-Isrc",
                    "bench/hnsw_bench.c", "build/release/libragd.a", *libs, "-lm", "-pthread",
                    "-o", DRIVER], cwd=ROOT, check=True)


def clustered(rng, n, dim, centres):
    """Unit vectors around the given centres, cosine to the centre about 0.75."""
    pick = rng.integers(0, len(centres), n)
    sigma = np.sqrt((1 / 0.75 ** 2 - 1) / dim)
    x = centres[pick] + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(sigma)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def ground_truth(xb, xq, k):
    gt = np.empty((len(xq), k), dtype=np.int64)
    for i in range(0, len(xq), 100):
        s = xq[i:i + 100] @ xb.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, top, axis=1), axis=1)
        gt[i:i + 100] = np.take_along_axis(top, order, axis=1)
    return gt


def recall(ids, gt):
    k = gt.shape[1]
    return float(np.mean([len(set(ids[i]) & set(gt[i])) / k for i in range(len(gt))]))


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE")


def ragd_build(tmp, n, dim, M, efc):
    out = subprocess.run([DRIVER, "build", os.path.join(tmp, "base.f32"), str(n), str(dim),
                          str(M), str(efc), os.path.join(tmp, "ragd.idx")],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out)
    return r["build_s"], r["build_cpu_s"], r["rss_bytes"]


def ragd_sweep(tmp, nq, k, efs, gt):
    ids_path = os.path.join(tmp, "ragd.ids")
    out = subprocess.run([DRIVER, "search", os.path.join(tmp, "ragd.idx"),
                          os.path.join(tmp, "queries.f32"), str(nq), str(k),
                          ",".join(map(str, efs)), ids_path],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    ids = np.fromfile(ids_path, dtype=np.int64).reshape(len(efs), nq, k)
    return ([r["qps"] for r in rows], [r["cpu_qps"] for r in rows],
            [recall(ids[i], gt) for i in range(len(efs))])


def faiss_build(faiss, xb, M, efc):
    index = faiss.IndexHNSWFlat(xb.shape[1], M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = efc
    r0 = rss()
    t0, c0 = time.perf_counter(), time.process_time()
    index.add(xb)
    t, c = time.perf_counter() - t0, time.process_time() - c0
    return index, t, c, rss() - r0


def faiss_sweep(index, xq, k, efs, gt):
    qps, cqps, rec = [], [], []
    for ef in efs:
        index.hnsw.efSearch = ef
        index.search(xq[:50], k)  # untimed warm-up, as the C driver does
        t0, c0 = time.perf_counter(), time.process_time()
        _, ids = index.search(xq, k)
        qps.append(len(xq) / (time.perf_counter() - t0))
        cqps.append(len(xq) / (time.process_time() - c0))
        rec.append(recall(ids, gt))
    return qps, cqps, rec


def qps_at(target, rec, qps):
    pts = sorted(zip(rec, qps))
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1:
            return q0 if r1 == r0 else q0 + (q1 - q0) * (target - r0) / (r1 - r0)
    if pts and pts[0][0] >= target:
        return pts[0][1]  # even the smallest ef reaches it
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--efc", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3, help="alternating search sweeps")
    ap.add_argument("--build-rounds", type=int, default=1, help="alternating builds")
    ap.add_argument("--efs", default="10,16,24,32,48,64,96,128,192,256,384,512")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-build-driver", action="store_true")
    a = ap.parse_args()
    efs = [int(x) for x in a.efs.split(",")]

    import faiss  # Debian's python3-faiss
    faiss.omp_set_num_threads(1)
    if not a.no_build_driver:
        build_driver()

    rng = np.random.default_rng(a.seed)
    centres = rng.standard_normal((max(1, a.n // 50), a.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    xb = clustered(rng, a.n, a.dim, centres)
    xq = clustered(rng, a.nq, a.dim, centres)
    gt = ground_truth(xb, xq, a.k)
    print(f"# n={a.n} dim={a.dim} queries={a.nq} k={a.k} M={a.M} efConstruction={a.efc} "
          f"threads=1 faiss={faiss.__version__}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        xb.tofile(os.path.join(tmp, "base.f32"))
        xq.tofile(os.path.join(tmp, "queries.f32"))
        rb, fb = [], []
        index = None
        for r in range(a.build_rounds):
            t, c, mem = ragd_build(tmp, a.n, a.dim, a.M, a.efc)
            rb.append((t, c, mem))
            print(f"build round {r + 1}: ragd {t:.2f} s ({c:.2f} s CPU), "
                  f"{mem / a.n:.0f} B/vector", flush=True)
            index = None
            index, t, c, mem = faiss_build(faiss, xb, a.M, a.efc)
            fb.append((t, c, mem))
            print(f"build round {r + 1}: faiss {t:.2f} s ({c:.2f} s CPU), "
                  f"{mem / a.n:.0f} B/vector", flush=True)

        rq, rc, fq, fc = [], [], [], []
        rrec = frec = None
        for r in range(a.rounds):
            q, c, rrec = ragd_sweep(tmp, a.nq, a.k, efs, gt)
            rq.append(q)
            rc.append(c)
            q, c, frec = faiss_sweep(index, xq, a.k, efs, gt)
            fq.append(q)
            fc.append(c)
            print(f"search round {r + 1}: ragd {' '.join(f'{x:.0f}' for x in rq[-1])} | "
                  f"faiss {' '.join(f'{x:.0f}' for x in fq[-1])} QPS", flush=True)

    def med(rounds):
        return [statistics.median(x) for x in zip(*rounds)]

    rqps, rcqps, fqps, fcqps = med(rq), med(rc), med(fq), med(fc)
    rbt, rbc, rmem = (statistics.median(x) for x in zip(*rb))
    fbt, fbc, fmem = (statistics.median(x) for x in zip(*fb))
    rmem /= a.n
    fmem /= a.n

    print()
    print("| efSearch | ragd recall@10 | ragd QPS | ragd QPS (CPU) | FAISS recall@10 | FAISS QPS "
          "| FAISS QPS (CPU) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for i, ef in enumerate(efs):
        print(f"| {ef} | {rrec[i]:.4f} | {rqps[i]:.0f} | {rcqps[i]:.0f} | {frec[i]:.4f} | "
              f"{fqps[i]:.0f} | {fcqps[i]:.0f} |")
    print()
    print("| figure | ragd | FAISS | ratio ragd/FAISS |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| build time, wall (s) | {rbt:.2f} | {fbt:.2f} | {rbt / fbt:.2f} |")
    print(f"| build time, CPU (s) | {rbc:.2f} | {fbc:.2f} | {rbc / fbc:.2f} |")
    print(f"| memory per vector (B) | {rmem:.0f} | {fmem:.0f} | {rmem / fmem:.2f} |")
    for label, rr, ff in (("QPS", rqps, fqps), ("QPS (CPU)", rcqps, fcqps)):
        for target in (0.90, 0.95, 0.99):
            r, f = qps_at(target, rrec, rr), qps_at(target, frec, ff)
            rs = f"{r:.0f}" if r else "not reached"
            fs = f"{f:.0f}" if f else "not reached"
            ratio = f"{r / f:.2f}" if r and f else "-"
            print(f"| {label} at recall@10 {target:.2f} | {rs} | {fs} | {ratio} |")
    print(f"\n(medians of {a.rounds} alternating search rounds and {a.build_rounds} build "
          f"rounds; QPS interpolated between sweep points; CPU = per CPU-second of the "
          f"process, which a busy machine disturbs less than wall time)")


if __name__ == "__main__":
    sys.exit(main())
