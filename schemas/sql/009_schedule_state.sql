-- The scheduler's memory (DESIGN.md section 8): the last slot each schedule
-- fired. A scheduler that takes the lead (after a restart, or when the
-- leader's connection dropped) fires once the latest slot within
-- scheduler.catchup_s that is later than last_slot, then follows the cron.
-- Firing a slot twice is harmless: its command_id, <schedule>@<slot>, makes
-- the repeat a no-op in ops.command_runs.

CREATE TABLE ops.schedule_state (
    schedule   text        PRIMARY KEY,
    last_slot  timestamptz NOT NULL,
    command_id text        NOT NULL,
    emitted_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE ops.schedule_state IS
    'Last slot fired per scheduler schedule, written by the leader once Kafka acknowledged '
    'the command; read on taking the lead to fire a missed slot once (scheduler.catchup_s).';
COMMENT ON COLUMN ops.schedule_state.schedule IS 'Schedule name from the configuration.';
COMMENT ON COLUMN ops.schedule_state.last_slot IS
    'Slot (UTC minute) of the last command emitted; only moves forward.';
COMMENT ON COLUMN ops.schedule_state.command_id IS 'Its command_id, <schedule>@<slot>.';
COMMENT ON COLUMN ops.schedule_state.emitted_at IS 'When Kafka acknowledged it.';
