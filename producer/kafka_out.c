#include "kafka_out.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "receipt.h"
#include "stats.h"
#include "util.h"

#define POLL_MS 10
#define READY_CACHE_MS 1000
#define READY_TIMEOUT_MS 1000

struct vg_delivery {
    struct vg_kout *k;
    atomic_int refs; /* the owner's, and one per message not yet reported */
    char tenant[VG_TENANT_MAX + 1];
    int async;
    int64_t deadline_ms;
    int64_t enqueued_us;
    struct vg_series *accepted[VG_TOPIC_COUNT];
    /* Under k->lock: */
    size_t pending; /* messages enqueued and not yet reported */
    int sealed;     /* vg_kout_send() is done enqueueing */
    int failed;
    int timed_out;
    rd_kafka_resp_err_t err;
    struct vg_receipt *receipt; /* durable requests: where each message landed */
    int receipt_full;           /* more partitions than a receipt names */
    int waiting; /* on k's wait list, wake not yet called */
    vg_delivery_fn wake;
    void *opaque;
    struct vg_delivery *prev, *next;
};

struct vg_kout {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt[VG_TOPIC_COUNT];
    int64_t queue_max;
    atomic_llong queued; /* messages enqueued by us and not yet reported */
    atomic_ullong lost;
    atomic_int fatal;
    char fatal_reason[512]; /* written once, before fatal is set */

    pthread_mutex_t lock;
    struct vg_delivery *waiters; /* deliveries with a wake armed */

    pthread_t poller;
    atomic_int stop;
    int poller_running;

    atomic_llong ready_checked_ms;
    atomic_int ready_last;

    atomic_ullong failures_unlogged;
    int64_t failure_logged_ms; /* delivery reports only: one thread at a time */
};

static void settle(struct vg_kout *k, struct vg_delivery *d);
static void purge(struct vg_kout *k);

/* -- librdkafka callbacks (poll thread) ---------------------------------- */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct vg_kout *k = opaque;
    struct vg_delivery *d = m->_private;
    atomic_fetch_sub(&k->queued, 1);
    vg_histogram_observe(vg_stats.delivery_seconds,
                         (double)(vg_now_us() - d->enqueued_us) / 1e6);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (int t = 0; t < VG_TOPIC_COUNT; t++)
            if (m->rkt == k->rkt[t])
                vg_counter_add(d->accepted[t], 1);
    } else {
        /* A durable request's failure is counted with its 503; an
         * asynchronous one was answered already: the event is lost. */
        if (d->async) {
            vg_stats_reject("lost", 1);
            atomic_fetch_add(&k->lost, 1);
        }
        /* At most one line a second: a broker outage fails messages by the thousand. */
        atomic_fetch_add(&k->failures_unlogged, 1);
        int64_t now = vg_mono_ms();
        if (now - k->failure_logged_ms >= 1000) {
            k->failure_logged_ms = now;
            struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
            ctx.topic = rd_kafka_topic_name(m->rkt);
            ctx.partition = m->partition;
            ctx.tenant = d->tenant;
            ctx.error = rd_kafka_err2str(m->err);
            vg_logc(VG_LOG_WARN, &ctx, "%llu deliveries failed%s",
                    (unsigned long long)atomic_exchange(&k->failures_unlogged, 0),
                    d->async ? ", this one after an asynchronous answer: message lost" : "");
        }
    }
    pthread_mutex_lock(&k->lock);
    if (m->err) {
        if (!d->failed)
            d->err = m->err;
        d->failed = 1;
    } else if (d->receipt &&
               vg_receipt_add(d->receipt, rd_kafka_topic_name(m->rkt), m->partition, m->offset)) {
        d->receipt_full = 1;
    }
    d->pending--;
    if (d->pending == 0 && d->sealed)
        settle(k, d);
    pthread_mutex_unlock(&k->lock);
    vg_delivery_release(d);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct vg_kout *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[256];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof(why));
        if (!atomic_load(&k->fatal)) {
            snprintf(k->fatal_reason, sizeof(k->fatal_reason), "%s: %s", rd_kafka_err2name(orig),
                     why);
            atomic_store(&k->fatal, 1);
        }
        vg_error("kafka fatal error: %s: %s", rd_kafka_err2name(orig), why);
        return;
    }
    /* Informational: librdkafka retries by itself (STYLE.md). */
    vg_warn("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

/* -- waiting ------------------------------------------------------------- */

static void unlink_waiter(struct vg_kout *k, struct vg_delivery *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        k->waiters = d->next;
    if (d->next)
        d->next->prev = d->prev;
    d->prev = d->next = NULL;
    d->waiting = 0;
}

/* Under k->lock: d has nothing left to wait for; wake its waiter if any. */
static void settle(struct vg_kout *k, struct vg_delivery *d)
{
    if (d->waiting) {
        unlink_waiter(k, d);
        d->wake(d->opaque);
    }
}

static void expire(struct vg_kout *k, int64_t now_ms, int all)
{
    pthread_mutex_lock(&k->lock);
    struct vg_delivery *d = k->waiters, *next;
    for (; d; d = next) {
        next = d->next;
        if (all || d->deadline_ms <= now_ms) {
            d->timed_out = 1;
            unlink_waiter(k, d);
            d->wake(d->opaque);
        }
    }
    pthread_mutex_unlock(&k->lock);
}

static void *poll_main(void *arg)
{
    struct vg_kout *k = arg;
    while (!atomic_load(&k->stop)) {
        rd_kafka_poll(k->rk, POLL_MS);
        vg_gauge_set(vg_stats.queue_depth, rd_kafka_outq_len(k->rk));
        expire(k, vg_mono_ms(), 0);
        /* Readiness is refreshed here, not by /readyz: a metadata request
         * blocks up to READY_TIMEOUT_MS, which no HTTP thread may wait. The
         * deadlines above are settled first, so a down broker delays them
         * by at most that once a second. */
        if (vg_mono_ms() - atomic_load(&k->ready_checked_ms) >= READY_CACHE_MS) {
            atomic_store(&k->ready_last, vg_kafka_reachable(k->rk, READY_TIMEOUT_MS));
            atomic_store(&k->ready_checked_ms, vg_mono_ms());
            expire(k, vg_mono_ms(), 0);
        }
    }
    return NULL;
}

/* -- life cycle ---------------------------------------------------------- */

struct vg_kout *vg_kout_new(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    struct vg_kout *k = vg_xcalloc(1, sizeof(*k));
    pthread_mutex_init(&k->lock, NULL);
    k->queue_max = cfg->producer_queue_max_messages;
    atomic_store(&k->ready_checked_ms, -READY_CACHE_MS);
    k->failure_logged_ms = -1000;

    char linger[32], qmax[32];
    snprintf(linger, sizeof(linger), "%lld", (long long)cfg->producer_linger_ms);
    /* Our own count bounds the queue (see vg_kout_send); librdkafka's bound
     * sits above it so that it never refuses a message we let through. */
    snprintf(qmax, sizeof(qmax), "%lld",
             (long long)(cfg->producer_queue_max_messages + cfg->producer_max_batch_events + 1000));
    const char *const defaults[] = {"compression.type", "lz4", "linger.ms", linger,
                                    "queue.buffering.max.messages", qmax, NULL};
    const struct vg_kafka_producer_opts opts = {.client_id = "vigil-producer",
                                                .defaults = defaults,
                                                .on_delivery = dr_msg_cb,
                                                .on_error = error_cb,
                                                .opaque = k};
    k->rk = vg_kafka_producer_new(cfg, &opts, errstr, errstr_size);
    if (!k->rk)
        goto fail;
    const char *names[VG_TOPIC_COUNT] = {cfg->topic_events, cfg->topic_heartbeats};
    for (int t = 0; t < VG_TOPIC_COUNT; t++)
        k->rkt[t] = rd_kafka_topic_new(k->rk, names[t], NULL);
    if (pthread_create(&k->poller, NULL, poll_main, k)) {
        snprintf(errstr, errstr_size, "cannot start the Kafka poll thread");
        goto fail;
    }
    k->poller_running = 1;
    return k;
fail:
    vg_kout_free(k);
    return NULL;
}

static void stop_poller(struct vg_kout *k)
{
    if (!k->poller_running)
        return;
    atomic_store(&k->stop, 1);
    pthread_join(k->poller, NULL);
    k->poller_running = 0;
}

void vg_kout_free(struct vg_kout *k)
{
    if (!k)
        return;
    stop_poller(k);
    if (k->rk) {
        purge(k);
        for (int t = 0; t < VG_TOPIC_COUNT; t++)
            if (k->rkt[t])
                rd_kafka_topic_destroy(k->rkt[t]);
        rd_kafka_destroy(k->rk);
    }
    pthread_mutex_destroy(&k->lock);
    free(k);
}

/* Drops what is left; its delivery reports (errors) run now, freeing the
 * deliveries and counting what was lost. */
static void purge(struct vg_kout *k)
{
    if (rd_kafka_outq_len(k->rk) == 0)
        return;
    rd_kafka_purge(k->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    int64_t deadline = vg_mono_ms() + 2000;
    while (rd_kafka_outq_len(k->rk) > 0 && vg_mono_ms() < deadline)
        rd_kafka_poll(k->rk, 50);
}

int vg_kout_flush(struct vg_kout *k, int timeout_ms)
{
    stop_poller(k);
    rd_kafka_resp_err_t err = rd_kafka_flush(k->rk, timeout_ms);
    int left = rd_kafka_outq_len(k->rk);
    if (err)
        vg_warn("kafka flush: %s, %d messages left: purging them", rd_kafka_err2str(err), left);
    purge(k);
    vg_gauge_set(vg_stats.queue_depth, rd_kafka_outq_len(k->rk));
    return left;
}

struct rd_kafka_s *vg_kout_handle(struct vg_kout *k)
{
    return k->rk;
}

uint64_t vg_kout_lost(struct vg_kout *k)
{
    return atomic_load(&k->lost);
}

int vg_kout_fatal(struct vg_kout *k, char *errstr, size_t errstr_size)
{
    if (!atomic_load(&k->fatal))
        return 0;
    snprintf(errstr, errstr_size, "%s", k->fatal_reason);
    return 1;
}

int vg_kout_ready(struct vg_kout *k, char *reason, size_t reason_size)
{
    if (atomic_load(&k->fatal)) {
        snprintf(reason, reason_size, "kafka producer fatal error: %s", k->fatal_reason);
        return 0;
    }
    if (atomic_load(&k->ready_last))
        return 1;
    snprintf(reason, reason_size, "kafka metadata not reachable");
    return 0;
}

/* -- deliveries ---------------------------------------------------------- */

struct vg_delivery *vg_delivery_new(struct vg_kout *k, const char *tenant, int64_t deadline_ms,
                                    int async)
{
    static const char *const topic_label[VG_TOPIC_COUNT] = {"events", "heartbeats"};
    struct vg_delivery *d = vg_xcalloc(1, sizeof(*d));
    d->k = k;
    atomic_init(&d->refs, 1);
    snprintf(d->tenant, sizeof(d->tenant), "%s", tenant);
    d->async = async;
    d->deadline_ms = deadline_ms;
    if (!async)
        d->receipt = vg_xcalloc(1, sizeof(*d->receipt));
    for (int t = 0; t < VG_TOPIC_COUNT; t++)
        d->accepted[t] = vg_metric_series(vg_stats.accepted, d->tenant, topic_label[t]);
    return d;
}

void vg_delivery_release(struct vg_delivery *d)
{
    if (d && atomic_fetch_sub(&d->refs, 1) == 1) {
        free(d->receipt);
        free(d);
    }
}

/* Reserves n places in the local queue, all or none. */
static int reserve(struct vg_kout *k, long long n)
{
    long long cur = atomic_load(&k->queued);
    do {
        if (cur + n > k->queue_max)
            return VG_EFULL;
    } while (!atomic_compare_exchange_weak(&k->queued, &cur, cur + n));
    return 0;
}

/* Marks d as complete: nothing more will be enqueued on it. */
static int seal(struct vg_kout *k, struct vg_delivery *d, size_t unsent, int rc)
{
    pthread_mutex_lock(&k->lock);
    d->pending -= unsent;
    d->sealed = 1;
    if (rc && !d->failed) {
        d->failed = 1;
        d->err = rc == VG_EFULL ? RD_KAFKA_RESP_ERR__QUEUE_FULL : RD_KAFKA_RESP_ERR__FAIL;
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

int vg_kout_send(struct vg_kout *k, struct vg_delivery *d, const struct vg_outbox *o)
{
    size_t n = o->n, i = 0;
    int rc = 0;
    if (atomic_load(&k->fatal))
        return seal(k, d, 0, VG_EKAFKA);
    if (n && reserve(k, (long long)n))
        return seal(k, d, 0, VG_EFULL);
    d->enqueued_us = vg_now_us();
    /* Every report may arrive before this loop ends: count them all first. */
    d->pending = n;
    atomic_fetch_add(&d->refs, (int)n);
    for (; i < n; i++) {
        const struct vg_outmsg *m = &o->msgs[i];
        rd_kafka_headers_t *h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, VG_HEADER_TENANT, -1, d->tenant, -1);
        rd_kafka_header_add(h, VG_HEADER_SCHEMA, -1, vg_envelope_schema(m->topic), -1);
        rd_kafka_resp_err_t err;
        for (;;) {
            err = rd_kafka_producev(
                k->rk, RD_KAFKA_V_RKT(k->rkt[m->topic]),
                RD_KAFKA_V_KEY(vg_outmsg_key(o, m), m->key_len),
                RD_KAFKA_V_VALUE((void *)vg_outmsg_value(o, m), m->val_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                RD_KAFKA_V_OPAQUE(d), RD_KAFKA_V_END);
            /* Our reservation makes this rare: librdkafka's bound is higher. */
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || vg_mono_ms() >= d->deadline_ms)
                break;
            vg_sleep_ms(1, NULL);
        }
        if (err) {
            rd_kafka_headers_destroy(h);
            struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
            ctx.topic = rd_kafka_topic_name(k->rkt[m->topic]);
            ctx.tenant = d->tenant;
            ctx.error = rd_kafka_err2str(err);
            vg_logc(VG_LOG_WARN, &ctx, "produce refused after %zu of %zu messages", i, n);
            rc = err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? VG_EFULL : VG_EKAFKA;
            break;
        }
    }
    size_t unsent = n - i;
    if (unsent) {
        atomic_fetch_sub(&k->queued, (long long)unsent);
        atomic_fetch_sub(&d->refs, (int)unsent);
    }
    return seal(k, d, unsent, rc);
}

int vg_delivery_wait(struct vg_delivery *d, vg_delivery_fn arm, vg_delivery_fn wake,
                     void *opaque)
{
    struct vg_kout *k = d->k;
    pthread_mutex_lock(&k->lock);
    if ((d->pending == 0 && d->sealed) || d->timed_out) {
        pthread_mutex_unlock(&k->lock);
        return 1;
    }
    d->wake = wake;
    d->opaque = opaque;
    d->waiting = 1;
    d->prev = NULL;
    d->next = k->waiters;
    if (k->waiters)
        k->waiters->prev = d;
    k->waiters = d;
    arm(opaque);
    pthread_mutex_unlock(&k->lock);
    return 0;
}

enum vg_delivery_result vg_delivery_result(struct vg_delivery *d, char *err, size_t err_size)
{
    struct vg_kout *k = d->k;
    enum vg_delivery_result r;
    pthread_mutex_lock(&k->lock);
    if (d->failed)
        r = VG_DELIVERY_FAILED;
    else if (d->pending == 0 && d->sealed)
        r = VG_DELIVERY_OK;
    else if (d->timed_out)
        r = VG_DELIVERY_TIMEOUT;
    else
        r = VG_DELIVERY_PENDING;
    if (err && err_size)
        snprintf(err, err_size, "%s", d->failed ? rd_kafka_err2str(d->err) : "");
    pthread_mutex_unlock(&k->lock);
    return r;
}

int vg_delivery_receipt(struct vg_delivery *d, char *out, size_t out_size)
{
    struct vg_kout *k = d->k;
    int rc = VG_EINVAL;
    pthread_mutex_lock(&k->lock);
    if (d->receipt && !d->receipt_full && !d->failed && d->pending == 0 && d->sealed)
        rc = vg_receipt_encode(d->receipt, out, out_size);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

void vg_kout_wake_all(struct vg_kout *k)
{
    expire(k, 0, 1);
}
