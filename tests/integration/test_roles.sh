#!/usr/bin/env bash
# PostgreSQL roles (deploy/postgres): migrations as the owner, the programs
# as runtime roles with only their grants. In a database of this test's own
# on the stack's PostgreSQL: roles.sql, `vigilctl migrate` as vigil_owner,
# grants.sql; then a real worker as vigil_worker lands an event there (COPY, partitions through the SECURITY DEFINER function, offsets,
# sessions) with no permission error; the scheduler's upsert works as
# vigil_scheduler; `vigilctl migrate` as a runtime role passes on a current
# schema (the init containers); and what a runtime role must not do fails.
set -uo pipefail
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
bin=${VIGIL_BIN_DIR:?}
src=${VIGIL_SOURCE_DIR:?}
"${VIGIL_DEV:?run through ./dev test}" ready
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "${BASH_SOURCE[0]}")/tmpdb.sh"
tmp=$(mktemp -d)
trap 'tmpdb_cleanup; rm -rf "$tmp"' EXIT
url() { tmpdb_url "$1"; }
as() { local role=$1; shift; psql "$(url "$role")" -v ON_ERROR_STOP=1 -qAt "$@"; }

# roles.sql needs CREATEROLE: the cluster's superuser (./dev's is postgres).
psql "$(url "${VIGIL_TEST_PG_SUPERUSER:-postgres}")" -v ON_ERROR_STOP=1 -q -f "$src/deploy/postgres/roles.sql" > "$tmp/roles.out" 2>&1 &&
  ok || bad "roles.sql: $(cat "$tmp/roles.out")"
VIGIL_DATABASE_URL=$(url vigil_owner) "$bin/vigilctl" migrate > "$tmp/migrate.out" 2>&1 &&
  ok || bad "migrate as vigil_owner: $(cat "$tmp/migrate.out")"
as vigil_owner -f "$src/deploy/postgres/grants.sql" > "$tmp/grants.out" 2>&1 &&
  ok || bad "grants.sql as vigil_owner: $(cat "$tmp/grants.out")"

# The init containers' check: nothing pending, nothing created.
for role in vigil_worker vigil_scheduler; do
  VIGIL_DATABASE_URL=$(url $role) "$bin/vigilctl" migrate > "$tmp/m.out" 2>&1 &&
    grep -q '0 migrations applied' "$tmp/m.out" && ok || bad "migrate as $role on a current schema: $(cat "$tmp/m.out")"
done

# What runtime roles must not do.
for stmt in "CREATE TABLE raw.x (a int)" "DROP TABLE raw.event_ids" "ALTER TABLE mart.sessions ADD COLUMN x int" \
            "CREATE SCHEMA evil" "UPDATE ops.schema_migrations SET checksum = 'x'"; do
  as vigil_worker -c "$stmt" > /dev/null 2>&1 && bad "vigil_worker may: $stmt" || ok
done
as vigil_reader -c "DELETE FROM mart.sessions" > /dev/null 2>&1 && bad "vigil_reader may delete" || ok
as vigil_scheduler -c "SELECT count(*) FROM raw.events" > /dev/null 2>&1 && bad "vigil_scheduler may read raw.events" || ok
as vigil_reader -c "SELECT raw.drop_partitions_before(now())" > /dev/null 2>&1 &&
  bad "vigil_reader may drop partitions" || ok

# The scheduler's statement, as vigil_scheduler.
as vigil_scheduler -c "INSERT INTO ops.schedule_state (schedule, last_slot, command_id, emitted_at)
  VALUES ('t', to_timestamp(60), 't@60', now()) ON CONFLICT (schedule) DO UPDATE
  SET last_slot = excluded.last_slot WHERE ops.schedule_state.last_slot <= excluded.last_slot" \
  > /dev/null 2>&1 && ok || bad "vigil_scheduler cannot record a slot"
# Partition maintenance through the functions, as vigil_worker.
as vigil_worker -c "SELECT raw.ensure_partition(now() + interval '40 days')" > /dev/null 2>&1 &&
  ok || bad "vigil_worker cannot create a raw partition through raw.ensure_partition"
as vigil_worker -c "SELECT raw.drop_partitions_before(now() - interval '400 days')" > /dev/null 2>&1 &&
  ok || bad "vigil_worker cannot run raw.drop_partitions_before"

# A real worker as vigil_worker, its own group and port, from the end of the
# stack's topics.
tmpdb_skip_history "$(url vigil_owner)" && ok || bad "vigilctl offsets reset as vigil_owner"
tmpdb_worker "$(url vigil_worker)" "$tmp/worker.log"
tenant=roles-$$
tmpdb_send_event "$tenant"
tmpdb_wait_landed "$(url vigil_reader)" "$tenant"
[[ $(as vigil_reader -c "SELECT count(*) FROM raw.events WHERE tenant_id = '$tenant'") == 1 ]] && ok ||
  bad "the worker as vigil_worker did not land the event: $(tail -5 "$tmp/worker.log")"
[[ $(as vigil_reader -c "SELECT count(*) FROM mart.sessions WHERE tenant_id = '$tenant'") == 1 ]] && ok ||
  bad "no session row written as vigil_worker"
[[ $(as vigil_reader -c "SELECT count(*) FROM ops.consumer_offsets WHERE consumer_group = '$TMPDB_NAME'") -gt 0 ]] &&
  ok || bad "no offsets stored as vigil_worker"
m=$(curl -sS --max-time 10 "http://127.0.0.1:$TMPDB_WORKER_PORT/metrics")
grep -q '^vigil_db_errors_total{class="42"} 0$' <<<"$m" && ok ||
  bad "permission errors (SQLSTATE class 42) as vigil_worker: $(grep 'db_errors' <<<"$m" | tr '\n' ' ') $(grep -m3 denied "$tmp/worker.log")"
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
