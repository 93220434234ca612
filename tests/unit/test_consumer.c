/* The worker's consumer (worker/consumer.c): it assigns whole assignments
 * with rd_kafka_assign, so a configuration that asks for incremental
 * (cooperative) rebalancing is refused at start rather than breaking at the
 * first rebalance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "consumer.h"
#include "log.h"
#include "util.h"

static void test_incremental_rebalancing_is_refused_at_start(void **state)
{
    static const struct {
        const char *props;
        int rc;
    } cases[] = {
        {"partition.assignment.strategy=cooperative-sticky", VG_ECONFIG},
        {"partition.assignment.strategy=range,cooperative-sticky", VG_ECONFIG},
        {"group.protocol=consumer", VG_ECONFIG},
        {"partition.assignment.strategy=roundrobin", 0},
        {"partition.assignment.strategy=range", 0},
        {"", 0},
    };
    static volatile sig_atomic_t stop = 0;
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        setenv("VIGIL_KAFKA_BROKERS", "127.0.0.1:1", 1);
        setenv("VIGIL_KAFKA_PROPERTIES", cases[i].props, 1);
        struct vg_config *cfg = NULL;
        char err[512] = "";
        assert_int_equal(vg_config_load(NULL, &cfg, err, sizeof(err)), 0);
        struct vg_consumer c;
        struct vg_pg pg = {0};
        const char *topics[] = {"vigil.events"};
        struct vg_consumer_opts o = {.group = "test", .client_id = "test", .topics = topics,
                                     .ntopics = 1};
        int rc = vg_consumer_open(&c, cfg, &o, &pg, &stop, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d (%s), want %d", cases[i].props, rc, err, cases[i].rc);
        if (rc && !strstr(err, "incremental"))
            fail_msg("%s: the refusal does not say why: %s", cases[i].props, err);
        if (rc == 0)
            vg_consumer_close(&c);
        vg_config_free(cfg);
    }
}

int main(void)
{
    vg_log_level = VG_LOG_ERROR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental_rebalancing_is_refused_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
