/* knowledge/lexstats.c: BM25 statistics per visibility partition. With everything visible
 * the rescored scores equal the index's own; another tenant's chunks never move a caller's
 * scores; removal undoes addition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "knowledge/knowledge_int.h"

#define ALICE "11111111-1111-4111-8111-111111111111"
#define BOB "22222222-2222-4222-8222-222222222222"

static const char *const texts[] = {
    "Title A\n\nThe osprey dives for fish in the lake.",
    "Title B\n\nFish markets open early; the fish are fresh.",
    "Title C\n\nGardening notes about tomatoes and basil.",
    "Title D\n\nAn osprey nest sits on the old pylon near the lake.",
};

static int setup(void **state)
{
    (void)state;
    kn_lex_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    kn_lex_clear();
    return 0;
}

static void test_matches_the_index_when_all_is_visible(void **state)
{
    (void)state;
    bm25_t *idx;
    assert_int_equal(bm25_create(NULL, &idx), 0);
    struct kn_doc_access shared = {ALICE, NULL, 1};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(bm25_add(idx, (uint64_t)i + 1, texts[i], strlen(texts[i])), 0);
        kn_lex_add(i + 1, &shared, texts[i], strlen(texts[i]));
    }
    const char *queries[] = {"osprey lake", "fish", "tomatoes basil osprey"};
    for (int q = 0; q < 3; q++) {
        rag_hit_t a[8], b[8];
        size_t na = 0;
        assert_int_equal(bm25_search(idx, queries[q], strlen(queries[q]), 8, NULL, NULL, a, &na),
                         0);
        assert_true(na > 0);
        memcpy(b, a, sizeof a);
        for (size_t i = 0; i < na; i++)
            b[i].score = 0;
        struct kn_caller bob = {BOB, NULL, 0};
        kn_lex_rescore(&bob, queries[q], b, na);
        for (size_t i = 0; i < na; i++) {
            assert_int_equal(b[i].id, a[i].id);
            assert_float_equal(b[i].score, a[i].score, 1e-4);
        }
    }
    bm25_free(idx);
}

static void test_other_tenants_do_not_move_scores(void **state)
{
    (void)state;
    struct kn_doc_access alice_doc = {ALICE, NULL, 0}, bob_doc = {BOB, NULL, 0};
    kn_lex_add(10, &alice_doc, texts[0], strlen(texts[0]));
    kn_lex_add(11, &alice_doc, texts[2], strlen(texts[2]));
    struct kn_caller alice = {ALICE, NULL, 0};
    rag_hit_t h = {10, 0};
    kn_lex_rescore(&alice, "osprey", &h, 1);
    float before = h.score;
    assert_true(before > 0);
    for (int i = 0; i < 20; i++)
        kn_lex_add(100 + i, &bob_doc, texts[3], strlen(texts[3]));
    h.score = 0;
    kn_lex_rescore(&alice, "osprey", &h, 1);
    assert_float_equal(h.score, before, 1e-6);
    /* Bob sees his own chunks: the word is common there, so it weighs less for him. */
    struct kn_caller bob = {BOB, NULL, 0};
    rag_hit_t hb = {100, 0};
    kn_lex_rescore(&bob, "osprey", &hb, 1);
    assert_true(hb.score > 0 && hb.score < before);
    /* Sharing one of Bob's documents makes it count for Alice too. */
    struct kn_doc_access shared = {BOB, NULL, 1};
    kn_lex_add(200, &shared, texts[3], strlen(texts[3]));
    h.score = 0;
    kn_lex_rescore(&alice, "osprey", &h, 1);
    assert_true(h.score < before);
    /* Removing it restores Alice's score exactly. */
    int64_t gone = 200;
    kn_lex_remove(&gone, 1);
    h.score = 0;
    kn_lex_rescore(&alice, "osprey", &h, 1);
    assert_float_equal(h.score, before, 1e-6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matches_the_index_when_all_is_visible, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_other_tenants_do_not_move_scores, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
