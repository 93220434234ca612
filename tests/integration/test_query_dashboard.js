// The dashboard (GET / of vigil-query) in headless Chromium: it asks for a
// key once, loads without a console error or a failed request, and shows the
// figures the JSON API gives; a wrong key brings the key form back.
"use strict";
const h = require("../browser/harness");

const QUERY = process.env.VIGIL_QUERY_HTTP;
const KEY = process.env.VIGIL_QUERY_ADMIN_KEY || "admin-key";
const LOAD_MS = 60000;

async function api(path) {
  const r = await fetch(QUERY + path, { headers: { Authorization: "Bearer " + KEY } });
  h.assert(r.ok, path + " answers 200", r.status);
  return r.json();
}

const sum = (rows, f) => rows.reduce((n, r) => n + (Number(r[f]) || 0), 0);

h.run("dashboard", async () => {
  h.assert(QUERY, "VIGIL_QUERY_HTTP is set (run through ./dev test)");
  const { browser, page, problems } = await h.open();
  try {
    await page.goto(QUERY + "/", { waitUntil: "load" });
    await page.waitForSelector("#login:not([hidden])", { timeout: LOAD_MS });
    await page.type("#key", KEY);
    await page.click("#login button");
    await h.waitInPage(page, () => document.body.dataset.loaded === "1", LOAD_MS);

    // The figures, read again from the API until both agree (the stack lives).
    let shown, want;
    for (let i = 0; i < 10; i++) {
      const [stats, status] = await Promise.all([api("/v1/stats"), api("/v1/status")]);
      want = { active: String(sum(stats.kinds, "active")),
               sessions24h: String(sum(stats.last_24h, "sessions")),
               events24h: String(sum(stats.last_24h, "events")),
               dlq: String(status.dlq.messages),
               lagRows: status.layers.length,
               runs: Math.max(status.command_runs.length, 1) };
      await page.evaluate(() => { document.body.dataset.loaded = ""; });
      await h.waitInPage(page, () => document.body.dataset.loaded === "1", LOAD_MS);
      shown = await page.evaluate(() => ({
        active: document.getElementById("active").textContent,
        sessions24h: document.getElementById("sessions24h").textContent,
        events24h: document.getElementById("events24h").textContent,
        dlq: document.getElementById("dlq").textContent,
        lagRows: document.querySelectorAll("#lag tbody tr").length,
        runs: document.querySelectorAll("#runs tbody tr").length,
      }));
      if (JSON.stringify(shown) === JSON.stringify(want)) { break; }
    }
    h.assert(JSON.stringify(shown) === JSON.stringify(want), "the page shows the API's figures",
             shown, want);
    const bars = await page.$$eval("#durations rect", (r) => r.length);
    h.assert(bars === 7, "the duration chart has its bars", bars);
    const rows = await page.$$eval("#sessions tbody tr", (r) => r.length);
    h.assert(rows >= 1, "the newest sessions are listed", rows);
    h.assertClean(problems);

    // The key is kept: a reload shows the dashboard without asking again.
    await page.reload({ waitUntil: "load" });
    await h.waitInPage(page, () => document.body.dataset.loaded === "1", LOAD_MS);

    // A refused key brings the form back (the 401 itself is expected here).
    await page.evaluate(() => localStorage.setItem("vigil.query.key", "wrong-key"));
    await page.reload({ waitUntil: "load" });
    await page.waitForSelector("#login:not([hidden])", { timeout: LOAD_MS });
    const left = problems.filter((p) => !/401/.test(p));
    h.assertClean(left);

  } finally {
    await browser.close();
  }
  // The README's picture: Chromium's own screenshot, the key in the fragment.
  if (process.env.VIGIL_SCREENSHOT) {
    require("child_process").execFileSync(process.env.CHROMIUM || "/usr/bin/chromium", [
      "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
      "--window-size=1280,1100", "--virtual-time-budget=5000",
      "--screenshot=" + process.env.VIGIL_SCREENSHOT, QUERY + "/#key=" + KEY], { stdio: "ignore" });
  }
});
