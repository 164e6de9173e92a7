// Round 2, change 2: a new tab on in-memory storage posts its query of the open tabs synchronously at creation, so a
// logout() right after creation follows it; the open tabs answer with the session it ends, and the server is told once.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { deferred, jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Told {
  at: string | null;
  rt: string | null;
}
function world(opts: { logoutFails?: boolean; logoutDelay?: number } = {}) {
  const ch = `nt-${Math.random()}`;
  const told: Told[] = [];
  const refreshCalls: (string | null)[] = [];
  const logout = async (ctx: { accessToken: string | null; refreshToken: string | null }) => {
    told.push({ at: ctx.accessToken, rt: ctx.refreshToken });
    if (opts.logoutDelay) await sleep(opts.logoutDelay);
    if (opts.logoutFails) throw new Error('logout endpoint down');
  };
  const events = new Map<Manager, string[]>();
  const mk = (extra: Record<string, unknown> = {}) => {
    const m = createTokenManager({
      channel: ch,
      refresh: async ({ refreshToken }: { refreshToken: string | null }) => {
        refreshCalls.push(refreshToken);
        await sleep(5);
        return { accessToken: jwt(3600), refreshToken: `rot-${Math.random()}` };
      },
      logout,
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
  const ev = (m: Manager) => events.get(m)!;
  const count = (prefix: string, m: Manager) => ev(m).filter((e) => e.startsWith(prefix)).length;
  return { ch, told, refreshCalls, mk, ev, count };
}

const login = (rt: string) => ({ accessToken: jwt(3600, { rt }), refreshToken: rt });

it('new tab: setTokens() in the same tick as creation wins over the answer; the open tab follows the new login; the server is not told', async () => {
  const w = world();
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const l2 = login('L2');
  await b.setTokens(l2);
  await sleep(150);
  expect(b.getState().accessToken).toBe(l2.accessToken);
  expect(a.getState().accessToken).toBe(l2.accessToken);
  expect(w.told).toEqual([]);
  expect(w.count('logout', a)).toBe(0);
});

it('new tab: logout() then setTokens() in the same tick: the later login survives everywhere; the server is told once, of the answered session', async () => {
  const w = world();
  const a = w.mk();
  const l1 = login('L1');
  await a.setTokens(l1);
  const b = w.mk();
  const out = b.logout();
  const l2 = login('L2');
  const set = b.setTokens(l2);
  await Promise.all([out, set]);
  await sleep(200);
  expect({ a: a.getState().accessToken, b: b.getState().accessToken }).toEqual({
    a: l2.accessToken,
    b: l2.accessToken,
  });
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
  // a reloaded tab gets the surviving login
  const c = w.mk();
  await c.ready;
  expect(c.getState().accessToken).toBe(l2.accessToken);
});

it('new tab: setTokens() then logout() in the same tick: the logout ends that login everywhere and tells the server of it', async () => {
  const w = world();
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const set = b.setTokens(login('L2'));
  const out = b.logout();
  await Promise.all([set.catch(() => {}), out]);
  await sleep(200);
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
  const rts = w.told.map((t) => t.rt);
  expect(rts.filter((r) => r === 'L2')).toHaveLength(1);
  expect(rts.filter((r) => r === 'L1').length).toBeLessThanOrEqual(1);
  console.log(`[round2] setTokens+logout in a new tab: server told ${JSON.stringify(rts)}`);
});

for (const openTabs of [1, 2, 3]) {
  it(`${openTabs} open tab(s) holding the session, a new tab logs out at creation: the server is told exactly once; every tab signed out; one 'logout' per open tab`, async () => {
    const w = world();
    const open = Array.from({ length: openTabs }, () => w.mk());
    await open[0]!.setTokens(login('L1'));
    await sleep(30);
    expect(open.every((t) => t.getState().status === 'authenticated')).toBe(true);
    const b = w.mk();
    const r = await b.logout();
    await sleep(250);
    expect(w.told.map((t) => t.rt)).toEqual(['L1']);
    void r;
    for (const t of [...open, b]) expect(t.getState().status).toBe('unauthenticated');
    for (const t of open) expect(w.count('logout', t)).toBe(1);
    expect(w.count('logout', b)).toBeLessThanOrEqual(1);
  });
}

it('two new tabs created at once both log out at once: the server is told once; all tabs signed out', async () => {
  const w = world();
  const a1 = w.mk();
  const a2 = w.mk();
  await a1.setTokens(login('L1'));
  await sleep(30);
  const b = w.mk();
  const c = w.mk();
  const rs = await Promise.all([b.logout(), c.logout()]);
  await sleep(250);
  console.log(
    `[round2] two new tabs logging out: told ${JSON.stringify(w.told.map((t) => t.rt))}, results ${JSON.stringify(rs)}`,
  );
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
  for (const t of [a1, a2, b, c]) expect(t.getState().status).toBe('unauthenticated');
  for (const t of [a1, a2]) expect(w.count('logout', t)).toBe(1);
});

it('new tab: logout() called twice at creation: the server is told once', async () => {
  const w = world();
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const rs = await Promise.all([b.logout(), b.logout()]);
  await b.logout();
  await sleep(250);
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
  expect(a.getState().status).toBe('unauthenticated');
  void rs;
  expect(w.count('logout', a)).toBe(1);
  expect(w.count('logout', b)).toBeLessThanOrEqual(1);
});

it('new tab destroyed right after creation: nothing breaks, the open tab keeps its session, a later new tab still gets it', async () => {
  const w = world();
  const a = w.mk();
  const l1 = login('L1');
  await a.setTokens(l1);
  const b = w.mk();
  b.destroy();
  await b.ready;
  const r = await b.logout();
  expect(r).toEqual({ serverNotified: false });
  await sleep(150);
  expect(a.getState().accessToken).toBe(l1.accessToken);
  expect(w.told).toEqual([]);
  const c = w.mk();
  await c.ready;
  expect(c.getState().accessToken).toBe(l1.accessToken);
});

it('new tab: logout() at creation with a failing logout endpoint: resolves serverNotified false, every tab signed out, one error in the calling tab, the open tab does not call the endpoint', async () => {
  const w = world({ logoutFails: true });
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const r = await b.logout();
  await sleep(250);
  expect(r).toEqual({ serverNotified: false });
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
  expect(w.count('error:logout_failed', b)).toBe(1);
  expect(w.count('error', a)).toBe(0);
});

it('new tab with restore: logout() at creation tells the server once, of the session the open tabs answered with', async () => {
  const w = world();
  const a = w.mk();
  await a.setTokens(login('L1'));
  const restoreGate = deferred();
  const b = w.mk({
    restore: true,
    refresh: async ({ refreshToken }: { refreshToken: string | null }) => {
      w.refreshCalls.push(refreshToken);
      await restoreGate.promise;
      return { accessToken: jwt(3600), refreshToken: 'restored' };
    },
  });
  const r = await b.logout();
  restoreGate.resolve();
  await sleep(250);
  console.log(
    `[round2] restore new tab logout: told ${JSON.stringify(w.told)}, refresh calls ${JSON.stringify(w.refreshCalls)}`,
  );
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
  expect(r.serverNotified).toBe(true);
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
});

it('new tab alone-ish (the open tab is signed out): logout() at creation resolves quickly, nothing signs in, the open tab emits no logout', async () => {
  const w = world();
  const a = w.mk();
  await a.ready;
  const b = w.mk();
  const t0 = Date.now();
  await b.logout();
  expect(Date.now() - t0).toBeLessThan(500);
  await sleep(150);
  expect(a.getState().status).toBe('unauthenticated');
  expect(w.count('logout', a)).toBe(0);
});

it('new tab logs out at creation while the open tab refresh is out: after logout() resolved, the late answer is dropped', async () => {
  const w = world();
  const gate = deferred();
  const started = deferred();
  const a = w.mk({
    refresh: async () => {
      started.resolve();
      await gate.promise;
      return { accessToken: jwt(3600), refreshToken: 'late' };
    },
  });
  await a.setTokens(login('L1'));
  const pending = a.refresh().then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  );
  await started.promise;
  const b = w.mk();
  await b.logout();
  const aAtResolve = a.getState().status;
  gate.resolve();
  const out = await pending;
  console.log(`[round2] A at the moment B.logout() resolved: ${aAtResolve}; A refresh(): ${out}`);
  await sleep(150);
  expect(out).toBe('not_authenticated');
  expect(a.getState().status).toBe('unauthenticated');
  expect(b.getState().status).toBe('unauthenticated');
  const c = w.mk();
  await c.ready;
  expect(c.getState().status).toBe('unauthenticated');
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
});

it('new tab: logout() at creation, then after it resolved the open tab logs in anew: the new login survives everywhere', async () => {
  const w = world({ logoutDelay: 60 });
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const out = b.logout();
  await sleep(20); // the logout message reached A, the server call is still out
  const l2 = login('L2');
  await a.setTokens(l2);
  await out;
  await sleep(150);
  expect(a.getState().accessToken).toBe(l2.accessToken);
  expect(b.getState().accessToken).toBe(l2.accessToken);
  expect(w.told.map((t) => t.rt)).toEqual(['L1']);
});

it('new tab: logout() at creation resolves { serverNotified: true } after the open tabs answered and the server was told', async () => {
  const w = world();
  const a = w.mk();
  await a.setTokens(login('L1'));
  const b = w.mk();
  const r = await b.logout();
  const toldAtResolve = w.told.length;
  const aAtResolve = a.getState().status;
  await sleep(200);
  console.log(
    `[round2] new-tab logout resolved ${JSON.stringify(r)}; told at resolve ${toldAtResolve}, A was ${aAtResolve}; told later ${w.told.length}`,
  );
  // contract: "... tells the other tabs first, then calls the logout endpoint; resolves { serverNotified }"
  expect({ r, toldAtResolve }).toEqual({ r: { serverNotified: true }, toldAtResolve: 1 });
});
