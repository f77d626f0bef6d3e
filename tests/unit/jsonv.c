#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/jsonv.h"

static const char *const colours[] = {"red", "green", NULL};
static const struct jv_field fields[] = {
    {"name", JV_STRING, 1, 1, 5, 0, NULL, NULL},
    {"n", JV_INT, 0, 1, 10, 0, NULL, NULL},
    {"x", JV_NUMBER, 0, 0, 1, 0, NULL, NULL},
    {"ok", JV_BOOL, 0, 0, 0, 0, NULL, NULL},
    {"tags", JV_ARRAY, 0, 0, 2, 0, NULL, NULL},
    {"colour", JV_STRING, 0, 0, 0, 1, colours, NULL},
    {NULL},
};
static const struct jv_schema schema = {fields, 0};

static int check(const char *text, const char **field)
{
    json_t *v;
    char err[256];
    assert_int_equal(jv_parse_object(text, strlen(text), &v, err, sizeof err), 0);
    int rc = jv_validate(v, &schema, field, err, sizeof err);
    json_decref(v);
    return rc;
}

static void test_parse_errors(void **state)
{
    (void)state;
    json_t *v;
    char err[256];
    const char *bad[] = {
        "", "{", "[1]", "\"s\"", "{\"a\":1}x", "{\"a\":1,\"a\":2}", "{\"a\":\"\\u0000\"}", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(jv_parse_object(bad[i], strlen(bad[i]), &v, err, sizeof err),
                         RAGD_EFORMAT);
        assert_true(strlen(err) > 0);
    }
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    char body[256];
    snprintf(body, sizeof body, "{\"a\":%.200s}", deep);
    assert_int_equal(jv_parse_object(body, strlen(body), &v, err, sizeof err), RAGD_EFORMAT);
    assert_non_null(strstr(err, "nesting"));
    /* Brackets inside strings do not count as nesting. */
    const char *s = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    assert_int_equal(jv_parse_object(s, strlen(s), &v, err, sizeof err), 0);
    json_decref(v);
}

static void test_validation(void **state)
{
    (void)state;
    const char *f;
    assert_int_equal(check("{\"name\":\"abc\"}", &f), 0);
    assert_int_equal(check("{\"name\":\"héllo\"}", &f), 0); /* 5 characters, 6 bytes */
    assert_int_equal(check("{}", &f), RAGD_EINVAL);
    assert_string_equal(f, "name");
    assert_int_equal(check("{\"name\":\"toolong\"}", &f), RAGD_EINVAL);
    assert_string_equal(f, "name");
    assert_int_equal(check("{\"name\":\"a\",\"n\":11}", &f), RAGD_EINVAL);
    assert_string_equal(f, "n");
    assert_int_equal(check("{\"name\":\"a\",\"n\":1.5}", &f), RAGD_EINVAL);
    assert_string_equal(f, "n");
    assert_int_equal(check("{\"name\":\"a\",\"x\":1}", &f), 0); /* int is a number */
    assert_int_equal(check("{\"name\":\"a\",\"ok\":1}", &f), RAGD_EINVAL);
    assert_string_equal(f, "ok");
    assert_int_equal(check("{\"name\":\"a\",\"tags\":[1,2,3]}", &f), RAGD_EINVAL);
    assert_string_equal(f, "tags");
    assert_int_equal(check("{\"name\":\"a\",\"colour\":\"blue\"}", &f), RAGD_EINVAL);
    assert_string_equal(f, "colour");
    assert_int_equal(check("{\"name\":\"a\",\"colour\":null}", &f), 0); /* nullable */
    assert_int_equal(check("{\"name\":\"a\",\"extra\":1}", &f), RAGD_EINVAL);
    assert_string_equal(f, "body");
}

static void test_schema_json(void **state)
{
    (void)state;
    json_t *s = jv_schema_json(&schema);
    assert_string_equal(json_string_value(json_object_get(s, "type")), "object");
    json_t *props = json_object_get(s, "properties");
    assert_int_equal(json_object_size(props), 6);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "required"), 0)),
                        "name");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(props, "name"), "maxLength")), 5);
    json_decref(s);
}

/* Fault injection: jansson's allocations fail at the Nth call, for every N a parse and a
 * validation need. Each run must fail cleanly or succeed: no crash, no leak. */
static long fail_at, calls;

static void *failing_malloc(size_t n)
{
    if (++calls == fail_at) return NULL;
    return malloc(n);
}

static void test_allocation_failures(void **state)
{
    (void)state;
    const char *text = "{\"name\":\"abc\",\"n\":3,\"tags\":[1,{\"x\":[true,null]}],"
                       "\"colour\":\"red\"}";
    json_set_alloc_funcs(failing_malloc, free);
    int succeeded = 0;
    for (fail_at = 1; fail_at < 200 && !succeeded; fail_at++) {
        calls = 0;
        json_t *v = NULL;
        char err[256];
        if (jv_parse_object(text, strlen(text), &v, err, sizeof err) == 0) {
            const char *f;
            (void)jv_validate(v, &schema, &f, err, sizeof err);
            json_decref(v);
            succeeded = calls < fail_at; /* the failure point lay beyond this run */
        }
    }
    json_set_alloc_funcs(malloc, free);
    assert_true(succeeded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_schema_json),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("jsonv", tests, NULL, NULL);
}
