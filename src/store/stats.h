/* stats.h (store) - aggregate reads for the admin dashboard: activity per day, users per
 * plan, and each user's monthly usage counter. Read-only; nothing here writes.
 *
 * Functions use the calling thread's connection and return 0 or a negative RAGD_E* code. */
#ifndef RAGD_STORE_STATS_H
#define RAGD_STORE_STATS_H

#include <stddef.h>
#include <stdint.h>

/* One day of usage_analytics: the sum of resource over every user and hour. */
struct stats_day {
    char date[11]; /* YYYY-MM-DD */
    int64_t count;
};
/* The days from since_date (YYYY-MM-DD, inclusive) that have any count of resource, oldest
 * first: *out (caller frees) and *n. */
int store_stats_daily(const char *resource, const char *since_date, struct stats_day **out,
                      size_t *n);

/* Users of one plan. */
struct stats_plan {
    char plan[48];
    int64_t users, active_users;
};
/* Every plan that has users, by name: *out (caller frees) and *n. */
int store_stats_plans(struct stats_plan **out, size_t *n);

/* One user's usage counter for a period. */
struct stats_usage {
    char user_id[37];
    char *email; /* owned */
    char plan[48];
    int64_t quantity;
};
void store_stats_usage_free(struct stats_usage *u, size_t n);
/* The counters name (a resource such as "messages") of period ("YYYY-MM" for a month) with a
 * quantity above 0, largest first, at most limit of them (limit < 0: all), with the user's
 * e-mail and plan: *out (free with store_stats_usage_free) and *n. */
int store_stats_usage(const char *name, const char *period, int64_t limit, struct stats_usage **out,
                      size_t *n);

#endif
