#include "qstats.h"

struct vg_qstats vg_qstats;

void vg_qstats_init(void)
{
    struct vg_qstats *s = &vg_qstats;
    s->http_requests =
        vg_metrics_counter("vigil_http_requests_total", "HTTP answers by route and status",
                           "route,status");
    s->http_seconds = vg_metrics_histogram("vigil_http_request_seconds",
                                           "time to answer, by route", "route", NULL, 0);
    struct vg_metric *up = vg_metrics_gauge(
        "vigil_query_cache_up", "1 while the cache level answers, 0 while it is down", "cache");
    s->redis_up = vg_metric_series(up, "redis");
    struct vg_metric *lookups = vg_metrics_counter(
        "vigil_query_cache_lookups_total", "cache lookups by level and result", "cache,result");
    s->local_hit = vg_metric_series(lookups, "local", "hit");
    s->local_miss = vg_metric_series(lookups, "local", "miss");
    s->redis_hit = vg_metric_series(lookups, "redis", "hit");
    s->redis_miss = vg_metric_series(lookups, "redis", "miss");
    s->redis_error = vg_metric_series(lookups, "redis", "error");
    s->db_errors = vg_metric_plain(vg_metrics_counter(
        "vigil_query_db_errors_total", "database failures answered with 503", NULL));
    struct vg_metric *pool = vg_metrics_gauge("vigil_query_pool_connections",
                                              "pooled PostgreSQL connections", "state");
    s->pool_open = vg_metric_series(pool, "open");
    s->pool_busy = vg_metric_series(pool, "busy");
    s->waiters = vg_metric_plain(
        vg_metrics_gauge("vigil_query_waiters", "long-polls and receipt waits in progress", NULL));
}
