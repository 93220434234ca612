#!/usr/bin/env bash
# Every running program answers /healthz, /readyz and /metrics on its port;
# the producer's /metrics (tenant labels) is on its internal listener only,
# never on the public API port.
set -euo pipefail
producer=${VIGIL_HTTP:?run through ./dev test}
producer_metrics=${VIGIL_PRODUCER_METRICS_HTTP:?run through ./dev test}
scheduler=${VIGIL_SCHEDULER_HTTP:?run through ./dev test}
workers=${VIGIL_WORKER_HTTP:?run through ./dev test}   # space-separated
notifier=${VIGIL_NOTIFIER_HTTP:?run through ./dev test}
query=${VIGIL_QUERY_HTTP:?run through ./dev test}
fails=0 passes=0
check() { # url, expected status, what the body must contain
  local code body
  body=$(curl -sS --max-time 10 -o - -w '\n%{http_code}' "$1") || { echo "FAIL $1: no answer"; fails=$((fails+1)); return; }
  code=${body##*$'\n'}; body=${body%$'\n'*}
  if [[ $code != "$2" || $body != *"$3"* ]]; then
    echo "FAIL $1: status $code, body: ${body:0:200}"; fails=$((fails+1))
  else
    passes=$((passes+1))
  fi
}
for base in "$producer_metrics" "$scheduler" $workers "$notifier" "$query"; do
  check "$base/healthz" 200 ok
  check "$base/readyz" 200 ready
  check "$base/metrics" 200 "# TYPE "
  check "$base/nope" 404 ""
done
check "$producer/healthz" 200 ok
check "$producer/readyz" 200 ready
check "$producer/metrics" 404 '"error"'
check "$producer/nope" 404 ""
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
