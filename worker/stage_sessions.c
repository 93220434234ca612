/*
 * The sessions stage: every session touched by the batch gets one merged
 * upsert of mart.sessions, built so that merges commute (DESIGN.md section 7):
 * started_at and first_activity_at take the least, last_activity_at the
 * greatest, status only moves forward (draft < active < ended/timeout/
 * expired) and the first terminal status stays, counters add only events new
 * in this transaction (vg_fresh holds nothing else). Signals after the end
 * are counted but move neither status, ended_at nor duration.
 *
 * A session that is now ended gets its row in ops.summary_outbox (once: the
 * key is the session). Then vault.sat_session gets a row for each session
 * whose state hash_diff differs from its latest satellite row. Both
 * statements are landing.h's, which the session commands use too.
 */
#include <stdlib.h>

#include "landing.h"
#include "pg.h"
#include "stages.h"

static const char sessions_sql[] =
    "WITH m AS ("
    " SELECT tenant_id, session_id, occurred_at, type, signal, kind, reason, started_at,"
    "   expires_at, attributes, event_id,"
    "   CASE WHEN NOT signal THEN 1"
    "        WHEN type = 'session.start' THEN CASE WHEN status = 'draft' THEN 0 ELSE 1 END"
    "        WHEN type = 'session.end' THEN 2"
    "        ELSE 1 END AS rank,"
    "   (NOT signal OR type IN ('session.heartbeat', 'session.activate')"
    "    OR (type = 'session.start' AND coalesce(status, 'active') = 'active')) AS activity"
    " FROM vg_fresh WHERE session_id IS NOT NULL),"
    " agg AS ("
    " SELECT tenant_id, session_id,"
    "   min(kind) FILTER (WHERE type = 'session.start') AS kind,"
    "   min(coalesce(started_at, occurred_at)) FILTER (WHERE type = 'session.start') AS started,"
    "   min(occurred_at) FILTER (WHERE activity) AS first_act,"
    "   max(occurred_at) FILTER (WHERE activity) AS last_act,"
    "   max(rank) AS rank,"
    "   min(occurred_at) FILTER (WHERE type = 'session.end') AS ended,"
    "   (array_agg(reason ORDER BY occurred_at, event_id)"
    "      FILTER (WHERE type = 'session.end'))[1] AS end_reason,"
    "   min(expires_at) AS expires_at,"
    "   (array_agg(attributes ORDER BY occurred_at, event_id)"
    "      FILTER (WHERE type = 'session.start' AND attributes IS NOT NULL))[1] AS attributes,"
    "   count(*) FILTER (WHERE type = 'session.heartbeat') AS heartbeats,"
    "   count(*) FILTER (WHERE NOT signal) AS events,"
    "   min(occurred_at) AS created,"
    "   bool_or(type = 'session.start' AND rank = 0) AS was_draft"
    " FROM m GROUP BY tenant_id, session_id),"
    " up AS ("
    " INSERT INTO mart.sessions AS s (tenant_id, session_id, kind, status, created_at,"
    "   started_at, first_activity_at, last_activity_at, ended_at, duration_ms,"
    "   heartbeat_count, event_count, end_reason, expires_at, attributes, was_draft)"
    " SELECT tenant_id, session_id, kind,"
    "   (ARRAY['draft', 'active', 'ended'])[rank + 1], created,"
    "   coalesce(started, first_act, created), first_act, last_act, ended,"
    "   CASE WHEN ended IS NOT NULL THEN"
    "     greatest(0, (extract(epoch FROM ended - coalesce(started, first_act, created))"
    "       * 1000)::bigint) END,"
    "   heartbeats, events, end_reason, expires_at, coalesce(attributes, '{}'), was_draft"
    " FROM agg ORDER BY tenant_id, session_id"
    " ON CONFLICT (tenant_id, session_id) DO UPDATE SET"
    "   kind = least(s.kind, excluded.kind),"
    "   status = CASE WHEN mart.status_rank(s.status) >= mart.status_rank(excluded.status)"
    "                 THEN s.status ELSE excluded.status END,"
    "   created_at = least(s.created_at, excluded.created_at),"
    "   started_at = least(s.started_at, excluded.started_at),"
    "   first_activity_at = least(s.first_activity_at, excluded.first_activity_at),"
    "   last_activity_at = greatest(s.last_activity_at, excluded.last_activity_at),"
    "   ended_at = CASE WHEN s.status IN ('timeout', 'expired') THEN s.ended_at"
    "                   ELSE least(s.ended_at, excluded.ended_at) END,"
    "   duration_ms = CASE WHEN s.status IN ('timeout', 'expired') THEN s.duration_ms"
    "     WHEN coalesce(s.ended_at, excluded.ended_at) IS NOT NULL THEN"
    "     greatest(0, (extract(epoch FROM least(s.ended_at, excluded.ended_at)"
    "        - least(s.started_at, excluded.started_at)) * 1000)::bigint) END,"
    "   end_reason = CASE WHEN s.status NOT IN ('timeout', 'expired')"
    "                      AND excluded.ended_at IS NOT NULL"
    "                      AND (s.ended_at IS NULL OR excluded.ended_at < s.ended_at)"
    "                     THEN excluded.end_reason ELSE s.end_reason END,"
    "   heartbeat_count = s.heartbeat_count + excluded.heartbeat_count,"
    "   event_count = s.event_count + excluded.event_count,"
    "   expires_at = least(s.expires_at, excluded.expires_at),"
    "   was_draft = s.was_draft OR excluded.was_draft,"
    "   attributes = CASE WHEN s.attributes = '{}' THEN excluded.attributes"
    "                     ELSE s.attributes END"
    " RETURNING tenant_id, session_id)"
    "INSERT INTO vg_touched (tenant_id, session_id) SELECT tenant_id, session_id FROM up;"
    VG_LANDING_SUMMARY_OUTBOX("ended", "vg_touched JOIN mart.sessions s"
                              " USING (tenant_id, session_id) WHERE s.status = 'ended'") ";"
    "WITH" VG_LANDING_SAT_SESSION("vg_touched t JOIN mart.sessions s"
                                  " USING (tenant_id, session_id)",
                                  VG_LANDING_SAT_CHANGED, "") " SELECT 1;";

int vg_stage_sessions(struct vg_stage_ctx *s)
{
    if (s->slice_new == 0)
        return 0;
    PGresult *r;
    int rc = vg__stage_exec(s, sessions_sql);
    if (rc || (rc = vg_pg_query(s->conn, &r, "SELECT count(*) FROM vg_touched", 0, NULL, s->errstr,
                                sizeof(s->errstr))))
        return rc;
    s->session_rows += strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}
