#include "cache.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "qstats.h"

#define LOCKS 64
#define RECONNECT_MIN_MS 1000
#define PENDING_MAX 64 /* SET replies left unread on one connection, at most */

struct slot {
    char *key;
    char *val;
    size_t len;
    int64_t read_ms;
    int own; /* read from PostgreSQL by this process (not copied from Redis) */
};

struct redis_conn {
    pthread_mutex_t lock;
    redisContext *ctx;
    int64_t failed_ms; /* monotonic time of the last failure */
    int pending;       /* SETs sent whose replies are not read yet */
};

struct vg_cache {
    int64_t max_staleness_ms;
    size_t nslots;
    struct slot *slots;
    pthread_mutex_t locks[LOCKS];

    char host[256];
    int port, db;
    struct timeval timeout;
    int nredis;
    struct redis_conn *redis;
    atomic_uint next;
    atomic_int down; /* redis connections down now */
};

/* redis://host[:port][/db] */
static int parse_url(struct vg_cache *c, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8))
        return -1;
    p += 8;
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof(c->host))
        return -1;
    memcpy(c->host, p, hl);
    c->host[hl] = '\0';
    p += hl;
    c->port = 6379;
    if (*p == ':') {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535)
            return -1;
        c->port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end || v < 0 || v > 1000)
            return -1;
        c->db = (int)v;
    } else if (*p && strcmp(p, "/")) {
        return -1;
    }
    return 0;
}

struct vg_cache *vg_cache_new(int64_t entries, int64_t max_staleness_ms, const char *redis_url,
                              int64_t redis_timeout_ms, int nredis, char *errstr,
                              size_t errstr_size)
{
    struct vg_cache *c = vg_xcalloc(1, sizeof(*c));
    c->max_staleness_ms = max_staleness_ms;
    if (max_staleness_ms > 0 && entries > 0) {
        c->nslots = (size_t)entries;
        c->slots = vg_xcalloc(c->nslots, sizeof(*c->slots));
    }
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    if (max_staleness_ms > 0 && redis_url && *redis_url) {
        if (parse_url(c, redis_url)) {
            snprintf(errstr, errstr_size, "query.redis_url: expected redis://host[:port][/db]");
            vg_cache_free(c);
            return NULL;
        }
        c->timeout.tv_sec = redis_timeout_ms / 1000;
        c->timeout.tv_usec = (redis_timeout_ms % 1000) * 1000;
        c->nredis = nredis;
        c->redis = vg_xcalloc((size_t)nredis, sizeof(*c->redis));
        for (int i = 0; i < nredis; i++)
            pthread_mutex_init(&c->redis[i].lock, NULL);
        vg_gauge_set(vg_qstats.redis_up, 1);
    }
    return c;
}

void vg_cache_free(struct vg_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++) {
        free(c->slots[i].key);
        free(c->slots[i].val);
    }
    free(c->slots);
    for (int i = 0; i < LOCKS; i++)
        pthread_mutex_destroy(&c->locks[i]);
    for (int i = 0; i < c->nredis; i++) {
        if (c->redis[i].ctx)
            redisFree(c->redis[i].ctx);
        pthread_mutex_destroy(&c->redis[i].lock);
    }
    free(c->redis);
    free(c);
}

int vg_cache_enabled(const struct vg_cache *c)
{
    return c->max_staleness_ms > 0 && (c->nslots || c->nredis);
}

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int fresh(const struct vg_cache *c, int64_t read_ms)
{
    return vg_now_ms() - read_ms <= c->max_staleness_ms;
}

/* -- in process ------------------------------------------------------------ */

/* The two slots a key may live in, and the lock of each. */
static void slots_of(const struct vg_cache *c, uint64_t h, size_t i[2])
{
    i[0] = h % c->nslots;
    i[1] = (h >> 32 ^ h * 0x9e3779b97f4a7c15ULL) % c->nslots;
}

static void lock2(struct vg_cache *c, const size_t i[2])
{
    size_t a = i[0] % LOCKS, b = i[1] % LOCKS;
    pthread_mutex_lock(&c->locks[VG_MIN(a, b)]);
    if (a != b)
        pthread_mutex_lock(&c->locks[VG_MAX(a, b)]);
}

static void unlock2(struct vg_cache *c, const size_t i[2])
{
    size_t a = i[0] % LOCKS, b = i[1] % LOCKS;
    pthread_mutex_unlock(&c->locks[a]);
    if (a != b)
        pthread_mutex_unlock(&c->locks[b]);
}

static int local_get(struct vg_cache *c, const char *key, uint64_t h, struct vg_buf *out,
                     int64_t *read_ms, int64_t unchanged_since)
{
    size_t i[2];
    int hit = 0;
    slots_of(c, h, i);
    lock2(c, i);
    for (int k = 0; k < 2 && !hit; k++) {
        struct slot *s = &c->slots[i[k]];
        if (s->key && !strcmp(s->key, key) &&
            (fresh(c, s->read_ms) || (s->own && s->read_ms > unchanged_since))) {
            vg_buf_append(out, s->val, s->len);
            *read_ms = s->read_ms;
            hit = 1;
        }
    }
    unlock2(c, i);
    return hit;
}

static void local_put(struct vg_cache *c, const char *key, uint64_t h, const char *val,
                      size_t len, int64_t read_ms, int own)
{
    size_t i[2];
    char *k = vg_xstrdup(key), *v = vg_xmalloc(len ? len : 1), *old_k = NULL, *old_v = NULL;
    memcpy(v, val, len);
    slots_of(c, h, i);
    lock2(c, i);
    /* The key's own slot if it has one, else an empty one, else the older. */
    struct slot *a = &c->slots[i[0]], *b = &c->slots[i[1]], *s;
    if (a->key && !strcmp(a->key, key))
        s = a;
    else if (b->key && !strcmp(b->key, key))
        s = b;
    else if (!a->key || (b->key && a->read_ms <= b->read_ms))
        s = a;
    else
        s = b;
    if (s->key && !strcmp(s->key, key) && s->read_ms > read_ms) {
        old_k = k; /* a newer read is there already */
        old_v = v;
    } else {
        old_k = s->key;
        old_v = s->val;
        s->key = k;
        s->val = v;
        s->len = len;
        s->read_ms = read_ms;
        s->own = own;
    }
    unlock2(c, i);
    free(old_k);
    free(old_v);
}

/* -- Redis ----------------------------------------------------------------- */

static void redis_failed(struct vg_cache *c, struct redis_conn *r, const char *reason)
{
    char why[128]; /* reason may live in the context freed below */
    snprintf(why, sizeof(why), "%s", reason ? reason : "?");
    if (r->ctx) {
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    r->pending = 0;
    if (r->failed_ms == 0) {
        int down = atomic_fetch_add(&c->down, 1) + 1;
        if (down == 1)
            vg_warn("redis cache down (%s): answering from PostgreSQL", why);
    }
    r->failed_ms = vg_mono_ms();
    vg_gauge_set(vg_qstats.redis_up, 0);
}

/* Locks and returns a connected Redis connection, or NULL (none locked). */
static struct redis_conn *redis_take(struct vg_cache *c)
{
    struct redis_conn *r = &c->redis[atomic_fetch_add(&c->next, 1) % (unsigned)c->nredis];
    pthread_mutex_lock(&r->lock);
    if (r->ctx)
        return r;
    if (r->failed_ms && vg_mono_ms() - r->failed_ms < RECONNECT_MIN_MS) {
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    redisContext *ctx = redisConnectWithTimeout(c->host, c->port, c->timeout);
    if (!ctx || ctx->err || redisSetTimeout(ctx, c->timeout) != REDIS_OK) {
        r->ctx = ctx;
        redis_failed(c, r, ctx ? ctx->errstr : "cannot allocate");
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    r->ctx = ctx;
    if (c->db) {
        redisReply *rep = redisCommand(ctx, "SELECT %d", c->db);
        int ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redis_failed(c, r, "SELECT refused");
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
    }
    if (r->failed_ms) {
        r->failed_ms = 0;
        if (atomic_fetch_sub(&c->down, 1) == 1) {
            vg_info("redis cache back");
            vg_gauge_set(vg_qstats.redis_up, 1);
        }
    }
    return r;
}

/*
 * A SET is sent without waiting for its reply (redis_put): a miss would
 * otherwise pay a second round trip to Redis after the database's. The
 * replies are read, in order, before the next GET's on the same connection,
 * by when they have long arrived. Returns 0, or -1 with the connection
 * failed (the first error).
 */
static int redis_read_pending(struct vg_cache *c, struct redis_conn *r)
{
    while (r->pending > 0) {
        redisReply *rep = NULL;
        if (redisGetReply(r->ctx, (void **)&rep) != REDIS_OK || !rep ||
            rep->type == REDIS_REPLY_ERROR) {
            redis_failed(c, r, rep ? rep->str : r->ctx->errstr);
            if (rep)
                freeReplyObject(rep);
            return -1;
        }
        freeReplyObject(rep);
        r->pending--;
    }
    return 0;
}

/* Redis values are "<read_ms>:<value>". */
static int redis_get(struct vg_cache *c, const char *key, struct vg_buf *out, int64_t *read_ms)
{
    struct redis_conn *r = redis_take(c);
    if (!r) {
        vg_counter_add(vg_qstats.redis_error, 1);
        return 0;
    }
    redisReply *rep = NULL;
    int hit = 0, failed = 0;
    /* GET goes out first; the SET replies ahead of its are read meanwhile. */
    if (redisAppendCommand(r->ctx, "GET %s", key) != REDIS_OK) {
        redis_failed(c, r, r->ctx->errstr);
        failed = 1;
    } else if (redis_read_pending(c, r)) {
        failed = 1;
    } else if (redisGetReply(r->ctx, (void **)&rep) != REDIS_OK || !rep ||
               rep->type == REDIS_REPLY_ERROR) {
        redis_failed(c, r, rep ? rep->str : r->ctx->errstr);
        failed = 1;
    } else if (rep->type == REDIS_REPLY_STRING) {
        char *colon = memchr(rep->str, ':', rep->len);
        int64_t at;
        if (colon) {
            *colon = '\0';
            if (vg_parse_int64(rep->str, 0, INT64_MAX, &at) == 0 && fresh(c, at)) {
                size_t off = (size_t)(colon + 1 - rep->str);
                vg_buf_append(out, colon + 1, rep->len - off);
                *read_ms = at;
                hit = 1;
            }
        }
    }
    if (rep)
        freeReplyObject(rep);
    pthread_mutex_unlock(&r->lock);
    vg_counter_add(failed ? vg_qstats.redis_error
                          : hit ? vg_qstats.redis_hit : vg_qstats.redis_miss, 1);
    return hit;
}

/* Sends SET key "<read_ms>:<value>" PX <what is left of the bound> and
 * returns without its reply (redis_read_pending). */
static void redis_put(struct vg_cache *c, const char *key, const char *val, size_t len,
                      int64_t read_ms)
{
    int64_t ttl = c->max_staleness_ms - (vg_now_ms() - read_ms);
    if (ttl <= 0)
        return;
    struct redis_conn *r = redis_take(c);
    if (!r)
        return;
    if (r->pending >= PENDING_MAX && redis_read_pending(c, r)) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    char prefix[32];
    int pl = snprintf(prefix, sizeof(prefix), "%lld:", (long long)read_ms);
    const char *argv[5] = {"SET", key, NULL, "PX", NULL};
    size_t argl[5] = {3, strlen(key), 0, 2, 0};
    struct vg_buf v = {0};
    vg_buf_append(&v, prefix, (size_t)pl);
    vg_buf_append(&v, val, len);
    char ttls[24];
    snprintf(ttls, sizeof(ttls), "%lld", (long long)ttl);
    argv[2] = v.data;
    argl[2] = v.len;
    argv[4] = ttls;
    argl[4] = strlen(ttls);
    int done = 0;
    if (redisAppendCommandArgv(r->ctx, 5, argv, argl) != REDIS_OK)
        redis_failed(c, r, r->ctx->errstr);
    else
        r->pending++;
    while (r->ctx && !done)
        if (redisBufferWrite(r->ctx, &done) != REDIS_OK)
            redis_failed(c, r, r->ctx->errstr);
    pthread_mutex_unlock(&r->lock);
    vg_buf_free(&v);
}

/* -- both ------------------------------------------------------------------ */

int vg_cache_get(struct vg_cache *c, const char *key, struct vg_buf *out, int64_t *read_ms,
                 int64_t unchanged_since)
{
    if (c->max_staleness_ms <= 0)
        return 0;
    uint64_t h = hash(key);
    if (c->nslots) {
        if (local_get(c, key, h, out, read_ms, unchanged_since)) {
            vg_counter_add(vg_qstats.local_hit, 1);
            return 1;
        }
        vg_counter_add(vg_qstats.local_miss, 1);
    }
    if (c->nredis && redis_get(c, key, out, read_ms)) {
        if (c->nslots)
            local_put(c, key, h, out->data, out->len, *read_ms, 0);
        return 1;
    }
    return 0;
}

void vg_cache_put(struct vg_cache *c, const char *key, const char *value, size_t len,
                  int64_t read_ms)
{
    if (c->max_staleness_ms <= 0)
        return;
    uint64_t h = hash(key);
    if (c->nslots)
        local_put(c, key, h, value, len, read_ms, 1);
    if (c->nredis)
        redis_put(c, key, value, len, read_ms);
}
