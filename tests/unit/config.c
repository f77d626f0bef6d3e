#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"

static char path[64];

static void write_env(const char *text)
{
    snprintf(path, sizeof path, "/tmp/ragd-config-test-%d.env", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_dotenv_parsing(void **state)
{
    (void)state;
    config_reset();
    write_env("# comment\n\nAPI_PORT=9000\nexport JWT_ALGORITHM = HS256 \n"
              "CORS_ORIGINS=[\"http://a\", \"http://b\"]\nQUOTED=\"a # not comment\"\n"
              "SINGLE='x y'\nINLINE=value # a comment\nEMPTY=\n");
    char err[128];
    assert_int_equal(config_load(path, err, sizeof err), 0);
    assert_string_equal(config_str("API_PORT", NULL), "9000");
    assert_string_equal(config_str("JWT_ALGORITHM", NULL), "HS256");
    assert_string_equal(config_str("CORS_ORIGINS", NULL), "[\"http://a\", \"http://b\"]");
    assert_string_equal(config_str("QUOTED", NULL), "a # not comment");
    assert_string_equal(config_str("SINGLE", NULL), "x y");
    assert_string_equal(config_str("INLINE", NULL), "value");
    assert_string_equal(config_str("EMPTY", "def"), "def");
    assert_string_equal(config_str("MISSING", "def"), "def");
    unlink(path);
}

static void test_precedence(void **state)
{
    (void)state;
    config_reset();
    write_env("RAGD_TEST_VAR=file\n");
    char err[128];
    config_load(path, err, sizeof err);
    assert_string_equal(config_str("RAGD_TEST_VAR", NULL), "file");
    setenv("RAGD_TEST_VAR", "env", 1);
    assert_string_equal(config_str("RAGD_TEST_VAR", NULL), "env");
    config_set("RAGD_TEST_VAR", "flag");
    assert_string_equal(config_str("RAGD_TEST_VAR", NULL), "flag");
    unsetenv("RAGD_TEST_VAR");
    unlink(path);
}

static void test_malformed_line(void **state)
{
    (void)state;
    config_reset();
    write_env("GOOD=1\nthis line is bad\n");
    char err[128] = "";
    assert_int_equal(config_load(path, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, ":2:"));
    unlink(path);
}

static void test_typed_getters(void **state)
{
    (void)state;
    config_reset();
    config_set("N", "42");
    config_set("BAD_N", "42x");
    config_set("BIG", "99999");
    config_set("B1", "true");
    config_set("B2", "off");
    config_set("B3", "maybe");
    assert_int_equal(config_int("N", 1, 0, 100), 42);
    assert_null(config_errors());
    assert_int_equal(config_int("BAD_N", 7, 0, 100), 7);
    assert_int_equal(config_int("BIG", 7, 0, 100), 7);
    assert_int_equal(config_int("UNSET", 7, 0, 100), 7);
    assert_true(config_bool("B1", 0));
    assert_false(config_bool("B2", 1));
    assert_true(config_bool("B3", 1));
    const char *e = config_errors();
    assert_non_null(e);
    assert_non_null(strstr(e, "BAD_N"));
    assert_non_null(strstr(e, "BIG"));
    assert_non_null(strstr(e, "B3"));
    config_reset();
}

struct seen {
    char applied[256], restart[256], invalid[256];
};

static void on_change(const char *name, enum config_change what, const char *why, void *ctx)
{
    struct seen *s = ctx;
    char *dst = what == CONFIG_APPLIED         ? s->applied
                : what == CONFIG_NEEDS_RESTART ? s->restart
                                               : s->invalid;
    strcat(dst, name);
    strcat(dst, " ");
    if (what == CONFIG_INVALID) assert_non_null(why);
}

static void test_reload(void **state)
{
    (void)state;
    config_reset();
    unsetenv("LOG_LEVEL");
    unsetenv("CORS_ORIGINS");
    unsetenv("API_PORT");
    write_env("LOG_LEVEL=info\nCORS_ORIGINS=http://a.example\nAPI_PORT=9000\nPLANS_FILE=/p\n");
    char err[256] = "";
    assert_int_equal(config_load(path, err, sizeof err), 0);
    const char *before = config_str("CORS_ORIGINS", NULL);
    static const char *const live[] = {"LOG_LEVEL", "CORS_ORIGINS", "PLANS_FILE", NULL};
    /* CORS changes, LOG_LEVEL turns invalid, API_PORT needs a restart, PLANS_FILE goes away,
     * API_HOST is new (needs a restart) */
    write_env("LOG_LEVEL=loud\nCORS_ORIGINS=http://b.example\nAPI_PORT=9001\n"
              "API_HOST=0.0.0.0\n");
    struct seen s = {"", "", ""};
    assert_int_equal(config_reload(path, live, on_change, &s, err, sizeof err), 0);
    assert_string_equal(config_str("CORS_ORIGINS", NULL), "http://b.example");
    assert_string_equal(before, "http://a.example"); /* an earlier value stays readable */
    assert_string_equal(config_str("LOG_LEVEL", NULL), "info");
    assert_string_equal(config_str("API_PORT", NULL), "9000");
    assert_null(config_str("API_HOST", NULL));
    assert_null(config_str("PLANS_FILE", NULL));
    assert_non_null(strstr(s.applied, "CORS_ORIGINS "));
    assert_non_null(strstr(s.applied, "PLANS_FILE "));
    assert_non_null(strstr(s.restart, "API_PORT "));
    assert_non_null(strstr(s.restart, "API_HOST "));
    assert_string_equal(s.invalid, "LOG_LEVEL ");
    /* the environment wins: a change in the file is not considered */
    setenv("CORS_ORIGINS", "http://env.example", 1);
    write_env("LOG_LEVEL=loud\nCORS_ORIGINS=http://c.example\nAPI_PORT=9001\nAPI_HOST=0.0.0.0\n");
    memset(&s, 0, sizeof s);
    assert_int_equal(config_reload(path, live, on_change, &s, err, sizeof err), 0);
    assert_string_equal(config_str("CORS_ORIGINS", NULL), "http://env.example");
    assert_null(strstr(s.applied, "CORS_ORIGINS"));
    unsetenv("CORS_ORIGINS");
    /* a malformed file changes nothing */
    write_env("LOG_LEVEL=debug\nthis line is wrong\n");
    assert_int_equal(config_reload(path, live, on_change, &s, err, sizeof err), RAGD_EFORMAT);
    assert_string_equal(config_str("LOG_LEVEL", NULL), "info");
    unlink(path);
    config_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dotenv_parsing), cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_malformed_line), cmocka_unit_test(test_typed_getters),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
