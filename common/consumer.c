#include "consumer.h"

#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "offsets.h"
#include "util.h"

static void assigned_clear(struct vg_consumer *c)
{
    for (size_t i = 0; i < c->nassigned; i++)
        free(c->assigned[i].topic);
    free(c->assigned);
    c->assigned = NULL;
    c->nassigned = 0;
}

static struct vg_assigned *assigned_find(const struct vg_consumer *c, const char *topic,
                                         int32_t partition)
{
    for (size_t i = 0; i < c->nassigned; i++)
        if (c->assigned[i].partition == partition && !strcmp(c->assigned[i].topic, topic))
            return &c->assigned[i];
    return NULL;
}

/* Reads stored offsets for parts, retrying while the database is away. */
static int load_offsets(struct vg_consumer *c, rd_kafka_topic_partition_list_t *parts)
{
    for (;;) {
        char err[512];
        if (vg_pg_ensure(c->pg, c->stop))
            return VG_ETIMEOUT;
        int rc = vg_offsets_load(c->pg->conn, c->group, parts, err, sizeof(err));
        if (rc == 0)
            return 0;
        vg_warn("cannot read stored offsets, retrying: %s", err);
        if (rc != VG_ETRANSIENT)
            vg_sleep_ms(vg_backoff_next(&c->pg->backoff), c->stop);
        else
            vg_sleep_ms(200, c->stop);
        if (*c->stop)
            return VG_ETIMEOUT;
    }
}

/* rd_kafka_assign(), its failure recorded and logged (the worker stops). */
static void assign(struct vg_consumer *c, rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    vg_error("cannot %s partitions: %s; stopping", parts ? "assign" : "unassign",
             rd_kafka_err2str(e));
    assigned_clear(c);
    c->assign_error = e;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct vg_consumer *c = opaque;
    c->generation++;
    if (c->rebalances)
        vg_counter_add(vg_metric_series(c->rebalances, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                                                           ? "assign"
                                                           : "revoke"),
                       1);
    if (c->on_rebalance)
        c->on_rebalance(c);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (load_offsets(c, parts)) {
            /* Stopping: take nothing, so nothing can be half-done. */
            assign(c, rk, NULL);
            return;
        }
        assigned_clear(c);
        c->assigned = vg_xcalloc((size_t)parts->cnt + 1, sizeof(*c->assigned));
        for (int i = 0; i < parts->cnt; i++) {
            struct vg_assigned *a = &c->assigned[c->nassigned++];
            a->topic = vg_xstrdup(parts->elems[i].topic);
            a->partition = parts->elems[i].partition;
            a->stored = parts->elems[i].offset >= 0 ? parts->elems[i].offset : -1;
        }
        assign(c, rk, parts);
        vg_info("assigned %d partitions (generation %llu)", parts->cnt,
                (unsigned long long)c->generation);
    } else {
        assign(c, rk, NULL);
        assigned_clear(c);
        vg_info("partitions revoked (generation %llu): %s", (unsigned long long)c->generation,
                rd_kafka_err2str(err));
    }
    if (c->assigned_gauge)
        vg_gauge_set(c->assigned_gauge, (double)c->nassigned);
}

/* The rebalance protocols this consumer cannot follow (it assigns whole
 * assignments with rd_kafka_assign). */
static int incremental_protocol(const struct vg_config *cfg, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < cfg->nkafka_props; i++) {
        const struct vg_kafka_prop *p = &cfg->kafka_props[i];
        if ((!strcmp(p->name, "partition.assignment.strategy") && strstr(p->value, "cooperative")) ||
            (!strcmp(p->name, "group.protocol") && strcmp(p->value, "classic"))) {
            snprintf(errstr, errstr_size,
                     "kafka.properties: %s=%s asks for incremental rebalancing, which Vigil's "
                     "consumers do not support: use range or roundrobin with the classic protocol",
                     p->name, p->value);
            return 1;
        }
    }
    return 0;
}

int vg_consumer_open(struct vg_consumer *c, const struct vg_config *cfg,
                     const struct vg_consumer_opts *o, struct vg_pg *pg,
                     const volatile sig_atomic_t *stop, char *errstr, size_t errstr_size)
{
    memset(c, 0, sizeof(*c));
    if (incremental_protocol(cfg, errstr, errstr_size))
        return VG_ECONFIG;
    c->cfg = cfg;
    c->group = vg_xstrdup(o->group);
    c->assigned_gauge = o->assigned_gauge;
    c->rebalances = o->rebalances;
    c->on_rebalance = o->on_rebalance;
    c->pg = pg;
    c->stop = stop;
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, o->client_id, errstr, errstr_size);
    if (!conf)
        return VG_EKAFKA;
    if (vg_kafka_set(conf, "group.id", o->group, errstr, errstr_size) ||
        vg_kafka_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        vg_kafka_set(conf, "enable.auto.offset.store", "false", errstr, errstr_size) ||
        vg_kafka_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size) ||
        vg_kafka_set(conf, "enable.partition.eof", "false", errstr, errstr_size) ||
        vg_kafka_set(conf, "session.timeout.ms", "10000", errstr, errstr_size) ||
        vg_kafka_set(conf, "heartbeat.interval.ms", "1000", errstr, errstr_size) ||
        /* The longest a rebalance can wait for this member: a batch gives
         * the loop back after VG_BATCH_HOLD_MS, so a minute means stuck. */
        vg_kafka_set(conf, "max.poll.interval.ms", "60000", errstr, errstr_size) ||
        vg_kafka_set(conf, "fetch.wait.max.ms", "50", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return VG_EKAFKA;
    }
    /* librdkafka pre-fetches up to 64 MiB by default, most of a worker's
     * memory on a topic with a backlog; a few MiB keep a batch of thousands
     * of messages fed (kafka.properties may say otherwise). */
    if (!vg_kafka_prop_given(cfg, "queued.max.messages.kbytes") &&
        vg_kafka_set(conf, "queued.max.messages.kbytes", "4096", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return VG_EKAFKA;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        return VG_EKAFKA;
    }
    conf = NULL; /* owned by rk */
    rd_kafka_poll_set_consumer(c->rk);

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)o->ntopics);
    for (size_t i = 0; i < o->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, o->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(e));
        return VG_EKAFKA;
    }
    return 0;
}

int vg_consumer_stale(const struct vg_consumer *c, const rd_kafka_message_t *rkm)
{
    const struct vg_assigned *a = assigned_find(c, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    if (!a)
        return 1; /* not ours any more */
    return a->stored >= 0 && rkm->offset < a->stored;
}

/* A message is stale while its offset is below the stored one. If the
 * stored offset lies past the end of the log (the topic was deleted and made
 * again, or the database's offsets belong to another Kafka cluster), every
 * message up to it is skipped as processed, which is silent loss: said
 * once per partition and assignment, with the way out. */
static void say_past_end(struct vg_consumer *c, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    struct vg_assigned *a = assigned_find(c, topic, rkm->partition);
    int64_t lo = -1, hi = -1;
    if (!a || a->past_end_said ||
        rd_kafka_get_watermark_offsets(c->rk, topic, rkm->partition, &lo, &hi) ||
        hi < 0 || hi >= a->stored)
        return;
    a->past_end_said = 1;
    vg_error("%s/%d: the stored offset %lld (ops.consumer_offsets, group %s) lies past the end "
             "of the log (%lld): the topic was made again, or the database's offsets belong to "
             "another Kafka cluster; messages below %lld are skipped as processed. To read "
             "them: vigilctl offsets reset --to-earliest --execute, then restart the consumers",
             topic, (int)rkm->partition, (long long)a->stored, c->group, (long long)hi,
             (long long)a->stored);
}

int vg_consumer_gather(struct vg_consumer *c, struct vg_batch *b, int64_t max_ms,
                       vg_msg_kind_fn kind, const void *opaque)
{
    int timeout = 100;
    if (b->n > 0)
        timeout = (int)VG_MAX(0, VG_MIN(b->opened_ms + max_ms - vg_mono_ms(), 100));
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, timeout);
    /* A rebalance inside poll invalidates what was gathered before it. */
    if (b->n > 0 && b->generation != c->generation)
        vg_batch_clear(b);
    if (rkm && rkm->err) {
        if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            vg_warn("consumer: %s", rd_kafka_message_errstr(rkm));
        rd_kafka_message_destroy(rkm);
    } else if (rkm && vg_consumer_stale(c, rkm)) {
        say_past_end(c, rkm);
        rd_kafka_message_destroy(rkm);
    } else if (rkm) {
        if (b->n == 0)
            b->generation = c->generation;
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        if (vg_batch_add(b, rkm, kind ? kind(topic, opaque) : VG_MSG_EVENT))
            return 1;
    }
    return b->n > 0 && vg_mono_ms() - b->opened_ms >= max_ms;
}

/* A batch must start where the stored offset says: our topics have no
 * compaction and no transactions, so their offsets have no holes, and a
 * batch that starts later would commit past messages never processed (a
 * seek that did not take). The one hole allowed is retention's: messages
 * deleted before they were read are gone, and that is said once. */
static int starts_at_stored(const struct vg_consumer *c, const struct vg_part *p, int64_t stored)
{
    if (stored < 0 || p->first <= stored)
        return 1;
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi, 5000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        lo > stored && p->first <= lo) {
        vg_warn("%s/%d: offsets %lld to %lld were deleted by retention before they were read",
                p->topic, (int)p->partition, (long long)stored, (long long)lo - 1);
        return 1;
    }
    vg_warn("%s/%d: a batch starting at offset %lld, past the stored %lld: not committed, "
            "read again from the stored offset",
            p->topic, (int)p->partition, (long long)p->first, (long long)stored);
    return 0;
}

int vg_consumer_expect(const struct vg_consumer *c, struct vg_batch *b)
{
    for (size_t i = 0; i < b->nparts; i++) {
        const struct vg_assigned *a = assigned_find(c, b->parts[i].topic, b->parts[i].partition);
        if (!a || !starts_at_stored(c, &b->parts[i], a->stored))
            return VG_ECONFLICT;
        b->parts[i].expected = a->stored;
        /* From the last fetch response: no request to the broker. */
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(c->rk, b->parts[i].topic, b->parts[i].partition, &lo,
                                           &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0)
            b->parts[i].high = hi;
    }
    return 0;
}

void vg_consumer_committed(struct vg_consumer *c, const struct vg_batch *b)
{
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)b->nparts);
    for (size_t i = 0; i < b->nparts; i++) {
        struct vg_assigned *a = assigned_find(c, b->parts[i].topic, b->parts[i].partition);
        if (a)
            a->stored = b->parts[i].next;
        rd_kafka_topic_partition_list_add(offs, b->parts[i].topic, b->parts[i].partition)->offset =
            b->parts[i].next;
    }
    rd_kafka_commit(c->rk, offs, 1); /* for lag tools only; failures do not matter */
    rd_kafka_topic_partition_list_destroy(offs);
}

void vg_consumer_rewind(struct vg_consumer *c, const struct vg_batch *b)
{
    c->generation++;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)b->nparts);
    for (size_t i = 0; i < b->nparts; i++)
        rd_kafka_topic_partition_list_add(parts, b->parts[i].topic, b->parts[i].partition);
    if (load_offsets(c, parts) == 0) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            struct vg_assigned *a = assigned_find(c, tp->topic, tp->partition);
            if (!a)
                continue;
            a->stored = tp->offset >= 0 ? tp->offset : -1;
            rd_kafka_topic_t *rkt = rd_kafka_topic_new(c->rk, tp->topic, NULL);
            rd_kafka_resp_err_t e = rd_kafka_seek(rkt, tp->partition, tp->offset, 5000);
            if (e)
                vg_warn("seek %s/%d: %s", tp->topic, (int)tp->partition, rd_kafka_err2str(e));
            rd_kafka_topic_destroy(rkt);
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void vg_consumer_seek_back(struct vg_consumer *c, const struct vg_batch *b)
{
    c->generation++;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new((int)b->nparts);
    for (size_t i = 0; i < b->nparts; i++)
        rd_kafka_topic_partition_list_add(parts, b->parts[i].topic, b->parts[i].partition)
            ->offset = b->parts[i].first;
    /* Asynchronous (no timeout): what was fetched past these offsets is
     * discarded by librdkafka, errors come back on the consumer queue. */
    rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, parts, 0);
    if (e) {
        vg_warn("seek back: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    rd_kafka_topic_partition_list_destroy(parts);
}

void vg_consumer_close(struct vg_consumer *c)
{
    if (c->rk) {
        rd_kafka_consumer_close(c->rk);
        rd_kafka_destroy(c->rk);
    }
    assigned_clear(c);
    free(c->group);
    memset(c, 0, sizeof(*c));
}
