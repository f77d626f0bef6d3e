/* The knowledge service end to end on a real SQLite store, without HTTP: intake, the
 * ingestion worker, search with visibility and filters, the result cache, deletion, and
 * reloading the saved indexes at the next start. */
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
    char err[256];
    store_knowledge_register();
    if (store_migrate()) return -1;
    return knowledge_init(fixture_dir, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    knowledge_shutdown();
    return fixture_db_close();
}

#define ALICE "11111111-1111-4111-8111-111111111111"
#define BOB "22222222-2222-4222-8222-222222222222"
#define CAROL "33333333-3333-4333-8333-333333333333"
#define ORG "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"

static const struct kn_caller alice = {ALICE, ORG, 0}, bob = {BOB, ORG, 0},
                              carol = {CAROL, NULL, 0}, admin = {CAROL, NULL, 1};

static char *submit(const struct kn_caller *c, const char *text, const char *category)
{
    struct kn_upload u = {.data = text, .len = strlen(text), .category = category};
    struct kdoc doc;
    char err[256] = "";
    int rc = knowledge_submit(c, &u, &doc, err, sizeof err);
    if (rc) fail_msg("submit: %s", err);
    assert_string_equal(doc.status, "pending");
    char *id = strdup(doc.id);
    store_kdoc_clear(&doc);
    return id;
}

/* Number of hits for text as c sees it, with optional filters. */
static size_t hits(const struct kn_caller *c, const char *text, const struct kn_filters *filters,
                   int *cached)
{
    struct kn_query q = {.text = text, .top_k = 10, .route = KN_EXACT, .filters = filters};
    struct kn_result res;
    char err[256] = "";
    assert_int_equal(knowledge_search(c, &q, &res, err, sizeof err), 0);
    assert_int_equal(res.used, KN_EXACT);
    size_t n = res.nhits;
    if (cached) *cached = res.cached;
    knowledge_result_free(&res);
    return n;
}

static void test_ingest_search_delete(void **state)
{
    (void)state;
    char *a = submit(&alice, "Pelicans migrate along the coast every autumn.", "birds");
    char *c = submit(&carol, "Pelicans also nest inland near lakes.", "lakes");
    assert_int_equal(knowledge_wait_idle(30000), 0);
    struct kdoc doc;
    assert_int_equal(store_doc_get(a, 0, &doc), 0);
    assert_string_equal(doc.status, "ready");
    assert_true(doc.chunk_count >= 1);
    store_kdoc_clear(&doc);

    /* Visibility: alice and bob share an organization; carol has none. */
    assert_int_equal(hits(&alice, "pelicans", NULL, NULL), 1);
    assert_int_equal(hits(&bob, "pelicans", NULL, NULL), 1);
    assert_int_equal(hits(&carol, "pelicans", NULL, NULL), 1);
    assert_int_equal(hits(&admin, "pelicans", NULL, NULL), 1); /* admins see no more */

    /* Filters. */
    const char *lakes[] = {"lakes"};
    struct kn_filters f0 = {.category = {1, lakes, 1}, .shared = -1}, *f = &f0;
    assert_int_equal(hits(&alice, "pelicans", f, NULL), 0);
    assert_int_equal(hits(&carol, "pelicans", f, NULL), 1);
    f0.category.n = 0; /* an empty set matches nothing */
    assert_int_equal(hits(&carol, "pelicans", f, NULL), 0);
    f0.category.set = 0;
    f0.shared = 1; /* nothing here is shared */
    assert_int_equal(hits(&carol, "pelicans", f, NULL), 0);
    f0.shared = 0;
    assert_int_equal(hits(&carol, "pelicans", f, NULL), 1);

    /* The second identical search is served from the cache; a change drops it. */
    int cached = 0;
    hits(&alice, "coast", NULL, &cached);
    hits(&alice, "coast", NULL, &cached);
    assert_true(cached);

    /* Deletion: only the owner or an administrator. */
    assert_int_equal(knowledge_delete(&bob, a), RAGD_EPERM);
    assert_int_equal(knowledge_delete(&carol, a), RAGD_ENOTFOUND);
    assert_int_equal(knowledge_delete(&alice, a), 0);
    assert_int_equal(hits(&alice, "coast", NULL, &cached), 0);
    assert_false(cached);
    assert_int_equal(knowledge_delete(&admin, c), 0);
    assert_int_equal(hits(&carol, "pelicans", NULL, NULL), 0);
    free(a);
    free(c);
}

static void test_indexes_survive_restart(void **state)
{
    (void)state;
    char *id = submit(&alice, "Kestrels hover before they dive.", NULL);
    assert_int_equal(knowledge_wait_idle(30000), 0);
    assert_int_equal(hits(&alice, "kestrels", NULL, NULL), 1);
    knowledge_shutdown();
    char err[256] = "";
    assert_int_equal(knowledge_init(fixture_dir, err, sizeof err), 0);
    assert_int_equal(hits(&alice, "kestrels", NULL, NULL), 1);
    assert_int_equal(hits(&carol, "kestrels", NULL, NULL), 0);
    free(id);
}

static void test_rejects(void **state)
{
    (void)state;
    struct kn_upload u = {.data = "\x00\x01\x02binary", .len = 9};
    struct kdoc doc;
    char err[256] = "";
    assert_int_equal(knowledge_submit(&alice, &u, &doc, err, sizeof err), RAGD_EINVAL);
    assert_null(doc.title);
    enum kn_route r;
    assert_int_equal(knowledge_route_parse("semantic", &r), 0);
    assert_int_equal(r, KN_VECTOR);
    assert_int_equal(knowledge_route_parse("fuzzy", &r), RAGD_EINVAL);
    /* Without an embedder the vector route is unavailable unless a fallback is allowed. */
    struct kn_query q = {.text = "x", .top_k = 3, .route = KN_VECTOR};
    struct kn_result res;
    assert_int_equal(knowledge_search(&alice, &q, &res, err, sizeof err), RAGD_EUNAVAIL);
    q.vector_fallback = 1;
    assert_int_equal(knowledge_search(&alice, &q, &res, err, sizeof err), 0);
    assert_true(res.fallback);
    knowledge_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest_search_delete),
        cmocka_unit_test(test_indexes_survive_restart),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
