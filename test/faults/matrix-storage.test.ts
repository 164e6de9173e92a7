/**
 * Fault matrix, storage (issue 7, scope item 5): getItem, setItem and removeItem, each (a) throwing
 * synchronously, (b) rejecting, (c) never settling. The fault hits one call. In every row the manager goes
 * on, one `'error'` (`StorageError`, `code: 'storage_failed'`) reports it, nothing stale is left behind (a
 * failed setItem leaves no previous token set; a failed tombstone write on logout, which is a setItem too,
 * is followed by a removeItem of the key, so a reload has nothing to sign in with), and `setTokens()` /
 * `logout()` resolve within the storage bound (2 000 ms of fake time) and logout still calls the server.
 * A logout that succeeds leaves a tombstone (`session: null` and the logout's floor, no token). Design-issue7.md items 6 and 9; API.md "a storage that throws does not break the manager".
 */
import { createTokenManager, StorageError } from 'tokenkeeper';
import { describe, expect, it, vi } from 'vitest';
import { outcome } from '../support/async';
import {
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
import { expectTombstone } from '../support/stored';
import { installFakeClock, LIFETIME_S, MARGIN_MS, START_MS } from '../support/time';
import {
  createFaultyStorage,
  ENDPOINT_TIMEOUT_MS,
  expectNoLeaks,
  fakeTimeToSettle,
  installRequestLedger,
  posts,
  reloadState,
  type StorageFault,
  spyConsole,
  STORAGE_BOUND_MS,
  storedText,
} from './support';

installFakeClock();
startServer();
const ledger = installRequestLedger();
const createManager = trackManagers({
  refresh: { url: REFRESH_URL, timeout: ENDPOINT_TIMEOUT_MS },
  logout: { url: LOGOUT_URL, timeout: ENDPOINT_TIMEOUT_MS },
  refreshMargin: MARGIN_MS,
  onResume: noResume,
  channel: false,
});

/** "Within ~2 s of fake time" (design item 9): the bound, plus one step of the clock the matrix moves. */
const LIMIT_MS = STORAGE_BOUND_MS + 100;

/** A synchronous storage throws; an asynchronous one rejects or hangs. */
const isAsync = (fault: StorageFault): boolean => fault !== 'throw';

/** Settles `promise` within LIMIT_MS of fake time or fails the row, then lets the rest of the bound pass. */
async function withinBound<T>(promise: Promise<T>, what: string): Promise<{ value: T } | { error: unknown }> {
  const pending = outcome(promise);
  const tookMs = await fakeTimeToSettle(pending, LIMIT_MS);
  expect(tookMs, `fake ms until ${what} settled`).toBeLessThanOrEqual(LIMIT_MS);
  return pending;
}

/** The storage errors among the `'error'` events, checked for class and code. */
function expectOneStorageError(errors: { error: Error }[]): void {
  expect(
    errors.map(({ error }) => error.constructor.name),
    "'error' events",
  ).toEqual(['StorageError']);
  expect(errors[0]!.error).toBeInstanceOf(StorageError);
  expect((errors[0]!.error as StorageError).code).toBe('storage_failed');
}

const faults: StorageFault[] = ['throw', 'reject', 'hang'];

describe.each(faults)('fault matrix: storage, a %s', (fault) => {
  /**
   * The session under the key comes from an earlier page life: a minute earlier, or at a moment when the
   * device's clock was an hour ahead (corrected since). Either way the user's login in this page life is the
   * later one, and its logout leaves nothing a reload signs in with (ordering never uses the wall clock).
   */
  const earlierLives: [string, number][] = [
    ['a minute earlier', -60_000],
    ['with the clock then 1 h ahead', 3_600_000],
  ];
  it.each(earlierLives)(
    `getItem (${fault}) at load, stored session written %s → ready settles signed out, one storage_failed, the manager works on`,
    async (_label, earlierOffsetMs) => {
      const consoleOutput = spyConsole();
      const logout = logoutEndpoint();
      server.use(logout.handler);
      // A session from an earlier page life, written by the code under test in its own format.
      const values = new Map<string, string>();
      vi.setSystemTime(START_MS + earlierOffsetMs);
      const staleAccess = jwtFor(LIFETIME_S);
      const earlier = createTokenManager({
        refresh: { url: REFRESH_URL },
        storage: createFaultyStorage({ values }),
        channel: false,
        onResume: noResume,
      });
      await earlier.setTokens({ accessToken: staleAccess, refreshToken: 'rt-earlier-life-3e9d0b' });
      earlier.destroy();
      expect(storedText(values)).toContain(staleAccess);
      vi.setSystemTime(START_MS);

      const storage = createFaultyStorage({ async: isAsync(fault), values });
      storage.fail('getItem', fault);
      const auth = createManager({ storage });
      const events = recordEvents(auth);
      await withinBound(auth.ready, 'ready');
      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
      await expect(auth.getAccessToken()).resolves.toBeNull();
      expectOneStorageError(events.error);

      // It goes on: a login is stored and used.
      const access = jwtFor(LIFETIME_S);
      expect(
        await withinBound(auth.setTokens({ accessToken: access, refreshToken: 'rt-after-load-8c2f41' }), 'setTokens()'),
      ).toEqual({
        value: undefined,
      });
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: access });
      await expect(auth.getAccessToken()).resolves.toBe(access);
      expect(storedText(values)).toContain(access);
      expect(storedText(values)).not.toContain(staleAccess);

      // logout() resolves in bounded time and tells the server about the session it ended.
      expect(await withinBound(auth.logout(), 'logout()')).toEqual({ value: { serverNotified: true } });
      expect(logout.seen).toHaveLength(1);
      expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-after-load-8c2f41' });
      expect(auth.getState().status).toBe('unauthenticated');
      for (const token of [access, staleAccess, 'rt-after-load-8c2f41', 'rt-earlier-life-3e9d0b']) {
        expect(storedText(values) ?? '').not.toContain(token);
      }
      expect((await reloadState(values)).status).toBe('unauthenticated');

      expectOneStorageError(events.error);
      expect(events.login).toEqual([{ source: 'local' }]);
      expect(events.logout).toEqual([{ reason: 'user' }]);
      expect(ledger.requests).toEqual(posts(LOGOUT_URL, 1));
      expectNoLeaks(
        events.error.map(({ error }) => error),
        consoleOutput(),
        [access, staleAccess, 'rt-after-load-8c2f41', 'rt-earlier-life-3e9d0b'],
      );
      auth.destroy();
    },
  );

  it(`setItem (${fault}) after a refresh → the new tokens are used, the spent set is not left in storage`, async () => {
    const consoleOutput = spyConsole();
    const issued: { access: string; refresh: string }[] = [];
    const refresh = refreshEndpoint((call) => {
      const next = { access: jwtFor(LIFETIME_S), refresh: `rt-refreshed-${call}-6a0d3e` };
      issued.push(next);
      return HttpResponse.json({ access_token: next.access, refresh_token: next.refresh });
    });
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const storage = createFaultyStorage({ async: isAsync(fault) });
    const auth = createManager({ storage });
    const firstAccess = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: firstAccess, refreshToken: 'rt-first-2b7c90' });
    expect(storedText(storage.values)).toContain(firstAccess);
    const events = recordEvents(auth);

    storage.fail('setItem', fault);
    const refreshed = await withinBound(auth.refresh(), 'refresh()');
    const after = issued[0]!;
    expect(refreshed).toEqual({ value: after.access });
    await vi.advanceTimersByTimeAsync(LIMIT_MS); // the rest of the bound passes

    // It goes on in memory with the new set; storage no longer holds the spent one.
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: after.access });
    await expect(auth.getAccessToken()).resolves.toBe(after.access);
    expect(storedText(storage.values) ?? '').not.toContain(firstAccess);
    expect(storedText(storage.values) ?? '').not.toContain('rt-first-2b7c90');
    const reloaded = await reloadState(storage.values);
    expect(reloaded.accessToken, 'what a reload holds').not.toBe(firstAccess);
    if (reloaded.status === 'authenticated') expect(reloaded.accessToken).toBe(after.access);
    expectOneStorageError(events.error);
    expect(events.refresh).toHaveLength(1);
    expect(events.logout).toEqual([]);

    // A later login and logout are not held up by the failed write.
    const nextAccess = jwtFor(LIFETIME_S);
    expect(
      await withinBound(
        auth.setTokens({ accessToken: nextAccess, refreshToken: 'rt-next-login-0f4e1a' }),
        'setTokens()',
      ),
    ).toEqual({
      value: undefined,
    });
    expect(storedText(storage.values)).toContain(nextAccess);
    expect(await withinBound(auth.logout(), 'logout()')).toEqual({ value: { serverNotified: true } });
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-next-login-0f4e1a' });
    await vi.advanceTimersByTimeAsync(LIMIT_MS); // the rest of the bound passes
    const secrets = [firstAccess, 'rt-first-2b7c90', after.access, after.refresh, nextAccess, 'rt-next-login-0f4e1a'];
    for (const token of secrets) expect(storedText(storage.values) ?? '').not.toContain(token);
    expect((await reloadState(storage.values)).status).toBe('unauthenticated');

    expectOneStorageError(events.error);
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(ledger.requests).toEqual([...posts(REFRESH_URL, 1), ...posts(LOGOUT_URL, 1)]);
    expectNoLeaks(
      events.error.map(({ error }) => error),
      consoleOutput(),
      secrets,
    );
    auth.destroy();
  });

  it(`setItem (${fault}) of the tombstone on logout → the key is removed instead, logout resolves and calls the server, a reload is signed out`, async () => {
    const consoleOutput = spyConsole();
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const storage = createFaultyStorage({ async: isAsync(fault) });
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-to-remove-71c3d5' });
    expect(storedText(storage.values)).toContain(access);
    const events = recordEvents(auth);
    const callsBefore = storage.calls.length;

    storage.fail('setItem', fault);
    expect(await withinBound(auth.logout(), 'logout()')).toEqual({ value: { serverNotified: true } });
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-to-remove-71c3d5' });
    await vi.advanceTimersByTimeAsync(LIMIT_MS); // the rest of the bound passes

    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    // The tombstone write failed; the fallback removed the key.
    expect(storage.calls.slice(callsBefore)).toEqual(['getItem', `setItem (${fault})`, 'removeItem']);
    expect(storedText(storage.values)).toBeNull();
    expect(storedText(storage.values) ?? '').not.toContain(access);
    expect(storedText(storage.values) ?? '').not.toContain('rt-to-remove-71c3d5');
    expect((await reloadState(storage.values)).status).toBe('unauthenticated');
    expectOneStorageError(events.error);
    expect(events.logout).toEqual([{ reason: 'user' }]);

    // It goes on: the next login is stored, and its logout leaves a tombstone in its place.
    const nextAccess = jwtFor(LIFETIME_S);
    expect(
      await withinBound(auth.setTokens({ accessToken: nextAccess, refreshToken: 'rt-second-4d8e22' }), 'setTokens()'),
    ).toEqual({
      value: undefined,
    });
    await expect(auth.getAccessToken()).resolves.toBe(nextAccess);
    expect(storedText(storage.values)).toContain(nextAccess);
    expect(await withinBound(auth.logout(), 'the second logout()')).toEqual({ value: { serverNotified: true } });
    expect(logout.seen).toHaveLength(2);
    expect(JSON.parse(logout.seen[1]!.body)).toEqual({ refresh_token: 'rt-second-4d8e22' });
    expectTombstone(storedText(storage.values), [access, 'rt-to-remove-71c3d5', nextAccess, 'rt-second-4d8e22']);
    expect((await reloadState(storage.values)).status).toBe('unauthenticated');

    expectOneStorageError(events.error);
    expect(events.logout).toEqual([{ reason: 'user' }, { reason: 'user' }]);
    expect(ledger.requests).toEqual(posts(LOGOUT_URL, 2));
    expectNoLeaks(
      events.error.map(({ error }) => error),
      consoleOutput(),
      [access, 'rt-to-remove-71c3d5', nextAccess, 'rt-second-4d8e22'],
    );
    auth.destroy();
  });
});
