-- raw: the landing zone. Every accepted event (and session signal) exactly
-- once, as it came off Kafka, partitioned by day of received_at so that
-- purge_raw drops whole partitions instead of deleting rows.
--
-- Exactly-once. PostgreSQL wants a partitioned table's unique keys to contain
-- the partition key, and a client's retry of an event_id arrives with a new
-- received_at, so (tenant_id, event_id) cannot be unique inside raw.events
-- itself. raw.event_ids, not partitioned, carries that key. A batch inserts
-- its ids there first, with ON CONFLICT DO NOTHING RETURNING, and lands in
-- raw.events only the rows that came back (schemas/README.md has the statement).
--
-- Partitions are UTC days named raw.events_YYYYMMDD. There is no default
-- partition: a row for a day without a partition fails loudly instead of
-- piling up where retention never reaches. This file creates yesterday to
-- today + 7; workers call raw.ensure_partition() for the days a batch touches.

CREATE TABLE raw.events (
    tenant_id   text        NOT NULL,
    event_id    uuid        NOT NULL,
    topic       text        NOT NULL,
    partition   int         NOT NULL,
    "offset"    bigint      NOT NULL,
    received_at timestamptz NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    body        jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, event_id, received_at)
) PARTITION BY RANGE (received_at);

CREATE INDEX events_received_at_idx ON raw.events (received_at);

COMMENT ON TABLE raw.events IS
    'Every accepted event exactly once (uniqueness of (tenant_id, event_id) is kept by '
    'raw.event_ids), with its Kafka coordinates and original envelope. Partitioned by UTC '
    'day of received_at (raw.events_YYYYMMDD); retention drops partitions.';
COMMENT ON COLUMN raw.events.tenant_id IS
    'Tenant, from the producer''s key check, never from the body.';
COMMENT ON COLUMN raw.events.event_id IS
    'Client-supplied or producer-generated (UUIDv7) id; retries reuse it.';
COMMENT ON COLUMN raw.events.topic IS 'Kafka topic the message was consumed from.';
COMMENT ON COLUMN raw.events.partition IS 'Kafka partition.';
COMMENT ON COLUMN raw.events."offset" IS 'Kafka offset within the partition.';
COMMENT ON COLUMN raw.events.received_at IS
    'When the producer accepted the event; the partition key.';
COMMENT ON COLUMN raw.events.loaded_at IS 'When the worker''s transaction landed the row.';
COMMENT ON COLUMN raw.events.body IS 'The original message value (versioned JSON envelope).';

CREATE TABLE raw.event_ids (
    tenant_id   text        NOT NULL,
    event_id    uuid        NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

CREATE INDEX event_ids_received_at_idx ON raw.event_ids (received_at);

COMMENT ON TABLE raw.event_ids IS
    'The exactly-once guard of raw.events: one row per (tenant_id, event_id) ever landed. '
    'A batch inserts its ids here with ON CONFLICT DO NOTHING RETURNING and lands in '
    'raw.events only the returned ones, with the same received_at. '
    'raw.drop_partitions_before() deletes the ids of the partitions it drops.';
COMMENT ON COLUMN raw.event_ids.received_at IS
    'received_at of the copy in raw.events: locates its partition and drives retention.';

-- Creates the partition of raw.events holding ts's UTC day unless it exists.
-- Returns true if this call created it. Concurrent callers serialize on a
-- transaction-level advisory lock; the partition is created empty and then
-- attached, which locks raw.events only in SHARE UPDATE EXCLUSIVE mode, so
-- inserts into other partitions proceed meanwhile.
CREATE FUNCTION raw.ensure_partition(ts timestamptz) RETURNS boolean
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

COMMENT ON FUNCTION raw.ensure_partition(timestamptz) IS
    'Creates raw.events_YYYYMMDD for ts''s UTC day if missing; true if created. Idempotent, '
    'safe under concurrency. Best called in its own short transaction before a batch.';

-- Drops every partition of raw.events that lies entirely before cutoff, and
-- the raw.event_ids rows of the events they held. Returns how many partitions
-- were dropped. Takes ACCESS EXCLUSIVE on raw.events for the rest of the
-- transaction (PostgreSQL needs it to detach a partition): keep that
-- transaction short.
CREATE FUNCTION raw.drop_partitions_before(cutoff timestamptz) RETURNS int
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
        -- "FOR VALUES FROM ('2024-05-01 00:00:00+00') TO ('2024-05-02 00:00:00+00')";
        -- a DEFAULT or MINVALUE/MAXVALUE bound does not match and is kept.
        bounds := regexp_match(p.bound, '^FOR VALUES FROM \(''([^'']+)''\) TO \(''([^'']+)''\)$');
        CONTINUE WHEN bounds IS NULL OR bounds[2]::timestamptz > cutoff;
        EXECUTE format('DROP TABLE %s', p.part);
        dropped := dropped + 1;
        horizon := greatest(horizon, bounds[2]::timestamptz);
    END LOOP;
    IF dropped > 0 THEN
        DELETE FROM raw.event_ids WHERE received_at < horizon;
    END IF;
    RETURN dropped;
END
$$;

COMMENT ON FUNCTION raw.drop_partitions_before(timestamptz) IS
    'Drops the raw.events partitions entirely before cutoff and their raw.event_ids rows; '
    'returns the number of partitions dropped. Used by purge_raw.';

SELECT raw.ensure_partition(now() + d * interval '1 day') FROM generate_series(-1, 7) AS d;
