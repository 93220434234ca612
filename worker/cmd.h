/*
 * cmd.h - what the commands (cmd_sessions.c, cmd_data.c) are made of: a run
 * of ops.command_runs and the transactions of a step (cmd.c). commands.c
 * finds a run's step by its command's name and calls it; the commands call
 * nothing of commands.c.
 *
 * A step is one transaction: BEGIN, work on at most a batch of rows, record
 * the progress in the run's row, COMMIT. Two shapes cover every command:
 *
 *   sweep  the work statement picks up to batch_size qualifying rows with
 *          FOR UPDATE SKIP LOCKED and changes them so that they no longer
 *          qualify; affected grows by what it changed. Workers share a sweep
 *          row by row: a row is locked by one of them, and the others skip
 *          it, or see it no longer qualifying once committed. When a step
 *          picks nothing and no row qualifies any more (a plain read, so rows
 *          locked by a batch still in flight count as left), the run is done.
 *   once   the whole command in one transaction (dry runs, purge_raw,
 *          erase_subject) under a lock on the run's own row taken with SKIP
 *          LOCKED, so that one worker does it while the others pass.
 *
 * Work and count statements return one row: the number of rows (changed,
 * or that would change) and a JSON array of up to VG_COMMAND_SAMPLE_MAX keys
 * (NULL for none; VG_CMD_SAMPLE()). The run's reference time is its
 * started_at (when it was accepted): "older than idle_seconds" means older
 * than that minus idle_seconds, so a sweep has a fixed end.
 */
#ifndef VG_CMD_H
#define VG_CMD_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "err.h"
#include "util.h"

enum vg_cmd_state {
    VG_CMD_MORE, /* a step committed; there may be more */
    VG_CMD_DONE, /* the run is finished (by this step or another worker) */
    VG_CMD_BUSY, /* what is left is in another worker's hands right now */
};

struct vg_cmd_run {
    PGconn *conn;
    const struct vg_command_def *def;
    const char *command_id;
    json_t *params;
    int dry_run;
    const char *started_at;  /* timestamptz text: the reference time */
    enum vg_cmd_state state; /* set by a step that returns 0 */
    int64_t rows;            /* rows the step changed (or counted in a dry run) */
    int finished;            /* this step moved the run to done */
    double run_seconds;      /* then: started_at to done */
    char errstr[512];
};

/* A command's step: returns 0 with run->state set, VG_ETRANSIENT (retry
 * later), or VG_EDB or VG_ESQL (the run fails with run->errstr). The transaction is
 * closed on return, committed or rolled back. */
typedef int (*vg_cmd_step_fn)(struct vg_cmd_run *run);

/* The steps of the commands, one per name of common/command.c. */
int vg__cmd_timeout_sessions(struct vg_cmd_run *run) VG_MUSTCHECK;
int vg__cmd_cleanup_drafts(struct vg_cmd_run *run) VG_MUSTCHECK;
int vg__cmd_expire_sessions(struct vg_cmd_run *run) VG_MUSTCHECK;
int vg__cmd_purge_raw(struct vg_cmd_run *run) VG_MUSTCHECK;
int vg__cmd_erase_subject(struct vg_cmd_run *run) VG_MUSTCHECK;
int vg__cmd_reprocess(struct vg_cmd_run *run) VG_MUSTCHECK;

/* SQL: the sample of the rows of from (a FROM clause, with a WHERE if need
 * be): the JSON array text of the first VG_COMMAND_SAMPLE_MAX values of the
 * expression key, in order, NULL for no row. */
#define VG_CMD_SAMPLE(key, from)                                                                 \
    "(SELECT jsonb_agg(k ORDER BY k) FROM (SELECT " key " AS k FROM " from                       \
    " ORDER BY 1 LIMIT " VG_STR(VG_COMMAND_SAMPLE_MAX) ") z)::text"

/* The text of parameter name for a statement: integers in decimal (into
 * buf), strings as they are; NULL when absent. */
const char *vg__cmd_param(const struct vg_cmd_run *run, const char *name, char *buf, size_t size);

/* The text of the batch_size parameter, VG_COMMAND_BATCH_DEFAULT when
 * absent (in buf). Never NULL. */
const char *vg__cmd_batch_size(const struct vg_cmd_run *run, char *buf, size_t size);

/* vg_pg_query() on the run's connection, errors in run->errstr: 0 with the
 * result in *res (the caller PQclear()s it), or a classified error. */
int vg__cmd_query(struct vg_cmd_run *run, PGresult **res, const char *sql, int nparams,
                  const char *const *params) VG_MUSTCHECK;

/* A statement without parameters or rows (BEGIN, COMMIT, ...): 0 or an error. */
int vg__cmd_exec(struct vg_cmd_run *run, const char *sql) VG_MUSTCHECK;

/* Opens a transaction and locks the run's row in it if the run is still
 * running and no other worker holds it. Returns 1 if locked (the
 * transaction stays open); 0 if not, or an error, with the transaction
 * rolled back and run->state BUSY. */
int vg__cmd_begin(struct vg_cmd_run *run) VG_MUSTCHECK;

/* In the open transaction: adds n to affected and the keys of sample (JSON
 * array text, may be NULL) to the run's sample, up to its first
 * VG_COMMAND_SAMPLE_MAX keys. Returns 0, VG_ECONFLICT if the run is no
 * longer running, or an error. */
int vg__cmd_progress(struct vg_cmd_run *run, int64_t n, const char *sample) VG_MUSTCHECK;

/* In the open transaction: as vg__cmd_progress(), and the run becomes done.
 * Leaves a run that is already finished alone (returns 0); sets
 * run->finished when this call finished it. */
int vg__cmd_finish(struct vg_cmd_run *run, int64_t n, const char *sample) VG_MUSTCHECK;

/* The "once" shape: claim, count_sql (returning count and sample), finish,
 * commit. BUSY if another worker holds the run. */
int vg__cmd_once(struct vg_cmd_run *run, const char *count_sql, int nparams,
                 const char *const *params) VG_MUSTCHECK;

/* The statements of a sweep. work takes the step's params (the last one is
 * the batch size) and returns count and sample; left takes all but the last
 * and returns whether any row still qualifies; count, for a dry run, takes
 * the params of left and returns count and sample. */
struct vg_cmd_sweep {
    const char *work, *left, *count;
};

/* The "sweep" shape with sql's statements and nparams params; a dry run is
 * the "once" shape with sql->count. */
int vg__cmd_sweep(struct vg_cmd_run *run, const struct vg_cmd_sweep *sql, int nparams,
                  const char *const *params) VG_MUSTCHECK;

#endif
