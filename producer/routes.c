#include "routes.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "event.h"
#include "log.h"
#include "policy.h"
#include "stats.h"

#define RETRY_QUEUE_FULL_S 1
#define RETRY_KAFKA_S 5
#define PREFLIGHT_HEADERS "Authorization, Content-Type, Prefer, X-Sent-At, X-Customer-ID"

static const char *const route_labels[VG_ROUTE_COUNT] = {
    "other",      "/v1/events", "/v1/sessions", "/v1/sessions/{id}/heartbeat",
    "/v1/sessions/{id}/end", "/t/{token}", "/healthz", "/readyz", "/metrics"};

const char *vg_routes_label(enum vg_route route)
{
    return route_labels[route];
}

static void copy_arg(const char *s, size_t n, char *arg, size_t arg_size)
{
    /* Too long to be valid: left empty, so that validation names it. */
    if (n >= arg_size)
        n = 0;
    memcpy(arg, s, n);
    arg[n] = '\0';
}

enum vg_route vg_routes_match(const char *url, char *arg, size_t arg_size)
{
    static const struct {
        const char *path;
        enum vg_route route;
    } fixed[] = {{"/v1/events", VG_ROUTE_EVENTS}, {"/v1/sessions", VG_ROUTE_SESSIONS},
                 {"/healthz", VG_ROUTE_HEALTHZ},  {"/readyz", VG_ROUTE_READYZ},
                 {"/metrics", VG_ROUTE_METRICS}};
    arg[0] = '\0';
    for (size_t i = 0; i < VG_ARRAY_LEN(fixed); i++)
        if (!strcmp(url, fixed[i].path))
            return fixed[i].route;
    if (!strncmp(url, "/v1/sessions/", 13)) {
        const char *id = url + 13, *slash = strchr(id, '/');
        if (!slash || slash == id)
            return VG_ROUTE_OTHER;
        enum vg_route rt = !strcmp(slash, "/heartbeat") ? VG_ROUTE_HEARTBEAT
                           : !strcmp(slash, "/end")     ? VG_ROUTE_END
                                                        : VG_ROUTE_OTHER;
        if (rt != VG_ROUTE_OTHER)
            copy_arg(id, (size_t)(slash - id), arg, arg_size);
        return rt;
    }
    if (!strncmp(url, "/t/", 3) && url[3] && !strchr(url + 3, '/')) {
        copy_arg(url + 3, strlen(url + 3), arg, arg_size);
        return VG_ROUTE_TRACK;
    }
    return VG_ROUTE_OTHER;
}

/* -- answers ------------------------------------------------------------- */

static const char *reject_reason(const struct vg_reject *rej)
{
    switch (rej->status) {
    case 400:
        return "invalid";
    case 401:
        return "unauthorized";
    case 403:
        return "origin";
    case 413:
        return "too_large";
    case 415:
        return "media_type";
    case 429:
        return "rate_limited";
    default:
        return rej->code; /* 503: queue_full, kafka_timeout, kafka_error, ... */
    }
}

void vg_req_reject(struct vg_req *r, const struct vg_reject *rej)
{
    struct vg_reply *y = &r->reply;
    y->status = (unsigned)rej->status;
    vg_buf_reset(&y->body);
    vg_reject_json(rej, &y->body);
    y->content_type = "application/json";
    y->retry_after_s = rej->retry_after_s;
    y->www_authenticate = rej->status == 401;
    /* Refused data, not a wrong path or a preflight. */
    int counted = rej->status != 404 && rej->status != 405 && strcmp(r->method, "OPTIONS");
    if (counted && r->route >= VG_ROUTE_EVENTS && r->route <= VG_ROUTE_TRACK)
        vg_stats_reject(reject_reason(rej), r->nevents > 0 ? (uint64_t)r->nevents : 1);
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.tenant = r->tenant ? r->tenant->id : NULL;
    ctx.session_id = r->scoped ? r->scope_session : NULL;
    ctx.error = rej->code;
    vg_logc(VG_LOG_DEBUG, &ctx, "%s %s refused with %d: %s", r->method, vg_routes_label(r->route),
            rej->status, rej->message);
}

/* Refuses with a fresh reject; returns 1 (the answer is ready). */
static int refuse(struct vg_req *r, int status, const char *code, const char *field,
                  int retry_after_s, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int refuse(struct vg_req *r, int status, const char *code, const char *field,
                  int retry_after_s, const char *fmt, ...)
{
    struct vg_reject rej;
    va_list ap;
    vg_reject_set(&rej, status, code, -1, field, "%s", "");
    va_start(ap, fmt);
    vsnprintf(rej.message, sizeof(rej.message), fmt, ap);
    va_end(ap);
    rej.retry_after_s = retry_after_s;
    vg_req_reject(r, &rej);
    return 1;
}

static int reply_with(struct vg_req *r, const struct vg_reject *rej)
{
    vg_req_reject(r, rej);
    return 1;
}

/* -- headers ------------------------------------------------------------- */

/* The media type of a Content-Type value, lowercased, without parameters. */
static void media_type(const char *ct, char *out, size_t out_size)
{
    size_t n = 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    for (; *ct && *ct != ';' && n + 1 < out_size; ct++)
        out[n++] = (char)tolower((unsigned char)*ct);
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
}

static int is_json(const char *mt)
{
    return !strcmp(mt, "application/json") || !strcmp(mt, "text/plain");
}

static int is_ndjson(const char *mt)
{
    return !strcmp(mt, "application/x-ndjson") || !strcmp(mt, "application/ndjson");
}

/* 1 if a Prefer header lists respond-async (RFC 7240). */
static int prefers_async(const char *prefer)
{
    while (prefer && *prefer) {
        while (*prefer == ' ' || *prefer == ',' || *prefer == '\t')
            prefer++;
        size_t n = strcspn(prefer, ",; \t");
        if (n == 13 && !strncasecmp(prefer, "respond-async", 13))
            return 1;
        prefer += strcspn(prefer, ",");
    }
    return 0;
}

static int use_token(struct vg_req *r, const char *token)
{
    const struct vg_routes_env *e = r->env;
    struct vg_token t;
    int rc = vg_token_verify(e->token_secret, e->token_secret_len, token, strlen(token),
                             vg_now_ms() / 1000, &t);
    if (rc == VG_ETIMEOUT)
        return refuse(r, 401, "token_expired", NULL, 0, "the session token has expired");
    if (rc)
        return refuse(r, 401, "invalid_token", NULL, 0, "the session token is not valid");
    r->tenant = vg_config_tenant(r->cfg, t.tenant);
    if (!r->tenant)
        return refuse(r, 401, "invalid_token", NULL, 0, "the session token's tenant is unknown");
    r->scoped = 1;
    snprintf(r->scope_session, sizeof(r->scope_session), "%s", t.session_id);
    return 0;
}

/* Sets r->tenant (and the session scope of a token) or refuses with 401. */
static int authenticate(struct vg_req *r, int allow_token)
{
    const char *auth = vg_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *token = NULL;
    if (auth) {
        if (!strncasecmp(auth, "Bearer ", 7)) {
            const char *key = auth + 7;
            while (*key == ' ')
                key++;
            r->tenant = vg_policy_tenant_by_key(r->cfg, key, strlen(key));
            if (!r->tenant)
                return refuse(r, 401, "unknown_key", NULL, 0, "the key is not valid");
            return 0;
        }
        if (strncasecmp(auth, "Session ", 8))
            return refuse(r, 401, "bad_authorization", NULL, 0,
                          "Authorization must be \"Bearer <key>\" or \"Session <token>\"");
        if (!allow_token)
            return refuse(r, 401, "key_required", NULL, 0,
                          "this route needs a tenant key (Authorization: Bearer <key>)");
        token = auth + 8;
        while (*token == ' ')
            token++;
    } else if (allow_token) {
        token = vg_req_query(r, "token");
    }
    if (!token)
        return refuse(r, 401, "missing_credentials", NULL, 0,
                      allow_token ? "send Authorization: Bearer <key>, Authorization: Session "
                                    "<token> or ?token=<token>"
                                  : "send Authorization: Bearer <key>");
    return use_token(r, token);
}

static int preflight(struct vg_req *r)
{
    struct vg_reply *y = &r->reply;
    if (!r->origin || !vg_req_header(r, "Access-Control-Request-Method")) {
        y->status = 204;
        y->allow = "POST, GET, OPTIONS";
        return 1;
    }
    if (!vg_policy_origin_any(r->cfg, r->origin))
        return refuse(r, 403, "origin_not_allowed", NULL, 0,
                      "origin %.100s is not allowed by any tenant", r->origin);
    y->status = 204;
    y->preflight = 1;
    y->allow = "POST, GET, OPTIONS";
    return 1;
}

int vg_routes_begin(struct vg_req *r)
{
    r->origin = vg_req_header(r, "Origin");
    if (r->route == VG_ROUTE_OTHER)
        return refuse(r, 404, "not_found", NULL, 0, "no such route");
    if (!strcmp(r->method, "OPTIONS"))
        return preflight(r);
    const char *want = r->route == VG_ROUTE_TRACK ? "GET" : "POST";
    if (strcmp(r->method, want) && !(r->route == VG_ROUTE_TRACK && !strcmp(r->method, "HEAD"))) {
        r->reply.allow = r->route == VG_ROUTE_TRACK ? "GET, HEAD, OPTIONS" : "POST, OPTIONS";
        return refuse(r, 405, "method_not_allowed", NULL, 0, "use %s", want);
    }

    if (r->route == VG_ROUTE_TRACK) {
        if (use_token(r, r->arg))
            return 1;
    } else if (authenticate(r, r->route != VG_ROUTE_SESSIONS)) {
        return 1;
    }
    const char *customer = vg_req_header(r, "X-Customer-ID");
    if (customer && strcmp(customer, r->tenant->id))
        return refuse(r, 401, "tenant_mismatch", NULL, 0,
                      "X-Customer-ID does not name the tenant of these credentials");
    if (r->origin && r->route != VG_ROUTE_TRACK && !vg_policy_origin_allowed(r->tenant, r->origin))
        return refuse(r, 401, "origin_not_allowed", NULL, 0,
                      "origin %.100s is not allowed for this tenant", r->origin);

    const char *ct = vg_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    char mt[64];
    media_type(ct ? ct : "", mt, sizeof(mt));
    if (r->route == VG_ROUTE_EVENTS) {
        if (!is_json(mt) && !is_ndjson(mt))
            return refuse(r, 415, "unsupported_media_type", NULL, 0,
                          "Content-Type must be application/json, application/x-ndjson or "
                          "text/plain");
    } else if (r->route != VG_ROUTE_TRACK && ct && !is_json(mt) && vg_req_body_length(r)) {
        /* Checked again once the body is in: only a body needs a media type. */
        return refuse(r, 415, "unsupported_media_type", NULL, 0,
                      "Content-Type must be application/json or text/plain");
    }
    r->async = prefers_async(vg_req_header(r, "Prefer"));
    return 0;
}

/* -- the body ------------------------------------------------------------ */

static void ok_accepted(struct vg_req *r, unsigned status)
{
    struct vg_buf *b = &r->ok_body;
    r->ok_status = status;
    vg_buf_printf(b, "{\"accepted\":%zu,\"event_ids\":[", r->out.n);
    for (size_t i = 0; i < r->out.n; i++)
        vg_buf_printf(b, "%s\"%s\"", i ? "," : "", r->out.msgs[i].event_id);
    vg_buf_puts(b, "]}");
}

static int ok_session(struct vg_req *r, const struct vg_session_new *s)
{
    const struct vg_routes_env *e = r->env;
    char token[VG_TOKEN_MAX], ts[VG_TS_LEN];
    if (vg_token_sign(e->token_secret, e->token_secret_len, r->tenant->id, s->session_id,
                      s->token_expires_s, token, sizeof(token)))
        return refuse(r, 400, "invalid_field", "session_id", 0, "cannot sign a token for it");
    vg_time_format(s->token_expires_s * 1000000, ts);
    struct vg_buf *b = &r->ok_body;
    r->ok_status = 201;
    vg_buf_puts(b, "{\"session_id\":");
    vg_buf_json_str(b, s->session_id, strlen(s->session_id));
    vg_buf_printf(b, ",\"token\":\"%s\",\"expires_at\":\"%s\",\"event_ids\":[\"%s\"]}", token, ts,
                  r->out.msgs[0].event_id);
    return 0;
}

static void answer_ok(struct vg_req *r)
{
    struct vg_reply *y = &r->reply;
    y->status = r->ok_status;
    vg_buf_reset(&y->body);
    vg_buf_append(&y->body, r->ok_body.data ? r->ok_body.data : "", r->ok_body.len);
    y->content_type = "application/json";
    if (r->ok_location) {
        y->location = r->ok_location;
        r->ok_location = NULL;
        y->content_type = "text/plain";
    }
}

/* Parses the X-Sent-At header into in. */
static int sent_at_header(struct vg_req *r, struct vg_ingest *in)
{
    const char *h = vg_req_header(r, "X-Sent-At");
    if (!h)
        return 0;
    if (vg_time_parse(h, &in->sent_at_us))
        return refuse(r, 400, "invalid_field", "X-Sent-At", 0,
                      "X-Sent-At must be an RFC 3339 time with an offset");
    in->has_sent_at = 1;
    return 0;
}

/* Validates the body into r->out and prepares the success answer. */
static int build(struct vg_req *r)
{
    struct vg_reject rej;
    struct vg_ingest in = {
        .tenant = r->tenant->id,
        .scope_session = r->scoped ? r->scope_session : NULL,
        .received_us = r->received_us,
        .max_event_bytes = r->env->max_event_bytes,
        .max_batch_events = r->env->max_batch_events,
    };
    const char *body = r->body.data ? r->body.data : "";
    size_t len = r->body.len;
    if (sent_at_header(r, &in))
        return 1;
    if (r->route != VG_ROUTE_EVENTS && r->route != VG_ROUTE_TRACK && len) {
        char mt[64];
        const char *ct = vg_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
        media_type(ct ? ct : "", mt, sizeof(mt));
        if (!is_json(mt))
            return refuse(r, 415, "unsupported_media_type", NULL, 0,
                          "a body needs Content-Type: application/json or text/plain");
    }

    switch (r->route) {
    case VG_ROUTE_EVENTS: {
        char mt[64];
        media_type(vg_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), mt, sizeof(mt));
        long n = vg_event_parse(&in, is_ndjson(mt) ? VG_BODY_NDJSON : VG_BODY_JSON, body, len,
                                &r->out, &rej);
        if (n < 0)
            return reply_with(r, &rej);
        r->nevents = n;
        ok_accepted(r, 202);
        return 0;
    }
    case VG_ROUTE_SESSIONS: {
        struct vg_session_new s;
        if (vg_session_start(&in, body, len, r->env->token_ttl_s, &s, &r->out, &rej))
            return reply_with(r, &rej);
        r->nevents = 1;
        return ok_session(r, &s);
    }
    case VG_ROUTE_HEARTBEAT:
    case VG_ROUTE_END: {
        int rc = r->route == VG_ROUTE_HEARTBEAT
                     ? vg_session_heartbeat(&in, r->arg, body, len, &r->out, &rej)
                     : vg_session_end(&in, r->arg, body, len, &r->out, &rej);
        if (rc)
            return reply_with(r, &rej);
        r->nevents = 1;
        ok_accepted(r, 202);
        return 0;
    }
    case VG_ROUTE_TRACK: {
        const char *to = vg_req_query(r, "to");
        if (!to)
            return refuse(r, 400, "missing_field", "to", 0, "the link has no ?to=<url>");
        if (!vg_policy_redirect_allowed(r->tenant, to))
            return refuse(r, 400, "redirect_not_allowed", "to", 0,
                          "the tenant does not allow redirects to this URL");
        /* A HEAD is a link checker, not a person: redirect, record nothing. */
        if (strcmp(r->method, "HEAD"))
            vg_session_activate(&in, r->scope_session, to, &r->out);
        r->nevents = (long)r->out.n;
        r->ok_status = 302;
        r->ok_location = vg_xstrdup(to);
        return 0;
    }
    default:
        return refuse(r, 404, "not_found", NULL, 0, "no such route");
    }
}

int vg_routes_finish(struct vg_req *r)
{
    if (build(r))
        return 1;

    int64_t retry_ms;
    int rc = vg_ratelimit_take(r->env->rl, r->tenant->id, r->tenant->rate_per_s, r->tenant->burst,
                               (int64_t)r->out.n, vg_mono_ms(), &retry_ms);
    if (rc == VG_ETOOBIG)
        return refuse(r, 413, "batch_exceeds_burst", NULL, 0,
                      "%zu events exceed the tenant's burst of %lld: send smaller batches",
                      r->out.n, (long long)r->tenant->burst);
    if (rc)
        return refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                      "tenant %s is over its rate of %.0f events per second", r->tenant->id,
                      r->tenant->rate_per_s);

    /* A tracking link redirects a person once the click is queued. */
    int async = r->async || r->route == VG_ROUTE_TRACK;
    r->dl = vg_delivery_new(r->env->kout, r->tenant->id,
                            vg_mono_ms() + r->env->ack_timeout_ms, async);
    rc = vg_kout_send(r->env->kout, r->dl, &r->out);
    if (rc == VG_EFULL) {
        vg_delivery_release(r->dl);
        r->dl = NULL;
        return refuse(r, 503, "queue_full", NULL, RETRY_QUEUE_FULL_S,
                      "the local Kafka queue is full");
    }
    if (rc) {
        vg_delivery_release(r->dl);
        r->dl = NULL;
        return refuse(r, 503, "kafka_error", NULL, RETRY_KAFKA_S, "Kafka refused the messages");
    }
    if (async) {
        vg_delivery_release(r->dl);
        r->dl = NULL;
        answer_ok(r);
        r->reply.preference_applied = r->async;
        return 1;
    }
    return 0;
}

void vg_routes_delivered(struct vg_req *r)
{
    char err[128];
    enum vg_delivery_result res = vg_delivery_result(r->dl, err, sizeof(err));
    vg_delivery_release(r->dl);
    r->dl = NULL;
    switch (res) {
    case VG_DELIVERY_OK:
        answer_ok(r);
        break;
    case VG_DELIVERY_FAILED:
        refuse(r, 503, "kafka_error", NULL, RETRY_KAFKA_S, "Kafka did not take the messages: %s",
               err);
        break;
    default:
        refuse(r, 503, "kafka_timeout", NULL, RETRY_KAFKA_S,
               "Kafka did not acknowledge within %lld ms", (long long)r->env->ack_timeout_ms);
        break;
    }
}
