// logout() before the session is known: while the storage is read, while asking the tabs, while restoring.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { deferred, jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function asyncStorage(delay = 30) {
  const m = new Map<string, string>();
  return {
    m,
    getItem: async (k: string) => {
      await sleep(delay);
      return m.get(k) ?? null;
    },
    setItem: async (k: string, v: string) => {
      await sleep(delay);
      m.set(k, v);
    },
    removeItem: async (k: string) => {
      await sleep(delay);
      m.delete(k);
    },
  };
}

it('logout() while an async storage is still read ends the stored session and tells the server about it', async () => {
  const storage = asyncStorage();
  const at = jwt(3600);
  const first = createTokenManager({ channel: false, storage, refresh: async () => ({ accessToken: jwt(3600) }) });
  await first.ready;
  await first.setTokens({ accessToken: at, refreshToken: 'stored-rt' });
  first.destroy();
  const told: unknown[] = [];
  const second = createTokenManager({
    channel: false,
    storage,
    refresh: async () => ({ accessToken: jwt(3600) }),
    logout: async (ctx) => void told.push([ctx.accessToken, ctx.refreshToken]),
  });
  cleanups.push(() => second.destroy());
  expect(second.getState().status).toBe('loading');
  const r = await second.logout();
  expect(told).toEqual([[at, 'stored-rt']]);
  expect(r.serverNotified).toBe(true);
  expect(second.getState().status).toBe('unauthenticated');
  await sleep(100);
  expect(storage.m.get('tokenkeeper') ?? '').not.toContain('stored-rt');
  const third = createTokenManager({ channel: false, storage, refresh: async () => ({ accessToken: jwt(3600) }) });
  cleanups.push(() => third.destroy());
  await third.ready;
  expect(third.getState().status).toBe('unauthenticated');
});

it('logout() in a new tab still asking the open tabs ends their session and tells the server about it (exactly once)', async () => {
  const ch = `early-${Math.random()}`;
  const at = jwt(3600);
  const told: unknown[] = [];
  const logout = async (ctx: { accessToken: string | null; refreshToken: string | null }) =>
    void told.push([ctx.accessToken, ctx.refreshToken]);
  const a = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }), logout });
  cleanups.push(() => a.destroy());
  await a.setTokens({ accessToken: at, refreshToken: 'a-rt' });
  const b = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }), logout });
  cleanups.push(() => b.destroy());
  expect(b.getState().status).toBe('loading');
  await b.logout();
  await sleep(300);
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
  // README: "...ends their session too ..., and tells the server about the session they answered with."
  expect(told).toEqual([[at, 'a-rt']]);
});

it('logout() while a restore is out: the logout endpoint is called (cookie session) and the restore answer is dropped', async () => {
  const gate = deferred();
  let told = 0;
  const auth = createTokenManager({
    channel: false,
    restore: true,
    refresh: async () => {
      await gate.promise;
      return { accessToken: jwt(3600) };
    },
    logout: async () => {
      told += 1;
    },
  });
  cleanups.push(() => auth.destroy());
  await sleep(5);
  const r = await auth.logout();
  gate.resolve();
  await sleep(20);
  expect(told).toBe(1);
  expect(r.serverNotified).toBe(true);
  expect(auth.getState().status).toBe('unauthenticated');
});

it("same, with the built-in logout endpoint: the new tab's logout POSTs the answered session's refresh token", async () => {
  const ch = `early-${Math.random()}`;
  const at = jwt(3600);
  const bodies: string[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const r = new Request(input as RequestInfo, init);
    if (r.url.endsWith('/logout')) bodies.push(await r.text());
    return new Response('{}', { status: 200 });
  }) as typeof fetch;
  const opts = {
    channel: ch,
    refresh: { url: 'https://auth.test/refresh' },
    logout: { url: 'https://auth.test/logout' },
    fetch: f,
    allowedOrigins: ['https://api.test'],
  };
  const a = createTokenManager(opts);
  cleanups.push(() => a.destroy());
  await a.setTokens({ accessToken: at, refreshToken: 'a-rt' });
  const b = createTokenManager(opts);
  cleanups.push(() => b.destroy());
  expect(b.getState().status).toBe('loading');
  const r = await b.logout();
  await sleep(300);
  expect(a.getState().status).toBe('unauthenticated');
  expect(bodies).toEqual([JSON.stringify({ refresh_token: 'a-rt' })]);
  void r;
});
