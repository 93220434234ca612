#!/usr/bin/env bash
# The session analytics and the reports that print them: sessions of a tenant
# of this run's own, written straight into mart.sessions, give known figures
# in mart.session_stats and mart.draft_conversion, and vigilctl sessions,
# stats and status print them (and exit 0).
set -euo pipefail
ctl=${VIGIL_BIN_DIR:?}/vigilctl
# A stack whose Kafka partitions are led and whose workers hold them all,
# whatever the test before this one restarted.
"${VIGIL_DEV:?run through ./dev test}" ready
db=${VIGIL_DATABASE_URL:?run through ./dev test}
t=rep-$$-$RANDOM
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }
cleanup() { psql "$db" -qAtc "DELETE FROM mart.sessions WHERE tenant_id = '$t'" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# Finished lessons of 1, 2 and 6 s (one timed out), one active, one draft
# that became active, one still a draft.
psql "$db" -qAtc "INSERT INTO mart.sessions (tenant_id, session_id, kind, status, created_at,
    started_at, first_activity_at, last_activity_at, ended_at, duration_ms, end_reason,
    was_draft) VALUES
  ('$t', 'l-1', 'lesson', 'ended', now() - interval '1 hour', now() - interval '1 hour',
   now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', 1000,
   'completed', false),
  ('$t', 'l-2', 'lesson', 'ended', now() - interval '1 hour', now() - interval '1 hour',
   now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', 2000,
   'completed', true),
  ('$t', 'l-3', 'lesson', 'timeout', now() - interval '1 hour', now() - interval '1 hour',
   now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour', 6000,
   'idle', false),
  ('$t', 'l-4', 'lesson', 'active', now() - interval '1 hour', now() - interval '1 hour',
   now() - interval '1 hour', now(), NULL, NULL, NULL, false),
  ('$t', 'd-1', 'lesson', 'draft', now() - interval '1 hour', NULL, NULL, NULL, NULL, NULL,
   NULL, true)" >/dev/null

stats=$(psql "$db" -qAtc "SELECT concat_ws('|', sessions, drafts, active, ended, timed_out,
    timeout_rate, avg_duration_ms, min_duration_ms, max_duration_ms, p50_duration_ms,
    p95_duration_ms) FROM mart.session_stats WHERE tenant_id = '$t' AND kind = 'lesson'")
# p95 of 1000, 2000, 6000 by linear interpolation: 2000 + 0.9 * 4000
want='5|1|1|2|1|0.3333|3000|1000|6000|2000|5600'
[[ $stats == "$want" ]] || fail "mart.session_stats: $stats, want $want"
conv=$(psql "$db" -qAtc "SELECT concat_ws('|', drafts, activated, still_draft, conversion_rate)
    FROM mart.draft_conversion WHERE tenant_id = '$t'")
[[ $conv == '2|1|1|0.5000' ]] || fail "mart.draft_conversion: $conv, want 2|1|1|0.5000"

out=$("$ctl" sessions --tenant "$t") || fail "vigilctl sessions: exit $?"
for s in l-1 l-2 l-3 l-4 d-1; do
  grep -qE "^ *$t +$s " <<<"$out" || fail "vigilctl sessions does not list $s: $out"
done
out=$("$ctl" sessions --tenant "$t" --status timeout) || fail "vigilctl sessions --status: exit $?"
[[ $(grep -c " $t " <<<"$out") == 1 ]] && grep -q ' l-3 ' <<<"$out" ||
  fail "vigilctl sessions --status timeout: $out"

out=$("$ctl" stats --tenant "$t") || fail "vigilctl stats: exit $?"
grep -qE "^ *$t +lesson +5 +1 +2 +1 +0\.3333 +3000 +1000 +6000 +2000 +5600 *$" <<<"$out" ||
  fail "vigilctl stats: $out"
grep -qE "^ *$t +[0-9-]+ +2 +1 +0\.5000 *$" <<<"$out" || fail "vigilctl stats, drafts: $out"

out=$("$ctl" status) || fail "vigilctl status: exit $?"
for what in 'Consumer lag' 'mart.sessions' 'raw.events'; do
  grep -q "$what" <<<"$out" || fail "vigilctl status does not show $what: $out"
done

if ((fails)); then
  echo "$fails failed"
  exit 1
fi
echo "all passed"
