/* The email_verifications table against a real SQLite file: a token is used once, a new
 * one replaces the old, an expired one is refused (and dropped), and a deleted user takes
 * their pending token along. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/emailverify.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_emailverify_register();
    return store_migrate();
}

static void make_user(struct user *u, const char *email)
{
    assert_int_equal(fixture_user(u, email), 0);
}

static int verified(const char *id)
{
    int64_t v = -1;
    assert_int_equal(
        db_query_int(db_conn(), &v, "SELECT is_verified FROM users WHERE id = ?", "s", id), 0);
    return (int)v;
}

static void test_used_once(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "once@example.com");
    char who[37];
    assert_int_equal(store_emailverify_set(u.id, "h-once", 2000), 0);
    assert_int_equal(store_emailverify_use("h-other", 1000, who), RAGD_ENOTFOUND);
    assert_int_equal(verified(u.id), 0);
    assert_int_equal(store_emailverify_use("h-once", 1000, who), 0);
    assert_string_equal(who, u.id);
    assert_int_equal(verified(u.id), 1);
    assert_int_equal(store_emailverify_use("h-once", 1000, who), RAGD_ENOTFOUND);
    store_user_clear(&u);
}

static void test_replaced(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "again@example.com");
    char who[37];
    assert_int_equal(store_emailverify_set(u.id, "h-first", 2000), 0);
    assert_int_equal(store_emailverify_set(u.id, "h-second", 2000), 0);
    assert_int_equal(store_emailverify_use("h-first", 1000, who), RAGD_ENOTFOUND);
    assert_int_equal(verified(u.id), 0);
    assert_int_equal(store_emailverify_use("h-second", 1000, who), 0);
    assert_int_equal(verified(u.id), 1);
    store_user_clear(&u);
}

static void test_expired(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "late@example.com");
    char who[37];
    assert_int_equal(store_emailverify_set(u.id, "h-late", 2000), 0);
    assert_int_equal(store_emailverify_use("h-late", 2000, who), RAGD_ENOTFOUND);
    assert_int_equal(verified(u.id), 0);
    int64_t n = -1;
    assert_int_equal(db_query_int(db_conn(), &n,
                                  "SELECT count(*) FROM email_verifications WHERE user_id = ?", "s",
                                  u.id),
                     0);
    assert_int_equal(n, 0);
    store_user_clear(&u);
}

static void test_user_deleted(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "gone@example.com");
    char who[37];
    assert_int_equal(store_emailverify_set(u.id, "h-gone", 2000), 0);
    assert_int_equal(store_user_delete(u.id), 0);
    assert_int_equal(store_emailverify_use("h-gone", 1000, who), RAGD_ENOTFOUND);
    store_user_clear(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_used_once),
        cmocka_unit_test(test_replaced),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_user_deleted),
    };
    return cmocka_run_group_tests(tests, setup, fixture_teardown);
}
