/*
 * server.h - the producer's HTTP server (libmicrohttpd).
 *
 * One daemon on producer.listen:port with an epoll thread pool of
 * producer.threads, producer.connection_limit connections and
 * producer.connection_timeout_s, which bounds both a connection's idle time
 * and the time a request takes to arrive whole, headers and body, however
 * slowly it trickles (deadline.h). Past the limit, libmicrohttpd stops
 * accepting: new connections wait in the listen backlog until one closes.
 * Requests whose body end is ambiguous (two Content-Length, one with
 * Transfer-Encoding, a coding other than chunked) get 400 and a close.
 * Bodies are read in the access handler and capped at
 * producer.max_body_bytes (413). A durable request suspends its
 * connection while Kafka acknowledges, so a waiting request holds no
 * thread; the pool keeps serving keep-alive clients meanwhile. /healthz,
 * /readyz (Kafka metadata reachable) and /metrics come from common/http.h.
 */
#ifndef VG_SERVER_H
#define VG_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "kafka_out.h"

struct vg_server;

/*
 * Starts serving. cfg stays owned by the caller and must outlive the server
 * or be replaced with vg_server_set_config(); kout must outlive the server.
 * Returns NULL with errstr filled if the port cannot be bound.
 */
struct vg_server *vg_server_start(const struct vg_config *cfg, struct vg_kout *kout,
                                  char *errstr, size_t errstr_size);

/*
 * A reloaded configuration (tenants, keys, rates, origins): new requests use
 * cfg (still owned by the caller); old, the previous one, is taken over and
 * freed once no request uses it.
 */
void vg_server_set_config(struct vg_server *s, const struct vg_config *cfg,
                          struct vg_config *old);

/* The port actually bound (useful with port 0 in tests). */
int vg_server_port(struct vg_server *s);

/*
 * Shutdown, step one: stop accepting connections; requests that arrive on
 * kept-alive connections get 503 with Connection: close; /readyz says 503.
 */
void vg_server_quiesce(struct vg_server *s);

/* Waits until no request is in flight or deadline_ms (monotonic) passes;
 * returns the number still in flight. */
int vg_server_drain(struct vg_server *s, int64_t deadline_ms);

/* Stops the daemon and frees the server; accepts NULL. Waiting requests must
 * have been woken (vg_kout_wake_all) and drained first. */
void vg_server_stop(struct vg_server *s);

#endif
