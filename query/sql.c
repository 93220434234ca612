#include "sql.h"

#include "util.h"

/* RFC 3339 UTC with microseconds; NULL stays NULL. */
#define TS(c) "to_char(" c " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A mart.sessions row, its columns as they are (enum vg_qsession_col):
 * sessions.c writes the JSON. Built in the database (json_build_object and
 * to_char on every time), the same row cost PostgreSQL twice the CPU of the
 * plain select (bench/README.md). */
#define SESSION_COLUMNS                                                                       \
    "tenant_id, session_id, kind, status, created_at, started_at, first_activity_at,"        \
    " last_activity_at, ended_at, duration_ms, heartbeat_count, event_count, end_reason,"    \
    " expires_at, attributes"

static const char session_sql[] = "SELECT " SESSION_COLUMNS " FROM mart.sessions"
                                  " WHERE tenant_id = $1 AND session_id = $2";

/* Newest activity first; the cursor is the last row's (activity, tenant,
 * session); visitor and user through staging.events' indexes. */
static const char sessions_sql[] =
    "SELECT " SESSION_COLUMNS ", " TS("coalesce(last_activity_at, created_at)") ", tenant_id,"
    " session_id FROM mart.sessions s"
    " WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR status = $2)"
    "  AND ($3::text IS NULL OR kind = $3)"
    "  AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM staging.events e"
    "       WHERE e.tenant_id = s.tenant_id AND e.visitor_id = $4 AND e.session_id = s.session_id))"
    "  AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM staging.events e"
    "       WHERE e.tenant_id = s.tenant_id AND e.user_id = $5 AND e.session_id = s.session_id))"
    "  AND ($6::timestamptz IS NULL OR greatest(created_at, last_activity_at, ended_at) >= $6)"
    "  AND ($7::timestamptz IS NULL"
    "       OR (coalesce(last_activity_at, created_at), tenant_id, session_id) < ($7, $8, $9))"
    " ORDER BY coalesce(last_activity_at, created_at) DESC, tenant_id DESC, session_id DESC"
    " LIMIT $10";

static const char events_sql[] =
    "SELECT json_build_object('event_id', event_id, 'type', type,"
    " 'occurred_at', " TS("occurred_at") ", 'received_at', " TS("received_at") ","
    " 'visitor_id', visitor_id, 'user_id', user_id, 'url', url, 'properties', properties)::text,"
    " " TS("occurred_at") ", event_id::text"
    " FROM staging.events WHERE tenant_id = $1 AND session_id = $2"
    "  AND ($3::timestamptz IS NULL OR (occurred_at, event_id) < ($3, $4::uuid))"
    " ORDER BY occurred_at DESC, event_id DESC LIMIT $5";

/* Per tenant and kind, with mart.session_stats' own expressions (a test
 * compares them), over sessions created in [from, to); the tenant's draft
 * conversion straight from mart.draft_conversion; the last 24 hours. */
static const char stats_sql[] =
    "WITH s AS (SELECT * FROM mart.sessions"
    "  WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::text IS NULL OR kind = $2)"
    "   AND ($3::timestamptz IS NULL OR created_at >= $3)"
    "   AND ($4::timestamptz IS NULL OR created_at < $4)),"
    " k AS (SELECT tenant_id AS tenant, kind, count(*) AS sessions,"
    "  count(*) FILTER (WHERE status = 'draft') AS drafts,"
    "  count(*) FILTER (WHERE status = 'active') AS active,"
    "  count(*) FILTER (WHERE status = 'ended') AS ended,"
    "  count(*) FILTER (WHERE status = 'timeout') AS timed_out,"
    "  count(*) FILTER (WHERE status = 'expired') AS expired,"
    "  round(count(*) FILTER (WHERE status = 'timeout')::numeric"
    "   / nullif(count(*) FILTER (WHERE mart.status_rank(status) = 2), 0), 4) AS timeout_rate,"
    "  round(avg(duration_ms) FILTER (WHERE mart.status_rank(status) = 2))::bigint"
    "   AS avg_duration_ms,"
    "  min(duration_ms) FILTER (WHERE mart.status_rank(status) = 2) AS min_duration_ms,"
    "  max(duration_ms) FILTER (WHERE mart.status_rank(status) = 2) AS max_duration_ms,"
    "  round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)"
    "   FILTER (WHERE mart.status_rank(status) = 2))::bigint AS p50_duration_ms,"
    "  round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)"
    "   FILTER (WHERE mart.status_rank(status) = 2))::bigint AS p95_duration_ms,"
    "  count(*) FILTER (WHERE was_draft OR status = 'draft') AS drafts_created,"
    "  count(*) FILTER (WHERE (was_draft OR status = 'draft') AND (first_activity_at IS NOT NULL"
    "   OR status IN ('active', 'ended', 'timeout'))) AS drafts_activated,"
    "  count(*) FILTER (WHERE created_at > now() - interval '24 hours') AS sessions_24h"
    "  FROM s GROUP BY tenant_id, kind),"
    " d AS (SELECT tenant_id AS tenant, sum(drafts)::bigint AS drafts,"
    "  sum(activated)::bigint AS activated, sum(still_draft)::bigint AS still_draft,"
    "  sum(expired)::bigint AS expired,"
    "  round(sum(activated)::numeric / nullif(sum(drafts), 0), 4) AS conversion_rate"
    "  FROM mart.draft_conversion WHERE ($1::text IS NULL OR tenant_id = $1)"
    "   AND ($3::timestamptz IS NULL OR day >= ($3::timestamptz AT TIME ZONE 'UTC')::date)"
    "   AND ($4::timestamptz IS NULL OR day <= ($4::timestamptz AT TIME ZONE 'UTC')::date)"
    "  GROUP BY tenant_id),"
    " n AS (SELECT tenant_id AS tenant, count(*) AS sessions FROM mart.sessions"
    "  WHERE ($1::text IS NULL OR tenant_id = $1) AND created_at > now() - interval '24 hours'"
    "  GROUP BY tenant_id),"
    " e AS (SELECT tenant_id AS tenant, count(*) AS events FROM staging.events"
    "  WHERE ($1::text IS NULL OR tenant_id = $1) AND received_at > now() - interval '24 hours'"
    "  GROUP BY tenant_id)"
    " SELECT json_build_object("
    "  'kinds', coalesce((SELECT json_agg(k ORDER BY tenant, kind NULLS FIRST) FROM k), '[]'),"
    "  'draft_conversion', coalesce((SELECT json_agg(d ORDER BY tenant) FROM d), '[]'),"
    "  'last_24h', coalesce((SELECT json_agg(json_build_object('tenant', coalesce(n.tenant,"
    "   e.tenant), 'sessions', coalesce(n.sessions, 0), 'events', coalesce(e.events, 0))"
    "   ORDER BY coalesce(n.tenant, e.tenant)) FROM n FULL JOIN e ON n.tenant = e.tenant), '[]')"
    " )::text";

/* Row counts are the planner's estimates (pg_class.reltuples, partitions
 * summed): never a count(*) over a big table. */
static const char status_sql[] =
    "WITH rel(layer, relation) AS (VALUES ('raw', 'raw.events'), ('staging', 'staging.events'),"
    "  ('vault', 'vault.hub_session'), ('vault', 'vault.hub_visitor'),"
    "  ('vault', 'vault.link_event'), ('vault', 'vault.sat_session'),"
    "  ('mart', 'mart.sessions')),"
    " lag AS (SELECT topic, partition, next_offset, high_watermark,"
    "  greatest(high_watermark - next_offset, 0) AS lag, updated_at"
    "  FROM ops.consumer_offsets WHERE consumer_group = $2)"
    " SELECT json_build_object("
    "  'layers', (SELECT json_agg(json_build_object('layer', layer, 'relation', relation,"
    "   'rows', (SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::bigint FROM pg_class c"
    "    WHERE c.oid = relation::regclass"
    "     OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = relation::regclass)),"
    "   'rows_estimated', true,"
    "   'consumer_lag', (SELECT sum(lag) FROM lag)::bigint,"
    "   'newest_load', (SELECT " TS("max(updated_at)") " FROM lag))) FROM rel),"
    "  'lag', coalesce((SELECT json_agg(json_build_object('topic', topic, 'partition', partition,"
    "   'next_offset', next_offset, 'high_watermark', high_watermark, 'lag', lag,"
    "   'committed_at', " TS("updated_at") ") ORDER BY topic, partition) FROM lag), '[]'),"
    "  'consumer_lag', (SELECT sum(lag) FROM lag)::bigint,"
    "  'dlq', json_build_object('messages', (SELECT coalesce(sum(refused), 0)::bigint"
    "   FROM ops.dead_letters WHERE consumer_group = $2), 'newest', (SELECT "
    TS("max(updated_at)") " FROM ops.dead_letters WHERE consumer_group = $2)),"
    "  'command_runs', coalesce((SELECT json_agg(json_build_object('command_id', command_id,"
    "   'name', name, 'status', status, 'dry_run', dry_run, 'started_at', " TS("started_at") ","
    "   'finished_at', " TS("finished_at") ", 'affected', affected, 'error', error)"
    "   ORDER BY started_at DESC) FROM (SELECT * FROM ops.command_runs"
    "   ORDER BY started_at DESC LIMIT 10) c), '[]'),"
    "  'events', coalesce((SELECT json_agg(json_build_object('tenant', tenant_id,"
    "   'event_id', event_id, 'type', body->>'type', 'session_id', body->>'session_id',"
    "   'received_at', " TS("received_at") ") ORDER BY received_at DESC)"
    "   FROM (SELECT * FROM raw.events WHERE ($1::text IS NULL OR tenant_id = $1)"
    "   ORDER BY received_at DESC LIMIT 10) r), '[]')"
    " )::text";

const struct vg_qstmt vg_qsql[] = {
    {VG_SQL_SESSION, session_sql, 2},  {VG_SQL_SESSIONS, sessions_sql, 10},
    {VG_SQL_EVENTS, events_sql, 5},    {VG_SQL_STATS, stats_sql, 4},
    {VG_SQL_STATUS, status_sql, 2},
};

const size_t vg_qsql_count = VG_ARRAY_LEN(vg_qsql);
