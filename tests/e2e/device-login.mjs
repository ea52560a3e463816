// A person at the local device-login page, played by Debian's Chromium through playwright-core: open the
// verification URL, type the code into the field found by its label, press the button found by its accessible
// name ("Sign in" or "Deny"), wait for #result and save a screenshot. Prints one JSON line describing what the
// page showed; exits 0 when the outcome is the expected one, 1 when not, 2 on bad arguments.
//
//   node device-login.mjs --url URL --code CODE [--action approve|deny] [--expect signed-in|declined|wrong-code]
//                         [--first-code WRONG] [--submit click|enter] --screenshot FILE.png
//
// --first-code enters WRONG first, checks that the page shows its error (role=alert) and saves FILE-wrong.png,
// then enters CODE in the same page. --submit enter presses Enter in the field instead of clicking (keyboard use).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

// Debian's package, or the browser CHROMIUM_PATH names (e.g. Google Chrome on GitHub's Ubuntu runners);
// playwright-core downloads no browser of its own.
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// Headless and quiet: without the background-networking flags Chromium keeps dialling Google's hosts,
// which a closed network refuses many times over.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const BUTTONS = { approve: 'Sign in', deny: 'Deny' };

function fail(message, code = 2) {
  process.stderr.write(`device-login.mjs: ${message}\n`);
  process.exit(code);
}

let opts;
try {
  opts = parseArgs({
    options: {
      url: { type: 'string' },
      code: { type: 'string' },
      action: { type: 'string', default: 'approve' },
      expect: { type: 'string' },
      'first-code': { type: 'string' },
      submit: { type: 'string', default: 'click' },
      screenshot: { type: 'string' },
      timeout: { type: 'string', default: '30' },
    },
    strict: true,
  }).values;
} catch (e) {
  fail(e.message);
}
if (!opts.url || !opts.code || !opts.screenshot) fail('--url, --code and --screenshot are required');
if (!(opts.action in BUTTONS)) fail(`--action must be approve or deny, not '${opts.action}'`);
if (!['click', 'enter'].includes(opts.submit)) fail(`--submit must be click or enter, not '${opts.submit}'`);
const timeout = Number(opts.timeout) * 1000;

// What the page says once it has answered: the outcome, its text and role, the title and the language.
async function readResult(page) {
  const result = page.locator('#result');
  await result.waitFor({ state: 'visible', timeout });
  return {
    result: await result.getAttribute('data-result'),
    role: await result.getAttribute('role'),
    text: (await result.innerText()).trim(),
    title: await page.title(),
    lang: await page.locator('html').getAttribute('lang'),
  };
}

async function enterCode(page, code, action) {
  const field = page.getByLabel('Code', { exact: true });
  await field.fill('');
  await field.pressSequentially(code);
  if (opts.submit === 'enter' && action === 'approve') {
    await Promise.all([page.waitForLoadState('load'), field.press('Enter')]);
  } else {
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: BUTTONS[action], exact: true }).click()]);
  }
}

const profile = mkdtempSync(join(tmpdir(), 'd365fo-e2e-chromium-'));
let context;
const report = { url: opts.url, action: opts.action };
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 800, height: 600 },
    timeout,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  const response = await page.goto(opts.url, { waitUntil: 'load' });
  report.status = response?.status();
  report.formTitle = await page.title();
  // Keyboard use: the code field has the focus when the page opens, and Tab moves it to a button whose focus
  // ring is visible.
  report.focusOnLoad = await page.evaluate(() => document.activeElement?.id ?? null);
  await page.keyboard.press('Tab');
  report.focusAfterTab = await page.evaluate(() => {
    const el = document.activeElement;
    const s = getComputedStyle(el);
    return { text: el.textContent.trim(), outline: `${s.outlineStyle} ${s.outlineWidth}` };
  });
  mkdirSync(dirname(opts.screenshot), { recursive: true });

  if (opts['first-code']) {
    await enterCode(page, opts['first-code'], 'approve');
    report.first = await readResult(page);
    report.first.invalid = await page.getByLabel('Code', { exact: true }).getAttribute('aria-invalid');
    await page.screenshot({ path: opts.screenshot.replace(/\.png$/, '') + '-wrong.png', fullPage: true });
    if (report.first.result !== 'wrong-code') throw new Error(`the wrong code gave '${report.first.result}'`);
  }
  await enterCode(page, opts.code, opts.action);
  Object.assign(report, await readResult(page));
  await page.screenshot({ path: opts.screenshot, fullPage: true });
  report.screenshot = opts.screenshot;
} catch (e) {
  report.error = String(e?.message ?? e).split('\n')[0];
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report) + '\n');
process.exit(report.error || (opts.expect && report.result !== opts.expect) ? 1 : 0);
