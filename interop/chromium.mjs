// A real browser through sign-in and consent: headless Chromium (Debian's, never a downloaded
// one) driven by playwright-core. It opens the authorization URL the Go test built, signs in
// with the login form, reads the consent page as a person sees it (text, position and size of
// the client's host and self-asserted name, scopes, redirect host, warning), tries to frame the
// page, clicks Allow and follows the redirect to the client. It takes a screenshot of each step
// and reports what it saw as one JSON "report" event; e2e/browser_chromium_test.go asserts.
// Then, as a returning user whose consent is remembered, it signs in again in a browser without
// cookies and must land straight at the client.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { emit, env, log, run } from './lib/harness.mjs';

const authURL = env('AUTH_URL');
const returningURL = env('AUTH_URL_RETURNING');
const issuer = env('ISSUER');
const callbackPrefix = env('CALLBACK_PREFIX');
const username = env('LOGIN_USERNAME');
const password = env('LOGIN_PASSWORD');
const executablePath = env('CHROMIUM');
const shots = env('SCREENSHOT_DIR');

// What a closed network needs, or Chromium's own connections are refused and slow it down.
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

// element returns what a person sees of the first element matching selector.
async function element(page, selector) {
  const loc = page.locator(selector).first();
  if ((await loc.count()) === 0) return null;
  return loc.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return {
      text: el.innerText.trim(),
      top: r.top + window.scrollY,
      left: r.left,
      height: r.height,
      fontSize: parseFloat(cs.fontSize),
      fontWeight: cs.fontWeight,
      visible: r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none',
    };
  });
}

// submitAndFollow submits a form and waits until the browser has left our server for the
// client (or gave up: a blocked navigation leaves the page where it was).
async function submitAndFollow(page, submit) {
  await submit();
  try {
    await page.waitForURL((u) => u.href.startsWith(callbackPrefix), { waitUntil: 'load', timeout: 5000 });
  } catch (e) {
    log(`the browser did not reach the client: ${e.message.split('\n')[0]}`);
  }
  return { url: page.url(), text: (await page.locator('body').innerText().catch(() => '')).slice(0, 500) };
}

run(async () => {
  mkdirSync(shots, { recursive: true });
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'mcp-authz-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1024, height: 900 },
    deviceScaleFactor: 1,
    timeout: 60000,
  });
  const report = { pages: [], console: [], cookies: [], screenshots: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('response', async (r) => {
      if (r.status() >= 400) report.console.push(`HTTP ${r.status()} for ${r.url()}`);
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
        report.pages.push({ url: r.url(), status: r.status(), headers: await r.allHeaders().catch(() => ({})) });
      }
    });
    const t0 = Date.now();
    const shot = async (name) => {
      log(`${name} at ${Date.now() - t0} ms`);
      const file = path.join(shots, name);
      await page.screenshot({ path: file, fullPage: true });
      report.screenshots.push(file);
    };

    // 1. The authorization URL: not signed in, so the login page.
    await page.goto(authURL, { waitUntil: 'load' });
    report.login = {
      url: page.url(),
      title: await page.title(),
      hasPassword: (await page.locator('input[name="password"]').count()) === 1,
      heading: await element(page, 'h1'),
    };

    // 2. Sign in with the form, as a person would type.
    await page.fill('#username', username);
    await page.fill('#password', password);
    await shot('01-login.png');
    await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/login'), { waitUntil: 'load' }), page.click('form button[type="submit"]')]);

    // 3. The consent page.
    report.consent = {
      url: page.url(),
      title: await page.title(),
      heading: await element(page, 'h1'),
      clientHost: await element(page, '.client-host'),
      clientName: await element(page, '.client-claim strong'),
      clientClaim: await element(page, '.client-claim'),
      trust: await element(page, '.trust'),
      clientID: await element(page, '.client-id code'),
      warning: await element(page, '.alert-warning'),
      redirectHost: await element(page, '.redirect strong'),
      resources: await page.locator('.resource-name').allInnerTexts(),
      scopes: await page.locator('.scope-name').allInnerTexts(),
      scopeDescriptions: await page.locator('.scope-description').allInnerTexts(),
      buttons: await page.locator('form.actions button').allInnerTexts(),
      images: await page.locator('img').count(),
      links: await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.href)),
    };
    await shot('02-consent.png');
    report.cookies = await context.cookies(issuer);

    // 4. Framing: another origin puts the consent page in an iframe. CSP frame-ancestors
    // 'none' and X-Frame-Options DENY must keep the page out of it.
    const framer = await context.newPage();
    framer.on('console', (m) => report.console.push(`framer ${m.type()}: ${m.text()}`));
    await framer.setContent(`<!doctype html><title>framer</title><p>Framing test</p><iframe id="f" src="${page.url()}" width="900" height="500"></iframe>`);
    await framer.waitForTimeout(1500);
    const frame = framer.frames().find((f) => f !== framer.mainFrame());
    let framedText = null;
    try {
      framedText = frame ? await frame.evaluate(() => document.body?.innerText ?? '') : null;
    } catch (e) {
      framedText = `unreadable: ${e.message}`;
    }
    report.framing = { frameURL: frame?.url() ?? null, framedText: framedText?.slice(0, 300) ?? null };
    await framer.screenshot({ path: path.join(shots, '03-framed.png') });
    report.screenshots.push(path.join(shots, '03-framed.png'));
    await framer.close();

    // 5. Allow: the server redirects to the client's loopback address.
    report.final = await submitAndFollow(page, () => page.click('form.actions button[value="allow"]'));
    await shot('04-after-allow.png');

    // 6. A returning user: no cookies, consent remembered. Signing in leads to the client.
    await context.clearCookies();
    await page.goto(returningURL, { waitUntil: 'load' });
    const loginURL = page.url();
    await page.fill('#username', username);
    await page.fill('#password', password);
    report.returning = { loginURL, ...(await submitAndFollow(page, () => page.click('form button[type="submit"]'))) };
    await shot('05-returning-user.png');
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  emit({ event: 'report', data: report });
});
