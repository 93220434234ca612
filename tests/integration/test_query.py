#!/usr/bin/env python3
"""vigil-query on the real stack (DESIGN.md section 10): every route, the
auth rules, ETag/304, long-polling, receipts (not landed while the workers
are stopped, landed once they commit), the stats against the mart views,
the cache's staleness bound with Redis off, on, shared and killed, a
change to one session leaving the others cached, and a SIGHUP reload of the tenants' and admins' keys.

Data goes through the producer and the workers, never straight into the
tables. Every session id starts with this run's prefix; waits have
deadlines, never fixed sleeps. Run through `./dev test -R query`.
"""
import hashlib
import json
import os
import random
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

PRODUCER = os.environ["VIGIL_HTTP"]
QUERY = os.environ["VIGIL_QUERY_HTTP"]
ADMIN = os.environ.get("VIGIL_QUERY_ADMIN_KEY", "admin-key")
DEV = os.environ["VIGIL_DEV"]
BIN = os.environ["VIGIL_BIN_DIR"]
REDIS_URL = os.environ["VIGIL_REDIS_URL"]
RUN = "tq%d%s" % (os.getpid(), "".join(random.choices(string.ascii_lowercase, k=4)))
KIND = RUN + "_kind"
DEMO, ACME = "demo-key", "acme-key"
LANDED_WAIT_MS = 30000
STALENESS_MS = 500

failures = []
passed = 0


def check(cond, what, *detail):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, *[str(d)[:400] for d in detail], flush=True)


def http(method, url, key=None, body=None, headers=None, session=None, timeout=60):
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    if session:
        h["Authorization"] = "Session " + session
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, dict(r.headers), raw
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def q(path, key=DEMO, base=QUERY, **kw):
    st, hd, raw = http("GET", base + path, key=key, **kw)
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = raw
    return st, hd, doc


def post(path, body, key=DEMO, **kw):
    st, hd, raw = http("POST", PRODUCER + path, key=key, body=body, **kw)
    return st, json.loads(raw) if raw else None


def landed(receipt, key=DEMO, wait_ms=LANDED_WAIT_MS):
    st, _, doc = q("/v1/receipts/%s?wait_ms=%d" % (receipt, wait_ms), key=key,
                   timeout=wait_ms / 1000 + 30)
    return st == 200 and doc == {"landed": True}


def psql_json(sql, *args):
    """One JSON value from psql, values passed as psql variables (never pasted)."""
    cmd = ["psql", "-X", "-qAt", "-v", "ON_ERROR_STOP=1"]
    for i, a in enumerate(args):
        cmd += ["-v", "a%d=%s" % (i, a)]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip() or "null")


def start_session(sid, status="active", key=DEMO, kind=KIND):
    st, doc = post("/v1/sessions", {"session_id": sid, "kind": kind, "status": status}, key=key)
    check(st == 201 and "receipt" in doc, "POST /v1/sessions answers 201 with a receipt", st, doc)
    return doc


def event(sid, visitor, typ="page.view"):
    return {"type": typ, "session_id": sid, "visitor_id": visitor, "url": "https://example.com/"}


# -- routes and auth ----------------------------------------------------------


def test_session_routes_and_auth():
    s1, s2, s3 = RUN + "_s1", RUN + "_s2", RUN + "_s3"
    a = start_session(s1)
    start_session(s2)
    c = start_session(s3, status="draft")
    st, ev = post("/v1/events", [event(s1, RUN + "_v1"), event(s1, RUN + "_v1", "button.click"),
                                 event(s1, RUN + "_v1", "page.leave")])
    check(st == 202 and ev.get("receipt"), "POST /v1/events answers 202 with a receipt", st, ev)
    check(landed(ev["receipt"]), "the events' receipt lands")
    check(landed(c["receipt"]), "the draft's receipt lands")

    st, hd, doc = q("/v1/sessions/" + s1)
    check(st == 200 and doc["session_id"] == s1 and doc["status"] == "active",
          "a tenant key reads its session", st, doc)
    check(doc.get("duration_ms") is None and isinstance(doc.get("active_ms"), int)
          and doc["active_ms"] >= 0, "an open session has active_ms and no duration_ms", doc)
    check(doc.get("event_count") == 3, "the session counts its 3 events", doc)
    check(doc["created_at"].endswith("Z") and "T" in doc["created_at"], "times are RFC 3339 UTC",
          doc.get("created_at"))
    etag = hd.get("ETag")
    check(bool(etag), "GET /v1/sessions/{id} has an ETag", hd)
    st, hd2, _ = q("/v1/sessions/" + s1, headers={"If-None-Match": etag})
    check(st == 304 and hd2.get("ETag") == etag, "If-None-Match with the ETag answers 304", st)

    st, _, doc = q("/v1/sessions/" + s1, key=ACME)
    check(st == 404 and doc["error"]["code"] == "not_found", "another tenant's session is 404",
          st, doc)
    st, _, _ = q("/v1/sessions/%s?tenant=demo" % s1, key=ACME)
    check(st == 404, "another tenant named in ?tenant= is 404", st)
    st, _, doc = q("/v1/sessions/" + s1, key=ADMIN)
    check(st == 400 and doc["error"].get("field") == "tenant",
          "an admin key names the tenant of a session", st, doc)
    st, _, doc = q("/v1/sessions/%s?tenant=demo" % s1, key=ADMIN)
    check(st == 200 and doc["session_id"] == s1, "an admin key reads every tenant", st)
    st, _, _ = q("/v1/sessions/" + RUN + "_nope")
    check(st == 404, "an unknown session is 404", st)
    st, _, doc = q("/v1/sessions/" + s1, key="wrong-key")
    check(st == 401 and doc["error"]["code"] == "unauthorized", "an unknown key is 401", st)
    st, _, _ = q("/v1/sessions/" + s1, key=None)
    check(st == 401, "no credentials is 401", st)
    st, _, doc = q("/v1/sessions/bad%20id")
    check(st == 400 and doc["error"].get("field") == "id", "a malformed id is 400 naming id", st)

    tok = a["token"]
    st, _, doc = q("/v1/sessions/" + s1, key=None, session=tok)
    check(st == 200 and doc["session_id"] == s1, "a session token reads its own session", st)
    st, _, doc = q("/v1/sessions/%s/valid?token=%s" % (s1, tok), key=None)
    check(st == 200 and doc["valid"] is True, "?token= works too (beacons)", st, doc)
    st, _, _ = q("/v1/sessions/" + s2, key=None, session=tok)
    check(st == 404, "a session token cannot read another session (404)", st)
    st, _, _ = q("/v1/stats", key=None, session=tok)
    check(st == 403, "a session token cannot read the tenant's stats", st)
    st, _, _ = q("/v1/sessions/" + s1, key=None, session=tok[:-2] + "xx")
    check(st == 401, "a forged token is 401", st)
    # what a page holds never reads: the link token, nor a publishable key from the
    # tenant's own origin (demo-pk, config/vigil.conf)
    st, _, _ = q("/v1/sessions/" + s1, key=None, session=a["link_token"])
    check(st == 401, "a link token cannot read its session (401)", st)
    st, _, _ = q("/v1/sessions/%s?token=%s" % (s1, a["link_token"]), key=None)
    check(st == 401, "nor as ?token= (401)", st)
    for path in ("/v1/sessions/" + s1, "/v1/sessions", "/v1/stats"):
        st, _, _ = q(path, key="demo-pk", headers={"Origin": "http://127.0.0.1:5173"})
        check(st == 401, "a publishable key cannot read %s (401)" % path, st)

    st, _, doc = q("/v1/sessions/%s/valid" % s3)
    check(st == 200 and doc["valid"] is True and doc["status"] == "draft",
          "a draft is valid", doc)

    # events: newest first, keyset-paginated (session.start is an event too)
    pages, cursor, got = 0, None, []
    while pages < 10:
        st, _, doc = q("/v1/sessions/%s/events?limit=2" % s1 + ("&cursor=" + cursor if cursor else ""))
        check(st == 200 and len(doc["events"]) <= 2, "events: pages of at most 2", st, doc)
        got += doc["events"]
        cursor, pages = doc["next_cursor"], pages + 1
        if not cursor:
            break
    check(pages == 2 and len(got) == 4, "events: 4 events (the start and 3) in 2 pages", pages, got)
    times = [e["occurred_at"] for e in got]
    check(times == sorted(times, reverse=True), "events come newest first", times)
    ids = [e["event_id"] for e in got]
    check(len(set(ids)) == len(ids) and set(ev["event_ids"]) <= set(ids),
          "events: every event once", ids)
    st, _, doc = q("/v1/sessions/%s/events?limit=0" % s1)
    check(st == 400 and doc["error"]["field"] == "limit", "events: limit=0 is 400", st, doc)
    st, _, _ = q("/v1/sessions/%s/events" % s1, key=ACME)
    check(st == 404, "events of another tenant's session: 404", st)

    # the list
    seen, cursor, pages = [], None, 0
    while True:
        path = "/v1/sessions?kind=%s&limit=1" % KIND + ("&cursor=" + cursor if cursor else "")
        st, _, doc = q(path)
        check(st == 200, "list page answers 200", st, doc)
        if st != 200:
            break
        seen += [s["session_id"] for s in doc["sessions"]]
        cursor, pages = doc["next_cursor"], pages + 1
        if not cursor or pages > 10:
            break
    check(sorted(seen) == sorted([s1, s2, s3]) and len(seen) == 3,
          "the list pages through every session once", seen)
    st, _, doc = q("/v1/sessions?kind=%s&limit=1000" % KIND)
    acts = [s["last_activity_at"] or s["created_at"] for s in doc["sessions"]]
    check(acts == sorted(acts, reverse=True), "the list is newest activity first", acts)
    st, _, doc = q("/v1/sessions?kind=%s&status=draft" % KIND)
    check([s["session_id"] for s in doc["sessions"]] == [s3], "status= filters", doc)
    st, _, doc = q("/v1/sessions?visitor_id=%s_v1" % RUN)
    check([s["session_id"] for s in doc["sessions"]] == [s1], "visitor_id= filters", doc)
    st, _, doc = q("/v1/sessions?kind=%s&updated_since=2999-01-01T00:00:00Z" % KIND)
    check(st == 200 and doc["sessions"] == [], "updated_since= filters", doc)
    st, _, doc = q("/v1/sessions?kind=%s" % KIND, key=ACME)
    check(st == 200 and doc["sessions"] == [], "another tenant lists none of them", doc)
    st, _, doc = q("/v1/sessions?kind=%s" % KIND, key=ADMIN)
    check(st == 200 and len(doc["sessions"]) == 3, "an admin lists every tenant", doc)
    for bad, field in (("status=nope", "status"), ("limit=1001", "limit"), ("limit=x", "limit"),
                       ("cursor=!!", "cursor"), ("updated_since=yesterday", "updated_since"),
                       ("kind=a%20b", "kind"), ("tenant=A!", "tenant")):
        st, _, doc = q("/v1/sessions?" + bad)
        check(st == 400 and doc["error"].get("field") == field,
              "bad %s is 400 naming it" % field, st, doc)
    st, _, _ = q("/v1/nothing")
    check(st == 404, "an unknown route is 404", st)
    st, _, _ = http("POST", QUERY + "/v1/stats", key=DEMO, body={})
    check(st == 405, "POST is 405", st)
    return a


def test_long_poll_and_end(a):
    s1 = RUN + "_s1"
    st, hd, doc = q("/v1/sessions/" + s1)
    etag, beats = hd["ETag"], doc["heartbeat_count"]
    # no change: 304 after the wait
    t0 = time.monotonic()
    st, _, _ = q("/v1/sessions/%s?wait_ms=1500" % s1, headers={"If-None-Match": etag})
    took = time.monotonic() - t0
    check(st == 304 and took >= 1.4, "an unchanged session long-polls to 304", st, took)
    st, _, doc = q("/v1/sessions/%s?wait_ms=30001" % s1)
    check(st == 400 and doc["error"]["field"] == "wait_ms", "wait_ms above 30 s is 400", st, doc)

    # a change during the wait answers at once
    result = {}

    def poll():
        t = time.monotonic()
        result["answer"] = q("/v1/sessions/%s?wait_ms=25000" % s1,
                             headers={"If-None-Match": etag}, timeout=60)
        result["took"] = time.monotonic() - t

    th = threading.Thread(target=poll)
    th.start()
    time.sleep(0.3)  # let the poll start; the test holds without it, only proves less
    t1 = time.monotonic()
    st, hb = post("/v1/sessions/%s/heartbeat" % s1, {})
    check(st == 202 and hb.get("receipt"), "a heartbeat's 202 carries a receipt", st, hb)
    th.join(70)
    st, hd, doc = result.get("answer", (0, {}, None))
    check(st == 200 and doc["heartbeat_count"] == beats + 1 and hd["ETag"] != etag,
          "the long-poll answers with the change", st, doc)
    check(result.get("took", 99) < 20 and time.monotonic() - t1 < 20,
          "the long-poll answered well before its wait", result.get("took"))

    st, end = post("/v1/sessions/%s/end" % s1, {"reason": "done"})
    check(st == 202 and landed(end["receipt"]), "the end lands", st, end)
    st, _, doc = q("/v1/sessions/" + s1)
    check(doc["status"] == "ended" and isinstance(doc["duration_ms"], int)
          and doc["active_ms"] == doc["duration_ms"],
          "a closed session has duration_ms (and active_ms equal to it)", doc)
    st, _, doc = q("/v1/sessions/%s/valid" % s1)
    check(doc["valid"] is False and doc["reason"] == "ended", "an ended session is not valid",
          doc)


# -- receipts -----------------------------------------------------------------


def dev(*args):
    subprocess.run([DEV, *args], check=True, stdout=subprocess.DEVNULL)


def test_receipts_wait_for_the_commit():
    sid = RUN + "_r1"
    st, doc = post("/v1/events", [event(sid, RUN + "_v2")], headers={"Prefer": "respond-async"})
    check(st == 202 and "receipt" not in doc, "an asynchronous answer carries no receipt", doc)
    sid = RUN + "_r2"
    dev("stop", "worker-1", "worker-2")
    try:
        st, doc = post("/v1/events", [event(sid, RUN + "_v2")])
        check(st == 202 and doc.get("receipt"), "a durable 202 carries a receipt", doc)
        receipt = doc["receipt"]
        t0 = time.monotonic()
        st, _, ans = q("/v1/receipts/%s?wait_ms=2000" % receipt)
        check(st == 200 and ans == {"landed": False} and time.monotonic() - t0 >= 1.9,
              "with the workers stopped the receipt has not landed after wait_ms", st, ans)
        st, _, ans = q("/v1/receipts/%s" % receipt, key=ACME)
        check(st == 200 and ans == {"landed": False}, "wait_ms=0 answers at once", st, ans)
        st, _, ans = q("/v1/sessions/" + sid)
        check(st == 404, "nothing of it is in PostgreSQL yet", st, ans)
    finally:
        dev("up")
    check(landed(receipt, wait_ms=LANDED_WAIT_MS), "the receipt lands once the workers commit")
    st, _, doc = q("/v1/sessions/" + sid)
    check(st == 200 and doc["event_count"] >= 1, "read-your-writes: landed means readable", doc)
    st, _, doc = q("/v1/receipts/%s?wait_ms=x" % receipt)
    check(st == 400 and doc["error"]["field"] == "wait_ms", "bad wait_ms is 400", doc)
    st, _, doc = q("/v1/receipts/AAAA")
    check(st == 400 and doc["error"]["field"] == "receipt", "a bad receipt is 400", doc)
    st, _, _ = q("/v1/receipts/" + receipt, key=None)
    check(st == 401, "receipts need credentials", st)


# -- stats and status ---------------------------------------------------------

STATS_SQL = """SELECT coalesce(json_agg(s ORDER BY kind), '[]') FROM mart.session_stats s
 WHERE tenant_id = 'demo' AND kind = :'a0'"""
CONV_SQL = """SELECT json_build_object('drafts', sum(drafts), 'activated', sum(activated),
 'still_draft', sum(still_draft), 'expired', sum(expired)) FROM mart.draft_conversion
 WHERE tenant_id = 'demo'"""


def test_stats_match_the_mart_views():
    # The stack keeps running: retry when a commit slips between the two reads.
    for attempt in range(5):
        st, _, api = q("/v1/stats?kind=" + KIND)
        view = psql_json(STATS_SQL, KIND)
        conv = psql_json(CONV_SQL)
        st2, _, api2 = q("/v1/stats?kind=" + KIND)
        if api == api2:
            break
    check(st == 200 and len(api["kinds"]) == 1, "stats: one row for the kind", st, api)
    row = api["kinds"][0]
    for v in view:
        for k, val in v.items():
            if k == "tenant_id":
                continue
            got = row.get(k)
            same = (got == val) if not isinstance(val, float) else abs(got - val) < 1e-9
            check(same, "stats.%s matches mart.session_stats" % k, got, val)
    check(row["sessions"] == 3 and row["drafts"] == 1 and row["ended"] == 1,
          "stats count this run's sessions", row)
    dc = [d for d in api["draft_conversion"] if d["tenant"] == "demo"]
    check(len(dc) == 1, "stats: the tenant's draft conversion", api["draft_conversion"])
    for k in ("drafts", "activated", "still_draft", "expired"):
        check(dc and dc[0][k] == conv[k], "draft_conversion.%s matches the view" % k,
              dc and dc[0][k], conv[k])
    check(row["sessions_24h"] == 3, "stats: sessions in the last 24 h", row)
    l24 = [x for x in api["last_24h"] if x["tenant"] == "demo"]
    check(l24 and l24[0]["events"] >= 4, "stats: events in the last 24 h", api["last_24h"])
    st, _, acme = q("/v1/stats?kind=" + KIND, key=ACME)
    check(st == 200 and acme["kinds"] == [], "another tenant's stats hold none of it", acme)
    st, _, adm = q("/v1/stats?kind=%s&tenant=demo" % KIND, key=ADMIN)
    check(st == 200 and adm["kinds"] == api["kinds"], "an admin reads a tenant's stats", adm)
    st, _, doc = q("/v1/stats?from=2999-01-01T00:00:00Z&kind=" + KIND)
    check(st == 200 and doc["kinds"] == [], "stats: from= filters", doc)
    st, _, doc = q("/v1/stats?from=yesterday")
    check(st == 400 and doc["error"]["field"] == "from", "stats: bad from is 400", doc)


def test_status():
    st, _, doc = q("/v1/status")
    check(st == 200, "status answers", st, doc)
    layers = {l["layer"] for l in doc["layers"]}
    check({"raw", "staging", "vault", "mart"} <= layers, "status: every layer", layers)
    check(all(l["rows_estimated"] is True for l in doc["layers"]),
          "status: row counts say they are estimates", doc["layers"])
    check(doc["lag"] and all("lag" in p and "partition" in p for p in doc["lag"]),
          "status: lag per topic and partition", doc["lag"])
    check(isinstance(doc["command_runs"], list), "status: the last command runs", doc)
    check(doc["events"] and all(e["tenant"] == "demo" for e in doc["events"]),
          "status: the tenant's last events, its own only", doc["events"])
    before = doc["dlq"]["messages"]
    check(isinstance(before, int), "status: the DLQ count", doc["dlq"])
    # A message no worker can decode goes to the DLQ and is counted once.
    subprocess.run(["kcat", "-P", "-b", os.environ["VIGIL_KAFKA_BROKERS"], "-t", "vigil.events",
                    "-k", "demo/" + RUN], input=b"not json at all", check=True)
    deadline, after = time.monotonic() + 60, before
    while time.monotonic() < deadline and after == before:
        after = q("/v1/status")[2]["dlq"]["messages"]
        time.sleep(0.2)
    check(after == before + 1, "status: a dead letter counts once", before, after)


# -- the cache ----------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Query:
    """A private vigil-query with its own cache settings."""

    def __init__(self, **env):
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        e = dict(os.environ, VIGIL_QUERY_PORT=str(self.port), VIGIL_LOG_LEVEL="warn",
                 VIGIL_QUERY_CACHE_MAX_STALENESS_MS=str(STALENESS_MS))
        e.update({k: str(v) for k, v in env.items()})
        self.log = open("%s/query-%d.log" % (os.environ.get("TMPDIR", "/tmp"), self.port), "w")
        self.proc = subprocess.Popen([BIN + "/vigil-query"], env=e, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if http("GET", self.base + "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("private vigil-query on %d never ready" % self.port)

    def metric(self, name, labels):
        _, _, raw = http("GET", self.base + "/metrics")
        for line in raw.decode().splitlines():
            if line.startswith(name + "{" + labels + "}"):
                return float(line.split()[-1])
        return None

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(30)
        self.log.close()
        return rc


def staleness_round(readers, sid, what):
    """Reads sid through every reader (caching it), changes it, and checks that
    every answer given later than the bound after the commit shows the change."""
    base = [q("/v1/sessions/" + sid, base=r.base)[2]["heartbeat_count"] for r in readers]
    st, hb = post("/v1/sessions/%s/heartbeat" % sid, {})
    check(st == 202 and landed(hb["receipt"]), "%s: the change lands" % what, st, hb)
    committed = time.monotonic()  # the commit happened before this instant
    stale_late, fresh_seen = [], set()
    while time.monotonic() - committed < (STALENESS_MS / 1000) + 1.0:
        for i, r in enumerate(readers):
            t = time.monotonic()
            st, _, doc = q("/v1/sessions/" + sid, base=r.base)
            check(st == 200, "%s: reads keep answering" % what, st, doc)
            if st != 200:
                return
            if doc["heartbeat_count"] > base[i]:
                fresh_seen.add(i)
            elif t - committed > STALENESS_MS / 1000:
                stale_late.append(round((t - committed) * 1000))
        time.sleep(0.02)
    check(not stale_late, "%s: no answer older than %d ms after the commit" % (what, STALENESS_MS),
          stale_late)
    check(len(fresh_seen) == len(readers), "%s: every reader shows the change" % what, fresh_seen)


def redis_up_becomes(r, sid, want, seconds=15):
    """Reads through r until vigil_query_cache_up{cache="redis"} is want."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if r.metric("vigil_query_cache_up", 'cache="redis"') == want:
            return True
        q("/v1/sessions/" + sid, base=r.base)
        time.sleep(0.1)
    return False


def test_cache_staleness_bound():
    sid = RUN + "_c1"
    c = start_session(sid)
    check(landed(c["receipt"]), "the cache test's session lands")

    local = Query(VIGIL_QUERY_CACHE_ENTRIES=1000)
    try:
        for _ in range(3):
            q("/v1/sessions/" + sid, base=local.base)
        hits = local.metric("vigil_query_cache_lookups_total", 'cache="local",result="hit"')
        check(hits and hits >= 1, "in-process: repeated reads hit the cache", hits)
        staleness_round([local], sid, "in-process cache, Redis off")
    finally:
        check(local.stop() == 0, "in-process query exits 0")

    off = Query(VIGIL_QUERY_CACHE_MAX_STALENESS_MS=0)
    try:
        staleness_round([off], sid, "cache off")
    finally:
        off.stop()

    dev("start", "redis")
    a = Query(VIGIL_QUERY_REDIS_URL=REDIS_URL, VIGIL_QUERY_CACHE_ENTRIES=0)
    b = Query(VIGIL_QUERY_REDIS_URL=REDIS_URL, VIGIL_QUERY_CACHE_ENTRIES=1000)
    try:
        q("/v1/sessions/" + sid, base=a.base)
        q("/v1/sessions/" + sid, base=b.base)
        rh = (a.metric("vigil_query_cache_lookups_total", 'cache="redis",result="hit"') or 0) + \
             (b.metric("vigil_query_cache_lookups_total", 'cache="redis",result="hit"') or 0)
        check(rh >= 1, "Redis: a replica reads what the other cached", rh)
        check(a.metric("vigil_query_cache_up", 'cache="redis"') == 1, "Redis: the cache is up")
        staleness_round([a, b], sid, "Redis shared by two replicas")

        dev("stop", "redis")
        for r in (a, b):
            st, _, doc = q("/v1/sessions/" + sid, base=r.base)
            check(st == 200 and doc["session_id"] == sid,
                  "Redis killed: answers keep coming from PostgreSQL", st, doc)
        check(redis_up_becomes(a, sid, 0),
              "Redis killed: vigil_query_cache_up{cache=\"redis\"} says 0")
        staleness_round([a, b], sid, "Redis down")
        dev("start", "redis")
        check(redis_up_becomes(a, sid, 1), "Redis back: the cache is up again")
    finally:
        check(a.stop() == 0 and b.stop() == 0, "the Redis replicas exit 0")
        subprocess.run([DEV, "stop", "redis"], stdout=subprocess.DEVNULL)


def test_cache_drops_only_the_changed_session():
    """A change to one session leaves the others cached past the bound
    (022_notify_session_ids.sql names the sessions written)."""
    kept, changed = RUN + "_k1", RUN + "_k2"
    for sid in (kept, changed):
        check(landed(start_session(sid)["receipt"]), "invalidation: the session lands")
    local = Query(VIGIL_QUERY_CACHE_ENTRIES=1000)
    hits = lambda: local.metric("vigil_query_cache_lookups_total",
                                'cache="local",result="hit"') or 0
    try:
        # Other writes on the stack may send "any session" (a statement of
        # more than 256 rows): such a round is tried again, three times at most.
        for attempt in range(3):
            q("/v1/sessions/" + kept, base=local.base)
            read_at = time.monotonic()
            before = q("/v1/sessions/" + changed, base=local.base)[2]["heartbeat_count"]
            st, hb = post("/v1/sessions/%s/heartbeat" % changed, {})
            check(st == 202 and landed(hb["receipt"]), "invalidation: the change lands", st, hb)
            while time.monotonic() - read_at < STALENESS_MS / 1000 + 0.2:
                time.sleep(0.05)  # past the bound: only a vouched-for entry serves
            h0 = hits()
            st, _, doc = q("/v1/sessions/" + kept, base=local.base)
            kept_hit = st == 200 and hits() == h0 + 1
            st, _, doc = q("/v1/sessions/" + changed, base=local.base)
            check(st == 200 and doc["heartbeat_count"] > before,
                  "invalidation: the changed session is read again", st, doc, before)
            if kept_hit:
                break
        check(kept_hit, "invalidation: an unchanged session stays cached past the bound")
    finally:
        check(local.stop() == 0, "invalidation: vigil-query exits 0")


# -- reload -------------------------------------------------------------------


def write_reload_config(path, tenant_key, admin_key, threads):
    """A private file: one tenant "demo" and one admin key; a rename makes a
    reload never read half a file."""
    sha = lambda k: hashlib.sha256(k.encode()).hexdigest()
    text = """producer = { tenants = ( { id = "demo"; keys_sha256 = [ "%s" ]; } ); };
query = { threads = %d; admin_keys_sha256 = [ "%s" ]; };
""" % (sha(tenant_key), threads, sha(admin_key))
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def log_has(r, text):
    with open(r.log.name) as f:
        return text in f.read()


def wait_for(cond, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_sighup_reloads_keys():
    sid = RUN + "_r1"
    c = start_session(sid)
    check(landed(c["receipt"]), "the reload test's session lands")
    conf = "%s/query-reload-%s.conf" % (os.environ.get("TMPDIR", "/tmp"), RUN)
    old, new, admin_old, admin_new = RUN + "-old", RUN + "-new", RUN + "-adm1", RUN + "-adm2"
    write_reload_config(conf, old, admin_old, 2)
    r = Query(VIGIL_CONFIG=conf, VIGIL_LOG_LEVEL="info")
    path = "/v1/sessions/" + sid
    try:
        st, hd, _ = q(path, key=old, base=r.base)
        check(st == 200, "reload: the file's key reads its session", st)
        check(q(path, key=new, base=r.base)[0] == 401, "reload: a key not yet in the file is 401")
        check(q(path + "?tenant=demo", key=admin_old, base=r.base)[0] == 200,
              "reload: the file's admin key reads")
        # A long-poll begun before the reload finishes on the keys it began with.
        polled = {}
        poll = threading.Thread(target=lambda: polled.update(st=q(
            path + "?wait_ms=1500", key=old, base=r.base,
            headers={"If-None-Match": hd.get("ETag", "")})[0]))
        poll.start()

        write_reload_config(conf, new, admin_new, 3)
        r.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: q(path, key=new, base=r.base)[0] == 200),
              "reload: the key added to the file reads after SIGHUP", r.log.name)
        check(q(path, key=old, base=r.base)[0] == 401, "reload: the key removed is refused")
        check(q(path + "?tenant=demo", key=admin_new, base=r.base)[0] == 200
              and q(path + "?tenant=demo", key=admin_old, base=r.base)[0] == 401,
              "reload: the admin keys follow the file")
        check(wait_for(lambda: log_has(r, "query.threads changed in the file")),
              "reload: a setting read at start only is logged as needing a restart", r.log.name)
        poll.join(30)
        check(polled.get("st") == 304, "reload: a long-poll in flight finishes", polled)

        with open(conf, "w") as f:
            f.write("query = { threads = \"x\"; };\n")
        r.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: log_has(r, "configuration not reloaded")),
              "reload: a broken file is logged", r.log.name)
        check(q(path, key=new, base=r.base)[0] == 200, "reload: a broken file keeps the keys")
    finally:
        check(r.stop() == 0, "reload: vigil-query exits 0 after its reloads")
        os.unlink(conf)


def main():
    only = sys.argv[1:]
    tests = [("routes", lambda: test_long_poll_and_end(test_session_routes_and_auth())),
             ("stats", test_stats_match_the_mart_views), ("status", test_status),
             ("receipts", test_receipts_wait_for_the_commit),
             ("cache", test_cache_staleness_bound),
             ("invalidation", test_cache_drops_only_the_changed_session),
             ("reload", test_sighup_reloads_keys)]
    for name, fn in tests:
        if only and name not in only:
            continue
        print("--", name, flush=True)
        try:
            fn()
        except Exception as e:  # a crash is a failure of that test, not of the run
            import traceback
            traceback.print_exc()
            failures.append("%s raised %r" % (name, e))
    print("%d checks passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
