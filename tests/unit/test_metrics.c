/* Metrics: the Prometheus text exposition format, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
                                  "vigil_batch_seconds_bucket{le=\"0.1\"} 1\n"
                                  "vigil_batch_seconds_bucket{le=\"1\"} 2\n"
                                  "vigil_batch_seconds_bucket{le=\"+Inf\"} 3\n"
                                  "vigil_batch_seconds_sum 7.55\n"
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

static void test_numbers_print_in_their_shortest_exact_form(void **state)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {{0.1, "0.1"},       {0.0005, "0.0005"}, {2.5, "2.5"}, {0.075, "0.075"},
                 {1e-05, "1e-05"},   {1.0 / 3, "0.3333333333333333"}, {300, "300"},
                 {123456.5, "123456.5"}, {-0.25, "-0.25"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        const char *got = vg_metrics_format(cases[i].v, buf);
        if (strcmp(got, cases[i].want))
            fail_msg("%.17g printed as \"%s\", want \"%s\"", cases[i].v, got, cases[i].want);
    }
}

static void test_init_series_exposes_every_known_label_set_at_zero(void **state)
{
    struct vg_metric *m = vg_metrics_counter("vigil_dlq_messages_total", "DLQ.", "stage");
    static const char *const stages[] = {"decode", "validate", "load"};
    vg_metric_init_series(m, stages, 3);
    struct vg_metric *two = vg_metrics_counter("vigil_runs_total", "Runs.", "command,status");
    static const char *const runs[] = {"expire", "done", "expire", "failed"};
    vg_metric_init_series(two, runs, 2);
    vg_counter_add(vg_metric_series(m, "load"), 1);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_contains(out.data, "vigil_dlq_messages_total{stage=\"decode\"} 0\n"
                              "vigil_dlq_messages_total{stage=\"validate\"} 0\n"
                              "vigil_dlq_messages_total{stage=\"load\"} 1\n");
    assert_contains(out.data, "vigil_runs_total{command=\"expire\",status=\"done\"} 0\n"
                              "vigil_runs_total{command=\"expire\",status=\"failed\"} 0\n");
    vg_buf_free(&out);
}

/* Finds "name value" at the start of a line and returns value, or -1. */
static double sample(const char *text, const char *name)
{
    char want[128];
    snprintf(want, sizeof(want), "\n%s ", name);
    const char *p = strstr(text, want);
    return p ? strtod(p + strlen(want), NULL) : -1;
}

static void test_process_metrics_describe_this_process(void **state)
{
    struct vg_buf out = {0};
    vg_metrics_render_process(&out);
    assert_non_null(out.data);
    assert_contains(out.data, "# TYPE process_cpu_seconds_total counter\n");
    double rss = sample(out.data, "process_resident_memory_bytes");
    double fds = sample(out.data, "process_open_fds");
    double start = sample(out.data, "process_start_time_seconds");
    double now = (double)time(NULL);
    if (rss < 1 << 20)
        fail_msg("process_resident_memory_bytes %.0f, want at least 1 MiB", rss);
    if (fds < 3)
        fail_msg("process_open_fds %.0f, want at least stdin, stdout and stderr", fds);
    if (start > now + 2 || start < now - 3600)
        fail_msg("process_start_time_seconds %.0f, now is %.0f", start, now);
    assert_true(sample(out.data, "process_cpu_seconds_total") >= 0);
    vg_buf_free(&out);
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
        cmocka_unit_test_teardown(test_numbers_print_in_their_shortest_exact_form, teardown),
        cmocka_unit_test_teardown(test_init_series_exposes_every_known_label_set_at_zero,
                                  teardown),
        cmocka_unit_test_teardown(test_process_metrics_describe_this_process, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
