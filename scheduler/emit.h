/*
 * emit.h - signed commands onto vigil.commands.
 *
 * One idempotent producer (acks=all). A command is sent and then waited for:
 * the scheduler records a slot as fired only once Kafka acknowledged it. A
 * command whose acknowledgement never came may still have landed; sending it
 * again is harmless, as its command_id makes the repeat a no-op.
 */
#ifndef VG_EMIT_H
#define VG_EMIT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* "<schedule>@<slot>" with the slot in RFC 3339 UTC at minute precision,
 * "timeout-idle@2026-11-23T01:54:00Z". */
#define VG_EMIT_ID_LEN (64 + 32)
void vg_emit_command_id(const char *schedule, int64_t slot_s, char *out, size_t size);

struct vg_emitter;

/* A producer for cfg's commands topic, signing with cfg->command_secret
 * (copied, as is the topic name). Returns NULL with errstr filled. */
struct vg_emitter *vg_emitter_new(const struct vg_config *cfg, char *errstr, size_t errstr_size);

/*
 * Builds the command (issued now), signs it and produces it with the name as
 * key, then waits at most timeout_ms for Kafka's acknowledgement. params is
 * copied. Returns 0 once acknowledged, else VG_EKAFKA or VG_ETIMEOUT with
 * errstr filled.
 */
int vg_emitter_send(struct vg_emitter *e, const char *command_id, const char *name,
                    const json_t *params, int dry_run, int timeout_ms, char *errstr,
                    size_t errstr_size) VG_MUSTCHECK;

/* 1 if a Kafka broker answers a metadata request within timeout_ms. */
int vg_emitter_reachable(struct vg_emitter *e, int timeout_ms);

/* Flushes (bounded) and frees; accepts NULL. */
void vg_emitter_free(struct vg_emitter *e);

#endif
