/* The worker's metrics (worker/stats.c): every label value known in advance
 * is exposed at 0 from start-up, so increase() sees the first dead letter,
 * forged command or failed run; and the end-to-end buckets reach past the
 * 60 s of VigilEndToEndLatencyHigh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit_metrics.h"

#include "command.h"
#include "metrics.h"
#include "stats.h"

static void test_known_label_sets_start_at_zero(void **state)
{
    vg_worker_stats_init(NULL);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    static const char *const stages[] = {"decode", "validate", "database", "command"};
    char line[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "vigil_dlq_messages_total{stage=\"%s\"} 0\n", stages[i]);
        assert_exposes(out.data, line);
    }
    assert_exposes(out.data,
                   "vigil_worker_commands_refused_total{reason=\"unsigned_or_forged\"} 0\n");
    const struct vg_command_def *def;
    for (size_t i = 0; (def = vg_command_at(i)); i++) {
        snprintf(line, sizeof(line),
                 "vigil_worker_commands_total{command=\"%s\",status=\"failed\"} 0\n", def->name);
        assert_exposes(out.data, line);
    }
    assert_exposes(out.data, "vigil_worker_produce_failures_total{topic=\"vigil.dlq\"} 0\n");
    assert_exposes(out.data, "vigil_worker_produce_failures_total{topic=\"vigil.summaries\"} 0\n");
    assert_exposes(out.data, "vigil_worker_rebalances_total{type=\"assign\"} 0\n");
    vg_buf_free(&out);
}

static void test_e2e_buckets_go_past_the_alert_threshold(void **state)
{
    vg_worker_stats_init(NULL);
    vg_histogram_observe(vg_worker_stats.e2e_seconds, 90);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_exposes(out.data, "vigil_worker_e2e_seconds_bucket{le=\"60\"} 0\n");
    assert_exposes(out.data, "vigil_worker_e2e_seconds_bucket{le=\"120\"} 1\n");
    assert_exposes(out.data, "vigil_worker_e2e_seconds_bucket{le=\"0.075\"} 0\n");
    vg_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_known_label_sets_start_at_zero, metrics_teardown),
        cmocka_unit_test_teardown(test_e2e_buckets_go_past_the_alert_threshold, metrics_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
