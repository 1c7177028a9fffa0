#!/usr/bin/env node
// Runs one browser scenario in Debian's /usr/bin/chromium through playwright-core and prints the step
// results as one JSON list on stdout. Used by tests/e2e/browser.py.
//
//   node tests/browser/run.js SCENARIO.json
//
// SCENARIO.json: {"steps": [STEP, ...], "timeout_ms": 10000}. Every host name resolves to 127.0.0.1
// (--host-resolver-rules), so http://app.test:PORT/ reaches sekisho on PORT with Host app.test. One
// browser context (one cookie jar) lives for the whole scenario. Steps, each an object:
//   {"goto": URL}                    navigate, wait for "load"
//   {"fill": SELECTOR, "value": V}   type V into the element
//   {"click": SELECTOR}              click; if that navigates, wait for the new page's "load"
//   {"waitForURL": GLOB}             wait until page.url() matches (add "regex": true for a RegExp)
//   {"url": true}                    record page.url() (every result carries "url" anyway)
//   {"text": SELECTOR}               record the innerText of the first match (null when none; no waiting)
//   {"count": SELECTOR}              record how many elements match (no waiting)
//   {"status": true}                 record the status of the last main-frame navigation response
//   {"cookies": true}                record the context's cookies
//   {"html": true}                   record the page's HTML (for post-mortems)
//   {"waitForText": SELECTOR, "value": V}  wait until the first match's innerText contains V
//   {"screenshot": PATH}             save a full-page PNG at PATH
//   {"width": true}                  record document.documentElement.scrollWidth (horizontal overflow)
// Scenario options: "javascript": false (a context with JavaScript off), "viewport": {"width", "height"}.
// Each result: {"step": INDEX, "op": NAME, "url": page.url() after the step, "status": status of the last
// main-frame navigation response so far, "nav": every main-frame navigation response seen during the step,
// redirects included, as {"status", "url", "location" (when the response has one)}, plus the op's own
// field ("text", "count", "cookies", "html")}. A step that throws ends the run: its result gets "error",
// the list is printed and the exit status is 1. Exit status 2: bad usage or the browser did not start
// (message on stderr).
'use strict';

const fs = require('fs');
const path = require('path');

const CHROMIUM = '/usr/bin/chromium';
// docs: shared DEPENDENCIES.md (chromium launch flags), plus the resolver rule for test host names.
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--host-resolver-rules=MAP * 127.0.0.1'];

function die(msg) {
  process.stderr.write('run.js: ' + msg + '\n');
  process.exit(2);
}

// Runs a DOM query; if a navigation (a late redirect, an error page) replaced the document meanwhile, waits
// for the new one to load and asks again.
async function settled(page, fn) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= 4 || !/context was destroyed|navigat/i.test(String(e && e.message))) throw e;
      await page.waitForLoadState('load');
    }
  }
}

async function main() {
  if (process.argv.length !== 3) die('usage: node run.js SCENARIO.json');
  let scenario;
  try {
    scenario = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  } catch (e) {
    die('cannot read scenario ' + process.argv[2] + ': ' + e.message);
  }
  const steps = Array.isArray(scenario) ? scenario : scenario.steps;
  if (!Array.isArray(steps)) die('the scenario has no "steps" list');
  const timeout = scenario.timeout_ms || 10000;

  let chromium;
  try {
    ({ chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core')));
  } catch (e) {
    die('playwright-core is not installed in ' + __dirname + '/node_modules (run scripts/install-deps): ' +
        e.message);
  }
  if (!fs.existsSync(CHROMIUM)) die(CHROMIUM + ' is missing (run scripts/install-deps: apt package chromium)');

  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 30000 });
  } catch (e) {
    die('chromium did not start: ' + e.message);
  }
  const results = [];
  let failed = false;
  try {
    const copts = {};
    if (scenario.javascript === false) copts.javaScriptEnabled = false;
    if (scenario.viewport) copts.viewport = scenario.viewport;
    const context = await browser.newContext(copts);
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    page.setDefaultNavigationTimeout(timeout);

    let lastStatus = null;
    let nav = [];
    page.on('response', (r) => {
      const req = r.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) {
        lastStatus = r.status();
        const n = { status: r.status(), url: r.url() };
        const loc = r.headers().location;
        if (loc !== undefined) n.location = loc;
        nav.push(n);
      }
    });

    for (let i = 0; i < steps.length; i++) {
      const s = steps[i];
      const op = ['goto', 'fill', 'click', 'waitForURL', 'url', 'text', 'count', 'status', 'cookies', 'html',
        'waitForText', 'screenshot', 'width']
        .find((k) => k in s);
      const res = { step: i, op: op || null };
      nav = [];
      try {
        switch (op) {
          case 'goto':
            await page.goto(s.goto, { waitUntil: 'load' });
            break;
          case 'fill':
            await page.fill(s.fill, String(s.value));
            break;
          case 'click':
            await page.click(s.click);
            await page.waitForLoadState('load');
            break;
          case 'waitForURL':
            await page.waitForURL(s.regex ? new RegExp(s.waitForURL) : s.waitForURL);
            await page.waitForLoadState('load');
            break;
          case 'url':
          case 'status':
            break;
          case 'text':
            res.text = await settled(page, async () => {
              const el = await page.$(s.text);
              return el ? el.innerText() : null;
            });
            break;
          case 'count':
            res.count = await settled(page, async () => (await page.$$(s.count)).length);
            break;
          case 'cookies':
            res.cookies = (await context.cookies()).map((c) => ({
              name: c.name, value: c.value, domain: c.domain, path: c.path, expires: c.expires,
              httpOnly: c.httpOnly, secure: c.secure, sameSite: c.sameSite }));
            break;
          case 'html':
            res.html = await page.content();
            break;
          case 'waitForText':
            await page.waitForFunction(([sel, v]) => {
              const el = document.querySelector(sel);
              return el && el.innerText.includes(v);
            }, [s.waitForText, String(s.value)]);
            break;
          case 'screenshot':
            await page.screenshot({ path: s.screenshot, fullPage: true });
            break;
          case 'width':
            res.width = await page.evaluate(() => document.documentElement.scrollWidth);
            break;
          default:
            throw new Error('unknown step ' + JSON.stringify(s));
        }
      } catch (e) {
        res.error = String(e && e.message ? e.message : e).replace(/\x1b\[[0-9;]*m/g, '')
          .split('\n').slice(0, 6).join('\n');
        failed = true;
      }
      res.url = page.url();
      res.status = lastStatus;
      res.nav = nav;
      results.push(res);
      if (failed) break;
    }
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  process.exit(failed ? 1 : 0);
}

main().catch((e) => die(e && e.stack ? e.stack : String(e)));
