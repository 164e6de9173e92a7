// setTokens() takes a login response as servers send it: the OAuth 2.0 names, expires_in as a numeric string.
import { describe, expect, it } from 'vitest';
import { InvalidTokenError } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import { trackManagers } from './support/managers';
import { installFakeClock, START_MS } from './support/time';

installFakeClock();
const createManager = trackManagers({
  refresh: async ({ refreshToken }) => ({ accessToken: jwtFor(3600), refreshToken: `${refreshToken}+` }),
  channel: false,
  onResume: () => () => {},
});

describe('setTokens() with the snake_case names of a login response', () => {
  it('signs in from { access_token, refresh_token, expires_in } as JSON gives it', async () => {
    const auth = createManager();
    const body = JSON.parse(JSON.stringify({ access_token: 'opaque-1', refresh_token: 'r1', expires_in: 900 }));
    await auth.setTokens(body);
    expect(auth.getState()).toMatchObject({
      status: 'authenticated',
      accessToken: 'opaque-1',
      expiresAt: START_MS + 900_000,
    });
    // The refresh token was taken too: the refresh sends it.
    await expect(auth.refresh()).resolves.toEqual(expect.any(String));
  });

  it('reads a numeric-string expires_in as seconds', async () => {
    const auth = createManager();
    await auth.setTokens({ access_token: 'opaque-2', expires_in: '3600' });
    expect(auth.getState().expiresAt).toBe(START_MS + 3_600_000);
  });

  it('uses the camelCase spelling where both are given', async () => {
    const auth = createManager();
    await auth.setTokens({ accessToken: 'camel', access_token: 'snake', expiresIn: 60, expires_in: 7 } as never);
    expect(auth.getState()).toMatchObject({ accessToken: 'camel', expiresAt: START_MS + 60_000 });
  });

  it('takes the expiry of a JWT access_token without expires_in', async () => {
    const auth = createManager();
    await auth.setTokens({ access_token: jwtFor(120) });
    expect(auth.getState().expiresAt).toBe(START_MS + 120_000);
  });

  it.each([
    ['no access_token', { refresh_token: 'r' }],
    ['an empty access_token', { access_token: '' }],
    ['a numeric access_token', { access_token: 42 }],
    ['an opaque access_token without expires_in', { access_token: 'opaque' }],
    ['an expires_in that is not numeric', { access_token: 'opaque', expires_in: '1h' }],
    ['a negative expires_in', { access_token: 'opaque', expires_in: -5 }],
  ])('rejects %s with InvalidTokenError, naming no token', async (_, body) => {
    const auth = createManager();
    const outcome = auth.setTokens(body as never);
    await expect(outcome).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(outcome).rejects.not.toThrow(/opaque/);
    expect(auth.getState().status).toBe('unauthenticated');
  });
});

describe('setTokens() replaces the whole token set', () => {
  it('the same access token with another refresh token and lifetime: the new ones are held', async () => {
    const seen: (string | null)[] = [];
    const auth = createManager({
      refresh: async ({ refreshToken }) => {
        seen.push(refreshToken);
        return { accessToken: jwtFor(3600) };
      },
    });
    await auth.setTokens({ accessToken: 'same-access', refreshToken: 'rt-1', expiresIn: 3600 });
    await auth.setTokens({ accessToken: 'same-access', refreshToken: 'rt-2', expiresIn: 30 });
    expect(auth.getState().expiresAt).toBe(START_MS + 30_000);
    await auth.refresh();
    expect(seen).toEqual(['rt-2']);
  });

  it('the very same token set again is the login already held: no second login event', async () => {
    const auth = createManager();
    const logins: unknown[] = [];
    auth.on('login', (payload) => logins.push(payload));
    await auth.setTokens({ accessToken: 'same-access', refreshToken: 'rt-1', expiresIn: 3600 });
    await auth.setTokens({ accessToken: 'same-access', refreshToken: 'rt-1', expiresIn: 3600 });
    expect(logins).toEqual([{ source: 'local' }]);
  });
});
