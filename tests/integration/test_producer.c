/*
 * vigil-producer against the real stack (issue 3): what a 202 puts on
 * vigil.events and vigil.heartbeats (key, envelope, headers), every error of
 * DESIGN.md section 4 as a JSON body, all-or-nothing batches, respond-async,
 * session tokens and tracking links; then, on producers this test starts
 * itself with a config of its own, the rate limit (429), a dead broker (503
 * within the ack timeout, never 202) and a graceful SIGTERM.
 *
 * Messages are read back with librdkafka from the end offsets captured
 * before each request, and matched by this run's own key prefix.
 */
#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "config.h"
#include "crypto.h"
#include "itest.h"
#include "itest_http.h"
#include "kafka.h"
#include "send.h"

static struct vg_config *cfg;
static struct vg_httpc *http;
static const char *key_header; /* "Authorization: Bearer <demo key>\r\n" */
static char run[40];           /* this run's id prefix */

/* -- HTTP ---------------------------------------------------------------- */

static struct itest_answer post(const char *path, const char *extra_headers, const char *body)
{
    char h[2048];
    snprintf(h, sizeof(h), "%sContent-Type: application/json\r\n%s", key_header,
             extra_headers ? extra_headers : "");
    return itest_call(http, "POST", path, h, body);
}

static const char *header(struct itest_answer *a, const char *name)
{
    static char v[512];
    return vg_http_resp_header(&a->resp, name, v, sizeof(v));
}

/* Asserts a JSON error of DESIGN.md section 4: status, code, and index/field if given. */
static void assert_error(struct itest_answer *a, int status, const char *code, long index,
                         const char *field)
{
    char v[128];
    if (a->status != status)
        fail_msg("status %d, want %d: %.300s", a->status, status,
                 a->resp.body.data ? a->resp.body.data : "");
    if (!vg_http_resp_header(&a->resp, "Content-Type", v, sizeof(v)) ||
        strncmp(v, "application/json", 16))
        fail_msg("error answered as %s", v);
    json_t *e = json_object_get(a->json, "error");
    const char *got = json_string_value(json_object_get(e, "code"));
    if (!got || (code && strcmp(got, code)))
        fail_msg("error code %s, want %s: %.300s", got ? got : "(none)", code, a->resp.body.data);
    if (!json_is_string(json_object_get(e, "message")))
        fail_msg("error without a message");
    json_t *i = json_object_get(e, "index");
    if (index >= 0 ? json_integer_value(i) != index || !json_is_integer(i) : i != NULL)
        fail_msg("error index %lld, want %ld", json_integer_value(i), index);
    const char *f = json_string_value(json_object_get(e, "field"));
    if (field ? !f || strcmp(f, field) : f != NULL)
        fail_msg("error field %s, want %s", f ? f : "(none)", field ? field : "(none)");
    if (status == 429 || status == 503) {
        const char *ra = header(a, "Retry-After");
        if (!ra || atoi(ra) < 1)
            fail_msg("a %d without Retry-After", status);
    }
}

/* -- Kafka --------------------------------------------------------------- */

struct watch {
    rd_kafka_t *rk;
    char topic[128];
};

/* Starts reading topic from its current end, on every partition. */
static void watch_start(struct watch *w, const char *topic)
{
    char err[512];
    snprintf(w->topic, sizeof(w->topic), "%s", topic);
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, "vigil-test-producer-watch", err, sizeof(err));
    assert_non_null(conf);
    assert_int_equal(vg_kafka_set(conf, "enable.auto.commit", "false", err, sizeof(err)), 0);
    assert_int_equal(vg_kafka_set(conf, "group.id", run, err, sizeof(err)), 0);
    w->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(w->rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(w->rk, topic, NULL);
    const struct rd_kafka_metadata *md;
    assert_int_equal(rd_kafka_metadata(w->rk, 0, rkt, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(md->topic_cnt, 1);
    int np = md->topics[0].partition_cnt;
    assert_true(np > 0);
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(w->rk, topic, p, &lo, &hi, 10000);
        if (e)
            fail_msg("watermarks of %s/%d: %s", topic, p, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = hi;
    }
    assert_int_equal(rd_kafka_assign(w->rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
}

static void watch_stop(struct watch *w)
{
    rd_kafka_consumer_close(w->rk);
    rd_kafka_destroy(w->rk);
    w->rk = NULL;
}

/* Collects the messages whose key starts with prefix until want of them
 * arrived or timeout_ms passed; returns how many were collected. */
static size_t watch_collect(struct watch *w, const char *prefix, rd_kafka_message_t **out,
                            size_t want, int timeout_ms)
{
    size_t n = 0, pn = strlen(prefix);
    int64_t deadline = vg_mono_ms() + timeout_ms;
    while (n < want && vg_mono_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
        if (!m)
            continue;
        if (!m->err && m->key_len >= pn && !memcmp(m->key, prefix, pn))
            out[n++] = m;
        else
            rd_kafka_message_destroy(m);
    }
    return n;
}

static json_t *value_of(const rd_kafka_message_t *m)
{
    json_error_t jerr;
    json_t *v = json_loadb(m->payload, m->len, 0, &jerr);
    if (!v)
        fail_msg("message value is not JSON: %s", jerr.text);
    return v;
}

static void assert_header(const rd_kafka_message_t *m, const char *name, const char *want)
{
    rd_kafka_headers_t *h;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &h) || rd_kafka_header_get_last(h, name, &v, &n))
        fail_msg("message without header %s", name);
    if (n != strlen(want) || memcmp(v, want, n))
        fail_msg("header %s is %.*s, want %s", name, (int)n, (const char *)v, want);
}

static const char *s_of(json_t *o, const char *field)
{
    return json_string_value(json_object_get(o, field));
}

/* -- the shared stack ---------------------------------------------------- */

static void test_accepted_event_is_on_vigil_events(void **state)
{
    struct watch w;
    watch_start(&w, cfg->topic_events);
    char body[1024], visitor[80], key[128], event_id[VG_UUID_STR_LEN], upper[VG_UUID_STR_LEN];
    snprintf(visitor, sizeof(visitor), "%s-visitor", run);
    vg_uuid_v7(vg_now_ms(), event_id);
    for (int i = 0; i < VG_UUID_STR_LEN; i++)
        upper[i] = (char)toupper((unsigned char)event_id[i]);
    snprintf(body, sizeof(body),
             "{\"type\":\"page.view\",\"event_id\":\"%s\",\"visitor_id\":\"%s\","
             "\"url\":\"https://example.com/\",\"occurred_at\":\"2026-01-02T03:04:05Z\","
             "\"properties\":{\"n\":1,\"l\":[true]}}",
             upper, visitor);
    struct itest_answer a = post("/v1/events", NULL, body);
    assert_int_equal(a.status, 202);
    assert_int_equal(json_integer_value(json_object_get(a.json, "accepted")), 1);
    /* the client's event_id is kept */
    assert_string_equal(json_string_value(json_array_get(json_object_get(a.json, "event_ids"), 0)),
                        event_id);
    itest_answer_free(&a);

    snprintf(key, sizeof(key), "demo/%s", visitor);
    rd_kafka_message_t *m[2];
    size_t n = watch_collect(&w, key, m, 1, 20000);
    if (n != 1)
        fail_msg("the accepted event is not on %s within 20 s", cfg->topic_events);
    assert_int_equal(m[0]->key_len, strlen(key));
    assert_memory_equal(m[0]->key, key, strlen(key));
    assert_header(m[0], "vigil-tenant", "demo");
    assert_header(m[0], "vigil-schema", "event/1");
    json_t *v = value_of(m[0]);
    assert_int_equal(json_integer_value(json_object_get(v, "v")), 1);
    assert_string_equal(s_of(v, "tenant"), "demo");
    assert_string_equal(s_of(v, "event_id"), event_id);
    assert_string_equal(s_of(v, "type"), "page.view");
    assert_string_equal(s_of(v, "visitor_id"), visitor);
    assert_string_equal(s_of(v, "url"), "https://example.com/");
    assert_string_equal(s_of(v, "occurred_at"), "2026-01-02T03:04:05.000000Z");
    int64_t received;
    assert_int_equal(vg_time_parse(s_of(v, "received_at"), &received), 0);
    assert_true(llabs(received - vg_now_us()) < 60 * 1000000LL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "properties"), "n")), 1);
    json_decref(v);
    rd_kafka_message_destroy(m[0]);
    watch_stop(&w);
}

/* The row of event id in raw.events, staging.events and vault.link_event:
 * raw's texts of properties.price, .big, .zero, .hundred and .s, then
 * whether staging's and the vault's properties equal raw's and their own
 * price; NULL until all three landed (or while the database cannot answer). */
static PGresult *landed_props(PGconn *db, const char *id)
{
    const char *p[1] = {id};
    PGresult *r = PQexecParams(
        db,
        "SELECT r.body->'properties'->>'price', r.body->'properties'->>'big',"
        "  r.body->'properties'->>'zero', r.body->'properties'->>'hundred',"
        "  r.body->'properties'->>'s',"
        "  (s.properties = r.body->'properties' AND l.properties = r.body->'properties')::text,"
        "  s.properties->>'price', l.properties->>'price'"
        " FROM raw.events r JOIN staging.events s USING (tenant_id, event_id)"
        " JOIN vault.link_event l ON l.event_id = r.event_id"
        " WHERE r.tenant_id = 'demo' AND r.event_id = $1::uuid",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        return r;
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQstatus(db) != CONNECTION_OK)
        PQreset(db);
    PQclear(r);
    return NULL;
}

static void test_properties_keep_the_clients_text_into_raw_and_the_vault(void **state)
{
    /* 1.50, 1e2, a decimal past a double's precision and escapes, sent with
     * blanks to /v1/events and to Segment's /v1/track: the envelope on
     * vigil.events carries the client's bytes (blanks between tokens
     * left out), and raw.events, staging and the vault hold those numbers
     * as written (jsonb keeps a numeric's digits and scale, while it writes
     * 1e2 as 100 and stores strings unescaped). */
    static const char props[] =
        "{ \"price\" : 1.50, \"hundred\": 1e2, \"big\": 12345678901234567890.123456789,"
        " \"zero\": 0.10,\n \"s\": \"caf\\u00e9 \\/\", \"deep\": [ {\"x\": 2.50}, [] ] }";
    static const char compact[] =
        ",\"properties\":{\"price\":1.50,\"hundred\":1e2,\"big\":12345678901234567890.123456789,"
        "\"zero\":0.10,\"s\":\"caf\\u00e9 \\/\",\"deep\":[{\"x\":2.50},[]]}";
    char body[1024], visitor[2][80], id[2][VG_UUID_STR_LEN], key[256];
    struct watch w;
    watch_start(&w, cfg->topic_events);
    for (int i = 0; i < 2; i++) {
        snprintf(visitor[i], sizeof(visitor[i]), "%s-props-%d", run, i);
        vg_uuid_v7(vg_now_ms(), id[i]);
    }
    snprintf(body, sizeof(body), "{\"type\":\"buy\",\"event_id\":\"%s\",\"visitor_id\":\"%s\","
             "\"properties\":%s}", id[0], visitor[0], props);
    struct itest_answer a = post("/v1/events", NULL, body);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    snprintf(body, sizeof(body), "{\"messageId\":\"%s\",\"anonymousId\":\"%s\","
             "\"event\":\"Order Completed\",\"properties\":%s}", id[1], visitor[1], props);
    a = post("/v1/track", NULL, body);
    assert_int_equal(a.status, 200);
    itest_answer_free(&a);

    for (int i = 0; i < 2; i++) {
        rd_kafka_message_t *m[1];
        snprintf(key, sizeof(key), "demo/%s", visitor[i]);
        if (watch_collect(&w, key, m, 1, 20000) != 1)
            fail_msg("event %d is not on %s within 20 s", i, cfg->topic_events);
        if (!memmem(m[0]->payload, m[0]->len, compact, strlen(compact)))
            fail_msg("event %d: the envelope lacks the client's text %s: %.*s", i, compact,
                     (int)m[0]->len, (const char *)m[0]->payload);
        rd_kafka_message_destroy(m[0]);
    }
    watch_stop(&w);

    PGconn *db = PQconnectdb(itest_env("VIGIL_DATABASE_URL"));
    for (int i = 0; i < 2; i++) {
        PGresult *r = NULL;
        if (!ITEST_WAIT((r = landed_props(db, id[i])) != NULL, 60000))
            fail_msg("event %d (%s) did not land in raw, staging and the vault within 60 s", i,
                     id[i]);
        static const char *const want[] = {"1.50", "12345678901234567890.123456789", "0.10",
                                           "100", "caf\xc3\xa9 /", "true", "1.50", "1.50"};
        for (int c = 0; c < (int)VG_ARRAY_LEN(want); c++)
            if (strcmp(PQgetvalue(r, 0, c), want[c]))
                fail_msg("event %d, column %d: %s, want %s", i, c + 1, PQgetvalue(r, 0, c),
                         want[c]);
        PQclear(r);
    }
    PQfinish(db);
}

static void test_rejected_batch_enqueues_nothing(void **state)
{
    struct watch w;
    watch_start(&w, cfg->topic_events);
    char body[1024], visitor[80], key[128];
    snprintf(visitor, sizeof(visitor), "%s-rejected", run);
    snprintf(body, sizeof(body),
             "[{\"type\":\"doomed\",\"visitor_id\":\"%s\"},{\"type\":\"doomed\",\"visitor_id\":"
             "\"%s\"},{\"type\":\"Not Valid\",\"visitor_id\":\"%s\"}]",
             visitor, visitor, visitor);
    struct itest_answer a = post("/v1/events", NULL, body);
    assert_error(&a, 400, "invalid_field", 2, "type");
    itest_answer_free(&a);
    /* A marker on the same key, hence the same partition, after the refusal. */
    snprintf(body, sizeof(body), "{\"type\":\"marker\",\"visitor_id\":\"%s\"}", visitor);
    a = post("/v1/events", NULL, body);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    snprintf(key, sizeof(key), "demo/%s", visitor);
    rd_kafka_message_t *m[4];
    size_t n = watch_collect(&w, key, m, 1, 20000);
    assert_int_equal(n, 1);
    json_t *v = value_of(m[0]);
    if (strcmp(s_of(v, "type"), "marker"))
        fail_msg("an event of the refused batch reached Kafka: %s", s_of(v, "type"));
    json_decref(v);
    rd_kafka_message_destroy(m[0]);
    /* and nothing else arrives after it */
    n = watch_collect(&w, key, m, 1, 1500);
    assert_int_equal(n, 0);
    watch_stop(&w);
}

static void test_every_refusal_is_a_json_error(void **state)
{
    struct itest_answer a;
    char h[256];
    /* 400 with index and field, for JSON and NDJSON */
    a = post("/v1/events", NULL, "[{\"type\":\"a\"},{\"type\":\"b\",\"bogus\":1}]");
    assert_error(&a, 400, "unknown_field", 1, "bogus");
    itest_answer_free(&a);
    a = itest_call(http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/x-ndjson\r\n",
                   "{\"type\":\"a\"}\n{\"type\":\"a\",\"occurred_at\":\"noon\"}\n");
    assert_error(&a, 400, "invalid_field", 1, "occurred_at");
    itest_answer_free(&a);
    a = post("/v1/events", NULL, "{\"type\":");
    assert_error(&a, 400, "invalid_json", -1, NULL);
    itest_answer_free(&a);
    /* 401: no key, unknown key, a key of another tenant than X-Customer-ID */
    a = itest_call(http, "POST", "/v1/events", "Content-Type: application/json\r\n",
                   "{\"type\":\"a\"}");
    assert_error(&a, 401, "missing_credentials", -1, NULL);
    assert_non_null(header(&a, "WWW-Authenticate"));
    itest_answer_free(&a);
    a = itest_call(http, "POST", "/v1/events",
                   "Authorization: Bearer not-a-key\r\nContent-Type: application/json\r\n",
                   "{\"type\":\"a\"}");
    assert_error(&a, 401, "unknown_key", -1, NULL);
    itest_answer_free(&a);
    a = post("/v1/events", "X-Customer-ID: acme\r\n", "{\"type\":\"a\"}");
    assert_error(&a, 401, "tenant_mismatch", -1, NULL);
    itest_answer_free(&a);
    a = post("/v1/events", "X-Customer-ID: demo\r\n", "{\"type\":\"a\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    /* 413: a body over producer.max_body_bytes, an event over max_event_bytes */
    struct vg_buf big = {0};
    vg_buf_puts(&big, "{\"type\":\"a\",\"properties\":{\"x\":\"");
    for (int64_t i = 0; i < cfg->producer_max_body_bytes; i++)
        vg_buf_putc(&big, 'x');
    vg_buf_puts(&big, "\"}}");
    /* Refused on its headers: with Expect: 100-continue the body is never sent. */
    a = post("/v1/events", "Expect: 100-continue\r\n", big.data);
    assert_error(&a, 413, "body_too_large", -1, NULL);
    itest_answer_free(&a);
    vg_httpc_reconnect(http);
    vg_buf_reset(&big);
    vg_buf_puts(&big, "[{\"type\":\"a\"},{\"type\":\"a\",\"properties\":{\"x\":\"");
    for (int64_t i = 0; i < cfg->producer_max_event_bytes; i++)
        vg_buf_putc(&big, 'x');
    vg_buf_puts(&big, "\"}}]");
    a = post("/v1/events", NULL, big.data);
    assert_error(&a, 413, "event_too_large", 1, NULL);
    itest_answer_free(&a);
    vg_buf_free(&big);
    /* 415 */
    snprintf(h, sizeof(h), "%sContent-Type: application/x-www-form-urlencoded\r\n", key_header);
    a = itest_call(http, "POST", "/v1/events", h, "type=a");
    assert_error(&a, 415, "unsupported_media_type", -1, NULL);
    itest_answer_free(&a);
    vg_httpc_reconnect(http);
    /* wrong route and method, still JSON */
    a = itest_call(http, "GET", "/v1/events", key_header, NULL);
    assert_int_equal(a.status, 405);
    assert_non_null(header(&a, "Allow"));
    itest_answer_free(&a);
    a = itest_call(http, "GET", "/v2/nothing", NULL, NULL);
    assert_error(&a, 404, "not_found", -1, NULL);
    itest_answer_free(&a);
}

static void test_respond_async_answers_on_enqueue(void **state)
{
    struct watch w;
    watch_start(&w, cfg->topic_events);
    char body[256], visitor[80], key[128];
    snprintf(visitor, sizeof(visitor), "%s-async", run);
    snprintf(body, sizeof(body), "{\"type\":\"async.test\",\"visitor_id\":\"%s\"}", visitor);
    struct itest_answer a = post("/v1/events", "Prefer: respond-async\r\n", body);
    assert_int_equal(a.status, 202);
    const char *pa = header(&a, "Preference-Applied");
    assert_non_null(pa);
    assert_string_equal(pa, "respond-async");
    itest_answer_free(&a);
    /* without the preference, no Preference-Applied */
    a = post("/v1/events", NULL, body);
    assert_int_equal(a.status, 202);
    assert_null(header(&a, "Preference-Applied"));
    itest_answer_free(&a);
    snprintf(key, sizeof(key), "demo/%s", visitor);
    rd_kafka_message_t *m[2];
    assert_int_equal(watch_collect(&w, key, m, 2, 20000), 2);
    rd_kafka_message_destroy(m[0]);
    rd_kafka_message_destroy(m[1]);
    watch_stop(&w);
}

static void test_sessions_tokens_and_tracking_links(void **state)
{
    struct watch w;
    watch_start(&w, cfg->topic_heartbeats);
    char body[512], sid[96], other[96], path[1024], h[1024], key[160];
    snprintf(sid, sizeof(sid), "%s-session-a", run);
    snprintf(other, sizeof(other), "%s-session-b", run);
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\",\"kind\":\"lesson\"}", sid);
    struct itest_answer a = post("/v1/sessions", NULL, body);
    assert_int_equal(a.status, 201);
    assert_string_equal(s_of(a.json, "session_id"), sid);
    char token[512], link[512];
    snprintf(token, sizeof(token), "%s", s_of(a.json, "token"));
    snprintf(link, sizeof(link), "%s", s_of(a.json, "link_token"));
    itest_answer_free(&a);
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\"}", other);
    a = post("/v1/sessions", NULL, body);
    assert_int_equal(a.status, 201);
    itest_answer_free(&a);

    /* a heartbeat with the session's own token */
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", sid);
    snprintf(h, sizeof(h), "Authorization: Session %s\r\n", token);
    a = itest_call(http, "POST", path, h, NULL);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    /* ... cannot touch another session */
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", other);
    a = itest_call(http, "POST", path, h, NULL);
    assert_error(&a, 401, "session_scope", -1, "session_id");
    itest_answer_free(&a);
    /* ... nor create sessions */
    a = itest_call(http, "POST", "/v1/sessions", h, NULL);
    assert_error(&a, 401, "key_required", -1, NULL);
    itest_answer_free(&a);
    /* an altered token is refused */
    char altered[512];
    snprintf(altered, sizeof(altered), "%s", token);
    altered[3] = altered[3] == 'A' ? 'B' : 'A';
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat?token=%s", sid, altered);
    a = itest_call(http, "POST", path, NULL, NULL);
    assert_error(&a, 401, "invalid_token", -1, NULL);
    itest_answer_free(&a);
    /* events for the token's session, by ?token= as navigator.sendBeacon sends them */
    snprintf(path, sizeof(path), "/v1/events?token=%s", token);
    a = itest_call(http, "POST", path, "Content-Type: text/plain;charset=UTF-8\r\n",
                   "{\"type\":\"beacon\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    /* a tracking link, by the link token: 302 to an allowed host, 400 elsewhere */
    snprintf(path, sizeof(path), "/t/%s?to=https://example.com/lesson", link);
    a = itest_call(http, "GET", path, NULL, NULL);
    assert_int_equal(a.status, 302);
    assert_string_equal(header(&a, "Location"), "https://example.com/lesson");
    itest_answer_free(&a);
    snprintf(path, sizeof(path), "/t/%s?to=https://example.com.evil.test/", link);
    a = itest_call(http, "GET", path, NULL, NULL);
    assert_error(&a, 400, "redirect_not_allowed", -1, "to");
    itest_answer_free(&a);
    /* the end */
    snprintf(path, sizeof(path), "/v1/sessions/%s/end", sid);
    a = itest_call(http, "POST", path, h, "{\"reason\":\"done\"}");
    assert_int_equal(a.status, 415); /* a body needs its media type */
    itest_answer_free(&a);
    snprintf(h, sizeof(h), "Authorization: Session %s\r\nContent-Type: application/json\r\n",
             token);
    a = itest_call(http, "POST", path, h, "{\"reason\":\"done\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);

    /* On vigil.heartbeats, in order: start, heartbeat, activate, end. */
    static const char *const want[] = {"session.start", "session.heartbeat", "session.activate",
                                       "session.end"};
    snprintf(key, sizeof(key), "demo/%s", sid);
    rd_kafka_message_t *m[4];
    size_t n = watch_collect(&w, key, m, 4, 20000);
    if (n != 4)
        fail_msg("%zu of 4 signals of %s arrived", n, sid);
    for (size_t i = 0; i < 4; i++) {
        if (m[i]->key_len != strlen(key))
            fail_msg("signal key %.*s, want %s", (int)m[i]->key_len, (const char *)m[i]->key, key);
        assert_header(m[i], "vigil-schema", "signal/1");
        assert_header(m[i], "vigil-tenant", "demo");
        json_t *v = value_of(m[i]);
        if (strcmp(s_of(v, "type"), want[i]))
            fail_msg("signal %zu is %s, want %s", i, s_of(v, "type"), want[i]);
        assert_string_equal(s_of(v, "session_id"), sid);
        if (i == 0) {
            assert_string_equal(s_of(v, "kind"), "lesson");
            assert_string_equal(s_of(v, "status"), "active");
        }
        if (i == 2)
            assert_string_equal(s_of(v, "url"), "https://example.com/lesson");
        if (i == 3)
            assert_string_equal(s_of(v, "reason"), "done");
        json_decref(v);
        rd_kafka_message_destroy(m[i]);
    }
    watch_stop(&w);

    /* the beacon's event went to vigil.events under the token's session (checked by key) */
}

static void test_cors_preflight_and_headers(void **state)
{
    struct itest_answer a =
        itest_call(http, "OPTIONS", "/v1/events",
                   "Origin: http://localhost:5173\r\n"
                   "Access-Control-Request-Method: POST\r\n"
                   "Access-Control-Request-Headers: authorization, content-type\r\n",
                   NULL);
    assert_int_equal(a.status, 204);
    assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "http://localhost:5173");
    assert_non_null(strstr(header(&a, "Access-Control-Allow-Headers"), "Authorization"));
    itest_answer_free(&a);
    a = itest_call(http, "OPTIONS", "/v1/events",
                   "Origin: https://evil.test\r\nAccess-Control-Request-Method: POST\r\n", NULL);
    assert_int_equal(a.status, 403);
    assert_null(header(&a, "Access-Control-Allow-Origin"));
    itest_answer_free(&a);
    a = post("/v1/events", "Origin: http://127.0.0.1:3000\r\n", "{\"type\":\"cors\"}");
    assert_int_equal(a.status, 202);
    assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "http://127.0.0.1:3000");
    itest_answer_free(&a);
    /* demo's key from an origin demo does not allow */
    a = post("/v1/events", "Origin: https://evil.test\r\n", "{\"type\":\"cors\"}");
    assert_error(&a, 401, "origin_not_allowed", -1, NULL);
    assert_null(header(&a, "Access-Control-Allow-Origin"));
    itest_answer_free(&a);
}

static void test_metrics_count_requests_and_events(void **state)
{
    /* Not on the public port: its series name the tenants. */
    struct itest_answer a = itest_call(http, "GET", "/metrics", NULL, NULL);
    if (a.status != 404)
        fail_msg("/metrics on the API port: status %d, want 404", a.status);
    itest_answer_free(&a);
    char err[256];
    struct vg_httpc *internal =
        vg_httpc_new(itest_env("VIGIL_PRODUCER_METRICS_HTTP"), 10000, err, sizeof(err));
    assert_non_null(internal);
    a = itest_call(internal, "GET", "/metrics", NULL, NULL);
    vg_httpc_free(internal);
    assert_int_equal(a.status, 200);
    const char *text = a.resp.body.data;
    static const char *const want[] = {
        "vigil_http_requests_total{route=\"/v1/events\",status=\"202\"}",
        "vigil_http_requests_total{route=\"/v1/events\",status=\"400\"}",
        "vigil_events_accepted_total{tenant=\"demo\",topic=\"events\"}",
        "vigil_events_rejected_total{reason=\"invalid\"}",
        "vigil_kafka_delivery_seconds_bucket",
        "vigil_producer_queue_depth",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(text, want[i]))
            fail_msg("/metrics lacks %s", want[i]);
    itest_answer_free(&a);
}

static void test_vigilctl_send_publishes_ndjson(void **state)
{
    struct watch w;
    watch_start(&w, cfg->topic_events);
    char path[] = "/tmp/vigil-test-send-XXXXXX", prefix[128];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    enum { LINES = 1200 };
    for (int i = 0; i < LINES; i++) {
        if (i == 700)
            fputs("{\"type\":\"Broken Type\"}\n\n", f); /* refused, then a blank line */
        fprintf(f, "{\"type\":\"send.test\",\"visitor_id\":\"%s-send-%d\"}\n", run, i % 7);
    }
    fclose(f);
    /* Without --skip-invalid it stops at the bad line, having sent what came before. */
    char *argv1[] = {"send", "--quiet", "--batch", "100", path, NULL};
    json_t *r1 = json_object();
    assert_int_equal(vg_send_run(cfg, 5, argv1, r1), 1);
    /* With it, the bad line is dropped and the rest goes through. */
    char *argv2[] = {"send", "--quiet", "--skip-invalid", "--batch", "250", path, NULL};
    json_t *r2 = json_object();
    assert_int_equal(vg_send_run(cfg, 6, argv2, r2), 0);
    unlink(path);
    /* -o json's report says the same: what was accepted, where it stopped, with the
     * producer's event ids and one receipt per batch. */
    assert_string_equal(json_string_value(json_object_get(r1, "status")), "failed");
    assert_int_equal(json_integer_value(json_object_get(r1, "accepted")), 700);
    assert_int_equal(json_integer_value(json_object_get(r1, "stopped_at_line")), 701);
    assert_int_equal(json_array_size(json_object_get(r1, "event_ids")), 700);
    json_t *e1 = json_array_get(json_object_get(r1, "errors"), 0);
    assert_int_equal(json_integer_value(json_object_get(e1, "line")), 701);
    assert_int_equal(json_integer_value(json_object_get(e1, "http_status")), 400);
    assert_false(json_is_true(json_object_get(e1, "skipped")));
    assert_string_equal(json_string_value(json_object_get(r2, "status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(r2, "accepted")), LINES);
    assert_int_equal(json_integer_value(json_object_get(r2, "skipped")), 1);
    assert_int_equal(json_array_size(json_object_get(r2, "event_ids")), LINES);
    assert_int_equal(json_array_size(json_object_get(r2, "receipts")),
                     json_integer_value(json_object_get(r2, "batches")));
    assert_int_equal(json_array_size(json_object_get(r2, "errors")), 1);
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(r2, "errors"), 0),
                                             "skipped")));
    json_decref(r1);
    json_decref(r2);
    snprintf(prefix, sizeof(prefix), "demo/%s-send-", run);
    rd_kafka_message_t **m = calloc(2 * LINES + 1, sizeof(*m));
    size_t n = watch_collect(&w, prefix, m, 700 + LINES, 30000);
    /* 700 from the first run, all 1200 from the second, and not one more */
    if (n != 700 + LINES)
        fail_msg("%zu events on %s, want %d", n, cfg->topic_events, 700 + LINES);
    n += watch_collect(&w, prefix, m + n, 1, 1000);
    assert_int_equal(n, 700 + LINES);
    for (size_t i = 0; i < n; i++)
        rd_kafka_message_destroy(m[i]);
    free(m);
    watch_stop(&w);
}

/* -- producers of our own ------------------------------------------------ */

/* Writes the config of our producers: tenant "tiny" (tiny_key, burst 2,
 * 0.2 events/s) and demo (demo-key). */
static void child_config(const char *path, const char *tiny_key)
{
    static const char conf[] =
        "producer = {\n"
        "  tenants = (\n"
        "    { id = \"tiny\"; rate_per_s = 0.2; burst = 2; origins = [ ]; redirect_hosts = [ ];\n"
        "      keys_sha256 = [ \"%s\" ]; },\n"
        "    { id = \"demo\"; rate_per_s = 1000.0; burst = 1000; origins = [ ];\n"
        "      redirect_hosts = [ ]; keys_sha256 = [ \"%s\" ]; }\n"
        "  );\n"
        "};\n";
    char tiny[65], demo[65], tmp[128];
    unsigned char h[32];
    vg_sha256(tiny_key, strlen(tiny_key), h);
    vg_hex(h, 32, tiny);
    vg_sha256("demo-key", 8, h);
    vg_hex(h, 32, demo);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, conf, tiny, demo);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* a reload never reads half a file */
}

/* Starts vigil-producer with child_config() on brokers, with
 * ack_timeout_ms; waits for /healthz. */
static void child_start(struct itest_child *c, const char *brokers, int ack_timeout_ms)
{
    itest_child_init(c, "producer");
    child_config(c->conf, "tiny-key");
    char ack[16];
    snprintf(ack, sizeof(ack), "%d", ack_timeout_ms);
    const char *const env[][2] = {{"VIGIL_PRODUCER_ACK_TIMEOUT_MS", ack}, {NULL}};
    itest_child_start(c, brokers, env);
}

static void test_rate_limit_429_then_graceful_stop(void **state)
{
    struct itest_child c;
    child_start(&c, cfg->kafka_brokers, 5000);
    const char *h = "Authorization: Bearer tiny-key\r\nContent-Type: application/json\r\n";
    /* more than the burst can ever hold: 413, not an endless 429 */
    struct itest_answer a = itest_call(c.http, "POST", "/v1/events", h,
                                       "[{\"type\":\"a\"},{\"type\":\"a\"},{\"type\":\"a\"}]");
    assert_error(&a, 413, "batch_exceeds_burst", -1, NULL);
    itest_answer_free(&a);
    a = itest_call(c.http, "POST", "/v1/events", h, "[{\"type\":\"a\"},{\"type\":\"a\"}]");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    a = itest_call(c.http, "POST", "/v1/events", h, "{\"type\":\"a\"}");
    assert_error(&a, 429, "rate_limited", -1, NULL);
    assert_true(atoi(header(&a, "Retry-After")) >= 1);
    itest_answer_free(&a);
    /* another tenant has its own bucket */
    a = itest_call(c.http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n",
                   "{\"type\":\"a\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    /* SIGTERM with everything delivered: exit 0, promptly */
    int64_t t0 = vg_mono_ms();
    int rc = itest_child_stop(&c, 15000);
    if (rc != 0)
        fail_msg("producer exited %d after SIGTERM (log %s)", rc, c.log);
    assert_true(vg_mono_ms() - t0 < 10000);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static int status_with_key(struct itest_child *c, const char *key)
{
    char h[256];
    snprintf(h, sizeof(h), "Authorization: Bearer %s\r\nContent-Type: application/json\r\n", key);
    struct itest_answer a = itest_call(c->http, "POST", "/v1/events", h, "{\"type\":\"reload\"}");
    int status = a.status;
    itest_answer_free(&a);
    return status;
}

static void test_sighup_reloads_tenant_keys(void **state)
{
    struct itest_child c;
    child_start(&c, cfg->kafka_brokers, 5000);
    assert_int_equal(status_with_key(&c, "tiny-key"), 202);
    assert_int_equal(status_with_key(&c, "tiny-key-2"), 401);
    child_config(c.conf, "tiny-key-2");
    kill(c.pid, SIGHUP);
    if (!ITEST_WAIT(status_with_key(&c, "tiny-key-2") != 401, 10000))
        fail_msg("the rotated key is not accepted after SIGHUP");
    assert_int_equal(status_with_key(&c, "tiny-key"), 401);
    /* a broken file keeps the configuration in force */
    FILE *f = fopen(c.conf, "w");
    fputs("producer = { port = \"x\"; };\n", f);
    fclose(f);
    kill(c.pid, SIGHUP);
    if (!ITEST_WAIT(file_contains(c.log, "configuration not reloaded"), 10000))
        fail_msg("no warning about the broken file in %s", c.log);
    assert_int_not_equal(status_with_key(&c, "tiny-key-2"), 401);
    int rc = itest_child_stop(&c, 15000);
    if (rc != 0)
        fail_msg("producer exited %d after SIGTERM (log %s)", rc, c.log);
}

static void test_dead_broker_gives_503_within_the_ack_timeout(void **state)
{
    /* A port nothing listens on stands for a stopped broker. */
    char brokers[32];
    snprintf(brokers, sizeof(brokers), "127.0.0.1:%d", itest_free_port());
    struct itest_child c;
    child_start(&c, brokers, 500);
    const char *h = "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n";
    for (int i = 0; i < 3; i++) {
        int64_t t0 = vg_mono_ms();
        struct itest_answer a = itest_call(c.http, "POST", "/v1/events", h, "{\"type\":\"a\"}");
        int64_t took = vg_mono_ms() - t0;
        assert_error(&a, 503, "kafka_timeout", -1, NULL);
        itest_answer_free(&a);
        if (took < 400 || took > 3000)
            fail_msg("503 after %lld ms; the ack timeout is 500 ms", (long long)took);
    }
    struct itest_answer a = itest_call(c.http, "POST", "/v1/sessions", h, "{}");
    assert_error(&a, 503, "kafka_timeout", -1, NULL);
    itest_answer_free(&a);
    a = itest_call(c.http, "GET", "/readyz", NULL, NULL);
    assert_int_equal(a.status, 503);
    itest_answer_free(&a);
    a = itest_call(c.http, "GET", "/healthz", NULL, NULL);
    assert_int_equal(a.status, 200);
    itest_answer_free(&a);
    /* Undelivered messages at exit: reported, and a non-zero status. */
    int rc = itest_child_stop(&c, 30000);
    if (rc <= 0)
        fail_msg("producer exited %d with undelivered messages", rc);
    unlink(c.log);
}

/* -- setup --------------------------------------------------------------- */

static int setup(void **state)
{
    char err[512];
    itest_env("VIGIL_KAFKA_BROKERS");
    if (vg_config_load(getenv("VIGIL_CONFIG"), &cfg, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    http = vg_httpc_new(itest_env("VIGIL_HTTP"), 30000, err, sizeof(err));
    if (!http) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    static char kh[256];
    snprintf(kh, sizeof(kh), "Authorization: Bearer %s\r\n", itest_env("VIGIL_DEMO_KEY"));
    key_header = kh;
    snprintf(run, sizeof(run), "itp-%d-%lld", (int)getpid(), (long long)(vg_now_ms() % 100000000));
    return 0;
}

static int teardown(void **state)
{
    vg_httpc_free(http);
    vg_config_free(cfg);
    return 0;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted_event_is_on_vigil_events),
        cmocka_unit_test(test_properties_keep_the_clients_text_into_raw_and_the_vault),
        cmocka_unit_test(test_rejected_batch_enqueues_nothing),
        cmocka_unit_test(test_every_refusal_is_a_json_error),
        cmocka_unit_test(test_respond_async_answers_on_enqueue),
        cmocka_unit_test(test_sessions_tokens_and_tracking_links),
        cmocka_unit_test(test_cors_preflight_and_headers),
        cmocka_unit_test(test_metrics_count_requests_and_events),
        cmocka_unit_test(test_vigilctl_send_publishes_ndjson),
        cmocka_unit_test(test_rate_limit_429_then_graceful_stop),
        cmocka_unit_test(test_sighup_reloads_tenant_keys),
        cmocka_unit_test(test_dead_broker_gives_503_within_the_ack_timeout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
