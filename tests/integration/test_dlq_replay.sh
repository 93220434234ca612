#!/usr/bin/env bash
# vigilctl dlq replay sends a dead letter back to its topic; a replayed event
# lands once, and replaying it again lands nothing more.
set -euo pipefail
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
ctl=${VIGIL_BIN_DIR:?}/vigilctl
# A stack whose Kafka partitions are led and whose workers hold them all,
# whatever the test before this one restarted.
"${VIGIL_DEV:?run through ./dev test}" ready
tenant=replay-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
key="$tenant/s-1"
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

envelope() { # event_id
  local now; now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
  printf '{"v":1,"tenant":"%s","event_id":"%s","type":"page.view","session_id":"s-1","occurred_at":"%s","received_at":"%s"}' \
    "$tenant" "$1" "$now" "$now"
}
count() { psql "$VIGIL_DATABASE_URL" -Atc "SELECT count(*) FROM raw.events WHERE tenant_id = '$tenant' AND event_id = '$1'"; }
wait_for() { # event_id expected-count
  local deadline=$((SECONDS + 60))
  until [[ $(count "$1") == "$2" ]]; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}
# A sentinel behind the replay on the same partition (same key): once it has
# landed, the replayed message before it has been processed.
sentinel() {
  local id; id=$(cat /proc/sys/kernel/random/uuid)
  envelope "$id" | kcat -P -b "$VIGIL_KAFKA_BROKERS" -t vigil.events -k "$key"
  wait_for "$id" 1
}

id=$(cat /proc/sys/kernel/random/uuid)
envelope "$id" | kcat -P -b "$VIGIL_KAFKA_BROKERS" -t vigil.dlq -k "$key" \
  -H vigil-topic=vigil.events -H vigil-stage=test -H "vigil-error=replay test $tenant"

out=$("$ctl" dlq list --match "$tenant")
[[ $out == *"replay test $tenant"* ]] && ok || bad "dlq list does not show the dead letter: $out"

out=$("$ctl" dlq replay --match "$tenant" --dry-run)
[[ $out == *"1 would be sent"* ]] && ok || bad "dry run: $out"
sentinel && [[ $(count "$id") == 0 ]] && ok || bad "a dry run replayed something"

out=$("$ctl" dlq replay --match "$tenant")
[[ $out == *"1 sent back"* ]] && ok || bad "replay: $out"
wait_for "$id" 1 && ok || bad "the replayed event did not land"

"$ctl" dlq replay --match "$tenant" >/dev/null
sentinel && [[ $(count "$id") == 1 ]] && ok || bad "a second replay landed the event twice"

echo "$passes passed, $fails failed"
((fails == 0))
