// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type AuthState,
  createTokenManager,
  NotAuthenticatedError,
  type RefreshFn,
  type TokenManager,
  type TokenManagerOptions,
  type TokenStorage,
} from 'tokenkeeper';
import { type Deferred, deferred, rejectionOf } from './support/async';
import { type ChannelBus, createChannelBus } from './support/bus';
import {
  createTestStorage,
  HttpResponse,
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';
import { recordEvents } from './support/events';
import { jwtFor } from './support/jwt';
import { trackManagers } from './support/managers';
import { flush, installFakeClock } from './support/time';

/*
 * The status 'loading' seen from outside, by an adversary: when a manager may show it, for how long, what ends
 * it, and what wins over what it was waiting for. The page is happy-dom's (https://app.test), so the page's own
 * localStorage exists and counts as shared; happy-dom has no Web Locks, so a tab tells whether it is alone from
 * the managers of this realm on its channel. "Tabs" are managers on an in-memory channel bus
 * (test/support/bus.ts): time is fake, and the test decides when a message reaches a tab (hold/release).
 */

/** The seed of the property below: fresh on each run (read before the fake clock freezes Date.now), printed. */
const PROPERTY_SEED = Number(process.env.TOKENKEEPER_LOADING_SEED ?? Date.now() % 0x7fff_ffff);
const PROPERTY_RUNS = Number(process.env.TOKENKEEPER_LOADING_RUNS ?? 500);

const HOUR_S = 3600;

installFakeClock();
startServer();

let bus: ChannelBus;
let channelName: string;
let storageKey: string;
/** Calls of the RefreshFn of the tests that expect no refresh (tokens live an hour; no test gets near it). */
let refreshCalls: number;

beforeEach(() => {
  bus = createChannelBus();
  channelName = `tk-loading-${crypto.randomUUID()}`;
  storageKey = `tk-loading-${crypto.randomUUID()}`;
  refreshCalls = 0;
  localStorage.clear();
  sessionStorage.clear();
});
afterEach(() => {
  localStorage.clear();
  sessionStorage.clear();
});

const countingRefresh: RefreshFn = async () => {
  refreshCalls += 1;
  throw new Error('this test expects no refresh');
};

const createManager = trackManagers(() => ({
  refresh: countingRefresh,
  storageKey,
  channel: channelName,
  onResume: noResume,
}));

/** A tab called `label` on the test's channel bus (memory storage unless told otherwise). */
function openTab(label: string, options: Partial<TokenManagerOptions> = {}): TokenManager {
  return createManager({ ...options, environment: { createChannel: bus.tab(label), ...options.environment } });
}

/** The statuses a manager showed, from the snapshot right after creation on; one entry per change of status. */
function watchStatus(auth: TokenManager): AuthState['status'][] {
  const seen: AuthState['status'][] = [auth.getState().status];
  auth.subscribe((state) => {
    if (state.status !== seen[seen.length - 1]) seen.push(state.status);
  });
  return seen;
}

/** Whether and how a promise settled, looked at later without awaiting it. */
interface Tracked<T> {
  settled: boolean;
  rejected: boolean;
  value: T | undefined;
  error: unknown;
}
function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked: Tracked<T> = { settled: false, rejected: false, value: undefined, error: undefined };
  promise.then(
    (value) => {
      tracked.settled = true;
      tracked.value = value;
    },
    (error: unknown) => {
      tracked.settled = true;
      tracked.rejected = true;
      tracked.error = error;
    },
  );
  return tracked;
}

/** Lets promise chains run without touching the fake clock (no timer can fire). */
async function microtasks(rounds = 50): Promise<void> {
  for (let round = 0; round < rounds; round += 1) await Promise.resolve();
}

/** Awaits `promise` while moving fake time in 10 ms steps, for work that goes through msw or a timer. */
async function within<T>(promise: Promise<T>, maxMs = 2_000): Promise<T> {
  const tracked = track(promise);
  for (let elapsed = 0; elapsed < maxMs && !tracked.settled; elapsed += 10) await vi.advanceTimersByTimeAsync(10);
  if (!tracked.settled) throw new Error(`did not settle within ${maxMs} ms of fake time`);
  return promise;
}

/** Awaits `promise`, moving fake time only when microtasks alone do not settle it. */
async function soon<T>(promise: Promise<T>): Promise<T> {
  const tracked = track(promise);
  await microtasks(200);
  return tracked.settled ? promise : within(promise);
}

/** Moves fake time until `condition` holds (10 ms steps); fails after `maxMs`. */
async function until(condition: () => boolean, what: string, maxMs = 2_000): Promise<void> {
  for (let elapsed = 0; elapsed < maxMs && !condition(); elapsed += 10) await vi.advanceTimersByTimeAsync(10);
  if (!condition()) throw new Error(`${what}: not within ${maxMs} ms of fake time`);
}

/** What a manager writes to its storage for this session: the text a reload (or another storage) would read. */
async function storedSessionText(accessToken: string, refreshToken: string): Promise<string> {
  const storage = createTestStorage();
  const writer = createManager({ storage, channel: false });
  await within(writer.setTokens({ accessToken, refreshToken }));
  writer.destroy();
  const text = storage.values.get(storageKey);
  expect(text, 'the stored session').toBeTypeOf('string');
  return text as string;
}

/** An asynchronous storage whose first read answers only when the test says so; later calls answer at once. */
function slowStorage(
  initial: string | null = null,
  key = storageKey,
): { storage: TokenStorage; answer(): void; reads: () => number } {
  const values = new Map<string, string>();
  if (initial !== null) values.set(key, initial);
  const firstRead: Deferred<void> = deferred();
  let reads = 0;
  const storage: TokenStorage = {
    async getItem(key) {
      reads += 1;
      if (reads === 1) await firstRead.promise;
      return values.get(key) ?? null;
    },
    async setItem(key, value) {
      values.set(key, value);
    },
    async removeItem(key) {
      values.delete(key);
    },
  };
  return { storage, answer: () => firstRead.resolve(), reads: () => reads };
}

/** Names for the tokens of a test: assertions, and their failure messages, show names, never tokens. */
const names = new Map<string, string>();
beforeEach(() => names.clear());
function named(name: string, token: string): string {
  names.set(token, name);
  return token;
}
/** What a tab holds, by name. */
function held(tab: TokenManager): { status: AuthState['status']; token: string | null } {
  const { status, accessToken } = tab.getState();
  return { status, token: accessToken === null ? null : (names.get(accessToken) ?? 'an unnamed token') };
}

/** An hour-long token named `name` (its `sub` too): assertions show the name. */
function issue(name: string): string {
  return named(name, jwtFor(HOUR_S, { sub: name }));
}

/** Asserts, by name, that `tab` is signed in with `token`. */
function expectSignedIn(tab: TokenManager, token: string): void {
  expect(names.has(token), 'the expected token has a name').toBe(true);
  expect(held(tab)).toEqual({ status: 'authenticated', token: names.get(token) });
}

/** A tab on the bus, signed in with a fresh hour-long token; returns the tab and its tokens. */
async function signedInTab(label: string, sub = 'ada'): Promise<{ tab: TokenManager; token: string; refresh: string }> {
  const tab = openTab(label);
  await soon(tab.ready);
  const token = issue(`${label}'s login (${sub})`);
  const refresh = `r-${label}-${sub}`;
  await soon(tab.setTokens({ accessToken: token, refreshToken: refresh }));
  expect(held(tab)).toEqual({ status: 'authenticated', token: names.get(token) });
  return { tab, token, refresh };
}

describe("never 'loading': a shared synchronous storage, or no channel with a synchronous storage", () => {
  it('runs on the page https://app.test, whose localStorage the manager counts as shared', () => {
    expect(globalThis.location.origin).toBe('https://app.test');
    expect(typeof localStorage.getItem).toBe('function');
  });

  it.each([
    ['the page localStorage object', () => localStorage as TokenStorage],
    ["the name 'localStorage'", () => 'localStorage' as const],
  ])('with %s and an empty store: unauthenticated at creation, next to another open tab', async (_, storageOf) => {
    await signedInTab('a'); // another tab, signed in but with memory storage: nothing the shared storage shows
    const b = openTab('b', { storage: storageOf() });

    expect(b.getState().status).toBe('unauthenticated');
    const statuses = watchStatus(b);
    const ready = track(b.ready);
    await microtasks();
    expect(ready.settled).toBe(true);
    await vi.advanceTimersByTimeAsync(500); // the other tab's answer may come: it may sign in, never 'loading'
    expect(statuses).not.toContain('loading');
  });

  it.each([
    ['the page localStorage object', () => localStorage as TokenStorage],
    ["the name 'localStorage'", () => 'localStorage' as const],
  ])('with %s holding a session: authenticated with it at creation', async (_, storageOf) => {
    const token = issue('ada');
    localStorage.setItem(storageKey, await storedSessionText(token, 'r-1'));

    const auth = openTab('b', { storage: storageOf() });

    expectSignedIn(auth, token);
    const statuses = watchStatus(auth);
    await vi.advanceTimersByTimeAsync(500);
    expect(statuses).toEqual(['authenticated']);
    expect(refreshCalls).toBe(0);
  });

  it.each([
    ['memory (the default)', () => undefined],
    ["the name 'memory'", () => 'memory' as const],
    ["the name 'sessionStorage'", () => 'sessionStorage' as const],
    ["the name 'localStorage'", () => 'localStorage' as const],
    ['a custom synchronous storage', () => createTestStorage()],
  ])('with channel: false and %s: known at creation', async (_, storageOf) => {
    const storage = storageOf();
    const auth = createManager({ channel: false, ...(storage === undefined ? {} : { storage }) });

    expect(auth.getState().status).toBe('unauthenticated');
    const statuses = watchStatus(auth);
    const ready = track(auth.ready);
    await microtasks();
    expect(ready.settled).toBe(true);
    await vi.advanceTimersByTimeAsync(500);
    expect(statuses).toEqual(['unauthenticated']);
  });

  it('with channel: false and a custom synchronous storage holding a session: authenticated at creation', async () => {
    const token = issue('token-1');
    const storage = createTestStorage({ initial: { [storageKey]: await storedSessionText(token, 'r-1') } });

    const auth = createManager({ channel: false, storage });

    expectSignedIn(auth, token);
  });

  it('with restore and a session in localStorage: authenticated at creation, and the server is not asked', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: issue('token-2') }));
    server.use(refresh.handler);
    const token = issue('token-3');
    localStorage.setItem(storageKey, await storedSessionText(token, 'r-1'));

    const auth = openTab('b', { storage: localStorage, restore: true, refresh: { url: REFRESH_URL } });

    expectSignedIn(auth, token);
    const statuses = watchStatus(auth);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(statuses).toEqual(['authenticated']);
    expect(refresh.seen).toHaveLength(0);
  });
});

describe("'loading' until an asynchronous storage answers", () => {
  it.each([
    ['channel: false', false],
    ['a channel, alone on it', true],
  ])(
    '(%s) holds, then shows the stored session; ready and a waiting getAccessToken() settle exactly then',
    async (_, withChannel) => {
      const token = issue('ada');
      const slow = slowStorage(await storedSessionText(token, 'r-1'));
      const auth = withChannel
        ? openTab('b', { storage: slow.storage })
        : createManager({ storage: slow.storage, channel: false });

      expect(auth.getState().status).toBe('loading');
      const statuses = watchStatus(auth);
      const ready = track(auth.ready);
      const accessToken = track(auth.getAccessToken());
      await vi.advanceTimersByTimeAsync(1_500); // below the storage timeout (2 s): still waiting for the read
      expect(auth.getState().status).toBe('loading');
      expect(ready.settled).toBe(false);
      expect(accessToken.settled).toBe(false);

      slow.answer();
      await microtasks();

      expectSignedIn(auth, token);
      expect(ready.settled).toBe(true);
      expect(accessToken).toMatchObject({ settled: true, rejected: false });
      expect(accessToken.value === token, 'getAccessToken() resolved the stored token').toBe(true);
      expect(statuses).toEqual(['loading', 'authenticated']);
      expect(refreshCalls).toBe(0);
    },
  );

  it('an empty asynchronous storage: unauthenticated once it answers, getAccessToken() resolves null', async () => {
    const slow = slowStorage(null);
    const auth = createManager({ storage: slow.storage, channel: false });
    const events = recordEvents(auth);
    const accessToken = track(auth.getAccessToken());
    await vi.advanceTimersByTimeAsync(100);
    expect(auth.getState().status).toBe('loading');

    slow.answer();
    await microtasks();

    expect(auth.getState().status).toBe('unauthenticated');
    expect(accessToken).toMatchObject({ settled: true, value: null });
    expect(events).toMatchObject({ login: [], logout: [], error: [] });
  });

  it("a storage that never answers does not leave the manager 'loading' for ever: signed out with one 'error'", async () => {
    const never: TokenStorage = {
      getItem: () => new Promise<string | null>(() => {}),
      setItem: () => {},
      removeItem: () => {},
    };
    const auth = createManager({ storage: never, channel: false });
    const events = recordEvents(auth);
    const ready = track(auth.ready);

    await vi.advanceTimersByTimeAsync(1_900);
    expect(auth.getState().status).toBe('loading');
    await vi.advanceTimersByTimeAsync(200);

    expect(ready.settled).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.error).toHaveLength(1);
  });

  it('setTokens() while the storage is read: waits for the read, then holds its own tokens, not the stored ones', async () => {
    const stored = issue('stored');
    const slow = slowStorage(await storedSessionText(stored, 'r-stored'));
    const auth = createManager({ storage: slow.storage, channel: false });
    const events = recordEvents(auth);
    const mine = issue('mine');
    const setting = track(auth.setTokens({ accessToken: mine, refreshToken: 'r-mine' }));
    await vi.advanceTimersByTimeAsync(100);
    expect(setting.settled).toBe(false);
    expect(auth.getState().status).toBe('loading');

    slow.answer();
    await until(() => setting.settled, 'setTokens');

    expect(setting.rejected).toBe(false);
    expectSignedIn(auth, mine);
    expect(events.login).toEqual([{ source: 'local' }]);
  });

  it('logout() while the storage is read ends the stored session and tells the server of its tokens', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const stored = issue('stored');
    const slow = slowStorage(await storedSessionText(stored, 'r-stored'));
    const auth = createManager({ storage: slow.storage, channel: false, logout: { url: LOGOUT_URL } });
    const statuses = watchStatus(auth);
    const events = recordEvents(auth);
    const result = track(auth.logout());
    await vi.advanceTimersByTimeAsync(100);
    expect(auth.getState().status).toBe('loading');

    slow.answer();
    await until(() => result.settled, 'logout');

    expect(result.value).toEqual({ serverNotified: true });
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(logout.seen.map((request) => JSON.parse(request.body))).toEqual([{ refresh_token: 'r-stored' }]);
    // What a subscriber saw; the stored session shows for the moment between the read and the logout.
    console.log(`logout while the storage is read: statuses seen ${statuses.join(' → ')}`);
  });
});

describe('a tab with memory storage and a channel', () => {
  it('alone on its channel: known within microtasks, no fake time passes', async () => {
    const startedAt = Date.now();
    const auth = openTab('b');
    const statuses = watchStatus(auth);
    const ready = track(auth.ready);

    await microtasks();

    expect(ready.settled).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(Date.now()).toBe(startedAt);
    expect(statuses.filter((status) => status !== 'loading')).toEqual(['unauthenticated']);
    expect(statuses.indexOf('loading')).toBeLessThanOrEqual(0);
  });

  it('alone once the only other tab was destroyed: known within microtasks', async () => {
    const { tab: a } = await signedInTab('a');
    a.destroy();
    const startedAt = Date.now();
    const b = openTab('b');
    const ready = track(b.ready);

    await microtasks();

    expect(ready.settled).toBe(true);
    expect(b.getState().status).toBe('unauthenticated');
    expect(Date.now()).toBe(startedAt);
  });

  it("next to a signed-in tab that answers at once: that tab's session within microtasks, 'login' from 'remote'", async () => {
    const { token } = await signedInTab('a');
    const startedAt = Date.now();
    const b = openTab('b');
    const events = recordEvents(b);
    const statuses = watchStatus(b);
    const ready = track(b.ready);

    await microtasks();

    expect(ready.settled).toBe(true);
    expectSignedIn(b, token);
    expect(Date.now()).toBe(startedAt);
    expect(statuses).toEqual(['loading', 'authenticated']);
    expect(events).toMatchObject({ login: [{ source: 'remote' }], logout: [], error: [] });
  });

  it("next to a signed-in tab that answers after 50 ms: 'loading' until then, then its session", async () => {
    const { token } = await signedInTab('a');
    bus.hold('a');
    const startedAt = Date.now();
    const b = openTab('b');
    const events = recordEvents(b);
    const statuses = watchStatus(b);
    const ready = track(b.ready);

    await vi.advanceTimersByTimeAsync(50);
    expect(b.getState().status).toBe('loading');
    expect(ready.settled).toBe(false);

    bus.release('a');
    await flush();

    expectSignedIn(b, token);
    expect(ready.settled).toBe(true);
    expect(Date.now() - startedAt).toBe(50);
    expect(statuses).toEqual(['loading', 'authenticated']);
    expect(events).toMatchObject({ login: [{ source: 'remote' }], logout: [], error: [] });
  });

  it('next to a signed-out tab: unauthenticated as soon as it answers, without waiting out 100 ms', async () => {
    const a = openTab('a');
    await within(a.ready);
    const startedAt = Date.now();
    const b = openTab('b');
    const ready = track(b.ready);

    await microtasks();

    expect(ready.settled).toBe(true);
    expect(b.getState().status).toBe('unauthenticated');
    expect(Date.now()).toBe(startedAt);
  });

  it("next to a tab that never answers: 'loading' for 100 ms, not a moment longer, then unauthenticated", async () => {
    await signedInTab('a');
    bus.hold('a');
    const b = openTab('b');
    const events = recordEvents(b);
    const statuses = watchStatus(b);
    const ready = track(b.ready);

    await vi.advanceTimersByTimeAsync(99);
    expect(b.getState().status).toBe('loading');
    expect(ready.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);

    expect(b.getState().status).toBe('unauthenticated');
    expect(ready.settled).toBe(true);
    expect(statuses).toEqual(['loading', 'unauthenticated']);
    expect(events).toMatchObject({ login: [], logout: [], error: [] });
  });

  it('next to two signed-in tabs of which one never answers: the session of the one that does, at once', async () => {
    const { token } = await signedInTab('a');
    const c = openTab('c');
    await within(c.ready);
    expectSignedIn(c, token);
    bus.hold('c');
    const startedAt = Date.now();
    const b = openTab('b');

    await microtasks();

    expectSignedIn(b, token);
    expect(Date.now()).toBe(startedAt);
  });
});

describe('setTokens() and logout() during loading win over the tabs asked', () => {
  it('setTokens() while the query is out: its tokens at once, and a late answer with an older session is dropped', async () => {
    const { tab: a } = await signedInTab('a', 'older');
    await vi.advanceTimersByTimeAsync(1_000);
    bus.hold('a');
    const b = openTab('b');
    const events = recordEvents(b);
    const statuses = watchStatus(b);
    const ready = track(b.ready);
    await microtasks();
    expect(b.getState().status).toBe('loading');

    const mine = issue('mine');
    await b.setTokens({ accessToken: mine, refreshToken: 'r-mine' });

    expectSignedIn(b, mine);
    expect(ready.settled).toBe(true);
    bus.release('a');
    await vi.advanceTimersByTimeAsync(200);
    expectSignedIn(b, mine);
    expect(statuses).toEqual(['loading', 'authenticated']);
    expect(events).toMatchObject({ login: [{ source: 'local' }], logout: [], error: [] });
    // Tabs on one channel share one session: the later login reaches the older tab.
    expectSignedIn(a, mine);
  });

  // API.md: setTokens() wins over a tab query still in flight, "whose result is then dropped"; and "ordering never
  // depends on the device clock, which can jump either way".
  it('setTokens() while the query is out wins even when the device clock was set back since the other login', async () => {
    const { tab: a } = await signedInTab('a', 'older');
    // The user (or NTP) sets the device clock back an hour; then a new tab opens and signs in.
    vi.setSystemTime(Date.now() - 3_600_000);
    bus.hold('a');
    const b = openTab('b');
    await microtasks();
    expect(b.getState().status).toBe('loading');

    const mine = issue('mine');
    await b.setTokens({ accessToken: mine, refreshToken: 'r-mine' });
    expectSignedIn(b, mine);
    bus.release('a');
    await vi.advanceTimersByTimeAsync(200);

    expectSignedIn(b, mine);
    expectSignedIn(a, mine);
  });

  // The same rule where the two logins share a millisecond: which one wins must not depend on the tokens' hashes.
  it('setTokens() while the query is out wins over an answer of the same millisecond, whatever the tokens', async () => {
    const lost: number[] = [];
    for (let pair = 0; pair < 8; pair += 1) {
      bus = createChannelBus();
      channelName = `tk-loading-${crypto.randomUUID()}`;
      const startedAt = Date.now();
      const { tab: a } = await signedInTab('a', `older-${pair}`);
      bus.hold('a');
      const b = openTab('b');
      await microtasks();
      const mine = issue(`mine-${pair}`);
      await b.setTokens({ accessToken: mine, refreshToken: `r-mine-${pair}` });
      expect(Date.now(), 'both logins in one millisecond').toBe(startedAt);
      bus.release('a');
      await flush();
      if (b.getState().accessToken !== mine) lost.push(pair);
      a.destroy();
      b.destroy();
    }
    expect(lost, 'pairs where the late answer replaced the tokens set during loading').toEqual([]);
  });

  it('logout() while the query is out: signed out at once, and the late answer is dropped', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const { tab: a } = await signedInTab('a');
    const aEvents = recordEvents(a);
    await vi.advanceTimersByTimeAsync(1_000);
    bus.hold('a');
    const b = openTab('b', { logout: { url: LOGOUT_URL } });
    const events = recordEvents(b);
    const statuses = watchStatus(b);
    const ready = track(b.ready);
    await microtasks();
    expect(b.getState().status).toBe('loading');

    const result = await within(b.logout());

    expect(b.getState().status).toBe('unauthenticated');
    expect(ready.settled).toBe(true);
    bus.release('a');
    await vi.advanceTimersByTimeAsync(200);
    expect(b.getState().status).toBe('unauthenticated');
    expect(statuses).toEqual(['loading', 'unauthenticated']);
    expect(events).toMatchObject({ login: [], error: [] });
    // The other tab: "a logout in any tab ends the session in every tab".
    console.log(
      `logout() during loading: the new tab resolved ${JSON.stringify(result)}; the other tab is ${a.getState().status}` +
        ` (events: logout ${JSON.stringify(aEvents.logout)}); logout endpoint calls: ${logout.seen.length}`,
    );
    expect(a.getState().status).toBe('unauthenticated');
    expect(aEvents.logout).toEqual([{ reason: 'remote' }]);
  });

  // The logout ends the other tab's session, but the tab that logged out held no token to send, and the other tab
  // does not call the endpoint for a remote logout: nobody revokes the refresh token at the server.
  it('logout() while the query is out: the session it ends in the other tab is ended at the server too', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const { tab: a, refresh } = await signedInTab('a');
    await vi.advanceTimersByTimeAsync(1_000);
    bus.hold('a');
    const b = openTab('b', { logout: { url: LOGOUT_URL } });
    await microtasks();

    await within(b.logout());
    bus.release('a');
    await vi.advanceTimersByTimeAsync(1_000);

    expect(a.getState().status).toBe('unauthenticated');
    // Ended in every tab, the session's refresh token must not stay valid at the server: some tab tells it.
    expect(logout.seen.map((request) => JSON.parse(request.body))).toEqual([{ refresh_token: refresh }]);
  });

  // API.md: logout() wins over a tab query still in flight, whose result is dropped; the device clock does not matter.
  it('logout() while the query is out wins even when the device clock was set back since the other login', async () => {
    const { tab: a } = await signedInTab('a');
    vi.setSystemTime(Date.now() - 3_600_000);
    bus.hold('a');
    const b = openTab('b');
    const events = recordEvents(b);
    await microtasks();
    expect(b.getState().status).toBe('loading');

    await within(b.logout());
    expect(b.getState().status).toBe('unauthenticated');
    bus.release('a');
    await vi.advanceTimersByTimeAsync(200);

    expect(b.getState().status).toBe('unauthenticated');
    expect(events.login).toEqual([]);
    console.log(`logout() during loading, clock set back: the other tab is ${a.getState().status}`);
  });

  // Once logout() or setTokens() was called, the session storage held before is not news to show: a subscriber (a
  // UI) that renders it flashes a signed-in page, or another user's claims, for a moment.
  it('a subscriber of a tab whose logout() was called while the storage was read never sees the stored session', async () => {
    const stored = issue('stored');
    const slow = slowStorage(await storedSessionText(stored, 'r-stored'));
    const auth = createManager({ storage: slow.storage, channel: false });
    const seen: (string | null)[] = [];
    auth.subscribe((state) => seen.push(state.accessToken === stored ? 'the stored token' : state.accessToken));
    const result = track(auth.logout());
    await vi.advanceTimersByTimeAsync(100);

    slow.answer();
    await until(() => result.settled, 'logout');

    expect(auth.getState().status).toBe('unauthenticated');
    expect(seen).not.toContain('the stored token');
  });

  it("a subscriber of a tab whose setTokens() was called while the storage was read never sees the stored (another user's) session", async () => {
    const stored = issue('previous-user');
    const slow = slowStorage(await storedSessionText(stored, 'r-stored'));
    const auth = createManager({ storage: slow.storage, channel: false });
    const seen: (string | null)[] = [];
    auth.subscribe((state) => seen.push(state.accessToken === stored ? 'the stored token' : 'other'));
    const mine = issue('next-user');
    const setting = track(auth.setTokens({ accessToken: mine, refreshToken: 'r-mine' }));
    await vi.advanceTimersByTimeAsync(100);

    slow.answer();
    await until(() => setting.settled, 'setTokens');

    expect(auth.getState().accessToken).toBe(mine);
    expect(seen).not.toContain('the stored token');
  });
});

describe('logout() and setTokens() called one after the other while the storage is read', () => {
  // The logout, called first, is stamped only when the storage has answered, after the setTokens() called later,
  // whose stamp was taken at its call: the logout ends the later login, and setTokens() resolves signed out.
  it.each([
    ['alone on its channel', 'alone'],
    ['next to a signed-in tab', 'next to a tab'],
    ['channel: false, restore: true', 'restore'],
  ] as const)('(%s) logout() then setTokens(): the later login holds once the storage answers', async (_, setup) => {
    if (setup === 'next to a tab') await signedInTab('a');
    if (setup === 'restore') server.use(refreshEndpoint(() => new Response(null, { status: 401 })).handler);
    const slow = slowStorage(null);
    const b =
      setup === 'restore'
        ? createManager({ storage: slow.storage, channel: false, restore: true, refresh: { url: REFRESH_URL } })
        : openTab('b', { storage: slow.storage });
    const events = recordEvents(b);
    const loggedOut = track(b.logout());
    await vi.advanceTimersByTimeAsync(1);
    const mine = issue('mine');
    const signedIn = track(b.setTokens({ accessToken: mine, refreshToken: 'r-mine' }));
    await vi.advanceTimersByTimeAsync(1);
    expect(b.getState().status).toBe('loading');

    slow.answer();
    await until(() => loggedOut.settled && signedIn.settled, 'logout() and setTokens()');
    await vi.advanceTimersByTimeAsync(200);

    expect(signedIn.rejected).toBe(false);
    expectSignedIn(b, mine);
    expect(events.login).toEqual([{ source: 'local' }]);
  });

  // API.md: "A logout in any tab ends the session in every tab ... unless that tab signed in anew after the logout".
  // The logout reaches the loading tab and is written to its storage; setTokens() then reads it back as something
  // stored before its call, and orders its login after the logout.
  it('setTokens() in a tab whose storage is still read, then logout() in another tab: the logout ends that login too', async () => {
    const { tab: a } = await signedInTab('a');
    const slow = slowStorage(null);
    const b = openTab('b', { storage: slow.storage });
    const signedIn = track(b.setTokens({ accessToken: issue('mine'), refreshToken: 'r-mine' }));
    await vi.advanceTimersByTimeAsync(1);
    // The logout comes after the login was called: "a logout in any tab ends the session in every tab".
    await within(a.logout());
    await vi.advanceTimersByTimeAsync(1);
    expect(b.getState().status).toBe('loading');

    slow.answer();
    await until(() => signedIn.settled, 'setTokens()');
    await vi.advanceTimersByTimeAsync(200);

    expect(held(b)).toEqual({ status: 'unauthenticated', token: null });
    expect(held(a)).toEqual({ status: 'unauthenticated', token: null });
  });

  it('(next to a signed-in tab) setTokens() then logout(): signed out once the storage answers', async () => {
    await signedInTab('a');
    const slow = slowStorage(null);
    const b = openTab('b', { storage: slow.storage });
    const signedIn = track(b.setTokens({ accessToken: issue('mine'), refreshToken: 'r-mine' }));
    await vi.advanceTimersByTimeAsync(1);
    const loggedOut = track(b.logout());
    await vi.advanceTimersByTimeAsync(1);

    slow.answer();
    await until(() => loggedOut.settled && signedIn.settled, 'setTokens() and logout()');
    await vi.advanceTimersByTimeAsync(200);

    expect(b.getState().status).toBe('unauthenticated');
  });
});

describe('destroy() during loading', () => {
  it('while an asynchronous storage is read: ready settles, signed out, and the late read changes nothing', async () => {
    const slow = slowStorage(await storedSessionText(issue('token-4'), 'r-1'));
    const auth = createManager({ storage: slow.storage, channel: false });
    const ready = track(auth.ready);
    const accessToken = track(auth.getAccessToken());
    const statuses = watchStatus(auth);

    auth.destroy();
    await microtasks();
    expect(ready.settled).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');

    slow.answer();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(accessToken).toMatchObject({ settled: true, rejected: false, value: null });
    expect(statuses).not.toContain('authenticated');
  });

  it('while the tabs are asked: ready settles, signed out, and the late answer changes nothing', async () => {
    await signedInTab('a');
    bus.hold('a');
    const b = openTab('b');
    const ready = track(b.ready);
    const accessToken = track(b.getAccessToken());
    await microtasks();
    expect(b.getState().status).toBe('loading');

    b.destroy();
    await microtasks();
    expect(ready.settled).toBe(true);
    expect(b.getState().status).toBe('unauthenticated');
    bus.release('a');
    await vi.advanceTimersByTimeAsync(200);
    expect(b.getState().status).toBe('unauthenticated');
    expect(accessToken).toMatchObject({ settled: true, rejected: false, value: null });
  });

  it('while the restore call is out: ready settles, signed out, and the answer is dropped', async () => {
    const gate = deferred();
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return HttpResponse.json({ access_token: issue('token-5') });
    });
    server.use(refresh.handler);
    const auth = createManager({ channel: false, restore: true, refresh: { url: REFRESH_URL } });
    const events = recordEvents(auth);
    const ready = track(auth.ready);
    await until(() => refresh.seen.length === 1, 'the restore call');
    expect(auth.getState().status).toBe('loading');

    auth.destroy();
    await microtasks();
    expect(ready.settled).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');
    gate.resolve();
    await vi.advanceTimersByTimeAsync(500);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events).toMatchObject({ login: [], logout: [], error: [] });
  });
});

describe("restore: true (the refresh token in an HttpOnly cookie): 'loading' while the server is asked", () => {
  /** A refresh endpoint that answers `respond(n)` to its n-th call, after `gate` when given. */
  function cookieEndpoint(respond: (call: number) => Response, gate?: Promise<void>) {
    const endpoint = refreshEndpoint(async (call) => {
      if (gate) await gate;
      return respond(call);
    });
    server.use(endpoint.handler);
    return endpoint;
  }
  const issued = (name: string) => () => HttpResponse.json({ access_token: issue(name), expires_in: HOUR_S });
  const status = (code: number) => () => new Response(null, { status: code });

  /** A manager that restores from the cookie; memory storage and no channel unless told otherwise. */
  function cookieApp(options: Partial<TokenManagerOptions> = {}): TokenManager {
    return createManager({
      channel: false,
      restore: true,
      refresh: { url: REFRESH_URL, credentials: 'include' },
      logout: { url: LOGOUT_URL, credentials: 'include' },
      ...options,
    });
  }

  it("nothing known at start: one call without a refresh token, 'loading' until it answers, then signed in (restore)", async () => {
    const gate = deferred();
    const refresh = cookieEndpoint(issued('restored'), gate.promise);
    const auth = cookieApp();
    const events = recordEvents(auth);
    const statuses = watchStatus(auth);
    const ready = track(auth.ready);

    await until(() => refresh.seen.length === 1, 'the restore call');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(auth.getState().status).toBe('loading');
    expect(ready.settled).toBe(false);
    gate.resolve();
    await until(() => ready.settled, 'ready');

    expect(held(auth)).toEqual({ status: 'authenticated', token: 'restored' });
    expect(statuses).toEqual(['loading', 'authenticated']);
    expect(events).toMatchObject({ login: [{ source: 'restore' }], logout: [], error: [] });
    expect(refresh.seen).toHaveLength(1);
    expect((JSON.parse(refresh.seen[0]!.body) as { refresh_token?: unknown }).refresh_token ?? null).toBeNull();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(refresh.seen).toHaveLength(1);
  });

  it('a session in a synchronous storage: never loading, no call', async () => {
    const refresh = cookieEndpoint(issued('restored'));
    const token = issue('stored');
    const storage = createTestStorage({ initial: { [storageKey]: await storedSessionText(token, 'r-1') } });
    const auth = cookieApp({ storage });

    expectSignedIn(auth, token);
    await vi.advanceTimersByTimeAsync(1_000);
    expectSignedIn(auth, token);
    expect(refresh.seen).toHaveLength(0);
  });

  it('a session in an asynchronous storage: loading until it is read, then signed in with it, no call', async () => {
    const refresh = cookieEndpoint(issued('restored'));
    const token = issue('stored');
    const slow = slowStorage(await storedSessionText(token, 'r-1'));
    const auth = cookieApp({ storage: slow.storage });
    const statuses = watchStatus(auth);
    await vi.advanceTimersByTimeAsync(500);
    expect(auth.getState().status).toBe('loading');

    slow.answer();
    await vi.advanceTimersByTimeAsync(1_000);

    expectSignedIn(auth, token);
    expect(statuses).toEqual(['loading', 'authenticated']);
    expect(refresh.seen).toHaveLength(0);
  });

  it('a new tab next to a signed-in tab: the session from the tab, no call', async () => {
    const refresh = cookieEndpoint(issued('restored'));
    const { token } = await signedInTab('a');
    const b = openTab('b', { restore: true, refresh: { url: REFRESH_URL, credentials: 'include' } });
    const events = recordEvents(b);

    await until(() => b.getState().status !== 'loading', 'the status');
    await vi.advanceTimersByTimeAsync(1_000);

    expectSignedIn(b, token);
    expect(events.login).toEqual([{ source: 'remote' }]);
    expect(refresh.seen).toHaveLength(0);
  });

  it('two tabs starting together with memory storage: one server call in all, both signed in with its answer', async () => {
    const gate = deferred();
    const refresh = cookieEndpoint(issued('restored'), gate.promise);
    const options = { restore: true, refresh: { url: REFRESH_URL, credentials: 'include' as const } };
    const a = openTab('a', options);
    const b = openTab('b', options);
    const aEvents = recordEvents(a);
    const bEvents = recordEvents(b);

    await until(() => refresh.seen.length === 1, 'the restore call');
    await vi.advanceTimersByTimeAsync(500);
    expect([a.getState().status, b.getState().status]).toEqual(['loading', 'loading']);
    gate.resolve();
    await until(() => a.getState().status !== 'loading' && b.getState().status !== 'loading', 'both statuses');
    await vi.advanceTimersByTimeAsync(20_000); // past the lock's wait limit: a tab that gave up waiting would call now

    expect(held(a)).toEqual({ status: 'authenticated', token: 'restored' });
    expect(held(b)).toEqual({ status: 'authenticated', token: 'restored' });
    expect(refresh.seen).toHaveLength(1);
    expect([...aEvents.login, ...bEvents.login].map((event) => event.source).sort()).toEqual(['remote', 'restore']);
    expect([...aEvents.error, ...bEvents.error]).toEqual([]);
  });

  it.each([400, 401])("answered %i: unauthenticated, with no 'logout' and no 'error' event", async (code) => {
    const refresh = cookieEndpoint(status(code));
    const auth = cookieApp();
    const events = recordEvents(auth);
    const statuses = watchStatus(auth);

    await until(() => auth.getState().status !== 'loading', 'the status');
    await vi.advanceTimersByTimeAsync(10 * 60_000);

    expect(auth.getState().status).toBe('unauthenticated');
    expect(statuses).toEqual(['loading', 'unauthenticated']);
    expect(events).toMatchObject({ login: [], logout: [], error: [] });
    expect(refresh.seen).toHaveLength(1);
  });

  it("answered 503: unauthenticated with exactly one 'error', and no retry in the background", async () => {
    const refresh = cookieEndpoint(status(503));
    const auth = cookieApp();
    const events = recordEvents(auth);
    const ready = track(auth.ready);

    await until(() => ready.settled, 'ready');
    expect(auth.getState().status).toBe('unauthenticated');
    await vi.advanceTimersByTimeAsync(10 * 60_000);

    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.error).toHaveLength(1);
    expect(events.error[0]!.error.code).toBe('refresh_failed');
    expect(events).toMatchObject({ login: [], logout: [] });
    expect(refresh.seen).toHaveLength(1);
  });

  it('refresh() while signed out asks the server and resolves the restored token', async () => {
    const refresh = cookieEndpoint((call) => (call === 1 ? status(401)() : issued('restored later')()));
    const auth = cookieApp();
    const events = recordEvents(auth);
    await until(() => auth.getState().status === 'unauthenticated', 'signed out');

    const token = await within(auth.refresh());

    expect(names.get(token)).toBe('restored later');
    expect(held(auth)).toEqual({ status: 'authenticated', token: 'restored later' });
    expect(refresh.seen).toHaveLength(2);
    expect(events.login).toEqual([{ source: 'restore' }]);
  });

  it('refresh() while signed out, answered 401: rejects with NotAuthenticatedError, quietly', async () => {
    const refresh = cookieEndpoint(status(401));
    const auth = cookieApp();
    const events = recordEvents(auth);
    await until(() => auth.getState().status === 'unauthenticated', 'signed out');

    const error = await within(rejectionOf(auth.refresh()));

    expect(error).toBeInstanceOf(NotAuthenticatedError);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(refresh.seen).toHaveLength(2);
    expect(events).toMatchObject({ login: [], logout: [], error: [] });
  });

  it('refresh() while the start restore is in flight joins it: one call, and it resolves the token', async () => {
    const gate = deferred();
    const refresh = cookieEndpoint(issued('restored'), gate.promise);
    const auth = cookieApp();
    await until(() => refresh.seen.length === 1, 'the restore call');
    expect(auth.getState().status).toBe('loading');

    const refreshed = track(auth.refresh());
    const accessToken = track(auth.getAccessToken());
    await vi.advanceTimersByTimeAsync(100);
    expect(refreshed.settled).toBe(false);
    gate.resolve();
    await until(() => refreshed.settled && accessToken.settled, 'refresh() and getAccessToken()');

    expect(refreshed.rejected).toBe(false);
    expect(names.get(refreshed.value as string)).toBe('restored');
    expect(names.get(accessToken.value as string)).toBe('restored');
    expect(refresh.seen).toHaveLength(1);
  });

  it('setTokens() during the restore call wins: the answer is dropped', async () => {
    const gate = deferred();
    const refresh = cookieEndpoint(issued('restored'), gate.promise);
    const auth = cookieApp();
    const events = recordEvents(auth);
    const ready = track(auth.ready);
    await until(() => refresh.seen.length === 1, 'the restore call');

    const mine = issue('mine');
    await within(auth.setTokens({ accessToken: mine, refreshToken: null }));
    expectSignedIn(auth, mine);
    expect(ready.settled).toBe(true);
    gate.resolve();
    await vi.advanceTimersByTimeAsync(1_000);

    expectSignedIn(auth, mine);
    expect(events).toMatchObject({ login: [{ source: 'local' }], logout: [], error: [] });
    expect(refresh.seen).toHaveLength(1);
  });

  it('logout() during the restore call: signed out, the answer dropped, and the logout endpoint is called', async () => {
    const gate = deferred();
    const refresh = cookieEndpoint(issued('restored'), gate.promise);
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = cookieApp();
    const events = recordEvents(auth);
    const statuses = watchStatus(auth);
    const ready = track(auth.ready);
    await until(() => refresh.seen.length === 1, 'the restore call');

    const result = await within(auth.logout());

    expect(result).toEqual({ serverNotified: true });
    expect(auth.getState().status).toBe('unauthenticated');
    expect(ready.settled).toBe(true);
    gate.resolve();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(statuses).toEqual(['loading', 'unauthenticated']);
    expect(events).toMatchObject({ login: [], error: [] });
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({});
  });
});

describe('property: random interleavings around a tab that opens next to a signed-in tab', () => {
  type Step =
    | { kind: 'open B' }
    | { kind: "B's storage answers" }
    | { kind: 'deliver to A' }
    | { kind: 'deliver to B' }
    | { kind: 'setTokens in B' }
    | { kind: 'logout in B' }
    | { kind: 'logout in A' }
    | { kind: 'getAccessToken in B' }
    | { kind: 'time passes'; ms: number };

  const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
    fc.constant<Step>({ kind: 'open B' }),
    fc.constant<Step>({ kind: "B's storage answers" }),
    fc.constant<Step>({ kind: 'deliver to A' }),
    fc.constant<Step>({ kind: 'deliver to B' }),
    fc.constant<Step>({ kind: 'setTokens in B' }),
    fc.constant<Step>({ kind: 'logout in B' }),
    fc.constant<Step>({ kind: 'logout in A' }),
    fc.constant<Step>({ kind: 'getAccessToken in B' }),
    fc.integer({ min: 1, max: 150 }).map<Step>((ms) => ({ kind: 'time passes', ms })),
  );

  interface Interleaving {
    /** B's own storage (a duplicated tab's sessionStorage, say) holds a copy of A's session. */
    bStorageHoldsACopy: boolean;
    steps: Step[];
  }
  const interleavingArbitrary: fc.Arbitrary<Interleaving> = fc.record({
    bStorageHoldsACopy: fc.boolean(),
    steps: fc.array(stepArbitrary, { minLength: 1, maxLength: 14 }),
  });

  /**
   * Tab A (memory storage) is signed in with S0. Every step happens a millisecond after the one before (as on a
   * real clock), and every message waits until a step delivers it to its tab. Then everything is delivered, the
   * storage answers and 4 s pass. What must hold:
   * - `ready` settles in both tabs, and every promise the steps started settles;
   * - a status never goes back to 'loading' once it left it;
   * - neither tab ends signed in with a session that a logout called after it (in any tab) ended: a logout ends
   *   every session begun before it when its tab was signed in or still loading (a logout in a tab that shows
   *   'unauthenticated' ends nothing);
   * - when the last login or logout of the run is a setTokens() in B, both tabs end with its tokens;
   * - both tabs end with the same session; no refresh is called (tokens live an hour).
   */
  async function runInterleaving({ bStorageHoldsACopy, steps }: Interleaving): Promise<void> {
    const runBus = createChannelBus();
    const runChannel = `tk-loading-property-${crypto.randomUUID()}`;
    const runKey = `tk-loading-property-${crypto.randomUUID()}`;
    let refreshCount = 0;
    const refresh: RefreshFn = async () => {
      refreshCount += 1;
      throw new Error('no refresh in this property');
    };
    const managers: TokenManager[] = [];
    const open = (label: string, storage: TokenStorage): TokenManager => {
      const auth = createTokenManager({
        refresh,
        storage,
        storageKey: runKey,
        channel: runChannel,
        onResume: noResume,
        environment: { createChannel: runBus.tab(label) },
      });
      managers.push(auth);
      return auth;
    };
    const tokenNames = new Map<string, string>();
    /** The step at which each session began (its setTokens() was called). */
    const begunAt = new Map<string, number>();
    const nameOf = (token: string | null): string => (token === null ? '-' : (tokenNames.get(token) ?? '?'));
    const begin = (token: string, name: string, step: number): string => {
      tokenNames.set(token, name);
      begunAt.set(token, step);
      return token;
    };
    const started: { what: string; tracked: Tracked<unknown> }[] = [];
    /** Steps of the logouts that end something: called while their tab was signed in or loading. */
    const endingLogouts: number[] = [];
    let lastLogin: { step: number; token: string; tracked: Tracked<unknown> } | null = null;
    const trace: string[] = [];
    const describeTab = (tab: TokenManager | null): string =>
      tab === null ? 'closed' : `${tab.getState().status} ${nameOf(tab.getState().accessToken)}`;

    try {
      const aStorage = createTestStorage();
      const a = open('a', aStorage);
      const aStatuses = watchStatus(a);
      started.push({ what: "A's ready", tracked: track(a.ready) });
      const s0 = begin(jwtFor(HOUR_S, { sub: 's0' }), 'S0', 0);
      await soon(a.setTokens({ accessToken: s0, refreshToken: 'r-s0' }));
      const copy = aStorage.values.get(runKey) ?? null;
      runBus.hold('a');
      runBus.hold('b');
      let b: TokenManager | null = null;
      let bStatuses: AuthState['status'][] = [];
      let bStorage: ReturnType<typeof slowStorage> | null = null;
      trace.push(`0: A signs in with S0 → A ${describeTab(a)}`);

      for (const [index, step] of steps.entries()) {
        const at = index + 1;
        await vi.advanceTimersByTimeAsync(1);
        switch (step.kind) {
          case 'open B':
            if (b === null) {
              bStorage = slowStorage(bStorageHoldsACopy ? copy : null, runKey);
              b = open('b', bStorage.storage);
              bStatuses = watchStatus(b);
              started.push({ what: "B's ready", tracked: track(b.ready) });
            }
            break;
          case "B's storage answers":
            bStorage?.answer();
            break;
          case 'deliver to A':
          case 'deliver to B': {
            const label = step.kind === 'deliver to A' ? 'a' : 'b';
            runBus.release(label);
            await flush();
            runBus.hold(label);
            break;
          }
          case 'setTokens in B':
            if (b !== null) {
              const token = begin(jwtFor(HOUR_S, { sub: `s${at}` }), `S${at}`, at);
              const tracked = track(b.setTokens({ accessToken: token, refreshToken: `r-s${at}` }));
              started.push({ what: `setTokens in B at step ${at}`, tracked });
              lastLogin = { step: at, token, tracked };
            }
            break;
          case 'logout in B':
          case 'logout in A': {
            const tab = step.kind === 'logout in A' ? a : b;
            if (tab === null) break;
            if (tab.getState().status !== 'unauthenticated') endingLogouts.push(at);
            started.push({ what: `${step.kind} at step ${at}`, tracked: track(tab.logout()) });
            break;
          }
          case 'getAccessToken in B':
            if (b !== null)
              started.push({ what: `getAccessToken in B at step ${at}`, tracked: track(b.getAccessToken()) });
            break;
          case 'time passes':
            await vi.advanceTimersByTimeAsync(step.ms);
            break;
        }
        await flush();
        const label = step.kind === 'time passes' ? `${step.ms} ms pass` : step.kind;
        trace.push(`${at}: ${label} → A ${describeTab(a)}, B ${describeTab(b)}`);
      }

      bStorage?.answer();
      runBus.release();
      for (let elapsed = 0; elapsed < 4_000; elapsed += 100) await vi.advanceTimersByTimeAsync(100);
      trace.push(`end: everything delivered, 4 s later → A ${describeTab(a)}, B ${describeTab(b)}`);

      const problems: string[] = [];
      for (const { what, tracked } of started) if (!tracked.settled) problems.push(`${what} never settled`);
      for (const [name, statuses] of [
        ['A', aStatuses],
        ['B', bStatuses],
      ] as const) {
        if (statuses.lastIndexOf('loading') > 0)
          problems.push(`${name} went back to 'loading': ${statuses.join(' → ')}`);
      }
      const ends = [
        ['A', a],
        ['B', b],
      ] as const;
      for (const [name, tab] of ends) {
        const token = tab?.getState().accessToken ?? null;
        if (token === null) continue;
        const begun = begunAt.get(token);
        const endedBy = endingLogouts.find((step) => begun === undefined || begun < step);
        if (endedBy !== undefined) {
          problems.push(`${name} ends signed in with ${nameOf(token)}, which the logout of step ${endedBy} ended`);
        }
      }
      const lastEnding = endingLogouts.length > 0 ? Math.max(...endingLogouts) : -1;
      if (lastLogin && lastLogin.step > lastEnding) {
        if (lastLogin.tracked.rejected) problems.push(`the last setTokens() in B (step ${lastLogin.step}) rejected`);
        for (const [name, tab] of ends) {
          if (tab && tab.getState().accessToken !== lastLogin.token) {
            problems.push(`${name} ends with ${describeTab(tab)}, not S${lastLogin.step}, the last login of the run`);
          }
        }
      }
      if (b && a.getState().accessToken !== b.getState().accessToken) {
        problems.push(`the tabs end apart: A ${describeTab(a)}, B ${describeTab(b)}`);
      }
      if (refreshCount !== 0) problems.push(`${refreshCount} refresh calls`);
      if (problems.length > 0) {
        throw new Error(
          `${problems.join('; ')}\n  B's storage holds a copy of S0: ${bStorageHoldsACopy}\n  ${trace.join('\n  ')}`,
        );
      }
    } finally {
      for (const auth of managers) auth.destroy();
    }
  }

  it('keeps its invariants (seed printed; replay with TOKENKEEPER_LOADING_SEED)', async () => {
    console.log(
      `loading property: seed ${PROPERTY_SEED}, ${PROPERTY_RUNS} runs (replay: TOKENKEEPER_LOADING_SEED=${PROPERTY_SEED})`,
    );
    await fc.assert(fc.asyncProperty(interleavingArbitrary, runInterleaving), {
      seed: PROPERTY_SEED,
      numRuns: PROPERTY_RUNS,
      verbose: 1,
    });
  }, 60_000);
});

describe('what the tabs answer while a login or logout is made here', () => {
  it('a logout in an answer is taken in, even after a login here: a logout made after that login ends it', async () => {
    const probe = bus.tab('probe')(channelName)!;
    const seen: Record<string, unknown>[] = [];
    probe.onmessage = (event) => seen.push(event.data as Record<string, unknown>);
    // Another tab on the channel that does not answer yet: tab a stays 'loading', asking.
    openTab('c');
    await microtasks();
    bus.hold('c');
    const a = openTab('a');
    await microtasks();
    expect(a.getState().status).toBe('loading');
    const query = seen.filter((message) => message.type === 'query').at(-1);
    expect(query, 'the first query of tab a').toBeDefined();
    const mine = issue('mine');
    await within(a.setTokens({ accessToken: mine, refreshToken: 'r-mine' }));
    expect(held(a)).toEqual({ status: 'authenticated', token: 'mine' });
    // Another tab answers the first query with a logout made after that login (it heard of it before the login).
    probe.postMessage({
      protocol: 'tokenkeeper',
      version: 2,
      from: 'tab-c',
      type: 'state',
      to: query!.from,
      queryId: query!.queryId,
      session: null,
      floor: { stamp: Date.now() + 5, id: 'logout-of-b' },
    });
    await microtasks();
    expect(held(a)).toEqual({ status: 'unauthenticated', token: null });
    probe.close();
  });

  it('a logout called while the storage is read leaves a login another tab made after the call', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const b = openTab('b', { logout: { url: LOGOUT_URL } });
    await soon(b.ready);
    const slow = slowStorage(await storedSessionText(issue('stored'), 'r-stored'));
    const a = openTab('a', { storage: slow.storage, logout: { url: LOGOUT_URL } });
    const loggedOut = track(a.logout());
    await vi.advanceTimersByTimeAsync(10);
    const later = issue('later');
    await within(b.setTokens({ accessToken: later, refreshToken: 'r-later' }));
    slow.answer();
    await until(() => loggedOut.settled, 'logout()');
    await vi.advanceTimersByTimeAsync(200);

    expect(held(a)).toEqual({ status: 'authenticated', token: 'later' });
    expect(held(b)).toEqual({ status: 'authenticated', token: 'later' });
    // The server heard of the session the logout was for (what a's storage held), not of the later login.
    expect(logout.seen.map((request) => JSON.parse(request.body))).toEqual([{ refresh_token: 'r-stored' }]);
  });
});
