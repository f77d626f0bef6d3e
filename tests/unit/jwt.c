#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "auth/jwt.h"
#include "core/util.h"

static const char key[] = "unit-test-secret-key";

static char *make(long long exp)
{
    json_t *c = json_pack("{s:s, s:I}", "sub", "u1", "exp", (json_int_t)exp);
    char *t = jwt_sign(c, key, strlen(key));
    json_decref(c);
    return t;
}

static void test_sign_verify(void **state)
{
    (void)state;
    char *t = make(2000);
    json_t *claims = NULL;
    assert_int_equal(jwt_verify(t, key, strlen(key), 1000, &claims), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "u1");
    json_decref(claims);
    assert_int_equal(jwt_verify(t, key, strlen(key), 2000, &claims), JWT_EXPIRED);
    assert_int_equal(jwt_verify(t, "other", 5, 1000, &claims), JWT_BAD_SIGNATURE);
    free(t);
}

static int verify_with(const char *name, json_t *value, long long now)
{
    json_t *c = json_pack("{s:s, s:I}", "sub", "u1", "exp", (json_int_t)(now + 600));
    json_object_set_new(c, name, value);
    char *t = jwt_sign(c, key, strlen(key));
    json_decref(c);
    json_t *claims = NULL;
    int rc = jwt_verify(t, key, strlen(key), now, &claims);
    json_decref(claims);
    free(t);
    return rc;
}

static void test_not_before_and_future_issue(void **state)
{
    (void)state;
    long long now = 1700000000;
    assert_int_equal(verify_with("nbf", json_integer(now), now), JWT_OK);
    assert_int_equal(verify_with("nbf", json_integer(now + JWT_LEEWAY_S), now), JWT_OK);
    assert_int_equal(verify_with("nbf", json_integer(now + JWT_LEEWAY_S + 1), now),
                     JWT_NOT_YET_VALID);
    assert_int_equal(verify_with("iat", json_integer(now - 10), now), JWT_OK);
    assert_int_equal(verify_with("iat", json_integer(now + 3600), now), JWT_NOT_YET_VALID);
    assert_int_equal(verify_with("iat", json_real((double)now + 3600.5), now), JWT_NOT_YET_VALID);
    assert_int_equal(verify_with("nbf", json_string("soon"), now), JWT_MALFORMED);
    assert_int_equal(verify_with("iat", json_null(), now), JWT_MALFORMED);
}

static void test_rejects_other_algs(void **state)
{
    (void)state;
    char hdr[128], pl[128];
    const char *none = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    const char *body = "{\"sub\":\"u1\",\"exp\":99999999999}";
    b64url_encode(none, strlen(none), hdr);
    b64url_encode(body, strlen(body), pl);
    char tok[512];
    snprintf(tok, sizeof tok, "%s.%s.", hdr, pl);
    json_t *c = NULL;
    assert_int_equal(jwt_verify(tok, key, strlen(key), 0, &c), JWT_BAD_ALG);
    const char *hs512 = "{\"alg\":\"HS512\"}";
    b64url_encode(hs512, strlen(hs512), hdr);
    snprintf(tok, sizeof tok, "%s.%s.AAAA", hdr, pl);
    assert_int_equal(jwt_verify(tok, key, strlen(key), 0, &c), JWT_BAD_ALG);
    const char *noalg = "{\"typ\":\"JWT\"}";
    b64url_encode(noalg, strlen(noalg), hdr);
    snprintf(tok, sizeof tok, "%s.%s.AAAA", hdr, pl);
    assert_int_equal(jwt_verify(tok, key, strlen(key), 0, &c), JWT_BAD_ALG);
}

static void test_tampering(void **state)
{
    (void)state;
    char *t = make(5000);
    json_t *c = NULL;
    size_t n = strlen(t);
    /* Flip every character in turn: nothing but the original verifies. */
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.') continue;
        char saved = t[i];
        t[i] = saved == 'A' ? 'B' : 'A';
        enum jwt_status st = jwt_verify(t, key, strlen(key), 0, &c);
        if (st == JWT_OK) {
            json_decref(c);
            /* Changing the last char of a segment may only touch unused bits, which
             * the decoder rejects; anything that verifies is a failure. */
            fail_msg("tampered token verified at %zu", i);
        }
        t[i] = saved;
    }
    free(t);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         ".",
                         "..",
                         "...",
                         "a.b",
                         "a.b.c.d",
                         "!!!.@@@.###",
                         "e30.e30.",
                         "eyJhbGciOiJIUzI1NiJ9.W10.AAAA"};
    json_t *c = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_not_equal(jwt_verify(bad[i], key, strlen(key), 0, &c), JWT_OK);
    char *huge = malloc(20000);
    memset(huge, 'a', 19999);
    huge[19999] = 0;
    assert_int_equal(jwt_verify(huge, key, strlen(key), 0, &c), JWT_MALFORMED);
    free(huge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_not_before_and_future_issue),
        cmocka_unit_test(test_rejects_other_algs),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests_name("jwt", tests, NULL, NULL);
}
