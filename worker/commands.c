/*
 * Commands: accepted in the batch transaction, carried out between batches.
 *
 * Accepting records the run of each command the decoder verified
 * (vg_decode_command()) in ops.command_runs; a command_id already there is
 * not run again. Working takes the running runs, finds each one's step in
 * the registry below, and makes steps on each (cmd.h: one transaction each,
 * shared between workers) until the time budget is spent.
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "command.h"
#include "log.h"
#include "metrics.h"
#include "pg.h"
#include "stats.h"
#include "util.h"

/* clang-format off */
static const struct {
    const char *name;
    vg_cmd_step_fn step;
} steps[] = {
    {"timeout_sessions", vg__cmd_timeout_sessions},
    {"cleanup_drafts", vg__cmd_cleanup_drafts},
    {"expire_sessions", vg__cmd_expire_sessions},
    {"purge_raw", vg__cmd_purge_raw},
    {"erase_subject", vg__cmd_erase_subject},
    {"reprocess", vg__cmd_reprocess},
};
/* clang-format on */

/* -- accepting --------------------------------------------------------- */

/* Records the run of m's command; a known command_id changes nothing. */
static int record(struct vg_stage_ctx *s, const struct vg_msg *m)
{
    json_t *b = m->body;
    char *params = json_dumps(json_object_get(b, "params"), JSON_COMPACT | JSON_SORT_KEYS);
    const char *p[5] = {json_string_value(json_object_get(b, "command_id")),
                        json_string_value(json_object_get(b, "name")), params,
                        json_is_true(json_object_get(b, "dry_run")) ? "true" : "false",
                        s->cfg->worker_id};
    PGresult *r;
    int rc = vg_pg_query(s->conn, &r,
                         "INSERT INTO ops.command_runs (command_id, name, params, dry_run,"
                         " status, worker) VALUES ($1, $2, $3::jsonb, $4::boolean,"
                         " 'running', $5) ON CONFLICT (command_id) DO NOTHING",
                         5, p, s->errstr, sizeof(s->errstr));
    if (rc == 0 && !strcmp(PQcmdTuples(r), "0"))
        vg_debug("command %s is known already: not run again", p[0]);
    PQclear(r);
    free(params);
    return rc;
}

int vg_commands_accept(struct vg_stage_ctx *s)
{
    for (size_t i = s->first; i < s->first + s->count; i++) {
        const struct vg_msg *msg = &s->batch->msgs[i];
        if (msg->kind != VG_MSG_COMMAND || msg->refused)
            continue;
        int rc = record(s, msg);
        if (rc)
            return rc;
    }
    return 0;
}

/* -- working ----------------------------------------------------------- */

static void run_failed(struct vg_cmd_run *run)
{
    const char *p[2] = {run->command_id, run->errstr};
    char err[512];
    PGresult *r;
    if (vg_pg_query(run->conn, &r,
                    "UPDATE ops.command_runs SET status = 'failed', error = $2,"
                    " finished_at = clock_timestamp(), updated_at = clock_timestamp()"
                    " WHERE command_id = $1 AND status = 'running'",
                    2, p, err, sizeof(err))) {
        vg_warn("command %s failed (%s) and could not be marked failed: %s", run->command_id,
                run->errstr, err);
        return;
    }
    if (!strcmp(PQcmdTuples(r), "1")) {
        vg_counter_add(vg_metric_series(vg_worker_stats.command_runs, run->def->name, "failed"),
                       1);
        vg_error("command %s (%s) failed: %s", run->command_id, run->def->name, run->errstr);
    }
    PQclear(r);
}

/* One step of a run. Returns 0 (run->state says what next) or
 * VG_ETRANSIENT; a run that fails for good is marked failed (state DONE). */
static int step_once(struct vg_cmd_run *run, vg_cmd_step_fn step)
{
    int64_t t0 = vg_mono_ms();
    run->state = VG_CMD_MORE;
    run->rows = 0;
    run->finished = 0;
    run->errstr[0] = '\0';
    int rc = step(run);
    if (rc && PQtransactionStatus(run->conn) != PQTRANS_IDLE)
        vg_pg_rollback(run->conn);
    if (rc && rc != VG_ETRANSIENT) {
        run_failed(run);
        run->state = VG_CMD_DONE;
        return 0;
    }
    if (rc)
        return rc;
    vg_histogram_observe(vg_metric_series(vg_worker_stats.command_batch_seconds, run->def->name),
                         (double)(vg_mono_ms() - t0) / 1e3);
    if (!run->dry_run)
        vg_counter_add(vg_metric_series(vg_worker_stats.command_rows, run->def->name),
                       (uint64_t)run->rows);
    if (run->finished) {
        vg_counter_add(vg_metric_series(vg_worker_stats.command_runs, run->def->name, "done"), 1);
        vg_histogram_observe(vg_metric_series(vg_worker_stats.command_run_seconds, run->def->name),
                             run->run_seconds);
        vg_info("command %s (%s%s) done in %.1f s", run->command_id, run->def->name,
                run->dry_run ? ", dry run" : "", run->run_seconds);
    }
    return 0;
}

static vg_cmd_step_fn step_of(const char *name)
{
    for (size_t i = 0; i < VG_ARRAY_LEN(steps); i++)
        if (!strcmp(steps[i].name, name))
            return steps[i].step;
    return NULL;
}

/* Runs a worker takes on at a time, the oldest first. */
#define MAX_RUNS 32

int vg_commands_work(PGconn *conn, const struct vg_config *cfg, int budget_ms)
{
    (void)cfg;
    int64_t deadline = vg_mono_ms() + budget_ms;
    char err[512];
    PGresult *r;
    if (vg_pg_query(conn, &r,
                    "SELECT command_id, name, params::text, dry_run, started_at"
                    " FROM ops.command_runs WHERE status = 'running'"
                    " ORDER BY started_at, command_id LIMIT " VG_STR(MAX_RUNS),
                    0, NULL, err, sizeof(err))) {
        vg_warn("cannot read running commands: %s", err);
        return VG_ETRANSIENT;
    }
    struct vg_cmd_run runs[MAX_RUNS];
    vg_cmd_step_fn fns[MAX_RUNS];
    int n = 0;
    for (int i = 0; i < PQntuples(r) && n < MAX_RUNS; i++) {
        struct vg_cmd_run *run = &runs[n];
        memset(run, 0, sizeof(*run));
        run->conn = conn;
        run->command_id = PQgetvalue(r, i, 0);
        run->def = vg_command_find(PQgetvalue(r, i, 1));
        fns[n] = run->def ? step_of(run->def->name) : NULL;
        if (!fns[n])
            continue; /* a command this worker's version does not know */
        run->params = json_loads(PQgetvalue(r, i, 2), 0, NULL);
        run->dry_run = !strcmp(PQgetvalue(r, i, 3), "t");
        run->started_at = PQgetvalue(r, i, 4);
        if (!run->params ||
            vg_command_check_params(run->def, run->params, run->errstr, sizeof(run->errstr))) {
            if (!run->params)
                snprintf(run->errstr, sizeof(run->errstr), "params are not a JSON object");
            run_failed(run);
            json_decref(run->params);
            continue;
        }
        n++;
    }
    /* Round robin, a step of each run per round, so that a long run does not
     * hold this worker away from the others. */
    int rc = 0, active = n;
    while (rc == 0 && active > 0 && vg_mono_ms() < deadline) {
        active = 0;
        for (int i = 0; i < n && rc == 0 && vg_mono_ms() < deadline; i++) {
            if (runs[i].state != VG_CMD_MORE)
                continue;
            rc = step_once(&runs[i], fns[i]);
            active += rc == 0 && runs[i].state == VG_CMD_MORE;
        }
    }
    for (int i = 0; i < n; i++)
        json_decref(runs[i].params);
    PQclear(r);
    return rc;
}
