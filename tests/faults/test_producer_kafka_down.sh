#!/usr/bin/env bash
# With the broker stopped (./dev stop kafka), durable requests to the producer
# get 503 with Retry-After within producer.ack_timeout_ms, never a 202, and
# /readyz says 503; once Kafka is back (./dev up) the producer is ready again
# and a durable request gets its 202. Meanwhile a client keeps sending, through
# the outage and after it: every event that got a 202 lands in raw.events,
# once. Restores Kafka even when it fails.
set -euo pipefail
dev=${VIGIL_DEV:?run through ./dev test}
base=${VIGIL_HTTP:?run through ./dev test}
key=${VIGIL_DEMO_KEY:?run through ./dev test}
conf=${VIGIL_CONFIG:?run through ./dev test}
db=${VIGIL_DATABASE_URL:?run through ./dev test}

# The bound the producer promises: its ack timeout (environment, else the file, else 5 s).
ack_ms=${VIGIL_PRODUCER_ACK_TIMEOUT_MS:-$(sed -n 's/^[[:space:]]*ack_timeout_ms[[:space:]]*=[[:space:]]*\([0-9]*\).*/\1/p' "$conf" | head -1)}
ack_ms=${ack_ms:-5000}
slack_ms=3000
run=kd-$$-$RANDOM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

tmp=$(mktemp -d)
restore() {
  [[ -z ${loader:-} ]] || kill "$loader" 2>/dev/null || true
  "$dev" up >/dev/null 2>&1 || echo "warning: ./dev up could not bring the stack back"
  rm -rf "$tmp"
}
trap restore EXIT

# post PATH BODY: prints "status elapsed_ms body"
post() {
  local t0 t1 out
  t0=$(date +%s%3N)
  out=$(curl -sS --max-time 60 -o - -w '\n%{http_code}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' --data-binary "$2" "$base$1" -D /tmp/$run.h) || out=$'\n000'
  t1=$(date +%s%3N)
  echo "${out##*$'\n'} $((t1 - t0)) ${out%$'\n'*}"
}

ready_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$base/readyz" || true; }

[[ $(ready_code) == 200 ]] || { echo "FAIL: the producer is not ready before the test"; exit 1; }

# The steady client: one event per request, its own event_id, until told to
# stop (at most 3000 requests); each line of its log is "event_id status".
steady() {
  local i id code
  for ((i = 0; i < 3000; i++)); do
    [[ -e $tmp/stop ]] && break
    id=$(cat /proc/sys/kernel/random/uuid)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H "Authorization: Bearer $key" \
      -H 'Content-Type: application/json' "$base/v1/events" \
      --data-binary "{\"type\":\"kafka.steady\",\"event_id\":\"$id\",\"visitor_id\":\"$run\"}") ||
      code=${code:-000}
    echo "$id $code" >>"$tmp/steady"
  done
}
steady &
loader=$!
acked() { awk '$2 == 202' "$tmp/steady" 2>/dev/null | wc -l; }
deadline=$((SECONDS + 30))
until (($(acked) >= 20)) || ((SECONDS > deadline)); do sleep 0.2; done

"$dev" stop kafka >/dev/null

# /readyz follows the broker (it caches a second).
deadline=$((SECONDS + 30))
until [[ $(ready_code) == 503 ]] || ((SECONDS > deadline)); do sleep 0.2; done
[[ $(ready_code) == 503 ]] || fail "/readyz is not 503 with Kafka stopped"

for i in 1 2 3; do
  read -r code ms body < <(post /v1/events "{\"type\":\"kafka.down\",\"visitor_id\":\"$run-$i\"}")
  if [[ $code == 2* ]]; then
    fail "durable request $i got $code with Kafka stopped"
  elif [[ $code != 503 ]]; then
    fail "durable request $i got $code, want 503: $body"
  else
    [[ $body == *'"error"'* && $body == *'"code"'* ]] || fail "503 without a JSON error: $body"
    grep -qi '^Retry-After: [1-9]' /tmp/$run.h || fail "503 without Retry-After"
    ((ms <= ack_ms + slack_ms)) || fail "503 after $ms ms, the bound is $ack_ms ms"
    ((ms >= ack_ms - 100)) || echo "note: 503 after $ms ms, before the ack timeout"
  fi
done
# A session start is durable too.
read -r code ms body < <(post /v1/sessions "{\"session_id\":\"$run-s\"}")
[[ $code == 503 ]] || fail "POST /v1/sessions got $code with Kafka stopped, want 503"

"$dev" up >/dev/null
deadline=$((SECONDS + 120))
until [[ $(ready_code) == 200 ]] || ((SECONDS > deadline)); do sleep 0.5; done
[[ $(ready_code) == 200 ]] || fail "/readyz is not 200 after Kafka came back"
code=000
deadline=$((SECONDS + 120))
while ((SECONDS < deadline)); do
  read -r code ms body < <(post /v1/events "{\"type\":\"kafka.back\",\"visitor_id\":\"$run-back\"}")
  [[ $code == 202 ]] && break
  sleep 1
done
[[ $code == 202 ]] || fail "no 202 after Kafka came back (last $code)"
rm -f /tmp/$run.h

# Let the steady client get some 202s after the outage too, then stop it.
before=$(acked)
deadline=$((SECONDS + 30))
until (($(acked) >= before + 20)) || ((SECONDS > deadline)); do sleep 0.2; done
touch "$tmp/stop"
wait "$loader" || true
loader=
n_acked=$(acked)
n_other=$(awk '$2 != 202' "$tmp/steady" | wc -l)
echo "steady client: $n_acked acknowledged, $n_other refused"
((n_acked >= 40)) || fail "the steady client got only $n_acked 202s"
# Every acknowledged event lands, once; none that got a 202 is missing.
ids="{$(awk '$2 == 202 { printf "%s%s", sep, $1; sep = "," }' "$tmp/steady")}"
landed() {
  psql "$db" -qAtc "SELECT count(*) FROM raw.events WHERE tenant_id = 'demo'
      AND event_id = ANY('$ids'::uuid[])"
}
deadline=$((SECONDS + 120))
until [[ $(landed) -ge $n_acked ]] || ((SECONDS > deadline)); do sleep 0.5; done
got=$(landed)
[[ $got == "$n_acked" ]] || fail "$got of $n_acked acknowledged events in raw.events"
dups=$(psql "$db" -qAtc "SELECT count(*) - count(DISTINCT event_id) FROM raw.events
    WHERE tenant_id = 'demo' AND body->>'visitor_id' = '$run'")
[[ $dups == 0 ]] || fail "$dups events of the steady client landed twice"

echo "$fails failures"
[[ $fails -eq 0 ]]
