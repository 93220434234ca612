/* producer/limits.c: the in-flight body budget, the per-address and
 * per-session request rates and a publishable key's event rate per address,
 * with the clock passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "limits.h"
#include "util.h"

static struct vg_config *load(void)
{
    setenv("VIGIL_PRODUCER_INFLIGHT_BODY_BYTES", "10000", 1);
    setenv("VIGIL_PRODUCER_MAX_BODY_BYTES", "4096", 1);
    setenv("VIGIL_PRODUCER_RATE_PER_ADDRESS_PER_S", "10", 1);
    setenv("VIGIL_PRODUCER_BURST_PER_ADDRESS", "3", 1);
    setenv("VIGIL_PRODUCER_RATE_PER_SESSION_PER_S", "1", 1);
    setenv("VIGIL_PRODUCER_BURST_PER_SESSION", "2", 1);
    struct vg_config *cfg = NULL;
    char err[512];
    if (vg_config_load(NULL, &cfg, err, sizeof(err)))
        fail_msg("%s", err);
    return cfg;
}

/* One request charged to key. */
static int charge(struct vg_limits *l, const struct vg_config *cfg, enum vg_limit_kind kind,
                  const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    return vg_limits_charge(l, cfg, kind, NULL, key, 1, now_ms, retry_after_ms);
}

/* n events of tenant's publishable key charged to key ("tenant address"). */
static int charge_events(struct vg_limits *l, const struct vg_config *cfg,
                         const struct vg_tenant *tenant, const char *key, int64_t n,
                         int64_t now_ms, int64_t *retry_after_ms)
{
    return vg_limits_charge(l, cfg, VG_LIMIT_PUBLISHABLE, tenant, key, n, now_ms,
                            retry_after_ms);
}

static void test_the_body_budget_is_shared_and_given_back(void **state)
{
    struct vg_config *cfg = load();
    struct vg_limits *l = vg_limits_new(cfg);
    assert_int_equal(vg_limits_reserve(l, cfg, 4000), 0);
    assert_int_equal(vg_limits_reserve(l, cfg, 4000), 0);
    assert_int_equal(vg_limits_reserve(l, cfg, 4000), VG_EFULL); /* 12000 > 10000 */
    assert_int_equal(vg_limits_inflight(l), 8000);
    assert_int_equal(vg_limits_reserve(l, cfg, 2000), 0); /* exactly the budget */
    vg_limits_release(l, 4000);
    assert_int_equal(vg_limits_reserve(l, cfg, 4000), 0);
    vg_limits_release(l, 10000);
    assert_int_equal(vg_limits_inflight(l), 0);
    vg_limits_free(l);
    vg_config_free(cfg);
}

static void test_each_address_and_session_has_its_own_rate(void **state)
{
    struct vg_config *cfg = load();
    struct vg_limits *l = vg_limits_new(cfg);
    int64_t retry, now = 1000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.1", now, &retry), 0);
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.1", now, &retry), VG_EFULL);
    assert_int_equal(retry, 100); /* one request at 10 per second */
    /* another address, and the same text as a session, are not held back */
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.2", now, &retry), 0);
    assert_int_equal(charge(l, cfg, VG_LIMIT_SESSION, "10.0.0.1", now, &retry), 0);
    /* 100 ms later one more request fits */
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.1", now + 100, &retry), 0);
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.1", now + 100, &retry), VG_EFULL);
    /* a session: burst 2, then one a second */
    assert_int_equal(charge(l, cfg, VG_LIMIT_SESSION, "demo/s1", now, &retry), 0);
    assert_int_equal(charge(l, cfg, VG_LIMIT_SESSION, "demo/s1", now, &retry), 0);
    assert_int_equal(charge(l, cfg, VG_LIMIT_SESSION, "demo/s1", now, &retry), VG_EFULL);
    assert_int_equal(retry, 1000);
    vg_limits_free(l);
    vg_config_free(cfg);
}

static void test_a_publishable_key_is_charged_its_events_per_tenant_and_address(void **state)
{
    struct vg_config *cfg = load();
    struct vg_limits *l = vg_limits_new(cfg);
    struct vg_tenant shop = {.id = "shop", .pk_rate_per_s = 2, .pk_burst = 5};
    struct vg_tenant blog = {.id = "blog", .pk_rate_per_s = 1, .pk_burst = 1};
    const char *key = "shop 10.0.0.1";
    int64_t retry, now = 7000000;
    /* a batch past the burst never fits; one within it takes its events */
    assert_int_equal(charge_events(l, cfg, &shop, key, 6, now, &retry), VG_ETOOBIG);
    assert_int_equal(charge_events(l, cfg, &shop, key, 4, now, &retry), 0);
    /* two more do not fit, and take nothing: one still does */
    assert_int_equal(charge_events(l, cfg, &shop, key, 2, now, &retry), VG_EFULL);
    assert_int_equal(retry, 500); /* the second event at 2 per second */
    /* before the body (n = 0): let on while one is left, nothing taken */
    assert_int_equal(charge_events(l, cfg, &shop, key, 0, now, &retry), 0);
    assert_int_equal(charge_events(l, cfg, &shop, key, 1, now, &retry), 0);
    assert_int_equal(charge_events(l, cfg, &shop, key, 0, now, &retry), VG_EFULL);
    assert_int_equal(retry, 500);
    /* the same address under another tenant, at that tenant's rate, and the
     * address's request rate are buckets of their own */
    assert_int_equal(charge_events(l, cfg, &blog, "blog 10.0.0.1", 1, now, &retry), 0);
    assert_int_equal(charge_events(l, cfg, &blog, "blog 10.0.0.1", 1, now, &retry), VG_EFULL);
    assert_int_equal(retry, 1000);
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "10.0.0.1", now, &retry), 0);
    /* 500 ms later one more event fits */
    assert_int_equal(charge_events(l, cfg, &shop, key, 1, now + 500, &retry), 0);
    vg_limits_free(l);
    vg_config_free(cfg);
}

static void test_many_addresses_take_bounded_memory_and_keep_their_rate(void **state)
{
    /* More addresses than slots: the table never grows, and an address
     * that keeps sending is still limited after all the others came. */
    struct vg_config *cfg = load();
    struct vg_limits *l = vg_limits_new(cfg);
    int64_t retry, now = 5000000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "192.0.2.1", now, &retry), 0);
    char a[32];
    for (int i = 0; i < 50000; i++) {
        snprintf(a, sizeof(a), "198.51.%d.%d", i / 256, i % 256);
        (void)!charge(l, cfg, VG_LIMIT_ADDRESS, a, now, &retry);
    }
    assert_int_equal(charge(l, cfg, VG_LIMIT_ADDRESS, "192.0.2.1", now, &retry), VG_EFULL);
    vg_limits_free(l);
    vg_config_free(cfg);
}

static void test_connections_are_counted_per_address_across_threads(void **state)
{
    struct vg_config *cfg = load();
    struct vg_limits *l = vg_limits_new(cfg);
    const uint32_t a = 0x0100007f, b = 0x0200007f; /* 127.0.0.1, 127.0.0.2 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(vg_limits_connection_opened(l, 3, a), 0);
    assert_int_equal(vg_limits_connection_opened(l, 3, a), VG_EFULL);
    assert_int_equal(vg_limits_connection_opened(l, 3, b), 0);
    vg_limits_connection_closed(l, a); /* the refused one */
    vg_limits_connection_closed(l, a);
    assert_int_equal(vg_limits_connection_opened(l, 3, a), 0);
    assert_int_equal(vg_limits_connection_opened(l, 3, a), VG_EFULL);
    vg_limits_free(l);
    vg_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_body_budget_is_shared_and_given_back),
        cmocka_unit_test(test_each_address_and_session_has_its_own_rate),
        cmocka_unit_test(test_a_publishable_key_is_charged_its_events_per_tenant_and_address),
        cmocka_unit_test(test_many_addresses_take_bounded_memory_and_keep_their_rate),
        cmocka_unit_test(test_connections_are_counted_per_address_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
