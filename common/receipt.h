/*
 * receipt.h - read-your-writes receipts (DESIGN.md section 10): the one owner
 * of their wire format, written by the producer and read by vigil-query.
 *
 * A receipt names, for every Kafka partition a request wrote to, the offset
 * of the last message written there. Every message of the request is
 * committed in PostgreSQL once the workers' ops.consumer_offsets row of each
 * named partition has next_offset > that offset.
 *
 *   receipt = base64url("1;" topic ":" partition ":" offset (";" ...)*)
 *
 * Topic names are [A-Za-z0-9._-] (no ":" nor ";"). The string is opaque to
 * clients and URL-safe; it carries no secret and grants nothing by itself
 * (GET /v1/receipts/{r} still asks for a key or token).
 *
 * The worker's commit wakes receipt waiters: the statement that moves the
 * offsets also calls pg_notify(VG_RECEIPT_CHANNEL, group), which PostgreSQL
 * delivers at commit.
 */
#ifndef VG_RECEIPT_H
#define VG_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define VG_RECEIPT_CHANNEL "vigil_offsets"
#define VG_RECEIPT_MAX_POSITIONS 64 /* partitions one receipt names, at most */
#define VG_RECEIPT_TOPIC_MAX 127     /* longest topic name a receipt carries */
#define VG_RECEIPT_MAX_LEN 16384     /* longest encoded receipt, NUL included */

struct vg_position {
    char topic[VG_RECEIPT_TOPIC_MAX + 1];
    int32_t partition;
    int64_t offset; /* of the last message written there */
};

struct vg_receipt {
    struct vg_position pos[VG_RECEIPT_MAX_POSITIONS];
    size_t n;
};

/*
 * Records that a message was written at (topic, partition, offset): keeps the
 * greatest offset per partition. Returns 0, VG_EINVAL for a bad name or a
 * negative offset, or VG_EFULL past VG_RECEIPT_MAX_POSITIONS partitions.
 */
int vg_receipt_add(struct vg_receipt *r, const char *topic, int32_t partition,
                   int64_t offset) VG_MUSTCHECK;

/* Encodes r into out (out_size >= VG_RECEIPT_MAX_LEN is always enough).
 * Returns 0 or VG_EINVAL if r is empty or out is too small. */
int vg_receipt_encode(const struct vg_receipt *r, char *out, size_t out_size) VG_MUSTCHECK;

/* Decodes len bytes of s into *r. Returns 0 or VG_EINVAL for anything that
 * is not a receipt of this version. */
int vg_receipt_decode(const char *s, size_t len, struct vg_receipt *r) VG_MUSTCHECK;

#endif
