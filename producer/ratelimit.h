/*
 * ratelimit.h - one token bucket per tenant, in events per second.
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

struct vg_ratelimit;

struct vg_ratelimit *vg_ratelimit_new(void);

/*
 * A limiter of at most max_buckets buckets, for keys that strangers choose
 * (client addresses): a new key past the cap takes the place of the bucket
 * idle longest, which starts full again.
 */
struct vg_ratelimit *vg_ratelimit_new_capped(size_t max_buckets);

/* Frees the limiter; accepts NULL. */
void vg_ratelimit_free(struct vg_ratelimit *rl);

/*
 * Takes n tokens from tenant's bucket at now_ms. Returns 0 if they were
 * there. Otherwise takes nothing, returns VG_EFULL and sets *retry_after_ms
 * to when n tokens will be there (at least 1); if n exceeds burst they never
 * will, and it returns VG_ETOOBIG.
 */
int vg_ratelimit_take(struct vg_ratelimit *rl, const char *tenant, double rate_per_s,
                      int64_t burst, int64_t n, int64_t now_ms,
                      int64_t *retry_after_ms) VG_MUSTCHECK;

#endif
