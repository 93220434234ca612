/* One request of the producer's API: its route, what its headers say (each
 * read once), and the headers of its answer, CORS included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

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
        {"/healthz", VG_ROUTE_HEALTHZ, ""},
        {"/readyz", VG_ROUTE_READYZ, ""},
        {"/metrics", VG_ROUTE_METRICS, ""},
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

/* The headers of an answer, "Name: value\n" each, in order. */
static void collect(void *ctx, const char *name, const char *value)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 1024 - n, "%s: %s\n", name, value);
}

static void answer(struct vg_req *r, char out[1024])
{
    out[0] = '\0';
    vg_req_reply_headers(r, collect, out);
}

static void test_a_preflight_is_answered_for_any_tenants_origin(void **state)
{
    const char *const allowed[][2] = {{"Origin", "https://app.example.org"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {NULL}};
    const char *const unknown[][2] = {{"Origin", "https://evil.example"},
                                      {"Access-Control-Request-Method", "POST"},
                                      {NULL}};
    const char *const no_cors[][2] = {{"Origin", "https://app.example.org"}, {NULL}};
    char out[1024];
    struct fake f = {.headers = allowed};
    struct vg_req r;

    start(&r, &f, "OPTIONS", "/v1/events");
    r.routed = 1;
    assert_int_equal(vg_req_preflight(&r), 1);
    assert_int_equal(r.reply.status, 204);
    answer(&r, out);
    assert_string_equal(out, "Cache-Control: no-store\n"
                             "Allow: POST, GET, OPTIONS\n"
                             "Access-Control-Allow-Origin: https://app.example.org\n"
                             "Access-Control-Expose-Headers: Retry-After, Preference-Applied\n"
                             "Access-Control-Allow-Methods: POST, GET, OPTIONS\n"
                             "Access-Control-Allow-Headers: Authorization, Content-Type, "
                             "Prefer, X-Sent-At, X-Customer-ID\n"
                             "Access-Control-Max-Age: 600\n"
                             "Vary: Origin\n");
    vg_req_free(&r);

    f = (struct fake){.headers = unknown};
    start(&r, &f, "OPTIONS", "/v1/events");
    r.routed = 1;
    assert_int_equal(vg_req_preflight(&r), 1);
    assert_int_equal(r.reply.status, 403);
    answer(&r, out);
    assert_non_null(strstr(out, "Vary: Origin\n"));
    assert_null(strstr(out, "Access-Control-Allow-Origin"));
    vg_req_free(&r);

    f = (struct fake){.headers = no_cors};
    start(&r, &f, "OPTIONS", "/v1/events");
    r.routed = 1;
    assert_int_equal(vg_req_preflight(&r), 1);
    assert_int_equal(r.reply.status, 204);
    answer(&r, out);
    assert_null(strstr(out, "Access-Control-Allow-Methods"));
    vg_req_free(&r);
}

static void test_an_origin_is_checked_against_the_tenant(void **state)
{
    const char *const headers[][2] = {{"Origin", "https://app.example.org"}, {NULL}};
    char out[1024];
    struct fake f = {.headers = headers};
    struct vg_req r;

    start(&r, &f, "POST", "/v1/events");
    r.routed = 1;
    r.tenant = &tenants[0];
    assert_int_equal(vg_req_check_origin(&r), 0);
    r.reply.status = 202;
    answer(&r, out);
    assert_non_null(strstr(out, "Access-Control-Allow-Origin: https://app.example.org\n"));
    assert_null(strstr(out, "Access-Control-Allow-Methods"));
    vg_req_free(&r);

    /* another tenant's origin: 401, and the browser may not read it */
    start(&r, &f, "POST", "/v1/events");
    r.routed = 1;
    r.tenant = &tenants[1];
    assert_int_equal(vg_req_check_origin(&r), 1);
    assert_int_equal(r.reply.status, 401);
    answer(&r, out);
    assert_non_null(strstr(out, "WWW-Authenticate: Bearer realm=\"vigil\"\n"));
    assert_null(strstr(out, "Access-Control-Allow-Origin"));
    assert_non_null(strstr(out, "Vary: Origin\n"));
    vg_req_free(&r);

    /* a tracking link is a navigation: no CORS either way */
    start(&r, &f, "GET", "/t/x");
    r.routed = 1;
    r.tenant = &tenants[1];
    assert_int_equal(vg_req_check_origin(&r), 0);
    answer(&r, out);
    assert_null(strstr(out, "Vary"));
    vg_req_free(&r);

    /* the server's own refusal before routing, while stopping: no CORS, close */
    start(&r, &f, "POST", "/v1/events");
    assert_int_equal(vg_req_refuse(&r, 503, "shutting_down", NULL, 1, "%s", "stopping"), 1);
    r.reply.close = 1;
    answer(&r, out);
    assert_string_equal(out, "Content-Type: application/json\n"
                             "Cache-Control: no-store\n"
                             "Retry-After: 1\n"
                             "Connection: close\n");
    vg_req_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_path_names_the_route_and_its_argument),
        cmocka_unit_test(test_the_content_type_is_read_once_into_a_media_type),
        cmocka_unit_test(test_the_headers_say_length_preference_and_credentials),
        cmocka_unit_test(test_a_preflight_is_answered_for_any_tenants_origin),
        cmocka_unit_test(test_an_origin_is_checked_against_the_tenant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
