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
 * summaries go to vigil.summaries) and a vault.sat_session row, with the
 * sessions stage's statements (landing.h). Sample keys are
 * "tenant/session_id".
 */
#include "cmd.h"
#include "landing.h"

/* clang-format off */
#define TENANT_SCOPE(n) " AND ($" #n "::text IS NULL OR tenant_id = $" #n "::text)"

#define SESSION_KEY "tenant_id || '/' || session_id"

/* The statements of a sweep over the sessions that pred selects, work
 * being a WITH query whose CTEs end the step's sessions. */
#define SESSION_SWEEP(work, pred)                                                                \
    {                                                                                            \
        "WITH " work,                                                                            \
        "SELECT EXISTS (SELECT 1 FROM mart.sessions WHERE" pred ")",                             \
        "SELECT count(*), " VG_CMD_SAMPLE(SESSION_KEY, "mart.sessions WHERE" pred)               \
        " FROM mart.sessions WHERE" pred,                                                        \
    }

/* Ends the sessions of from (a FROM item named c, with tenant_id and
 * session_id): status and the assignments set, as upd; then their summary
 * outbox and satellite rows, and the step's count and sample. The UPDATE
 * moves each to a terminal status it never had before (status only moves
 * forward, and the sweeps take only draft or active sessions), and status
 * is part of the hash diff: each gets a new satellite row without looking
 * up its latest one, which cost more than all the rest of a batch. */
#define END_SESSIONS(status, from, set)                                                          \
    " upd AS (UPDATE mart.sessions s SET status = '" status "', " set                            \
    " FROM " from " WHERE s.tenant_id = c.tenant_id AND s.session_id = c.session_id"             \
    " RETURNING s.*),"                                                                           \
    " outbox AS (" VG_LANDING_SUMMARY_OUTBOX(status, "upd") "),"                                 \
    VG_LANDING_SAT_SESSION("upd s", "", VG_LANDING_SAT_HUB)                                      \
    " SELECT count(*), " VG_CMD_SAMPLE(SESSION_KEY, "upd") " FROM upd"

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

static const struct vg_cmd_sweep timeout_sweep = SESSION_SWEEP(
    "cand AS ("
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
    END_SESSIONS("timeout", "ends c", "ended_at = c.ended_at, end_reason = c.reason,"
                 " duration_ms = " DURATION_TO("c.ended_at")),
    TIMEOUT_PRED);

/* clang-format on */
int vg__cmd_timeout_sessions(struct vg_cmd_run *run)
{
    char idle[24], max[24], batch[24];
    const char *p[5] = {run->started_at, vg__cmd_param(run, "idle_seconds", idle, sizeof(idle)),
                        vg__cmd_param(run, "max_seconds", max, sizeof(max)),
                        vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_batch_size(run, batch, sizeof(batch))};
    return vg__cmd_sweep(run, &timeout_sweep, 5, p);
}

/* -- expire_sessions: $1 reference time, $2 tenant, $3 batch size ------- */

/* clang-format off */
#define EXPIRE_PRED                                                                              \
    " expires_at < $1::timestamptz AND status IN ('draft', 'active')" TENANT_SCOPE(2)

static const struct vg_cmd_sweep expire_sweep = SESSION_SWEEP(
    "cand AS ("
    " SELECT tenant_id, session_id FROM mart.sessions WHERE" EXPIRE_PRED
    " LIMIT $3 FOR UPDATE SKIP LOCKED),"
    END_SESSIONS("expired", "cand c",
                 "ended_at = least(s.expires_at, s.last_activity_at), end_reason = 'expired',"
                 " duration_ms = " DURATION_TO("least(s.expires_at, s.last_activity_at)")),
    EXPIRE_PRED);

/* clang-format on */
int vg__cmd_expire_sessions(struct vg_cmd_run *run)
{
    char batch[24];
    const char *p[3] = {run->started_at, vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_batch_size(run, batch, sizeof(batch))};
    return vg__cmd_sweep(run, &expire_sweep, 3, p);
}

/* -- cleanup_drafts: $1 reference time, $2 older_than_hours, $3 tenant,
 *    $4 batch size ------------------------------------------------------ */

/* clang-format off */
#define DRAFTS_PRED                                                                              \
    " status = 'draft' AND created_at < $1::timestamptz - make_interval(hours => $2::int)"      \
    TENANT_SCOPE(3)

static const struct vg_cmd_sweep drafts_sweep = SESSION_SWEEP(
    "cand AS ("
    " SELECT tenant_id, session_id FROM mart.sessions WHERE" DRAFTS_PRED
    " LIMIT $4 FOR UPDATE SKIP LOCKED),"
    " del AS ("
    " DELETE FROM mart.sessions s USING cand c"
    " WHERE s.tenant_id = c.tenant_id AND s.session_id = c.session_id"
    " RETURNING s.tenant_id, s.session_id)"
    " SELECT count(*), " VG_CMD_SAMPLE(SESSION_KEY, "del") " FROM del",
    DRAFTS_PRED);

/* clang-format on */
int vg__cmd_cleanup_drafts(struct vg_cmd_run *run)
{
    char hours[24], batch[24];
    const char *p[4] = {run->started_at,
                        vg__cmd_param(run, "older_than_hours", hours, sizeof(hours)),
                        vg__cmd_param(run, "tenant", NULL, 0),
                        vg__cmd_batch_size(run, batch, sizeof(batch))};
    return vg__cmd_sweep(run, &drafts_sweep, 4, p);
}
