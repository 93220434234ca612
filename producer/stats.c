#include "stats.h"

#include <stdio.h>

struct vg_stats vg_stats;

void vg_stats_init(void)
{
    static const double delivery_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,   0.25,   0.5,   1,    2.5,   5,
                                              10,    30,     60,    120,  300};
    vg_stats.http_requests = vg_metrics_counter(
        "vigil_http_requests_total", "HTTP requests answered, by route and status.",
        "route,status");
    vg_stats.http_seconds = vg_metrics_histogram(
        "vigil_http_request_seconds",
        "Time from a request's headers to its answer (durable requests include the Kafka "
        "acknowledgement).",
        "route", NULL, 0);
    vg_stats.accepted = vg_metrics_counter(
        "vigil_events_accepted_total",
        "Messages Kafka acknowledged (events and session signals), by tenant and topic.",
        "tenant,topic");
    vg_stats.rejected = vg_metrics_counter(
        "vigil_events_rejected_total",
        "Events refused (or lost after an asynchronous answer), by reason.", "reason");
    vg_stats.refused = vg_metrics_counter(
        "vigil_requests_refused_total",
        "Requests refused for a tenant's credentials, size or rate (401, 413, 429), by tenant "
        "(unknown when the credentials name none) and status.",
        "tenant,status");
    static const char *const reasons[] = {"invalid",      "unauthorized", "origin",
                                          "too_large",    "media_type",   "rate_limited",
                                          "queue_full",   "kafka_timeout", "kafka_error"};
    vg_metric_init_series(vg_stats.rejected, reasons, VG_ARRAY_LEN(reasons));
    vg_stats.delivery_seconds = vg_metric_plain(vg_metrics_histogram(
        "vigil_kafka_delivery_seconds", "Time from enqueue to Kafka's delivery report.", NULL,
        delivery_buckets, sizeof(delivery_buckets) / sizeof(delivery_buckets[0])));
    vg_stats.queue_depth = vg_metric_plain(vg_metrics_gauge(
        "vigil_producer_queue_depth",
        "Messages waiting in the local Kafka queue or in flight (rd_kafka_outq_len).", NULL));
    vg_stats.inflight = vg_metric_plain(vg_metrics_gauge(
        "vigil_producer_inflight_requests", "HTTP requests being read, processed or waiting "
                                            "for Kafka.",
        NULL));
}

void vg_stats_reject(const char *reason, uint64_t n)
{
    if (vg_stats.rejected)
        vg_counter_add(vg_metric_series(vg_stats.rejected, reason), n);
}

void vg_stats_tenants(const struct vg_config *cfg)
{
    static const char *const statuses[] = {"401", "413", "429"};
    static const char *const topics[] = {"events", "heartbeats"};
    for (size_t i = 0; i <= cfg->ntenants; i++) {
        const char *t = i < cfg->ntenants ? cfg->tenants[i].id : "unknown";
        for (size_t k = 0; k < VG_ARRAY_LEN(statuses); k++)
            (void)vg_metric_series(vg_stats.refused, t, statuses[k]);
        for (size_t k = 0; i < cfg->ntenants && k < VG_ARRAY_LEN(topics); k++)
            (void)vg_metric_series(vg_stats.accepted, t, topics[k]);
    }
}

void vg_stats_refused(const char *tenant, int status)
{
    if (!vg_stats.refused || (status != 401 && status != 413 && status != 429))
        return;
    char num[8];
    snprintf(num, sizeof(num), "%d", status);
    vg_counter_add(vg_metric_series(vg_stats.refused, tenant ? tenant : "unknown", num), 1);
}
