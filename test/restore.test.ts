// restore: true, for a refresh token kept in an HttpOnly cookie: what is sent, what a user sees, and how tabs
// share one restore. HTTP through msw; tabs on the in-memory channel bus.
import { describe, expect, it, vi } from 'vitest';
import { NotAuthenticatedError, RefreshFailedError } from 'tokenkeeper';
import { createChannelBus } from './support/bus';
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
import { flush, installFakeClock, LIFETIME_S, START_MS } from './support/time';

installFakeClock();
startServer();
const createManager = trackManagers({
  refresh: { url: REFRESH_URL, credentials: 'include', headers: { 'X-Requested-With': 'tokenkeeper' } },
  logout: { url: LOGOUT_URL, credentials: 'include' },
  restore: true,
  channel: false,
  onResume: noResume,
});

/** The cookie session's endpoint: a new access token each call, no refresh token in the body. */
const cookieSession = () =>
  refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S), expires_in: LIFETIME_S }));

describe('restore at start', () => {
  it('asks the refresh endpoint once, with no refresh token in the body, and signs in from the answer', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    expect(auth.getState()).toMatchObject({ status: 'loading' });

    await auth.ready;

    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({});
    expect(refresh.seen[0]!.headers.get('x-requested-with')).toBe('tokenkeeper');
    expect(auth.getState()).toMatchObject({ status: 'authenticated', expiresAt: START_MS + LIFETIME_S * 1000 });
    expect(events.login).toEqual([{ source: 'restore' }]);
    expect(events.error).toEqual([]);
    await expect(auth.getAccessToken()).resolves.toBe(auth.getState().accessToken);
    expect(refresh.seen).toHaveLength(1);
  });

  it('as RFC 6749 refresh: grant_type=refresh_token, client_id, and no refresh_token field', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const auth = createManager({ refresh: { url: REFRESH_URL, format: 'oauth2', clientId: 'spa' } });
    await auth.ready;
    expect(refresh.seen.map((seen) => seen.body)).toEqual(['grant_type=refresh_token&client_id=spa']);
    expect(auth.getState().status).toBe('authenticated');
  });

  it('makes no call when the storage holds a session', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const storage = createTestStorage();
    const first = createManager({ storage });
    await first.setTokens({ accessToken: jwtFor(LIFETIME_S) });
    first.destroy();
    const count = refresh.seen.length;

    const auth = createManager({ storage });
    expect(auth.getState().status).toBe('authenticated');
    await auth.ready;
    expect(refresh.seen).toHaveLength(count);
  });

  it('400/401: signed out quietly (no logout, no error event); nothing is retried', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }));
    server.use(refresh.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    await auth.ready;
    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', refreshing: false });
    expect(events).toEqual({ login: [], refresh: [], logout: [], error: [] });
    await flush();
    expect(refresh.seen).toHaveLength(1);
  });

  it('a transient failure: signed out with one error event, and no retry in the background', async () => {
    const refresh = refreshEndpoint(() => new HttpResponse(null, { status: 503 }));
    server.use(refresh.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.error).toHaveLength(1);
    expect(events.error[0]?.error).toBeInstanceOf(RefreshFailedError);
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    expect(refresh.seen).toHaveLength(1);
    expect(events.error).toHaveLength(1);
  });
});

describe('refresh() while signed out, with restore', () => {
  it('asks the server and resolves the new token; 401 rejects with NotAuthenticatedError', async () => {
    let answer: 'no' | 'yes' = 'no';
    const refresh = refreshEndpoint(() =>
      answer === 'yes'
        ? HttpResponse.json({ access_token: jwtFor(LIFETIME_S) })
        : HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }),
    );
    server.use(refresh.handler);
    const auth = createManager();
    await auth.ready;
    await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
    answer = 'yes';
    const token = await auth.refresh();
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
    expect(refresh.seen).toHaveLength(3);
  });

  it('joins the restore in flight at start: one call for both', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const auth = createManager();
    const [viaRefresh] = await Promise.all([auth.refresh(), auth.ready]);
    expect(viaRefresh).toBe(auth.getState().accessToken);
    expect(refresh.seen).toHaveLength(1);
  });

  it('without restore, still rejects with NotAuthenticatedError and calls nothing', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const auth = createManager({ restore: false });
    await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
    expect(refresh.seen).toHaveLength(0);
  });
});

describe('a login or logout during the restore call wins', () => {
  /** A refresh endpoint that answers only when the test says so. */
  const heldCookieSession = () => {
    const answers: (() => void)[] = [];
    const endpoint = refreshEndpoint(
      () =>
        new Promise<Response>((resolve) => {
          answers.push(() => resolve(HttpResponse.json({ access_token: jwtFor(LIFETIME_S, { sub: 'restored' }) })));
        }),
    );
    return { ...endpoint, answer: () => answers.shift()?.() };
  };

  it('setTokens(): its session stays, the restore answer is dropped', async () => {
    const refresh = heldCookieSession();
    server.use(refresh.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    await flush();
    expect(refresh.seen).toHaveLength(1);
    const mine = jwtFor(LIFETIME_S, { sub: 'typed-in' });
    await auth.setTokens({ accessToken: mine });
    await auth.ready;
    refresh.answer();
    await flush();
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: mine });
    expect(events.login).toEqual([{ source: 'local' }]);
  });

  it('logout(): signed out, the answer dropped, and the server told (the cookie goes along)', async () => {
    const refresh = heldCookieSession();
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    await flush();
    expect(auth.getState().status).toBe('loading');
    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });
    expect(auth.getState().status).toBe('unauthenticated');
    refresh.answer();
    await flush();
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.login).toEqual([]);
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({});
    expect(logout.seen[0]!.headers.get('authorization')).toBeNull();
  });
});

describe('tabs share one restore', () => {
  it('two tabs starting together with in-memory storage: one call, and the other tab signs in from the channel', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler);
    const bus = createChannelBus();
    const a = createManager({ channel: 'restore-tabs', environment: { createChannel: bus.tab('a') } });
    const b = createManager({ channel: 'restore-tabs', environment: { createChannel: bus.tab('b') } });
    const eventsA = recordEvents(a);
    const eventsB = recordEvents(b);
    await Promise.all([a.ready, b.ready]);
    await flush();
    expect(refresh.seen).toHaveLength(1);
    expect(a.getState().accessToken).toBe(b.getState().accessToken);
    expect([...eventsA.login, ...eventsB.login].map((login) => login.source).sort()).toEqual(['remote', 'restore']);
  });
});

describe('a restore yields to what another tab did while its request was out, whatever the clocks say', () => {
  const held = () => {
    const answers: (() => void)[] = [];
    const endpoint = refreshEndpoint(
      () =>
        new Promise<Response>((resolve) => {
          answers.push(() => resolve(HttpResponse.json({ access_token: jwtFor(LIFETIME_S, { sub: 'restored' }) })));
        }),
    );
    return { ...endpoint, answer: () => answers.shift()?.() };
  };

  it.each([
    ['no clock change', 0],
    ['the clock set back 2 s', -2_000],
    ['the clock set back an hour', -3_600_000],
  ])(
    'a logout in another tab during the restore call (%s): signed out in both, the answer dropped',
    async (_, jumpMs) => {
      const refresh = held();
      server.use(refresh.handler, logoutEndpoint().handler);
      const bus = createChannelBus();
      const channel = `restore-yield-${jumpMs}`;
      const b = createManager({ channel, restore: false, environment: { createChannel: bus.tab('b') } });
      await b.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'b' }), refreshToken: 'rb' });
      b.destroy();
      // Tab A starts alone, with restore: its call is out.
      const a = createManager({ channel, environment: { createChannel: bus.tab('a') } });
      await flush();
      expect(refresh.seen).toHaveLength(1);
      // Tab B opens, signs in and out while A's call is out, its clock set back meanwhile.
      vi.setSystemTime(Date.now() + jumpMs);
      const b2 = createManager({ channel, restore: false, environment: { createChannel: bus.tab('b2') } });
      await b2.ready;
      await b2.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'b2' }), refreshToken: 'rb2' });
      await flush();
      await expect(b2.logout()).resolves.toEqual({ serverNotified: true });
      await flush();
      refresh.answer();
      await flush();
      await a.ready;
      expect(a.getState().status).toBe('unauthenticated');
      expect(b2.getState().status).toBe('unauthenticated');
    },
  );
});

describe('refresh() and logout() while the restore at start is out', () => {
  it('refresh() joins the restore; a logout() after it drops its answer and makes no second call', async () => {
    const answers: (() => void)[] = [];
    const refresh = refreshEndpoint(
      () =>
        new Promise<Response>((resolve) => {
          answers.push(() => resolve(HttpResponse.json({ access_token: jwtFor(LIFETIME_S) })));
        }),
    );
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    await flush();
    expect(refresh.seen).toHaveLength(1);

    const refreshed = auth.refresh();
    const outcome = refreshed.then(
      () => 'resolved',
      (error: unknown) => (error as Error).name,
    );
    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });
    for (const answer of answers.splice(0)) answer();
    await flush();

    expect(await outcome).toBe('NotAuthenticatedError');
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.login).toEqual([]);
  });

  it('a refresh() waiting for the start, with a logout() right after it: no restore call is made for it', async () => {
    const refresh = cookieSession();
    server.use(refresh.handler, logoutEndpoint().handler);
    const bus = createChannelBus();
    // Another tab that never answers keeps this one asking, before its restore begins.
    createManager({ channel: 'refresh-then-logout', restore: false, environment: { createChannel: bus.tab('other') } });
    await flush();
    bus.hold('other');
    const auth = createManager({ channel: 'refresh-then-logout', environment: { createChannel: bus.tab('me') } });
    const refreshed = auth.refresh().then(
      () => 'resolved',
      (error: unknown) => (error as Error).name,
    );
    // The logout waits (at most the query's 100 ms) for the open tabs to answer, which name what it ended.
    const loggedOut = auth.logout();
    await vi.advanceTimersByTimeAsync(1_000);
    await loggedOut;
    expect(await refreshed).toBe('NotAuthenticatedError');
    expect(refresh.seen).toHaveLength(0);
    expect(auth.getState().status).toBe('unauthenticated');
  });
});
