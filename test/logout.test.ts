import { describe, expect, it, vi } from 'vitest';
import { type AuthState, NotAuthenticatedError, TokenkeeperError } from 'tokenkeeper';
import { createChannelBus } from './support/bus';
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
import { deferred, outcome } from './support/async';
import { recordEvents } from './support/events';
import { trackManagers } from './support/managers';
import { expectTombstone } from './support/stored';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

const STORAGE_KEY = 'tokenkeeper';

installFakeClock();
startServer();
/** A manager on the test endpoints; destroyed after the test even when the test fails halfway. */
const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  onResume: noResume,
});

describe('logout()', () => {
  it('signs out and replaces the stored session with a tombstone before the logout endpoint receives the request', async () => {
    const storage = createTestStorage();
    let atRequest: { stored: string | undefined; state: AuthState } | undefined;
    const logout = logoutEndpoint(() => {
      atRequest = { stored: storage.values.get(STORAGE_KEY), state: auth.getState() };
      return new HttpResponse(null, { status: 204 });
    });
    server.use(logout.handler);
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
    expect(storage.values.has(STORAGE_KEY)).toBe(true);
    const events = recordEvents(auth);

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    expect(atRequest).toBeDefined();
    const floor = expectTombstone(atRequest!.stored, [access, 'r1']);
    expect(atRequest?.state).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(auth.getState()).toMatchObject({
      status: 'unauthenticated',
      accessToken: null,
      expiresAt: null,
      claims: null,
    });
    expect(expectTombstone(storage.values.get(STORAGE_KEY), [access, 'r1'])).toEqual(floor);
    await expect(auth.getAccessToken()).resolves.toBeNull();
    auth.destroy();

    // A reload finds the tombstone and is signed out.
    const reloaded = createManager({ storage });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    await expect(reloaded.getAccessToken()).resolves.toBeNull();
  });

  it('sends the logout request with keepalive, the refresh token and the access token', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createManager();
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });

    await auth.logout();

    expect(logout.seen).toHaveLength(1);
    const [request] = logout.seen;
    expect(request!.keepalive).toBe(true);
    expect(request!.method).toBe('POST');
    expect(JSON.parse(request!.body)).toEqual({ refresh_token: 'r1' });
    expect(request!.headers.get('authorization')).toBe(`Bearer ${access}`);
    auth.destroy();
  });

  it("uses the given reason in the 'logout' event", async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);

    await expect(auth.logout({ reason: 'idle-timeout' })).resolves.toEqual({ serverNotified: true });

    expect(events.logout).toEqual([{ reason: 'idle-timeout' }]);
    auth.destroy();
  });

  it('is idempotent: two concurrent calls send one request and resolve alike', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);

    const [first, second] = await Promise.all([auth.logout(), auth.logout()]);

    expect(first).toEqual({ serverNotified: true });
    expect(second).toEqual(first);
    expect(logout.seen).toHaveLength(1);
    expect(events.logout).toHaveLength(1);

    // Once signed out, a further logout() is a no-op.
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    expect(logout.seen).toHaveLength(1);
    expect(events.logout).toHaveLength(1);
    auth.destroy();
  });

  it('resolves { serverNotified: false } when signed out, with no request and no event', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    const states = vi.fn();
    auth.subscribe(states);

    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

    expect(logout.seen).toHaveLength(0);
    expect(events.logout).toHaveLength(0);
    expect(events.error).toHaveLength(0);
    expect(states).not.toHaveBeenCalled();
    auth.destroy();
  });
});

describe('logout wins over a refresh in flight', () => {
  /** Sets up a manager whose refresh is held open until `release()`; the refresh would return `next`. */
  async function slowRefreshSetup(kind: 'endpoint' | 'function') {
    const gate = deferred();
    const next = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return HttpResponse.json({ access_token: next, refresh_token: 'r2' });
    });
    let functionCalls = 0;
    server.use(refresh.handler);
    const storage = createTestStorage();
    const auth = createManager({
      storage,
      logout: undefined,
      // A refresh function that ignores its abort signal and answers late anyway.
      ...(kind === 'function'
        ? {
            refresh: async () => {
              functionCalls += 1;
              await gate.promise;
              return { accessToken: next, refreshToken: 'r2' };
            },
          }
        : {}),
    });
    const login = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: login, refreshToken: 'r1' });
    const calls = (): number => (kind === 'function' ? functionCalls : refresh.seen.length);
    return { gate, login, next, storage, auth, calls };
  }

  it.each(['endpoint', 'function'] as const)(
    'drops the late refresh response after logout (refresh %s)',
    async (kind) => {
      const { gate, login, next, storage, auth, calls } = await slowRefreshSetup(kind);
      const events = recordEvents(auth);

      vi.setSystemTime(START_MS + LIFETIME_MS - 30_000); // inside the margin: getAccessToken() waits for the refresh
      const refreshing = outcome(auth.refresh());
      const waiting = Array.from({ length: 3 }, () => outcome(auth.getAccessToken()));
      await flush();
      expect(calls()).toBe(1);

      await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
      gate.resolve(); // the server answers after the logout
      await flush();
      await vi.advanceTimersByTimeAsync(60_000);

      const refreshed = await refreshing;
      expect('error' in refreshed && refreshed.error).toBeInstanceOf(NotAuthenticatedError);
      expect(await Promise.all(waiting)).toEqual([{ value: null }, { value: null }, { value: null }]);
      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null, refreshing: false });
      expect(auth.getState().accessToken).not.toBe(next);
      // Neither the ended session nor the late answer is stored: only the logout's tombstone.
      expectTombstone(storage.values.get(STORAGE_KEY), [login, 'r1', next, 'r2']);
      expect(events.refresh).toHaveLength(0);
      expect(events.login).toHaveLength(0);
      expect(events.logout).toEqual([{ reason: 'user' }]);
      await expect(auth.getAccessToken()).resolves.toBeNull();
      expect(calls()).toBe(1);
      auth.destroy();

      const reloaded = createManager({ storage, logout: undefined });
      await reloaded.ready;
      expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    },
  );

  it("keeps a new login's tokens when setTokens() comes during a refresh", async () => {
    const gate = deferred();
    const stale = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint(async (call) => {
      if (call === 1) {
        await gate.promise;
        return HttpResponse.json({ access_token: stale, refresh_token: 'r-stale' });
      }
      return HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'r3' });
    });
    server.use(refresh.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage, logout: undefined });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);

    const refreshing = outcome(auth.refresh());
    await flush();
    expect(refresh.seen).toHaveLength(1);
    const login = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: login, refreshToken: 'r-login' });
    gate.resolve();
    await refreshing;
    await flush();

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: login });
    expect(storage.values.get(STORAGE_KEY)).toContain(login);
    expect(storage.values.get(STORAGE_KEY)).not.toContain(stale);
    expect(events.refresh).toHaveLength(0);
    expect(events.login).toEqual([{ source: 'local' }]);
    await expect(auth.getAccessToken()).resolves.toBe(login);

    // The next refresh uses the login's refresh token, not the dropped one.
    await auth.refresh();
    expect(refresh.seen).toHaveLength(2);
    expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'r-login' });
    auth.destroy();
  });
});

describe('logout endpoint failure', () => {
  it.each([
    ['answers 500', () => new HttpResponse(null, { status: 500 })],
    ['fails at the network', () => HttpResponse.error()],
  ])('resolves { serverNotified: false } and emits one error when the endpoint %s', async (_label, respond) => {
    const logout = logoutEndpoint(respond);
    server.use(logout.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
    const events = recordEvents(auth);

    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

    expect(logout.seen).toHaveLength(1);
    expect(events.error).toHaveLength(1);
    expect(events.error[0]!.error).toBeInstanceOf(TokenkeeperError);
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(auth.getState().status).toBe('unauthenticated');
    expectTombstone(storage.values.get(STORAGE_KEY), [access, 'r1']);
    auth.destroy();

    const reloaded = createManager({ storage });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
  });

  it('gives up on a logout endpoint that does not answer within its timeout', async () => {
    const gate = deferred();
    const logout = logoutEndpoint(async () => {
      await gate.promise;
      return new HttpResponse(null, { status: 204 });
    });
    server.use(logout.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage, logout: { url: LOGOUT_URL, timeout: 1_000 } });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
    const events = recordEvents(auth);

    let settled = false;
    const result = auth.logout().finally(() => {
      settled = true;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(logout.seen).toHaveLength(1);
    expect(settled).toBe(false);
    // Signed out already, while the server has not answered.
    expect(auth.getState().status).toBe('unauthenticated');
    expectTombstone(storage.values.get(STORAGE_KEY), [access, 'r1']);

    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ serverNotified: false });
    expect(events.error).toHaveLength(1);
    expect(events.error[0]!.error).toBeInstanceOf(TokenkeeperError);
    expect(events.logout).toEqual([{ reason: 'user' }]);
    gate.resolve();
    await flush();
    expect(events.error).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();

    const reloaded = createManager({ storage });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
  });

  it('resolves { serverNotified: false } and emits one error when a logout function throws', async () => {
    const auth = createManager({
      logout: async () => {
        throw new Error('offline');
      },
    });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);

    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

    expect(events.error).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });
});

describe('logout() in a new tab that has not heard the open tabs yet', () => {
  it('ends the session the open tab holds, everywhere, and tells the server about it', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const bus = createChannelBus();
    const channel = 'logout-while-loading';
    const a = createManager({ channel, environment: { createChannel: bus.tab('a') } });
    const access = jwtFor(LIFETIME_S);
    await a.setTokens({ accessToken: access, refreshToken: 'r1' });
    const eventsA = recordEvents(a);

    // Tab B opens with in-memory storage; A's answer to its query is held back.
    bus.hold('a');
    const b = createManager({ channel, environment: { createChannel: bus.tab('b') } });
    await flush();
    expect(b.getState().status).toBe('loading');
    const eventsB = recordEvents(b);

    const result = b.logout();
    await flush();
    expect(b.getState().status).toBe('unauthenticated');
    bus.release('a');
    await expect(result).resolves.toEqual({ serverNotified: true });
    await flush();

    expect(b.getState().status).toBe('unauthenticated');
    expect(eventsB.login).toEqual([]);
    expect(a.getState().status).toBe('unauthenticated');
    expect(eventsA.logout).toEqual([{ reason: 'remote' }]);
    // The server heard of the session B never held: the one it ended.
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    expect(logout.seen[0]!.headers.get('authorization')).toBe(`Bearer ${access}`);
  });
});

describe('logout() then destroy() in the same task (a page that signs out and unloads)', () => {
  it('still ends the session: storage keeps no session and a reload is signed out', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage, channel: false });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
    const result = auth.logout();
    auth.destroy();
    await expect(result).resolves.toEqual({ serverNotified: true });
    expectTombstone(storage.values.get(STORAGE_KEY), [access, 'r1']);
    expect(logout.seen).toHaveLength(1);
    const reloaded = createManager({ storage, channel: false });
    expect(reloaded.getState().status).toBe('unauthenticated');
  });
});
