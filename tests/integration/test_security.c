/*
 * The producer's HTTP surface under attack (issue 8): nothing
 * unauthenticated gets in, one tenant never writes as another, requests
 * whose framing a proxy could read differently are refused, and slow or
 * numerous clients hold the server for a bounded time only.
 *
 * Credentials and tenant isolation are checked against the stack's producer
 * ($VIGIL_HTTP, keys demo-key and acme-key). Key revocation, framing, the
 * connection timeout and the connection limit are checked on a producer this
 * test starts itself (the binary of this tree, on the stack's Kafka) with
 * small limits of its own (CHILD_*: a connection timeout of 3 s, headers in
 * 1 s, 6 connections, 8 per address, two bodies in flight, 20 requests per
 * second per address, 2 per session), so that every test takes seconds.
 *
 * "Nothing was written" is read in raw.events, behind a barrier: after the
 * refused requests, one accepted request with the same Kafka key (tenant/
 * session or tenant/visitor, hence the same partition, later offset). Once
 * the workers have landed it, anything accepted before it has landed too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "crypto.h"
#include "itest.h"
#include "itest_http.h"
#include "itest_stack.h"
#include "token.h"

#define CHILD_TIMEOUT_S        3
#define CHILD_HEADER_TIMEOUT_S 1
#define CHILD_LIMIT            6
#define CHILD_PER_ADDRESS      8
#define CHILD_MAX_BODY         4096
#define CHILD_INFLIGHT         (2 * CHILD_MAX_BODY) /* two bodies at a time */
#define CHILD_ADDRESS_RATE     20 /* requests per second, and a burst of twice that */
#define CHILD_SESSION_RATE     2  /* requests per second, and a burst of 5 */
#define LAND_MS         30000 /* the workers land an accepted event within this */

static struct itest st;
static struct vg_httpc *http; /* the stack's producer */
static char run[48];          /* this run's id prefix */

/* -- HTTP ------------------------------------------------------------------- */

/* Asserts a JSON error of DESIGN.md section 4 with status and code (NULL: any);
 * a 401 also names the scheme in WWW-Authenticate. what names the request. */
static void assert_error(struct itest_answer *a, const char *what, int status, const char *code)
{
    char v[128];
    if (a->status != status)
        fail_msg("%s: status %d, want %d: %.300s", what, a->status, status,
                 a->resp.body.data ? a->resp.body.data : "");
    if (!vg_http_resp_header(&a->resp, "Content-Type", v, sizeof(v)) ||
        strncmp(v, "application/json", 16))
        fail_msg("%s: error answered as %s", what, v);
    json_t *e = json_object_get(a->json, "error");
    const char *got = json_string_value(json_object_get(e, "code"));
    if (!got || (code && strcmp(got, code)))
        fail_msg("%s: error code %s, want %s: %.300s", what, got ? got : "(none)",
                 code ? code : "any", a->resp.body.data);
    if (!json_is_string(json_object_get(e, "message")))
        fail_msg("%s: error without a message", what);
    if (status == 401 && !vg_http_resp_header(&a->resp, "WWW-Authenticate", v, sizeof(v)))
        fail_msg("%s: a 401 without WWW-Authenticate", what);
}

static const char *s_of(json_t *o, const char *field)
{
    const char *v = json_string_value(json_object_get(o, field));
    if (!v)
        fail_msg("no string \"%s\" in the answer", field);
    return v;
}

/* Starts a session of tenant demo on c; its token into token. */
static void demo_session(struct vg_httpc *c, const char *sid, char *token, size_t size)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"session_id\":\"%s\"}", sid);
    struct itest_answer a =
        itest_call(c, "POST", "/v1/sessions",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", body);
    if (a.status != 201)
        fail_msg("session %s: %d %.300s", sid, a.status, a.resp.body.data);
    snprintf(token, size, "%s", s_of(a.json, "token"));
    itest_answer_free(&a);
}

/* -- what landed ------------------------------------------------------------ */

/* Rows of tenant in raw.events whose envelope has field (a constant:
 * session_id, visitor_id) = value, and type if not NULL; -1 while the
 * database cannot answer (other tests may restart it: reconnects then). */
static long long landed(const char *tenant, const char *field, const char *value, const char *type)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM raw.events WHERE received_at > now() - interval '1 hour' "
             "AND tenant_id = $1 AND body->>'%s' = $2 AND ($3::text IS NULL OR body->>'type' = "
             "$3)",
             field);
    const char *p[] = {tenant, value, type};
    PGresult *r = PQexecParams(st.db, sql, 3, NULL, p, NULL, NULL, 0);
    long long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (n < 0 && PQstatus(st.db) != CONNECTION_OK)
        PQreset(st.db);
    return n;
}

/* Waits until want rows landed (see landed()); fails the test otherwise. */
static void await_landed(const char *tenant, const char *field, const char *value, const char *type,
                         long long want)
{
    if (!ITEST_WAIT(landed(tenant, field, value, type) >= want, LAND_MS))
        fail_msg("%s %s=%s (%s): %lld rows landed within %d ms, want %lld", tenant, field, value,
                 type ? type : "any type", landed(tenant, field, value, type), LAND_MS, want);
}

static void assert_landed(const char *tenant, const char *field, const char *value,
                          const char *type, long long want)
{
    long long n = -1;
    ITEST_WAIT((n = landed(tenant, field, value, type)) >= 0, LAND_MS);
    if (n != want)
        fail_msg("%s %s=%s (%s): %lld rows in raw.events, want %lld", tenant, field, value,
                 type ? type : "any type", n, want);
}

/* The heartbeats mart.sessions counts for (demo, sid); -1 while unknown. */
static long long demo_heartbeats(const char *sid)
{
    const char *p[] = {sid};
    PGresult *r = PQexecParams(st.db,
                               "SELECT heartbeat_count FROM mart.sessions "
                               "WHERE tenant_id = 'demo' AND session_id = $1",
                               1, NULL, p, NULL, NULL, 0);
    long long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (PQstatus(st.db) != CONNECTION_OK)
        PQreset(st.db);
    return n;
}

/* -- raw connections ---------------------------------------------------------- */

/* A connection to 127.0.0.1:port from source address from (NULL: any). */
static int raw_connect_from(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (from) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &src.sin_addr);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
            fail_msg("bind to %s: %s", from, strerror(errno));
    }
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
        fail_msg("connect to 127.0.0.1:%d: %s", port, strerror(errno));
    struct timeval tv = {.tv_sec = 5}; /* a server that stops reading fails a send */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int raw_connect(int port)
{
    return raw_connect_from(port, NULL);
}

/* Writes all of data; 0, or -1 once the server has closed (EPIPE, reset). */
static int raw_send(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* What came back on a raw connection. */
struct raw_answer {
    char data[8192]; /* the first bytes, NUL-terminated */
    size_t len;
    int closed; /* the server closed (end of stream or reset) */
    int status; /* of the first status line; 0 if none */
};

/* Reads fd until the server closes it, or until it answered a status line
 * if stop_at_answer, or until timeout_ms passed. */
static void raw_read(int fd, struct raw_answer *a, int timeout_ms, int stop_at_answer)
{
    memset(a, 0, sizeof(*a));
    int64_t deadline = vg_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - vg_mono_ms();
        if (left < 0)
            left = 0; /* a timeout of 0 still looks once */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            a->closed = 1;
            break;
        }
        size_t keep =
            (size_t)n < sizeof(a->data) - 1 - a->len ? (size_t)n : sizeof(a->data) - 1 - a->len;
        memcpy(a->data + a->len, buf, keep);
        a->len += keep;
        a->data[a->len] = '\0';
        if (!a->status && strstr(a->data, "\r\n"))
            sscanf(a->data, "HTTP/1.%*d %d", &a->status);
        if (stop_at_answer && a->status && strstr(a->data, "\r\n\r\n"))
            break;
    }
}

/* -- a producer of our own ------------------------------------------------- */

static struct itest_child kid;

/* Writes the child's config: tenant demo with demo-key and, unless
 * revoked, sec-old-key; tenant acme with acme-key. */
static void child_config(const char *path, int revoked)
{
    static const char conf[] =
        "producer = {\n"
        "  tenants = (\n"
        "    { id = \"demo\"; rate_per_s = 1000.0; burst = 1000; origins = [ ];\n"
        "      redirect_hosts = [ \"example.com\" ]; keys_sha256 = [ \"%s\"%s%s%s ]; },\n"
        "    { id = \"acme\"; rate_per_s = 1000.0; burst = 1000; origins = [ ];\n"
        "      redirect_hosts = [ ]; keys_sha256 = [ \"%s\" ]; }\n"
        "  );\n"
        "};\n";
    char demo[65], old[65], acme[65], tmp[128];
    unsigned char h[32];
    vg_sha256("demo-key", 8, h);
    vg_hex(h, 32, demo);
    vg_sha256("sec-old-key", 11, h);
    vg_hex(h, 32, old);
    vg_sha256("acme-key", 8, h);
    vg_hex(h, 32, acme);
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, conf, demo, revoked ? "" : ", \"", revoked ? "" : old, revoked ? "" : "\"", acme);
    fclose(f);
    assert_int_equal(rename(tmp, path), 0); /* a reload never reads half a file */
}

/* Starts c with child_config(c->conf, 0) on the stack's Kafka, with the
 * small limits CHILD_*; waits for /healthz. */
static void child_start(struct itest_child *c)
{
    itest_child_init(c, "security");
    child_config(c->conf, 0);
    char num[10][16];
    const int values[10] = {CHILD_TIMEOUT_S,        CHILD_LIMIT,
                            CHILD_MAX_BODY,         CHILD_HEADER_TIMEOUT_S,
                            CHILD_PER_ADDRESS,      CHILD_INFLIGHT,
                            CHILD_ADDRESS_RATE,     2 * CHILD_ADDRESS_RATE,
                            CHILD_SESSION_RATE,     5};
    for (int i = 0; i < 10; i++)
        snprintf(num[i], sizeof(num[i]), "%d", values[i]);
    const char *const env[][2] = {{"VIGIL_PRODUCER_CONNECTION_TIMEOUT_S", num[0]},
                                  {"VIGIL_PRODUCER_CONNECTION_LIMIT", num[1]},
                                  {"VIGIL_PRODUCER_MAX_BODY_BYTES", num[2]},
                                  {"VIGIL_PRODUCER_HEADER_TIMEOUT_S", num[3]},
                                  {"VIGIL_PRODUCER_PER_ADDRESS_CONNECTION_LIMIT", num[4]},
                                  {"VIGIL_PRODUCER_INFLIGHT_BODY_BYTES", num[5]},
                                  {"VIGIL_PRODUCER_RATE_PER_ADDRESS_PER_S", num[6]},
                                  {"VIGIL_PRODUCER_BURST_PER_ADDRESS", num[7]},
                                  {"VIGIL_PRODUCER_RATE_PER_SESSION_PER_S", num[8]},
                                  {"VIGIL_PRODUCER_BURST_PER_SESSION", num[9]},
                                  {NULL}};
    itest_child_start(c, st.cfg->kafka_brokers, env);
}

/* -- credentials ------------------------------------------------------------ */

/* The ingestion routes that take a key (and, but for /v1/sessions, a token). */
struct route {
    const char *path; /* %s: a session id */
    const char *body; /* %s: the same session id; NULL: no body */
    int takes_token;
};

/* Each writes under demo/<session id> if it is let through. */
static const struct route routes[] = {
    {"/v1/events", "{\"type\":\"sec.probe\",\"session_id\":\"%s\"}", 1},
    {"/v1/sessions", "{\"session_id\":\"%s\"}", 0},
    {"/v1/sessions/%s/heartbeat", NULL, 1},
    {"/v1/sessions/%s/end", "{\"reason\":\"probe\"}", 1},
    /* Segment's Tracking API: keys (write keys) only. */
    {"/v1/track", "{\"anonymousId\":\"a\",\"event\":\"sec.probe\",\"properties\":"
                  "{\"session_id\":\"%s\"}}", 0},
    {"/v1/batch", "{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"a\",\"event\":"
                  "\"sec.probe\",\"properties\":{\"session_id\":\"%s\"}}]}", 0},
};

/* The path and body of route r for session sid; *body is NULL without one. */
static void route_fill(const struct route *r, const char *sid, char *path, size_t path_size,
                       char *body, size_t body_size, const char **bodyp)
{
    snprintf(path, path_size, r->path, sid);
    if (r->body)
        snprintf(body, body_size, r->body, sid);
    *bodyp = r->body ? body : NULL;
}

/* A token of kind signed with secret (or the stack's) for tenant and session. */
static void forge_kind(enum vg_token_kind kind, const char *secret, const char *tenant,
                       const char *sid, int64_t expires_s, char *out, size_t size)
{
    if (!secret)
        secret = st.cfg->token_secret;
    if (vg_token_sign(secret, strlen(secret), kind, tenant, sid, expires_s, out, size))
        fail_msg("cannot sign a token for %s/%s", tenant, sid);
}

/* A session token signed with secret (or the stack's) for tenant and session. */
static void forge(const char *secret, const char *tenant, const char *sid, int64_t expires_s,
                  char *out, size_t size)
{
    forge_kind(VG_TOKEN_SESSION, secret, tenant, sid, expires_s, out, size);
}

static void test_every_ingestion_route_refuses_missing_and_wrong_credentials(void **state)
{
    char sid[96], hash[65], path[1024], h[1024], what[1200];
    snprintf(sid, sizeof(sid), "%s-cred", run);
    unsigned char d[32];
    vg_sha256("demo-key", 8, d);
    vg_hex(d, 32, hash);
    int64_t now = vg_now_ms() / 1000;
    char wrong_secret[VG_TOKEN_MAX], expired[VG_TOKEN_MAX], ghost[VG_TOKEN_MAX];
    forge("not-the-secret-of-this-stack", "demo", sid, now + 3600, wrong_secret,
          sizeof(wrong_secret));
    forge(NULL, "demo", sid, now - 60, expired, sizeof(expired));
    forge(NULL, "ghost", sid, now + 3600, ghost, sizeof(ghost));

    /* Authorization header, the code it gets on key routes and token routes. */
    char b1[160], b2[160], b3[160], s1[600], s2[600], s3[600];
    snprintf(b1, sizeof(b1), "Authorization: Bearer %s\r\n", hash);  /* the stored hash */
    snprintf(b2, sizeof(b2), "Authorization: Bearer demo-ke\r\n");   /* a prefix */
    snprintf(b3, sizeof(b3), "Authorization: Bearer demo-key-\r\n"); /* an extension */
    snprintf(s1, sizeof(s1), "Authorization: Session %s\r\n", wrong_secret);
    snprintf(s2, sizeof(s2), "Authorization: Session %s\r\n", expired);
    snprintf(s3, sizeof(s3), "Authorization: Session %s\r\n", ghost);
    const struct {
        const char *auth;
        const char *key_code, *token_code;
    } cases[] = {
        {"", "missing_credentials", "missing_credentials"},
        {"Authorization: Bearer wrong-key\r\n", "unknown_key", "unknown_key"},
        {"Authorization: Bearer \r\n", NULL, NULL}, /* the value may lose its space */
        {b1, "unknown_key", "unknown_key"},
        {b2, "unknown_key", "unknown_key"},
        {b3, "unknown_key", "unknown_key"},
        /* Basic carries the key as its user name (Segment's write key): "demo:demo-key"
         * names the key "demo", which is none; the password is never a key. */
        {"Authorization: Basic ZGVtbzpkZW1vLWtleQ==\r\n", "unknown_key", "unknown_key"},
        {"Authorization: Basic ZGVtby1rZXk\r\n", "bad_authorization", "bad_authorization"},
        {"Authorization: Basic OmRlbW8ta2V5\r\n", "bad_authorization", "bad_authorization"},
        {"Authorization: demo-key\r\n", "bad_authorization", "bad_authorization"},
        {"Authorization: Session not-a-token\r\n", "key_required", "invalid_token"},
        {s1, "key_required", "invalid_token"},
        {s2, "key_required", "token_expired"},
        {s3, "key_required", "invalid_token"},
    };
    for (size_t r = 0; r < VG_ARRAY_LEN(routes); r++) {
        char body[256];
        const char *b;
        route_fill(&routes[r], sid, path, sizeof(path), body, sizeof(body), &b);
        for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
            snprintf(h, sizeof(h), "%sContent-Type: application/json\r\n", cases[i].auth);
            struct itest_answer a = itest_call(http, "POST", path, h, b);
            snprintf(what, sizeof(what), "POST %s with [%.60s]", routes[r].path, cases[i].auth);
            assert_error(&a, what, 401,
                         routes[r].takes_token ? cases[i].token_code : cases[i].key_code);
            itest_answer_free(&a);
        }
        if (!routes[r].takes_token)
            continue;
        /* the same forged tokens as ?token=, as navigator.sendBeacon sends them */
        const char *qtokens[] = {"not-a-token", wrong_secret, expired, ghost};
        const char *qcodes[] = {"invalid_token", "invalid_token", "token_expired", "invalid_token"};
        for (size_t i = 0; i < VG_ARRAY_LEN(qtokens); i++) {
            char qpath[1400];
            snprintf(qpath, sizeof(qpath), "%s?token=%s", path, qtokens[i]);
            struct itest_answer a =
                itest_call(http, "POST", qpath, "Content-Type: application/json\r\n", b);
            snprintf(what, sizeof(what), "POST %s?token=<%zu>", routes[r].path, i);
            assert_error(&a, what, 401, qcodes[i]);
            itest_answer_free(&a);
        }
    }

    /* GET /t/{link_token}: the link token is the credential. Without one the
     * path is not a route at all (404); a bad, forged, expired or unknown
     * tenant's link token is 401, and so is a session token. */
    char lwrong[VG_TOKEN_MAX], lexpired[VG_TOKEN_MAX], lghost[VG_TOKEN_MAX];
    forge_kind(VG_TOKEN_LINK, "not-the-secret-of-this-stack", "demo", sid, now + 3600, lwrong,
               sizeof(lwrong));
    forge_kind(VG_TOKEN_LINK, NULL, "demo", sid, now - 60, lexpired, sizeof(lexpired));
    forge_kind(VG_TOKEN_LINK, NULL, "ghost", sid, now + 3600, lghost, sizeof(lghost));
    const char *ttokens[] = {"not-a-token", lwrong, lexpired, lghost, wrong_secret};
    const char *tcodes[] = {"invalid_token", "invalid_token", "token_expired", "invalid_token",
                            "invalid_token"};
    for (size_t i = 0; i < VG_ARRAY_LEN(ttokens); i++) {
        snprintf(path, sizeof(path), "/t/%s?to=https://example.com/", ttokens[i]);
        struct itest_answer a = itest_call(http, "GET", path, NULL, NULL);
        snprintf(what, sizeof(what), "GET /t/<%zu>", i);
        assert_error(&a, what, 401, tcodes[i]);
        if (vg_http_resp_header(&a.resp, "Location", h, sizeof(h)))
            fail_msg("%s: redirected to %s without a valid token", what, h);
        itest_answer_free(&a);
    }
    struct itest_answer a = itest_call(http, "GET", "/t/?to=https://example.com/", NULL, NULL);
    assert_error(&a, "GET /t/ without a token", 404, "not_found");
    itest_answer_free(&a);

    /* Not one of them wrote anything under this run's session. */
    char token[VG_TOKEN_MAX];
    demo_session(http, sid, token, sizeof(token)); /* the barrier, same key demo/<sid> */
    await_landed("demo", "session_id", sid, "session.start", 1);
    assert_landed("demo", "session_id", sid, NULL, 1);
}

static void test_a_revoked_key_is_refused_on_every_route(void **state)
{
    char sid[96], path[512], what[600];
    snprintf(sid, sizeof(sid), "%s-revoked", run);
    const char *old = "Authorization: Bearer sec-old-key\r\nContent-Type: application/json\r\n";
    struct itest_answer a =
        itest_call(kid.http, "POST", "/v1/events", old, "{\"type\":\"sec.before\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);

    /* Revoked: the key leaves keys_sha256, the producer reloads on SIGHUP. */
    child_config(kid.conf, 1);
    kill(kid.pid, SIGHUP);
    int gone = ITEST_WAIT(({
                              struct itest_answer p = itest_call(kid.http, "POST", "/v1/events",
                                                                 old, "{\"type\":\"x\"}");
                              int s = p.status;
                              itest_answer_free(&p);
                              s == 401;
                          }),
                          10000);
    if (!gone)
        fail_msg("sec-old-key still accepted 10 s after SIGHUP (log %s)", kid.log);
    for (size_t r = 0; r < VG_ARRAY_LEN(routes); r++) {
        char body[256];
        const char *b;
        route_fill(&routes[r], sid, path, sizeof(path), body, sizeof(body), &b);
        a = itest_call(kid.http, "POST", path, old, b);
        snprintf(what, sizeof(what), "POST %s with the revoked key", routes[r].path);
        assert_error(&a, what, 401, "unknown_key");
        itest_answer_free(&a);
    }
    /* the other key of the tenant still works */
    a = itest_call(kid.http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n",
                   "{\"type\":\"sec.after\"}");
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
}

/* -- tenants ------------------------------------------------------------------ */

static void test_a_key_for_acme_cannot_write_as_demo(void **state)
{
    char sid[96], other[96], visitor[96], token[VG_TOKEN_MAX], path[1024], h[1024], body[512];
    char what[1200];
    snprintf(sid, sizeof(sid), "%s-demo-s", run);
    snprintf(other, sizeof(other), "%s-demo-other", run);
    snprintf(visitor, sizeof(visitor), "%s-demo-v", run);
    demo_session(http, sid, token, sizeof(token));
    const char *acme = "Authorization: Bearer acme-key\r\nContent-Type: application/json\r\n";

    /* X-Customer-ID naming demo, with acme's key, on every route */
    for (size_t r = 0; r < VG_ARRAY_LEN(routes); r++) {
        const char *b;
        route_fill(&routes[r], sid, path, sizeof(path), body, sizeof(body), &b);
        snprintf(h, sizeof(h), "%sX-Customer-ID: demo\r\n", acme);
        struct itest_answer a = itest_call(http, "POST", path, h, b);
        snprintf(what, sizeof(what), "acme-key as demo on %s", routes[r].path);
        assert_error(&a, what, 401, "tenant_mismatch");
        itest_answer_free(&a);
    }

    /* a "tenant" in the body is no field of an event, a batch or a session */
    const char *const bodies[][2] = {
        {"/v1/events", "{\"type\":\"sec.steal\",\"visitor_id\":\"%s\",\"tenant\":\"demo\"}"},
        {"/v1/events", "[{\"type\":\"sec.steal\",\"visitor_id\":\"%s\",\"tenant\":\"demo\"}]"},
        {"/v1/events", "{\"tenant\":\"demo\",\"events\":[{\"type\":\"sec.steal\","
                       "\"visitor_id\":\"%s\"}]}"},
        {"/v1/sessions", "{\"session_id\":\"%s\",\"tenant\":\"demo\"}"},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(bodies); i++) {
        snprintf(body, sizeof(body), bodies[i][1], i == 3 ? sid : visitor);
        struct itest_answer a = itest_call(http, "POST", bodies[i][0], acme, body);
        snprintf(what, sizeof(what), "acme-key with %s", body);
        assert_error(&a, what, 400, "unknown_field");
        itest_answer_free(&a);
    }
    /* ... and demo's own key cannot pick a tenant that way either */
    snprintf(body, sizeof(body),
             "{\"type\":\"sec.steal\",\"visitor_id\":\"%s\",\"tenant\":\"acme\"}", visitor);
    struct itest_answer a =
        itest_call(http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n"
                   "X-Customer-ID: demo\r\n",
                   body);
    assert_error(&a, "demo-key with tenant acme in the body", 400, "unknown_field");
    itest_answer_free(&a);

    /* demo's session token: its own session only, and never as acme */
    char tok[VG_TOKEN_MAX + 64];
    snprintf(tok, sizeof(tok), "Authorization: Session %s\r\nContent-Type: application/json\r\n",
             token);
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", other);
    a = itest_call(http, "POST", path, tok, NULL);
    assert_error(&a, "demo's token on another session's heartbeat", 401, "session_scope");
    itest_answer_free(&a);
    snprintf(path, sizeof(path), "/v1/sessions/%s/end", other);
    a = itest_call(http, "POST", path, tok, "{\"reason\":\"steal\"}");
    assert_error(&a, "demo's token on another session's end", 401, "session_scope");
    itest_answer_free(&a);
    snprintf(body, sizeof(body), "{\"type\":\"sec.steal\",\"session_id\":\"%s\"}", other);
    a = itest_call(http, "POST", "/v1/events", tok, body);
    assert_error(&a, "demo's token on an event of another session", 401, "session_scope");
    itest_answer_free(&a);
    snprintf(h, sizeof(h), "%sX-Customer-ID: acme\r\n", tok);
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", sid);
    a = itest_call(http, "POST", path, h, NULL);
    assert_error(&a, "demo's token as acme", 401, "tenant_mismatch");
    itest_answer_free(&a);
    a = itest_call(http, "POST", "/v1/sessions", tok, "{}");
    assert_error(&a, "demo's token starting a session", 401, "key_required");
    itest_answer_free(&a);

    /* acme's key on demo's session id, even with demo's token beside it:
     * accepted, but as acme's own session of the same name */
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat?token=%s", sid, token);
    a = itest_call(http, "POST", path, acme, NULL);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);

    /* The barriers, with demo's keys: demo/<sid> and demo/<visitor>. */
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat", sid);
    a = itest_call(http, "POST", path, tok, NULL);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    snprintf(body, sizeof(body), "{\"type\":\"sec.barrier\",\"visitor_id\":\"%s\"}", visitor);
    a = itest_call(http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", body);
    assert_int_equal(a.status, 202);
    itest_answer_free(&a);
    await_landed("demo", "session_id", sid, "session.heartbeat", 1);
    await_landed("demo", "visitor_id", visitor, "sec.barrier", 1);
    await_landed("acme", "session_id", sid, "session.heartbeat", 1);

    /* Demo holds its start, its one heartbeat and its barrier event, nothing else. */
    assert_landed("demo", "session_id", sid, NULL, 2);
    assert_landed("demo", "session_id", other, NULL, 0);
    assert_landed("demo", "visitor_id", visitor, NULL, 1);
    assert_landed("acme", "visitor_id", visitor, NULL, 0);
    long long hb = -1;
    if (!ITEST_WAIT((hb = demo_heartbeats(sid)) == 1, LAND_MS))
        fail_msg("mart.sessions (demo, %s) counts %lld heartbeats, want its one", sid, hb);
}

/* -- framing -------------------------------------------------------------------- */

/* Appends tmpl to out with {len} and {hex} (the body's length, decimal and
 * hexadecimal) and {body} filled in. */
static void expand(struct vg_buf *out, const char *tmpl, const char *body, size_t len)
{
    while (*tmpl) {
        if (!strncmp(tmpl, "{len}", 5)) {
            vg_buf_printf(out, "%zu", len);
            tmpl += 5;
        } else if (!strncmp(tmpl, "{hex}", 5)) {
            vg_buf_printf(out, "%zx", len);
            tmpl += 5;
        } else if (!strncmp(tmpl, "{body}", 6)) {
            vg_buf_append(out, body, len);
            tmpl += 6;
        } else {
            vg_buf_append(out, tmpl++, 1);
        }
    }
}

static void test_ambiguous_framing_is_refused_and_enqueues_nothing(void **state)
{
    char visitor[96], body[256], head[512];
    snprintf(visitor, sizeof(visitor), "%s-smuggle", run);
    int bl =
        snprintf(body, sizeof(body), "{\"type\":\"sec.smuggled\",\"visitor_id\":\"%s\"}", visitor);
    snprintf(head, sizeof(head),
             "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
             "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n");
    /* A request a proxy in front might forward with one framing and
     * libmicrohttpd read with another; or a chunked body that is broken. */
    const struct {
        const char *name;
        const char *tmpl; /* after head; {len}, {hex}: the body's length; {body} */
        int status;       /* wanted, and then a close */
    } cases[] = {
        {"conflicting Content-Length", "Content-Length: {len}\r\nContent-Length: 5\r\n\r\n{body}",
         400},
        {"duplicate Content-Length", "Content-Length: {len}\r\nContent-Length: {len}\r\n\r\n{body}",
         400},
        {"a list as Content-Length", "Content-Length: {len}, {len}\r\n\r\n{body}", 400},
        {"Content-Length with chunked",
         "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{hex}\r\n{body}\r\n0\r\n\r\n",
         400},
        {"chunked with Content-Length",
         "Transfer-Encoding: chunked\r\nContent-Length: {len}\r\n\r\n{body}", 400},
        {"two Transfer-Encodings",
         "Transfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n{hex}\r\n{body}\r\n0\r\n\r\n",
         400},
        {"chunked not last", "Transfer-Encoding: chunked, identity\r\n\r\n{body}", 400},
        {"an unknown coding", "Transfer-Encoding: xchunked\r\n\r\n{hex}\r\n{body}\r\n0\r\n\r\n",
         400},
        {"space before the colon", "Content-Length : {len}\r\n\r\n{body}", 400},
        {"a chunk size that is not hex",
         "Transfer-Encoding: chunked\r\n\r\nzz\r\n{body}\r\n0\r\n\r\n", 400},
        {"a negative chunk size", "Transfer-Encoding: chunked\r\n\r\n-{hex}\r\n{body}\r\n0\r\n\r\n",
         400},
        {"a chunk longer than its size",
         "Transfer-Encoding: chunked\r\n\r\n5\r\n{body}\r\n0\r\n\r\n", 400},
        {"a chunk size past 64 bits",
         "Transfer-Encoding: chunked\r\n\r\n1FFFFFFFFFFFFFFFFFFF\r\n{body}\r\n0\r\n\r\n", 413},
    };
    for (size_t i = 0; i < VG_ARRAY_LEN(cases); i++) {
        struct vg_buf req = {0};
        vg_buf_puts(&req, head);
        expand(&req, cases[i].tmpl, body, (size_t)bl);
        int fd = raw_connect(kid.port);
        struct raw_answer a;
        int sent = raw_send(fd, req.data, req.len);
        raw_read(fd, &a, 2000, 0);
        a.closed |= sent != 0;
        vg_buf_free(&req);
        close(fd);
        if (a.status != cases[i].status || !a.closed)
            fail_msg("%s: status %d%s, want %d and a close: %.200s", cases[i].name, a.status,
                     a.closed ? " then closed" : ", left open", cases[i].status, a.data);
    }

    /* A chunk of 2^64-1 bytes: whatever follows is its body, cut at
     * max_body_bytes plus a drain allowance (1 MiB), never answered 2xx. */
    int fd = raw_connect(kid.port);
    snprintf(head + strlen(head), sizeof(head) - strlen(head),
             "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n");
    assert_int_equal(raw_send(fd, head, strlen(head)), 0);
    static char filler[64 * 1024];
    memset(filler, ' ', sizeof(filler));
    size_t sent = 0;
    raw_send(fd, body, (size_t)bl);
    while (sent < 64u << 20 && raw_send(fd, filler, sizeof(filler)) == 0)
        sent += sizeof(filler);
    struct raw_answer a;
    raw_read(fd, &a, (CHILD_TIMEOUT_S + 3) * 1000, 0);
    close(fd);
    if (!a.closed || (a.status >= 200 && a.status < 300))
        fail_msg("a chunk of 2^64-1 bytes: %s after %zu bytes, status %d",
                 a.closed ? "closed" : "left open", sent, a.status);
    if (sent >= 64u << 20)
        fail_msg("the server read 64 MiB of a body capped at %d bytes", CHILD_MAX_BODY);

    /* The barrier: a well-formed chunked request of the same visitor. */
    fd = raw_connect(kid.port);
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
                     (unsigned)bl, body);
    assert_int_equal(raw_send(fd, req, (size_t)n), 0);
    raw_read(fd, &a, 10000, 1);
    close(fd);
    if (a.status != 202)
        fail_msg("a well-formed chunked request: status %d: %.200s", a.status, a.data);
    await_landed("demo", "visitor_id", visitor, NULL, 1);
    assert_landed("demo", "visitor_id", visitor, NULL, 1);
}

/* -- slow and numerous clients ------------------------------------------------ */

/* Two requests left unfinished on the child producer: fds[0] has sent
 * headers_part of its header block; fds[1] whole headers and a tenth of a
 * body (an event of type for visitor). */
static void open_unfinished(int fds[2], const char *headers_part, const char *type,
                            const char *visitor)
{
    char req[1024];
    fds[0] = raw_connect(kid.port);
    assert_int_equal(raw_send(fds[0], headers_part, strlen(headers_part)), 0);
    fds[1] = raw_connect(kid.port);
    int n = snprintf(req, sizeof(req),
                     "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n"
                     "Content-Length: 400\r\n\r\n{\"type\":\"%s\",\"visitor_id\":\"%s\"}",
                     type, visitor);
    assert_int_equal(raw_send(fds[1], req, (size_t)n), 0);
}

/* The barrier: the same visitor, whole, lands; and nothing else of it did. */
static void only_the_barrier_lands(const char *visitor)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"type\":\"sec.barrier\",\"visitor_id\":\"%s\"}", visitor);
    struct itest_answer b =
        itest_call(kid.http, "POST", "/v1/events",
                   "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n", body);
    assert_int_equal(b.status, 202);
    itest_answer_free(&b);
    await_landed("demo", "visitor_id", visitor, "sec.barrier", 1);
    assert_landed("demo", "visitor_id", visitor, NULL, 1);
}

/* When each of open_unfinished()'s two may be cut, in ms from their start:
 * the headers at producer.header_timeout_s, the body at
 * producer.connection_timeout_s (the reaper looks every 250 ms). */
static const int cut_after_ms[2] = {CHILD_HEADER_TIMEOUT_S * 1000 - 500,
                                    (CHILD_TIMEOUT_S - 1) * 1000};
static const int cut_before_ms[2] = {CHILD_HEADER_TIMEOUT_S * 1000 + 1500,
                                     (CHILD_TIMEOUT_S + 3) * 1000};

static void test_a_stalled_request_is_closed_within_the_connection_timeout(void **state)
{
    char visitor[96];
    snprintf(visitor, sizeof(visitor), "%s-stalled", run);
    /* half a header block: cut at the header timeout, well before the
     * connection timeout; and whole headers with a tenth of the body */
    int fds[2];
    open_unfinished(fds, "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea",
                    "sec.stalled", visitor);
    int64_t t0 = vg_mono_ms();
    for (int i = 0; i < 2; i++) {
        struct raw_answer a;
        raw_read(fds[i], &a, cut_before_ms[i] - (int)(vg_mono_ms() - t0), 0);
        int64_t ms = vg_mono_ms() - t0;
        close(fds[i]);
        if (!a.closed)
            fail_msg("stalled request %d still open after %lld ms (want a cut before %d ms)", i,
                     (long long)ms, cut_before_ms[i]);
        if (ms < cut_after_ms[i])
            fail_msg("stalled request %d closed after %lld ms, before %d ms", i, (long long)ms,
                     cut_after_ms[i]);
        if (a.status >= 200 && a.status < 300)
            fail_msg("stalled request %d answered %d", i, a.status);
    }
    only_the_barrier_lands(visitor);
}

static void test_a_request_trickled_in_is_cut_at_the_connection_timeout(void **state)
{
    /* A slowloris: a header line, or a byte of the body, every 300 ms. Each
     * keeps the connection busy, so an idle timeout alone never fires; the
     * whole request must still be in within producer.connection_timeout_s. */
    char visitor[96];
    snprintf(visitor, sizeof(visitor), "%s-trickle", run);
    int fds[2];
    open_unfinished(fds, "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n", "sec.trickled",
                    visitor);
    const char *drip[2] = {"X-Drip: 1\r\n", " "};
    int64_t t0 = vg_mono_ms(), closed_at[2] = {0, 0};
    const int64_t bound_ms = (CHILD_TIMEOUT_S + 3) * 1000;
    while ((!closed_at[0] || !closed_at[1]) && vg_mono_ms() - t0 < bound_ms) {
        for (int i = 0; i < 2; i++) {
            if (closed_at[i])
                continue;
            struct raw_answer a;
            raw_read(fds[i], &a, 0, 0);
            if (a.closed || raw_send(fds[i], drip[i], strlen(drip[i])))
                closed_at[i] = vg_mono_ms();
            else if (a.status >= 200 && a.status < 300)
                fail_msg("trickled request %d answered %d", i, a.status);
        }
        /* the drip's pace; a close wakes it early (a closed one is left out,
         * or it would wake every poll and speed the other's drip up) */
        struct pollfd p[2] = {{.fd = closed_at[0] ? -1 : fds[0], .events = POLLIN},
                              {.fd = closed_at[1] ? -1 : fds[1], .events = POLLIN}};
        poll(p, 2, 300);
    }
    for (int i = 0; i < 2; i++) {
        close(fds[i]);
        if (!closed_at[i] || closed_at[i] - t0 > cut_before_ms[i])
            fail_msg("trickled request %d still open after %d ms", i, cut_before_ms[i]);
        if (closed_at[i] - t0 < cut_after_ms[i])
            fail_msg("trickled request %d closed after %lld ms, before %d ms", i,
                     (long long)(closed_at[i] - t0), cut_after_ms[i]);
    }
    only_the_barrier_lands(visitor);
}

/* Opens n connections to port, each served one keep-alive /healthz, so
 * that the server has accepted every one and holds it idle. */
static void hold(int *fds, int n, int port)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (int i = 0; i < n; i++) {
        /* connections a previous test closed may still count for a moment */
        struct raw_answer a;
        int64_t until = vg_mono_ms() + 5000;
        int tries = 0;
        do {
            if (tries++)
                close(fds[i]);
            fds[i] = raw_connect(port);
            raw_send(fds[i], req, strlen(req));
            raw_read(fds[i], &a, 2000, 1);
        } while (a.status != 200 && vg_mono_ms() < until);
        if (a.status != 200)
            fail_msg("held connection %d: status %d", i, a.status);
    }
}

/* POST /v1/events with the demo key, whole, on a fresh connection from
 * source address from (NULL: any): the answer, read until the server
 * answers or closes. */
static void post_raw(const char *from, const char *body, struct raw_answer *a)
{
    char req[1024];
    int n = snprintf(req, sizeof(req),
                     "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    int fd = raw_connect_from(kid.port, from);
    assert_int_equal(raw_send(fd, req, (size_t)n), 0);
    raw_read(fd, a, 3000, 1);
    close(fd);
}

/* One small event of visitor's, posted as post_raw() does. */
static void post_over_budget(const char *from, const char *visitor, struct raw_answer *a)
{
    char body[256];
    snprintf(body, sizeof(body), "{\"type\":\"sec.over_budget\",\"visitor_id\":\"%s\"}",
             visitor);
    post_raw(from, body, a);
}

/* Asserts a raw answer is a JSON error with status and code, and Retry-After. */
static void assert_raw_error(const struct raw_answer *a, const char *what, int status,
                             const char *code, int retry_after)
{
    char want[96];
    snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
    if (a->status != status || !strcasestr(a->data, "Content-Type: application/json") ||
        !strstr(a->data, want) || (retry_after && !strcasestr(a->data, "Retry-After: ")))
        fail_msg("%s: want %d %s as JSON%s: %.300s", what, status, code,
                 retry_after ? " with Retry-After" : "", a->data);
}

static void test_a_connection_past_the_limit_gets_a_503_at_once(void **state)
{
    /* A connection past producer.connection_limit used to wait in the
     * listen backlog, unserved and unanswered: now its request gets a JSON
     * 503 with Retry-After at once, and a slot freed serves again. */
    int fds[CHILD_LIMIT];
    struct raw_answer a;
    vg_httpc_reconnect(kid.http); /* its kept-alive connection would hold a slot */
    hold(fds, CHILD_LIMIT, kid.port);
    int64_t t0 = vg_mono_ms();
    post_raw(NULL, "{\"type\":\"sec.past_limit\"}", &a);
    int64_t ms = vg_mono_ms() - t0;
    assert_raw_error(&a, "a connection past the limit", 503, "too_many_connections", 1);
    if (ms > 1500)
        fail_msg("a connection past the limit answered after %lld ms", (long long)ms);
    close(fds[0]);
    close(fds[1]);
    /* a slot freed: served again (the close reaches the server first) */
    int ok = ITEST_WAIT((post_raw(NULL, "{\"type\":\"sec.after_limit\"}", &a), a.status == 202),
                        5000);
    if (!ok)
        fail_msg("after two connections left, a request got %d: %.200s", a.status, a.data);
    for (int i = 2; i < CHILD_LIMIT; i++)
        close(fds[i]);
}

static void test_connections_past_the_per_address_limit_are_refused(void **state)
{
    /* CHILD_PER_ADDRESS connections from 127.0.0.1 held: one more from it
     * is closed unserved, one from 127.0.0.2 is still served. */
    int fds[CHILD_PER_ADDRESS];
    struct raw_answer a;
    vg_httpc_reconnect(kid.http);
    hold(fds, CHILD_PER_ADDRESS, kid.port);
    const char *req = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    int extra = raw_connect_from(kid.port, "127.0.0.1");
    raw_send(extra, req, strlen(req));
    raw_read(extra, &a, 3000, 1);
    close(extra);
    if (a.status || !a.closed)
        fail_msg("connection %d from one address: %s, status %d: %.100s",
                 CHILD_PER_ADDRESS + 1, a.closed ? "closed" : "left open", a.status, a.data);
    int other = raw_connect_from(kid.port, "127.0.0.2");
    assert_int_equal(raw_send(other, req, strlen(req)), 0);
    raw_read(other, &a, 3000, 1);
    close(other);
    if (a.status != 200)
        fail_msg("another address past the first one's limit: status %d: %.100s", a.status,
                 a.data);
    for (int i = 0; i < CHILD_PER_ADDRESS; i++)
        close(fds[i]);
}

/* Opens two connections from `from` and sends each head (headers and the
 * start of a body): 1 if the server took both, neither answered within
 * 300 ms; else closes them and returns 0 (a connection the tests before
 * closed may not be counted off yet, and one past the limit is answered). */
static int hold_bodies(int held[2], const char *from, const char *head, int n)
{
    int taken = 1;
    for (int i = 0; i < 2; i++) {
        held[i] = raw_connect_from(kid.port, from);
        if (raw_send(held[i], head, (size_t)n))
            taken = 0;
    }
    for (int i = 0; i < 2 && taken; i++) {
        struct raw_answer a;
        raw_read(held[i], &a, 300, 1);
        if (a.status || a.closed)
            taken = 0;
    }
    if (!taken)
        for (int i = 0; i < 2; i++)
            close(held[i]);
    return taken;
}

static void test_bodies_past_the_inflight_budget_get_503_and_enqueue_nothing(void **state)
{
    /* Two bodies of nearly producer.max_body_bytes are on their way in,
     * which is the whole of producer.inflight_body_bytes: a third is
     * refused with a JSON 503 and Retry-After before a byte of it is read,
     * rather than buffered. Once they end, bodies are read again.
     * From an address of its own (127.0.0.3): the connections the tests
     * before closed may not all be counted off 127.0.0.1 yet, and would
     * make the held ones count past the per-address limit. Until the held
     * headers are read (another thread may take them), a small body still
     * fits, and until those closes are counted a try may meet the
     * connection limit instead: each try has its own visitor, and the one
     * refused as overloaded must land nothing. */
    const char *from = "127.0.0.3";
    char visitor[96], head[512];
    vg_httpc_reconnect(kid.http);
    int held[2];
    int n = snprintf(head, sizeof(head),
                     "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer demo-key\r\nContent-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n{\"type\":\"sec.held\",",
                     CHILD_MAX_BODY - 10);
    if (!ITEST_WAIT(hold_bodies(held, from, head, n), 10000))
        fail_msg("the server never took two held bodies at once");
    struct raw_answer a;
    int tries = 0;
    int refused = ITEST_WAIT((snprintf(visitor, sizeof(visitor), "%s-budget%d", run, ++tries),
                              post_over_budget(from, visitor, &a),
                              a.status == 503 && strstr(a.data, "\"overloaded\"")),
                             2500); /* the held bodies are cut at CHILD_TIMEOUT_S */
    if (!refused)
        fail_msg("a body past the in-flight budget: status %d: %.300s", a.status, a.data);
    assert_raw_error(&a, "a body past the in-flight budget", 503, "overloaded", 1);
    for (int i = 0; i < 2; i++)
        close(held[i]);
    int ok = ITEST_WAIT((post_raw(from, "{\"type\":\"sec.after_budget\"}", &a), a.status == 202),
                        5000);
    if (!ok)
        fail_msg("after the held bodies ended, a request got %d: %.200s", a.status, a.data);
    only_the_barrier_lands(visitor);
}

static void test_rates_per_address_and_per_session_are_charged_before_the_body(void **state)
{
    /* One browser session cannot spend its tenant's rate: past
     * CHILD_SESSION_RATE requests per second (burst 5) its token gets 429,
     * while another session of the same tenant goes on. */
    char sid[2][96], token[2][VG_TOKEN_MAX], path[1024];
    for (int i = 0; i < 2; i++) {
        snprintf(sid[i], sizeof(sid[i]), "%s-rate%d", run, i);
        demo_session(kid.http, sid[i], token[i], sizeof(token[i]));
    }
    int limited = 0;
    for (int i = 0; i < 12 && !limited; i++) {
        snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat?token=%s", sid[0], token[0]);
        struct itest_answer b = itest_call(kid.http, "POST", path, NULL, NULL);
        if (b.status == 429) {
            assert_error(&b, "a session past its rate", 429, "rate_limited");
            limited = 1;
        } else if (b.status != 202) {
            fail_msg("heartbeat %d: %d %.200s", i, b.status, b.resp.body.data);
        }
        itest_answer_free(&b);
    }
    if (!limited)
        fail_msg("12 heartbeats of one session at once, none refused (rate %d/s, burst 5)",
                 CHILD_SESSION_RATE);
    snprintf(path, sizeof(path), "/v1/sessions/%s/heartbeat?token=%s", sid[1], token[1]);
    struct itest_answer b = itest_call(kid.http, "POST", path, NULL, NULL);
    if (b.status != 202)
        fail_msg("another session of the tenant: %d %.200s", b.status, b.resp.body.data);
    itest_answer_free(&b);

    /* One address: every request counts, a 401 as much as a 202, and it is
     * refused before its body is read: headers announcing a body that never
     * comes still get their 429 at once. */
    vg_httpc_reconnect(kid.http);
    struct raw_answer a;
    int got429 = 0;
    for (int i = 0; i < 4 * CHILD_ADDRESS_RATE && !got429; i++) {
        const char *req = "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Authorization: Bearer wrong-key\r\nContent-Type: application/json\r\n"
                          "Content-Length: 1000\r\n\r\n";
        int fd = raw_connect(kid.port);
        assert_int_equal(raw_send(fd, req, strlen(req)), 0);
        raw_read(fd, &a, 2000, 1);
        close(fd);
        if (a.status == 429)
            got429 = 1;
        else if (a.status != 401)
            fail_msg("request %d from one address: status %d: %.200s", i, a.status, a.data);
    }
    if (!got429)
        fail_msg("%d requests at once from one address, none refused (rate %d/s)",
                 4 * CHILD_ADDRESS_RATE, CHILD_ADDRESS_RATE);
    assert_raw_error(&a, "an address past its rate", 429, "rate_limited", 1);
    /* another address is not held back by this one */
    post_raw("127.0.0.2", "{\"type\":\"sec.other_address\"}", &a);
    if (a.status != 202)
        fail_msg("another address: status %d: %.200s", a.status, a.data);
}

/* -- set-up ------------------------------------------------------------------- */

static int setup(void **state)
{
    char err[512];
    itest_open(&st, "sec");
    if (!st.cfg->token_secret || !*st.cfg->token_secret)
        fail_msg("VIGIL_TOKEN_SECRET is not set: the stack's tokens cannot be forged for tests");
    http = vg_httpc_new(itest_env("VIGIL_HTTP"), 30000, err, sizeof(err));
    if (!http)
        fail_msg("%s", err);
    snprintf(run, sizeof(run), "%s", st.tenant); /* "sec-xxxxxxxx" */
    child_start(&kid);
    return 0;
}

static int teardown(void **state)
{
    int rc = itest_child_teardown(&kid);
    vg_httpc_free(http);
    itest_close(&st);
    return rc;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_ingestion_route_refuses_missing_and_wrong_credentials),
        cmocka_unit_test(test_a_revoked_key_is_refused_on_every_route),
        cmocka_unit_test(test_a_key_for_acme_cannot_write_as_demo),
        cmocka_unit_test(test_ambiguous_framing_is_refused_and_enqueues_nothing),
        cmocka_unit_test(test_a_stalled_request_is_closed_within_the_connection_timeout),
        cmocka_unit_test(test_a_request_trickled_in_is_cut_at_the_connection_timeout),
        cmocka_unit_test(test_a_connection_past_the_limit_gets_a_503_at_once),
        cmocka_unit_test(test_connections_past_the_per_address_limit_are_refused),
        cmocka_unit_test(test_bodies_past_the_inflight_budget_get_503_and_enqueue_nothing),
        /* last: it spends the child's rates */
        cmocka_unit_test(test_rates_per_address_and_per_session_are_charged_before_the_body),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
