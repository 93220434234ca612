#include "limits.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "ratelimit.h"
#include "request.h"
#include "util.h"

#define SLOTS 8192 /* per kind: 8192 buckets of 24 bytes */

struct slot {
    uint64_t tag; /* keyed hash of the key; 0: free */
    struct vg_bucket b;
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
    struct slot slots[VG_LIMIT_KINDS][SLOTS];
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

/* kind's rate: cfg's, or a publishable key's tenant's. */
static void rate_of(const struct vg_config *cfg, enum vg_limit_kind kind,
                    const struct vg_tenant *tenant, double *rate, int64_t *burst)
{
    switch (kind) {
    case VG_LIMIT_ADDRESS:
        *rate = (double)cfg->producer_rate_per_address_per_s;
        *burst = cfg->producer_burst_per_address;
        return;
    case VG_LIMIT_SESSION:
        *rate = (double)cfg->producer_rate_per_session_per_s;
        *burst = cfg->producer_burst_per_session;
        return;
    default:
        assert(kind == VG_LIMIT_PUBLISHABLE && tenant);
        *rate = tenant->pk_rate_per_s;
        *burst = tenant->pk_burst;
        return;
    }
}

int vg_limits_charge(struct vg_limits *l, const struct vg_config *cfg, enum vg_limit_kind kind,
                     const struct vg_tenant *tenant, const char *key, int64_t n, int64_t now_ms,
                     int64_t *retry_after_ms)
{
    double rate;
    int64_t burst;
    rate_of(cfg, kind, tenant, &rate, &burst);
    unsigned char mac[VG_SHA256_LEN];
    vg_hmac_sha256(l->hash_key, sizeof(l->hash_key), key, strlen(key), mac);
    uint64_t tag;
    memcpy(&tag, mac, sizeof(tag));
    tag |= 1; /* never 0 */

    pthread_mutex_lock(&l->lock);
    struct slot *s = &l->slots[kind][(tag >> 1) % SLOTS];
    if (s->tag != tag) {
        /* A new key takes the slot over once the old one's bucket has
         * refilled (it was idle); until then the two share it. */
        double refilled = s->b.tokens + (double)(now_ms - s->b.last_ms) * rate / 1000.0;
        if (!s->tag || refilled >= (double)burst) {
            s->tag = tag;
            s->b = vg_bucket_full(burst, now_ms);
        }
    }
    int rc = vg_bucket_take(&s->b, rate, burst, n, now_ms, retry_after_ms);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int vg_limits_admit_address(struct vg_limits *l, struct vg_req *r)
{
    int64_t retry_ms;
    if (vg_limits_charge(l, r->cfg, VG_LIMIT_ADDRESS, NULL, r->client, 1, vg_mono_ms(),
                         &retry_ms) == 0)
        return 0;
    vg_req_refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                  "this client address is over its rate of %lld requests per second",
                  (long long)r->cfg->producer_rate_per_address_per_s);
    r->reply.close = 1;
    return 1;
}

int vg_limits_refuse_events(struct vg_req *r, int rc, int64_t retry_ms, double rate_per_s,
                            int64_t burst, const char *who)
{
    if (rc == VG_ETOOBIG)
        return vg_req_refuse(r, 413, "batch_exceeds_burst", NULL, 0,
                             "%zu events exceed the burst of %lld of %s: send smaller batches",
                             r->out.n, (long long)burst, who);
    if (rc)
        return vg_req_refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                             "%s is over its rate of %.0f events per second", who, rate_per_s);
    return 0;
}

/* Takes n events (0: none, but refused if not one is left) from the bucket
 * of r's publishable key and client address. */
static int admit_publishable(struct vg_limits *l, struct vg_req *r, int64_t n)
{
    const struct vg_tenant *t = r->tenant;
    char key[VG_TENANT_MAX + sizeof(r->client) + 2];
    int64_t retry_ms;
    if (!r->publishable)
        return 0;
    snprintf(key, sizeof(key), "%s %s", t->id, r->client);
    int rc = vg_limits_charge(l, r->cfg, VG_LIMIT_PUBLISHABLE, t, key, n, vg_mono_ms(),
                              &retry_ms);
    return vg_limits_refuse_events(r, rc, retry_ms, t->pk_rate_per_s, t->pk_burst,
                                   "this address's publishable key");
}

int vg_limits_admit_body(struct vg_limits *l, struct vg_req *r, size_t *reserved)
{
    int64_t retry_ms;
    *reserved = 0;
    if (r->scoped && r->tenant) {
        char key[VG_TENANT_MAX + VG_SESSION_ID_SIZE + 2];
        snprintf(key, sizeof(key), "%s/%s", r->tenant->id, r->scope_session);
        if (vg_limits_charge(l, r->cfg, VG_LIMIT_SESSION, NULL, key, 1, vg_mono_ms(), &retry_ms))
            return vg_req_refuse(r, 429, "rate_limited", NULL, (int)((retry_ms + 999) / 1000),
                                 "this session is over its rate of %lld requests per second",
                                 (long long)r->cfg->producer_rate_per_session_per_s);
    }
    if (admit_publishable(l, r, 0))
        return 1;
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

int vg_limits_admit_events(struct vg_limits *l, struct vg_req *r)
{
    return admit_publishable(l, r, (int64_t)r->out.n);
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
