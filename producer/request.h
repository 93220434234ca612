/*
 * request.h - one HTTP request as server.c and routes.c share it.
 *
 * server.c owns the life cycle (libmicrohttpd, the body, suspending a
 * connection while Kafka acknowledges, the answer's headers); routes.c owns
 * the meaning (authentication, validation, rate limits, what to produce and
 * what to answer). Internal to the producer.
 */
#ifndef VG_REQUEST_H
#define VG_REQUEST_H

#include <stdint.h>

#include "config.h"
#include "envelope.h"
#include "kafka_out.h"
#include "ratelimit.h"
#include "session.h"
#include "token.h"
#include "util.h"

struct MHD_Connection;

enum vg_route {
    VG_ROUTE_OTHER,
    VG_ROUTE_EVENTS,    /* POST /v1/events */
    VG_ROUTE_SESSIONS,  /* POST /v1/sessions */
    VG_ROUTE_HEARTBEAT, /* POST /v1/sessions/{id}/heartbeat */
    VG_ROUTE_END,       /* POST /v1/sessions/{id}/end */
    VG_ROUTE_TRACK,     /* GET /t/{token} */
    VG_ROUTE_HEALTHZ,
    VG_ROUTE_READYZ,
    VG_ROUTE_METRICS,
    VG_ROUTE_COUNT
};

/* What routes.c needs from the server, shared by every request. The limits
 * are read once at start: only the tenants follow a reload (config.c). */
struct vg_routes_env {
    struct vg_kout *kout;
    struct vg_ratelimit *rl;
    const unsigned char *token_secret;
    size_t token_secret_len;
    size_t max_event_bytes;
    size_t max_batch_events;
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
    int close;              /* Connection: close (the framing cannot be trusted) */
};

enum vg_req_phase { VG_REQ_BODY, VG_REQ_REFUSED, VG_REQ_WAITING, VG_REQ_DONE };

struct vg_req {
    const struct vg_routes_env *env;
    const struct vg_config *cfg; /* a snapshot held for the request's life (tenants) */
    struct MHD_Connection *conn;
    enum vg_route route;
    const char *method; /* libmicrohttpd's copy, valid for the request */
    char arg[VG_TOKEN_MAX]; /* the {id} or {token} of the path */
    int64_t received_us;
    int64_t start_ms; /* monotonic */
    enum vg_req_phase phase;

    struct vg_buf body; /* kept up to producer.max_body_bytes */
    size_t body_seen;   /* bytes received, kept or not */

    /* Who asks: the tenant, and the session a token limits it to. */
    const struct vg_tenant *tenant;
    int scoped;
    char scope_session[VG_SESSION_ID_SIZE];
    const char *origin; /* Origin header or NULL */
    int async;          /* Prefer: respond-async */
    long nevents;       /* events in the request, once parsed */

    struct vg_outbox out;
    struct vg_delivery *dl;
    unsigned ok_status; /* the success answer, sent once Kafka acknowledged */
    struct vg_buf ok_body;
    char *ok_location;

    struct vg_reply reply;
};

/* The value of header name, or NULL. */
const char *vg_req_header(struct vg_req *r, const char *name);
/* The value of query argument name, or NULL. */
const char *vg_req_query(struct vg_req *r, const char *name);

/* The announced body length: Content-Length, -1 for a chunked body, else 0. */
int64_t vg_req_body_length(struct vg_req *r);

/* Fills r->reply with the JSON error of rej and counts the refused events. */
void vg_req_reject(struct vg_req *r, const struct vg_reject *rej);

#endif
