/*
 * out.h - the worker's Kafka output: dead letters and session summaries.
 *
 * One idempotent producer per worker. A refused message is copied to
 * vigil.dlq with its original key and value and headers naming the error,
 * the stage and where it came from (common/envelope.h); the batch's offsets
 * are committed only after every dead letter of the batch is acknowledged,
 * so nothing refused is ever lost. Summaries (summaries.c) are queued and
 * waited for the same way.
 *
 * Every wait lasts at most worker.kafka_ack_timeout_ms, which the
 * configuration keeps well below worker.idle_tx_timeout_ms: the worker waits
 * inside a transaction, which the database would end first.
 */
#ifndef VG_OUT_H
#define VG_OUT_H

#include "batch.h"
#include "config.h"
#include "err.h"

struct vg_out;

/* Creates the producer. Returns NULL with errstr filled on a bad configuration. */
struct vg_out *vg_out_new(const struct vg_config *cfg, char *errstr, size_t errstr_size);

/* Sends every refused message of b not yet acknowledged and waits for the
 * acknowledgements. Returns 0, or VG_ETRANSIENT if any was not acknowledged
 * (the caller retries; only the unacknowledged are sent again). Marks each
 * acknowledged message dead_sent. */
int vg_out_send_refused(struct vg_out *o, struct vg_batch *b) VG_MUSTCHECK;

/* Queues one message to topic with key and value (both copied). Returns 0 or
 * VG_ETRANSIENT. vg_out_wait() then waits for every queued message. */
int vg_out_queue(struct vg_out *o, const char *topic, const char *key, const char *value,
                 size_t len) VG_MUSTCHECK;

/* Waits for every queued message; 0 if all were acknowledged, else
 * VG_ETRANSIENT (the rest are purged). */
int vg_out_wait(struct vg_out *o) VG_MUSTCHECK;

/* Flushes (bounded) and frees; accepts NULL. */
void vg_out_free(struct vg_out *o);

#endif
