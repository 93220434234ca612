/*
 * offsets.h - consumer offsets kept in PostgreSQL (ops.consumer_offsets).
 *
 * The database, not Kafka, says where a partition's next batch starts. A
 * batch moves every partition it read with a compare-and-set inside its own
 * transaction: if another member of the group (a worker, a notifier) has
 * moved one since this one read it, the partition is no longer ours and the
 * whole batch is rolled back. Keyed by consumer group, so every program
 * that consumes this way shares the table.
 */
#ifndef VG_OFFSETS_H
#define VG_OFFSETS_H

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "batch.h"
#include "err.h"

/*
 * Fills each element's offset with the stored next_offset, or
 * RD_KAFKA_OFFSET_BEGINNING where none is stored. Returns 0, or a
 * vg_pg_classify() code with errstr filled.
 */
int vg_offsets_load(PGconn *conn, const char *group, rd_kafka_topic_partition_list_t *parts,
                    char *errstr, size_t errstr_size) VG_MUSTCHECK;

/*
 * Inside the batch's open transaction: for every partition of b, moves
 * next_offset from part->expected (-1: no row yet) to part->next, and records
 * part->high (unless -1) as the lag's reference; counts b's refused messages
 * per topic in ops.dead_letters. Returns 0; VG_ECONFLICT if any row did not
 * hold what was expected (the caller rolls back); or a vg_pg_classify() code
 * with errstr filled.
 */
int vg_offsets_advance(PGconn *conn, const char *group, const struct vg_batch *b, char *errstr,
                       size_t errstr_size) VG_MUSTCHECK;

#endif
