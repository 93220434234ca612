-- What vigil-query reads without Kafka or a full scan (DESIGN.md section 10).

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
