import { describe, expect, it, vi } from 'vitest';
import type { TokenManager, TokenManagerEvents, TokenStorage } from 'tokenkeeper';
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
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defects 6 and 9: a storage that throws or hangs. What counts is what the storage holds afterwards
 * and what a reload (a new manager on the same storage) finds; no stale or ended token set may be left.
 */

const KEY = 'tokenkeeper';
/** How long a storage call may take before the manager gives up on it (design of issue 7). */
const STORAGE_LIMIT_MS = 2_000;
/** A little more than the limit, for "resolves within about 2 s". */
const WITHIN_LIMIT_MS = STORAGE_LIMIT_MS + 500;

installFakeClock();
startServer();

const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  channel: false,
  onResume: noResume,
});

type Method = 'getItem' | 'setItem' | 'removeItem';

/**
 * An asynchronous storage whose calls can hang: the next `hang[method]` calls of a method do not settle (and
 * take no effect) until `release()`, when they take effect and settle in the order they were made.
 */
function createHangingStorage() {
  const values = new Map<string, string>();
  const hang: Record<Method, number> = { getItem: 0, setItem: 0, removeItem: 0 };
  const held: (() => void)[] = [];
  const call = <T>(method: Method, effect: () => T): Promise<T> => {
    if (hang[method] > 0) {
      hang[method] -= 1;
      return new Promise<T>((resolve) => {
        held.push(() => resolve(effect()));
      });
    }
    return Promise.resolve().then(effect);
  };
  const storage: TokenStorage = {
    getItem: (key) => call('getItem', () => values.get(key) ?? null),
    setItem: (key, value) =>
      call('setItem', () => {
        values.set(key, value);
      }),
    removeItem: (key) =>
      call('removeItem', () => {
        values.delete(key);
      }),
  };
  return {
    storage,
    values,
    hang,
    /** Lets every hung call take effect and settle, oldest first. */
    release(): void {
      for (const settle of held.splice(0)) settle();
    },
  };
}

/** Tracks whether a promise has settled, without making its rejection unhandled. */
function track<T>(promise: Promise<T>): { readonly settled: boolean; readonly value: T | undefined } {
  const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  promise.then(
    (value) => {
      state.settled = true;
      state.value = value;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

/** Whether the stored text holds any of `secrets` (compared, never printed). */
const holdsAny = (stored: string | undefined, ...secrets: string[]): boolean =>
  secrets.some((secret) => (stored ?? '').includes(secret));

const storageErrorCodes = (errors: TokenManagerEvents['error'][]): unknown[] =>
  errors.map(({ error }) => [error.name, (error as { code?: unknown }).code]);

/** A new manager on the same storage, as after a reload; resolves once it has read the storage. */
async function reload(storage: TokenStorage): Promise<TokenManager> {
  const auth = createManager({ storage });
  const ready = track(auth.ready);
  for (let step = 0; step < 10 && !ready.settled; step += 1) await vi.advanceTimersByTimeAsync(10);
  await auth.ready;
  return auth;
}

function rotatingEndpoints() {
  const refresh = refreshEndpoint((call) =>
    HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: `rt-rotated-${call}` }),
  );
  const logout = logoutEndpoint();
  server.use(refresh.handler, logout.handler);
  return { refresh, logout };
}

describe('defect 6: a storage that throws never leaves a stale token set behind', () => {
  it('removes the stored token set when the write of its refresh fails, so a reload does not get the spent refresh token', async () => {
    rotatingEndpoints();
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const login = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: login, refreshToken: 'rt-spent' });
    expect(holdsAny(storage.values.get(KEY), 'rt-spent')).toBe(true);
    const events = recordEvents(auth);

    storage.failOn.add('setItem');
    await auth.refresh();
    await flush();

    expect(holdsAny(storage.values.get(KEY), 'rt-spent', login)).toBe(false);
    expect(storageErrorCodes(events.error)).toEqual([['StorageError', 'storage_failed']]);
    // The manager goes on in memory with the new set.
    expect(auth.getState().status).toBe('authenticated');
    expect(auth.getState().accessToken === login).toBe(false);

    storage.failOn.clear();
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
  });

  it("removes the previous user's stored session when the write of a new login fails", async () => {
    rotatingEndpoints();
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const previous = jwtFor(LIFETIME_S, { sub: 'user-a' });
    await auth.setTokens({ accessToken: previous, refreshToken: 'rt-user-a' });
    const events = recordEvents(auth);

    storage.failOn.add('setItem');
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'user-b' }), refreshToken: 'rt-user-b' });
    await flush();

    expect(holdsAny(storage.values.get(KEY), 'rt-user-a', previous)).toBe(false);
    expect(storageErrorCodes(events.error)).toEqual([['StorageError', 'storage_failed']]);
    expect(auth.getState().claims).toMatchObject({ sub: 'user-b' });

    storage.failOn.clear();
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
  });

  it('removes the key when the tombstone write on logout fails, so a reload is signed out', async () => {
    const { logout } = rotatingEndpoints();
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-ended' });
    const events = recordEvents(auth);
    storage.calls.length = 0;

    storage.failOn.add('setItem');
    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });
    await flush();

    expect(logout.seen).toHaveLength(1);
    expect(storage.calls).toEqual(['getItem', 'setItem', 'removeItem']);
    expect(storage.values.has(KEY)).toBe(false);
    expect(holdsAny(storage.values.get(KEY), 'rt-ended', access)).toBe(false);
    expect(storageErrorCodes(events.error)).toEqual([['StorageError', 'storage_failed']]);
    expect(events.logout).toEqual([{ reason: 'user' }]);

    // The storage still cannot write anything: the reload finds the key removed and is signed out.
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
    await expect(reloaded.getAccessToken()).resolves.toBeNull();
  });

  it('signs out and resolves when both the tombstone write and the removal on logout fail, and clears the storage once it works again', async () => {
    const { logout } = rotatingEndpoints();
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-ended' });
    const before = storage.values.get(KEY);
    const events = recordEvents(auth);
    storage.calls.length = 0;

    storage.failOn.add('setItem');
    storage.failOn.add('removeItem');
    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });
    await flush();

    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-ended' });
    expect(auth.getState().status).toBe('unauthenticated');
    await expect(auth.getAccessToken()).resolves.toBeNull();
    expect(storage.calls).toEqual(['getItem', 'setItem', 'removeItem']);
    expect(storageErrorCodes(events.error)).toEqual([
      ['StorageError', 'storage_failed'],
      ['StorageError', 'storage_failed'],
    ]);
    for (const { error } of events.error) {
      for (const text of [error.message, String(error), JSON.stringify(error)]) {
        expect(holdsAny(text, 'rt-ended', access)).toBe(false);
      }
    }
    expect(events.logout).toEqual([{ reason: 'user' }]);

    // Nothing could be written or removed: for now the ended session is still stored (the server was told, so
    // its refresh token is no longer good there).
    expect(storage.values.get(KEY)).toBe(before);

    // The storage works again: the manager tries again 2 s later, and leaves the logout's tombstone.
    storage.failOn.clear();
    await vi.advanceTimersByTimeAsync(2_000);
    const stored = storage.values.get(KEY) ?? '';
    expect(JSON.parse(stored)).toMatchObject({ v: 2, session: null });
    expect(holdsAny(stored, 'rt-ended', access)).toBe(false);
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
  });

  it('tries three times at most when the storage keeps refusing both the write and the removal', async () => {
    rotatingEndpoints();
    const storage = createTestStorage();
    const auth = createManager({ storage });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-ended' });
    const events = recordEvents(auth);
    storage.failOn.add('setItem');
    storage.failOn.add('removeItem');
    await auth.logout();
    await flush();
    expect(events.error).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(2_000 + 4_000 + 6_000 + 60_000);
    // Two failed calls at logout, then two for each of the three retries, and nothing more.
    expect(events.error).toHaveLength(8);
  });
});

describe('defect 9: storage calls are bounded', () => {
  it('logout() resolves and tells the server although the tombstone write (setItem) never settles, and removes the key instead', async () => {
    const { logout } = rotatingEndpoints();
    const { storage, values, hang } = createHangingStorage();
    const auth = createManager({ storage });
    await auth.ready;
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-1' });
    expect(holdsAny(values.get(KEY), 'rt-1', access)).toBe(true);
    const events = recordEvents(auth);

    hang.setItem = Number.POSITIVE_INFINITY;
    const result = track(auth.logout());
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);

    expect(result.settled).toBe(true);
    expect(result.value).toEqual({ serverNotified: true });
    expect(logout.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(storageErrorCodes(events.error)).toEqual([['StorageError', 'storage_failed']]);
    // The hung write gave way to the fallback: the key is removed.
    expect(values.has(KEY)).toBe(false);
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
  });

  it('a setItem that never settles does not stall setTokens(), a later setTokens() or logout()', async () => {
    const { logout } = rotatingEndpoints();
    const { storage, hang } = createHangingStorage();
    const auth = createManager({ storage });
    await auth.ready;
    const events = recordEvents(auth);
    hang.setItem = Number.POSITIVE_INFINITY;

    const first = track(auth.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'user-a' }), refreshToken: 'rt-a' }));
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(first.settled).toBe(true);
    expect(auth.getState().claims).toMatchObject({ sub: 'user-a' });

    const second = track(auth.setTokens({ accessToken: jwtFor(LIFETIME_S, { sub: 'user-b' }), refreshToken: 'rt-b' }));
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(second.settled).toBe(true);
    expect(auth.getState().claims).toMatchObject({ sub: 'user-b' });

    const out = track(auth.logout());
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(out.settled).toBe(true);
    expect(out.value).toEqual({ serverNotified: true });
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-b' });
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.error.length).toBeGreaterThan(0);
    for (const { error } of events.error) expect(error.name).toBe('StorageError');
  });

  it('a first getItem that never settles lets ready settle after 2 s, signed out with one error, and sign-in and logout work afterwards', async () => {
    const { logout } = rotatingEndpoints();
    const { storage, hang } = createHangingStorage();
    hang.getItem = 1;
    const auth = createManager({ storage });
    const events = recordEvents(auth);
    const ready = track(auth.ready);

    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);

    expect(ready.settled).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(storageErrorCodes(events.error)).toEqual([['StorageError', 'storage_failed']]);

    const signIn = track(auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' }));
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(signIn.settled).toBe(true);
    expect(auth.getState().status).toBe('authenticated');

    const out = track(auth.logout());
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(out.value).toEqual({ serverNotified: true });
    expect(logout.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('a write that hangs and lands after logout does not bring the ended session back', async () => {
    rotatingEndpoints();
    const { storage, values, hang, release } = createHangingStorage();
    const auth = createManager({ storage });
    await auth.ready;
    hang.setItem = 1;
    const access = jwtFor(LIFETIME_S);

    const signIn = track(auth.setTokens({ accessToken: access, refreshToken: 'rt-ended' }));
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(signIn.settled).toBe(true);
    const out = track(auth.logout());
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);
    expect(out.settled).toBe(true);

    release(); // the hung write of the login lands now, after the logout
    await vi.advanceTimersByTimeAsync(WITHIN_LIMIT_MS);

    expect(holdsAny(values.get(KEY), 'rt-ended', access)).toBe(false);
    const reloaded = await reload(storage);
    expect(reloaded.getState().status).toBe('unauthenticated');
  });
});
