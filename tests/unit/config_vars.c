/* The configuration table's checks: placeholders, URLs, enums, families, misspellings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/config_vars.c"

static int check(const char *name, const char *value)
{
    char why[256];
    const struct config_var *v = config_var_find(name);
    assert_non_null(v);
    return config_var_check(v, value, why, sizeof why);
}

static void test_rows_are_well_formed(void **state)
{
    (void)state;
    for (const struct config_var *v = config_vars; v->name; v++) {
        assert_non_null(v->help);
        assert_true(strlen(v->help) > 5);
        for (const struct config_var *w = v + 1; w->name; w++)
            assert_string_not_equal(v->name, w->name); /* one row per name */
        if (v->type == CFG_ENUM || v->type == CFG_URL) assert_non_null(v->choices);
        /* a literal default must pass its own row's check */
        if (v->def && v->def[0] != '(' && strcmp(v->name, "DATABASE_URL")) {
            char why[256];
            if (config_var_check(v, v->def, why, sizeof why)) fail_msg("%s: %s", v->name, why);
        }
    }
}

static void test_placeholders(void **state)
{
    (void)state;
    const char *bad[] = {"your-secret-key-here",
                         "your-super-secret-key-change-in-production",
                         "change-me",
                         "CHANGEME",
                         "sk_test_...",
                         "whsec_...",
                         "rzp_test_xxx",
                         "xxx",
                         "your-app-password",
                         "secure_password",
                         "<secret>",
                         NULL};
    for (int i = 0; bad[i]; i++)
        if (!config_is_placeholder(bad[i])) fail_msg("%s", bad[i]);
    assert_false(config_is_placeholder("k"));
    assert_false(config_is_placeholder("sk-test-embed"));
    assert_false(config_is_placeholder("test-secret-key-0123456789abcdef"));
}

static void test_values(void **state)
{
    (void)state;
    assert_int_equal(check("API_PORT", "8000"), 0);
    assert_int_equal(check("API_PORT", " 80"), 0); /* strtoll skips leading blanks */
    assert_int_equal(check("API_PORT", "80x"), -1);
    assert_int_equal(check("LOG_LEVEL", "WARNING"), 0);
    assert_int_equal(check("SQLITE_SYNCHRONOUS", "normal"), -1); /* the code compares exactly */
    assert_int_equal(check("REDIS_URL", "redis://:pw@127.0.0.1:6379/2"), 0);
    assert_int_equal(check("REDIS_URL", "redis://[::1]:6379/0"), 0);
    assert_int_equal(check("REDIS_URL", "redis://h:0/0"), -1);
    assert_int_equal(check("DATABASE_URL", "./data/ragd.db"), 0);
    assert_int_equal(check("DATABASE_URL", "postgresql+psycopg2://u:p4ss@h/db"), 0);
    assert_int_equal(check("CORS_ORIGINS", "*"), 0);
    assert_int_equal(check("CORS_ORIGINS", "http://a, https://b:8443"), 0);
    assert_int_equal(check("CORS_ORIGINS", "[\"*\", \"https://x\"]"), 0);
    assert_int_equal(check("CORS_ORIGINS", "[\"http://a\""), -1);
    assert_int_equal(check("RATE_LIMIT_SEARCH", "100000/60"), 0);
    assert_int_equal(check("RATE_LIMIT_SEARCH", "5"), 0);
    assert_int_equal(check("RATE_LIMIT_SEARCH", "5/0"), -1);
    assert_int_equal(check("FREE_MESSAGE_LIMIT", "-1"), 0);
    assert_int_equal(check("FREE_MESSAGE_LIMIT", "-2"), -1);
    assert_int_equal(check("GENERATION_TEMPERATURE", "nan"), -1);
    assert_null(config_var_find("RATE_LIMIT_")); /* a family needs a member name */
    assert_null(config_var_find("NOT_A_VARIABLE"));
}

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(distance("JWT_SECRT_KEY", "JWT_SECRET_KEY", 3), 1);
    assert_int_equal(distance("abc", "abc", 2), 0);
    assert_int_equal(distance("PATH", "API_PORT", 2), 3); /* capped: cap + 1 */
}

static int warned;
static char closest_seen[64];
static void on_warn(const char *name, const char *closest, void *ctx)
{
    (void)ctx;
    assert_string_not_equal(name, "LOG_LEVEL"); /* a row of ours is never a misspelling */
    if (strcmp(name, "SMTP_PASWORD")) return;   /* the runner's own environment */
    warned++;
    snprintf(closest_seen, sizeof closest_seen, "%s", closest);
}

static void test_validate_and_suggest(void **state)
{
    (void)state;
    config_reset();
    setenv("SMTP_PASWORD", "x", 1);
    setenv("API_PORT", "99999", 1);
    config_set("LOG_LEVEL", "chatty");
    assert_int_equal(config_validate(), 2);
    const char *e = config_errors();
    assert_non_null(strstr(e, "API_PORT=99999"));
    assert_non_null(strstr(e, "LOG_LEVEL=chatty"));
    warned = 0;
    config_suggest(on_warn, NULL);
    assert_int_equal(warned, 1);
    assert_string_equal(closest_seen, "SMTP_PASSWORD");
    unsetenv("SMTP_PASWORD");
    unsetenv("API_PORT");
    config_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_are_well_formed),
        cmocka_unit_test(test_placeholders),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_validate_and_suggest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
