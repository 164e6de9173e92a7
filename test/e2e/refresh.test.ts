// Refreshing in a real browser: several tabs of one Chromium context against the demo auth server, whose
// access tokens live 3 s. Cross-tab refreshes are serialised by Web Locks and shared over BroadcastChannel.
import { describe, expect, it, vi } from 'vitest';
import { sleep, setupBrowserSuite } from './support/browser';

const ACCESS_TOKEN_SECONDS = 3;
const suite = setupBrowserSuite(ACCESS_TOKEN_SECONDS);

describe('browser platform', () => {
  it('gives the pages Web Locks and BroadcastChannel, and the manager refreshes under a Web Lock', async () => {
    const [tab] = await suite.openTabs(1);
    const platform = await tab!.call('platform');
    expect(platform).toMatchObject({ webLocks: true, broadcastChannel: true, secureContext: true });
    expect(platform.origin).toBe(suite.server.url);

    await tab!.call('login');
    suite.server.holdRefreshes();
    await tab!.call('startRefresh');
    await vi.waitFor(() => expect(suite.server.heldRefreshes()).toHaveLength(1), { timeout: 5_000, interval: 5 });
    const locks = await tab!.call('locks');
    expect(locks.held.filter((name) => name.startsWith('tokenkeeper'))).toHaveLength(1);

    suite.server.releaseRefreshes();
    expect(await tab!.call('waitForRefreshOutcome')).toMatchObject({ ok: true });
    expect((await tab!.call('locks')).held).toEqual([]);
  });
});

describe('proactive refresh across tabs', () => {
  it('a: 4 tabs, 3 s tokens, 3 refresh cycles → 3 refresh calls, no reuse, one token everywhere', async () => {
    const tabs = await suite.openTabs(4, { storage: 'local', refreshMargin: 1_000 });
    const [first] = tabs;
    const login = await first!.call('login');
    for (const tab of tabs) await tab.call('waitForState', { status: 'authenticated', accessToken: login.accessToken });

    // Due 1 s before expiry, so about every 2 s: the third cycle ends about 6 s after the login.
    const refreshes = await Promise.all(tabs.map((tab) => tab.call('waitForRecords', 'refresh', 3, 12_000)));
    const counts = { ...suite.server.counts };
    const elapsed = Math.max(...refreshes.map((list) => list[2]!.at)) - login.calledAt;
    console.log(
      `scenario a: 3 cycles in 4 tabs took ${elapsed} ms after the login; server counts: ${JSON.stringify(counts)}`,
    );

    expect(counts).toMatchObject({ logins: 1, refreshes: 3, reuseDetected: 0, refreshRejected: 0 });
    // Every tab saw the same three tokens in the same order, one cycle after the other.
    const tokens = refreshes.map((list) => list.map((entry) => (entry.type === 'refresh' ? entry.accessToken : null)));
    for (const list of tokens) expect(list).toEqual(tokens[0]);
    expect(new Set(tokens[0]).size).toBe(3);
    // One tab called the server per cycle; the others took its tokens (remote).
    const sources = refreshes.flat().map((entry) => (entry.type === 'refresh' ? entry.source : null));
    expect(sources.filter((source) => source === 'local')).toHaveLength(3);
    // Proactive: each refresh reached every tab before the token it replaced expired.
    let previousExpiry = (await first!.records('state'))[0]!.expiresAt!;
    for (let cycle = 0; cycle < 3; cycle += 1) {
      const entries = refreshes.map((list) => list[cycle]!);
      for (const entry of entries) expect(entry.at).toBeLessThan(previousExpiry);
      previousExpiry = (entries[0] as { expiresAt: number }).expiresAt;
    }

    const finalToken = tokens[0]![2];
    for (const tab of tabs) {
      expect(await tab.call('state')).toMatchObject({ status: 'authenticated', accessToken: finalToken });
      expect(await tab.records('error')).toEqual([]);
    }
    expect(JSON.parse((await first!.call('stored'))!).session.accessToken).toBe(finalToken);

    // The rotated session works at the server, and no straggler refresh followed (the next is ~2 s away).
    await sleep(300);
    for (const tab of tabs) {
      const burst = await tab.call('fetchMany', 1);
      expect(burst.results).toEqual([{ status: 200, withToken: [true] }]);
    }
    expect(suite.server.counts).toMatchObject({ refreshes: 3, reuseDetected: 0, apiCalls: 4, apiUnauthorized: 0 });
  });

  it('b: at expiry, 25 concurrent auth.fetch calls in each of 3 tabs → 1 refresh call, 75 × 200', async () => {
    // Margin 0: the refresh is due when the token expires, and the bursts start at that very millisecond, in
    // every tab at once, together with the tabs' own refresh timers.
    const tabs = await suite.openTabs(3, { storage: 'memory', refreshMargin: 0 });
    const login = await tabs[0]!.call('login');
    const states = [];
    for (const tab of tabs) {
      states.push(await tab.call('waitForState', { status: 'authenticated', accessToken: login.accessToken }));
    }
    const expiresAt = states[0]!.expiresAt!;
    for (const state of states) expect(state.expiresAt).toBe(expiresAt);
    suite.server.resetCounts();

    const bursts = await Promise.all(tabs.map((tab) => tab.call('fetchMany', 25, expiresAt)));
    const counts = { ...suite.server.counts };
    console.log(`scenario b: server counts for 3 × 25 requests at expiry: ${JSON.stringify(counts)}`);

    for (const burst of bursts) {
      // The burst began with the expired token still held: every call had to wait for the refresh.
      expect(burst.startedAt).toBeGreaterThanOrEqual(expiresAt);
      expect(burst.stateAtStart.accessToken).toBe(login.accessToken);
      expect(burst.results).toHaveLength(25);
      // Each call sent one request, with a token, and was answered 200 (no 401 and retry).
      for (const result of burst.results) expect(result).toEqual({ status: 200, withToken: [true] });
    }
    expect(counts).toMatchObject({
      refreshes: 1,
      refreshRejected: 0,
      reuseDetected: 0,
      apiCalls: 75,
      apiUnauthorized: 0,
    });
    const finalStates = await Promise.all(tabs.map((tab) => tab.call('state')));
    expect(finalStates[0]!.accessToken).not.toBe(login.accessToken);
    for (const state of finalStates) {
      expect(state).toMatchObject({ status: 'authenticated', accessToken: finalStates[0]!.accessToken });
    }
  });
});
