/*
 * stages.h - the steps of a batch, each one entry point called inside the
 * batch's transaction, in this order:
 *
 *   raw       COPY the batch into a session-local table, keep the events not
 *             seen before (raw.event_ids), land them in raw.events
 *   staging   typed rows with hash keys and hash diff (staging.events)
 *   vault     hubs, links and the event link (vault.*), insert-only
 *   sessions  merge session signals and activity into mart.sessions
 *
 * The work tables and the statements the commands share with the stages
 * are landing.h's.
 *
 * Each returns 0, VG_ETRANSIENT (retry the batch), VG_EDB (something in the
 * data: the pipeline retries message by message to find it), or VG_ESQL (a
 * statement refused for no message's sake: retry the batch, with backoff).
 */
#ifndef VG_STAGES_H
#define VG_STAGES_H

#include <libpq-fe.h>

#include "batch.h"
#include "config.h"
#include "decode.h"
#include "util.h"

struct vg_stage_ctx {
    PGconn *conn;
    const struct vg_config *cfg;
    struct vg_batch *batch;
    struct vg_event *events; /* parallel to batch->msgs; valid where !refused */
    size_t first, count;     /* the slice of the batch this run covers */
    struct vg_buf copy;      /* reused COPY buffer */
    int64_t known_days[64];  /* raw partitions known to exist (days since epoch) */
    size_t nknown_days;
    int64_t slice_new;       /* set by the raw stage: events of this slice not seen before */
    int64_t new_events;      /* their sum over the attempt's slices */
    int64_t session_rows;    /* set by the sessions stage: mart.sessions rows written */
    char errstr[512];
};

/* Creates this connection's work tables; run once per connection. */
int vg_stages_prepare(struct vg_stage_ctx *s) VG_MUSTCHECK;

int vg_stage_raw(struct vg_stage_ctx *s) VG_MUSTCHECK;
int vg_stage_staging(struct vg_stage_ctx *s) VG_MUSTCHECK;
int vg_stage_vault(struct vg_stage_ctx *s) VG_MUSTCHECK;
int vg_stage_sessions(struct vg_stage_ctx *s) VG_MUSTCHECK;

/* Runs one statement without parameters; 0 or a classified error in s->errstr. */
int vg__stage_exec(struct vg_stage_ctx *s, const char *sql) VG_MUSTCHECK;

#endif
