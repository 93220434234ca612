/*
 * lag.h - consumer lag as the worker itself sees it, for the deployments
 * that run no lag exporter (the base Kubernetes one).
 *
 * The group's position lives in ops.consumer_offsets, not in Kafka (the
 * offsets Kafka holds are a mirror for lag tools), so the truth is here: for
 * each partition held, the high watermark of the last fetch response minus
 * the offset stored with the last committed batch. Reading the watermark
 * from librdkafka's cache costs no request to the broker.
 */
#ifndef VG_LAG_H
#define VG_LAG_H

#include "consumer.h"

/* Sets vigil_worker_consumer_lag{topic,partition} for every partition held.
 * A partition whose watermark is not known yet is left as it was. */
void vg_lag_report(const struct vg_consumer *c);

/* Sets the lag of every partition held to 0: called before a rebalance
 * takes them away, so that the sum over workers does not count a partition
 * twice (its new holder reports it). */
void vg_lag_forget(const struct vg_consumer *c);

#endif
