#!/usr/bin/env bash
# Grafana's PostgreSQL login (grafana_reader) reads the marts and ops, and
# nothing that holds payloads: raw, staging and the vault refuse it. The role
# is created here as compose's init script would, then the migration that
# grants it (schemas/sql/017_grafana_reader.sql, idempotent) is applied.
set -euo pipefail
url=${VIGIL_DATABASE_URL:?run through ./dev test}
src=${VIGIL_SOURCE_DIR:?}
q() { psql "$url" -X -q -t -A -v ON_ERROR_STOP=1 "$@"; }
# the cluster's superuser (./dev: postgres, trust on 127.0.0.1) creates the
# role, as compose's init script does, and may SET ROLE to it
as_postgres() { psql -X -q -t -A -v ON_ERROR_STOP=1 -U postgres -d "${PGDATABASE:-vigil}" "$@"; }
as_postgres -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'grafana_reader')
       THEN CREATE ROLE grafana_reader NOLOGIN; END IF; END \$\$;"
q -f "$src/schemas/sql/017_grafana_reader.sql" # as the owner of the schemas, like migrate
fails=0 passes=0
for t in mart.sessions mart.session_stats ops.command_runs ops.consumer_offsets; do
  if out=$(as_postgres -c "SET ROLE grafana_reader; SELECT count(*) FROM $t" 2>&1); then
    passes=$((passes + 1))
  else
    echo "FAIL grafana_reader cannot read $t: $out"; fails=$((fails + 1))
  fi
done
for t in raw.events raw.event_ids staging.events vault.link_event vault.hub_visitor; do
  if out=$(as_postgres -c "SET ROLE grafana_reader; SELECT count(*) FROM $t" 2>&1); then
    echo "FAIL grafana_reader reads $t"; fails=$((fails + 1))
  elif [[ $out != *"permission denied"* ]]; then
    echo "FAIL $t: refused for another reason: $out"; fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
done
echo "$passes passed, $fails failed"
((fails == 0))
