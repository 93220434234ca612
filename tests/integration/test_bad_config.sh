#!/usr/bin/env bash
# Each program refuses a broken configuration at start: non-zero exit, and an
# error naming the file, the line and the setting; and a missing, short or
# placeholder secret, naming the setting and never printing the value.
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

# Secrets (DESIGN.md section 3): each program that needs one refuses, at
# start and before it connects anywhere, a secret that is missing, shorter
# than 32 bytes or a placeholder. `timeout` turns a program that starts
# anyway into exit 124, which is a failure here.
good=5f0d8c2a9e4b7136a1c3e5f7092b4d6f8e1a3c5b7d9f0e2c4a6b8d0f1e3c5a79
placeholder='CHANGE-ME: openssl rand -hex 32'
# case: program [args] | VIGIL_COMMAND_SECRET | VIGIL_TOKEN_SECRET | words
secret_cases=(
  "vigil-producer||-|security.token_secret (VIGIL_TOKEN_SECRET) is required"
  "vigil-producer||$placeholder|security.token_secret (VIGIL_TOKEN_SECRET) is a placeholder"
  "vigil-producer||0123456789abcdef0123456789abcde|security.token_secret (VIGIL_TOKEN_SECRET) must be at least 32 bytes"
  "vigil-worker|-||security.command_secret (VIGIL_COMMAND_SECRET) is required"
  "vigil-worker|$placeholder||security.command_secret (VIGIL_COMMAND_SECRET) is a placeholder"
  "vigil-worker|$good|changeme-changeme-changeme-changeme|security.token_secret (VIGIL_TOKEN_SECRET) is a placeholder"
  "vigil-scheduler|-||security.command_secret (VIGIL_COMMAND_SECRET) is required"
  "vigil-scheduler|0123456789abcdef||security.command_secret (VIGIL_COMMAND_SECRET) must be at least 32 bytes"
  "vigilctl command purge_raw --param older_than_days=30|$placeholder||security.command_secret (VIGIL_COMMAND_SECRET) is a placeholder"
  "vigilctl command purge_raw --param older_than_days=30|-||security.command_secret (VIGIL_COMMAND_SECRET) is required"
)
for c in "${secret_cases[@]}"; do
  IFS='|' read -r prog cmd_secret token_secret words <<<"$c"
  unset_args=(-u VIGIL_CONFIG) set_args=()
  for pair in "VIGIL_COMMAND_SECRET|$cmd_secret" "VIGIL_TOKEN_SECRET|$token_secret"; do
    name=${pair%%|*} value=${pair#*|}
    case $value in
    -) unset_args+=(-u "$name") ;;
    '') set_args+=("$name=$good") ;;
    *) set_args+=("$name=$value") ;;
    esac
  done
  args=(env "${unset_args[@]}" VIGIL_KAFKA_BROKERS=127.0.0.1:1 VIGIL_PRODUCER_PORT=18931
    VIGIL_PRODUCER_METRICS_PORT=0
    VIGIL_WORKER_HTTP_PORT=18932 VIGIL_SCHEDULER_HTTP_PORT=18933
    VIGIL_DATABASE_URL=postgresql://nobody@127.0.0.1:1/none "${set_args[@]}")
  read -r -a cmdline <<<"$prog"
  cmdline[0]=$bin/${cmdline[0]}
  set +e
  out=$(timeout 15 "${args[@]}" "${cmdline[@]}" 2>&1 </dev/null)
  rc=$?
  set -e
  if [[ $rc -eq 0 || $rc -eq 124 || $out != *"$words"* ]]; then
    echo "FAIL $prog (command secret '${cmd_secret:0:9}', token secret '${token_secret:0:9}'):" \
      "rc=$rc, want a refusal saying '$words': ${out:0:400}"
    fails=$((fails + 1))
  fi
  for s in "$placeholder" "$good" 0123456789abcdef changeme-changeme; do
    if [[ $out == *"$s"* ]]; then
      echo "FAIL $prog: the refusal prints the secret itself"; fails=$((fails + 1))
    fi
  done
done
echo "$(( 3 * ${#cases[@]} + 1 + ${#secret_cases[@]} - fails )) passed, $fails failed"
[[ $fails -eq 0 ]]
