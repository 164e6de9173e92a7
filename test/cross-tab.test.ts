import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NotAuthenticatedError, RefreshRejectedError, type TokenManager, type TokenManagerOptions } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
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
import { deferred, outcome, settle } from './support/async';
import { recordEvents } from './support/events';
import { trackManagers } from './support/managers';
import { expectTombstone } from './support/stored';
import { LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

/*
 * "Tabs" here are several managers in one Node process, joined by Node's real BroadcastChannel (delivered
 * asynchronously, so real timers and vi.waitFor) and by the in-process lock, which is shared by name
 * across the managers of one realm and stands in for Web Locks. Every test has a channel and a storage
 * key of its own, so neither messages nor lock queues cross tests.
 */

type Environment = NonNullable<TokenManagerOptions['environment']>;
type Lock = NonNullable<Environment['lock']>;
type ChannelLike = NonNullable<ReturnType<NonNullable<Environment['createChannel']>>>;

/**
 * Node's BroadcastChannel as a tab's channel, as the JSDoc of `environment.createChannel` shows it. Not cast:
 * tsc checks here that the documented example compiles against `ChannelLike`.
 */
const asChannel = (channel: BroadcastChannel): ChannelLike => channel;

const PROTOCOL = { protocol: 'tokenkeeper', version: 2 } as const;

/** A login as the protocol names it: every login ordered at or before a logout's key ends with it. */
interface LoginKey {
  stamp: number;
  id: string;
}

/** A session record as it crosses tabs and sits in storage. */
interface SessionRecord extends LoginKey {
  seq: number;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number | null;
  receivedAt: number;
}

const loginKeyOf = ({ stamp, id }: LoginKey): LoginKey => ({ stamp, id });

const rawChannels: BroadcastChannel[] = [];

startServer();
afterEach(() => {
  for (const channel of rawChannels.splice(0)) channel.close();
});

let channelName: string;
let storageKey: string;
let clock: ReturnType<typeof createClock>;

beforeEach(() => {
  channelName = `tk-${crypto.randomUUID()}`;
  storageKey = `tk-${crypto.randomUUID()}`;
  clock = createClock();
});

/**
 * The device clock the tabs share. Every reading is a millisecond later than the one before, as a real clock
 * between two events would be, so that "which token set is newer" never depends on two calls landing in the
 * same millisecond. `advance` jumps ahead (the device slept); the refresh timers, which are real and an hour
 * long, never fire during a test, so refreshes start only where a test asks for them.
 */
function createClock() {
  let nowMs = START_MS;
  return {
    now: (): number => {
      nowMs += 1;
      return nowMs;
    },
    advance(byMs: number): void {
      nowMs += byMs;
    },
  };
}

const createTab = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  channel: channelName,
  storageKey,
  onResume: noResume,
}));

/** A tab: a manager on the test's channel, with Node's BroadcastChannel; destroyed after the test. */
function openTab(options: Partial<TokenManagerOptions> = {}): TokenManager {
  return createTab({
    ...options,
    environment: {
      now: clock.now,
      createChannel: (name) => asChannel(new BroadcastChannel(name)),
      ...options.environment,
    },
  });
}

/** Opens `count` tabs at once and waits until they are ready (they have asked each other for the session). */
async function openTabs(count: number, options: Partial<TokenManagerOptions> = {}): Promise<TokenManager[]> {
  const tabs = Array.from({ length: count }, () => openTab(options));
  await Promise.all(tabs.map((tab) => tab.ready));
  return tabs;
}

interface RawMessage {
  protocol?: unknown;
  version?: unknown;
  from?: unknown;
  type?: unknown;
  to?: unknown;
  queryId?: unknown;
  stamp?: unknown;
  id?: unknown;
  session?: SessionRecord | null;
  floor?: LoginKey | null;
}

/**
 * A raw end of the test's channel, as a foreign script or a buggy tab would have: it records every message
 * the tabs post and posts anything. `barrier(n)` sends a well-formed query and waits for `n` answers: messages
 * from one sender arrive in order, so once a tab has answered it has handled everything posted before.
 */
function openProbe() {
  const channel = new BroadcastChannel(channelName);
  rawChannels.push(channel);
  const probeId = `probe-${crypto.randomUUID()}`;
  const seen: RawMessage[] = [];
  channel.onmessage = (event: MessageEvent) => {
    seen.push(event.data as RawMessage);
  };
  const post = (data: unknown): void => channel.postMessage(data);
  return {
    seen,
    post,
    /** The ids of the tabs that introduced themselves (every tab asks for the session when it opens). */
    tabIds: (): string[] => seen.filter((m) => m.type === 'query').map((m) => m.from as string),
    async barrier(answers: number): Promise<RawMessage[]> {
      const queryId = crypto.randomUUID();
      post({ ...PROTOCOL, from: probeId, type: 'query', queryId });
      const replies = (): RawMessage[] => seen.filter((m) => m.type === 'state' && m.queryId === queryId);
      await vi.waitFor(() => expect(replies()).toHaveLength(answers));
      return replies();
    },
  };
}

/** A refresh endpoint that issues a new, unique token for every call and remembers the ones it issued. */
function issuingRefreshEndpoint(gate?: Promise<void>) {
  const issued: string[] = [];
  const endpoint = refreshEndpoint(async () => {
    if (gate) await gate;
    const accessToken = jwtFor(LIFETIME_S);
    issued.push(accessToken);
    return HttpResponse.json({ access_token: accessToken, refresh_token: `r${issued.length + 1}` });
  });
  server.use(endpoint.handler);
  return { seen: endpoint.seen, issued };
}

/** A plain FIFO lock shared by the tabs given it. */
function createQueueLock(): Lock {
  let tail: Promise<void> = Promise.resolve();
  return (async <T>(_name: string, fn: () => Promise<T>): Promise<T> => {
    const previous = tail;
    let release!: () => void;
    tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await fn();
    } finally {
      release();
    }
  }) as Lock;
}

const noOpLock: Lock = (_name, fn) => fn();

/** What a test storage holds: the session and the latest logout. */
function storedRecord(storage: ReturnType<typeof createTestStorage>): {
  v: number;
  session: SessionRecord | null;
  floor: LoginKey | null;
} {
  return JSON.parse(storage.values.get(storageKey)!) as {
    v: number;
    session: SessionRecord | null;
    floor: LoginKey | null;
  };
}

describe('login, refresh and logout reach the other tabs', () => {
  it("signs in an open, signed-out tab when another tab logs in, with a 'login' event from 'remote'", async () => {
    const refresh = issuingRefreshEndpoint();
    const b = openTab();
    await b.ready;
    const a = openTab();
    await a.ready;
    const eventsA = recordEvents(a);
    const eventsB = recordEvents(b);
    expect(b.getState().status).toBe('unauthenticated');

    const access = jwtFor(LIFETIME_S);
    await a.setTokens({ accessToken: access, refreshToken: 'r1' });

    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'));
    expect(b.getState()).toMatchObject({ accessToken: access, expiresAt: a.getState().expiresAt });
    expect(b.getState().claims).toMatchObject({ sub: 'user-1' });
    expect(eventsB.login).toEqual([{ source: 'remote' }]);
    expect(eventsA.login).toEqual([{ source: 'local' }]);
    await expect(b.getAccessToken()).resolves.toBe(access);
    expect(refresh.seen).toHaveLength(0);
  });

  it("hands a refresh in one tab to the others, with a 'refresh' event from 'remote'", async () => {
    const refresh = issuingRefreshEndpoint();
    const [a, b] = await openTabs(2);
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().status).toBe('authenticated'));
    const eventsA = recordEvents(a!);
    const eventsB = recordEvents(b!);

    const fresh = await a!.refresh();

    expect(fresh).toBe(refresh.issued[0]);
    await vi.waitFor(() => expect(b!.getState().accessToken).toBe(fresh));
    const expiresAt = a!.getState().expiresAt;
    expect(b!.getState().expiresAt).toBe(expiresAt);
    expect(eventsA.refresh).toEqual([{ accessToken: fresh, expiresAt, source: 'local' }]);
    expect(eventsB.refresh).toEqual([{ accessToken: fresh, expiresAt, source: 'remote' }]);
    expect(eventsB.login).toEqual([]);
    await expect(b!.getAccessToken()).resolves.toBe(fresh);
    expect(refresh.seen).toHaveLength(1);
  });

  it("signs the other tabs out on logout, with reason 'remote', and only the tab that logged out calls the server", async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const refresh = issuingRefreshEndpoint();
    const [a, b, c] = await openTabs(3);
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => {
      expect(b!.getState().status).toBe('authenticated');
      expect(c!.getState().status).toBe('authenticated');
    });
    const events = [a!, b!, c!].map(recordEvents);

    await expect(a!.logout()).resolves.toEqual({ serverNotified: true });

    await vi.waitFor(() => {
      expect(b!.getState().status).toBe('unauthenticated');
      expect(c!.getState().status).toBe('unauthenticated');
    });
    expect(events[0]!.logout).toEqual([{ reason: 'user' }]);
    expect(events[1]!.logout).toEqual([{ reason: 'remote' }]);
    expect(events[2]!.logout).toEqual([{ reason: 'remote' }]);
    await expect(b!.getAccessToken()).resolves.toBeNull();
    await expect(b!.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
    await settle();
    expect(logout.seen).toHaveLength(1);
    expect(refresh.seen).toHaveLength(0);
  });

  it('signs the other tabs out when the server rejects a refresh in one tab', async () => {
    const logout = logoutEndpoint();
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }));
    server.use(refresh.handler, logout.handler);
    const [a, b] = await openTabs(2);
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().status).toBe('authenticated'));
    const eventsA = recordEvents(a!);
    const eventsB = recordEvents(b!);

    await expect(a!.refresh()).rejects.toBeInstanceOf(RefreshRejectedError);

    await vi.waitFor(() => expect(b!.getState().status).toBe('unauthenticated'));
    expect(eventsA.logout).toEqual([{ reason: 'refresh-rejected' }]);
    expect(eventsB.logout).toEqual([{ reason: 'remote' }]);
    await expect(b!.getAccessToken()).resolves.toBeNull();
    expect(refresh.seen).toHaveLength(1);
    expect(logout.seen).toHaveLength(0);
  });

  it('reaches the other tab within 100 ms of setTokens() and of logout()', async () => {
    server.use(logoutEndpoint().handler);
    const [a, b] = await openTabs(2);
    let loginAt = 0;
    let logoutAt = 0;
    b!.on('login', () => {
      loginAt = performance.now();
    });
    b!.on('logout', () => {
      logoutAt = performance.now();
    });

    const loginStart = performance.now();
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(loginAt).toBeGreaterThan(0));
    const logoutStart = performance.now();
    await a!.logout();
    await vi.waitFor(() => expect(logoutAt).toBeGreaterThan(0));

    expect(loginAt - loginStart).toBeLessThan(100);
    expect(logoutAt - logoutStart).toBeLessThan(100);
  });
});

describe('a new tab asks the open tabs for the session', () => {
  it('is signed in by the open tab right after it starts, with in-memory storage and without a refresh call', async () => {
    const refresh = issuingRefreshEndpoint();
    const a = openTab();
    await a.ready;
    const access = jwtFor(LIFETIME_S);
    await a.setTokens({ accessToken: access, refreshToken: 'r1' });

    const startedAt = performance.now();
    const b = openTab();
    const eventsB = recordEvents(b);
    await b.ready;
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'), { interval: 1 });
    expect(performance.now() - startedAt).toBeLessThan(100);

    expect(b.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: access,
      expiresAt: a.getState().expiresAt,
    });
    expect(eventsB.login).toEqual([{ source: 'remote' }]);
    await expect(b.getAccessToken()).resolves.toBe(access);
    expect(refresh.seen).toHaveLength(0);
  });

  it('gets the refresh token too: a refresh in the new tab sends the session’s refresh token', async () => {
    const refresh = issuingRefreshEndpoint();
    const a = openTab();
    await a.ready;
    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const b = openTab();
    await b.ready;
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'));

    await b.refresh();

    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
  });

  it('is ready at once and stays signed out when no tab has a session', async () => {
    const refresh = issuingRefreshEndpoint();
    const a = openTab();
    await a.ready;

    const startedAt = performance.now();
    const b = openTab();
    const eventsB = recordEvents(b);
    await b.ready;
    const elapsedMs = performance.now() - startedAt;
    // The answers (none with a session) come and go without a change.
    await settle(150);

    expect(elapsedMs).toBeLessThan(50);
    expect(b.getState().status).toBe('unauthenticated');
    await expect(b.getAccessToken()).resolves.toBeNull();
    expect(eventsB.login).toEqual([]);
    expect(refresh.seen).toHaveLength(0);
  });

  it('is ready at once when it is the only tab', async () => {
    const startedAt = performance.now();
    const a = openTab();
    await a.ready;

    expect(performance.now() - startedAt).toBeLessThan(50);
    expect(a.getState().status).toBe('unauthenticated');
  });
});

describe('one refresh request per cycle across tabs', () => {
  const setups = {
    'in-memory storage, over the channel': () => ({}),
    'one shared storage and the channel': () => ({ storage: createTestStorage() }),
    'one shared storage and no channel': () => ({ storage: createTestStorage(), channel: false as const }),
  };
  const cases = (Object.keys(setups) as (keyof typeof setups)[]).flatMap((setup) =>
    [3, 4].map((tabs) => [tabs, setup] as const),
  );

  it.each(cases)(
    'sends exactly one refresh request when %i tabs with %s, 10 callers each, all find the token expired',
    async (tabCount, setup) => {
      const refresh = issuingRefreshEndpoint();
      const options: Partial<TokenManagerOptions> = setups[setup]();
      const first = jwtFor(LIFETIME_S);
      const tabs: TokenManager[] = [];
      if (options.channel === false) {
        // Without a channel a tab learns of the session from the shared storage when it opens.
        const a = openTab(options);
        await a.setTokens({ accessToken: first, refreshToken: 'r1' });
        tabs.push(a, ...(await openTabs(tabCount - 1, options)));
      } else {
        tabs.push(...(await openTabs(tabCount, options)));
        await tabs[0]!.setTokens({ accessToken: first, refreshToken: 'r1' });
      }
      await vi.waitFor(() => {
        for (const tab of tabs) expect(tab.getState().accessToken).toBe(first);
      });
      const events = tabs.map(recordEvents);

      clock.advance(LIFETIME_MS + 1_000); // the device slept: every tab finds the token expired
      const results = await Promise.all(
        tabs.flatMap((tab) =>
          Array.from({ length: 10 }, (_, index) => (index % 2 === 0 ? tab.getAccessToken() : tab.refresh())),
        ),
      );

      expect(refresh.seen).toHaveLength(1);
      expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
      const fresh = refresh.issued[0];
      expect(results).toEqual(Array(tabCount * 10).fill(fresh));
      for (const tab of tabs) expect(tab.getState()).toMatchObject({ accessToken: fresh, refreshing: false });
      // One tab refreshed; every other tab took its tokens, and says so once.
      const sources = events.map((e) => e.refresh.map((payload) => payload.source));
      expect(sources.filter((s) => s[0] === 'local')).toEqual([['local']]);
      expect(sources.filter((s) => s[0] === 'remote')).toHaveLength(tabCount - 1);
      for (const s of sources) expect(s).toHaveLength(1);
      for (const e of events) expect(e.error).toEqual([]);
    },
  );

  it('takes an injected lock, once per tab and refresh cycle, and sends one request per cycle', async () => {
    const refresh = issuingRefreshEndpoint();
    const lock = vi.fn(createQueueLock());
    const tabs = await openTabs(3, { environment: { lock: lock as unknown as Lock } });
    await tabs[0]!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => {
      for (const tab of tabs) expect(tab.getState().status).toBe('authenticated');
    });

    for (const cycle of [1, 2]) {
      clock.advance(LIFETIME_MS + 1_000);
      const results = await Promise.all(tabs.flatMap((tab) => Array.from({ length: 10 }, () => tab.getAccessToken())));
      expect(refresh.seen).toHaveLength(cycle);
      expect(new Set(results)).toEqual(new Set([refresh.issued[cycle - 1]]));
      expect(lock).toHaveBeenCalledTimes(3 * cycle);
    }
    const names = new Set(lock.mock.calls.map(([name]) => name));
    expect(names.size).toBe(1);
    const [name] = names;
    expect(name).toContain(channelName);
    expect(name).toContain(storageKey);
    // The second cycle refreshed with the refresh token the first one issued, whichever tab it ran in.
    expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'r2' });
  });

  it('with a no-op lock, a tab that refreshes after another finished adopts its tokens over the channel', async () => {
    const refresh = issuingRefreshEndpoint();
    const [a, b] = await openTabs(2, { environment: { lock: noOpLock } });
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().status).toBe('authenticated'));
    clock.advance(LIFETIME_MS + 1_000);

    const fromA = await a!.getAccessToken();
    // At once, before A's 'refresh' message can have arrived: B asks the channel before calling the server.
    const fromB = await b!.getAccessToken();

    expect(refresh.seen).toHaveLength(1);
    expect(fromA).toBe(refresh.issued[0]);
    expect(fromB).toBe(fromA);

    clock.advance(LIFETIME_MS + 1_000); // and again in the next cycle, the other way round
    const nextFromB = await b!.getAccessToken();
    const nextFromA = await a!.getAccessToken();
    expect(refresh.seen).toHaveLength(2);
    expect(nextFromA).toBe(nextFromB);
    expect(nextFromB).toBe(refresh.issued[1]);
  });

  it('documented fallback: with a no-op lock, two tabs refreshing at the same moment send one request each and converge on the later token', async () => {
    const refresh = issuingRefreshEndpoint();
    const [a, b] = await openTabs(2, { environment: { lock: noOpLock } });
    await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().status).toBe('authenticated'));
    clock.advance(LIFETIME_MS + 1_000);

    const results = await Promise.all([
      ...Array.from({ length: 10 }, () => a!.getAccessToken()),
      ...Array.from({ length: 10 }, () => b!.getAccessToken()),
    ]);

    // Without a lock nothing serialises the two tabs: each makes its own call, but never more than one.
    expect(refresh.seen).toHaveLength(2);
    expect(new Set(results)).toEqual(new Set(refresh.issued));
    // Each tab announces its refresh; the later token set wins in both tabs.
    await vi.waitFor(() => expect(a!.getState().accessToken).toBe(b!.getState().accessToken));
    expect(refresh.issued).toContain(a!.getState().accessToken);
  });
});

describe('a logout beats a refresh across tabs', () => {
  it.each([
    ['the refresh endpoint', 'endpoint'],
    ['a RefreshFn that ignores its abort signal', 'function'],
  ] as const)(
    'drops the response when another tab logs out while %s is waiting for the server',
    async (_label, kind) => {
      const gate = deferred();
      const refresh = issuingRefreshEndpoint(gate.promise);
      const logout = logoutEndpoint();
      server.use(logout.handler);
      let answered = false;
      const ignoringSignal = async (): Promise<{ accessToken: string; refreshToken: string }> => {
        const response = await fetch(REFRESH_URL, { method: 'POST', body: '{}' });
        const body = (await response.json()) as { access_token: string; refresh_token: string };
        answered = true;
        return { accessToken: body.access_token, refreshToken: body.refresh_token };
      };
      const storage = createTestStorage();
      const options: Partial<TokenManagerOptions> =
        kind === 'function' ? { storage, refresh: ignoringSignal } : { storage };
      const [a, b, c] = await openTabs(3, options);
      const probe = openProbe();
      await a!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
      await vi.waitFor(() => {
        for (const tab of [b!, c!]) expect(tab.getState().status).toBe('authenticated');
      });
      const stored = storedRecord(storage).session!;
      const events = [a!, b!, c!].map(recordEvents);

      const refreshing = outcome(a!.refresh());
      await vi.waitFor(() => expect(refresh.seen).toHaveLength(1)); // A holds the lock, waiting on the server
      await b!.logout();
      await vi.waitFor(() => expect(a!.getState().status).toBe('unauthenticated'));
      gate.resolve(); // now the server answers
      await vi.waitFor(() => expect(refresh.issued).toHaveLength(1));
      if (kind === 'function') await vi.waitFor(() => expect(answered).toBe(true));
      const result = await refreshing;

      expect(result).toEqual({ error: expect.any(NotAuthenticatedError) });
      await settle();
      for (const tab of [a!, b!, c!]) {
        expect(tab.getState().status).toBe('unauthenticated');
        await expect(tab.getAccessToken()).resolves.toBeNull();
      }
      // Storage holds the logout's tombstone: neither the ended token set nor the one the server sent after.
      const tombstone = expectTombstone(storage.values.get(storageKey), [
        stored.accessToken,
        'r1',
        ...refresh.issued,
        'r2',
      ]);
      for (const e of events) expect(e.refresh).toEqual([]);
      expect(events[0]!.logout).toEqual([{ reason: 'remote' }]);
      expect(events[1]!.logout).toEqual([{ reason: 'user' }]);
      expect(events[2]!.logout).toEqual([{ reason: 'remote' }]);
      // No tab announced the token set the server sent after the logout.
      expect(probe.seen.filter((m) => m.type === 'session' && m.session!.seq > 0)).toEqual([]);
      expect(probe.seen.filter((m) => refresh.issued.includes(m.session?.accessToken as string))).toEqual([]);
      expect(logout.seen).toHaveLength(1);

      // A late token set of the login that ended (a tab that missed the logout) brings it back nowhere.
      probe.post({
        ...PROTOCOL,
        from: 'late-tab',
        type: 'session',
        session: {
          ...loginKeyOf(stored),
          seq: stored.seq + 1,
          accessToken: refresh.issued[0],
          refreshToken: 'r2',
          expiresAt: START_MS + 10 * LIFETIME_MS,
          receivedAt: START_MS + 5 * LIFETIME_MS,
        },
      });
      const answers = await probe.barrier(3);
      expect(answers.map((m) => m.session)).toEqual([null, null, null]);
      // Every tab knows the same logout, and it ends the login that was refreshing.
      const [floor] = answers.map((m) => m.floor);
      expect(answers.map((m) => m.floor)).toEqual([floor, floor, floor]);
      expect(floor!.stamp).toBeGreaterThanOrEqual(stored.stamp);
      for (const tab of [a!, b!, c!]) expect(tab.getState().status).toBe('unauthenticated');
      for (const e of events) {
        expect(e.refresh).toEqual([]);
        expect(e.login).toEqual([]);
      }
      // The tombstone is that same logout, and the late token set did not replace it.
      expect(
        expectTombstone(storage.values.get(storageKey), [stored.accessToken, 'r1', ...refresh.issued, 'r2']),
      ).toEqual(tombstone);
      expect(tombstone).toEqual(floor);
      // A reload (a tab with no one to ask) reads the tombstone and is signed out.
      const reloaded = openTab({ storage, channel: false });
      await reloaded.ready;
      expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    },
  );
});

describe('concurrent logins in two tabs', () => {
  it('converge on the later login in every tab', async () => {
    const [a, b, c] = await openTabs(3);
    const events = [a!, b!, c!].map(recordEvents);
    const first = jwtFor(LIFETIME_S, { sub: 'first' });
    const later = jwtFor(LIFETIME_S, { sub: 'later' });

    await Promise.all([a!.setTokens({ accessToken: first }), b!.setTokens({ accessToken: later })]);

    await vi.waitFor(() => {
      for (const tab of [a!, b!, c!]) expect(tab.getState().accessToken).toBe(later);
    });
    await settle();
    for (const tab of [a!, b!, c!])
      expect(tab.getState()).toMatchObject({ accessToken: later, claims: { sub: 'later' } });
    expect(events[0]!.login).toEqual([{ source: 'local' }, { source: 'remote' }]);
    expect(events[1]!.login).toEqual([{ source: 'local' }]);
  });

  it('converge on one login even when both carry the same receipt time (same millisecond)', async () => {
    const sameMs = START_MS;
    const [a, b] = await openTabs(2, { environment: { now: () => sameMs } });
    const first = jwtFor(LIFETIME_S, { sub: 'first' });
    const second = jwtFor(LIFETIME_S, { sub: 'second' });

    await Promise.all([a!.setTokens({ accessToken: first }), b!.setTokens({ accessToken: second })]);
    await settle();

    expect(a!.getState().status).toBe('authenticated');
    expect(a!.getState().accessToken).toBe(b!.getState().accessToken);
  });
});

describe('messages that are not of the protocol', () => {
  /**
   * Values that, read naively, would sign the tabs out (a logout at or after `current`, the login they hold)
   * or into another session (a later login), or hand them a bad token set of their own login.
   */
  function malformed(current: LoginKey): [string, unknown][] {
    const future = START_MS + 10 * LIFETIME_MS;
    const session: SessionRecord = {
      id: 'intruder-session',
      stamp: future,
      seq: 0,
      accessToken: jwtFor(LIFETIME_S, { sub: 'intruder' }),
      refreshToken: 'stolen',
      expiresAt: future + LIFETIME_MS,
      receivedAt: future,
    };
    const { accessToken: _dropped, ...withoutAccessToken } = session;
    const { stamp: _noStamp, ...withoutStamp } = session;
    const { seq: _noSeq, ...withoutSeq } = session;
    const logout = { ...PROTOCOL, from: 'x', type: 'logout', ...current, tokens: [] };
    const announce = (bad: unknown) => ({ ...PROTOCOL, from: 'x', type: 'session', session: bad });
    /** A later token set of the tabs' own login. */
    const ownRefresh = { ...session, ...current, seq: 1 };
    /** What version 1 of the protocol sent: sessions named by `sessionId`, logouts of one session id. */
    const v1Session = {
      sessionId: session.id,
      accessToken: session.accessToken,
      refreshToken: session.refreshToken,
      expiresAt: session.expiresAt,
      receivedAt: session.receivedAt,
    };
    const v1 = { ...PROTOCOL, version: 1, from: 'x' };
    return [
      ['a string', 'logout'],
      ['a JSON string', JSON.stringify(logout)],
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['a boolean', true],
      ['an array', [logout]],
      ['an empty object', {}],
      ['another protocol', { ...logout, protocol: 'other-lib' }],
      ['no protocol', { version: PROTOCOL.version, from: 'x', type: 'logout', ...current, tokens: [] }],
      ['another version', { ...logout, version: PROTOCOL.version + 1 }],
      ['a version as a string', { ...logout, version: String(PROTOCOL.version) }],
      ['no sender', { ...PROTOCOL, type: 'logout', ...current, tokens: [] }],
      ['an empty sender', { ...logout, from: '' }],
      ['an unknown type', { ...logout, type: 'nuke', session }],
      ['no type', { ...PROTOCOL, from: 'x', ...current, session }],
      ['a version 1 logout of the session', { ...v1, type: 'logout', sessionId: current.id }],
      ['a version 1 login', { ...v1, type: 'login', session: v1Session }],
      ['a version 1 refresh', { ...v1, type: 'refresh', session: { ...v1Session, sessionId: current.id } }],
      ['a login (a type of version 1) with a version 2 session', { ...PROTOCOL, from: 'x', type: 'login', session }],
      ['a logout by session id (version 1 shape)', { ...PROTOCOL, from: 'x', type: 'logout', sessionId: current.id }],
      ['a logout without a stamp or id', { ...PROTOCOL, from: 'x', type: 'logout', tokens: [] }],
      ['a logout without a stamp', { ...PROTOCOL, from: 'x', type: 'logout', id: current.id, tokens: [] }],
      ['a logout with a numeric id', { ...logout, id: 7 }],
      ['a logout with a huge id', { ...logout, id: 'x'.repeat(100_000) }],
      ['a logout with a stamp as a string', { ...logout, stamp: String(current.stamp) }],
      ['a logout with a fractional stamp', { ...logout, stamp: current.stamp + 0.5 }],
      ['a logout with a stamp above 2^52', { ...logout, stamp: 2 ** 52 + 1 }],
      ['a logout with an infinite stamp', { ...logout, stamp: Number.POSITIVE_INFINITY }],
      ['a session message without a session', { ...PROTOCOL, from: 'x', type: 'session' }],
      ['a session message whose session is null', announce(null)],
      ['a session of version 1 shape', announce(v1Session)],
      ['a session lacking the access token', announce(withoutAccessToken)],
      ['a session lacking receivedAt', announce({ ...session, receivedAt: undefined })],
      ['a session lacking the stamp', announce(withoutStamp)],
      ['a session lacking seq', announce(withoutSeq)],
      ['a session with a numeric accessToken', announce({ ...session, accessToken: 12345 })],
      [
        'a session with an accessToken that would inject a header',
        announce({ ...session, accessToken: `${session.accessToken}\r\nX-Evil: 1` }),
      ],
      [
        'a session with an accessToken with a space',
        announce({ ...session, accessToken: `Bearer ${session.accessToken}` }),
      ],
      ['a session with a non-ASCII accessToken', announce({ ...session, accessToken: `${session.accessToken}\u00e9` })],
      ['a session with a huge id', announce({ ...session, id: 'x'.repeat(100_000) })],
      ['a session with a negative stamp', announce({ ...session, stamp: -1 })],
      ['a session with a fractional stamp', announce({ ...session, stamp: future + 0.5 })],
      ['a session with a stamp above 2^52', announce({ ...session, stamp: 2 ** 52 + 1 })],
      ['a session with a stamp as a string', announce({ ...session, stamp: String(future) })],
      ['a session with a negative seq', announce({ ...session, seq: -1 })],
      ['a session with a fractional seq', announce({ ...session, seq: 0.5 })],
      ['a session with a seq above 2^52', announce({ ...session, seq: 2 ** 52 + 1 })],
      ['a session with a seq as a string', announce({ ...session, seq: '1' })],
      ['a token set of the current login with a numeric accessToken', announce({ ...ownRefresh, accessToken: 1 })],
      ['a token set of the current login with a string expiresAt', announce({ ...ownRefresh, expiresAt: 'never' })],
      ['a token set of the current login with a string seq', announce({ ...ownRefresh, seq: '2' })],
      [
        'a state answer with a bad session',
        { ...PROTOCOL, from: 'x', type: 'state', to: 'y', queryId: 'q', session: { id: current.id }, floor: null },
      ],
      ['a state answer without a floor', { ...PROTOCOL, from: 'x', type: 'state', to: 'y', queryId: 'q', session }],
      [
        'a state answer with a malformed floor',
        {
          ...PROTOCOL,
          from: 'x',
          type: 'state',
          to: 'y',
          queryId: 'q',
          session: null,
          floor: { ...current, stamp: -1 },
        },
      ],
      ['a huge sender id', { ...logout, from: 'x'.repeat(100_000) }],
    ];
  }

  it('ignores every malformed or foreign message: no state change, no event, no throw', async () => {
    const probe = openProbe();
    const [a, b] = await openTabs(2);
    const access = jwtFor(LIFETIME_S);
    await a!.setTokens({ accessToken: access, refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().accessToken).toBe(access));
    const login = probe.seen.find((m) => m.type === 'session');
    const current = loginKeyOf(login!.session!);
    const before = [a!.getState(), b!.getState()];
    const events = [a!, b!].map(recordEvents);
    const listener = vi.fn();
    a!.subscribe(listener);
    b!.subscribe(listener);

    for (const [, data] of malformed(current)) probe.post(data);
    const answers = await probe.barrier(2);

    // Both tabs are still listening and still hold the session, and nothing happened on the way.
    expect(answers.map((m) => m.session?.accessToken)).toEqual([access, access]);
    expect(a!.getState()).toBe(before[0]);
    expect(b!.getState()).toBe(before[1]);
    expect(listener).not.toHaveBeenCalled();
    for (const e of events) expect(e).toEqual({ login: [], refresh: [], logout: [], error: [] });

    // The tabs still act on a well-formed message after all that.
    probe.post({ ...PROTOCOL, from: 'x', type: 'logout', ...current, tokens: [] });
    await vi.waitFor(() => {
      expect(a!.getState().status).toBe('unauthenticated');
      expect(b!.getState().status).toBe('unauthenticated');
    });
  });

  it('does not sign in a signed-out tab from a malformed login', async () => {
    const probe = openProbe();
    const [a] = await openTabs(1);
    const events = recordEvents(a!);

    for (const [, data] of malformed({ stamp: START_MS, id: 'some-session' })) probe.post(data);
    const answers = await probe.barrier(1);

    expect(answers.map((m) => m.session)).toEqual([null]);
    expect(a!.getState().status).toBe('unauthenticated');
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
  });

  it('ignores its own messages: a message carrying its own tab id does not act on it, other tabs do', async () => {
    const probe = openProbe();
    const a = openTab();
    await a.ready;
    const b = openTab();
    await b.ready;
    // Each tab announces itself with a query when it starts; the probe hears it a moment later.
    await vi.waitFor(() => expect(probe.tabIds()).toHaveLength(2));
    const [idA, idB] = probe.tabIds();
    expect(idA).toEqual(expect.any(String));
    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.waitFor(() => expect(b.getState().status).toBe('authenticated'));
    const eventsA = recordEvents(a);

    // A query stamped with A's own id (what A would hear if the channel looped its posts back): any other tab
    // answers it, addressed to A. A message that changes the session would not do here: B passes on what it
    // takes, so A would take it from B.
    probe.post({ ...PROTOCOL, from: idA, type: 'query', queryId: 'q-own' });
    await probe.barrier(2);

    const answers = probe.seen.filter((m) => m.type === 'state' && m.queryId === 'q-own');
    expect(answers.map((m) => m.from)).toEqual([idB]);
    expect(answers[0]).toMatchObject({ to: idA });
    expect(eventsA).toEqual({ login: [], refresh: [], logout: [], error: [] });
  });
});

describe('without cross-tab sync', () => {
  it('with channel: false, opens no channel and neither sends nor takes a login', async () => {
    const createChannel = vi.fn((_name: string) => asChannel(new BroadcastChannel(channelName)));
    const a = openTab({ channel: false, environment: { createChannel } });
    const [b] = await openTabs(1);
    await a.ready;
    const eventsA = recordEvents(a);
    const eventsB = recordEvents(b!);

    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await settle();
    expect(b!.getState().status).toBe('unauthenticated');
    expect(eventsB.login).toEqual([]);

    await b!.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r9' });
    await settle();
    expect(eventsA.login).toEqual([{ source: 'local' }]);
    expect(a.getState().accessToken).not.toBe(b!.getState().accessToken);
    expect(createChannel).not.toHaveBeenCalled();
  });

  it('without a BroadcastChannel (createChannel returns null), works as a single tab through its whole lifecycle', async () => {
    const refresh = issuingRefreshEndpoint();
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const createChannel = vi.fn((_name: string) => null);
    const startedAt = performance.now();
    const a = openTab({ environment: { createChannel } });
    await a.ready;
    const b = openTab({ environment: { createChannel } });
    await b.ready;
    // No one to ask: ready does not wait for the query timeout.
    expect(performance.now() - startedAt).toBeLessThan(100);
    expect(createChannel).toHaveBeenCalledWith(channelName);
    const events = recordEvents(a);

    const first = jwtFor(LIFETIME_S);
    await a.setTokens({ accessToken: first, refreshToken: 'r1' });
    expect(a.getState()).toMatchObject({ status: 'authenticated', accessToken: first });
    await expect(a.getAccessToken()).resolves.toBe(first);

    clock.advance(LIFETIME_MS + 1_000);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => a.getAccessToken()));
    expect(refresh.seen).toHaveLength(1);
    expect(new Set(tokens)).toEqual(new Set([refresh.issued[0]]));

    await expect(a.logout()).resolves.toEqual({ serverNotified: true });
    expect(logout.seen).toHaveLength(1);
    expect(a.getState().status).toBe('unauthenticated');
    expect(events.login).toEqual([{ source: 'local' }]);
    expect(events.refresh).toEqual([expect.objectContaining({ source: 'local' })]);
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(events.error).toEqual([]);
    // The other manager heard nothing of it.
    expect(b.getState().status).toBe('unauthenticated');
  });
});

describe('destroy()', () => {
  const openPorts = (): number => process.getActiveResourcesInfo().filter((name) => name === 'MessagePort').length;

  it('closes the channel: the destroyed tab no longer hears logins nor answers queries, and leaves no open handle', async () => {
    const probe = openProbe();
    const a = openTab();
    await a.ready;
    const portsBefore = openPorts();
    let channel: BroadcastChannel | null = null;
    const b = openTab({
      environment: {
        createChannel: (name) => {
          channel = new BroadcastChannel(name);
          return asChannel(channel);
        },
      },
    });
    await b.ready;
    expect(openPorts()).toBeGreaterThan(portsBefore);
    await vi.waitFor(() => expect(probe.tabIds()).toHaveLength(2));
    const idB = probe.tabIds()[1];
    expect(idB).toEqual(expect.any(String));
    const close = vi.spyOn(channel!, 'close');

    b.destroy();

    expect(close).toHaveBeenCalledTimes(1);
    expect(channel!.onmessage).toBeNull();
    expect(openPorts()).toBe(portsBefore);
    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const answers = await probe.barrier(1);
    await settle();
    // Only A answers the probe's query: B's end of the channel is closed.
    expect(answers.map((m) => m.from)).not.toContain(idB);
    expect(probe.seen.filter((m) => m.from === idB && m.type !== 'query')).toEqual([]);
    expect(b.getState().status).toBe('unauthenticated');
    await expect(b.getAccessToken()).resolves.toBeNull();
  });

  it('does not announce a logout: the other tabs stay signed in and storage is kept', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const storage = createTestStorage();
    const probe = openProbe();
    const [a, b] = await openTabs(2, { storage });
    const access = jwtFor(LIFETIME_S);
    await a!.setTokens({ accessToken: access, refreshToken: 'r1' });
    await vi.waitFor(() => expect(b!.getState().status).toBe('authenticated'));
    const eventsA = recordEvents(a!);

    b!.destroy();
    const answers = await probe.barrier(1);
    await settle();

    expect(answers[0]!.session?.accessToken).toBe(access);
    expect(probe.seen.filter((m) => m.type === 'logout')).toEqual([]);
    expect(a!.getState()).toMatchObject({ status: 'authenticated', accessToken: access });
    expect(eventsA.logout).toEqual([]);
    expect(storedRecord(storage).session?.accessToken).toBe(access);
    expect(logout.seen).toHaveLength(0);
  });
});

describe('the default channel in Node', () => {
  it('with a named channel, managers in one process share the session over Node’s BroadcastChannel', async () => {
    const a = createTab();
    const b = createTab();
    await Promise.all([a.ready, b.ready]);
    const eventsB = recordEvents(b);

    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await vi.waitFor(() => expect(b.getState().accessToken).toBe(a.getState().accessToken));
    expect(eventsB.login).toEqual([{ source: 'remote' }]);
  });

  it('without a named channel, managers in one server process never share a session', async () => {
    const a = createTab({ channel: undefined });
    const b = createTab({ channel: undefined });
    await Promise.all([a.ready, b.ready]);
    const eventsB = recordEvents(b);

    await a.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await settle(50);

    expect(b.getState().status).toBe('unauthenticated');
    expect(eventsB.login).toEqual([]);
  });
});
