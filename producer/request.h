/*
 * request.h - one HTTP request of the producer's API, and its answer.
 *
 * The request has one owner. server.c (libmicrohttpd) creates it when the
 * header block is in, with vg_req_init(), which reads everything the API
 * needs from the headers and the query string once: the route, the
 * credentials, the Origin, the media type, the announced body length. It
 * then fills r->body and hands the request to routes.c, which decides the
 * answer (r->reply) from these fields alone. vg_req_reply_headers() lists
 * the answer's headers, CORS included, for server.c to send.
 *
 * Neither server.c nor routes.c calls the other back: server.c calls
 * routes.c and request.c, routes.c calls request.c. Internal to the producer.
 */
#ifndef VG_REQUEST_H
#define VG_REQUEST_H

#include <stdint.h>

#include "config.h"
#include "enrich.h"
#include "ingest.h"
#include "kafka_out.h"
#include "ratelimit.h"
#include "session.h"
#include "token.h"
#include "util.h"

enum vg_route {
    VG_ROUTE_OTHER,
    VG_ROUTE_EVENTS,    /* POST /v1/events */
    VG_ROUTE_SESSIONS,  /* POST /v1/sessions */
    VG_ROUTE_HEARTBEAT, /* POST /v1/sessions/{id}/heartbeat */
    VG_ROUTE_END,       /* POST /v1/sessions/{id}/end */
    /* Segment's Tracking API (segment.h), in the order of enum vg_segment_call. */
    VG_ROUTE_SEGMENT_BATCH, /* POST /v1/batch */
    VG_ROUTE_SEGMENT_TRACK, /* POST /v1/track */
    VG_ROUTE_SEGMENT_IDENTIFY,
    VG_ROUTE_SEGMENT_PAGE,
    VG_ROUTE_SEGMENT_SCREEN,
    VG_ROUTE_SEGMENT_GROUP,
    VG_ROUTE_SEGMENT_ALIAS, /* POST /v1/alias */
    VG_ROUTE_TRACK,     /* GET /t/{link_token} */
    VG_ROUTE_TRACK_HEARTBEAT, /* POST /t/{link_token}/heartbeat: the tracking page */
    VG_ROUTE_TRACK_END,       /* POST /t/{link_token}/end: the tracking page */
    VG_ROUTE_SDK,             /* GET /sdk/{file}: vigil.js, vigil.mjs, demo.html */
    VG_ROUTE_HEALTHZ,
    VG_ROUTE_READYZ,
    VG_ROUTE_METRICS,
    VG_ROUTE_COUNT
};

/* The media type of the Content-Type header, parameters aside. */
enum vg_media {
    VG_MEDIA_NONE,   /* no Content-Type header */
    VG_MEDIA_JSON,   /* application/json, or text/plain (what a form or a beacon may send) */
    VG_MEDIA_NDJSON, /* application/x-ndjson, application/ndjson */
    VG_MEDIA_OTHER
};

/* The Content-Encoding of a body. */
enum vg_encoding {
    VG_ENCODING_IDENTITY, /* none, or identity */
    VG_ENCODING_GZIP,     /* gzip, x-gzip */
    VG_ENCODING_OTHER     /* anything else: 415 */
};

struct vg_limits;

/* What routes.c needs from the server, shared by every request. The limits
 * are read once at start: only the tenants follow a reload (config.c). */
struct vg_routes_env {
    struct vg_kout *kout;
    struct vg_ratelimit *rl;  /* each tenant's events */
    struct vg_limits *limits; /* each client's rates (limits.h), the server's */
    const unsigned char *token_secret;
    size_t token_secret_len;
    size_t max_body_bytes; /* of a body decompressed, too */
    size_t max_event_bytes;
    size_t max_batch_events;
    const struct vg_cidr *trusted_proxies; /* producer.trusted_proxies (enrich.h) */
    size_t ntrusted_proxies;
    int64_t ack_timeout_ms;
    int64_t token_ttl_s;
};

/* The answer, filled by routes.c (or server.c for its own refusals). */
struct vg_reply {
    unsigned status;
    struct vg_buf body; /* JSON unless content_type says otherwise */
    const char *content_type;
    int retry_after_s;      /* > 0: Retry-After */
    char *location;         /* malloc'd: Location of a 302 */
    int preference_applied; /* Preference-Applied: respond-async */
    int www_authenticate;   /* WWW-Authenticate on a 401 */
    const char *allow;      /* Allow on a 405 and a preflight */
    int preflight;          /* the CORS preflight headers */
    int close;              /* Connection: close (the framing cannot be trusted, or stopping) */
    const char *cache_control; /* NULL: no-store */
    const char *etag;          /* ETag */
    int cors_public;           /* a public file: Access-Control-Allow-Origin: * */
    const char *csp;           /* Content-Security-Policy of a page */
};

/*
 * What the header block and the query string say, read once by
 * vg_req_init(). Strings point into the server's copy, valid for the
 * request's life; NULL when absent. A repeated header counts by its first.
 */
struct vg_req_head {
    const char *authorization;
    const char *origin;
    const char *customer_id;   /* X-Customer-ID */
    const char *sent_at;       /* X-Sent-At */
    const char *user_agent;    /* User-Agent */
    const char *forwarded_for; /* X-Forwarded-For */
    enum vg_encoding encoding; /* Content-Encoding */
    int cors_preflight;        /* Access-Control-Request-Method present */
    enum vg_media media;       /* Content-Type */
    int64_t body_length;       /* Content-Length; -1 for a chunked or unreadable one; else 0 */
    int async;                 /* Prefer: respond-async */
    const char *token;         /* ?token= */
    const char *to;            /* ?to= */
    const char *page;          /* ?page= (a tracking link: "1" asks for the page) */
    const char *heartbeat_s;   /* ?heartbeat_s= (the tracking page's interval) */
    const char *if_none_match; /* If-None-Match */
};

struct vg_req {
    const struct vg_routes_env *env;
    const struct vg_config *cfg; /* a snapshot held for the request's life (tenants) */
    enum vg_route route;
    const char *method;     /* the server's copy, valid for the request */
    char arg[VG_TOKEN_MAX]; /* the {id} or {token} of the path; the file of /sdk/ */
    int64_t received_us;
    int64_t start_ms; /* monotonic */
    char peer[VG_ADDR_MAX];   /* the connection's address, as text; "" if unknown */
    char client[VG_ADDR_MAX]; /* the client's: peer, or X-Forwarded-For's word when peer
                               * is a trusted proxy (vg_req_set_peer); "" if unknown */
    struct vg_req_head head;
    struct vg_buf body; /* filled by the server, up to producer.max_body_bytes */
    int routed;         /* routes.c took it: the answer speaks CORS (the server's early
                         * refusals, before routes.c, do not) */

    /* Who asks: the tenant, and the session a token limits it to. */
    const struct vg_tenant *tenant;
    int publishable; /* by a publishable key: a browser's, from the tenant's origins only */
    int scoped;
    char scope_session[VG_SESSION_ID_SIZE];
    long nevents; /* events in the request, once parsed */

    struct vg_outbox out;
    struct vg_delivery *dl;
    unsigned ok_status; /* the success answer, sent once Kafka acknowledged */
    struct vg_buf ok_body;
    char *ok_location;
    int ok_page; /* ok_body is the tracking page (HTML), not JSON */

    struct vg_reply reply;
};

/*
 * How vg_req_init() reads the request: the first value of name in the
 * header block (query 0) or the query string (query 1), names compared
 * without case; NULL if absent. A query argument without a value is NULL.
 */
typedef const char *(*vg_req_lookup_fn)(void *ctx, int query, const char *name);

/*
 * Starts r (zeroed by the caller) for method and url (both kept, not
 * copied) on env and cfg: matches the route and reads r->head through
 * lookup(ctx, ...). Nothing is refused here; routes.c decides.
 */
void vg_req_init(struct vg_req *r, const struct vg_routes_env *env, const struct vg_config *cfg,
                 const char *method, const char *url, vg_req_lookup_fn lookup, void *ctx);

/*
 * Sets r->peer to peer (the connection's address as text, "" if unknown)
 * and r->client to the client's address (enrich.h): the one address every
 * per-client limit and the enrichment count by, so that clients behind a
 * trusted proxy are not one client.
 */
void vg_req_set_peer(struct vg_req *r, const char *peer);

/* Frees what r holds (body, outbox, answers, an unreleased delivery), not r itself. */
void vg_req_free(struct vg_req *r);

/* 1 if route is one of Segment's (VG_ROUTE_SEGMENT_*). */
int vg_req_segment(enum vg_route route);

/* Maps a path to its route; copies the {id} or {token} into arg (empty if too long). */
enum vg_route vg_req_route(const char *url, char *arg, size_t arg_size);

/* The route's label in metrics ("/v1/sessions/{id}/heartbeat", ...). */
const char *vg_req_label(enum vg_route route);

/*
 * Fills r->reply with the JSON error of rej, counts the refused events and
 * logs the refusal at debug level.
 */
void vg_req_reject(struct vg_req *r, const struct vg_reject *rej);

/* vg_req_reject() with a fresh refusal (field may be NULL); returns 1, the
 * answer being ready, so that a step can `return vg_req_refuse(...)`. */
int vg_req_refuse(struct vg_req *r, int status, const char *code, const char *field,
                  int retry_after_s, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/*
 * CORS, the one place. A preflight (OPTIONS) carries no credentials: it is
 * answered 204 when any tenant allows its Origin (403 otherwise; 204 with
 * Allow alone when it is no CORS preflight). Returns 1, r->reply filled.
 */
int vg_req_preflight(struct vg_req *r);

/* CORS for a request with credentials: 0 if it has no Origin or r->tenant
 * allows it, else 1 with r->reply a 401. A tracking link is a navigation:
 * no CORS. */
int vg_req_check_origin(struct vg_req *r);

/* Receives one header of an answer. */
typedef void (*vg_req_header_fn)(void *ctx, const char *name, const char *value);

/*
 * Lists the headers of r->reply, in order, through add(ctx, name, value):
 * Content-Type (with a body), Cache-Control, Retry-After, Location,
 * Preference-Applied, WWW-Authenticate, Allow, the CORS headers and
 * Connection: close. A value may live only for the call of add: copy it.
 */
void vg_req_reply_headers(const struct vg_req *r, vg_req_header_fn add, void *ctx);

#endif
