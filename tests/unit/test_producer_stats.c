/* The producer's refusals per tenant (producer/stats.c): every configured
 * tenant's 401, 413 and 429 series exist at 0, a refusal before any tenant
 * is known counts for "unknown", and other statuses are not counted here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "unit_metrics.h"

#include "config.h"
#include "metrics.h"
#include "stats.h"

static void test_refusals_per_tenant(void **state)
{
    struct vg_config *cfg;
    char err[512];
    if (vg_config_load(VG_SOURCE_DIR "/config/vigil.conf", &cfg, err, sizeof(err)))
        fail_msg("config: %s", err);
    vg_stats_init();
    vg_stats_tenants(cfg);
    vg_stats_refused(NULL, 401);
    vg_stats_refused("acme", 429);
    vg_stats_refused("acme", 429);
    vg_stats_refused("acme", 400); /* not a tenant refusal */
    struct vg_buf out = {0};
    vg_metrics_render(&out);
    assert_exposes(out.data, "vigil_requests_refused_total{tenant=\"demo\",status=\"413\"} 0\n");
    assert_exposes(out.data, "vigil_requests_refused_total{tenant=\"acme\",status=\"429\"} 2\n");
    assert_exposes(out.data, "vigil_requests_refused_total{tenant=\"unknown\",status=\"401\"} 1\n");
    assert_exposes(out.data, "vigil_events_accepted_total{tenant=\"demo\",topic=\"events\"} 0\n");
    assert_exposes(out.data, "vigil_events_rejected_total{reason=\"rate_limited\"} 0\n");
    assert_null(strstr(out.data, "status=\"400\""));
    vg_buf_free(&out);
    vg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_refusals_per_tenant, metrics_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
