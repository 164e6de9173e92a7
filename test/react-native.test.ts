/**
 * React Native, as far as the manager can tell: no window, document, location, navigator.locks or
 * BroadcastChannel use, an AsyncStorage-like asynchronous storage and an AppState-like resume signal.
 * Node already lacks window, document, location and navigator (Node 20); nothing is deleted globally.
 * BroadcastChannel does exist in Node: it is replaced by a class that records constructions, to prove that
 * the manager never opens one where there is no page (it must not: React Native has none).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError, type TokenStorage } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  API_ORIGIN,
  HttpResponse,
  http,
  LOGOUT_URL,
  logoutEndpoint,
  REFRESH_URL,
  refreshEndpoint,
  type SeenRequest,
  server,
  startServer,
} from './support/environment';
import { trackManagers } from './support/managers';
import { expectTombstone } from './support/stored';
import { LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

/** Constructions of BroadcastChannel seen while a test ran. */
let channelsOpened: string[] = [];

beforeEach(() => {
  channelsOpened = [];
  vi.stubGlobal(
    'BroadcastChannel',
    class RecordingBroadcastChannel {
      onmessage = null;
      constructor(name: string) {
        channelsOpened.push(name);
      }
      postMessage(): void {}
      close(): void {}
    },
  );
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});
startServer();
/** `createTokenManager`, with the manager destroyed after the test. */
const createManager = trackManagers();

/**
 * Like `@react-native-async-storage/async-storage`: every method is asynchronous; values are strings.
 * Its methods use `this`, so a manager that called them detached from the object would fail.
 */
class FakeAsyncStorage {
  readonly values = new Map<string, string>();
  readonly calls: string[] = [];

  async getItem(key: string, _callback?: (error?: Error, result?: string | null) => void): Promise<string | null> {
    this.calls.push(`getItem ${key}`);
    await Promise.resolve();
    return this.values.get(key) ?? null;
  }

  async setItem(key: string, value: string): Promise<void> {
    this.calls.push(`setItem ${key}`);
    await Promise.resolve();
    this.values.set(key, value);
  }

  async removeItem(key: string): Promise<void> {
    this.calls.push(`removeItem ${key}`);
    await Promise.resolve();
    this.values.delete(key);
  }
}

type AppStateStatus = 'active' | 'background' | 'inactive';

/** Like React Native's `AppState`: `addEventListener('change', fn)` returns a subscription with `remove()`. */
function createFakeAppState() {
  const listeners = new Set<(state: AppStateStatus) => void>();
  return {
    currentState: 'active' as AppStateStatus,
    addEventListener(_type: 'change', listener: (state: AppStateStatus) => void): { remove(): void } {
      listeners.add(listener);
      return { remove: () => listeners.delete(listener) };
    },
    /** The app moves to `state`, as the OS reports it. */
    set(state: AppStateStatus): void {
      this.currentState = state;
      for (const listener of [...listeners]) listener(state);
    },
    get listenerCount(): number {
      return listeners.size;
    },
  };
}

type FakeAppState = ReturnType<typeof createFakeAppState>;

/** The `onResume` the README shows for React Native. */
function onAppStateActive(appState: FakeAppState): (check: () => void) => () => void {
  return (check) => {
    const subscription = appState.addEventListener('change', (state) => {
      if (state === 'active') check();
    });
    return () => subscription.remove();
  };
}

/** Lets pending promise chains (storage, msw) run without moving the fake clock. */
async function settle(condition: () => boolean, what: string): Promise<void> {
  for (let round = 0; round < 100 && !condition(); round += 1) await vi.advanceTimersByTimeAsync(0);
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

function rotatingRefresh() {
  let issued = 1;
  return refreshEndpoint(() => {
    issued += 1;
    return HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: `rt-${issued}` });
  });
}

function apiEndpoint() {
  const seen: SeenRequest[] = [];
  const handler = http.all(`${API_ORIGIN}/api/*`, ({ request }) => {
    seen.push({ method: request.method, url: request.url, headers: request.headers, body: '', keepalive: false });
    return HttpResponse.json({ ok: true });
  });
  return { handler, seen };
}

/** What the storage holds (format version 2): the session and the latest logout. */
interface Stored {
  v: number;
  session: Record<string, unknown> | null;
  floor: { stamp: number; id: string } | null;
}

function storedSession(storage: FakeAsyncStorage, key = 'tokenkeeper'): Stored | null {
  const raw = storage.values.get(key);
  return raw === undefined ? null : (JSON.parse(raw) as Stored);
}

describe('React Native: the platform as the manager finds it', () => {
  it('runs where there is no window, document, location or navigator', () => {
    const scope = globalThis as Record<string, unknown>;
    expect(scope.window).toBeUndefined();
    expect(scope.document).toBeUndefined();
    expect(scope.location).toBeUndefined();
    expect((scope.navigator as { locks?: unknown } | undefined)?.locks).toBeUndefined();
  });
});

describe('React Native: a whole session', () => {
  it('logs in, restores from AsyncStorage, refreshes on time and on resume, signs requests and logs out', async () => {
    vi.useFakeTimers();
    vi.setSystemTime(START_MS);
    const refresh = rotatingRefresh();
    const logout = logoutEndpoint();
    const api = apiEndpoint();
    server.use(refresh.handler, logout.handler, api.handler);
    const storage = new FakeAsyncStorage();
    const appState = createFakeAppState();
    const options = {
      refresh: { url: REFRESH_URL },
      logout: { url: LOGOUT_URL },
      storage,
      allowedOrigins: [API_ORIGIN],
      onResume: onAppStateActive(appState),
    };

    // 1. Login: the token set reaches AsyncStorage.
    const first = createManager(options);
    await first.ready;
    const loginToken = jwtFor(LIFETIME_S, { sub: 'ada' });
    await first.setTokens({ accessToken: loginToken, refreshToken: 'rt-1' });
    expect(storedSession(storage)).toMatchObject({
      v: 2,
      session: { accessToken: loginToken, refreshToken: 'rt-1', seq: 0 },
      floor: null,
    });
    first.destroy();
    expect(appState.listenerCount).toBe(0);

    // 2. The app starts again: 'loading' until AsyncStorage answers, then signed in without a server call.
    const auth = createManager(options);
    expect(auth.getState().status).toBe('loading');
    await auth.ready;
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: loginToken, claims: { sub: 'ada' } });
    expect(appState.listenerCount).toBe(1);
    expect(refresh.seen).toHaveLength(0);

    // 3. Proactive refresh at expiresAt - margin, not a moment before.
    await vi.advanceTimersByTimeAsync(LIFETIME_S * 1000 - MARGIN_MS - 1_000);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1_000);
    await settle(() => auth.getState().accessToken !== loginToken, 'the proactive refresh');
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'rt-1' });
    const refreshed = auth.getState().accessToken!;
    await settle(() => storedSession(storage)?.session?.accessToken === refreshed, 'the refreshed tokens to be stored');
    expect(storedSession(storage)).toMatchObject({ session: { accessToken: refreshed, refreshToken: 'rt-2', seq: 1 } });

    // 4. The phone sleeps for two hours: no timer fires, the wall clock jumps. Back in the foreground, the
    // overdue refresh starts at once.
    vi.setSystemTime(Date.now() + 2 * 3600_000);
    appState.set('background');
    await vi.advanceTimersByTimeAsync(0);
    expect(refresh.seen).toHaveLength(1);
    appState.set('active');
    await settle(() => refresh.seen.length === 2 && auth.getState().accessToken !== refreshed, 'the resume refresh');
    expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'rt-2' });
    const resumed = auth.getState().accessToken!;
    expect(auth.getState()).toMatchObject({ status: 'authenticated', refreshing: false });

    // 5. auth.fetch sends the bearer token to the allowed API.
    const response = await auth.fetch(`${API_ORIGIN}/api/me`);
    expect(response.status).toBe(200);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]!.headers.get('authorization')).toBe(`Bearer ${resumed}`);

    // 6. Logout leaves only a tombstone (no token) in AsyncStorage and tells the server.
    const result = await auth.logout();
    expect(result).toEqual({ serverNotified: true });
    expect(auth.getState().status).toBe('unauthenticated');
    expectTombstone(storage.values.get('tokenkeeper'), [resumed, 'rt-3', refreshed, 'rt-2', loginToken, 'rt-1']);
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-3' });
    expect(logout.seen[0]!.headers.get('authorization')).toBe(`Bearer ${resumed}`);
    expect(refresh.seen).toHaveLength(2);

    // The app starts again: it reads the tombstone and is signed out, without a server call.
    const restarted = createManager(options);
    await restarted.ready;
    expect(restarted.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    restarted.destroy();
    expect(refresh.seen).toHaveLength(2);

    // No cross-tab channel was ever opened, and the AppState listener goes with the manager.
    auth.destroy();
    expect(appState.listenerCount).toBe(0);
    expect(channelsOpened).toEqual([]);
  });

  it('works as a single tab with a channel name set, where there is no BroadcastChannel at all', async () => {
    // React Native has no BroadcastChannel: the global is removed, not just recorded.
    vi.stubGlobal('BroadcastChannel', undefined);
    const refresh = refreshEndpoint(() =>
      HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-2' }),
    );
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const storage = new FakeAsyncStorage();
    const auth = createManager({
      refresh: { url: REFRESH_URL },
      logout: { url: LOGOUT_URL },
      storage,
      allowedOrigins: [API_ORIGIN],
      channel: 'my-app',
      onResume: () => () => {},
    });
    await auth.ready;
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });
    const refreshed = await auth.refresh();
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: refreshed });
    expect(await auth.logout()).toEqual({ serverNotified: true });
    expect(refresh.seen).toHaveLength(1);
    expect(logout.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
  });
});

describe('React Native: configuration errors', () => {
  it('auth.fetch rejects with ConfigurationError without allowedOrigins, and sends nothing', async () => {
    const api = apiEndpoint();
    server.use(api.handler);
    const auth = createManager({
      refresh: { url: REFRESH_URL },
      storage: new FakeAsyncStorage(),
      onResume: () => () => {},
    });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });

    const error = await auth.fetch(`${API_ORIGIN}/api/me`).then(
      () => null,
      (rejection: unknown) => rejection,
    );

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'configuration' });
    expect((error as Error).message).toContain('allowedOrigins');
    expect(api.seen).toHaveLength(0);
  });

  it('a relative refresh URL is accepted at creation, and is a ConfigurationError where it is used', async () => {
    const auth = createManager({
      refresh: { url: '/auth/refresh' },
      storage: new FakeAsyncStorage(),
      allowedOrigins: [API_ORIGIN],
    });
    await auth.ready;
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const refreshed = auth.refresh();
    await expect(refreshed).rejects.toBeInstanceOf(ConfigurationError);
    await expect(refreshed).rejects.toThrow(/refresh\.url must be an absolute URL/);
    expect(auth.getState().status).toBe('authenticated');
  });
});

describe('React Native: expo-secure-store', () => {
  /** Like `expo-secure-store`: asynchronous, and keys may hold only letters, digits, '.', '-' and '_'. */
  function createFakeSecureStore() {
    const values = new Map<string, string>();
    const checkKey = (key: string): void => {
      if (!/^[\w.-]+$/.test(key)) throw new Error(`Invalid key provided to SecureStore: ${key}`);
    };
    return {
      values,
      async getItemAsync(key: string): Promise<string | null> {
        checkKey(key);
        return values.get(key) ?? null;
      },
      async setItemAsync(key: string, value: string): Promise<void> {
        checkKey(key);
        values.set(key, value);
      },
      async deleteItemAsync(key: string): Promise<void> {
        checkKey(key);
        values.delete(key);
      },
    };
  }

  it('works through a three-line adapter: stores, restores and clears the session', async () => {
    const SecureStore = createFakeSecureStore();
    const refresh = rotatingRefresh();
    server.use(refresh.handler);
    const storage: TokenStorage = {
      getItem: (key) => SecureStore.getItemAsync(key),
      setItem: (key, value) => SecureStore.setItemAsync(key, value),
      removeItem: (key) => SecureStore.deleteItemAsync(key),
    };
    const options = {
      refresh: { url: REFRESH_URL },
      storage,
      storageKey: 'auth.session',
      allowedOrigins: [API_ORIGIN],
      onResume: () => () => {},
    };
    const errors: Error[] = [];

    const first = createManager(options);
    first.on('error', ({ error }) => errors.push(error));
    const token = jwtFor(LIFETIME_S, { sub: 'ada' });
    await first.setTokens({ accessToken: token, refreshToken: 'rt-1' });
    expect(JSON.parse(SecureStore.values.get('auth.session')!)).toMatchObject({
      v: 2,
      session: { accessToken: token },
    });
    first.destroy();

    const restored = createManager(options);
    restored.on('error', ({ error }) => errors.push(error));
    await restored.ready;
    expect(restored.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
    const refreshed = await restored.refresh();
    expect(refresh.seen).toHaveLength(1);
    expect(restored.getState().accessToken).toBe(refreshed);
    expect(JSON.parse(SecureStore.values.get('auth.session')!)).toMatchObject({
      v: 2,
      session: { accessToken: refreshed, refreshToken: 'rt-2' },
    });

    await restored.logout();
    expectTombstone(SecureStore.values.get('auth.session'), [token, 'rt-1', refreshed, 'rt-2']);
    expect(errors).toEqual([]);
    restored.destroy();

    // Restored once more: the tombstone loads as signed out.
    const reopened = createManager(options);
    reopened.on('error', ({ error }) => errors.push(error));
    await reopened.ready;
    expect(reopened.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(errors).toEqual([]);
  });
});
