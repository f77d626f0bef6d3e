/* Unit tests for rag/hnsw: recall against brute force, deletion, filters, compaction,
 * persistence (round trip and corruption), concurrent searches during inserts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "rag/hnsw.h"

#define DIM 64
#define N 3000
#define NQ 100
#define K 10

static float *data, *queries;

static uint64_t rs = 12345;
static float frand(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (float)((rs >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int setup(void **state)
{
    (void)state;
    data = malloc(sizeof(float) * DIM * N);
    queries = malloc(sizeof(float) * DIM * NQ);
    for (size_t i = 0; i < (size_t)DIM * N; i++)
        data[i] = frand();
    for (size_t i = 0; i < (size_t)DIM * NQ; i++)
        queries[i] = frand();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(data);
    free(queries);
    return 0;
}

static hnsw_t *build(uint32_t n)
{
    hnsw_opts_t o;
    hnsw_opts_default(&o);
    o.dim = DIM;
    o.ef_search = 100;
    hnsw_t *h;
    assert_int_equal(hnsw_create(&o, &h), 0);
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(hnsw_insert(h, 1000 + i, data + (size_t)i * DIM), 0);
    return h;
}

static double recall(hnsw_t *h, rag_filter_fn f, void *ud)
{
    size_t hit = 0, total = 0;
    for (int q = 0; q < NQ; q++) {
        rag_hit_t a[K], e[K];
        size_t na, ne;
        assert_int_equal(hnsw_search(h, queries + (size_t)q * DIM, K, 0, f, ud, a, &na), 0);
        assert_int_equal(hnsw_search_exact(h, queries + (size_t)q * DIM, K, f, ud, e, &ne), 0);
        assert_int_equal(na, ne);
        for (size_t i = 0; i < ne; i++) {
            for (size_t j = 0; j < na; j++)
                if (a[j].id == e[i].id) {
                    hit++;
                    break;
                }
        }
        for (size_t i = 1; i < na; i++)
            assert_true(a[i - 1].score >= a[i].score);
        total += ne;
    }
    return total ? (double)hit / total : 1.0;
}

static void test_basics(void **state)
{
    (void)state;
    hnsw_t *h;
    hnsw_opts_t o;
    hnsw_opts_default(&o);
    assert_int_equal(o.dim, 768);
    o.M = 1;
    assert_int_equal(hnsw_create(&o, &h), RAGD_EINVAL);
    o.M = 16;
    o.dim = 0;
    assert_int_equal(hnsw_create(&o, &h), RAGD_EINVAL);
    o.dim = 4;
    assert_int_equal(hnsw_create(&o, &h), 0);
    rag_hit_t r[4];
    size_t n;
    float q[4] = {1, 0, 0, 0};
    assert_int_equal(hnsw_search(h, q, 4, 0, NULL, NULL, r, &n), 0);
    assert_int_equal(n, 0);
    float zero[4] = {0}, nan4[4] = {NAN, 0, 0, 0};
    assert_int_equal(hnsw_insert(h, 1, zero), RAGD_EINVAL);
    assert_int_equal(hnsw_insert(h, 1, nan4), RAGD_EINVAL);
    float v1[4] = {2, 0, 0, 0}, v2[4] = {0, 3, 0, 0}, v3[4] = {1, 1, 0, 0};
    assert_int_equal(hnsw_insert(h, 1, v1), 0);
    assert_int_equal(hnsw_insert(h, 2, v2), 0);
    assert_int_equal(hnsw_insert(h, 3, v3), 0);
    assert_int_equal(hnsw_insert(h, 3, v1), RAGD_EEXIST);
    assert_int_equal(hnsw_count(h), 3);
    assert_int_equal(hnsw_search(h, q, 4, 0, NULL, NULL, r, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(r[0].id, 1);
    assert_float_equal(r[0].score, 1.0f, 1e-6);
    assert_int_equal(r[1].id, 3);
    assert_float_equal(r[1].score, (float)(1 / sqrt(2)), 1e-6);
    assert_int_equal(r[2].id, 2);
    assert_float_equal(r[2].score, 0.0f, 1e-6);
    assert_int_equal(hnsw_search(h, q, 0, 0, NULL, NULL, r, &n), RAGD_EINVAL);
    assert_int_equal(hnsw_search(h, zero, 1, 0, NULL, NULL, r, &n), RAGD_EINVAL);
    assert_int_equal(hnsw_delete(h, 1), 0);
    assert_int_equal(hnsw_delete(h, 1), RAGD_ENOTFOUND);
    assert_false(hnsw_contains(h, 1));
    assert_int_equal(hnsw_search(h, q, 4, 0, NULL, NULL, r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(r[0].id, 3);
    /* a deleted id can come back */
    assert_int_equal(hnsw_insert(h, 1, v1), 0);
    assert_int_equal(hnsw_search(h, q, 1, 0, NULL, NULL, r, &n), 0);
    assert_int_equal(r[0].id, 1);
    assert_int_equal(hnsw_count(h), 3);
    assert_int_equal(hnsw_deleted(h), 1);
    hnsw_free(h);
}

static void test_recall(void **state)
{
    (void)state;
    hnsw_t *h = build(N);
    double r = recall(h, NULL, NULL);
    printf("recall@10 (n=%d, dim=%d, M=16, efc=200, ef=100): %.4f\n", N, DIM, r);
    assert_true(r >= 0.95);
    hnsw_free(h);
}

static bool not_deleted(uint64_t id, void *ud)
{
    (void)ud;
    return id % 10 >= 3;
}

static bool third(uint64_t id, void *ud)
{
    int *calls = ud;
    (*calls)++;
    return id % 3 == 0;
}

static bool none(uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    return false;
}

/* A search whose filter accepts no candidate emits no hits: the result heap then has no
 * array, and sorting it must not hand qsort a NULL pointer (the sanitizer build aborted). */
static void test_no_accepted_candidate(void **state)
{
    (void)state;
    hnsw_t *h = build(200);
    rag_hit_t a[K];
    size_t na = 99;
    assert_int_equal(hnsw_search(h, queries, K, 0, none, NULL, a, &na), 0);
    assert_int_equal(na, 0);
    na = 99;
    assert_int_equal(hnsw_search_exact(h, queries, K, none, NULL, a, &na), 0);
    assert_int_equal(na, 0);
    /* every vector deleted but one that the filter rejects */
    for (uint32_t i = 1; i < 200; i++)
        assert_int_equal(hnsw_delete(h, 1000 + i), 0);
    assert_int_equal(hnsw_search(h, queries, K, 0, none, NULL, a, &na), 0);
    assert_int_equal(na, 0);
    assert_int_equal(hnsw_search(h, queries, K, 0, NULL, NULL, a, &na), 0);
    assert_int_equal(na, 1);
    assert_int_equal(a[0].id, 1000);
    hnsw_free(h);
}

static void test_delete_filter_compact(void **state)
{
    (void)state;
    hnsw_t *h = build(N);
    for (uint32_t i = 0; i < N; i++)
        if ((1000 + i) % 10 < 3) assert_int_equal(hnsw_delete(h, 1000 + i), 0);
    assert_int_equal(hnsw_count(h), N - N * 3 / 10);
    for (int q = 0; q < NQ; q++) {
        rag_hit_t a[50];
        size_t na;
        assert_int_equal(hnsw_search(h, queries + (size_t)q * DIM, 50, 0, NULL, NULL, a, &na), 0);
        assert_int_equal(na, 50);
        for (size_t i = 0; i < na; i++)
            assert_true(not_deleted(a[i].id, NULL));
    }
    double r = recall(h, NULL, NULL);
    printf("recall@10 after deleting 30%%: %.4f\n", r);
    assert_true(r >= 0.95);
    int calls = 0;
    r = recall(h, third, &calls);
    printf("recall@10 with a 1-in-3 filter: %.4f\n", r);
    assert_true(r >= 0.90);
    assert_true(calls > 0);
    rag_hit_t a[K];
    size_t na;
    assert_int_equal(hnsw_search(h, queries, K, 0, third, &calls, a, &na), 0);
    for (size_t i = 0; i < na; i++)
        assert_true(a[i].id % 3 == 0 && not_deleted(a[i].id, NULL));

    hnsw_compact(h);
    assert_int_equal(hnsw_deleted(h), 0);
    assert_int_equal(hnsw_count(h), N - N * 3 / 10);
    r = recall(h, NULL, NULL);
    printf("recall@10 after compaction: %.4f\n", r);
    assert_true(r >= 0.95);
    assert_false(hnsw_contains(h, 1000));
    assert_true(hnsw_contains(h, 1003));
    hnsw_free(h);
}

/* 1 when the file at path holds the bytes of v[0..DIM). */
static int file_holds(const char *path, const float *v)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    int found = memmem(buf, (size_t)n, v, DIM * sizeof *v) != NULL;
    free(buf);
    return found;
}

/* An erased chunk's vector is neither searchable nor kept in a saved file, and an index with
 * such tombstones loads and answers like the one saved. */
static void test_delete_forgets_the_vector(void **state)
{
    (void)state;
    hnsw_t *h = build(200), *g;
    float v[DIM];
    for (int i = 0; i < DIM; i++)
        v[i] = i % 2 ? 0.125f : -0.125f; /* a unit vector, stored exactly as given */
    assert_int_equal(hnsw_insert(h, 7, v), 0);
    char path[] = "/tmp/hnsw_erase_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(hnsw_save(h, path), 0);
    assert_true(file_holds(path, v));
    assert_int_equal(hnsw_delete(h, 7), 0);
    assert_int_equal(hnsw_save(h, path), 0);
    assert_false(file_holds(path, v));
    assert_int_equal(hnsw_load(path, &g), 0);
    rag_hit_t r[K];
    size_t n;
    assert_int_equal(hnsw_search(g, v, K, 0, NULL, NULL, r, &n), 0);
    assert_int_equal(n, K);
    for (size_t i = 0; i < n; i++)
        assert_true(r[i].id != 7);
    unlink(path);
    hnsw_free(g);
    hnsw_free(h);
}

static void test_persistence(void **state)
{
    (void)state;
    hnsw_t *h = build(1000), *g;
    for (uint64_t id = 1000; id < 2000; id += 7)
        assert_int_equal(hnsw_delete(h, id), 0);
    char path[] = "/tmp/hnsw_test_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    assert_int_equal(hnsw_save(h, path), 0);
    assert_int_equal(hnsw_load(path, &g), 0);
    assert_int_equal(hnsw_count(g), hnsw_count(h));
    assert_int_equal(hnsw_deleted(g), hnsw_deleted(h));
    for (int q = 0; q < NQ; q++) {
        rag_hit_t a[K], b[K];
        size_t na, nb;
        assert_int_equal(hnsw_search(h, queries + (size_t)q * DIM, K, 0, NULL, NULL, a, &na), 0);
        assert_int_equal(hnsw_search(g, queries + (size_t)q * DIM, K, 0, NULL, NULL, b, &nb), 0);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].id, b[i].id);
            assert_true(a[i].score == b[i].score);
        }
    }
    /* the loaded index keeps working for writes, identically to the original */
    assert_int_equal(hnsw_insert(h, 99999, queries), 0);
    assert_int_equal(hnsw_insert(g, 99999, queries), 0);
    rag_hit_t a[K], b[K];
    size_t na, nb;
    hnsw_search(h, queries + DIM, K, 0, NULL, NULL, a, &na);
    hnsw_search(g, queries + DIM, K, 0, NULL, NULL, b, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(a[i].id, b[i].id);
    hnsw_free(g);

    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)sz);
    assert_int_equal(fread(img, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    for (long i = 0; i < sz; i += (i < 96 ? 1 : 4099)) {
        img[i] ^= 0x10;
        assert_int_equal(hnsw_load_mem(img, (size_t)sz, &g), RAGD_EFORMAT);
        assert_null(g);
        img[i] ^= 0x10;
    }
    for (long cut = 0; cut < sz; cut += 5003)
        assert_int_equal(hnsw_load_mem(img, (size_t)cut, &g), RAGD_EFORMAT);
    unlink(path);
    assert_int_equal(hnsw_load(path, &g), RAGD_ENOTFOUND);
    free(img);
    hnsw_free(h);
}

struct thr {
    hnsw_t *h;
    int found;
};

static void *searcher(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 200; i++) {
        rag_hit_t a[K];
        size_t n;
        hnsw_search(t->h, queries + (size_t)(i % NQ) * DIM, K, 0, NULL, NULL, a, &n);
        t->found += n == K;
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    hnsw_t *h = build(100);
    pthread_t th[3];
    struct thr t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (struct thr){h, 0};
        pthread_create(&th[i], NULL, searcher, &t[i]);
    }
    for (uint32_t i = 100; i < 1000; i++) {
        assert_int_equal(hnsw_insert(h, 1000 + i, data + (size_t)i * DIM), 0);
        if (i % 5 == 0) assert_int_equal(hnsw_delete(h, 1000 + i - 50), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].found, 200);
    }
    hnsw_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_recall),
        cmocka_unit_test(test_no_accepted_candidate),
        cmocka_unit_test(test_delete_filter_compact),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_delete_forgets_the_vector),
        cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
