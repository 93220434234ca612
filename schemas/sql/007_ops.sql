-- ops: what the machinery needs to be exactly-once and auditable.
-- ops.schema_migrations is created by the migration runner itself
-- (tools/migrate.c) before any file runs; it is only documented here.

COMMENT ON TABLE ops.schema_migrations IS
    'Applied migrations (schemas/sql/NNN_name.sql), written by vigilctl migrate; '
    'checksum is the SHA-256 of the file, which must not change once applied.';

-- Offsets live here, advanced in the batch's transaction with a
-- compare-and-set on next_offset (DESIGN.md section 7).
CREATE TABLE ops.consumer_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      int         NOT NULL CHECK (partition >= 0),
    next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

COMMENT ON TABLE ops.consumer_offsets IS
    'Authoritative consumer positions: a worker seeks here on assignment and advances them '
    'in the batch transaction with WHERE next_offset = <value read> (compare-and-set).';
COMMENT ON COLUMN ops.consumer_offsets.next_offset IS 'Offset of the next message to process.';
COMMENT ON COLUMN ops.consumer_offsets.updated_at IS 'Time of the last commit that moved it.';

-- One row per command_id: the deterministic id (<schedule>@<slot time>)
-- makes a repeated emission find its row and do nothing.
CREATE TABLE ops.command_runs (
    command_id  text        PRIMARY KEY,
    name        text        NOT NULL,
    params      jsonb       NOT NULL DEFAULT '{}',
    dry_run     boolean     NOT NULL DEFAULT false,
    status      text        NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'done', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    affected    bigint      NOT NULL DEFAULT 0 CHECK (affected >= 0),
    sample      jsonb,
    error       text,
    worker      text,
    CHECK ((status = 'running') = (finished_at IS NULL))
);

CREATE INDEX command_runs_started_idx ON ops.command_runs (started_at DESC);
CREATE INDEX command_runs_running_idx ON ops.command_runs (updated_at) WHERE status = 'running';

COMMENT ON TABLE ops.command_runs IS
    'Audit of scheduler commands executed by workers, one row per command_id.';
COMMENT ON COLUMN ops.command_runs.command_id IS
    '<schedule>@<slot time>, or the id given to vigilctl command.';
COMMENT ON COLUMN ops.command_runs.params IS 'The command''s parameters as received.';
COMMENT ON COLUMN ops.command_runs.dry_run IS
    'A dry run changes nothing and lists what it would change in sample.';
COMMENT ON COLUMN ops.command_runs.updated_at IS
    'Last progress (each batch commits); a stale running row is a dead run.';
COMMENT ON COLUMN ops.command_runs.affected IS
    'Rows changed (or, in a dry run, that would be), summed over batches.';
COMMENT ON COLUMN ops.command_runs.sample IS 'Some of the affected rows, as a JSON array.';
COMMENT ON COLUMN ops.command_runs.worker IS 'The worker that ran it (client id or host:pid).';

-- Outbox of session summaries: the batch that ends a session inserts its row
-- in the same transaction (the primary key makes it once per session, however
-- often the end is replayed); the worker produces to vigil.summaries after
-- the commit and sets sent_at. Rows still unsent after a crash are sent again.
CREATE TABLE ops.summary_outbox (
    tenant_id  text        NOT NULL,
    session_id text        NOT NULL,
    status     text        NOT NULL CHECK (status IN ('ended', 'timeout', 'expired')),
    queued_at  timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   int         NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, session_id)
);

CREATE INDEX summary_outbox_pending_idx ON ops.summary_outbox (queued_at) WHERE sent_at IS NULL;

COMMENT ON TABLE ops.summary_outbox IS
    'Once-only session summaries: a row per session that ended (or timed out, or expired), '
    'written in the transaction that ended it; '
    'sent_at is set once vigil.summaries acknowledged it.';
