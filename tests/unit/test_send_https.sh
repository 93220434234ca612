#!/usr/bin/env bash
# vigilctl send over HTTPS (tools/http_client.c, libcurl): against a TLS
# server of this test's own with a certificate for 127.0.0.1, the batch
# arrives when --cacert names its CA, and is refused, not sent, when the
# certificate does not verify (no --cacert: the system's CAs do not know it)
# or names another host. With -o json the outcome is one JSON object on
# stdout: the server's event ids and receipts, a refused line with its
# number, the same exit codes. No stack: the server is a few lines of Python.
set -uo pipefail
bin=${VIGIL_BIN_DIR:?}
tmp=$(mktemp -d)
srv=
cleanup() { [[ -n $srv ]] && kill "$srv" 2> /dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
passes=0 fails=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

cert() { # NAME SAN: a self-signed certificate and key
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=$1" -addext "subjectAltName=$2" \
    -keyout "$tmp/$1.key" -out "$tmp/$1.pem" > /dev/null 2>&1
}
cert good IP:127.0.0.1
cert other DNS:other.invalid
python3 - "$tmp" > "$tmp/server.out" 2>&1 << 'PY' &
import http.server, json, os, ssl, sys
tmp = sys.argv[1]
served = 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        global served
        body = self.rfile.read(int(self.headers["Content-Length"]))
        lines = body.decode().splitlines()
        with open(os.path.join(tmp, "received"), "ab") as f:
            f.write(self.headers.get("Authorization", "").encode() + b" " + body + b"\n")
        # As the producer: a refused event is named by its index in the batch.
        bad = [i for i, l in enumerate(lines) if '"Bad Type"' in l]
        if bad:
            status = 400
            out = {"error": {"code": "invalid_field", "message": "type is not a valid event type",
                             "index": bad[0], "field": "type"}}
        else:
            status = 202
            ids = []
            for _ in lines:
                served += 1
                ids.append("id-%d" % served)
            out = {"accepted": len(lines), "event_ids": ids, "receipt": "r-%d" % served}
        out = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)
    def log_message(self, *a):
        pass
servers = {}
for name in ("good", "other"):
    s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key"))
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
    servers[name] = s
with open(os.path.join(tmp, "ports"), "w") as f:
    f.write(" ".join(str(s.server_address[1]) for s in servers.values()))
import threading
for s in servers.values():
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Event().wait()
PY
srv=$!
deadline=$((SECONDS + 30))
until [[ -s $tmp/ports ]]; do
  ((SECONDS < deadline)) || { echo "FAIL: the TLS server did not start: $(cat "$tmp/server.out")"; exit 1; }
  sleep 0.1
done
read -r good other < "$tmp/ports"

printf '{"type":"page.view","session_id":"s-1"}\n{"type":"page.view","session_id":"s-2"}\n' > "$tmp/events.ndjson"
send() { env -u VIGIL_CONFIG "$bin/vigilctl" send --key k-123 --retries 0 --quiet "$@" "$tmp/events.ndjson"; }

send --url "https://127.0.0.1:$good" --cacert "$tmp/good.pem" > "$tmp/out" 2>&1 && ok ||
  bad "send over HTTPS with --cacert: $(cat "$tmp/out")"
[[ $(grep -c 'Bearer k-123' "$tmp/received" 2> /dev/null) == 1 ]] && grep -q '"s-2"' "$tmp/received" && ok ||
  bad "the server did not get the batch with the key: $(cat "$tmp/received" 2> /dev/null)"
: > "$tmp/received"

send --url "https://127.0.0.1:$good" > "$tmp/out" 2>&1
[[ $? == 1 && ! -s $tmp/received ]] && ok || bad "an unknown CA must be refused: $(cat "$tmp/out")"
send --url "https://127.0.0.1:$other" --cacert "$tmp/other.pem" > "$tmp/out" 2>&1
[[ $? == 1 && ! -s $tmp/received ]] && ok || bad "a certificate for another host must be refused: $(cat "$tmp/out")"
grep -qi 'certificate\|ssl\|host' "$tmp/out" && ok || bad "the refusal says why: $(cat "$tmp/out")"

# -o json: the outcome on stdout as one object, progress and errors still on stderr.
: > "$tmp/received"
jsend() { # EXPECTED-EXIT FILE ARGS...: send -o json, the JSON in $tmp/json
  local want=$1 file=$2; shift 2
  env -u VIGIL_CONFIG "$bin/vigilctl" send -o json --key k-123 --retries 0 --quiet \
    --url "https://127.0.0.1:$good" --cacert "$tmp/good.pem" "$@" "$file" > "$tmp/json" 2> "$tmp/err"
  local rc=$?
  [[ $rc == "$want" ]] || bad "send -o json $*: exit $rc, want $want: $(cat "$tmp/err")"
}
check() { # PYTHON: asserts over j, the "send" object of $tmp/json
  python3 -c "import json, sys
j = json.load(open(sys.argv[1]))['send']
$1" "$tmp/json" 2> "$tmp/pyerr" && ok || bad "send -o json: $(tail -1 "$tmp/pyerr"): $(cat "$tmp/json")"
}
jsend 0 "$tmp/events.ndjson"
check "assert j['status'] == 'ok', j
assert j['accepted'] == 2 and j['skipped'] == 0 and j['batches'] == 1, j
assert len(j['event_ids']) == 2 and all(i.startswith('id-') for i in j['event_ids']), j
assert len(j['receipts']) == 1 and j['receipts'][0].startswith('r-'), j
assert j['errors'] == [] and 'stopped_at_line' not in j, j"
printf '{"type":"page.view","session_id":"s-3"}\n\n{"type":"Bad Type"}\n{"type":"page.view","session_id":"s-4"}\n' \
  > "$tmp/bad.ndjson"
jsend 1 "$tmp/bad.ndjson"
check "assert j['status'] == 'failed' and j['accepted'] == 0, j
assert j['stopped_at_line'] == 1 and j['event_ids'] == [], j
e, = j['errors']
assert (e['line'], e['http_status'], e['code'], e['field'], e['skipped']) == (3, 400, 'invalid_field', 'type', False), e"
jsend 0 "$tmp/bad.ndjson" --skip-invalid
check "assert j['status'] == 'ok' and j['accepted'] == 2 and j['skipped'] == 1, j
assert len(j['event_ids']) == 2 and len(j['receipts']) == 1, j
assert [(e['line'], e['skipped']) for e in j['errors']] == [(3, True)], j"
env -u VIGIL_CONFIG "$bin/vigilctl" -o json send --key k-123 --retries 0 --quiet \
  --url "https://127.0.0.1:$good" "$tmp/events.ndjson" > "$tmp/json" 2> "$tmp/err"
[[ $? == 1 ]] && ok || bad "send -o json to an unknown CA exits 1"
check "assert j['status'] == 'failed' and j['accepted'] == 0, j
assert j['errors'][0]['line'] == 1 and 'http_status' not in j['errors'][0], j"
env -u VIGIL_CONFIG "$bin/vigilctl" -o json send --batch 0 "$tmp/events.ndjson" > "$tmp/json" 2> /dev/null
[[ $? == 2 && ! -s $tmp/json ]] && ok || bad "send -o json with bad arguments exits 2 and prints no JSON"

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
