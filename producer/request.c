#include "request.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enrich.h"
#include "log.h"
#include "policy.h"
#include "stats.h"

/* What a CORS answer lets a browser's script do (the Fetch standard). */
#define CORS_METHODS "POST, GET, OPTIONS"
#define CORS_REQUEST_HEADERS                                                                       \
    "Authorization, Content-Type, Content-Encoding, Prefer, X-Sent-At, X-Customer-ID"
#define CORS_EXPOSE_HEADERS "Retry-After, Preference-Applied"
#define CORS_MAX_AGE_S "600"

/* -- which route --------------------------------------------------------- */

static const char *const route_labels[VG_ROUTE_COUNT] = {
    "other",
    "/v1/events",
    "/v1/sessions",
    "/v1/sessions/{id}/heartbeat",
    "/v1/sessions/{id}/end",
    "/v1/batch",
    "/v1/track",
    "/v1/identify",
    "/v1/page",
    "/v1/screen",
    "/v1/group",
    "/v1/alias",
    "/t/{token}",
    "/t/{token}/heartbeat",
    "/t/{token}/end",
    "/sdk/{file}",
    "/healthz",
    "/readyz",
    "/metrics"};

int vg_req_segment(enum vg_route route)
{
    return route >= VG_ROUTE_SEGMENT_BATCH && route <= VG_ROUTE_SEGMENT_ALIAS;
}

const char *vg_req_label(enum vg_route route)
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

enum vg_route vg_req_route(const char *url, char *arg, size_t arg_size)
{
    static const struct {
        const char *path;
        enum vg_route route;
    } fixed[] = {{"/v1/events", VG_ROUTE_EVENTS},
                 {"/v1/sessions", VG_ROUTE_SESSIONS},
                 {"/v1/batch", VG_ROUTE_SEGMENT_BATCH},
                 {"/v1/track", VG_ROUTE_SEGMENT_TRACK},
                 {"/v1/identify", VG_ROUTE_SEGMENT_IDENTIFY},
                 {"/v1/page", VG_ROUTE_SEGMENT_PAGE},
                 {"/v1/screen", VG_ROUTE_SEGMENT_SCREEN},
                 {"/v1/group", VG_ROUTE_SEGMENT_GROUP},
                 {"/v1/alias", VG_ROUTE_SEGMENT_ALIAS},
                 {"/healthz", VG_ROUTE_HEALTHZ},
                 {"/readyz", VG_ROUTE_READYZ},
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
    if (!strncmp(url, "/t/", 3) && url[3] && url[3] != '/') {
        const char *tok = url + 3, *slash = strchr(tok, '/');
        enum vg_route rt = !slash                          ? VG_ROUTE_TRACK
                           : !strcmp(slash, "/heartbeat") ? VG_ROUTE_TRACK_HEARTBEAT
                           : !strcmp(slash, "/end")       ? VG_ROUTE_TRACK_END
                                                          : VG_ROUTE_OTHER;
        if (rt != VG_ROUTE_OTHER)
            copy_arg(tok, slash ? (size_t)(slash - tok) : strlen(tok), arg, arg_size);
        return rt;
    }
    if (!strncmp(url, "/sdk/", 5)) {
        copy_arg(url, strlen(url), arg, arg_size);
        return VG_ROUTE_SDK;
    }
    return VG_ROUTE_OTHER;
}

/* -- what the header block says ------------------------------------------ */

/* The first item of a header value up to stop (or its end) into out,
 * lowercased, surrounding blanks cut; returns what follows it (at stop, or
 * "" ), or NULL when it does not fit in out. */
static const char *header_item(const char *v, char stop, char *out, size_t size)
{
    size_t n = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v && *v != stop; v++) {
        if (n + 1 >= size)
            return NULL;
        out[n++] = (char)tolower((unsigned char)*v);
    }
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    out[n] = '\0';
    return v;
}

/* The media type of a Content-Type value, parameters cut, named. */
static enum vg_media media_type(const char *ct)
{
    char mt[64];
    if (!ct)
        return VG_MEDIA_NONE;
    if (!header_item(ct, ';', mt, sizeof(mt)))
        return VG_MEDIA_OTHER;
    if (!strcmp(mt, "application/json") || !strcmp(mt, "text/plain"))
        return VG_MEDIA_JSON;
    if (!strcmp(mt, "application/x-ndjson") || !strcmp(mt, "application/ndjson"))
        return VG_MEDIA_NDJSON;
    return VG_MEDIA_OTHER;
}

/* The Content-Encoding of a body: one coding; a list of them is not ours. */
static enum vg_encoding encoding(const char *ce)
{
    char name[16];
    const char *rest = ce ? header_item(ce, ',', name, sizeof(name)) : "";
    if (!rest || *rest)
        return VG_ENCODING_OTHER;
    if (!ce || !name[0] || !strcmp(name, "identity"))
        return VG_ENCODING_IDENTITY;
    if (!strcmp(name, "gzip") || !strcmp(name, "x-gzip"))
        return VG_ENCODING_GZIP;
    return VG_ENCODING_OTHER;
}

/* The announced body length: Content-Length, -1 for a chunked body or an
 * unreadable length, else 0. */
static int64_t body_length(const char *content_length, const char *transfer_encoding)
{
    int64_t len;
    if (content_length)
        return vg_parse_int64(content_length, 0, INT64_MAX, &len) ? -1 : len;
    return transfer_encoding ? -1 : 0;
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

void vg_req_init(struct vg_req *r, const struct vg_routes_env *env, const struct vg_config *cfg,
                 const char *method, const char *url, vg_req_lookup_fn lookup, void *ctx)
{
    struct vg_req_head *h = &r->head;
    r->env = env;
    r->cfg = cfg;
    r->method = method;
    r->route = vg_req_route(url, r->arg, sizeof(r->arg));
    r->received_us = vg_now_us();
    r->start_ms = vg_mono_ms();
    h->authorization = lookup(ctx, 0, "Authorization");
    h->origin = lookup(ctx, 0, "Origin");
    h->customer_id = lookup(ctx, 0, "X-Customer-ID");
    h->sent_at = lookup(ctx, 0, "X-Sent-At");
    h->user_agent = lookup(ctx, 0, "User-Agent");
    h->forwarded_for = lookup(ctx, 0, "X-Forwarded-For");
    h->encoding = encoding(lookup(ctx, 0, "Content-Encoding"));
    h->cors_preflight = lookup(ctx, 0, "Access-Control-Request-Method") != NULL;
    h->media = media_type(lookup(ctx, 0, "Content-Type"));
    h->body_length =
        body_length(lookup(ctx, 0, "Content-Length"), lookup(ctx, 0, "Transfer-Encoding"));
    h->async = prefers_async(lookup(ctx, 0, "Prefer"));
    h->token = lookup(ctx, 1, "token");
    h->to = lookup(ctx, 1, "to");
    h->page = lookup(ctx, 1, "page");
    h->heartbeat_s = lookup(ctx, 1, "heartbeat_s");
    h->if_none_match = lookup(ctx, 0, "If-None-Match");
}

void vg_req_set_peer(struct vg_req *r, const char *peer)
{
    snprintf(r->peer, sizeof(r->peer), "%s", peer);
    r->client[0] = '\0';
    if (peer[0])
        vg_enrich_client_addr(peer, r->head.forwarded_for, r->env->trusted_proxies,
                              r->env->ntrusted_proxies, r->client);
}

void vg_req_free(struct vg_req *r)
{
    vg_delivery_release(r->dl);
    vg_outbox_free(&r->out);
    vg_buf_free(&r->body);
    vg_buf_free(&r->ok_body);
    free(r->ok_location);
    vg_buf_free(&r->reply.body);
    free(r->reply.location);
}

/* -- refusals ------------------------------------------------------------ */

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
    vg_reject_json(rej, vg_req_segment(r->route), &y->body);
    y->content_type = "application/json";
    y->retry_after_s = rej->retry_after_s;
    y->www_authenticate = rej->status == 401;
    /* Refused data, not a wrong path or a preflight. */
    int counted = rej->status != 404 && rej->status != 405 && strcmp(r->method, "OPTIONS");
    if (counted && r->route >= VG_ROUTE_EVENTS && r->route <= VG_ROUTE_TRACK_END)
        vg_stats_reject(reject_reason(rej), r->nevents > 0 ? (uint64_t)r->nevents : 1);
    if (counted)
        vg_stats_refused(r->tenant ? r->tenant->id : NULL, rej->status);
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.tenant = r->tenant ? r->tenant->id : NULL;
    ctx.session_id = r->scoped ? r->scope_session : NULL;
    ctx.error = rej->code;
    vg_logc(VG_LOG_DEBUG, &ctx, "%s %s refused with %d: %s", r->method, vg_req_label(r->route),
            rej->status, rej->message);
}

int vg_req_refuse(struct vg_req *r, int status, const char *code, const char *field,
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

/* -- CORS ---------------------------------------------------------------- */

int vg_req_preflight(struct vg_req *r)
{
    struct vg_reply *y = &r->reply;
    const char *origin = r->head.origin;
    if (origin && r->head.cors_preflight) {
        if (!vg_policy_origin_any(r->cfg, origin))
            return vg_req_refuse(r, 403, "origin_not_allowed", NULL, 0,
                                 "origin %.100s is not allowed by any tenant", origin);
        y->preflight = 1;
    }
    y->status = 204;
    y->allow = CORS_METHODS;
    return 1;
}

/* A tracking link is followed by a person, not fetched by a script; its
 * page calls back to its own origin. A public file speaks CORS its own way. */
static int speaks_cors(const struct vg_req *r)
{
    return r->head.origin && r->route != VG_ROUTE_TRACK &&
           r->route != VG_ROUTE_TRACK_HEARTBEAT && r->route != VG_ROUTE_TRACK_END &&
           r->route != VG_ROUTE_SDK;
}

int vg_req_check_origin(struct vg_req *r)
{
    if (!speaks_cors(r) || vg_policy_origin_allowed(r->tenant, r->head.origin))
        return 0;
    return vg_req_refuse(r, 401, "origin_not_allowed", NULL, 0,
                         "origin %.100s is not allowed for this tenant", r->head.origin);
}

/* Browsers may read the answer if the origin is the tenant's, or, before a
 * tenant is known, any tenant's. */
static void cors_headers(const struct vg_req *r, vg_req_header_fn add, void *ctx)
{
    const char *origin = r->head.origin;
    int ok = r->tenant ? vg_policy_origin_allowed(r->tenant, origin)
                       : vg_policy_origin_any(r->cfg, origin);
    if (ok) {
        add(ctx, "Access-Control-Allow-Origin", origin);
        add(ctx, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
        if (r->reply.preflight) {
            add(ctx, "Access-Control-Allow-Methods", CORS_METHODS);
            add(ctx, "Access-Control-Allow-Headers", CORS_REQUEST_HEADERS);
            add(ctx, "Access-Control-Max-Age", CORS_MAX_AGE_S);
        }
    }
    add(ctx, "Vary", "Origin");
}

/* -- the answer's headers ------------------------------------------------ */

void vg_req_reply_headers(const struct vg_req *r, vg_req_header_fn add, void *ctx)
{
    const struct vg_reply *y = &r->reply;
    char num[16];
    if (y->body.len)
        add(ctx, "Content-Type", y->content_type ? y->content_type : "application/json");
    add(ctx, "Cache-Control", y->cache_control ? y->cache_control : "no-store");
    if (y->etag)
        add(ctx, "ETag", y->etag);
    if (y->csp) {
        add(ctx, "Content-Security-Policy", y->csp);
        add(ctx, "X-Content-Type-Options", "nosniff");
    }
    if (y->retry_after_s > 0) {
        snprintf(num, sizeof(num), "%d", y->retry_after_s);
        add(ctx, "Retry-After", num);
    }
    if (y->location || y->csp) {
        if (y->location)
            add(ctx, "Location", y->location);
        /* The link carries a token: do not hand it to the target site. */
        add(ctx, "Referrer-Policy", "no-referrer");
    }
    if (y->preference_applied)
        add(ctx, "Preference-Applied", "respond-async");
    if (y->www_authenticate)
        add(ctx, "WWW-Authenticate",
            vg_req_segment(r->route) ? "Basic realm=\"vigil\"" : "Bearer realm=\"vigil\"");
    if (y->allow)
        add(ctx, "Allow", y->allow);
    if (r->routed && speaks_cors(r))
        cors_headers(r, add, ctx);
    if (y->cors_public) {
        /* A script anyone may load, as a module too (which needs CORS). */
        add(ctx, "Access-Control-Allow-Origin", "*");
        add(ctx, "Cross-Origin-Resource-Policy", "cross-origin");
        add(ctx, "X-Content-Type-Options", "nosniff");
    }
    if (y->close)
        add(ctx, "Connection", "close");
}
