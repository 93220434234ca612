-- Where a command that walks a range stands (reprocess {from, to}): the key
-- of the last row it has done, so that each step reads only the next batch
-- of rows instead of scanning the range again from its start. NULL before
-- the first step and for commands that do not walk a range.

ALTER TABLE ops.command_runs ADD COLUMN cursor jsonb;

COMMENT ON COLUMN ops.command_runs.cursor IS
    'Last key done by a command that walks a range, e.g. reprocess: '
    '{"received_at", "tenant_id", "event_id"} of raw.events; NULL otherwise.';
