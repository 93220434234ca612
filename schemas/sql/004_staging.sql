-- staging: typed, normalized events with their Data Vault keys. One row per
-- (tenant_id, event_id), written in the batch's transaction from the rows
-- raw.event_ids found new. The vault is loaded from here; `reprocess`
-- rebuilds it from raw.

CREATE TABLE staging.events (
    tenant_id     text        NOT NULL,
    event_id      uuid        NOT NULL,
    type          text        NOT NULL,
    session_id    text,
    visitor_id    text,
    user_id       text,
    occurred_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    url           text,
    properties    jsonb,
    hk_tenant     char(32)    NOT NULL,
    hk_session    char(32),
    hk_visitor    char(32),
    hk_event      char(32)    NOT NULL,
    hash_diff     char(32)    NOT NULL,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL,
    PRIMARY KEY (tenant_id, event_id)
);

-- summaries (events of a session in order) and erase_subject
CREATE INDEX events_session_idx ON staging.events (tenant_id, session_id, occurred_at)
    WHERE session_id IS NOT NULL;
CREATE INDEX events_visitor_idx ON staging.events (tenant_id, visitor_id)
    WHERE visitor_id IS NOT NULL;
CREATE INDEX events_user_idx ON staging.events (tenant_id, user_id)
    WHERE user_id IS NOT NULL;
-- reprocess {from, to}: rows arrive roughly in received_at order, BRIN is enough
CREATE INDEX events_received_at_brin ON staging.events USING brin (received_at);

COMMENT ON TABLE staging.events IS
    'Typed, normalized events (and session signals) with Data Vault hash keys and hash diff; '
    'one row per (tenant_id, event_id).';
COMMENT ON COLUMN staging.events.type IS
    'Event type, [a-z0-9_.:-]{1,64}; session signals are session.*.';
COMMENT ON COLUMN staging.events.occurred_at IS
    'Client time corrected for clock skew (DESIGN.md section 4).';
COMMENT ON COLUMN staging.events.received_at IS 'Producer receipt time, as in raw.events.';
COMMENT ON COLUMN staging.events.hk_tenant IS 'vault.hash_key(tenant_id).';
COMMENT ON COLUMN staging.events.hk_session IS
    'vault.hash_key(tenant_id, session_id); NULL without session_id.';
COMMENT ON COLUMN staging.events.hk_visitor IS
    'vault.hash_key(tenant_id, visitor_id); NULL without visitor_id.';
COMMENT ON COLUMN staging.events.hk_event IS 'vault.hash_key(tenant_id, event_id::text).';
COMMENT ON COLUMN staging.events.hash_diff IS
    'staging.event_hash_diff(type, session_id, visitor_id, user_id, occurred_at, url, properties).';
COMMENT ON COLUMN staging.events.load_date IS 'Transaction time of the batch that staged the row.';
COMMENT ON COLUMN staging.events.record_source IS 'Where the row came from: the Kafka topic.';

-- The hash diff of a staged event, columns in this fixed order.
CREATE FUNCTION staging.event_hash_diff(type text, session_id text, visitor_id text, user_id text,
                                        occurred_at timestamptz, url text, properties jsonb)
    RETURNS char(32)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT vault.hash_diff(type, session_id, visitor_id, user_id, vault.hash_ts(occurred_at),
                           url, properties::text)
$$;

COMMENT ON FUNCTION staging.event_hash_diff(text, text, text, text, timestamptz, text, jsonb) IS
    'hash_diff of staging.events: vault.hash_diff(type, session_id, visitor_id, user_id, '
    'vault.hash_ts(occurred_at), url, properties::text).';
