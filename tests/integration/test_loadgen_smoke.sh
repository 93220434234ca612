#!/usr/bin/env bash
# vigil-loadgen against the real producer: a few hundred events in batches
# and one by one, every request answered 202, every event accepted and
# landed once in staging.events; --out writes one envelope line per event.
set -euo pipefail
: "${VIGIL_HTTP:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
lg=${VIGIL_BIN_DIR:?}/vigil-loadgen
prefix=lgsmoke$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

# field JSON NAME: a number of the loadgen's JSON line
field() { grep -o "\"$2\":[0-9]*" <<<"$1" | head -n1 | cut -d: -f2; }

check_run() { # what, expected events, expected requests, loadgen args...
  local what=$1 events=$2 requests=$3 out
  shift 3
  if ! out=$(timeout 20 "$lg" --json --timeout-ms 5000 "$@"); then
    bad "$what: vigil-loadgen failed: $out"
    return
  fi
  [[ $(field "$out" events) == "$events" && $(field "$out" accepted) == "$events" ]] && ok ||
    bad "$what: expected $events events accepted: $out"
  [[ $(field "$out" requests) == "$requests" && $(field "$out" 202) == "$requests" ]] && ok ||
    bad "$what: expected $requests requests, all 202: $out"
  [[ $(field "$out" errors) == 0 ]] && ok || bad "$what: errors: $out"
}

check_run "batches" 400 8 --prefix "${prefix}b" --count 400 --batch 50 --concurrency 4
check_run "single events" 100 100 --prefix "${prefix}s" --count 100 --batch 1 --concurrency 4
check_run "at a rate" 200 20 --prefix "${prefix}r" --count 200 --batch 10 --concurrency 2 --rate 1000

# Every accepted event lands once (the workers are running).
landed() {
  psql "$VIGIL_DATABASE_URL" -XAtc "SELECT count(*) FROM staging.events
    WHERE tenant_id = 'demo' AND session_id LIKE '${prefix}%'"
}
deadline=$((SECONDS + 20)) n=0
while ((SECONDS < deadline)); do
  n=$(landed)
  ((n >= 700)) && break
  sleep 0.2
done
[[ $n == 700 ]] && ok || bad "expected 700 events in staging.events, found $n"

# --out: one key<TAB>envelope line per event, nothing sent.
file=$(mktemp)
trap 'rm -f "$file"' EXIT
"$lg" --out "$file" --count 250 --prefix "${prefix}f" --json >/dev/null
[[ $(wc -l <"$file") == 250 ]] && ok || bad "--out wrote $(wc -l <"$file") lines, not 250"
if python3 - "$file" <<'PY'; then ok; else bad "--out lines are not key<TAB>envelope"; fi
import json, sys
for line in open(sys.argv[1]):
    key, value = line.rstrip("\n").split("\t")
    e = json.loads(value)
    assert e["v"] == 1 and key == e["tenant"] + "/" + e["session_id"], line
    assert len(json.dumps(e["properties"])) >= 200, line
PY

echo "$passes passed, $fails failed"
((fails == 0))
