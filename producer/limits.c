#include "limits.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "request.h"
#include "util.h"

#define SLOTS 8192 /* per kind: 8192 buckets of 24 bytes */

struct slot {
    uint64_t tag; /* keyed hash of the key; 0: free */
    double tokens;
    int64_t last_ms;
};

/* Connections per address: one entry per address with a connection open,
 * so at most libmicrohttpd's connection limit of them. */
struct open_count {
    uint32_t addr;
    int n;
};

struct vg_limits {
    atomic_size_t inflight;
    struct open_count *open;
    size_t nopen, capopen;
    unsigned char hash_key[32];
    pthread_mutex_t lock;
    struct slot slots[2][SLOTS];
};

struct vg_limits *vg_limits_new(const struct vg_config *cfg)
{
    (void)cfg;
    struct vg_limits *l = vg_xcalloc(1, sizeof(*l));
    atomic_init(&l->inflight, 0);
    vg_random_bytes(l->hash_key, sizeof(l->hash_key));
    pthread_mutex_init(&l->lock, NULL);
    return l;
}

void vg_limits_free(struct vg_limits *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->lock);
    free(l->open);
    free(l);
}

int vg_limits_reserve(struct vg_limits *l, const struct vg_config *cfg, size_t n)
{
    size_t budget = (size_t)cfg->producer_inflight_body_bytes;
    size_t cur = atomic_load(&l->inflight);
    do {
        if (cur + n > budget)
            return VG_EFULL;
    } while (!atomic_compare_exchange_weak(&l->inflight, &cur, cur + n));
    return 0;
}

void vg_limits_release(struct vg_limits *l, size_t n)
{
    atomic_fetch_sub(&l->inflight, n);
}

size_t vg_limits_inflight(struct vg_limits *l)
{
    return atomic_load(&l->inflight);
}

int vg_limits_charge(struct vg_limits *l, const struct vg_config *cfg, enum vg_limit_kind kind,
                     const char *key, int64_t now_ms, int64_t *retry_after_ms)
{
    double rate = kind == VG_LIMIT_ADDRESS ? (double)cfg->producer_rate_per_address_per_s
                                           : (double)cfg->producer_rate_per_session_per_s;
    double burst = kind == VG_LIMIT_ADDRESS ? (double)cfg->producer_burst_per_address
                                            : (double)cfg->producer_burst_per_session;
    unsigned char mac[VG_SHA256_LEN];
    vg_hmac_sha256(l->hash_key, sizeof(l->hash_key), key, strlen(key), mac);
    uint64_t tag;
    memcpy(&tag, mac, sizeof(tag));
    tag |= 1; /* never 0 */
    *retry_after_ms = 0;

    pthread_mutex_lock(&l->lock);
    struct slot *s = &l->slots[kind][(tag >> 1) % SLOTS];
    if (s->tag != tag) {
        /* A new key takes the slot over once the old one's bucket has
         * refilled (it was idle); until then the two share it. */
        double refilled = s->tokens + (double)(now_ms - s->last_ms) * rate / 1000.0;
        if (!s->tag || refilled >= burst) {
            s->tag = tag;
            s->tokens = burst;
            s->last_ms = now_ms;
        }
    }
    if (now_ms > s->last_ms) {
        s->tokens = fmin(burst, s->tokens + (double)(now_ms - s->last_ms) * rate / 1000.0);
        s->last_ms = now_ms;
    }
    s->tokens = fmin(s->tokens, burst); /* a reload may have lowered it */
    int rc = 0;
    if (s->tokens >= 1.0) {
        s->tokens -= 1.0;
    } else {
        double ms = ceil((1.0 - s->tokens) * 1000.0 / rate);
        *retry_after_ms = ms < 1 ? 1 : (int64_t)ms;
        rc = VG_EFULL;
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int vg_limits_admit_address(struct vg_limits *l, struct vg_req *r, const char *address)
{
    int64_t retry_ms;
    if (vg_limits_charge(l, r->cfg, VG_LIMIT_ADDRESS, address, vg_mono_ms(), &retry_ms) == 0)
        return 0;
    vg_req_refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                  "this client address is over its rate of %lld requests per second",
                  (long long)r->cfg->producer_rate_per_address_per_s);
    r->reply.close = 1;
    return 1;
}

int vg_limits_admit_body(struct vg_limits *l, struct vg_req *r, size_t *reserved)
{
    int64_t retry_ms;
    *reserved = 0;
    if (r->scoped && r->tenant) {
        char key[VG_TENANT_MAX + VG_SESSION_ID_SIZE + 2];
        snprintf(key, sizeof(key), "%s/%s", r->tenant->id, r->scope_session);
        if (vg_limits_charge(l, r->cfg, VG_LIMIT_SESSION, key, vg_mono_ms(), &retry_ms))
            return vg_req_refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                                 "this session is over its rate of %lld requests per second",
                                 (long long)r->cfg->producer_rate_per_session_per_s);
    }
    if (r->head.body_length == 0)
        return 0;
    size_t n = r->head.body_length > 0 ? (size_t)r->head.body_length
                                       : (size_t)r->cfg->producer_max_body_bytes;
    if (vg_limits_reserve(l, r->cfg, n)) {
        vg_req_refuse(r, 503, "overloaded", NULL, 1,
                      "the producer is reading as many request bodies as it may "
                      "(producer.inflight_body_bytes): retry shortly");
        r->reply.close = 1;
        return 1;
    }
    *reserved = n;
    return 0;
}

int vg_limits_admit_connection(struct vg_req *r, int open)
{
    if (open <= r->cfg->producer_connection_limit)
        return 0;
    vg_req_refuse(r, 503, "too_many_connections", NULL, 1,
                  "the producer holds as many connections as it may "
                  "(producer.connection_limit): retry shortly");
    r->reply.close = 1;
    return 1;
}

int vg_limits_connection_opened(struct vg_limits *l, int64_t limit, uint32_t addr)
{
    pthread_mutex_lock(&l->lock);
    size_t i = 0;
    while (i < l->nopen && l->open[i].addr != addr)
        i++;
    if (i == l->nopen) {
        if (l->nopen == l->capopen) {
            l->capopen = l->capopen ? l->capopen * 2 : 64;
            l->open = vg_xrealloc(l->open, l->capopen * sizeof(*l->open));
        }
        l->open[l->nopen++] = (struct open_count){.addr = addr, .n = 0};
    }
    int n = ++l->open[i].n;
    pthread_mutex_unlock(&l->lock);
    return n > limit ? VG_EFULL : 0;
}

void vg_limits_connection_closed(struct vg_limits *l, uint32_t addr)
{
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->nopen; i++) {
        if (l->open[i].addr != addr)
            continue;
        if (--l->open[i].n == 0)
            l->open[i] = l->open[--l->nopen];
        break;
    }
    pthread_mutex_unlock(&l->lock);
}
