/* Unit tests for rag/hybrid: route names, the auto route chooser, fusion arithmetic and
 * searches over real BM25 + HNSW indexes with fallbacks and filters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "rag/hybrid.h"

static void test_names(void **state)
{
    (void)state;
    hybrid_route_t r;
    assert_int_equal(hybrid_route_parse("AUTO", &r), 0);
    assert_int_equal(r, HYBRID_AUTO);
    assert_int_equal(hybrid_route_parse("semantic", &r), 0);
    assert_int_equal(r, HYBRID_VECTOR);
    assert_int_equal(hybrid_route_parse("lexical", &r), 0);
    assert_int_equal(r, HYBRID_EXACT);
    assert_int_equal(hybrid_route_parse("hybrid", &r), 0);
    assert_int_equal(r, HYBRID_HYBRID);
    assert_int_equal(hybrid_route_parse("bogus", &r), RAGD_EINVAL);
    assert_int_equal(hybrid_route_parse(NULL, &r), RAGD_EINVAL);
    assert_string_equal(hybrid_route_name(HYBRID_EXACT), "exact");
    assert_string_equal(hybrid_route_name(HYBRID_VECTOR), "vector");
}

static void test_choose_route(void **state)
{
    (void)state;
    static const struct {
        const char *q;
        bool vec;
        hybrid_route_t want;
    } cases[] = {
        {"how do I reset my password?", false, HYBRID_EXACT},
        {"\"exact phrase here\" please", true, HYBRID_EXACT},
        {"\xe2\x80\x9c"
         "curly phrase"
         "\xe2\x80\x9d",
         true, HYBRID_EXACT},
        {"diagnosis code E11.9 meaning", true, HYBRID_EXACT},
        {"error ABC-123 on startup", true, HYBRID_EXACT},
        {"what does max_tokens do", true, HYBRID_EXACT},
        {"A1C levels", true, HYBRID_EXACT},
        {"billing", true, HYBRID_EXACT},
        {"refund policy", true, HYBRID_EXACT},
        {"refund?", true, HYBRID_HYBRID},
        {"How do I upload a PDF document?", true, HYBRID_HYBRID},
        {"explain the quota system", true, HYBRID_HYBRID},
        {"what are the plan limits", true, HYBRID_HYBRID},
        {"team members cannot see shared documents after the migration last week", true,
         HYBRID_VECTOR},
        {"pricing enterprise plan features", true, HYBRID_HYBRID},
        {"end of sentence. another", true, HYBRID_HYBRID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *why = NULL;
        hybrid_route_t r = hybrid_choose_route(cases[i].q, strlen(cases[i].q), cases[i].vec, &why);
        if (r != cases[i].want)
            fail_msg("'%s': got %s (%s), want %s", cases[i].q, hybrid_route_name(r), why,
                     hybrid_route_name(cases[i].want));
        assert_non_null(why);
    }
    assert_int_equal(hybrid_choose_route("", 0, true, NULL), HYBRID_EXACT);
}

static void test_fuse(void **state)
{
    (void)state;
    rag_hit_t lex[] = {{1, 10.0f}, {2, 6.0f}, {3, 2.0f}};
    rag_hit_t vec[] = {{3, 0.9f}, {4, 0.7f}, {1, 0.5f}};
    hybrid_hit_t out[10];
    size_t n;
    hybrid_opts_t o;
    hybrid_opts_default(&o);
    o.w_lexical = 0.5f;
    o.w_vector = 0.5f;
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, &o, 10, out, &n), 0);
    assert_int_equal(n, 4);
    /* normalised: lex 1->1, 2->0.5, 3->0; vec 3->1, 4->0.5, 1->0 */
    /* totals: 1: 0.5, 2: 0.25, 3: 0.5, 4: 0.25; ties by id */
    uint64_t ids[] = {1, 3, 2, 4};
    float sc[] = {0.5f, 0.5f, 0.25f, 0.25f};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(out[i].id, ids[i]);
        assert_float_equal(out[i].score, sc[i], 1e-6);
    }
    assert_float_equal(out[0].lexical, 10.0f, 0);
    assert_float_equal(out[0].vector, 0.5f, 0);
    assert_true(isnan(out[2].vector));
    assert_true(isnan(out[3].lexical));

    o.fusion = HYBRID_FUSE_RRF;
    o.w_lexical = 1.0f;
    o.w_vector = 1.0f;
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, &o, 2, out, &n), 0);
    assert_int_equal(n, 2);
    /* 1: 1/61 + 1/63; 3: 1/63 + 1/61 -> tie, id order */
    assert_int_equal(out[0].id, 1);
    assert_int_equal(out[1].id, 3);
    assert_float_equal(out[0].score, 1.0f / 61 + 1.0f / 63, 1e-6);

    o.fusion = HYBRID_FUSE_WEIGHTED;
    o.w_lexical = 0;
    o.w_vector = 1;
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, &o, 10, out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 3);
    o.w_vector = 0;
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, &o, 10, out, &n), RAGD_EINVAL);
    o.w_vector = -1;
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, &o, 10, out, &n), RAGD_EINVAL);
    assert_int_equal(hybrid_fuse(lex, 3, vec, 3, NULL, 0, out, &n), RAGD_EINVAL);
    /* single-element lists normalise to 1 */
    assert_int_equal(hybrid_fuse(lex, 1, NULL, 0, NULL, 10, out, &n), 0);
    assert_int_equal(n, 1);
    assert_float_equal(out[0].score, 0.4f, 1e-6);
}

#define D 8

static bool odd_only(uint64_t id, void *ud)
{
    (void)ud;
    return id % 2 == 1;
}

static void test_search(void **state)
{
    (void)state;
    bm25_t *b;
    hnsw_t *h;
    hnsw_opts_t ho;
    hnsw_opts_default(&ho);
    ho.dim = D;
    assert_int_equal(bm25_create(NULL, &b), 0);
    assert_int_equal(hnsw_create(&ho, &h), 0);
    const char *texts[] = {
        "reset your password from the account settings page",
        "upload PDF documents to the knowledge base",
        "the refund policy allows refunds within 30 days",
        "error code ABC-123 means the quota is exhausted",
        "plans: free, pro and enterprise with monthly limits",
        "password rules: at least twelve characters",
    };
    /* vector i points mostly along axis i, so the vector route is predictable */
    for (uint64_t i = 0; i < 6; i++) {
        float v[D] = {0};
        v[i] = 1.0f;
        v[(i + 1) % D] = 0.2f;
        assert_int_equal(bm25_add(b, i + 1, texts[i], strlen(texts[i])), 0);
        assert_int_equal(hnsw_insert(h, i + 1, v), 0);
    }
    hybrid_hit_t out[6];
    size_t n;
    hybrid_route_t used;
    float q2[D] = {0, 0, 1, 0, 0, 0, 0, 0}; /* near chunk 3 */

    /* exact */
    assert_int_equal(
        hybrid_search(b, h, "password", 8, q2, 3, HYBRID_EXACT, NULL, NULL, NULL, out, &n, &used),
        0);
    assert_int_equal(used, HYBRID_EXACT);
    assert_int_equal(n, 2);
    assert_true(out[0].id == 1 || out[0].id == 6);
    /* vector */
    assert_int_equal(
        hybrid_search(b, h, "password", 8, q2, 3, HYBRID_VECTOR, NULL, NULL, NULL, out, &n, &used),
        0);
    assert_int_equal(used, HYBRID_VECTOR);
    assert_int_equal(n, 3);
    assert_int_equal(out[0].id, 3);
    assert_float_equal(out[0].score, out[0].vector, 0);
    /* vector unavailable: every route falls back to exact */
    assert_int_equal(hybrid_search(b, NULL, "password", 8, NULL, 3, HYBRID_VECTOR, NULL, NULL, NULL,
                                   out, &n, &used),
                     0);
    assert_int_equal(used, HYBRID_EXACT);
    assert_int_equal(n, 2);
    assert_int_equal(hybrid_search(b, h, "what is the refund policy?", 26, NULL, 3, HYBRID_AUTO,
                                   NULL, NULL, NULL, out, &n, &used),
                     0);
    assert_int_equal(used, HYBRID_EXACT);
    /* hybrid: lexical match on "refund" (chunk 3) plus vector neighbours */
    const char *q = "what is the refund policy?";
    assert_int_equal(
        hybrid_search(b, h, q, strlen(q), q2, 3, HYBRID_AUTO, NULL, NULL, NULL, out, &n, &used), 0);
    assert_int_equal(used, HYBRID_HYBRID);
    assert_int_equal(out[0].id, 3);
    assert_false(isnan(out[0].lexical));
    assert_false(isnan(out[0].vector));
    /* codes route to exact */
    assert_int_equal(
        hybrid_search(b, h, "ABC-123", 7, q2, 3, HYBRID_AUTO, NULL, NULL, NULL, out, &n, &used), 0);
    assert_int_equal(used, HYBRID_EXACT);
    assert_int_equal(out[0].id, 4);
    /* filters reach both indexes */
    assert_int_equal(hybrid_search(b, h, q, strlen(q), q2, 6, HYBRID_HYBRID, NULL, odd_only, NULL,
                                   out, &n, &used),
                     0);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i].id % 2, 1);
    assert_int_equal(
        hybrid_search(b, h, q, strlen(q), q2, 0, HYBRID_HYBRID, NULL, NULL, NULL, out, &n, &used),
        RAGD_EINVAL);
    hnsw_free(h);
    bm25_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_choose_route),
        cmocka_unit_test(test_fuse),
        cmocka_unit_test(test_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
