/*
 * stats.h - the worker's metrics (DESIGN.md section 9), declared once.
 *
 *   vigil_worker_messages_total{topic}            messages consumed and committed
 *   vigil_worker_batch_messages                   messages per batch
 *   vigil_worker_batch_seconds                    a batch's first message to its commit
 *   vigil_worker_commit_seconds                   the batch transaction, BEGIN to COMMIT
 *   vigil_worker_e2e_seconds                      the producer's receipt to commit, per new event
 *   vigil_worker_events_new_total                 events landed for the first time
 *   vigil_worker_session_rows_total               rows of mart.sessions written
 *   vigil_worker_batch_retries_total              batches retried after a transient failure
 *   vigil_worker_offset_conflicts_total           batches dropped: another worker moved an offset
 *   vigil_worker_assigned_partitions              partitions this worker holds
 *   vigil_worker_consumer_lag{topic,partition}    high watermark minus the stored offset
 *   vigil_worker_rebalances_total{type}           assignments and revocations
 *   vigil_worker_produce_failures_total{topic}    dead letters and summaries Kafka refused
 *   vigil_dlq_messages_total{stage}               dead letters sent
 *   vigil_worker_summaries_total                  session summaries sent
 *   vigil_worker_commands_total{command,status}   command runs finished
 *   vigil_worker_commands_refused_total{reason}   command messages refused
 *   vigil_worker_command_rows_total{command}      rows changed by commands
 *   vigil_worker_command_batch_seconds{command}   one command step
 *   vigil_worker_command_run_seconds{command}     a run, from acceptance to done
 *
 * Series without labels are looked up here, once; labelled families are
 * looked up where their label values are known; the label values known in
 * advance (stages, reasons, commands, output topics) start at 0.
 */
#ifndef VG_WORKER_STATS_H
#define VG_WORKER_STATS_H

#include "config.h"
#include "metrics.h"

struct vg_worker_stats {
    struct vg_metric *messages; /* by topic */
    struct vg_series *batch_messages, *batch_seconds, *commit_seconds, *e2e_seconds;
    struct vg_series *events_new, *session_rows, *retries, *conflicts;
    struct vg_series *assigned_partitions, *summaries;
    struct vg_metric *dead_letters; /* by stage */
    struct vg_metric *consumer_lag, *rebalances, *produce_failures;
    struct vg_metric *command_runs, *commands_refused, *command_rows;
    struct vg_metric *command_batch_seconds, *command_run_seconds;
};

extern struct vg_worker_stats vg_worker_stats;

/* Declares the families and their known series (topics from cfg, which may
 * be NULL: the default names); call once before the worker starts. */
void vg_worker_stats_init(const struct vg_config *cfg);

#endif
