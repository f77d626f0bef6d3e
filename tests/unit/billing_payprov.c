/* Webhook signature checks of the payment providers against known vectors (HMAC-SHA256
 * computed independently with openssl dgst -hmac): Stripe's "t=...,v1=..." header over
 * "timestamp.payload" with a tolerance, and Razorpay's hex HMAC over the body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "billing/payprov.h"
#include "core/error.h"

static const char body[] = "{\"id\":\"evt_1\",\"type\":\"checkout.session.completed\"}";
static const char stripe_secret[] = "whsec_unit_test_secret";
/* HMAC-SHA256(whsec_unit_test_secret, "1700000000." + body) */
static const char stripe_mac[] = "5493466c76fff523097879a4d640c81f73cbe764ba07cf934fa54037715b32dd";
static const char rzp_secret[] = "rzp_unit_secret";
/* HMAC-SHA256(rzp_unit_secret, body) */
static const char rzp_mac[] = "8dd5c7ac424e4f4f092a6269bee1d2aaf48a4738cd1d8f3fcc5b93a1fcaa5c69";

static int verify(const char *header, int64_t now)
{
    return stripe_sig_verify(stripe_secret, header, body, strlen(body), now, 300);
}

static void test_stripe_known_vector(void **state)
{
    (void)state;
    char h[160];
    snprintf(h, sizeof h, "t=1700000000,v1=%s", stripe_mac);
    assert_int_equal(verify(h, 1700000000), 0);
    assert_int_equal(verify(h, 1700000300), 0);           /* at the tolerance */
    assert_int_equal(verify(h, 1700000301), RAGD_ERANGE); /* stale */
    assert_int_equal(verify(h, 1699999699), RAGD_ERANGE); /* from the future */
    /* order, spaces, other schemes and extra v1 values do not matter; one match suffices */
    snprintf(h, sizeof h, "v0=abc, v1=%064d ,t=1700000000, v1=%s", 0, stripe_mac);
    assert_int_equal(verify(h, 1700000010), 0);
    /* upper-case hex is the same digest */
    char up[65];
    for (int i = 0; i < 64; i++)
        up[i] = (char)(stripe_mac[i] >= 'a' ? stripe_mac[i] - 32 : stripe_mac[i]);
    up[64] = 0;
    snprintf(h, sizeof h, "t=1700000000,v1=%s", up);
    assert_int_equal(verify(h, 1700000000), 0);
}

static void test_stripe_refusals(void **state)
{
    (void)state;
    char h[160];
    /* another timestamp signs another message */
    snprintf(h, sizeof h, "t=1700000001,v1=%s", stripe_mac);
    assert_int_equal(verify(h, 1700000001), RAGD_EPERM);
    /* a modified body */
    snprintf(h, sizeof h, "t=1700000000,v1=%s", stripe_mac);
    assert_int_equal(stripe_sig_verify(stripe_secret, h, body, strlen(body) - 1, 1700000000, 300),
                     RAGD_EPERM);
    /* the wrong secret */
    assert_int_equal(stripe_sig_verify("whsec_other", h, body, strlen(body), 1700000000, 300),
                     RAGD_EPERM);
    assert_int_equal(stripe_sig_verify("", h, body, strlen(body), 1700000000, 300), RAGD_EINVAL);
    /* malformed headers */
    assert_int_equal(verify(NULL, 0), RAGD_EFORMAT);
    assert_int_equal(verify("", 0), RAGD_EFORMAT);
    assert_int_equal(verify("t=1700000000", 1700000000), RAGD_EFORMAT);
    snprintf(h, sizeof h, "v1=%s", stripe_mac);
    assert_int_equal(verify(h, 1700000000), RAGD_EFORMAT);
    snprintf(h, sizeof h, "t=17x,v1=%s", stripe_mac);
    assert_int_equal(verify(h, 1700000000), RAGD_EFORMAT);
    snprintf(h, sizeof h, "t=1700000000,v1=%.63s", stripe_mac);
    assert_int_equal(verify(h, 1700000000), RAGD_EFORMAT);
    snprintf(h, sizeof h, "t=1700000000,v0=%s", stripe_mac);
    assert_int_equal(verify(h, 1700000000), RAGD_EFORMAT);
}

static void test_stripe_parse(void **state)
{
    (void)state;
    struct stripe_sig s;
    char h[1024];
    int n = snprintf(h, sizeof h, "t=42");
    for (int i = 0; i < PAYSIG_MAX_V1 + 3; i++)
        n += snprintf(h + n, sizeof h - (size_t)n, ",v1=%064x", i);
    assert_int_equal(stripe_sig_parse(h, &s), 0);
    assert_int_equal(s.t, 42);
    assert_int_equal(s.nv1, PAYSIG_MAX_V1); /* the rest is ignored, never overflows */
    assert_int_equal(s.v1[1][31], 1);
    assert_int_equal(stripe_sig_parse("t=,v1=,=,,", &s), RAGD_EFORMAT);
    assert_int_equal(stripe_sig_parse("t=99999999999999999999,v1=00", &s), RAGD_EFORMAT);
}

static void test_razorpay_known_vector(void **state)
{
    (void)state;
    assert_int_equal(razorpay_sig_verify(rzp_secret, rzp_mac, body, strlen(body)), 0);
    char padded[80];
    snprintf(padded, sizeof padded, " %s ", rzp_mac);
    assert_int_equal(razorpay_sig_verify(rzp_secret, padded, body, strlen(body)), 0);
    assert_int_equal(razorpay_sig_verify("other", rzp_mac, body, strlen(body)), RAGD_EPERM);
    assert_int_equal(razorpay_sig_verify(rzp_secret, rzp_mac, body, strlen(body) - 2), RAGD_EPERM);
    assert_int_equal(razorpay_sig_verify(rzp_secret, "abc", body, strlen(body)), RAGD_EFORMAT);
    assert_int_equal(razorpay_sig_verify(rzp_secret, NULL, body, strlen(body)), RAGD_EFORMAT);
    assert_int_equal(razorpay_sig_verify("", rzp_mac, body, strlen(body)), RAGD_EINVAL);
    char bad[65];
    memcpy(bad, rzp_mac, 65);
    bad[10] = 'g';
    assert_int_equal(razorpay_sig_verify(rzp_secret, bad, body, strlen(body)), RAGD_EFORMAT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stripe_known_vector),
        cmocka_unit_test(test_stripe_refusals),
        cmocka_unit_test(test_stripe_parse),
        cmocka_unit_test(test_razorpay_known_vector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
