-- Identity: who a visitor turns out to be (issue 16, docs/design.md).
--
-- Segment's identify and alias calls, and any event that carries both a
-- visitor_id and a user_id, say that a visitor is a user: after a login, the
-- visitor's earlier sessions belong to that user. In the vault this is a hub
-- of users and a link between the visitor and user hubs, keyed by the dbt
-- Data Vault convention like every other (002_hash.sql): hub_user on
-- (tenant_id, user_id), link_visitor_user on (tenant_id, visitor_id,
-- user_id). Insert-only, loaded from staging.events in the batch's
-- transaction and by reprocess, by the statements of worker/landing.c.
--
-- staging.events keeps what an event carries besides its typed columns:
-- the client's context (enriched by the producer) and, for calls of
-- Segment's Tracking API, the fields without a column of their own (event
-- name, traits, integrations, ...), as the envelope has them.

ALTER TABLE staging.events ADD COLUMN context jsonb, ADD COLUMN segment jsonb;

COMMENT ON COLUMN staging.events.context IS
    'The event''s context as the envelope carries it (Segment''s names: ip, userAgent, page, ...).';
COMMENT ON COLUMN staging.events.segment IS
    'For calls of Segment''s Tracking API: the fields without a column of their own '
    '(event, name, traits, integrations, previousId, groupId, timestamps, ...), as sent '
    '(docs/segment.md).';

CREATE TABLE vault.hub_user (
    hk_user       char(32)    PRIMARY KEY,
    tenant_id     text        NOT NULL,
    user_id       text        NOT NULL,
    load_date     timestamptz NOT NULL DEFAULT now(),
    record_source text        NOT NULL
);
CREATE INDEX hub_user_bk_idx ON vault.hub_user (tenant_id, user_id);

CREATE TABLE vault.link_visitor_user (
    hk_visitor_user char(32)    PRIMARY KEY,
    hk_visitor      char(32)    NOT NULL,
    hk_user         char(32)    NOT NULL,
    load_date       timestamptz NOT NULL DEFAULT now(),
    record_source   text        NOT NULL
);
CREATE INDEX link_visitor_user_visitor_idx ON vault.link_visitor_user (hk_visitor);
CREATE INDEX link_visitor_user_user_idx ON vault.link_visitor_user (hk_user);

CREATE TRIGGER insert_only BEFORE UPDATE ON vault.hub_user
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();
CREATE TRIGGER insert_only BEFORE UPDATE ON vault.link_visitor_user
    FOR EACH STATEMENT EXECUTE FUNCTION vault.refuse_update();

COMMENT ON TABLE vault.hub_user IS
    'Hub of users; business key (tenant_id, user_id), hk_user = vault.hash_key(tenant_id, user_id).';
COMMENT ON TABLE vault.link_visitor_user IS
    'Link visitor-user: the visitor is the user (identify, alias, or an event with both ids); '
    'hk_visitor_user = vault.hash_key(tenant_id, visitor_id, user_id).';
