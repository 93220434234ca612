// harness.js - what every browser test of Vigil shares: Debian's Chromium
// (/usr/bin/chromium, or $CHROMIUM) driven headless by puppeteer-core, which
// ./dev installs, pinned by package.json and package-lock.json here, into
// .local/browser/node_modules ($VIGIL_BROWSER_MODULES in `./dev env`).
//
//   const h = require("../browser/harness");
//   const { browser, page, problems } = await h.open();
//   ... page.goto(url) ...; h.assertClean(problems); await browser.close();
//
// `problems` collects what a user would call a broken page: console errors,
// uncaught exceptions, failed requests and HTTP errors of the page's own
// requests.
"use strict";
const path = require("path");

function puppeteer() {
  const dirs = [process.env.VIGIL_BROWSER_MODULES,
                path.join(process.env.VIGIL_SOURCE_DIR || path.join(__dirname, "..", ".."),
                          ".local", "browser", "node_modules")].filter(Boolean);
  for (const d of dirs) {
    try {
      return require(path.join(d, "puppeteer-core"));
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") { throw e; }
    }
  }
  throw new Error("puppeteer-core is not installed: run ./dev build (looked in " + dirs.join(", ") + ")");
}

async function open(options = {}) {
  const browser = await puppeteer().launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    // root in CI containers has no user namespace for Chromium's sandbox
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    defaultViewport: options.viewport || { width: 1280, height: 900 },
  });
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error") { problems.push("console: " + m.text()); } });
  page.on("pageerror", (e) => problems.push("exception: " + e.message));
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url() + " " +
                                                (r.failure() || {}).errorText));
  page.on("response", (r) => { if (r.status() >= 400) { problems.push("HTTP " + r.status() + ": " + r.url()); } });
  return { browser, page, problems };
}

// Waits until fn (evaluated in the page) is truthy, or throws after timeoutMs.
async function waitFor(page, fn, timeoutMs, ...args) {
  await page.waitForFunction(fn, { timeout: timeoutMs, polling: 100 }, ...args);
}

// Runs the async test function; prints and exits non-zero on failure.
function run(name, test) {
  test().then(() => { console.log(name + ": passed"); process.exit(0); })
    .catch((e) => { console.error(name + ": FAILED: " + (e && e.stack || e)); process.exit(1); });
}

function assert(cond, what, ...detail) {
  if (!cond) { throw new Error(what + (detail.length ? ": " + JSON.stringify(detail) : "")); }
}

function assertClean(problems) {
  assert(problems.length === 0, "the page had problems", problems);
}

module.exports = { open, waitFor, run, assert, assertClean };
