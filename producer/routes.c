#include "routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "assets.h"
#include "crypto.h"
#include "enrich.h"
#include "event.h"
#include "gunzip.h"
#include "limits.h"
#include "policy.h"
#include "receipt.h"
#include "segment.h"

#define RETRY_QUEUE_FULL_S 1
#define RETRY_KAFKA_S 5

/* The tracking page: its heartbeat interval unless the link says, and what it may load. */
#define PAGE_HEARTBEAT_S 30
#define PAGE_CSP                                                                                \
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; "   \
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define SDK_CACHE "public, max-age=86400"

/* -- the route table ----------------------------------------------------- */

/* Who may call a route. */
enum credentials {
    KEY,          /* Authorization: Bearer <tenant key> */
    KEY_OR_TOKEN, /* that, or a session token: Authorization: Session <token>, or ?token= */
    PATH_TOKEN,   /* the link token in the path: a tracking link and its page */
    PUBLIC        /* none: a file of the SDK, answered at once */
};

/* What a route's body may be. */
enum body {
    BODY_NONE,   /* not read: a tracking link */
    BODY_JSON,   /* optional; if any, JSON */
    BODY_EVENTS, /* JSON or NDJSON, the Content-Type required */
    BODY_SEGMENT /* JSON, the Content-Type required: Segment's Tracking API */
};

/*
 * Validates r->body (body, len bytes) for in into r->out and prepares the
 * success answer (r->ok_*); or refuses: returns 1 with r->reply filled.
 */
typedef int handler_fn(struct vg_req *r, const struct vg_ingest *in, const char *body,
                       size_t len);

static handler_fn post_events, post_sessions, post_signal, get_track, post_segment;

/* The API of DESIGN.md section 4. A GET route answers HEAD too. A route
 * without a handler is no route here: 404 (the server answers /healthz,
 * /readyz and /metrics itself). */
static const struct route {
    const char *method;
    const char *allow; /* on a 405 */
    enum credentials credentials;
    enum body body;
    int publishable; /* a publishable key may call it (writes only: DESIGN.md section 12) */
    handler_fn *handle;
} routes[VG_ROUTE_COUNT] = {
    [VG_ROUTE_EVENTS] = {"POST", "POST, OPTIONS", KEY_OR_TOKEN, BODY_EVENTS, 1, post_events},
    [VG_ROUTE_SESSIONS] = {"POST", "POST, OPTIONS", KEY, BODY_JSON, 1, post_sessions},
    [VG_ROUTE_HEARTBEAT] = {"POST", "POST, OPTIONS", KEY_OR_TOKEN, BODY_JSON, 1, post_signal},
    [VG_ROUTE_END] = {"POST", "POST, OPTIONS", KEY_OR_TOKEN, BODY_JSON, 1, post_signal},
    [VG_ROUTE_TRACK] = {"GET", "GET, HEAD, OPTIONS", PATH_TOKEN, BODY_NONE, 0, get_track},
    [VG_ROUTE_TRACK_HEARTBEAT] = {"POST", "POST", PATH_TOKEN, BODY_JSON, 0, post_signal},
    [VG_ROUTE_TRACK_END] = {"POST", "POST", PATH_TOKEN, BODY_JSON, 0, post_signal},
    [VG_ROUTE_SDK] = {"GET", "GET, HEAD, OPTIONS", PUBLIC, BODY_NONE, 0, NULL},
#define SEGMENT_ROUTE(r) [r] = {"POST", "POST, OPTIONS", KEY, BODY_SEGMENT, 1, post_segment}
    SEGMENT_ROUTE(VG_ROUTE_SEGMENT_BATCH),    SEGMENT_ROUTE(VG_ROUTE_SEGMENT_TRACK),
    SEGMENT_ROUTE(VG_ROUTE_SEGMENT_IDENTIFY), SEGMENT_ROUTE(VG_ROUTE_SEGMENT_PAGE),
    SEGMENT_ROUTE(VG_ROUTE_SEGMENT_SCREEN),   SEGMENT_ROUTE(VG_ROUTE_SEGMENT_GROUP),
    SEGMENT_ROUTE(VG_ROUTE_SEGMENT_ALIAS),
#undef SEGMENT_ROUTE
};

/* -- the headers: who asks, and may they ---------------------------------- */

/* Takes a token of kind want: a link token opens its link and nothing else,
 * a session token everything of its session but the link. */
static int use_token(struct vg_req *r, const char *token, enum vg_token_kind want)
{
    const struct vg_routes_env *e = r->env;
    struct vg_token t;
    int rc = vg_token_verify(e->token_secret, e->token_secret_len, token, strlen(token),
                             vg_now_ms() / 1000, &t);
    if (rc == VG_ETIMEOUT)
        return vg_req_refuse(r, 401, "token_expired", NULL, 0, "the session token has expired");
    if (rc)
        return vg_req_refuse(r, 401, "invalid_token", NULL, 0, "the session token is not valid");
    if (t.kind != want && want == VG_TOKEN_LINK)
        return vg_req_refuse(r, 401, "link_token_required", NULL, 0,
                             "a tracking link needs the session's link_token, not its token");
    if (t.kind != want)
        return vg_req_refuse(r, 401, "link_token_not_allowed", NULL, 0,
                             "a link token opens its tracking link /t/{link_token} only");
    r->tenant = vg_config_tenant(r->cfg, t.tenant);
    if (!r->tenant)
        return vg_req_refuse(r, 401, "invalid_token", NULL, 0,
                             "the session token's tenant is unknown");
    r->scoped = 1;
    snprintf(r->scope_session, sizeof(r->scope_session), "%s", t.session_id);
    return 0;
}

/* A publishable key is public (it sits in a page): it writes, from a page of
 * the tenant's origins, and does nothing else. */
static int publishable_refused(struct vg_req *r)
{
    if (!r->publishable)
        return 0;
    if (!routes[r->route].publishable)
        return vg_req_refuse(r, 401, "publishable_key_not_allowed", NULL, 0,
                             "a publishable key cannot be used here: use a secret key");
    if (!vg_policy_origin_allowed(r->tenant, r->head.origin))
        return vg_req_refuse(r, 401, "origin_not_allowed", NULL, 0,
                             "a publishable key is accepted only from the tenant's origins");
    return 0;
}

/*
 * The one way a key authenticates, whichever header carried it (a secret or
 * a publishable key): sets r->tenant, or refuses with 401.
 */
static int use_key(struct vg_req *r, const char *key, size_t len)
{
    r->tenant = vg_policy_tenant_by_key(r->cfg, key, len, &r->publishable);
    if (!r->tenant)
        return vg_req_refuse(r, 401, "unknown_key", NULL, 0, "the key is not valid");
    return publishable_refused(r);
}

/* HTTP Basic (RFC 7617) with the key as user name, as Segment's SDKs send
 * their write key: "Basic base64(key:)", the password ignored. */
static int use_basic(struct vg_req *r, const char *cred)
{
    unsigned char plain[VG_TOKEN_MAX];
    while (*cred == ' ')
        cred++;
    size_t n = strcspn(cred, " ");
    long len = vg_base64_decode(cred, n, plain, sizeof(plain));
    const char *colon = len > 0 ? memchr(plain, ':', (size_t)len) : NULL;
    int rc = !colon || colon == (const char *)plain || cred[n]
                 ? vg_req_refuse(r, 401, "bad_authorization", NULL, 0,
                                 "Authorization: Basic must carry base64(\"<write key>:\")")
                 : use_key(r, (const char *)plain, (size_t)(colon - (const char *)plain));
    explicit_bzero(plain, sizeof(plain)); /* a key: not left on the stack */
    return rc;
}

/* Sets r->tenant (and the session scope of a token) or refuses with 401. */
static int authenticate(struct vg_req *r, enum credentials credentials)
{
    if (credentials == PATH_TOKEN)
        return use_token(r, r->arg, VG_TOKEN_LINK);
    int allow_token = credentials == KEY_OR_TOKEN;
    const char *auth = r->head.authorization;
    const char *token = NULL;
    if (auth) {
        if (!strncasecmp(auth, "Bearer ", 7)) {
            const char *key = auth + 7;
            while (*key == ' ')
                key++;
            return use_key(r, key, strlen(key));
        }
        if (!strncasecmp(auth, "Basic ", 6))
            return use_basic(r, auth + 6);
        if (strncasecmp(auth, "Session ", 8))
            return vg_req_refuse(r, 401, "bad_authorization", NULL, 0,
                                 "Authorization must be \"Bearer <key>\", \"Basic "
                                 "base64(<key>:)\" or \"Session <token>\"");
        if (!allow_token)
            return vg_req_refuse(r, 401, "key_required", NULL, 0,
                                 "this route needs a tenant key (Authorization: Bearer <key>)");
        token = auth + 8;
        while (*token == ' ')
            token++;
    } else if (allow_token) {
        token = r->head.token;
    }
    if (!token)
        return vg_req_refuse(r, 401, "missing_credentials", NULL, 0,
                             allow_token ? "send Authorization: Bearer <key>, Authorization: "
                                           "Session <token> or ?token=<token>"
                                         : "send Authorization: Bearer <key> or Basic "
                                           "base64(<key>:)");
    return use_token(r, token, VG_TOKEN_SESSION);
}

/* Refuses a media type the route does not take, as far as the headers tell. */
static int media_refused(struct vg_req *r, enum body body)
{
    enum vg_media m = r->head.media;
    if (body != BODY_NONE && r->head.encoding == VG_ENCODING_OTHER)
        return vg_req_refuse(r, 415, "unsupported_encoding", NULL, 0,
                             "Content-Encoding must be gzip or identity");
    if (body == BODY_SEGMENT && m != VG_MEDIA_JSON)
        return vg_req_refuse(r, 415, "unsupported_media_type", NULL, 0,
                             "Content-Type must be application/json");
    if (body == BODY_EVENTS && m != VG_MEDIA_JSON && m != VG_MEDIA_NDJSON)
        return vg_req_refuse(r, 415, "unsupported_media_type", NULL, 0,
                             "Content-Type must be application/json, application/x-ndjson or "
                             "text/plain");
    /* Checked again once the body is in: only a body needs a media type. */
    if (body == BODY_JSON && m != VG_MEDIA_NONE && m != VG_MEDIA_JSON && r->head.body_length)
        return vg_req_refuse(r, 415, "unsupported_media_type", NULL, 0,
                             "Content-Type must be application/json or text/plain");
    return 0;
}

/* 1 if an If-None-Match value names etag (or is "*"), weak or strong. */
static int etag_matches(const char *if_none_match, const char *etag)
{
    return if_none_match && (!strcmp(if_none_match, "*") || strstr(if_none_match, etag));
}

/* A file of the SDK, the same for everyone: cached, revalidated by ETag. */
static int serve_file(struct vg_req *r)
{
    const struct vg_asset *a = vg_assets_find(r->arg);
    struct vg_reply *y = &r->reply;
    if (!a)
        return vg_req_refuse(r, 404, "not_found", NULL, 0, "no such file");
    y->cache_control = SDK_CACHE;
    y->etag = a->etag;
    y->cors_public = 1;
    if (etag_matches(r->head.if_none_match, a->etag)) {
        y->status = 304;
        return 1;
    }
    y->status = 200;
    y->content_type = a->content_type;
    vg_buf_append(&y->body, a->data, a->len);
    return 1;
}

int vg_routes_begin(struct vg_req *r)
{
    const struct route *rt = &routes[r->route];
    r->routed = 1;
    if (!rt->handle && rt->credentials != PUBLIC)
        return vg_req_refuse(r, 404, "not_found", NULL, 0, "no such route");
    if (!strcmp(r->method, "OPTIONS"))
        return vg_req_preflight(r);
    if (strcmp(r->method, rt->method) &&
        !(!strcmp(rt->method, "GET") && !strcmp(r->method, "HEAD"))) {
        r->reply.allow = rt->allow;
        return vg_req_refuse(r, 405, "method_not_allowed", NULL, 0, "use %s", rt->method);
    }
    if (rt->credentials == PUBLIC)
        return serve_file(r);
    if (authenticate(r, rt->credentials))
        return 1;
    const char *customer = r->head.customer_id;
    if (customer && strcmp(customer, r->tenant->id))
        return vg_req_refuse(r, 401, "tenant_mismatch", NULL, 0,
                             "X-Customer-ID does not name the tenant of these credentials");
    if (vg_req_check_origin(r))
        return 1;
    return media_refused(r, rt->body);
}

/* -- the body: the handlers ----------------------------------------------- */

static void ok_accepted(struct vg_req *r, unsigned status)
{
    struct vg_buf *b = &r->ok_body;
    r->ok_status = status;
    vg_buf_printf(b, "{\"accepted\":%zu,\"event_ids\":[", r->out.n);
    for (size_t i = 0; i < r->out.n; i++)
        vg_buf_printf(b, "%s\"%s\"", i ? "," : "", r->out.msgs[i].event_id);
    vg_buf_puts(b, "]}");
}

static int post_events(struct vg_req *r, const struct vg_ingest *in, const char *body,
                       size_t len)
{
    struct vg_reject rej;
    enum vg_body_format fmt = r->head.media == VG_MEDIA_NDJSON ? VG_BODY_NDJSON : VG_BODY_JSON;
    long n = vg_event_parse(in, fmt, body, len, &r->out, &rej);
    if (n < 0) {
        vg_req_reject(r, &rej);
        return 1;
    }
    r->nevents = n;
    ok_accepted(r, 202);
    return 0;
}

static int post_sessions(struct vg_req *r, const struct vg_ingest *in, const char *body,
                         size_t len)
{
    const struct vg_routes_env *e = r->env;
    struct vg_reject rej;
    struct vg_session_new s;
    if (vg_session_start(in, body, len, e->token_ttl_s, &s, &r->out, &rej)) {
        vg_req_reject(r, &rej);
        return 1;
    }
    r->nevents = 1;
    char token[VG_TOKEN_MAX], link[VG_TOKEN_MAX], ts[VG_TS_LEN];
    if (vg_token_sign(e->token_secret, e->token_secret_len, VG_TOKEN_SESSION, r->tenant->id,
                      s.session_id, s.token_expires_s, token, sizeof(token)) ||
        vg_token_sign(e->token_secret, e->token_secret_len, VG_TOKEN_LINK, r->tenant->id,
                      s.session_id, s.token_expires_s, link, sizeof(link)))
        return vg_req_refuse(r, 400, "invalid_field", "session_id", 0,
                             "cannot sign a token for it");
    vg_time_format(s.token_expires_s * 1000000, ts);
    struct vg_buf *b = &r->ok_body;
    r->ok_status = 201;
    vg_buf_puts(b, "{\"session_id\":");
    vg_buf_json_str(b, s.session_id, strlen(s.session_id));
    vg_buf_printf(b,
                  ",\"token\":\"%s\",\"link_token\":\"%s\",\"expires_at\":\"%s\","
                  "\"event_ids\":[\"%s\"]}",
                  token, link, ts, r->out.msgs[0].event_id);
    return 0;
}

/* POST /v1/sessions/{id}/heartbeat and /end, and the same from the tracking
 * page, /t/{link_token}/heartbeat and /end, for the link's session. */
static int post_signal(struct vg_req *r, const struct vg_ingest *in, const char *body,
                       size_t len)
{
    struct vg_reject rej;
    int link = r->route == VG_ROUTE_TRACK_HEARTBEAT || r->route == VG_ROUTE_TRACK_END;
    const char *session = link ? r->scope_session : r->arg;
    int rc = r->route == VG_ROUTE_HEARTBEAT || r->route == VG_ROUTE_TRACK_HEARTBEAT
                 ? vg_session_heartbeat(in, session, body, len, &r->out, &rej)
                 : vg_session_end(in, session, body, len, &r->out, &rej);
    if (rc) {
        vg_req_reject(r, &rej);
        return 1;
    }
    r->nevents = 1;
    ok_accepted(r, 202);
    return 0;
}

/* The tracking page: it opens to, heartbeats while open, ends when closed
 * (sdk/track.html, which runs /sdk/vigil.js with the link token). */
static int track_page(struct vg_req *r, const char *to)
{
    int64_t hb = PAGE_HEARTBEAT_S;
    if (r->head.heartbeat_s && vg_parse_int64(r->head.heartbeat_s, 1, 3600, &hb))
        return vg_req_refuse(r, 400, "invalid_field", "heartbeat_s", 0,
                             "heartbeat_s must be an integer from 1 to 3600");
    struct vg_buf esc_to = {0}, esc_token = {0};
    char hb_text[24];
    snprintf(hb_text, sizeof(hb_text), "%lld", (long long)hb);
    vg_assets_html_escape(to, &esc_to);
    vg_assets_html_escape(r->arg, &esc_token);
    static const char *const names[] = {"to", "link_token", "heartbeat_s"};
    const char *values[] = {esc_to.data, esc_token.data, hb_text};
    vg_assets_render(vg_assets_track_page(), names, values, VG_ARRAY_LEN(names), &r->ok_body);
    vg_buf_free(&esc_to);
    vg_buf_free(&esc_token);
    r->ok_status = 200;
    r->ok_page = 1;
    return 0;
}

static int get_track(struct vg_req *r, const struct vg_ingest *in, const char *body, size_t len)
{
    const char *to = r->head.to;
    if (!to)
        return vg_req_refuse(r, 400, "missing_field", "to", 0, "the link has no ?to=<url>");
    if (!vg_policy_redirect_allowed(r->tenant, to))
        return vg_req_refuse(r, 400, "redirect_not_allowed", "to", 0,
                             "the tenant does not allow redirects to this URL");
    /* A HEAD is a link checker, not a person: redirect, record nothing. */
    if (strcmp(r->method, "HEAD"))
        vg_session_activate(in, r->scope_session, to, &r->out);
    r->nevents = (long)r->out.n;
    const char *page = r->head.page;
    if (page ? !strcmp(page, "1") : r->tenant->link_page)
        return track_page(r, to);
    r->ok_status = 302;
    r->ok_location = vg_xstrdup(to);
    return 0;
}

/* Segment's routes: POST /v1/batch and the six calls (segment.h). */
static int post_segment(struct vg_req *r, const struct vg_ingest *in, const char *body,
                        size_t len)
{
    struct vg_reject rej;
    enum vg_segment_call call =
        (enum vg_segment_call)(VG_SEGMENT_BATCH + (r->route - VG_ROUTE_SEGMENT_BATCH));
    long n = vg_segment_parse(in, call, body, len, &r->out, &rej);
    if (n < 0) {
        vg_req_reject(r, &rej);
        return 1;
    }
    r->nevents = n;
    r->ok_status = 200; /* Segment's SDKs take anything else for a failure */
    vg_buf_puts(&r->ok_body, "{\"success\":true}");
    return 0;
}

/* -- validate, rate-limit, produce ---------------------------------------- */

static void answer_ok(struct vg_req *r)
{
    struct vg_reply *y = &r->reply;
    y->status = r->ok_status;
    vg_buf_reset(&y->body);
    vg_buf_append(&y->body, r->ok_body.data ? r->ok_body.data : "", r->ok_body.len);
    y->content_type = "application/json";
    if (r->ok_page) {
        y->content_type = "text/html; charset=utf-8";
        y->csp = PAGE_CSP;
    }
    if (r->ok_location) {
        y->location = r->ok_location;
        r->ok_location = NULL;
        y->content_type = "text/plain";
    }
}

/* Replaces a gzip body by its content, bounded by producer.max_body_bytes. */
static int inflate_body(struct vg_req *r)
{
    struct vg_buf plain = {0};
    int rc = vg_gunzip(r->body.data ? r->body.data : "", r->body.len, r->env->max_body_bytes,
                       &plain);
    if (rc == 0) {
        vg_buf_free(&r->body);
        r->body = plain;
        return 0;
    }
    vg_buf_free(&plain);
    if (rc == VG_ETOOBIG)
        return vg_req_refuse(r, 413, "body_too_large", NULL, 0,
                             "the decompressed body exceeds producer.max_body_bytes");
    return vg_req_refuse(r, 400, "invalid_encoding", NULL, 0,
                         "the body is not valid gzip (Content-Encoding: gzip)");
}

/* The tenant's enrichment into in: the client's address (into addr) and
 * user agent. */
static void enrich(const struct vg_req *r, struct vg_ingest *in, char addr[VG_ADDR_MAX])
{
    const struct vg_tenant *t = r->tenant;
    in->truncate_ip = t->truncate_ip;
    if (t->enrich_user_agent && r->head.user_agent && *r->head.user_agent)
        in->user_agent = r->head.user_agent;
    if (!t->enrich_ip || !r->client[0])
        return;
    memcpy(addr, r->client, VG_ADDR_MAX);
    if (t->truncate_ip && vg_enrich_truncate(addr, addr))
        return; /* no address to tell */
    in->client_ip = addr;
}

/* Validates the body into r->out with its route's handler. */
static int build(struct vg_req *r)
{
    const struct route *rt = &routes[r->route];
    struct vg_ingest in = {
        .tenant = r->tenant->id,
        .scope_session = r->scoped ? r->scope_session : NULL,
        .received_us = r->received_us,
        .max_event_bytes = r->env->max_event_bytes,
        .max_batch_events = r->env->max_batch_events,
    };
    if (r->head.sent_at) {
        if (vg_time_parse(r->head.sent_at, &in.sent_at_us))
            return vg_req_refuse(r, 400, "invalid_field", "X-Sent-At", 0,
                                 "X-Sent-At must be an RFC 3339 time with an offset");
        in.has_sent_at = 1;
    }
    if (rt->body == BODY_JSON && r->body.len && r->head.media != VG_MEDIA_JSON)
        return vg_req_refuse(r, 415, "unsupported_media_type", NULL, 0,
                             "a body needs Content-Type: application/json or text/plain");
    if (r->head.encoding == VG_ENCODING_GZIP && rt->body != BODY_NONE && inflate_body(r))
        return 1;
    char addr[VG_ADDR_MAX];
    enrich(r, &in, addr);
    return rt->handle(r, &in, r->body.data ? r->body.data : "", r->body.len);
}

/* Takes r's events from its tenant's bucket. */
static int tenant_limited(struct vg_req *r)
{
    const struct vg_tenant *t = r->tenant;
    char who[VG_TENANT_MAX + 16];
    int64_t retry_ms;
    int rc = vg_ratelimit_take(r->env->rl, t->id, t->rate_per_s, t->burst, (int64_t)r->out.n,
                               vg_mono_ms(), &retry_ms);
    snprintf(who, sizeof(who), "tenant %s", t->id);
    return vg_limits_refuse_events(r, rc, retry_ms, t->rate_per_s, t->burst, who);
}

int vg_routes_finish(struct vg_req *r)
{
    /* A publishable key's events come from its client address's bucket
     * (limits.h), then, like everyone's, from its tenant's. */
    if (build(r) || vg_limits_admit_events(r->env->limits, r) || tenant_limited(r))
        return 1;

    /* A tracking link redirects a person once the click is queued. */
    int async = r->head.async || r->route == VG_ROUTE_TRACK;
    r->dl = vg_delivery_new(r->env->kout, r->tenant->id,
                            vg_mono_ms() + r->env->ack_timeout_ms, async);
    int rc = vg_kout_send(r->env->kout, r->dl, &r->out);
    if (rc) {
        vg_delivery_release(r->dl);
        r->dl = NULL;
        if (rc == VG_EFULL)
            return vg_req_refuse(r, 503, "queue_full", NULL, RETRY_QUEUE_FULL_S,
                                 "the local Kafka queue is full");
        return vg_req_refuse(r, 503, "kafka_error", NULL, RETRY_KAFKA_S,
                             "Kafka refused the messages");
    }
    if (async) {
        vg_delivery_release(r->dl);
        r->dl = NULL;
        answer_ok(r);
        r->reply.preference_applied = r->head.async;
        return 1;
    }
    return 0;
}

/* Adds "receipt" as the last member of the JSON object in b. */
static void add_receipt(struct vg_buf *b, const char *receipt)
{
    if (b->len == 0 || b->data[b->len - 1] != '}')
        return;
    b->len--;
    vg_buf_printf(b, ",\"receipt\":\"%s\"}", receipt);
}

void vg_routes_delivered(struct vg_req *r)
{
    char err[128];
    static _Thread_local char receipt[VG_RECEIPT_MAX_LEN];
    enum vg_delivery_result res = vg_delivery_result(r->dl, err, sizeof(err));
    int has_receipt = res == VG_DELIVERY_OK &&
                      vg_delivery_receipt(r->dl, receipt, sizeof(receipt)) == 0;
    vg_delivery_release(r->dl);
    r->dl = NULL;
    switch (res) {
    case VG_DELIVERY_OK:
        answer_ok(r);
        /* Segment's answer stays {"success":true}, exactly as its SDKs know it. */
        if (has_receipt && !vg_req_segment(r->route))
            add_receipt(&r->reply.body, receipt);
        break;
    case VG_DELIVERY_FAILED:
        vg_req_refuse(r, 503, "kafka_error", NULL, RETRY_KAFKA_S,
                      "Kafka did not take the messages: %s", err);
        break;
    default:
        vg_req_refuse(r, 503, "kafka_timeout", NULL, RETRY_KAFKA_S,
                      "Kafka did not acknowledge within %lld ms",
                      (long long)r->env->ack_timeout_ms);
        break;
    }
}
