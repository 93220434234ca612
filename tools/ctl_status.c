/*
 * vigilctl status: lag per partition (Kafka's high watermark against the
 * offsets stored in PostgreSQL), rows per layer, the last command runs and
 * the size of the DLQ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "kafka.h"
#include "pg.h"
#include "util.h"

PGconn *vg_ctl_db(struct ctl *c)
{
    PGconn *db = PQconnectdb(c->cfg->database_url);
    if (PQstatus(db) != CONNECTION_OK) {
        char err[768];
        vg_pg_connect_error(c->cfg->database_url, db, err, sizeof(err));
        fprintf(stderr, "vigilctl: %s\n", err);
        PQfinish(db);
        return NULL;
    }
    return db;
}

rd_kafka_t *vg_ctl_kafka(struct ctl *c, rd_kafka_type_t type)
{
    char err[512];
    rd_kafka_t *rk = NULL;
    if (type == RD_KAFKA_PRODUCER) {
        const struct vg_kafka_producer_opts opts = {.client_id = "vigilctl"};
        rk = vg_kafka_producer_new(c->cfg, &opts, err, sizeof(err));
    } else {
        rd_kafka_conf_t *conf = vg_kafka_conf(c->cfg, "vigilctl", err, sizeof(err));
        if (conf && !vg_kafka_set(conf, "group.id", "vigilctl", err, sizeof(err)) &&
            !vg_kafka_set(conf, "enable.auto.commit", "false", err, sizeof(err)))
            rk = rd_kafka_new(type, conf, err, sizeof(err));
        if (conf && !rk)
            rd_kafka_conf_destroy(conf); /* rd_kafka_new() takes it only on success */
    }
    if (!rk)
        fprintf(stderr, "vigilctl: %s\n", err);
    return rk;
}

int vg_ctl_report(struct ctl *c, const char *key, const char *title, const char *sql,
                  int nparams, const char *const *params)
{
    PGconn *db = vg_ctl_db(c);
    if (!db)
        return 1;
    int rc = vg_ctl_print_query(c, db, key, title, sql, nparams, params);
    PQfinish(db);
    return rc;
}

static long long stored_offset(PGconn *db, const char *group, const char *topic, int partition)
{
    char part[16];
    snprintf(part, sizeof(part), "%d", partition);
    const char *p[3] = {group, topic, part};
    PGresult *r = PQexecParams(db,
                               "SELECT next_offset FROM ops.consumer_offsets WHERE "
                               "consumer_group = $1 AND topic = $2 AND partition = $3",
                               3, NULL, p, NULL, NULL, 0);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return v;
}

/* Partition count of a topic, or -1. */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

int vg_ctl_status(struct ctl *c)
{
    PGconn *db = vg_ctl_db(c);
    if (!db)
        return 1;
    rd_kafka_t *rk = vg_ctl_kafka(c, RD_KAFKA_PRODUCER);
    if (!rk) {
        PQfinish(db);
        return 1;
    }
    const char *topics[] = {c->cfg->topic_events, c->cfg->topic_heartbeats, c->cfg->topic_commands};
    if (!c->json) {
        printf("Consumer lag (group %s; stored offsets in ops.consumer_offsets)\n",
               c->cfg->worker_group);
        printf("  %-20s %9s %12s %12s %10s\n", "topic", "partition", "high", "stored", "lag");
    }
    json_t *lag_rows = json_array();
    long long total = 0;
    int rc = 0;
    for (size_t t = 0; t < VG_ARRAY_LEN(topics); t++) {
        int n = partitions_of(rk, topics[t]);
        if (n < 0) {
            fprintf(c->json ? stderr : stdout,
                    "  %-20s (no metadata: is Kafka up and the topic created?)\n", topics[t]);
            rc = 1;
            continue;
        }
        for (int p = 0; p < n; p++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 10000)) {
                fprintf(c->json ? stderr : stdout, "  %-20s %9d %12s\n", topics[t], p, "?");
                rc = 1;
                continue;
            }
            long long stored = stored_offset(db, c->cfg->worker_group, topics[t], p);
            long long lag = hi - (stored >= 0 ? stored : lo);
            char shown[24] = "-";
            if (stored >= 0)
                snprintf(shown, sizeof(shown), "%lld", stored);
            total += lag;
            if (!c->json)
                printf("  %-20s %9d %12lld %12s %10lld\n", topics[t], p, (long long)hi, shown,
                       lag);
            json_array_append_new(lag_rows,
                                  json_pack("{s:s, s:i, s:I, s:o, s:I}", "topic", topics[t],
                                            "partition", p, "high", (json_int_t)hi, "stored",
                                            stored >= 0 ? json_integer(stored) : json_null(),
                                            "lag", (json_int_t)lag));
        }
    }
    if (!c->json)
        printf("  %-20s %9s %12s %12s %10lld\n\n", "total", "", "", "", total);
    vg_ctl_out_set(c, "lag", lag_rows);
    vg_ctl_out_set(c, "lag_total", json_integer(total));

    rc |= vg_ctl_print_query(c, db, "layers", "Layers (rows estimated from statistics "
                                              "where a table is large)",
                             "SELECT layer, relation, rows, estimated, newest_load "
                             "FROM mart.pipeline_status",
                             0, NULL);
    rc |= vg_ctl_print_query(c, db, "command_runs", "Last command runs",
                             "SELECT command_id, name, dry_run, status, affected, started_at, "
                             "finished_at, worker FROM ops.command_runs "
                             "ORDER BY started_at DESC LIMIT 5",
                             0, NULL);
    int n = partitions_of(rk, c->cfg->topic_dlq);
    long long dlq = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = 0, hi = 0;
        if (!rd_kafka_query_watermark_offsets(rk, c->cfg->topic_dlq, p, &lo, &hi, 10000))
            dlq += hi - lo;
    }
    if (!c->json)
        printf("Dead letters on %s: %lld (vigilctl dlq list)\n", c->cfg->topic_dlq, dlq);
    vg_ctl_out_set(c, "dead_letters", json_integer(dlq));
    rd_kafka_destroy(rk);
    PQfinish(db);
    return rc;
}
