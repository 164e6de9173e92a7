// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTokenManager, type TokenManager } from 'tokenkeeper';
import { jwtFor } from './support/jwt';

/*
 * A page with every default: the BroadcastChannel 'tokenkeeper', the default lock and the browser's resume
 * events. Under fake timers nothing the manager starts with may wait on a timer, or a test that never
 * advances time would hang.
 */
const managers: TokenManager[] = [];
afterEach(() => {
  for (const auth of managers.splice(0)) auth.destroy();
  vi.useRealTimers();
});

describe('a page with the default options', () => {
  it('is ready, signs in and answers getAccessToken under fake timers without time being advanced', async () => {
    vi.useFakeTimers();
    const auth = createTokenManager({ refresh: { url: '/auth/refresh' } });
    managers.push(auth);

    await auth.ready;
    await expect(auth.getAccessToken()).resolves.toBeNull();
    const accessToken = jwtFor(3600);
    await auth.setTokens({ accessToken, refreshToken: 'r1' });

    expect(auth.getState().status).toBe('authenticated');
    await expect(auth.getAccessToken()).resolves.toBe(accessToken);
  });

  it('sends the token to its own origin by default and to no other', () => {
    const auth = createTokenManager({ refresh: { url: '/auth/refresh' } });
    managers.push(auth);

    expect(auth.isAllowedOrigin('/api/me')).toBe(true);
    expect(auth.isAllowedOrigin('https://app.test:8443/api')).toBe(false);
    expect(auth.isAllowedOrigin('//evil.test/x')).toBe(false);
  });
});
