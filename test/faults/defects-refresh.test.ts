import { describe, expect, it, vi } from 'vitest';
import type { TokenManager, TokenManagerEvents, TokenResponse } from 'tokenkeeper';
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
import { jwtFor, makeJwt } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defects 8 and 13 and items 15a, 15b, 15e and 15f: when a refresh happens, how often, and what a
 * refresh answer may carry. Time is fake; tokens that must not expire during a test live a day.
 */

const DAY_S = 24 * 3600;
const HOUR_MS = 3600_000;

installFakeClock();
startServer();

const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  channel: false,
  onResume: noResume,
});

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

/**
 * Resolves with what `promise` rejected with; fails when it fulfils, without printing the value (which may be
 * a token).
 */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection, but the promise fulfilled');
    },
    (error: unknown) => error,
  );
}

const namesOf = (errors: TokenManagerEvents['error'][]): string[] => errors.map(({ error }) => error.name);

/** Every message of an error and of its causes. */
function messagesOf(error: unknown): string[] {
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    messages.push(current.message, String(current));
    current = (current as { cause?: unknown }).cause;
  }
  return messages;
}

describe('defect 8: a refresh answer with no lifetime left backs off instead of looping', () => {
  const answers: [string, (call: number) => Omit<TokenResponse, 'refreshToken'>][] = [
    ['expiresIn: 0', (call) => ({ accessToken: `opaque-zero-${call}`, expiresIn: 0 })],
    [
      'a JWT whose exp is before its iat',
      (call) => {
        const iat = Math.floor(Date.now() / 1000);
        return { accessToken: makeJwt({ sub: 'user-1', iat, exp: iat - 10, jti: `negative-${call}` }) };
      },
    ],
    [
      'a JWT whose exp equals its iat',
      (call) => {
        const iat = Math.floor(Date.now() / 1000);
        return { accessToken: makeJwt({ sub: 'user-1', iat, exp: iat, jti: `zero-${call}` }) };
      },
    ],
  ];

  it.each(answers)(
    'a refresh answered with %s is installed with its rotated refresh token, but the next refresh waits the backoff: a handful of calls in 10 s, one error each',
    async (_label, answer) => {
      const sent: (string | null)[] = [];
      const issued: string[] = [];
      const refresh = async ({ refreshToken }: { refreshToken: string | null }): Promise<TokenResponse> => {
        sent.push(refreshToken);
        const call = sent.length;
        // Bounded, so that the old tight loop ends: after 50 calls the server issues a normal token.
        const response = call > 50 ? { accessToken: jwtFor(LIFETIME_S) } : answer(call);
        issued.push(response.accessToken);
        return { ...response, refreshToken: `rt-${call}` };
      };
      const auth = createManager({ refresh, environment: { random: () => 0.5 } });
      await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-0' });
      const events = recordEvents(auth);

      await outcome(auth.refresh());
      await flush();

      expect(sent).toHaveLength(1);
      expect(auth.getState().status).toBe('authenticated');
      expect(auth.getState().accessToken === issued[0]).toBe(true);
      expect(namesOf(events.error)).toEqual(['RefreshFailedError']);

      await vi.advanceTimersByTimeAsync(10_000);

      expect(sent.length).toBeGreaterThanOrEqual(2);
      expect(sent.length).toBeLessThanOrEqual(6);
      // Each answer's rotated refresh token was kept and sent with the next call.
      expect(sent).toEqual(sent.map((_, index) => `rt-${index}`));
      expect(namesOf(events.error)).toEqual(sent.map(() => 'RefreshFailedError'));
      expect(auth.getState().status).toBe('authenticated');
    },
  );

  it('the refresh endpoint answering expires_in: 0 again and again is called a handful of times in 10 s, not in a loop', async () => {
    const refresh = refreshEndpoint((call) =>
      call > 50
        ? HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: `rt-${call}` })
        : HttpResponse.json({ access_token: `opaque-zero-${call}`, refresh_token: `rt-${call}`, expires_in: 0 }),
    );
    server.use(refresh.handler);
    const auth = createManager({ environment: { random: () => 0.5 } });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-0' });
    const events = recordEvents(auth);

    await outcome(auth.refresh());
    await vi.advanceTimersByTimeAsync(10_000);

    expect(refresh.seen.length).toBeGreaterThanOrEqual(2);
    expect(refresh.seen.length).toBeLessThanOrEqual(6);
    expect(refresh.seen.map((request) => JSON.parse(request.body).refresh_token)).toEqual(
      refresh.seen.map((_, index) => `rt-${index}`),
    );
    expect(namesOf(events.error)).toEqual(refresh.seen.map(() => 'RefreshFailedError'));
  });

  it('setTokens() with an already expired token refreshes once at once (guard)', async () => {
    const refresh = refreshEndpoint(() =>
      HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-2' }),
    );
    server.use(refresh.handler);
    const auth = createManager();

    await auth.setTokens({ accessToken: 'opaque-expired', expiresIn: 0, refreshToken: 'rt-1' });
    await vi.advanceTimersByTimeAsync(10_000);

    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'rt-1' });
    expect(auth.getState().status).toBe('authenticated');
  });
});

describe('defect 13: managers that share no channel share no refresh lock', () => {
  const hangingRefresh = (): Promise<TokenResponse> => new Promise<TokenResponse>(() => {});
  const quickRefresh = async (): Promise<TokenResponse> => ({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-2' });

  it.each([
    ['channel: false', { channel: false as const }],
    ['no channel named, in Node', { channel: undefined }],
  ])(
    'with %s, a refresh that hangs in one manager does not delay another manager’s refresh on the same storage key',
    async (_label, options) => {
      const stuck = createManager({ ...options, refresh: hangingRefresh });
      const other = createManager({ ...options, refresh: quickRefresh });
      await Promise.all([stuck.ready, other.ready]);
      await stuck.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-stuck' });
      await other.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-other' });

      void outcome(stuck.refresh());
      await flush();
      const refreshed = track(other.refresh());
      await vi.advanceTimersByTimeAsync(100);

      expect(refreshed.settled).toBe(true);
      expect(typeof refreshed.value).toBe('string');
      expect(stuck.getState().refreshing).toBe(true);
    },
  );

  it('with channel: false and different storage keys, neither waits for the other (guard)', async () => {
    const stuck = createManager({ storageKey: 'tk-a', refresh: hangingRefresh });
    const other = createManager({ storageKey: 'tk-b', refresh: quickRefresh });
    await stuck.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-stuck' });
    await other.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-other' });

    void outcome(stuck.refresh());
    await flush();
    const refreshed = track(other.refresh());
    await vi.advanceTimersByTimeAsync(100);

    expect(refreshed.settled).toBe(true);
  });
});

describe('15a: Retry-After on 429 and 503 from the refresh endpoint', () => {
  /** The first call is answered `status` with `Retry-After: retryAfter()`; later calls issue tokens. */
  async function failingOnce(status: number, retryAfter: () => string) {
    const refresh = refreshEndpoint((call) =>
      call === 1
        ? new HttpResponse(null, { status, headers: { 'Retry-After': retryAfter() } })
        : HttpResponse.json({ access_token: jwtFor(DAY_S), refresh_token: `rt-${call}` }),
    );
    server.use(refresh.handler);
    const auth = createManager({ environment: { random: () => 0.5 } });
    await auth.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-1' });
    const events = recordEvents(auth);
    const error = await rejectionOf(auth.refresh());
    expect((error as Error).name).toBe('RefreshFailedError');
    expect(refresh.seen).toHaveLength(1);
    return { refresh, auth, events };
  }

  it.each([
    ['503 with Retry-After: 30 (seconds)', 503, () => '30', 30_000],
    ['429 with Retry-After: 120 (seconds)', 429, () => '120', 120_000],
    ['429 with Retry-After as an HTTP date 45 s ahead', 429, () => new Date(Date.now() + 45_000).toUTCString(), 45_000],
    [
      '503 with Retry-After as an HTTP date 10 min ahead',
      503,
      () => new Date(Date.now() + 600_000).toUTCString(),
      600_000,
    ],
  ])('%s: the next retry is not sent before it', async (_label, status, retryAfter, waitMs) => {
    const { refresh, auth, events } = await failingOnce(status, retryAfter);

    await vi.advanceTimersByTimeAsync(waitMs - 200);
    expect(refresh.seen).toHaveLength(1);

    // Retries go on: within the backoff's first delay after the server's time.
    await vi.advanceTimersByTimeAsync(200 + 2_000);
    expect(refresh.seen).toHaveLength(2);
    expect(auth.getState().status).toBe('authenticated');
    expect(namesOf(events.error)).toEqual(['RefreshFailedError']);
  });

  it('caps a Retry-After of a day at one hour', async () => {
    const { refresh } = await failingOnce(503, () => String(DAY_S));

    await vi.advanceTimersByTimeAsync(HOUR_MS - 60_000);
    expect(refresh.seen).toHaveLength(1);

    await vi.advanceTimersByTimeAsync(60_000 + 2_000);
    expect(refresh.seen).toHaveLength(2);
  });
  it('a Retry-After shorter than the backoff does not bring the retry forward (guard)', async () => {
    const calledAt: number[] = [];
    const refresh = refreshEndpoint((call) => {
      calledAt.push(Date.now());
      return call <= 4
        ? new HttpResponse(null, { status: 503, headers: call === 4 ? { 'Retry-After': '1' } : {} })
        : HttpResponse.json({ access_token: jwtFor(DAY_S), refresh_token: `rt-${call}` });
    });
    server.use(refresh.handler);
    const auth = createManager({ environment: { random: () => 0.5 } });
    await auth.setTokens({ accessToken: jwtFor(DAY_S), refreshToken: 'rt-1' });
    await auth.refresh().catch(() => {});

    await vi.advanceTimersByTimeAsync(30_000);

    expect(refresh.seen).toHaveLength(5);
    // After a fourth failure in a row the backoff is at least 4 s, whatever the Retry-After of 1 s says.
    expect(calledAt[4]! - calledAt[3]!).toBeGreaterThanOrEqual(4_000);
  });
});

describe('15b: a device clock set back does not delay the proactive refresh', () => {
  it('refreshes at the time it was due by elapsed time when the clock is set back an hour after setTokens()', async () => {
    const refresh = refreshEndpoint(() =>
      HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-2' }),
    );
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });
    const dueAfterMs = LIFETIME_MS - MARGIN_MS;

    vi.setSystemTime(Date.now() - HOUR_MS); // the user (or NTP) sets the device clock back
    await vi.advanceTimersByTimeAsync(dueAfterMs - 1_000);
    expect(refresh.seen).toHaveLength(0);

    await vi.advanceTimersByTimeAsync(2_000);
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'rt-1' });
  });
});

describe('15e: what a server says goes into error messages only as a short code', () => {
  const hostile: [string, () => string][] = [
    ['an access token', () => jwtFor(LIFETIME_S)],
    ['HTML', () => '<html><body><h1>400 Bad Request</h1><p>refresh_token=rt-secret-1</p></body></html>'],
    ['1 KB of text', () => `rt-secret-1 ${'lorem ipsum '.repeat(90)}`],
    ['a code with a space', () => 'invalid grant'],
    ['a code with a newline', () => 'invalid_grant\nrt-secret-1'],
    ['a 65-character code', () => 'a'.repeat(65)],
  ];

  it.each(hostile.flatMap(([label, value]) => [400, 503].map((status) => [label, status, value] as const)))(
    'an error field holding %s (answered %i) appears in no message',
    async (_label, status, value) => {
      const text = value();
      const refresh = refreshEndpoint(() => HttpResponse.json({ error: text, error_description: text }, { status }));
      server.use(refresh.handler, logoutEndpoint().handler);
      const auth = createManager();
      await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });
      const events = recordEvents(auth);

      const error = await rejectionOf(auth.refresh());
      await flush();

      const messages = [...messagesOf(error), ...events.error.flatMap(({ error: e }) => messagesOf(e))];
      expect(messages.length).toBeGreaterThan(0);
      expect(messages.some((message) => message.includes(text))).toBe(false);
      expect(messages.some((message) => message.includes('rt-secret-1'))).toBe(false);
    },
  );

  it('a short code appears in the rejection message (guard)', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }));
    server.use(refresh.handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });

    const error = await rejectionOf(auth.refresh());

    expect((error as Error).name).toBe('RefreshRejectedError');
    expect((error as Error).message).toContain('invalid_grant');
  });
});

describe('15f: an access token that is not a valid header value', () => {
  const invalid: [string, string][] = [
    ['a space', 'opaque token'],
    ['a trailing space', 'opaque-token '],
    ['a newline', 'opaque\ntoken'],
    ['a carriage return', 'opaque\rtoken'],
    ['a tab', 'opaque\ttoken'],
    ['a NUL character', 'opaque\u0000token'],
    ['a DEL character', 'opaque\u007ftoken'],
    ['a non-ASCII letter', 'opaqué-token'],
    ['an emoji', 'opaque-🔑-token'],
  ];

  it.each(invalid)('setTokens() rejects an access token with %s with InvalidTokenError', async (_label, token) => {
    const auth = createManager();
    const events = recordEvents(auth);

    const error = await rejectionOf(auth.setTokens({ accessToken: token, expiresIn: 3600, refreshToken: 'rt-1' }));

    expect((error as Error).name).toBe('InvalidTokenError');
    expect((error as { code?: unknown }).code).toBe('invalid_token');
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events.login).toEqual([]);
  });

  it.each(invalid)(
    'a refresh answer whose access token has %s is a transient failure: the session is kept',
    async (_label, token) => {
      const refresh = refreshEndpoint(() =>
        HttpResponse.json({ access_token: token, refresh_token: 'rt-2', expires_in: 3600 }),
      );
      server.use(refresh.handler);
      const auth: TokenManager = createManager({ environment: { random: () => 0.5 } });
      const login = jwtFor(LIFETIME_S);
      await auth.setTokens({ accessToken: login, refreshToken: 'rt-1' });
      const events = recordEvents(auth);

      const error = await rejectionOf(auth.refresh());

      expect((error as Error).name).toBe('RefreshFailedError');
      expect(auth.getState().status).toBe('authenticated');
      expect(auth.getState().accessToken === login).toBe(true);
      expect(namesOf(events.error)).toEqual(['RefreshFailedError']);
      expect(events.refresh).toEqual([]);
    },
  );
});
