#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "util.h"

int vg_kafka_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr,
                 size_t errstr_size)
{
    if (rd_kafka_conf_set(conf, name, value, errstr, errstr_size) != RD_KAFKA_CONF_OK)
        return VG_EKAFKA;
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0-3 error, 4 warning, 5-6 info, 7 debug */
    int ours = level <= 3 ? VG_LOG_ERROR : level == 4 ? VG_LOG_WARN
               : level <= 6                           ? VG_LOG_INFO
                                                      : VG_LOG_DEBUG;
    vg_log(ours, "librdkafka %s: %s", fac, buf);
}

rd_kafka_conf_t *vg_kafka_conf(const struct vg_config *cfg, const char *client_id, char *errstr,
                               size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (vg_kafka_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, errstr_size) ||
        vg_kafka_set(conf, "client.id", client_id, errstr, errstr_size))
        goto fail;
    for (size_t i = 0; i < cfg->nkafka_props; i++) {
        const struct vg_kafka_prop *p = &cfg->kafka_props[i];
        char why[256];
        if (vg_kafka_set(conf, p->name, p->value, why, sizeof(why))) {
            /* librdkafka quotes the value, which may be a password */
            snprintf(errstr, errstr_size, "kafka.properties: %s: %s", p->name,
                     *p->value && strstr(why, p->value) ? "invalid value (not shown)" : why);
            goto fail;
        }
    }
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

int vg_kafka_prop_given(const struct vg_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nkafka_props; i++)
        if (!strcmp(cfg->kafka_props[i].name, name))
            return 1;
    return 0;
}

rd_kafka_t *vg_kafka_producer_new(const struct vg_config *cfg,
                                  const struct vg_kafka_producer_opts *o, char *errstr,
                                  size_t errstr_size)
{
    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, o->client_id, errstr, errstr_size);
    if (!conf)
        return NULL;
    char timeout[24], interval[24];
    snprintf(timeout, sizeof(timeout), "%d", o->message_timeout_ms);
    snprintf(interval, sizeof(interval), "%d", o->stats_interval_ms);
    int rc = vg_kafka_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
             vg_kafka_set(conf, "acks", "all", errstr, errstr_size) ||
             (o->message_timeout_ms > 0 &&
              vg_kafka_set(conf, "message.timeout.ms", timeout, errstr, errstr_size)) ||
             (o->on_stats &&
              vg_kafka_set(conf, "statistics.interval.ms", interval, errstr, errstr_size));
    for (const char *const *d = o->defaults; rc == 0 && d && d[0]; d += 2)
        if (!vg_kafka_prop_given(cfg, d[0]))
            rc = vg_kafka_set(conf, d[0], d[1], errstr, errstr_size);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (o->on_delivery)
        rd_kafka_conf_set_dr_msg_cb(conf, o->on_delivery);
    if (o->on_error)
        rd_kafka_conf_set_error_cb(conf, o->on_error);
    if (o->on_stats)
        rd_kafka_conf_set_stats_cb(conf, o->on_stats);
    rd_kafka_conf_set_opaque(conf, o->opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf); /* rd_kafka_new() takes it only on success */
    return rk;
}

int vg_kafka_reachable(rd_kafka_t *rk, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms);
    if (md)
        rd_kafka_metadata_destroy(md);
    return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

int vg_kafka_min_insync(int64_t replication_factor)
{
    return replication_factor >= 3 ? 2 : 0;
}

int vg_kafka_create_topics(const struct vg_config *cfg, int timeout_ms, int *created,
                           char *errstr, size_t errstr_size)
{
    const struct {
        const char *name;
        int64_t partitions;
    } topics[] = {
        {cfg->topic_events, cfg->partitions_events},
        {cfg->topic_heartbeats, cfg->partitions_heartbeats},
        {cfg->topic_commands, cfg->partitions_commands},
        {cfg->topic_summaries, cfg->partitions_summaries},
        {cfg->topic_dlq, cfg->partitions_dlq},
    };
    enum { N = VG_ARRAY_LEN(topics) };
    int rc = 0;
    *created = 0;

    rd_kafka_conf_t *conf = vg_kafka_conf(cfg, "vigil-admin", errstr, errstr_size);
    if (!conf)
        return VG_EKAFKA;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return VG_EKAFKA;
    }
    conf = NULL; /* owned by rk now */

    rd_kafka_NewTopic_t *nt[N];
    char min_insync[16];
    snprintf(min_insync, sizeof(min_insync), "%d", vg_kafka_min_insync(cfg->replication_factor));
    for (size_t i = 0; i < N; i++) {
        char why[256];
        nt[i] = rd_kafka_NewTopic_new(topics[i].name, (int)topics[i].partitions,
                                      (int)cfg->replication_factor, why, sizeof(why));
        if (nt[i] && vg_kafka_min_insync(cfg->replication_factor) &&
            rd_kafka_NewTopic_set_config(nt[i], "min.insync.replicas", min_insync)) {
            snprintf(why, sizeof(why), "cannot set min.insync.replicas");
            rd_kafka_NewTopic_destroy(nt[i]);
            nt[i] = NULL;
        }
        if (!nt[i]) {
            snprintf(errstr, errstr_size, "topic %s: %s", topics[i].name, why);
            for (size_t j = 0; j < i; j++)
                rd_kafka_NewTopic_destroy(nt[j]);
            rd_kafka_destroy(rk);
            return VG_EKAFKA;
        }
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, NULL, 0);
    rd_kafka_CreateTopics(rk, nt, N, opt, q);

    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    if (!ev) {
        snprintf(errstr, errstr_size, "no answer to CreateTopics within %d ms", timeout_ms);
        rc = VG_EKAFKA;
    } else if (rd_kafka_event_error(ev)) {
        snprintf(errstr, errstr_size, "CreateTopics: %s", rd_kafka_event_error_string(ev));
        rc = VG_EKAFKA;
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
                (*created)++;
            else if (e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
                snprintf(errstr, errstr_size, "topic %s: %s", rd_kafka_topic_result_name(res[i]),
                         rd_kafka_topic_result_error_string(res[i]));
                rc = VG_EKAFKA;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    for (size_t i = 0; i < N; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    rd_kafka_destroy(rk);
    return rc;
}
