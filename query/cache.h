/*
 * cache.h - the optional cache of session rows (DESIGN.md section 10).
 *
 * Two levels: an in-process table of query.cache.entries slots, where a key
 * may live in one of two slots (a new entry takes the emptier or older of
 * the two: bounded, no eviction lists), and, when query.redis_url is set,
 * Redis, which the replicas share. PostgreSQL stays the truth: every value
 * carries the wall clock time at which it was read from PostgreSQL (taken
 * just before the read). A value is served while it is younger than
 * query.cache.max_staleness_ms; Redis keys expire at that age. A value this
 * process read itself is served longer only while the caller vouches that
 * nothing changed since (listener.h's vg_listener_unchanged_since()): then
 * it is still what PostgreSQL holds, within the same bound.
 *
 * Redis is reached through hiredis with query.redis_timeout_ms on connect
 * and on every command. When it fails, the cache says so in
 * vigil_query_cache_up{cache="redis"} (0), answers come from PostgreSQL, and
 * a reconnect is tried at most once a second per connection.
 */
#ifndef VG_CACHE_H
#define VG_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct vg_cache;

/*
 * A cache of `entries` in-process slots (0: none) and, if redis_url is not
 * empty, `nredis` Redis connections. max_staleness_ms 0 turns everything
 * off. Returns NULL with errstr filled if redis_url is malformed.
 */
struct vg_cache *vg_cache_new(int64_t entries, int64_t max_staleness_ms, const char *redis_url,
                              int64_t redis_timeout_ms, int nredis, char *errstr,
                              size_t errstr_size);

/* Frees the cache; accepts NULL. */
void vg_cache_free(struct vg_cache *c);

/*
 * Looks key up, first in process, then in Redis. On a hit no older than the
 * bound, or read by this process after unchanged_since (Unix ms; INT64_MAX:
 * no such promise), appends the value to out, sets *read_ms (when it was
 * read from PostgreSQL, Unix ms) and returns 1; else returns 0.
 */
int vg_cache_get(struct vg_cache *c, const char *key, struct vg_buf *out, int64_t *read_ms,
                 int64_t unchanged_since);

/* Stores value (len bytes) read from PostgreSQL at read_ms (Unix ms), in both levels. */
void vg_cache_put(struct vg_cache *c, const char *key, const char *value, size_t len,
                  int64_t read_ms);

/* 1 if the cache is on (max_staleness_ms > 0 and some level configured). */
int vg_cache_enabled(const struct vg_cache *c);

#endif
