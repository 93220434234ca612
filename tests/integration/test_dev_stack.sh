#!/usr/bin/env bash
# The local stack keeps its contract (DESIGN.md section 2): `./dev stop NAME`
# stops one part of the test stack and `./dev up` brings back only what is
# missing; a killed process leaves a stale pid file that `up` replaces; `env`
# describes the test stack; the default stack, if one is up, is not touched.
# Leaves the test stack fully running for the tests after it.
set -euo pipefail
dev=${VIGIL_DEV:?run through ./dev test}
[[ ${VIGIL_DEV_PROFILE:-} == test ]] || { echo "VIGIL_DEV_PROFILE is not test"; exit 1; }
default_run=${VIGIL_SOURCE_DIR:?}/.local/run
trap '"$dev" up >/dev/null 2>&1 || true' EXIT
trap 'echo "FAIL line $LINENO: $BASH_COMMAND"' ERR
fails=0 passes=0

ok() { passes=$((passes + 1)); }
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# pid NAME: the pid `./dev status` shows for a part, "-" when stopped.
pid() { "$dev" status | awk -v n="$1" '$1 == n { print $3 }'; }

# until_true SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
until_true() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

kafka_up() { kcat -L -b "$VIGIL_KAFKA_BROKERS" -m 2 >/dev/null 2>&1; }
pg_up() { psql -X -w -qAt "$VIGIL_DATABASE_URL" -c 'SELECT 1' >/dev/null 2>&1; }
http_up() { curl -fsS -o /dev/null --max-time 2 "$1/healthz" 2>/dev/null; }
worker_url() { local w; read -ra w <<<"$VIGIL_WORKER_HTTP"; echo "${w[$1]}"; }

default_pids() { cat "$default_run"/*.pid 2>/dev/null | sort | tr '\n' ' ' || true; }
default_before=$(default_pids)

# env names the test stack
env_out=$("$dev" env)
for want in "VIGIL_KAFKA_BROKERS=127.0.0.1:59192" "VIGIL_HTTP=http://127.0.0.1:8180" \
  "PGPORT=55442" "VIGIL_DEV_PROFILE=test" "VIGIL_DEMO_KEY=demo-key"; do
  if [[ $env_out == *"export $want"* ]]; then ok; else fail "env lacks $want: $env_out"; fi
done

# a second up starts nothing
before=$("$dev" status)
"$dev" up >/dev/null 2>&1 || fail "up on a running stack failed"
after=$("$dev" status)
if [[ $before == "$after" ]]; then ok; else fail "up changed a running stack: $before -> $after"; fi

# stop one worker; up brings back only that one
producer_pid=$(pid producer)
"$dev" stop worker-2 2>/dev/null
if [[ $(pid worker-2) == - ]] && ! http_up "$(worker_url 1)"; then ok; else
  fail "worker-2 still up after stop"
fi
"$dev" up >/dev/null 2>&1 || fail "up after stop worker-2 failed"
if http_up "$(worker_url 1)" && [[ $(pid producer) == "$producer_pid" ]]; then ok; else
  fail "worker-2 not back, or the producer was restarted"
fi

# a killed worker leaves a stale pid file; up replaces it
old=$(pid worker-1)
if [[ $old != - ]]; then
  kill -KILL "$old"
  until_true 10 bash -c "! kill -0 $old" || true
  "$dev" up >/dev/null 2>&1 || fail "up after kill -9 worker-1 failed"
  new=$(pid worker-1)
  if [[ $new != - && $new != "$old" ]] && http_up "$(worker_url 0)"; then ok; else
    fail "worker-1 not restarted after kill -9 (old $old, new $new)"
  fi
else
  fail "worker-1 is not running"
fi

# Kafka: stop, gone, up, back
"$dev" stop kafka 2>/dev/null
if ! kafka_up; then ok; else fail "kafka answers after stop"; fi
"$dev" up >/dev/null 2>&1 || fail "up after stop kafka failed"
if kafka_up; then ok; else fail "kafka not back after up"; fi

# PostgreSQL: stop, gone, up, back with the same data
"$dev" stop postgres 2>/dev/null
if ! pg_up; then ok; else fail "postgres answers after stop"; fi
"$dev" up >/dev/null 2>&1 || fail "up after stop postgres failed"
if until_true 10 pg_up; then ok; else fail "postgres not back after up"; fi

# up prints the demo page of sdk/vigil.js, and the producer serves it
up_out=$("$dev" up 2>&1) || fail "up on a running stack failed"
demo=$(grep -o 'http://127\.0\.0\.1:[0-9]*/sdk/demo\.html' <<<"$up_out" | head -n1)
if [[ -n $demo ]] && curl -fsS --max-time 5 "$demo" | grep -q '/sdk/vigil.js'; then ok
else fail "up printed no demo page that answers (${demo:-none})"; fi

# the default profile's processes are the same as before
if [[ $(default_pids) == "$default_before" ]]; then ok; else fail "the default stack changed"; fi

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
