'use strict';
/*
 * sdk/vigil.js and the tracking page in a real browser (issue 15): Debian's
 * chromium, headless, against the test stack of ./dev test. Each test makes
 * its own session (tenant demo) and reads what landed in PostgreSQL.
 */
const {test, before, after} = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const LAND_MS = 30000; /* the workers land an accepted message within this */

let browser;
let site;
let db;

before(async () => {
    browser = await h.launch();
    site = await h.staticServer();
    db = await h.db();
});

after(async () => {
    if (browser) await browser.close();
    if (site) site.close();
    if (db) await db.end();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Opens a test page of tests/browser/pages with params; waits for vigil.js. */
async function openPage(file, params, setup) {
    const page = await browser.newPage();
    if (setup) await setup(page);
    await page.goto(`${site.url}/${file}?${new URLSearchParams(params)}`);
    await h.waitFor(() => page.evaluate(() => window.vigilReady === true), 15000,
        () => `${file} did not start vigil.js`);
    return page;
}

async function awaitLanded(session, type, n) {
    return h.waitFor(async () => {
        const got = await h.landed(db, session, type);
        return got.n >= n && got;
    }, LAND_MS, () => `${n} ${type} of ${session} did not land`);
}

/* Tracks a barrier event and waits until it landed: the session's events
 * before it (same Kafka key, same partition) have landed too. */
async function barrier(page, vigil, session) {
    await page.evaluate((v) => window[v].track('browser.barrier'), vigil);
    await page.evaluate((v) => window[v].flush(), vigil);
    await awaitLanded(session, 'browser.barrier', 1);
}

/* A heartbeat or an end the page sends, seen on the wire. */
function watchSignals(page) {
    const seen = {beats: [], ok: 0};
    page.on('request', (r) => {
        if (r.method() === 'POST' && /\/heartbeat(\?|$)/.test(r.url())) seen.beats.push(Date.now());
    });
    page.on('response', (r) => {
        if (/\/heartbeat(\?|$)/.test(r.url()) && r.status() === 202) seen.ok++;
    });
    return seen;
}

/* The bodies of the POSTs to /v1/events the page sends by fetch (not beacons). */
function watchBatches(page) {
    const batches = [];
    page.on('request', (r) => {
        if (r.method() === 'POST' && r.resourceType() === 'fetch' &&
            new URL(r.url()).pathname === '/v1/events') batches.push(JSON.parse(r.postData()));
    });
    return batches;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

test('events a page tracks arrive in one batch with its sent_at and land once, each with its ' +
    'event_id', async () => {
    const s = await h.newSession('events');
    let batches;
    const page = await openPage('sdk.html', {endpoint: h.producer(), token: s.token, flush: 0.2},
        (p) => { batches = watchBatches(p); });
    const from = Date.now();
    await page.evaluate(() => {
        for (let i = 0; i < 5; i++) window.Vigil.track('browser.click', {i});
    });
    await awaitLanded(s.session_id, 'browser.click', 5);
    await barrier(page, 'Vigil', s.session_id);
    assert.deepEqual(await h.landed(db, s.session_id, 'browser.click'), {n: 5, d: 5});

    /* the five went together, as {"sent_at", "events"}, each with an event_id of its own,
     * and what landed is those ids: the producer made none up */
    const clicks = batches.filter((b) => b.events.some((e) => e.type === 'browser.click'));
    assert.equal(clicks.length, 1, `the 5 events went in ${clicks.length} requests`);
    const sentAt = Date.parse(clicks[0].sent_at);
    assert.ok(sentAt >= from - 1000 && sentAt <= Date.now(), `sent_at ${clicks[0].sent_at}`);
    const ids = clicks[0].events.map((e) => e.event_id);
    assert.equal(ids.length, 5);
    assert.ok(ids.every((id) => UUID.test(id)), `event ids ${ids}`);
    assert.deepEqual(await h.landedIds(db, s.session_id, 'browser.click'), [...ids].sort());
    assert.ok(batches.every((b) => typeof b.sent_at === 'string'), 'a batch without sent_at');

    const st = await page.evaluate(() => window.Vigil.stats());
    assert.equal(st.dropped, 0);
    assert.equal(st.rejected, 0);
    assert.equal(st.sessionId, s.session_id);
    await page.close();
});

test('a page without a backend: the ES module starts a session with a publishable key', async () => {
    const page = await openPage('module.html', {endpoint: h.producer()});
    const sid = await h.waitFor(() => page.evaluate(() => window.vigil.stats().sessionId), 15000,
        () => 'the publishable key started no session');
    await page.evaluate(() => window.vigil.track('browser.module', {ok: true}));
    await awaitLanded(sid, 'session.start', 1);
    await awaitLanded(sid, 'browser.module', 1);
    await page.close();
});

test('the demo page that ./dev up prints runs vigil.js and its heartbeats land', async () => {
    const page = await browser.newPage();
    await page.goto(`${h.producer()}/sdk/demo.html?hb=1`);
    const sid = await h.waitFor(() => page.evaluate(() => window.Vigil.stats().sessionId), 15000,
        () => 'the demo page started no session');
    await awaitLanded(sid, 'session.heartbeat', 2);
    await page.click('#track');
    await awaitLanded(sid, 'demo.click', 1);
    await page.close();
});

test('heartbeats while visible, none while hidden, one at once when visible again', async () => {
    const s = await h.newSession('visibility');
    let seen;
    const page = await openPage('sdk.html', {endpoint: h.producer(), token: s.token, hb: 2},
        (p) => { seen = watchSignals(p); });
    await h.waitFor(() => seen.beats.length >= 2, 10000, () => 'fewer than 2 heartbeats');

    await h.setVisible(page, false);
    const hiddenAt = Date.now();
    await sleep(5000); /* two and a half heartbeat intervals hidden */
    const during = seen.beats.filter((t) => t > hiddenAt + 300);
    assert.equal(during.length, 0, `${during.length} heartbeats while hidden`);

    const before = seen.beats.length;
    await h.setVisible(page, true);
    const shownAt = Date.now();
    await h.waitFor(() => seen.beats.length > before, 5000, () => 'no heartbeat once visible');
    assert.ok(seen.beats[before] - shownAt < 1000,
        `the first heartbeat came ${seen.beats[before] - shownAt} ms after becoming visible`);

    /* every heartbeat the producer accepted landed */
    await h.waitFor(() => seen.ok >= seen.beats.length, 5000, () => 'heartbeats unanswered');
    await page.evaluate(() => window.Vigil.end('test'));
    const ok = seen.ok;
    await h.waitFor(async () => (await h.martSession(db, s.session_id))?.status === 'ended',
        LAND_MS, () => 'the session did not end');
    assert.equal((await h.landed(db, s.session_id, 'session.heartbeat')).n, ok);
    await page.close();
});

/* Sets the page's clock skew ms off (Date and Date.now), before its scripts run. */
function skewClock(page, skew) {
    return page.evaluateOnNewDocument((ms) => {
        const Real = Date;
        window.Date = class extends Real {
            constructor(...a) {
                if (a.length) super(...a);
                else super(Real.now() + ms);
            }

            static now() {
                return Real.now() + ms;
            }
        };
    }, skew);
}

test('closing the page sends what is queued and the end by beacon; the duration is the time ' +
    'it was open, whatever the browser\'s clock says', async () => {
    const createdFrom = Date.now();
    const s = await h.newSession('close');
    const createdBy = Date.now();
    /* a flush interval longer than the test, and a clock ten minutes slow: the events can
     * only go by the pagehide beacon, and only the producer's clock can time the end */
    let seen;
    let batches;
    const page = await openPage('sdk.html',
        {endpoint: h.producer(), token: s.token, hb: 1, flush: 600}, async (p) => {
            seen = watchSignals(p);
            batches = watchBatches(p);
            await skewClock(p, -600000);
        });
    await sleep(3000); /* the page stays open three seconds */
    /* queue the events just after a heartbeat was answered, so that no request is in
     * flight to take them along before the page closes */
    const ok = seen.ok;
    await h.waitFor(() => seen.ok > ok, 5000, () => 'no heartbeat answered');
    await h.waitFor(() => page.evaluate(() => {
        if (window.Vigil.stats().queued) return false;
        for (let i = 0; i < 3; i++) window.Vigil.track('browser.unload', {i});
        return window.Vigil.stats().queued === 3;
    }), 1000, () => 'the page kept a request in flight');
    const closeFrom = Date.now();
    await page.close();
    const closeBy = Date.now();
    const m = await h.waitFor(async () => {
        const row = await h.martSession(db, s.session_id);
        return row && row.status === 'ended' && row;
    }, LAND_MS, () => 'mart.sessions does not show the session ended');
    assert.equal(m.end_reason, 'pagehide'); /* only the beacon of pagehide says so */
    /* started when created, ended while closing (one clock: 250 ms of slack for rounding) */
    const d = Number(m.duration_ms);
    assert.ok(d >= closeFrom - createdBy - 250 && d <= closeBy - createdFrom + 250,
        `duration ${d} ms, the page was open ${closeFrom - createdBy} to ` +
        `${closeBy - createdFrom} ms`);
    assert.ok(m.heartbeats >= 2, `${m.heartbeats} heartbeats`);
    assert.deepEqual(await awaitLanded(s.session_id, 'browser.unload', 3), {n: 3, d: 3});
    assert.equal(batches.length, 0, 'the events went by fetch, not by the pagehide beacon');
});

test('a producer answering 503, or unreachable, for a while loses nothing: retries land once',
    async () => {
    let failing = true;
    /* dropped connections (network errors), then 503 with Retry-After: 1; four drops,
     * as chromium itself tries a POST again once when a kept-alive connection drops */
    const proxy = await h.flakyProxy(() => failing, {status: (n) => (n < 4 ? 0 : 503)});
    try {
        const s = await h.newSession('retry');
        const page = await openPage('sdk.html', {endpoint: proxy.url, token: s.token, flush: 0.2});
        await page.evaluate(() => {
            for (let i = 0; i < 5; i++) window.Vigil.track('browser.retry', {i});
        });
        await h.waitFor(async () => proxy.stats.tries.some((t) => t.status === 503) &&
            (await page.evaluate(() => window.Vigil.stats().retries)) >= 3, 15000,
        () => `the page retried < 3 times: ${JSON.stringify(proxy.stats.tries)}`);
        await page.evaluate(() => {
            for (let i = 5; i < 10; i++) window.Vigil.track('browser.retry', {i});
        });
        failing = false;
        await awaitLanded(s.session_id, 'browser.retry', 10);
        await barrier(page, 'Vigil', s.session_id);
        assert.deepEqual(await h.landed(db, s.session_id, 'browser.retry'), {n: 10, d: 10});
        const st = await page.evaluate(() => window.Vigil.stats());
        assert.ok(st.retries >= 3, `${st.retries} retries`);
        assert.equal(st.dropped, 0);
        await page.close();
    } finally {
        proxy.close();
    }
});

test('429 and 503 are retried after their Retry-After, never two requests at once',
    async () => {
    let failing = true;
    /* refusals alternate 429 and 503 with Retry-After: 2; backoff alone would retry
     * within half a second, then a second */
    const proxy = await h.flakyProxy(() => failing,
        {status: (n) => (n % 2 ? 503 : 429), retryAfter: 2, delayMs: 300});
    try {
        const s = await h.newSession('retry_after');
        const page = await openPage('sdk.html',
            {endpoint: proxy.url, token: s.token, hb: 1, flush: 0.2});
        await page.evaluate(() => {
            for (let i = 0; i < 5; i++) window.Vigil.track('browser.later', {i});
            window.Vigil.flush();
        });
        await h.waitFor(() => proxy.stats.failed >= 3, 20000, () => 'the proxy refused < 3 times');
        failing = false;
        await awaitLanded(s.session_id, 'browser.later', 5);
        await barrier(page, 'Vigil', s.session_id);
        assert.deepEqual(await h.landed(db, s.session_id, 'browser.later'), {n: 5, d: 5});
        const tries = proxy.stats.tries;
        const refused = tries.filter((t) => t.status === 429 || t.status === 503);
        assert.ok(refused.some((t) => t.status === 429) && refused.some((t) => t.status === 503),
            `the proxy did not answer both 429 and 503: ${JSON.stringify(tries)}`);
        for (let i = 0; i + 1 < tries.length; i++) {
            if (tries[i].status !== 429 && tries[i].status !== 503) continue;
            const gap = tries[i + 1].at - tries[i].at;
            assert.ok(gap >= 1900, `try ${i + 1} came ${gap} ms after a ${tries[i].status} ` +
                'with Retry-After: 2');
        }
        /* heartbeats every second and events queued behind them: still one at a time */
        assert.equal(proxy.stats.maxOpen, 1, `${proxy.stats.maxOpen} requests at once`);
        const st = await page.evaluate(() => window.Vigil.stats());
        assert.ok(st.retries >= 3, `${st.retries} retries`);
        assert.equal(st.dropped, 0);
        await page.close();
    } finally {
        proxy.close();
    }
});

test('a request never answered is aborted after timeoutSeconds and retried: lands once, ' +
    'never two requests at once', async () => {
    /* the proxy holds the first two POSTs of events open and never answers them (the first
     * after the producer took it: it landed, the page cannot know); then it passes */
    let proxy = null;
    proxy = await h.flakyProxy(() => proxy.stats.failed < 2, {status: () => -1});
    try {
        const s = await h.newSession('timeout');
        let batches;
        const page = await openPage('sdk.html',
            {endpoint: proxy.url, token: s.token, hb: 1, flush: 0.2, timeout: 1},
            (p) => { batches = watchBatches(p); });
        await page.evaluate(() => {
            for (let i = 0; i < 5; i++) window.Vigil.track('browser.held', {i});
            window.Vigil.flush();
        });
        /* without a deadline the page would wait on the first for minutes */
        await h.waitFor(() => proxy.stats.tries.length >= 3, 15000,
            () => `the page did not give up on a held request: ${JSON.stringify(proxy.stats.tries)}`);
        await awaitLanded(s.session_id, 'browser.held', 5);
        await barrier(page, 'Vigil', s.session_id);
        assert.deepEqual(await h.landed(db, s.session_id, 'browser.held'), {n: 5, d: 5});

        /* each try waited its deadline (1 s) before the next, no more than backoff after it */
        const tries = proxy.stats.tries;
        assert.deepEqual(tries.slice(0, 2).map((t) => t.status), [-1, -1]);
        for (let i = 0; i < 2; i++) {
            const gap = tries[i + 1].at - tries[i].at;
            assert.ok(gap >= 950 && gap < 6000, `try ${i + 1} came ${gap} ms after a held one`);
        }
        /* every try carried the same events under the same event_ids, and those landed */
        const held = batches.filter((b) => b.events.some((e) => e.type === 'browser.held'));
        assert.ok(held.length >= 3, `${held.length} tries of the held events`);
        const ids = held.map((b) => b.events.map((e) => e.event_id).sort());
        for (const got of ids) assert.deepEqual(got, ids[0]);
        assert.deepEqual(await h.landedIds(db, s.session_id, 'browser.held'), ids[0]);
        /* an abandoned request still open beside its retry would count two */
        assert.equal(proxy.stats.maxOpen, 1, `${proxy.stats.maxOpen} requests at once`);
        const st = await page.evaluate(() => window.Vigil.stats());
        assert.ok(st.retries >= 2, `${st.retries} retries`);
        assert.equal(st.dropped, 0);
        await page.close();
    } finally {
        proxy.close();
    }
});

test('a browser without AbortController still sends: its requests only go without a deadline',
    async () => {
    const s = await h.newSession('no_abort');
    const page = await openPage('sdk.html',
        {endpoint: h.producer(), token: s.token, flush: 0.2, timeout: 1},
        (p) => p.evaluateOnNewDocument(() => { delete window.AbortController; }));
    assert.equal(await page.evaluate(() => typeof window.AbortController), 'undefined');
    await page.evaluate(() => {
        for (let i = 0; i < 3; i++) window.Vigil.track('browser.no_abort', {i});
    });
    assert.deepEqual(await awaitLanded(s.session_id, 'browser.no_abort', 3), {n: 3, d: 3});
    assert.equal((await page.evaluate(() => window.Vigil.stats())).rejected, 0);
    await page.close();
});

test('the queue is bounded: past maxQueue the oldest are dropped, and counted', async () => {
    const s = await h.newSession('bounded');
    /* nothing listens on port 9: every request fails, everything stays queued */
    const page = await openPage('sdk.html',
        {endpoint: h.producer(), api: 'http://127.0.0.1:9', token: s.token, max: 5});
    await page.evaluate(() => {
        for (let i = 0; i < 12; i++) window.Vigil.track('browser.bounded', {i});
    });
    const st = await page.evaluate(() => window.Vigil.stats());
    assert.ok(st.dropped >= 7, `${st.dropped} dropped`);
    assert.ok(st.queued <= 6, `${st.queued} queued`);
    await h.waitFor(() => page.evaluate(() => window.Vigil.stats().retries >= 1), 10000,
        () => 'no retry after a network error');
    await page.close();
});

test('the tracking page activates the session, heartbeats, opens the destination and ends ' +
    'when its tab closes', async () => {
    const s = await h.newSession('link', 'draft');
    const to = 'https://example.com/lesson?id=7';
    const targets = [];
    const onTarget = (t) => targets.push(t);
    browser.on('targetcreated', onTarget);
    const page = await browser.newPage();
    const seen = watchSignals(page);
    await page.goto(`${h.producer()}/t/${s.link_token}?` +
        new URLSearchParams({to, page: '1', heartbeat_s: '1'}));
    assert.equal(await page.$eval('#vigil-open', (a) => a.href), to);
    await awaitLanded(s.session_id, 'session.activate', 1);
    await h.waitFor(() => seen.ok >= 2, 10000, () => 'the page sent fewer than 2 heartbeats');
    await awaitLanded(s.session_id, 'session.heartbeat', 2);
    await h.waitFor(() => targets.some((t) => t.url().startsWith('https://example.com/lesson')),
        10000, () => `the page did not try to open ${to}`);
    browser.off('targetcreated', onTarget);
    await page.close();
    const m = await h.waitFor(async () => {
        const row = await h.martSession(db, s.session_id);
        return row && row.status === 'ended' && row;
    }, LAND_MS, () => 'the tracking page\'s session did not end');
    assert.equal(m.end_reason, 'pagehide');
    assert.ok(m.heartbeats >= 2, `${m.heartbeats} heartbeats`);
});
