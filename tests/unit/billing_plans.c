/* Plans: seed defaults, the operator's plans file, the *_MESSAGE_LIMIT variables, bad
 * files that must be refused without changing the table, and runtime edits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "billing/plans.h"
#include "core/config.h"
#include "core/error.h"

static char path[64];

static int write_file(const char *text)
{
    snprintf(path, sizeof path, "/tmp/ragd-plans-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void test_defaults(void **state)
{
    (void)state;
    plan_reset();
    const struct plan *f = plan_get("free"), *p = plan_get("pro"), *e = plan_get("enterprise");
    assert_non_null(f);
    assert_non_null(p);
    assert_non_null(e);
    assert_null(plan_get("student"));
    assert_int_equal(f->limits[RES_MESSAGES], 10);
    assert_int_equal(f->limits[RES_BACKGROUND_TASKS], 5);
    assert_int_equal(f->limits[RES_API_CALLS], 20);
    assert_int_equal(f->limits[RES_STORAGE_MB], 100);
    assert_int_equal(p->limits[RES_MESSAGES], 100);
    assert_int_equal(p->limits[RES_STORAGE_MB], 1000);
    assert_int_equal(e->limits[RES_MESSAGES], 10000);
    assert_int_equal(e->limits[RES_API_CALLS], 50000);
    assert_int_equal(plan_price(f, 0), 0);
    assert_int_equal(plan_price(p, 0), 2900);
    assert_int_equal(plan_price(p, 1), 29000);
    assert_int_equal(plan_price(e, 0), 9900);
    assert_int_equal(plan_price(e, 1), 99000);
    assert_int_equal(plan_daily_limit(f, "daily_tokens"), 10000);
    assert_int_equal(plan_daily_limit(f, "daily_requests"), 20);
    assert_int_equal(plan_daily_limit(f, "mcqs_per_day"), 5);
    assert_int_equal(plan_daily_limit(p, "flashcards_per_day"), 500);
    assert_int_equal(plan_daily_limit(e, "daily_tokens"), -1);
    assert_int_equal(plan_daily_limit(f, "no_such_feature"), -1);
    assert_string_equal(plan_upgrade_to("free"), "pro");
    assert_string_equal(plan_upgrade_to("pro"), "enterprise");
    assert_string_equal(plan_upgrade_to("enterprise"), "enterprise");
    assert_ptr_equal(plan_for("bogus"), f);
    assert_int_equal(plan_resource_index("storage_mb"), RES_STORAGE_MB);
    assert_int_equal(plan_resource_index("tokens"), -1);
    assert_int_equal(plan_resource_index(NULL), -1);
    json_t *j = plan_json(p);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "pricing"), "yearly")),
                     29000);
    assert_int_equal(json_array_size(json_object_get(j, "features")), 6);
    json_decref(j);
}

static void test_file_and_env(void **state)
{
    (void)state;
    assert_int_equal(write_file("{\"pro\": {\"name\": \"Team\", \"limits\": {\"messages\": 250,"
                                " \"storage_mb\": -1}, \"daily_limits\": {\"mcqs_per_day\": 7,"
                                " \"quizzes_per_day\": 3}, \"features\": [\"x\"],"
                                " \"pricing\": {\"monthly\": 1234}}}"),
                     0);
    config_set("ENTERPRISE_MESSAGE_LIMIT", "-1");
    char err[256] = "";
    assert_int_equal(plan_load(path, err, sizeof err), 0);
    unlink(path);
    const struct plan *p = plan_get("pro");
    assert_string_equal(p->name, "Team");
    assert_int_equal(p->limits[RES_MESSAGES], 250);
    assert_int_equal(p->limits[RES_STORAGE_MB], -1);
    assert_int_equal(p->limits[RES_API_CALLS], 500); /* untouched */
    assert_int_equal(plan_daily_limit(p, "mcqs_per_day"), 7);
    assert_int_equal(plan_daily_limit(p, "quizzes_per_day"), 3);
    assert_int_equal(plan_price(p, 0), 1234);
    assert_int_equal(plan_price(p, 1), 29000);
    assert_int_equal(plan_get("enterprise")->limits[RES_MESSAGES], -1);
    assert_int_equal(plan_get("free")->limits[RES_MESSAGES], 10);
    config_set("ENTERPRISE_MESSAGE_LIMIT", "");
}

static void test_bad_files_keep_table(void **state)
{
    (void)state;
    char err[256];
    plan_reset();
    static const char *const bad[] = {
        "{\"student\": {}}",
        "{\"pro\": {\"limits\": {\"tokens\": 5}}}",
        "{\"pro\": {\"limits\": {\"messages\": -2}}}",
        "{\"pro\": {\"limits\": {\"messages\": \"10\"}}}",
        "{\"pro\": {\"colour\": \"red\"}}",
        "{\"pro\": {\"daily_limits\": {\"Bad Name\": 1}}}",
        "{\"pro\": {\"pricing\": {\"weekly\": 1}}}",
        "{\"pro\": {\"pricing\": {\"monthly\": -5}}}",
        "{\"pro\": {\"features\": [1]}}",
        "[1, 2]",
        "{\"pro\": ",
        "{\"pro\": {}, \"pro\": {}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(write_file(bad[i]), 0);
        err[0] = '\0';
        int rc = plan_load(path, err, sizeof err);
        unlink(path);
        if (rc == 0) fail_msg("accepted: %s", bad[i]);
        assert_true(err[0] != '\0');
        assert_int_equal(plan_get("pro")->limits[RES_MESSAGES], 100);
    }
    assert_int_equal(plan_load("/nonexistent/plans.json", err, sizeof err), RAGD_EIO);
    config_set("FREE_MESSAGE_LIMIT", "ten");
    assert_int_equal(plan_load(NULL, err, sizeof err), RAGD_EINVAL);
    config_set("FREE_MESSAGE_LIMIT", "3");
    assert_int_equal(plan_load(NULL, err, sizeof err), 0);
    assert_int_equal(plan_get("free")->limits[RES_MESSAGES], 3);
    config_set("FREE_MESSAGE_LIMIT", "");
    plan_reset();
}

/* Runtime edits: checked with the offending field, applied on top of the loaded table, a new
 * plan placed by price, earlier plan pointers still readable after a swap. */
static void test_edits(void **state)
{
    (void)state;
    char err[256], field[PLAN_FIELD_MAX];
    plan_reset();
    const struct plan *old_free = plan_get("free");
    static const struct {
        const char *type, *def, *field;
    } bad[] = {
        {"free", "{\"limits\": {\"messages\": \"x\"}}", "limits.messages"},
        {"free", "{\"limits\": {\"tokens\": 1}}", "limits.tokens"},
        {"free", "{\"daily_limits\": {\"mcqs_per_day\": -2}}", "daily_limits.mcqs_per_day"},
        {"free", "{\"pricing\": {\"monthly\": 1.5}}", "pricing.monthly"},
        {"free", "{\"colour\": 1}", "colour"},
        {"Student", "{}", "plan"},
        {"student", "{\"name\": \"S\", \"pricing\": {\"monthly\": 199}}", "limits.messages"},
        {"student",
         "{\"name\": \"S\", \"limits\": {\"messages\": 1, \"background_tasks\": 1, "
         "\"api_calls\": 1, \"storage_mb\": 1}}",
         "pricing.monthly"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *d = json_loads(bad[i].def, 0, NULL);
        assert_non_null(d);
        assert_int_equal(plan_edit_check(bad[i].type, d, field, err, sizeof err), RAGD_EINVAL);
        assert_string_equal(field, bad[i].field);
        json_decref(d);
    }
    assert_int_equal(plan_count(), 3);
    json_t *edits =
        json_loads("{\"free\": {\"daily_limits\": {\"mcqs_per_day\": 7}},"
                   " \"student\": {\"name\": \"Student Plan\", \"limits\": {\"messages\": 50,"
                   " \"background_tasks\": 10, \"api_calls\": 100, \"storage_mb\": 200},"
                   " \"daily_limits\": {\"daily_tokens\": 50000, \"mcqs_per_day\": 50},"
                   " \"pricing\": {\"monthly\": 199}},"
                   " \"bogus\": {\"name\": \"incomplete\"}}",
                   0, NULL);
    assert_non_null(edits);
    /* The incomplete plan is skipped; the others apply. */
    assert_int_equal(plan_apply_edits(edits, err, sizeof err), RAGD_EINVAL);
    json_decref(edits);
    assert_null(plan_get("bogus"));
    assert_int_equal(plan_count(), 4);
    assert_string_equal(plan_at(1)->type, "student");
    assert_int_equal(plan_daily_limit(plan_get("student"), "daily_tokens"), 50000);
    assert_int_equal(plan_price(plan_get("student"), 1), 1990);
    assert_int_equal(plan_daily_limit(plan_get("free"), "mcqs_per_day"), 7);
    assert_string_equal(plan_upgrade_to("free"), "student");
    assert_string_equal(plan_upgrade_to("student"), "pro");
    /* The pointer taken before the edit still reads the old values. */
    assert_int_equal(plan_daily_limit(old_free, "mcqs_per_day"), 5);
    plan_reset();
    assert_null(plan_get("student"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_and_env),
        cmocka_unit_test(test_bad_files_keep_table),
        cmocka_unit_test(test_edits),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    plan_reset();
    return rc;
}
