/* The shape notation (core/shape.h) compiled to JSON Schema. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/shape.h"

/* Compiles text and returns its compact JSON (caller frees), or NULL on a parse error. */
static char *compile(const char *text)
{
    json_t *s;
    char err[300];
    if (shape_schema(text, strlen(text), &s, err, sizeof err)) return NULL;
    char *out = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(s);
    return out;
}

static void expect(const char *text, const char *json)
{
    char *got = compile(text);
    assert_non_null(got);
    assert_string_equal(got, json);
    free(got);
}

static void test_types(void **state)
{
    (void)state;
    expect("string", "{\"type\":\"string\"}");
    expect(" int ", "{\"type\":\"integer\"}");
    expect("any", "{}");
    expect("binary", "{\"format\":\"binary\",\"type\":\"string\"}");
    expect("string|null", "{\"type\":[\"string\",\"null\"]}");
    expect("'a'|'b'|null", "{\"enum\":[\"a\",\"b\",null]}");
    expect("$User", "{\"$ref\":\"#/components/schemas/User\"}");
    expect("$User|null",
           "{\"anyOf\":[{\"$ref\":\"#/components/schemas/User\"},{\"type\":\"null\"}]}");
    expect("[number]", "{\"items\":{\"type\":\"number\"},\"type\":\"array\"}");
}

static void test_objects(void **state)
{
    (void)state;
    /* Closed unless "...": members without '?' are required. */
    expect("{id: int, name?: string}",
           "{\"additionalProperties\":false,\"properties\":{\"id\":{\"type\":\"integer\"},"
           "\"name\":{\"type\":\"string\"}},\"required\":[\"id\"],\"type\":\"object\"}");
    expect("{id: int, ...}",
           "{\"properties\":{\"id\":{\"type\":\"integer\"}},\"required\":[\"id\"],"
           "\"type\":\"object\"}");
    expect("{*: {used: int}}", "{\"additionalProperties\":{\"additionalProperties\":false,"
                               "\"properties\":{\"used\":{\"type\":\"integer\"}},\"required\":"
                               "[\"used\"],\"type\":\"object\"},\"type\":\"object\"}");
    expect("{}", "{\"additionalProperties\":false,\"type\":\"object\"}");
}

static void test_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",      "strin",          "{id int}", "{id: int",          "[int", "{a: int, a: int}",
        "'open", "{id: int} junk", "$",        "{a: int,, b: int}", "int|", "{: int}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *s = NULL;
        char err[300] = "";
        assert_int_equal(shape_schema(bad[i], strlen(bad[i]), &s, err, sizeof err), RAGD_EFORMAT);
        assert_null(s);
        assert_true(strstr(err, "offset") != NULL);
    }
    /* Nesting is bounded: 24 levels parse, 30 do not. */
    char deep[80];
    for (int levels = 24; levels <= 30; levels += 6) {
        memset(deep, '[', (size_t)levels);
        strcpy(deep + levels, "int");
        memset(deep + levels + 3, ']', (size_t)levels);
        deep[2 * levels + 3] = '\0';
        json_t *s = NULL;
        char err[300];
        int rc = shape_schema(deep, strlen(deep), &s, err, sizeof err);
        assert_int_equal(rc, levels == 24 ? 0 : RAGD_EFORMAT);
        json_decref(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
