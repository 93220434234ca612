#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Tenants are few (a configuration's worth): a short array searched under one
 * lock costs less than anything cleverer. Client addresses are many: their
 * limiter is capped (max), and a search of a few thousand short keys is
 * still cheap beside a request. */
struct bucket {
    char *tenant;
    double tokens;
    int64_t last_ms;
};

struct vg_ratelimit {
    pthread_mutex_t lock;
    struct bucket *b;
    size_t n, cap;
    size_t max; /* 0: no cap */
};

struct vg_ratelimit *vg_ratelimit_new(void)
{
    struct vg_ratelimit *rl = vg_xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

struct vg_ratelimit *vg_ratelimit_new_capped(size_t max_buckets)
{
    struct vg_ratelimit *rl = vg_ratelimit_new();
    rl->max = max_buckets;
    return rl;
}

void vg_ratelimit_free(struct vg_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->n; i++)
        free(rl->b[i].tenant);
    free(rl->b);
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static struct bucket *find(struct vg_ratelimit *rl, const char *tenant, int64_t burst,
                           int64_t now_ms)
{
    for (size_t i = 0; i < rl->n; i++)
        if (!strcmp(rl->b[i].tenant, tenant))
            return &rl->b[i];
    if (rl->max && rl->n == rl->max) {
        struct bucket *idle = &rl->b[0];
        for (size_t i = 1; i < rl->n; i++)
            if (rl->b[i].last_ms < idle->last_ms)
                idle = &rl->b[i];
        free(idle->tenant);
        idle->tenant = vg_xstrdup(tenant);
        idle->tokens = (double)burst;
        idle->last_ms = now_ms;
        return idle;
    }
    if (rl->n == rl->cap) {
        rl->cap = rl->cap ? rl->cap * 2 : 8;
        rl->b = vg_xrealloc(rl->b, rl->cap * sizeof(*rl->b));
    }
    struct bucket *b = &rl->b[rl->n++];
    b->tenant = vg_xstrdup(tenant);
    b->tokens = (double)burst;
    b->last_ms = now_ms;
    return b;
}

int vg_ratelimit_take(struct vg_ratelimit *rl, const char *tenant, double rate_per_s,
                      int64_t burst, int64_t n, int64_t now_ms, int64_t *retry_after_ms)
{
    *retry_after_ms = 0;
    pthread_mutex_lock(&rl->lock);
    struct bucket *b = find(rl, tenant, burst, now_ms);
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate_per_s / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->tokens > (double)burst)
        b->tokens = (double)burst; /* also after a reload lowered the burst */
    int rc = 0;
    if (n > burst) {
        rc = VG_ETOOBIG;
    } else if (b->tokens >= (double)n) {
        b->tokens -= (double)n;
    } else {
        double ms = ceil(((double)n - b->tokens) * 1000.0 / rate_per_s);
        *retry_after_ms = ms < 1 ? 1 : (int64_t)ms;
        rc = VG_EFULL;
    }
    pthread_mutex_unlock(&rl->lock);
    return rc;
}
