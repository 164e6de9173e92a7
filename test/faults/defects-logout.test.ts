import { describe, expect, it } from 'vitest';
import { deferred } from '../support/async';
import {
  HttpResponse,
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
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';

/* Issue 7, defects 5 and 10: logout() called again while one waits for the server, and odd reasons. */

installFakeClock();
startServer();

const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  channel: false,
  onResume: noResume,
});

/** A logout endpoint whose first answer waits for `gate`; later calls are answered at once. */
function slowFirstLogout() {
  const gate = deferred();
  const endpoint = logoutEndpoint(async () => {
    if (endpoint.seen.length === 1) await gate.promise;
    return new HttpResponse(null, { status: 204 });
  });
  server.use(endpoint.handler);
  return { gate, seen: endpoint.seen };
}

describe('defect 5: logout() while an earlier logout() waits for the server', () => {
  it('ends the session set in between and tells the server about that session', async () => {
    const logout = slowFirstLogout();
    const auth = createManager();
    const a = jwtFor(LIFETIME_S, { sub: 'user-a' });
    await auth.setTokens({ accessToken: a, refreshToken: 'rt-a' });
    const events = recordEvents(auth);

    const first = auth.logout();
    await flush();
    expect(logout.seen).toHaveLength(1); // the server has not answered yet
    expect(auth.getState().status).toBe('unauthenticated');

    const b = jwtFor(LIFETIME_S, { sub: 'user-b' });
    await auth.setTokens({ accessToken: b, refreshToken: 'rt-b' });
    expect(auth.getState().status).toBe('authenticated');
    const second = auth.logout();
    await flush();

    expect(auth.getState().status).toBe('unauthenticated');
    await expect(auth.getAccessToken()).resolves.toBeNull();
    expect(logout.seen).toHaveLength(2);
    expect(JSON.parse(logout.seen[1]!.body)).toEqual({ refresh_token: 'rt-b' });
    expect(logout.seen[1]!.headers.get('authorization') === `Bearer ${b}`).toBe(true);
    await expect(second).resolves.toEqual({ serverNotified: true });

    logout.gate.resolve();
    await expect(first).resolves.toEqual({ serverNotified: true });
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({ refresh_token: 'rt-a' });
    expect(events.logout).toEqual([{ reason: 'user' }, { reason: 'user' }]);
    expect(logout.seen).toHaveLength(2);
  });

  it('a logout() for the session whose logout still waits for the server joins it: one server call, one result', async () => {
    const logout = slowFirstLogout();
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-a' });
    const events = recordEvents(auth);

    const first = auth.logout();
    await flush();
    const again = auth.logout();
    await flush();
    expect(logout.seen).toHaveLength(1);

    logout.gate.resolve();
    await expect(first).resolves.toEqual({ serverNotified: true });
    await expect(again).resolves.toEqual({ serverNotified: true });
    expect(logout.seen).toHaveLength(1);
    expect(events.logout).toEqual([{ reason: 'user' }]);
  });
});

describe("defect 10: a reason that is empty or not a string means 'user'", () => {
  it.each([
    ['an empty string', ''],
    ['a number', 42],
    ['an object', { toString: () => 'idle' }],
    ['a boolean', true],
  ])("logout({ reason: %s }) resolves and the 'logout' event says 'user'", async (_label, reason) => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });
    const events = recordEvents(auth);

    await expect(auth.logout({ reason: reason as unknown as string })).resolves.toEqual({ serverNotified: true });

    expect(events.logout).toEqual([{ reason: 'user' }]);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(logout.seen).toHaveLength(1);
  });

  it.each([
    ['no options', undefined],
    ['no reason', {}],
    ['reason undefined', { reason: undefined }],
    ['reason null', { reason: null }],
  ])("logout() with %s resolves and the 'logout' event says 'user' (guard)", async (_label, options) => {
    server.use(logoutEndpoint().handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });
    const events = recordEvents(auth);

    await expect(auth.logout(options as unknown as { reason?: string })).resolves.toEqual({ serverNotified: true });

    expect(events.logout).toEqual([{ reason: 'user' }]);
  });
});
