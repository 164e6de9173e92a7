// Managers on one named channel in one Node process behave as tabs (Node's BroadcastChannel).
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, InvalidTokenError } from '#built';
import { deferred, jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let chanN = 0;
const newChannel = () => `attack-${process.pid}-${++chanN}-${Math.random()}`;

/** A rotating refresh server with reuse detection; records every refresh token it receives. */
function rotatingServer(opts: { lifetime?: number; delay?: () => Promise<void> } = {}) {
  const received: (string | null)[] = [];
  const valid = new Set<string>();
  let reuse = 0;
  let i = 0;
  const issue = () => {
    i += 1;
    const rt = `rt-${i}`;
    valid.add(rt);
    return { accessToken: jwt(opts.lifetime ?? 3600), refreshToken: rt, expiresIn: opts.lifetime };
  };
  const refresh = async ({ refreshToken }: { refreshToken: string | null; signal: AbortSignal }) => {
    received.push(refreshToken);
    if (opts.delay) await opts.delay();
    if (!refreshToken || !valid.has(refreshToken)) {
      reuse += 1;
      const { RefreshRejectedError } = await import('#built');
      throw new RefreshRejectedError('reuse');
    }
    valid.delete(refreshToken);
    return issue();
  };
  return { refresh, received, issue, reuse: () => reuse };
}

function memStorage() {
  const m = new Map<string, string>();
  return {
    map: m,
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
}

function tab(channel: string, extra: Record<string, unknown>): Manager {
  const m = createTokenManager({ channel, allowedOrigins: ['https://api.test'], ...extra } as never);
  cleanups.push(() => m.destroy());
  m.on('error', () => {});
  return m;
}

async function until(cond: () => boolean, ms = 1000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) return false;
    await sleep(2);
  }
  return true;
}

describe('tabs on one channel (Node BroadcastChannel)', () => {
  it('login and logout reach the other manager within 100 ms; the other does not call the logout endpoint', async () => {
    const ch = newChannel();
    const srv = rotatingServer();
    let logoutCalls = 0;
    const logout = async () => {
      logoutCalls += 1;
    };
    const a = tab(ch, { refresh: srv.refresh, logout });
    const b = tab(ch, { refresh: srv.refresh, logout });
    await Promise.all([a.ready, b.ready]);
    const bEvents: unknown[] = [];
    b.on('login', (e) => bEvents.push(['login', e]));
    b.on('logout', (e) => bEvents.push(['logout', e]));
    await a.setTokens(srv.issue());
    expect(await until(() => b.getState().status === 'authenticated', 100)).toBe(true);
    const t0 = performance.now();
    await a.logout();
    expect(await until(() => b.getState().status === 'unauthenticated', 100)).toBe(true);
    expect(performance.now() - t0).toBeLessThan(150);
    await sleep(20);
    expect(bEvents).toEqual([
      ['login', { source: 'remote' }],
      ['logout', { reason: 'remote' }],
    ]);
    expect(logoutCalls).toBe(1);
  });

  it('a new manager with memory storage asks the open tab for the session', async () => {
    const ch = newChannel();
    const srv = rotatingServer();
    const a = tab(ch, { refresh: srv.refresh });
    await a.setTokens(srv.issue());
    const b = tab(ch, { refresh: srv.refresh });
    await b.ready;
    expect(b.getState().status).toBe('authenticated');
    expect(b.getState().accessToken).toBe(a.getState().accessToken);
  });

  it("late refresh answer after another tab's logout resolved (same storage object): B's refresh() must reject NotAuthenticatedError, not resolve a token", async () => {
    const ch = newChannel();
    const storage = memStorage();
    const gate = deferred();
    const started = deferred();
    const srv = rotatingServer({
      delay: async () => {
        started.resolve();
        await gate.promise;
      },
    });
    const a = tab(ch, { refresh: srv.refresh, storage });
    const b = tab(ch, { refresh: srv.refresh, storage });
    const first = srv.issue();
    await a.setTokens(first);
    await until(() => b.getState().status === 'authenticated');
    const bRefresh = b.refresh().then(
      (t) => t,
      (e) => e,
    );
    await started.promise;
    await a.logout();
    gate.resolve();
    const outcome = await bRefresh;
    expect(outcome).toMatchObject({ code: 'not_authenticated' });
    await sleep(50);
    expect(a.getState().status).toBe('unauthenticated');
    expect(b.getState().status).toBe('unauthenticated');
    const raw = [...storage.map.values()].join();
    expect(raw).not.toContain('rt-2');
    const c = tab(ch, { refresh: srv.refresh, storage });
    await c.ready;
    expect(c.getState().status).toBe('unauthenticated');
  });

  it('the refresh signal aborts when another tab logs out', async () => {
    const ch = newChannel();
    const started = deferred<AbortSignal>();
    const gate = deferred();
    const a = tab(ch, {
      refresh: async ({ signal }: { signal: AbortSignal }) => {
        started.resolve(signal);
        await gate.promise;
        return { accessToken: jwt(3600), refreshToken: 'x' };
      },
    });
    const b = tab(ch, { refresh: async () => ({ accessToken: jwt(3600) }) });
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await until(() => b.getState().status === 'authenticated');
    a.refresh().catch(() => {});
    const signal = await started.promise;
    await b.logout();
    expect(await until(() => signal.aborted, 200)).toBe(true);
    gate.resolve();
  });

  for (const tabs of [2, 4]) {
    it(`${tabs} tabs × 10 concurrent getAccessToken on an expired token: one refresh call, each refresh token sent once`, async () => {
      const ch = newChannel();
      const storage = memStorage();
      const srv = rotatingServer({ delay: () => sleep(20) });
      const ms = Array.from({ length: tabs }, () => tab(ch, { refresh: srv.refresh, storage }));
      await ms[0]!.setTokens({ ...srv.issue(), expiresIn: 1 });
      await Promise.all(ms.map((m) => until(() => m.getState().status === 'authenticated')));
      await sleep(1100);
      const all = await Promise.all(ms.flatMap((m) => Array.from({ length: 10 }, () => m.getAccessToken())));
      expect(all.every((t) => typeof t === 'string')).toBe(true);
      const nonNull = srv.received.filter((x) => x !== null);
      expect(new Set(nonNull).size).toBe(nonNull.length);
      expect(srv.reuse()).toBe(0);
      expect(srv.received.length).toBeLessThanOrEqual(2); // proactive timer + maybe none
    });
  }

  it('3 tabs with 1 s tokens for 3.5 s (proactive refresh): every refresh token sent exactly once, no reuse, all tabs agree', async () => {
    const ch = newChannel();
    const storage = memStorage();
    const srv = rotatingServer({ lifetime: 1, delay: () => sleep(15) });
    const ms = Array.from({ length: 3 }, () => tab(ch, { refresh: srv.refresh, storage }));
    await ms[0]!.setTokens(srv.issue());
    const end = Date.now() + 3500;
    while (Date.now() < end) {
      await Promise.all(ms.map((m) => m.getAccessToken()));
      await sleep(50);
    }
    const nonNull = srv.received.filter((x) => x !== null);
    expect(srv.reuse()).toBe(0);
    expect(new Set(nonNull).size).toBe(nonNull.length);
    expect(srv.received.length).toBeGreaterThanOrEqual(4);
    expect(srv.received.length).toBeLessThanOrEqual(9);
    await sleep(50);
    const tokens = new Set(ms.map((m) => m.getState().accessToken));
    expect(tokens.size).toBe(1);
  });

  it('tokens of a logged-out session never sign in again in another tab (setTokens rejects InvalidTokenError)', async () => {
    const ch = newChannel();
    const srv = rotatingServer();
    const a = tab(ch, { refresh: srv.refresh });
    const b = tab(ch, { refresh: srv.refresh });
    const set = srv.issue();
    await a.setTokens(set);
    await until(() => b.getState().status === 'authenticated');
    await a.logout();
    await until(() => b.getState().status === 'unauthenticated');
    await expect(b.setTokens(set)).rejects.toBeInstanceOf(InvalidTokenError);
    await expect(a.setTokens(set)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it('a logout in a tab that got its session by its own setTokens of the same tokens ends both', async () => {
    const ch = newChannel();
    const srv = rotatingServer();
    const a = tab(ch, { refresh: srv.refresh });
    const b = tab(ch, { refresh: srv.refresh });
    const set = srv.issue();
    await Promise.all([a.setTokens(set), b.setTokens(set)]);
    await b.logout();
    expect(await until(() => a.getState().status === 'unauthenticated', 100)).toBe(true);
  });

  it('a new manager with a stuck async storage: logout resolves in bounded time and reaches the others', async () => {
    const ch = newChannel();
    const srv = rotatingServer();
    const a = tab(ch, { refresh: srv.refresh });
    await a.setTokens(srv.issue());
    const stuck = {
      getItem: () => new Promise<string | null>(() => {}),
      setItem: () => new Promise<void>(() => {}),
      removeItem: () => new Promise<void>(() => {}),
    };
    const b = tab(ch, { refresh: srv.refresh, storage: stuck });
    const t0 = Date.now();
    const res = await b.logout();
    expect(Date.now() - t0).toBeLessThan(4500);
    expect(res).toMatchObject({ serverNotified: false });
    expect(await until(() => a.getState().status === 'unauthenticated', 200)).toBe(true);
  }, 10_000);

  it('after logout resolves, a late async storage write of a refresh does not bring the session back for a new tab', async () => {
    const ch = newChannel();
    const m = new Map<string, string>();
    const slowWrites: (() => void)[] = [];
    let slow = false;
    const storage = {
      getItem: async (k: string) => m.get(k) ?? null,
      setItem: (k: string, v: string) =>
        new Promise<void>((r) => {
          const go = () => {
            m.set(k, v);
            r();
          };
          if (slow) slowWrites.push(go);
          else go();
        }),
      removeItem: async (k: string) => void m.delete(k),
    };
    const srv = rotatingServer();
    const a = tab(ch, { refresh: srv.refresh, storage });
    await a.ready;
    await a.setTokens(srv.issue());
    slow = true;
    await a.refresh();
    slow = false;
    await a.logout();
    // the late write of the refreshed session lands now
    for (const w of slowWrites) w();
    await sleep(50);
    const b = tab(ch, { refresh: srv.refresh, storage });
    await b.ready;
    expect(b.getState().status).toBe('unauthenticated');
    expect(m.get('tokenkeeper') ?? '').not.toContain('rt-2');
  });
});
