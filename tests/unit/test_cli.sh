#!/usr/bin/env bash
# The command line of every program, with nothing to connect to: --version
# is the CMake project version everywhere; vigilctl's --help works for each
# subcommand without a database or Kafka (none is reachable here); global
# options stand anywhere; -o json prints JSON; bad usage exits 2.
set -uo pipefail
bin=${VIGIL_BIN_DIR:?}
src=${VIGIL_SOURCE_DIR:?}
version=$(sed -n 's/^project(vigil VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# Nothing listens on port 1: a command that tried to connect would fail.
export VIGIL_DATABASE_URL='postgresql://nobody@127.0.0.1:1/none?connect_timeout=1'
export VIGIL_KAFKA_BROKERS=127.0.0.1:1
unset VIGIL_CONFIG

[[ -n $version ]] || bad "no version in CMakeLists.txt"
for p in vigil-producer vigil-worker vigil-scheduler vigil-loadgen vigilctl; do
  out=$("$bin/$p" --version 2>&1) && [[ $out == "$p $version" ]] && ok ||
    bad "$p --version: '$out', want '$p $version'"
done

ctl=$bin/vigilctl
for cmd in migrate topics send status group offsets keys sessions stats command dlq; do
  out=$(timeout 5 "$ctl" "$cmd" --help 2>&1); rc=$?
  [[ $rc == 0 && $out == *"usage: vigilctl $cmd"* && $out == *"Exit status"* ]] && ok ||
    bad "vigilctl $cmd --help: exit $rc: ${out:0:200}"
  out=$(timeout 5 "$ctl" -o json "$cmd" -h 2>&1); rc=$?
  [[ $rc == 0 && $out == *"usage: vigilctl $cmd"* ]] && ok || bad "vigilctl -o json $cmd -h: exit $rc"
done
out=$("$ctl" --help) && [[ $out == *"offsets show|reset"* && $out == *"keys new"* ]] && ok ||
  bad "vigilctl --help lists offsets and keys"
"$ctl" > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "vigilctl without a command exits 2"
"$ctl" nosuch > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "an unknown command exits 2"
"$ctl" -o yaml status > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "-o yaml exits 2"
"$ctl" offsets reset > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "offsets reset without --to-* exits 2"
"$ctl" offsets reset --to-latest --to-earliest > /dev/null 2>&1; [[ $? == 2 ]] && ok ||
  bad "offsets reset with two targets exits 2"
"$ctl" keys new > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "keys new without --tenant exits 2"
timeout 20 "$ctl" status > /dev/null 2>&1; [[ $? == 1 ]] && ok || bad "status with nothing reachable exits 1"

# keys new: connects nowhere; the hash is the SHA-256 of the key; global
# options after the subcommand and in --opt=value form.
json=$("$ctl" keys new --tenant acme --output=json) || bad "keys new -o json failed"
python3 - "$json" << 'PY' && ok || bad "keys new -o json: $json"
import hashlib, json, sys
k = json.loads(sys.argv[1])["key"]
assert k["tenant"] == "acme", k
assert len(k["key"]) >= 43, k
assert hashlib.sha256(k["key"].encode()).hexdigest() == k["sha256"], k
PY
a=$("$ctl" -o json keys new --tenant t1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["key"])')
b=$("$ctl" keys -o json new --tenant t1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"]["key"])')
[[ -n $a && -n $b && $a != "$b" ]] && ok || bad "two keys are different and -o parses anywhere: '$a' '$b'"
text=$("$ctl" keys new --tenant acme) && [[ $text == *'keys_sha256 = [ "'* ]] && ok ||
  bad "keys new prints the keys_sha256 line: $text"
"$ctl" keys new --tenant 'a"b' > /dev/null 2>&1; [[ $? == 2 ]] && ok || bad "a tenant id with a quote exits 2"
# -c anywhere: a missing file is a configuration error (1), not an argument.
"$ctl" keys new --tenant x -c /nonexistent/vigil.conf > /dev/null 2>&1; [[ $? == 1 ]] && ok ||
  bad "-c after the command is the configuration"

# send -o json: one JSON object on stdout also when nothing answers (exit 1);
# stdin as the input. tests/unit/test_send_https.sh checks it against a server.
json=$(echo '{"type":"page.view"}' | "$ctl" send -o json --url http://127.0.0.1:1 --key k --retries 0 --quiet - 2> /dev/null)
rc=$?
python3 - "$json" << 'PY' && [[ $rc == 1 ]] && ok || bad "send -o json with no producer: exit $rc: $json"
import json, sys
s = json.loads(sys.argv[1])["send"]
assert s["status"] == "failed" and s["accepted"] == 0 and s["stopped_at_line"] == 1, s
assert s["errors"][0]["line"] == 1 and s["event_ids"] == [] and s["receipts"] == [], s
PY

for p in vigil-producer vigil-worker vigil-scheduler; do
  out=$("$bin/$p" --help 2>&1) && [[ $out == *"--version"* ]] && ok || bad "$p --help lists --version"
done
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
