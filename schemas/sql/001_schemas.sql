-- Vigil's layers, one schema each (DESIGN.md section 6).
--
-- The migration runner (tools/migrate.c) has already created schema ops and
-- ops.schema_migrations before this file runs, hence IF NOT EXISTS.

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS vault;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ops;

COMMENT ON SCHEMA raw IS
    'Landing zone: every accepted event exactly once, as received, partitioned by day.';
COMMENT ON SCHEMA staging IS
    'Typed, normalized events with their Data Vault hash keys and hash diff.';
COMMENT ON SCHEMA vault IS
    'Data Vault 2.0 business layer (hubs, links, satellites); insert-only.';
COMMENT ON SCHEMA mart IS
    'Current state for readers: mart.sessions and the reporting views.';
COMMENT ON SCHEMA ops IS
    'Operational state: migrations, consumer offsets, command runs, summary outbox.';
