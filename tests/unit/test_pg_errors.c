/* Database errors are counted by SQLSTATE class where they are classified
 * (common/pg.c), and the known classes exist from the first connection
 * attempt, at 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit_metrics.h"

#include "err.h"
#include "metrics.h"
#include "pg.h"

static double errors_of(const char *cls)
{
    struct vg_metric *m = vg_metrics_counter("vigil_db_errors_total", "", "class");
    return vg_series_value(vg_metric_series(m, cls));
}

static void test_a_failed_connection_counts_as_class_08_and_known_classes_start_at_0(void **state)
{
    struct vg_pg pg;
    char err[256];
    /* Nothing listens on port 1. */
    int rc = vg_pg_open(&pg, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", "test",
                        err, sizeof(err));
    assert_int_equal(rc, VG_ETRANSIENT);
    vg_pg_close(&pg);
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    static const char *const zero[] = {"22", "23", "40", "42", "53", "57", "XX"};
    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "vigil_db_errors_total{class=\"%s\"} 0\n", zero[i]);
        if (!strstr(out.data, line))
            fail_msg("missing \"%s\" in\n%s", line, out.data);
    }
    vg_buf_free(&out);
    if (errors_of("08") != 1)
        fail_msg("class 08 counted %.0f times, want 1", errors_of("08"));
}

static void test_a_lost_connection_is_transient_and_counted(void **state)
{
    assert_int_equal(vg_pg_classify(NULL, NULL), VG_ETRANSIENT);
    assert_int_equal(vg_pg_classify(NULL, NULL), VG_ETRANSIENT);
    if (errors_of("08") != 2)
        fail_msg("class 08 counted %.0f times, want 2", errors_of("08"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_a_failed_connection_counts_as_class_08_and_known_classes_start_at_0,
            metrics_teardown),
        cmocka_unit_test_teardown(test_a_lost_connection_is_transient_and_counted,
                                  metrics_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
