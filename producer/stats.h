/*
 * stats.h - the producer's metrics (DESIGN.md section 9), declared once.
 *
 *   vigil_http_requests_total{route,status}       every answer
 *   vigil_http_request_seconds{route}             time to answer
 *   vigil_events_accepted_total{tenant,topic}     messages Kafka acknowledged
 *   vigil_events_rejected_total{reason}           events refused or lost, by why
 *   vigil_requests_refused_total{tenant,status}   401, 413 and 429 answers, by tenant
 *   vigil_kafka_delivery_seconds                  enqueue to delivery report
 *   vigil_producer_queue_depth                    rd_kafka_outq_len()
 *   vigil_producer_inflight_requests              requests being served
 */
#ifndef VG_STATS_H
#define VG_STATS_H

#include <stdint.h>

#include "config.h"
#include "metrics.h"

struct vg_stats {
    struct vg_metric *http_requests, *http_seconds;
    struct vg_metric *accepted, *rejected, *refused;
    struct vg_series *delivery_seconds, *queue_depth, *inflight;
};

extern struct vg_stats vg_stats;

/* Declares the families; call once before serving. */
void vg_stats_init(void);

/* Counts n events refused for reason (a static string: "invalid", ...). */
void vg_stats_reject(const char *reason, uint64_t n);

/* Creates the series of every configured tenant at 0 (accepted by topic,
 * refused by status), so that increase() sees a tenant's first refusal. Call
 * after vg_stats_init() and again after a reload. */
void vg_stats_tenants(const struct vg_config *cfg);

/* Counts one request refused with status for tenant (NULL: not known yet);
 * statuses other than 401, 413 and 429 are not counted here. */
void vg_stats_refused(const char *tenant, int status);

#endif
