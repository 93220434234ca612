/*
 * summaries.h - one summary per finished session on vigil.summaries.
 *
 * The batch (or the command) that ends a session writes a row in
 * ops.summary_outbox in its own transaction, keyed by (tenant, session): a
 * replay of the same end adds nothing, so a session gets one summary. Between
 * batches the worker sends pending rows and marks them sent after Kafka
 * acknowledged them. A crash between the two sends a summary again; its
 * summary_id ("tenant/session_id/status") is deterministic, so a consumer
 * drops the repeat.
 */
#ifndef VG_SUMMARIES_H
#define VG_SUMMARIES_H

#include <libpq-fe.h>

#include "config.h"
#include "out.h"

/* Sends up to max pending summaries. Returns how many were sent, or a
 * negative VG_E* code (transient: try again later). */
int vg_summaries_send(PGconn *conn, const struct vg_config *cfg, struct vg_out *out, int max);

#endif
