import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { TokenManager, TokenManagerOptions } from 'tokenkeeper';
import { deferred, outcome } from '../support/async';
import { type ChannelBus, createChannelBus } from '../support/bus';
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
} from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defects 1, 2 (a storage the tabs share that is not localStorage), 3 and 4: tabs that must converge on one session. "Tabs" are managers in one process on
 * an in-memory channel bus (test/support/bus.ts), so that time is fake and the test decides when a message
 * reaches a tab. Tokens live a day, so that a device clock off by an hour never makes one look expired.
 */

const DAY_S = 24 * 3600;
const HOUR_MS = 3600_000;

installFakeClock();
startServer();

let bus: ChannelBus;
let channelName: string;
let storageKey: string;

beforeEach(() => {
  bus = createChannelBus();
  channelName = `tk-${crypto.randomUUID()}`;
  storageKey = `tk-${crypto.randomUUID()}`;
});

const createTab = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  channel: channelName,
  storageKey,
  onResume: noResume,
}));

/** A tab called `label` on the test's channel bus; `skewMs` sets its device clock off by that much. */
function openTab(label: string, options: { skewMs?: number } & Partial<TokenManagerOptions> = {}): TokenManager {
  const { skewMs = 0, ...rest } = options;
  return createTab({
    ...rest,
    environment: {
      createChannel: bus.tab(label),
      ...(skewMs === 0 ? {} : { now: () => Date.now() + skewMs }),
      ...rest.environment,
    },
  });
}

/** Waits until every tab is ready; a tab may ask the others for the session first (at most 100 ms). */
async function whenReady(...tabs: TokenManager[]): Promise<void> {
  let done = false;
  const all = Promise.all(tabs.map((tab) => tab.ready)).then(() => {
    done = true;
  });
  for (let step = 0; step < 50 && !done; step += 1) await vi.advanceTimersByTimeAsync(10);
  await all;
}

/** Awaits `promise` while moving fake time in small steps, for work that may wait on a timer or the channel. */
async function settled<T>(promise: Promise<T>): Promise<T> {
  let done = false;
  promise.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let step = 0; step < 50 && !done; step += 1) await vi.advanceTimersByTimeAsync(10);
  return promise;
}

/** Names for the tokens a test issues: assertions, and their failure messages, show names, never tokens. */
const names = new Map<string, string>();
beforeEach(() => names.clear());
function named(name: string, token: string): string {
  names.set(token, name);
  return token;
}
/** What a tab holds, by name. */
function held(tab: TokenManager): { status: string; token: string | null } {
  const { status, accessToken } = tab.getState();
  return { status, token: accessToken === null ? null : (names.get(accessToken) ?? 'an unnamed token') };
}

/** Lets the messages posted so far (and what they cause) arrive: the contract's 100 ms. */
const deliver = (): Promise<void> => vi.advanceTimersByTimeAsync(100).then(() => undefined);

/** A refresh endpoint that issues a new, day-long token each call; `gate` holds its answers. */
function issuingRefresh(gate?: Promise<void>) {
  const issued: string[] = [];
  const endpoint = refreshEndpoint(async () => {
    if (gate) await gate;
    const accessToken = named(`issued-${issued.length + 1}`, jwtFor(DAY_S, { sub: 'user-a' }));
    issued.push(accessToken);
    return HttpResponse.json({ access_token: accessToken, refresh_token: `r-next-${issued.length}` });
  });
  server.use(endpoint.handler);
  return { seen: endpoint.seen, issued };
}

describe('defect 1: tabs that set the same tokens themselves share one session', () => {
  it.each([
    ['one after the other', 'a'],
    ['one after the other', 'b'],
    ['at the same moment', 'a'],
    ['at the same moment', 'b'],
  ] as const)(
    'a logout in one tab ends the session in tabs that set the same tokens themselves (%s; tab %s logs out)',
    async (timing, leaver) => {
      const logout = logoutEndpoint();
      server.use(logout.handler);
      const refresh = issuingRefresh();
      const a = openTab('a');
      const b = openTab('b');
      await whenReady(a, b);
      const tokens = { accessToken: named('T', jwtFor(DAY_S)), refreshToken: 'r1' };

      if (timing === 'at the same moment') bus.hold();
      await a.setTokens(tokens);
      if (timing === 'one after the other') await deliver();
      await b.setTokens(tokens);
      bus.release();
      await deliver();
      expect(held(a)).toEqual({ status: 'authenticated', token: 'T' });
      expect(held(b)).toEqual({ status: 'authenticated', token: 'T' });

      const [leaving, staying] = leaver === 'a' ? [a, b] : [b, a];
      const stayingEvents = recordEvents(staying);
      await expect(leaving.logout()).resolves.toEqual({ serverNotified: true });
      await deliver();

      expect(held(leaving)).toEqual({ status: 'unauthenticated', token: null });
      expect(held(staying)).toEqual({ status: 'unauthenticated', token: null });
      expect(stayingEvents.logout).toEqual([{ reason: 'remote' }]);
      await expect(staying.getAccessToken()).resolves.toBeNull();
      expect(logout.seen).toHaveLength(1);
      expect(refresh.seen).toHaveLength(0);
    },
  );
});

describe('defect 3: ordering across tabs does not follow the device clock', () => {
  it.each([
    ['the tab that signed in first is an hour ahead', HOUR_MS, 0],
    ['the tab that signs in later is an hour behind', 0, -HOUR_MS],
  ])('a later login replaces the session in every tab when %s', async (_label, skewFirst, skewLater) => {
    issuingRefresh();
    const first = openTab('first', { skewMs: skewFirst });
    const later = openTab('later', { skewMs: skewLater });
    await whenReady(first, later);
    const x = named('X', jwtFor(DAY_S, { sub: 'user-x' }));
    await first.setTokens({ accessToken: x, refreshToken: 'rx' });
    await deliver();
    expect(held(later)).toEqual({ status: 'authenticated', token: 'X' });
    const firstEvents = recordEvents(first);

    await vi.advanceTimersByTimeAsync(1_000);
    const y = named('Y', jwtFor(DAY_S, { sub: 'user-y' }));
    await later.setTokens({ accessToken: y, refreshToken: 'ry' });
    await deliver();

    expect(held(later)).toEqual({ status: 'authenticated', token: 'Y' });
    expect(held(first)).toEqual({ status: 'authenticated', token: 'Y' });
    expect(first.getState().claims).toMatchObject({ sub: 'user-y' });
    expect(firstEvents.login).toEqual([{ source: 'remote' }]);
  });

  it('a refresh in a tab whose clock is an hour behind reaches a tab that got the login from a tab an hour ahead', async () => {
    const refresh = issuingRefresh();
    const ahead = openTab('ahead', { skewMs: HOUR_MS });
    const behind = openTab('behind', { skewMs: -HOUR_MS });
    await whenReady(ahead, behind);
    await ahead.setTokens({ accessToken: named('login', jwtFor(DAY_S)), refreshToken: 'r1' });
    await deliver();
    const aheadEvents = recordEvents(ahead);

    await vi.advanceTimersByTimeAsync(1_000);
    const fresh = await settled(behind.refresh());
    await deliver();

    expect(refresh.seen).toHaveLength(1);
    expect(names.get(fresh)).toBe('issued-1');
    expect(held(behind)).toEqual({ status: 'authenticated', token: 'issued-1' });
    expect(held(ahead)).toEqual({ status: 'authenticated', token: 'issued-1' });
    expect(aheadEvents.refresh.map((e) => [names.get(e.accessToken), e.source])).toEqual([['issued-1', 'remote']]);
    // The next refresh, in either tab, sends the refresh token that refresh issued.
    await settled(ahead.refresh());
    expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'r-next-1' });
  });

  it('a logout in a tab whose clock is an hour behind ends the login it made after the other tab’s', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    issuingRefresh();
    const normal = openTab('normal');
    const behind = openTab('behind', { skewMs: -HOUR_MS });
    await whenReady(normal, behind);
    await normal.setTokens({ accessToken: jwtFor(DAY_S, { sub: 'user-x' }), refreshToken: 'rx' });
    await deliver();
    await vi.advanceTimersByTimeAsync(1_000);
    await behind.setTokens({ accessToken: jwtFor(DAY_S, { sub: 'user-y' }), refreshToken: 'ry' });
    await deliver();
    const normalEvents = recordEvents(normal);

    await expect(behind.logout()).resolves.toEqual({ serverNotified: true });
    await deliver();

    expect(held(normal)).toEqual({ status: 'unauthenticated', token: null });
    expect(normalEvents.logout).toEqual([{ reason: 'remote' }]);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'ry' });
  });
  it('a logout in a tab whose clock is right ends a login made in a tab an hour ahead (guard)', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    issuingRefresh();
    const ahead = openTab('ahead', { skewMs: HOUR_MS });
    const normal = openTab('normal');
    await whenReady(ahead, normal);
    await ahead.setTokens({ accessToken: named('X', jwtFor(DAY_S)), refreshToken: 'rx' });
    await deliver();
    expect(held(normal)).toEqual({ status: 'authenticated', token: 'X' });
    const aheadEvents = recordEvents(ahead);

    await expect(settled(normal.logout())).resolves.toEqual({ serverNotified: true });
    await deliver();

    expect(held(ahead)).toEqual({ status: 'unauthenticated', token: null });
    expect(aheadEvents.logout).toEqual([{ reason: 'remote' }]);
    expect(logout.seen).toHaveLength(1);
  });
  it('a refresh of the previous login in a tab an hour ahead does not replace a later login, in the tabs or in the storage they share', async () => {
    const gate = deferred();
    const refresh = issuingRefresh(gate.promise);
    const storage = createTestStorage();
    const ahead = openTab('ahead', { storage, skewMs: HOUR_MS });
    const normal = openTab('normal', { storage });
    await whenReady(ahead, normal);
    await ahead.setTokens({ accessToken: named('X', jwtFor(DAY_S, { sub: 'user-x' })), refreshToken: 'rx' });
    await deliver();

    const refreshing = outcome(ahead.refresh());
    await flush();
    expect(refresh.seen).toHaveLength(1);
    bus.hold('ahead'); // the tab ahead hears of the later login only after its refresh answer
    await vi.advanceTimersByTimeAsync(5);
    await settled(normal.setTokens({ accessToken: named('Y', jwtFor(DAY_S, { sub: 'user-y' })), refreshToken: 'ry' }));
    gate.resolve();
    await refreshing;
    await deliver();
    bus.release('ahead');
    await deliver();

    expect(held(normal)).toEqual({ status: 'authenticated', token: 'Y' });
    expect(held(ahead)).toEqual({ status: 'authenticated', token: 'Y' });
    const stored = storage.values.get(storageKey) ?? '';
    expect(stored.includes('ry')).toBe(true);
    expect(stored.includes('r-next-1')).toBe(false);
    const reloaded = createTab({ storage, channel: false });
    await settled(reloaded.ready);
    expect(held(reloaded)).toEqual({ status: 'authenticated', token: 'Y' });
  });
  it.each([
    ['an hour ahead', HOUR_MS],
    ['right, and the clock goes back an hour before the new tab opens', 0],
  ])(
    'after a logout in a tab whose clock is %s, a login in a newly opened tab reaches the tabs that saw the logout',
    async (_label, skewMs) => {
      server.use(logoutEndpoint().handler);
      issuingRefresh();
      const a = openTab('a', { skewMs });
      const c = openTab('c');
      await whenReady(a, c);
      await a.setTokens({ accessToken: named('X', jwtFor(DAY_S, { sub: 'user-x' })), refreshToken: 'rx' });
      await deliver();
      await settled(a.logout());
      await deliver();
      expect(held(c)).toEqual({ status: 'unauthenticated', token: null });

      if (skewMs === 0) vi.setSystemTime(Date.now() - HOUR_MS);
      const d = openTab('d');
      await whenReady(d);
      const eventsC = recordEvents(c);
      await settled(d.setTokens({ accessToken: named('Y', jwtFor(DAY_S, { sub: 'user-y' })), refreshToken: 'ry' }));
      await deliver();

      expect(held(d)).toEqual({ status: 'authenticated', token: 'Y' });
      expect(held(c)).toEqual({ status: 'authenticated', token: 'Y' });
      expect(held(a)).toEqual({ status: 'authenticated', token: 'Y' });
      expect(eventsC.login).toEqual([{ source: 'remote' }]);
    },
  );
});

describe('defect 4: a late refresh answer for the previous user', () => {
  it("all tabs end on user B when a refresh answer for user A lands in a tab right after B signed in elsewhere, and B's logout signs every tab out", async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const gate = deferred();
    const refresh = issuingRefresh(gate.promise);
    const one = openTab('one');
    const two = openTab('two');
    await whenReady(one, two);
    await one.setTokens({ accessToken: jwtFor(DAY_S, { sub: 'user-a' }), refreshToken: 'ra' });
    await deliver();
    expect(two.getState().claims).toMatchObject({ sub: 'user-a' });

    const refreshing = outcome(one.refresh());
    await flush();
    expect(refresh.seen).toHaveLength(1);
    bus.hold('one'); // tab one hears of B only after its refresh answer
    await vi.advanceTimersByTimeAsync(5);
    const b = named('B', jwtFor(DAY_S, { sub: 'user-b' }));
    await two.setTokens({ accessToken: b, refreshToken: 'rb' });
    await vi.advanceTimersByTimeAsync(5);
    gate.resolve(); // A's refresh answer lands in tab one
    await refreshing;
    await deliver(); // tab two hears of tab one's refresh of A
    bus.release('one');
    await deliver();

    expect(held(two)).toEqual({ status: 'authenticated', token: 'B' });
    expect(held(one)).toEqual({ status: 'authenticated', token: 'B' });
    expect(one.getState().claims).toMatchObject({ sub: 'user-b' });

    const events = [one, two].map(recordEvents);
    await expect(two.logout()).resolves.toEqual({ serverNotified: true });
    await deliver();

    expect(held(one)).toEqual({ status: 'unauthenticated', token: null });
    expect(held(two)).toEqual({ status: 'unauthenticated', token: null });
    expect(events[0]!.logout).toEqual([{ reason: 'remote' }]);
    expect(events[1]!.logout).toEqual([{ reason: 'user' }]);
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rb' });
  });
});

describe('defect 2: a storage the tabs share keeps no ended session and loses no newer one', () => {
  it('a tab that hears of a logout late removes the ended session it stored, but not a newer login another tab stored meanwhile', async () => {
    server.use(logoutEndpoint().handler);
    issuingRefresh();
    const storage = createTestStorage();
    const one = openTab('one', { storage });
    const two = openTab('two', { storage });
    await whenReady(one, two);
    await one.setTokens({ accessToken: named('A', jwtFor(DAY_S, { sub: 'user-a' })), refreshToken: 'rt-a' });
    await deliver();
    expect(held(two)).toEqual({ status: 'authenticated', token: 'A' });

    bus.hold('one'); // tab one hears of the logout late
    await settled(two.logout());
    await vi.advanceTimersByTimeAsync(5);
    // A tab that shares the storage but not the channel signs user B in.
    const three = createTab({ storage, channel: false });
    await settled(three.ready);
    await settled(three.setTokens({ accessToken: named('B', jwtFor(DAY_S, { sub: 'user-b' })), refreshToken: 'rt-b' }));
    expect(storage.values.get(storageKey)?.includes('rt-b')).toBe(true);
    bus.release('one');
    await deliver();

    expect(held(one)).toEqual({ status: 'unauthenticated', token: null });
    expect(storage.values.get(storageKey)?.includes('rt-b')).toBe(true);
    const reloaded = createTab({ storage, channel: false });
    await settled(reloaded.ready);
    expect(held(reloaded)).toEqual({ status: 'authenticated', token: 'B' });
  });

  it('a refresh answer that lands between another tab’s logout and its message leaves no session in the shared storage (guard)', async () => {
    server.use(logoutEndpoint().handler);
    const gate = deferred();
    const refresh = issuingRefresh(gate.promise);
    const storage = createTestStorage();
    const one = openTab('one', { storage });
    const two = openTab('two', { storage });
    await whenReady(one, two);
    await one.setTokens({ accessToken: named('A', jwtFor(DAY_S)), refreshToken: 'rt-a' });
    await deliver();

    const refreshing = outcome(one.refresh());
    await flush();
    expect(refresh.seen).toHaveLength(1);
    bus.hold('one');
    await settled(two.logout());
    gate.resolve();
    await refreshing;
    await deliver();
    bus.release('one');
    await deliver();

    expect(held(one)).toEqual({ status: 'unauthenticated', token: null });
    const stored = storage.values.get(storageKey) ?? '';
    expect(stored.includes('rt-a') || stored.includes('r-next-1')).toBe(false);
    const reloaded = createTab({ storage, channel: false });
    await settled(reloaded.ready);
    expect(held(reloaded)).toEqual({ status: 'unauthenticated', token: null });
  });
});
