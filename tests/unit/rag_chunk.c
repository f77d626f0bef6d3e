/* Unit tests for rag/chunk: boundaries, overlap, UTF-8 safety and coverage invariants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "rag/chunk.h"

static size_t utf8_chars(const char *s, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Invariants every split must satisfy. */
static void check_chunks(const char *t, size_t len, const chunk_t *c, size_t n, size_t max_chars)
{
    bool *covered = calloc(len + 1, 1);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(c[i].position, i);
        assert_true(c[i].start < c[i].end);
        assert_true(c[i].end <= len);
        assert_false(is_ws(t[c[i].start]));
        assert_false(is_ws(t[c[i].end - 1]));
        /* never inside a UTF-8 sequence */
        assert_true(((unsigned char)t[c[i].start] & 0xC0) != 0x80);
        assert_true(c[i].end == len || ((unsigned char)t[c[i].end] & 0xC0) != 0x80);
        assert_int_equal(c[i].chars, utf8_chars(t, c[i].start, c[i].end));
        assert_true(c[i].chars <= max_chars);
        assert_int_equal(c[i].tokens, (c[i].chars + 3) / 4);
        if (i > 0) {
            assert_true(c[i].start > c[i - 1].start);
            if (c[i].end <= c[i - 1].end) {
                fprintf(stderr, "text: [%.*s]\n", (int)(c[i].end - c[i - 1].start + 10),
                        t + c[i - 1].start);
                fail_msg("chunk %zu [%zu,%zu) does not reach past [%zu,%zu) (max %zu)", i,
                         c[i].start, c[i].end, c[i - 1].start, c[i - 1].end, max_chars);
            }
        }
        for (size_t k = c[i].start; k < c[i].end; k++)
            covered[k] = true;
    }
    for (size_t k = 0; k < len; k++)
        if (!is_ws(t[k]) && !covered[k]) fail_msg("byte %zu ('%c') not in any chunk", k, t[k]);
    free(covered);
}

static void test_empty(void **state)
{
    (void)state;
    chunk_t *c = (chunk_t *)1;
    size_t n = 7;
    assert_int_equal(chunk_split("", 0, NULL, &c, &n), 0);
    assert_int_equal(n, 0);
    assert_null(c);
    assert_int_equal(chunk_split(" \n\n \t", 5, NULL, &c, &n), 0);
    assert_int_equal(n, 0);
    chunk_opts_t o = {.unit = CHUNK_CHARS, .size = 8};
    assert_int_equal(chunk_split("abc", 3, &o, &c, &n), RAGD_EINVAL);
}

static void test_short_text_is_one_chunk(void **state)
{
    (void)state;
    const char *t = "  Hello world.\n\nSecond paragraph.  ";
    chunk_t *c;
    size_t n;
    assert_int_equal(chunk_split(t, strlen(t), NULL, &c, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].start, 2);
    assert_int_equal(c[0].end, strlen(t) - 2);
    free(c);
}

static void test_paragraph_boundaries(void **state)
{
    (void)state;
    /* three paragraphs of 60 characters each; chunks of 100 chars must end at paragraph
     * breaks rather than inside the next paragraph */
    char t[512] = "";
    for (int p = 0; p < 3; p++) {
        char para[96];
        snprintf(para, sizeof para, "Paragraph %d has some words. It ends here now okay.%s", p,
                 "xxxxxxx");
        strcat(t, para);
        if (p < 2) strcat(t, "\n\n");
    }
    chunk_opts_t o = {.unit = CHUNK_CHARS, .size = 100, .overlap = 0};
    chunk_t *c;
    size_t n;
    assert_int_equal(chunk_split(t, strlen(t), &o, &c, &n), 0);
    check_chunks(t, strlen(t), c, n, 100);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_memory_equal(t + c[i].start, "Paragraph", 9);
    free(c);
}

static void test_sentence_boundaries_and_overlap(void **state)
{
    (void)state;
    char t[4096] = "";
    for (int s = 0; s < 40; s++) {
        char sent[64];
        snprintf(sent, sizeof sent, "Sentence number %02d is here. ", s);
        strcat(t, sent);
    }
    size_t len = strlen(t);
    chunk_opts_t o = {.unit = CHUNK_CHARS, .size = 200, .overlap = 40};
    chunk_t *c;
    size_t n;
    assert_int_equal(chunk_split(t, len, &o, &c, &n), 0);
    check_chunks(t, len, c, n, 200);
    assert_true(n >= 6);
    for (size_t i = 0; i < n; i++) {
        /* every chunk starts at a sentence and ends after a full stop */
        assert_memory_equal(t + c[i].start, "Sentence", 8);
        if (c[i].end < len - 1) assert_int_equal(t[c[i].end - 1], '.');
        if (i > 0) /* overlap: starts before the previous chunk's end */
            assert_true(c[i].start < c[i - 1].end);
    }
    free(c);
}

static void test_long_word_and_utf8(void **state)
{
    (void)state;
    /* 300 two-byte characters and no spaces: hard cuts on character boundaries */
    char t[1024];
    size_t len = 0;
    for (int i = 0; i < 300; i++) {
        t[len++] = (char)0xC3;
        t[len++] = (char)0xA9;
    }
    chunk_opts_t o = {.unit = CHUNK_CHARS, .size = 64, .overlap = 8};
    chunk_t *c;
    size_t n;
    assert_int_equal(chunk_split(t, len, &o, &c, &n), 0);
    check_chunks(t, len, c, n, 64);
    assert_int_equal(n, 5); /* 64 * 4 + 44 */
    free(c);

    /* CJK: sentence ends at 。 without spaces */
    const char *cjk = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87\xe3\x80\x82";
    char big[2048] = "";
    for (int i = 0; i < 30; i++)
        strcat(big, cjk);
    o.size = 40;
    o.overlap = 0;
    assert_int_equal(chunk_split(big, strlen(big), &o, &c, &n), 0);
    check_chunks(big, strlen(big), c, n, 40);
    for (size_t i = 0; i + 1 < n; i++) /* each ends right after a full stop */
        assert_memory_equal(big + c[i].end - 3, "\xe3\x80\x82", 3);
    free(c);
}

static void test_tokens_unit_and_defaults(void **state)
{
    (void)state;
    chunk_opts_t d;
    chunk_opts_default(&d);
    assert_int_equal(d.unit, CHUNK_TOKENS);
    assert_int_equal(d.size, 512);
    assert_int_equal(d.overlap, 50);
    size_t len = 20000;
    char *t = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        t[i] = (i % 7 == 6) ? ' ' : (i % 97 == 96 ? '.' : 'a');
    t[len] = 0;
    chunk_t *c;
    size_t n;
    assert_int_equal(chunk_split(t, len, NULL, &c, &n), 0);
    check_chunks(t, len, c, n, 2048);
    if (n < 10 || n > 16) fail_msg("n = %zu", n);
    for (size_t i = 0; i < n; i++)
        assert_true(c[i].tokens <= 512);
    free(c);
    free(t);
}

static void test_random_text(void **state)
{
    (void)state;
    static const char *const pieces[] = {"word",
                                         "Longerword",
                                         ". ",
                                         "! ",
                                         "? ",
                                         " ",
                                         " ",
                                         " ",
                                         "\n",
                                         "\n\n",
                                         "\xc3\xa9t\xc3\xa9",
                                         "\xe2\x80\xa6 ",
                                         "\xe3\x80\x82",
                                         "\xf0\x9f\x98\x80",
                                         "\"quote.\" ",
                                         "x",
                                         "\t"};
    uint32_t seed = 42;
    for (int round = 0; round < 300; round++) {
        char t[8192];
        size_t len = 0;
        seed = seed * 1664525u + 1013904223u;
        size_t target = 1 + (seed >> 8) % 6000;
        while (len < target) {
            seed = seed * 1664525u + 1013904223u;
            const char *p = pieces[(seed >> 16) % (sizeof pieces / sizeof *pieces)];
            size_t pl = strlen(p);
            if (len + pl >= sizeof t) break;
            memcpy(t + len, p, pl);
            len += pl;
        }
        chunk_opts_t o = {.unit = (round & 1) ? CHUNK_CHARS : CHUNK_TOKENS,
                          .size = (round & 1) ? 16 + (seed >> 4) % 400 : 4 + (seed >> 4) % 100,
                          .overlap = (seed >> 12) % 120};
        chunk_t *c;
        size_t n;
        assert_int_equal(chunk_split(t, len, &o, &c, &n), 0);
        size_t max = o.size * (o.unit == CHUNK_CHARS ? 1 : 4);
        check_chunks(t, len, c, n, max);
        free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_short_text_is_one_chunk),
        cmocka_unit_test(test_paragraph_boundaries),
        cmocka_unit_test(test_sentence_boundaries_and_overlap),
        cmocka_unit_test(test_long_word_and_utf8),
        cmocka_unit_test(test_tokens_unit_and_defaults),
        cmocka_unit_test(test_random_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
