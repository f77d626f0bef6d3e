/* The role -> permission table, and role changes against a real SQLite file: is_superuser
 * follows the role, the last active super_admin stays, and the audit log refuses edits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"
#include "core/error.h"
#include "core/util.h"
#include "store/audit.h"
#include "store/store.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    return store_migrate() ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void test_table(void **state)
{
    (void)state;
    /* NULL: a full admin. */
    assert_false(roles_allows("ops", NULL));
    assert_true(roles_allows("admin", NULL));
    assert_true(roles_allows("super_admin", NULL));
    /* Every *.read for viewer, nothing that changes anything. */
    assert_true(roles_allows("viewer", "audit.read"));
    assert_true(roles_allows("viewer", "providers.read"));
    assert_false(roles_allows("viewer", "usage.reset"));
    assert_true(roles_allows("support", "usage.reset"));
    assert_false(roles_allows("support", "audit.read"));
    assert_true(roles_allows("ops", "ops.manage"));
    assert_false(roles_allows("ops", "users.read"));
    assert_false(roles_allows("admin", "roles.manage"));
    assert_true(roles_allows("super_admin", "roles.manage"));
    /* Unknown roles and permissions allow nothing, to anyone. */
    assert_false(roles_allows("super_admin", "keys.manage"));
    assert_false(roles_allows("root", "users.read"));
    assert_false(roles_allows(NULL, NULL));
    assert_false(roles_allows("user", "stats.read"));
    const char *p[32];
    assert_int_equal(roles_permissions("user", p, 32), 0);
    assert_int_equal(roles_permissions("viewer", p, 32), 5);
    assert_int_equal(roles_permissions("super_admin", p, 32), 13);
    assert_int_equal(roles_permissions("admin", p, 32), 12);
    assert_int_equal(roles_permissions("admin", p, 2), 12); /* counts past cap */
    assert_true(roles_is_superuser("admin") && roles_is_superuser("super_admin"));
    assert_false(roles_is_superuser("ops") || roles_is_superuser("nobody"));
    assert_true(roles_rank("user") < roles_rank("viewer") &&
                roles_rank("admin") < roles_rank("super_admin"));
}

static void make_user(struct user *u, const char *email, const char *role)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->hashed_password, sizeof u->hashed_password, "x");
    snprintf(u->role, sizeof u->role, "%s", role);
    u->is_active = 1;
    assert_int_equal(store_user_create(u), 0);
}

static void test_role_changes(void **state)
{
    (void)state;
    struct user a, b, got;
    char before[16];
    make_user(&a, "one@example.com", "super_admin");
    make_user(&b, "two@example.com", "user");
    assert_int_equal(a.is_superuser, 1);
    assert_int_equal(b.is_superuser, 0);
    /* The last super_admin cannot go, by role or deactivation checks. */
    assert_int_equal(roles_set(b.id, a.id, "admin", before), RAGD_ECONFLICT);
    assert_int_equal(roles_check_not_last(a.id), RAGD_ECONFLICT);
    assert_int_equal(roles_set(a.id, b.id, "super_admin", before), 0);
    assert_string_equal(before, "user");
    assert_int_equal(store_user_get(b.id, &got), 0);
    assert_string_equal(got.role, "super_admin");
    assert_int_equal(got.is_superuser, 1);
    store_user_clear(&got);
    /* Nobody lowers their own role; another super_admin may. */
    assert_int_equal(roles_set(a.id, a.id, "ops", before), RAGD_EPERM);
    assert_int_equal(roles_set(b.id, a.id, "ops", before), 0);
    assert_int_equal(store_user_get(a.id, &got), 0);
    assert_string_equal(got.role, "ops");
    assert_int_equal(got.is_superuser, 0);
    store_user_clear(&got);
    assert_int_equal(roles_set(b.id, a.id, "emperor", before), RAGD_EINVAL);
    assert_int_equal(roles_set(b.id, "00000000-0000-4000-8000-000000000000", "ops", before),
                     RAGD_ENOTFOUND);
    int changed = 0;
    assert_int_equal(roles_bootstrap("one@example.com", &changed), 0);
    assert_int_equal(changed, 1);
    assert_int_equal(roles_bootstrap("one@example.com", &changed), 0);
    assert_int_equal(changed, 0);
    assert_int_equal(roles_bootstrap("none@example.com", &changed), RAGD_ENOTFOUND);
    store_user_clear(&a);
    store_user_clear(&b);
}

static void test_audit_append_only(void **state)
{
    (void)state;
    struct audit_entry e = {.action = "x.test", .user_agent = "agent"};
    assert_int_equal(store_audit_add(&e), 0);
    db_conn_t *c = db_conn();
    int64_t id = 0;
    assert_int_equal(db_query_int(c, &id, "SELECT max(id) FROM audit_log", ""), 0);
    assert_int_not_equal(
        db_exec(c, NULL, "UPDATE audit_log SET action = 'y' WHERE id = ?", "i", id), 0);
    assert_int_not_equal(db_exec(c, NULL, "DELETE FROM audit_log WHERE id = ?", "i", id), 0);
    /* A redaction: one permit, one UPDATE of the personal columns. */
    assert_int_equal(store_audit_permit_redaction(c, id), 0);
    assert_int_not_equal(
        db_exec(c, NULL, "UPDATE audit_log SET action = 'y' WHERE id = ?", "i", id), 0);
    assert_int_equal(
        db_exec(c, NULL, "UPDATE audit_log SET user_agent = NULL WHERE id = ?", "i", id), 0);
    assert_int_not_equal(
        db_exec(c, NULL, "UPDATE audit_log SET user_agent = 'z' WHERE id = ?", "i", id), 0);
    /* Pruning removes what is past the floor, and only that. */
    int64_t n = -1;
    assert_int_equal(store_audit_prune("2000-01-01T00:00:00.000Z", &n), 0);
    assert_int_equal(n, 0);
    char ts[32];
    assert_int_not_equal(store_audit_prune(time_iso(time_now_ms() + 1000, ts), &n), 0);
    struct audit_filter f = {.action = "x.*", .q = "agent"};
    struct audit_row *rows;
    int k;
    int64_t total;
    assert_int_equal(store_audit_list(&f, 10, 0, &rows, &k, &total), 0);
    assert_int_equal(total, 0); /* the agent was redacted */
    store_audit_rows_free(rows, k);
    f.q = NULL;
    assert_int_equal(store_audit_list(&f, 10, 0, &rows, &k, &total), 0);
    assert_int_equal(total, 1);
    assert_null(rows[0].user_agent);
    store_audit_rows_free(rows, k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_role_changes),
        cmocka_unit_test(test_audit_append_only),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
