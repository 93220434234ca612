-- Reporting views over mart.sessions and the layers.

-- Per tenant and kind. Durations are over finished sessions
-- (ended, timeout, expired) that have one; timeout_rate is the share of
-- finished sessions that timed out.
CREATE VIEW mart.session_stats AS
SELECT tenant_id,
       kind,
       count(*)                                         AS sessions,
       count(*) FILTER (WHERE status = 'draft')         AS drafts,
       count(*) FILTER (WHERE status = 'active')        AS active,
       count(*) FILTER (WHERE status = 'ended')         AS ended,
       count(*) FILTER (WHERE status = 'timeout')       AS timed_out,
       count(*) FILTER (WHERE status = 'expired')       AS expired,
       round(count(*) FILTER (WHERE status = 'timeout')::numeric
             / nullif(count(*) FILTER (WHERE mart.status_rank(status) = 2), 0), 4)
                                                        AS timeout_rate,
       round(avg(duration_ms) FILTER (WHERE mart.status_rank(status) = 2))::bigint
                                                        AS avg_duration_ms,
       min(duration_ms) FILTER (WHERE mart.status_rank(status) = 2) AS min_duration_ms,
       max(duration_ms) FILTER (WHERE mart.status_rank(status) = 2) AS max_duration_ms,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)
             FILTER (WHERE mart.status_rank(status) = 2))::bigint AS p50_duration_ms,
       round(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms)
             FILTER (WHERE mart.status_rank(status) = 2))::bigint AS p95_duration_ms
FROM mart.sessions
GROUP BY tenant_id, kind;

COMMENT ON VIEW mart.session_stats IS
    'Per tenant and kind: session counts by status, timeout_rate (timed out / finished) and '
    'avg/min/max/p50/p95 duration_ms of finished sessions.';

-- Per tenant and UTC day of created_at: sessions that were ever drafts, and
-- how many of them got past the draft state other than by expiring.
CREATE VIEW mart.draft_conversion AS
SELECT tenant_id,
       (created_at AT TIME ZONE 'UTC')::date AS day,
       count(*) AS drafts,
       count(*) FILTER (WHERE first_activity_at IS NOT NULL
                           OR status IN ('active', 'ended', 'timeout')) AS activated,
       count(*) FILTER (WHERE status = 'draft') AS still_draft,
       count(*) FILTER (WHERE status = 'expired' AND first_activity_at IS NULL) AS expired,
       round(count(*) FILTER (WHERE first_activity_at IS NOT NULL
                                 OR status IN ('active', 'ended', 'timeout'))::numeric
             / count(*), 4) AS conversion_rate
FROM mart.sessions
WHERE was_draft OR status = 'draft'
GROUP BY tenant_id, (created_at AT TIME ZONE 'UTC')::date;

COMMENT ON VIEW mart.draft_conversion IS
    'Per tenant and UTC day of created_at: drafts created, activated, still draft, expired, '
    'and conversion_rate = activated / drafts.';

-- Per layer: exact row counts (count(*), a full scan: fine at this project's
-- scale, and exact counts are what tests compare) and the newest load.
-- Consumer lag needs Kafka's high watermarks, so vigilctl status computes it;
-- here the offsets row shows when offsets last moved.
CREATE VIEW mart.pipeline_status AS
          SELECT 'raw' AS layer, 'raw.events' AS relation, count(*) AS rows,
                 max(loaded_at) AS newest_load FROM raw.events
UNION ALL SELECT 'staging', 'staging.events', count(*), max(load_date) FROM staging.events
UNION ALL SELECT 'vault', 'vault.hub_tenant', count(*), max(load_date) FROM vault.hub_tenant
UNION ALL SELECT 'vault', 'vault.hub_session', count(*), max(load_date) FROM vault.hub_session
UNION ALL SELECT 'vault', 'vault.hub_visitor', count(*), max(load_date) FROM vault.hub_visitor
UNION ALL SELECT 'vault', 'vault.link_session_visitor', count(*), max(load_date)
          FROM vault.link_session_visitor
UNION ALL SELECT 'vault', 'vault.link_event', count(*), max(load_date) FROM vault.link_event
UNION ALL SELECT 'vault', 'vault.sat_session', count(*), max(load_date) FROM vault.sat_session
UNION ALL SELECT 'mart', 'mart.sessions', count(*),
                 max(greatest(created_at, last_activity_at, ended_at)) FROM mart.sessions
UNION ALL SELECT 'ops', 'ops.consumer_offsets', count(*), max(updated_at) FROM ops.consumer_offsets
UNION ALL SELECT 'ops', 'ops.command_runs', count(*), max(updated_at) FROM ops.command_runs
UNION ALL SELECT 'ops', 'ops.summary_outbox', count(*), max(queued_at) FROM ops.summary_outbox;

COMMENT ON VIEW mart.pipeline_status IS
    'Per layer and relation: exact row count and newest load time. For ops.consumer_offsets, '
    'newest_load is the last offset commit; the lag itself needs Kafka (vigilctl status).';
