#!/usr/bin/env bash
# Segment's Tracking API (docs/segment.md) driven by Segment's own SDKs,
# unmodified and pinned (tests/sdk/, installed by ./dev into .local/sdk):
# segment-analytics-python and @segment/analytics-node each send track, page,
# identify and alias, with and without gzip. Every call lands once in
# raw.events, staging.events and the vault with the documented mapping;
# identify and alias link the visitor to the user; the same batches sent
# again land nothing new. Then the refusals the SDKs must understand, gzip and
# context on the native route, and the enrichment of context.
set -euo pipefail
: "${VIGIL_HTTP:?run through ./dev test}" "${VIGIL_DATABASE_URL:?}"
SDK=${VIGIL_SOURCE_DIR:?}/.local/sdk
HERE=$VIGIL_SOURCE_DIR/tests/sdk
"${VIGIL_DEV:?run through ./dev test}" ready
[[ -f $SDK/.stamp ]] || { echo "FAIL: .local/sdk is missing (./dev installs it)"; exit 1; }

run=seg$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
key=demo-key
basic=$(printf '%s:' "$key" | base64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
q() { psql -X -qAt -v ON_ERROR_STOP=1 "$VIGIL_DATABASE_URL" -c "$1"; }
wait_for() { # SQL expected: polls until the query answers expected, 90 s at most
  local deadline=$((SECONDS + 90)) got
  while :; do
    got=$(q "$1")
    [[ $got == "$2" ]] && return 0
    ((SECONDS < deadline)) || { echo "  (last answer: $got, want $2)"; return 1; }
    sleep 0.2
  done
}
# post ROUTE BODY [curl args]: the status, then the answer, on one line.
post() {
  local route=$1 body=$2
  shift 2
  curl -s -o "$work/answer" -w '%{http_code}' -H "Authorization: Basic $basic" \
    -H 'Content-Type: application/json' --data-binary "$body" "$@" "$VIGIL_HTTP$route"
  printf ' %s\n' "$(cat "$work/answer")"
}

# -- the SDKs -------------------------------------------------------------------

senders=()
for gz in 0 1; do
  p=$run-py$gz
  PYTHONPATH=$SDK/py /usr/bin/python3 "$HERE/send_python.py" "$VIGIL_HTTP" "$key" "$p" "$gz" &&
    ok || bad "the Python SDK (gzip $gz) reported a failure"
  senders+=("$p")
  p=$run-node$gz
  NODE_PATH=$SDK/node/node_modules node "$HERE/send_node.js" "$VIGIL_HTTP" "$key" "$p" "$gz" \
    "$work/$p.json" && ok || bad "the Node SDK (gzip $gz) reported a failure"
  # The batch sent again below is the whole of what the SDK sent: one request, four calls.
  [[ $(/usr/bin/python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["batch"]))' \
    "$work/$p.json") == 4 ]] && ok || bad "$p: the Node SDK's captured batch is not its four calls"
  senders+=("$p")
done

for p in "${senders[@]}"; do
  ids="body->>'visitor_id' IN ('$p-anon', '$p-old') OR body->>'user_id' = '$p-user'"
  wait_for "SELECT count(*) FROM raw.events WHERE tenant_id = 'demo' AND ($ids)" 4 &&
    ok || bad "$p: the four calls did not land once each in raw.events"
  sids="visitor_id IN ('$p-anon', '$p-old') OR user_id = '$p-user'"
  # The mapping, row by row in staging.
  got=$(q "SELECT string_agg(concat_ws('|', type, coalesce(visitor_id, ''),
                  coalesce(user_id, ''), coalesce(session_id, ''),
                  coalesce(segment->>'event', segment->>'name', ''), coalesce(url, ''),
                  coalesce(properties->>'total', ''), coalesce(segment->'traits'->>'plan', ''),
                  coalesce(context->>'ip', ''), context->'library' IS NOT NULL),
                  ';' ORDER BY type)
           FROM staging.events WHERE tenant_id = 'demo' AND ($sids)")
  want="alias|$p-old|$p-user||||||127.0.0.1|t;identify|$p-anon|$p-user|||||pro|127.0.0.1|t"
  want+=";order_completed|$p-anon|$p-user|$p-s|Order Completed||42||127.0.0.1|t"
  want+=";page.view|$p-anon|||Home|https://example.com/$p|||127.0.0.1|t"
  [[ $got == "$want" ]] && ok || bad "$p: staging rows
   got  $got
   want $want"
  # Times: occurred_at is the call's timestamp moved by the skew that sentAt
  # gave (received_at - sentAt), which the envelope keeps.
  wait_for "SELECT count(*) FROM raw.events WHERE tenant_id = 'demo' AND ($ids)
            AND body ? 'clock_skew_ms'
            AND abs(extract(epoch FROM (body->>'occurred_at')::timestamptz
              - (coalesce(body->'segment'->>'originalTimestamp',
                          body->'segment'->>'timestamp')::timestamptz
                 + (body->>'clock_skew_ms')::bigint * interval '1 millisecond'))) < 0.001" 4 &&
    ok || bad "$p: occurred_at is not the call's timestamp corrected by the clock skew"
  # Event ids: the Python SDK's UUIDs as they are, the Node SDK's other
  # message ids as UUIDv5 under the fixed namespace.
  q "SELECT event_id, coalesce(segment->>'messageId', event_id::text) FROM staging.events
     WHERE tenant_id = 'demo' AND ($sids)" >"$work/ids"
  /usr/bin/python3 - "$work/ids" <<'PY' && ok || bad "$p: event ids do not follow messageId"
import sys, uuid
ns = uuid.UUID("24f419cd-97de-5563-b4be-54e8a3afc341")
for line in open(sys.argv[1]):
    eid, mid = line.strip().split("|")
    want = mid if mid == eid else str(uuid.uuid5(ns, mid))
    if eid != want:
        sys.exit(f"{eid} for messageId {mid}, want {want}")
PY
  # The vault: every call an event link; identify and alias link the visitor to the user.
  wait_for "SELECT count(*) FROM vault.link_event l JOIN staging.events s USING (hk_event)
            WHERE s.tenant_id = 'demo' AND ($sids)" 4 && ok || bad "$p: vault.link_event"
  got=$(q "SELECT string_agg(v.visitor_id || '>' || u.user_id, ',' ORDER BY v.visitor_id)
           FROM vault.link_visitor_user l JOIN vault.hub_visitor v USING (hk_visitor)
           JOIN vault.hub_user u USING (hk_user)
           WHERE u.hk_user = vault.hash_key('demo', '$p-user')")
  [[ $got == "$p-anon>$p-user,$p-old>$p-user" ]] && ok ||
    bad "$p: vault.link_visitor_user has '$got'"
  got=$(q "SELECT hk_visitor_user FROM vault.link_visitor_user
           WHERE hk_visitor = vault.hash_key('demo', '$p-anon')")
  want=$(q "SELECT upper(md5(upper('demo||$p-anon||$p-user')))")
  [[ $got == "$want" ]] && ok || bad "$p: link_visitor_user's key $got is not the dbt convention's $want"
  # The track call carried a session id: it counts as the session's activity.
  wait_for "SELECT status || '|' || event_count FROM mart.sessions
            WHERE tenant_id = 'demo' AND session_id = '$p-s'" "active|1" &&
    ok || bad "$p: the session of the track call"
done

# -- the same batches again: nothing new -----------------------------------------

mine="tenant_id = 'demo' AND (body->>'user_id' LIKE '$run-%' OR body->>'visitor_id' LIKE '$run-%')
      AND body->>'type' <> 'sentinel'"
# The vault's rows of the senders' visitors, counted on their own hash keys.
visitors=$(printf "vault.hash_key('demo', '%s-anon'), vault.hash_key('demo', '%s-old')," \
  $(for p in "${senders[@]}"; do echo "$p $p"; done))
visitors=${visitors%,}
vault_rows() {
  q "SELECT (SELECT count(*) FROM vault.link_event WHERE type <> 'sentinel'
             AND hk_visitor IN ($visitors)) || '|' ||
            (SELECT count(*) FROM vault.link_visitor_user WHERE hk_visitor IN ($visitors))"
}
before=$(q "SELECT count(*) FROM raw.events WHERE $mine")
vault_before=$(vault_rows)
for gz in 0 1; do
  PYTHONPATH=$SDK/py /usr/bin/python3 "$HERE/send_python.py" "$VIGIL_HTTP" "$key" "$run-py$gz" \
    "$gz" && ok || bad "the Python SDK's second run failed"
  p=$run-node$gz
  if ((gz)); then
    gzip -c "$work/$p.json" >"$work/$p.json.gz"
    r=$(post /v1/batch @"$work/$p.json.gz" -H 'Content-Encoding: gzip')
  else
    r=$(post /v1/batch @"$work/$p.json")
  fi
  [[ $r == '200 {"success":true}' ]] && ok || bad "the Node SDK's batch sent again: $r"
done
# Sentinels behind them on the same keys (session, visitor, alias's visitor):
# once they have landed, so has everything sent before on those partitions.
sentinels=0
for p in "${senders[@]}"; do
  for body in "{\"anonymousId\":\"$p-anon\",\"event\":\"sentinel\",\"properties\":{\"session_id\":\"$p-s\"}}" \
    "{\"anonymousId\":\"$p-anon\",\"event\":\"sentinel\"}" \
    "{\"anonymousId\":\"$p-old\",\"event\":\"sentinel\"}"; do
    r=$(post /v1/track "$body")
    [[ $r == 200* ]] || bad "sentinel: $r"
    sentinels=$((sentinels + 1))
  done
done
wait_for "SELECT count(*) FROM staging.events WHERE tenant_id = 'demo' AND type = 'sentinel'
          AND visitor_id LIKE '$run-%'" "$sentinels" && ok || bad "the sentinels did not land"
after=$(q "SELECT count(*) FROM raw.events WHERE $mine")
[[ $before == 16 && $after == 16 ]] && ok || bad "re-sent batches landed again: $before then $after"
[[ $(q "SELECT count(*) FROM staging.events WHERE tenant_id = 'demo' AND type <> 'sentinel'
        AND (user_id LIKE '$run-%' OR visitor_id LIKE '$run-%')") == 16 ]] &&
  ok || bad "staging has more than one row per call"
vault_after=$(vault_rows)
[[ $vault_before == 16\|8 && $vault_after == 16\|8 ]] && ok ||
  bad "the vault's events|visitor-user links: $vault_before, then $vault_after after re-sending"
# The Python SDK puts its writeKey in every body: a secret, stored nowhere.
[[ $(q "SELECT count(*) FROM raw.events WHERE $mine AND body::text LIKE '%$key%'") == 0 ]] &&
  ok || bad "a write key was stored in raw.events"

# -- the single-call routes, gzip, refusals -----------------------------------------

p=$run-curl
r=$(printf '{"userId":"%s-user","groupId":"g-1","traits":{"n":1}}' "$p" | gzip -c |
  curl -s -w ' %{http_code}' -H "Authorization: Basic $basic" -H 'Content-Type: application/json' \
    -H 'Content-Encoding: gzip' --data-binary @- "$VIGIL_HTTP/v1/group")
[[ $r == '{"success":true} 200' ]] && ok || bad "/v1/group with gzip: $r"
r=$(post /v1/screen "{\"anonymousId\":\"$p-anon\",\"name\":\"Settings\"}" -H 'User-Agent: phone/1' \
  -H 'X-Forwarded-For: 9.9.9.9')
[[ $r == 200* ]] && ok || bad "/v1/screen: $r"
r=$(post /v1/identify "{\"userId\":\"$p-user\",\"context\":{\"ip\":\"198.51.100.7\"}}")
[[ $r == 200* ]] && ok || bad "/v1/identify: $r"
ua=curl/$(curl -V | sed -n '1s/^curl \([^ ]*\).*/\1/p')
wait_for "SELECT string_agg(type || '|' || coalesce(segment->>'groupId', '') || '|'
                 || (context->>'ip') || '|' || coalesce(context->>'userAgent', ''), ';' ORDER BY type)
          FROM staging.events WHERE tenant_id = 'demo' AND (visitor_id = '$p-anon' OR user_id = '$p-user')" \
  "group|g-1|127.0.0.1|$ua;identify||198.51.100.7|$ua;screen.view||127.0.0.1|phone/1" &&
  ok || bad "single calls: types, the address (X-Forwarded-For from an untrusted peer ignored), user agents"
# A batch as analytics-go and analytics-java send it: fields of their own beside the calls.
r=$(post /v1/batch "{\"type\":\"batch\",\"messageId\":\"$p-b\",\"sequence\":1,
  \"context\":{\"library\":{\"name\":\"analytics-go\"}},
  \"batch\":[{\"type\":\"track\",\"anonymousId\":\"$p-go\",\"event\":\"Go\"}]}")
[[ $r == '200 {"success":true}' ]] && ok || bad "a batch of analytics-go's shape: $r"
wait_for "SELECT (segment->'batch'->>'messageId') || '|' || (context->'library'->>'name')
          FROM staging.events WHERE tenant_id = 'demo' AND visitor_id = '$p-go'" "$p-b|analytics-go" &&
  ok || bad "the batch's own fields are not kept with its call"

r=$(post /v1/batch "{\"batch\":[{\"type\":\"identify\",\"userId\":\"$p-x\"},{\"type\":\"track\",\"userId\":\"$p-x\"}]}")
[[ $r == 400* && $r == *'"code":"missing_field"'* && $r == *'"message":'* && $r == *'"index":1'* &&
   $r == *'"field":"event"'* ]] && ok || bad "a bad second call: $r"
# Refused before Kafka: the whole batch, its valid first call too.
[[ $(q "SELECT count(*) FROM raw.events WHERE tenant_id = 'demo' AND body->>'user_id' = '$p-x'") == 0 ]] &&
  ok || bad "half a refused batch landed"
r=$(curl -s -w ' %{http_code}' -H 'Authorization: Basic !!!' -H 'Content-Type: application/json' \
  -d '{"batch":[]}' "$VIGIL_HTTP/v1/batch")
[[ $r == *'"code":"bad_authorization"'*' 401' ]] && ok || bad "a bad Basic header: $r"
r=$(curl -s -w ' %{http_code}' -u nobody: -H 'Content-Type: application/json' -d '{"batch":[]}' \
  "$VIGIL_HTTP/v1/batch")
[[ $r == '{"code":"unknown_key"'*' 401' ]] && ok || bad "an unknown write key: $r"
r=$(post /v1/batch '{"batch":[]}' -H 'Content-Encoding: br')
[[ $r == 415* && $r == *unsupported_encoding* ]] && ok || bad "Content-Encoding br: $r"
# A bomb: 8 MiB of zeros in 8 KB of gzip, past max_body_bytes (1 MiB) once inflated.
head -c 8388608 /dev/zero | gzip -9 >"$work/bomb.gz"
r=$(post /v1/batch @"$work/bomb.gz" -H 'Content-Encoding: gzip')
[[ $r == 413* && $r == *body_too_large* ]] && ok || bad "a gzip bomb: $r"
r=$(curl -s -w ' %{http_code}' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -H 'Content-Encoding: gzip' --data-binary @"$work/bomb.gz" "$VIGIL_HTTP/v1/events")
[[ $r == *body_too_large*' 413' ]] && ok || bad "a gzip bomb on /v1/events: $r"

# -- native events: gzip and context --------------------------------------------------

r=$(printf '{"type":"page.view","visitor_id":"%s-native","context":{"locale":"fr"}}' "$run" |
  gzip -c | curl -s -w ' %{http_code}' -H "Authorization: Bearer $key" \
    -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' --data-binary @- \
    "$VIGIL_HTTP/v1/events")
[[ $r == '{"accepted":1'*' 202' ]] && ok || bad "a gzip native event with context: $r"
wait_for "SELECT (context->>'locale') || '|' || (context->>'ip') FROM staging.events
          WHERE tenant_id = 'demo' AND visitor_id = '$run-native'" "fr|127.0.0.1" &&
  ok || bad "the native event's context"

echo "$passes passed, $fails failed"
((fails == 0))
