/*
 * consumer.h - a Kafka consumer whose offsets live in PostgreSQL.
 *
 * The exactly-once pattern of DESIGN.md section 7, shared by every program
 * that consumes in batches (the workers, the notifier). It joins a group
 * over the given topics. On every assignment it reads the stored offsets
 * from PostgreSQL (offsets.h) and starts each partition there; it never
 * relies on offsets committed to Kafka (those are written after each batch
 * only so lag tools see them). Each assignment or revocation bumps
 * `generation`, so a batch gathered under an older assignment is dropped
 * rather than committed.
 */
#ifndef VG_CONSUMER_H
#define VG_CONSUMER_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "metrics.h"
#include "pg.h"

struct vg_assigned {
    char *topic;
    int32_t partition;
    int64_t stored; /* next_offset in ops.consumer_offsets when assigned or last committed; -1: none */
    int past_end_said; /* the stored offset was found past the log's end, and said */
};

struct vg_consumer {
    rd_kafka_t *rk;
    const struct vg_config *cfg;
    char *group;                    /* group.id and key of ops.consumer_offsets */
    struct vg_series *assigned_gauge; /* set to the partitions held, or NULL */
    struct vg_metric *rebalances;     /* counted by type (assign, revoke), or NULL */
    void (*on_rebalance)(const struct vg_consumer *c); /* before each change, or NULL */
    struct vg_pg *pg; /* borrowed: the owner's connection, used between batches */
    uint64_t generation;
    struct vg_assigned *assigned;
    size_t nassigned;
    const volatile sig_atomic_t *stop;
    /* Set when librdkafka refused an assignment: this member then holds no
     * partitions it knows of, and the program stops (a restart rejoins). */
    rd_kafka_resp_err_t assign_error;
};

/* What sets one consumer apart: its group, its name, its topics. */
struct vg_consumer_opts {
    const char *group;                /* copied */
    const char *client_id;            /* client.id, for the broker's logs */
    const char *const *topics;        /* ntopics names, subscribed to */
    size_t ntopics;
    struct vg_series *assigned_gauge; /* may be NULL */
    struct vg_metric *rebalances;     /* a counter labelled type, or NULL */
    void (*on_rebalance)(const struct vg_consumer *c); /* e.g. forget lag; or NULL */
};

/* Creates the consumer and subscribes. pg is borrowed: the owner's
 * connection, used from rebalance callbacks, which run inside the owner's
 * rd_kafka_consumer_poll(). Returns 0 or VG_EKAFKA with errstr filled;
 * VG_ECONFIG for kafka.properties that choose an incremental (cooperative)
 * rebalance protocol, which this consumer does not speak: it assigns and
 * revokes whole assignments, so it refuses them at start. */
int vg_consumer_open(struct vg_consumer *c, const struct vg_config *cfg,
                     const struct vg_consumer_opts *o, struct vg_pg *pg,
                     const volatile sig_atomic_t *stop, char *errstr,
                     size_t errstr_size) VG_MUSTCHECK;

/* True if rkm was already committed (a refetch after a rewind) or its
 * partition is no longer ours: the caller drops it. */
int vg_consumer_stale(const struct vg_consumer *c, const rd_kafka_message_t *rkm);

/* The kind of a message, from its topic (NULL: every message is an event). */
typedef enum vg_msg_kind (*vg_msg_kind_fn)(const char *topic, const void *opaque);

/*
 * One pass of a batch loop: polls for at most 100 ms, or until b is
 * max_ms old; clears b if a rebalance came in between (its messages were
 * read under another assignment); adds a message of ours to b (errors and
 * stale messages are destroyed here). Returns 1 when b is due: full, or
 * max_ms old.
 */
int vg_consumer_gather(struct vg_consumer *c, struct vg_batch *b, int64_t max_ms,
                       vg_msg_kind_fn kind, const void *opaque);

/* Sets each batch partition's expected offset from the assignment and its
 * high watermark from the last fetch. Returns 0, or VG_ECONFLICT if a
 * partition is no longer assigned or the batch does not start at its stored
 * offset (the caller drops the batch and rewinds). */
int vg_consumer_expect(const struct vg_consumer *c, struct vg_batch *b) VG_MUSTCHECK;

/* After a commit: remembers the new stored offsets, and commits them to
 * Kafka asynchronously for lag tools. */
void vg_consumer_committed(struct vg_consumer *c, const struct vg_batch *b);

/* After a refused compare-and-set: reads the stored offsets again and seeks
 * the batch's partitions there; bumps the generation. */
void vg_consumer_rewind(struct vg_consumer *c, const struct vg_batch *b);

/* After a batch that could not be committed yet: seeks its partitions back
 * to the batch's first offsets, without waiting, so that its messages are
 * fetched again; bumps the generation. */
void vg_consumer_seek_back(struct vg_consumer *c, const struct vg_batch *b);

/* Leaves the group and frees everything; accepts a consumer never opened. */
void vg_consumer_close(struct vg_consumer *c);

#endif
