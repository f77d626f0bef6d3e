/* Unit tests for rag/bm25: tokenizer, scoring against hand-computed values, add/remove,
 * compaction, filters, persistence with corruption, concurrent readers and a writer. */
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
#include "rag/bm25.c" /* statics: is_stop_word, stop_words */

struct toks {
    char buf[2048];
    size_t len;
};

static void add_tok(const char *t, size_t n, void *ud)
{
    struct toks *s = ud;
    memcpy(s->buf + s->len, t, n);
    s->len += n;
    s->buf[s->len++] = '|';
    s->buf[s->len] = 0;
}

static const char *toks(const char *text, bool stop)
{
    static struct toks s;
    s.len = 0;
    s.buf[0] = 0;
    bm25_tokenize(text, strlen(text), stop, add_tok, &s);
    return s.buf;
}

static void test_tokenizer(void **state)
{
    (void)state;
    assert_string_equal(toks("Hello, WORLD!", false), "hello|world|");
    assert_string_equal(toks("code E11.9 and ABC-123.", false),
                        "code|e11|9|e11.9|and|abc|123|abc-123|");
    assert_string_equal(toks("snake_case x", false), "snake|case|snake_case|x|");
    assert_string_equal(toks("\xc3\x9cN\xc3\x8f", false), "\xc3\xbcn\xc3\xaf|"); /* ÜNÏ */
    assert_string_equal(toks("\xe6\x97\xa5\xe6\x9c\xac go", false),
                        "\xe6\x97\xa5|\xe6\x9c\xac|go|"); /* 日本 */
    assert_string_equal(toks("the cat is on a mat", true), "cat|mat|");
    assert_string_equal(toks("a--b end. new", false), "a|b|end|new|");
    /* invalid UTF-8 separates words; very long words are cut to 64 bytes */
    assert_string_equal(toks("ab\xff"
                             "cd",
                             false),
                        "ab|cd|");
    char longw[200];
    memset(longw, 'x', 150);
    longw[150] = 0;
    const char *t = toks(longw, false);
    assert_int_equal(strlen(t), 65);
    /* the stop word table is sorted and every entry is found */
    for (size_t i = 0; i < sizeof stop_words / sizeof *stop_words; i++) {
        assert_true(is_stop_word(stop_words[i], strlen(stop_words[i])));
        if (i) assert_true(strcmp(stop_words[i - 1], stop_words[i]) < 0);
    }
    assert_false(is_stop_word("cat", 3));
    assert_false(is_stop_word("thee", 4));
}

static bool reject_all(uint64_t id, void *ud)
{
    (void)id;
    (void)ud;
    return false;
}

/* A text with no indexable term (punctuation, stop words) is a document of length 0; its
 * term list is empty and was handed to qsort as NULL (undefined; the sanitizer build
 * aborted). Searches that find nothing sort an empty hit list too. */
static void test_no_terms(void **state)
{
    (void)state;
    bm25_opts_t o;
    bm25_opts_default(&o);
    o.stopwords = true;
    bm25_t *x;
    assert_int_equal(bm25_create(&o, &x), 0);
    assert_int_equal(bm25_add(x, 1, "!!! ... ---", 11), 0);
    assert_int_equal(bm25_add(x, 2, "", 0), 0);
    assert_int_equal(bm25_add(x, 3, "the of and", 10), 0);
    assert_int_equal(bm25_add(x, 4, "kiwi", 4), 0);
    assert_int_equal(bm25_count(x), 4);
    rag_hit_t h[4];
    size_t n = 99;
    assert_int_equal(bm25_search(x, "mango", 5, 4, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(x, "kiwi", 4, 4, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, 4);
    assert_int_equal(bm25_search(x, "kiwi", 4, 4, reject_all, NULL, h, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_remove(x, 1), 0);
    assert_int_equal(bm25_count(x), 3);
    bm25_free(x);
}

static double bm25_ref(double N, double df, double tf, double dl, double avg)
{
    double idf = log(1 + (N - df + 0.5) / (df + 0.5));
    return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avg));
}

static void test_scoring(void **state)
{
    (void)state;
    bm25_t *x;
    assert_int_equal(bm25_create(NULL, &x), 0);
    assert_int_equal(bm25_add(x, 1, "apple banana apple", 18), 0);
    assert_int_equal(bm25_add(x, 2, "banana cherry", 13), 0);
    assert_int_equal(bm25_add(x, 3, "cherry durian elderberry fig", 28), 0);
    assert_int_equal(bm25_add(x, 2, "dup", 3), RAGD_EEXIST);
    assert_int_equal(bm25_count(x), 3);
    assert_int_equal(bm25_term_count(x), 6);
    rag_hit_t h[5];
    size_t n;
    assert_int_equal(bm25_search(x, "apple", 5, 5, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, 1);
    double avg = 9.0 / 3;
    assert_float_equal(h[0].score, bm25_ref(3, 1, 2, 3, avg), 1e-5);
    assert_int_equal(bm25_search(x, "banana cherry", 13, 5, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(h[0].id, 2);
    double s2 = bm25_ref(3, 2, 1, 2, avg) * 2;
    assert_float_equal(h[0].score, s2, 1e-5);
    assert_true(h[1].score >= h[2].score);
    /* unknown words and empty queries find nothing */
    assert_int_equal(bm25_search(x, "zebra", 5, 5, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(x, "", 0, 5, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(bm25_search(x, "a", 1, 0, NULL, NULL, h, &n), RAGD_EINVAL);
    /* k limits the result count */
    assert_int_equal(bm25_search(x, "banana cherry", 13, 1, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(h[0].id, 2);
    /* remove */
    assert_int_equal(bm25_remove(x, 2), 0);
    assert_int_equal(bm25_remove(x, 2), RAGD_ENOTFOUND);
    assert_false(bm25_contains(x, 2));
    assert_int_equal(bm25_search(x, "banana cherry", 13, 5, NULL, NULL, h, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_true(h[i].id != 2);
    assert_int_equal(bm25_term_count(x), 6); /* apple banana cherry durian elderberry fig */
    bm25_free(x);

    bm25_opts_t bad = {.k1 = -1, .b = 0.5};
    assert_int_equal(bm25_create(&bad, &x), RAGD_EINVAL);
    bad.k1 = 1;
    bad.b = 2;
    assert_int_equal(bm25_create(&bad, &x), RAGD_EINVAL);
}

static bool even_only(uint64_t id, void *ud)
{
    int *calls = ud;
    (*calls)++;
    return id % 2 == 0;
}

static const char *words[] = {"alpha", "bravo", "charlie", "delta", "echo",   "foxtrot", "golf",
                              "hotel", "india", "juliet",  "kilo",  "lima",   "mike",    "november",
                              "oscar", "papa",  "quebec",  "romeo", "sierra", "tango"};

static void gen_text(uint32_t seed, char *buf, size_t cap)
{
    size_t len = 0;
    int nw = 5 + seed % 30;
    buf[0] = 0;
    for (int i = 0; i < nw; i++) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 20];
        len += (size_t)snprintf(buf + len, cap - len, "%s ", w);
    }
}

static void test_filter_and_compaction(void **state)
{
    (void)state;
    bm25_t *x, *ref;
    assert_int_equal(bm25_create(NULL, &x), 0);
    assert_int_equal(bm25_create(NULL, &ref), 0);
    char buf[512];
    for (uint64_t id = 1; id <= 1000; id++) {
        gen_text((uint32_t)id * 7919u, buf, sizeof buf);
        assert_int_equal(bm25_add(x, id, buf, strlen(buf)), 0);
        if (id % 10 < 3) assert_int_equal(bm25_add(ref, id, buf, strlen(buf)), 0);
    }
    for (uint64_t id = 1; id <= 1000; id++)
        if (id % 10 >= 3) assert_int_equal(bm25_remove(x, id), 0);
    assert_true(x->n_dead < 700); /* compaction ran */
    assert_true(x->ndocs < 1000);
    assert_int_equal(bm25_count(x), bm25_count(ref));
    rag_hit_t a[20], b[20];
    size_t na, nb;
    const char *qs[] = {"alpha", "kilo lima mike", "tango tango sierra", "papa quebec romeo"};
    for (int q = 0; q < 4; q++) {
        assert_int_equal(bm25_search(x, qs[q], strlen(qs[q]), 20, NULL, NULL, a, &na), 0);
        assert_int_equal(bm25_search(ref, qs[q], strlen(qs[q]), 20, NULL, NULL, b, &nb), 0);
        assert_int_equal(na, nb);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].id, b[i].id);
            assert_float_equal(a[i].score, b[i].score, 1e-4);
        }
    }
    int calls = 0;
    assert_int_equal(bm25_search(x, "alpha bravo", 11, 10, even_only, &calls, a, &na), 0);
    assert_int_equal(na, 10);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(a[i].id % 2, 0);
    assert_true(calls > 0);
    /* the filtered top 10 equals the even members of the unfiltered ranking */
    rag_hit_t all[400];
    size_t nall;
    assert_int_equal(bm25_search(x, "alpha bravo", 11, 400, NULL, NULL, all, &nall), 0);
    size_t j = 0;
    for (size_t i = 0; i < nall && j < 10; i++)
        if (all[i].id % 2 == 0) assert_int_equal(all[i].id, a[j++].id);
    bm25_free(x);
    bm25_free(ref);
}

static void test_persistence(void **state)
{
    (void)state;
    bm25_opts_t o = {.k1 = 1.5f, .b = 0.6f, .stopwords = true};
    bm25_t *x, *y;
    assert_int_equal(bm25_create(&o, &x), 0);
    char buf[512];
    for (uint64_t id = 100; id < 400; id++) {
        gen_text((uint32_t)id, buf, sizeof buf);
        assert_int_equal(bm25_add(x, id, buf, strlen(buf)), 0);
    }
    for (uint64_t id = 100; id < 400; id += 3)
        assert_int_equal(bm25_remove(x, id), 0);
    char path[] = "/tmp/bm25_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(bm25_save(x, path), 0);
    assert_int_equal(bm25_load(path, &y), 0);
    assert_int_equal(bm25_count(y), bm25_count(x));
    assert_int_equal(bm25_term_count(y), bm25_term_count(x));
    assert_true(y->o.stopwords);
    assert_float_equal(y->o.k1, 1.5f, 0);
    rag_hit_t a[50], b[50];
    size_t na, nb;
    const char *qs[] = {"echo golf", "the india", "tango", "romeo juliet hotel"};
    for (int q = 0; q < 4; q++) {
        assert_int_equal(bm25_search(x, qs[q], strlen(qs[q]), 50, NULL, NULL, a, &na), 0);
        assert_int_equal(bm25_search(y, qs[q], strlen(qs[q]), 50, NULL, NULL, b, &nb), 0);
        assert_int_equal(na, nb);
        assert_true(na > 0);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(a[i].id, b[i].id);
            assert_float_equal(a[i].score, b[i].score, 1e-6);
        }
    }
    /* the loaded index accepts writes */
    assert_int_equal(bm25_add(y, 5000, "zulu", 4), 0);
    assert_int_equal(bm25_remove(y, 101), 0);
    bm25_free(y);

    /* corruption: every single-byte change or truncation is detected */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)sz);
    assert_int_equal(fread(img, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    assert_int_equal(bm25_load_mem(img, (size_t)sz, &y), 0);
    bm25_free(y);
    for (long i = 0; i < sz; i += (i < 64 ? 1 : 97)) {
        img[i] ^= 0x41;
        assert_int_equal(bm25_load_mem(img, (size_t)sz, &y), RAGD_EFORMAT);
        assert_null(y);
        img[i] ^= 0x41;
    }
    for (long cut = 0; cut < sz; cut += 101)
        assert_int_equal(bm25_load_mem(img, (size_t)cut, &y), RAGD_EFORMAT);
    /* a truncated file on disk */
    f = fopen(path, "wb");
    fwrite(img, 1, (size_t)sz / 2, f);
    fclose(f);
    assert_int_equal(bm25_load(path, &y), RAGD_EFORMAT);
    unlink(path);
    assert_int_equal(bm25_load(path, &y), RAGD_ENOTFOUND);
    free(img);
    bm25_free(x);
}

struct thr {
    bm25_t *x;
    int iters;
    int found;
};

static void *reader(void *arg)
{
    struct thr *t = arg;
    rag_hit_t h[10];
    size_t n;
    for (int i = 0; i < t->iters; i++) {
        bm25_search(t->x, "alpha kilo", 10, 10, NULL, NULL, h, &n);
        t->found += n > 0;
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    (void)state;
    bm25_t *x;
    assert_int_equal(bm25_create(NULL, &x), 0);
    char buf[512];
    for (uint64_t id = 0; id < 200; id++) {
        gen_text((uint32_t)id, buf, sizeof buf);
        bm25_add(x, id, buf, strlen(buf));
    }
    pthread_t th[3];
    struct thr t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (struct thr){x, 300, 0};
        pthread_create(&th[i], NULL, reader, &t[i]);
    }
    for (uint64_t id = 200; id < 1200; id++) {
        gen_text((uint32_t)id, buf, sizeof buf);
        assert_int_equal(bm25_add(x, id, buf, strlen(buf)), 0);
        assert_int_equal(bm25_remove(x, id - 200), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(t[i].found, 300);
    }
    assert_int_equal(bm25_count(x), 200);
    bm25_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenizer),   cmocka_unit_test(test_no_terms),
        cmocka_unit_test(test_scoring),     cmocka_unit_test(test_filter_and_compaction),
        cmocka_unit_test(test_persistence), cmocka_unit_test(test_concurrency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
