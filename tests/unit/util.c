#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/util.h"

static void test_b64url_roundtrip(void **state)
{
    (void)state;
    unsigned char in[64], out[64];
    char enc[100];
    for (size_t n = 0; n < sizeof in; n++) {
        rand_bytes(in, n);
        size_t el = b64url_encode(in, n, enc);
        assert_int_equal(el, strlen(enc));
        assert_null(strchr(enc, '='));
        size_t dl = 0;
        assert_int_equal(b64url_decode(enc, el, out, &dl), 0);
        assert_int_equal(dl, n);
        assert_memory_equal(in, out, n);
    }
    /* RFC 4648 vectors, url alphabet, no padding */
    b64url_encode("foobar", 6, enc);
    assert_string_equal(enc, "Zm9vYmFy");
    b64url_encode("fo", 2, enc);
    assert_string_equal(enc, "Zm8");
    b64url_encode("\xfb\xff", 2, enc);
    assert_string_equal(enc, "-_8");
}

static void test_b64url_rejects(void **state)
{
    (void)state;
    unsigned char out[16];
    size_t n;
    assert_int_equal(b64url_decode("Zm9v+", 5, out, &n), RAGD_EFORMAT); /* std alphabet */
    assert_int_equal(b64url_decode("Zm8=", 4, out, &n), RAGD_EFORMAT);  /* padding */
    assert_int_equal(b64url_decode("A", 1, out, &n), RAGD_EFORMAT);     /* impossible len */
    assert_int_equal(b64url_decode("Zm9", 3, out, &n), RAGD_EFORMAT);   /* nonzero tail bits */
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    uuid4(a);
    uuid4(b);
    assert_true(uuid_valid(a));
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_false(uuid_valid("not-a-uuid"));
    assert_false(uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(uuid_valid(NULL));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(utf8_valid("héllo €𝄞", strlen("héllo €𝄞")));
    assert_false(utf8_valid("\xff", 1));
    assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(utf8_valid("a\0b", 3));             /* NUL */
    assert_int_equal(utf8_len("h€𝄞", strlen("h€𝄞")), 3);
}

static void test_email(void **state)
{
    (void)state;
    const char *good[] = {"a@b.co", "first.last+tag@sub.example.com", "o'brien@example.ie",
                          "x_y-z@a-b.example"};
    const char *bad[] = {"",        "a",        "a@b",       "@b.co",   "a@.co",
                         "a@b.c",   "a b@c.co", "a@@b.co",   "a@b..co", "admin@example.com'--",
                         "a@-b.co", "a@b-.co",  "a..b@c.co", ".a@c.co", "a@b.c0m"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(email_valid(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (email_valid(bad[i])) fail_msg("accepted %s", bad[i]);
    }
}

static void test_time_iso(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(time_iso(0, buf), "1970-01-01T00:00:00.000Z");
    assert_string_equal(time_iso(951782400123LL, buf), "2000-02-29T00:00:00.123Z"); /* leap */
    int64_t ms;
    assert_int_equal(time_parse_iso("2000-02-29T00:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 951782400123LL);
    assert_int_equal(time_parse_iso("2024-12-31 23:59:59+00:00", &ms), 0);
    assert_string_equal(time_iso(ms, buf), "2024-12-31T23:59:59.000Z");
    assert_int_equal(time_parse_iso("yesterday", &ms), RAGD_EINVAL);
    assert_int_equal(time_parse_iso("2024-12-31T23:59:59+05:00", &ms), RAGD_EINVAL);
    int64_t now = time_now_ms();
    time_set_offset_ms(86400000);
    assert_true(time_now_ms() - now >= 86400000);
    time_set_offset_ms(0);
}

static void test_sha256_hmac(void **state)
{
    (void)state;
    char hex[65];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* RFC 4231 test case 2 */
    unsigned char mac[32];
    hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    hex_encode(mac, 32, hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_sbuf(void **state)
{
    (void)state;
    struct sbuf b;
    sb_init(&b);
    for (int i = 0; i < 1000; i++)
        sb_printf(&b, "%d,", i);
    sb_adds(&b, "end");
    char *s = sb_take(&b);
    assert_true(strncmp(s, "0,1,2,", 6) == 0);
    assert_true(strstr(s, "999,end") != NULL);
    free(s);
    assert_null(b.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url_roundtrip),
        cmocka_unit_test(test_b64url_rejects),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_time_iso),
        cmocka_unit_test(test_sha256_hmac),
        cmocka_unit_test(test_sbuf),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
