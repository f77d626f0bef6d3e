/* The admin user update against a real SQLite file: one transaction for the plan (through
 * billing's hook), the columns and the sessions, so a refused part leaves nothing changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "billing/billing.h"
#include "core/error.h"
#include "core/util.h"
#include "store/store_billing.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    char err[256];
    store_billing_register();
    if (store_migrate() || billing_init(NULL, err, sizeof err)) return -1;
    auth_set_plan_hook(billing_plan_change_locked);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void make_user(struct user *u, const char *email, const char *username)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->username, sizeof u->username, "%s", username);
    snprintf(u->hashed_password, sizeof u->hashed_password, "$2b$04$x");
    snprintf(u->subscription_plan, sizeof u->subscription_plan, "free");
    u->is_active = 1;
    assert_int_equal(store_user_create(u), 0);
}

static int64_t history_total(const char *uid)
{
    struct history_row *rows = NULL;
    int n = 0;
    int64_t total = -1;
    assert_int_equal(store_history_list(uid, 50, 0, &rows, &n, &total), 0);
    store_history_rows_free(rows, n);
    return total;
}

static void test_refused_update_changes_nothing(void **state)
{
    (void)state;
    struct user admin, a, b, got;
    make_user(&admin, "admin@example.com", "admin");
    make_user(&a, "a@example.com", "taken");
    make_user(&b, "b@example.com", "bee");
    char rid[37];
    assert_int_equal(store_refresh_insert(b.id, "fam-b", "hash-b", time_now_ms() + 60000, rid), 0);
    /* The plan change runs first and would succeed; the username is taken (in another
     * case): everything is rolled back, the plan and the sessions included. */
    struct auth_user_patch p = {
        .username = "TAKEN", .plan = "pro", .is_active = 0, .is_superuser = -1, .is_verified = -1};
    assert_int_equal(auth_user_admin_update(admin.id, b.id, &p), RAGD_EEXIST);
    assert_int_equal(store_user_get(b.id, &got), 0);
    assert_string_equal(got.subscription_plan, "free");
    assert_string_equal(got.username, "bee");
    assert_int_equal(got.is_active, 1);
    store_user_clear(&got);
    assert_int_equal(history_total(b.id), 0);
    struct refresh_token rt;
    assert_int_equal(store_refresh_get("hash-b", &rt), 0);
    assert_string_equal(rt.revoked_at, "");

    /* The same without the clash: all of it lands, with a billing event. */
    p.username = "bee2";
    assert_int_equal(auth_user_admin_update(admin.id, b.id, &p), 0);
    assert_int_equal(store_user_get(b.id, &got), 0);
    assert_string_equal(got.subscription_plan, "pro");
    assert_string_equal(got.username, "bee2");
    assert_int_equal(got.is_active, 0);
    store_user_clear(&got);
    assert_true(history_total(b.id) >= 2); /* created from the old plan, then the change */
    assert_int_equal(store_refresh_get("hash-b", &rt), 0);
    assert_string_not_equal(rt.revoked_at, "");
    struct billing_subscription sub;
    assert_int_equal(billing_subscription(b.id, &sub), 0);
    assert_string_equal(sub.plan_type, "pro");

    /* Admins cannot deactivate or demote themselves; an unknown plan changes nothing. */
    struct auth_user_patch self = {.is_active = -1, .is_superuser = 0, .is_verified = -1};
    assert_int_equal(auth_user_admin_update(admin.id, admin.id, &self), RAGD_EPERM);
    struct auth_user_patch gold = {
        .plan = "gold", .username = "bee3", .is_active = -1, .is_superuser = -1, .is_verified = -1};
    assert_int_equal(auth_user_admin_update(admin.id, b.id, &gold), RAGD_EINVAL);
    assert_int_equal(store_user_get(b.id, &got), 0);
    assert_string_equal(got.username, "bee2");
    store_user_clear(&got);
    assert_int_equal(
        auth_user_admin_update(admin.id, "00000000-0000-4000-8000-000000000000", &gold),
        RAGD_ENOTFOUND);
    store_user_clear(&admin);
    store_user_clear(&a);
    store_user_clear(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_update_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
