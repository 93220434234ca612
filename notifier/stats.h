/*
 * stats.h - the notifier's metrics (DESIGN.md sections 9 and 11), declared once.
 *
 *   vigil_notifier_summaries_total{result}         rows recorded or skipped (too old),
 *                                                  summaries unrouted (no destination
 *                                                  wants them) or refused (malformed)
 *   vigil_notifier_deliveries_total{type,outcome}  attempts finished: delivered, retry, dead
 *   vigil_notifier_attempts                        attempts a delivery took, when it ends
 *   vigil_notifier_latency_seconds{type}           the session's end to its delivery
 *   vigil_notifier_request_seconds{type}           one webhook request or one e-mail
 *   vigil_notifier_deliveries_pending              pending rows (all notifiers)
 *   vigil_notifier_deliveries_dead                 dead rows (all notifiers)
 *   vigil_notifier_in_flight                       this notifier's transfers under way
 *   vigil_notifier_batch_retries_total             batches retried after a transient failure
 *   vigil_notifier_offset_conflicts_total          batches dropped: another member moved an offset
 *   vigil_notifier_assigned_partitions             partitions of the summaries topic held
 */
#ifndef VG_NOTIFIER_STATS_H
#define VG_NOTIFIER_STATS_H

#include "metrics.h"
#include "notify.h"
#include "outcome.h"

struct vg_notifier_stats {
    struct vg_metric *summaries; /* by result */
    /* Looked up once: by type (enum vg_notify_type) and outcome (enum vg_outcome). */
    struct vg_series *deliveries[2][3];
    struct vg_series *latency[2], *request_seconds[2];
    struct vg_series *attempts, *pending, *dead, *in_flight;
    struct vg_series *retries, *conflicts, *assigned_partitions;
};

extern struct vg_notifier_stats vg_notifier_stats;

/* Declares the families; call once before the notifier starts. */
void vg_notifier_stats_init(void);

#endif
