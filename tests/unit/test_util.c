/* Time, buffers, numbers and backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kafka.h"
#include "util.h"

static const struct {
    const char *in;
    int64_t us; /* expected epoch microseconds; -1: must be refused */
} times[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-11-23T01:54:07Z", 1795398847000000},
    {"2026-11-23T01:54:07.5Z", 1795398847500000},
    {"2026-11-23T01:54:07.123456789Z", 1795398847123456},
    {"2026-11-23T02:54:07+01:00", 1795398847000000},
    {"2026-11-22T20:24:07-05:30", 1795398847000000},
    {"2024-02-29T00:00:00Z", 1709164800000000},
    {"2023-02-29T00:00:00Z", -1},
    {"2026-13-01T00:00:00Z", -1},
    {"2026-11-23T24:00:00Z", -1},
    {"2026-11-23T01:54:07", -1},
    {"2026-11-23 01:54", -1},
    {"2026-11-23T01:54:07.Z", -1},
    {"2026-11-23T01:54:07Zjunk", -1},
    {"", -1},
};

static void test_topics_of_three_replicas_get_min_insync_replicas_2(void **state)
{
    /* vigilctl topics: with 3 replicas an acknowledged write (acks=all) is
     * on 2 brokers at least; with fewer, the broker's default stands. */
    assert_int_equal(vg_kafka_min_insync(1), 0);
    assert_int_equal(vg_kafka_min_insync(2), 0);
    assert_int_equal(vg_kafka_min_insync(3), 2);
    assert_int_equal(vg_kafka_min_insync(5), 2);
}

static void test_rfc3339_parse_table(void **state)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(times); i++) {
        int64_t us = 0;
        int rc = vg_time_parse(times[i].in, &us);
        if (times[i].us < 0) {
            if (rc == 0)
                fail_msg("\"%s\" was accepted as %lld", times[i].in, (long long)us);
        } else if (rc != 0 || us != times[i].us) {
            fail_msg("\"%s\": rc %d, %lld != %lld", times[i].in, rc, (long long)us,
                     (long long)times[i].us);
        }
    }
}

static void test_format_then_parse_round_trips(void **state)
{
    char ts[VG_TS_LEN];
    vg_time_format(1795398847123456, ts);
    assert_string_equal(ts, "2026-11-23T01:54:07.123456Z");
    int64_t back;
    assert_int_equal(vg_time_parse(ts, &back), 0);
    assert_int_equal(back, 1795398847123456);
}

static void test_json_string_escapes(void **state)
{
    struct vg_buf b = {0};
    vg_buf_json_str(&b, "a\"\\\n\x1f\x7f\xc3\xa9", 8);
    assert_string_equal(b.data, "\"a\\\"\\\\\\n\\u001f\\u007f\xc3\xa9\"");
    vg_buf_free(&b);
}

static void test_buffer_grows_and_resets(void **state)
{
    struct vg_buf b = {0};
    for (int i = 0; i < 1000; i++)
        vg_buf_printf(&b, "%d,", i);
    assert_int_equal(b.len, strlen(b.data));
    assert_true(b.cap > b.len);
    vg_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    vg_buf_free(&b);
}

static void test_parse_int64_bounds(void **state)
{
    int64_t v;
    assert_int_equal(vg_parse_int64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_not_equal(vg_parse_int64("101", 0, 100, &v), 0);
    assert_int_not_equal(vg_parse_int64("4x", 0, 100, &v), 0);
    assert_int_not_equal(vg_parse_int64("", 0, 100, &v), 0);
    assert_int_not_equal(vg_parse_int64("99999999999999999999", 0, INT64_MAX, &v), 0);
}

static void test_backoff_grows_to_its_cap(void **state)
{
    struct vg_backoff b = {.base_ms = 100, .cap_ms = 1000};
    for (int i = 0; i < 20; i++) {
        int64_t d = vg_backoff_next(&b);
        assert_true(d >= 100 && d <= 1000);
    }
    assert_int_equal(b.attempt, 20);
    vg_backoff_reset(&b);
    assert_int_equal(vg_backoff_next(&b), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topics_of_three_replicas_get_min_insync_replicas_2),
        cmocka_unit_test(test_rfc3339_parse_table),
        cmocka_unit_test(test_format_then_parse_round_trips),
        cmocka_unit_test(test_json_string_escapes),
        cmocka_unit_test(test_buffer_grows_and_resets),
        cmocka_unit_test(test_parse_int64_bounds),
        cmocka_unit_test(test_backoff_grows_to_its_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
