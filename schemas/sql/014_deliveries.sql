-- ops.deliveries: one row per session summary and destination (DESIGN.md
-- section 11). vigil-notifier writes the rows in the same transaction as its
-- offsets in ops.consumer_offsets (group vigil-notifiers), so a summary read
-- twice still makes one row per destination; its delivery loop claims due
-- rows with FOR UPDATE SKIP LOCKED, so replicas share the work.

CREATE TABLE ops.deliveries (
    delivery_id     uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    summary_id      text        NOT NULL,
    tenant_id       text        NOT NULL,
    destination     text        NOT NULL,
    type            text        NOT NULL CHECK (type IN ('webhook', 'email')),
    status          text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'dead', 'skipped')),
    attempts        int         NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     int,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    session_id      text        NOT NULL,
    session_ended_at timestamptz,
    claimed_by      text,
    payload         jsonb       NOT NULL,
    UNIQUE (summary_id, destination),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);

-- The delivery loop: due rows per destination, oldest first.
CREATE INDEX deliveries_due_idx ON ops.deliveries (destination, next_attempt_at)
    WHERE status = 'pending';
-- vigilctl deliveries list, the dead gauge.
CREATE INDEX deliveries_status_idx ON ops.deliveries (status, created_at DESC);
CREATE INDEX deliveries_tenant_idx ON ops.deliveries (tenant_id, created_at DESC);

COMMENT ON TABLE ops.deliveries IS
    'Session summaries to deliver, one row per (summary_id, destination), written with the '
    'notifier''s offsets; delivered at least once, deduplicated by receivers on delivery_id.';
COMMENT ON COLUMN ops.deliveries.delivery_id IS
    'Stable across retries: sent as Vigil-Delivery (webhooks) and in the Message-ID (e-mail).';
COMMENT ON COLUMN ops.deliveries.summary_id IS '<tenant>/<session_id>/<status>, from the summary.';
COMMENT ON COLUMN ops.deliveries.destination IS
    '<tenant>/<name> of a destination in the config (producer.tenants[].notify).';
COMMENT ON COLUMN ops.deliveries.status IS
    'pending (to send or retry), delivered, dead (gave up: see last_status, last_error), '
    'skipped (the session ended longer ago than notifier.max_summary_age_s: a backfill).';
COMMENT ON COLUMN ops.deliveries.attempts IS 'Attempts started (counted when claimed).';
COMMENT ON COLUMN ops.deliveries.next_attempt_at IS
    'When the row is due; while a notifier holds it, the end of its lease.';
COMMENT ON COLUMN ops.deliveries.last_status IS
    'HTTP status of the last webhook attempt, or the SMTP reply code; NULL: no answer.';
COMMENT ON COLUMN ops.deliveries.last_error IS 'Why the last attempt failed, in words.';
COMMENT ON COLUMN ops.deliveries.session_ended_at IS
    'The session''s end, from the summary: the start of the delivery latency.';
COMMENT ON COLUMN ops.deliveries.claimed_by IS 'The notifier sending it now (notifier.id), or NULL.';
COMMENT ON COLUMN ops.deliveries.payload IS 'The summary as the worker emitted it.';
