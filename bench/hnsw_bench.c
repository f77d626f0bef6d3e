/* hnsw_bench - the vector-index half of bench/hnsw_faiss.py: builds ragd's HNSW index from a
 * file of float32 vectors, or searches a saved index with a file of queries, one thread.
 *
 * usage:
 *   hnsw_bench build BASE N DIM M EF_CONSTRUCTION INDEX_OUT
 *       prints one JSON line: {"build_s", "build_cpu_s", "rss_bytes"} (wall and CPU seconds,
 *       resident-set growth over the build, the base vectors loaded beforehand), and saves
 *       the index to INDEX_OUT.
 *   hnsw_bench search INDEX QUERIES NQ K EF[,EF...] IDS_OUT
 *       prints one JSON line per ef: {"ef", "qps", "cpu_qps"} (queries per wall / CPU
 *       second); writes the hits' ids (int64, NQ x K per ef, in the order given, -1 where
 *       fewer than K came back) to IDS_OUT.
 *
 * Files are raw little-endian float32 rows, as numpy's tofile() writes them. Vector ids are
 * the row numbers, so the ids compare directly with a brute-force ground truth. */
#include "rag/hnsw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static float *read_rows(const char *path, size_t n, size_t dim)
{
    float *v = malloc(n * dim * sizeof *v);
    FILE *f = fopen(path, "rb");
    if (!v || !f || fread(v, sizeof *v * dim, n, f) != n) {
        fprintf(stderr, "hnsw_bench: cannot read %zu x %zu floats from %s\n", n, dim, path);
        exit(1);
    }
    fclose(f);
    return v;
}

static int build(char **argv)
{
    size_t n = strtoull(argv[1], NULL, 10);
    hnsw_opts_t o;
    hnsw_opts_default(&o);
    o.dim = (uint32_t)strtoul(argv[2], NULL, 10);
    o.M = (uint32_t)strtoul(argv[3], NULL, 10);
    o.ef_construction = (uint32_t)strtoul(argv[4], NULL, 10);
    float *base = read_rows(argv[0], n, o.dim);
    hnsw_t *h;
    if (hnsw_create(&o, &h)) {
        fprintf(stderr, "hnsw_bench: bad parameters\n");
        return 1;
    }
    long rss0 = rss_bytes();
    double t0 = now(), c0 = cpu();
    for (size_t i = 0; i < n; i++) {
        if (hnsw_insert(h, i, base + i * o.dim)) {
            fprintf(stderr, "hnsw_bench: insert %zu failed\n", i);
            return 1;
        }
    }
    double t = now() - t0, c = cpu() - c0;
    long rss = rss_bytes() - rss0;
    printf("{\"build_s\": %.4f, \"build_cpu_s\": %.4f, \"rss_bytes\": %ld}\n", t, c, rss);
    int rc = hnsw_save(h, argv[5]);
    hnsw_free(h);
    free(base);
    return rc ? 1 : 0;
}

static int search(char **argv)
{
    hnsw_t *h;
    if (hnsw_load(argv[0], &h)) {
        fprintf(stderr, "hnsw_bench: cannot load %s\n", argv[0]);
        return 1;
    }
    size_t dim = hnsw_dim(h);
    size_t nq = strtoull(argv[2], NULL, 10), k = strtoull(argv[3], NULL, 10);
    float *q = read_rows(argv[1], nq, dim);
    rag_hit_t *hits = malloc(k * sizeof *hits);
    int64_t *ids = malloc(nq * k * sizeof *ids);
    FILE *out = fopen(argv[5], "wb");
    if (!hits || !ids || !out) return 1;
    for (char *e = argv[4]; *e;) {
        uint32_t ef = (uint32_t)strtoul(e, &e, 10);
        if (*e == ',') e++;
        /* one untimed pass over a few queries warms the caches and the visited-set pool */
        size_t n;
        for (size_t i = 0; i < nq && i < 50; i++)
            hnsw_search(h, q + i * dim, k, ef, NULL, NULL, hits, &n);
        double t0 = now(), c0 = cpu();
        for (size_t i = 0; i < nq; i++) {
            hnsw_search(h, q + i * dim, k, ef, NULL, NULL, hits, &n);
            for (size_t j = 0; j < k; j++)
                ids[i * k + j] = j < n ? (int64_t)hits[j].id : -1;
        }
        double t = now() - t0, c = cpu() - c0;
        printf("{\"ef\": %u, \"qps\": %.2f, \"cpu_qps\": %.2f}\n", ef, nq / t, nq / c);
        fflush(stdout);
        fwrite(ids, sizeof *ids, nq * k, out);
    }
    fclose(out);
    free(ids);
    free(hits);
    free(q);
    hnsw_free(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 8 && !strcmp(argv[1], "build")) return build(argv + 2);
    if (argc == 8 && !strcmp(argv[1], "search")) return search(argv + 2);
    fprintf(stderr, "usage: hnsw_bench build BASE N DIM M EFC INDEX_OUT\n"
                    "       hnsw_bench search INDEX QUERIES NQ K EF[,EF...] IDS_OUT\n");
    return 2;
}
