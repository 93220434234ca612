#include "worker.h"

#include <stdatomic.h>
#include <string.h>

#include "batch.h"
#include "commands.h"
#include "consumer.h"
#include "http.h"
#include "kafka.h"
#include "lag.h"
#include "log.h"
#include "service.h"
#include "out.h"
#include "pg.h"
#include "pipeline.h"
#include "signals.h"
#include "stats.h"
#include "summaries.h"
#include "util.h"

struct worker {
    const struct vg_config *cfg;
    struct vg_pg pg;
    struct vg_consumer consumer;
    struct vg_out *out;
    struct vg_pipeline pipeline;
    struct vg_batch batch;
    atomic_int db_ok; /* written by the loop, read by the HTTP thread (/readyz) */
    int64_t next_chores_ms;
};

static int ready(void *opaque, char *reason, size_t reason_size)
{
    struct worker *w = opaque;
    if (!atomic_load(&w->db_ok)) {
        snprintf(reason, reason_size, "database unreachable");
        return 0;
    }
    return 1;
}

/* The kind of message a topic carries. */
static enum vg_msg_kind kind_of(const char *topic, const void *opaque)
{
    const struct vg_config *cfg = opaque;
    if (!strcmp(topic, cfg->topic_heartbeats))
        return VG_MSG_SIGNAL;
    if (!strcmp(topic, cfg->topic_commands))
        return VG_MSG_COMMAND;
    return VG_MSG_EVENT;
}

static void flush_batch(struct worker *w)
{
    if (w->batch.n == 0)
        return;
    if (w->batch.generation == w->consumer.generation)
        (void)vg_pipeline_process(&w->pipeline, &w->batch);
    vg_batch_clear(&w->batch);
    atomic_store(&w->db_ok, w->pg.conn && PQstatus(w->pg.conn) == CONNECTION_OK);
}

/* Work that is not a batch of messages: summaries to send, running
 * commands. Done between
 * batches, on the same connection, never while a batch is open. */
static void between_batches(struct worker *w)
{
    int64_t now = vg_mono_ms();
    if (now < w->next_chores_ms || w->batch.n > 0)
        return;
    w->next_chores_ms = now + 200;
    vg_lag_report(&w->consumer);
    if (!w->pg.conn || PQstatus(w->pg.conn) != CONNECTION_OK)
        return;
    if (vg_summaries_send(w->pg.conn, w->cfg, w->out, 200) < 0 ||
        vg_commands_work(w->pg.conn, w->cfg, 500))
        w->next_chores_ms = now + 2000;
}

/* The batch loop, until SIGTERM (0) or a failed assignment (1). */
static int loop(struct worker *w)
{
    const int64_t max_ms = w->cfg->batch_max_ms;
    while (!vg_stop_requested) {
        vg_service_watchdog();
        between_batches(w);
        if (vg_consumer_gather(&w->consumer, &w->batch, max_ms, kind_of, w->cfg))
            flush_batch(w);
        if (w->consumer.assign_error) {
            vg_batch_clear(&w->batch); /* its partitions are not known to be ours */
            return 1;
        }
    }
    /* SIGTERM: finish and commit the batch in hand. */
    flush_batch(w);
    return 0;
}

int vg_worker_run(const struct vg_config *cfg)
{
    struct worker w;
    char err[512];
    int status = 0;
    memset(&w, 0, sizeof(w));
    w.cfg = cfg;
    atomic_init(&w.db_ok, 0);
    vg_worker_stats_init(cfg);

    struct vg_http *http = vg_http_start(cfg->worker_listen, (int)cfg->worker_http_port, ready,
                                         &w, err, sizeof(err));
    if (!http) {
        vg_error("%s", err);
        return 1;
    }
    if (vg_pg_open(&w.pg, cfg->database_url, cfg->worker_id, err, sizeof(err)))
        vg_warn("database unreachable at start, will retry: %s", err);
    atomic_store(&w.db_ok, w.pg.conn != NULL);
    w.out = vg_out_new(cfg, err, sizeof(err));
    const char *topics[] = {cfg->topic_events, cfg->topic_heartbeats, cfg->topic_commands};
    struct vg_consumer_opts co = {.group = cfg->worker_group,
                                  .client_id = cfg->worker_id,
                                  .topics = topics,
                                  .ntopics = VG_ARRAY_LEN(topics),
                                  .assigned_gauge = vg_worker_stats.assigned_partitions,
                                  .rebalances = vg_worker_stats.rebalances,
                                  .on_rebalance = vg_lag_forget};
    if (!w.out ||
        vg_consumer_open(&w.consumer, cfg, &co, &w.pg, &vg_stop_requested, err, sizeof(err))) {
        vg_error("cannot start the Kafka client: %s", err);
        status = 1;
        goto out;
    }
    vg_batch_init(&w.batch, (size_t)cfg->batch_max_messages);
    vg_pipeline_init(&w.pipeline, cfg, &w.pg, &w.consumer, w.out, &vg_stop_requested);
    vg_info("worker %s consuming %s, %s, %s as group %s; batches of %lld messages or %lld ms",
            cfg->worker_id, cfg->topic_events, cfg->topic_heartbeats, cfg->topic_commands,
            cfg->worker_group, (long long)cfg->batch_max_messages, (long long)cfg->batch_max_ms);

    vg_service_ready("consuming");
    status = loop(&w);

    vg_service_stopping();
    vg_info("worker stopping: leaving the group");
    vg_batch_free(&w.batch);
    vg_pipeline_free(&w.pipeline);
out:
    vg_consumer_close(&w.consumer);
    vg_out_free(w.out);
    vg_pg_close(&w.pg);
    vg_http_stop(http);
    return status;
}
