/*
 * ratelimit.h - the token bucket of every rate the producer keeps, and one
 * per tenant, in events per second (limits.h keeps those of one client).
 *
 * A bucket holds at most `burst` tokens and refills at `rate_per_s`; a
 * request of n events takes n tokens or none. The rate and burst are passed
 * on every call, so a reloaded configuration applies at once; a bucket
 * starts full. Thread-safe; time is passed in (monotonic milliseconds) so
 * that tests need no clock.
 */
#ifndef VG_RATELIMIT_H
#define VG_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/*
 * One token bucket, the arithmetic of every rate of the producer: this
 * file's per tenant, and limits.h's per client address and session. Not
 * locked: its owner holds a lock around vg_bucket_take().
 */
struct vg_bucket {
    double tokens;
    int64_t last_ms;
};

/* A bucket of burst tokens at now_ms. */
struct vg_bucket vg_bucket_full(int64_t burst, int64_t now_ms);

/*
 * Refills b to now_ms (a clock going back refills nothing) and takes n
 * tokens. Returns 0 if they were there. Otherwise takes nothing, returns
 * VG_EFULL and sets *retry_after_ms to when they will be (at least 1); if n
 * exceeds burst they never will, and it returns VG_ETOOBIG. n == 0 takes
 * nothing and answers as a take of one would: whether the bucket could take
 * anything now.
 */
int vg_bucket_take(struct vg_bucket *b, double rate_per_s, int64_t burst, int64_t n,
                   int64_t now_ms, int64_t *retry_after_ms) VG_MUSTCHECK;

struct vg_ratelimit;

struct vg_ratelimit *vg_ratelimit_new(void);

/* Frees the limiter; accepts NULL. */
void vg_ratelimit_free(struct vg_ratelimit *rl);

/* Takes n tokens from tenant's bucket at now_ms, as vg_bucket_take(). */
int vg_ratelimit_take(struct vg_ratelimit *rl, const char *tenant, double rate_per_s,
                      int64_t burst, int64_t n, int64_t now_ms,
                      int64_t *retry_after_ms) VG_MUSTCHECK;

#endif
