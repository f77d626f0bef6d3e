/* Network sets and the client address behind trusted proxies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cidr.h"
#include "core/error.h"

static cidr_set_t *set(const char *spec)
{
    cidr_set_t *s = NULL;
    char err[256];
    if (cidr_set_parse(spec, &s, err, sizeof err)) fail_msg("%s: %s", spec, err);
    return s;
}

static void test_parse(void **state)
{
    (void)state;
    cidr_set_t *s = set("10.0.0.0/8, 192.168.1.7 ::1,2001:db8::/32");
    assert_int_equal(cidr_set_count(s), 4);
    cidr_set_free(s);
    s = set("[\"127.0.0.0/8\", \"fd00::/8\"]");
    assert_int_equal(cidr_set_count(s), 2);
    cidr_set_free(s);
    s = set("");
    assert_int_equal(cidr_set_count(s), 0);
    cidr_set_free(s);
    static const char *const bad[] = {
        "10.0.0.1/8", "10.0.0.0/33", "2001:db8::/129",      "localhost",
        "10.0.0.0/",  "10.0.0.0/x",  "[\"10.0.0.0/8\", 3]", "[1",
        "300.1.1.1",  NULL};
    for (int i = 0; bad[i]; i++) {
        char err[256] = "";
        s = NULL;
        assert_int_equal(cidr_set_parse(bad[i], &s, err, sizeof err), RAGD_EINVAL);
        assert_null(s);
        assert_true(strlen(err) > 5);
    }
}

static void test_contains(void **state)
{
    (void)state;
    cidr_set_t *s = set("10.0.0.0/8, 172.16.0.0/12, 2001:db8::/32, 192.0.2.9");
    assert_true(cidr_set_contains(s, "10.255.1.2"));
    assert_true(cidr_set_contains(s, "172.31.255.255"));
    assert_false(cidr_set_contains(s, "172.32.0.0"));
    assert_true(cidr_set_contains(s, "::ffff:10.1.2.3")); /* IPv4-mapped */
    assert_true(cidr_set_contains(s, "2001:db8:ffff::1"));
    assert_false(cidr_set_contains(s, "2001:db9::1"));
    assert_true(cidr_set_contains(s, "192.0.2.9"));
    assert_false(cidr_set_contains(s, "192.0.2.10"));
    assert_false(cidr_set_contains(s, "garbage"));
    assert_false(cidr_set_contains(NULL, "10.0.0.1"));
    cidr_set_free(s);
    s = set("0.0.0.0/0");
    assert_true(cidr_set_contains(s, "8.8.8.8"));
    assert_false(cidr_set_contains(s, "::2")); /* v4 networks hold no v6 address */
    cidr_set_free(s);
}

static void test_client_address(void **state)
{
    (void)state;
    cidr_set_t *t = set("10.0.0.0/8, 2001:db8::/32");
    char out[CIDR_ADDR_MAX];
    /* an untrusted peer: headers ignored */
    assert_int_equal(cidr_client_address(t, "198.51.100.1", "1.2.3.4", "for=5.6.7.8", out), 0);
    assert_string_equal(out, "198.51.100.1");
    /* no trusted set: headers ignored */
    assert_int_equal(cidr_client_address(NULL, "10.0.0.1", "1.2.3.4", NULL, out), 0);
    assert_string_equal(out, "10.0.0.1");
    /* the rightmost hop that is not a trusted proxy */
    assert_int_equal(cidr_client_address(t, "10.0.0.1", "6.6.6.6, 1.2.3.4, 10.9.9.9", NULL, out),
                     1);
    assert_string_equal(out, "1.2.3.4");
    /* every hop trusted: the leftmost */
    cidr_client_address(t, "10.0.0.1", "10.1.1.1, 10.2.2.2", NULL, out);
    assert_string_equal(out, "10.1.1.1");
    /* garbage stops the walk at the last trusted hop */
    cidr_client_address(t, "10.0.0.1", "1.2.3.4, unknown, 10.2.2.2", NULL, out);
    assert_string_equal(out, "10.2.2.2");
    cidr_client_address(t, "10.0.0.1", "not-an-address", NULL, out);
    assert_string_equal(out, "10.0.0.1");
    /* no header: the peer */
    assert_int_equal(cidr_client_address(t, "10.0.0.1", NULL, NULL, out), 0);
    assert_string_equal(out, "10.0.0.1");
    /* Forwarded: quoted, bracketed v6 with a port, v4 with a port, other parameters */
    cidr_client_address(t, "10.0.0.1", NULL, "for=\"[2001:db9::7]:4711\";proto=https", out);
    assert_string_equal(out, "2001:db9::7");
    cidr_client_address(t, "10.0.0.1", NULL, "for=7.7.7.7:80, For=10.3.3.3;by=10.0.0.1", out);
    assert_string_equal(out, "7.7.7.7");
    cidr_client_address(t, "10.0.0.1", NULL, "for=_hidden, for=10.3.3.3", out);
    assert_string_equal(out, "10.3.3.3");
    cidr_client_address(t, "10.0.0.1", NULL, "proto=https", out);
    assert_string_equal(out, "10.0.0.1");
    /* X-Forwarded-For wins over Forwarded; a mapped peer is normalised */
    cidr_client_address(t, "::ffff:10.0.0.1", "8.8.4.4", "for=9.9.9.9", out);
    assert_string_equal(out, "8.8.4.4");
    cidr_client_address(t, "::ffff:198.51.100.3", "8.8.4.4", NULL, out);
    assert_string_equal(out, "198.51.100.3");
    /* a trusted v6 proxy */
    cidr_client_address(t, "2001:db8::1", " 2001:db9::1 ", NULL, out);
    assert_string_equal(out, "2001:db9::1");
    cidr_set_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_contains),
        cmocka_unit_test(test_client_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
