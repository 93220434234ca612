#!/usr/bin/env bash
# The programs through PgBouncer in session pooling mode, as
# docs/operations.md prescribes: `vigilctl migrate` (a session advisory
# lock), a worker (session-local temporary tables across its transactions)
# landing an event, and two schedulers electing exactly one leader (a
# session advisory lock held for as long as it leads), all through one
# PgBouncer in front of a database of this test's own.
set -uo pipefail
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
bin=${VIGIL_BIN_DIR:?}
command -v pgbouncer > /dev/null || { echo "FAIL: pgbouncer is not installed (./dev installs it)"; exit 1; }
"${VIGIL_DEV:?run through ./dev test}" ready
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
. "$(dirname "${BASH_SOURCE[0]}")/tmpdb.sh"
dir=$(mktemp -d)
chmod 755 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null && wait "$p" 2> /dev/null; done
  tmpdb_cleanup
  rm -rf "$dir"
}
trap cleanup EXIT

read -r pg_host pg_port pg_user < <(python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); print(p.hostname, p.port or 5432, p.username)' "$TMPDB_ADMIN")
port=$(tmpdb_free_port)
cat > "$dir/pgbouncer.ini" << INI
[databases]
$TMPDB_NAME = host=$pg_host port=$pg_port dbname=$TMPDB_NAME
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = session
max_client_conn = 50
default_pool_size = 10
INI
printf '"%s" ""\n' "$pg_user" > "$dir/users.txt"
# PgBouncer refuses to run as root: it then drops to the postgres user
# (which reads the ini and users file of this 0755 directory; it logs to
# stderr, collected by this shell).
as_user=()
[[ $(id -u) == 0 ]] && as_user=(-u postgres)
pgbouncer "${as_user[@]}" "$dir/pgbouncer.ini" > "$dir/stdout" 2>&1 &
pids+=($!)
url=$(tmpdb_url "$pg_user" "127.0.0.1:$port")
deadline=$((SECONDS + 30))
until psql "$url" -qAtc 'SELECT 1' > /dev/null 2>&1; do
  ((SECONDS < deadline)) || { echo "FAIL: PgBouncer did not answer: $(tail -5 "$dir/stdout")"; exit 1; }
  sleep 0.2
done

VIGIL_DATABASE_URL=$url "$bin/vigilctl" migrate > "$dir/migrate.out" 2>&1 && ok ||
  bad "vigilctl migrate through PgBouncer: $(cat "$dir/migrate.out")"

tmpdb_skip_history "$url" && ok || bad "vigilctl offsets reset through PgBouncer"
tmpdb_worker "$url" "$dir/worker.log"
pids+=("$TMPDB_WORKER_PID")
tenant=pgb-$$
tmpdb_send_event "$tenant"
tmpdb_wait_landed "$url" "$tenant" && ok ||
  bad "a worker through PgBouncer did not land the event: $(tail -5 "$dir/worker.log")"
# A second batch on the same connection uses the temporary tables again.
tmpdb_send_event "$tenant-2"
tmpdb_wait_landed "$url" "$tenant-2" && ok || bad "the second batch through PgBouncer did not land"

# Two schedulers, one leader.
sports=()
for i in 1 2; do
  p=$(tmpdb_free_port)
  sports+=("$p")
  VIGIL_DATABASE_URL=$url VIGIL_SCHEDULER_HTTP_PORT=$p "$bin/vigil-scheduler" > "$dir/scheduler-$i.log" 2>&1 &
  pids+=($!)
done
leaders() {
  local n=0 p
  for p in "${sports[@]}"; do
    curl -sS --max-time 5 "http://127.0.0.1:$p/metrics" 2> /dev/null | grep -q '^vigil_scheduler_leader 1$' && n=$((n + 1))
  done
  echo "$n"
}
deadline=$((SECONDS + 60))
until [[ $(leaders) == 1 ]]; do
  ((SECONDS < deadline)) || break
  sleep 0.5
done
[[ $(leaders) == 1 ]] && ok || bad "two schedulers through PgBouncer: $(leaders) leaders, want 1"
# Still one a few seconds later: the lock stays with its session.
sleep 3
[[ $(leaders) == 1 ]] && ok || bad "the leadership did not hold through PgBouncer: $(leaders) leaders"
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
