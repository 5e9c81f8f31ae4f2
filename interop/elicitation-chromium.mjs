// The elicitation pages in a real browser: headless Chromium (Debian's) driven by
// playwright-core, as chromium.mjs does for login and consent. It opens a confirm page without
// a session (so our login comes first and returns to the page), reads what a person sees, tries
// to frame the page, approves, reopens the used link; then fills in a secret page, and goes
// through a connect page to the in-process third-party provider and back. A screenshot of each
// step goes to SCREENSHOT_DIR, and one "report" event to e2e/elicitation_test.go.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { emit, env, log, run } from './lib/harness.mjs';

const issuer = env('ISSUER');
const confirmURL = env('CONFIRM_URL');
const secretURL = env('SECRET_URL');
const connectURL = env('CONNECT_URL');
const secretValue = env('SECRET_VALUE');
const username = env('LOGIN_USERNAME');
const password = env('LOGIN_PASSWORD');
const executablePath = env('CHROMIUM');
const shots = env('SCREENSHOT_DIR');

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

async function text(page, selector) {
  const loc = page.locator(selector).first();
  if ((await loc.count()) === 0) return null;
  return (await loc.innerText()).trim();
}

// submit clicks a form button that posts back to url, and waits for the answer's page.
async function submit(page, url, click) {
  await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.url() === url), click()]);
  await page.waitForLoadState('load');
}

run(async () => {
  mkdirSync(shots, { recursive: true });
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'mcp-authz-elicitation-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1024, height: 900 },
    deviceScaleFactor: 1,
    // The third-party provider is an httptest TLS server with a self-signed certificate.
    ignoreHTTPSErrors: true,
    timeout: 60000,
  });
  const report = { pages: [], console: [], screenshots: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('response', async (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
        report.pages.push({ url: r.url(), status: r.status(), headers: await r.allHeaders().catch(() => ({})) });
      }
    });
    const shot = async (name) => {
      const file = path.join(shots, name);
      await page.screenshot({ path: file, fullPage: true });
      report.screenshots.push(file);
      log(`screenshot ${name}`);
    };
    const seen = async () => ({
      url: page.url(),
      title: await page.title(),
      heading: await text(page, 'h1'),
      message: await text(page, '.elicitation-message'),
      body: (await page.locator('body').innerText()).slice(0, 1500),
      buttons: await page.locator('button').allInnerTexts(),
    });

    // 1. The confirm page without a session: our login first.
    await page.goto(confirmURL, { waitUntil: 'load' });
    report.login = { url: page.url(), hasPassword: (await page.locator('input[name="password"]').count()) === 1 };
    await page.fill('#username', username);
    await page.fill('#password', password);
    await shot('10-elicitation-login.png');
    await Promise.all([page.waitForURL((u) => u.href === confirmURL, { waitUntil: 'load' }), page.click('form button[type="submit"]')]);

    // 2. The confirm page, as a person sees it.
    report.confirm = { ...(await seen()), action: await text(page, '.elicitation-action'), details: await page.locator('.scope-description').allInnerTexts() };
    await shot('11-elicitation-confirm.png');

    // 3. Framing: another origin puts the page in an iframe; the browser must refuse.
    const framer = await context.newPage();
    await framer.setContent(`<!doctype html><title>framer</title><p>Framing test</p><iframe src="${confirmURL}" width="900" height="500"></iframe>`);
    await framer.waitForTimeout(1500);
    const frame = framer.frames().find((f) => f !== framer.mainFrame());
    let framedText = null;
    try {
      framedText = frame ? await frame.evaluate(() => document.body?.innerText ?? '') : null;
    } catch (e) {
      framedText = `unreadable: ${e.message}`;
    }
    report.framing = { framedText: framedText?.slice(0, 300) ?? null };
    await framer.screenshot({ path: path.join(shots, '12-elicitation-framed.png') });
    report.screenshots.push(path.join(shots, '12-elicitation-framed.png'));
    await framer.close();

    // 4. Approve, then open the used link again.
    await submit(page, confirmURL, () => page.click('form.actions button[value="approve"]'));
    report.approved = await seen();
    await shot('13-elicitation-approved.png');
    await page.goto(confirmURL, { waitUntil: 'load' });
    report.reused = await seen();
    await shot('14-elicitation-used.png');

    // 5. The secret page.
    await page.goto(secretURL, { waitUntil: 'load' });
    report.secret = { ...(await seen()), inputType: await page.locator('#value').getAttribute('type'), label: await text(page, 'label[for="value"]') };
    await page.fill('#value', secretValue);
    await shot('15-elicitation-secret.png');
    await submit(page, secretURL, () => page.click('button[value="submit"]'));
    report.secretSent = await seen();
    await shot('16-elicitation-secret-sent.png');

    // 6. The connect page: Continue goes to the provider, which approves at once and sends the
    // browser back to our callback.
    await page.goto(connectURL, { waitUntil: 'load' });
    report.connect = await seen();
    await shot('17-elicitation-connect.png');
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(issuer + '/elicitation/callback'), { waitUntil: 'load' }),
      page.click('button[value="connect"]'),
    ]);
    report.connected = await seen();
    await shot('18-elicitation-connected.png');

    // 7. The connected-accounts page, through the link on the page before, and Disconnect.
    await Promise.all([
      page.waitForURL((u) => u.href === issuer + '/elicitation/connections', { waitUntil: 'load' }),
      page.click('a[href="/elicitation/connections"]'),
    ]);
    report.connections = await seen();
    await shot('19-elicitation-connections.png');
    await Promise.all([
      page.waitForURL((u) => u.href.startsWith(issuer + '/elicitation/connections?'), { waitUntil: 'load' }),
      page.click('button[value="disconnect"]'),
    ]);
    report.disconnected = await seen();
    await shot('20-elicitation-disconnected.png');
  } finally {
    await context.close();
    rmSync(userDataDir, { recursive: true, force: true });
  }
  emit({ event: 'report', data: report });
});
