/* rag_bench - ingestion throughput and search latency of the retrieval library.
 *
 * usage: rag_bench [chunks=10000] [dim=768] [ef_construction=200] [queries=300]
 *
 * Corpus: synthetic documents from a 20,000-word vocabulary of pseudo-words drawn with a
 * Zipf distribution (s = 1), so posting lists look like natural text; each document is
 * chunked with the default chunker (512 tokens, 50 overlap) until `chunks` chunks exist.
 * Vectors: random unit vectors around 2,000 random cluster centres (cosine to the centre
 * about 0.75), a stand-in for sentence embeddings, which are clustered rather than uniform.
 *
 * Prints: chunks/s for chunking + BM25 insert, vectors/s for HNSW insert, recall@10 of the
 * vector index against brute force at ef_search 64 (the default) and 128, and p50/p99
 * latency (single thread) of exact, vector (both ef values) and hybrid search with k = 10. */
#include "rag/bm25.h"
#include "rag/chunk.h"
#include "rag/hnsw.h"
#include "rag/hybrid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VOCAB 20000
#define CENTRES 2000

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double uniform(void)
{
    return ((next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double gauss(void)
{
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char vocab[VOCAB][16];
static double zipf_cdf[VOCAB];

static void make_vocab(void)
{
    static const char *syl[] = {"ka",  "lo",  "mi",  "ne",  "ru",  "sa",  "ti",
                                "vo",  "ze",  "pa",  "qui", "dor", "fen", "gal",
                                "hus", "jin", "bre", "cos", "tra", "wel"};
    for (int i = 0; i < VOCAB; i++) {
        int x = i, len = 0;
        do {
            const char *s = syl[x % 20];
            memcpy(vocab[i] + len, s, strlen(s));
            len += (int)strlen(s);
            x /= 20;
        } while (x > 0 && len < 12);
        vocab[i][len] = '\0';
    }
    double sum = 0;
    for (int i = 0; i < VOCAB; i++)
        sum += 1.0 / (i + 1);
    double acc = 0;
    for (int i = 0; i < VOCAB; i++) {
        acc += 1.0 / (i + 1) / sum;
        zipf_cdf[i] = acc;
    }
}

static const char *word(void)
{
    double u = uniform();
    int lo = 0, hi = VOCAB - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (zipf_cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return vocab[lo];
}

/* A document of about 1,200 words in paragraphs of sentences. */
static size_t make_doc(char *buf, size_t cap)
{
    size_t len = 0;
    int paras = 8 + (int)(next() % 8);
    for (int p = 0; p < paras; p++) {
        int sents = 3 + (int)(next() % 6);
        for (int s = 0; s < sents; s++) {
            int words = 6 + (int)(next() % 18);
            for (int w = 0; w < words && len + 20 < cap; w++) {
                const char *x = word();
                size_t l = strlen(x);
                memcpy(buf + len, x, l);
                len += l;
                buf[len++] = w + 1 < words ? ' ' : '.';
            }
            if (len + 2 < cap) buf[len++] = ' ';
        }
        if (len + 3 < cap) {
            buf[len++] = '\n';
            buf[len++] = '\n';
        }
    }
    buf[len] = '\0';
    return len;
}

static void make_vec(float *v, const float *centres, uint32_t dim)
{
    const float *c = centres + (next() % CENTRES) * dim;
    for (uint32_t i = 0; i < dim; i++)
        v[i] = c[i] + 0.9f * (float)gauss() / sqrtf((float)dim);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, double *t, int n)
{
    qsort(t, n, sizeof *t, cmp_double);
    printf("  %-8s p50 %8.1f us   p99 %8.1f us\n", name, t[n / 2] * 1e6, t[(n * 99) / 100] * 1e6);
}

int main(int argc, char **argv)
{
    size_t target = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    uint32_t dim = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 768;
    uint32_t efc = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 200;
    int nq = argc > 4 ? atoi(argv[4]) : 300;
    if (target == 0 || dim == 0 || efc < 16 || nq < 10) {
        fprintf(stderr, "usage: rag_bench [chunks] [dim] [ef_construction>=16] [queries>=10]\n");
        return 2;
    }
    make_vocab();

    /* ---- ingestion: chunking + BM25 ---- */
    bm25_t *bm;
    bm25_create(NULL, &bm);
    size_t cap = 1 << 20;
    char *doc = malloc(cap);
    size_t chunks = 0, bytes = 0, docs = 0;
    double t0 = now(), t_chunk = 0;
    while (chunks < target) {
        size_t len = make_doc(doc, cap);
        double a = now();
        chunk_t *c;
        size_t n;
        chunk_split(doc, len, NULL, &c, &n);
        t_chunk += now() - a;
        for (size_t i = 0; i < n && chunks < target; i++) {
            a = now();
            bm25_add(bm, chunks, doc + c[i].start, c[i].end - c[i].start);
            t_chunk += now() - a;
            bytes += c[i].end - c[i].start;
            chunks++;
        }
        docs++;
        free(c);
    }
    double t_gen = now() - t0 - t_chunk;
    printf("corpus: %zu chunks from %zu documents, %.1f MB of chunk text, %zu terms "
           "(generation %.1f s, not counted)\n",
           chunks, docs, bytes / 1e6, bm25_term_count(bm), t_gen);
    printf("ingest  chunk + BM25 insert: %.0f chunks/s (%.2f s)\n", chunks / t_chunk, t_chunk);

    /* ---- ingestion: HNSW ---- */
    float *centres = malloc(sizeof(float) * CENTRES * dim);
    for (size_t i = 0; i < (size_t)CENTRES * dim; i++)
        centres[i] = (float)gauss() / sqrtf((float)dim); /* about unit length */
    hnsw_opts_t ho;
    hnsw_opts_default(&ho);
    ho.dim = dim;
    ho.ef_construction = efc;
    hnsw_t *hv;
    hnsw_create(&ho, &hv);
    float *v = malloc(sizeof(float) * dim);
    double t_vec = 0;
    for (size_t i = 0; i < chunks; i++) {
        make_vec(v, centres, dim);
        double a = now();
        hnsw_insert(hv, i, v);
        t_vec += now() - a;
    }
    printf("ingest  HNSW insert (dim %u, M %u, ef_construction %u): %.0f vectors/s (%.2f s)\n", dim,
           ho.M, efc, chunks / t_vec, t_vec);

    /* ---- queries ---- */
    char(*qtext)[128] = malloc(sizeof *qtext * nq);
    float *qv = malloc(sizeof(float) * dim * nq);
    for (int q = 0; q < nq; q++) {
        int nw = 2 + (int)(next() % 4);
        size_t len = 0;
        for (int w = 0; w < nw; w++)
            len += (size_t)snprintf(qtext[q] + len, sizeof qtext[q] - len, "%s ", word());
        make_vec(qv + (size_t)q * dim, centres, dim);
    }
    double *tl = malloc(sizeof(double) * nq), *tv = malloc(sizeof(double) * nq),
           *th = malloc(sizeof(double) * nq), *tv2 = malloc(sizeof(double) * nq);
    rag_hit_t hits[10], exact[10];
    hybrid_hit_t hh[10];
    size_t n, ne, found = 0, found2 = 0, total = 0;
    for (int q = 0; q < nq; q++) {
        double a = now();
        bm25_search(bm, qtext[q], strlen(qtext[q]), 10, NULL, NULL, hits, &n);
        tl[q] = now() - a;
        a = now();
        hnsw_search(hv, qv + (size_t)q * dim, 10, 0, NULL, NULL, hits, &n);
        tv[q] = now() - a;
        a = now();
        hnsw_search(hv, qv + (size_t)q * dim, 10, 128, NULL, NULL, hits, &n);
        tv2[q] = now() - a;
        a = now();
        hybrid_route_t used;
        hybrid_search(bm, hv, qtext[q], strlen(qtext[q]), qv + (size_t)q * dim, 10, HYBRID_HYBRID,
                      NULL, NULL, NULL, hh, &n, &used);
        th[q] = now() - a;
        if (q < 50) {
            hnsw_search(hv, qv + (size_t)q * dim, 10, 0, NULL, NULL, hits, &n);
            hnsw_search_exact(hv, qv + (size_t)q * dim, 10, NULL, NULL, exact, &ne);
            for (size_t i = 0; i < ne; i++)
                for (size_t j = 0; j < n; j++)
                    found += exact[i].id == hits[j].id;
            hnsw_search(hv, qv + (size_t)q * dim, 10, 128, NULL, NULL, hits, &n);
            for (size_t i = 0; i < ne; i++)
                for (size_t j = 0; j < n; j++)
                    found2 += exact[i].id == hits[j].id;
            total += ne;
        }
    }
    printf("vector recall@10 vs brute force (50 queries): %.3f at ef_search %u, %.3f at 128\n",
           total ? (double)found / total : 0.0, ho.ef_search, total ? (double)found2 / total : 0.0);
    printf("search latency at %zu chunks, k = 10, %d queries, one thread:\n", chunks, nq);
    report("exact", tl, nq);
    report("vector", tv, nq);
    report("vec@128", tv2, nq);
    report("hybrid", th, nq);

    free(tl);
    free(tv);
    free(th);
    free(tv2);
    free(qtext);
    free(qv);
    free(v);
    free(centres);
    free(doc);
    hnsw_free(hv);
    bm25_free(bm);
    return 0;
}
