/*
 * limits.h - what one client may take of the producer, decided before its
 * body is read (issue 17): a budget of body bytes in flight across every
 * connection, and request rates per client address and per session token,
 * besides each tenant's event rate (ratelimit.h, charged once the body is
 * parsed), and the connections: a JSON 503 past producer.connection_limit,
 * and the count of open connections per address
 * (producer.per_address_connection_limit), which server.c shuts at once
 * past the limit.
 *
 * Rates live in a fixed table of buckets indexed by a keyed hash of the
 * address or the session, so that no number of clients grows memory; two
 * keys that meet in a slot share its bucket (the key is random per process,
 * so a client cannot aim at another's slot). Thread-safe.
 */
#ifndef VG_LIMITS_H
#define VG_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct vg_limits;

/* A limiter for cfg's producer.* limits (read again on every call that
 * takes a cfg, so a reload applies). Aborts on out of memory. */
struct vg_limits *vg_limits_new(const struct vg_config *cfg);

/* Frees l; accepts NULL. */
void vg_limits_free(struct vg_limits *l);

/*
 * Reserves n bytes of producer.inflight_body_bytes for a body about to be
 * read. Returns 0, or VG_EFULL if they are not there (answer 503 with
 * Retry-After): nothing is then reserved.
 */
int vg_limits_reserve(struct vg_limits *l, const struct vg_config *cfg, size_t n) VG_MUSTCHECK;

/* Gives back n bytes vg_limits_reserve() took. */
void vg_limits_release(struct vg_limits *l, size_t n);

/* Bytes reserved now (metrics, tests). */
size_t vg_limits_inflight(struct vg_limits *l);

/* Which rate a request is charged to. */
enum vg_limit_kind {
    VG_LIMIT_ADDRESS, /* producer.rate_per_address_per_s, burst_per_address */
    VG_LIMIT_SESSION, /* producer.rate_per_session_per_s, burst_per_session */
};

/*
 * Charges one request to key (an address, or "tenant/session") at now_ms.
 * Returns 0, or VG_EFULL with *retry_after_ms set (at least 1).
 */
int vg_limits_charge(struct vg_limits *l, const struct vg_config *cfg, enum vg_limit_kind kind,
                     const char *key, int64_t now_ms, int64_t *retry_after_ms) VG_MUSTCHECK;

/*
 * Counts a new connection from IPv4 address addr (network order). Returns 0,
 * or VG_EFULL when it is past limit (producer.per_address_connection_limit,
 * read at start): the
 * caller closes it at once. Either way the caller calls
 * vg_limits_connection_closed() for it when it closes. libmicrohttpd's own
 * per-address limit counts per thread of its pool, not per process.
 */
int vg_limits_connection_opened(struct vg_limits *l, int64_t limit, uint32_t addr);
void vg_limits_connection_closed(struct vg_limits *l, uint32_t addr);

struct vg_req;

/*
 * The checks of a request whose headers are in, each answering through
 * vg_req_refuse() (returns 1) or letting it on (0):
 * vg_limits_admit_address() charges the client address (every request but
 * health checks, refused ones included: a 401 costs like a 202);
 * vg_limits_admit_body(), once routes.c knows the credentials, charges a
 * session token's rate and reserves the body's bytes (its Content-Length,
 * or producer.max_body_bytes for a chunked one) into *reserved, which the
 * caller gives back with vg_limits_release() when the request ends.
 */
int vg_limits_admit_address(struct vg_limits *l, struct vg_req *r, const char *address);
int vg_limits_admit_body(struct vg_limits *l, struct vg_req *r, size_t *reserved);

/*
 * Past producer.connection_limit connections (open counts this one), a
 * request gets a JSON 503 with Retry-After and the connection is closed,
 * rather than waiting unserved; returns 1 then. libmicrohttpd's own limit
 * sits VG_LIMITS_CONNECTION_SLACK above, so that these get accepted.
 */
#define VG_LIMITS_CONNECTION_SLACK 64
int vg_limits_admit_connection(struct vg_req *r, int open);

#endif
