#!/bin/sh
# Runs once, when the postgres container of compose.yaml initializes an empty
# data directory (/docker-entrypoint-initdb.d). Creates grafana_reader, the
# login of Grafana's PostgreSQL data source: Grafana runs whatever SQL a
# dashboard holds, so it must not connect as the owner of the data.
#
# It is given nothing here: the schemas do not exist yet. The migration
# schemas/sql/017_grafana_reader.sql (run by `vigilctl migrate`) lets it read
# the marts and ops only, never raw, staging or the vault.
set -e

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v reader_password="${GRAFANA_DB_PASSWORD:-grafana}" <<'SQL'
CREATE ROLE grafana_reader LOGIN PASSWORD :'reader_password';
SQL
