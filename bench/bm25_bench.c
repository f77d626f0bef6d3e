/* bm25_bench - the ragd half of bench/bm25_fts5.py: builds ragd's BM25 index from a file of
 * documents, or searches a saved index with a file of queries, one thread.
 *
 * usage:
 *   bm25_bench build DOCS INDEX_OUT
 *       DOCS holds one document per line; document i (from 1) gets chunk id i. Prints one
 *       JSON line {"build_s", "build_cpu_s", "docs"} and saves the index to INDEX_OUT.
 *   bm25_bench search INDEX QUERIES K IDS_OUT
 *       QUERIES holds one query per line. Prints {"qps", "cpu_qps", "queries"} and writes
 *       the hits' ids (int64, K per query, -1 where fewer than K came back) to IDS_OUT. */
#include "rag/bm25.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Reads the whole file and splits it into lines (newlines become NULs). */
static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bm25_bench: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) exit(1);
    fclose(f);
    buf[len] = 0;
    size_t cap = 1024, k = 0;
    char **lines = malloc(cap * sizeof *lines);
    for (char *p = buf; *p;) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        if (k == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        if (!lines) exit(1);
        lines[k++] = p;
        if (!e) break;
        p = e + 1;
    }
    *n = k;
    return lines;
}

static int build(char **argv)
{
    size_t n;
    char **docs = read_lines(argv[0], &n);
    bm25_t *idx;
    if (bm25_create(NULL, &idx)) return 1;
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < n; i++)
        if (bm25_add(idx, i + 1, docs[i], strlen(docs[i]))) return 1;
    double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"build_s\": %.4f, \"build_cpu_s\": %.4f, \"docs\": %zu}\n", t, c, n);
    int rc = bm25_save(idx, argv[1]);
    bm25_free(idx);
    return rc ? 1 : 0;
}

static int search(char **argv)
{
    bm25_t *idx;
    if (bm25_load(argv[0], &idx)) {
        fprintf(stderr, "bm25_bench: cannot load %s\n", argv[0]);
        return 1;
    }
    size_t nq, k = strtoull(argv[2], NULL, 10), n;
    char **q = read_lines(argv[1], &nq);
    rag_hit_t *hits = malloc(k * sizeof *hits);
    int64_t *ids = malloc(nq * k * sizeof *ids);
    if (!hits || !ids) return 1;
    for (size_t i = 0; i < nq && i < 50; i++) /* untimed warm-up */
        bm25_search(idx, q[i], strlen(q[i]), k, NULL, NULL, hits, &n);
    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (size_t i = 0; i < nq; i++) {
        bm25_search(idx, q[i], strlen(q[i]), k, NULL, NULL, hits, &n);
        for (size_t j = 0; j < k; j++)
            ids[i * k + j] = j < n ? (int64_t)hits[j].id : -1;
    }
    double t = clock_s(CLOCK_MONOTONIC) - t0, c = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"qps\": %.2f, \"cpu_qps\": %.2f, \"queries\": %zu}\n", nq / t, nq / c, nq);
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(ids, sizeof *ids, nq * k, out) != nq * k) return 1;
    fclose(out);
    bm25_free(idx);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "build")) return build(argv + 2);
    if (argc == 6 && !strcmp(argv[1], "search")) return search(argv + 2);
    fprintf(stderr, "usage: bm25_bench build DOCS INDEX_OUT\n"
                    "       bm25_bench search INDEX QUERIES K IDS_OUT\n");
    return 2;
}
