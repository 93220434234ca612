#!/usr/bin/env bash
# Each program refuses a broken configuration at start: non-zero exit, and an
# error naming the file, the line and the setting.
set -euo pipefail
bin=${VIGIL_BIN_DIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

printf 'kafka = {\n  brokers = "x";\n  replication_factor = ;\n};\n' > "$tmp/syntax.conf"
printf 'worker = {\n  batch = {\n    max_mesages = 10;\n  };\n};\n' > "$tmp/unknown.conf"
printf 'producer = {\n  port = "eighty";\n};\n' > "$tmp/type.conf"
printf 'producer = {\n  tenants = ( { id = "t";\n    notify = ( { webhook = { url = "https://h/x";\n      secret = "short"; }; } ); } );\n};\n' > "$tmp/notify.conf"

# case: file, line, words the message must hold
cases=(
  "syntax.conf|3|syntax error"
  "unknown.conf|3|worker.batch.max_mesages"
  "type.conf|2|producer.port"
  "notify.conf|4|at least 32 bytes"
)
for prog in vigil-producer vigil-worker vigil-scheduler vigil-notifier; do
  for c in "${cases[@]}"; do
    IFS='|' read -r file line words <<<"$c"
    set +e
    out=$("$bin/$prog" -c "$tmp/$file" 2>&1 </dev/null)
    rc=$?
    set -e
    if [[ $rc -eq 0 ]]; then
      echo "FAIL $prog $file: exited 0"; fails=$((fails + 1)); continue
    fi
    for want in "$tmp/$file:$line:" "$words"; do
      if [[ $out != *"$want"* ]]; then
        echo "FAIL $prog $file: output lacks '$want': $out"; fails=$((fails + 1))
      fi
    done
  done
done
# vigilctl too
set +e
out=$("$bin/vigilctl" -c "$tmp/unknown.conf" migrate 2>&1); rc=$?
set -e
if [[ $rc -eq 0 || $out != *"unknown.conf:3:"* ]]; then
  echo "FAIL vigilctl: rc=$rc $out"; fails=$((fails + 1))
fi
echo "$(( 3 * ${#cases[@]} + 1 - fails )) passed, $fails failed"
[[ $fails -eq 0 ]]
