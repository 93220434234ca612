-- What vigil-query reads without Kafka, a full scan or polling (DESIGN.md section 10).

-- Dead letters per consumer group and source topic, counted in the batch
-- transaction that moves the offsets past them: exactly once, as the
-- offsets are. vigil-query's /v1/status and dashboard show the sum; the
-- letters themselves stay in vigil.dlq (vigilctl dlq list).
CREATE TABLE ops.dead_letters (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    refused        bigint      NOT NULL DEFAULT 0 CHECK (refused >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic)
);

COMMENT ON TABLE ops.dead_letters IS
    'Messages a worker group sent to the DLQ, per source topic, counted in the batch transaction '
    'that moves the offsets past them (exactly once).';
COMMENT ON COLUMN ops.dead_letters.refused IS 'Dead letters so far (replays do not subtract).';
COMMENT ON COLUMN ops.dead_letters.updated_at IS 'When the last one was counted.';

-- GET /v1/sessions: a tenant's sessions, newest activity first, by keyset.
CREATE INDEX sessions_tenant_activity_idx
    ON mart.sessions (tenant_id, (coalesce(last_activity_at, created_at)) DESC, session_id DESC);

-- Every statement that writes mart.sessions (the workers' batches, their
-- commands, an erasure, a hand-made fix) notifies vigil_sessions at commit.
-- vigil-query's one listener wakes its long-polls on it, and keeps a cached
-- session beyond its age while no notification came: the cache then never
-- misses a change by more than query.cache.max_staleness_ms, whoever wrote
-- it. Once per statement, and PostgreSQL folds a transaction's identical
-- notifications into one.
CREATE FUNCTION mart.notify_sessions() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('vigil_sessions', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER notify_sessions AFTER INSERT OR UPDATE OR DELETE ON mart.sessions
    FOR EACH STATEMENT EXECUTE FUNCTION mart.notify_sessions();
