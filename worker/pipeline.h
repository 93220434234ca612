/*
 * pipeline.h - one batch, one transaction.
 *
 * decode -> dead letters -> BEGIN -> stages -> offsets (compare-and-set) ->
 * COMMIT -> offsets to Kafka. Transient failures (database or broker away,
 * serialization failure, deadlock) keep the batch and retry it with capped
 * backoff, committing nothing meanwhile; a failure tied to one message sends
 * that message to the DLQ and the rest proceeds.
 */
#ifndef VG_PIPELINE_H
#define VG_PIPELINE_H

#include <signal.h>

#include "batch.h"
#include "config.h"
#include "consumer.h"
#include "out.h"
#include "pg.h"
#include "stages.h"

struct vg_pipeline {
    const struct vg_config *cfg;
    struct vg_pg *pg;
    struct vg_consumer *consumer;
    struct vg_out *out;
    const volatile sig_atomic_t *stop;
    struct vg_stage_ctx stage;
    uint64_t prepared_gen; /* the connection generation the work tables exist on; 0: none */
    struct vg_event *events;
    size_t events_cap;
    struct vg_backoff backoff; /* between attempts; kept across a batch read again */
};

/* How long after a batch's first failure vg_pipeline_process() retries it
 * in place before it hands the consumer back to the loop (which serves
 * rebalances) and reads the batch again; far below the consumer's
 * max.poll.interval.ms. Counted from the failure, so an attempt that was
 * itself long (a process paused inside it) still gets its retry, and a
 * stale one its refusal by the compare-and-set. */
#define VG_BATCH_HOLD_MS 10000

void vg_pipeline_init(struct vg_pipeline *p, const struct vg_config *cfg, struct vg_pg *pg,
                      struct vg_consumer *consumer, struct vg_out *out,
                      const volatile sig_atomic_t *stop);

/*
 * Processes b. Returns 0 when committed; VG_ECONFLICT when another worker owns
 * one of its partitions now (rolled back, partitions rewound, batch to be
 * dropped); VG_ETRANSIENT when it could not commit within VG_BATCH_HOLD_MS
 * (rolled back, partitions sought back to the batch's start, so its messages
 * arrive again after the caller polls); VG_ETIMEOUT when a stop was requested
 * while retrying. The batch is left for the caller to clear in every case.
 */
int vg_pipeline_process(struct vg_pipeline *p, struct vg_batch *b);

void vg_pipeline_free(struct vg_pipeline *p);

#endif
