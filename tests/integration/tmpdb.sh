# Sourced by the tests that need a database of their own on the stack's
# PostgreSQL and a real worker writing into it (test_roles.sh,
# test_pgbouncer.sh). Defines:
#   tmpdb_url ROLE [HOST:PORT]   the URL of the test database as ROLE
#   tmpdb_free_port              a free TCP port on 127.0.0.1
#   tmpdb_skip_history URL       stores the group's offsets at the end of
#                                every topic (vigilctl offsets reset), so the
#                                worker below reads only what comes next, not
#                                the stack's history (whose refusals would go
#                                to the shared DLQ again)
#   tmpdb_worker URL LOG         starts a worker on URL with a group and a
#                                port of its own; sets TMPDB_WORKER_PID,
#                                TMPDB_WORKER_PORT
#   tmpdb_send_event TENANT      one event for TENANT/s-1 on vigil.events
#   tmpdb_wait_landed URL TENANT waits (180 s) for its raw.events row
# and drops the database and stops the worker on exit.
TMPDB_NAME=vigil_t_$$_$RANDOM
TMPDB_ADMIN=${VIGIL_DATABASE_URL:?run through ./dev test}
TMPDB_WORKER_PID=
tmpdb_url() {
  python3 - "$TMPDB_ADMIN" "$1" "$TMPDB_NAME" "${2:-}" << 'PY'
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
host = sys.argv[4] or p.hostname + (f":{p.port}" if p.port else "")
print(u.urlunsplit((p.scheme, f"{sys.argv[2]}@{host}", "/" + sys.argv[3], p.query, "")))
PY
}
tmpdb_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
tmpdb_cleanup() {
  if [[ -n $TMPDB_WORKER_PID ]]; then
    kill "$TMPDB_WORKER_PID" 2> /dev/null && wait "$TMPDB_WORKER_PID" 2> /dev/null
  fi
  psql "$TMPDB_ADMIN" -qc "DROP DATABASE IF EXISTS $TMPDB_NAME WITH (FORCE)" > /dev/null 2>&1
}
trap tmpdb_cleanup EXIT
psql "$TMPDB_ADMIN" -qc "CREATE DATABASE $TMPDB_NAME" || { echo "FAIL: cannot create $TMPDB_NAME"; exit 1; }

tmpdb_skip_history() {
  VIGIL_DATABASE_URL=$1 VIGIL_WORKER_GROUP=$TMPDB_NAME \
    "${VIGIL_BIN_DIR:?}/vigilctl" offsets reset --to-latest --execute > /dev/null
}
tmpdb_worker() {
  TMPDB_WORKER_PORT=$(tmpdb_free_port)
  VIGIL_DATABASE_URL=$1 VIGIL_WORKER_GROUP=$TMPDB_NAME VIGIL_WORKER_ID=$TMPDB_NAME \
    VIGIL_WORKER_HTTP_PORT=$TMPDB_WORKER_PORT "${VIGIL_BIN_DIR:?}/vigil-worker" > "$2" 2>&1 &
  TMPDB_WORKER_PID=$!
}
tmpdb_send_event() {
  local now; now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
  printf '{"v":1,"tenant":"%s","event_id":"%s","type":"page.view","session_id":"s-1","occurred_at":"%s","received_at":"%s"}\n' \
    "$1" "$(cat /proc/sys/kernel/random/uuid)" "$now" "$now" |
    kcat -P -b "${VIGIL_KAFKA_BROKERS:?}" -t vigil.events -k "$1/s-1"
}
tmpdb_wait_landed() {
  local deadline=$((SECONDS + 180))
  until [[ $(psql "$1" -qAtc "SELECT count(*) FROM raw.events WHERE tenant_id = '$2'" 2> /dev/null) == 1 ]]; do
    ((SECONDS < deadline)) && kill -0 "$TMPDB_WORKER_PID" 2> /dev/null || return 1
    sleep 0.5
  done
}
