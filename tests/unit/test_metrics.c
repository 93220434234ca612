/* Metrics: the Prometheus text exposition format, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

static int teardown(void **state)
{
    (void)state;
    vg_metrics_reset();
    return 0;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("expected\n---\n%s---\nin\n---\n%s---", needle, hay);
}

static void test_counter_with_labels_renders_help_type_and_series(void **state)
{
    struct vg_metric *m = vg_metrics_counter("vigil_http_requests_total", "HTTP requests.",
                                             "route,status");
    vg_counter_add(vg_metric_series(m, "/v1/events", "202"), 3);
    vg_counter_add(vg_metric_series(m, "/v1/events", "202"), 2);
    vg_counter_add(vg_metric_series(m, "/v1/events", "400"), 1);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_string_equal(out.data,
                        "# HELP vigil_http_requests_total HTTP requests.\n"
                        "# TYPE vigil_http_requests_total counter\n"
                        "vigil_http_requests_total{route=\"/v1/events\",status=\"202\"} 5\n"
                        "vigil_http_requests_total{route=\"/v1/events\",status=\"400\"} 1\n");
    vg_buf_free(&out);
}

static void test_label_values_are_escaped(void **state)
{
    struct vg_metric *m = vg_metrics_gauge("vigil_g", "A gauge.", "v");
    vg_gauge_set(vg_metric_series(m, "a\"b\\c\nd"), 1.5);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_contains(out.data, "vigil_g{v=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    vg_buf_free(&out);
}

static void test_histogram_buckets_are_cumulative_with_inf_sum_and_count(void **state)
{
    static const double b[] = {0.1, 1};
    struct vg_metric *m = vg_metrics_histogram("vigil_batch_seconds", "Batch time.", NULL, b, 2);
    struct vg_series *s = vg_metric_plain(m);
    vg_histogram_observe(s, 0.05);
    vg_histogram_observe(s, 0.5);
    vg_histogram_observe(s, 7);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_string_equal(out.data, "# HELP vigil_batch_seconds Batch time.\n"
                                  "# TYPE vigil_batch_seconds histogram\n"
                                  "vigil_batch_seconds_bucket{le=\"0.10000000000000001\"} 1\n"
                                  "vigil_batch_seconds_bucket{le=\"1\"} 2\n"
                                  "vigil_batch_seconds_bucket{le=\"+Inf\"} 3\n"
                                  "vigil_batch_seconds_sum 7.5499999999999998\n"
                                  "vigil_batch_seconds_count 3\n");
    vg_buf_free(&out);
}

static void test_gauge_add_and_value(void **state)
{
    struct vg_series *s = vg_metric_plain(vg_metrics_gauge("vigil_q", "Queue.", NULL));
    vg_gauge_set(s, 10);
    vg_gauge_add(s, -3);
    assert_true(vg_series_value(s) == 7.0);
}

static void test_series_count_is_bounded(void **state)
{
    struct vg_metric *m = vg_metrics_counter("vigil_c", "C.", "k");
    char v[16];
    for (int i = 0; i < VG_METRIC_MAX_SERIES + 50; i++) {
        snprintf(v, sizeof(v), "%d", i);
        vg_counter_add(vg_metric_series(m, v), 1);
    }
    assert_true(vg_series_value(vg_metric_series(m, "no-room")) == 50.0);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_contains(out.data, "vigil_c{k=\"other\"} 50\n");
    vg_buf_free(&out);
}

static void test_redeclaring_returns_the_same_family(void **state)
{
    struct vg_metric *a = vg_metrics_counter("vigil_x", "X.", NULL);
    struct vg_metric *b = vg_metrics_counter("vigil_x", "X.", NULL);
    assert_ptr_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_with_labels_renders_help_type_and_series,
                                  teardown),
        cmocka_unit_test_teardown(test_label_values_are_escaped, teardown),
        cmocka_unit_test_teardown(test_histogram_buckets_are_cumulative_with_inf_sum_and_count,
                                  teardown),
        cmocka_unit_test_teardown(test_gauge_add_and_value, teardown),
        cmocka_unit_test_teardown(test_series_count_is_bounded, teardown),
        cmocka_unit_test_teardown(test_redeclaring_returns_the_same_family, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
