/* Segment's Tracking API (producer/segment.c): the mapping of docs/segment.md
 * call by call, the all-or-nothing refusals that name index and field, the
 * size limits, and the enrichment of context (ingest.c, enrich.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "enrich.h"
#include "gunzip.h"
#include "ingest.h"
#include "segment.h"
#include "props_text.h"

#define RECEIVED_US 1795398847000000LL /* 2026-11-23T01:54:07Z */
#define MID "7f1c2d6e-9a0b-4c3d-8e5f-0a1b2c3d4e5f"

static struct vg_ingest ingest(void)
{
    struct vg_ingest in = {
        .tenant = "demo",
        .received_us = RECEIVED_US,
        .max_event_bytes = 65536,
        .max_batch_events = 5,
    };
    return in;
}

static const struct {
    const char *name;
    enum vg_segment_call call;
    const char *body;
    int status;       /* 0: accepted */
    long accepted;    /* calls, when accepted */
    long index;       /* the named call, -1 for none */
    const char *field; /* the named field, "" for none */
    const char *code;
} cases[] = {
    {"track", VG_SEGMENT_TRACK, "{\"userId\":\"u\",\"event\":\"E\"}", 0, 1, -1, "", NULL},
    {"track by anonymousId", VG_SEGMENT_TRACK, "{\"anonymousId\":\"a\",\"event\":\"E\"}", 0, 1,
     -1, "", NULL},
    {"numeric userId", VG_SEGMENT_IDENTIFY, "{\"userId\":42}", 0, 1, -1, "", NULL},
    {"batch of three", VG_SEGMENT_BATCH,
     "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"},"
     "{\"type\":\"page\",\"userId\":\"u\"},{\"type\":\"alias\",\"previousId\":\"a\","
     "\"userId\":\"u\"}],\"sentAt\":\"2026-11-23T01:54:07Z\",\"writeKey\":\"k\"}",
     0, 3, -1, "", NULL},
    {"no identity", VG_SEGMENT_PAGE, "{\"name\":\"Home\"}", 400, 0, 0, "userId", "missing_field"},
    {"track without event", VG_SEGMENT_TRACK, "{\"userId\":\"u\"}", 400, 0, 0, "event",
     "missing_field"},
    {"alias without previousId", VG_SEGMENT_ALIAS, "{\"userId\":\"u\"}", 400, 0, 0,
     "previousId", "missing_field"},
    {"wrong type on a call route", VG_SEGMENT_TRACK,
     "{\"type\":\"page\",\"userId\":\"u\",\"event\":\"E\"}", 400, 0, 0, "type", "invalid_field"},
    {"bad type in a batch", VG_SEGMENT_BATCH,
     "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\"},{\"type\":\"x\"}]}", 400,
     0, 1, "type", "invalid_field"},
    {"batch call without type", VG_SEGMENT_BATCH, "{\"batch\":[{\"userId\":\"u\"}]}", 400, 0, 0,
     "type", "missing_field"},
    {"second call bad: nothing accepted", VG_SEGMENT_BATCH,
     "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"},"
     "{\"type\":\"identify\",\"userId\":\"u\",\"traits\":[1]}]}",
     400, 0, 1, "traits", "invalid_field"},
    {"bad timestamp", VG_SEGMENT_IDENTIFY, "{\"userId\":\"u\",\"timestamp\":\"today\"}", 400, 0, 0,
     "timestamp", "invalid_field"},
    {"bad originalTimestamp", VG_SEGMENT_IDENTIFY,
     "{\"userId\":\"u\",\"originalTimestamp\":5}", 400, 0, 0, "originalTimestamp",
     "invalid_field"},
    {"bad sentAt", VG_SEGMENT_BATCH, "{\"batch\":[],\"sentAt\":\"soon\"}", 400, 0, -1, "sentAt",
     "invalid_field"},
    {"empty batch", VG_SEGMENT_BATCH, "{\"batch\":[]}", 400, 0, -1, "batch", "empty_batch"},
    {"batch not an array", VG_SEGMENT_BATCH, "{\"batch\":{}}", 400, 0, -1, "batch",
     "invalid_field"},
    {"a batch field of an SDK's own", VG_SEGMENT_BATCH,
     "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"}],\"sequence\":1}", 0, 1, -1, "",
     NULL},
    {"too many calls", VG_SEGMENT_BATCH,
     "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"},"
     "{\"type\":\"identify\",\"userId\":\"u\"},"
     "{\"type\":\"identify\",\"userId\":\"u\"},{\"type\":\"identify\",\"userId\":\"u\"},"
     "{\"type\":\"identify\",\"userId\":\"u\"},{\"type\":\"identify\",\"userId\":\"u\"}]}",
     400, 0, -1, "batch", "too_many_events"},
    {"not json", VG_SEGMENT_BATCH, "{\"batch\":", 400, 0, -1, "", "invalid_json"},
    {"array body", VG_SEGMENT_TRACK, "[]", 400, 0, -1, "", "invalid_json"},
    {"properties not object", VG_SEGMENT_TRACK,
     "{\"userId\":\"u\",\"event\":\"E\",\"properties\":1}", 400, 0, 0, "properties",
     "invalid_field"},
    {"context not object", VG_SEGMENT_TRACK, "{\"userId\":\"u\",\"event\":\"E\",\"context\":\"x\"}",
     400, 0, 0, "context", "invalid_field"},
    {"userId with a control character", VG_SEGMENT_IDENTIFY, "{\"userId\":\"a\\u0001\"}", 400, 0,
     0, "userId", "invalid_field"},
    {"empty messageId", VG_SEGMENT_IDENTIFY, "{\"userId\":\"u\",\"messageId\":\"\"}", 400, 0, 0,
     "messageId", "invalid_field"},
    {"bad session id", VG_SEGMENT_TRACK,
     "{\"userId\":\"u\",\"event\":\"E\",\"context\":{\"sessionId\":\"a b\"}}", 400, 0, 0,
     "context.sessionId", "invalid_field"},
};

static void test_calls_are_accepted_or_refused_whole(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct vg_ingest in = ingest();
        struct vg_outbox out = {0};
        struct vg_reject rej = {0};
        long n = vg_segment_parse(&in, cases[i].call, cases[i].body, strlen(cases[i].body), &out,
                                  &rej);
        if (cases[i].status == 0) {
            if (n != cases[i].accepted)
                fail_msg("%s: accepted %ld, want %ld (%d %s: %s)", cases[i].name, n,
                         cases[i].accepted, rej.status, rej.code ? rej.code : "", rej.message);
            if (out.n != (size_t)n)
                fail_msg("%s: %zu envelopes for %ld calls", cases[i].name, out.n, n);
        } else {
            if (n != -1 || rej.status != cases[i].status || strcmp(rej.code, cases[i].code) ||
                rej.index != cases[i].index || strcmp(rej.field, cases[i].field))
                fail_msg("%s: got %ld, %d %s index %ld field \"%s\" (%s); want %d %s index %ld "
                         "field \"%s\"",
                         cases[i].name, n, rej.status, rej.code ? rej.code : "-", rej.index,
                         rej.field, rej.message, cases[i].status, cases[i].code, cases[i].index,
                         cases[i].field);
            if (out.n != 0)
                fail_msg("%s: %zu envelopes left after a refusal", cases[i].name, out.n);
        }
        vg_outbox_free(&out);
    }
}

/* The one envelope of body on call, parsed. */
static json_t *envelope_of(const struct vg_ingest *in, enum vg_segment_call call,
                           const char *body)
{
    struct vg_outbox out = {0};
    struct vg_reject rej = {0};
    long n = vg_segment_parse(in, call, body, strlen(body), &out, &rej);
    if (n != 1)
        fail_msg("%s: %ld calls (%s)", body, n, rej.message);
    json_t *env = json_loads(vg_outmsg_value(&out, &out.msgs[0]), 0, NULL);
    assert_non_null(env);
    vg_outbox_free(&out);
    return env;
}

static const char *str(json_t *o, const char *path)
{
    char key[64];
    const char *dot = strchr(path, '.');
    if (dot) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        return str(json_object_get(o, key), dot + 1);
    }
    return json_string_value(json_object_get(o, path));
}

static void expect(json_t *env, const char *path, const char *want)
{
    const char *got = str(env, path);
    if (want ? !got || strcmp(got, want) : got != NULL)
        fail_msg("%s: got %s, want %s", path, got ? got : "(absent)", want ? want : "(absent)");
}

static void test_a_track_call_maps_as_the_table_says(void **state)
{
    (void)state;
    struct vg_ingest in = ingest();
    /* The client's clock is 10 s behind: sent 01:53:57 by its clock, received 01:54:07. */
    json_t *env = envelope_of(
        &in, VG_SEGMENT_BATCH,
        "{\"batch\":[{\"type\":\"track\",\"event\":\"Order Completed!\",\"userId\":\"u-1\","
        "\"anonymousId\":\"a-1\",\"messageId\":\"" MID "\",\"timestamp\":\"2026-11-23T01:53:50Z\","
        "\"properties\":{\"total\":5,\"session_id\":\"s-1\"},\"context\":{\"locale\":\"fr\"},"
        "\"integrations\":{\"All\":true},\"channel\":\"server\"}],"
        "\"sentAt\":\"2026-11-23T01:53:57Z\"}");
    expect(env, "event_id", MID);
    expect(env, "type", "order_completed");
    expect(env, "visitor_id", "a-1");
    expect(env, "user_id", "u-1");
    expect(env, "session_id", "s-1");
    expect(env, "occurred_at", "2026-11-23T01:54:00.000000Z");
    expect(env, "client_occurred_at", "2026-11-23T01:53:50Z");
    assert_int_equal(json_integer_value(json_object_get(env, "clock_skew_ms")), 10000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(env, "properties"),
                                                        "total")),
                     5);
    expect(env, "context.locale", "fr");
    /* What has no field of its own is kept as sent, the batch's sentAt too. */
    expect(env, "segment.event", "Order Completed!");
    expect(env, "segment.type", "track");
    expect(env, "segment.channel", "server");
    expect(env, "segment.timestamp", "2026-11-23T01:53:50Z");
    expect(env, "segment.sentAt", "2026-11-23T01:53:57Z");
    assert_true(json_is_true(json_object_get(json_object_get(json_object_get(env, "segment"),
                                                             "integrations"),
                                             "All")));
    /* ... and what has one is not kept twice. */
    expect(env, "segment.userId", NULL);
    expect(env, "segment.anonymousId", NULL);
    expect(env, "segment.messageId", NULL);
    assert_null(json_object_get(json_object_get(env, "segment"), "properties"));
    json_decref(env);
}

static void test_each_call_type_gets_its_type(void **state)
{
    (void)state;
    static const struct {
        enum vg_segment_call call;
        const char *body, *type, *visitor;
    } t[] = {
        {VG_SEGMENT_PAGE, "{\"anonymousId\":\"a\",\"name\":\"Home\"}", "page.view", "a"},
        {VG_SEGMENT_SCREEN, "{\"anonymousId\":\"a\",\"name\":\"Home\"}", "screen.view", "a"},
        {VG_SEGMENT_IDENTIFY, "{\"anonymousId\":\"a\",\"userId\":\"u\",\"traits\":{\"x\":1}}",
         "identify", "a"},
        {VG_SEGMENT_GROUP, "{\"userId\":\"u\",\"groupId\":\"g\"}", "group", NULL},
        {VG_SEGMENT_ALIAS, "{\"previousId\":\"a\",\"userId\":\"u\"}", "alias", "a"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct vg_ingest in = ingest();
        json_t *env = envelope_of(&in, t[i].call, t[i].body);
        expect(env, "type", t[i].type);
        expect(env, "visitor_id", t[i].visitor);
        json_decref(env);
    }
    struct vg_ingest in = ingest();
    json_t *env = envelope_of(&in, VG_SEGMENT_GROUP, "{\"userId\":\"u\",\"groupId\":\"g\"}");
    expect(env, "segment.groupId", "g");
    json_decref(env);
    env = envelope_of(&in, VG_SEGMENT_ALIAS, "{\"previousId\":\"a\",\"userId\":\"u\"}");
    expect(env, "segment.previousId", NULL); /* it is the visitor_id */
    expect(env, "user_id", "u");
    json_decref(env);
}

static void test_track_names_normalize_into_types(void **state)
{
    (void)state;
    static const char *const t[][2] = {
        {"Order Completed", "order_completed"},
        {"  Signed  Up  ", "signed_up"},
        {"checkout.step:2", "checkout.step:2"},
        {"Ça marche", "a_marche"},
        {"!!!", "track"},
        {"A very long event name that goes on and on past the sixty four characters limit",
         "a_very_long_event_name_that_goes_on_and_on_past_the_sixty_four_c"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char out[VG_TYPE_MAX + 1];
        vg_segment_track_type(t[i][0], out);
        if (strcmp(out, t[i][1]))
            fail_msg("\"%s\": got \"%s\", want \"%s\"", t[i][0], out, t[i][1]);
    }
}

static void test_message_ids_give_stable_event_ids(void **state)
{
    (void)state;
    char a[VG_UUID_STR_LEN], b[VG_UUID_STR_LEN];
    /* A UUID is the id, in one spelling. */
    vg_segment_event_id("7F1C2D6E-9A0B-4C3D-8E5F-0A1B2C3D4E5F", 36, a);
    assert_string_equal(a, MID);
    /* Anything else: UUIDv5 under the fixed namespace, as Python's
     * uuid.uuid5(uuid.UUID(VG_SEGMENT_NAMESPACE), "node-next-123") says. */
    vg_segment_event_id("node-next-123", 13, a);
    assert_string_equal(a, "94aff6e6-586f-58dc-9cf7-8b8bebf30182");
    vg_segment_event_id("node-next-123", 13, b);
    assert_string_equal(a, b);
    vg_segment_event_id("node-next-124", 13, b);
    assert_string_not_equal(a, b);

    /* The call keeps the messageId it did not use as it is. */
    struct vg_ingest in = ingest();
    json_t *env = envelope_of(&in, VG_SEGMENT_IDENTIFY,
                              "{\"userId\":\"u\",\"messageId\":\"node-next-123\"}");
    expect(env, "event_id", "94aff6e6-586f-58dc-9cf7-8b8bebf30182");
    expect(env, "segment.messageId", "node-next-123");
    json_decref(env);
}

static void test_session_ids_come_from_where_the_sdks_put_them(void **state)
{
    (void)state;
    static const struct {
        const char *body, *session;
    } t[] = {
        {"{\"userId\":\"u\",\"event\":\"E\",\"context\":{\"sessionId\":\"c-1\"},"
         "\"properties\":{\"session_id\":\"p-1\"}}",
         "c-1"},
        {"{\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"session_id\":\"p-1\"}}", "p-1"},
        {"{\"userId\":\"u\",\"event\":\"E\","
         "\"integrations\":{\"Actions Amplitude\":{\"session_id\":1700000000000}}}",
         "1700000000000"},
        {"{\"userId\":\"u\",\"event\":\"E\"}", NULL},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct vg_ingest in = ingest();
        json_t *env = envelope_of(&in, VG_SEGMENT_TRACK, t[i].body);
        expect(env, "session_id", t[i].session);
        json_decref(env);
    }
}

static void test_the_page_url_is_the_url(void **state)
{
    (void)state;
    struct vg_ingest in = ingest();
    json_t *env = envelope_of(&in, VG_SEGMENT_PAGE,
                              "{\"anonymousId\":\"a\","
                              "\"properties\":{\"url\":\"https://e.com/p\"}}");
    expect(env, "url", "https://e.com/p");
    json_decref(env);
    env = envelope_of(&in, VG_SEGMENT_PAGE,
                      "{\"anonymousId\":\"a\","
                      "\"context\":{\"page\":{\"url\":\"https://e.com/c\"}}}");
    expect(env, "url", "https://e.com/c");
    json_decref(env);
}

static void test_sizes_past_segments_limits_get_413(void **state)
{
    (void)state;
    static char body[VG_SEGMENT_BATCH_MAX + 64];
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej;
    /* One call of 33 KB. */
    int n = snprintf(body, sizeof(body),
                     "{\"userId\":\"u\",\"event\":\"E\",\"properties\":{\"x\":\"");
    memset(body + n, 'x', 33 * 1024);
    strcpy(body + n + 33 * 1024, "\"}}");
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_TRACK, body, strlen(body), &out, &rej), -1);
    assert_int_equal(rej.status, 413);
    /* The same call inside a batch: named by its index. */
    char *batch = malloc(strlen(body) + 64);
    sprintf(batch,
            "{\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"},%.*s,\"type\":\"track\"}]}",
            (int)strlen(body) - 1, body);
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_BATCH, batch, strlen(batch), &out, &rej),
                     -1);
    assert_int_equal(rej.status, 413);
    assert_int_equal(rej.index, 1);
    assert_int_equal(out.n, 0);
    free(batch);
    /* A batch body past 500 KB. */
    memset(body, ' ', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_BATCH, body, strlen(body), &out, &rej), -1);
    assert_int_equal(rej.status, 413);
    vg_outbox_free(&out);
}

/* The batch bodies of analytics-go (type and messageId beside the calls)
 * and analytics-java (sequence): taken, their fields kept with each call. */
static void test_batch_fields_of_other_sdks_are_kept(void **state)
{
    (void)state;
    struct vg_ingest in = ingest();
    json_t *env = envelope_of(
        &in, VG_SEGMENT_BATCH,
        "{\"type\":\"batch\",\"messageId\":\"b-1\",\"sentAt\":\"2026-11-23T01:54:07Z\","
        "\"context\":{\"library\":{\"name\":\"analytics-go\"}},\"sequence\":7,"
        "\"writeKey\":\"secret\",\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\","
        "\"messageId\":\"m-1\"}]}");
    expect(env, "type", "e");
    expect(env, "segment.batch.type", "batch");
    expect(env, "segment.batch.messageId", "b-1");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(env, "segment"), "batch"), "sequence")),
                     7);
    expect(env, "segment.messageId", "m-1");
    expect(env, "context.library.name", "analytics-go");
    /* The write key is a secret: kept nowhere. */
    expect(env, "segment.batch.writeKey", NULL);
    expect(env, "segment.writeKey", NULL);
    json_decref(env);
}

/* What a call inherits from its batch counts toward its 32 KB: a batch
 * context copied into each of many calls must not multiply the body. */
static void test_a_batch_context_counts_toward_each_calls_size(void **state)
{
    (void)state;
    static char body[64 * 1024];
    char ctx[20 * 1024 + 1], props[13 * 1024 + 1];
    memset(ctx, 'c', sizeof(ctx) - 1);
    ctx[sizeof(ctx) - 1] = '\0';
    memset(props, 'p', sizeof(props) - 1);
    props[sizeof(props) - 1] = '\0';
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej = {0};
    /* 13 KB of call and 20 KB of batch context: past 32 KB together. */
    snprintf(body, sizeof(body),
             "{\"context\":{\"x\":\"%s\"},\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"},"
             "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\","
             "\"properties\":{\"p\":\"%s\"}}]}",
             ctx, props);
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_BATCH, body, strlen(body), &out, &rej), -1);
    if (rej.status != 413 || rej.index != 1)
        fail_msg("got %d index %ld (%s), want 413 index 1", rej.status, rej.index, rej.message);
    assert_int_equal(out.n, 0);
    /* Each alone is within the limit. */
    snprintf(body, sizeof(body),
             "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\",\"event\":\"E\","
             "\"properties\":{\"p\":\"%s\"}}]}",
             props);
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_BATCH, body, strlen(body), &out, &rej), 1);
    vg_outbox_reset(&out);
    snprintf(body, sizeof(body),
             "{\"context\":{\"x\":\"%s\"},\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"}]}",
             ctx);
    assert_int_equal(vg_segment_parse(&in, VG_SEGMENT_BATCH, body, strlen(body), &out, &rej), 1);
    vg_outbox_free(&out);
}

static void test_errors_carry_code_and_message_at_the_top_level(void **state)
{
    (void)state;
    struct vg_reject rej;
    struct vg_buf b = {0};
    vg_reject_set(&rej, 400, "invalid_field", 3, "userId", "bad");
    vg_reject_json(&rej, 1, &b);
    assert_string_equal(b.data, "{\"code\":\"invalid_field\",\"message\":\"bad\","
                                "\"error\":{\"code\":"
                                "\"invalid_field\",\"message\":\"bad\",\"index\":3,\"field\":"
                                "\"userId\"}}");
    vg_buf_free(&b);
}


/* Parses body on call and checks each envelope's properties text against want. */
static void expect_props(enum vg_segment_call call, const char *body, size_t len,
                         const char *const *want, long calls)
{
    struct vg_ingest in = ingest();
    struct vg_outbox out = {0};
    struct vg_reject rej = {0};
    long n = vg_segment_parse(&in, call, body, len, &out, &rej);
    if (n != calls)
        fail_msg("%.*s: %ld calls, want %ld (%s)", (int)len, body, n, calls, rej.message);
    for (long i = 0; i < n; i++) {
        const char *got = props_text(&out, (size_t)i);
        if (!want[i] != !got || (want[i] && strcmp(want[i], got)))
            fail_msg("call %ld: want %s, got %s", i, want[i] ? want[i] : "(none)",
                     got ? got : "(none)");
        json_t *env = json_loadb(vg_outmsg_value(&out, &out.msgs[i]), out.msgs[i].val_len, 0,
                                 NULL);
        assert_non_null(env); /* the splice left a JSON envelope */
        json_decref(env);
    }
    vg_outbox_free(&out);
}

static void test_properties_keep_the_clients_text(void **state)
{
    /* A call's properties reach the envelope as sent, blanks aside:
     * numbers, escapes, nesting and key order; in single calls and in a
     * batch, whose context and integrations merge into the call's context,
     * never into its properties. */
    (void)state;
    const char *track = "{\"userId\":\"u\",\"event\":\"Order Completed\",\"properties\":"
                        "{ \"total\" : 1.50, \"hundred\": 1e2,"
                        " \"big\": 12345678901234567890.123456789,"
                        " \"name\": \"caf\\u00e9 \\/ \\\"x\\\"\", \"items\": [ {\"sku\": \"a\","
                        " \"price\": 0.10}, [ ] ] } }";
    const char *want_track[] = {
        "{\"total\":1.50,\"hundred\":1e2,\"big\":12345678901234567890.123456789,"
        "\"name\":\"caf\\u00e9 \\/ \\\"x\\\"\",\"items\":[{\"sku\":\"a\",\"price\":0.10},[]]}"};
    expect_props(VG_SEGMENT_TRACK, track, strlen(track), want_track, 1);

    const char *batch =
        "{\"context\":{\"properties\":{\"decoy\":9.90}},\"batch\":["
        "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"A\",\"properties\":{\"n\":2.50}},"
        "{\"type\":\"identify\",\"userId\":\"u\",\"traits\":{\"n\":3.50}},"
        " {\"type\":\"page\",\"userId\":\"u\",\"name\":\"Home\",\n\"properties\":{\"url\":"
        "\"https:\\/\\/e.com\\/p\",\"n\":1E-2}}],\"sentAt\":\"2026-11-23T01:54:07Z\"}";
    const char *want_batch[] = {"{\"n\":2.50}", NULL,
                                "{\"url\":\"https:\\/\\/e.com\\/p\",\"n\":1E-2}"};
    expect_props(VG_SEGMENT_BATCH, batch, strlen(batch), want_batch, 3);

    /* A gzip body: the spans are those of the decompressed text. */
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, strlen(batch)) + 64;
    unsigned char *gz = malloc(cap);
    z.next_in = (unsigned char *)batch;
    z.avail_in = (uInt)strlen(batch);
    z.next_out = gz;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gz_len = cap - z.avail_out;
    deflateEnd(&z);
    struct vg_buf plain = {0};
    assert_int_equal(vg_gunzip(gz, gz_len, 1 << 16, &plain), 0);
    expect_props(VG_SEGMENT_BATCH, plain.data, plain.len, want_batch, 3);
    vg_buf_free(&plain);
    free(gz);
}

static void test_context_is_enriched_where_the_client_left_it_empty(void **state)
{
    (void)state;
    struct vg_ingest in = ingest();
    in.client_ip = "203.0.113.9";
    in.user_agent = "curl/8";
    json_t *env = envelope_of(&in, VG_SEGMENT_IDENTIFY, "{\"userId\":\"u\"}");
    expect(env, "context.ip", "203.0.113.9");
    expect(env, "context.userAgent", "curl/8");
    json_decref(env);
    /* The client's own values win. */
    env = envelope_of(&in, VG_SEGMENT_IDENTIFY,
                      "{\"userId\":\"u\","
                      "\"context\":{\"ip\":\"198.51.100.7\",\"userAgent\":\"sdk\"}}");
    expect(env, "context.ip", "198.51.100.7");
    expect(env, "context.userAgent", "sdk");
    json_decref(env);
    /* Truncation applies to them too. */
    in.truncate_ip = 1;
    env = envelope_of(&in, VG_SEGMENT_IDENTIFY,
                      "{\"userId\":\"u\",\"context\":{\"ip\":\"198.51.100.7\"}}");
    expect(env, "context.ip", "198.51.100.0");
    json_decref(env);
    /* Nothing to add, nothing sent: no context at all. */
    in = ingest();
    env = envelope_of(&in, VG_SEGMENT_IDENTIFY, "{\"userId\":\"u\"}");
    assert_null(json_object_get(env, "context"));
    json_decref(env);
}

static void test_x_forwarded_for_counts_only_from_trusted_proxies(void **state)
{
    (void)state;
    struct vg_cidr *trusted;
    size_t n;
    char err[128], out[VG_ADDR_MAX];
    assert_int_equal(vg_cidr_parse_list(" 10.0.0.0/8, ::1 ,192.168.1.1", &trusted, &n, err,
                                        sizeof(err)),
                     0);
    assert_int_equal(n, 3);
    static const char *const t[][3] = {
        /* peer, X-Forwarded-For, the client */
        {"203.0.113.5", "1.2.3.4", "203.0.113.5"},     /* not a proxy: its header is ignored */
        {"10.1.2.3", "1.2.3.4", "1.2.3.4"},            /* a proxy vouches for its client */
        {"10.1.2.3", "6.6.6.6, 1.2.3.4", "1.2.3.4"},   /* a forged left part is not believed */
        {"10.1.2.3", "1.2.3.4, 10.9.9.9", "1.2.3.4"},  /* through two proxies */
        {"::1", "2001:DB8::1", "2001:db8::1"},         /* one spelling */
        {"10.1.2.3", "garbage", "10.1.2.3"},           /* no address: the proxy itself */
        {"192.168.1.2", "1.2.3.4", "192.168.1.2"},     /* a single address is not a range */
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        vg_enrich_client_addr(t[i][0], t[i][1], trusted, n, out);
        if (strcmp(out, t[i][2]))
            fail_msg("peer %s, X-Forwarded-For %s: got %s, want %s", t[i][0], t[i][1], out,
                     t[i][2]);
    }
    free(trusted);
    assert_int_equal(vg_cidr_parse_list("10.0.0.0/33", &trusted, &n, err, sizeof(err)),
                     VG_EINVAL);
    assert_int_equal(vg_cidr_parse_list("example.com", &trusted, &n, err, sizeof(err)),
                     VG_EINVAL);
    assert_int_equal(vg_cidr_parse_list("", &trusted, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vg_enrich_truncate("2001:db8:1234:5678::1", out), 0);
    assert_string_equal(out, "2001:db8:1234::");
    assert_int_equal(vg_enrich_truncate("192.0.2.200", out), 0);
    assert_string_equal(out, "192.0.2.0");
    assert_int_equal(vg_enrich_truncate("nope", out), VG_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calls_are_accepted_or_refused_whole),
        cmocka_unit_test(test_a_track_call_maps_as_the_table_says),
        cmocka_unit_test(test_each_call_type_gets_its_type),
        cmocka_unit_test(test_track_names_normalize_into_types),
        cmocka_unit_test(test_message_ids_give_stable_event_ids),
        cmocka_unit_test(test_session_ids_come_from_where_the_sdks_put_them),
        cmocka_unit_test(test_the_page_url_is_the_url),
        cmocka_unit_test(test_sizes_past_segments_limits_get_413),
        cmocka_unit_test(test_batch_fields_of_other_sdks_are_kept),
        cmocka_unit_test(test_a_batch_context_counts_toward_each_calls_size),
        cmocka_unit_test(test_errors_carry_code_and_message_at_the_top_level),
        cmocka_unit_test(test_properties_keep_the_clients_text),
        cmocka_unit_test(test_context_is_enriched_where_the_client_left_it_empty),
        cmocka_unit_test(test_x_forwarded_for_counts_only_from_trusted_proxies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
