import { describe, expect, it, vi } from 'vitest';
import { type AuthState, ConfigurationError, createTokenManager } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  createResumeTrigger,
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
import { recordEvents, recordEventsInOrder } from './support/events';
import { trackManagers } from './support/managers';
import { expectTombstone } from './support/stored';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, START_MS } from './support/time';

const STORAGE_KEY = 'tokenkeeper';

installFakeClock();
startServer();
/** A manager on the test endpoints; destroyed after the test even when the test fails halfway. */
const createManager = trackManagers({ refresh: { url: REFRESH_URL }, onResume: noResume });

describe('setTokens and state', () => {
  it("shows the session in getState() and emits 'login' { source: 'local' }", async () => {
    const auth = createManager();
    const events = recordEvents(auth);
    const access = jwtFor(LIFETIME_S, { role: 'admin' });

    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });

    expect(auth.getState()).toEqual({
      status: 'authenticated',
      accessToken: access,
      expiresAt: START_MS + LIFETIME_MS,
      claims: expect.objectContaining({ sub: 'user-1', role: 'admin' }),
      refreshing: false,
    });
    expect(events.login).toEqual([{ source: 'local' }]);
    await expect(auth.getAccessToken()).resolves.toBe(access);
    auth.destroy();
  });

  it('returns the same state object until something changes', async () => {
    const auth = createManager();
    await auth.ready;
    const signedOut = auth.getState();
    expect(auth.getState()).toBe(signedOut);
    expect(signedOut.status).toBe('unauthenticated');

    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const signedIn = auth.getState();
    expect(signedIn).not.toBe(signedOut);
    expect(auth.getState()).toBe(signedIn);
    await auth.getAccessToken(); // reading the token changes nothing
    expect(auth.getState()).toBe(signedIn);

    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r2' });
    expect(auth.getState()).not.toBe(signedIn);
    auth.destroy();
  });

  it('calls subscribers after each change and stops after unsubscribe', async () => {
    server.use(logoutEndpoint().handler);
    const auth = createManager({ logout: { url: LOGOUT_URL } });
    await auth.ready;
    const seen: AuthState[] = [];
    const unsubscribe = auth.subscribe((state) => seen.push(state));

    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(auth.getState());
    expect(seen[0]!.status).toBe('authenticated');

    await auth.logout();
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(auth.getState());
    expect(seen[1]!.status).toBe('unauthenticated');

    unsubscribe();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r2' });
    expect(seen).toHaveLength(2);
    auth.destroy();
  });

  it('on() returns a function that stops the handler', async () => {
    const auth = createManager();
    const handler = vi.fn();
    const off = auth.on('login', handler);

    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    expect(handler).toHaveBeenCalledTimes(1);
    off();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r2' });

    expect(handler).toHaveBeenCalledTimes(1);
    auth.destroy();
  });

  it('keeps working when a listener or an event handler throws', async () => {
    // A listener's error may be re-thrown on its own, apart from the manager; catch exactly those here so
    // that they do not count as unhandled errors of the test run.
    const listenerErrors = new Set<unknown>();
    const queueMicrotask = globalThis.queueMicrotask;
    vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((callback) =>
      queueMicrotask(() => {
        try {
          callback();
        } catch (error) {
          if (!listenerErrors.has(error)) throw error;
        }
      }),
    );
    const subscriberError = new Error('subscriber failed');
    const handlerError = new Error('login handler failed');
    listenerErrors.add(subscriberError).add(handlerError);
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    server.use(refresh.handler);
    const auth = createManager();
    await auth.ready;
    auth.subscribe(() => {
      throw subscriberError;
    });
    auth.on('login', () => {
      throw handlerError;
    });
    const laterSubscriber = vi.fn();
    const laterLoginHandler = vi.fn();
    auth.subscribe(laterSubscriber);
    auth.on('login', laterLoginHandler);
    const access = jwtFor(LIFETIME_S);

    await expect(auth.setTokens({ accessToken: access, refreshToken: 'r1' })).resolves.toBeUndefined();

    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: access });
    expect(laterSubscriber).toHaveBeenCalled();
    expect(laterLoginHandler).toHaveBeenCalledTimes(1);
    await expect(auth.getAccessToken()).resolves.toBe(access);
    const fresh = await auth.refresh();
    expect(auth.getState().accessToken).toBe(fresh);
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });
});

describe('destroy()', () => {
  it('stops timers and the resume listener, signs out in memory only, keeps storage, emits nothing', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const storage = createTestStorage();
    const trigger = createResumeTrigger();
    const auth = createManager({ storage, logout: { url: LOGOUT_URL }, onResume: trigger.onResume });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const stored = storage.values.get(STORAGE_KEY);
    expect(stored).toBeDefined();
    expect(vi.getTimerCount()).toBeGreaterThan(0); // the proactive refresh is scheduled
    expect(trigger.listeners).toBe(1);
    const events = recordEventsInOrder(auth);
    const subscriber = vi.fn();
    auth.subscribe(subscriber);

    auth.destroy();

    expect(vi.getTimerCount()).toBe(0);
    expect(trigger.listeners).toBe(0);
    expect(auth.getState()).toMatchObject({
      status: 'unauthenticated',
      accessToken: null,
      expiresAt: null,
      claims: null,
    });
    await expect(auth.getAccessToken()).resolves.toBeNull();
    expect(storage.values.get(STORAGE_KEY)).toBe(stored);

    await expect(auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r2' })).rejects.toBeInstanceOf(
      ConfigurationError,
    );
    await expect(auth.refresh()).rejects.toBeInstanceOf(ConfigurationError);
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    await vi.advanceTimersByTimeAsync(2 * LIFETIME_MS);

    expect(refresh.seen).toHaveLength(0);
    expect(logout.seen).toHaveLength(0);
    expect(events.order).toEqual([]);
    expect(subscriber).not.toHaveBeenCalled();
    expect(storage.values.get(STORAGE_KEY)).toBe(stored);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('drops a refresh in flight and leaves no timer behind', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const refresh = refreshEndpoint(async () => {
      await gate;
      return HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'r2' });
    });
    server.use(refresh.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const stored = storage.values.get(STORAGE_KEY);
    const events = recordEventsInOrder(auth);
    const pending = auth.refresh().catch(() => 'rejected');
    await flush();
    expect(refresh.seen).toHaveLength(1);

    auth.destroy();
    release();
    await expect(pending).resolves.toBe('rejected');
    await flush();

    expect(vi.getTimerCount()).toBe(0);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(storage.values.get(STORAGE_KEY)).toBe(stored);
    expect(events.order).toEqual([]);
  });

  it('is safe to call twice', async () => {
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    auth.destroy();
    expect(() => auth.destroy()).not.toThrow();
    expect(auth.getState().status).toBe('unauthenticated');
  });
});

describe('ready', () => {
  /** Stores a session in `storage` the way a previous page load would have. */
  async function storeSession(storage: ReturnType<typeof createTestStorage>, accessToken: string): Promise<void> {
    const previous = createTokenManager({ refresh: { url: REFRESH_URL }, storage, onResume: () => () => {} });
    await previous.setTokens({ accessToken, refreshToken: 'r-stored' });
    previous.destroy();
  }

  it('resolves, with the stored session loaded', async () => {
    const storage = createTestStorage({ async: true });
    const stored = jwtFor(LIFETIME_S);
    await storeSession(storage, stored);
    const auth = createManager({ storage });

    await expect(auth.ready).resolves.toBeUndefined();
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: stored });
    auth.destroy();
  });

  it('resolves when nothing is stored', async () => {
    const auth = createManager({ storage: createTestStorage({ async: true }) });
    await expect(auth.ready).resolves.toBeUndefined();
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });

  it('getAccessToken() called before ready returns the stored token', async () => {
    const storage = createTestStorage({ async: true });
    const stored = jwtFor(LIFETIME_S);
    await storeSession(storage, stored);
    const auth = createManager({ storage });

    const token = auth.getAccessToken();

    await expect(token).resolves.toBe(stored);
    auth.destroy();
  });

  it('refresh() called before ready refreshes the stored session', async () => {
    const fresh = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: fresh }));
    server.use(refresh.handler);
    const storage = createTestStorage({ async: true });
    await storeSession(storage, jwtFor(LIFETIME_S));
    const auth = createManager({ storage });

    await expect(auth.refresh()).resolves.toBe(fresh);
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r-stored' });
    auth.destroy();
  });

  it('setTokens() called before ready is not overwritten by the stored session', async () => {
    const storage = createTestStorage({ async: true });
    const stored = jwtFor(LIFETIME_S);
    await storeSession(storage, stored);
    const auth = createManager({ storage });
    const login = jwtFor(LIFETIME_S);

    await auth.setTokens({ accessToken: login, refreshToken: 'r-login' });
    await auth.ready;
    await flush();

    expect(auth.getState().accessToken).toBe(login);
    await expect(auth.getAccessToken()).resolves.toBe(login);
    expect(storage.values.get(STORAGE_KEY)).toContain(login);
    auth.destroy();
  });

  it('logout() called before ready ends the stored session and tells the server', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const storage = createTestStorage({ async: true });
    const stored = jwtFor(LIFETIME_S);
    await storeSession(storage, stored);
    const auth = createManager({ storage, logout: { url: LOGOUT_URL } });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'r-stored' });
    expectTombstone(storage.values.get(STORAGE_KEY), [stored, 'r-stored']);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();

    const reloaded = createManager({ storage });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
  });
});
