-- bench/sql/baselines.sql: the two baselines of bench/run, in their own
-- schema `bench` (never the pipeline's tables, which the same events have
-- already reached). Re-running it starts both from empty tables.
--
-- bench.copy_events: shaped like raw.events (columns, defaults, primary key,
-- the received_at index), not partitioned: the target of a plain COPY, the
-- database's own ceiling for the first layer alone.
--
-- bench.ingest_event(): the per-event way hand-rolled systems do it, one call
-- per event in its own transaction: the exactly-once guard, raw, staging with
-- the same hash keys (vault.hash_key, staging.event_hash_diff), the hubs, the
-- session-visitor link, the event link, and an upsert of the session. Into
-- copies of the real tables (LIKE ... INCLUDING ALL: same indexes).

SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

CREATE TABLE bench.copy_events (LIKE raw.events INCLUDING DEFAULTS INCLUDING INDEXES);

CREATE TABLE bench.event_ids (LIKE raw.event_ids INCLUDING ALL);
CREATE TABLE bench.raw_events (LIKE raw.events INCLUDING DEFAULTS INCLUDING INDEXES);
CREATE TABLE bench.staging_events (LIKE staging.events INCLUDING ALL);
CREATE TABLE bench.hub_tenant (LIKE vault.hub_tenant INCLUDING ALL);
CREATE TABLE bench.hub_session (LIKE vault.hub_session INCLUDING ALL);
CREATE TABLE bench.hub_visitor (LIKE vault.hub_visitor INCLUDING ALL);
CREATE TABLE bench.link_session_visitor (LIKE vault.link_session_visitor INCLUDING ALL);
CREATE TABLE bench.link_event (LIKE vault.link_event INCLUDING ALL);
CREATE TABLE bench.sessions (LIKE mart.sessions INCLUDING ALL);

CREATE FUNCTION bench.ingest_event(p_tenant text, p_event_id uuid, p_topic text,
                                   p_partition int, p_offset bigint,
                                   p_received_at timestamptz, p_body jsonb)
    RETURNS boolean
    LANGUAGE plpgsql
AS $$
DECLARE
    v_type     text        := p_body->>'type';
    v_session  text        := p_body->>'session_id';
    v_visitor  text        := p_body->>'visitor_id';
    v_user     text        := p_body->>'user_id';
    v_occurred timestamptz := (p_body->>'occurred_at')::timestamptz;
    v_url      text        := p_body->>'url';
    v_props    jsonb       := p_body->'properties';
    hk_t       char(32)    := vault.hash_key(p_tenant);
    hk_s       char(32);
    hk_v       char(32);
    hk_e       char(32)    := vault.hash_key(p_tenant, p_event_id::text);
BEGIN
    INSERT INTO bench.event_ids (tenant_id, event_id, received_at)
    VALUES (p_tenant, p_event_id, p_received_at) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN false; -- a duplicate
    END IF;
    IF v_session IS NOT NULL THEN
        hk_s := vault.hash_key(p_tenant, v_session);
    END IF;
    IF v_visitor IS NOT NULL THEN
        hk_v := vault.hash_key(p_tenant, v_visitor);
    END IF;

    INSERT INTO bench.raw_events (tenant_id, event_id, topic, partition, "offset", received_at, body)
    VALUES (p_tenant, p_event_id, p_topic, p_partition, p_offset, p_received_at, p_body);

    INSERT INTO bench.staging_events (tenant_id, event_id, type, session_id, visitor_id, user_id,
        occurred_at, url, properties, received_at, hk_tenant, hk_session, hk_visitor, hk_event,
        hash_diff, load_date, record_source)
    VALUES (p_tenant, p_event_id, v_type, v_session, v_visitor, v_user, v_occurred, v_url,
        v_props, p_received_at, hk_t, hk_s, hk_v, hk_e,
        staging.event_hash_diff(v_type, v_session, v_visitor, v_user, v_occurred, v_url, v_props),
        now(), p_topic);

    INSERT INTO bench.hub_tenant VALUES (hk_t, p_tenant, now(), p_topic) ON CONFLICT DO NOTHING;
    IF hk_s IS NOT NULL THEN
        INSERT INTO bench.hub_session VALUES (hk_s, p_tenant, v_session, now(), p_topic)
        ON CONFLICT DO NOTHING;
    END IF;
    IF hk_v IS NOT NULL THEN
        INSERT INTO bench.hub_visitor VALUES (hk_v, p_tenant, v_visitor, now(), p_topic)
        ON CONFLICT DO NOTHING;
    END IF;
    IF hk_s IS NOT NULL AND hk_v IS NOT NULL THEN
        INSERT INTO bench.link_session_visitor
        VALUES (vault.hash_key(p_tenant, v_session, v_visitor), hk_s, hk_v, now(), p_topic)
        ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO bench.link_event (hk_event, hk_tenant, hk_session, hk_visitor, event_id, type,
        occurred_at, url, properties, load_date, record_source)
    VALUES (hk_e, hk_t, hk_s, hk_v, p_event_id, v_type, v_occurred, v_url, v_props, now(), p_topic)
    ON CONFLICT DO NOTHING;

    IF v_session IS NOT NULL THEN
        INSERT INTO bench.sessions AS s (tenant_id, session_id, status, created_at, started_at,
            first_activity_at, last_activity_at, event_count)
        VALUES (p_tenant, v_session, 'active', v_occurred, v_occurred, v_occurred, v_occurred, 1)
        ON CONFLICT (tenant_id, session_id) DO UPDATE SET
            status = CASE WHEN s.status = 'draft' THEN 'active' ELSE s.status END,
            started_at = least(s.started_at, excluded.started_at),
            first_activity_at = least(s.first_activity_at, excluded.first_activity_at),
            last_activity_at = greatest(s.last_activity_at, excluded.last_activity_at),
            event_count = s.event_count + 1;
    END IF;
    RETURN true;
END
$$;
