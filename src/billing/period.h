/* period.h - calendar arithmetic for billing, in UTC: months, days, billing cycles and
 * proration. Pure functions of their arguments (the clock is passed in), so every edge
 * (month and year ends, leap years, times before 1970) is unit-testable.
 *
 * A period is the half-open interval [start_ms, end_ms) of milliseconds since the epoch. */
#ifndef RAGD_PERIOD_H
#define RAGD_PERIOD_H

#include <stdint.h>

struct period {
    int64_t start_ms, end_ms;
};

enum billing_cycle { CYCLE_MONTHLY, CYCLE_YEARLY };

/* 1 if year is a Gregorian leap year. Cannot fail. */
int period_is_leap(int64_t year);
/* Days in month (1-12) of year. Cannot fail (month is clamped into 1..12). */
int period_days_in_month(int64_t year, int month);

/* The calendar month (UTC) containing t_ms. Cannot fail. */
void period_month(int64_t t_ms, struct period *out);
/* The UTC day [00:00, next 00:00) containing t_ms. Cannot fail. */
void period_day(int64_t t_ms, struct period *out);
/* The first instant of the month n months after the month containing t_ms (n may be
 * negative). Cannot fail. */
int64_t period_add_months(int64_t t_ms, int64_t n);

/* Keys naming a period in the store: "YYYY-MM" (month) and "YYYY-MM-DD" (day), years
 * 0000-9999. Cannot fail. */
void period_month_key(int64_t t_ms, char out[8]);
void period_day_key(int64_t t_ms, char out[11]);

/* The billing period of a subscription containing now_ms: monthly cycles are calendar
 * months; yearly cycles are runs of twelve calendar months starting with the month that
 * contains anchor_ms. Cannot fail. */
void period_cycle(int64_t anchor_ms, enum billing_cycle cycle, int64_t now_ms, struct period *out);

/* Proration of a plan change at now_ms.
 *
 * The unused part of the old period is credited at the old price; the new plan is charged
 * for what remains of its own period. When the cycle stays the same the period (and its
 * anchor) is kept; when it changes, the new period is anchored at the month containing
 * now_ms. Amounts are rounded half up to whole cents. */
struct proration {
    int64_t credit_cents; /* >= 0: unused part of the old price */
    int64_t charge_cents; /* >= 0: the new price for the rest of the new period */
    int64_t net_cents;    /* charge - credit; negative means money back */
    int64_t new_anchor_ms;
    struct period old_period, new_period;
    double unused_fraction; /* of the old period, 0..1 */
};

/* Fills *out. Prices are in cents for one full period of their cycle (must be >= 0).
 * Returns 0, or RAGD_EINVAL for a negative price. */
int period_prorate(int64_t now_ms, int64_t old_anchor_ms, enum billing_cycle old_cycle,
                   int64_t old_price, enum billing_cycle new_cycle, int64_t new_price,
                   struct proration *out);

/* "monthly" / "yearly" and back; period_cycle_parse returns 0 or RAGD_EINVAL. */
const char *period_cycle_name(enum billing_cycle c);
int period_cycle_parse(const char *s, enum billing_cycle *out);

#endif
