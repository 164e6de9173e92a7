import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { createTokenManager, InvalidTokenError, type TokenManager, type TokenResponse } from 'tokenkeeper';
import { jwtFor, makeJwt } from './support/jwt';
import {
  createTestStorage,
  HttpResponse,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';
import { installFakeClock } from './support/time';

startServer();

/** A fixed "real" time on whole seconds, so JWT `iat`/`exp` (seconds) line up with it exactly. */
const REAL_NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const b64url = (text: string): string => Buffer.from(text).toString('base64url');
const HEADER = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));

/** A refresh endpoint that always answers with a fresh one-hour JWT issued on the device's clock. */
function answeringRefreshEndpoint() {
  const endpoint = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'r-next' }));
  server.use(endpoint.handler);
  return endpoint;
}

function createManager(
  extra: { refreshMargin?: number; storage?: ReturnType<typeof createTestStorage> } = {},
): TokenManager {
  return createTokenManager({
    refresh: { url: REFRESH_URL },
    onResume: () => () => {},
    channel: false,
    ...extra,
  });
}

installFakeClock(REAL_NOW);

describe('expiresAt', () => {
  it('comes from expiresIn when given, even when the JWT has its own exp', async () => {
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1', expiresIn: 120 });
    expect(auth.getState().expiresAt).toBe(REAL_NOW + 120 * SECOND);
    auth.destroy();
  });

  it('is the local receipt time plus exp - iat when the JWT has iat', async () => {
    // Issued 10 minutes before it arrives here (server clock behind, or a slow network): the lifetime
    // still counts from receipt.
    const token = jwtFor(3600, {}, REAL_NOW - 10 * MINUTE);
    const auth = createManager();
    await auth.setTokens({ accessToken: token, refreshToken: 'r1' });
    expect(auth.getState().expiresAt).toBe(REAL_NOW + 3600 * SECOND);
    auth.destroy();
  });

  it('is exp * 1000 when the JWT has exp but no iat', async () => {
    const exp = REAL_NOW / 1000 + 1234;
    const auth = createManager();
    await auth.setTokens({ accessToken: makeJwt({ sub: 'user-1', exp }), refreshToken: 'r1' });
    expect(auth.getState().expiresAt).toBe(exp * 1000);
    auth.destroy();
  });

  it('is null for a JWT without exp and no expiresIn, and no refresh is ever scheduled', async () => {
    const refresh = answeringRefreshEndpoint();
    const auth = createManager();
    const token = makeJwt({ sub: 'user-1', iat: REAL_NOW / 1000 });
    await auth.setTokens({ accessToken: token, refreshToken: 'r1' });
    expect(auth.getState()).toMatchObject({ status: 'authenticated', expiresAt: null });
    await vi.advanceTimersByTimeAsync(365 * DAY);
    expect(auth.getState().status).toBe('authenticated');
    expect(await auth.getAccessToken()).toBe(token);
    expect(refresh.seen).toHaveLength(0);
    auth.destroy();
  });
});

describe('proactive refresh with a device clock that is off', () => {
  it.each([
    ['10 minutes fast', +10 * MINUTE],
    ['10 minutes slow', -10 * MINUTE],
  ])('fires lifetime - margin after receipt when the device clock is %s', async (_label, skewMs) => {
    const refresh = answeringRefreshEndpoint();
    // The server issues the token on the real clock; the device's clock is off by skewMs.
    const token = jwtFor(3600, {}, REAL_NOW);
    vi.setSystemTime(REAL_NOW + skewMs);
    const auth = createManager();
    await auth.setTokens({ accessToken: token, refreshToken: 'r1' });

    const dueAfterMs = 3600 * SECOND - 60 * SECOND;
    await vi.advanceTimersByTimeAsync(dueAfterMs - 5);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });
});

describe('malformed access tokens without expiresIn', () => {
  const SECRET = 'SeCrEtMaRkEr';
  const cases: [string, string, string[]][] = [
    ['the word abc', 'abc', []],
    ['a single longer word', `abc${SECRET}`, []],
    ['two one-letter segments', 'a.b', []],
    [
      'a valid header and payload with only two parts',
      `${HEADER}.${b64url(JSON.stringify({ sub: SECRET, exp: REAL_NOW / 1000 + 3600 }))}`,
      [SECRET],
    ],
    ['a payload that is not base64', `${HEADER}.%%%${SECRET}%%%.c2ln`, []],
    // V8's JSON.parse messages quote the start of the text: a leak would show 'xyzzy'.
    ['a payload that is not JSON', `${HEADER}.${b64url('xyzzy')}.c2ln`, ['xyzzy']],
    ['a payload that is a JSON number', `${HEADER}.${b64url('4242424242')}.c2ln`, ['4242424242']],
    ['a payload that is a JSON array', `${HEADER}.${b64url(JSON.stringify([SECRET, 1]))}.c2ln`, [SECRET]],
    ['an exp that is a string', makeJwt({ sub: SECRET, iat: REAL_NOW / 1000, exp: `${SECRET}-soon` }), [SECRET]],
    ['an exp that is null', makeJwt({ sub: SECRET, iat: REAL_NOW / 1000, exp: null }), [SECRET]],
  ];

  it.each(cases)(
    'rejects %s with InvalidTokenError that leaks no token text, storing nothing',
    async (_label, token, decoded) => {
      const storage = createTestStorage();
      const auth = createManager({ storage });
      const error = await auth.setTokens({ accessToken: token, refreshToken: 'refresh-secret' }).then(
        () => undefined,
        (reason: unknown) => reason,
      );
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).code).toBe('invalid_token');

      // Everything a log line could show of the error: no segment of the token, nothing decoded from it.
      const shown = [
        (error as Error).message,
        String(error),
        JSON.stringify(error),
        (error as Error).stack ?? '',
        inspect(error),
      ].join('\n');
      const fragments = [
        token,
        ...token.split('.').filter((part) => part.length >= 3),
        ...decoded,
        SECRET,
        'refresh-secret',
      ];
      for (const fragment of fragments) expect(shown).not.toContain(fragment);

      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null, claims: null });
      expect(await auth.getAccessToken()).toBeNull();
      expect(storage.values.size).toBe(0);
      expect(storage.calls).not.toContain('setItem');
      auth.destroy();
    },
  );

  it.each([
    ['a number', 12345],
    ['undefined', undefined],
    ['an empty string', ''],
  ])('rejects an accessToken that is %s with InvalidTokenError', async (_label, accessToken) => {
    const storage = createTestStorage();
    const auth = createManager({ storage });
    const response = { accessToken, refreshToken: 'r1', expiresIn: 3600 } as unknown as TokenResponse;
    const error = await auth.setTokens(response).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).code).toBe('invalid_token');
    expect(auth.getState().status).toBe('unauthenticated');
    expect(storage.values.size).toBe(0);
    auth.destroy();
  });
});

describe('tokens accepted thanks to expiresIn', () => {
  it('accepts an opaque token with expiresIn and exposes no claims', async () => {
    const auth = createManager();
    await auth.setTokens({ accessToken: 'opaque-access-token', refreshToken: 'r1', expiresIn: 900 });
    expect(auth.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: 'opaque-access-token',
      claims: null,
      expiresAt: REAL_NOW + 900 * SECOND,
    });
    expect(await auth.getAccessToken()).toBe('opaque-access-token');
    auth.destroy();
  });

  it('accepts a JWT whose exp is not a number when expiresIn is given', async () => {
    const token = makeJwt({ sub: 'user-1', exp: 'tomorrow' });
    const auth = createManager();
    await auth.setTokens({ accessToken: token, expiresIn: 600 });
    expect(auth.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: token,
      expiresAt: REAL_NOW + 600 * SECOND,
    });
    expect(auth.getState().claims).toMatchObject({ exp: 'tomorrow' });
    auth.destroy();
  });
});

describe('claims', () => {
  it('exposes the JWT payload as getState().claims', async () => {
    const payload = {
      sub: 'user-42',
      iat: REAL_NOW / 1000,
      exp: REAL_NOW / 1000 + 3600,
      roles: ['admin'],
      name: 'Ada',
    };
    const auth = createManager();
    await auth.setTokens({ accessToken: makeJwt(payload), refreshToken: 'r1' });
    expect(auth.getState().claims).toEqual(payload);
    auth.destroy();
  });
});

describe('refreshMargin', () => {
  it('refreshes refreshMargin before expiry', async () => {
    const refresh = answeringRefreshEndpoint();
    const auth = createManager({ refreshMargin: 5 * MINUTE });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    await vi.advanceTimersByTimeAsync(55 * MINUTE - 5);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    auth.destroy();
  });

  it('caps the margin at half the lifetime of a short token (60 s token, 60 s margin: refresh at 30 s)', async () => {
    const refresh = answeringRefreshEndpoint();
    const auth = createManager();
    await auth.setTokens({ accessToken: jwtFor(60), refreshToken: 'r1' });
    await vi.advanceTimersByTimeAsync(30 * SECOND - 5);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });

  it('does not fire early for a 30-day token, whose delay exceeds the 2^31-1 ms timer limit', async () => {
    const refresh = answeringRefreshEndpoint();
    const auth = createManager();
    const lifetimeMs = 30 * DAY;
    expect(lifetimeMs).toBeGreaterThan(2 ** 31 - 1);
    await auth.setTokens({ accessToken: jwtFor(lifetimeMs / 1000), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(SECOND);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(lifetimeMs - MINUTE - SECOND - 5);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });
});
