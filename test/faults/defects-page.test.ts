// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { TokenManager, TokenResponse } from 'tokenkeeper';
import { deferred, outcome } from '../support/async';
import { type ChannelBus, createChannelBus } from '../support/bus';
import { noResume } from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defect 2 and item 15c, in a page: happy-dom's window (at https://app.test/) and its localStorage,
 * which every tab of the origin shares. The tabs talk over the in-memory channel bus, so the test decides
 * when another tab's message arrives. No HTTP here: refresh and logout are functions the test controls.
 */

installFakeClock();

let bus: ChannelBus;
let channelName: string;
let storageKey: string;

beforeEach(() => {
  localStorage.clear();
  bus = createChannelBus();
  channelName = `tk-${crypto.randomUUID()}`;
  storageKey = `tk-${crypto.randomUUID()}`;
});
afterEach(() => {
  localStorage.clear();
});

const createManager = trackManagers(() => ({
  refresh: async (): Promise<TokenResponse> => {
    throw new Error('no refresh expected');
  },
  refreshMargin: MARGIN_MS,
  storage: localStorage,
  storageKey,
  channel: channelName,
  onResume: noResume,
}));

/** Lets the messages posted so far (and what they cause) arrive: the contract's 100 ms. */
const deliver = (): Promise<void> => vi.advanceTimersByTimeAsync(100).then(() => undefined);

describe('defect 2: a refresh answer that lands between another tab’s logout and its message', () => {
  it('leaves no session in localStorage, and a reload is signed out', async () => {
    const gate = deferred();
    const refreshed = jwtFor(LIFETIME_S, { sub: 'user-a' });
    let refreshCalls = 0;
    const refresh = async (): Promise<TokenResponse> => {
      refreshCalls += 1;
      await gate.promise;
      return { accessToken: refreshed, refreshToken: 'rt-issued-after-logout' };
    };
    const one = createManager({ refresh, environment: { createChannel: bus.tab('one') } });
    const two = createManager({ refresh, environment: { createChannel: bus.tab('two') } });
    await Promise.all([one.ready, two.ready]);
    await deliver();
    const first = jwtFor(LIFETIME_S, { sub: 'user-a' });
    await one.setTokens({ accessToken: first, refreshToken: 'rt-1' });
    await deliver();
    // Compared, not printed: a failure message must not show a token.
    expect(two.getState().accessToken === first).toBe(true);
    const eventsOne = recordEvents(one);

    const refreshing = outcome(one.refresh());
    await flush();
    expect(refreshCalls).toBe(1);
    bus.hold('one'); // tab one hears of the logout only after its refresh answer
    await expect(two.logout()).resolves.toEqual({ serverNotified: false });
    gate.resolve(); // the refresh answer lands in tab one
    await refreshing;
    await deliver();
    bus.release('one');
    await deliver();

    expect(one.getState().status).toBe('unauthenticated');
    expect(two.getState().status).toBe('unauthenticated');
    expect(eventsOne.logout).toEqual([{ reason: 'remote' }]);
    const stored = localStorage.getItem(storageKey) ?? '';
    expect(stored.includes(refreshed)).toBe(false);
    expect(stored.includes('rt-issued-after-logout')).toBe(false);

    const reloaded = createManager({ channel: false });
    await reloaded.ready;
    expect(reloaded.getState().status).toBe('unauthenticated');
    await expect(reloaded.getAccessToken()).resolves.toBeNull();
  });
});

describe('defect 3: the device clock set back does not make open tabs ignore a later login (guard)', () => {
  it('a tab opened after the clock was set back an hour signs in, and the tabs that saw the earlier logout take the login', async () => {
    const a = createManager({ environment: { createChannel: bus.tab('a') } });
    const c = createManager({ environment: { createChannel: bus.tab('c') } });
    await Promise.all([a.ready, c.ready]);
    await a.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'user-x' }), refreshToken: 'rt-x' });
    await deliver();
    await a.logout();
    await deliver();
    expect(c.getState().status).toBe('unauthenticated');

    vi.setSystemTime(Date.now() - 3600_000); // the device clock goes back an hour
    const d = createManager({ environment: { createChannel: bus.tab('d') } });
    await d.ready;
    const eventsC = recordEvents(c);
    const y = jwtFor(LIFETIME_S, { sub: 'user-y' });
    await d.setTokens({ accessToken: y, refreshToken: 'rt-y' });
    await deliver();

    expect(d.getState().status).toBe('authenticated');
    expect(c.getState().status).toBe('authenticated');
    expect(c.getState().accessToken === y).toBe(true);
    expect(a.getState().accessToken === y).toBe(true);
    expect(eventsC.login).toEqual([{ source: 'remote' }]);
    expect((localStorage.getItem(storageKey) ?? '').includes('rt-y')).toBe(true);
  });
});

describe('15c: blob: URLs never get the bearer', () => {
  let auth: TokenManager;
  beforeEach(() => {
    auth = createManager({ channel: false });
  });

  it('a blob: URL of the page origin is not an allowed origin, while the page origin itself is', () => {
    expect(auth.isAllowedOrigin('https://app.test/api/me')).toBe(true);
    expect(auth.isAllowedOrigin('blob:https://app.test/0b4c1d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e')).toBe(false);
    expect(auth.isAllowedOrigin(new URL('blob:https://app.test/0b4c1d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e'))).toBe(false);
  });

  it('a blob: URL of an origin listed in allowedOrigins is not allowed either', () => {
    const listed = createManager({ channel: false, allowedOrigins: ['https://api.test'] });
    expect(listed.isAllowedOrigin('https://api.test/data')).toBe(true);
    expect(listed.isAllowedOrigin('blob:https://api.test/0b4c1d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e')).toBe(false);
  });
});
