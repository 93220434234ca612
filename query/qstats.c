#include "qstats.h"

#include <stdatomic.h>
#include <stdio.h>

#include "util.h"

#define MAX_ROUTES 16

struct vg_qstats vg_qstats;

static const unsigned statuses[] = {200, 304, 400, 401, 403, 404, 405, 500, 503};
static _Atomic(struct vg_series *) answers[MAX_ROUTES][VG_ARRAY_LEN(statuses)];
static _Atomic(struct vg_series *) seconds_of[MAX_ROUTES];

/* The series in *slot, looked up the first time (two threads may both look it
 * up: the registry returns the same series to both). */
static struct vg_series *kept(_Atomic(struct vg_series *) *slot, struct vg_metric *m,
                              const char *label, const char *status)
{
    struct vg_series *s = atomic_load_explicit(slot, memory_order_acquire);
    if (!s) {
        s = status ? vg_metric_series(m, label, status) : vg_metric_series(m, label);
        atomic_store_explicit(slot, s, memory_order_release);
    }
    return s;
}

void vg_qstats_answer(int route, const char *label, unsigned status, double seconds)
{
    char code[8];
    snprintf(code, sizeof(code), "%u", status);
    size_t i = 0;
    while (i < VG_ARRAY_LEN(statuses) && statuses[i] != status)
        i++;
    if (route < 0 || route >= MAX_ROUTES || i == VG_ARRAY_LEN(statuses)) {
        vg_counter_add(vg_metric_series(vg_qstats.http_requests, label, code), 1);
        vg_histogram_observe(vg_metric_series(vg_qstats.http_seconds, label), seconds);
        return;
    }
    vg_counter_add(kept(&answers[route][i], vg_qstats.http_requests, label, code), 1);
    vg_histogram_observe(kept(&seconds_of[route], vg_qstats.http_seconds, label, NULL), seconds);
}

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
