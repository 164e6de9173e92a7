// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Two managers of one page on the page's localStorage: B logs out right after A logged in (B has not heard yet).
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  localStorage.clear();
});

it("localStorage: A.setTokens() resolved, then B.logout() at once (B not yet told by the channel): A's session ends, storage keeps none", async () => {
  const channel = `ord-${Math.random()}`;
  const told: (string | null)[] = [];
  const mk = () => {
    const m = createTokenManager({
      channel,
      storage: 'localStorage',
      refresh: async () => ({ accessToken: jwt(3600) }),
      logout: async (c) => void told.push(c.refreshToken),
    });
    cleanups.push(() => m.destroy());
    return m;
  };
  const a = mk();
  const b = mk();
  await Promise.all([a.ready, b.ready]);
  await a.setTokens({ accessToken: jwt(3600), refreshToken: 'a-rt' });
  const stored = localStorage.getItem('tokenkeeper') ?? '';
  const bWas = b.getState().status;
  await b.logout();
  await sleep(100);
  expect(stored).toContain('a-rt');
  expect({ bWas, a: a.getState().status, b: b.getState().status, told }).toEqual({
    bWas: 'unauthenticated',
    a: 'unauthenticated',
    b: 'unauthenticated',
    told: ['a-rt'],
  });
  expect(localStorage.getItem('tokenkeeper') ?? '').not.toContain('a-rt');
});
