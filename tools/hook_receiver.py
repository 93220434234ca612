#!/usr/bin/env python3
"""A webhook receiver for the development stack: what a user's own would do.

Checks each delivery's Vigil-Signature (t=<unix>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>), deduplicates on Vigil-Delivery, answers 200 and prints one
JSON line per delivery. `./dev up` runs it for the tenant `demo`.

    hook_receiver.py --port 9129 --secret-env VIGIL_DEMO_WEBHOOK_SECRET
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEEN_MAX = 100000  # delivery ids remembered for deduplication


def verify(secret, header, body, tolerance_s=300):
    """True if header signs body with secret, signed within tolerance_s."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = fields.get("t", ""), fields.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > tolerance_s:
        return False
    want = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--secret-env", required=True, help="variable holding the webhook secret")
    args = ap.parse_args()
    secret = os.environ.get(args.secret_env, "").encode()
    if not secret:
        sys.exit(f"hook_receiver: {args.secret_env} is not set")
    seen = set()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            delivery = self.headers.get("Vigil-Delivery", "")
            ok = verify(secret, self.headers.get("Vigil-Signature", ""), body)
            self.send_response(200 if ok else 401)
            self.end_headers()
            if not ok or delivery in seen:
                return
            if len(seen) >= SEEN_MAX:
                seen.clear()
            seen.add(delivery)
            s = json.loads(body)
            print(json.dumps({"delivery": delivery, "signature": "valid",
                              "session_id": s.get("session_id"), "tenant": s.get("tenant"),
                              "status": s.get("status"), "duration_ms": s.get("duration_ms"),
                              "counts": s.get("counts")}), flush=True)

        def log_message(self, *a):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
