// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Two managers in one page on one channel with the page's localStorage (the shared storage of the contract).
// Tab A logs out while tab B's refresh is out; the server answers B only after A's logout() has resolved.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { deferred, jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  localStorage.clear();
});

function pair(refresh: Parameters<typeof createTokenManager>[0]['refresh'], fetchImpl?: typeof fetch) {
  const ch = `race-${Math.random()}`;
  const mk = () => {
    const m = createTokenManager({
      channel: ch,
      refresh,
      storage: 'localStorage',
      fetch: fetchImpl,
      onResume: () => () => {},
    });
    m.on('error', () => {});
    cleanups.push(() => m.destroy());
    return m;
  };
  return [mk(), mk()] as const;
}

it('late refresh answer in tab B after tab A logout() resolved (localStorage): B emits no refresh event and its refresh() rejects NotAuthenticatedError', async () => {
  const gate = deferred();
  const started = deferred();
  const late = jwt(3600);
  const [a, b] = pair(async () => {
    started.resolve();
    await gate.promise;
    return { accessToken: late, refreshToken: 'rt-late' };
  });
  await Promise.all([a.ready, b.ready]);
  const bEvents: string[] = [];
  b.on('refresh', () => bEvents.push('refresh'));
  await a.setTokens({ accessToken: jwt(3600), refreshToken: 'rt-1' });
  await sleep(20);
  expect(b.getState().status).toBe('authenticated');
  const out = b.refresh().then(
    (t) => t,
    (e: { code?: string }) => e,
  );
  await started.promise;
  await a.logout();
  // logout() has resolved: the tombstone is in localStorage, the message is posted.
  expect(localStorage.getItem('tokenkeeper')).not.toContain('rt-1');
  gate.resolve();
  const outcome = await out;
  await sleep(50);
  expect(b.getState().status).toBe('unauthenticated');
  expect(localStorage.getItem('tokenkeeper') ?? '').not.toContain('rt-late');
  expect(bEvents).toEqual([]);
  expect(outcome).toMatchObject({ code: 'not_authenticated' });
});

it('late refresh answer in tab B after tab A logout() resolved: B getAccessToken() resolves null, not the late token', async () => {
  const gate = deferred();
  const started = deferred();
  const late = jwt(3600);
  const [a, b] = pair(async () => {
    started.resolve();
    await gate.promise;
    return { accessToken: late, refreshToken: 'rt-late' };
  });
  await Promise.all([a.ready, b.ready]);
  await a.setTokens({ accessToken: jwt(1), refreshToken: 'rt-1', expiresIn: 3600 });
  await sleep(20);
  const tok = b
    .refresh()
    .then(() => b.getAccessToken())
    .catch(() => b.getAccessToken());
  await started.promise;
  await a.logout();
  gate.resolve();
  expect(await tok).toBeNull();
});

it('B fetch 401 → refresh; A logs out during that refresh; the retry must not carry the late token (sent after logout resolved)', async () => {
  const gate = deferred();
  const started = deferred();
  const late = jwt(3600);
  const sent: (string | null)[] = [];
  const api = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const h = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    sent.push(h.get('authorization'));
    return new Response('', { status: sent.length === 1 ? 401 : 200 });
  }) as typeof fetch;
  const [a, b] = pair(async () => {
    started.resolve();
    await gate.promise;
    return { accessToken: late, refreshToken: 'rt-late' };
  }, api);
  await Promise.all([a.ready, b.ready]);
  await a.setTokens({ accessToken: jwt(3600), refreshToken: 'rt-1' });
  await sleep(20);
  const r = b.fetch('/api/me');
  await started.promise;
  await a.logout();
  gate.resolve();
  const res = await r;
  expect(sent).not.toContain(`Bearer ${late}`);
  expect(res.status).toBe(401);
});
