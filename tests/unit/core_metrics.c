/* core/metrics: exposition text that stays valid whatever callers pass - label escaping,
 * malformed labels, NaN and infinities, help text, histograms with and without labels, type
 * clashes, the series bound - and the process figures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "core/util.h"
#include "core/version.h"

/* The rendered text; caller frees. */
static char *render(void)
{
    struct sbuf b;
    sb_init(&b);
    metrics_render(&b);
    return sb_take(&b);
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n])) return 1;
    return 0;
}

static void test_label_value_escaping(void **state)
{
    (void)state;
    char out[64];
    metrics_label_value(out, sizeof out, "a\"b\\c\nd");
    assert_string_equal(out, "a\\\"b\\\\c\\nd");
    metrics_label_value(out, sizeof out, NULL);
    assert_string_equal(out, "");
    /* cut at a character boundary: "é" is two bytes, never half of one */
    metrics_label_value(out, 6, "\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_string_equal(out, "\xc3\xa9\xc3\xa9");
    /* an escape is not cut in two */
    metrics_label_value(out, 4, "ab\"");
    assert_string_equal(out, "ab");
}

static void test_malformed_labels_are_replaced(void **state)
{
    (void)state;
    metrics_count_labeled("t_bad_total", "x=\"unterminated", "bad labels", 1);
    metrics_count_labeled("t_bad_total", "le=\"1\"", NULL, 1);
    metrics_count_labeled("t_bad_total", "x=\"a\",", NULL, 1);
    metrics_count_labeled("t_bad_total", "x=\"a\\q\"", NULL, 1);
    metrics_count_labeled("t_bad_total", "ok=\"a \\\"quoted\\\" \\\\ one\"", NULL, 1);
    char *t = render();
    assert_true(has_line(t, "t_bad_total{labels_invalid=\"true\"} 4"));
    assert_true(has_line(t, "t_bad_total{ok=\"a \\\"quoted\\\" \\\\ one\"} 1"));
    free(t);
}

static void test_values_and_help(void **state)
{
    (void)state;
    metrics_gauge("t_nan", "line one\nline two \\ end", NAN);
    metrics_gauge("t_inf", "infinite", INFINITY);
    metrics_gauge("t_big", "big", 12345678901.0);
    metrics_count("t_count_total", "a counter", 2);
    metrics_count("t_count_total", NULL, -5);  /* a counter never goes down */
    metrics_gauge("t_count_total", NULL, 100); /* another type on the name: ignored */
    char *t = render();
    assert_true(has_line(t, "# HELP t_nan line one\\nline two \\\\ end"));
    assert_true(has_line(t, "t_nan NaN"));
    assert_true(has_line(t, "t_inf +Inf"));
    assert_true(has_line(t, "t_big 12345678901"));
    assert_true(has_line(t, "# TYPE t_count_total counter"));
    assert_true(has_line(t, "t_count_total 2"));
    free(t);
}

static void test_histograms(void **state)
{
    (void)state;
    metrics_observe_scaled("t_slow_seconds", NULL, "slow", 0.2, METRICS_SLOW);
    metrics_observe_scaled("t_slow_seconds", "", NULL, 400, METRICS_SLOW);
    metrics_observe("t_fast_seconds", "outcome=\"success\"", "fast", 0.003);
    metrics_gauge("t_fast_seconds", NULL, 1); /* ignored */
    char *t = render();
    assert_true(has_line(t, "# TYPE t_slow_seconds histogram"));
    assert_true(has_line(t, "t_slow_seconds_bucket{le=\"0.1\"} 0"));
    assert_true(has_line(t, "t_slow_seconds_bucket{le=\"0.25\"} 1"));
    assert_true(has_line(t, "t_slow_seconds_bucket{le=\"300\"} 1"));
    assert_true(has_line(t, "t_slow_seconds_bucket{le=\"600\"} 2"));
    assert_true(has_line(t, "t_slow_seconds_bucket{le=\"+Inf\"} 2"));
    assert_true(has_line(t, "t_slow_seconds_sum 400.2"));
    assert_true(has_line(t, "t_slow_seconds_count 2"));
    assert_true(has_line(t, "t_fast_seconds_bucket{outcome=\"success\",le=\"0.0025\"} 0"));
    assert_true(has_line(t, "t_fast_seconds_bucket{outcome=\"success\",le=\"0.005\"} 1"));
    assert_true(has_line(t, "t_fast_seconds_count{outcome=\"success\"} 1"));
    assert_null(strstr(t, "t_fast_seconds 1"));
    assert_null(strstr(t, "{,"));
    free(t);
}

static void test_http_requests_and_bounds(void **state)
{
    (void)state;
    metrics_request("BREW", "/pots/{id}", 418, 2000000);
    metrics_request("GET", "/a\"b", 200, 1000);
    metrics_reject("odd\"reason");
    char label[64];
    for (int i = 0; i < 2600; i++) {
        snprintf(label, sizeof label, "n=\"%d\"", i);
        metrics_gauge_labeled("t_many", label, "many", i);
    }
    metrics_request("GET", "/after", 200, 1000); /* HTTP series have their own bound */
    char *t = render();
    assert_true(has_line(
        t, "ragd_http_requests_total{method=\"other\",route=\"/pots/{id}\",status=\"418\"} 1"));
    assert_true(
        has_line(t, "ragd_http_requests_total{method=\"GET\",route=\"/a\\\"b\",status=\"200\"} 1"));
    assert_true(has_line(t, "ragd_rejections_total{reason=\"odd\\\"reason\"} 1"));
    assert_true(has_line(t, "t_many{overflow=\"true\"} 2599"));
    assert_false(has_line(t, "t_many{n=\"2599\"} 2599"));
    assert_true(
        has_line(t, "ragd_http_requests_total{method=\"GET\",route=\"/after\",status=\"200\"} 1"));
    free(t);
}

static void test_process_and_build_info(void **state)
{
    (void)state;
    char *t = render();
    const char *names[] = {"process_cpu_seconds_total ",
                           "process_resident_memory_bytes ",
                           "process_virtual_memory_bytes ",
                           "process_open_fds ",
                           "process_max_fds ",
                           "process_start_time_seconds "};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = strstr(t, names[i]);
        while (p && p != t && p[-1] != '\n')
            p = strstr(p + 1, names[i]);
        assert_non_null(p);
        assert_true(strtod(p + strlen(names[i]), NULL) > 0);
    }
    char line[64];
    snprintf(line, sizeof line, "ragd_build_info{version=\"%s\"} 1", RAGD_VERSION);
    assert_true(has_line(t, line));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_value_escaping),
        cmocka_unit_test(test_malformed_labels_are_replaced),
        cmocka_unit_test(test_values_and_help),
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_http_requests_and_bounds),
        cmocka_unit_test(test_process_and_build_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
