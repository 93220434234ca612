/*
 * The transactions a command's step is made of (cmd.h): parameters, the
 * lock on the run's row, progress and the two shapes, sweep and once.
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

const char *vg__cmd_param(const struct vg_cmd_run *run, const char *name, char *buf, size_t size)
{
    json_t *v = json_object_get(run->params, name);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

const char *vg__cmd_batch_size(const struct vg_cmd_run *run, char *buf, size_t size)
{
    const char *v = vg__cmd_param(run, "batch_size", buf, size);
    if (v)
        return v;
    snprintf(buf, size, "%d", VG_COMMAND_BATCH_DEFAULT);
    return buf;
}

int vg__cmd_query(struct vg_cmd_run *run, PGresult **res, const char *sql, int nparams,
                  const char *const *params)
{
    return vg_pg_query(run->conn, res, sql, nparams, params, run->errstr, sizeof(run->errstr));
}

int vg__cmd_exec(struct vg_cmd_run *run, const char *sql)
{
    return vg_pg_exec(run->conn, sql, run->errstr, sizeof(run->errstr));
}

int vg__cmd_begin(struct vg_cmd_run *run)
{
    const char *p[1] = {run->command_id};
    PGresult *r;
    int rc = vg__cmd_exec(run, "BEGIN");
    if (rc)
        return rc;
    if ((rc = vg__cmd_query(run, &r,
                            "SELECT 1 FROM ops.command_runs WHERE command_id = $1"
                            " AND status = 'running' FOR UPDATE SKIP LOCKED",
                            1, p)) == 0) {
        rc = PQntuples(r) == 1;
        PQclear(r);
    }
    if (rc <= 0) {
        vg_pg_rollback(run->conn);
        run->state = VG_CMD_BUSY;
    }
    return rc;
}

/* The run's sample with keys added ($3), capped at its first
 * VG_COMMAND_SAMPLE_MAX. */
#define SAMPLE_MERGE                                                                               \
    "sample = CASE WHEN $3::jsonb IS NULL"                                                         \
    "   OR jsonb_array_length(coalesce(sample, '[]'::jsonb)) >= " VG_STR(VG_COMMAND_SAMPLE_MAX)    \
    " THEN coalesce(sample, '[]'::jsonb)"                                                          \
    " ELSE jsonb_path_query_array(coalesce(sample, '[]'::jsonb) || $3::jsonb,"                     \
    "   '$[0 to " VG_STR(VG_COMMAND_SAMPLE_MAX) " - 1]')"                                          \
    " END"

static const char progress_sql[] =
    "UPDATE ops.command_runs SET affected = affected + $2::bigint,"
    " updated_at = clock_timestamp(), " SAMPLE_MERGE
    " WHERE command_id = $1 AND status = 'running'";

static const char finish_sql[] =
    "UPDATE ops.command_runs SET status = 'done',"
    " finished_at = clock_timestamp(), updated_at = clock_timestamp(),"
    " affected = affected + $2::bigint, " SAMPLE_MERGE
    " WHERE command_id = $1 AND status = 'running'"
    " RETURNING extract(epoch FROM clock_timestamp() - started_at)";

/* vg__cmd_progress() (done 0) or vg__cmd_finish() (done 1). */
static int advance(struct vg_cmd_run *run, int64_t n, const char *sample, int done)
{
    char nb[24];
    snprintf(nb, sizeof(nb), "%lld", (long long)n);
    const char *p[3] = {run->command_id, nb, sample};
    PGresult *r;
    int rc = vg__cmd_query(run, &r, done ? finish_sql : progress_sql, 3, p);
    if (rc)
        return rc;
    if (!done) {
        rc = strcmp(PQcmdTuples(r), "1") ? VG_ECONFLICT : 0;
    } else if (PQntuples(r) == 1) {
        run->finished = 1;
        run->run_seconds = strtod(PQgetvalue(r, 0, 0), NULL);
    }
    PQclear(r);
    return rc;
}

int vg__cmd_progress(struct vg_cmd_run *run, int64_t n, const char *sample)
{
    return advance(run, n, sample, 0);
}

int vg__cmd_finish(struct vg_cmd_run *run, int64_t n, const char *sample)
{
    return advance(run, n, sample, 1);
}

/* The count and sample of a work or count statement's one row. */
static int64_t count_of(PGresult *r, const char **sample)
{
    *sample = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
    return strtoll(PQgetvalue(r, 0, 0), NULL, 10);
}

int vg__cmd_once(struct vg_cmd_run *run, const char *count_sql, int nparams,
                 const char *const *params)
{
    int rc = vg__cmd_begin(run);
    if (rc <= 0)
        return rc;
    PGresult *r;
    if ((rc = vg__cmd_query(run, &r, count_sql, nparams, params)))
        return rc;
    const char *sample;
    run->rows = count_of(r, &sample);
    rc = vg__cmd_finish(run, run->rows, sample);
    PQclear(r);
    if (rc == 0)
        rc = vg__cmd_exec(run, "COMMIT");
    run->state = VG_CMD_DONE;
    return rc;
}

int vg__cmd_sweep(struct vg_cmd_run *run, const struct vg_cmd_sweep *sql, int nparams,
                  const char *const *params)
{
    if (run->dry_run)
        return vg__cmd_once(run, sql->count, nparams - 1, params);
    PGresult *r;
    int rc = vg__cmd_exec(run, "BEGIN");
    if (rc || (rc = vg__cmd_query(run, &r, sql->work, nparams, params)))
        return rc;
    const char *sample;
    int64_t n = count_of(r, &sample);
    if (n > 0) {
        rc = vg__cmd_progress(run, n, sample);
        PQclear(r);
        if (rc == VG_ECONFLICT) {
            /* Finished meanwhile (by a worker that saw nothing left): what
             * this batch did is not counted, so it is not done either. */
            vg_pg_rollback(run->conn);
            run->state = VG_CMD_DONE;
            return 0;
        }
        if (rc == 0)
            rc = vg__cmd_exec(run, "COMMIT");
        run->rows = n;
        run->state = VG_CMD_MORE;
        return rc;
    }
    PQclear(r);
    /* Nothing picked: either nothing qualifies any more, or what does is
     * locked by a batch in flight, which a plain read still sees. */
    if ((rc = vg__cmd_query(run, &r, sql->left, nparams - 1, params)))
        return rc;
    int left = !strcmp(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    if (left) {
        vg_pg_rollback(run->conn);
        run->state = VG_CMD_BUSY;
        return 0;
    }
    if ((rc = vg__cmd_finish(run, 0, NULL)) == 0)
        rc = vg__cmd_exec(run, "COMMIT");
    run->state = VG_CMD_DONE;
    return rc;
}
