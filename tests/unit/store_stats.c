/* The admin dashboard's aggregate reads against a real SQLite file: activity per day summed
 * over users and hours from a date on, users and active users per plan, and one period's
 * usage counters largest first with the user's e-mail and plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/chat.h"
#include "store/db.h"
#include "store/stats.h"
#include "store/store.h"
#include "store/store_billing.h"
#include "store_fixture.h"

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_billing_register();
    store_chat_register();
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    return fixture_db_close();
}

static void make_user(struct user *u, const char *email, const char *plan, int active)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->hashed_password, sizeof u->hashed_password, "$2b$04$x");
    snprintf(u->subscription_plan, sizeof u->subscription_plan, "%s", plan);
    u->is_active = active;
    assert_int_equal(store_user_create(u), 0);
}

static void hits(const char *user, const char *date, int hour, const char *res, int n)
{
    assert_int_equal(db_exec(db_conn(), NULL,
                             "INSERT INTO usage_analytics (user_id, date, hour, resource_type,"
                             " count) VALUES (?,?,?,?,?)",
                             "ssisi", user, date, (int64_t)hour, res, (int64_t)n),
                     0);
}

static void test_stats(void **state)
{
    (void)state;
    struct user a, b, c;
    make_user(&a, "a@example.com", "free", 1);
    make_user(&b, "b@example.com", "pro", 1);
    make_user(&c, "c@example.com", "free", 0);

    hits(a.id, "2030-01-01", 3, "messages", 2);
    hits(a.id, "2030-01-01", 4, "messages", 1);
    hits(b.id, "2030-01-01", 4, "messages", 5);
    hits(b.id, "2030-01-02", 0, "searches", 7);
    hits(b.id, "2029-12-31", 0, "messages", 9); /* before the window */
    struct stats_day *d;
    size_t n;
    assert_int_equal(store_stats_daily("messages", "2030-01-01", &d, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(d[0].date, "2030-01-01");
    assert_int_equal(d[0].count, 8);
    free(d);
    assert_int_equal(store_stats_daily("searches", "2030-01-01", &d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(d[0].count, 7);
    free(d);

    struct stats_plan *p;
    assert_int_equal(store_stats_plans(&p, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(p[0].plan, "free");
    assert_int_equal(p[0].users, 2);
    assert_int_equal(p[0].active_users, 1);
    assert_string_equal(p[1].plan, "pro");
    assert_int_equal(p[1].users, 1);
    free(p);

    assert_int_equal(store_counter_add(a.id, "messages", "2030-01", 3), 0);
    assert_int_equal(store_counter_add(b.id, "messages", "2030-01", 9), 0);
    assert_int_equal(store_counter_add(c.id, "messages", "2030-02", 4), 0);  /* other month */
    assert_int_equal(store_counter_add(c.id, "api_calls", "2030-01", 4), 0); /* other name */
    struct stats_usage *u;
    assert_int_equal(store_stats_usage("messages", "2030-01", -1, &u, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(u[0].email, "b@example.com");
    assert_string_equal(u[0].plan, "pro");
    assert_int_equal(u[0].quantity, 9);
    assert_string_equal(u[1].user_id, a.id);
    assert_int_equal(u[1].quantity, 3);
    store_stats_usage_free(u, n);
    assert_int_equal(store_stats_usage("messages", "2030-01", 1, &u, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(u[0].quantity, 9);
    store_stats_usage_free(u, n);
    assert_int_equal(store_stats_usage("messages", "1999-01", -1, &u, &n), 0);
    assert_int_equal(n, 0);
    store_stats_usage_free(u, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
