#!/usr/bin/python3
"""vigil-notifier on the real stack (DESIGN.md section 11, issue 14).

Sessions of tenant demo are sent through the producer and ended; the stack's
workers emit their summaries to vigil.summaries; notifiers started here, each
with a consumer group and destinations of its own (filtered on a session kind
made up for the scenario, so nothing else reaches them), deliver to
receivers that live in this process: HTTP servers (http.server) and a real
SMTP server on loopback (aiosmtpd). Backoffs and timeouts are short so that
every scenario ends in seconds; every wait is on a condition with a deadline.

Run through ./dev test (it needs VIGIL_HTTP, VIGIL_DATABASE_URL, ...).
"""
import email
import email.policy
import hashlib
import hmac
import json
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
from aiosmtpd.controller import Controller

ENV = os.environ
HTTP = ENV["VIGIL_HTTP"]
DB = ENV["VIGIL_DATABASE_URL"]
BIN = ENV["VIGIL_BIN_DIR"]
CONFIG = ENV["VIGIL_CONFIG"]
TAG = "nt" + "".join(random.choices(string.ascii_lowercase + string.digits, k=6))
SECRET = "test-webhook-secret-" + TAG + "-0123456789abcdef"
DEADLINE = 120  # seconds for anything to happen on a busy two-core machine
TMP = tempfile.mkdtemp(prefix="vigil-notifier-test-")
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def wait_for(what, cond, timeout=DEADLINE):
    """Polls cond() every 0.2 s until it returns something true; fails after timeout."""
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sql(query, *args):
    """Rows of a query (psql, values passed as variables, never pasted)."""
    cmd = ["psql", "-X", "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", DB]
    for i, a in enumerate(args):
        cmd += ["-v", f"a{i}={a}"]
    out = subprocess.run(cmd, input=query, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


# -- receivers ---------------------------------------------------------------

class Receiver:
    """An HTTP receiver; answer(delivery_id, n) says how to answer the n-th
    request (1-based) for a delivery: a status, or ("hang", seconds, status)."""

    def __init__(self, answer, port=None):
        self.answer = answer
        self.port = port or free_port()
        self.requests = []  # (delivery_id, signature_valid, body, status)
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                did = self.headers.get("Vigil-Delivery", "")
                valid = verify(self.headers.get("Vigil-Signature", ""), body)
                with rec.lock:
                    n = 1 + sum(1 for r in rec.requests if r[0] == did)
                    rec.requests.append([did, valid, body, None])
                    entry = rec.requests[-1]
                a = rec.answer(did, n)
                if isinstance(a, tuple):
                    time.sleep(a[1])
                    a = a[2]
                entry[3] = a
                self.send_response(a)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def delivered(self):
        """Distinct delivery ids answered with 2xx."""
        with self.lock:
            return {r[0] for r in self.requests if r[3] and 200 <= r[3] < 300}

    def count(self, did=None):
        with self.lock:
            return sum(1 for r in self.requests if did is None or r[0] == did)


def verify(header, body):
    """What a receiver does (notifier/README.md): recompute the signature."""
    fields = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = fields.get("t", ""), fields.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > 300:
        return False
    want = hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, sig)


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


# -- the stack ---------------------------------------------------------------

def config_with(destinations):
    """The stack's config with demo's notify list replaced by destinations."""
    text = open(CONFIG).read()
    new, n = re.subn(r"notify = \(.*?\n      \);", "notify = (\n" + ",\n".join(destinations)
                     + "\n      );", text, count=1, flags=re.S)
    assert n == 1, "config/vigil.conf has no notify list for demo"
    path = os.path.join(TMP, f"{TAG}-{len(os.listdir(TMP))}.conf")
    open(path, "w").write(new)
    return path


def webhook(name, kind, url, fmt="json"):
    return (f'{{ name = "{name}"; webhook = {{ url = "{url}"; secret = "{SECRET}";'
            f' kinds = [ "{kind}" ]; format = "{fmt}"; }}; }}')


def mailto(name, kind, port):
    return (f'{{ name = "{name}"; email = {{ smtp_url = "smtp://127.0.0.1:{port}";'
            f' from = "vigil@example.org"; to = [ "ops@example.org" ];'
            f' kinds = [ "{kind}" ]; }}; }}')


class Notifier:
    def __init__(self, conf, group, **settings):
        self.port = free_port()
        self.env = dict(ENV, VIGIL_CONFIG=conf, VIGIL_NOTIFIER_GROUP=group,
                        VIGIL_NOTIFIER_HTTP_PORT=str(self.port), VIGIL_LOG_LEVEL="info",
                        VIGIL_NOTIFIER_TIMEOUT_MS="1000", VIGIL_NOTIFIER_BACKOFF_BASE_MS="100",
                        VIGIL_NOTIFIER_BACKOFF_MAX_MS="400", VIGIL_NOTIFIER_BATCH_MAX_MS="20")
        self.env.update({"VIGIL_NOTIFIER_" + k.upper(): str(v) for k, v in settings.items()})
        self.proc = None
        self.log = None

    def start(self, name):
        self.env["VIGIL_NOTIFIER_ID"] = f"{TAG}-{name}"
        self.log = open(os.path.join(TMP, f"{name}.log"), "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "vigil-notifier")], env=self.env,
                                     stdout=self.log, stderr=self.log)
        wait_for(f"notifier {name} to answer /healthz", lambda: self.get("/healthz"), 30)
        return self

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.read().decode()
        except OSError:
            return None

    def metric(self, name, labels=""):
        text = self.get("/metrics") or ""
        m = re.search(r"^" + re.escape(name + labels) + r" ([0-9.e+]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=60)
            self.log.close()
            return rc
        return None

    def forget_group(self):
        """The group's stored offsets go with the scenario: mart.pipeline_status
        sums the lag of every group, and this one will not consume again."""
        sql("DELETE FROM ops.consumer_offsets WHERE consumer_group = :'a0'",
            self.env["VIGIL_NOTIFIER_GROUP"])


def partitions_held(notifiers):
    return sum(n.metric("vigil_notifier_assigned_partitions") for n in notifiers)


def summary_partitions():
    """kafka.partitions.summaries, as the stack created the topic."""
    m = re.search(r"partitions = \{[^}]*?summaries = (\d+);", open(CONFIG).read(), re.S)
    return int(m.group(1)) if m else 3


def post(path, body):
    req = urllib.request.Request(HTTP + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Authorization": "Bearer demo-key",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status in (201, 202), r.status


def end_sessions(kind, n):
    """n sessions of this kind, each started, with events, then ended."""
    ids = []
    for i in range(n):
        sid = f"{TAG}_{kind}_{i}_{random.randrange(1 << 30):x}"
        post("/v1/sessions", {"session_id": sid, "kind": kind, "status": "active"})
        post("/v1/events", [{"type": "page.view", "session_id": sid, "url": "https://example.com/"},
                            {"type": "quiz.answer", "session_id": sid}])
        post(f"/v1/sessions/{sid}/end", {"reason": "test"})
        ids.append(sid)
    return ids


def rows(kind):
    """ops.deliveries of this scenario's sessions and destinations (the stack's own
    notifier delivers demo's sessions too): id, destination, status, attempts,
    last_status."""
    return sql("SELECT delivery_id, destination, status, attempts, coalesce(last_status, 0)"
               " FROM ops.deliveries WHERE session_id LIKE :'a0' || '%'"
               " AND destination LIKE '%-' || :'a1' ORDER BY created_at, destination",
               f"{TAG}_{kind}_", kind)


# -- scenarios ---------------------------------------------------------------

def test_an_ended_session_is_one_signed_webhook_and_one_email():
    kind = TAG + "a"
    hook = Receiver(lambda d, n: 200).start()
    box = Mailbox()
    smtp_port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    conf = config_with([webhook("hook-" + kind, kind, hook.url()), mailto("mail-" + kind, kind,
                                                                          smtp_port)])
    n = Notifier(conf, "g-" + kind).start(kind)
    try:
        wait_for("the notifier to hold the summaries' partitions",
                 lambda: partitions_held([n]) >= summary_partitions())
        [sid] = end_sessions(kind, 1)
        wait_for("the webhook and the e-mail",
                 lambda: len(hook.delivered()) == 1 and len(box.messages) == 1)
        wait_for("both rows delivered",
                 lambda: [r[2] for r in rows(kind)] == ["delivered", "delivered"])
        time.sleep(1.0)  # anything sent twice would arrive now
        check(hook.count() == 1, f"one webhook request ({hook.count()})")
        did, valid, body, status = hook.requests[0]
        s = json.loads(body)
        check(valid, "the signature the test recomputes matches Vigil-Signature")
        check(s["session_id"] == sid and s["status"] == "ended" and s["tenant"] == "demo"
              and isinstance(s.get("duration_ms"), int), f"the webhook carries the summary: {s}")
        check(did in {r[0] for r in rows(kind)}, "Vigil-Delivery is the row's delivery_id")
        schema = json.load(open(os.path.join(ENV["VIGIL_SOURCE_DIR"], "schemas/json/summary.json")))
        errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(s)]
        check(not errors, f"the worker's summary is valid against schemas/json/summary.json: {errors}")
        check(s["counts"].get("page.view") == 1 and s["counts"].get("quiz.answer") == 1
              and sorted(e["type"] for e in s["last_events"]) == ["page.view", "quiz.answer"],
              f"counts by type and last events: {s['counts']}, {s['last_events']}")
        check(len(box.messages) == 1, f"one e-mail ({len(box.messages)})")
        mail_from, rcpts, content = box.messages[0]
        msg = email.message_from_bytes(content, policy=email.policy.default)
        subject = str(msg["Subject"])
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        check(mail_from == "vigil@example.org" and rcpts == ["ops@example.org"],
              f"the envelope: {mail_from} -> {rcpts}")
        check(re.fullmatch(rf"{kind} {sid} ended after \d+ s", subject) is not None,
              f"the subject names session, status and duration: {subject!r}")
        check(sid in text and "ended (test)" in text and "Duration" in text
              and "page.view" in text and "quiz.answer" in text,
              "the text part reads like a session report")
        check(sid in html and "<table>" in html, "the HTML part too")
        check(n.metric("vigil_notifier_deliveries_total", '{type="webhook",outcome="delivered"}')
              == 1, "the metric counts the webhook delivered")
    finally:
        n.stop()
        n.forget_group()
        hook.stop()
        smtp.stop()


def test_503_twice_then_200_410_and_a_hanging_receiver():
    kind = TAG + "b"
    flaky = Receiver(lambda d, n: 503 if n <= 2 else 200).start()
    gone = Receiver(lambda d, n: 410).start()
    slow = Receiver(lambda d, n: ("hang", 3, 200) if n == 1 else 200).start()
    conf = config_with([webhook("flaky-" + kind, kind, flaky.url()),
                        webhook("gone-" + kind, kind, gone.url()),
                        webhook("slow-" + kind, kind, slow.url())])
    n = Notifier(conf, "g-" + kind, max_attempts=6).start(kind)
    try:
        wait_for("partitions", lambda: partitions_held([n]) >= summary_partitions())
        end_sessions(kind, 1)
        want = {f"demo/flaky-{kind}": "delivered", f"demo/gone-{kind}": "dead",
                f"demo/slow-{kind}": "delivered"}
        wait_for("three final rows",
                 lambda: {r[1]: r[2] for r in rows(kind)} == want)
        by = {r[1]: r for r in rows(kind)}
        check(by[f"demo/flaky-{kind}"][3] == "3" and flaky.count() == 3
              and len(flaky.delivered()) == 1,
              f"503, 503, 200: delivered on attempt 3 ({by[f'demo/flaky-{kind}']}, "
              f"{flaky.count()} requests)")
        check(by[f"demo/gone-{kind}"][3] == "1" and by[f"demo/gone-{kind}"][4] == "410"
              and gone.count() == 1, f"410: dead at once ({by[f'demo/gone-{kind}']})")
        check(int(by[f"demo/slow-{kind}"][3]) >= 2 and len(slow.delivered()) == 1,
              f"a hanging receiver is timed out and retried ({by[f'demo/slow-{kind}']})")
        check(n.metric("vigil_notifier_deliveries_total", '{type="webhook",outcome="dead"}') == 1,
              "the metric counts one dead")
        dead = by[f"demo/gone-{kind}"][0]
        ctl = [os.path.join(BIN, "vigilctl")]
        out = subprocess.run(ctl + ["deliveries", "list", "--status", "dead", "--tenant", "demo",
                                    "--limit", "1000"], capture_output=True, text=True)
        check(out.returncode == 0 and dead in out.stdout, "vigilctl deliveries list shows it")
        out = subprocess.run(ctl + ["deliveries", "retry", dead], capture_output=True, text=True)
        check(out.returncode == 0 and "1 deliveries due again" in out.stdout,
              f"vigilctl deliveries retry ID: {out.stdout.strip()} {out.stderr.strip()}")
        wait_for("the retried delivery sent again", lambda: gone.count() == 2)
        wait_for("and dead again",
                 lambda: [r[2:4] for r in rows(kind) if r[0] == dead] == [["dead", "1"]])
        out = subprocess.run(ctl + ["deliveries", "retry", "not-an-id"], capture_output=True,
                             text=True)
        check(out.returncode == 2 and "not a delivery id" in out.stderr,
              "a bad id is refused with a clear error")
    finally:
        n.stop()
        n.forget_group()
        for r in (flaky, gone, slow):
            r.stop()


def test_killed_mid_retries_and_a_receiver_back_after_an_outage_deliver_each_once():
    kind = TAG + "c"
    port = free_port()  # nothing listens there yet: the receiver is down
    conf = config_with([webhook("down-" + kind, kind, f"http://127.0.0.1:{port}/hook")])
    n1 = Notifier(conf, "g-" + kind, max_attempts=1000).start(kind + "-1")
    count = 10
    try:
        wait_for("partitions", lambda: partitions_held([n1]) >= summary_partitions())
        end_sessions(kind, count)
        wait_for("every delivery retrying",
                 lambda: len(rows(kind)) == count and all(int(r[3]) >= 2 for r in rows(kind)))
        rc = n1.stop(signal.SIGKILL)
        check(rc == -signal.SIGKILL, "the notifier was killed with SIGKILL")
        before = {r[0]: int(r[3]) for r in rows(kind)}
        n2 = Notifier(conf, "g-" + kind, max_attempts=1000).start(kind + "-2")
        wait_for("the restarted notifier retrying",
                 lambda: sum(int(r[3]) for r in rows(kind)) > sum(before.values()) + count)
        hook = Receiver(lambda d, n: 200, port=port).start()
        try:
            wait_for("every delivery delivered",
                     lambda: [r[2] for r in rows(kind)] == ["delivered"] * count)
            time.sleep(1.0)
            ids = {r[0] for r in rows(kind)}
            check(len(rows(kind)) == count, f"one row per summary ({len(rows(kind))})")
            check(hook.delivered() == ids,
                  f"the receiver has each delivery id once it is back ({len(hook.delivered())} of "
                  f"{count})")
            check(hook.count() == count, f"and nothing twice ({hook.count()} requests)")
            check(all(r[1] for r in hook.requests), "every signature valid")
        finally:
            n2.stop()
            hook.stop()
    finally:
        n1.stop(signal.SIGKILL)
        n1.forget_group()


def test_two_replicas_share_the_deliveries_without_sending_twice():
    kind = TAG + "d"
    hook = Receiver(lambda d, n: 200).start()
    conf = config_with([webhook("pair-" + kind, kind, hook.url())])
    a = Notifier(conf, "g-" + kind).start(kind + "-a")
    b = Notifier(conf, "g-" + kind).start(kind + "-b")
    count = 20
    try:
        wait_for("the two replicas to share the partitions",
                 lambda: a.metric("vigil_notifier_assigned_partitions") > 0
                 and b.metric("vigil_notifier_assigned_partitions") > 0
                 and partitions_held([a, b]) == summary_partitions())
        end_sessions(kind, count)
        wait_for("every delivery delivered",
                 lambda: len(rows(kind)) == count
                 and all(r[2] == "delivered" for r in rows(kind)))
        time.sleep(1.0)
        check(len(hook.delivered()) == count and hook.count() == count,
              f"{count} deliveries, none twice ({hook.count()} requests, "
              f"{len(hook.delivered())} distinct)")
        label = '{type="webhook",outcome="delivered"}'
        sent = [r.metric("vigil_notifier_deliveries_total", label) for r in (a, b)]
        check(sum(sent) == count, f"the replicas sent {sent} between them")
    finally:
        a.stop()
        b.stop()
        a.forget_group()
        hook.stop()


def test_a_summary_of_a_session_ended_long_ago_is_skipped():
    kind = TAG + "e"
    hook = Receiver(lambda d, n: 200).start()
    conf = config_with([webhook("old-" + kind, kind, hook.url(), fmt="slack")])
    # The worker holds a summary 2 s after the end: older than 1 s by then.
    n = Notifier(conf, "g-" + kind, max_summary_age_s=1).start(kind)
    try:
        wait_for("partitions", lambda: partitions_held([n]) >= summary_partitions())
        end_sessions(kind, 1)
        wait_for("the row", lambda: rows(kind))
        time.sleep(1.0)
        check([r[2] for r in rows(kind)] == ["skipped"] and hook.count() == 0,
              f"recorded as skipped, not sent ({rows(kind)}, {hook.count()} requests)")
    finally:
        n.stop()
        n.forget_group()
        hook.stop()


def main():
    # ctest's timeout sends SIGTERM: unwind, so that every finally stops its notifiers.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    tests = [test_an_ended_session_is_one_signed_webhook_and_one_email,
             test_503_twice_then_200_410_and_a_hanging_receiver,
             test_killed_mid_retries_and_a_receiver_back_after_an_outage_deliver_each_once,
             test_two_replicas_share_the_deliveries_without_sending_twice,
             test_a_summary_of_a_session_ended_long_ago_is_skipped]
    only = sys.argv[1:]
    for t in tests:
        if only and not any(o in t.__name__ for o in only):
            continue
        print(f"-- {t.__name__}", flush=True)
        t0 = time.time()
        try:
            t()
        except Exception as e:  # a timeout or a broken stack: the scenario fails, the rest run
            check(False, f"{t.__name__}: {type(e).__name__}: {e}")
        print(f"   ({time.time() - t0:.1f} s)", flush=True)
    if failures:
        print(f"{len(failures)} failed; notifier logs in {TMP}")
        for f in os.listdir(TMP):
            if f.endswith(".log"):
                print(f"--- {f}")
                print(open(os.path.join(TMP, f), errors="replace").read()[-3000:])
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
