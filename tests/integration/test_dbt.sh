#!/usr/bin/env bash
# The dbt starter (deploy/dbt) builds against the stack once data has
# landed: `dbt build` creates analytics.session_facts and runs dbt's tests
# (unique, not null, relationships) over the hubs, links and the model; the
# session of this test's own event is in the model with its event.
set -uo pipefail
: "${VIGIL_KAFKA_BROKERS:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
src=${VIGIL_SOURCE_DIR:?}
"${VIGIL_DEV:?run through ./dev test}" ready
fails=0 passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
db() { psql "$VIGIL_DATABASE_URL" -qAtc "$1"; }
[[ -x $src/.local/dbt/bin/dbt ]] || { echo "FAIL: no .local/dbt (./dev test installs it)"; exit 1; }

tenant=dbt-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
printf '{"v":1,"tenant":"%s","event_id":"%s","type":"page.view","session_id":"s-1","visitor_id":"v-1","occurred_at":"%s","received_at":"%s"}\n' \
  "$tenant" "$(cat /proc/sys/kernel/random/uuid)" "$now" "$now" |
  kcat -P -b "$VIGIL_KAFKA_BROKERS" -t vigil.events -k "$tenant/s-1"
deadline=$((SECONDS + 120))
until [[ $(db "SELECT count(*) FROM vault.link_event e JOIN vault.hub_session h USING (hk_session)
               WHERE h.tenant_id = '$tenant'") == 1 ]]; do
  ((SECONDS < deadline)) || { bad "the event did not reach the vault"; break; }
  sleep 0.5
done

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
DBT_TARGET_PATH=$out "$src/deploy/dbt/run" build > "$out/build.log" 2>&1 && ok ||
  bad "dbt build failed: $(grep -E 'FAIL|ERROR|Error' "$out/build.log" | head -10)"
# Every test an error and none failing: satellites point at their hubs too.
grep -qE 'Done\. PASS=[0-9]+ WARN=0 ERROR=0' "$out/build.log" && ok ||
  bad "dbt build: $(tail -3 "$out/build.log")"
n=$(grep -oE 'PASS=[0-9]+' "$out/build.log" | tail -1 | cut -d= -f2)
(( ${n:-0} >= 30 )) && ok || bad "dbt passed ${n:-0} nodes, want the model and its 30-odd tests"
row=$(db "SELECT concat_ws('|', events, visitors) FROM analytics.session_facts
          WHERE tenant_id = '$tenant' AND session_id = 's-1'")
[[ $row == '1|1' ]] && ok || bad "analytics.session_facts for this session: '$row', want 1|1"
echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
