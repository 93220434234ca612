/*
 * http.h - the health and metrics endpoints every program serves.
 *
 *   GET /healthz  200 while the process runs
 *   GET /readyz   200 when the ready callback says so, else 503
 *   GET /metrics  Prometheus text format
 *
 * The workers and the scheduler run vg_http_start() on their own port. The
 * producer serves the same three routes on its API port by calling
 * vg_http_serve_common() from its own request handler.
 */
#ifndef VG_HTTP_H
#define VG_HTTP_H

#include <stddef.h>

#include "err.h"

struct MHD_Connection;
struct vg_http;

/* Returns non-zero when the program is ready; reason may be filled for a 503. */
typedef int (*vg_ready_fn)(void *opaque, char *reason, size_t reason_size);

/*
 * Starts a server with its own thread on listen:port. ready may be NULL
 * (always ready). Returns NULL and fills errstr if the port cannot be bound.
 * Free with vg_http_stop().
 */
struct vg_http *vg_http_start(const char *listen, int port, vg_ready_fn ready, void *opaque,
                              char *errstr, size_t errstr_size);

/* Stops the server and frees it; accepts NULL. */
void vg_http_stop(struct vg_http *h);

/*
 * Answers GET /healthz, /readyz or /metrics on conn. Returns 1 (an MHD_Result
 * of MHD_YES) or 0 after queueing a response, or -1 if url is none of them.
 */
int vg_http_serve_common(struct MHD_Connection *conn, const char *method, const char *url,
                         vg_ready_fn ready, void *opaque);

/* Queues a response with a copy of body; returns the MHD_Result. */
int vg_http_respond(struct MHD_Connection *conn, unsigned status, const char *content_type,
                    const char *body, size_t len);

/* Parses "host" or "host:port"-less listen address into a sockaddr and binds
 * nothing: exposed for the producer, which starts its own daemon. Returns 0 or
 * VG_EINVAL. */
int vg_http_sockaddr(const char *listen, int port, void *sockaddr_in_out) VG_MUSTCHECK;

#endif
