'use strict';
/*
 * harness.js - what the browser tests share: Debian's chromium driven by
 * puppeteer-core, a static server for the test pages (a customer's site on
 * its own origin), a proxy that can answer 503 for a while, the producer's
 * API and PostgreSQL. The stack's address comes from ./dev test
 * (VIGIL_HTTP, VIGIL_DATABASE_URL); packages from .local/browser (NODE_PATH).
 */
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const puppeteer = require('puppeteer-core');
const {Client} = require('pg');

const CHROMIUM = process.env.VIGIL_CHROMIUM || '/usr/bin/chromium';
const PAGES = path.join(__dirname, 'pages');

function env(name) {
    const v = process.env[name];
    if (!v) throw new Error(`${name} is not set: run the browser tests through ./dev test`);
    return v;
}

const producer = () => env('VIGIL_HTTP').replace(/\/+$/, '');

/* Polls fn (async) every 100 ms until it returns a truthy value; throws
 * with what() after timeoutMs. */
async function waitFor(fn, timeoutMs, what) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        last = await fn();
        if (last) return last;
        if (Date.now() > deadline) throw new Error(`${what()} (after ${timeoutMs} ms)`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

/*
 * Headless chromium, the one way the tests start it; --no-sandbox because
 * the tests may run as root. args: more flags; viewport: the pages' size
 * (puppeteer's own, 800x600, without it).
 */
async function launch({args = [], viewport} = {}) {
    return puppeteer.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox', '--disable-dev-shm-usage', ...args],
        ...(viewport ? {defaultViewport: viewport} : {}),
    });
}

/* Hides (minimizes) or shows the window of page: the Page Visibility API
 * then says hidden or visible, as for a person switching away. */
async function setVisible(page, visible) {
    const s = await page.createCDPSession();
    const {windowId} = await s.send('Browser.getWindowForTarget');
    await s.send('Browser.setWindowBounds',
        {windowId, bounds: {windowState: visible ? 'normal' : 'minimized'}});
    const want = visible ? 'visible' : 'hidden';
    await waitFor(async () => (await page.evaluate(() => document.visibilityState)) === want,
        5000, () => `the page did not become ${want}`);
    await s.detach();
}

/* Serves tests/browser/pages on 127.0.0.1 (an origin the demo tenant allows). */
async function staticServer() {
    const server = http.createServer((req, res) => {
        const name = path.basename(new URL(req.url, 'http://x').pathname);
        const file = path.join(PAGES, name);
        if (!name.endsWith('.html') || !fs.existsSync(file)) {
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, {'Content-Type': 'text/html; charset=utf-8'});
        res.end(fs.readFileSync(file));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {url: `http://127.0.0.1:${server.address().port}`, close: () => server.close()};
}

/*
 * A proxy in front of the producer. While failing() is true it refuses every
 * POST to /v1/events with status(n) (n: the refusals so far; 503 unless
 * given; 0 drops the connection, a network error to the page; -1 holds it
 * open and never answers, as a stuck proxy would, until the page aborts) and
 * Retry-After: retryAfter (1 unless given), except the first,
 * which it forwards and whose answer it replaces by the refusal (the request
 * landed, the client never learns it: its retry must not land twice).
 * Everything else passes. Every POST is held delayMs before it is answered,
 * so that a client sending two at once would be seen doing it. stats: the
 * refusals (failed), when each POST to /v1/events arrived and how it was
 * answered (tries), and the most POSTs it held at once (maxOpen; a held POST
 * counts until the page closes its connection).
 */
async function flakyProxy(failing, {status = () => 503, retryAfter = 1, delayMs = 0} = {}) {
    const target = new URL(producer());
    const stats = {failed: 0, forwarded: 0, tries: [], open: 0, maxOpen: 0};
    let swallowed = false;
    const server = http.createServer((req, res) => {
        const chunks = [];
        const post = req.method === 'POST';
        if (post) {
            stats.open++;
            stats.maxOpen = Math.max(stats.maxOpen, stats.open);
        }
        const answer = (code, headers, body) => setTimeout(() => {
            if (post) stats.open--;
            res.writeHead(code, headers).end(body);
        }, post ? delayMs : 0);
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => {
            const body = Buffer.concat(chunks);
            const events = post && req.url.startsWith('/v1/events');
            const down = events && failing();
            const tried = {at: Date.now(), status: 0};
            if (events) stats.tries.push(tried);
            const refuse = () => {
                tried.status = status(stats.failed);
                stats.failed++;
                if (tried.status < 0) {
                    /* open until the client gives up: it must, to send another */
                    return res.on('close', () => stats.open--);
                }
                if (!tried.status) {
                    return setTimeout(() => {
                        if (post) stats.open--;
                        req.socket.destroy();
                    }, delayMs);
                }
                answer(tried.status, {
                    'Access-Control-Allow-Origin': req.headers.origin || '*',
                    'Access-Control-Expose-Headers': 'Retry-After',
                    'Retry-After': String(retryAfter),
                    'Content-Type': 'application/json',
                }, '{"error":{"code":"unavailable","message":"test"}}');
            };
            if (down && swallowed) return refuse();
            const headers = {...req.headers, host: target.host};
            const up = http.request({host: target.hostname, port: target.port, path: req.url,
                method: req.method, headers}, (ur) => {
                const got = [];
                ur.on('data', (c) => got.push(c));
                ur.on('end', () => {
                    stats.forwarded++;
                    if (down) {
                        swallowed = true;
                        return refuse();
                    }
                    tried.status = ur.statusCode;
                    answer(ur.statusCode, ur.headers, Buffer.concat(got));
                });
            });
            up.on('error', () => answer(502, {}, ''));
            up.end(body);
        });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    return {url: `http://127.0.0.1:${server.address().port}`, stats,
        close: () => server.close()};
}

/* POSTs JSON to the producer with the demo tenant's key. */
async function api(p, body) {
    const res = await fetch(producer() + p, {
        method: 'POST',
        headers: {'Authorization': 'Bearer demo-key', 'Content-Type': 'application/json'},
        body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`POST ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
}

/* A session of tenant demo with a fresh id: {session_id, token, link_token}. */
async function newSession(name, status) {
    const id = `brw_${name}_${Date.now()}_${Math.random().toString(36).slice(2, 8)}`;
    return api('/v1/sessions', {session_id: id, kind: 'browser', status: status || 'active'});
}

/* PostgreSQL, with parameters only. */
async function db() {
    const c = new Client({connectionString: env('VIGIL_DATABASE_URL')});
    await c.connect();
    return c;
}

/* Rows of raw.events of tenant demo for session and type. */
async function landed(c, session, type) {
    const r = await c.query(
        `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS d FROM raw.events
          WHERE tenant_id = 'demo' AND body->>'session_id' = $1 AND body->>'type' = $2`,
        [session, type]);
    return r.rows[0];
}

/* The event_ids (lower case) of tenant demo's raw.events for session and type, sorted. */
async function landedIds(c, session, type) {
    const r = await c.query(
        `SELECT lower(event_id::text) AS id FROM raw.events
          WHERE tenant_id = 'demo' AND body->>'session_id' = $1 AND body->>'type' = $2
          ORDER BY 1`,
        [session, type]);
    return r.rows.map((row) => row.id);
}

async function martSession(c, session) {
    const r = await c.query(
        `SELECT status, duration_ms::bigint AS duration_ms, heartbeat_count::int AS heartbeats,
                end_reason FROM mart.sessions WHERE tenant_id = 'demo' AND session_id = $1`,
        [session]);
    return r.rows[0];
}

/*
 * For a page that must work as a person sees it (vigil-query's dashboard):
 * headless chromium with one page whose console errors, uncaught
 * exceptions, failed requests and HTTP errors are collected in `problems`.
 */
async function open(options = {}) {
    const browser = await launch({
        args: ['--disable-gpu'],
        viewport: options.viewport || {width: 1280, height: 900},
    });
    const page = await browser.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('exception: ' + e.message));
    page.on('requestfailed', (r) =>
        problems.push('request failed: ' + r.url() + ' ' + (r.failure() || {}).errorText));
    page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
    return {browser, page, problems};
}

/* Waits until fn, evaluated in the page, is truthy; throws after timeoutMs. */
async function waitInPage(page, fn, timeoutMs, ...args) {
    await page.waitForFunction(fn, {timeout: timeoutMs, polling: 100}, ...args);
}

/* Runs the async test function; prints and exits non-zero on failure. */
function run(name, test) {
    test().then(() => { console.log(name + ': passed'); process.exit(0); })
        .catch((e) => { console.error(name + ': FAILED: ' + (e && e.stack || e)); process.exit(1); });
}

function assert(cond, what, ...detail) {
    if (!cond) throw new Error(what + (detail.length ? ': ' + JSON.stringify(detail) : ''));
}

function assertClean(problems) {
    assert(problems.length === 0, 'the page had problems', problems);
}

module.exports = {launch, setVisible, staticServer, flakyProxy, api, newSession, db, landed,
    landedIds, martSession, waitFor, producer, open, waitInPage, run, assert, assertClean};
