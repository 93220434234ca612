#!/usr/bin/env bash
# What an operator reaches for on day one, on the real stack:
#   - vigilctl offsets show and reset (dry run first, then --execute) move
#     ops.consumer_offsets per topic and partition, to earliest, latest, a
#     time or an offset, within Kafka's watermarks; on a group of this test's
#     own, so the running workers are not disturbed;
#   - vigilctl status -o json is JSON with the lag and the layers;
#   - the metrics: process_* on every program, the workers' own lag per
#     partition, rebalances, database errors by class, output failures and
#     per-tenant refusals there from start-up, bucket bounds in their
#     shortest form.
set -uo pipefail
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
ctl=${VIGIL_BIN_DIR:?}/vigilctl
producer=${VIGIL_HTTP:?} producer_metrics=${VIGIL_PRODUCER_METRICS_HTTP:?}
scheduler=${VIGIL_SCHEDULER_HTTP:?} workers=${VIGIL_WORKER_HTTP:?}
"${VIGIL_DEV:?run through ./dev test}" ready
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
db() { psql "$VIGIL_DATABASE_URL" -qAtc "$1"; }
group=ops-test-$$-$RANDOM
export VIGIL_WORKER_GROUP=$group
trap 'db "DELETE FROM ops.consumer_offsets WHERE consumer_group = '"'$group'"'" > /dev/null' EXIT
# jq-like: python3 -c over stdin.
pyjson() { python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }

# Three events on partition 0 of vigil.events (one session: one partition).
tenant=ops-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
before=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
for i in 1 2 3; do
  now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
  printf '{"v":1,"tenant":"%s","event_id":"%s","type":"page.view","session_id":"s-1","occurred_at":"%s","received_at":"%s"}\n' \
    "$tenant" "$(cat /proc/sys/kernel/random/uuid)" "$now" "$now"
done | kcat -P -b "$VIGIL_KAFKA_BROKERS" -t vigil.events -p 0 -k "$tenant/s-1"

# -- offsets show ---------------------------------------------------------------
show=$("$ctl" offsets show -o json) || bad "offsets show exit $?"
n=$(pyjson 'print(len({(r["topic"], r["partition"]) for r in d["offsets"]}))' <<<"$show")
want=13 # config/vigil.conf: 6 + 6 + 1 partitions of events, heartbeats and commands
[[ $n == "$want" ]] && ok || bad "offsets show lists $n partitions, want $want: ${show:0:300}"
pyjson 'assert all(r["stored"] is None and r["lag"] == r["high"] - r["low"] for r in d["offsets"]), d' \
  <<<"$show" && ok || bad "a group with nothing stored: stored null, lag high - low"
part=0
read -r low high < <(pyjson '
r = next(r for r in d["offsets"] if r["topic"] == "vigil.events" and r["partition"] == 0)
print(r["low"], r["high"])' <<<"$show")
[[ -n $part && $high -ge $((low + 3)) ]] && ok || bad "a vigil.events partition with 3 messages: $part $low $high"

# -- reset: dry run first ---------------------------------------------------------
out=$("$ctl" offsets reset --to-latest --topic vigil.events --partition "$part") || bad "reset dry run exit $?"
[[ $out == *"dry run: nothing changed"* ]] && ok || bad "reset without --execute says dry run: $out"
[[ $(db "SELECT count(*) FROM ops.consumer_offsets WHERE consumer_group = '$group'") == 0 ]] && ok ||
  bad "a dry run stored something"

# --to-offset, clamped within the watermarks, then executed.
"$ctl" offsets reset --to-offset $((low + 1)) --topic vigil.events --partition "$part" --execute > /dev/null ||
  bad "reset --to-offset --execute exit $?"
got=$(db "SELECT next_offset FROM ops.consumer_offsets WHERE consumer_group = '$group' AND topic = 'vigil.events' AND partition = $part")
[[ $got == $((low + 1)) ]] && ok || bad "--to-offset $((low + 1)) stored '$got'"
"$ctl" offsets reset --to-offset 999999999999 --topic vigil.events --partition "$part" --execute > /dev/null
got=$(db "SELECT next_offset FROM ops.consumer_offsets WHERE consumer_group = '$group' AND topic = 'vigil.events' AND partition = $part")
(( got >= high )) && ok || bad "an offset past the end is clamped to high ($high): '$got'"

# --to-earliest over every partition of every topic, in one transaction.
"$ctl" offsets reset --to-earliest --execute -o json > /tmp/ops-$$.json || bad "reset --to-earliest exit $?"
pyjson 'assert d["executed"] is True and all(r["new"] == r["low"] for r in d["offsets"]), d' \
  < /tmp/ops-$$.json && ok || bad "reset --to-earliest -o json: $(head -c 300 /tmp/ops-$$.json)"
rm -f /tmp/ops-$$.json
[[ $(db "SELECT count(*) FROM ops.consumer_offsets WHERE consumer_group = '$group'") == 13 ]] && ok ||
  bad "--to-earliest stored every partition"

# --to-time: a time before our three messages gives an offset at or before
# them; one in the future gives the end.
out=$("$ctl" offsets reset --to-time "$before" --topic vigil.events --partition "$part" -o json)
new=$(pyjson 'print(d["offsets"][0]["new"])' <<<"$out")
(( new >= low && new <= high - 3 )) && ok || bad "--to-time before the messages: $new not in [$low, $((high - 3))]"
out=$("$ctl" offsets reset --to-time 2999-01-01T00:00:00Z --topic vigil.events --partition "$part" -o json)
new=$(pyjson 'print(d["offsets"][0]["new"])' <<<"$out")
(( new >= high )) && ok || bad "--to-time in the future gives the end: $new < $high"

# -- status -o json -----------------------------------------------------------------
unset VIGIL_WORKER_GROUP
"$ctl" status -o json | pyjson '
assert isinstance(d["lag"], list) and d["lag"], d
assert {"raw.events", "mart.sessions"} <= {r["relation"] for r in d["layers"]}, d["layers"]
assert all(isinstance(r["rows"], int) and r["estimated"] in (True, False) for r in d["layers"])
assert isinstance(d["dead_letters"], int)' && ok || bad "vigilctl status -o json"

# -- metrics ----------------------------------------------------------------------
scrape() { curl -sS --max-time 10 "$1/metrics"; }
for base in "$producer_metrics" "$scheduler" $workers ${VIGIL_NOTIFIER_HTTP:-} ${VIGIL_QUERY_HTTP:-}; do
  m=$(scrape "$base") || { bad "$base/metrics"; continue; }
  for name in process_cpu_seconds_total process_resident_memory_bytes process_open_fds \
              process_start_time_seconds; do
    grep -qE "^$name [0-9.e+]+$" <<<"$m" && ok || bad "$base: no $name"
  done
  ! grep -qE 'le="[0-9.]*[0-9]{12,}"' <<<"$m" && ok || bad "$base: a bucket bound printed long"
done
w=$(for base in $workers; do scrape "$base"; done)
grep -q '^vigil_worker_consumer_lag{topic="vigil.events",partition="[0-9]*"} [0-9]' <<<"$w" && ok ||
  bad "the worker exports its lag per partition"
grep -qE '^vigil_worker_rebalances_total\{type="assign"\} [1-9]' <<<"$w" && ok ||
  bad "the worker counted its assignment"
grep -q '^vigil_db_errors_total{class="40"} ' <<<"$w" && ok || bad "database errors by class, at 0"
grep -q '^vigil_worker_produce_failures_total{topic="vigil.dlq"} ' <<<"$w" && ok ||
  bad "DLQ produce failures from 0"
grep -q '^vigil_dlq_messages_total{stage="command"} ' <<<"$w" && ok || bad "dead letters by stage from 0"
grep -q '^vigil_worker_commands_total{command="purge_raw",status="failed"} ' <<<"$w" && ok ||
  bad "failed runs of every command from 0"
grep -q 'vigil_worker_e2e_seconds_bucket{le="300"}' <<<"$w" && ok || bad "e2e buckets reach 300 s"
s=$(scrape "$scheduler")
grep -q '^vigil_scheduler_emit_failures_total{command="timeout_sessions"} ' <<<"$s" && ok ||
  bad "emit failures of every scheduled command from 0"
grep -q '^vigil_requests_refused_total{tenant="acme",status="429"} ' <<<"$(scrape "$producer_metrics")" && ok ||
  bad "per-tenant refusals from 0"
curl -sS -o /dev/null -H 'Authorization: Bearer not-a-key' -H 'Content-Type: application/json' \
  -d '{"type":"page.view","session_id":"s","event_id":"'"$(cat /proc/sys/kernel/random/uuid)"'"}' \
  "$producer/v1/events"
grep -qE '^vigil_requests_refused_total\{tenant="unknown",status="401"\} [1-9]' <<<"$(scrape "$producer_metrics")" &&
  ok || bad "a 401 with an unknown key is counted for tenant unknown"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
