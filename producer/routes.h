/*
 * routes.h - the producer's API (DESIGN.md section 4), one request at a time.
 *
 * routes.c decides what a request (request.h) gets, from the request alone:
 * a table of routes (method, credentials, media types, handler), then the
 * handlers, then the rate limit and the Kafka send. server.c calls
 * vg_routes_begin() when a request's headers are in, vg_routes_finish()
 * when its body is, and vg_routes_delivered() once the request's Kafka
 * delivery has settled. Each fills r->reply when it has the answer.
 */
#ifndef VG_ROUTES_H
#define VG_ROUTES_H

#include "request.h"

/*
 * Headers are in: route, method, credentials, Origin, media type. Returns 1
 * with r->reply filled when the answer is already known (a refusal, a
 * preflight), 0 to read the body. Not for /healthz, /readyz and /metrics,
 * which the server answers itself.
 */
int vg_routes_begin(struct vg_req *r);

/*
 * The body is in (r->body): validate, rate-limit, produce. Returns 1 with
 * r->reply filled, or 0 when the answer waits on r->dl.
 */
int vg_routes_finish(struct vg_req *r);

/* r->dl has settled or timed out: fills r->reply and releases r->dl. */
void vg_routes_delivered(struct vg_req *r);

#endif
