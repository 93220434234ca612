#include "stats.h"

#include "command.h"

struct vg_worker_stats vg_worker_stats;

static const double size_buckets[] = {1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 50000};
/* Fine where the latency promise lies (tens to hundreds of ms), so that a
 * p99 read from the buckets is not off by a whole decade. */
static const double e2e_buckets[] = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
                                     0.5,  0.75,  1,    2,     5,   10,   30,
                                     60,   120,   300};
/* VigilEndToEndLatencyHigh fires on p95 > 60 s: 60 is a bound, and the
 * buckets go past it so that a p95 above it is measured, not clamped. */
static const double step_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double run_buckets[] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400};

/* The batch loop's metrics (pipeline.c, consumer.c). */
static void batch_init(struct vg_worker_stats *s)
{
    s->messages = vg_metrics_counter("vigil_worker_messages_total",
                                     "Messages consumed and committed, by topic.", "topic");
    s->batch_messages = vg_metric_plain(
        vg_metrics_histogram("vigil_worker_batch_messages", "Messages per batch.", NULL,
                             size_buckets, VG_ARRAY_LEN(size_buckets)));
    s->batch_seconds = vg_metric_plain(
        vg_metrics_histogram("vigil_worker_batch_seconds",
                             "Time from a batch's first message to its commit.", NULL, NULL, 0));
    s->commit_seconds = vg_metric_plain(
        vg_metrics_histogram("vigil_worker_commit_seconds",
                             "Time of the batch transaction, BEGIN to COMMIT.", NULL, NULL, 0));
    s->e2e_seconds = vg_metric_plain(vg_metrics_histogram(
        "vigil_worker_e2e_seconds", "From receipt by the producer to commit, per new event.", NULL,
        e2e_buckets, VG_ARRAY_LEN(e2e_buckets)));
    s->events_new = vg_metric_plain(vg_metrics_counter(
        "vigil_worker_events_new_total", "Events landed for the first time (not duplicates).",
        NULL));
    s->session_rows = vg_metric_plain(vg_metrics_counter(
        "vigil_worker_session_rows_total",
        "Rows of mart.sessions written: one per session per batch, however many signals.", NULL));
    s->retries = vg_metric_plain(vg_metrics_counter(
        "vigil_worker_batch_retries_total", "Batches retried after a transient failure.", NULL));
    s->conflicts = vg_metric_plain(vg_metrics_counter(
        "vigil_worker_offset_conflicts_total",
        "Batches dropped because another worker had moved a stored offset.", NULL));
    s->assigned_partitions = vg_metric_plain(vg_metrics_gauge(
        "vigil_worker_assigned_partitions", "Partitions this worker holds.", NULL));
    s->consumer_lag = vg_metrics_gauge(
        "vigil_worker_consumer_lag",
        "Messages between the offset stored in PostgreSQL and the high watermark, by topic and "
        "partition this worker holds (0 once released).",
        "topic,partition");
    s->rebalances = vg_metrics_counter(
        "vigil_worker_rebalances_total",
        "Rebalances this worker took part in, by type (assign, revoke).", "type");
    static const char *const types[] = {"assign", "revoke"};
    vg_metric_init_series(s->rebalances, types, VG_ARRAY_LEN(types));
}

/* What the worker sends (out.c, summaries.c) and the commands it runs (commands.c). */
static void output_init(struct vg_worker_stats *s)
{
    s->dead_letters = vg_metrics_counter(
        "vigil_dlq_messages_total", "Messages sent to the dead-letter topic, by stage.", "stage");
    s->produce_failures = vg_metrics_counter(
        "vigil_worker_produce_failures_total",
        "Messages to the dead-letter or summaries topic that Kafka did not take, by topic.",
        "topic");
    s->summaries = vg_metric_plain(
        vg_metrics_counter("vigil_worker_summaries_total", "Session summaries sent.", NULL));
    s->command_runs = vg_metrics_counter("vigil_worker_commands_total",
                                         "Command runs this worker finished, by command and "
                                         "status (done, failed).",
                                         "command,status");
    s->commands_refused = vg_metrics_counter("vigil_worker_commands_refused_total",
                                             "Command messages refused (sent to the DLQ), by "
                                             "reason (unsigned_or_forged, malformed, unknown).",
                                             "reason");
    s->command_rows = vg_metrics_counter(
        "vigil_worker_command_rows_total", "Rows changed by commands (not dry runs), by command.",
        "command");
    s->command_batch_seconds = vg_metrics_histogram(
        "vigil_worker_command_batch_seconds", "Duration of one command step (one transaction).",
        "command", step_buckets, VG_ARRAY_LEN(step_buckets));
    s->command_run_seconds = vg_metrics_histogram(
        "vigil_worker_command_run_seconds", "From a run's acceptance to done (a whole sweep).",
        "command", run_buckets, VG_ARRAY_LEN(run_buckets));
}

/* Every label value known in advance starts at 0: increase() over a series
 * that appears with its first increment misses that increment. */
static void known_init(struct vg_worker_stats *s, const struct vg_config *cfg)
{
    static const char *const stages[] = {"decode", "validate", "database", "command"};
    static const char *const refused[] = {"unsigned_or_forged", "malformed", "unknown"};
    vg_metric_init_series(s->dead_letters, stages, VG_ARRAY_LEN(stages));
    vg_metric_init_series(s->commands_refused, refused, VG_ARRAY_LEN(refused));
    const char *topics[] = {cfg ? cfg->topic_dlq : "vigil.dlq",
                            cfg ? cfg->topic_summaries : "vigil.summaries"};
    vg_metric_init_series(s->produce_failures, topics, VG_ARRAY_LEN(topics));
    const struct vg_command_def *def;
    for (size_t i = 0; (def = vg_command_at(i)); i++) {
        const char *runs[] = {def->name, "done", def->name, "failed"};
        vg_metric_init_series(s->command_runs, runs, 2);
        vg_metric_init_series(s->command_rows, runs, 1);
    }
}

void vg_worker_stats_init(const struct vg_config *cfg)
{
    batch_init(&vg_worker_stats);
    output_init(&vg_worker_stats);
    known_init(&vg_worker_stats, cfg);
}
