/* Session signals: POST /v1/sessions, heartbeat, end, the tracking link's
 * activate, and generated session ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "session.h"

#define RECEIVED_US 1795398847000000LL /* 2026-11-23T01:54:07Z */
#define RECEIVED_S (RECEIVED_US / 1000000)

static struct vg_ingest ingest(void)
{
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 4096,
        .max_batch_events = 10,
    };
    return in;
}

static json_t *only_envelope(struct vg_outbox *out)
{
    assert_int_equal(out->n, 1);
    assert_int_equal(out->msgs[0].topic, VG_TOPIC_HEARTBEATS);
    json_t *env = json_loadb(vg_outmsg_value(out, &out->msgs[0]), out->msgs[0].val_len, 0, NULL);
    assert_non_null(env);
    return env;
}

static const char *str(json_t *env, const char *field)
{
    json_t *v = json_object_get(env, field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The C-side check of schemas/json/signal.json's required fields. */
static void assert_signal_envelope(json_t *env, const char *type)
{
    static const char *const allowed[] = {
        "v",           "tenant",     "event_id",    "type",       "session_id",
        "occurred_at", "received_at", "kind",       "status",     "started_at",
        "expires_at",  "attributes", "reason",      "url",        "client_occurred_at",
        "clock_skew_ms", "clock_flag"};
    assert_int_equal(json_integer_value(json_object_get(env, "v")), 1);
    assert_string_equal(str(env, "type"), type);
    assert_non_null(str(env, "tenant"));
    assert_true(vg_session_id_valid(str(env, "session_id")));
    assert_true(vg_uuid_valid(str(env, "event_id")));
    int64_t us;
    assert_int_equal(vg_time_parse(str(env, "occurred_at"), &us), 0);
    assert_int_equal(vg_time_parse(str(env, "received_at"), &us), 0);
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        size_t j = 0;
        while (j < sizeof(allowed) / sizeof(allowed[0]) && strcmp(allowed[j], k))
            j++;
        if (j == sizeof(allowed) / sizeof(allowed[0]))
            fail_msg("signal envelope has undeclared field %s", k);
    }
}

static void test_generated_session_id_is_readable(void **state)
{
    char id[VG_SESSION_ID_SIZE], other[VG_SESSION_ID_SIZE];
    vg_session_id_generate(RECEIVED_US, "lesson", id);
    /* YYYYMMDD_HHMMSS_<kind>_<8 random of [a-z2-7]> */
    assert_int_equal(strlen(id), strlen("20261123_015407_lesson_") + 8);
    assert_memory_equal(id, "20261123_015407_lesson_", 23);
    for (size_t i = 23; i < strlen(id); i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '2' && id[i] <= '7')))
            fail_msg("random part of %s has '%c'", id, id[i]);
    assert_true(vg_session_id_valid(id));
    vg_session_id_generate(RECEIVED_US, "lesson", other);
    assert_string_not_equal(id, other);
}

static void test_start_defaults(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    assert_int_equal(vg_session_start(&in, "", 0, 3600, &s, &out, &rej), 0);
    assert_memory_equal(s.session_id, "20261123_015407_session_", 24);
    assert_int_equal(s.token_expires_s, RECEIVED_S + 3600);
    json_t *env = only_envelope(&out);
    assert_signal_envelope(env, "session.start");
    assert_string_equal(str(env, "session_id"), s.session_id);
    assert_string_equal(str(env, "kind"), "session");
    assert_string_equal(str(env, "status"), "active");
    assert_string_equal(str(env, "started_at"), "2026-11-23T01:54:07.000000Z");
    char key[200];
    snprintf(key, sizeof(key), "demo/%s", s.session_id);
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[0]), key);
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_start_with_every_field(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    const char *body = "{\"session_id\":\"L-42\",\"kind\":\"lesson\",\"status\":\"draft\","
                       "\"started_at\":\"2026-11-23T01:00:00Z\",\"expires_at\":"
                       "\"2026-11-23T03:00:00Z\",\"attributes\":{\"room\":\"b\"}}";
    assert_int_equal(vg_session_start(&in, body, strlen(body), 3600, &s, &out, &rej), 0);
    assert_string_equal(s.session_id, "L-42");
    assert_int_equal(s.token_expires_s, RECEIVED_S - 54 * 60 - 7 + 2 * 3600);
    json_t *env = only_envelope(&out);
    assert_signal_envelope(env, "session.start");
    assert_string_equal(str(env, "kind"), "lesson");
    assert_string_equal(str(env, "status"), "draft");
    assert_string_equal(str(env, "started_at"), "2026-11-23T01:00:00.000000Z");
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:00:00.000000Z");
    assert_string_equal(str(env, "expires_at"), "2026-11-23T03:00:00.000000Z");
    assert_string_equal(str(json_object_get(env, "attributes"), "room"), "b");
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_draft_without_start_has_no_started_at(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    const char *body = "{\"status\":\"draft\"}";
    assert_int_equal(vg_session_start(&in, body, strlen(body), 60, &s, &out, &rej), 0);
    json_t *env = only_envelope(&out);
    assert_null(json_object_get(env, "started_at"));
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    json_decref(env);
    vg_outbox_free(&out);
}

static const struct {
    const char *body;
    int status;
    const char *field;
    const char *code;
} bad_starts[] = {
    {"[]", 400, "", "invalid_json"},
    {"{", 400, "", "invalid_json"},
    {"{\"id\":\"x\"}", 400, "id", "unknown_field"},
    {"{\"session_id\":\"a b\"}", 400, "session_id", "invalid_field"},
    {"{\"session_id\":5}", 400, "session_id", "invalid_field"},
    {"{\"kind\":\"Lesson\"}", 400, "kind", "invalid_field"},
    {"{\"status\":\"ended\"}", 400, "status", "invalid_field"},
    {"{\"started_at\":\"now\"}", 400, "started_at", "invalid_field"},
    {"{\"expires_at\":\"2026-11-23T01:00:00Z\"}", 400, "expires_at", "invalid_field"},
    {"{\"attributes\":[1]}", 400, "attributes", "invalid_field"},
};

static void test_start_refusals(void **state)
{
    for (size_t i = 0; i < sizeof(bad_starts) / sizeof(bad_starts[0]); i++) {
        struct vg_ingest in = ingest();
        struct vg_outbox out = {0};
        struct vg_reject rej;
        struct vg_session_new s;
        const char *b = bad_starts[i].body;
        if (vg_session_start(&in, b, strlen(b), 60, &s, &out, &rej) != -1 ||
            rej.status != bad_starts[i].status || strcmp(rej.field, bad_starts[i].field) ||
            strcmp(rej.code, bad_starts[i].code))
            fail_msg("%s: got %d %s field \"%s\" (%s)", b, rej.status, rej.code, rej.field,
                     rej.message);
        assert_int_equal(out.n, 0);
        vg_outbox_free(&out);
    }
}

static void test_start_body_over_event_limit_is_413(void **state)
{
    struct vg_ingest in = ingest();
    in.max_event_bytes = 16;
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    const char *b = "{\"attributes\":{\"a\":\"bbbbbbbbbbbbbbbb\"}}";
    assert_int_equal(vg_session_start(&in, b, strlen(b), 60, &s, &out, &rej), -1);
    assert_int_equal(rej.status, 413);
}

static void test_times_pushed_past_year_9999_by_the_skew_are_clamped(void **state)
{
    /* A client clock 60 years behind moves 9999-12-31 past what any time
     * field can hold; the start is still accepted, so it must land: each
     * time stays within year 9999, as occurred_at does. */
    struct vg_ingest in = ingest();
    in.has_sent_at = 1;
    in.sent_at_us = RECEIVED_US - 60LL * 365 * 86400 * 1000000;
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_session_new s;
    const char *body = "{\"session_id\":\"far\",\"status\":\"active\","
                       "\"started_at\":\"9900-01-01T00:00:00Z\","
                       "\"expires_at\":\"9999-12-31T00:00:00Z\"}";
    if (vg_session_start(&in, body, strlen(body), 3600, &s, &out, &rej))
        fail_msg("refused: %d %s %s", rej.status, rej.code, rej.message);
    assert_int_equal(out.n, 1);
    struct vg_event ev;
    json_t *parsed = NULL;
    char why[256] = "";
    int rc = vg_envelope_decode(vg_outmsg_value(&out, &out.msgs[0]), out.msgs[0].val_len,
                                VG_TOPIC_HEARTBEATS, &ev, &parsed, why, sizeof(why));
    if (rc)
        fail_msg("accepted, then refused by the worker's decoder: %s: %.400s", why,
                 vg_outmsg_value(&out, &out.msgs[0]));
    int64_t max_us;
    assert_int_equal(vg_time_parse("9999-12-31T23:59:59.999999Z", &max_us), 0);
    assert_true(ev.started_us <= max_us && ev.expires_us <= max_us);
    json_decref(parsed);
    vg_outbox_free(&out);
}

static void test_heartbeat_and_end(void **state)
{
    struct vg_ingest in = ingest();
    in.has_sent_at = 1;
    in.sent_at_us = RECEIVED_US - 60 * 1000000LL; /* client a minute behind */
    struct vg_outbox out = {0};
    struct vg_reject rej;
    assert_int_equal(vg_session_heartbeat(&in, "s1", "", 0, &out, &rej), 0);
    json_t *env = only_envelope(&out);
    assert_signal_envelope(env, "session.heartbeat");
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[0]), "demo/s1");
    json_decref(env);
    vg_outbox_reset(&out);

    const char *b = "{\"at\":\"2026-11-23T01:50:00Z\",\"reason\":\"closed tab\"}";
    assert_int_equal(vg_session_end(&in, "s1", b, strlen(b), &out, &rej), 0);
    env = only_envelope(&out);
    assert_signal_envelope(env, "session.end");
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:51:00.000000Z");
    assert_string_equal(str(env, "client_occurred_at"), "2026-11-23T01:50:00Z");
    assert_string_equal(str(env, "reason"), "closed tab");
    json_decref(env);
    vg_outbox_reset(&out);

    /* a heartbeat takes no reason; an end's reason is text */
    assert_int_equal(vg_session_heartbeat(&in, "s1", b, strlen(b), &out, &rej), -1);
    assert_string_equal(rej.field, "reason");
    b = "{\"reason\":\"a\\u0001b\"}";
    assert_int_equal(vg_session_end(&in, "s1", b, strlen(b), &out, &rej), -1);
    assert_string_equal(rej.field, "reason");
    assert_int_equal(vg_session_heartbeat(&in, "bad id", "", 0, &out, &rej), -1);
    assert_string_equal(rej.field, "session_id");
    assert_int_equal(out.n, 0);
    vg_outbox_free(&out);
}

static void test_future_heartbeat_is_flagged(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    const char *b = "{\"at\":\"2027-01-01T00:00:00Z\"}";
    assert_int_equal(vg_session_heartbeat(&in, "s1", b, strlen(b), &out, &rej), 0);
    json_t *env = only_envelope(&out);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    assert_string_equal(str(env, "clock_flag"), "future");
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_token_scope_guards_signals(void **state)
{
    struct vg_ingest in = ingest();
    in.scope_session = "mine";
    struct vg_outbox out = {0};
    struct vg_reject rej;
    assert_int_equal(vg_session_heartbeat(&in, "mine", "", 0, &out, &rej), 0);
    vg_outbox_reset(&out);
    assert_int_equal(vg_session_end(&in, "theirs", "", 0, &out, &rej), -1);
    assert_int_equal(rej.status, 401);
    assert_string_equal(rej.code, "session_scope");
    assert_int_equal(out.n, 0);
    vg_outbox_free(&out);
}

static void test_activate(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    vg_session_activate(&in, "s1", "https://example.com/l?a=1", &out);
    json_t *env = only_envelope(&out);
    assert_signal_envelope(env, "session.activate");
    assert_string_equal(str(env, "url"), "https://example.com/l?a=1");
    json_decref(env);
    vg_outbox_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_session_id_is_readable),
        cmocka_unit_test(test_start_defaults),
        cmocka_unit_test(test_start_with_every_field),
        cmocka_unit_test(test_draft_without_start_has_no_started_at),
        cmocka_unit_test(test_start_refusals),
        cmocka_unit_test(test_start_body_over_event_limit_is_413),
        cmocka_unit_test(test_heartbeat_and_end),
        cmocka_unit_test(test_future_heartbeat_is_flagged),
        cmocka_unit_test(test_token_scope_guards_signals),
        cmocka_unit_test(test_activate),
        cmocka_unit_test(test_times_pushed_past_year_9999_by_the_skew_are_clamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
