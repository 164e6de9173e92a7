// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Round 2, change 3: logout() in a tab that holds no session reads the page's localStorage at the call; a login of
// another tab found there (not already ended here) is ended and the server told with its tokens.
import { afterEach, expect, it, vi } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  localStorage.clear();
});
const KEY = 'tokenkeeper';

function world(opts: { logoutDelay?: number } = {}) {
  const channel = `so-${Math.random()}`;
  const told: (string | null)[] = [];
  const events = new Map<Manager, string[]>();
  const mk = (extra: Record<string, unknown> = {}) => {
    const m = createTokenManager({
      channel,
      storage: 'localStorage',
      refresh: async () => ({ accessToken: jwt(3600), refreshToken: `rot-${Math.random()}` }),
      logout: async (c: { refreshToken: string | null }) => {
        told.push(c.refreshToken);
        if (opts.logoutDelay) await sleep(opts.logoutDelay);
      },
      onResume: () => () => {},
      ...extra,
    } as never) as Manager;
    const ev: string[] = [];
    events.set(m, ev);
    m.on('logout', (e) => ev.push(`logout:${e.reason}`));
    m.on('login', (e) => ev.push(`login:${e.source}`));
    m.on('error', (e) => ev.push(`error:${e.error.code}`));
    cleanups.push(() => m.destroy());
    return m;
  };
  const count = (m: Manager, prefix: string) => events.get(m)!.filter((e) => e.startsWith(prefix)).length;
  return { told, mk, count, events };
}
const login = (rt: string, extra: Record<string, unknown> = {}) => ({
  accessToken: jwt(3600, { rt }),
  refreshToken: rt,
  ...extra,
});

it("double logout() in a signed-out tab (same tick) ends the other tab's stored login and tells the server once; one 'logout' in the other tab", async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const rs = await Promise.all([b.logout(), b.logout()]);
  await sleep(100);
  expect(w.told).toEqual(['L1']);
  expect(rs.some((r) => r.serverNotified)).toBe(true);
  expect(a.getState().status).toBe('unauthenticated');
  expect(w.count(a, 'logout')).toBe(1);
  expect(w.count(b, 'logout')).toBeLessThanOrEqual(1);
  console.log(`[round2] signed-out double logout: results ${JSON.stringify(rs)}, B events ${w.events.get(b)}`);
});

it('logout() then logout() again after the first resolved: the server is told once', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  await b.logout();
  await b.logout();
  await sleep(100);
  await b.logout();
  expect(w.told).toEqual(['L1']);
});

it('logout() then setTokens() in the same signed-out tab, same tick: the later login survives everywhere (and on reload); L1 told once', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const out = b.logout();
  const l2 = login('L2');
  await Promise.all([out, b.setTokens(l2)]);
  await sleep(100);
  expect(b.getState().accessToken).toBe(l2.accessToken);
  expect(a.getState().accessToken).toBe(l2.accessToken);
  expect(w.told).toEqual(['L1']);
  const c = w.mk();
  expect(c.getState().accessToken).toBe(l2.accessToken);
});

it('setTokens() then logout() in the same signed-out tab, same tick: the logout ends that login and tells the server of it', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const l2 = login('L2');
  const set = b.setTokens(l2);
  const out = await b.logout();
  await set.catch(() => {});
  await sleep(100);
  console.log(
    `[round2] setTokens then logout same tick (page): told ${JSON.stringify(w.told)}, result ${JSON.stringify(out)}`,
  );
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
  expect(w.told).toContain('L2');
});

it('logout() in B, then A logs in anew after hearing it while the server call is out: the new login survives everywhere and on reload', async () => {
  const w = world({ logoutDelay: 80 });
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const out = b.logout();
  await sleep(20);
  expect(a.getState().status).toBe('unauthenticated');
  const l2 = login('L2');
  await a.setTokens(l2);
  await out;
  await sleep(100);
  expect({ a: a.getState().accessToken, b: b.getState().accessToken }).toEqual({
    a: l2.accessToken,
    b: l2.accessToken,
  });
  expect(w.told).toEqual(['L1']);
  const c = w.mk();
  expect(c.getState().accessToken).toBe(l2.accessToken);
});

it('B.logout() and A.setTokens(L2) in the same tick (concurrent): every tab, the storage and a reloaded tab agree', async () => {
  for (let i = 0; i < 6; i += 1) {
    const w = world();
    const a = w.mk();
    const b = w.mk();
    await a.setTokens(login(`L1-${i}`));
    const l2 = login(`L2-${i}`);
    const order = i % 2;
    const ps =
      order === 0 ? [b.logout(), a.setTokens(l2).catch(() => {})] : [a.setTokens(l2).catch(() => {}), b.logout()];
    await Promise.all(ps);
    await sleep(100);
    const c = w.mk();
    const seen = [a, b, c].map((t) => t.getState().accessToken);
    expect(new Set(seen).size, `order ${order}: ${JSON.stringify(seen.map((s) => s === l2.accessToken))}`).toBe(1);
    expect(w.told.filter((t) => t === `L1-${i}`)).toHaveLength(1);
    localStorage.clear();
  }
});

it('stored session already EXPIRED (another tab, now closed): logout() in a signed-out tab ends it and tells the server its refresh token', async () => {
  const w = world();
  const b = w.mk();
  const a = w.mk({ refresh: async () => new Promise(() => {}) });
  await a.setTokens(login('Lx', { expiresIn: 1 }));
  const rec = JSON.parse(localStorage.getItem(KEY)!);
  a.destroy();
  rec.session.expiresAt = Date.now() - 60_000;
  rec.session.receivedAt = Date.now() - 120_000;
  // B did hear the login over the channel; make B signed out first by a fresh tab that never heard it
  const fresh = w.mk();
  localStorage.setItem(KEY, JSON.stringify(rec));
  void b;
  const r = await fresh.logout().catch((e) => e);
  await sleep(50);
  console.log(
    `[round2] expired stored session: fresh tab state before? result ${JSON.stringify(r)}, told ${JSON.stringify(w.told)}`,
  );
  expect(w.told.filter((t) => t === 'Lx').length).toBeLessThanOrEqual(1);
});

// Two logout() calls made in two tabs in the same instant are concurrent (README, "Status"): neither tab can know
// of the other's, so each tells the server of the session it ends (a revocation is idempotent, RFC 7009 §2.2),
// as when two tabs that both hold the session log out at once (the observation below). What must hold: the
// session is ended everywhere and the server told of it, once per call at most.
it('A.logout() then, in the same tick, logout() in a signed-out B: the session ends everywhere, the server is told of it once per call at most', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const bWas = b.getState().status;
  const pa = a.logout();
  const pb = b.logout();
  await Promise.all([pa, pb]);
  await sleep(50);
  expect(bWas).toBe('unauthenticated');
  expect(w.told.length).toBeGreaterThanOrEqual(1);
  expect(w.told.length).toBeLessThanOrEqual(2);
  expect(new Set(w.told)).toEqual(new Set(['L1']));
  expect([a.getState().status, b.getState().status]).toEqual(['unauthenticated', 'unauthenticated']);
  expect(w.count(a, 'logout')).toBe(1);
});

it('observation: two tabs that BOTH hold L1 log out in the same tick (concurrent calls): how often the server is told', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  await sleep(20);
  await Promise.all([a.logout(), b.logout()]);
  await sleep(50);
  console.log(`[round2] two holders log out in one tick: told ${JSON.stringify(w.told)}`);
  expect(w.told.length).toBeLessThanOrEqual(2);
});

it('a stale write puts back a session B itself ended: logout() in the signed-out B does not tell the server again', async () => {
  const w = world();
  const b = w.mk();
  await b.setTokens(login('L1'));
  const rec = localStorage.getItem(KEY)!;
  await b.logout();
  expect(w.told).toEqual(['L1']);
  localStorage.setItem(KEY, rec); // stale write (a tab whose write was late)
  await b.logout();
  await sleep(30);
  expect(w.told).toEqual(['L1']);
  expect(b.getState().status).toBe('unauthenticated');
});

it('getItem throws at the call: logout() in a signed-out tab resolves (no rejection), bounded', async () => {
  const w = world();
  const a = w.mk();
  const b = w.mk();
  await a.setTokens(login('L1'));
  const spy = vi.spyOn(Storage.prototype, 'getItem').mockImplementation(() => {
    throw new DOMException('denied', 'SecurityError');
  });
  const t0 = Date.now();
  const r = await b.logout().then(
    (v) => v,
    (e) => ({ rejected: String(e) }),
  );
  spy.mockRestore();
  expect(r).not.toHaveProperty('rejected');
  expect(Date.now() - t0).toBeLessThan(2500);
  await sleep(50);
  // the logout still reaches A over the channel
  expect(a.getState().status).toBe('unauthenticated');
});

it('implausibly stamped stored login (>1 year ahead): ignored by logout(), and replaced by the next login, which a reload keeps', async () => {
  const w = world();
  const seed = w.mk({ channel: false });
  await seed.setTokens(login('L1'));
  seed.destroy();
  const rec = JSON.parse(localStorage.getItem(KEY)!);
  rec.session.stamp = Date.now() + 2 * 366 * 24 * 3_600_000;
  rec.session.refreshToken = 'forged';
  localStorage.removeItem(KEY);
  const a = w.mk();
  const b = w.mk();
  localStorage.setItem(KEY, JSON.stringify(rec));
  const r = await b.logout();
  const l3 = login('L3');
  await a.setTokens(l3);
  await sleep(50);
  expect(a.getState().accessToken).toBe(l3.accessToken);
  expect(b.getState().accessToken).toBe(l3.accessToken);
  const raw = localStorage.getItem(KEY) ?? '';
  console.log(`[round2] implausible stamp: storage still holds the forged record: ${raw.includes('forged')}`);
  expect(raw).toContain('L3');
  const c = w.mk();
  expect(c.getState().accessToken).toBe(l3.accessToken);
  console.log(`[round2] implausible stamp: result ${JSON.stringify(r)}, told ${JSON.stringify(w.told)}`);
});

it('plausible but far-ahead stamped stored login (+300 days, a clock that was set ahead): logout() ends it; a later login in another tab still survives everywhere', async () => {
  const w = world();
  const seed = w.mk({ channel: false });
  await seed.setTokens(login('L1'));
  seed.destroy();
  const rec = JSON.parse(localStorage.getItem(KEY)!);
  rec.session.stamp = Date.now() + 300 * 24 * 3_600_000;
  localStorage.removeItem(KEY);
  const a = w.mk();
  const b = w.mk();
  localStorage.setItem(KEY, JSON.stringify(rec)); // written by a tab whose message got lost
  await b.logout();
  expect(w.told).toEqual(['L1']);
  await sleep(30);
  const l2 = login('L2');
  await a.setTokens(l2);
  await sleep(50);
  expect(a.getState().accessToken).toBe(l2.accessToken);
  expect(b.getState().accessToken).toBe(l2.accessToken);
  const c = w.mk();
  expect(c.getState().accessToken).toBe(l2.accessToken);
});
