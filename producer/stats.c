#include "stats.h"

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
