/*
 * Commands: accepted in the batch transaction, carried out between batches.
 *
 * Accepting checks a message's signature (common/command.h) and records the
 * run in ops.command_runs; a command_id already there is not run again.
 * Working takes the running runs and makes steps on each (cmd.h: one
 * transaction each, shared between workers) until the time budget is spent.
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

/* Parses and verifies m; on failure refuses it. Returns 0 or -1 (refused). */
static int check(struct vg_stage_ctx *s, struct vg_msg *m)
{
    const rd_kafka_message_t *k = m->rkm;
    char err[256];
    const char *reason = "malformed";
    struct vg_command c = {0};
    int rc;
    if (k->err) {
        snprintf(err, sizeof(err), "%s", rd_kafka_message_errstr(k));
        rc = VG_EPARSE;
    } else {
        rc = vg_command_parse(k->payload, k->len, s->cfg->command_secret, &c, err, sizeof(err));
    }
    if (rc == 0) {
        m->body = c.msg; /* the batch owns it from here */
        c.msg = NULL;
        return 0;
    }
    if (rc == VG_EAUTH)
        reason = "unsigned_or_forged";
    else if (rc == VG_ENOTFOUND)
        reason = "unknown";
    vg_msg_refuse(m, "command", "%s", err);
    vg_counter_add(vg_metric_series(vg_worker_stats.commands_refused, reason), 1);
    struct vg_log_ctx ctx = VG_LOG_CTX_INIT;
    ctx.topic = rd_kafka_topic_name(k->rkt);
    ctx.partition = k->partition;
    ctx.offset = k->offset;
    ctx.error = err;
    vg_logc(VG_LOG_WARN, &ctx, "command refused, to the DLQ");
    return -1;
}

/* Records the run of m's command; a known command_id changes nothing. */
static int record(struct vg_stage_ctx *s, const struct vg_msg *m)
{
    json_t *b = m->body;
    char *params = json_dumps(json_object_get(b, "params"), JSON_COMPACT | JSON_SORT_KEYS);
    const char *p[5] = {json_string_value(json_object_get(b, "command_id")),
                        json_string_value(json_object_get(b, "name")), params,
                        json_is_true(json_object_get(b, "dry_run")) ? "true" : "false",
                        s->cfg->worker_id};
    PGresult *r = PQexecParams(s->conn,
                               "INSERT INTO ops.command_runs (command_id, name, params, dry_run,"
                               " status, worker) VALUES ($1, $2, $3::jsonb, $4::boolean,"
                               " 'running', $5) ON CONFLICT (command_id) DO NOTHING",
                               5, NULL, p, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        vg_pg_error(s->conn, r, s->errstr, sizeof(s->errstr));
        rc = vg_pg_classify(s->conn, r);
    } else if (!strcmp(PQcmdTuples(r), "0")) {
        vg_debug("command %s is known already: not run again", p[0]);
    }
    PQclear(r);
    free(params);
    return rc;
}

int vg_commands_accept(struct vg_stage_ctx *s)
{
    int refused = 0;
    for (size_t i = s->first; i < s->first + s->count; i++) {
        struct vg_msg *msg = &s->batch->msgs[i];
        if (msg->kind != VG_MSG_COMMAND || msg->refused)
            continue;
        /* A body is set once the message passed its checks, which depend on
         * nothing but the message: a retried batch does not check again. */
        if (!msg->body && check(s, msg)) {
            refused++;
            continue;
        }
        int rc = record(s, msg);
        if (rc)
            return rc;
    }
    if (refused) {
        /* The pipeline sends dead letters before a batch's transaction, not
         * within it: have it roll back, send them, and try again (the
         * refusals stand, so the next attempt goes through). */
        snprintf(s->errstr, sizeof(s->errstr),
                 "%d command%s refused: dead letters go out before the batch commits", refused,
                 refused == 1 ? "" : "s");
        return VG_ETRANSIENT;
    }
    return 0;
}

/* -- working ----------------------------------------------------------- */

const char *vg__cmd_param(const struct vg_cmd_run *run, const char *name, char *buf, size_t size)
{
    json_t *v = json_object_get(run->params, name);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return json_is_string(v) ? json_string_value(v) : NULL;
}

PGresult *vg__cmd_query(struct vg_cmd_run *run, const char *sql, int nparams,
                        const char *const *params, int *rc)
{
    PGresult *r = PQexecParams(run->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        *rc = 0;
        return r;
    }
    vg_pg_error(run->conn, r, run->errstr, sizeof(run->errstr));
    *rc = vg_pg_classify(run->conn, r);
    PQclear(r);
    return NULL;
}

int vg__cmd_exec(struct vg_cmd_run *run, const char *sql)
{
    return vg_pg_exec(run->conn, sql, run->errstr, sizeof(run->errstr));
}

int vg__cmd_claim(struct vg_cmd_run *run)
{
    const char *p[1] = {run->command_id};
    int rc;
    PGresult *r = vg__cmd_query(run,
                                "SELECT 1 FROM ops.command_runs WHERE command_id = $1"
                                " AND status = 'running' FOR UPDATE SKIP LOCKED",
                                1, p, &rc);
    if (!r)
        return rc;
    int got = PQntuples(r) == 1;
    PQclear(r);
    return got;
}

/* The run's sample with keys added, capped at its first 100. */
#define SAMPLE_MERGE                                                                               \
    "sample = CASE WHEN $3::jsonb IS NULL"                                                         \
    "   OR jsonb_array_length(coalesce(sample, '[]'::jsonb)) >= 100"                               \
    " THEN coalesce(sample, '[]'::jsonb)"                                                          \
    " ELSE jsonb_path_query_array(coalesce(sample, '[]'::jsonb) || $3::jsonb, '$[0 to 99]')"       \
    " END"

int vg__cmd_progress(struct vg_cmd_run *run, int64_t n, const char *sample)
{
    char nb[24];
    snprintf(nb, sizeof(nb), "%lld", (long long)n);
    const char *p[3] = {run->command_id, nb, sample};
    int rc;
    PGresult *r = vg__cmd_query(run,
                                "UPDATE ops.command_runs SET affected = affected + $2::bigint,"
                                " updated_at = clock_timestamp(), " SAMPLE_MERGE
                                " WHERE command_id = $1 AND status = 'running'",
                                3, p, &rc);
    if (!r)
        return rc;
    rc = strcmp(PQcmdTuples(r), "1") ? VG_ECONFLICT : 0;
    PQclear(r);
    return rc;
}

int vg__cmd_finish(struct vg_cmd_run *run, int64_t n, const char *sample)
{
    char nb[24];
    snprintf(nb, sizeof(nb), "%lld", (long long)n);
    const char *p[3] = {run->command_id, nb, sample};
    int rc;
    PGresult *r = vg__cmd_query(run,
                                "UPDATE ops.command_runs SET status = 'done',"
                                " finished_at = clock_timestamp(), updated_at = clock_timestamp(),"
                                " affected = affected + $2::bigint, " SAMPLE_MERGE
                                " WHERE command_id = $1 AND status = 'running'"
                                " RETURNING extract(epoch FROM clock_timestamp() - started_at)",
                                3, p, &rc);
    if (!r)
        return rc;
    if (PQntuples(r) == 1) {
        run->finished = 1;
        run->run_seconds = strtod(PQgetvalue(r, 0, 0), NULL);
    }
    PQclear(r);
    return 0;
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
    int rc = vg__cmd_exec(run, "BEGIN");
    if (rc)
        return rc;
    if ((rc = vg__cmd_claim(run)) <= 0) {
        vg_pg_rollback(run->conn);
        run->state = VG_CMD_BUSY;
        return rc;
    }
    PGresult *r = vg__cmd_query(run, count_sql, nparams, params, &rc);
    if (!r)
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

int vg__cmd_sweep(struct vg_cmd_run *run, const char *work_sql, const char *left_sql, int nparams,
                  const char *const *params)
{
    int rc = vg__cmd_exec(run, "BEGIN");
    if (rc)
        return rc;
    PGresult *r = vg__cmd_query(run, work_sql, nparams, params, &rc);
    if (!r)
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
    r = vg__cmd_query(run, left_sql, nparams - 1, params, &rc);
    if (!r)
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

static void run_failed(struct vg_cmd_run *run)
{
    const char *p[2] = {run->command_id, run->errstr};
    PGresult *r = PQexecParams(run->conn,
                               "UPDATE ops.command_runs SET status = 'failed', error = $2,"
                               " finished_at = clock_timestamp(), updated_at = clock_timestamp()"
                               " WHERE command_id = $1 AND status = 'running'",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_COMMAND_OK && !strcmp(PQcmdTuples(r), "1")) {
        vg_counter_add(vg_metric_series(vg_worker_stats.command_runs, run->def->name, "failed"),
                       1);
        vg_error("command %s (%s) failed: %s", run->command_id, run->def->name, run->errstr);
    } else if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char err[512];
        vg_pg_error(run->conn, r, err, sizeof(err));
        vg_warn("command %s failed (%s) and could not be marked failed: %s", run->command_id,
                run->errstr, err);
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

#define MAX_RUNS 32

int vg_commands_work(PGconn *conn, const struct vg_config *cfg, int budget_ms)
{
    (void)cfg;
    int64_t deadline = vg_mono_ms() + budget_ms;
    PGresult *r = PQexec(conn, "SELECT command_id, name, params::text, dry_run, started_at"
                               " FROM ops.command_runs WHERE status = 'running'"
                               " ORDER BY started_at, command_id LIMIT 32");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char err[512];
        vg_pg_error(conn, r, err, sizeof(err));
        PQclear(r);
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
