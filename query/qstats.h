/*
 * qstats.h - vigil-query's metrics (DESIGN.md section 9), declared once.
 *
 *   vigil_http_requests_total{route,status}     every answer
 *   vigil_http_request_seconds{route}           time to answer
 *   vigil_query_cache_up{cache}                 1 while a cache level works ("redis")
 *   vigil_query_cache_lookups_total{cache,result} hit, miss or error per level
 *   vigil_query_db_errors_total                 database failures answered 503
 *   vigil_query_pool_connections{state}         open and busy pooled connections
 *   vigil_query_waiters                         long-polls and receipt waits now
 */
#ifndef VG_QSTATS_H
#define VG_QSTATS_H

#include "metrics.h"

struct vg_qstats {
    struct vg_metric *http_requests, *http_seconds;
    struct vg_series *redis_up;
    struct vg_series *local_hit, *local_miss, *redis_hit, *redis_miss, *redis_error;
    struct vg_series *db_errors, *pool_open, *pool_busy, *waiters;
};

extern struct vg_qstats vg_qstats;

/* Declares the families and looks the fixed series up; call once before serving. */
void vg_qstats_init(void);

/*
 * Counts one answer of route number `route` (label its metric label, a static
 * string) with status, taking seconds. The series of the usual statuses are
 * looked up once per route and kept, so the hot path only adds.
 */
void vg_qstats_answer(int route, const char *label, unsigned status, double seconds);

#endif
