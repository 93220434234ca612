/*
 * vigil.js - Vigil's browser script: session heartbeats and events from a tab.
 * One file, no dependencies, no build step (ES2017). See sdk/README.md.
 *
 *   <script src="https://vigil.example/sdk/vigil.js"></script>        (window.Vigil)
 *   import Vigil from "https://vigil.example/sdk/vigil.mjs";           (ES module)
 *
 *   Vigil.init({endpoint: "https://vigil.example", token: "<from your backend>"});
 *   Vigil.init({endpoint: "https://vigil.example", publishableKey: "<pk>", session: {kind: "lesson"}});
 *   Vigil.track("lesson.step", {step: 3});
 *   Vigil.end("finished");    // sent by itself when the page goes away
 *
 * init() options: endpoint (the producer), one of token (a session token from
 * POST /v1/sessions), publishableKey (the script starts its own session with
 * the body `session`) or linkToken (the tracking page); heartbeatSeconds (30),
 * flushSeconds (2), batchSize (100), maxQueue (1000), timeoutSeconds (10: a
 * request unanswered by then is aborted and retried), endOnPagehide (true),
 * heartbeatWhenHidden (false; the tracking page sets it, as the person is in
 * the tab it opened), visitorId and userId (copied into every event),
 * onError(status, item kind).
 *
 * What is sent when:
 *  - a heartbeat at init and when the page becomes visible, then every
 *    heartbeatSeconds while it stays visible; none while it is hidden;
 *  - events in batches ({"sent_at", "events"}), every flushSeconds, when
 *    batchSize are waiting, or once the request before them is answered;
 *    each event has its own event_id, so a retry never lands twice;
 *  - on pagehide, what is still queued and the end, by navigator.sendBeacon
 *    (the token in the query string, since a beacon has no headers); the end
 *    carries no "at", so it is timed by the producer's clock, not the browser's.
 * One request at a time, aborted after timeoutSeconds without an answer (where
 * the browser has AbortController; elsewhere it is waited for, as it cannot be
 * stopped). Network errors, aborts, 429 and 503 are retried with
 * exponential backoff, or after Retry-After when the producer says; other
 * refusals drop what they refused (onError tells). The queue holds at most
 * maxQueue items: past that the oldest is dropped, and counted (stats()).
 *
 * Privacy: nothing is stored in the browser (no cookies, no localStorage);
 * an event carries the page's URL, and the ids and properties you give.
 */
var Vigil = (function () {
    'use strict';
    var w = typeof window !== 'undefined' ? window : null;
    var d = w && w.document;
    var BEACON_MAX = 60000; /* bytes: browsers refuse beacons past 64 KiB */
    var cfg = null;
    var sid = null; /* the session's id, read from the token */
    var tok = null;
    var queue = []; /* {k: "ev"|"hb"|"end", e|b} */
    var inflight = [];
    var needStart = false;
    var ended = false;
    var waitUntil = 0;
    var attempt = 0;
    var hbTimer = null;
    var flushTimer = null;
    var deadline = null; /* aborts the request in flight after timeoutSeconds */
    var counts = {sent: 0, dropped: 0, retries: 0, rejected: 0};

    function now() {
        return new Date().toISOString();
    }

    /* A random UUID (v4); crypto.randomUUID needs a secure context. */
    function uuid() {
        if (w.crypto.randomUUID) return w.crypto.randomUUID();
        var b = w.crypto.getRandomValues(new Uint8Array(16));
        b[6] = (b[6] & 15) | 64;
        b[8] = (b[8] & 63) | 128;
        var h = Array.from(b, function (x) { return (x + 256).toString(16).slice(1); }).join('');
        return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' +
            h.slice(16, 20) + '-' + h.slice(20);
    }

    /* A token is base64url("1|tenant|session|expiry") "." mac: the session is in it. */
    function useToken(t) {
        var p = t.split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
        tok = t;
        sid = atob(p + '==='.slice((p.length + 3) % 4)).split('|')[2];
    }

    /* The queue is bounded: past maxQueue the oldest item goes, counted. */
    function trim() {
        while (queue.length > cfg.maxQueue) {
            queue.shift();
            counts.dropped++;
        }
    }

    function push(item) {
        queue.push(item);
        trim();
    }

    function path(kind) {
        if (kind === 'ev') return '/v1/events';
        var what = kind === 'hb' ? '/heartbeat' : '/end';
        return cfg.linkToken ? '/t/' + cfg.linkToken + what :
            '/v1/sessions/' + encodeURIComponent(sid) + what;
    }

    /* The body of the items at the head of the queue, and how many it takes. */
    function next(items) {
        if (items[0].k !== 'ev') return {n: 1, body: items[0].b};
        var evs = [];
        for (var i = 0; i < items.length && i < cfg.batchSize && items[i].k === 'ev'; i++) {
            evs.push(Object.assign({session_id: sid}, items[i].e));
        }
        return {n: evs.length, body: {sent_at: now(), events: evs}};
    }

    function retryLater(retryAfter) {
        var s = parseFloat(retryAfter);
        var ms = s >= 0 ? Math.min(s, 600) * 1000 :
            Math.min(30000, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
        attempt++;
        counts.retries++;
        waitUntil = Date.now() + ms;
        setTimeout(pump, ms + 1);
    }

    function send(p, body, auth) {
        var h = {'Content-Type': 'application/json', 'X-Sent-At': now()};
        if (auth) h.Authorization = auth;
        else if (tok) h.Authorization = 'Session ' + tok;
        /* Unanswered, a request would hold the queue until the browser gives up
         * (minutes): abort it, a network error to settle(). One that cannot be
         * aborted is waited for: a retry beside it would make two at once. */
        var ac = w.AbortController ? new w.AbortController() : null;
        if (ac) deadline = setTimeout(function () { ac.abort(); }, cfg.timeoutSeconds * 1000);
        return w.fetch(cfg.endpoint + p, {
            method: 'POST', headers: h, body: JSON.stringify(body), credentials: 'omit',
            signal: ac && ac.signal
        });
    }

    /* Sends the head of the queue, if nothing is in flight and no backoff runs. */
    function pump() {
        if (!cfg || inflight.length || Date.now() < waitUntil) return;
        if (needStart) {
            inflight = [{k: 'start'}];
            send('/v1/sessions', cfg.session || {}, 'Bearer ' + cfg.publishableKey)
                .then(function (res) {
                    return res.ok ? res.json().then(function (j) { useToken(j.token); return res; })
                        : res;
                })
                .then(function (res) { settle(res, 1); }, function () { settle(null, 1); });
            return;
        }
        if (!queue.length || (!sid && !cfg.linkToken)) return;
        var b = next(queue);
        inflight = queue.splice(0, b.n);
        send(path(inflight[0].k), b.body)
            .then(function (res) { settle(res, b.n); }, function () { settle(null, b.n); });
    }

    /* The answer to the request in flight (null: a network error). */
    function settle(res, n) {
        var kind = inflight[0].k;
        clearTimeout(deadline);
        if (!res || res.status === 429 || res.status === 503) {
            if (kind !== 'start') queue = inflight.concat(queue);
            inflight = [];
            trim();
            retryLater(res && res.headers.get('Retry-After'));
            return;
        }
        inflight = [];
        attempt = 0;
        if (kind === 'start') needStart = false;
        if (res.ok === false) {
            counts.rejected += n;
            if (cfg.onError) cfg.onError(res.status, kind);
        } else if (kind !== 'start') {
            counts.sent += n;
        }
        pump();
    }

    function heartbeat() {
        if (ended || queue.some(function (i) { return i.k === 'hb'; })) return;
        push({k: 'hb', b: {at: now()}});
        pump();
    }

    function visibility() {
        clearInterval(hbTimer);
        hbTimer = null;
        if (ended || (d.visibilityState !== 'visible' && !cfg.heartbeatWhenHidden)) return;
        heartbeat();
        hbTimer = setInterval(heartbeat, cfg.heartbeatSeconds * 1000);
    }

    /* The page goes away: what is queued, and the end, by beacon. */
    function pagehide() {
        var items = inflight.concat(queue);
        var evs = items.filter(function (i) { return i.k === 'ev'; });
        var endItem = items.filter(function (i) { return i.k === 'end'; })[0];
        var q = cfg.linkToken ? '' : '?token=' + encodeURIComponent(tok);
        if (!sid && !cfg.linkToken) return;
        queue = [];
        while (evs.length) {
            var b = next(evs);
            var body = JSON.stringify(b.body);
            if (body.length > BEACON_MAX && b.n > 1) {
                cfg.batchSize = Math.max(1, b.n >> 1);
                continue;
            }
            evs.splice(0, b.n);
            beacon('/v1/events' + q, body);
        }
        if (!endItem && cfg.endOnPagehide && !ended) endItem = {b: {reason: 'pagehide'}};
        if (endItem) {
            /* No "at": a beacon cannot carry X-Sent-At to correct the browser's
             * clock by, and it leaves now, so the producer's receipt time is the end's. */
            ended = true;
            beacon(path('end') + q, JSON.stringify({reason: endItem.b.reason}));
        }
    }

    function beacon(p, body) {
        w.navigator.sendBeacon(cfg.endpoint + p, new Blob([body], {type: 'text/plain'}));
    }

    /* Starts the script; call it once. See the options at the top of this file. */
    function init(o) {
        if (cfg) return;
        cfg = Object.assign({heartbeatSeconds: 30, flushSeconds: 2, batchSize: 100,
            maxQueue: 1000, timeoutSeconds: 10, endOnPagehide: true}, o);
        cfg.endpoint = String(cfg.endpoint || w.location.origin).replace(/\/+$/, '');
        if (cfg.token) useToken(cfg.token);
        else needStart = !cfg.linkToken;
        flushTimer = setInterval(pump, cfg.flushSeconds * 1000);
        d.addEventListener('visibilitychange', visibility);
        w.addEventListener('pagehide', pagehide);
        visibility();
        pump();
    }

    /* Queues an event of type (`[a-z0-9_.:-]{1,64}`) with its properties. */
    function track(type, properties) {
        if (!cfg || cfg.linkToken) return;
        var e = {type: type, event_id: uuid(), occurred_at: now()};
        if (properties) e.properties = properties;
        if (w.location.href.length <= 2048) e.url = w.location.href;
        if (cfg.visitorId) e.visitor_id = cfg.visitorId;
        if (cfg.userId) e.user_id = cfg.userId;
        push({k: 'ev', e: e});
        if (queue.length >= cfg.batchSize) pump();
    }

    /* Ends the session (once): no heartbeats after it. */
    function end(reason) {
        if (!cfg || ended) return;
        ended = true;
        visibility();
        push({k: 'end', b: {at: now(), reason: reason || 'end'}});
        pump();
    }

    /* Sends what is queued now rather than at the next flush. */
    function flush() {
        pump();
    }

    /* Counters (sent, dropped, retries, rejected), the queue's length, the session. */
    function stats() {
        return Object.assign({queued: queue.length + inflight.length, sessionId: sid}, counts);
    }

    /* The tracking page runs this file with its link token: start, and open the destination. */
    var me = d && d.currentScript;
    if (me && me.dataset.linkToken) {
        init({linkToken: me.dataset.linkToken, heartbeatSeconds: +me.dataset.heartbeatSeconds,
            heartbeatWhenHidden: true});
        w.open(me.dataset.to, '_blank', 'noopener');
    }

    return {init: init, track: track, end: end, flush: flush, stats: stats};
})();
if (typeof window !== 'undefined') window.Vigil = Vigil;
