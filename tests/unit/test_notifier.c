/* The notifier's pure parts: destinations in the config, what an answer
 * means, when to retry, the signature, and the words people read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "job.h"
#include "outcome.h"
#include "render.h"
#include "summary.h"

#define SECRET "0123456789abcdef0123456789abcdef"

static char path[64];

static int load(const char *notify, struct vg_config **cfg, char *err, size_t errsz)
{
    snprintf(path, sizeof(path), "/tmp/vigil-test-notify-%d.conf", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "producer = {\n  tenants = (\n    { id = \"demo\";\n      notify = %s;\n    }\n  );\n};\n",
            notify);
    fclose(f);
    int rc = vg_config_load(path, cfg, err, errsz);
    unlink(path);
    return rc;
}

static void test_destinations_are_read_with_their_names_and_filters(void **state)
{
    struct vg_config *cfg;
    char err[512] = "";
    int rc = load("(\n { name = \"ops\"; webhook = { url = \"https://h.example/x\"; secret = \"" SECRET
                  "\"; kinds = [\"lesson\"]; statuses = [\"timeout\"]; format = \"slack\"; }; },\n"
                  " { email = { smtp_url = \"smtp://127.0.0.1:2525\"; from = \"v@x.org\";"
                  " to = [\"a@x.org\", \"b@x.org\"]; }; }\n)",
                  &cfg, err, sizeof(err));
    assert_int_equal(rc, 0);
    const struct vg_tenant *t = vg_config_tenant(cfg, "demo");
    assert_int_equal(t->nnotify, 2);
    assert_string_equal(t->notify[0].destination, "demo/ops");
    assert_int_equal(t->notify[0].format, VG_NOTIFY_SLACK);
    assert_string_equal(t->notify[1].destination, "demo/email-2");
    assert_int_equal(t->notify[1].nto, 2);
    assert_true(vg_notify_wants(&t->notify[0], "lesson", "timeout"));
    assert_false(vg_notify_wants(&t->notify[0], "lesson", "ended"));
    assert_false(vg_notify_wants(&t->notify[0], "meeting", "timeout"));
    assert_false(vg_notify_wants(&t->notify[0], NULL, "timeout"));
    assert_true(vg_notify_wants(&t->notify[1], NULL, "expired"));
    vg_config_free(cfg);
}

/* Table: a bad destination, the line of the error and words it must hold. */
static const struct {
    const char *notify;
    const char *expect[3];
} broken[] = {
    {"(\n { webhook = { url = \"https://h/x\"; secret = \"short\"; }; }\n)",
     {":5:", "at least 32 bytes", NULL}},
    {"(\n { webhook = { url = \"https://h/x\"; secret = \"CHANGE-ME-0123456789abcdef0123456789\"; }; }\n)",
     {":5:", "placeholder", NULL}},
    {"(\n { webhook = {\n url = \"ftp://h/x\"; secret = \"" SECRET "\"; }; }\n)",
     {":6:", "http:// or https://", NULL}},
    {"(\n { webhook = { url = \"https://h/x\"; secret = \"" SECRET "\";\n format = \"xml\"; }; }\n)",
     {":6:", "format", "slack"}},
    {"(\n { webhook = { url = \"https://h/x\"; secret = \"" SECRET "\";\n statuses = [\"done\"]; }; }\n)",
     {":6:", "\"done\"", "ended"}},
    {"(\n { webhook = { secret = \"" SECRET "\"; }; }\n)", {":5:", "url is required", NULL}},
    {"(\n { email = { smtp_url = \"smtp://h\"; from = \"x@y\"; to = [ ]; }; }\n)",
     {":5:", "non-empty to", NULL}},
    {"(\n { email = { smtp_url = \"http://h\"; from = \"x@y\"; to = [\"a@b\"]; }; }\n)",
     {":5:", "smtp:// or smtps://", NULL}},
    {"(\n { email = { smtp_url = \"smtp://h\"; from = \"x@y\"; to = [\"nobody\"]; }; }\n)",
     {":5:", "not an address", NULL}},
    {"(\n { name = \"a\"; webhook = { url = \"https://h/x\"; secret = \"" SECRET "\"; }; },\n"
     " { name = \"a\"; webhook = { url = \"https://h/y\"; secret = \"" SECRET "\"; }; }\n)",
     {":6:", "defined twice", NULL}},
    {"(\n { telegram = { }; }\n)", {":5:", "notify.telegram", "unknown setting"}},
    {"(\n { webhook = { url = \"https://h/x\"; secret_env = \"VIGIL_TEST_UNSET_HOOK\"; }; }\n)",
     {":5:", "VIGIL_TEST_UNSET_HOOK", "not set"}},
};

static void test_bad_destinations_name_file_line_and_reason(void **state)
{
    for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
        struct vg_config *cfg = NULL;
        char err[512] = "";
        int rc = load(broken[i].notify, &cfg, err, sizeof(err));
        if (rc != VG_ECONFIG)
            fail_msg("case %zu accepted: %s", i, broken[i].notify);
        for (int k = 0; k < 3 && broken[i].expect[k]; k++)
            if (!strstr(err, broken[i].expect[k]))
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, broken[i].expect[k]);
        if (!strstr(err, "producer.tenants.notify") || !strstr(err, "vigil-test-notify"))
            fail_msg("case %zu: \"%s\" names no file or setting", i, err);
    }
}

static void test_answers_are_delivered_retried_or_dead(void **state)
{
    static const struct {
        int answered;
        long status;
        enum vg_outcome want;
    } http[] = {{1, 200, VG_DELIVERED}, {1, 204, VG_DELIVERED}, {1, 408, VG_RETRY},
                {1, 429, VG_RETRY},     {1, 500, VG_RETRY},     {1, 503, VG_RETRY},
                {0, 0, VG_RETRY},       {1, 400, VG_DEAD},      {1, 401, VG_DEAD},
                {1, 404, VG_DEAD},      {1, 410, VG_DEAD},      {1, 301, VG_DEAD}};
    for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++)
        if (vg_outcome_http(http[i].answered, http[i].status) != http[i].want)
            fail_msg("HTTP %ld (answered %d): got %s, want %s", http[i].status, http[i].answered,
                     vg_outcome_name(vg_outcome_http(http[i].answered, http[i].status)),
                     vg_outcome_name(http[i].want));
    assert_int_equal(vg_outcome_smtp(1, 250), VG_DELIVERED);
    assert_int_equal(vg_outcome_smtp(1, 451), VG_RETRY);
    assert_int_equal(vg_outcome_smtp(0, 0), VG_RETRY);
    assert_int_equal(vg_outcome_smtp(1, 550), VG_DEAD);
}

static void test_backoff_is_full_jitter_under_a_doubling_cap(void **state)
{
    /* rnd % (ceiling + 1): the largest rnd gives the ceiling itself. */
    assert_int_equal(vg_outcome_delay_ms(1, 100, 10000, -1, 100), 100);
    assert_int_equal(vg_outcome_delay_ms(3, 100, 10000, -1, 400), 400);
    assert_int_equal(vg_outcome_delay_ms(3, 100, 10000, -1, 401), 0);
    assert_int_equal(vg_outcome_delay_ms(30, 100, 10000, -1, 10000), 10000);
    assert_int_equal(vg_outcome_delay_ms(30, 100, 10000, -1, 10001), 0);
    /* A Retry-After longer than the jitter wins. */
    assert_int_equal(vg_outcome_delay_ms(1, 100, 10000, 7000, 50), 7000);
    assert_int_equal(vg_outcome_retry_after_ms("3", 0), 3000);
    assert_int_equal(vg_outcome_retry_after_ms(" 120\r\n", 0), 120000);
    assert_int_equal(vg_outcome_retry_after_ms("soon", 0), -1);
    assert_int_equal(vg_outcome_retry_after_ms(NULL, 0), -1);
    /* An HTTP-date 30 s after now. */
    assert_int_equal(vg_outcome_retry_after_ms("Wed, 21 Oct 2015 07:28:30 GMT", 1445412480),
                     30000);
}

static void test_retries_end_at_max_attempts_or_max_age(void **state)
{
    const int64_t s = 1000000;
    assert_int_equal(vg_outcome_final(VG_RETRY, 2, 3, 0, 100, 10 * s, 1000), VG_RETRY);
    assert_int_equal(vg_outcome_final(VG_RETRY, 3, 3, 0, 100, 10 * s, 1000), VG_DEAD);
    assert_int_equal(vg_outcome_final(VG_RETRY, 1, 3, 0, 100, 99 * s, 2000), VG_DEAD);
    assert_int_equal(vg_outcome_final(VG_DELIVERED, 9, 3, 0, 1, 99 * s, 0), VG_DELIVERED);
    assert_int_equal(vg_outcome_final(VG_DEAD, 1, 3, 0, 100, 0, 0), VG_DEAD);
}

static void test_signature_is_hmac_sha256_of_time_dot_body(void **state)
{
    struct vg_buf out = {0};
    /* python3 -c 'import hmac,hashlib; print(hmac.new(b"0123456789abcdef0123456789abcdef",
     *   b"1700000000.{\"a\":1}", hashlib.sha256).hexdigest())' */
    vg_webhook_signature(SECRET, 1700000000, "{\"a\":1}", 7, &out);
    assert_string_equal(out.data,
                        "t=1700000000,v1="
                        "f05f2539e3ae1c49aec5f8cfdad75ef6b06480b133973ffbb7ec9e18827af177");
    vg_buf_free(&out);
}

static const char summary_json[] =
    "{\"v\":1,\"summary_id\":\"demo/20261201_093000_lesson_x7/ended\",\"tenant\":\"demo\","
    "\"session_id\":\"20261201_093000_lesson_x7\",\"kind\":\"lesson\",\"status\":\"ended\","
    "\"end_reason\":\"done\",\"started_at\":\"2026-12-01T09:30:00+00:00\","
    "\"ended_at\":\"2026-12-01T10:17:00+00:00\",\"duration_ms\":2820000,\"event_count\":3,"
    "\"heartbeat_count\":2,\"counts\":{\"page.view\":2,\"quiz.<answer>\":1},"
    "\"last_events\":[{\"event_id\":\"e1\",\"type\":\"quiz.<answer>\","
    "\"occurred_at\":\"2026-12-01T10:16:00+00:00\",\"url\":\"https://x.example/q?a=1&b=2\"}]}";

static void test_summary_reads_as_a_subject_a_slack_message_and_an_email(void **state)
{
    struct vg_summary s;
    char err[128];
    assert_int_equal(vg_summary_parse(summary_json, strlen(summary_json), &s, err, sizeof(err)), 0);
    struct vg_buf b = {0};
    vg_render_subject(&s, &b);
    assert_string_equal(b.data, "lesson 20261201_093000_lesson_x7 ended after 47 min");

    vg_buf_reset(&b);
    vg_render_slack(&s, &b);
    assert_non_null(strstr(b.data, "{\"text\":\"*lesson 20261201_093000_lesson_x7 ended after"));
    assert_non_null(strstr(b.data, "page.view 2"));

    vg_buf_reset(&b);
    char *to[] = {"a@x.org", "b@x.org"};
    struct vg_mail_head h = {.from = "vigil@x.org", .to = to, .nto = 2,
                             .delivery_id = "0190a5e4-0000-7000-8000-000000000001",
                             .date_us = 1764581820LL * 1000000};
    vg_render_email(&s, &h, &b);
    static const char *want[] = {
        "From: vigil@x.org\r\n", "To: a@x.org, b@x.org\r\n",
        "Subject: lesson 20261201_093000_lesson_x7 ended after 47 min\r\n",
        "Date: Mon, 01 Dec 2025 09:37:00 +0000\r\n",
        "Message-ID: <0190a5e4-0000-7000-8000-000000000001@vigil>\r\n",
        "multipart/alternative", "text/plain; charset=utf-8", "text/html; charset=utf-8",
        "Status     ended (done)\r\n", "Duration   47 min\r\n", "page.view", "quiz.&lt;answer&gt;",
        "https://x.example/q?a=1&amp;b=2", "--vigil-0190a5e4-0000-7000-8000-000000000001--\r\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(b.data, want[i]))
            fail_msg("the e-mail lacks \"%s\":\n%s", want[i], b.data);
    assert_null(strstr(b.data, "<td>quiz.<answer>")); /* escaped in HTML, as is in the text */
    vg_buf_free(&b);
    vg_summary_free(&s);
}

static void test_durations_read_plainly(void **state)
{
    char d[48];
    static const struct {
        int64_t ms;
        const char *want;
    } t[] = {{-1, "an unknown time"}, {0, "0 s"},         {35400, "35 s"}, {60000, "1 min"},
             {2820000, "47 min"},     {7199000, "120 min"}, {7500000, "2 h 05 min"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        vg_render_duration(t[i].ms, d, sizeof(d));
        if (strcmp(d, t[i].want))
            fail_msg("%lld ms: got \"%s\", want \"%s\"", (long long)t[i].ms, d, t[i].want);
    }
}

static void test_a_summary_without_its_ids_is_refused(void **state)
{
    struct vg_summary s;
    char err[128];
    static const char *bad[] = {"[]", "{\"v\":1}", "not json",
                                "{\"v\":2,\"summary_id\":\"a\",\"tenant\":\"t\",\"session_id\":\"s\","
                                "\"status\":\"ended\"}",
                                "{\"v\":1,\"summary_id\":\"a\",\"tenant\":\"t\",\"session_id\":\"s\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (vg_summary_parse(bad[i], strlen(bad[i]), &s, err, sizeof(err)) != VG_EPARSE)
            fail_msg("accepted %s", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destinations_are_read_with_their_names_and_filters),
        cmocka_unit_test(test_bad_destinations_name_file_line_and_reason),
        cmocka_unit_test(test_answers_are_delivered_retried_or_dead),
        cmocka_unit_test(test_backoff_is_full_jitter_under_a_doubling_cap),
        cmocka_unit_test(test_retries_end_at_max_attempts_or_max_age),
        cmocka_unit_test(test_signature_is_hmac_sha256_of_time_dot_body),
        cmocka_unit_test(test_summary_reads_as_a_subject_a_slack_message_and_an_email),
        cmocka_unit_test(test_durations_read_plainly),
        cmocka_unit_test(test_a_summary_without_its_ids_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
