#!/usr/bin/env bash
# bench/query.sh [FIGURES_FILE] - vigil-query's figures (issue 13), beside
# their baseline in the same run:
#
#   query_session_reads_per_s_{nocache,local,redis} and their _p99_ms:
#       GET /v1/sessions/{id} over 100,000 sessions, random ids, 32 keep-alive
#       connections (wrk), against a private vigil-query with the cache off,
#       the in-process cache, and Redis alone
#   pgbench_session_selects_per_s: the same primary-key select through
#       pgbench, 32 connections, prepared
#   receipt_landed_p50_ms, receipt_landed_p99_ms: from the producer's 202 to
#       GET /v1/receipts/{r}?wait_ms= answering landed:true, while 1,000
#       events/s flow
#
# Needs the default stack up (./dev up; bench/run --only query brings it up
# and calls this). Appends "name value" lines to FIGURES_FILE (default:
# stdout only) and prints each figure beside its baseline.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
BIN=$ROOT/build/bin
FIG=${1:-/dev/null}
WORK=$ROOT/.local/bench/query
SESSIONS=100000
CONNS=32
SECONDS_EACH=${QUERY_BENCH_SECONDS:-15}
RECEIPT_RATE=1000
RECEIPT_SAMPLES=300

say() { printf 'bench-query: %s\n' "$*" >&2; }
die() { printf 'bench-query: error: %s\n' "$*" >&2; exit 1; }
fig() { printf '%s %s\n' "$1" "$2" | tee -a "$WORK/figures" >>"$FIG"; say "  $1 = $2"; }

command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"
command -v pgbench >/dev/null || die "pgbench is needed (postgresql-client-15)"
eval "$(VIGIL_DEV_PROFILE=default "$ROOT/dev" env)"
curl -fsS -o /dev/null "$VIGIL_HTTP/healthz" || die "the default stack is not up: ./dev up"
rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# 100,000 sessions of tenant demo, ids qbench_1..: written straight into the
# mart (a read benchmark: the pipeline's own speed is bench/run's), and
# rewritten each run, so that every run reads the same rows and none left by
# an earlier run is due for the scheduler's timeout sweep during this one (a
# real change, which rightly drops every cached session).
say "preparing $SESSIONS sessions (tenant demo, qbench_*)"
psql -X -q -v ON_ERROR_STOP=1 -v n="$SESSIONS" <<'SQL'
INSERT INTO mart.sessions (tenant_id, session_id, kind, status, started_at, first_activity_at,
                           last_activity_at, ended_at, duration_ms, event_count, attributes)
SELECT 'demo', 'qbench_' || i, 'bench', CASE WHEN i % 3 = 0 THEN 'active' ELSE 'ended' END,
       now() - interval '1 hour', now() - interval '1 hour', now() - (i % 600) * interval '1 s',
       CASE WHEN i % 3 = 0 THEN NULL ELSE now() - (i % 600) * interval '1 s' END,
       CASE WHEN i % 3 = 0 THEN NULL ELSE 3600000 - (i % 600) * 1000 END, i % 40,
       jsonb_build_object('lesson', i % 97)
FROM generate_series(1, :n) i
ON CONFLICT (tenant_id, session_id) DO UPDATE
SET kind = excluded.kind, status = excluded.status, started_at = excluded.started_at,
    first_activity_at = excluded.first_activity_at, last_activity_at = excluded.last_activity_at,
    ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,
    heartbeat_count = excluded.heartbeat_count, event_count = excluded.event_count,
    end_reason = excluded.end_reason, expires_at = excluded.expires_at,
    attributes = excluded.attributes;
ANALYZE mart.sessions;
SQL

# wrk: random ids over keep-alive connections; latency percentiles in the summary.
cat >"$WORK/random.lua" <<EOF
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/v1/sessions/qbench_" .. math.random(1, $SESSIONS),
                    { ["Authorization"] = "Bearer demo-key" })
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.1f %.3f %d %d\\n", summary.requests / (summary.duration / 1e6),
                         latency:percentile(99) / 1000, summary.errors.status,
                         summary.errors.connect + summary.errors.read + summary.errors.write
                         + summary.errors.timeout))
end
EOF

# warm.lua: every id once, in order, split between wrk's threads, each
# stopping past its share (wrk still runs out its -d; 40 s covers 100,000
# reads at 2,500/s): the cache has then seen every session, as one has after
# a while in production.
cat >"$WORK/warm.lua" <<EOF
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
function init(args) n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", "/v1/sessions/qbench_" .. (tid + 1 + (n - 1) * 2),
                    { ["Authorization"] = "Bearer demo-key" })
end
function response() if tid + 1 + (n - 1) * 2 > $SESSIONS then wrk.thread:stop() end end
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# read_bench NAME ENV...: a private vigil-query with ENV, wrk against it.
read_bench() {
  local name=$1 port pid line
  shift
  port=$(free_port)
  env "$@" VIGIL_QUERY_PORT="$port" VIGIL_LOG_LEVEL=warn "$BIN/vigil-query" \
    >"$WORK/query-$name.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
    ((SECONDS < deadline)) || die "vigil-query ($name) not ready: $(tail -3 "$WORK/query-$name.log")"
    sleep 0.1
  done
  # warm-up (connections, prepared statements, the cache), then the measure
  wrk -t2 -c"$CONNS" -d40s -s "$WORK/warm.lua" "http://127.0.0.1:$port" >/dev/null
  line=$(wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" -s "$WORK/random.lua" "http://127.0.0.1:$port" |
    tee "$WORK/wrk-$name.txt" | grep '^RESULT')
  read -r _ rps p99 bad errs <<<"$line"
  ((bad == 0 && errs == 0)) || die "wrk ($name): $bad non-2xx answers, $errs socket errors"
  fig "query_session_reads_per_s_$name" "$rps"
  fig "query_session_reads_p99_ms_$name" "$p99"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

say "GET /v1/sessions/{id}: $CONNS connections, ${SECONDS_EACH} s each"
read_bench nocache VIGIL_QUERY_CACHE_MAX_STALENESS_MS=0
read_bench local VIGIL_QUERY_CACHE_ENTRIES=200000
VIGIL_DEV_PROFILE=default "$ROOT/dev" start redis >/dev/null
read_bench redis VIGIL_QUERY_CACHE_ENTRIES=0 VIGIL_QUERY_REDIS_URL="$VIGIL_REDIS_URL"
VIGIL_DEV_PROFILE=default "$ROOT/dev" stop redis >/dev/null

say "pgbench: the same select, $CONNS connections, prepared"
cat >"$WORK/select.sql" <<EOF
\set id random(1, $SESSIONS)
SELECT * FROM mart.sessions WHERE tenant_id = 'demo' AND session_id = 'qbench_' || :id;
EOF
pgbench -n -M prepared -c "$CONNS" -j 2 -T "$SECONDS_EACH" -f "$WORK/select.sql" \
  >"$WORK/pgbench.txt" 2>&1 || die "pgbench failed: $(tail -3 "$WORK/pgbench.txt")"
fig pgbench_session_selects_per_s "$(awk '/^tps = / { printf "%.1f", $3 }' "$WORK/pgbench.txt")"

say "receipts: 202 to landed:true, at $RECEIPT_RATE events/s"
"$BIN/vigil-loadgen" --duration $((RECEIPT_SAMPLES / 20 + 10)) --rate "$RECEIPT_RATE" --batch 10 \
  --json >"$WORK/receipt-load.json" 2>"$WORK/receipt-load.log" &
PIDS+=("$!")
python3 - "$RECEIPT_SAMPLES" <<'PY' >>"$WORK/receipts.txt"
import json, os, sys, time, urllib.request
n = int(sys.argv[1])
prod, query = os.environ["VIGIL_HTTP"], os.environ["VIGIL_QUERY_HTTP"]
auth = {"Authorization": "Bearer demo-key"}
def call(url, body=None):
    h = dict(auth, **({"Content-Type": "application/json"} if body else {}))
    req = urllib.request.Request(url, data=body, headers=h)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())
time.sleep(2)  # let the load reach its rate
ms = []
for i in range(n):
    ev = json.dumps({"type": "bench.receipt", "session_id": "qbench_r%d" % (i % 50)}).encode()
    ans = call(prod + "/v1/events", ev)
    t0 = time.monotonic()
    got = call(query + "/v1/receipts/%s?wait_ms=10000" % ans["receipt"])
    if got.get("landed"):
        ms.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
ms.sort()
pct = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))] if ms else -1
print("RESULT %.1f %.1f %d %d" % (pct(0.5), pct(0.99), len(ms), n))
PY
read -r _ p50 p99 ok total < <(grep '^RESULT' "$WORK/receipts.txt" | tail -1)
((ok == total)) || die "only $ok of $total receipts landed within 10 s"
fig receipt_landed_p50_ms "$p50"
fig receipt_landed_p99_ms "$p99"
wait "${PIDS[-1]}" 2>/dev/null || true

# Beside their baselines (the targets of issue 13).
python3 - "$WORK/figures" <<'PY'
import sys
f = dict(l.split() for l in open(sys.argv[1]) if l.strip())
g = lambda k: float(f.get(k, "nan"))
pg = g("pgbench_session_selects_per_s")
print("\n%-34s %12s  %s" % ("figure", "value", "beside its baseline (target)"))
for name, base in (("nocache", 0.7), ("local", 1.5), ("redis", None)):
    rps = g("query_session_reads_per_s_" + name)
    print("%-34s %12.1f  %.2fx pgbench's %.1f selects/s%s" % (
        "query_session_reads_per_s_" + name, rps, rps / pg, pg,
        " (target >= %.1fx)" % base if base else ""))
    print("%-34s %12.2f  (target <= 10 ms)" % ("query_session_reads_p99_ms_" + name,
                                              g("query_session_reads_p99_ms_" + name)))
print("%-34s %12.1f  (target <= 250 ms, at 1,000 events/s)" % ("receipt_landed_p99_ms",
                                                              g("receipt_landed_p99_ms")))
PY
