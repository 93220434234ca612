-- What Grafana's PostgreSQL login may read: the marts and ops, never the
-- payloads (raw.events bodies, staging and vault rows hold every tenant's
-- events and visitor ids). Grafana runs whatever SQL a dashboard holds, so
-- the role itself must be narrow. The role is created outside the
-- migrations (compose: deploy/grafana/postgres-init/; elsewhere
-- docs/operations.md), so this grants only if it exists, and takes back the
-- database-wide defaults the compose init script used to grant.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grafana_reader') THEN
        RETURN;
    END IF;
    ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM grafana_reader;
    ALTER DEFAULT PRIVILEGES REVOKE USAGE ON SCHEMAS FROM grafana_reader;
    REVOKE ALL ON ALL TABLES IN SCHEMA raw, staging, vault FROM grafana_reader;
    REVOKE USAGE ON SCHEMA raw, staging, vault FROM grafana_reader;
    GRANT USAGE ON SCHEMA mart, ops TO grafana_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA mart, ops TO grafana_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA mart, ops GRANT SELECT ON TABLES TO grafana_reader;
END
$$;
