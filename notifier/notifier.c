#include "notifier.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <string.h>

#include "batch.h"
#include "consumer.h"
#include "deliver.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "offsets.h"
#include "pg.h"
#include "signals.h"
#include "stats.h"
#include "util.h"

/* A batch retried in place for longer gives the consumer back to the loop
 * (a rebalance waits for every member to poll) and is read again. */
#define HOLD_MS 10000

struct notifier {
    const struct vg_config *cfg;
    struct vg_pg pg;
    struct vg_consumer consumer;
    struct vg_batch batch;
    struct vg_deliver *deliver;
    struct vg_backoff backoff;
    atomic_int db_ok; /* written by the loop, read by the HTTP thread (/readyz) */
    char errstr[512];
};

static int ready(void *opaque, char *reason, size_t reason_size)
{
    struct notifier *n = opaque;
    if (!atomic_load(&n->db_ok) || !vg_deliver_ready(n->deliver)) {
        snprintf(reason, reason_size, "database unreachable");
        return 0;
    }
    return 1;
}

/* One attempt: BEGIN, the rows, the offsets, COMMIT. */
static int attempt(struct notifier *n, struct vg_ingest_counts *counts)
{
    if (vg_pg_ensure(&n->pg, &vg_stop_requested))
        return VG_ETIMEOUT;
    PGconn *conn = n->pg.conn;
    int rc = vg_consumer_expect(&n->consumer, &n->batch);
    if (rc) {
        snprintf(n->errstr, sizeof(n->errstr),
                 "a partition was revoked, or the batch does not start at its stored offset");
        return rc;
    }
    if ((rc = vg_pg_exec(conn, "BEGIN", n->errstr, sizeof(n->errstr))))
        return rc;
    rc = vg_ingest_rows(conn, n->cfg, &n->batch, counts, n->errstr, sizeof(n->errstr));
    if (rc == 0)
        rc = vg_offsets_advance(conn, n->cfg->notifier_group, &n->batch,
                                n->errstr, sizeof(n->errstr));
    if (rc == 0)
        rc = vg_pg_exec(conn, "COMMIT", n->errstr, sizeof(n->errstr));
    if (rc)
        vg_pg_rollback(conn);
    return rc;
}

static void observe(const struct vg_ingest_counts *c)
{
    struct vg_metric *m = vg_notifier_stats.summaries;
    vg_counter_add(vg_metric_series(m, "recorded"), c->recorded);
    vg_counter_add(vg_metric_series(m, "skipped"), c->skipped);
    vg_counter_add(vg_metric_series(m, "unrouted"), c->unrouted);
    vg_counter_add(vg_metric_series(m, "refused"), c->refused);
}

/* The batch committed, dropped (another member owns a partition now) or
 * handed back to be read again; never half-done. */
static void process(struct notifier *n)
{
    int64_t held_until = 0;
    for (;;) {
        struct vg_ingest_counts counts;
        int rc = attempt(n, &counts);
        atomic_store(&n->db_ok, n->pg.conn && PQstatus(n->pg.conn) == CONNECTION_OK);
        if (rc == 0) {
            vg_backoff_reset(&n->backoff);
            vg_consumer_committed(&n->consumer, &n->batch);
            observe(&counts);
            return;
        }
        if (rc == VG_ECONFLICT) {
            vg_counter_add(vg_notifier_stats.conflicts, 1);
            vg_warn("batch of %zu summaries dropped: %s", n->batch.n, n->errstr);
            vg_consumer_rewind(&n->consumer, &n->batch);
            return;
        }
        if (rc == VG_ETIMEOUT || vg_stop_requested)
            return;
        vg_counter_add(vg_notifier_stats.retries, 1);
        int64_t delay = vg_backoff_next(&n->backoff);
        vg_warn("batch of %zu summaries not recorded, retrying in %lld ms: %s", n->batch.n,
                (long long)delay, n->errstr);
        if (!held_until)
            held_until = vg_mono_ms() + HOLD_MS;
        if (vg_mono_ms() + delay > held_until) {
            vg_consumer_seek_back(&n->consumer, &n->batch);
            return;
        }
        vg_sleep_ms(delay, &vg_stop_requested);
    }
}

static void flush(struct notifier *n)
{
    if (n->batch.n == 0)
        return;
    if (n->batch.generation == n->consumer.generation)
        process(n);
    vg_batch_clear(&n->batch);
}

static void loop(struct notifier *n)
{
    const int64_t max_ms = n->cfg->notifier_batch_max_ms;
    while (!vg_stop_requested)
        if (vg_consumer_gather(&n->consumer, &n->batch, max_ms, NULL, NULL))
            flush(n);
    flush(n); /* SIGTERM: record the batch in hand */
}

static size_t destinations(const struct vg_config *cfg)
{
    size_t k = 0;
    for (size_t i = 0; i < cfg->ntenants; i++)
        k += cfg->tenants[i].nnotify;
    return k;
}

int vg_notifier_run(const struct vg_config *cfg)
{
    struct notifier n;
    char err[512];
    int status = 0;
    memset(&n, 0, sizeof(n));
    n.cfg = cfg;
    n.backoff = (struct vg_backoff){.base_ms = 100, .cap_ms = 5000};
    atomic_init(&n.db_ok, 0);
    vg_notifier_stats_init();
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        vg_error("curl_global_init failed");
        return 1;
    }
    /* The delivery loop first: /readyz asks it. */
    n.deliver = vg_deliver_start(cfg, err, sizeof(err));
    if (!n.deliver) {
        vg_error("%s", err);
        curl_global_cleanup();
        return 1;
    }
    struct vg_http *http = vg_http_start(cfg->notifier_listen, (int)cfg->notifier_http_port,
                                         ready, &n, err, sizeof(err));
    if (!http) {
        vg_error("%s", err);
        vg_deliver_stop(n.deliver);
        curl_global_cleanup();
        return 1;
    }
    if (vg_pg_open(&n.pg, cfg->database_url, cfg->notifier_id, err, sizeof(err)))
        vg_warn("database unreachable at start, will retry: %s", err);
    atomic_store(&n.db_ok, n.pg.conn != NULL);
    const char *topics[] = {cfg->topic_summaries};
    struct vg_consumer_opts co = {.group = cfg->notifier_group,
                                  .client_id = cfg->notifier_id,
                                  .topics = topics,
                                  .ntopics = 1,
                                  .assigned_gauge = vg_notifier_stats.assigned_partitions};
    if (vg_consumer_open(&n.consumer, cfg, &co, &n.pg, &vg_stop_requested, err, sizeof(err))) {
        vg_error("cannot start the Kafka client: %s", err);
        status = 1;
        goto out;
    }
    vg_batch_init(&n.batch, (size_t)cfg->notifier_batch_max_messages);
    vg_info("notifier %s consuming %s as group %s; %zu destinations; %lld deliveries in flight "
            "at most, %lld per destination",
            cfg->notifier_id, cfg->topic_summaries, cfg->notifier_group, destinations(cfg),
            (long long)cfg->notifier_concurrency, (long long)cfg->notifier_per_destination);

    loop(&n);

    vg_info("notifier stopping: leaving the group, finishing the deliveries in flight");
    vg_batch_free(&n.batch);
out:
    vg_http_stop(http); /* first: /readyz asks the delivery loop */
    vg_consumer_close(&n.consumer);
    vg_deliver_stop(n.deliver);
    vg_pg_close(&n.pg);
    curl_global_cleanup();
    return status;
}
