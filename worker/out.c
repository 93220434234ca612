#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "kafka.h"
#include "log.h"
#include "stats.h"
#include "util.h"

struct vg_out {
    rd_kafka_t *rk;
    const struct vg_config *cfg;
    int pending; /* messages sent and not yet reported */
    int failed;  /* of those, how many failed */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct vg_out *o = opaque;
    o->pending--;
    if (m->err) {
        o->failed++;
        vg_counter_add(
            vg_metric_series(vg_worker_stats.produce_failures, rd_kafka_topic_name(m->rkt)), 1);
        vg_warn("worker output to %s not delivered: %s", rd_kafka_topic_name(m->rkt),
                rd_kafka_err2str(m->err));
    }
}

struct vg_out *vg_out_new(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    static const char *const defaults[] = {"linger.ms", "5", NULL};
    char id[160];
    snprintf(id, sizeof(id), "%s-out", cfg->worker_id);
    struct vg_out *o = vg_xcalloc(1, sizeof(*o));
    o->cfg = cfg;
    /* Every delivery is reported within the wait (wait_all() purges the rest). */
    const struct vg_kafka_producer_opts opts = {
        .client_id = id,
        .message_timeout_ms = (int)cfg->worker_kafka_ack_timeout_ms,
        .defaults = defaults,
        .on_delivery = on_delivery,
        .opaque = o,
    };
    o->rk = vg_kafka_producer_new(cfg, &opts, errstr, errstr_size);
    if (!o->rk) {
        free(o);
        return NULL;
    }
    return o;
}

/* Polls until every sent message is reported or worker.kafka_ack_timeout_ms
 * passes; then purges what is left. */
static int wait_all(struct vg_out *o)
{
    int64_t deadline = vg_mono_ms() + o->cfg->worker_kafka_ack_timeout_ms;
    while (o->pending > 0 && vg_mono_ms() < deadline)
        rd_kafka_poll(o->rk, 20);
    int rc = o->pending > 0 || o->failed > 0 ? VG_ETRANSIENT : 0;
    if (o->pending > 0)
        rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    while (o->pending > 0)
        rd_kafka_poll(o->rk, 20); /* purged messages are reported as failed */
    o->failed = 0;
    return rc;
}

int vg_out_send_refused(struct vg_out *o, struct vg_batch *b)
{
    int any = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct vg_msg *m = &b->msgs[i];
        if (!m->refused || m->dead_sent)
            continue;
        const rd_kafka_message_t *k = m->rkm;
        char part[16], off[24], at[VG_TS_LEN];
        snprintf(part, sizeof(part), "%d", (int)k->partition);
        snprintf(off, sizeof(off), "%lld", (long long)k->offset);
        vg_time_format(vg_now_us(), at);
        const char *topic = rd_kafka_topic_name(k->rkt);
        rd_kafka_resp_err_t e;
        for (;;) {
            e = rd_kafka_producev(
                o->rk, RD_KAFKA_V_TOPIC(o->cfg->topic_dlq), RD_KAFKA_V_KEY(k->key, k->key_len),
                RD_KAFKA_V_VALUE(k->payload, k->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADER(VG_HEADER_ERROR, m->why.error, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_STAGE, m->why.stage, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_TOPIC, topic, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_PARTITION, part, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_OFFSET, off, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_WORKER, o->cfg->worker_id, -1),
                RD_KAFKA_V_HEADER(VG_HEADER_REFUSED_AT, at, -1), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(o->rk, 50);
        }
        if (e) {
            vg_counter_add(
                vg_metric_series(vg_worker_stats.produce_failures, o->cfg->topic_dlq), 1);
            vg_warn("cannot queue a dead letter: %s", rd_kafka_err2str(e));
            wait_all(o); /* the queued ones go, the failure stands */
            return VG_ETRANSIENT;
        }
        o->pending++;
        any = 1;
        vg_counter_add(vg_metric_series(vg_worker_stats.dead_letters, m->why.stage), 1);
    }
    if (!any)
        return 0;
    int rc = wait_all(o);
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        if (b->msgs[i].refused)
            b->msgs[i].dead_sent = 1;
    return rc;
}

int vg_out_queue(struct vg_out *o, const char *topic, const char *key, const char *value,
                 size_t len)
{
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(o->rk, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                  RD_KAFKA_V_VALUE((void *)value, len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(o->rk, 50);
    if (e) {
        vg_counter_add(vg_metric_series(vg_worker_stats.produce_failures, topic), 1);
        vg_warn("cannot queue a message for %s: %s", topic, rd_kafka_err2str(e));
        return VG_ETRANSIENT;
    }
    o->pending++;
    return 0;
}

int vg_out_wait(struct vg_out *o)
{
    return wait_all(o);
}

void vg_out_free(struct vg_out *o)
{
    if (!o)
        return;
    rd_kafka_flush(o->rk, 5000);
    if (rd_kafka_outq_len(o->rk) > 0)
        vg_warn("%d worker outputs not delivered at exit", rd_kafka_outq_len(o->rk));
    rd_kafka_destroy(o->rk);
    free(o);
}
