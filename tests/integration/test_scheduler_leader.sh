#!/usr/bin/env bash
# vigil-scheduler (DESIGN.md section 8) on the real stack:
#  - a bad schedule, or no command secret, stops it at start, naming why;
#  - of two schedulers exactly one leads and only the leader emits (a fresh
#    schedule's current slot is fired at once as a catch-up, so there is
#    something to emit without waiting for a minute to turn);
#  - SIGKILL of the leader in the middle of the sweep it ordered (its
#    connection simply drops) hands the lead to the other within seconds, and
#    the sweep, carried out by the workers, times every session out once;
#  - SIGTERM exits 0 promptly and releases the lock.
# The stack's own scheduler holds the lock, so it is stopped for the test and
# brought back at the end (./dev up starts what is missing).
set -euo pipefail
bin=${VIGIL_BIN_DIR:?}
dev=${VIGIL_DEV:?run through ./dev test}
db=${VIGIL_DATABASE_URL:?run through ./dev test}
# A stack whose Kafka partitions are led and whose workers hold them all,
# whatever the test before this one restarted.
"${VIGIL_DEV:?run through ./dev test}" ready
: "${VIGIL_COMMAND_SECRET:?}" "${VIGIL_KAFKA_BROKERS:?}"
tmp=$(mktemp -d)
tag=itest-lead-$$-$RANDOM
key=6217029359048672332 # VG_LEADER_LOCK_KEY, "VGSCHEDL"
declare -A pid_of=()
fails=0

cleanup() {
  for p in "${pid_of[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  psql "$db" -qAtc "DELETE FROM ops.schedule_state WHERE schedule = '$tag';
    DELETE FROM ops.summary_outbox WHERE tenant_id = '$tag';
    DELETE FROM mart.sessions WHERE tenant_id = '$tag'" >/dev/null 2>&1 || true
  "$dev" up >/dev/null 2>&1 || echo "could not bring the stack's scheduler back (./dev up)"
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL $*"; fails=$((fails + 1)); }
# wait_for SECONDS COMMAND...: runs COMMAND every 0.2 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
# metric PORT SERIES: its value, 0 if absent or unreachable.
metric() {
  local v
  v=$(curl -fsS --max-time 3 "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk -v s="$2" '$1 == s { print $2 }')
  echo "${v:-0}"
}
start() { # PORT CONFIG
  VIGIL_SCHEDULER_HTTP_PORT=$1 VIGIL_LOG_LEVEL=info "$bin/vigil-scheduler" -c "$2" \
    >"$tmp/$1.log" 2>&1 &
  pid_of[$1]=$!
}
leaders() { # the ports whose scheduler leads
  local p
  for p in "${!pid_of[@]}"; do
    [[ $(metric "$p" vigil_scheduler_leader) == 1 ]] && echo "$p"
  done
  return 0
}
one_leader() { [[ $(leaders | wc -l) -eq 1 ]]; }
healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; }

# -- refused at start ----------------------------------------------------------
bad() { # NAME CRON COMMAND PARAMS WANT
  cat >"$tmp/bad.conf" <<EOF
scheduler = { schedules = ( { name = "$1"; cron = "$2"; command = "$3"; params = $4; } ); };
EOF
  local rc=0
  VIGIL_SCHEDULER_HTTP_PORT=9298 timeout 20 "$bin/vigil-scheduler" -c "$tmp/bad.conf" \
    >"$tmp/bad.out" 2>&1 || rc=$?
  if [[ $rc -ne 1 ]] || ! grep -qF "schedule \\\"$1\\\"" "$tmp/bad.out" ||
    ! grep -qF "$5" "$tmp/bad.out"; then
    fail "schedule $1 ($2, $3): exit $rc, want 1 and \"$5\": $(tail -c 300 "$tmp/bad.out")"
  fi
}
bad bad-cron "61 * * * *" timeout_sessions "{ idle_seconds = 60; }" "minute: 61 is outside 0-59"
bad bad-command "* * * * *" drop_tables "{ }" "unknown command"
bad bad-params "* * * * *" timeout_sessions "{ idle = 60; }" "timeout_sessions has no parameter"
bad never "0 0 30 2 *" expire_sessions "{ }" "never fires"
cat >"$tmp/nosecret.conf" <<EOF
scheduler = { schedules = ( ); };
EOF
rc=0
VIGIL_COMMAND_SECRET= VIGIL_SCHEDULER_HTTP_PORT=9298 timeout 20 "$bin/vigil-scheduler" \
  -c "$tmp/nosecret.conf" >"$tmp/nosecret.out" 2>&1 || rc=$?
if [[ $rc -ne 1 ]] || ! grep -q 'VIGIL_COMMAND_SECRET' "$tmp/nosecret.out"; then
  fail "no secret: exit $rc, want 1: $(tail -c 300 "$tmp/nosecret.out")"
fi

# -- leadership ---------------------------------------------------------------
# Idle sessions of this run's tenant, for the first command to sweep in
# small batches: long enough to kill the leader while it runs.
sessions=30000
psql "$db" -qAtc "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at,
    started_at, first_activity_at, last_activity_at)
  SELECT '$tag', 'idle-' || g, 'lesson', 'active', now() - interval '3 hours',
    now() - interval '3 hours', now() - interval '3 hours', now() - interval '2 hours'
  FROM generate_series(1, $sessions) g" >/dev/null
cat >"$tmp/sched.conf" <<EOF
scheduler = {
  catchup_s = 300;
  schedules = (
    { name = "$tag"; cron = "* * * * *"; command = "timeout_sessions";
      params = { idle_seconds = 3600; batch_size = 100; tenant = "$tag"; }; }
  );
};
EOF
"$dev" stop scheduler >/dev/null
start 9296 "$tmp/sched.conf"
start 9297 "$tmp/sched.conf"
wait_for 30 healthy 9296 && wait_for 30 healthy 9297 || fail "the two schedulers never became healthy"
wait_for 20 one_leader || fail "not exactly one leader: $(leaders | tr '\n' ' ')"
leader=$(leaders | head -1)
standby=9296
[[ $leader == 9296 ]] && standby=9297
echo "leader on $leader, standby on $standby"

emitted='vigil_scheduler_commands_emitted_total{command="timeout_sessions"}'
emits() { [[ $(metric "$leader" "$emitted") -ge 1 ]]; }
wait_for 20 emits || fail "the leader emitted nothing: $(tail -5 "$tmp/$leader.log")"
[[ $(metric "$standby" "$emitted") == 0 ]] || fail "the standby emitted"
[[ $(metric "$standby" vigil_scheduler_leader) == 0 ]] || fail "the standby says it leads"
sweeping() {
  [[ $(psql "$db" -qAtc "SELECT count(*) FROM ops.command_runs WHERE command_id LIKE '$tag@%'
        AND status = 'running' AND affected > 0") -ge 1 ]]
}
recorded() {
  [[ $(psql "$db" -qAtc "SELECT count(*) FROM ops.command_runs WHERE command_id LIKE '$tag@%'
        AND status = 'done'") -ge 1 ]]
}
wait_for 30 sweeping || fail "the leader's sweep was never seen running:
  $(psql "$db" -qAtc "SELECT command_id, status, affected FROM ops.command_runs
      WHERE command_id LIKE '$tag@%'")"
[[ $(psql "$db" -qAtc "SELECT count(*) FROM ops.schedule_state WHERE schedule = '$tag'") == 1 ]] ||
  fail "ops.schedule_state has no row for $tag"

# Kill the leader mid-sweep without letting it close anything: its
# connection drops.
t0=$SECONDS
kill -KILL "${pid_of[$leader]}"
wait "${pid_of[$leader]}" 2>/dev/null || true
unset "pid_of[$leader]"
took_over() { [[ $(metric "$standby" vigil_scheduler_leader) == 1 ]]; }
if wait_for 15 took_over; then
  echo "standby took over in $((SECONDS - t0)) s"
else
  fail "the standby did not take over within 15 s: $(tail -5 "$tmp/$standby.log")"
fi
wait_for 120 recorded || fail "the sweep did not finish after the leader was killed"
# Every session timed out once, at its last activity, with one summary queued.
counts=$(psql "$db" -qAtc "SELECT count(*) FILTER (WHERE status = 'timeout'
      AND ended_at = last_activity_at), count(*) FROM mart.sessions WHERE tenant_id = '$tag'")
[[ $counts == "$sessions|$sessions" ]] || fail "timed out|sessions: $counts, want $sessions|$sessions"
outbox=$(psql "$db" -qAtc "SELECT count(*), count(DISTINCT session_id) FROM ops.summary_outbox
      WHERE tenant_id = '$tag' AND status = 'timeout'")
[[ $outbox == "$sessions|$sessions" ]] || fail "summaries queued: $outbox, want $sessions|$sessions"
swept=$(psql "$db" -qAtc "SELECT coalesce(sum(affected), 0) FROM ops.command_runs
      WHERE command_id LIKE '$tag@%'")
[[ $swept == "$sessions" ]] || fail "runs counted $swept sessions, want $sessions"
# Whoever fired a slot, it ran once: the command_id is the slot.
runs=$(psql "$db" -qAtc "SELECT count(*), count(DISTINCT command_id) FROM ops.command_runs
        WHERE command_id LIKE '$tag@%'")
[[ ${runs%|*} == "${runs#*|}" ]] || fail "duplicate runs: $runs"

# SIGTERM: exit 0 promptly, and the lock is free again.
t0=$SECONDS
kill -TERM "${pid_of[$standby]}"
rc=0
timeout 15 tail --pid="${pid_of[$standby]}" -f /dev/null || rc=$?
wait "${pid_of[$standby]}" || rc=$?
unset "pid_of[$standby]"
[[ $rc -eq 0 ]] || fail "SIGTERM: exit $rc after $((SECONDS - t0)) s"
lock_free() {
  [[ $(psql "$db" -qAtc "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
        AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $key") == 0 ]]
}
wait_for 10 lock_free || fail "the leader lock is still held after SIGTERM"

if ((fails)); then
  echo "$fails failed"
  exit 1
fi
echo "all passed"
