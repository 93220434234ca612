-- Consumer lag in the database: each batch commit records the partition's
-- high watermark (from the fetch that brought the batch, no extra request),
-- so mart.pipeline_status shows lag per layer without asking Kafka. It is the
-- lag as of the last commit; `vigilctl status` asks Kafka for the live one.

ALTER TABLE ops.consumer_offsets ADD COLUMN high_watermark bigint;

COMMENT ON COLUMN ops.consumer_offsets.high_watermark IS
    'The partition''s high watermark when next_offset last moved; lag = high_watermark - next_offset.';

-- Lag of the worker group: the raw, staging and vault layers are all written
-- in the batch transaction, so they share it; views and ops rows have none.
CREATE OR REPLACE VIEW mart.pipeline_status AS
WITH lag AS (
    SELECT sum(greatest(high_watermark - next_offset, 0)) FILTER (WHERE high_watermark IS NOT NULL)
           AS lag
    FROM ops.consumer_offsets)
SELECT p.layer, p.relation, p.rows, p.newest_load,
       CASE WHEN p.layer IN ('raw', 'staging', 'vault', 'mart') THEN (SELECT lag FROM lag) END
           AS consumer_lag
FROM (
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
UNION ALL SELECT 'ops', 'ops.summary_outbox', count(*), max(queued_at) FROM ops.summary_outbox
) p;

COMMENT ON VIEW mart.pipeline_status IS
    'Per layer and relation: exact row count, newest load time, and consumer_lag (messages '
    'not yet committed, as of the workers'' last commits; vigilctl status has the live lag).';

COMMENT ON COLUMN mart.sessions.duration_ms IS
    'ended_at minus started_at, in milliseconds; NULL while the session is open.';
