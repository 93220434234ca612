#include "ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Tenants are few (a configuration's worth): a short array searched under one
 * lock costs less than anything cleverer. */
struct bucket {
    char *tenant;
    struct vg_bucket b;
};

struct vg_ratelimit {
    pthread_mutex_t lock;
    struct bucket *b;
    size_t n, cap;
};

struct vg_bucket vg_bucket_full(int64_t burst, int64_t now_ms)
{
    return (struct vg_bucket){.tokens = (double)burst, .last_ms = now_ms};
}

int vg_bucket_take(struct vg_bucket *b, double rate_per_s, int64_t burst, int64_t n,
                   int64_t now_ms, int64_t *retry_after_ms)
{
    *retry_after_ms = 0;
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate_per_s / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->tokens > (double)burst)
        b->tokens = (double)burst; /* also after a reload lowered the burst */
    if (n > burst)
        return VG_ETOOBIG;
    double need = n ? (double)n : 1.0; /* n == 0: could it take one */
    if (b->tokens >= need) {
        b->tokens -= (double)n;
        return 0;
    }
    double ms = ceil((need - b->tokens) * 1000.0 / rate_per_s);
    *retry_after_ms = ms < 1 ? 1 : (int64_t)ms;
    return VG_EFULL;
}

struct vg_ratelimit *vg_ratelimit_new(void)
{
    struct vg_ratelimit *rl = vg_xcalloc(1, sizeof(*rl));
    pthread_mutex_init(&rl->lock, NULL);
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

static struct vg_bucket *find(struct vg_ratelimit *rl, const char *tenant, int64_t burst,
                              int64_t now_ms)
{
    for (size_t i = 0; i < rl->n; i++)
        if (!strcmp(rl->b[i].tenant, tenant))
            return &rl->b[i].b;
    if (rl->n == rl->cap) {
        rl->cap = rl->cap ? rl->cap * 2 : 8;
        rl->b = vg_xrealloc(rl->b, rl->cap * sizeof(*rl->b));
    }
    struct bucket *b = &rl->b[rl->n++];
    b->tenant = vg_xstrdup(tenant);
    b->b = vg_bucket_full(burst, now_ms);
    return &b->b;
}

int vg_ratelimit_take(struct vg_ratelimit *rl, const char *tenant, double rate_per_s,
                      int64_t burst, int64_t n, int64_t now_ms, int64_t *retry_after_ms)
{
    pthread_mutex_lock(&rl->lock);
    int rc = vg_bucket_take(find(rl, tenant, burst, now_ms), rate_per_s, burst, n, now_ms,
                            retry_after_ms);
    pthread_mutex_unlock(&rl->lock);
    return rc;
}
