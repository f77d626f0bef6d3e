/* Support-desk analytics without a database: ranges of days, the organization's
 * low-confidence threshold, the word sets questions are grouped by, the similarity grouping,
 * and nearest-rank percentiles over a latency histogram. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "support/analytics.c"

static int64_t ms_of(const char *day)
{
    int64_t d = 0;
    assert_int_equal(day_parse(day, &d), 0);
    return d * 86400000 + 3600000; /* 01:00 that day */
}

static void ranges(void **state)
{
    (void)state;
    struct analytics_range r;
    struct analytics_refusal ref;
    assert_int_equal(analytics_range_parse(NULL, NULL, ms_of("2026-03-10"), &r, &ref), 0);
    assert_string_equal(r.to, "2026-03-10");
    assert_string_equal(r.from, "2026-02-09");
    assert_string_equal(r.end, "2026-03-11");
    assert_int_equal(r.days, 30);
    assert_int_equal(analytics_range_parse("2026-12-31", "2026-12-31", 0, &r, &ref), 0);
    assert_string_equal(r.end, "2027-01-01");
    assert_int_equal(r.days, 1);
    assert_int_equal(analytics_range_parse("2024-02-29", "", ms_of("2024-03-01"), &r, &ref), 0);
    assert_int_equal(r.days, 2);
    assert_int_equal(analytics_range_parse("2025-01-01", "2026-01-01", 0, &r, &ref), 0);
    assert_int_equal(r.days, 366);

    static const struct {
        const char *from, *to, *code;
    } bad[] = {
        {"2026-02-29", "2026-03-01", "INVALID_DATE"},
        {"2026-1-05", "2026-01-07", "INVALID_DATE"},
        {"2026-01-05", "2026-01-07x", "INVALID_DATE"},
        {"2026-13-01", NULL, "INVALID_DATE"},
        {"1969-12-31", "1970-01-01", "INVALID_DATE"},
        {"2026-04-31", NULL, "INVALID_DATE"},
        {"2026-01-08", "2026-01-07", "INVALID_RANGE"},
        {"2025-01-01", "2026-01-02", "RANGE_TOO_LONG"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ref.code = NULL;
        assert_int_equal(
            analytics_range_parse(bad[i].from, bad[i].to, ms_of("2026-03-10"), &r, &ref),
            RAGD_EINVAL);
        assert_string_equal(ref.code, bad[i].code);
    }
}

static void threshold(void **state)
{
    (void)state;
    struct store_org o = {0};
    assert_true(analytics_threshold(&o) == ANALYTICS_LOW_CONFIDENCE);
    o.settings = "{\"escalation\": {\"low_confidence\": {\"threshold\": 0.25}}}";
    assert_true(analytics_threshold(&o) == 0.25);
    o.settings =
        "{\"escalation\": {\"low_confidence\": {\"threshold\": 3}}}"; /* out of 0..1: the default */
    assert_true(analytics_threshold(&o) == ANALYTICS_LOW_CONFIDENCE);
    o.settings = "not json";
    assert_true(analytics_threshold(&o) == ANALYTICS_LOW_CONFIDENCE);
}

static void word_sets(void **state)
{
    (void)state;
    char key[256];
    uint64_t h[MAX_WORDS];
    assert_int_equal(word_set("How do I reset my password?", key, sizeof key, h), 2);
    assert_string_equal(key, "password reset");
    assert_int_equal(word_set("RESET, reset... my Password!!", key, sizeof key, h), 2);
    assert_string_equal(key, "password reset");
    assert_int_equal(word_set("Hi, can you help me?", key, sizeof key, h), 5); /* all stop */
    assert_string_equal(key, "can help hi me you");
    assert_int_equal(word_set("?! -- :)", key, sizeof key, h), 0);
    assert_int_equal(word_set("Error 404 on página", key, sizeof key, h), 3);
    assert_string_equal(key, "404 error página");
    assert_true(h[0] < h[1] && h[1] < h[2]);
    char *c = cut("añb€c", 3);
    assert_string_equal(c, "añb");
    free(c);
}

static void grouping(void **state)
{
    (void)state;
    struct grouper g = {0};
    grouper_add(&g, "How do I reset my password?", 3);
    grouper_add(&g, "I want a refund for my order!", 2);
    grouper_add(&g, "reset my account password please", 1); /* Jaccard 2/3 with the first */
    grouper_add(&g, "Where is the warranty policy?", 1);
    grouper_add(&g, "hello", 1);
    grouper_add(&g, "password reset", 1); /* the same word set as the first */
    assert_null(grouper_add(&g, "???", 5));
    assert_int_equal(g.n, 5);
    assert_int_equal(g.messages, 9);
    struct analytics_cluster *cl;
    size_t n;
    cluster(&g, 3, &cl, &n);
    assert_int_equal(n, 3);
    assert_string_equal(cl[0].example, "How do I reset my password?");
    assert_int_equal(cl[0].count, 5);
    assert_string_equal(cl[1].example, "I want a refund for my order!");
    assert_int_equal(cl[1].count, 2);
    assert_string_equal(cl[2].example, "Where is the warranty policy?"); /* before "hello" */
    for (size_t i = 0; i < n; i++)
        free(cl[i].example);
    free(cl);
    grouper_free(&g);

    /* Only the ANALYTICS_CANDIDATES largest groups are clustered. */
    memset(&g, 0, sizeof g);
    char text[64];
    for (int i = 0; i < ANALYTICS_CANDIDATES + 50; i++) {
        snprintf(text, sizeof text, "question number%d", i);
        grouper_add(&g, text, i < ANALYTICS_CANDIDATES ? 2 : 1);
    }
    cluster(&g, 2000, &cl, &n);
    assert_int_equal(n, ANALYTICS_CANDIDATES);
    assert_int_equal(cl[n - 1].count, 2);
    for (size_t i = 0; i < n; i++)
        free(cl[i].example);
    free(cl);
    grouper_free(&g);
}

static void percentiles(void **state)
{
    (void)state;
    struct walk w = {0};
    on_latency(&w, 100, 1);
    on_latency(&w, 200, 1);
    on_latency(&w, 300, 1);
    on_latency(&w, 400, 1);
    on_latency(&w, 500, 1);
    on_latency(&w, 600, 1);
    assert_int_equal(percentile(&w, 6, 50), 300);
    assert_int_equal(percentile(&w, 6, 95), 600);
    free(w.lat_value);
    free(w.lat_count);
    memset(&w, 0, sizeof w);
    on_latency(&w, 10, 95); /* 95 of 100 at 10 ms, 5 at 900 */
    on_latency(&w, 900, 5);
    assert_int_equal(percentile(&w, 100, 50), 10);
    assert_int_equal(percentile(&w, 100, 95), 10);
    assert_int_equal(percentile(&w, 100, 96), 900);
    free(w.lat_value);
    free(w.lat_count);
}

/* Groups read back from day summaries (key and example) merge like the messages themselves. */
static void groups_by_key(void **state)
{
    (void)state;
    struct grouper day = {0}, all = {0}, merged = {0};
    const char *texts[] = {"How do I reset my password?", "password reset", "hello",
                           "I want a refund for my order!", "reset my account password please"};
    for (size_t i = 0; i < 5; i++) {
        grouper_add(&day, texts[i], (int64_t)i + 1);
        grouper_add(&all, texts[i], (int64_t)i + 1);
    }
    for (size_t i = 0; i < day.n; i++)
        assert_non_null(grouper_add_key(&merged, day.g[i].key, day.g[i].example, day.g[i].count));
    assert_int_equal(merged.n, all.n);
    assert_int_equal(merged.messages, all.messages);
    for (size_t i = 0; i < all.n; i++) {
        assert_string_equal(merged.g[i].key, all.g[i].key);
        assert_string_equal(merged.g[i].example, all.g[i].example);
        assert_int_equal(merged.g[i].count, all.g[i].count);
        assert_int_equal(merged.g[i].nwords, all.g[i].nwords);
        assert_memory_equal(merged.g[i].words, all.g[i].words,
                            sizeof *all.g[i].words * (size_t)all.g[i].nwords);
    }
    assert_null(grouper_add_key(&merged, "", "", 1));
    grouper_free(&day);
    grouper_free(&all);
    grouper_free(&merged);
}

/* Histograms of several days merge into one ascending histogram. */
static void latencies_merge(void **state)
{
    (void)state;
    struct walk w = {0};
    on_latency(&w, 300, 2); /* day 1 */
    on_latency(&w, 500, 1);
    on_latency(&w, 100, 1); /* day 2 */
    on_latency(&w, 300, 1);
    assert_int_equal(latency_sort(&w), 5);
    assert_int_equal(w.nlat, 3);
    assert_int_equal(w.lat_value[0], 100);
    assert_int_equal(w.lat_count[1], 3);
    assert_int_equal(percentile(&w, 5, 50), 300);
    assert_int_equal(percentile(&w, 5, 95), 500);
    free(w.lat_value);
    free(w.lat_count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ranges),          cmocka_unit_test(threshold),
        cmocka_unit_test(word_sets),       cmocka_unit_test(grouping),
        cmocka_unit_test(percentiles),     cmocka_unit_test(groups_by_key),
        cmocka_unit_test(latencies_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
