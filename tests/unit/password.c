#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "auth/password.h"
#include "core/error.h"

static void test_hash_verify(void **state)
{
    (void)state;
    char h1[128], h2[128];
    assert_int_equal(password_hash("correct horse", 4, h1, sizeof h1), 0);
    assert_int_equal(password_hash("correct horse", 4, h2, sizeof h2), 0);
    assert_true(strncmp(h1, "$2b$04$", 7) == 0);
    assert_string_not_equal(h1, h2); /* salted */
    assert_true(password_verify("correct horse", h1));
    assert_true(password_verify("correct horse", h2));
    assert_false(password_verify("correct horsf", h1));
    assert_false(password_verify("", h1));
}

static void test_bounds(void **state)
{
    (void)state;
    char h[128];
    assert_int_equal(password_hash("short", 4, h, sizeof h), RAGD_EINVAL);
    char p73[74];
    memset(p73, 'x', 73);
    p73[73] = 0;
    assert_int_equal(password_hash(p73, 4, h, sizeof h), RAGD_EINVAL);
    p73[72] = 0;
    assert_int_equal(password_hash(p73, 4, h, sizeof h), 0);
    assert_int_equal(password_hash("password123", 3, h, sizeof h), RAGD_EINVAL);
    assert_int_equal(password_hash("password123", 4, h, 10), RAGD_EIO);
}

static void test_bad_hashes(void **state)
{
    (void)state;
    assert_false(password_verify("x", ""));
    assert_false(password_verify("x", "plaintext"));
    assert_false(password_verify("x", "$1$abc$def"));   /* md5-crypt is not accepted */
    assert_false(password_verify("x", "$2b$04$short")); /* malformed bcrypt */
    password_dummy_verify(4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bad_hashes),
    };
    return cmocka_run_group_tests_name("password", tests, NULL, NULL);
}
