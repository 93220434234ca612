#include "stats.h"

struct vg_notifier_stats vg_notifier_stats;

static const double attempt_buckets[] = {1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50};
/* From a session's end: the worker's summary delay (2 s by default) comes first. */
static const double latency_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 3, 4, 5,
                                         7.5,  10,  30,   60,  300, 900, 3600};

void vg_notifier_stats_init(void)
{
    struct vg_notifier_stats *s = &vg_notifier_stats;
    s->summaries = vg_metrics_counter(
        "vigil_notifier_summaries_total",
        "Summaries read, by result: recorded and skipped (ended too long ago) count rows, one per "
        "destination; unrouted (no destination wants it) and refused (malformed) count "
        "summaries.",
        "result");
    struct vg_metric *deliveries = vg_metrics_counter(
        "vigil_notifier_deliveries_total",
        "Delivery attempts finished, by type (webhook, email) and outcome (delivered, retry, "
        "dead).",
        "type,outcome");
    struct vg_metric *latency = vg_metrics_histogram(
        "vigil_notifier_latency_seconds", "From the session's end to its delivery, by type.",
        "type", latency_buckets, VG_ARRAY_LEN(latency_buckets));
    struct vg_metric *request = vg_metrics_histogram(
        "vigil_notifier_request_seconds", "One webhook request or one e-mail, by type.", "type",
        NULL, 0);
    static const char *types[2] = {[VG_NOTIFY_WEBHOOK] = "webhook", [VG_NOTIFY_EMAIL] = "email"};
    for (int t = 0; t < 2; t++) {
        for (int o = VG_DELIVERED; o <= VG_DEAD; o++)
            s->deliveries[t][o] =
                vg_metric_series(deliveries, types[t], vg_outcome_name((enum vg_outcome)o));
        s->latency[t] = vg_metric_series(latency, types[t]);
        s->request_seconds[t] = vg_metric_series(request, types[t]);
    }
    s->attempts = vg_metric_plain(
        vg_metrics_histogram("vigil_notifier_attempts",
                             "Attempts a delivery took, counted when it is delivered or dead.",
                             NULL, attempt_buckets, VG_ARRAY_LEN(attempt_buckets)));
    s->pending = vg_metric_plain(vg_metrics_gauge(
        "vigil_notifier_deliveries_pending", "Rows of ops.deliveries still pending.", NULL));
    s->dead = vg_metric_plain(vg_metrics_gauge("vigil_notifier_deliveries_dead",
                                               "Rows of ops.deliveries that are dead.", NULL));
    s->in_flight = vg_metric_plain(vg_metrics_gauge(
        "vigil_notifier_in_flight", "Deliveries this notifier is sending now.", NULL));
    s->retries = vg_metric_plain(vg_metrics_counter("vigil_notifier_batch_retries_total",
                                                    "Batches of summaries retried after a "
                                                    "transient failure.",
                                                    NULL));
    s->conflicts = vg_metric_plain(vg_metrics_counter(
        "vigil_notifier_offset_conflicts_total",
        "Batches dropped because another notifier had moved a stored offset.", NULL));
    s->assigned_partitions = vg_metric_plain(vg_metrics_gauge(
        "vigil_notifier_assigned_partitions", "Partitions of the summaries topic held.", NULL));
}
