-- PostgreSQL roles for Vigil: one owner, runtime roles with the least they
-- need. Run once, as a superuser or a role with CREATEROLE, connected to the
-- vigil database, before the first migration:
--
--   psql -v ON_ERROR_STOP=1 -d vigil -f deploy/postgres/roles.sql
--
-- then set each role's password (\password vigil_owner, ...) and, after
-- every `vigilctl migrate` (as vigil_owner), run grants.sql.
--
--   vigil_owner      owns the schemas and tables: `vigilctl migrate` and the
--                    operator's vigilctl. Never used by a running program.
--   vigil_worker     the workers: read and write raw, staging, vault, mart
--                    and the ops tables they keep; create and drop raw
--                    partitions only through the two functions for it.
--   vigil_scheduler  the schedulers: ops.schedule_state, and an advisory
--                    lock (which needs no grant).
--   vigil_notifier   the notifiers: ops.deliveries, their offsets and dead
--                    letters.
--   vigil_reader     read-only, for dashboards and reports (Grafana,
--                    vigilctl status/sessions/stats with a read-only URL)
--                    and vigil-query.
--   The producer needs no database role at all.
-- Idempotent: a role that exists is left as it is.
SELECT format('CREATE ROLE %I LOGIN', r)
FROM unnest(ARRAY['vigil_owner', 'vigil_worker', 'vigil_scheduler', 'vigil_notifier',
                    'vigil_reader']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
\gexec

-- Only the owner creates schemas; the workers need session-local tables
-- (TEMPORARY) for each batch.
SELECT format('GRANT CONNECT, CREATE, TEMPORARY ON DATABASE %I TO vigil_owner', current_database())
\gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO vigil_worker', current_database())
\gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO vigil_scheduler, vigil_notifier, vigil_reader', current_database())
\gexec
SELECT format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database())
\gexec
-- PostgreSQL 14 and earlier let every role create in schema public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
