// setTokens()/logout() win over a tab query or restore in flight; restore via refresh() while signed out.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager, NotAuthenticatedError } from '#built';
import { deferred, jwt, sleep, spyFetch } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

it('setTokens in a new tab still asking the open tabs wins over their answer, and the open tab follows the new login', async () => {
  const ch = `ld-${Math.random()}`;
  const a = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }) });
  cleanups.push(() => a.destroy());
  await a.setTokens({ accessToken: jwt(3600, { sub: 'old' }), refreshToken: 'old' });
  const b = createTokenManager({ channel: ch, refresh: async () => ({ accessToken: jwt(3600) }) });
  cleanups.push(() => b.destroy());
  expect(b.getState().status).toBe('loading');
  const mine = jwt(3600, { sub: 'new' });
  await b.setTokens({ accessToken: mine, refreshToken: 'new' });
  await sleep(150);
  expect(b.getState().accessToken).toBe(mine);
  expect(a.getState().accessToken).toBe(mine);
});

it('restore: rejected at start, later refresh() asks the server again and signs in (source restore)', async () => {
  let n = 0;
  const { RefreshRejectedError } = await import('#built');
  const auth = createTokenManager({
    channel: false,
    restore: true,
    refresh: async ({ refreshToken }) => {
      n += 1;
      expect(refreshToken).toBeNull();
      if (n === 1) throw new RefreshRejectedError('no cookie');
      return { accessToken: jwt(3600) };
    },
  });
  cleanups.push(() => auth.destroy());
  const ev: string[] = [];
  auth.on('login', (e) => ev.push(e.source));
  await auth.ready;
  expect(auth.getState().status).toBe('unauthenticated');
  const t = await auth.refresh();
  expect(typeof t).toBe('string');
  expect(auth.getState().status).toBe('authenticated');
  expect(ev).toEqual(['restore']);
});

it('restore: refresh() while the start restore is out joins it (one server call)', async () => {
  let n = 0;
  const gate = deferred();
  const auth = createTokenManager({
    channel: false,
    restore: true,
    refresh: async () => {
      n += 1;
      await gate.promise;
      return { accessToken: jwt(3600) };
    },
  });
  cleanups.push(() => auth.destroy());
  const p = auth.refresh();
  const g = auth.getAccessToken();
  await sleep(5);
  gate.resolve();
  const [t1, t2] = await Promise.all([p, g]);
  expect(t1).toBe(t2);
  expect(n).toBe(1);
});

it('restore with built-in endpoint answering 401: signed out quietly; refresh() rejects NotAuthenticatedError', async () => {
  const spy = spyFetch(() => new Response('{"error":"invalid_grant"}', { status: 401 }));
  const auth = createTokenManager({
    channel: false,
    restore: true,
    refresh: { url: 'https://auth.test/r', credentials: 'include' },
    fetch: spy.fn,
    allowedOrigins: ['https://api.test'],
  });
  cleanups.push(() => auth.destroy());
  const ev: string[] = [];
  auth.on('logout', () => ev.push('logout'));
  auth.on('error', () => ev.push('error'));
  await auth.ready;
  expect(auth.getState().status).toBe('unauthenticated');
  await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
  expect(ev).toEqual([]);
  expect(spy.calls[0]!.credentials).toBe('include');
  expect(await spy.bodies[0]).toEqual(new TextEncoder().encode('{}'));
});

it('restore in Node with a relative URL: one error at start, no request; refresh() rejects ConfigurationError', async () => {
  const spy = spyFetch();
  const errors: string[] = [];
  const auth = createTokenManager({
    channel: false,
    restore: true,
    refresh: { url: '/auth/refresh' },
    fetch: spy.fn,
    allowedOrigins: ['https://api.test'],
  });
  cleanups.push(() => auth.destroy());
  auth.on('error', (e) => errors.push(e.error.code));
  await auth.ready;
  await sleep(10);
  expect(errors).toEqual(['configuration']);
  expect(spy.calls).toHaveLength(0);
  await expect(auth.refresh()).rejects.toMatchObject({ code: 'configuration' });
});
