/* POST /v1/events bodies: every field rule of DESIGN.md section 4, batches,
 * NDJSON, the sent_at wrapper and clock correction, keys and envelopes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "event.h"
#include "props_text.h"

#define RECEIVED_US 1795398847000000LL /* 2026-11-23T01:54:07Z */

static struct vg_ingest ingest(void)
{
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 4096,
        .max_batch_events = 5,
    };
    return in;
}

static const struct {
    const char *name;
    const char *body;
    int ndjson;
    int status;      /* 0: accepted */
    long accepted;   /* events, when accepted */
    long index;      /* the named item, -1 for none */
    const char *field; /* the named field, "" for none */
    const char *code;
} cases[] = {
    /* shapes */
    {"one object", "{\"type\":\"page.view\"}", 0, 0, 1, -1, "", NULL},
    {"array", "[{\"type\":\"a\"},{\"type\":\"b\"}]", 0, 0, 2, -1, "", NULL},
    {"wrapper", "{\"sent_at\":\"2026-11-23T01:54:07Z\",\"events\":[{\"type\":\"a\"}]}", 0, 0, 1,
     -1, "", NULL},
    {"wrapper without sent_at", "{\"events\":[{\"type\":\"a\"},{\"type\":\"b\"}]}", 0, 0, 2, -1,
     "", NULL},
    {"ndjson", "{\"type\":\"a\"}\n\n  \r\n{\"type\":\"b\"}\r\n", 1, 0, 2, -1, "", NULL},
    {"ndjson without final newline", "{\"type\":\"a\"}\n{\"type\":\"b\"}", 1, 0, 2, -1, "", NULL},
    {"not json", "{\"type\":", 0, 400, 0, -1, "", "invalid_json"},
    {"scalar body", "42", 0, 400, 0, -1, "", "invalid_json"},
    {"empty array", "[]", 0, 400, 0, -1, "", "empty_batch"},
    {"empty ndjson", "\n \n", 1, 400, 0, -1, "", "empty_batch"},
    {"too many", "[{\"type\":\"a\"},{\"type\":\"a\"},{\"type\":\"a\"},{\"type\":\"a\"},"
                 "{\"type\":\"a\"},{\"type\":\"a\"}]",
     0, 400, 0, -1, "", "too_many_events"},
    {"too many ndjson", "{\"type\":\"a\"}\n{\"type\":\"a\"}\n{\"type\":\"a\"}\n{\"type\":\"a\"}\n"
                        "{\"type\":\"a\"}\n{\"type\":\"a\"}\n",
     1, 400, 0, 5, "", "too_many_events"},
    {"ndjson bad line", "{\"type\":\"a\"}\n{\"type\":\n", 1, 400, 0, 1, "", "invalid_json"},
    {"ndjson array line", "{\"type\":\"a\"}\n[1]\n", 1, 400, 0, 1, "", "invalid_event"},
    {"item not object", "[{\"type\":\"a\"},3]", 0, 400, 0, 1, "", "invalid_event"},
    {"duplicate key", "{\"type\":\"a\",\"type\":\"b\"}", 0, 400, 0, -1, "", "invalid_json"},
    {"wrapper unknown field", "{\"events\":[],\"x\":1}", 0, 400, 0, -1, "x", "unknown_field"},
    {"wrapper events not array", "{\"events\":{}}", 0, 400, 0, -1, "events", "invalid_field"},
    {"wrapper bad sent_at", "{\"sent_at\":\"yesterday\",\"events\":[{\"type\":\"a\"}]}", 0, 400,
     0, -1, "sent_at", "invalid_field"},
    {"wrapper numeric sent_at", "{\"sent_at\":5,\"events\":[{\"type\":\"a\"}]}", 0, 400, 0, -1,
     "sent_at", "invalid_field"},
    /* type */
    {"type missing", "[{\"type\":\"a\"},{\"url\":\"x\"}]", 0, 400, 0, 1, "type", "missing_field"},
    {"type null", "{\"type\":null}", 0, 400, 0, 0, "type", "missing_field"},
    {"type number", "{\"type\":1}", 0, 400, 0, 0, "type", "invalid_field"},
    {"type empty", "{\"type\":\"\"}", 0, 400, 0, 0, "type", "invalid_field"},
    {"type upper", "{\"type\":\"Page\"}", 0, 400, 0, 0, "type", "invalid_field"},
    {"type space", "{\"type\":\"page view\"}", 0, 400, 0, 0, "type", "invalid_field"},
    {"type all chars", "{\"type\":\"a-z_0.9:x\"}", 0, 0, 1, -1, "", NULL},
    {"type 64", "{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 0,
     0, 1, -1, "", NULL},
    {"type 65", "{\"type\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
     0, 400, 0, 0, "type", "invalid_field"},
    /* event_id */
    {"event_id ok", "{\"type\":\"a\",\"event_id\":\"01a20643-891a-70da-ba53-b5aab0ca5b92\"}", 0, 0,
     1, -1, "", NULL},
    {"event_id not uuid", "{\"type\":\"a\",\"event_id\":\"abc\"}", 0, 400, 0, 0, "event_id",
     "invalid_field"},
    {"event_id braces", "{\"type\":\"a\",\"event_id\":\"{01a20643-891a-70da-ba53-b5aab0ca5b92}\"}",
     0, 400, 0, 0, "event_id", "invalid_field"},
    {"event_id number", "{\"type\":\"a\",\"event_id\":7}", 0, 400, 0, 0, "event_id",
     "invalid_field"},
    /* session_id */
    {"session ok", "{\"type\":\"a\",\"session_id\":\"S-1_a.b:c\"}", 0, 0, 1, -1, "", NULL},
    {"session slash", "{\"type\":\"a\",\"session_id\":\"a/b\"}", 0, 400, 0, 0, "session_id",
     "invalid_field"},
    {"session empty", "{\"type\":\"a\",\"session_id\":\"\"}", 0, 400, 0, 0, "session_id",
     "invalid_field"},
    {"session null is absent", "{\"type\":\"a\",\"session_id\":null}", 0, 0, 1, -1, "", NULL},
    /* visitor_id, user_id */
    {"visitor ok", "{\"type\":\"a\",\"visitor_id\":\"v 1/\\u00e9\"}", 0, 0, 1, -1, "", NULL},
    {"visitor empty", "{\"type\":\"a\",\"visitor_id\":\"\"}", 0, 400, 0, 0, "visitor_id",
     "invalid_field"},
    {"visitor control", "{\"type\":\"a\",\"visitor_id\":\"a\\nb\"}", 0, 400, 0, 0, "visitor_id",
     "invalid_field"},
    {"visitor object", "{\"type\":\"a\",\"visitor_id\":{}}", 0, 400, 0, 0, "visitor_id",
     "invalid_field"},
    {"user number", "{\"type\":\"a\",\"user_id\":12}", 0, 400, 0, 0, "user_id", "invalid_field"},
    /* occurred_at */
    {"occurred ok", "{\"type\":\"a\",\"occurred_at\":\"2026-11-23T01:00:00.5+01:00\"}", 0, 0, 1,
     -1, "", NULL},
    {"occurred no offset", "{\"type\":\"a\",\"occurred_at\":\"2026-11-23T01:00:00\"}", 0, 400, 0,
     0, "occurred_at", "invalid_field"},
    {"occurred epoch number", "{\"type\":\"a\",\"occurred_at\":1795398847}", 0, 400, 0, 0,
     "occurred_at", "invalid_field"},
    {"occurred Feb 30", "{\"type\":\"a\",\"occurred_at\":\"2026-02-30T00:00:00Z\"}", 0, 400, 0, 0,
     "occurred_at", "invalid_field"},
    /* url, properties, unknown fields */
    {"url ok", "{\"type\":\"a\",\"url\":\"https://example.com/a?b=c\"}", 0, 0, 1, -1, "", NULL},
    {"url number", "{\"type\":\"a\",\"url\":3}", 0, 400, 0, 0, "url", "invalid_field"},
    {"url control", "{\"type\":\"a\",\"url\":\"a\\tb\"}", 0, 400, 0, 0, "url", "invalid_field"},
    {"properties ok", "{\"type\":\"a\",\"properties\":{\"n\":1,\"l\":[1,{\"x\":null}]}}", 0, 0, 1,
     -1, "", NULL},
    {"properties array", "{\"type\":\"a\",\"properties\":[1]}", 0, 400, 0, 0, "properties",
     "invalid_field"},
    {"properties string", "{\"type\":\"a\",\"properties\":\"x\"}", 0, 400, 0, 0, "properties",
     "invalid_field"},
    {"unknown field", "[{\"type\":\"a\"},{\"type\":\"a\",\"tenant\":\"acme\"}]", 0, 400, 0, 1,
     "tenant", "unknown_field"},
    {"unknown field first", "{\"extra\":1,\"type\":\"A\"}", 0, 400, 0, 0, "extra",
     "unknown_field"},
    /* the first bad item is named, later ones are not looked at */
    {"first bad wins", "[{\"type\":\"a\"},{\"type\":\"a\"},{\"type\":\"X\"},{\"url\":1}]", 0, 400, 0,
     2, "type", "invalid_field"},
    {"ndjson index", "{\"type\":\"a\"}\n\n{\"type\":\"a\",\"url\":5}\n", 1, 400, 0, 1, "url",
     "invalid_field"},
};

static void test_event_validation_table(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vg_ingest in = ingest();
        struct vg_outbox out = {0};
        struct vg_reject rej;
        memset(&rej, 0, sizeof(rej));
        long n = vg_event_parse(&in, cases[i].ndjson ? VG_BODY_NDJSON : VG_BODY_JSON,
                                cases[i].body, strlen(cases[i].body), &out, &rej);
        if (cases[i].status == 0) {
            if (n != cases[i].accepted || out.n != (size_t)n)
                fail_msg("%s: accepted %ld (outbox %zu), want %ld; refused %d %s: %s",
                         cases[i].name, n, out.n, cases[i].accepted, rej.status,
                         rej.code ? rej.code : "", rej.message);
        } else {
            if (n != -1 || rej.status != cases[i].status || rej.index != cases[i].index ||
                strcmp(rej.field, cases[i].field) || strcmp(rej.code, cases[i].code))
                fail_msg("%s: got n=%ld status %d index %ld field \"%s\" code %s (%s); want %d "
                         "index %ld field \"%s\" code %s",
                         cases[i].name, n, rej.status, rej.index, rej.field,
                         rej.code ? rej.code : "-", rej.message, cases[i].status, cases[i].index,
                         cases[i].field, cases[i].code);
            if (out.n != 0)
                fail_msg("%s: a refused batch left %zu messages in the outbox", cases[i].name,
                         out.n);
        }
        vg_outbox_free(&out);
    }
}

/* Parses body and returns the envelope of message i (caller decrefs). */
static json_t *envelope_of(const struct vg_ingest *in, const char *body, size_t i,
                           struct vg_outbox *out)
{
    struct vg_reject rej;
    long n = vg_event_parse(in, VG_BODY_JSON, body, strlen(body), out, &rej);
    if (n < 0)
        fail_msg("refused: %s", rej.message);
    assert_true((size_t)n > i);
    json_error_t jerr;
    json_t *env = json_loadb(vg_outmsg_value(out, &out->msgs[i]), out->msgs[i].val_len, 0, &jerr);
    if (!env)
        fail_msg("envelope is not JSON: %s", jerr.text);
    return env;
}

static const char *str(json_t *env, const char *field)
{
    json_t *v = json_object_get(env, field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The C-side check of schemas/json/event.json's required fields and types. */
static void assert_event_envelope(json_t *env)
{
    static const char *const required[] = {"tenant", "event_id", "type", "occurred_at",
                                           "received_at"};
    static const char *const allowed[] = {
        "v",          "tenant", "event_id",   "type",           "session_id",
        "visitor_id", "user_id", "occurred_at", "received_at", "url",
        "properties", "client_occurred_at", "clock_skew_ms", "clock_flag"};
    assert_int_equal(json_integer_value(json_object_get(env, "v")), 1);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!str(env, required[i]))
            fail_msg("envelope lacks %s", required[i]);
    int64_t us;
    assert_int_equal(vg_time_parse(str(env, "occurred_at"), &us), 0);
    assert_int_equal(vg_time_parse(str(env, "received_at"), &us), 0);
    assert_true(vg_uuid_valid(str(env, "event_id")));
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v)
    {
        size_t j = 0;
        while (j < sizeof(allowed) / sizeof(allowed[0]) && strcmp(allowed[j], k))
            j++;
        if (j == sizeof(allowed) / sizeof(allowed[0]))
            fail_msg("envelope has undeclared field %s", k);
    }
}

static void test_envelope_enriched(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    json_t *env = envelope_of(
        &in,
        "{\"type\":\"page.view\",\"session_id\":\"s1\",\"visitor_id\":\"v1\",\"user_id\":\"u1\","
        "\"url\":\"https://x/\",\"properties\":{\"k\":[1,2]}}",
        0, &out);
    assert_event_envelope(env);
    assert_string_equal(str(env, "tenant"), "demo");
    assert_string_equal(str(env, "type"), "page.view");
    assert_string_equal(str(env, "session_id"), "s1");
    assert_string_equal(str(env, "visitor_id"), "v1");
    assert_string_equal(str(env, "user_id"), "u1");
    assert_string_equal(str(env, "url"), "https://x/");
    assert_string_equal(str(env, "received_at"), "2026-11-23T01:54:07.000000Z");
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    assert_null(json_object_get(env, "client_occurred_at"));
    assert_null(json_object_get(env, "clock_flag"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(env, "properties"), "k")), 2);
    /* generated id: UUIDv7 with the receipt's millisecond */
    const char *id = str(env, "event_id");
    assert_int_equal(id[14], '7');
    assert_string_equal(out.msgs[0].event_id, id);
    assert_int_equal(out.msgs[0].topic, VG_TOPIC_EVENTS);
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_key_prefers_session_then_visitor_then_event_id(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    const char *body = "[{\"type\":\"a\",\"session_id\":\"s1\",\"visitor_id\":\"v1\"},"
                       "{\"type\":\"a\",\"visitor_id\":\"v1\"},"
                       "{\"type\":\"a\",\"event_id\":\"01A20643-891A-70DA-BA53-B5AAB0CA5B92\"}]";
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, body, strlen(body), &out, &rej), 3);
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[0]), "demo/s1");
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[1]), "demo/v1");
    /* the client's id is kept, in one spelling */
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[2]),
                        "demo/01a20643-891a-70da-ba53-b5aab0ca5b92");
    assert_string_equal(out.msgs[2].event_id, "01a20643-891a-70da-ba53-b5aab0ca5b92");
    assert_int_equal(out.msgs[0].key_len, strlen("demo/s1"));
    vg_outbox_free(&out);
}

static void test_sent_at_corrects_skew_and_keeps_client_time(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    /* The client's clock is 1 hour behind: sent 00:54:07 while we received 01:54:07. */
    json_t *env = envelope_of(&in,
                              "{\"sent_at\":\"2026-11-23T00:54:07Z\",\"events\":[{\"type\":\"a\","
                              "\"occurred_at\":\"2026-11-23T00:50:00Z\"},{\"type\":\"b\"}]}",
                              0, &out);
    assert_event_envelope(env);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:50:00.000000Z");
    assert_string_equal(str(env, "client_occurred_at"), "2026-11-23T00:50:00Z");
    assert_int_equal(json_integer_value(json_object_get(env, "clock_skew_ms")), 3600000);
    assert_null(json_object_get(env, "clock_flag"));
    json_decref(env);
    vg_outbox_free(&out);

    /* Without occurred_at the receipt time stands, uncorrected. */
    env = envelope_of(&in,
                      "{\"sent_at\":\"2026-11-23T00:54:07Z\",\"events\":[{\"type\":\"a\","
                      "\"occurred_at\":\"2026-11-23T00:50:00Z\"},{\"type\":\"b\"}]}",
                      1, &out);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    assert_null(json_object_get(env, "client_occurred_at"));
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_sent_at_header_applies_and_wrapper_wins(void **state)
{
    struct vg_ingest in = ingest();
    in.has_sent_at = 1;
    in.sent_at_us = RECEIVED_US - 10 * 1000000LL; /* client 10 s behind */
    struct vg_outbox out = {0};
    json_t *env =
        envelope_of(&in, "{\"type\":\"a\",\"occurred_at\":\"2026-11-23T01:00:00Z\"}", 0, &out);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:00:10.000000Z");
    json_decref(env);
    vg_outbox_free(&out);
    /* the batch's own sent_at replaces the header's */
    env = envelope_of(&in,
                      "{\"sent_at\":\"2026-11-23T01:54:07Z\",\"events\":[{\"type\":\"a\","
                      "\"occurred_at\":\"2026-11-23T01:00:00Z\"}]}",
                      0, &out);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:00:00.000000Z");
    assert_int_equal(json_integer_value(json_object_get(env, "clock_skew_ms")), 0);
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_future_occurred_at_is_replaced_and_flagged(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    json_t *env =
        envelope_of(&in, "{\"type\":\"a\",\"occurred_at\":\"2026-11-24T02:00:00Z\"}", 0, &out);
    assert_event_envelope(env);
    assert_string_equal(str(env, "occurred_at"), "2026-11-23T01:54:07.000000Z");
    assert_string_equal(str(env, "client_occurred_at"), "2026-11-24T02:00:00Z");
    assert_string_equal(str(env, "clock_flag"), "future");
    json_decref(env);
    vg_outbox_free(&out);
    /* within a day ahead: kept as sent */
    env = envelope_of(&in, "{\"type\":\"a\",\"occurred_at\":\"2026-11-24T01:00:00Z\"}", 0, &out);
    assert_string_equal(str(env, "occurred_at"), "2026-11-24T01:00:00.000000Z");
    assert_null(json_object_get(env, "clock_flag"));
    json_decref(env);
    vg_outbox_free(&out);
}

static void test_correction_before_1970_is_refused(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    const char *body = "{\"sent_at\":\"2090-01-01T00:00:00Z\",\"events\":[{\"type\":\"a\","
                       "\"occurred_at\":\"1971-01-01T00:00:00Z\"}]}";
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, body, strlen(body), &out, &rej), -1);
    assert_int_equal(rej.status, 400);
    assert_string_equal(rej.field, "occurred_at");
    assert_int_equal(rej.index, 0);
}

static void test_event_size_and_depth_limits(void **state)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_buf b = {0};
    /* 413 for an event over max_event_bytes, named by index */
    vg_buf_puts(&b, "[{\"type\":\"a\"},{\"type\":\"a\",\"properties\":{\"x\":\"");
    for (int i = 0; i < 5000; i++)
        vg_buf_putc(&b, 'x');
    vg_buf_puts(&b, "\"}}]");
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, b.data, b.len, &out, &rej), -1);
    assert_int_equal(rej.status, 413);
    assert_int_equal(rej.index, 1);
    assert_string_equal(rej.code, "event_too_large");
    assert_int_equal(out.n, 0);

    /* depth: the event is level 1, so properties may nest 31 levels */
    for (int depth = 31; depth <= 32; depth++) {
        vg_buf_reset(&b);
        vg_buf_puts(&b, "{\"type\":\"a\",\"properties\":");
        for (int i = 0; i < depth; i++)
            vg_buf_puts(&b, "{\"a\":");
        vg_buf_puts(&b, "1");
        for (int i = 0; i < depth; i++)
            vg_buf_putc(&b, '}');
        vg_buf_putc(&b, '}');
        long n = vg_event_parse(&in, VG_BODY_JSON, b.data, b.len, &out, &rej);
        if (depth == 31) {
            assert_int_equal(n, 1);
        } else {
            assert_int_equal(n, -1);
            assert_string_equal(rej.code, "too_deep");
            assert_string_equal(rej.field, "properties");
        }
        vg_outbox_reset(&out);
    }
    vg_buf_free(&b);
    vg_outbox_free(&out);
}

static void test_token_scope_fills_and_guards_session(void **state)
{
    struct vg_ingest in = ingest();
    in.scope_session = "s-token";
    struct vg_outbox out = {0};
    json_t *env = envelope_of(&in, "{\"type\":\"a\",\"visitor_id\":\"v\"}", 0, &out);
    assert_string_equal(str(env, "session_id"), "s-token");
    assert_string_equal(vg_outmsg_key(&out, &out.msgs[0]), "demo/s-token");
    json_decref(env);
    vg_outbox_free(&out);

    struct vg_reject rej;
    const char *body = "[{\"type\":\"a\",\"session_id\":\"s-token\"},{\"type\":\"a\","
                       "\"session_id\":\"s-other\"}]";
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, body, strlen(body), &out, &rej), -1);
    assert_int_equal(rej.status, 401);
    assert_int_equal(rej.index, 1);
    assert_string_equal(rej.field, "session_id");
    assert_int_equal(out.n, 0);
    vg_outbox_free(&out);
}

static void test_numbers_in_properties_keep_the_clients_digits(void **state)
{
    /* jansson writes doubles with 17 significant digits: 0.1 became
     * 0.10000000000000001 in the envelope, hence in raw.events.body and
     * in properties. Each number comes out as the client wrote it. */
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    const char *body = "{\"type\":\"buy\",\"properties\":{\"price\":0.1,\"sum\":0.30000000000000004,"
                       "\"tax\":-2.5e-07,\"big\":1e+300,\"n\":42,\"deep\":[1.1,{\"x\":19.99}]}}";
    json_t *env = envelope_of(&in, body, 0, &out);
    const char *text = vg_outmsg_value(&out, &out.msgs[0]);
    static const char *const want[] = {
        "\"price\":0.1,", "\"sum\":0.30000000000000004,", "\"tax\":-2.5e-07,",
        "\"big\":1e+300,", "\"n\":42,", "\"deep\":[1.1,{\"x\":19.99}]",
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(want); i++)
        if (!strstr(text, want[i]))
            fail_msg("the envelope lacks %s: %s", want[i], text);
    json_t *p = json_object_get(env, "properties");
    assert_true(json_real_value(json_object_get(p, "price")) == 0.1);
    assert_true(json_real_value(json_object_get(p, "sum")) == 0.30000000000000004);
    json_decref(env);
    vg_outbox_free(&out);

    /* context and the other objects still go through vg_json_dump: its
     * reals are the shortest text that reads back the same */
    json_t *ctx = json_loads("{\"price\":0.1,\"deep\":[1.1]}", 0, NULL);
    struct vg_buf b = {0};
    vg_json_dump(ctx, &b);
    vg_buf_putc(&b, '\0');
    assert_string_equal(b.data, "{\"price\":0.1,\"deep\":[1.1]}");
    vg_buf_free(&b);
    json_decref(ctx);
}

/* The properties text of envelope i of out (props_text.h), or NULL; the
 * envelope parses, and has the member exactly when the text shows it. */
static const char *props_text_checked(const struct vg_outbox *out, size_t i)
{
    json_t *env = json_loadb(vg_outmsg_value(out, &out->msgs[i]), out->msgs[i].val_len, 0, NULL);
    assert_non_null(env);
    int has = json_object_get(env, "properties") != NULL;
    json_decref(env);
    const char *text = props_text(out, i);
    assert_int_equal(has, text != NULL);
    return text;
}

static void test_properties_keep_the_clients_text(void **state)
{
    /* The envelope carries each event's properties as the client wrote
     * them, blanks between tokens aside: numbers (1.50, 1e2, a decimal
     * past double precision), escapes ("\u00e9", "\/"), key order. */
    static const struct {
        const char *name;
        int ndjson;
        const char *body;
        const char *want[3]; /* per event, NULL: no properties */
    } texts[] = {
        {"numbers", 0,
         "{\"type\":\"buy\",\"properties\":{\"price\":1.50,\"hundred\":1e2,"
         "\"big\":12345678901234567890.123456789,\"zero\":0.1,\"neg\":-0.0}}",
         {"{\"price\":1.50,\"hundred\":1e2,\"big\":12345678901234567890.123456789,\"zero\":0.1,"
          "\"neg\":-0.0}"}},
        {"nesting and escapes", 0,
         "{\"properties\":{\"name\":\"caf\\u00e9\",\"path\":\"a\\/b\",\"q\":\"say \\\"hi\\\"\","
         "\"deep\":{\"l\":[1.0,[2.50,{\"x\":1E+2}]],\"e\":{}}},\"type\":\"a\"}",
         {"{\"name\":\"caf\\u00e9\",\"path\":\"a\\/b\",\"q\":\"say \\\"hi\\\"\","
          "\"deep\":{\"l\":[1.0,[2.50,{\"x\":1E+2}]],\"e\":{}}}"}},
        {"blanks dropped, order kept", 0,
         "{ \"type\" : \"a\" ,\n \"properties\" : { \"b\" : 2 ,\t\"a\" : [ 1 , 2.50 ] ,"
         " \"s\" : \"x  y\" }\r\n}",
         {"{\"b\":2,\"a\":[1,2.50],\"s\":\"x  y\"}"}},
        {"array", 0,
         "[{\"type\":\"a\",\"properties\":{\"n\":1.10}}, {\"type\":\"b\"},"
         " {\"type\":\"c\",\"properties\":{\"n\":2.20}}]",
         {"{\"n\":1.10}", NULL, "{\"n\":2.20}"}},
        {"wrapper", 0,
         "{\"sent_at\":\"2026-11-23T01:54:07Z\",\"events\":[{\"type\":\"a\","
         "\"properties\":{\"n\":3.30}},{\"type\":\"b\",\"properties\":{\"n\":4.40}}]}",
         {"{\"n\":3.30}", "{\"n\":4.40}"}},
        {"ndjson", 1,
         "{\"type\":\"a\",\"properties\":{\"n\":1.50}}\n\n  {\"type\":\"b\",\"properties\":"
         "{\"n\" : 1e2}}\r\n",
         {"{\"n\":1.50}", "{\"n\":1e2}"}},
        {"escaped member name", 0, "{\"type\":\"a\",\"propert\\u0069es\":{\"n\":1.50}}",
         {"{\"n\":1.50}"}},
        {"a decoy in context", 0,
         "{\"type\":\"a\",\"context\":{\"properties\":{\"n\":9.90}},\"properties\":{\"n\":1.50}}",
         {"{\"n\":1.50}"}},
        {"null properties", 0, "{\"type\":\"a\",\"properties\":null}", {NULL}},
        {"empty properties", 0, "{\"type\":\"a\",\"properties\":{ }}", {"{}"}},
    };
    for (size_t c = 0; c < VG_ARRAY_LEN(texts); c++) {
        struct vg_ingest in = ingest();
        struct vg_outbox out = {0};
        struct vg_reject rej;
        long n = vg_event_parse(&in, texts[c].ndjson ? VG_BODY_NDJSON : VG_BODY_JSON,
                                texts[c].body, strlen(texts[c].body), &out, &rej);
        if (n < 0)
            fail_msg("%s: refused: %s", texts[c].name, rej.message);
        for (long i = 0; i < n; i++) {
            const char *got = props_text_checked(&out, (size_t)i);
            const char *want = texts[c].want[i];
            if (!want != !got || (want && strcmp(want, got)))
                fail_msg("%s, event %ld: want %s, got %s", texts[c].name, i,
                         want ? want : "(none)", got ? got : "(none)");
        }
        vg_outbox_free(&out);
    }
}

static void test_properties_text_is_what_the_size_limit_bounds(void **state)
{
    /* jansson counts "\u0041" as one byte; the envelope carries six. An
     * event whose text as sent is past max_event_bytes gets 413 even when
     * jansson's rendering fits; a NUL escape stays refused. */
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    struct vg_buf b = {0};
    vg_buf_puts(&b, "{\"type\":\"a\",\"properties\":{\"s\":\"");
    for (int i = 0; i < 1000; i++)
        vg_buf_puts(&b, "\\u0041");
    vg_buf_puts(&b, "\"}}");
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, b.data, b.len, &out, &rej), -1);
    assert_int_equal(rej.status, 413);
    assert_string_equal(rej.code, "event_too_large");
    in.max_event_bytes = 8192;
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, b.data, b.len, &out, &rej), 1);
    vg_outbox_reset(&out);
    vg_buf_free(&b);

    const char *nul = "{\"type\":\"a\",\"properties\":{\"s\":\"a\\u0000b\"}}";
    assert_int_equal(vg_event_parse(&in, VG_BODY_JSON, nul, strlen(nul), &out, &rej), -1);
    assert_int_equal(rej.status, 400);
    assert_string_equal(rej.code, "invalid_json");
    assert_int_equal(out.n, 0);
    vg_outbox_free(&out);
}

static void test_a_raw_nul_that_jansson_skips_leaves_the_tree(void **state)
{
    /* jansson 2.14 skips a raw NUL byte after a number or literal; the
     * scanner refuses the text, so the tree is written, as before, and no
     * NUL reaches the envelope (PostgreSQL would refuse it). */
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    static const char body[] = "{\"type\":\"a\",\"properties\":{\"n\":1.50\0,\"t\":[true\0]}}";
    long n = vg_event_parse(&in, VG_BODY_JSON, body, sizeof(body) - 1, &out, &rej);
    if (n != 1)
        fail_msg("jansson no longer accepts it (%ld: %s): this test can go", n, rej.message);
    assert_int_equal(strlen(vg_outmsg_value(&out, &out.msgs[0])), out.msgs[0].val_len);
    const char *got = props_text_checked(&out, 0);
    assert_non_null(got);
    assert_string_equal(got, "{\"n\":1.5,\"t\":[true]}");
    vg_outbox_free(&out);
}

static void test_reject_json_shape(void **state)
{
    struct vg_reject rej;
    struct vg_buf b = {0};
    vg_reject_set(&rej, 400, "invalid_field", 3, "type", "type \"%s\" is bad", "X");
    vg_reject_json(&rej, 0, &b);
    assert_string_equal(b.data, "{\"error\":{\"code\":\"invalid_field\",\"message\":\"type "
                                "\\\"X\\\" is bad\",\"index\":3,\"field\":\"type\"}}");
    vg_buf_reset(&b);
    vg_reject_set(&rej, 401, "unknown_key", -1, NULL, "no");
    vg_reject_json(&rej, 0, &b);
    assert_string_equal(b.data, "{\"error\":{\"code\":\"unknown_key\",\"message\":\"no\"}}");
    vg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_validation_table),
        cmocka_unit_test(test_envelope_enriched),
        cmocka_unit_test(test_key_prefers_session_then_visitor_then_event_id),
        cmocka_unit_test(test_sent_at_corrects_skew_and_keeps_client_time),
        cmocka_unit_test(test_sent_at_header_applies_and_wrapper_wins),
        cmocka_unit_test(test_future_occurred_at_is_replaced_and_flagged),
        cmocka_unit_test(test_correction_before_1970_is_refused),
        cmocka_unit_test(test_event_size_and_depth_limits),
        cmocka_unit_test(test_token_scope_fills_and_guards_session),
        cmocka_unit_test(test_reject_json_shape),
        cmocka_unit_test(test_numbers_in_properties_keep_the_clients_digits),
        cmocka_unit_test(test_properties_keep_the_clients_text),
        cmocka_unit_test(test_properties_text_is_what_the_size_limit_bounds),
        cmocka_unit_test(test_a_raw_nul_that_jansson_skips_leaves_the_tree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
