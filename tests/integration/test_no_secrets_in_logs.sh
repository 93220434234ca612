#!/usr/bin/env bash
# No secret appears in any log line of the stack: the command and token
# secrets, tenant keys, bearer headers. Registered last, so it reads the logs
# of every test before it in the same run.
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
echo "$passes passed, $fails failed"
((fails == 0))
