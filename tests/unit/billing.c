/* The billing service against a real SQLite file: subscriptions created from the user's
 * plan, plan changes with proration and history, syncing, reservations that cannot be
 * overspent by 200 concurrent threads, commit/release, expiry, month rollover. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing/billing.c"
#include "store/chat.h"
#include "store_fixture.h"

static int64_t at(const char *iso)
{
    int64_t ms = 0;
    if (time_parse_iso(iso, &ms)) abort();
    return ms;
}

/* Puts the clock at iso. */
static void clock_at(const char *iso)
{
    time_set_offset_ms(0);
    time_set_offset_ms(at(iso) - time_now_ms());
}

static int setup(void **state)
{
    (void)state;
    if (fixture_db_open()) return -1;
    store_billing_register();
    store_chat_register(); /* usage_analytics, for the activity counts committed with usage */
    return store_migrate();
}

static int teardown(void **state)
{
    (void)state;
    time_set_offset_ms(0);
    return fixture_db_close();
}

static void make_user(struct user *u, const char *email, const char *plan)
{
    memset(u, 0, sizeof *u);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->hashed_password, sizeof u->hashed_password, "$2b$04$x");
    snprintf(u->subscription_plan, sizeof u->subscription_plan, "%s", plan);
    u->is_active = 1;
    assert_int_equal(store_user_create(u), 0);
}

/* The user's history, newest first. */
struct history {
    struct history_row *rows;
    int n;
    int64_t total;
};

static struct history history(const char *uid)
{
    struct history h;
    struct user u;
    assert_int_equal(store_user_get(uid, &u), 0);
    assert_int_equal(billing_history(&u, 50, 0, &h.rows, &h.n, &h.total), 0);
    store_user_clear(&u);
    return h;
}

static const char *meta_str(const struct history_row *e, const char *key)
{
    return json_string_value(json_object_get(e->metadata, key));
}

static void test_subscription_from_plan(void **state)
{
    (void)state;
    clock_at("2024-02-10T10:00:00Z");
    struct user u;
    make_user(&u, "sub@example.com", "pro");
    struct billing_subscription s, s2;
    assert_int_equal(billing_subscription(u.id, &s), 0);
    assert_string_equal(s.plan_type, "pro");
    assert_string_equal(s.status, "active");
    assert_string_equal(s.current_period_start, "2024-02-01T00:00:00.000Z");
    assert_string_equal(s.current_period_end, "2024-03-01T00:00:00.000Z");
    assert_int_equal(s.amount_cents, 2900);
    const char *id = s.id;
    assert_int_equal(billing_subscription(u.id, &s2), 0); /* the same one, not a second */
    assert_string_equal(s2.id, id);
    struct history h = history(u.id);
    assert_int_equal(h.total, 1);
    assert_string_equal(h.rows[0].event_type, "subscription_created");
    store_history_rows_free(h.rows, h.n);
    /* a second active row is refused by the schema */
    struct subscription dup = {0};
    snprintf(dup.user_id, sizeof dup.user_id, "%s", u.id);
    snprintf(dup.plan_type, sizeof dup.plan_type, "free");
    snprintf(dup.status, sizeof dup.status, "active");
    snprintf(dup.billing_cycle, sizeof dup.billing_cycle, "monthly");
    snprintf(dup.started_at, sizeof dup.started_at, "2024-02-10T10:00:00.000Z");
    snprintf(dup.period_anchor, sizeof dup.period_anchor, "2024-02-01T00:00:00.000Z");
    assert_int_equal(store_sub_insert(&dup, NULL), RAGD_EEXIST);
    store_user_clear(&u);
}

static void test_change_plan_prorates(void **state)
{
    (void)state;
    clock_at("2024-02-01T00:00:00Z");
    struct user u;
    make_user(&u, "change@example.com", "free");
    struct billing_subscription s;
    assert_int_equal(billing_subscription(u.id, &s), 0);
    clock_at("2024-02-15T00:00:00Z"); /* 15 of 29 days left */
    struct billing_change out;
    assert_int_equal(billing_change_plan(u.id, "pro", NULL, "admin-id", "admin", &out), 0);
    assert_true(out.changed);
    const struct proration *pr = &out.proration;
    assert_int_equal(pr->charge_cents, 1500);
    assert_int_equal(pr->credit_cents, 0);
    assert_int_equal(pr->net_cents, 1500);
    char plan[32];
    assert_int_equal(store_user_plan_get(u.id, plan), 0);
    assert_string_equal(plan, "pro");
    /* the same plan again changes nothing and writes no history */
    assert_int_equal(billing_change_plan(u.id, "pro", "monthly", NULL, "user", &out), 0);
    assert_false(out.changed);
    /* downgrade: credit back */
    assert_int_equal(billing_change_plan(u.id, "free", NULL, NULL, "user", &out), 0);
    assert_int_equal(out.proration.net_cents, -1500);
    struct history h = history(u.id);
    assert_int_equal(h.total, 3);
    const struct history_row *newest = &h.rows[0], *mid = &h.rows[1];
    assert_string_equal(newest->event_type, "subscription_updated");
    assert_int_equal(newest->amount_cents, -1500);
    assert_string_equal(meta_str(mid, "changed_by"), "admin-id");
    assert_string_equal(meta_str(mid, "change"), "upgrade");
    store_history_rows_free(h.rows, h.n);
    assert_int_equal(billing_change_plan(u.id, "gold", NULL, NULL, "user", &out), RAGD_EINVAL);
    assert_int_equal(billing_change_plan(u.id, "pro", "weekly", NULL, "user", &out), RAGD_EINVAL);
    assert_int_equal(billing_change_plan("00000000-0000-4000-8000-000000000000", "pro", NULL, NULL,
                                         "user", &out),
                     RAGD_ENOTFOUND);
    store_user_clear(&u);
}

static void test_plan_changed_elsewhere_is_synced(void **state)
{
    (void)state;
    clock_at("2024-03-10T00:00:00Z");
    struct user u;
    make_user(&u, "sync@example.com", "free");
    struct billing_subscription s;
    assert_int_equal(billing_subscription(u.id, &s), 0);
    assert_int_equal(store_user_plan_set(u.id, "enterprise"), 0); /* e.g. the CLI */
    assert_int_equal(billing_subscription(u.id, &s), 0);
    assert_string_equal(s.plan_type, "enterprise");
    struct history h = history(u.id);
    assert_string_equal(meta_str(&h.rows[0], "source"), "sync");
    store_history_rows_free(h.rows, h.n);
    store_user_clear(&u);
}

/* ---- reservations ---- */

static struct billing_hold *new_hold(const char *uid)
{
    return billing_hold_new(uid);
}

static int take_messages(struct billing_hold *h, int64_t limit, int bypass)
{
    struct want w = {"messages", 1, limit, 1};
    int index;
    int64_t used;
    return reserve(h, &w, 1, bypass, &index, &used);
}

static int64_t counter(const char *uid, const char *name, int64_t t)
{
    char mk[8];
    period_month_key(t, mk);
    int64_t q = 0;
    assert_int_equal(store_counter_get(uid, name, mk, &q), 0);
    return q;
}

struct race {
    const char *uid;
    atomic_int ok, refused, failed;
};

static void *racer(void *arg)
{
    struct race *rc = arg;
    struct billing_hold *h = new_hold(rc->uid);
    int r = take_messages(h, 10, 0);
    if (r == 0) {
        atomic_fetch_add(&rc->ok, 1);
        if (billing_commit(h)) atomic_fetch_add(&rc->failed, 1);
    } else if (r == RAGD_ELIMIT) {
        atomic_fetch_add(&rc->refused, 1);
    } else {
        atomic_fetch_add(&rc->failed, 1);
    }
    free(h);
    return NULL;
}

static void test_concurrent_reservations_never_overspend(void **state)
{
    (void)state;
    clock_at("2024-04-20T12:00:00Z");
    struct user u;
    make_user(&u, "race@example.com", "free");
    /* 7 of 10 used: 3 left */
    for (int i = 0; i < 7; i++) {
        struct billing_hold *h = new_hold(u.id);
        assert_int_equal(take_messages(h, 10, 0), 0);
        assert_int_equal(billing_commit(h), 0);
        free(h);
    }
    struct race rc = {u.id, 0, 0, 0};
    enum { N = 200 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, racer, &rc), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&rc.failed), 0);
    assert_int_equal(atomic_load(&rc.ok), 3);
    assert_int_equal(atomic_load(&rc.refused), N - 3);
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 10);
    int64_t sum = 0;
    assert_int_equal(store_usage_sum(u.id, "messages", "2024-04-01T00:00:00.000Z", &sum), 0);
    assert_int_equal(sum, 10);
    store_user_clear(&u);
}

static void test_release_expiry_bypass_rollover(void **state)
{
    (void)state;
    clock_at("2024-12-31T23:00:00Z");
    struct user u;
    make_user(&u, "hold@example.com", "free");
    /* two holds in flight fill a limit of 2; a third is refused */
    struct billing_hold *a = new_hold(u.id), *b = new_hold(u.id), *c = new_hold(u.id);
    assert_int_equal(take_messages(a, 2, 0), 0);
    assert_int_equal(take_messages(b, 2, 0), 0);
    assert_int_equal(take_messages(c, 2, 0), RAGD_ELIMIT);
    /* releasing one frees its unit; nothing is recorded for it */
    billing_release(a);
    assert_int_equal(take_messages(c, 2, 0), 0);
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 0);
    /* a hold abandoned by a crash stops counting when it expires */
    time_set_offset_ms(time_offset_ms() + hold_ttl_ms + 1);
    struct billing_hold *d = new_hold(u.id);
    assert_int_equal(take_messages(d, 2, 0), 0);
    /* a superuser is never refused, and the use is still recorded */
    struct billing_hold *e = new_hold(u.id);
    assert_int_equal(take_messages(e, 0, 1), 0);
    assert_int_equal(billing_commit(e), 0);
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 1);
    /* year end: the new month starts from zero */
    clock_at("2025-01-01T00:00:00Z");
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 0);
    struct billing_hold *f = new_hold(u.id), *g = new_hold(u.id);
    assert_int_equal(take_messages(f, 1, 0), 0);
    assert_int_equal(take_messages(g, 1, 0), RAGD_ELIMIT);
    json_decref(b->extra);
    free(a), free(b), free(c), free(d), free(e), free(f), free(g);
    store_user_clear(&u);
}

/* The user's usage_analytics count of resource over the last day. */
static int64_t activity(const char *uid, const char *resource)
{
    struct usage_count *items = NULL;
    size_t n = 0;
    int64_t sum = 0;
    assert_int_equal(store_usage_analytics(uid, 1, &items, &n), 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(items[i].resource_type, resource)) sum += items[i].count;
    free(items);
    return sum;
}

static void test_activity_counts_go_with_the_usage(void **state)
{
    (void)state;
    time_set_offset_ms(0);
    struct user u;
    make_user(&u, "activity@example.com", "free");
    /* committed: written with the usage */
    struct billing_hold *a = new_hold(u.id);
    assert_int_equal(take_messages(a, -1, 0), 0);
    billing_hold_count(a, "searches", 1);
    billing_hold_count(a, "tokens", 40);
    assert_int_equal(activity(u.id, "searches"), 0);
    assert_int_equal(billing_commit(a), 0);
    assert_int_equal(activity(u.id, "searches"), 1);
    assert_int_equal(activity(u.id, "tokens"), 40);
    /* after the commit (and beyond the few a hold keeps): written at once */
    billing_hold_count(a, "searches", 1);
    assert_int_equal(activity(u.id, "searches"), 2);
    struct billing_hold *b = new_hold(u.id);
    for (int i = 0; i < 6; i++)
        billing_hold_count(b, "searches", 1);
    assert_int_equal(activity(u.id, "searches"), 4); /* two went past the hold's room */
    /* released: dropped, as the request's usage is */
    billing_release(b);
    assert_int_equal(activity(u.id, "searches"), 4);
    free(a), free(b);
    store_user_clear(&u);
}

static void test_commit_reads_the_quota(void **state)
{
    (void)state;
    time_set_offset_ms(0);
    struct user u;
    make_user(&u, "commitq@example.com", "free");
    struct billing_hold *a = new_hold(u.id), *b = new_hold(u.id);
    assert_int_equal(take_messages(a, 10, 0), 0);
    assert_int_equal(take_messages(b, 10, 0), 0);
    struct billing_quota q, fresh;
    assert_int_equal(billing_commit_quota(a, &u, "messages", &q), 0);
    assert_string_equal(q.resource, "messages");
    assert_int_equal(q.current_usage, 1); /* this commit's message */
    assert_int_equal(q.reserved, 1);      /* b's, still held */
    assert_int_equal(billing_quota(&u, "messages", &fresh), 0);
    assert_memory_equal(&q, &fresh, sizeof q); /* as a read after the commit gives it */
    assert_true(q.max_allowed > 0 && q.remaining == q.max_allowed - 2 && q.has_quota);
    /* committed already: nothing more is recorded, the quota is read as billing_quota does */
    assert_int_equal(billing_commit_quota(a, &u, "messages", &q), 0);
    assert_int_equal(q.current_usage, 1);
    /* not a resource: the usage is still committed, with no figures */
    assert_int_equal(billing_commit_quota(b, &u, "nonsense", &q), 0);
    assert_string_equal(q.resource, "");
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 2);
    free(a), free(b);
    store_user_clear(&u);
}

/* The messages held for uid now, by every live hold. */
static int64_t held(const char *uid)
{
    char mk[8];
    int64_t now = time_now_ms(), q = -1;
    period_month_key(now, mk);
    assert_int_equal(store_hold_sum(uid, "messages", mk, now, &q), 0);
    return q;
}

static void test_nothing_to_check_writes_no_hold(void **state)
{
    (void)state;
    time_set_offset_ms(0);
    struct user u;
    make_user(&u, "unchecked@example.com", "free");
    /* unlimited, or a superuser's: noted in the request only, recorded at commit */
    struct billing_hold *a = new_hold(u.id), *b = new_hold(u.id), *c = new_hold(u.id);
    assert_int_equal(take_messages(a, -1, 0), 0);
    assert_int_equal(take_messages(b, 5, 1), 0);
    assert_int_equal(held(u.id), 0);
    assert_int_equal(billing_commit(a), 0);
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 1);
    billing_release(b); /* nothing to give back */
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 1);
    /* a limit to check: the hold is written, and dropped at commit */
    assert_int_equal(take_messages(c, 5, 0), 0);
    assert_int_equal(held(u.id), 1);
    assert_int_equal(billing_commit(c), 0);
    assert_int_equal(held(u.id), 0);
    assert_int_equal(counter(u.id, "messages", time_now_ms()), 2);
    free(a), free(b), free(c);
    store_user_clear(&u);
}

static void test_quotas_taken_in_one_read(void **state)
{
    (void)state;
    clock_at("2025-03-10T12:00:00Z");
    struct user u;
    make_user(&u, "taken@example.com", "free");
    int64_t now = time_now_ms();
    assert_int_equal(store_counter_add(u.id, "messages", "2025-03", 4), 0);
    assert_int_equal(store_counter_add(u.id, "daily_requests", "2025-03-10", 7), 0);
    assert_int_equal(store_counter_add(u.id, "daily_requests", "2025-03-09", 50), 0);
    assert_int_equal(store_hold_add("h1", u.id, "messages", "2025-03", 2, now + 1000), 0);
    assert_int_equal(store_hold_add("h2", u.id, "messages", "2025-03", 9, now - 1), 0); /* gone */
    assert_int_equal(store_hold_add("h1", u.id, "daily_tokens", "2025-03-10", 30, now + 1000), 0);
    const char *names[] = {"daily_tokens", "daily_requests", "messages"};
    const char *periods[] = {"2025-03-10", "2025-03-10", "2025-03"};
    int64_t used[3] = {-1, -1, -1}, held[3] = {-1, -1, -1};
    assert_int_equal(store_quotas_taken(u.id, 3, names, periods, now, used, held), 0);
    assert_int_equal(used[0], 0), assert_int_equal(held[0], 30);
    assert_int_equal(used[1], 7), assert_int_equal(held[1], 0);
    assert_int_equal(used[2], 4), assert_int_equal(held[2], 2);
    /* one or two at a time agree with store_quota_taken */
    for (int n = 1; n <= 2; n++) {
        assert_int_equal(
            store_quotas_taken(u.id, n, names + 3 - n, periods + 3 - n, now, used, held), 0);
        for (int i = 0; i < n; i++) {
            int64_t u1 = 0, h1 = 0;
            assert_int_equal(
                store_quota_taken(u.id, names[3 - n + i], periods[3 - n + i], now, &u1, &h1), 0);
            assert_int_equal(used[i], u1), assert_int_equal(held[i], h1);
        }
    }
    store_user_clear(&u);
}

/* The used count of the daily counter called name; -99 when it is not listed. */
static int64_t daily_used(const struct billing_usage *s, const char *name)
{
    for (int i = 0; i < s->ndaily; i++)
        if (!strcmp(s->daily[i].name, name)) return s->daily[i].used;
    return -99;
}

static void test_usage_summary_and_tokens(void **state)
{
    (void)state;
    clock_at("2024-02-29T12:00:00Z");
    struct user u;
    make_user(&u, "summary@example.com", "free");
    struct billing_hold *h = new_hold(u.id);
    struct want w[3] = {
        {"daily_tokens", 0, 100, 0}, {"daily_requests", 1, 20, 0}, {"messages", 1, 10, 1}};
    int index = -1;
    int64_t used = 0;
    assert_int_equal(reserve(h, w, 3, 0, &index, &used), 0);
    h->extra =
        json_pack("{s:s, s:i, s:b}", "session_id", "s1", "tokens_used", 150, "rag_enabled", 1);
    assert_int_equal(billing_commit(h), 0);
    json_decref(h->extra);
    free(h);
    /* the token allowance is now spent: a request that checks it is refused */
    h = new_hold(u.id);
    assert_int_equal(reserve(h, w, 3, 0, &index, &used), RAGD_ELIMIT);
    assert_int_equal(index, 0);
    assert_int_equal(used, 150);
    free(h);
    assert_int_equal(billing_record_usage(u.id, "storage_mb", 12, NULL), 0);
    assert_int_equal(billing_record_usage(u.id, "bananas", 1, NULL), RAGD_EINVAL);
    snprintf(u.subscription_plan, sizeof u.subscription_plan, "free");
    struct billing_usage s;
    char iso_buf[32];
    assert_int_equal(billing_usage_summary(&u, &s), 0);
    assert_int_equal(s.monthly[RES_MESSAGES].used, 1);
    assert_int_equal(s.monthly[RES_STORAGE_MB].used, 12);
    assert_int_equal(s.monthly[RES_MESSAGES].remaining, 9);
    assert_string_equal(time_iso(s.period_start_ms, iso_buf), "2024-02-01T00:00:00.000Z");
    assert_string_equal(time_iso(s.period_end_ms, iso_buf), "2024-02-29T23:59:59.999Z");
    assert_string_equal(time_iso(s.day_reset_ms, iso_buf), "2024-03-01T00:00:00.000Z");
    assert_int_equal(daily_used(&s, "daily_tokens"), 150);
    assert_int_equal(daily_used(&s, "daily_requests"), 1);
    /* the usage record carries the extra data */
    char *extra = NULL;
    assert_int_equal(db_query_text(db_conn(), &extra,
                                   "SELECT extra_data FROM usage_records WHERE user_id = ?"
                                   " AND resource_type = 'messages'",
                                   "s", u.id),
                     0);
    assert_non_null(strstr(extra, "\"session_id\":\"s1\""));
    free(extra);
    struct billing_quota q;
    assert_int_equal(billing_quota(&u, "messages", &q), 0);
    assert_true(q.has_quota);
    assert_int_equal(q.remaining, 9);
    assert_int_equal(billing_quota(&u, "messages", &q), 0); /* the cached counts agree */
    assert_true(q.has_quota);
    assert_int_equal(q.remaining, 9);
    assert_int_equal(billing_quota(&u, "nope", &q), RAGD_EINVAL);
    /* next day: daily counters start again, the month does not */
    clock_at("2024-03-01T00:00:00Z");
    assert_int_equal(billing_usage_summary(&u, &s), 0);
    assert_int_equal(s.monthly[RES_MESSAGES].used, 0);
    assert_int_equal(daily_used(&s, "daily_tokens"), 0);
    store_user_clear(&u);
}

static int64_t tokens_today(const char *uid)
{
    char dk[11];
    period_day_key(time_now_ms(), dk);
    int64_t q = 0;
    assert_int_equal(store_counter_get(uid, "daily_tokens", dk, &q), 0);
    return q;
}

/* Commits h as a generation that used `used` tokens. */
static void settle(struct billing_hold *h, int64_t used)
{
    billing_usage_extra(h, json_pack("{s:I}", "tokens_used", (json_int_t)used));
    assert_int_equal(billing_commit(h), 0);
    billing_hold_free(h);
}

static void test_tokens_held_cut_and_settled(void **state)
{
    (void)state;
    clock_at("2024-05-14T09:00:00Z");
    struct user u;
    make_user(&u, "tokens@example.com", "free"); /* daily_tokens 10000 */
    struct billing_refusal ref;
    int64_t granted = 0;
    struct billing_hold *h = new_hold(u.id);
    assert_int_equal(billing_tokens_reserve(h, &u, 0, 600, &granted, &ref), RAGD_EINVAL);
    assert_int_equal(billing_tokens_reserve(h, &u, 700, 600, &granted, &ref), RAGD_EINVAL);
    /* the whole request is held, what was used is committed, the rest goes back */
    assert_int_equal(billing_tokens_reserve(h, &u, 100, 600, &granted, &ref), 0);
    assert_int_equal(granted, 600);
    settle(h, 250);
    assert_int_equal(tokens_today(u.id), 250);
    /* 9750 left: sixteen holds of 600 in flight, the next is cut to the 150 left, then none */
    struct billing_hold *fl[18];
    for (int i = 0; i < 16; i++) {
        fl[i] = new_hold(u.id);
        assert_int_equal(billing_tokens_reserve(fl[i], &u, 100, 600, &granted, &ref), 0);
        assert_int_equal(granted, 600);
    }
    fl[16] = new_hold(u.id);
    assert_int_equal(billing_tokens_reserve(fl[16], &u, 100, 600, &granted, &ref), 0);
    assert_int_equal(granted, 150);
    fl[17] = new_hold(u.id);
    assert_int_equal(billing_tokens_reserve(fl[17], &u, 100, 600, &granted, &ref), RAGD_ELIMIT);
    assert_string_equal(ref.name, "daily_tokens");
    assert_int_equal(ref.monthly, 0);
    assert_int_equal(ref.used, 10000);
    assert_int_equal(ref.limit, 10000);
    /* released holds give everything back; a commit without tokens_used counts the hold */
    for (int i = 0; i < 16; i++)
        billing_hold_free(fl[i]);
    assert_int_equal(billing_commit(fl[16]), 0);
    billing_hold_free(fl[16]);
    billing_hold_free(fl[17]);
    assert_int_equal(tokens_today(u.id), 400);
    /* a superuser is held the whole request whatever is left, and it is recorded */
    h = new_hold(u.id);
    u.is_superuser = 1;
    assert_int_equal(billing_tokens_reserve(h, &u, 100, 20000, &granted, &ref), 0);
    assert_int_equal(granted, 20000);
    settle(h, 12000);
    u.is_superuser = 0;
    assert_int_equal(tokens_today(u.id), 12400);
    h = new_hold(u.id);
    assert_int_equal(billing_tokens_reserve(h, &u, 1, 1, &granted, &ref), RAGD_ELIMIT);
    billing_hold_free(h);
    store_user_clear(&u);
}

struct token_race {
    const struct user *u;
    atomic_long spent;
    atomic_int ok, refused, failed;
};

static void *token_racer(void *arg)
{
    struct token_race *tr = arg;
    struct billing_hold *h = new_hold(tr->u->id);
    struct billing_refusal ref;
    int64_t granted = 0;
    int r = billing_tokens_reserve(h, tr->u, 200, 900, &granted, &ref);
    if (r == 0) {
        /* the worst case: the answer uses all it was allowed */
        billing_usage_extra(h, json_pack("{s:I}", "tokens_used", (json_int_t)granted));
        if (billing_commit(h)) atomic_fetch_add(&tr->failed, 1);
        atomic_fetch_add(&tr->ok, 1);
        atomic_fetch_add(&tr->spent, (long)granted);
    } else if (r == RAGD_ELIMIT) {
        atomic_fetch_add(&tr->refused, 1);
    } else {
        atomic_fetch_add(&tr->failed, 1);
    }
    billing_hold_free(h);
    return NULL;
}

static void test_concurrent_token_holds_never_overspend(void **state)
{
    (void)state;
    clock_at("2024-05-15T09:00:00Z");
    struct user u;
    make_user(&u, "token-race@example.com", "free");
    struct token_race tr = {.u = &u};
    enum { N = 64 };
    pthread_t t[N];
    for (int i = 0; i < N; i++)
        assert_int_equal(pthread_create(&t[i], NULL, token_racer, &tr), 0);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&tr.failed), 0);
    assert_true(atomic_load(&tr.refused) > 0);
    assert_int_equal(atomic_load(&tr.ok) + atomic_load(&tr.refused), N);
    assert_int_equal(tokens_today(u.id), atomic_load(&tr.spent));
    assert_true(atomic_load(&tr.spent) <= 10000);
    assert_true(atomic_load(&tr.spent) > 10000 - 200); /* and nothing usable was left over */
    store_user_clear(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscription_from_plan),
        cmocka_unit_test(test_change_plan_prorates),
        cmocka_unit_test(test_plan_changed_elsewhere_is_synced),
        cmocka_unit_test(test_concurrent_reservations_never_overspend),
        cmocka_unit_test(test_release_expiry_bypass_rollover),
        cmocka_unit_test(test_quotas_taken_in_one_read),
        cmocka_unit_test(test_commit_reads_the_quota),
        cmocka_unit_test(test_nothing_to_check_writes_no_hold),
        cmocka_unit_test(test_activity_counts_go_with_the_usage),
        cmocka_unit_test(test_usage_summary_and_tokens),
        cmocka_unit_test(test_tokens_held_cut_and_settled),
        cmocka_unit_test(test_concurrent_token_holds_never_overspend),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
