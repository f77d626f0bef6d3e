#include "billing/period.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

enum { DAY_MS = 86400000 };

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int period_is_leap(int64_t year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int period_days_in_month(int64_t year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1) month = 1;
    if (month > 12) month = 12;
    return month == 2 && period_is_leap(year) ? 29 : days[month - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. The year is counted from March so
 * that the leap day ends it; 400-year eras of 146097 days repeat exactly. */
static int64_t days_from_date(int64_t y, int m, int d)
{
    if (m <= 2) y--;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;                                   /* 0..399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* 0..365 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* 0..146096 */
    return era * 146097 + doe - 719468;
}

static void date_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void split(int64_t t_ms, int64_t *y, int *m, int *d)
{
    date_from_days(floor_div(t_ms, DAY_MS), y, m, d);
}

void period_month(int64_t t_ms, struct period *out)
{
    out->start_ms = period_add_months(t_ms, 0);
    out->end_ms = period_add_months(t_ms, 1);
}

void period_day(int64_t t_ms, struct period *out)
{
    out->start_ms = floor_div(t_ms, DAY_MS) * DAY_MS;
    out->end_ms = out->start_ms + DAY_MS;
}

int64_t period_add_months(int64_t t_ms, int64_t n)
{
    int64_t y;
    int m, d;
    split(t_ms, &y, &m, &d);
    int64_t months = y * 12 + (m - 1) + n;
    int64_t ny = floor_div(months, 12);
    int nm = (int)(months - ny * 12) + 1;
    return days_from_date(ny, nm, 1) * DAY_MS;
}

void period_month_key(int64_t t_ms, char out[8])
{
    int64_t y;
    int m, d;
    split(t_ms, &y, &m, &d);
    snprintf(out, 8, "%04u-%02u", (unsigned)(y < 0 ? 0 : y % 10000), (unsigned)m % 100u);
}

void period_day_key(int64_t t_ms, char out[11])
{
    int64_t y;
    int m, d;
    split(t_ms, &y, &m, &d);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y < 0 ? 0 : y % 10000), (unsigned)m % 100u,
             (unsigned)d % 100u);
}

void period_cycle(int64_t anchor_ms, enum billing_cycle cycle, int64_t now_ms, struct period *out)
{
    if (cycle == CYCLE_MONTHLY) {
        period_month(now_ms, out);
        return;
    }
    int64_t ay, ny;
    int am, nm, d;
    split(anchor_ms, &ay, &am, &d);
    split(now_ms, &ny, &nm, &d);
    int64_t elapsed = (ny * 12 + nm) - (ay * 12 + am); /* whole months from anchor to now */
    int64_t k = floor_div(elapsed, 12);
    int64_t first = period_add_months(anchor_ms, 0);
    out->start_ms = period_add_months(first, 12 * k);
    out->end_ms = period_add_months(first, 12 * (k + 1));
}

/* price * num / den rounded half up; den > 0, 0 <= num <= den. The operands stay far below
 * 2^63: prices are at most 2^31 cents and periods at most ~3.2e10 ms. */
static int64_t share(int64_t price, int64_t num, int64_t den)
{
    __int128 p = (__int128)price * num;
    return (int64_t)((p + den / 2) / den);
}

int period_prorate(int64_t now_ms, int64_t old_anchor_ms, enum billing_cycle old_cycle,
                   int64_t old_price, enum billing_cycle new_cycle, int64_t new_price,
                   struct proration *out)
{
    memset(out, 0, sizeof *out);
    if (old_price < 0 || new_price < 0) return RAGD_EINVAL;
    period_cycle(old_anchor_ms, old_cycle, now_ms, &out->old_period);
    int64_t olen = out->old_period.end_ms - out->old_period.start_ms;
    int64_t oleft = out->old_period.end_ms - now_ms;
    out->credit_cents = share(old_price, oleft, olen);
    out->unused_fraction = (double)oleft / (double)olen;
    if (new_cycle == old_cycle) {
        out->new_anchor_ms = old_anchor_ms;
        out->new_period = out->old_period;
    } else {
        out->new_anchor_ms = period_add_months(now_ms, 0);
        period_cycle(out->new_anchor_ms, new_cycle, now_ms, &out->new_period);
    }
    int64_t nlen = out->new_period.end_ms - out->new_period.start_ms;
    int64_t nleft = out->new_period.end_ms - now_ms;
    out->charge_cents = share(new_price, nleft, nlen);
    out->net_cents = out->charge_cents - out->credit_cents;
    return 0;
}

const char *period_cycle_name(enum billing_cycle c)
{
    return c == CYCLE_YEARLY ? "yearly" : "monthly";
}

int period_cycle_parse(const char *s, enum billing_cycle *out)
{
    if (s && !strcmp(s, "monthly"))
        *out = CYCLE_MONTHLY;
    else if (s && !strcmp(s, "yearly"))
        *out = CYCLE_YEARLY;
    else
        return RAGD_EINVAL;
    return 0;
}
