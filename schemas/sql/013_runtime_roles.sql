-- Runtime roles (docs/operations.md, "PostgreSQL roles"): migrations run as
-- an owner role, the programs as roles without DDL rights. The two
-- functions that create and drop raw.events partitions need the owner's
-- rights (ATTACH and DROP need ownership of raw.events), so they run as
-- their owner, with a search_path nobody can plant objects in, and only the
-- roles granted EXECUTE may call them (deploy/postgres/grants.sql grants it
-- to the worker role; the owner keeps it). With one role for everything, as
-- in development, nothing changes.
ALTER FUNCTION raw.ensure_partition(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION raw.drop_partitions_before(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION raw.ensure_partition(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION raw.drop_partitions_before(timestamptz) FROM PUBLIC;
