/* The store against a real SQLite file: migrations, users, tokens, audit, concurrency. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/util.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    return store_migrate();
}

static void make_user(struct user *u, const char *email)
{
    assert_int_equal(fixture_user(u, email), 0);
}

static void test_migrations_idempotent(void **state)
{
    (void)state;
    int v = 0;
    assert_int_equal(store_migrate(), 0);
    assert_int_equal(store_migrate(), 0);
    assert_int_equal(store_schema_version(&v), 0);
    assert_true(v >= 1);
}

static void test_user_crud(void **state)
{
    (void)state;
    struct user u, got;
    make_user(&u, "crud@example.com");
    assert_true(uuid_valid(u.id));
    assert_int_equal(store_user_get(u.id, &got), 0);
    assert_string_equal(got.email, "crud@example.com");
    assert_string_equal(got.subscription_plan, "free");
    assert_string_equal(got.preferences, "{}");
    store_user_clear(&got);
    assert_int_equal(store_user_get_by_email("CRUD@example.com", &got), 0);
    store_user_clear(&got);

    struct user dup = u;
    dup.id[0] = 0;
    assert_int_equal(store_user_create(&dup), RAGD_EEXIST);

    json_t *patch = json_pack("{s:s, s:b, s:{s:i}}", "subscription_plan", "pro", "is_active", 0,
                              "preferences", "k", 1);
    assert_int_equal(store_user_update(u.id, patch), 0);
    json_decref(patch);
    assert_int_equal(store_user_get(u.id, &got), 0);
    assert_string_equal(got.subscription_plan, "pro");
    assert_false(got.is_active);
    assert_string_equal(got.preferences, "{\"k\":1}");
    store_user_clear(&got);

    patch = json_pack("{s:s}", "nonsense", "x");
    assert_int_equal(store_user_update(u.id, patch), RAGD_EINVAL);
    json_decref(patch);
    patch = json_pack("{s:s}", "username", "n");
    assert_int_equal(store_user_update("00000000-0000-4000-8000-000000000000", patch),
                     RAGD_ENOTFOUND);
    json_decref(patch);

    assert_int_equal(store_user_delete(u.id), 0);
    assert_int_equal(store_user_get(u.id, &got), RAGD_ENOTFOUND);
    assert_int_equal(store_user_delete(u.id), RAGD_ENOTFOUND);
}

static void test_user_list_and_injection(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "list-a@example.com");
    make_user(&u, "list-b@example.com");
    struct user *items;
    int n;
    int64_t total;
    struct user_filter f = {"list-", NULL, -1};
    assert_int_equal(store_user_list(&f, 1, 0, &items, &n, &total), 0);
    assert_int_equal(total, 2);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].hashed_password, ""); /* never handed out */
    store_user_list_free(items, n);
    struct user_filter evil = {"' OR 1=1 --", NULL, -1};
    assert_int_equal(store_user_list(&evil, 10, 0, &items, &n, &total), 0);
    assert_int_equal(total, 0);
    assert_int_equal(n, 0);
    store_user_list_free(items, n);
}

static void test_refresh_rotation(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "rt@example.com");
    char id[37];
    int64_t exp = time_now_ms() + 60000;
    assert_int_equal(store_refresh_insert(u.id, "fam-1", "hash-1", exp, id), 0);
    struct refresh_token rt;
    assert_int_equal(store_refresh_get("hash-1", &rt), 0);
    assert_string_equal(rt.revoked_at, "");
    assert_int_equal(store_refresh_rotate(rt.id, u.id, "fam-1", "hash-2", exp), 0);
    /* the same token cannot be rotated twice */
    assert_int_equal(store_refresh_rotate(rt.id, u.id, "fam-1", "hash-3", exp), RAGD_ECONFLICT);
    assert_int_equal(store_refresh_get("hash-3", &rt), RAGD_ENOTFOUND);
    assert_int_equal(store_refresh_revoke_family("fam-1"), 0);
    assert_int_equal(store_refresh_get("hash-2", &rt), 0);
    assert_string_not_equal(rt.revoked_at, "");
    /* deleting the user removes its tokens (foreign keys are on) */
    assert_int_equal(store_user_delete(u.id), 0);
    assert_int_equal(store_refresh_get("hash-2", &rt), RAGD_ENOTFOUND);
}

static void test_jti_and_audit(void **state)
{
    (void)state;
    assert_int_equal(store_jti_revoked("j1"), 0);
    assert_int_equal(store_jti_revoke("j1", time_now_ms() + 60000), 0);
    assert_int_equal(store_jti_revoke("j1", time_now_ms() + 60000), 0);
    assert_int_equal(store_jti_revoked("j1"), 1);
    /* the user and the revocation read together (no shared cache: the database answers) */
    struct user u;
    make_user(&u, "jti@x.co");
    struct user got;
    int revoked = -1;
    assert_int_equal(store_user_get_checked(u.id, "j1", &got, &revoked), 0);
    assert_int_equal(revoked, 1);
    assert_string_equal(got.email, "jti@x.co");
    store_user_clear(&got);
    assert_int_equal(store_user_get_checked(u.id, "j2", &got, &revoked), 0);
    assert_int_equal(revoked, 0);
    store_user_clear(&got);
    assert_int_equal(store_jti_claim("j2", time_now_ms() + 60000), 0);
    assert_int_equal(store_user_get_checked(u.id, "j2", &got, &revoked), 0);
    assert_int_equal(revoked, 1);
    store_user_clear(&got);
    assert_int_equal(store_user_get_checked("no-such-user", "j3", &got, &revoked), RAGD_ENOTFOUND);
    assert_int_equal(revoked, 0);
    json_t *d = json_pack("{s:s}", "k", "v");
    struct audit_entry e = {"a1", "a@x.co", "user.update", "user", "t1", d, "r1", "127.0.0.1"};
    assert_int_equal(store_audit_add(&e), 0);
    e.action = "user.delete";
    assert_int_equal(store_audit_add(&e), 0);
    json_decref(d);
    struct audit_row *rows;
    int n;
    int64_t total;
    struct audit_filter f = {.action = "user.delete"};
    assert_int_equal(store_audit_list(&f, 10, 0, &rows, &n, &total), 0);
    assert_int_equal(total, 1);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].action, "user.delete");
    assert_string_equal(json_string_value(json_object_get(rows[0].details, "k")), "v");
    store_audit_rows_free(rows, n);
}

static const struct login_policy lenient = {1000, 60000, 600000, 30000};

static void *lockout_worker(void *arg)
{
    const char *id = arg;
    struct login_attempt a;
    for (int i = 0; i < 25; i++)
        if (store_user_login_attempt(id, &lenient, 0, &a) || a.verdict != LOGIN_GO)
            return (void *)1;
    return NULL;
}

static void test_concurrent_increments(void **state)
{
    (void)state;
    struct user u, got;
    make_user(&u, "conc@example.com");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, lockout_worker, u.id);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(store_user_get(u.id, &got), 0);
    assert_int_equal(got.failed_login_count, 100); /* no lost updates across connections */
    store_user_clear(&got);
    struct login_policy at101 = {101, 60000, 600000, 30000};
    struct login_attempt a;
    assert_int_equal(store_user_login_attempt(u.id, &at101, 0, &a), 0);
    assert_int_equal(store_user_get(u.id, &got), 0);
    assert_string_not_equal(got.locked_until, "");
    store_user_clear(&got);
    assert_int_equal(a.locked_ms, 60000);
    /* locked: a client that failed is refused; a clean one may try, one at a time */
    assert_int_equal(store_user_login_attempt(u.id, &at101, 1, &a), 0);
    assert_int_equal(a.verdict, LOGIN_LOCKED);
    assert_true(a.retry_after_ms > 0 && a.retry_after_ms <= 60000);
    assert_int_equal(store_user_login_attempt(u.id, &at101, 0, &a), 0);
    assert_int_equal(a.verdict, LOGIN_BYPASS);
    assert_int_equal(store_user_login_attempt(u.id, &at101, 0, &a), 0);
    assert_int_equal(a.verdict, LOGIN_LOCKED);
    assert_int_equal(store_user_login_bypass_end(u.id), 0);
    assert_int_equal(store_user_login_attempt(u.id, &at101, 0, &a), 0);
    assert_int_equal(a.verdict, LOGIN_BYPASS);
}

static void test_lockout_backoff_doubles_until_good_login(void **state)
{
    (void)state;
    struct user u;
    make_user(&u, "backoff@example.com");
    struct login_policy p = {2, 1000, 3000, 30000};
    struct login_attempt a;
    int64_t expect[] = {1000, 2000, 3000, 3000}; /* doubling, capped */
    for (int lock = 0; lock < 4; lock++) {
        time_set_offset_ms(time_offset_ms() + 10000); /* past the previous lock */
        assert_int_equal(store_user_login_attempt(u.id, &p, 1, &a), 0);
        assert_int_equal(a.verdict, LOGIN_GO);
        assert_int_equal(a.locked_ms, 0);
        assert_int_equal(store_user_login_attempt(u.id, &p, 1, &a), 0);
        assert_int_equal(a.verdict, LOGIN_GO);
        assert_int_equal(a.locked_ms, expect[lock]);
    }
    assert_int_equal(store_user_login_ok(u.id), 0);
    time_set_offset_ms(time_offset_ms() + 10000);
    assert_int_equal(store_user_login_attempt(u.id, &p, 1, &a), 0);
    assert_int_equal(store_user_login_attempt(u.id, &p, 1, &a), 0);
    assert_int_equal(a.locked_ms, 1000); /* a good login starts the backoff over */
    time_set_offset_ms(0);
}

static void test_sessions_watermark_and_username_case(void **state)
{
    (void)state;
    struct user u, got, dup;
    make_user(&u, "mark@example.com");
    assert_int_equal(store_user_get(u.id, &got), 0); /* cached now */
    store_user_clear(&got);
    assert_int_equal(store_user_revoke_sessions(u.id, 5000), 0);
    assert_int_equal(store_user_revoke_sessions(u.id, 4000), 0); /* never moves back */
    assert_int_equal(store_user_get(u.id, &got), 0);
    assert_int_equal(got.tokens_valid_after, 5000);
    store_user_clear(&got);
    memset(&dup, 0, sizeof dup);
    snprintf(dup.email, sizeof dup.email, "case1@example.com");
    snprintf(dup.username, sizeof dup.username, "Alice");
    snprintf(dup.hashed_password, sizeof dup.hashed_password, "x");
    dup.is_active = 1;
    assert_int_equal(store_user_create(&dup), 0);
    memset(&dup, 0, sizeof dup);
    snprintf(dup.email, sizeof dup.email, "case2@example.com");
    snprintf(dup.username, sizeof dup.username, "aLICE");
    snprintf(dup.hashed_password, sizeof dup.hashed_password, "x");
    assert_int_equal(store_user_create(&dup), RAGD_EEXIST);
}

static void test_create_capped_per_origin(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        struct user u;
        memset(&u, 0, sizeof u);
        snprintf(u.email, sizeof u.email, "cap%d@example.com", i);
        snprintf(u.hashed_password, sizeof u.hashed_password, "x");
        int rc = store_user_create_capped(&u, i == 3 ? "origin-b" : "origin-a",
                                          time_now_ms() - 86400000, 2);
        assert_int_equal(rc, i == 2 ? RAGD_ELIMIT : 0);
    }
}

static void test_kv(void **state)
{
    (void)state;
    char *v = NULL;
    assert_int_equal(store_kv_get("k", &v), RAGD_ENOTFOUND);
    assert_int_equal(store_kv_set("k", "1"), 0);
    assert_int_equal(store_kv_set("k", "2"), 0);
    assert_int_equal(store_kv_get("k", &v), 0);
    assert_string_equal(v, "2");
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_idempotent),
        cmocka_unit_test(test_user_crud),
        cmocka_unit_test(test_user_list_and_injection),
        cmocka_unit_test(test_refresh_rotation),
        cmocka_unit_test(test_jti_and_audit),
        cmocka_unit_test(test_concurrent_increments),
        cmocka_unit_test(test_lockout_backoff_doubles_until_good_login),
        cmocka_unit_test(test_sessions_watermark_and_username_case),
        cmocka_unit_test(test_create_capped_per_origin),
        cmocka_unit_test(test_kv),
    };
    return cmocka_run_group_tests_name("store", tests, setup, fixture_teardown);
}
