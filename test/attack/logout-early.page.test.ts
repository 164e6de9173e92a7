// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// A page: a new tab with in-memory storage (still asking the open tabs) logs out at once.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it("page: logout() in a new in-memory tab that is still loading tells the server about the open tab's session", async () => {
  const channel = `page-early-${Math.random()}`;
  const told: (string | null)[] = [];
  const logout = async (ctx: { refreshToken: string | null }) => void told.push(ctx.refreshToken);
  const a = createTokenManager({
    channel,
    storage: 'memory',
    refresh: async () => ({ accessToken: jwt(3600) }),
    logout,
  });
  cleanups.push(() => a.destroy());
  await a.ready;
  await a.setTokens({ accessToken: jwt(3600), refreshToken: 'a-rt' });
  const b = createTokenManager({
    channel,
    storage: 'memory',
    refresh: async () => ({ accessToken: jwt(3600) }),
    logout,
  });
  cleanups.push(() => b.destroy());
  const was = b.getState().status;
  await b.logout();
  await sleep(300);
  expect(was).toBe('loading');
  expect(a.getState().status).toBe('unauthenticated');
  expect(told).toEqual(['a-rt']);
});
