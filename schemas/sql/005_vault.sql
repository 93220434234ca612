-- vault: Data Vault 2.0, insert-only (DESIGN.md section 6).
--
-- A hub's key is hk_<hub> beside its business keys; a link's own key is
-- hk_<link> beside the hub keys it joins; every row has load_date and
-- record_source; satellites have hash_diff. Keys are vault.hash_key() of the
-- business keys: hub_tenant (tenant_id), hub_session (tenant_id, session_id),
-- hub_visitor (tenant_id, visitor_id), link_session_visitor (tenant_id,
-- session_id, visitor_id), link_event (tenant_id, event_id). Loads use
-- INSERT ... ON CONFLICT DO NOTHING, so replays add nothing. No foreign keys:
-- hubs, links and satellites load independently, as Data Vault intends.
--
-- Business keys are case-insensitive in the vault (the convention upper-cases
-- them): session ids 'abc' and 'ABC' of one tenant share one hub row.

CREATE TABLE vault.hub_tenant (
    hk_tenant     char(32)    PRIMARY KEY,
    tenant_id     text        NOT NULL,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL
);
CREATE INDEX hub_tenant_bk_idx ON vault.hub_tenant (tenant_id);

CREATE TABLE vault.hub_session (
    hk_session    char(32)    PRIMARY KEY,
    tenant_id     text        NOT NULL,
    session_id    text        NOT NULL,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL
);
CREATE INDEX hub_session_bk_idx ON vault.hub_session (tenant_id, session_id);

CREATE TABLE vault.hub_visitor (
    hk_visitor    char(32)    PRIMARY KEY,
    tenant_id     text        NOT NULL,
    visitor_id    text        NOT NULL,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL
);
CREATE INDEX hub_visitor_bk_idx ON vault.hub_visitor (tenant_id, visitor_id);

CREATE TABLE vault.link_session_visitor (
    hk_session_visitor char(32)    PRIMARY KEY,
    hk_session         char(32)    NOT NULL,
    hk_visitor         char(32)    NOT NULL,
    load_date          timestamptz NOT NULL DEFAULT now(),
    record_source      text        NOT NULL
);
CREATE INDEX link_session_visitor_session_idx ON vault.link_session_visitor (hk_session);
CREATE INDEX link_session_visitor_visitor_idx ON vault.link_session_visitor (hk_visitor);

CREATE TABLE vault.link_event (
    hk_event      char(32)    PRIMARY KEY,
    hk_tenant     char(32)    NOT NULL,
    hk_session    char(32),
    hk_visitor    char(32),
    event_id      uuid        NOT NULL,
    type          text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    url           text,
    properties    jsonb,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL
);
CREATE INDEX link_event_session_idx ON vault.link_event (hk_session, occurred_at)
    WHERE hk_session IS NOT NULL;
CREATE INDEX link_event_visitor_idx ON vault.link_event (hk_visitor)
    WHERE hk_visitor IS NOT NULL;

-- History of session state: a row whenever vault.sat_session_hash_diff() of
-- the state changes. last_activity_at and duration_ms ride along with each
-- row but are not hashed, so heartbeats alone do not add rows; every status
-- change (including the end, which fixes the duration) does.
CREATE TABLE vault.sat_session (
    hk_session        char(32)    NOT NULL,
    load_date         timestamptz NOT NULL DEFAULT now(),
    hash_diff         char(32)    NOT NULL,
    record_source     text        NOT NULL,
    status            text        NOT NULL,
    kind              text,
    started_at        timestamptz,
    first_activity_at timestamptz,
    last_activity_at  timestamptz,
    ended_at          timestamptz,
    duration_ms       bigint,
    end_reason        text,
    expires_at        timestamptz,
    attributes        jsonb,
    PRIMARY KEY (hk_session, load_date)
);

-- The satellite's hash diff, columns in this fixed order.
CREATE FUNCTION vault.sat_session_hash_diff(status text, kind text, started_at timestamptz,
                                            first_activity_at timestamptz, ended_at timestamptz,
                                            end_reason text, expires_at timestamptz,
                                            attributes jsonb)
    RETURNS char(32)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT vault.hash_diff(status, kind, vault.hash_ts(started_at),
                           vault.hash_ts(first_activity_at), vault.hash_ts(ended_at), end_reason,
                           vault.hash_ts(expires_at), attributes::text)
$$;

-- Insert-only, enforced. Deletes stay possible for erase_subject.
CREATE FUNCTION vault.refuse_update() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'vault tables are insert-only (%.% got an UPDATE)',
        TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'feature_not_supported';
END
$$;

CREATE TRIGGER insert_only BEFORE UPDATE ON vault.hub_tenant
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.hub_session
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.hub_visitor
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.link_session_visitor
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.link_event
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.sat_session
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();

COMMENT ON TABLE vault.hub_tenant IS 'Hub of tenants; hk_tenant = vault.hash_key(tenant_id).';
COMMENT ON TABLE vault.hub_session IS
    'Hub of sessions; business key (tenant_id, session_id), '
    'hk_session = vault.hash_key(tenant_id, session_id).';
COMMENT ON TABLE vault.hub_visitor IS
    'Hub of visitors; business key (tenant_id, visitor_id), '
    'hk_visitor = vault.hash_key(tenant_id, visitor_id).';
COMMENT ON TABLE vault.link_session_visitor IS
    'Link session-visitor; hk_session_visitor = vault.hash_key(tenant_id, session_id, visitor_id).';
COMMENT ON TABLE vault.link_event IS
    'Non-historized link: one row per event, joining tenant, session and visitor, with the '
    'event''s payload (type, occurred_at, url, properties); '
    'hk_event = vault.hash_key(tenant_id, event_id::text).';
COMMENT ON TABLE vault.sat_session IS
    'History of session state on hub_session: a row per change of hash_diff '
    '(vault.sat_session_hash_diff(status, kind, started_at, first_activity_at, ended_at, '
    'end_reason, expires_at, attributes)); at most one row per session per load_date.';
COMMENT ON COLUMN vault.sat_session.last_activity_at IS 'As of this row; not part of hash_diff.';
COMMENT ON COLUMN vault.sat_session.duration_ms IS 'As of this row; not part of hash_diff.';
COMMENT ON FUNCTION vault.sat_session_hash_diff(text, text, timestamptz, timestamptz, timestamptz,
                                                text, timestamptz, jsonb) IS
    'hash_diff of vault.sat_session: vault.hash_diff over status, kind, started_at, '
    'first_activity_at, ended_at, end_reason, expires_at (times via vault.hash_ts), '
    'attributes::text.';
