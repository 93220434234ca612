/*
 * batch.h - the messages of one batch, and where each partition stands.
 *
 * A batch owns the rd_kafka_message_t of every message it holds until
 * vg_batch_clear(). It is bounded by worker.batch.max_messages; its memory is
 * reused from batch to batch.
 */
#ifndef VG_BATCH_H
#define VG_BATCH_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdint.h>

enum vg_msg_kind { VG_MSG_EVENT, VG_MSG_SIGNAL, VG_MSG_COMMAND };

/* Why a message was refused: goes to the DLQ headers. */
struct vg_refusal {
    const char *stage; /* "decode", "validate", "database", "command" */
    char error[256];
};

struct vg_msg {
    rd_kafka_message_t *rkm; /* owned */
    enum vg_msg_kind kind;
    json_t *body;  /* the parsed envelope, NULL until decoded or if refused */
    int refused;   /* 1: goes to the DLQ, takes no part in the stages */
    int dead_sent; /* its dead letter is acknowledged */
    struct vg_refusal why;
};

/* Where one partition of the batch stands: the stored next offset the batch
 * builds on (compare-and-set) and the one it moves it to. */
struct vg_part {
    const char *topic; /* interned by librdkafka for the consumer's life */
    int32_t partition;
    int64_t expected; /* ops.consumer_offsets.next_offset read at assignment; -1: no row */
    int64_t first;    /* first offset in the batch */
    int64_t next;     /* last offset in the batch + 1 */
    int64_t high;     /* the partition's high watermark as last fetched; -1: unknown */
};

struct vg_batch {
    struct vg_msg *msgs;
    size_t n, cap;
    struct vg_part *parts;
    size_t nparts, partcap;
    int64_t opened_ms;   /* monotonic time of the first message */
    uint64_t generation; /* the assignment it was read under */
};

void vg_batch_init(struct vg_batch *b, size_t cap);
/* Adds a message; the batch takes ownership of rkm. Returns 1 if now full. */
int vg_batch_add(struct vg_batch *b, rd_kafka_message_t *rkm, enum vg_msg_kind kind);
/* Destroys every message and forgets the partitions; keeps the memory. */
void vg_batch_clear(struct vg_batch *b);
void vg_batch_free(struct vg_batch *b);

/* Marks m refused (it will go to the DLQ) with a printf-style reason. */
void vg_msg_refuse(struct vg_msg *m, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
