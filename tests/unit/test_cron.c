/*
 * The cron parser and next-fire computation (scheduler/cron.h): every field
 * form, names, the day-of-month / day-of-week rule, month ends, leap years,
 * and errors that say what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cron.h"
#include "util.h"

/* Epoch seconds of a UTC "YYYY-MM-DDTHH:MM:SSZ". */
static int64_t at(const char *s)
{
    int64_t us;
    if (vg_time_parse(s, &us))
        fail_msg("bad time in test: %s", s);
    return us / 1000000;
}

/* The time t as "YYYY-MM-DDTHH:MM" for messages that show both values. */
static const char *show(int64_t t, char *buf)
{
    if (t < 0)
        return "never";
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M %a", &tm);
    return buf;
}

static struct vg_cron parse_ok(const char *expr)
{
    struct vg_cron c;
    char err[256] = "";
    if (vg_cron_parse(expr, &c, err, sizeof(err)))
        fail_msg("\"%s\" refused: %s", expr, err);
    return c;
}

/* -- field forms ------------------------------------------------------- */

static void test_every_field_form_sets_the_right_values(void **state)
{
    static const struct {
        const char *expr;
        uint64_t minutes;
        uint32_t hours, mdays;
        uint16_t months;
        uint8_t wdays;
    } cases[] = {
        /* star */
        {"* * * * *", 0x0FFFFFFFFFFFFFFFULL, 0xFFFFFF, 0xFFFFFFFE, 0x1FFE, 0x7F},
        /* single values, the bounds of each field */
        {"0 0 1 1 0", 1, 1, 1u << 1, 1u << 1, 1},
        {"59 23 31 12 6", 1ULL << 59, 1u << 23, 1u << 31, 1u << 12, 1u << 6},
        /* ranges */
        {"10-12 1-3 5-6 2-3 1-5", 7ULL << 10, 7u << 1, 3u << 5, 3u << 2, 0x3E},
        /* steps over everything */
        {"*/15 */12 */10 */6 */3", 1ULL | 1ULL << 15 | 1ULL << 30 | 1ULL << 45, 1u | 1u << 12,
         1u << 1 | 1u << 11 | 1u << 21 | 1u << 31, 1u << 1 | 1u << 7, 1u | 1u << 3 | 1u << 6},
        /* stepped ranges */
        {"0-30/10 8-18/5 1-9/4 1-12/5 1-5/2", 1ULL | 1ULL << 10 | 1ULL << 20 | 1ULL << 30,
         1u << 8 | 1u << 13 | 1u << 18, 1u << 1 | 1u << 5 | 1u << 9, 1u << 1 | 1u << 6 | 1u << 11,
         1u << 1 | 1u << 3 | 1u << 5},
        /* "a/n": from a to the end */
        {"50/5 22/1 29/1 11/1 5/1", 1ULL << 50 | 1ULL << 55, 3u << 22, 7u << 29, 3u << 11,
         1u | 3u << 5},
        /* lists, mixing forms */
        {"1,2,5-7,*/30 0,12 1,15,31 1,6,12 0,3",
         1ULL | 1ULL << 1 | 1ULL << 2 | 7ULL << 5 | 1ULL << 30, 1u | 1u << 12,
         1u << 1 | 1u << 15 | 1u << 31, 1u << 1 | 1u << 6 | 1u << 12, 1u | 1u << 3},
        /* names, any case, in ranges and lists */
        {"0 0 * JAN-mar,Dec mon-FRI", 1, 1, 0xFFFFFFFE, 7u << 1 | 1u << 12, 0x3E},
        {"0 0 * feb sun,sat", 1, 1, 0xFFFFFFFE, 1u << 2, 1u | 1u << 6},
        /* Sunday is 0 and 7 */
        {"0 0 * * 7", 1, 1, 0xFFFFFFFE, 0x1FFE, 1},
        {"0 0 * * 5-7", 1, 1, 0xFFFFFFFE, 0x1FFE, 1u | 1u << 5 | 1u << 6},
        {"0 0 * * 0-7", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x7F},
        /* spaces and tabs between fields */
        {"  5\t4  *  * *  ", 1ULL << 5, 1u << 4, 0xFFFFFFFE, 0x1FFE, 0x7F},
        /* macros */
        {"@hourly", 1, 0xFFFFFF, 0xFFFFFFFE, 0x1FFE, 0x7F},
        {"@daily", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x7F},
        {"@midnight", 1, 1, 0xFFFFFFFE, 0x1FFE, 0x7F},
        {"@weekly", 1, 1, 0xFFFFFFFE, 0x1FFE, 1},
        {"@monthly", 1, 1, 1u << 1, 0x1FFE, 0x7F},
        {"@yearly", 1, 1, 1u << 1, 1u << 1, 0x7F},
        {"@annually", 1, 1, 1u << 1, 1u << 1, 0x7F},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vg_cron c = parse_ok(cases[i].expr);
        if (c.minutes != cases[i].minutes || c.hours != cases[i].hours ||
            c.mdays != cases[i].mdays || c.months != cases[i].months || c.wdays != cases[i].wdays)
            fail_msg("\"%s\": minutes %#llx hours %#x mdays %#x months %#x wdays %#x; want "
                     "%#llx %#x %#x %#x %#x",
                     cases[i].expr, (unsigned long long)c.minutes, c.hours, c.mdays, c.months,
                     c.wdays, (unsigned long long)cases[i].minutes, cases[i].hours, cases[i].mdays,
                     cases[i].months, cases[i].wdays);
    }
}

static void test_star_flags_follow_the_first_character_of_the_day_fields(void **state)
{
    struct vg_cron c = parse_ok("0 0 * * *");
    assert_true(c.mday_star && c.wday_star);
    c = parse_ok("0 0 */2 * 1");
    assert_true(c.mday_star);
    assert_false(c.wday_star);
    c = parse_ok("0 0 1-31 * 0-7");
    assert_false(c.mday_star || c.wday_star);
}

/* -- errors ------------------------------------------------------------ */

static void test_invalid_expressions_are_refused_with_the_reason(void **state)
{
    static const struct {
        const char *expr, *error; /* error: a substring of the message */
    } cases[] = {
        {"", "expected 5 fields"},
        {"* * * *", "got 4"},
        {"* * * * * *", "got more"},
        {"60 * * * *", "minute: 60 is outside 0-59"},
        {"* 24 * * *", "hour: 24 is outside 0-23"},
        {"* * 0 * *", "day-of-month: 0 is outside 1-31"},
        {"* * 32 * *", "day-of-month: 32 is outside 1-31"},
        {"* * * 0 *", "month: 0 is outside 1-12"},
        {"* * * 13 *", "month: 13 is outside 1-12"},
        {"* * * * 8", "day-of-week: 8 is outside 0-7"},
        {"5-1 * * * *", "minute: range 5-1 runs backwards"},
        {"*/0 * * * *", "minute: step 0 is outside 1-60"},
        {"*/61 * * * *", "minute: step 61 is outside 1-60"},
        {"*/ * * * *", "minute: a step must be a number"},
        {"*/x * * * *", "minute: a step must be a number"},
        {"1,,2 * * * *", "minute: empty list item"},
        {"1, * * * *", "minute: empty list item"},
        {",1 * * * *", "minute: empty list item"},
        {"a * * * *", "minute: \"a\" is not a number"},
        {"* * * foo *", "month: unknown name \"foo\""},
        {"* * * * monday", "day-of-week: unknown name \"monday\""},
        {"* * * jan-xyz *", "month: unknown name \"xyz\""},
        {"5x * * * *", "minute: unexpected \"x\""},
        {"1-2-3 * * * *", "minute: unexpected \"-3\""},
        {"*-5 * * * *", "minute: unexpected \"-5\""},
        {"-5 * * * *", "minute: unexpected \"-\""},
        {"@every5m", "unknown macro"},
        {"@daily 5", "takes no fields"},
        {"0 0 30 2 *", "never fires"},
        {"0 0 31 4,6,9,11 *", "never fires"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vg_cron c;
        char err[256] = "";
        int rc = vg_cron_parse(cases[i].expr, &c, err, sizeof(err));
        if (rc != VG_EINVAL || !strstr(err, cases[i].error))
            fail_msg("\"%s\": rc %d, error \"%s\"; want VG_EINVAL and \"%s\"", cases[i].expr, rc,
                     err, cases[i].error);
    }
}

/* -- next fire --------------------------------------------------------- */

struct next_case {
    const char *expr, *after, *want; /* want NULL: never */
};

static void check_next(const struct next_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct vg_cron c = parse_ok(cases[i].expr);
        int64_t got = vg_cron_next(&c, at(cases[i].after));
        int64_t want = at(cases[i].want);
        char a[32], b[32];
        if (got != want)
            fail_msg("\"%s\" after %s: next %s, want %s", cases[i].expr, cases[i].after,
                     show(got, a), show(want, b));
        assert_true(vg_cron_matches(&c, got));
    }
}

static void test_next_is_strictly_after_and_minute_aligned(void **state)
{
    static const struct next_case cases[] = {
        {"* * * * *", "2026-03-10T12:00:00Z", "2026-03-10T12:01:00Z"},
        {"* * * * *", "2026-03-10T12:00:59Z", "2026-03-10T12:01:00Z"},
        {"* * * * *", "2026-03-10T12:00:01Z", "2026-03-10T12:01:00Z"},
        {"*/5 * * * *", "2026-03-10T12:04:59Z", "2026-03-10T12:05:00Z"},
        {"*/5 * * * *", "2026-03-10T12:05:00Z", "2026-03-10T12:10:00Z"},
        {"17 * * * *", "2026-03-10T12:17:00Z", "2026-03-10T13:17:00Z"},
        {"30 3 * * *", "2026-03-10T03:30:00Z", "2026-03-11T03:30:00Z"},
        {"0 9-17/4 * * *", "2026-03-10T13:00:00Z", "2026-03-10T17:00:00Z"},
        {"0 9-17/4 * * *", "2026-03-10T17:00:00Z", "2026-03-11T09:00:00Z"},
    };
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_next_crosses_day_month_and_year_ends(void **state)
{
    static const struct next_case cases[] = {
        {"0 0 * * *", "2026-01-31T23:59:00Z", "2026-02-01T00:00:00Z"},
        {"59 23 * * *", "2026-12-31T23:59:00Z", "2027-01-01T23:59:00Z"},
        {"0 0 1 * *", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
        /* day 31 skips the months without one */
        {"0 12 31 * *", "2026-01-31T12:00:00Z", "2026-03-31T12:00:00Z"},
        {"0 12 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T12:00:00Z"},
        /* day 30 skips February */
        {"0 0 30 * *", "2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z"},
        /* only some months */
        {"0 0 1 jan,jul *", "2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z"},
        {"0 0 15 */3 *", "2026-10-15T00:00:00Z", "2027-01-15T00:00:00Z"},
    };
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_next_february_29_waits_for_a_leap_year(void **state)
{
    static const struct next_case cases[] = {
        {"0 0 29 2 *", "2026-01-01T00:00:00Z", "2028-02-29T00:00:00Z"},
        {"0 0 29 2 *", "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"},
        /* 2100 is not a leap year (divisible by 100, not by 400); 2000 was */
        {"0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
        {"0 0 29 2 *", "1999-01-01T00:00:00Z", "2000-02-29T00:00:00Z"},
        /* the last day of February in leap and common years */
        {"0 0 28,29 2 *", "2027-02-28T00:00:00Z", "2028-02-28T00:00:00Z"},
        {"0 0 28,29 2 *", "2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z"},
        {"0 0 * 2 *", "2028-02-28T23:59:00Z", "2028-02-29T00:00:00Z"},
        {"0 0 * 2 *", "2027-02-28T00:00:00Z", "2028-02-01T00:00:00Z"},
    };
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_day_of_month_or_day_of_week_when_both_are_restricted(void **state)
{
    static const struct next_case cases[] = {
        /* 2026-03-01 is a Sunday. The 15th or any Friday, whichever comes first. */
        {"0 0 15 * fri", "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"},
        {"0 0 15 * fri", "2026-03-13T00:00:00Z", "2026-03-15T00:00:00Z"},
        {"0 0 15 * fri", "2026-03-15T00:00:00Z", "2026-03-20T00:00:00Z"},
        /* with a star in day-of-week, day-of-month alone decides */
        {"0 0 15 * *", "2026-03-01T00:00:00Z", "2026-03-15T00:00:00Z"},
        /* with a star in day-of-month, day-of-week alone decides */
        {"0 0 * * fri", "2026-03-01T00:00:00Z", "2026-03-06T00:00:00Z"},
        /* a field starting with '*' counts as a star: both must match (Vixie) */
        {"0 0 */2 * mon", "2026-03-01T00:00:00Z", "2026-03-09T00:00:00Z"},
        /* Feb 30 never exists, but Mondays in February do */
        {"0 0 30 2 mon", "2026-01-01T00:00:00Z", "2026-02-02T00:00:00Z"},
    };
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_sunday_is_0_and_7(void **state)
{
    static const struct next_case cases[] = {
        /* 2026-03-08 is a Sunday */
        {"0 6 * * 0", "2026-03-03T00:00:00Z", "2026-03-08T06:00:00Z"},
        {"0 6 * * 7", "2026-03-03T00:00:00Z", "2026-03-08T06:00:00Z"},
        {"0 6 * * sun", "2026-03-03T00:00:00Z", "2026-03-08T06:00:00Z"},
        {"0 6 * * 6-7", "2026-03-03T00:00:00Z", "2026-03-07T06:00:00Z"},
        {"0 6 * * 6-7", "2026-03-07T06:00:00Z", "2026-03-08T06:00:00Z"},
        {"0 6 * * 6-7", "2026-03-08T06:00:00Z", "2026-03-14T06:00:00Z"},
    };
    check_next(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_last_finds_the_latest_slot_in_a_window(void **state)
{
    struct vg_cron c = parse_ok("*/5 * * * *");
    int64_t now = at("2026-03-10T12:07:30Z");
    assert_int_equal(vg_cron_last(&c, now - 300, now), at("2026-03-10T12:05:00Z"));
    assert_int_equal(vg_cron_last(&c, now - 60, now), -1);
    /* the window's bounds are included */
    assert_int_equal(vg_cron_last(&c, at("2026-03-10T12:05:00Z"), at("2026-03-10T12:05:00Z")),
                     at("2026-03-10T12:05:00Z"));
    c = parse_ok("30 3 * * *");
    assert_int_equal(vg_cron_last(&c, now - 86400, now), at("2026-03-10T03:30:00Z"));
}

static void test_matches(void **state)
{
    struct vg_cron c = parse_ok("30 3 * * mon-fri");
    assert_true(vg_cron_matches(&c, at("2026-03-10T03:30:45Z")));  /* a Tuesday */
    assert_false(vg_cron_matches(&c, at("2026-03-08T03:30:00Z"))); /* a Sunday */
    assert_false(vg_cron_matches(&c, at("2026-03-10T03:31:00Z")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_form_sets_the_right_values),
        cmocka_unit_test(test_star_flags_follow_the_first_character_of_the_day_fields),
        cmocka_unit_test(test_invalid_expressions_are_refused_with_the_reason),
        cmocka_unit_test(test_next_is_strictly_after_and_minute_aligned),
        cmocka_unit_test(test_next_crosses_day_month_and_year_ends),
        cmocka_unit_test(test_next_february_29_waits_for_a_leap_year),
        cmocka_unit_test(test_day_of_month_or_day_of_week_when_both_are_restricted),
        cmocka_unit_test(test_sunday_is_0_and_7),
        cmocka_unit_test(test_last_finds_the_latest_slot_in_a_window),
        cmocka_unit_test(test_matches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
