-- purge_raw and the exactly-once guard: raw.drop_partitions_before() deletes
-- the raw.event_ids of the days it drops, so an event received on such a day
-- and read again from Kafka (a consumer reset, a DLQ replay) would find no
-- id, recreate its day's partition and land a second time. The purge now
-- records how far it went, and raw.ensure_partition() refuses a day before
-- that horizon with a data exception (SQLSTATE 22023): the worker isolates
-- the message and dead-letters it, instead of landing it twice. Events are
-- refused by received_at, the producer's time; docs/guarantees.md says what
-- this means for a client that retries after the retention window.

CREATE TABLE raw.purge_horizon (
    one     boolean     PRIMARY KEY DEFAULT true CHECK (one),
    horizon timestamptz NOT NULL
);

COMMENT ON TABLE raw.purge_horizon IS
    'One row: the end of the last raw.events partition purge_raw dropped. Events received '
    'before it have no raw.event_ids any more and are refused by raw.ensure_partition().';

CREATE OR REPLACE FUNCTION raw.ensure_partition(ts timestamptz) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET timezone = 'UTC'
    SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    day_start timestamptz := date_trunc('day', ts);
    day_end   timestamptz := date_trunc('day', ts) + interval '24 hours';
    part      text := 'events_' || to_char(date_trunc('day', ts), 'YYYYMMDD');
BEGIN
    IF ts IS NULL THEN
        RAISE EXCEPTION 'raw.ensure_partition: timestamp is NULL';
    END IF;
    IF ts < (SELECT horizon FROM raw.purge_horizon) THEN
        RAISE EXCEPTION 'received_at % is before the raw retention horizon %: its event ids '
                        'were purged, so it could land twice', ts,
                        (SELECT horizon FROM raw.purge_horizon)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'raw' AND c.relname = part) THEN
        RETURN false;
    END IF;
    -- 'VGRAWPRT': also taken by raw.drop_partitions_before().
    PERFORM pg_advisory_xact_lock(6217028251199492692);
    IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'raw' AND c.relname = part) THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE raw.%I (LIKE raw.events INCLUDING DEFAULTS INCLUDING STORAGE)',
                       part);
        EXECUTE format('ALTER TABLE raw.events ATTACH PARTITION raw.%I '
                       'FOR VALUES FROM (%L) TO (%L)', part, day_start, day_end);
    EXCEPTION WHEN duplicate_table THEN
        -- created by a transaction this one's snapshot cannot see (REPEATABLE READ)
        RETURN false;
    END;
    RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION raw.drop_partitions_before(cutoff timestamptz) RETURNS int
    LANGUAGE plpgsql VOLATILE
    SET timezone = 'UTC'
    SET datestyle = 'ISO, YMD'
AS $$
DECLARE
    p       record;
    bounds  text[];
    dropped int := 0;
    horizon timestamptz;
BEGIN
    IF cutoff IS NULL THEN
        RAISE EXCEPTION 'raw.drop_partitions_before: cutoff is NULL';
    END IF;
    PERFORM pg_advisory_xact_lock(6217028251199492692);
    FOR p IN
        SELECT c.oid::regclass AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'raw.events'::regclass
        ORDER BY c.relname
    LOOP
        bounds := regexp_match(p.bound, '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$');
        CONTINUE WHEN bounds IS NULL OR bounds[2]::timestamptz > cutoff;
        EXECUTE format('DROP TABLE %s', p.part);
        dropped := dropped + 1;
        horizon := greatest(horizon, bounds[2]::timestamptz);
    END LOOP;
    IF dropped > 0 THEN
        DELETE FROM raw.event_ids WHERE received_at < horizon;
        INSERT INTO raw.purge_horizon (horizon) VALUES (horizon)
            ON CONFLICT (one) DO UPDATE
            SET horizon = greatest(raw.purge_horizon.horizon, EXCLUDED.horizon);
    END IF;
    RETURN dropped;
END
$$;

COMMENT ON FUNCTION raw.drop_partitions_before(timestamptz) IS
    'Drops the raw.events partitions entirely before cutoff and their raw.event_ids rows, and '
    'moves raw.purge_horizon to the end of the last one; returns the number of partitions '
    'dropped. Used by purge_raw.';
