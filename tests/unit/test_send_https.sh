#!/usr/bin/env bash
# vigilctl send over HTTPS (tools/http_client.c, libcurl): against a TLS
# server of this test's own with a certificate for 127.0.0.1, the batch
# arrives when --cacert names its CA, and is refused, not sent, when the
# certificate does not verify (no --cacert: the system's CAs do not know it)
# or names another host. No stack: the server is a few lines of Python.
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
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        n = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
        with open(os.path.join(tmp, "received"), "ab") as f:
            f.write(self.headers.get("Authorization", "").encode() + b" " + body + b"\n")
        out = json.dumps({"accepted": n}).encode()
        self.send_response(202)
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

echo "$passes passed, $fails failed"
[[ $fails -eq 0 ]]
