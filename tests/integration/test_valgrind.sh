#!/usr/bin/env bash
# Each program starts, serves /healthz, and on SIGTERM shuts down with exit 0
# and no leak (nothing definitely, indirectly or possibly lost), under
# valgrind (the producer after refusing a few requests its parsers run
# through); vigilctl runs its status report, which reads both Kafka and
# PostgreSQL, the same way. The daemons use their own ports, a consumer group
# of their own and topics nobody writes to, so the running stack is not
# disturbed.
set -euo pipefail
bin=${VIGIL_BIN_DIR:?}
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}"
command -v valgrind >/dev/null || { echo "valgrind is required"; exit 1; }
tmp=$(mktemp -d)
trap 'kill -KILL $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
fails=0 passes=0
tag=vg$$
vg_opts="--quiet --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99"

# Requests the producer refuses after running its parsers through: a Segment
# batch whose second call is bad (the first is mapped, enriched, then dropped),
# gzip'd; a gzip bomb; a bad Basic header. Nothing reaches Kafka.
exercise_producer() { # port
  local url=http://127.0.0.1:$1 basic
  basic=$(printf 'demo-key:' | base64)
  printf '{"batch":[{"type":"track","event":"A b","anonymousId":"a","messageId":"m-1","context":{"x":1}},{"type":"track"}],"sentAt":"2026-01-01T00:00:00Z"}' |
    gzip -c | curl -s -o /dev/null -H "Authorization: Basic $basic" -H 'Content-Type: application/json' \
      -H 'Content-Encoding: gzip' --data-binary @- "$url/v1/batch"
  head -c 4194304 /dev/zero | gzip -c | curl -s -o /dev/null -H 'Authorization: Bearer demo-key' \
    -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @- "$url/v1/events"
  curl -s -o /dev/null -H 'Authorization: Basic %%%' -H 'Content-Type: application/json' -d '{}' \
    "$url/v1/track"
}

check() { # name port env...
  local name=$1 port=$2; shift 2
  env "$@" VIGIL_LOG_LEVEL=warn VIGIL_KAFKA_TOPICS_EVENTS=$tag.events \
    VIGIL_KAFKA_TOPICS_HEARTBEATS=$tag.heartbeats VIGIL_KAFKA_TOPICS_COMMANDS=$tag.commands \
    VIGIL_WORKER_GROUP=$tag valgrind $vg_opts --log-file="$tmp/$name.vg" "$bin/$name" \
    >"$tmp/$name.out" 2>&1 &
  local pid=$! deadline=$((SECONDS + 120))
  until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! kill -0 "$pid" 2>/dev/null; then
      echo "FAIL $name: never healthy"; tail -5 "$tmp/$name.out"; fails=$((fails + 1)); kill -KILL "$pid" 2>/dev/null
      return
    fi
    sleep 0.2
  done
  # vigil-query: its routes too, so the pool, the cache and the listener run.
  if [[ $name == vigil-query ]]; then
    local path
    for path in /v1/stats /v1/status "/v1/sessions?limit=5" /v1/sessions/none /v1/receipts/x /; do
      curl -sS -o /dev/null -H 'Authorization: Bearer demo-key' "http://127.0.0.1:$port$path" || true
    done
  fi
  [[ $name == vigil-producer ]] && exercise_producer "$port"
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  if [[ $rc -ne 0 ]] || grep -qE '(definitely|indirectly|possibly) lost: [1-9]' "$tmp/$name.vg"; then
    echo "FAIL $name: exit $rc"; cat "$tmp/$name.vg"; tail -5 "$tmp/$name.out"; fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
}

check vigil-worker 9291 VIGIL_WORKER_HTTP_PORT=9291 VIGIL_WORKER_ID=$tag
check vigil-scheduler 9292 VIGIL_SCHEDULER_HTTP_PORT=9292
check vigil-producer 9293 VIGIL_PRODUCER_PORT=9293 VIGIL_PRODUCER_METRICS_PORT=9294
# The notifier with a destination of its own name: it claims no one else's deliveries.
sed "s/name = \"dev-receiver\"/name = \"$tag\"/" "${VIGIL_CONFIG:?}" >"$tmp/notifier.conf"
check vigil-notifier 9295 VIGIL_CONFIG="$tmp/notifier.conf" VIGIL_NOTIFIER_HTTP_PORT=9295 \
  VIGIL_NOTIFIER_ID=$tag VIGIL_NOTIFIER_GROUP=$tag VIGIL_KAFKA_TOPICS_SUMMARIES=$tag.summaries
check vigil-query 9296 VIGIL_QUERY_PORT=9296

rc=0
valgrind $vg_opts --log-file="$tmp/vigilctl.vg" "$bin/vigilctl" status >"$tmp/vigilctl.out" 2>&1 || rc=$?
if [[ $rc -ne 0 ]] || grep -qE '(definitely|indirectly|possibly) lost: [1-9]' "$tmp/vigilctl.vg"; then
  echo "FAIL vigilctl status: exit $rc"; cat "$tmp/vigilctl.vg"; tail -5 "$tmp/vigilctl.out"
  fails=$((fails + 1))
else
  passes=$((passes + 1))
fi
echo "$passes passed, $fails failed"
((fails == 0))
