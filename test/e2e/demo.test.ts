// The demo as a newcomer runs it: `npm run demo` (it builds the package and the page, then starts the reference
// backend), the page in real Chromium, two tabs of one browser and a second browser, against the server's own
// counters. Access tokens live 8 s here, so the page refreshes every 4 s (half the lifetime).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from './support/browser';

const root = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN_TTL_SECONDS = 8;
/** Where the test saves its screenshot of the page (docs/demo.png is a copy of one). */
const SCREENSHOT = `${root}.artifacts/demo.png`;

interface Stats {
  logins: number;
  refreshes: number;
  refreshRejected: number;
  reuseDetected: number;
  logouts: number;
  logoutsEverywhere: number;
  apiCalls: number;
  apiUnauthorized: number;
  deniedTokens: number;
}

interface Demo {
  url: string;
  /** ms from spawning `npm run demo` to its printing the URL. */
  startMs: number;
  output(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Runs `npm run demo` as a terminal would: its own process group, so that Ctrl-C (SIGINT) reaches all of it. */
async function startDemo(): Promise<Demo> {
  const port = await freePort();
  const startedAt = Date.now();
  const child: ChildProcess = spawn('npm', ['run', 'demo'], {
    cwd: root,
    detached: true,
    env: { ...process.env, PORT: String(port), TOKEN_TTL: String(TOKEN_TTL_SECONDS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = `http://127.0.0.1:${port}`;
  let servingAfterMs: number | null = null;
  const startMs = await new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (servingAfterMs === null && output.includes(`tokenkeeper demo: ${url}`))
        servingAfterMs = Date.now() - startedAt;
      // The last line of the start-up text.
      if (servingAfterMs !== null && output.includes('Ctrl-C stops the server.')) resolve(servingAfterMs);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(({ code, signal }) =>
      reject(new Error(`npm run demo exited (${code ?? signal}) before serving:\n${output}`)),
    );
  });
  return {
    url,
    startMs,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGINT');
      return exited;
    },
  };
}

const stats = async (demo: Demo): Promise<Stats> => (await fetch(`${demo.url}/api/stats`)).json() as Promise<Stats>;

const statusIs = (page: Page, status: string, timeout = 10_000) =>
  page.waitForFunction(
    (expected) => document.querySelector('[data-testid="status"]')?.textContent === expected,
    status,
    { timeout },
  );

/** The texts of this tab's event log entries of one kind, oldest first. */
const logEntries = async (page: Page, event: 'login' | 'refresh' | 'logout' | 'error'): Promise<string[]> =>
  (
    await page.$$eval(`[data-testid="event-log"] li[data-event="${event}"]`, (items) =>
      items.map((item) => item.textContent ?? ''),
    )
  ).reverse();

const refreshCountIs = (page: Page, count: number, timeout: number) =>
  page.waitForFunction(
    (expected) => document.querySelectorAll('[data-testid="event-log"] li[data-event="refresh"]').length >= expected,
    count,
    { timeout },
  );

async function signIn(page: Page, username: string): Promise<void> {
  await statusIs(page, 'unauthenticated');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill('demo');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await statusIs(page, 'authenticated');
}

/** The text of the action result once it is no longer "Working…". */
async function resultOf(page: Page, action: string): Promise<string> {
  await page.getByTestId(`action-${action}`).click();
  await page.waitForFunction(
    (name) => {
      const result = document.querySelector('[data-testid="result"]');
      return result?.getAttribute('data-action') === name && result.textContent !== 'Working…';
    },
    action,
    { timeout: 15_000 },
  );
  return (await page.getByTestId('result').textContent()) ?? '';
}

describe('the demo: npm run demo, the page in Chromium, the reference backend', () => {
  let demo: Demo;
  let browser: Browser;
  const pageErrors: string[] = [];
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    [demo, browser] = await Promise.all([startDemo(), launchBrowser()]);
    figures.startMs = demo.startMs;
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await demo?.stop();
    console.log(`demo e2e figures: ${JSON.stringify(figures)}`);
  });

  const openPage = async (context: Awaited<ReturnType<Browser['newContext']>>, name: string) => {
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`${name}: ${error.message}`));
    await page.goto(demo.url);
    return page;
  };

  it('serves within 15 s of npm run demo, and says what to try', () => {
    expect(demo.startMs).toBeLessThan(15_000);
    expect(demo.output()).toContain('What to try');
    expect(demo.output()).not.toMatch(/npm error|warn/i);
  });

  it('signs in, shares one session and one refresh per cycle between two tabs, and shares one refresh among 20 calls that meet a 401', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
    const first = await openPage(context, 'tab 1');
    await signIn(first, 'ada');
    const second = await openPage(context, 'tab 2');
    await statusIs(second, 'authenticated');
    expect(await second.getByTestId('claim-sub').textContent()).toBe('ada');

    // Two refresh cycles: each tab shows both refreshes; the server was called once per cycle.
    await Promise.all([refreshCountIs(first, 2, 20_000), refreshCountIs(second, 2, 20_000)]);
    const afterTwoCycles = await stats(demo);
    const refreshes = [...(await logEntries(first, 'refresh')), ...(await logEntries(second, 'refresh'))];
    figures.refreshCallsForTwoTabsOverTwoCycles = afterTwoCycles.refreshes;
    expect(afterTwoCycles.refreshes).toBe(2);
    expect(refreshes.filter((text) => text.includes('source: local'))).toHaveLength(2);
    expect(refreshes.filter((text) => text.includes('source: remote'))).toHaveLength(2);
    expect(afterTwoCycles.reuseDetected).toBe(0);

    // Right after the next proactive refresh (the following one is 4 s away), twenty calls meet a 401 together.
    await refreshCountIs(first, 3, 10_000);
    const before = await stats(demo);
    const burst = await resultOf(first, 'burst');
    const after = await stats(demo);
    expect(burst).toContain('20 of 20 calls succeeded');
    expect(burst).toContain('the server counted 1 refresh meanwhile');
    expect(after.refreshes - before.refreshes).toBe(1);
    expect(after.apiUnauthorized - before.apiUnauthorized).toBe(20);
    expect(after.reuseDetected).toBe(0);
    figures.burst = {
      refreshCalls: after.refreshes - before.refreshes,
      unauthorized: after.apiUnauthorized - before.apiUnauthorized,
    };

    mkdirSync(`${root}.artifacts`, { recursive: true });
    await first.screenshot({ path: SCREENSHOT, fullPage: true });

    // A logout in tab 2 shows the signed-out view in tab 1: ms from the click to tab 1's status changing.
    await first.evaluate(() => {
      const w = window as unknown as { signedOutAt: number | null };
      w.signedOutAt = null;
      new MutationObserver(() => {
        if (
          w.signedOutAt === null &&
          document.querySelector('[data-testid="status"]')?.textContent === 'unauthenticated'
        ) {
          w.signedOutAt = Date.now();
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await second.evaluate(() => {
      const w = window as unknown as { clickedAt: number | null };
      document.querySelector('[data-testid="action-logout"]')!.addEventListener(
        'click',
        () => {
          w.clickedAt = Date.now();
        },
        { capture: true },
      );
    });
    expect(await resultOf(second, 'logout')).toContain('the server revoked the session');
    await statusIs(first, 'unauthenticated', 2_000);
    const signedOutAt = await first.evaluate(() => (window as unknown as { signedOutAt: number }).signedOutAt);
    const clickedAt = await second.evaluate(() => (window as unknown as { clickedAt: number }).clickedAt);
    figures.logoutToOtherTabSignedOutMs = signedOutAt - clickedAt;
    expect(signedOutAt - clickedAt).toBeLessThan(100);
    expect(await logEntries(first, 'logout')).toEqual([expect.stringContaining('reason: remote')]);
    expect(await logEntries(second, 'logout')).toEqual([expect.stringContaining('reason: user')]);

    // The access token held before the logout is on the server's deny-list.
    const replay = await resultOf(second, 'replay');
    figures.replay = replay;
    expect(replay).toContain('401 invalid_token denied');
    expect((await stats(demo)).deniedTokens).toBe(1);
    await context.close();
  });

  it('log out everywhere ends a session open in another browser', async () => {
    const [here, elsewhere] = await Promise.all([browser.newContext(), browser.newContext()]);
    const other = await openPage(elsewhere, 'other browser');
    await signIn(other, 'grace');
    const page = await openPage(here, 'this browser');
    await signIn(page, 'grace');
    const before = await stats(demo);

    await resultOf(page, 'logout-everywhere');
    await statusIs(page, 'unauthenticated');
    expect(await logEntries(page, 'logout')).toEqual([expect.stringContaining('reason: everywhere')]);

    // The other browser's token is outdated: its next call meets a 401, its refresh is refused, it signs out.
    const call = await resultOf(other, 'call-api');
    await statusIs(other, 'unauthenticated');
    expect(call).toContain('401');
    expect(await logEntries(other, 'logout')).toEqual([expect.stringContaining('reason: refresh-rejected')]);
    const after = await stats(demo);
    expect(after.logoutsEverywhere - before.logoutsEverywhere).toBe(1);
    expect(after.refreshRejected - before.refreshRejected).toBeGreaterThanOrEqual(1);
    expect(after.reuseDetected).toBe(0);
    await Promise.all([here.close(), elsewhere.close()]);
  });

  it('works from the keyboard in a 360 px window: labelled fields, a wrong password explained, no sideways scroll', async () => {
    const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
    const page = await openPage(context, 'narrow');
    await statusIs(page, 'unauthenticated');
    // Every control has an accessible name: inputs by their <label>, buttons by their text.
    const unnamed = await page.$$eval('input, button', (controls) =>
      controls
        .filter((control) => {
          const input = control as HTMLInputElement;
          const label = input.labels?.[0]?.textContent?.trim() ?? '';
          return label === '' && (control.textContent ?? '').trim() === '' && !control.getAttribute('aria-label');
        })
        .map((control) => control.outerHTML),
    );
    expect(unnamed).toEqual([]);
    await page.getByLabel('Password').fill('wrong');
    await page.getByLabel('Password').press('Enter');
    await expect
      .poll(() => page.getByTestId('signin-error').textContent(), { timeout: 5_000 })
      .toContain('401 invalid_credentials');
    // Tab order reaches the password field from the username field; Enter in it signs in.
    await page.getByLabel('Username').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('password');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('demo');
    await page.keyboard.press('Enter');
    await statusIs(page, 'authenticated');
    // After signing in, the focus is on a control, not lost to the page.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe('BUTTON');
    const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    expect(widths[0]).toBeLessThanOrEqual(widths[1]!);
    await resultOf(page, 'logout');
    await context.close();
  });

  it('no page threw, and Ctrl-C stops the demo cleanly', async () => {
    expect(pageErrors).toEqual([]);
    const { code, signal } = await demo.stop();
    // npm ends by re-raising the SIGINT it got, as in a terminal; the server itself exits 0 and npm says nothing.
    expect(code === 0 || signal === 'SIGINT').toBe(true);
    expect(demo.output()).toContain('stopping');
    expect(demo.output()).not.toMatch(/npm error|ERR!/);
    await expect(fetch(`${demo.url}/api/stats`)).rejects.toThrow();
  });
});
