/* stats.h (store) - aggregate reads for the admin dashboard: activity per day, users per
 * plan, each user's monthly usage counter, the use of each feature over a window, and the
 * plan changes behind the free-to-paid conversion. Read-only; nothing here writes.
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

/* What happened since a day (the dashboard's window), platform-wide. */
struct stats_window {
    int64_t users;        /* accounts now */
    int64_t active_users; /* accounts that sent a chat message, searched or called /v1 */
    int64_t chat;         /* chat messages answered (usage_analytics "messages") */
    int64_t searches;     /* searches (usage_analytics "searches") */
    int64_t tokens;       /* chat answers' tokens (usage_analytics "tokens") */
    int64_t documents;    /* documents uploaded */
    int64_t widget;       /* widget answers (org_usage "widget_messages") */
};
/* The window's figures from since_date (YYYY-MM-DD) and since (the same instant as ISO-8601
 * text, for the tables that keep timestamps): *out. */
int store_stats_window(const char *since_date, const char *since, struct stats_window *out);

/* One metered /v1 request (usage_records with extra_data naming a /v1/ endpoint). */
typedef int (*stats_v1_fn)(void *ud, const char *user_id, const char *extra_json);
/* Every /v1 request recorded since (ISO-8601): fn gets the user and the record's extra_data
 * (JSON text, valid during the call); a non-zero return stops the walk and is returned. */
int store_stats_v1(const char *since, stats_v1_fn fn, void *ud);

/* One subscription change from the billing history. */
typedef int (*stats_change_fn)(void *ud, const char *user_id, const char *user_created_at,
                               const char *user_plan, const char *metadata_json);
/* Every "subscription_updated" event since (ISO-8601), by user then in order, with when the
 * user was created and their plan now; the texts are valid during the call. A non-zero
 * return stops the walk. */
int store_stats_plan_changes(const char *since, stats_change_fn fn, void *ud);
/* Accounts created before `before` (ISO-8601) whose plan is now plan: *n. */
int store_stats_users_on(const char *plan, const char *before, int64_t *n);

#endif
