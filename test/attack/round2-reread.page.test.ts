// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Round 2, change 1: after a refresh's answer and before it is used, the manager re-reads the page's localStorage.
// Attack: what the storage holds at that moment (older record, another login, corrupt, throwing getItem) must never
// make a tab drop a VALID answer (the server already spent the old refresh token), nor bring back an ended session.
import { afterEach, expect, it, vi } from 'vitest';
import { createTokenManager, RefreshRejectedError } from '#built';
import { jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  localStorage.clear();
});

const KEY = 'tokenkeeper';

/** Rotating server with reuse detection. `during` runs inside the refresh, after the server rotated, before answering. */
function server() {
  const valid = new Set<string>();
  const received: (string | null)[] = [];
  let reuse = 0;
  let i = 0;
  const s = {
    received,
    reuse: () => reuse,
    during: null as null | (() => void | Promise<void>),
    issue(prefix = 'rt') {
      i += 1;
      const rt = `${prefix}-${i}`;
      valid.add(rt);
      return { accessToken: jwt(3600), refreshToken: rt };
    },
    isValid: (rt: string) => valid.has(rt),
    refresh: async ({ refreshToken }: { refreshToken: string | null }) => {
      received.push(refreshToken);
      await sleep(5);
      if (!refreshToken || !valid.has(refreshToken)) {
        reuse += 1;
        throw new RefreshRejectedError('reuse');
      }
      valid.delete(refreshToken);
      const out = s.issue();
      if (s.during) await s.during();
      return out;
    },
  };
  return s;
}

function tab(channel: string | false, srv: ReturnType<typeof server>, extra: Record<string, unknown> = {}) {
  const m = createTokenManager({
    channel,
    storage: 'localStorage',
    refresh: srv.refresh,
    onResume: () => () => {},
    ...extra,
  } as never) as Manager;
  const log: string[] = [];
  m.on('logout', (e) => log.push(`logout:${e.reason}`));
  m.on('error', (e) => log.push(`error:${e.error.code}`));
  m.on('login', (e) => log.push(`login:${e.source}`));
  cleanups.push(() => m.destroy());
  return { m, log };
}

async function settle<T>(p: Promise<T>) {
  return p.then(
    (v) => ({ ok: true as const, v }),
    (e: { code?: string; message?: string }) => ({ ok: false as const, e: e?.code ?? String(e) }),
  );
}

/** Runs a refresh of `m` while, between the server's answer and its use, localStorage holds `value`. */
async function refreshWhileStorageHolds(m: Manager, srv: ReturnType<typeof server>, value: () => string | null) {
  srv.during = () => {
    const v = value();
    if (v === null) localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, v);
  };
  const r = await settle(m.refresh());
  srv.during = null;
  await sleep(30);
  return r;
}

function storedRt(): string | null {
  const raw = localStorage.getItem(KEY);
  if (!raw) return null;
  try {
    return (JSON.parse(raw) as { session?: { refreshToken?: string } | null }).session?.refreshToken ?? null;
  } catch {
    return 'corrupt';
  }
}

for (const channel of [false, 'named'] as const) {
  const ch = () => (channel === false ? false : `rr-${Math.random()}`);
  const tag = channel === false ? 'channel false' : 'named channel';

  it(`[${tag}] storage holding an OLDER record of the same login (spent refresh token) at the re-read: the answer is used and stored`, async () => {
    const srv = server();
    const { m: a, log } = tab(ch(), srv);
    await a.setTokens(srv.issue());
    const older = localStorage.getItem(KEY)!;
    await a.refresh(); // rt-1 -> rt-2 stored, seq 1
    const r = await refreshWhileStorageHolds(a, srv, () => older);
    expect(r.ok).toBe(true);
    expect(a.getState().status).toBe('authenticated');
    const held = srv.received.at(-1);
    expect(held).toBe('rt-2');
    // the rotated token (rt-3) is what must be held and stored now; the old record's rt-1 is spent
    expect(storedRt()).toBe('rt-3');
    expect(log.filter((l) => l.startsWith('logout'))).toEqual([]);
    const again = await settle(a.refresh());
    expect(again.ok).toBe(true);
    expect(srv.reuse()).toBe(0);
  });

  it(`[${tag}] storage holding an older, ENDED login's session at the re-read: answer used, the ended login never comes back`, async () => {
    const srv = server();
    const { m: a, log } = tab(ch(), srv);
    const old = srv.issue('old');
    await a.setTokens(old);
    const endedRecord = localStorage.getItem(KEY)!;
    await a.logout();
    await a.setTokens(srv.issue());
    const r = await refreshWhileStorageHolds(a, srv, () => endedRecord);
    expect(r.ok).toBe(true);
    const s = a.getState();
    expect(s.status).toBe('authenticated');
    expect(s.accessToken).not.toBe(old.accessToken);
    expect(storedRt()).not.toBe(old.refreshToken);
    expect(storedRt()).toMatch(/^rt-/);
    expect(log.filter((l) => l.startsWith('logout'))).toEqual(['logout:user']);
    // a reload must not sign in with the ended login either
    const { m: c } = tab(ch(), srv);
    await c.ready;
    expect(c.getState().accessToken).not.toBe(old.accessToken);
  });

  it(`[${tag}] storage holding an OLDER logout's tombstone at the re-read: the current login's answer is used`, async () => {
    const srv = server();
    const { m: a, log } = tab(ch(), srv);
    await a.setTokens(srv.issue('old'));
    await a.logout();
    const oldTombstone = localStorage.getItem(KEY)!;
    await a.setTokens(srv.issue());
    const r = await refreshWhileStorageHolds(a, srv, () => oldTombstone);
    expect(r).toMatchObject({ ok: true });
    expect(a.getState().status).toBe('authenticated');
    expect(log.filter((l) => l.startsWith('logout'))).toEqual(['logout:user']);
    await sleep(20);
    expect(storedRt()).toMatch(/^rt-/);
  });

  it(`[${tag}] storage emptied (removeItem by someone) at the re-read: the answer is used`, async () => {
    const srv = server();
    const { m: a, log } = tab(ch(), srv);
    await a.setTokens(srv.issue());
    const r = await refreshWhileStorageHolds(a, srv, () => null);
    expect(r).toMatchObject({ ok: true });
    expect(a.getState().status).toBe('authenticated');
    expect(log.filter((l) => l.startsWith('logout'))).toEqual([]);
  });

  for (const [name, corrupt] of [
    ['not JSON', '{not json'],
    ['unknown version', '{"v":99,"session":null,"floor":null}'],
    ['session of wrong types', '{"v":2,"session":{"id":5,"stamp":"x","seq":-1},"floor":null}'],
    ['floor with a huge stamp', '{"v":2,"session":null,"floor":{"stamp":1e300,"id":"x"}}'],
    ['floor with a non-finite-ish stamp', '{"v":2,"session":null,"floor":{"stamp":"Infinity","id":"x"}}'],
    ['JSON null', 'null'],
    ['v1 garbage', '{"v":1}'],
  ] as const) {
    it(`[${tag}] CORRUPT record (${name}) at the re-read: the answer is used, no logout, rotated token kept`, async () => {
      const srv = server();
      const { m: a, log } = tab(ch(), srv);
      await a.setTokens(srv.issue());
      const r = await refreshWhileStorageHolds(a, srv, () => corrupt);
      expect(r).toMatchObject({ ok: true });
      expect(a.getState().status).toBe('authenticated');
      expect(log.filter((l) => l.startsWith('logout'))).toEqual([]);
      // the next refresh uses the rotated token (no reuse)
      const again = await settle(a.refresh());
      expect(again).toMatchObject({ ok: true });
      expect(srv.reuse()).toBe(0);
    });
  }

  it(`[${tag}] getItem THROWS at the re-read: the answer is used, the rotated token is kept`, async () => {
    const srv = server();
    const { m: a, log } = tab(ch(), srv);
    await a.setTokens(srv.issue());
    const spy = vi.spyOn(Storage.prototype, 'getItem');
    srv.during = () => {
      spy.mockImplementation(() => {
        throw new DOMException('denied', 'SecurityError');
      });
    };
    const r = await settle(a.refresh());
    srv.during = null;
    spy.mockRestore();
    await sleep(20);
    expect(r).toMatchObject({ ok: true });
    expect(a.getState().status).toBe('authenticated');
    expect(log.filter((l) => l.startsWith('logout'))).toEqual([]);
    const again = await settle(a.refresh());
    expect(again).toMatchObject({ ok: true });
    expect(srv.reuse()).toBe(0);
  });
}

it('storage holding a NEWER login of another tab (its message not yet here) at the re-read: this tab takes the newer login, and the other tab is not broken', async () => {
  const ch = `rr-${Math.random()}`;
  const srv = server();
  const { m: a } = tab(ch, srv);
  const { m: b } = tab(ch, srv);
  await a.setTokens(srv.issue());
  await sleep(20);
  const newer = srv.issue('new');
  srv.during = async () => {
    await b.setTokens(newer); // writes localStorage and posts; A's re-read follows
  };
  const r = await settle(a.refresh());
  srv.during = null;
  await sleep(50);
  // either outcome for the call is acceptable; the tabs must agree on the NEWER login
  void r;
  expect(a.getState().accessToken).toBe(newer.accessToken);
  expect(b.getState().accessToken).toBe(newer.accessToken);
  expect(storedRt()).toBe(newer.refreshToken);
});

it('3 tabs on localStorage + channel, 1.2 s tokens, 4 s of proactive refreshes with getAccessToken bursts: every refresh token sent once, no reuse, tabs agree', async () => {
  const ch = `rr-${Math.random()}`;
  const valid = new Set<string>(['rt-0']);
  const received: (string | null)[] = [];
  let reuse = 0;
  let i = 0;
  const refresh = async ({ refreshToken }: { refreshToken: string | null }) => {
    received.push(refreshToken);
    await sleep(15);
    if (!refreshToken || !valid.has(refreshToken)) {
      reuse += 1;
      throw new RefreshRejectedError('reuse');
    }
    valid.delete(refreshToken);
    i += 1;
    valid.add(`rt-${i}`);
    return { accessToken: jwt(3600), refreshToken: `rt-${i}`, expiresIn: 1.2 };
  };
  const tabs = Array.from({ length: 3 }, () => {
    const m = createTokenManager({ channel: ch, storage: 'localStorage', refresh, onResume: () => () => {} });
    m.on('error', () => {});
    cleanups.push(() => m.destroy());
    return m;
  });
  await tabs[0]!.setTokens({ accessToken: jwt(3600), refreshToken: 'rt-0', expiresIn: 1.2 });
  const t0 = Date.now();
  while (Date.now() - t0 < 4000) {
    await Promise.all(tabs.map((t) => t.getAccessToken().catch(() => null)));
    await sleep(37);
  }
  await sleep(100);
  const dup = received.filter((r, k) => received.indexOf(r) !== k);
  console.log(`[round2] localStorage 3 tabs: ${received.length} refresh calls, dups ${dup.length}, reuse ${reuse}`);
  expect(reuse).toBe(0);
  expect(dup).toEqual([]);
  expect(received.length).toBeGreaterThanOrEqual(5);
  const toks = tabs.map((t) => t.getState().accessToken);
  expect(new Set(toks).size).toBe(1);
  expect(toks[0]).not.toBeNull();
});

it('positive control: a tombstone after this login written to localStorage during the refresh (no message) drops the answer', async () => {
  const srv = server();
  const { m: a, log } = tab(false, srv);
  await a.setTokens(srv.issue());
  const rec = JSON.parse(localStorage.getItem(KEY)!) as { session: { stamp: number } };
  const tomb = JSON.stringify({ v: 2, session: null, floor: { stamp: rec.session.stamp + 1, id: 'other-tab-logout' } });
  const r = await refreshWhileStorageHolds(a, srv, () => tomb);
  expect(r).toMatchObject({ ok: false, e: 'not_authenticated' });
  expect(a.getState().status).toBe('unauthenticated');
  expect(log.filter((l) => l.startsWith('logout'))).toEqual(['logout:remote']);
  expect(storedRt()).toBeNull();
});
