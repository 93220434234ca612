/*
 * routes.h - the producer's API (DESIGN.md section 4), one request at a time.
 *
 * server.c calls vg_routes_begin() when a request's headers are in,
 * vg_routes_finish() when its body is, and vg_routes_delivered() once the
 * request's Kafka delivery has settled. Each fills r->reply when it has the
 * answer.
 */
#ifndef VG_ROUTES_H
#define VG_ROUTES_H

#include "request.h"

/* Maps a path to its route; copies the {id} or {token} into arg. */
enum vg_route vg_routes_match(const char *url, char *arg, size_t arg_size);

/* The route's label in metrics ("/v1/sessions/{id}/heartbeat", ...). */
const char *vg_routes_label(enum vg_route route);

/*
 * Headers are in: route, method, credentials, Origin, media type. Returns 1
 * with r->reply filled when the answer is already known (a refusal, a
 * preflight), 0 to read the body.
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
