#include "dlq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "kafka.h"
#include "log.h"
#include "stats.h"
#include "util.h"

struct vg_dlq {
    rd_kafka_t *rk;
    const struct vg_config *cfg;
    int pending; /* messages sent and not yet reported */
    int failed;  /* of those, how many failed */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct vg_dlq *d = opaque;
    d->pending--;
    if (m->err) {
        d->failed++;
        vg_warn("worker output to %s not delivered: %s", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
    }
}

struct vg_dlq *vg_dlq_new(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"linger.ms", "5", NULL};
    char id[160];
    snprintf(id, sizeof(id), "%s-out", cfg->worker_id);
    struct vg_dlq *d = vg_xcalloc(1, sizeof(*d));
    d->cfg = cfg;
    const struct vg_kafka_producer_opts opts = {
        .client_id = id,
        .message_timeout_ms = 10000,
        .defaults = defaults,
        .on_delivery = on_delivery,
        .opaque = d,
    };
    d->rk = vg_kafka_producer_new(cfg, &opts, errstr, errstr_size);
    if (!d->rk) {
        free(d);
        return NULL;
    }
    return d;
}

/* Polls until every sent message is reported or the deadline passes. */
static int wait_all(struct vg_dlq *d, int timeout_ms)
{
    int64_t deadline = vg_mono_ms() + timeout_ms;
    while (d->pending > 0 && vg_mono_ms() < deadline)
        rd_kafka_poll(d->rk, 20);
    int rc = d->pending > 0 || d->failed > 0 ? VG_ETRANSIENT : 0;
    if (d->pending > 0)
        rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (d->pending > 0)
        rd_kafka_poll(d->rk, 20); /* purged messages are reported as failed */
    d->failed = 0;
    return rc;
}

int vg_dlq_send_refused(struct vg_dlq *d, struct vg_batch *b, int timeout_ms)
{
    int any = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct vg_msg *m = &b->msgs[i];
        if (!m->refused || m->dead_sent)
            continue;
        const rd_kafka_message_t *o = m->rkm;
        char part[16], off[24], at[VG_TS_LEN];
        snprintf(part, sizeof(part), "%d", (int)o->partition);
        snprintf(off, sizeof(off), "%lld", (long long)o->offset);
        vg_time_format(vg_now_us(), at);
        const char *topic = rd_kafka_topic_name(o->rkt);
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(
                d->rk, RD_KAFKA_V_TOPIC(d->cfg->topic_dlq), RD_KAFKA_V_KEY(o->key, o->key_len),
                RD_KAFKA_V_VALUE(o->payload, o->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER(VG_HEADER_ERROR, m->why.error, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_STAGE, m->why.stage, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_TOPIC, topic, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_PARTITION, part, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_OFFSET, off, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_WORKER, d->cfg->worker_id, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_REFUSED_AT, at, -1), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(d->rk, 50);
        }
        if (e) {
            vg_warn("cannot queue a dead letter: %s", rd_kafka_err2str(e));
            wait_all(d, timeout_ms);
            return VG_ETRANSIENT;
        }
        d->pending++;
        any = 1;
        vg_counter_add(vg_metric_series(vg_worker_stats.dead_letters, m->why.stage), 1);
    }
    if (!any)
        return 0;
    int rc = wait_all(d, timeout_ms);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        if (b->msgs[i].refused)
            b->msgs[i].dead_sent = 1;
    return rc;
}

int vg_dlq_queue(struct vg_dlq *d, const char *topic, const char *key, const char *value,
                 size_t len)
{
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(d->rk, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                  RD_KAFKA_V_VALUE((void *)value, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(d->rk, 50);
    if (e) {
        vg_warn("cannot queue a message for %s: %s", topic, rd_kafka_err2str(e));
        return VG_ETRANSIENT;
    }
    d->pending++;
    return 0;
}

int vg_dlq_wait(struct vg_dlq *d, int timeout_ms)
{
    return wait_all(d, timeout_ms);
}

rd_kafka_t *vg_dlq_producer(struct vg_dlq *d)
{
    return d->rk;
}

void vg_dlq_free(struct vg_dlq *d)
{
    if (!d)
        return;
    rd_kafka_flush(d->rk, 5000);
    if (rd_kafka_outq_len(d->rk) > 0)
        vg_warn("%d worker outputs not delivered at exit", rd_kafka_outq_len(d->rk));
    rd_kafka_destroy(d->rk);
    free(d);
}
