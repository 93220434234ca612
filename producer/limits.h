/*
 * limits.h - what one client may take of the producer, decided before its
 * body is read (issue 17): a budget of body bytes in flight across every
 * connection, request rates per client address and per session token, and
 * the event rate of a publishable key per client address (refused before
 * the body once its bucket is empty, charged its events once they are
 * counted); besides each tenant's event rate (ratelimit.h, charged once the
 * body is parsed), and the connections: a JSON 503 past
 * producer.connection_limit, and the count of open connections per address
 * (producer.per_address_connection_limit), which server.c shuts at once
 * past the limit.
 *
 * Every rate of one client lives here, in a fixed table of buckets per kind
 * indexed by a keyed hash of the address or the session, so that no number
 * of clients grows memory; two keys that meet in a slot share its bucket
 * (the key is random per process, so a client cannot aim at another's
 * slot). Thread-safe.
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

/* Which rate a request is charged to, and in what. */
enum vg_limit_kind {
    VG_LIMIT_ADDRESS,     /* requests: producer.rate_per_address_per_s, burst_per_address */
    VG_LIMIT_SESSION,     /* requests: producer.rate_per_session_per_s, burst_per_session */
    VG_LIMIT_PUBLISHABLE, /* events of a publishable key from one address: its tenant's
                           * publishable_rate_per_s, publishable_burst */
    VG_LIMIT_KINDS
};

/*
 * Charges n tokens of kind to key at now_ms: for VG_LIMIT_ADDRESS an
 * address, for VG_LIMIT_SESSION "tenant/session", for VG_LIMIT_PUBLISHABLE
 * "tenant address" at tenant's rate (tenant NULL for the other kinds, whose
 * rate is cfg's). As vg_bucket_take(): returns 0; or VG_EFULL with
 * *retry_after_ms set (at least 1); or VG_ETOOBIG if n is past the burst;
 * n == 0 takes nothing but fails as one would.
 */
int vg_limits_charge(struct vg_limits *l, const struct vg_config *cfg, enum vg_limit_kind kind,
                     const struct vg_tenant *tenant, const char *key, int64_t n, int64_t now_ms,
                     int64_t *retry_after_ms) VG_MUSTCHECK;

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
 * vg_limits_admit_address() charges the client's address (r->client: behind
 * a trusted proxy, the one X-Forwarded-For names) for every request but
 * health checks, refused ones included (a 401 costs like a 202);
 * vg_limits_admit_body(), once routes.c knows the credentials, charges a
 * session token's rate, refuses a publishable key whose bucket for this
 * address is empty (whatever the body holds would not fit), and reserves
 * the body's bytes (its Content-Length, or producer.max_body_bytes for a
 * chunked one) into *reserved, which the caller gives back with
 * vg_limits_release() when the request ends.
 */
int vg_limits_admit_address(struct vg_limits *l, struct vg_req *r);
int vg_limits_admit_body(struct vg_limits *l, struct vg_req *r, size_t *reserved);

/*
 * Once the body is parsed: a publishable key's request takes its r->out.n
 * events from the bucket of its tenant and client address (nothing for
 * other credentials). Answers as vg_limits_admit_body().
 */
int vg_limits_admit_events(struct vg_limits *l, struct vg_req *r);

/*
 * The answer to a take of r->out.n events that failed with rc
 * (vg_bucket_take()) from a bucket of rate_per_s and burst that who owns
 * ("tenant demo"): 413 past the burst, else 429 with Retry-After. Returns 1
 * (refused); rc 0 returns 0.
 */
int vg_limits_refuse_events(struct vg_req *r, int rc, int64_t retry_ms, double rate_per_s,
                            int64_t burst, const char *who);

/*
 * Past producer.connection_limit connections (open counts this one), a
 * request gets a JSON 503 with Retry-After and the connection is closed,
 * rather than waiting unserved; returns 1 then. libmicrohttpd's own limit
 * sits VG_LIMITS_CONNECTION_SLACK above, so that these get accepted.
 */
#define VG_LIMITS_CONNECTION_SLACK 64
int vg_limits_admit_connection(struct vg_req *r, int open);

#endif
