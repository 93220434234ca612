/*
 * kafka_out.h - the producer's one Kafka producer, and delivery tracking.
 *
 * One idempotent librdkafka producer per process (enable.idempotence, acks=all,
 * lz4, linger.ms and queue bound from the config) and one thread that polls
 * it: delivery reports, the queue-depth gauge and the deadlines of waiting
 * requests all run there.
 *
 * A request's messages share a struct vg_delivery. Durable requests wait
 * on it: vg_delivery_wait() arms a callback that fires once, when Kafka has
 * reported on every message or when the request's deadline passes, whichever
 * comes first. The delivery report is the only place a message is known
 * durable (STYLE.md). A request with `Prefer: respond-async` answers after
 * vg_kout_send() and releases its delivery at once.
 *
 * The local queue is bounded by producer.queue_max_messages, counted here
 * before anything is enqueued: a request that does not fit enqueues nothing
 * (VG_EFULL, answered 503), so a batch is never half in Kafka.
 */
#ifndef VG_KAFKA_OUT_H
#define VG_KAFKA_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "ingest.h"

struct vg_kout;
struct vg_delivery;

enum vg_delivery_result {
    VG_DELIVERY_PENDING,
    VG_DELIVERY_OK,      /* every message acknowledged by Kafka */
    VG_DELIVERY_FAILED,  /* a delivery report carried an error */
    VG_DELIVERY_TIMEOUT, /* the deadline passed first */
};

/*
 * Creates the producer and starts its poll thread. Topic names and limits
 * are copied from cfg. Returns NULL with errstr filled if librdkafka refuses
 * the configuration. Free with vg_kout_free().
 */
struct vg_kout *vg_kout_new(const struct vg_config *cfg, char *errstr, size_t errstr_size);

/*
 * Stops the poll thread and destroys the producer without waiting for
 * anything (call vg_kout_flush() first). Every delivery must have been
 * released. Accepts NULL.
 */
void vg_kout_free(struct vg_kout *k);

/*
 * A new delivery for one request of tenant (copied), due by deadline_ms on
 * the monotonic clock. async: the client is answered on enqueue, so a later
 * failure counts as lost. The caller owns one reference: vg_delivery_release().
 */
struct vg_delivery *vg_delivery_new(struct vg_kout *k, const char *tenant, int64_t deadline_ms,
                                    int async);

/*
 * Enqueues every message of o on d, with the headers vigil-tenant and
 * vigil-schema. Returns 0; VG_EFULL if the local queue has no room for all
 * of them (nothing is enqueued); VG_EKAFKA after a fatal producer error or a
 * message librdkafka refuses (messages before it stay enqueued and are
 * tracked on d). Call once per delivery.
 */
int vg_kout_send(struct vg_kout *k, struct vg_delivery *d, const struct vg_outbox *o) VG_MUSTCHECK;

typedef void (*vg_delivery_fn)(void *opaque);

/*
 * Waits for d without blocking. If d is already settled, returns 1 and calls
 * nothing. Otherwise calls arm(opaque) and returns 0; wake(opaque) is called
 * exactly once later, from the poll thread, when d settles or its deadline
 * passes. Both run under the producer's lock: they may suspend or resume an
 * HTTP connection, never call back into this module.
 */
int vg_delivery_wait(struct vg_delivery *d, vg_delivery_fn arm, vg_delivery_fn wake,
                     void *opaque);

/* How d ended; err (may be NULL) gets the first delivery error's text. */
enum vg_delivery_result vg_delivery_result(struct vg_delivery *d, char *err, size_t err_size);

/*
 * The receipt (common/receipt.h) of a durable delivery that settled
 * VG_DELIVERY_OK, into out (VG_RECEIPT_MAX_LEN bytes suffice). Returns 0, or
 * VG_EINVAL when there is none: an asynchronous or failed delivery, or one
 * spread over more partitions than a receipt names.
 */
int vg_delivery_receipt(struct vg_delivery *d, char *out, size_t out_size) VG_MUSTCHECK;

/* Drops the caller's reference; d lives on until its last report. Accepts NULL. */
void vg_delivery_release(struct vg_delivery *d);

/* Wakes every waiting delivery as timed out (shutdown past its grace). */
void vg_kout_wake_all(struct vg_kout *k);

/*
 * 1 if the poll thread's last Kafka metadata request (one a second) succeeded,
 * else 0 with reason filled; never blocks. Never 1 after a fatal error.
 */
int vg_kout_ready(struct vg_kout *k, char *reason, size_t reason_size);

/* 1 (with errstr filled) once librdkafka reported a fatal error: shut down. */
int vg_kout_fatal(struct vg_kout *k, char *errstr, size_t errstr_size);

/* Stops polling and flushes for at most timeout_ms; returns the messages
 * that were left, which are then purged (reported as failed). */
int vg_kout_flush(struct vg_kout *k, int timeout_ms);

/* Messages answered asynchronously whose delivery then failed. */
uint64_t vg_kout_lost(struct vg_kout *k);

/* The librdkafka handle, for tests (rd_kafka_test_fatal_error). */
struct rd_kafka_s *vg_kout_handle(struct vg_kout *k);

#endif
