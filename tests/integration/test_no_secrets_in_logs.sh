#!/usr/bin/env bash
# No secret appears in any log line of the stack: the command and token
# secrets, tenant keys, bearer headers. Registered last, so it reads the logs
# of every test before it in the same run. Then each program is run with a
# database URL and Kafka properties that make libpq and librdkafka fail with
# secrets inside, and its output is searched the same way.
set -euo pipefail
logs=${VIGIL_STATE_DIR:?run through ./dev test}/log
: "${VIGIL_COMMAND_SECRET:?}" "${VIGIL_TOKEN_SECRET:?}"
shopt -s nullglob
files=("$logs"/*.log)
((${#files[@]} > 0)) || { echo "no logs in $logs"; exit 1; }
fails=0 passes=0
for needle in "$VIGIL_COMMAND_SECRET" "$VIGIL_TOKEN_SECRET" "demo-key" "acme-key" "Bearer " \
  "Authorization:"; do
  if hits=$(grep -lF -- "$needle" "${files[@]}"); then
    echo "FAIL: a log line holds a secret (${needle:0:6}...) in: $hits"
    fails=$((fails + 1))
  else
    passes=$((passes + 1))
  fi
done

# Secrets that reach the logs through a library's error message: libpq's
# error for a malformed connection URI holds the whole URI, password
# included; a VIGIL_KAFKA_PROPERTIES piece without "=" (or one librdkafka
# refuses) used to be echoed. Each program runs briefly with such settings
# and known secrets; none of its output may hold them.
bin=${VIGIL_BIN_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pg_pass=PgPass-9f3k2x-SECRET
kafka_pass=KafkaPass-7h2j4q-SECRET
good=5f0d8c2a9e4b7136a1c3e5f7092b4d6f8e1a3c5b7d9f0e2c4a6b8d0f1e3c5a79
# case: name | program and arguments | database URL | Kafka properties
lib_cases=(
  "worker-bad-uri|vigil-worker|postgresql://vigil:$pg_pass@[::1/vigil|"
  "scheduler-bad-uri|vigil-scheduler|postgresql://vigil:Pg%zz$pg_pass@127.0.0.1:1/vigil|"
  "vigilctl-status-bad-uri|vigilctl status|postgresql://vigil:$pg_pass@[::1/vigil|"
  "vigilctl-migrate-bad-uri|vigilctl migrate|postgresql://vigil:Pg%zz$pg_pass@127.0.0.1:1/v|"
  "worker-unreachable|vigil-worker|postgresql://vigil:$pg_pass@127.0.0.1:1/vigil|"
  "worker-bad-key|vigil-worker|host=127.0.0.1 port=1 password=$pg_pass dbname=vigil sslmode=no|"
  "producer-no-equals|vigil-producer||security.protocol=SASL_SSL;sasl.password:$kafka_pass"
  "worker-no-equals|vigil-worker||sasl.username=vigil;sasl.password $kafka_pass"
  "producer-sasl-debug|vigil-producer||security.protocol=SASL_PLAINTEXT;sasl.mechanisms=PLAIN;sasl.username=vigil;sasl.password=$kafka_pass;debug=conf,security"
)
for c in "${lib_cases[@]}"; do
  IFS='|' read -r name prog url props <<<"$c"
  read -r -a cmdline <<<"$prog"
  cmdline[0]=$bin/${cmdline[0]}
  env -u VIGIL_CONFIG VIGIL_COMMAND_SECRET=$good VIGIL_TOKEN_SECRET=$good \
    VIGIL_KAFKA_BROKERS=127.0.0.1:1 VIGIL_PRODUCER_PORT=18941 VIGIL_PRODUCER_METRICS_PORT=0 \
    VIGIL_WORKER_HTTP_PORT=18942 \
    VIGIL_SCHEDULER_HTTP_PORT=18943 VIGIL_LOG_LEVEL=debug \
    VIGIL_DATABASE_URL="${url:-postgresql://vigil@127.0.0.1:1/vigil}" \
    VIGIL_KAFKA_PROPERTIES="$props" \
    timeout 6 "${cmdline[@]}" >"$tmp/$name.log" 2>&1 </dev/null || true
  if [[ ! -s $tmp/$name.log ]]; then
    echo "FAIL $name: said nothing (want an error naming what is wrong)"
    fails=$((fails + 1))
  fi
  for needle in "$pg_pass" "$kafka_pass" "$good"; do
    if grep -qF -- "$needle" "$tmp/$name.log"; then
      echo "FAIL $name: a log line holds a secret (${needle:0:6}...): $(grep -F -- "$needle" \
        "$tmp/$name.log" | head -n 1 | cut -c1-300)"
      fails=$((fails + 1))
    else
      passes=$((passes + 1))
    fi
  done
done
echo "$passes passed, $fails failed"
((fails == 0))
