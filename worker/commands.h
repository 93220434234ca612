/*
 * commands.h - signed scheduler commands, carried out by the workers.
 *
 * A command message's signature is checked when the batch is decoded
 * (vg_decode_command()), before any transaction: a forged, unsigned or
 * malformed command is refused there, goes to the DLQ like any other bad
 * message and changes nothing. Then two halves. Inside a batch's
 * transaction, vg_commands_accept() records each verified command in
 * ops.command_runs (status running; a command_id already there is not run
 * again). Between batches, vg_commands_work() carries out running commands
 * in batches of their own, each batch its own transaction using FOR UPDATE
 * SKIP LOCKED, so that every worker can share a large sweep and a crash
 * loses at most one batch of progress; the last batch marks the run done.
 */
#ifndef VG_COMMANDS_H
#define VG_COMMANDS_H

#include <libpq-fe.h>

#include "config.h"
#include "stages.h"

/* Inside the batch transaction: records the batch's command messages in the
 * slice [s->first, s->first + s->count) that decoding did not refuse.
 * Returns 0, VG_ETRANSIENT, VG_EDB or VG_ESQL. */
int vg_commands_accept(struct vg_stage_ctx *s) VG_MUSTCHECK;

/* Between batches, outside any transaction: works on running commands for at
 * most budget_ms. Returns 0 or VG_ETRANSIENT (the caller retries later). */
int vg_commands_work(PGconn *conn, const struct vg_config *cfg, int budget_ms) VG_MUSTCHECK;

#endif
