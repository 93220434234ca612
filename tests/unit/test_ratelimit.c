/* The token bucket, and one per tenant in events per second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "ratelimit.h"

static void test_bucket_starts_full_and_empties(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 5, 1000, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 1, 1000, &retry), VG_EFULL);
    /* one token comes back every 100 ms at 10/s */
    assert_int_equal(retry, 100);
    vg_ratelimit_free(rl);
}

static void test_refill_is_proportional_and_capped(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 5, 0, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 3, 250, &retry), VG_EFULL); /* 2.5 */
    assert_int_equal(retry, 50);
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 3, 300, &retry), 0);
    /* a long pause refills to the burst, not beyond */
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 5, 100000, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 10, 5, 1, 100000, &retry), VG_EFULL);
    vg_ratelimit_free(rl);
}

static void test_refused_take_takes_nothing(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 10, 8, 0, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 10, 3, 0, &retry), VG_EFULL);
    assert_int_equal(retry, 1000);
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 10, 2, 0, &retry), 0);
    vg_ratelimit_free(rl);
}

static void test_more_than_burst_never_fits(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 100, 10, 11, 0, &retry), VG_ETOOBIG);
    assert_int_equal(vg_ratelimit_take(rl, "t", 100, 10, 10, 0, &retry), 0);
    vg_ratelimit_free(rl);
}

static void test_tenants_are_independent(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "a", 1, 2, 2, 0, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "a", 1, 2, 1, 0, &retry), VG_EFULL);
    assert_int_equal(vg_ratelimit_take(rl, "b", 1, 2, 2, 0, &retry), 0);
    for (int i = 0; i < 100; i++) { /* many tenants grow the table */
        char name[16];
        snprintf(name, sizeof(name), "t%d", i);
        assert_int_equal(vg_ratelimit_take(rl, name, 1, 1, 1, 0, &retry), 0);
    }
    assert_int_equal(vg_ratelimit_take(rl, "a", 1, 2, 1, 0, &retry), VG_EFULL);
    vg_ratelimit_free(rl);
}

static void test_lowered_burst_applies_at_once(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 100, 1, 0, &retry), 0); /* 99 left */
    /* a reload set burst 5: the bucket holds 5 at most */
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 5, 5, 0, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 1, 5, 1, 0, &retry), VG_EFULL);
    vg_ratelimit_free(rl);
}

static void test_clock_going_back_does_not_refill(void **state)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    int64_t retry;
    assert_int_equal(vg_ratelimit_take(rl, "t", 1000, 1, 1, 5000, &retry), 0);
    assert_int_equal(vg_ratelimit_take(rl, "t", 1000, 1, 1, 4000, &retry), VG_EFULL);
    vg_ratelimit_free(rl);
    vg_ratelimit_free(NULL);
}

/* Before a body is read its events are not known: a take of none says
 * whether one would fit, and takes nothing. */
static void test_a_take_of_none_asks_for_one(void **state)
{
    struct vg_bucket b = vg_bucket_full(2, 0);
    int64_t retry;
    assert_int_equal(vg_bucket_take(&b, 4, 2, 0, 0, &retry), 0);
    assert_int_equal(vg_bucket_take(&b, 4, 2, 2, 0, &retry), 0);
    assert_int_equal(vg_bucket_take(&b, 4, 2, 0, 0, &retry), VG_EFULL);
    assert_int_equal(retry, 250);
    assert_int_equal(vg_bucket_take(&b, 4, 2, 0, 250, &retry), 0);
    assert_int_equal(vg_bucket_take(&b, 4, 2, 1, 250, &retry), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_starts_full_and_empties),
        cmocka_unit_test(test_refill_is_proportional_and_capped),
        cmocka_unit_test(test_refused_take_takes_nothing),
        cmocka_unit_test(test_more_than_burst_never_fits),
        cmocka_unit_test(test_tenants_are_independent),
        cmocka_unit_test(test_lowered_burst_applies_at_once),
        cmocka_unit_test(test_clock_going_back_does_not_refill),
        cmocka_unit_test(test_a_take_of_none_asks_for_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
