// Sessions shared by the tabs of a real browser: logout propagation, a new tab joining, a tab closed during
// its refresh, and a logout during a refresh. Access tokens live 60 s here, so no proactive refresh (due
// 30 s after a login) runs during a scenario; every refresh below is one the test started.
import { describe, expect, it, vi } from 'vitest';
import { percentile, sleep, type Tab, setupBrowserSuite } from './support/browser';

const ACCESS_TOKEN_SECONDS = 60;
const suite = setupBrowserSuite(ACCESS_TOKEN_SECONDS);

/** Signs in from `tab` and waits until every tab in `tabs` holds that session. */
async function loginEverywhere(tab: Tab, tabs: Tab[]): Promise<string> {
  const { accessToken } = await tab.call('login');
  for (const other of tabs) await other.call('waitForState', { status: 'authenticated', accessToken });
  return accessToken;
}

const waitFor = (assertion: () => void, timeout = 5_000) => vi.waitFor(assertion, { timeout, interval: 5 });

describe('sessions shared by tabs', () => {
  it('c: logout in tab 1 reaches tabs 2–4 within 100 ms (20 runs), and their next auth.fetch sends no token', async () => {
    const RUNS = 20;
    const tabs = await suite.openTabs(4, { storage: 'memory' });
    const [first, ...others] = tabs;
    const delays: number[] = [];

    for (let run = 1; run <= RUNS; run += 1) {
      await loginEverywhere(first!, others);
      for (const tab of tabs) await tab.call('clearRecords');

      const { calledAt, serverNotified } = await first!.call('logout');
      expect(serverNotified).toBe(true);
      for (const tab of others) {
        await tab.call('waitForState', { status: 'unauthenticated' });
        const [logout, ...moreLogouts] = await tab.records('logout');
        const signedOut = (await tab.records('state')).find((entry) => entry.status === 'unauthenticated');
        expect(logout, `${tab.name}, run ${run}`).toMatchObject({ reason: 'remote' });
        expect(moreLogouts).toEqual([]);
        delays.push(Math.max(logout!.at, signedOut!.at) - calledAt);

        const burst = await tab.call('fetchMany', 1);
        expect(burst.results, `${tab.name}, run ${run}`).toEqual([{ status: 401, withToken: [false] }]);
      }
    }

    const p50 = percentile(delays, 0.5);
    const max = Math.max(...delays);
    console.log(
      `scenario c: logout propagation over ${RUNS} runs: p50 ${p50} ms, max ${max} ms (${delays.length} samples: tabs 2–4 × ${RUNS} runs)`,
    );
    // Tab 1 told the server each time; the other tabs did not call it again, and sent no token afterwards.
    expect(suite.server.counts).toMatchObject({
      logins: RUNS,
      logouts: RUNS,
      refreshes: 0,
      apiCalls: RUNS * 3,
      apiUnauthorized: RUNS * 3,
      apiWithoutToken: RUNS * 3,
    });
    expect(max).toBeLessThan(100);
  });

  it('d: a tab opened after a login (in-memory storage) is signed in by the open tab within 100 ms, without a refresh', async () => {
    const [first] = await suite.openTabs(1, { storage: 'memory' });
    const { accessToken } = await first!.call('login');

    const second = await suite.openTab('tab 2', null);
    const { readyAt } = await second.call('create', { storage: 'memory' });
    await second.call('waitForState', { status: 'authenticated', accessToken });
    const [login] = await second.records('login');
    expect(login).toMatchObject({ source: 'remote' });
    console.log(`scenario d: the new tab was signed in ${login!.at - readyAt} ms after its ready`);
    expect(login!.at - readyAt).toBeLessThan(100);
    expect(await second.records('refresh')).toEqual([]);

    const burst = await second.call('fetchMany', 1);
    expect(burst.results).toEqual([{ status: 200, withToken: [true] }]);
    expect(suite.server.counts).toMatchObject({ logins: 1, refreshes: 0, apiCalls: 1, apiUnauthorized: 0 });
  });

  it('e: tab 1 closed while its refresh is held → tab 2, waiting for the Web Lock, refreshes within 1 s', async () => {
    const tabs = await suite.openTabs(2, { storage: 'local' });
    const [first, second] = tabs;
    const loginToken = await loginEverywhere(first!, tabs);

    suite.server.holdRefreshes();
    await first!.call('startRefresh');
    await waitFor(() => expect(suite.server.heldRefreshes()).toHaveLength(1));
    await second!.call('startRefresh');
    // Tab 2 waits for the lock tab 1 holds (Web Locks are per origin, so both tabs see both).
    await waitFor(async () => {
      const locks = await second!.call('locks');
      expect(locks.held).toHaveLength(1);
      expect(locks.pending).toEqual(locks.held);
    });
    expect(suite.server.counts.refreshes).toBe(1);

    const closeCalledAt = Date.now();
    await first!.page.close();
    const closedAt = Date.now();
    // The browser drops the closed tab's connection; only then is the held request answered, so the
    // server's check for a departed client is what decides, not a race with the close.
    await waitFor(() => expect(suite.server.heldRefreshes()[0]).toEqual({ clientGone: true }));
    suite.server.releaseRefreshes();

    const outcome = await second!.call('waitForRefreshOutcome');
    expect(outcome).toMatchObject({ ok: true });
    const newToken = (outcome as { accessToken: string }).accessToken;
    const [refresh] = await second!.records('refresh');
    const counts = { ...suite.server.counts };
    const delay = refresh!.at - closeCalledAt;
    console.log(
      `scenario e: tab 2 refreshed ${delay} ms after page.close() was called (the close took ${closedAt - closeCalledAt} ms); server counts: ${JSON.stringify(counts)}`,
    );

    expect(refresh).toMatchObject({ source: 'local', accessToken: newToken });
    expect(delay).toBeLessThan(1_000);
    // Two refresh requests: the closed tab's, abandoned without rotating, and tab 2's, which rotated.
    expect(counts).toMatchObject({ refreshes: 2, refreshAbandoned: 1, refreshRejected: 0, reuseDetected: 0 });

    // The session survived: tab 2 holds the new token, stored it, and the server accepts it.
    expect(newToken).not.toBe(loginToken);
    expect(await second!.call('state')).toMatchObject({ status: 'authenticated', accessToken: newToken });
    expect(JSON.parse((await second!.call('stored'))!).session.accessToken).toBe(newToken);
    const burst = await second!.call('fetchMany', 1);
    expect(burst.results).toEqual([{ status: 200, withToken: [true] }]);
    expect(await second!.records('logout')).toEqual([]);
  });

  it('f: logout in tab 2 while tab 1 refreshes → every tab signed out, the refresh dropped', async () => {
    const tabs = await suite.openTabs(3, { storage: 'local' });
    const [first, second] = tabs;
    await loginEverywhere(first!, tabs);

    suite.server.holdRefreshes();
    await first!.call('startRefresh');
    await waitFor(() => expect(suite.server.heldRefreshes()).toHaveLength(1));
    expect(await first!.call('state')).toMatchObject({ status: 'authenticated', refreshing: true });
    for (const tab of tabs) await tab.call('clearRecords');

    const { calledAt, serverNotified } = await second!.call('logout');
    expect(serverNotified).toBe(true);
    for (const tab of tabs) await tab.call('waitForState', { status: 'unauthenticated', refreshing: false });
    // The refresh tab 1 had started ends with the session: its caller is told there is none.
    expect(await first!.call('waitForRefreshOutcome')).toMatchObject({ ok: false, code: 'not_authenticated' });

    // Tab 1 abandoned the request (its fetch was aborted); the held response is released only after that.
    await waitFor(() => expect(suite.server.heldRefreshes()[0]).toEqual({ clientGone: true }));
    suite.server.releaseRefreshes();
    await sleep(500);

    for (const tab of tabs) {
      expect(await tab.call('state'), tab.name).toMatchObject({ status: 'unauthenticated', accessToken: null });
      // Storage keeps only the logout (a tombstone): no session, no token.
      const stored = await tab.call('stored');
      expect(stored === null || JSON.parse(stored).session === null, tab.name).toBe(true);
      expect(stored ?? '', tab.name).not.toContain('eyJ');
      const records = await tab.call('records');
      // After the logout: no refresh, no login, no state other than signed out.
      expect(
        records.filter((entry) => entry.type === 'refresh' || entry.type === 'login'),
        tab.name,
      ).toEqual([]);
      for (const entry of records) {
        if (entry.type === 'state') expect(entry.status, tab.name).toBe('unauthenticated');
      }
      expect(records.filter((entry) => entry.type === 'logout').length, tab.name).toBe(1);
      expect(Math.min(...records.map((entry) => entry.at))).toBeGreaterThanOrEqual(calledAt);
    }
    expect(suite.server.counts).toMatchObject({
      refreshes: 1,
      refreshAbandoned: 1,
      refreshRejected: 0,
      reuseDetected: 0,
      logouts: 1,
    });
  });
});
