/* knowledge/visibility.c against the SQL visibility clause of store/knowledge.c: for every
 * combination of document owner, document organization, sharing, caller organization and
 * caller role, kn_visible must answer what the store answers on a real SQLite database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"
#include "knowledge/knowledge_int.h"
#include "store/db.h"
#include "store/knowledge.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_knowledge_register();
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

#define ME "11111111-1111-4111-8111-111111111111"
#define OTHER "22222222-2222-4222-8222-222222222222"
#define ORG_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
#define ORG_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"

static const char *const owners[] = {ME, OTHER, NULL};
static const char *const doc_orgs[] = {NULL, ORG_A, ORG_B};
static const char *const caller_orgs[] = {NULL, "", ORG_A, ORG_B};

static void test_c_agrees_with_sql(void **state)
{
    (void)state;
    int checked = 0, visible = 0;
    for (size_t o = 0; o < 3; o++)
        for (size_t g = 0; g < 3; g++)
            for (int shared = 0; shared <= 1; shared++) {
                struct kdoc_new d = {.organization_id = doc_orgs[g],
                                     .owner_id = owners[o],
                                     .shared = shared,
                                     .title = "t",
                                     .importance = 1.0,
                                     .status = "ready"};
                assert_int_equal(store_doc_insert(&d), 0);
                struct kn_doc_access a = {owners[o], doc_orgs[g], shared};
                for (size_t co = 0; co < 4; co++)
                    for (int admin = 0; admin <= 1; admin++) {
                        struct kn_caller c = {ME, caller_orgs[co], admin};
                        struct kscope s = {c.user_id, c.org_id};
                        int sql = store_doc_visible(d.id, &s);
                        assert_true(sql >= 0);
                        int cv = kn_visible(&c, &a);
                        if (sql != cv)
                            fail_msg(
                                "owner=%s org=%s shared=%d caller_org=%s admin=%d: SQL %d, C %d",
                                owners[o] ? owners[o] : "NULL", doc_orgs[g] ? doc_orgs[g] : "NULL",
                                shared, caller_orgs[co] ? caller_orgs[co] : "NULL", admin, sql, cv);
                        checked++;
                        visible += cv;
                    }
            }
    assert_int_equal(checked, 3 * 3 * 2 * 4 * 2);
    /* Both answers occur, so agreement is not vacuous. */
    assert_true(visible > 0 && visible < checked);
}

/* The list query uses the same clause: what a caller lists is what kn_visible admits. */
static void test_list_agrees(void **state)
{
    (void)state;
    for (size_t co = 0; co < 4; co++) {
        struct kn_caller c = {ME, caller_orgs[co], 0};
        struct kscope s = {c.user_id, c.org_id};
        struct kdoc_filter f = {0};
        struct kdoc *items = NULL;
        size_t n = 0;
        int64_t total = 0;
        assert_int_equal(store_doc_list(&s, &f, 100, 0, &items, &n, &total), 0);
        for (size_t i = 0; i < n; i++) {
            struct kn_doc_access a = {items[i].owner_id, items[i].organization_id, items[i].shared};
            assert_true(kn_visible(&c, &a));
        }
        assert_int_equal((int64_t)n, total);
        assert_true(n > 0);
        store_kdocs_free(items, n);
    }
}

static void test_may_modify(void **state)
{
    (void)state;
    struct kn_doc_access mine = {ME, ORG_A, 0}, theirs = {OTHER, ORG_A, 1},
                         orphan = {NULL, NULL, 1};
    struct kn_caller user = {ME, ORG_A, 0}, admin = {ME, NULL, 1};
    assert_true(kn_may_modify(&user, &mine));
    assert_false(kn_may_modify(&user, &theirs)); /* visible (same organization) but not owned */
    assert_true(kn_visible(&user, &theirs));
    assert_false(kn_may_modify(&user, &orphan));
    assert_true(kn_may_modify(&admin, &theirs));
    assert_true(kn_may_modify(&admin, &orphan));
}

/* A search's retrievals counted: once per chunk per touch (nine chunks, then one of them
 * again), and only the chunks named. */
static void test_touch_counts_each_chunk_once(void **state)
{
    (void)state;
    struct kdoc_new d = {.owner_id = ME, .title = "t", .importance = 1.0, .status = "ready"};
    assert_int_equal(store_doc_insert(&d), 0);
    enum { N = 11 };
    struct kchunk_new ch[N];
    for (int i = 0; i < N; i++)
        ch[i] = (struct kchunk_new){.position = i, .text = "x", .len = 1, .end = 1, .tokens = 1};
    int64_t ids[N], *old = NULL;
    size_t nold = 0;
    assert_int_equal(store_chunks_replace(d.id, ch, N, "m", 0, NULL, ids, &old, &nold), 0);
    free(old);
    assert_int_equal(store_chunks_touch(ids, 9), 0);
    assert_int_equal(store_chunks_touch(ids + 3, 1), 0);
    struct kchunk out[N];
    int found[N];
    assert_int_equal(store_chunks_get(ids, N, 0, out, found), 0);
    for (int i = 0; i < N; i++) {
        assert_true(found[i]);
        assert_int_equal(out[i].retrieval_count, i == 3 ? 2 : i < 9 ? 1 : 0);
        assert_true((out[i].last_accessed != NULL) == (i < 9));
        store_kchunk_clear(&out[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_c_agrees_with_sql),
        cmocka_unit_test(test_list_agrees),
        cmocka_unit_test(test_may_modify),
        cmocka_unit_test(test_touch_counts_each_chunk_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
