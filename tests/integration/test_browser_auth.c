/*
 * What a browser may hold (issue 15, DESIGN.md section 12), on a producer
 * this test starts itself (the binary of this tree, on the stack's Kafka):
 *
 *  - a publishable key writes (sessions, events, signals) from the tenant's
 *    origins only, with a rate limit per client address;
 *  - a link token opens its tracking link (and the tracking page's
 *    heartbeats and end) and nothing else; a session token never opens a link;
 *  - the tracking page answers for a tenant with link_page = true or with
 *    ?page=1, keeps the redirect allow-list, and what it records lands;
 *  - /sdk/vigil.js and /sdk/vigil.mjs are the files of sdk/, with ETag,
 *    Cache-Control and CORS.
 *
 * Its config: tenant demo (demo-key, publishable demo-pk, origins
 * http://127.0.0.1:*, redirects to example.com, a publishable burst of 4 per
 * address, refilled at 0.2 per second) and tenant acme (acme-key,
 * link_page = true, redirects to example.com).
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

#include "crypto.h"
#include "itest.h"
#include "itest_http.h"
#include "itest_stack.h"

#define LAND_MS 30000 /* the workers land an accepted message within this */
#define ORIGIN "http://127.0.0.1:5173"

static struct itest st;
static struct itest_child kid;
static char run[48]; /* this run's id prefix */

/* -- helpers ---------------------------------------------------------------- */

static const char *header(struct itest_answer *a, const char *name)
{
    static char v[512];
    return vg_http_resp_header(&a->resp, name, v, sizeof(v)) ? v : NULL;
}

static const char *body_of(struct itest_answer *a)
{
    return a->resp.body.data ? a->resp.body.data : "";
}

/* Asserts status and, for an error, its JSON code. */
static void expect(struct itest_answer *a, const char *what, int status, const char *code)
{
    if (a->status != status)
        fail_msg("%s: status %d, want %d: %.300s", what, a->status, status, body_of(a));
    if (!code)
        return;
    const char *got = json_string_value(json_object_get(json_object_get(a->json, "error"), "code"));
    if (!got || strcmp(got, code))
        fail_msg("%s: error %s, want %s: %.300s", what, got ? got : "(none)", code, body_of(a));
}

/* One request to our producer, checked, then freed. */
static void call_expect(const char *method, const char *path, const char *headers,
                        const char *body, int status, const char *code)
{
    char what[700];
    snprintf(what, sizeof(what), "%s %.200s [%.200s]", method, path, headers ? headers : "");
    struct itest_answer a = itest_call(kid.http, method, path, headers, body);
    expect(&a, what, status, code);
    itest_answer_free(&a);
}

/* Starts session sid with auth (a header block); its token and link token. */
static void start_session(const char *auth, const char *sid, char *token, char *link)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\"}", sid);
    struct itest_answer a = itest_call(kid.http, "POST", "/v1/sessions", auth, body);
    expect(&a, "POST /v1/sessions", 201, NULL);
    const char *t = json_string_value(json_object_get(a.json, "token"));
    const char *l = json_string_value(json_object_get(a.json, "link_token"));
    if (!t || !l || !strcmp(t, l))
        fail_msg("a session needs a token and a different link_token: %s", body_of(&a));
    snprintf(token, 512, "%s", t);
    snprintf(link, 512, "%s", l);
    itest_answer_free(&a);
}

/* Rows in raw.events of tenant for session sid and type. */
static long long landed(const char *tenant, const char *sid, const char *type)
{
    const char *p[] = {tenant, sid, type};
    return itest_count(&st,
                       "SELECT count(*) FROM raw.events WHERE tenant_id = $1 "
                       "AND body->>'session_id' = $2 AND body->>'type' = $3",
                       3, p);
}

static void await_landed(const char *tenant, const char *sid, const char *type, long long want)
{
    if (!ITEST_WAIT(landed(tenant, sid, type) >= want, LAND_MS))
        fail_msg("%s/%s: %lld %s landed within %d ms, want %lld", tenant, sid,
                 landed(tenant, sid, type), type, LAND_MS, want);
}

static void hash_hex(const char *key, char out[65])
{
    unsigned char h[VG_SHA256_LEN];
    vg_sha256(key, strlen(key), h);
    vg_hex(h, VG_SHA256_LEN, out);
}

/* -- publishable keys ------------------------------------------------------- */

static const char PK_JSON[] = "Authorization: Bearer demo-pk\r\nContent-Type: application/json\r\n";

static void test_a_publishable_key_writes_from_the_tenants_origins_only(void **state)
{
    char sid[96], h[512], path[700], token[512], link[512];
    snprintf(sid, sizeof(sid), "%s-pk", run);
    /* no Origin (a script outside a browser), or another site's: refused */
    call_expect("POST", "/v1/sessions", PK_JSON, "{}", 401, "origin_not_allowed");
    snprintf(h, sizeof(h), "%sOrigin: https://evil.test\r\n", PK_JSON);
    call_expect("POST", "/v1/events", h, "{\"type\":\"pk.probe\"}", 401, "origin_not_allowed");
    /* a secret key stays a secret key: no origin needed */
    call_expect("POST", "/v1/events",
                "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n",
                "{\"type\":\"pk.secret\"}", 202, NULL);

    /* from the tenant's origin: a session of its own, then its events and signals */
    snprintf(h, sizeof(h), "%sOrigin: " ORIGIN "\r\n", PK_JSON);
    struct itest_answer a = itest_call(kid.http, "POST", "/v1/sessions", h, "{}");
    expect(&a, "POST /v1/sessions with the publishable key", 201, NULL);
    const char *acao = header(&a, "Access-Control-Allow-Origin");
    if (!acao || strcmp(acao, ORIGIN))
        fail_msg("the page cannot read its session: Access-Control-Allow-Origin %s",
                 acao ? acao : "(none)");
    if (!json_is_string(json_object_get(a.json, "token")))
        fail_msg("no token for the page: %s", body_of(&a));
    itest_answer_free(&a);
    snprintf(path, sizeof(path), "{\"type\":\"pk.event\",\"session_id\":\"%s\"}", sid);
    call_expect("POST", "/v1/events", h, path, 202, NULL);
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", sid);
    call_expect("POST", path, h, NULL, 202, NULL);
    snprintf(path, sizeof(path), "/v1/sessions/%s/end", sid);
    call_expect("POST", path, h, "{\"reason\":\"pk\"}", 202, NULL);

    /* four messages from 127.0.0.1: its burst is spent; the tenant's is not */
    struct itest_answer r = itest_call(kid.http, "POST", "/v1/events", h, "{\"type\":\"pk.over\"}");
    expect(&r, "a fifth message by the publishable key from one address", 429, "rate_limited");
    const char *retry = header(&r, "Retry-After");
    if (!retry || atoi(retry) < 1)
        fail_msg("429 without a Retry-After of at least 1 s: %s", retry ? retry : "(none)");
    /* and the page's script may read it (vigil.js waits that long before it retries) */
    const char *expose = header(&r, "Access-Control-Expose-Headers");
    if (!expose || !strstr(expose, "Retry-After"))
        fail_msg("a page cannot read the 429's Retry-After: Access-Control-Expose-Headers %s",
                 expose ? expose : "(none)");
    itest_answer_free(&r);
    /* refused before its body is read: a body that is not JSON is not looked at */
    call_expect("POST", "/v1/events", h, "{not json", 429, "rate_limited");
    start_session("Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", sid,
                  token, link);
    call_expect("POST", "/v1/events",
                "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n",
                "{\"type\":\"pk.secret\"}", 202, NULL);

    /* what the publishable key sent landed, once */
    await_landed("demo", sid, "pk.event", 1);
    await_landed("demo", sid, "session.end", 1);
    assert_int_equal(landed("demo", sid, "pk.over"), 0);
}

/* -- link tokens ------------------------------------------------------------ */

static void test_a_link_token_opens_its_link_and_nothing_else(void **state)
{
    char sid[96], token[512], link[512], path[1400], h[700];
    snprintf(sid, sizeof(sid), "%s-link", run);
    start_session("Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", sid,
                  token, link);

    /* the link token on every route of a session token: refused */
    const char *const paths[] = {"/v1/events", "/v1/sessions/%s/heartbeat",
                                 "/v1/sessions/%s/end"};
    for (size_t i = 0; i < VG_ARRAY_LEN(paths); i++) {
        char p[300];
        snprintf(p, sizeof(p), paths[i], sid);
        snprintf(h, sizeof(h), "Authorization: Session %s\r\nContent-Type: application/json\r\n",
                 link);
        call_expect("POST", p, h, "{\"type\":\"link.probe\"}", 401, "link_token_not_allowed");
        snprintf(path, sizeof(path), "%s?token=%s", p, link);
        call_expect("POST", path, "Content-Type: text/plain\r\n", "{\"type\":\"link.probe\"}",
                    401, "link_token_not_allowed");
    }
    call_expect("POST", "/v1/sessions",
                "Authorization: Bearer x\r\nContent-Type: application/json\r\n", "{}", 401,
                "unknown_key");

    /* the session token on the link and the page's routes: refused */
    snprintf(path, sizeof(path), "/t/%s?to=https://example.com/", token);
    call_expect("GET", path, NULL, NULL, 401, "link_token_required");
    snprintf(path, sizeof(path), "/t/%s/heartbeat", token);
    call_expect("POST", path, NULL, NULL, 401, "link_token_required");

    /* the link token on its link: the redirect, and the page's signals */
    snprintf(path, sizeof(path), "/t/%s?to=https://example.com/lesson", link);
    struct itest_answer a = itest_call(kid.http, "GET", path, NULL, NULL);
    expect(&a, "GET /t/{link_token}", 302, NULL);
    assert_string_equal(header(&a, "Location"), "https://example.com/lesson");
    itest_answer_free(&a);
    snprintf(path, sizeof(path), "/t/%s/heartbeat", link);
    call_expect("POST", path, NULL, NULL, 202, NULL);
    snprintf(path, sizeof(path), "/t/%s/end", link);
    call_expect("POST", path, "Content-Type: text/plain\r\n", "{\"reason\":\"closed\"}", 202,
                NULL);

    await_landed("demo", sid, "session.activate", 1);
    await_landed("demo", sid, "session.heartbeat", 1);
    await_landed("demo", sid, "session.end", 1);
    assert_int_equal(landed("demo", sid, "link.probe"), 0);
}

/* -- the tracking page ------------------------------------------------------ */

static void assert_page(struct itest_answer *a, const char *what, const char *link)
{
    expect(a, what, 200, NULL);
    const char *ct = header(a, "Content-Type");
    if (!ct || strncmp(ct, "text/html", 9))
        fail_msg("%s: Content-Type %s", what, ct ? ct : "(none)");
    const char *csp = header(a, "Content-Security-Policy");
    if (!csp || !strstr(csp, "default-src 'none'") || !strstr(csp, "script-src 'self'"))
        fail_msg("%s: Content-Security-Policy %s", what, csp ? csp : "(none)");
    const char *b = body_of(a);
    char want[600];
    snprintf(want, sizeof(want), "data-link-token=\"%s\"", link);
    if (!strstr(b, want) || !strstr(b, "src=\"/sdk/vigil.js\"") ||
        !strstr(b, "href=\"https://example.com/lesson?a=1&amp;b=&quot;2&quot;\""))
        fail_msg("%s: the page lacks its link, token or script:\n%s", what, b);
    if (strstr(b, "http://") || strstr(b, "{{"))
        fail_msg("%s: an external asset or an unfilled placeholder:\n%s", what, b);
}

static void test_the_tracking_page_answers_for_link_page_tenants_and_page_1(void **state)
{
    char sid[96], token[512], link[512], path[1400];
    const char *to = "to=https://example.com/lesson?a=1%26b=%222%22";

    /* acme has link_page = true */
    snprintf(sid, sizeof(sid), "%s-page", run);
    start_session("Authorization: Bearer acme-key\r\nContent-Type: application/json\r\n", sid,
                  token, link);
    snprintf(path, sizeof(path), "/t/%s?%s", link, to);
    struct itest_answer a = itest_call(kid.http, "GET", path, NULL, NULL);
    assert_page(&a, "acme's tracking page", link);
    itest_answer_free(&a);
    /* the allow-list still applies, and a bad interval is refused */
    snprintf(path, sizeof(path), "/t/%s?to=https://evil.test/", link);
    call_expect("GET", path, NULL, NULL, 400, "redirect_not_allowed");
    snprintf(path, sizeof(path), "/t/%s?%s&heartbeat_s=0", link, to);
    call_expect("GET", path, NULL, NULL, 400, "invalid_field");
    await_landed("acme", sid, "session.activate", 1);

    /* demo has not: a redirect, unless the link asks for the page */
    snprintf(sid, sizeof(sid), "%s-page1", run);
    start_session("Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", sid,
                  token, link);
    snprintf(path, sizeof(path), "/t/%s?%s", link, to);
    call_expect("GET", path, NULL, NULL, 302, NULL);
    snprintf(path, sizeof(path), "/t/%s?%s&page=1&heartbeat_s=5", link, to);
    a = itest_call(kid.http, "GET", path, NULL, NULL);
    assert_page(&a, "demo's page by ?page=1", link);
    if (!strstr(body_of(&a), "data-heartbeat-seconds=\"5\""))
        fail_msg("the page does not heartbeat every 5 s:\n%s", body_of(&a));
    itest_answer_free(&a);
    await_landed("demo", sid, "session.activate", 2);
}

/* -- the SDK's files -------------------------------------------------------- */

/* The file at path, whole (the SDK's files are small); free() it. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    char *data = vg_xmalloc(1 << 20);
    *len = fread(data, 1, 1 << 20, f);
    fclose(f);
    assert_true(*len > 0 && *len < (1 << 20));
    return data;
}

static void test_the_sdk_is_served_with_etag_cache_and_cors(void **state)
{
    char path[512], h[700];
    size_t len;
    snprintf(path, sizeof(path), "%s/sdk/vigil.js", itest_env("VIGIL_SOURCE_DIR"));
    char *file = read_file(path, &len);
    struct itest_answer a =
        itest_call(kid.http, "GET", "/sdk/vigil.js", "Origin: https://customer.example\r\n", NULL);
    expect(&a, "GET /sdk/vigil.js", 200, NULL);
    if (a.resp.body.len != len || memcmp(a.resp.body.data, file, len))
        fail_msg("/sdk/vigil.js is not sdk/vigil.js (%zu bytes, want %zu)", a.resp.body.len, len);
    assert_non_null(strstr(header(&a, "Content-Type"), "javascript"));
    assert_string_equal(header(&a, "Access-Control-Allow-Origin"), "*");
    assert_non_null(strstr(header(&a, "Cache-Control"), "max-age="));
    char etag[600];
    snprintf(etag, sizeof(etag), "%s", header(&a, "ETag"));
    assert_true(etag[0] == '"' && strlen(etag) > 8);
    itest_answer_free(&a);

    snprintf(h, sizeof(h), "If-None-Match: %s\r\n", etag);
    a = itest_call(kid.http, "GET", "/sdk/vigil.js", h, NULL);
    expect(&a, "GET /sdk/vigil.js, revalidated", 304, NULL);
    assert_string_equal(header(&a, "ETag"), etag);
    itest_answer_free(&a);

    /* the module form: the same file, and its exports */
    a = itest_call(kid.http, "GET", "/sdk/vigil.mjs", h, NULL);
    expect(&a, "GET /sdk/vigil.mjs", 200, NULL);
    if (a.resp.body.len <= len || memcmp(a.resp.body.data, file, len) ||
        !strstr(a.resp.body.data + len, "export default Vigil;"))
        fail_msg("/sdk/vigil.mjs is not sdk/vigil.js with its exports");
    if (!strcmp(header(&a, "ETag"), etag))
        fail_msg("/sdk/vigil.mjs has the ETag of /sdk/vigil.js");
    itest_answer_free(&a);
    call_expect("GET", "/sdk/other.js", NULL, NULL, 404, "not_found");
    call_expect("POST", "/sdk/vigil.js", NULL, NULL, 405, "method_not_allowed");
    free(file);
}

/* -- set-up ------------------------------------------------------------------ */

static int setup(void **state)
{
    itest_open(&st, "brw");
    snprintf(run, sizeof(run), "%s", st.tenant);
    itest_child_init(&kid, "browser");
    char demo[65], pk[65], acme[65];
    hash_hex("demo-key", demo);
    hash_hex("demo-pk", pk);
    hash_hex("acme-key", acme);
    FILE *f = fopen(kid.conf, "w");
    assert_non_null(f);
    fprintf(f,
            "producer = {\n"
            "  tenants = (\n"
            "    { id = \"demo\"; keys_sha256 = [ \"%s\" ];\n"
            "      publishable_keys_sha256 = [ \"%s\" ];\n"
            "      publishable_rate_per_s = 0.2; publishable_burst = 4;\n"
            "      origins = [ \"http://127.0.0.1:*\" ]; redirect_hosts = [ \"example.com\" ]; },\n"
            "    { id = \"acme\"; keys_sha256 = [ \"%s\" ]; link_page = true;\n"
            "      origins = [ ]; redirect_hosts = [ \"example.com\" ]; }\n"
            "  );\n"
            "};\n",
            demo, pk, acme);
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
        cmocka_unit_test(test_a_publishable_key_writes_from_the_tenants_origins_only),
        cmocka_unit_test(test_a_link_token_opens_its_link_and_nothing_else),
        cmocka_unit_test(test_the_tracking_page_answers_for_link_page_tenants_and_page_1),
        cmocka_unit_test(test_the_sdk_is_served_with_etag_cache_and_cors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
