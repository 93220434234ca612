/*
 * metrics.h - counters, gauges and histograms with Prometheus text exposition.
 *
 * One registry per process. A metric family is declared once at start-up with
 * its label names; vg_metric_series() finds or creates the series for a set of
 * label values and the pointer it returns stays valid until
 * vg_metrics_reset(), so hot paths look a series up once and keep it.
 * Updates are lock-free for counters and gauges and take a per-series mutex
 * for histograms. The number of series per family is bounded
 * (VG_METRIC_MAX_SERIES); past it, updates go to one overflow series whose
 * label values are all "other".
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define VG_METRIC_MAX_LABELS 4
#define VG_METRIC_MAX_SERIES 256
#define VG_METRIC_MAX_BUCKETS 24

enum vg_metric_type { VG_COUNTER, VG_GAUGE, VG_HISTOGRAM };

struct vg_metric;
struct vg_series;

/*
 * Declares a family. name and help must be static strings. labels is a
 * comma-separated list of label names ("route,status") or NULL. For a
 * histogram, buckets are the upper bounds in ascending order (NULL: a default
 * set for latencies in seconds). Declaring the same name twice returns the
 * first declaration.
 */
struct vg_metric *vg_metrics_counter(const char *name, const char *help, const char *labels);
struct vg_metric *vg_metrics_gauge(const char *name, const char *help, const char *labels);
struct vg_metric *vg_metrics_histogram(const char *name, const char *help, const char *labels,
                                       const double *buckets, size_t nbuckets);

/* The series for these label values (as many as the family declared). */
struct vg_series *vg_metric_series(struct vg_metric *m, ...);
/* The series of a family without labels. */
struct vg_series *vg_metric_plain(struct vg_metric *m);

void vg_counter_add(struct vg_series *s, uint64_t n);
void vg_gauge_set(struct vg_series *s, double v);
void vg_gauge_add(struct vg_series *s, double delta);
void vg_histogram_observe(struct vg_series *s, double v);

/* Reads a series' value (counters and gauges; a histogram's count). For tests. */
double vg_series_value(struct vg_series *s);

/* Appends the whole registry in Prometheus text format 0.0.4. */
void vg_metrics_render(struct vg_buf *out);

/*
 * Appends the process_* families every Prometheus client library exports
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds), read from /proc/self at each call. Appends
 * nothing where /proc is not there.
 */
void vg_metrics_render_process(struct vg_buf *out);

/*
 * Writes v into buf in the shortest form that reads back as the same double
 * ("0.1", "2.5", "1e-05") and returns buf. Integers and infinities are the
 * caller's to special-case if it wants "+Inf".
 */
const char *vg_metrics_format(double v, char buf[32]);

/*
 * Creates the series of each label set at 0, so that a counter's first
 * increment is seen by increase() and rate(). values holds n label sets of
 * as many values as the family declared, one after the other (a family with
 * one label: n values).
 */
void vg_metric_init_series(struct vg_metric *m, const char *const *values, size_t n);

/* Frees every family and series (at exit, and between unit tests). */
void vg_metrics_reset(void);

#endif
