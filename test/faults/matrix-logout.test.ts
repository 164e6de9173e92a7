/**
 * Fault matrix, logout endpoint (issue 7, scope item 5). Whatever the endpoint does, the sign-out is local
 * first (state, storage, events before the request reaches the server), `logout()` resolves
 * `{ serverNotified: false }` in bounded time, and exactly one `'error'` (`LogoutFailedError`,
 * `code: 'logout_failed'`) reports the failed call. API.md: "never rejects because the server failed";
 * design-issue7.md item 7 for the redirect row.
 */
import { type AuthState, LogoutFailedError } from 'tokenkeeper';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred, outcome } from '../support/async';
import {
  HttpResponse,
  http,
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  server,
  startServer,
} from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';
import {
  createFaultyStorage,
  ENDPOINT_TIMEOUT_MS,
  expectNoLeaks,
  fakeTimeToSettle,
  INITIAL_REFRESH_TOKEN,
  installRequestLedger,
  posts,
  reloadState,
  spyConsole,
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

const ELSEWHERE_URL = 'https://elsewhere.test/collect';

const held: Array<() => void> = [];
afterEach(() => {
  for (const release of held.splice(0)) release();
});

interface LogoutRow {
  name: string;
  respond: () => Response | Promise<Response>;
  needsFix?: string;
}

const rows: LogoutRow[] = [
  { name: '500', respond: () => new HttpResponse(null, { status: 500 }) },
  { name: 'network error', respond: () => HttpResponse.error() },
  {
    name: 'timeout (the endpoint never answers)',
    respond: () => {
      const gate = deferred();
      held.push(() => gate.resolve());
      return gate.promise.then(() => HttpResponse.error());
    },
  },
  {
    name: '303 to another origin (msw follows it unless told not to)',
    respond: () => new HttpResponse(null, { status: 303, headers: { Location: ELSEWHERE_URL } }),
    needsFix: "redirect: 'manual' (design 7)",
  },
  {
    name: '307 to another origin (msw)',
    respond: () => new HttpResponse(null, { status: 307, headers: { Location: ELSEWHERE_URL } }),
  },
];

describe('fault matrix: logout endpoint', () => {
  it.each(rows)('$name → signed out locally, serverNotified: false, one logout_failed', async (row) => {
    const consoleOutput = spyConsole();
    const storage = createFaultyStorage();
    let atRequest: { state: AuthState; stored: string | null } | undefined;
    const logout = logoutEndpoint(() => {
      atRequest = { state: auth.getState(), stored: storedText(storage.values) };
      return row.respond();
    });
    const elsewhere: string[] = [];
    server.use(
      logout.handler,
      http.all(ELSEWHERE_URL, ({ request }) => {
        elsewhere.push(`${request.method} ${request.url}`);
        return new HttpResponse(null, { status: 204 });
      }),
    );
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
    const events = recordEvents(auth);

    const pending = outcome(auth.logout());
    const tookMs = await fakeTimeToSettle(pending, ENDPOINT_TIMEOUT_MS + 100);
    expect(tookMs, 'fake ms until logout() settled').toBeLessThanOrEqual(ENDPOINT_TIMEOUT_MS + 100);
    const result = await pending;
    expect(result).toEqual({ value: { serverNotified: false } });

    // Local first: by the time the server heard of it, this device was signed out and storage was clear.
    expect(logout.seen).toHaveLength(1);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
    expect(atRequest?.state).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(atRequest?.stored ?? '').not.toContain(access);
    expect(atRequest?.stored ?? '').not.toContain(INITIAL_REFRESH_TOKEN);

    // End state.
    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    await expect(auth.getAccessToken()).resolves.toBeNull();
    expect(storedText(storage.values) ?? '').not.toContain(access);
    expect(storedText(storage.values) ?? '').not.toContain(INITIAL_REFRESH_TOKEN);
    expect((await reloadState(storage.values)).status).toBe('unauthenticated');

    // Events: one logout, one logout_failed, nothing else.
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(events.error).toHaveLength(1);
    expect(events.error[0]!.error).toBeInstanceOf(LogoutFailedError);
    expect((events.error[0]!.error as LogoutFailedError).code).toBe('logout_failed');
    expect(events.refresh).toEqual([]);
    expect(events.login).toEqual([]);

    // The same session is over: a second logout() sends nothing.
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    expect(logout.seen).toHaveLength(1);
    expect(events.error).toHaveLength(1);

    // Server calls: the logout endpoint once; never the redirect target, never the refresh endpoint.
    expect(elsewhere).toEqual([]);
    expect(ledger.requests).toEqual(posts(LOGOUT_URL, 1));

    expectNoLeaks(
      events.error.map(({ error }) => error),
      consoleOutput(),
      [access, INITIAL_REFRESH_TOKEN],
    );
    auth.destroy();
  });

  // A 2xx is the server saying it took the logout, whatever the body: a logout endpoint owes no body, and
  // one that serves an HTML page with 200 has still been told (RFC 7009 §2.2 answers 200 with no body).
  it('200 with an HTML body → signed out locally, serverNotified: true, no error', async () => {
    const consoleOutput = spyConsole();
    const storage = createFaultyStorage();
    const logout = logoutEndpoint(() => HttpResponse.html('<!doctype html><html><body>Welcome</body></html>'));
    server.use(logout.handler);
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
    const events = recordEvents(auth);

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(storedText(storage.values) ?? '').not.toContain(access);
    expect((await reloadState(storage.values)).status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(events.error).toEqual([]);
    expect(ledger.requests).toEqual(posts(LOGOUT_URL, 1));
    expectNoLeaks([], consoleOutput(), [access, INITIAL_REFRESH_TOKEN]);
    auth.destroy();
  });
});
