#!/usr/bin/env bash
# The systemd units of deploy/systemd pass `systemd-analyze verify` as
# `cmake --install` writes them (here with the build's own programs as
# ExecStart), including an instance of the worker template; and they carry
# what docs/operations.md promises: Type=notify with a watchdog, an
# EnvironmentFile, a SIGHUP reload.
set -uo pipefail
root=${VIGIL_SOURCE_DIR:?}
bin=${VIGIL_BIN_DIR:?}
if ! command -v systemd-analyze > /dev/null; then
  echo "FAIL: systemd-analyze is not installed (Debian: systemd)"
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for f in "$root"/deploy/systemd/*.in; do
  sed -e "s|@VG_BINDIR@|$bin|g" -e "s|@VG_SQLDIR@|$root/schemas/sql|g" \
    -e "s|@VG_DOCDIR@|$root/docs|g" "$f" > "$tmp/$(basename "${f%.in}")"
done
cp "$root/deploy/systemd/vigil.target" "$tmp/"
cp "$tmp/vigil-worker@.service" "$tmp/vigil-worker@9111.service"

for unit in vigil-producer.service vigil-worker@9111.service vigil-scheduler.service \
            vigil-migrate.service vigil.target; do
  # --man=no: the units name no man pages; the hosts here have none installed.
  if out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$tmp/$unit" 2>&1) &&
     ! grep -v -e 'Failed to put bus name' -e 'bus' <<<"$out" | grep -qi -e 'error' -e 'warn' -e 'unknown' -e 'ignoring'; then
    ok
  else
    bad "systemd-analyze verify $unit: $out"
  fi
done

for unit in vigil-producer.service vigil-worker@.service vigil-scheduler.service; do
  u=$tmp/$unit
  grep -qx 'Type=notify' "$u" && grep -q '^WatchdogSec=' "$u" && ok || bad "$unit: Type=notify with WatchdogSec"
  grep -q '^EnvironmentFile=/etc/vigil/vigil.env' "$u" && ok || bad "$unit: EnvironmentFile"
  grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$u" && ok || bad "$unit: ExecReload with HUP"
done
grep -q 'VIGIL_WORKER_HTTP_PORT=%i' "$tmp/vigil-worker@.service" && ok ||
  bad "the worker template takes its port from the instance"

# The programs speak the protocol: started with a notify socket, each
# sends READY=1 (here without Kafka or PostgreSQL reachable: the producer
# and the worker start anyway; the scheduler needs its secret).
if command -v systemd-notify > /dev/null && python3 -c 'import socket' 2> /dev/null; then
  for prog in vigil-producer vigil-worker vigil-scheduler; do
    got=$(python3 - "$bin/$prog" << 'PY'
import os, socket, subprocess, sys, tempfile, time
d = tempfile.mkdtemp()
path = os.path.join(d, "notify")
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
def free_port():
    with socket.socket() as t:
        t.bind(("127.0.0.1", 0))
        return str(t.getsockname()[1])
env = dict(os.environ, NOTIFY_SOCKET=path, VIGIL_KAFKA_BROKERS="127.0.0.1:1",
           VIGIL_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1",
           VIGIL_PRODUCER_PORT=free_port(), VIGIL_WORKER_HTTP_PORT=free_port(),
           VIGIL_SCHEDULER_HTTP_PORT=free_port(), VIGIL_PRODUCER_METRICS_PORT=free_port(),
           VIGIL_COMMAND_SECRET=os.urandom(32).hex(), VIGIL_TOKEN_SECRET=os.urandom(32).hex(),
           WATCHDOG_USEC="2000000")
env.pop("VIGIL_CONFIG", None)
p = subprocess.Popen([sys.argv[1]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
env["WATCHDOG_PID"] = str(p.pid)
seen = set()
try:
    deadline = time.time() + 20
    while time.time() < deadline and not {"READY=1", "WATCHDOG=1"} <= seen:
        try:
            seen.update(s.recv(4096).decode().split("\n"))
        except socket.timeout:
            break
finally:
    p.terminate()
    p.wait(30)
print(" ".join(sorted(x for x in seen if x in ("READY=1", "WATCHDOG=1", "STOPPING=1"))))
PY
)
    [[ $got == *READY=1* && $got == *WATCHDOG=1* ]] && ok ||
      bad "$prog sends READY=1 and WATCHDOG=1 to NOTIFY_SOCKET (got: $got)"
  done
fi

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
