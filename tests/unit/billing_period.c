/* Calendar arithmetic for billing: months, days, leap years, year ends, times before 1970,
 * yearly cycles and proration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <time.h>

#include "billing/period.c"
#include "core/util.h"

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    assert_int_equal(time_parse_iso(iso, &ms), 0);
    return ms;
}

static void assert_iso(int64_t ms, const char *want)
{
    char buf[32];
    assert_string_equal(time_iso(ms, buf), want);
}

static void test_leap_years(void **state)
{
    (void)state;
    assert_true(period_is_leap(2024));
    assert_true(period_is_leap(2000));
    assert_true(period_is_leap(2400));
    assert_false(period_is_leap(1900));
    assert_false(period_is_leap(2100));
    assert_false(period_is_leap(2023));
    assert_int_equal(period_days_in_month(2024, 2), 29);
    assert_int_equal(period_days_in_month(2023, 2), 28);
    assert_int_equal(period_days_in_month(2000, 2), 29);
    assert_int_equal(period_days_in_month(1900, 2), 28);
    assert_int_equal(period_days_in_month(2024, 4), 30);
    assert_int_equal(period_days_in_month(2024, 12), 31);
    assert_int_equal(period_days_in_month(2024, 1), 31);
}

/* The date conversion agrees with the C library for every day from 1800 to 2500. */
static void test_dates_match_gmtime(void **state)
{
    (void)state;
    for (int64_t z = -62000; z <= 194000; z++) {
        int64_t y;
        int m, d;
        date_from_days(z, &y, &m, &d);
        time_t t = (time_t)(z * 86400);
        struct tm tm;
        gmtime_r(&t, &tm);
        if (y != tm.tm_year + 1900 || m != tm.tm_mon + 1 || d != tm.tm_mday)
            fail_msg("day %lld: %lld-%d-%d vs gmtime %d-%d-%d", (long long)z, (long long)y, m, d,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        assert_int_equal(days_from_date(y, m, d), z);
    }
}

static void test_month_periods(void **state)
{
    (void)state;
    struct period p;
    period_month(at("2024-02-15T12:34:56.789Z"), &p);
    assert_iso(p.start_ms, "2024-02-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2024-03-01T00:00:00.000Z");
    /* leap day and the instant after it */
    period_month(at("2024-02-29T23:59:59.999Z"), &p);
    assert_iso(p.start_ms, "2024-02-01T00:00:00.000Z");
    assert_int_equal(p.end_ms - p.start_ms, 29LL * 86400000);
    period_month(at("2024-02-29T23:59:59.999Z") + 1, &p);
    assert_iso(p.start_ms, "2024-03-01T00:00:00.000Z");
    period_month(at("2023-02-10T00:00:00Z"), &p);
    assert_int_equal(p.end_ms - p.start_ms, 28LL * 86400000);
    /* year end */
    period_month(at("2024-12-31T23:59:59.999Z"), &p);
    assert_iso(p.start_ms, "2024-12-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2025-01-01T00:00:00.000Z");
    period_month(at("2025-01-01T00:00:00.000Z"), &p);
    assert_iso(p.start_ms, "2025-01-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2025-02-01T00:00:00.000Z");
    /* before the epoch */
    period_month(-1, &p);
    assert_iso(p.start_ms, "1969-12-01T00:00:00.000Z");
    assert_int_equal(p.end_ms, 0);
    /* month arithmetic crosses years both ways */
    assert_iso(period_add_months(at("2024-01-31T10:00:00Z"), 1), "2024-02-01T00:00:00.000Z");
    assert_iso(period_add_months(at("2024-11-30T10:00:00Z"), 14), "2026-01-01T00:00:00.000Z");
    assert_iso(period_add_months(at("2024-01-15T00:00:00Z"), -1), "2023-12-01T00:00:00.000Z");
    assert_iso(period_add_months(at("2024-03-15T00:00:00Z"), -27), "2021-12-01T00:00:00.000Z");
}

static void test_days_and_keys(void **state)
{
    (void)state;
    struct period p;
    period_day(at("2024-02-29T13:00:00Z"), &p);
    assert_iso(p.start_ms, "2024-02-29T00:00:00.000Z");
    assert_iso(p.end_ms, "2024-03-01T00:00:00.000Z");
    period_day(-1, &p);
    assert_iso(p.start_ms, "1969-12-31T00:00:00.000Z");
    char mk[8], dk[11];
    period_month_key(at("2024-02-29T23:59:59.999Z"), mk);
    period_day_key(at("2024-02-29T23:59:59.999Z"), dk);
    assert_string_equal(mk, "2024-02");
    assert_string_equal(dk, "2024-02-29");
    period_month_key(at("2024-12-31T23:59:59.999Z") + 1, mk);
    period_day_key(at("2024-12-31T23:59:59.999Z") + 1, dk);
    assert_string_equal(mk, "2025-01");
    assert_string_equal(dk, "2025-01-01");
}

static void test_yearly_cycle(void **state)
{
    (void)state;
    struct period p;
    int64_t anchor = at("2024-03-10T08:00:00Z");
    period_cycle(anchor, CYCLE_YEARLY, at("2024-03-10T09:00:00Z"), &p);
    assert_iso(p.start_ms, "2024-03-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2025-03-01T00:00:00.000Z");
    period_cycle(anchor, CYCLE_YEARLY, at("2025-02-28T23:59:59.999Z"), &p);
    assert_iso(p.start_ms, "2024-03-01T00:00:00.000Z");
    period_cycle(anchor, CYCLE_YEARLY, at("2025-03-01T00:00:00Z"), &p);
    assert_iso(p.start_ms, "2025-03-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2026-03-01T00:00:00.000Z");
    period_cycle(anchor, CYCLE_MONTHLY, at("2025-07-04T00:00:00Z"), &p);
    assert_iso(p.start_ms, "2025-07-01T00:00:00.000Z");
    assert_iso(p.end_ms, "2025-08-01T00:00:00.000Z");
}

static void test_prorate(void **state)
{
    (void)state;
    struct proration pr;
    int64_t anchor = at("2024-01-01T00:00:00Z");
    /* free -> pro on 15 February 2024: 15 of 29 days remain */
    int64_t now = at("2024-02-15T00:00:00Z");
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 0, CYCLE_MONTHLY, 2900, &pr), 0);
    assert_int_equal(pr.credit_cents, 0);
    assert_int_equal(pr.charge_cents, 1500);
    assert_int_equal(pr.net_cents, 1500);
    assert_iso(pr.new_period.start_ms, "2024-02-01T00:00:00.000Z");
    assert_iso(pr.new_period.end_ms, "2024-03-01T00:00:00.000Z");
    assert_true(pr.unused_fraction > 0.517 && pr.unused_fraction < 0.518);
    /* and back: money returned */
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 2900, CYCLE_MONTHLY, 0, &pr), 0);
    assert_int_equal(pr.credit_cents, 1500);
    assert_int_equal(pr.charge_cents, 0);
    assert_int_equal(pr.net_cents, -1500);
    /* pro monthly -> pro yearly: the new year starts with February 2024 (366 days, 352 left) */
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 2900, CYCLE_YEARLY, 29000, &pr), 0);
    assert_iso(pr.new_anchor_ms, "2024-02-01T00:00:00.000Z");
    assert_iso(pr.new_period.end_ms, "2025-02-01T00:00:00.000Z");
    assert_int_equal(pr.credit_cents, 1500);
    assert_int_equal(pr.charge_cents, 27891); /* 29000 * 352 / 366 = 27890.7 */
    assert_int_equal(pr.net_cents, 26391);
    /* at the first instant of a period the whole price is credited and charged */
    now = at("2024-03-01T00:00:00Z");
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 2900, CYCLE_MONTHLY, 9900, &pr), 0);
    assert_int_equal(pr.credit_cents, 2900);
    assert_int_equal(pr.charge_cents, 9900);
    /* at its last millisecond almost nothing is */
    now = at("2024-03-31T23:59:59.999Z");
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 2900, CYCLE_MONTHLY, 9900, &pr), 0);
    assert_int_equal(pr.credit_cents, 0);
    assert_int_equal(pr.charge_cents, 0);
    /* rounding is half up */
    now = at("2024-01-16T12:00:00Z"); /* 15.5 of 31 days left: exactly half */
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, 1, CYCLE_MONTHLY, 3, &pr), 0);
    assert_int_equal(pr.credit_cents, 1); /* 0.5 -> 1 */
    assert_int_equal(pr.charge_cents, 2); /* 1.5 -> 2 */
    assert_int_equal(period_prorate(now, anchor, CYCLE_MONTHLY, -1, CYCLE_MONTHLY, 3, &pr),
                     RAGD_EINVAL);
}

static void test_cycle_names(void **state)
{
    (void)state;
    enum billing_cycle c;
    assert_int_equal(period_cycle_parse("yearly", &c), 0);
    assert_int_equal(c, CYCLE_YEARLY);
    assert_string_equal(period_cycle_name(c), "yearly");
    assert_int_equal(period_cycle_parse("monthly", &c), 0);
    assert_int_equal(c, CYCLE_MONTHLY);
    assert_int_equal(period_cycle_parse("weekly", &c), RAGD_EINVAL);
    assert_int_equal(period_cycle_parse(NULL, &c), RAGD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leap_years),    cmocka_unit_test(test_dates_match_gmtime),
        cmocka_unit_test(test_month_periods), cmocka_unit_test(test_days_and_keys),
        cmocka_unit_test(test_yearly_cycle),  cmocka_unit_test(test_prorate),
        cmocka_unit_test(test_cycle_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
