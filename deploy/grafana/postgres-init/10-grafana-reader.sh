#!/bin/sh
# Runs once, when the postgres container of compose.yaml initializes an empty
# data directory (/docker-entrypoint-initdb.d). Creates grafana_reader, the
# read-only login of Grafana's PostgreSQL data source: Grafana runs whatever
# SQL a dashboard holds, so it must not connect as the owner of the data.
#
# The schemas and tables do not exist yet (`vigilctl migrate` creates them
# later, as $POSTGRES_USER): default privileges make everything that role
# creates from now on readable, including raw.events partitions added later.
set -e

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v owner="$POSTGRES_USER" -v reader_password="${GRAFANA_DB_PASSWORD:-grafana}" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT USAGE ON SCHEMAS TO grafana_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" GRANT SELECT ON TABLES TO grafana_reader;
SQL
