/*
 * server.h - vigil-query's HTTP server (libmicrohttpd).
 *
 * One daemon on query.listen:query.port with an epoll pool of query.threads
 * threads and at most query.connection_limit connections. A long-poll or a
 * receipt wait suspends its connection and holds no thread (wait.h); the
 * database work of every connection together is bounded by the pool
 * (pool.h). /healthz,
 * /readyz (the listener's database connection is up) and /metrics come
 * from common/http.h; everything else goes to routes.h.
 */
#ifndef VG_QSERVER_H
#define VG_QSERVER_H

#include <stddef.h>

#include "routes.h"

struct vg_qserver;

/* Starts serving env (which must outlive the server) with cfg's listen
 * address, threads and connection limit, read at start only. NULL with
 * errstr filled if the port cannot be bound. */
struct vg_qserver *vg_qserver_start(const struct vg_qenv *env, const struct vg_config *cfg,
                                    char *errstr, size_t errstr_size);

/* The port actually bound. */
int vg_qserver_port(struct vg_qserver *s);

/* Stops accepting, waits for the connections' threads, frees; accepts NULL. */
void vg_qserver_stop(struct vg_qserver *s);

#endif
