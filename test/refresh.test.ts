import { describe, expect, it, vi } from 'vitest';
import { type AuthState, NotAuthenticatedError, RefreshFailedError, RefreshRejectedError } from 'tokenkeeper';
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
import { recordEvents, recordEventsInOrder } from './support/events';
import { trackManagers } from './support/managers';
import { expectTombstone } from './support/stored';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

/** When the proactive refresh of a token received at `START_MS` is due. */
const DUE_MS = START_MS + LIFETIME_MS - MARGIN_MS;
const STORAGE_KEY = 'tokenkeeper';

installFakeClock();
startServer();
/** A manager on the test endpoints; destroyed after the test even when the test fails halfway. */
const createManager = trackManagers({ refresh: { url: REFRESH_URL }, refreshMargin: MARGIN_MS, onResume: noResume });

const tokenResponse = (): Response => HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'r2' });
const serverError = (): Response => new HttpResponse(null, { status: 500 });

describe('single-flight refresh', () => {
  it.each([
    ['within the refresh margin', DUE_MS + 1_000],
    ['expired', START_MS + LIFETIME_MS + 1_000],
  ])('sends one refresh for 50 concurrent getAccessToken() callers when the token is %s', async (_label, atMs) => {
    const refresh = refreshEndpoint(tokenResponse);
    server.use(refresh.handler);
    const auth = createManager();
    const events = recordEvents(auth);
    const first = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: first, refreshToken: 'r1' });

    // The device slept: the clock moved on, the refresh timer did not fire.
    vi.setSystemTime(atMs);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => auth.getAccessToken()));

    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    const fresh = auth.getState().accessToken;
    expect(fresh).not.toBe(first);
    expect(new Set(tokens)).toEqual(new Set([fresh]));
    expect(events.refresh).toHaveLength(1);
    auth.destroy();
  });

  it('sends one refresh when the timer, getAccessToken() callers and refresh() meet during one refresh', async () => {
    const gate = deferred();
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return tokenResponse();
    });
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(DUE_MS - START_MS); // the proactive timer starts a refresh
    expect(refresh.seen).toHaveLength(1);
    const callers = [
      ...Array.from({ length: 10 }, () => auth.getAccessToken()),
      auth.refresh(),
      auth.refresh(),
      auth.refresh(),
    ];
    await flush();
    gate.resolve();
    const tokens = await Promise.all(callers);

    expect(refresh.seen).toHaveLength(1);
    expect(new Set(tokens)).toEqual(new Set([auth.getState().accessToken]));
    auth.destroy();
  });

  it('lets the proactive timer join a refresh() that is already in flight', async () => {
    const gate = deferred();
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return tokenResponse();
    });
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(DUE_MS - START_MS - 1);
    const manual = auth.refresh();
    await flush();
    expect(refresh.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1); // the timer fires while refresh() is in flight
    const callers = Array.from({ length: 10 }, () => auth.getAccessToken()); // due now: they join too
    await flush();
    gate.resolve();
    const [token, ...tokens] = await Promise.all([manual, ...callers]);

    expect(refresh.seen).toHaveLength(1);
    expect(new Set(tokens)).toEqual(new Set([token]));
    auth.destroy();
  });
});

describe('refresh events and state', () => {
  it("emits 'refresh' with the new token and shows refreshing only while the request is in flight", async () => {
    const gate = deferred();
    const next = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return HttpResponse.json({ access_token: next, refresh_token: 'r2' });
    });
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);
    const states: AuthState[] = [];
    auth.subscribe((state) => states.push(state));

    vi.setSystemTime(START_MS + 10_000);
    const pending = auth.refresh();
    await flush();
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().refreshing).toBe(true);
    expect(states.at(-1)?.refreshing).toBe(true);
    expect(events.refresh).toHaveLength(0);

    gate.resolve();
    await expect(pending).resolves.toBe(next);
    const expectedExpiresAt = START_MS + 10_000 + LIFETIME_MS;
    expect(events.refresh).toEqual([{ accessToken: next, expiresAt: expectedExpiresAt, source: 'local' }]);
    expect(auth.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: next,
      expiresAt: expectedExpiresAt,
      refreshing: false,
    });
    expect(states.at(-1)).toBe(auth.getState());
    expect(states.at(-1)?.refreshing).toBe(false);
    expect(states.every((state) => state.status === 'authenticated')).toBe(true);
    auth.destroy();
  });
});

describe('transient failures', () => {
  it("keeps the session through three 500s, with one 'error' per attempt, then emits 'refresh'", async () => {
    const next = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint((call) =>
      call <= 3 ? serverError() : HttpResponse.json({ access_token: next, refresh_token: 'r2' }),
    );
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEventsInOrder(auth);
    const statuses: AuthState['status'][] = [];
    auth.subscribe((state) => statuses.push(state.status));

    await vi.advanceTimersByTimeAsync(DUE_MS - START_MS); // proactive refresh: first 500
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('authenticated');
    // The retries run by themselves, in the background: nobody calls refresh() or getAccessToken().
    for (let second = 0; second < 60 && refresh.seen.length < 4; second += 1) {
      await vi.advanceTimersByTimeAsync(1_000);
      expect(auth.getState().status).toBe('authenticated');
    }

    expect(refresh.seen).toHaveLength(4);
    expect(events.order).toEqual(['error', 'error', 'error', 'refresh']);
    for (const { error } of events.error) {
      expect(error).toBeInstanceOf(RefreshFailedError);
      expect((error as RefreshFailedError).code).toBe('refresh_failed');
      expect((error as RefreshFailedError).cause).toBeInstanceOf(Error);
    }
    expect(events.refresh[0]).toMatchObject({ accessToken: next, source: 'local' });
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: next, refreshing: false });
    expect(statuses).not.toContain('unauthenticated');
    expect(events.logout).toHaveLength(0);
    auth.destroy();
  });

  /** Runs a proactive refresh against a server that always answers 500 and returns when each call came. */
  async function failingCallTimes(calls: number): Promise<number[]> {
    const times: number[] = [];
    const refresh = refreshEndpoint(() => {
      times.push(Date.now());
      return serverError();
    });
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    await vi.advanceTimersByTimeAsync(DUE_MS - START_MS);
    const limitMs = Date.now() + 30 * 60_000;
    while (times.length < calls && Date.now() < limitMs) await vi.advanceTimersByTimeAsync(1_000);
    auth.destroy();
    server.resetHandlers();
    expect(times).toHaveLength(calls);
    return times;
  }
  const gapsOf = (times: number[]): number[] => times.slice(1).map((time, index) => time - times[index]!);

  it('retries with exponential backoff: first retry within about 2 s, growing delays, never more than 60 s apart', async () => {
    const gaps = gapsOf(await failingCallTimes(12));

    expect(gaps[0]).toBeGreaterThan(0);
    expect(gaps[0]).toBeLessThanOrEqual(2_000);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(60_000);
    // Exponential: after a handful of failures the delay is many times the first one.
    expect(gaps[5]!).toBeGreaterThanOrEqual(8 * gaps[0]!);
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(30_000);
  });

  it('grows the delay after each failure until the 60 s cap (jitter pinned)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    const gaps = gapsOf(await failingCallTimes(12));

    expect(gaps[0]).toBeLessThanOrEqual(2_000);
    for (let index = 1; index < gaps.length; index += 1) {
      const gap = gaps[index]!;
      const previous = gaps[index - 1]!;
      expect(gap).toBeLessThanOrEqual(60_000);
      // Strictly growing until the cap, then held at the cap.
      if (previous < 55_000) expect(gap).toBeGreaterThan(previous);
      else expect(gap).toBeGreaterThanOrEqual(55_000);
    }
    expect(gaps.at(-1)).toBeGreaterThanOrEqual(55_000);
    expect(gaps.at(-1)).toBeLessThanOrEqual(60_000);
  });

  it('adds jitter to the retry delays', async () => {
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    const low = gapsOf(await failingCallTimes(6));
    random.mockReturnValue(0.999);
    const high = gapsOf(await failingCallTimes(6));

    expect(low).not.toEqual(high);
    for (let index = 0; index < low.length; index += 1) expect(low[index]!).toBeLessThan(high[index]!);
    expect(high[0]).toBeLessThanOrEqual(2_000);
  });

  it('serves the still-valid token on a transient failure, rejects once it expired, and never signs out', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.error());
    server.use(refresh.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const events = recordEvents(auth);
    const first = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: first, refreshToken: 'r1' });

    // Inside the margin, still valid: the refresh fails, the valid token is served.
    vi.setSystemTime(START_MS + LIFETIME_MS - 30_000);
    await expect(auth.getAccessToken()).resolves.toBe(first);
    expect(refresh.seen.length).toBeGreaterThanOrEqual(1);

    const manual = await outcome(auth.refresh());
    expect('error' in manual).toBe(true);
    const error = (manual as { error: unknown }).error;
    expect(error).toBeInstanceOf(RefreshFailedError);
    expect((error as RefreshFailedError).cause).toBeDefined();
    expect((error as RefreshFailedError).cause).toBeInstanceOf(Error);
    await expect(auth.getAccessToken()).resolves.toBe(first);

    // Expired and the server still unreachable: the caller is told so.
    vi.setSystemTime(START_MS + LIFETIME_MS + 1);
    await expect(auth.getAccessToken()).rejects.toBeInstanceOf(RefreshFailedError);

    // Half an hour of failed retries past expiry: still signed in.
    const callsBefore = refresh.seen.length;
    await vi.advanceTimersByTimeAsync(30 * 60_000);
    expect(refresh.seen.length).toBeGreaterThan(callsBefore + 10);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: first });
    expect(events.logout).toHaveLength(0);
    expect(events.error).toHaveLength(refresh.seen.length); // one 'error' per failed attempt
    expect(events.error.every(({ error: e }) => e instanceof RefreshFailedError)).toBe(true);
    expect(storage.values.get(STORAGE_KEY)).toContain(first);
    auth.destroy();
  });

  it('stops retrying after logout', async () => {
    const refresh = refreshEndpoint(serverError);
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await outcome(auth.refresh());
    await vi.advanceTimersByTimeAsync(5_000);
    expect(refresh.seen.length).toBeGreaterThanOrEqual(2); // retries were running
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    const callsAtLogout = refresh.seen.length;

    await vi.advanceTimersByTimeAsync(2 * 60 * 60_000);
    expect(refresh.seen).toHaveLength(callsAtLogout);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });
});

describe('rejected refresh', () => {
  it('rejects the refresh() that got a 401 with RefreshRejectedError', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }));
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    const result = await outcome(auth.refresh());

    expect(refresh.seen).toHaveLength(1);
    expect('error' in result && result.error).toBeInstanceOf(RefreshRejectedError);
    expect('error' in result && (result.error as RefreshRejectedError).code).toBe('refresh_rejected');
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });

  it('signs out on 401: state, storage, logout event, waiting getAccessToken() callers get null, no logout call', async () => {
    const gate = deferred();
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return HttpResponse.json({ error: 'invalid_grant' }, { status: 401 });
    });
    const logout = logoutEndpoint();
    server.use(refresh.handler, logout.handler);
    const storage = createTestStorage();
    const auth = createManager({ storage, logout: { url: LOGOUT_URL } });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: 'r1' });
    expect(storage.values.has(STORAGE_KEY)).toBe(true);
    const events = recordEvents(auth);

    vi.setSystemTime(START_MS + LIFETIME_MS + 1_000); // expired: getAccessToken() must wait for the refresh
    const waiting = Array.from({ length: 5 }, () => outcome(auth.getAccessToken()));
    await flush();
    expect(refresh.seen).toHaveLength(1);
    gate.resolve();

    expect(await Promise.all(waiting)).toEqual(Array.from({ length: 5 }, () => ({ value: null })));
    await flush();
    expect(auth.getState()).toMatchObject({
      status: 'unauthenticated',
      accessToken: null,
      expiresAt: null,
      claims: null,
    });
    // The ended session is gone from storage: a tombstone of the end stands in its place.
    expectTombstone(storage.values.get(STORAGE_KEY), [access, 'r1']);
    expect(events.logout).toEqual([{ reason: 'refresh-rejected' }]);
    expect(events.refresh).toHaveLength(0);
    expect(refresh.seen).toHaveLength(1);
    expect(logout.seen).toHaveLength(0);
    await expect(auth.getAccessToken()).resolves.toBeNull();
    auth.destroy();

    const reloaded = createManager({ storage });
    await reloaded.ready;
    expect(reloaded.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(refresh.seen).toHaveLength(1);
  });

  it('signs out on 400 invalid_grant from the proactive refresh and stops refreshing', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });
    const events = recordEvents(auth);

    await vi.advanceTimersByTimeAsync(DUE_MS - START_MS);
    await vi.advanceTimersByTimeAsync(60 * 60_000);

    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.logout).toEqual([{ reason: 'refresh-rejected' }]);
    expect(events.error).toHaveLength(0);
    auth.destroy();
  });
});

describe('signed out', () => {
  it('resolves getAccessToken() with null and rejects refresh() with NotAuthenticatedError, without a request', async () => {
    const refresh = refreshEndpoint(tokenResponse);
    server.use(refresh.handler);
    const auth = createManager();

    await expect(auth.getAccessToken()).resolves.toBeNull();
    await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
    expect(refresh.seen).toHaveLength(0);
    auth.destroy();
  });
});
