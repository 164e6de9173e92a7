/**
 * Fault matrix, clock and missing platform pieces (issue 7, scope item 5).
 * - Clock: the wall clock jumps ahead 2 h (the device slept) → the overdue refresh runs at once, on resume,
 *   on the next getAccessToken() or when the pending timer fires; the wall clock is set back 1 h → the
 *   proactive refresh still runs when it is due by elapsed time (design-issue7.md item 15b, `monotonicNow`).
 *   `vi.setSystemTime()` moves only Date; `vi.advanceTimersByTimeAsync()` moves Date and performance.now.
 * - No Web Locks (Node has no `navigator.locks`) and no BroadcastChannel: one tab still makes one refresh
 *   call for 20 concurrent getAccessToken() at expiry.
 */
import { RefreshFailedError, type TokenManagerOptions } from 'tokenkeeper';
import { describe, expect, it, vi } from 'vitest';
import { deferred } from '../support/async';
import {
  createResumeTrigger,
  HttpResponse,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from '../support/time';
import {
  createFaultyStorage,
  ENDPOINT_TIMEOUT_MS,
  expectNoLeaks,
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
  refreshMargin: MARGIN_MS,
  onResume: noResume,
  channel: false,
});

/** Elapsed time from a login to its proactive refresh. */
const DUE_AFTER_MS = LIFETIME_MS - MARGIN_MS;
const HOUR_MS = 3_600_000;

/** A refresh endpoint that issues a fresh token set on every call and remembers them. */
function issuingRefresh() {
  const issued: { access: string; refresh: string }[] = [];
  const endpoint = refreshEndpoint((call) => {
    const next = { access: jwtFor(LIFETIME_S), refresh: `rt-issued-${call}-c0ffee` };
    issued.push(next);
    return HttpResponse.json({ access_token: next.access, refresh_token: next.refresh });
  });
  server.use(endpoint.handler);
  return { ...endpoint, issued };
}

type SleepWake = 'resume' | 'getAccessToken()' | 'the pending timer';

describe('fault matrix: clock', () => {
  it.each<SleepWake>(['resume', 'getAccessToken()', 'the pending timer'])(
    'wall clock 2 h ahead after a sleep → one overdue refresh at once on %s, the next one a lifetime later',
    async (wake) => {
      const consoleOutput = spyConsole();
      const refresh = issuingRefresh();
      const resume = createResumeTrigger();
      const storage = createFaultyStorage();
      const auth = createManager({ storage, onResume: resume.onResume });
      const access = jwtFor(LIFETIME_S);
      await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
      const events = recordEvents(auth);

      if (wake === 'the pending timer') {
        // Awake until a minute before the refresh is due; then the device sleeps 2 h and its timer fires on
        // waking, when by elapsed time it is just due and by the wall clock long overdue.
        await vi.advanceTimersByTimeAsync(DUE_AFTER_MS - 60_000);
        expect(refresh.seen).toHaveLength(0);
        vi.setSystemTime(Date.now() + 2 * HOUR_MS);
        await vi.advanceTimersByTimeAsync(60_000);
      } else {
        vi.setSystemTime(START_MS + 2 * HOUR_MS); // slept: Date moved, timers and performance.now did not
        if (wake === 'resume') resume.fire();
        else expect(await auth.getAccessToken()).toBe(refresh.issued[0]?.access);
        await flush();
      }

      expect(refresh.seen).toHaveLength(1);
      expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
      const fresh = refresh.issued[0]!;
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: fresh.access, refreshing: false });
      expect(events.refresh).toHaveLength(1);
      expect(events.refresh[0]).toMatchObject({
        accessToken: fresh.access,
        expiresAt: Date.now() + LIFETIME_MS,
        source: 'local',
      });
      expect(events.error).toEqual([]);
      expect(storedText(storage.values)).toContain(fresh.access);
      expect((await reloadState(storage.values)).accessToken).toBe(fresh.access);

      // The next proactive refresh comes one lifetime minus the margin later, by either clock: not before.
      await vi.advanceTimersByTimeAsync(DUE_AFTER_MS - 1_000);
      expect(refresh.seen, 'calls before the next refresh is due').toHaveLength(1);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(refresh.seen, 'calls once the next refresh is due').toHaveLength(2);
      expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: fresh.refresh });
      expect(events.error).toEqual([]);
      expect(events.logout).toEqual([]);
      expect(ledger.requests).toEqual(posts(REFRESH_URL, 2));
      expectNoLeaks([], consoleOutput(), [
        access,
        INITIAL_REFRESH_TOKEN,
        ...refresh.issued.flatMap((set) => [set.access, set.refresh]),
      ]);
      auth.destroy();
    },
  );

  it('wall clock set back 1 h after the login → the proactive refresh still runs when due by elapsed time', async () => {
    const consoleOutput = spyConsole();
    const refresh = issuingRefresh();
    const storage = createFaultyStorage();
    const auth = createManager({ storage });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
    const events = recordEvents(auth);

    vi.setSystemTime(START_MS - HOUR_MS); // set back: Date only
    await vi.advanceTimersByTimeAsync(DUE_AFTER_MS - 1_000);
    expect(refresh.seen, 'calls a second before the refresh is due').toHaveLength(0);
    await expect(auth.getAccessToken()).resolves.toBe(access);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refresh.seen, 'calls when the refresh is due by elapsed time').toHaveLength(1);
    await flush();

    const fresh = refresh.issued[0]!;
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: fresh.access, refreshing: false });
    await expect(auth.getAccessToken()).resolves.toBe(fresh.access);
    expect(events.refresh).toHaveLength(1);
    expect(events.error).toEqual([]);
    expect(storedText(storage.values)).toContain(fresh.access);
    // And one refresh per lifetime from then on, not a loop.
    await vi.advanceTimersByTimeAsync(DUE_AFTER_MS - 1_000);
    expect(refresh.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(refresh.seen).toHaveLength(2);
    expect(ledger.requests).toEqual(posts(REFRESH_URL, 2));
    expectNoLeaks([], consoleOutput(), [
      access,
      INITIAL_REFRESH_TOKEN,
      ...refresh.issued.flatMap((set) => [set.access, set.refresh]),
    ]);
    auth.destroy();
  });
});

describe('fault matrix: no Web Locks, no BroadcastChannel', () => {
  const variants: [string, Partial<TokenManagerOptions>][] = [
    ['channel: false', { channel: false }],
    [
      'a named channel whose createChannel() returns null',
      { channel: 'matrix-no-channel', environment: { createChannel: () => null } },
    ],
  ];

  it.each(variants)('%s → one refresh call for 20 concurrent getAccessToken() at expiry', async (_label, options) => {
    expect(
      (globalThis as { navigator?: { locks?: unknown } }).navigator?.locks,
      'Web Locks in this runtime',
    ).toBeUndefined();
    const consoleOutput = spyConsole();
    const gate = deferred();
    const next = { access: jwtFor(LIFETIME_S, {}, START_MS + LIFETIME_MS + 1_000), refresh: 'rt-single-tab-93a1e7' };
    const refresh = refreshEndpoint(async () => {
      await gate.promise;
      return HttpResponse.json({ access_token: next.access, refresh_token: next.refresh });
    });
    server.use(refresh.handler);
    const storage = createFaultyStorage();
    const auth = createManager({ storage, ...options });
    const access = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: access, refreshToken: INITIAL_REFRESH_TOKEN });
    const events = recordEvents(auth);

    vi.setSystemTime(START_MS + LIFETIME_MS + 1_000); // expired by the wall clock
    const callers = Array.from({ length: 20 }, () => auth.getAccessToken());
    await flush();
    expect(refresh.seen).toHaveLength(1);
    gate.resolve();
    const tokens = await Promise.all(callers);

    expect(tokens).toEqual(Array.from({ length: 20 }, () => next.access));
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: next.access, refreshing: false });
    expect(events.refresh).toHaveLength(1);
    expect(events.error.filter(({ error }) => error instanceof RefreshFailedError)).toEqual([]);
    expect(events.error).toEqual([]);
    expect(storedText(storage.values)).toContain(next.access);
    expect(storedText(storage.values)).not.toContain(INITIAL_REFRESH_TOKEN);
    expect(ledger.requests).toEqual(posts(REFRESH_URL, 1));
    expectNoLeaks([], consoleOutput(), [access, INITIAL_REFRESH_TOKEN, next.access, next.refresh]);
    auth.destroy();
  });
});
