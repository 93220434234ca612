/*
 * What the producer adds to an event, tenant by tenant, and who may write
 * through Segment's Tracking API (issue 16, docs/segment.md), on a producer
 * this test starts itself (the binary of this tree, on the stack's Kafka):
 *
 *  - enrichment follows each tenant's settings: the client's address
 *    (X-Forwarded-For read because the peer, 127.0.0.1, is a trusted proxy)
 *    and the user agent into context where the client left them out; none
 *    of it for a tenant that turns it off; addresses cut to IPv4 /24 and
 *    IPv6 /48 for a tenant that truncates, the client's own context.ip too;
 *  - a publishable key is a write key, from the tenant's origins, and its
 *    refusals (401, a 429 with Retry-After) carry code and message at the
 *    top level, where Segment's SDKs read them; its rate is per client,
 *    so two clients behind one trusted proxy do not share a bucket;
 *  - gzip bodies on the session routes, as on every route with a body.
 *
 * Its config: producer.trusted_proxies = "127.0.0.1"; tenants <run>-on
 * (on-key, publishable on-pk from http://127.0.0.1:*, a publishable burst
 * of 2), <run>-off (off-key, enrich_ip and enrich_user_agent false) and
 * <run>-cut (cut-key, truncate_ip true).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <zlib.h>

#include "crypto.h"
#include "itest.h"
#include "itest_http.h"
#include "itest_stack.h"

#define LAND_MS 30000 /* the workers land an accepted message within this */
#define ORIGIN "http://127.0.0.1:5173"
/* Basic base64("<key>:"), as Segment's SDKs send a write key. */
#define BASIC_ON "Authorization: Basic b24ta2V5Og==\r\n"
#define BASIC_PK "Authorization: Basic b24tcGs6\r\n"
#define BASIC_OFF "Authorization: Basic b2ZmLWtleTo=\r\n"
#define BASIC_CUT "Authorization: Basic Y3V0LWtleTo=\r\n"
#define JSON "Content-Type: application/json\r\n"

static struct itest st;
static struct itest_child kid;
static char t_on[64], t_off[64], t_cut[64]; /* this run's tenants */

/* -- helpers ---------------------------------------------------------------- */

static const char *body_of(struct itest_answer *a)
{
    return a->resp.body.data ? a->resp.body.data : "";
}

/* One request to our producer: asserts its status and body (NULL: any). */
static void call_expect(const char *path, const char *headers, const char *body, int status,
                        const char *want_body)
{
    struct itest_answer a = itest_call(kid.http, "POST", path, headers, body);
    if (a.status != status || (want_body && strcmp(body_of(&a), want_body)))
        fail_msg("POST %s [%s]: %d %.300s, want %d %s", path, headers, a.status, body_of(&a),
                 status, want_body ? want_body : "");
    itest_answer_free(&a);
}

/* The top-level code of a Segment error answer, and a message beside it. */
static void expect_top_level(struct itest_answer *a, const char *what, int status,
                             const char *code)
{
    const char *got = json_string_value(json_object_get(a->json, "code"));
    if (a->status != status || !got || strcmp(got, code) ||
        !json_is_string(json_object_get(a->json, "message")))
        fail_msg("%s: %d %.300s, want %d with code %s and message at the top level", what,
                 a->status, body_of(a), status, code);
}

/* The staged context of the one event of tenant and visitor, as text ("" if
 * none yet); waits for it to land. */
static const char *staged_context(const char *tenant, const char *visitor)
{
    static char out[1024];
    const char *p[] = {tenant, visitor};
    const char *sql = "SELECT count(*) FROM staging.events WHERE tenant_id = $1 AND "
                      "visitor_id = $2";
    if (!ITEST_WAIT(itest_count(&st, sql, 2, p) == 1, LAND_MS))
        fail_msg("%s/%s: %lld events staged within %d ms, want 1", tenant, visitor,
                 itest_count(&st, sql, 2, p), LAND_MS);
    PGresult *r = PQexecParams(st.db,
                               "SELECT coalesce(context::text, '') FROM staging.events "
                               "WHERE tenant_id = $1 AND visitor_id = $2",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    snprintf(out, sizeof(out), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static void expect_context(const char *tenant, const char *visitor, const char *want)
{
    const char *got = staged_context(tenant, visitor);
    if (strcmp(got, want))
        fail_msg("%s/%s: context %s, want %s", tenant, visitor, got, want);
}

static void hash_hex(const char *key, char out[65])
{
    unsigned char h[VG_SHA256_LEN];
    vg_sha256(key, strlen(key), h);
    vg_hex(h, VG_SHA256_LEN, out);
}

/* text gzip-compressed into out (a new buffer). */
static void gzip_text(const char *text, struct vg_buf *out)
{
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    vg_buf_reserve(out, deflateBound(&z, strlen(text)));
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)strlen(text);
    z.next_out = (unsigned char *)out->data;
    z.avail_out = (uInt)out->cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = out->cap - z.avail_out;
    deflateEnd(&z);
}

/* POST of a gzip body (n bytes) to our producer. */
static struct itest_answer post_gzip(const char *path, const char *headers, const void *body,
                                     size_t n)
{
    struct itest_answer a = {0};
    char err[512], h[512];
    snprintf(h, sizeof(h), "%sContent-Encoding: gzip\r\n", headers);
    if (vg_httpc_request(kid.http, "POST", path, h, body, n, &a.resp, err, sizeof(err)))
        fail_msg("POST %s: %s", path, err);
    a.status = a.resp.status;
    a.json = json_loadb(body_of(&a), a.resp.body.len, 0, NULL);
    return a;
}

/* -- enrichment --------------------------------------------------------------- */

static void test_enrichment_follows_each_tenants_settings(void **state)
{
    char body[512], v[96];
    const char *ok = "{\"success\":true}";
    /* Behind a trusted proxy (the peer): the client is the last hop it names,
     * not the one a client may have forged to its left. */
    const char *via = "User-Agent: sdk-test/1\r\nX-Forwarded-For: 6.6.6.6, 203.0.113.9\r\n";
    char h[512];

    snprintf(v, sizeof(v), "%s-a", t_on);
    snprintf(body, sizeof(body), "{\"anonymousId\":\"%s\",\"event\":\"E\"}", v);
    snprintf(h, sizeof(h), "%s%s%s", BASIC_ON, JSON, via);
    call_expect("/v1/track", h, body, 200, ok);
    expect_context(t_on, v, "{\"ip\": \"203.0.113.9\", \"userAgent\": \"sdk-test/1\"}");
    /* What the client set is its own. */
    snprintf(v, sizeof(v), "%s-b", t_on);
    snprintf(body, sizeof(body),
             "{\"anonymousId\":\"%s\",\"context\":{\"ip\":\"198.51.100.7\",\"userAgent\":\"app\"}}",
             v);
    call_expect("/v1/identify", h, body, 200, ok);
    expect_context(t_on, v, "{\"ip\": \"198.51.100.7\", \"userAgent\": \"app\"}");

    /* Turned off: nothing added, the client's context kept as sent. */
    snprintf(h, sizeof(h), "%s%s%s", BASIC_OFF, JSON, via);
    snprintf(v, sizeof(v), "%s-a", t_off);
    snprintf(body, sizeof(body), "{\"anonymousId\":\"%s\",\"event\":\"E\"}", v);
    call_expect("/v1/track", h, body, 200, ok);
    expect_context(t_off, v, "");
    snprintf(v, sizeof(v), "%s-b", t_off);
    snprintf(body, sizeof(body),
             "{\"type\":\"page.view\",\"visitor_id\":\"%s\",\"context\":{\"locale\":\"fr\"}}", v);
    snprintf(h, sizeof(h), "Authorization: Bearer off-key\r\n%s%s", JSON, via);
    call_expect("/v1/events", h, body, 202, NULL);
    expect_context(t_off, v, "{\"locale\": \"fr\"}");

    /* Truncated: IPv6 to /48, and the client's own IPv4 to /24. */
    snprintf(h, sizeof(h),
             "%s%sUser-Agent: sdk-test/1\r\nX-Forwarded-For: 2001:db8:1234:5678::1\r\n",
             BASIC_CUT, JSON);
    snprintf(v, sizeof(v), "%s-a", t_cut);
    snprintf(body, sizeof(body), "{\"anonymousId\":\"%s\",\"event\":\"E\"}", v);
    call_expect("/v1/track", h, body, 200, ok);
    expect_context(t_cut, v, "{\"ip\": \"2001:db8:1234::\", \"userAgent\": \"sdk-test/1\"}");
    snprintf(v, sizeof(v), "%s-b", t_cut);
    snprintf(body, sizeof(body), "{\"anonymousId\":\"%s\",\"context\":{\"ip\":\"198.51.100.7\"}}",
             v);
    call_expect("/v1/identify", h, body, 200, ok);
    expect_context(t_cut, v, "{\"ip\": \"198.51.100.0\", \"userAgent\": \"sdk-test/1\"}");
}

/* -- publishable keys as write keys ----------------------------------------- */

static void test_a_publishable_key_is_a_write_key(void **state)
{
    char body[512], v[96], h[512];
    snprintf(v, sizeof(v), "%s-pk", t_on);
    snprintf(body, sizeof(body),
             "{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"%s\",\"event\":\"A\"},"
             "{\"type\":\"page\",\"anonymousId\":\"%s\",\"name\":\"Home\"}]}",
             v, v);
    /* Outside the tenant's origins: refused, as the SDKs read a refusal. */
    snprintf(h, sizeof(h), "%s%s", BASIC_PK, JSON);
    struct itest_answer a = itest_call(kid.http, "POST", "/v1/batch", h, body);
    expect_top_level(&a, "a publishable key without Origin", 401, "origin_not_allowed");
    itest_answer_free(&a);

    /* From the page of one: 200, and both calls land. */
    snprintf(h, sizeof(h), "%s%sOrigin: " ORIGIN "\r\n", BASIC_PK, JSON);
    call_expect("/v1/batch", h, body, 200, "{\"success\":true}");
    const char *p[] = {t_on, v};
    const char *sql = "SELECT count(*) FROM raw.events WHERE tenant_id = $1 AND "
                      "body->>'visitor_id' = $2";
    if (!ITEST_WAIT(itest_count(&st, sql, 2, p) == 2, LAND_MS))
        fail_msg("%lld calls of the publishable key landed, want 2", itest_count(&st, sql, 2, p));

    /* Its burst (2 events per address) is spent: a 429 the SDKs retry after Retry-After. */
    a = itest_call(kid.http, "POST", "/v1/batch", h, body);
    expect_top_level(&a, "past the publishable burst", 429, "rate_limited");
    char retry[32];
    if (!vg_http_resp_header(&a.resp, "Retry-After", retry, sizeof(retry)) || atoi(retry) < 1)
        fail_msg("429 without a Retry-After of at least 1 s");
    itest_answer_free(&a);

    /* Another page's visitor behind the same trusted proxy (the peer,
     * 127.0.0.1) has a bucket of its own: the limit is per client, not per
     * proxy. */
    snprintf(h, sizeof(h), "%s%sOrigin: " ORIGIN "\r\nX-Forwarded-For: 198.51.100.7\r\n",
             BASIC_PK, JSON);
    call_expect("/v1/batch", h, body, 200, "{\"success\":true}");
}

/* -- gzip on the session routes ----------------------------------------------- */

static void test_session_routes_take_gzip_bodies(void **state)
{
    char text[256], path[256], sid[96];
    const char *h = "Authorization: Bearer on-key\r\n" JSON;
    struct vg_buf gz = {0};
    snprintf(sid, sizeof(sid), "%s-s", t_on);
    snprintf(text, sizeof(text), "{\"session_id\":\"%s\",\"kind\":\"lesson\"}", sid);
    gzip_text(text, &gz);
    struct itest_answer a = post_gzip("/v1/sessions", h, gz.data, gz.len);
    if (a.status != 201 || strcmp(json_string_value(json_object_get(a.json, "session_id")), sid))
        fail_msg("POST /v1/sessions, gzip: %d %.300s", a.status, body_of(&a));
    itest_answer_free(&a);
    vg_buf_reset(&gz);
    gzip_text("{\"reason\":\"gzip\"}", &gz);
    snprintf(path, sizeof(path), "/v1/sessions/%s/end", sid);
    a = post_gzip(path, h, gz.data, gz.len);
    if (a.status != 202)
        fail_msg("POST %s, gzip: %d %.300s", path, a.status, body_of(&a));
    itest_answer_free(&a);
    vg_buf_free(&gz);

    /* Another coding: 415, before the body is looked at. */
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", sid);
    char hb[256];
    snprintf(hb, sizeof(hb), "%sContent-Encoding: br\r\n", h);
    a = itest_call(kid.http, "POST", path, hb, "{}");
    const char *code = json_string_value(json_object_get(json_object_get(a.json, "error"), "code"));
    if (a.status != 415 || !code || strcmp(code, "unsupported_encoding"))
        fail_msg("POST %s, Content-Encoding br: %d %.300s", path, a.status, body_of(&a));
    itest_answer_free(&a);

    const char *p[] = {t_on, sid};
    const char *sql = "SELECT count(*) FROM mart.sessions WHERE tenant_id = $1 AND "
                      "session_id = $2 AND status = 'ended'";
    if (!ITEST_WAIT(itest_count(&st, sql, 2, p) == 1, LAND_MS))
        fail_msg("the session started and ended with gzip bodies is not ended in mart.sessions");
}

/* -- set-up ------------------------------------------------------------------ */

static int setup(void **state)
{
    itest_open(&st, "enr");
    snprintf(t_on, sizeof(t_on), "%s-on", st.tenant);
    snprintf(t_off, sizeof(t_off), "%s-off", st.tenant);
    snprintf(t_cut, sizeof(t_cut), "%s-cut", st.tenant);
    itest_child_init(&kid, "enrich");
    char on[65], pk[65], off[65], cut[65];
    hash_hex("on-key", on);
    hash_hex("on-pk", pk);
    hash_hex("off-key", off);
    hash_hex("cut-key", cut);
    FILE *f = fopen(kid.conf, "w");
    assert_non_null(f);
    fprintf(f,
            "producer = {\n"
            "  trusted_proxies = \"127.0.0.1\";\n"
            "  tenants = (\n"
            "    { id = \"%s\"; keys_sha256 = [ \"%s\" ]; publishable_keys_sha256 = [ \"%s\" ];\n"
            "      publishable_rate_per_s = 0.01; publishable_burst = 2;\n"
            "      origins = [ \"http://127.0.0.1:*\" ]; },\n"
            "    { id = \"%s\"; keys_sha256 = [ \"%s\" ];\n"
            "      enrich_ip = false; enrich_user_agent = false; },\n"
            "    { id = \"%s\"; keys_sha256 = [ \"%s\" ]; truncate_ip = true; }\n"
            "  );\n"
            "};\n",
            t_on, on, pk, t_off, off, t_cut, cut);
    fclose(f);
    itest_child_start(&kid, st.cfg->kafka_brokers, NULL);
    return 0;
}

static int teardown(void **state)
{
    int rc = itest_child_teardown(&kid);
    itest_close(&st);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enrichment_follows_each_tenants_settings),
        cmocka_unit_test(test_a_publishable_key_is_a_write_key),
        cmocka_unit_test(test_session_routes_take_gzip_bodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
