/* The worker's envelope decoder: what it accepts, and the reason for what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "command.h"
#include "decode.h"
#include "pg.h"
#include "util.h"

#define ID "\"event_id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\""
#define TIMES "\"occurred_at\":\"2026-11-23T01:00:00Z\",\"received_at\":\"2026-11-23T01:00:01.5Z\""

static const struct {
    enum vg_msg_kind kind;
    const char *value;
    const char *refusal; /* NULL: accepted; else a word of the reason */
} cases[] = {
    {VG_MSG_EVENT, "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"page.view\"," TIMES "}", NULL},
    {VG_MSG_EVENT,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"a\",\"session_id\":\"S_1:x\","
     "\"visitor_id\":\"v\",\"properties\":{\"k\":[1]}," TIMES "}",
     NULL},
    {VG_MSG_EVENT, "", "empty"},
    {VG_MSG_EVENT, "{\"v\":1,", "not JSON"},
    {VG_MSG_EVENT, "[1,2]", "not a JSON object"},
    {VG_MSG_EVENT, "{\"v\":2,\"tenant\":\"demo\"," ID ",\"type\":\"a\"," TIMES "}", "version"},
    {VG_MSG_EVENT, "{\"v\":1," ID ",\"type\":\"a\"," TIMES "}", "missing field tenant"},
    {VG_MSG_EVENT, "{\"v\":1,\"tenant\":\"demo\",\"type\":\"a\"," TIMES "}", "event_id"},
    {VG_MSG_EVENT,
     "{\"v\":1,\"tenant\":\"demo\",\"event_id\":\"nope\",\"type\":\"a\"," TIMES "}", "UUID"},
    {VG_MSG_EVENT, "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"Bad Type\"," TIMES "}",
     "type"},
    {VG_MSG_EVENT, "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":7," TIMES "}", "string"},
    {VG_MSG_EVENT,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"a\",\"occurred_at\":\"yesterday\","
     "\"received_at\":\"2026-11-23T01:00:01Z\"}",
     "RFC 3339"},
    {VG_MSG_EVENT,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"a\",\"properties\":[1]," TIMES "}",
     "object"},
    {VG_MSG_EVENT,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"a\",\"session_id\":\"a b\"," TIMES "}",
     "session_id"},
    {VG_MSG_EVENT, "{\"v\":1,\"tenant\":\"de\\u0000mo\"," ID ",\"type\":\"a\"," TIMES "}", "NUL"},
    {VG_MSG_EVENT, "{\"v\":1,\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"a\"," TIMES "}",
     "not JSON"},
    {VG_MSG_SIGNAL,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"session.start\",\"session_id\":\"s\","
     "\"kind\":\"lesson\",\"status\":\"draft\",\"expires_at\":\"2026-12-01T00:00:00Z\"," TIMES "}",
     NULL},
    {VG_MSG_SIGNAL, "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"session.end\"," TIMES "}",
     "session_id"},
    {VG_MSG_SIGNAL,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"page.view\",\"session_id\":\"s\"," TIMES "}",
     "session."},
    {VG_MSG_SIGNAL,
     "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"session.start\",\"session_id\":\"s\","
     "\"status\":\"ended\"," TIMES "}",
     "draft or active"},
};

static void test_envelopes_table(void **state)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        rd_kafka_message_t rkm;
        memset(&rkm, 0, sizeof(rkm));
        rkm.payload = (void *)cases[i].value;
        rkm.len = strlen(cases[i].value);
        struct vg_msg m = {.rkm = &rkm, .kind = cases[i].kind};
        struct vg_event ev;
        int rc = vg_decode_event(&m, &ev);
        if (cases[i].refusal == NULL) {
            if (rc != 0 || m.refused)
                fail_msg("case %zu refused: %s", i, m.why.error);
            assert_string_equal(ev.tenant, "demo");
            assert_int_equal(ev.occurred_us, 1795395600000000);
            assert_int_equal(ev.received_us, 1795395601500000);
        } else {
            if (rc == 0 || !m.refused)
                fail_msg("case %zu accepted, expected a refusal about \"%s\"", i,
                         cases[i].refusal);
            if (!strstr(m.why.error, cases[i].refusal))
                fail_msg("case %zu: reason \"%s\" lacks \"%s\"", i, m.why.error,
                         cases[i].refusal);
        }
        json_decref(m.body);
    }
}

static void test_signal_fields_are_read(void **state)
{
    const char *v = "{\"v\":1,\"tenant\":\"demo\"," ID ",\"type\":\"session.end\","
                    "\"session_id\":\"s-1\",\"reason\":\"user\",\"attributes\":{\"a\":1}," TIMES "}";
    rd_kafka_message_t rkm;
    memset(&rkm, 0, sizeof(rkm));
    rkm.payload = (void *)v;
    rkm.len = strlen(v);
    struct vg_msg m = {.rkm = &rkm, .kind = VG_MSG_SIGNAL};
    struct vg_event ev;
    assert_int_equal(vg_decode_event(&m, &ev), 0);
    assert_string_equal(ev.session_id, "s-1");
    assert_string_equal(ev.reason, "user");
    assert_non_null(ev.attributes);
    assert_int_equal(ev.started_us, VG_NO_TIME);
    json_decref(m.body);
}

#define SECRET   "unit-test-secret-0123456789abcdef"
#define GROUP    "unit-workers"
#define ISSUED   1767225600000000LL /* 2026-01-01T00:00:00Z */
#define HOUR_US  3600000000LL

/* A command message of name for aud issued at issued_us, signed with secret
 * (NULL: unsigned), then changed by tamper if not NULL; as a new string. */
static char *command_text(const char *name, const char *secret, const char *tamper,
                          const char *aud, int64_t issued_us)
{
    json_t *params = json_pack("{s:i}", "older_than_days", 30);
    json_t *msg = vg_command_new("unit@2026-01-01T00:00:00Z", name, params, 1, issued_us, aud);
    json_decref(params);
    if (secret)
        assert_int_equal(vg_command_sign(msg, secret), 0);
    if (tamper)
        json_object_set_new(msg, "dry_run", json_false());
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    return text;
}

static void test_commands_are_verified_at_decode(void **state)
{
    static const struct {
        const char *what, *name, *secret, *tamper, *aud;
        int64_t issued_us;
        int rc;
        const char *refusal; /* a word of the reason */
    } cmds[] = {
        {"signed", "purge_raw", SECRET, NULL, GROUP, ISSUED, 0, NULL},
        {"unsigned", "purge_raw", NULL, NULL, GROUP, ISSUED, VG_EAUTH, "sig"},
        {"wrong secret", "purge_raw", "not-the-secret", NULL, GROUP, ISSUED, VG_EAUTH, "sig"},
        {"tampered", "purge_raw", SECRET, "dry_run", GROUP, ISSUED, VG_EAUTH, "sig"},
        {"unknown", "drop_everything", SECRET, NULL, GROUP, ISSUED, VG_ENOTFOUND,
         "drop_everything"},
        {"for another group", "purge_raw", SECRET, NULL, "staging-workers", ISSUED, VG_EAUTH,
         "audience"},
        {"a day and a second old", "purge_raw", SECRET, NULL, GROUP, ISSUED - 24 * HOUR_US - 1000000,
         VG_EAUTH, "window"},
        {"23 hours old", "purge_raw", SECRET, NULL, GROUP, ISSUED - 23 * HOUR_US, 0, NULL},
        {"an hour ahead", "purge_raw", SECRET, NULL, GROUP, ISSUED + HOUR_US, VG_EAUTH, "future"},
        {"a minute ahead", "purge_raw", SECRET, NULL, GROUP, ISSUED + 60000000, 0, NULL},
    };
    const struct vg_command_trust trust = {.secret = SECRET,
                                           .audience = GROUP,
                                           .now_us = ISSUED,
                                           .max_age_s = 86400,
                                           .max_skew_s = 300};
    for (size_t i = 0; i < VG_ARRAY_LEN(cmds) + 1; i++) {
        char *text = i < VG_ARRAY_LEN(cmds)
                         ? command_text(cmds[i].name, cmds[i].secret, cmds[i].tamper,
                                        cmds[i].aud, cmds[i].issued_us)
                         : vg_xstrdup("{\"not a command\"");
        int want = i < VG_ARRAY_LEN(cmds) ? cmds[i].rc : VG_EPARSE;
        const char *what = i < VG_ARRAY_LEN(cmds) ? cmds[i].what : "garbage";
        rd_kafka_message_t rkm;
        memset(&rkm, 0, sizeof(rkm));
        rkm.payload = text;
        rkm.len = strlen(text);
        struct vg_msg m = {.rkm = &rkm, .kind = VG_MSG_COMMAND};
        int rc = vg_decode_command(&m, &trust);
        if (rc != want)
            fail_msg("%s command: got %s, want %s", what, vg_strerror(rc), vg_strerror(want));
        if (want == 0 && (m.refused || !json_is_object(m.body)))
            fail_msg("%s command refused (%s) or without its body", what, m.why.error);
        if (want != 0 && (!m.refused || strcmp(m.why.stage, "command") || m.body))
            fail_msg("%s command: refused %d by stage \"%s\", body %p; want refused by "
                     "\"command\", no body",
                     what, m.refused, m.why.stage ? m.why.stage : "(none)", (void *)m.body);
        if (i < VG_ARRAY_LEN(cmds) && cmds[i].refusal && !strstr(m.why.error, cmds[i].refusal))
            fail_msg("%s command: reason \"%s\" lacks \"%s\"", what, m.why.error,
                     cmds[i].refusal);
        json_decref(m.body);
        free(text);
    }
}

static void test_copy_text_escaping(void **state)
{
    struct vg_buf row = {0};
    vg_copy_str(&row, "a\tb\\c\nd\re", 0);
    vg_copy_str(&row, NULL, 0);
    vg_copy_int(&row, -42, 1);
    assert_string_equal(row.data, "a\\tb\\\\c\\nd\\re\t\\N\t-42\n");
    vg_buf_free(&row);
}

/* Escapes first, last and side by side, a NUL inside a counted string, an
 * empty field and one without escapes: each byte as before, in order. */
static void test_copy_text_runs(void **state)
{
    (void)state;
    struct vg_buf row = {0};
    vg_copy_strn(&row, "\\\\x\t\t", 5, 0);
    vg_copy_strn(&row, "a\0b\n", 4, 0);
    vg_copy_str(&row, "", 0);
    vg_copy_str(&row, "plain text", 1);
    static const char want[] = "\\\\\\\\x\\t\\t\t"
                               "a\0b\\n\t"
                               "\t"
                               "plain text\n";
    assert_int_equal(row.len, sizeof(want) - 1);
    assert_memory_equal(row.data, want, sizeof(want) - 1);
    vg_buf_free(&row);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelopes_table),
        cmocka_unit_test(test_signal_fields_are_read),
        cmocka_unit_test(test_commands_are_verified_at_decode),
        cmocka_unit_test(test_copy_text_escaping),
        cmocka_unit_test(test_copy_text_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
