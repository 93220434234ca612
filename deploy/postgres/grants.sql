-- The runtime roles' privileges on what the migrations created (roles.sql
-- made the roles). Idempotent: run after every `vigilctl migrate`, as
-- vigil_owner (the owner grants on its own objects):
--
--   psql -v ON_ERROR_STOP=1 "postgresql://vigil_owner@HOST/vigil?sslmode=verify-full" \
--        -f deploy/postgres/grants.sql
--
-- tests/integration/test_roles.sh runs a worker's and a scheduler's
-- statements under these grants, and checks what they must not do.
GRANT USAGE ON SCHEMA raw, staging, vault, mart, ops
    TO vigil_worker, vigil_scheduler, vigil_reader;

-- Workers: every data layer, the offsets, command runs and the summary outbox.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA raw, staging, vault, mart
    TO vigil_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.consumer_offsets, ops.command_runs,
    ops.summary_outbox, ops.dead_letters TO vigil_worker;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA raw, staging, vault, mart, ops TO vigil_worker;
GRANT EXECUTE ON FUNCTION raw.ensure_partition(timestamptz),
    raw.drop_partitions_before(timestamptz) TO vigil_worker;

-- Schedulers: their slots.
GRANT SELECT, INSERT, UPDATE ON ops.schedule_state TO vigil_scheduler;

-- The notifiers: their deliveries, and the offsets and dead letters of their group.
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.deliveries, ops.consumer_offsets, ops.dead_letters
    TO vigil_notifier;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ops TO vigil_notifier;

-- Everyone may check that the schema is current (the init containers run
-- `vigilctl migrate`, which with nothing pending only reads this table).
GRANT SELECT ON ops.schema_migrations TO vigil_worker, vigil_scheduler, vigil_notifier,
    vigil_reader;

-- Readers: everything, read-only.
GRANT SELECT ON ALL TABLES IN SCHEMA raw, staging, vault, mart, ops TO vigil_reader;
