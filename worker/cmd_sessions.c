/*
 * Session commands: timeout_sessions, expire_sessions, cleanup_drafts. Each
 * is a sweep over mart.sessions (cmd.h): a batch of qualifying sessions is
 * locked with FOR UPDATE SKIP LOCKED and changed in one transaction, with
 * their summary outbox rows and vault.sat_session rows, so that several
 * workers share one sweep and every session is changed exactly once.
 *
 * timeout_sessions {idle_seconds, max_seconds?, batch_size?, tenant?}
 *   An active session times out when its last activity (last_activity_at,
 *   else started_at, else created_at) is older than the run's reference time
 *   minus idle_seconds: it ends at that last activity (end_reason idle), and
 *   its duration runs to that point, not to the sweep. With max_seconds, an
 *   active session started longer ago than that times out too, ending at
 *   started_at + max_seconds or at its last activity, whichever is earlier;
 *   its end_reason is max_duration unless it had gone idle (by idle_seconds)
 *   before reaching the cap. Drafts are cleanup_drafts' business.
 *
 * expire_sessions {batch_size?, tenant?}
 *   A draft or active session whose expires_at is before the reference time
 *   becomes expired, ending at expires_at or at its last activity if that is
 *   earlier (so an expired session is measured like a timed-out one), with
 *   end_reason expired.
 *
 * cleanup_drafts {older_than_hours, batch_size?, tenant?}
 *   Deletes drafts (never activated) created longer ago than
 *   older_than_hours. Their vault history stays (the vault is insert-only
 *   history); mart.draft_conversion no longer counts them.
 *
 * Timed-out and expired sessions get a row in ops.summary_outbox (their
 * summaries go to vigil.summaries) and a vault.sat_session row, as in the
 * sessions stage. Sample keys are "tenant/session_id".
 */
#include "cmd.h"

/* clang-format off */
#define TENANT_SCOPE(n) " AND ($" #n "::text IS NULL OR tenant_id = $" #n "::text)"

/* The sample of rows returned by a CTE named x: its first 100 keys in order. */
#define SAMPLE_OF(x)                                                                             \
    "(SELECT jsonb_agg(k ORDER BY k) FROM (SELECT tenant_id || '/' || session_id AS k FROM " x  \
    " ORDER BY 1 LIMIT 100) z)::text"

/* The summary outbox and the satellite for the sessions an UPDATE returned
 * as upd (every column of mart.sessions). The UPDATE moved each to a terminal
 * status it never had before (status only moves forward, and the sweeps
 * take only draft or active sessions), and status is part of the hash diff:
 * each gets a new satellite row without looking up its latest one, which cost
 * more than all the rest of a batch. */
#define ENDED_ROWS(status)                                                                       \
    ", outbox AS ("                                                                              \
    " INSERT INTO ops.summary_outbox (tenant_id, session_id, status)"                            \
    " SELECT tenant_id, session_id, '" status "' FROM upd ORDER BY tenant_id, session_id"        \
    " ON CONFLICT DO NOTHING),"                                                                  \
    " sat AS ("                                                                                  \
    " INSERT INTO vault.sat_session (hk_session, load_date, hash_diff, record_source, status,"   \
    "   kind, started_at, first_activity_at, last_activity_at, ended_at, duration_ms,"           \
    "   end_reason, expires_at, attributes)"                                                     \
    " SELECT x.hk, now(), x.hd, 'mart.sessions', x.status, x.kind, x.started_at,"                \
    "   x.first_activity_at, x.last_activity_at, x.ended_at, x.duration_ms, x.end_reason,"       \
    "   x.expires_at, x.attributes"                                                              \
    " FROM (SELECT vault.hash_key(u.tenant_id, u.session_id) AS hk,"                             \
    "         vault.sat_session_hash_diff(u.status, u.kind, u.started_at, u.first_activity_at,"  \
    "           u.ended_at, u.end_reason, u.expires_at, u.attributes) AS hd, u.*"                \
    "       FROM upd u) x"                                                                       \
    " ORDER BY x.hk ON CONFLICT DO NOTHING)"                                                     \
    " SELECT count(*), " SAMPLE_OF("upd") " FROM upd"

#define DURATION_TO(end)                                                                         \
    "greatest(0, (extract(epoch FROM (" end ") - coalesce(s.started_at, s.first_activity_at,"    \
    " s.created_at)) * 1000)::bigint)"

/* -- timeout_sessions: $1 reference time, $2 idle_seconds, $3 max_seconds
 *    (NULL: no cap), $4 tenant (NULL: all), $5 batch size -------------- */

#define IDLE_BEFORE "($1::timestamptz - make_interval(secs => $2::bigint))"
#define CAP_BEFORE "($1::timestamptz - make_interval(secs => $3::bigint))"
/* Written so that the (status, last_activity_at) index serves the idle part. */
#define TIMEOUT_PRED                                                                             \
    " status = 'active'" TENANT_SCOPE(4) " AND (last_activity_at < " IDLE_BEFORE                \
    " OR (last_activity_at IS NULL AND coalesce(started_at, created_at) < " IDLE_BEFORE ")"     \
    " OR started_at < " CAP_BEFORE ")"

static const char timeout_work_sql[] =
    "WITH cand AS ("
    " SELECT tenant_id, session_id,"
    "   coalesce(last_activity_at, started_at, created_at) AS idle_end,"
    "   started_at + make_interval(secs => $3::bigint) AS cap_end"
    " FROM mart.sessions WHERE" TIMEOUT_PRED " LIMIT $5 FOR UPDATE SKIP LOCKED),"
    " ends AS ("
    " SELECT tenant_id, session_id,"
    "   CASE WHEN cap_end < $1::timestamptz THEN least(cap_end, idle_end) ELSE idle_end END"
    "     AS ended_at,"
    "   CASE WHEN cap_end < $1::timestamptz"
    "         AND (idle_end >= " IDLE_BEFORE " OR cap_end < idle_end)"
    "        THEN 'max_duration' ELSE 'idle' END AS reason"
    " FROM cand),"
    " upd AS ("
    " UPDATE mart.sessions s SET status = 'timeout', ended_at = e.ended_at,"
    "   end_reason = e.reason, duration_ms = " DURATION_TO("e.ended_at")
    " FROM ends e WHERE s.tenant_id = e.tenant_id AND s.session_id = e.session_id"
    " RETURNING s.*)" ENDED_ROWS("timeout");

static const char timeout_left_sql[] =
    "SELECT EXISTS (SELECT 1 FROM mart.sessions WHERE" TIMEOUT_PRED ")";

static const char timeout_count_sql[] =
    "SELECT count(*), (SELECT jsonb_agg(k ORDER BY k) FROM (SELECT tenant_id || '/' ||"
    " session_id AS k FROM mart.sessions WHERE" TIMEOUT_PRED " ORDER BY 1 LIMIT 100) z)::text"
    " FROM mart.sessions WHERE" TIMEOUT_PRED;

/* clang-format on */
int vg__cmd_timeout_sessions(struct vg_cmd_run *run)
{
    char idle[24], max[24], batch[24];
    const char *p[5] = {run->started_at, vg__cmd_param(run, "idle_seconds", idle, sizeof(idle)),
                        vg__cmd_param(run, "max_seconds", max, sizeof(max)),
                        vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_param(run, "batch_size", batch, sizeof(batch))};
    if (!p[4])
        p[4] = "1000";
    if (run->dry_run)
        return vg__cmd_once(run, timeout_count_sql, 4, p);
    return vg__cmd_sweep(run, timeout_work_sql, timeout_left_sql, 5, p);
}

/* -- expire_sessions: $1 reference time, $2 tenant, $3 batch size ------- */

/* clang-format off */
#define EXPIRE_PRED                                                                              \
    " expires_at < $1::timestamptz AND status IN ('draft', 'active')" TENANT_SCOPE(2)

static const char expire_work_sql[] =
    "WITH cand AS ("
    " SELECT tenant_id, session_id FROM mart.sessions WHERE" EXPIRE_PRED
    " LIMIT $3 FOR UPDATE SKIP LOCKED),"
    " upd AS ("
    " UPDATE mart.sessions s SET status = 'expired',"
    "   ended_at = least(s.expires_at, s.last_activity_at), end_reason = 'expired',"
    "   duration_ms = " DURATION_TO("least(s.expires_at, s.last_activity_at)")
    " FROM cand c WHERE s.tenant_id = c.tenant_id AND s.session_id = c.session_id"
    " RETURNING s.*)" ENDED_ROWS("expired");

static const char expire_left_sql[] =
    "SELECT EXISTS (SELECT 1 FROM mart.sessions WHERE" EXPIRE_PRED ")";

static const char expire_count_sql[] =
    "SELECT count(*), (SELECT jsonb_agg(k ORDER BY k) FROM (SELECT tenant_id || '/' ||"
    " session_id AS k FROM mart.sessions WHERE" EXPIRE_PRED " ORDER BY 1 LIMIT 100) z)::text"
    " FROM mart.sessions WHERE" EXPIRE_PRED;

/* clang-format on */
int vg__cmd_expire_sessions(struct vg_cmd_run *run)
{
    char batch[24];
    const char *p[3] = {run->started_at, vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_param(run, "batch_size", batch, sizeof(batch))};
    if (!p[2])
        p[2] = "1000";
    if (run->dry_run)
        return vg__cmd_once(run, expire_count_sql, 2, p);
    return vg__cmd_sweep(run, expire_work_sql, expire_left_sql, 3, p);
}

/* -- cleanup_drafts: $1 reference time, $2 older_than_hours, $3 tenant,
 *    $4 batch size ------------------------------------------------------ */

/* clang-format off */
#define DRAFTS_PRED                                                                              \
    " status = 'draft' AND created_at < $1::timestamptz - make_interval(hours => $2::int)"      \
    TENANT_SCOPE(3)

static const char drafts_work_sql[] =
    "WITH cand AS ("
    " SELECT tenant_id, session_id FROM mart.sessions WHERE" DRAFTS_PRED
    " LIMIT $4 FOR UPDATE SKIP LOCKED),"
    " del AS ("
    " DELETE FROM mart.sessions s USING cand c"
    " WHERE s.tenant_id = c.tenant_id AND s.session_id = c.session_id"
    " RETURNING s.tenant_id, s.session_id)"
    " SELECT count(*), " SAMPLE_OF("del") " FROM del";

static const char drafts_left_sql[] =
    "SELECT EXISTS (SELECT 1 FROM mart.sessions WHERE" DRAFTS_PRED ")";

static const char drafts_count_sql[] =
    "SELECT count(*), (SELECT jsonb_agg(k ORDER BY k) FROM (SELECT tenant_id || '/' ||"
    " session_id AS k FROM mart.sessions WHERE" DRAFTS_PRED " ORDER BY 1 LIMIT 100) z)::text"
    " FROM mart.sessions WHERE" DRAFTS_PRED;

/* clang-format on */
int vg__cmd_cleanup_drafts(struct vg_cmd_run *run)
{
    char hours[24], batch[24];
    const char *p[4] = {run->started_at,
                        vg__cmd_param(run, "older_than_hours", hours, sizeof(hours)),
                        vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_param(run, "batch_size", batch, sizeof(batch))};
    if (!p[3])
        p[3] = "1000";
    if (run->dry_run)
        return vg__cmd_once(run, drafts_count_sql, 3, p);
    return vg__cmd_sweep(run, drafts_work_sql, drafts_left_sql, 4, p);
}
