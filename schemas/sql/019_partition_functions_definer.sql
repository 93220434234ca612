-- The partition functions run as their owner again (issue 19).
--
-- 013_runtime_roles.sql made raw.ensure_partition() and
-- raw.drop_partitions_before() SECURITY DEFINER, so that a worker's runtime
-- role creates and drops raw partitions only through them. 016_raw_horizon.sql
-- then redefined both with CREATE OR REPLACE, which leaves a function
-- SECURITY INVOKER unless it says otherwise: a worker without the owner's
-- rights could no longer create the day's partition. Restored here; the
-- grants (EXECUTE for vigil_worker only) survive CREATE OR REPLACE.

ALTER FUNCTION raw.ensure_partition(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION raw.drop_partitions_before(timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION raw.ensure_partition(timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION raw.drop_partitions_before(timestamptz) FROM PUBLIC;
