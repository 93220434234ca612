/* vigil-query's cache: the staleness bound, the bounded table, Redis down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "qstats.h"
#include "util.h"

#define NEVER INT64_MAX /* no promise that nothing changed */

static int setup(void **state)
{
    vg_qstats_init();
    return 0;
}

static int teardown(void **state)
{
    vg_metrics_reset();
    return 0;
}

static void test_cache_serves_within_the_bound_only(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_non_null(c);
    assert_true(vg_cache_enabled(c));
    vg_cache_put(c, "k", "fresh", 5, vg_now_ms() - 100);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 1);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "fresh", 5);
    vg_buf_reset(&out);
    /* read from PostgreSQL 600 ms ago: past the bound, never served */
    vg_cache_put(c, "old", "stale", 5, vg_now_ms() - 600);
    assert_int_equal(vg_cache_get(c, "old", &out, &at, NEVER), 0);
    assert_int_equal(vg_cache_get(c, "missing", &out, &at, NEVER), 0);
    /* an older read never replaces a newer one */
    vg_cache_put(c, "k", "older", 5, vg_now_ms() - 300);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 1);
    assert_memory_equal(out.data, "fresh", 5);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_serves_an_unchanged_old_read(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at, read = vg_now_ms() - 5000;
    vg_cache_put(c, "k", "old", 3, read);
    /* older than the bound, but nothing changed since it was read */
    assert_int_equal(vg_cache_get(c, "k", &out, &at, read - 1), 1);
    assert_true(at == read);
    /* a change after the read, or no promise at all: not served */
    assert_int_equal(vg_cache_get(c, "k", &out, &at, read + 1), 0);
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_is_bounded(void **state)
{
    char err[128], key[16];
    struct vg_cache *c = vg_cache_new(4, 500, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        vg_cache_put(c, key, "v", 1, vg_now_ms());
    }
    int hits = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        hits += vg_cache_get(c, key, &out, &at, NEVER);
    }
    assert_in_range(hits, 1, 4);
    vg_buf_free(&out);
    vg_cache_free(c);
}

static void test_cache_off(void **state)
{
    char err[128];
    struct vg_cache *c = vg_cache_new(16, 0, "", 50, 1, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_false(vg_cache_enabled(c));
    vg_cache_put(c, "k", "v", 1, vg_now_ms());
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    vg_cache_free(c);
}

static void test_cache_redis_down_is_a_miss_and_a_metric(void **state)
{
    char err[128];
    /* nothing listens on port 1 */
    struct vg_cache *c = vg_cache_new(0, 500, "redis://127.0.0.1:1/0", 50, 2, err, sizeof(err));
    struct vg_buf out = {0};
    int64_t at;
    assert_non_null(c);
    assert_true(vg_series_value(vg_qstats.redis_up) == 1);
    vg_cache_put(c, "k", "v", 1, vg_now_ms());
    assert_int_equal(vg_cache_get(c, "k", &out, &at, NEVER), 0);
    assert_true(vg_series_value(vg_qstats.redis_up) == 0);
    assert_true(vg_series_value(vg_qstats.redis_error) >= 1);
    vg_cache_free(c);
}

static void test_cache_refuses_a_bad_url(void **state)
{
    char err[128];
    static const char *const bad[] = {"http://x", "redis://", "redis://h:0", "redis://h:1/x",
                                      "redis://h/1/2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (vg_cache_new(4, 500, bad[i], 50, 1, err, sizeof(err)))
            fail_msg("accepted %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cache_serves_within_the_bound_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_serves_an_unchanged_old_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_redis_down_is_a_miss_and_a_metric, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cache_refuses_a_bad_url, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
