-- mart.sessions: the current state of every session, one row per
-- (tenant_id, session_id). Workers merge into it with statements that
-- commute (DESIGN.md section 7): last_activity_at takes the greatest,
-- started_at and first_activity_at the least, status only moves forward
-- (mart.status_rank), counters add what is new in the transaction.

-- draft 0 < active 1 < ended, timeout, expired 2; NULL for anything else.
CREATE FUNCTION mart.status_rank(status text) RETURNS int
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE status
        WHEN 'draft' THEN 0
        WHEN 'active' THEN 1
        WHEN 'ended' THEN 2
        WHEN 'timeout' THEN 2
        WHEN 'expired' THEN 2
    END
$$;

COMMENT ON FUNCTION mart.status_rank(text) IS
    'Order of session statuses for forward-only merges: '
    'draft 0, active 1, ended/timeout/expired 2; '
    'NULL for an unknown status.';

CREATE TABLE mart.sessions (
    tenant_id         text        NOT NULL,
    session_id        text        NOT NULL,
    kind              text,
    status            text        NOT NULL
        CHECK (status IN ('draft', 'active', 'ended', 'timeout', 'expired')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    first_activity_at timestamptz,
    last_activity_at  timestamptz,
    ended_at          timestamptz,
    duration_ms       bigint      CHECK (duration_ms >= 0),
    heartbeat_count   bigint      NOT NULL DEFAULT 0 CHECK (heartbeat_count >= 0),
    event_count       bigint      NOT NULL DEFAULT 0 CHECK (event_count >= 0),
    end_reason        text,
    expires_at        timestamptz,
    attributes        jsonb       NOT NULL DEFAULT '{}',
    was_draft         boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, session_id)
);

-- timeout_sessions: active sessions idle since before a point in time
CREATE INDEX sessions_status_activity_idx ON mart.sessions (status, last_activity_at);
-- cleanup_drafts
CREATE INDEX sessions_drafts_idx ON mart.sessions (created_at) WHERE status = 'draft';
-- expire_sessions
CREATE INDEX sessions_expires_idx ON mart.sessions (expires_at) WHERE expires_at IS NOT NULL;

-- A session that is ever a draft stays marked, so mart.draft_conversion can
-- count drafts after they convert. The WHEN clause keeps this off the hot
-- path: the function runs only when a row is written as an unmarked draft.
CREATE FUNCTION mart.mark_draft() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    NEW.was_draft := true;
    RETURN NEW;
END
$$;

CREATE TRIGGER mark_draft BEFORE INSERT OR UPDATE ON mart.sessions
    FOR EACH ROW WHEN (NEW.status = 'draft' AND NOT NEW.was_draft)
    EXECUTE FUNCTION mart.mark_draft();

COMMENT ON TABLE mart.sessions IS
    'Current state of every session, one row per (tenant_id, session_id); merged by workers '
    'with commuting updates (DESIGN.md section 7).';
COMMENT ON COLUMN mart.sessions.kind IS
    'Session kind from session.start; NULL if only seen through events so far.';
COMMENT ON COLUMN mart.sessions.status IS
    'draft < active < ended | timeout | expired; only moves forward (mart.status_rank).';
COMMENT ON COLUMN mart.sessions.created_at IS
    'When the session was first known (creation or first signal).';
COMMENT ON COLUMN mart.sessions.started_at IS 'Start of the session; the least value seen.';
COMMENT ON COLUMN mart.sessions.first_activity_at IS
    'First activity (event or heartbeat); set when a draft is activated.';
COMMENT ON COLUMN mart.sessions.last_activity_at IS
    'Latest activity; the greatest value seen. Timeouts end a session here.';
COMMENT ON COLUMN mart.sessions.ended_at IS
    'End time; a timed-out session ends at its last_activity_at.';
COMMENT ON COLUMN mart.sessions.duration_ms IS
    'ended_at (or last activity) minus started_at, in milliseconds.';
COMMENT ON COLUMN mart.sessions.heartbeat_count IS
    'Heartbeats counted once each, also after the end.';
COMMENT ON COLUMN mart.sessions.event_count IS
    'Events with this session_id counted once each, also after the end.';
COMMENT ON COLUMN mart.sessions.end_reason IS
    'Why it ended: client reason, idle, max_duration, expired, ...';
COMMENT ON COLUMN mart.sessions.expires_at IS
    'When an unfinished session expires (expire_sessions).';
COMMENT ON COLUMN mart.sessions.attributes IS 'Attributes given at creation (POST /v1/sessions).';
COMMENT ON COLUMN mart.sessions.was_draft IS
    'True once the session has been a draft (set by trigger mark_draft, never cleared); '
    'feeds mart.draft_conversion.';
