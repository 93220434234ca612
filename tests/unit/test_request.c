/* One request of the producer's API: its route, what its headers say (each
 * read once), and the headers of its answer, CORS included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "enrich.h"
#include "request.h"

/* A header block and a query string, and how often each name was asked. */
struct fake {
    const char *const (*headers)[2]; /* {name, value} pairs, {NULL} last */
    const char *const (*query)[2];
    int asked[32];
    const char *names[32];
    int nnames;
};

static const char *fake_lookup(void *ctx, int query, const char *name)
{
    struct fake *f = ctx;
    int i = 0;
    while (i < f->nnames && strcmp(f->names[i], name))
        i++;
    assert_true(i < 32);
    if (i == f->nnames)
        f->names[f->nnames++] = name;
    f->asked[i]++;
    for (const char *const(*p)[2] = query ? f->query : f->headers; p && p[0][0]; p++)
        if (!strcasecmp(p[0][0], name))
            return p[0][1];
    return NULL;
}

static const struct vg_routes_env env;
static char *demo_origins[] = {"https://app.example.org"};
static struct vg_tenant tenants[2] = {
    {.id = "demo", .origins = demo_origins, .norigins = 1},
    {.id = "acme"},
};
static const struct vg_config cfg = {.tenants = tenants, .ntenants = 2};

static void start(struct vg_req *r, struct fake *f, const char *method, const char *url)
{
    memset(r, 0, sizeof(*r));
    vg_req_init(r, &env, &cfg, method, url, fake_lookup, f);
}

static void test_the_path_names_the_route_and_its_argument(void **state)
{
    static const struct {
        const char *url;
        enum vg_route route;
        const char *arg;
    } cases[] = {
        {"/v1/events", VG_ROUTE_EVENTS, ""},
        {"/v1/sessions", VG_ROUTE_SESSIONS, ""},
        {"/v1/sessions/s-1/heartbeat", VG_ROUTE_HEARTBEAT, "s-1"},
        {"/v1/sessions/s-1/end", VG_ROUTE_END, "s-1"},
        {"/v1/sessions//end", VG_ROUTE_OTHER, ""},
        {"/v1/sessions/s-1/other", VG_ROUTE_OTHER, ""},
        {"/v1/sessions/s-1", VG_ROUTE_OTHER, ""},
        {"/t/abc.def", VG_ROUTE_TRACK, "abc.def"},
        {"/t/", VG_ROUTE_OTHER, ""},
        {"/t/a/b", VG_ROUTE_OTHER, ""},
        {"/t/abc.def/heartbeat", VG_ROUTE_TRACK_HEARTBEAT, "abc.def"},
        {"/t/abc.def/end", VG_ROUTE_TRACK_END, "abc.def"},
        {"/t//end", VG_ROUTE_OTHER, ""},
        {"/t/abc.def/end/", VG_ROUTE_OTHER, ""},
        {"/sdk/vigil.js", VG_ROUTE_SDK, "/sdk/vigil.js"},
        {"/sdk/vigil.mjs", VG_ROUTE_SDK, "/sdk/vigil.mjs"},
        {"/healthz", VG_ROUTE_HEALTHZ, ""},
        {"/readyz", VG_ROUTE_READYZ, ""},
        {"/metrics", VG_ROUTE_METRICS, ""},
        {"/v1/batch", VG_ROUTE_SEGMENT_BATCH, ""},
        {"/v1/track", VG_ROUTE_SEGMENT_TRACK, ""},
        {"/v1/identify", VG_ROUTE_SEGMENT_IDENTIFY, ""},
        {"/v1/page", VG_ROUTE_SEGMENT_PAGE, ""},
        {"/v1/screen", VG_ROUTE_SEGMENT_SCREEN, ""},
        {"/v1/group", VG_ROUTE_SEGMENT_GROUP, ""},
        {"/v1/alias", VG_ROUTE_SEGMENT_ALIAS, ""},
        {"/v1/batch/", VG_ROUTE_OTHER, ""},
        {"/v1/events/", VG_ROUTE_OTHER, ""},
        {"/", VG_ROUTE_OTHER, ""},
    };
    char arg[16];
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        enum vg_route rt = vg_req_route(cases[i].url, arg, sizeof(arg));
        if (rt != cases[i].route || strcmp(arg, cases[i].arg))
            fail_msg("%s: route %d arg \"%s\", want %d \"%s\"", cases[i].url, rt, arg,
                     cases[i].route, cases[i].arg);
    }
    /* an argument too long for the buffer is left empty, for validation to name */
    assert_int_equal(vg_req_route("/t/0123456789abcdef", arg, sizeof(arg)), VG_ROUTE_TRACK);
    assert_string_equal(arg, "");
    assert_string_equal(vg_req_label(VG_ROUTE_HEARTBEAT), "/v1/sessions/{id}/heartbeat");
    assert_string_equal(vg_req_label(VG_ROUTE_TRACK_END), "/t/{token}/end");
    assert_string_equal(vg_req_label(VG_ROUTE_SDK), "/sdk/{file}");
}

static void test_the_content_type_is_read_once_into_a_media_type(void **state)
{
    static const struct {
        const char *ct;
        enum vg_media media;
    } cases[] = {
        {NULL, VG_MEDIA_NONE},
        {"application/json", VG_MEDIA_JSON},
        {" Application/JSON ; charset=utf-8", VG_MEDIA_JSON},
        {"text/plain;charset=UTF-8", VG_MEDIA_JSON},
        {"application/x-ndjson", VG_MEDIA_NDJSON},
        {"application/ndjson", VG_MEDIA_NDJSON},
        {"application/jsonx", VG_MEDIA_OTHER},
        {"application/x-www-form-urlencoded", VG_MEDIA_OTHER},
        {"", VG_MEDIA_OTHER},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const char *const headers[][2] = {{"content-type", cases[i].ct}, {NULL}};
        struct fake f = {.headers = headers}; /* a NULL value: absent */
        struct vg_req r;
        start(&r, &f, "POST", "/v1/events");
        if (r.head.media != cases[i].media)
            fail_msg("Content-Type \"%s\": media %d, want %d",
                     cases[i].ct ? cases[i].ct : "(none)", r.head.media, cases[i].media);
        for (int n = 0; n < f.nnames; n++)
            if (f.asked[n] != 1)
                fail_msg("%s read %d times", f.names[n], f.asked[n]);
        vg_req_free(&r);
    }
}

static void test_the_headers_say_length_preference_and_credentials(void **state)
{
    static const struct {
        const char *cl, *te, *prefer;
        int64_t length;
        int async;
    } cases[] = {
        {NULL, NULL, NULL, 0, 0},
        {"42", NULL, "respond-async", 42, 1},
        {"42", "chunked", "return=minimal, respond-async; wait=5", 42, 1},
        {NULL, "chunked", "respond-asynchronously", -1, 0},
        {"4x", NULL, "RESPOND-ASYNC", -1, 1},
        {"-1", NULL, "", -1, 0},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const char *const headers[][2] = {{"Content-Length", cases[i].cl},
                                          {"Transfer-Encoding", cases[i].te},
                                          {"Prefer", cases[i].prefer},
                                          {"Authorization", "Bearer k"},
                                          {"Authorization", "Bearer second"},
                                          {NULL}};
        const char *const query[][2] = {{"token", "t1"}, {"to", "https://example.com/"}, {NULL}};
        struct fake f = {.headers = headers, .query = query}; /* a NULL value: absent */
        struct vg_req r;
        start(&r, &f, "POST", "/v1/events");
        if (r.head.body_length != cases[i].length || r.head.async != cases[i].async)
            fail_msg("case %zu: length %lld async %d, want %lld %d", i,
                     (long long)r.head.body_length, r.head.async, (long long)cases[i].length,
                     cases[i].async);
        assert_string_equal(r.head.authorization, "Bearer k");
        assert_string_equal(r.head.token, "t1");
        assert_string_equal(r.head.to, "https://example.com/");
        assert_null(r.head.origin);
        vg_req_free(&r);
    }
}

static void test_content_type_and_encoding_are_named(void **state)
{
    (void)state;
    static const struct {
        const char *ct, *ce;
        enum vg_media media;
        enum vg_encoding encoding;
    } cases[] = {
        {NULL, NULL, VG_MEDIA_NONE, VG_ENCODING_IDENTITY},
        {" Application/JSON ; charset=utf-8", "gzip", VG_MEDIA_JSON, VG_ENCODING_GZIP},
        {"text/plain", " X-GZIP ", VG_MEDIA_JSON, VG_ENCODING_GZIP},
        {"application/x-ndjson", "identity", VG_MEDIA_NDJSON, VG_ENCODING_IDENTITY},
        {"application/xml", "", VG_MEDIA_OTHER, VG_ENCODING_IDENTITY},
        {"application/json", "br", VG_MEDIA_JSON, VG_ENCODING_OTHER},
        {"application/json", "gzip, br", VG_MEDIA_JSON, VG_ENCODING_OTHER},
        {"application/json", "gzip br", VG_MEDIA_JSON, VG_ENCODING_OTHER},
        {"application/json", "gzip-but-much-longer-than-any-coding", VG_MEDIA_JSON,
         VG_ENCODING_OTHER},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const char *const headers[][2] = {{"Content-Type", cases[i].ct},
                                          {"Content-Encoding", cases[i].ce},
                                          {"User-Agent", "ua/1"},
                                          {"X-Forwarded-For", "1.2.3.4"},
                                          {NULL}};
        const char *const query[][2] = {{NULL}};
        struct fake f = {.headers = headers, .query = query};
        struct vg_req r;
        start(&r, &f, "POST", "/v1/batch");
        if (r.head.media != cases[i].media || r.head.encoding != cases[i].encoding)
            fail_msg("case %zu (%s, %s): media %d encoding %d, want %d %d", i,
                     cases[i].ct ? cases[i].ct : "-", cases[i].ce ? cases[i].ce : "-",
                     r.head.media, r.head.encoding, cases[i].media, cases[i].encoding);
        assert_int_equal(r.route, VG_ROUTE_SEGMENT_BATCH);
        assert_string_equal(r.head.user_agent, "ua/1");
        assert_string_equal(r.head.forwarded_for, "1.2.3.4");
        vg_req_free(&r);
    }
    assert_string_equal(vg_req_label(VG_ROUTE_SEGMENT_ALIAS), "/v1/alias");
    assert_true(vg_req_segment(VG_ROUTE_SEGMENT_TRACK));
    assert_false(vg_req_segment(VG_ROUTE_EVENTS));
}

#define CACHE "Cache-Control: no-store\n"
#define ALLOW_APP "Access-Control-Allow-Origin: https://app.example.org\n"
#define EXPOSE "Access-Control-Expose-Headers: Retry-After, Preference-Applied\n"
#define PREFLIGHT                                                                                  \
    "Access-Control-Allow-Methods: POST, GET, OPTIONS\n"                                           \
    "Access-Control-Allow-Headers: Authorization, Content-Type, Content-Encoding, Prefer, "      \
    "X-Sent-At, X-Customer-ID\n"                                                                  \
    "Access-Control-Max-Age: 600\n"
#define JSON "Content-Type: application/json\n"

/*
 * CORS, case by case: a preflight (OPTIONS), a request that routes.c took
 * with the credentials of tenant, or one the server refused before routing
 * (shutting down). Then the status and every header of the answer.
 */
static const struct {
    const char *what;
    const char *method, *url, *origin, *request_method;
    const struct vg_tenant *tenant;
    unsigned status;
    const char *headers;
} cors_cases[] = {
    {"a preflight from an origin of some tenant", "OPTIONS", "/v1/events",
     "https://app.example.org", "POST", NULL, 204,
     CACHE "Allow: POST, GET, OPTIONS\n" ALLOW_APP EXPOSE PREFLIGHT "Vary: Origin\n"},
    {"a preflight from an origin of no tenant", "OPTIONS", "/v1/events", "https://evil.example",
     "POST", NULL, 403, JSON CACHE "Vary: Origin\n"},
    {"an OPTIONS that is no preflight", "OPTIONS", "/v1/events", "https://app.example.org", NULL,
     NULL, 204, CACHE "Allow: POST, GET, OPTIONS\n" ALLOW_APP EXPOSE "Vary: Origin\n"},
    {"the tenant's origin", "POST", "/v1/events", "https://app.example.org", NULL, &tenants[0],
     202, CACHE ALLOW_APP EXPOSE "Vary: Origin\n"},
    {"another tenant's origin", "POST", "/v1/events", "https://app.example.org", NULL,
     &tenants[1], 401, JSON CACHE "WWW-Authenticate: Bearer realm=\"vigil\"\nVary: Origin\n"},
    {"no origin", "POST", "/v1/events", NULL, NULL, &tenants[1], 202, CACHE},
    {"a tracking link, a navigation", "GET", "/t/x", "https://app.example.org", NULL,
     &tenants[1], 202, CACHE},
    {"the tracking page calling its own origin", "POST", "/t/x/heartbeat",
     "https://app.example.org", NULL, &tenants[1], 202, CACHE},
    {"the server's refusal before routing", "POST", "/v1/events", "https://app.example.org", NULL,
     NULL, 503, JSON CACHE "Retry-After: 1\nConnection: close\n"},
};

/* The headers of an answer, "Name: value\n" each, in order. */
static void collect(void *ctx, const char *name, const char *value)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s: %s\n", name, value);
}

static void test_cors_is_answered_in_one_place(void **state)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(cors_cases); i++) {
        const char *const headers[][2] = {{"Origin", cors_cases[i].origin},
                                          {"Access-Control-Request-Method",
                                           cors_cases[i].request_method},
                                          {NULL}};
        struct fake f = {.headers = headers};
        struct vg_req r;
        char out[1024] = "";
        start(&r, &f, cors_cases[i].method, cors_cases[i].url);
        if (!strcmp(r.method, "OPTIONS")) {
            r.routed = 1;
            assert_int_equal(vg_req_preflight(&r), 1);
        } else if (cors_cases[i].tenant) {
            r.routed = 1;
            r.tenant = cors_cases[i].tenant;
            if (!vg_req_check_origin(&r))
                r.reply.status = 202;
        } else {
            vg_req_refuse(&r, 503, "shutting_down", NULL, 1, "the producer is shutting down");
            r.reply.close = 1;
        }
        vg_req_reply_headers(&r, collect, out);
        if (r.reply.status != cors_cases[i].status || strcmp(out, cors_cases[i].headers))
            fail_msg("%s: %u\n%s\nwant %u\n%s", cors_cases[i].what, r.reply.status, out,
                     cors_cases[i].status, cors_cases[i].headers);
        vg_req_free(&r);
    }
}

/* The client's address, the one every per-client limit counts by: the
 * peer, or X-Forwarded-For's word when the peer is a trusted proxy. */
static void test_the_client_is_the_peer_or_whom_a_trusted_proxy_names(void **state)
{
    struct vg_cidr *trusted;
    size_t ntrusted;
    char err[128];
    assert_int_equal(vg_cidr_parse_list("10.0.0.0/8", &trusted, &ntrusted, err, sizeof(err)), 0);
    const struct vg_routes_env proxied = {.trusted_proxies = trusted,
                                          .ntrusted_proxies = ntrusted};
    static const char *const cases[][3] = {
        /* peer, X-Forwarded-For, the client */
        {"10.1.2.3", "198.51.100.7", "198.51.100.7"},
        {"10.1.2.3", NULL, "10.1.2.3"},
        {"192.0.2.1", "198.51.100.7", "192.0.2.1"},
        {"", "198.51.100.7", ""},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        const char *const headers[][2] = {{"X-Forwarded-For", cases[i][1]}, {NULL}};
        const char *const query[][2] = {{NULL}};
        struct fake f = {.headers = cases[i][1] ? headers : query, .query = query};
        struct vg_req r;
        memset(&r, 0, sizeof(r));
        vg_req_init(&r, &proxied, &cfg, "POST", "/v1/events", fake_lookup, &f);
        vg_req_set_peer(&r, cases[i][0]);
        if (strcmp(r.peer, cases[i][0]) || strcmp(r.client, cases[i][2]))
            fail_msg("peer %s, X-Forwarded-For %s: peer %s client %s, want client %s",
                     cases[i][0], cases[i][1] ? cases[i][1] : "-", r.peer, r.client,
                     cases[i][2]);
        vg_req_free(&r);
    }
    free(trusted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_path_names_the_route_and_its_argument),
        cmocka_unit_test(test_the_content_type_is_read_once_into_a_media_type),
        cmocka_unit_test(test_the_headers_say_length_preference_and_credentials),
        cmocka_unit_test(test_cors_is_answered_in_one_place),
        cmocka_unit_test(test_content_type_and_encoding_are_named),
        cmocka_unit_test(test_the_client_is_the_peer_or_whom_a_trusted_proxy_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
