#include "summaries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "pg.h"
#include "stats.h"
#include "util.h"

/* The whole summary is built by the database: one JSON text per session. */
static const char pending_sql[] =
    "SELECT o.tenant_id, o.session_id, json_build_object("
    "  'v', 1, 'summary_id', o.tenant_id || '/' || o.session_id || '/' || o.status,"
    "  'tenant', o.tenant_id, 'session_id', o.session_id, 'kind', s.kind,"
    "  'status', coalesce(s.status, o.status), 'end_reason', s.end_reason,"
    "  'created_at', s.created_at, 'started_at', s.started_at,"
    "  'first_activity_at', s.first_activity_at, 'last_activity_at', s.last_activity_at,"
    "  'ended_at', s.ended_at, 'duration_ms', s.duration_ms,"
    "  'heartbeat_count', s.heartbeat_count, 'event_count', s.event_count,"
    "  'attributes', s.attributes,"
    "  'counts', coalesce((SELECT json_object_agg(type, n) FROM"
    "     (SELECT type, count(*) AS n FROM staging.events e"
    "       WHERE e.tenant_id = o.tenant_id AND e.session_id = o.session_id GROUP BY type) c),"
    "     '{}'::json),"
    "  'last_events', coalesce((SELECT json_agg(x ORDER BY x.occurred_at DESC) FROM"
    "     (SELECT event_id, type, occurred_at, url FROM staging.events e"
    "       WHERE e.tenant_id = o.tenant_id AND e.session_id = o.session_id"
    "         AND e.type NOT LIKE 'session.%'"
    "       ORDER BY occurred_at DESC LIMIT $1) x), '[]'::json),"
    "  'generated_at', now())::text"
    " FROM ops.summary_outbox o LEFT JOIN mart.sessions s USING (tenant_id, session_id)"
    " WHERE o.sent_at IS NULL AND o.queued_at < now() - make_interval(secs => $3 / 1000.0)"
    " ORDER BY o.queued_at LIMIT $2"
    " FOR UPDATE OF o SKIP LOCKED";

static const char mark_sql[] =
    "UPDATE ops.summary_outbox o SET sent_at = now(), attempts = attempts + 1"
    " FROM unnest($1::text[], $2::text[]) AS k(tenant_id, session_id)"
    " WHERE o.tenant_id = k.tenant_id AND o.session_id = k.session_id";

int vg_summaries_send(PGconn *conn, const struct vg_config *cfg, struct vg_out *out, int max)
{
    char err[512], last[16], lim[16], delay[24];
    snprintf(last, sizeof(last), "%lld", (long long)cfg->worker_summary_last_events);
    snprintf(lim, sizeof(lim), "%d", max);
    snprintf(delay, sizeof(delay), "%lld", (long long)cfg->worker_summary_delay_ms);
    int rc = vg_pg_exec(conn, "BEGIN", err, sizeof(err));
    if (rc)
        return rc;
    const char *p[3] = {last, lim, delay};
    PGresult *r;
    if ((rc = vg_pg_query(conn, &r, pending_sql, 3, p, err, sizeof(err)))) {
        vg_pg_rollback(conn);
        vg_warn("cannot read the summary outbox: %s", err);
        return rc;
    }
    int n = PQntuples(r);
    struct vg_buf tenants = {0}, sessions = {0};
    struct vg_buf key = {0};
    for (int i = 0; i < n && rc == 0; i++) {
        vg_buf_reset(&key);
        vg_envelope_key(&key, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
        rc = vg_out_queue(out, cfg->topic_summaries, key.data, PQgetvalue(r, i, 2),
                          (size_t)PQgetlength(r, i, 2));
        vg_pg_array_add(&tenants, PQgetvalue(r, i, 0));
        vg_pg_array_add(&sessions, PQgetvalue(r, i, 1));
    }
    vg_buf_free(&key);
    PQclear(r);
    if (n > 0 && rc == 0)
        rc = vg_out_wait(out);
    if (n > 0 && rc == 0) {
        vg_pg_array_end(&tenants);
        vg_pg_array_end(&sessions);
        const char *mp[2] = {tenants.data, sessions.data};
        rc = vg_pg_query(conn, NULL, mark_sql, 2, mp, err, sizeof(err));
    }
    vg_buf_free(&tenants);
    vg_buf_free(&sessions);
    if (rc == 0)
        rc = vg_pg_exec(conn, "COMMIT", err, sizeof(err));
    if (rc) {
        vg_pg_rollback(conn);
        return rc < 0 ? rc : VG_ETRANSIENT;
    }
    vg_counter_add(vg_worker_stats.summaries, (uint64_t)n);
    return n;
}
