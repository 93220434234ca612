/*
 * dlq.h - the dead-letter queue and the worker's other outputs to Kafka.
 *
 * One idempotent producer per worker. A refused message is copied to
 * vigil.dlq with its original key and value and headers naming the error,
 * the stage and where it came from; the batch's offsets are committed only
 * after every dead letter of the batch is acknowledged, so nothing refused is
 * ever lost.
 */
#ifndef VG_DLQ_H
#define VG_DLQ_H

#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "config.h"
#include "err.h"

struct vg_dlq;

/* Creates the producer. Returns NULL with errstr filled on a bad configuration. */
struct vg_dlq *vg_dlq_new(const struct vg_config *cfg, char *errstr, size_t errstr_size);

/* Sends every refused message of b and waits for all acknowledgements, at
 * most timeout_ms. Returns 0, or VG_ETRANSIENT if any was not acknowledged
 * (the caller retries; only the unacknowledged are sent again). Marks each
 * acknowledged message dead_sent. */
int vg_dlq_send_refused(struct vg_dlq *d, struct vg_batch *b, int timeout_ms) VG_MUSTCHECK;

/* Queues one message to topic with key and value (both copied). Returns 0 or
 * VG_ETRANSIENT. vg_dlq_wait() then waits for every queued message. */
int vg_dlq_queue(struct vg_dlq *d, const char *topic, const char *key, const char *value,
                 size_t len) VG_MUSTCHECK;
/* Waits at most timeout_ms for every queued message; 0 if all were
 * acknowledged, else VG_ETRANSIENT (the rest are purged). */
int vg_dlq_wait(struct vg_dlq *d, int timeout_ms) VG_MUSTCHECK;

/* The producer, for other outputs (summaries). */
rd_kafka_t *vg_dlq_producer(struct vg_dlq *d);

/* Flushes and frees; accepts NULL. */
void vg_dlq_free(struct vg_dlq *d);

#endif
