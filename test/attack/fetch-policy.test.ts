// auth.fetch: abort, the 401 policy (once, only with a newer token of the same session), shared refresh.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, NotAuthenticatedError, type RefreshContext } from '#built';
import { deferred, jwt, sleep, spyFetch } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const ORIGIN = 'https://api.test';

function make(
  opts: {
    answer?: (req: Request, i: number) => Response | Promise<Response>;
    refresh?: (
      ctx: RefreshContext,
    ) => Promise<{ accessToken: string; refreshToken?: string | null; expiresIn?: number }>;
    extra?: Record<string, unknown>;
  } = {},
) {
  const spy = spyFetch(opts.answer ?? (() => new Response('ok')));
  const refreshCalls: (string | null)[] = [];
  const auth = createTokenManager({
    refresh: async (ctx: RefreshContext) => {
      refreshCalls.push(ctx.refreshToken);
      if (opts.refresh) return opts.refresh(ctx);
      return { accessToken: jwt(3600), refreshToken: `r-${refreshCalls.length + 1}` };
    },
    allowedOrigins: [ORIGIN],
    channel: false,
    fetch: spy.fn,
    ...(opts.extra ?? {}),
  } as never);
  cleanups.push(() => auth.destroy());
  return { auth, spy, refreshCalls };
}

const authz = (r: Request) => r.headers.get('authorization');

describe('abort', () => {
  it('a signal aborted before the call rejects with its reason and sends nothing', async () => {
    const { auth, spy, refreshCalls } = make();
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const ac = new AbortController();
    const reason = new Error('mine');
    ac.abort(reason);
    await expect(auth.fetch(`${ORIGIN}/x`, { signal: ac.signal })).rejects.toBe(reason);
    expect(spy.calls).toHaveLength(0);
    await sleep(10);
    expect(refreshCalls).toHaveLength(0);
  });

  it('a Request whose signal is aborted rejects with its reason and sends nothing', async () => {
    const { auth, spy } = make();
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const ac = new AbortController();
    const reason = new Error('mine');
    ac.abort(reason);
    await expect(auth.fetch(new Request(`${ORIGIN}/x`, { signal: ac.signal }))).rejects.toBe(reason);
    expect(spy.calls).toHaveLength(0);
  });

  it('aborting while waiting for the up-front refresh rejects that call at once; the refresh goes on for the others', async () => {
    const gate = deferred();
    const { auth, spy, refreshCalls } = make({
      refresh: async () => {
        await gate.promise;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
    });
    await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
    const ac = new AbortController();
    const reason = new Error('stop');
    const a = auth.fetch(`${ORIGIN}/a`, { signal: ac.signal });
    const b = auth.fetch(`${ORIGIN}/b`);
    await sleep(10);
    ac.abort(reason);
    const ra = await Promise.race([
      a.then(
        () => 'resolved',
        (e) => e,
      ),
      sleep(200).then(() => 'still waiting'),
    ]);
    expect(ra).toBe(reason);
    gate.resolve();
    const rb = await b;
    expect(rb.status).toBe(200);
    expect(refreshCalls).toHaveLength(1);
    expect(spy.calls.map((c) => new URL(c.url).pathname)).toEqual(['/b']);
  });

  it('aborting while a 401 waits for its refresh rejects with the reason and sends no retry', async () => {
    const gate = deferred();
    const started = deferred();
    const { auth, spy } = make({
      answer: (_r, i) => new Response('', { status: i === 0 ? 401 : 200 }),
      refresh: async () => {
        started.resolve();
        await gate.promise;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const ac = new AbortController();
    const p = auth.fetch(`${ORIGIN}/a`, { signal: ac.signal });
    await started.promise;
    ac.abort('why');
    await expect(p).rejects.toBe('why');
    gate.resolve();
    await sleep(20);
    expect(spy.calls).toHaveLength(1);
    expect(auth.getState().status).toBe('authenticated');
  });

  it('aborting while waiting for an async storage to be read rejects promptly', async () => {
    const read = deferred<string | null>();
    const { auth, spy } = make({
      extra: {
        storage: { getItem: () => read.promise, setItem: async () => {}, removeItem: async () => {} },
      },
    });
    const ac = new AbortController();
    const p = auth.fetch(`${ORIGIN}/a`, { signal: ac.signal });
    await sleep(5);
    ac.abort('x');
    const r = await Promise.race([
      p.then(
        () => 'resolved',
        (e) => e,
      ),
      sleep(200).then(() => 'still waiting'),
    ]);
    expect(r).toBe('x');
    read.resolve(null);
    await sleep(10);
    expect(spy.calls).toHaveLength(0);
  });
});

describe('401 policy', () => {
  it('retries once; a second 401 is returned; one refresh', async () => {
    const { auth, spy, refreshCalls } = make({ answer: () => new Response('', { status: 401 }) });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${ORIGIN}/a`);
    expect(r.status).toBe(401);
    expect(spy.calls).toHaveLength(2);
    expect(refreshCalls).toEqual(['r1']);
    expect(authz(spy.calls[0]!)).not.toBe(authz(spy.calls[1]!));
  });

  for (const n of [2, 10, 50]) {
    it(`${n} concurrent fetch 401s cause exactly one refresh call, each retried once with the new token`, async () => {
      const gate = deferred();
      const seenTokens = new Set<string>();
      const { auth, spy, refreshCalls } = make({
        answer: (req) => {
          const a = authz(req) ?? '';
          return new Response('', { status: seenTokens.has(a) || seenTokens.size === 0 ? 401 : 200 });
        },
        refresh: async () => {
          await gate.promise;
          return { accessToken: jwt(3600), refreshToken: 'r2' };
        },
      });
      const t0 = jwt(3600);
      seenTokens.add(`Bearer ${t0}`);
      await auth.setTokens({ accessToken: t0, refreshToken: 'r1' });
      const ps = Array.from({ length: n }, (_, i) => auth.fetch(`${ORIGIN}/${i}`));
      await sleep(20);
      gate.resolve();
      const rs = await Promise.all(ps);
      expect(rs.map((r) => r.status)).toEqual(Array(n).fill(200));
      expect(refreshCalls).toHaveLength(1);
      expect(spy.calls).toHaveLength(2 * n);
    });
  }

  it('a 401 arriving after another call already refreshed is retried with the newer token without a second refresh', async () => {
    let t0 = '';
    const slow = deferred<Response>();
    const { auth, spy, refreshCalls } = make({
      answer: (req) => {
        if (new URL(req.url).pathname === '/slow' && authz(req) === `Bearer ${t0}`) return slow.promise;
        return new Response('', { status: authz(req) === `Bearer ${t0}` ? 401 : 200 });
      },
    });
    t0 = jwt(3600);
    await auth.setTokens({ accessToken: t0, refreshToken: 'r1' });
    const pSlow = auth.fetch(`${ORIGIN}/slow`);
    const rFast = await auth.fetch(`${ORIGIN}/fast`);
    expect(rFast.status).toBe(200);
    expect(refreshCalls).toHaveLength(1);
    slow.resolve(new Response('', { status: 401 }));
    const r = await pSlow;
    expect(r.status).toBe(200);
    expect(refreshCalls).toHaveLength(1);
    expect(spy.calls).toHaveLength(4);
  });

  it('a 401 for a request sent while another user logged in meanwhile is returned, never retried with the other login token', async () => {
    const out = deferred<Response>();
    const { auth, spy, refreshCalls } = make({ answer: (_r, i) => (i === 0 ? out.promise : new Response('ok')) });
    const alice = jwt(3600, { sub: 'alice' });
    const bob = jwt(3600, { sub: 'bob' });
    await auth.setTokens({ accessToken: alice, refreshToken: 'ra' });
    const p = auth.fetch(`${ORIGIN}/me`);
    await sleep(5);
    await auth.logout();
    await auth.setTokens({ accessToken: bob, refreshToken: 'rb' });
    out.resolve(new Response('', { status: 401 }));
    const r = await p;
    expect(r.status).toBe(401);
    expect(spy.calls).toHaveLength(1);
    expect(refreshCalls).toHaveLength(0);
  });

  it('another login WITHOUT logout (setTokens over a session) while the request was out: 401 returned, no retry with the new login', async () => {
    const out = deferred<Response>();
    const { auth, spy, refreshCalls } = make({ answer: (_r, i) => (i === 0 ? out.promise : new Response('ok')) });
    await auth.setTokens({ accessToken: jwt(3600, { sub: 'alice' }), refreshToken: 'ra' });
    const p = auth.fetch(`${ORIGIN}/me`);
    await sleep(5);
    await auth.setTokens({ accessToken: jwt(3600, { sub: 'bob' }), refreshToken: 'rb' });
    out.resolve(new Response('', { status: 401 }));
    const r = await p;
    expect(r.status).toBe(401);
    expect(spy.calls).toHaveLength(1);
    expect(refreshCalls).toHaveLength(0);
  });

  it('logout while the request was out: 401 returned, no refresh, no retry', async () => {
    const out = deferred<Response>();
    const { auth, spy, refreshCalls } = make({ answer: (_r, i) => (i === 0 ? out.promise : new Response('ok')) });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    const p = auth.fetch(`${ORIGIN}/me`);
    await sleep(5);
    await auth.logout();
    out.resolve(new Response('', { status: 401 }));
    const r = await p;
    expect(r.status).toBe(401);
    expect(spy.calls).toHaveLength(1);
    expect(refreshCalls).toHaveLength(0);
  });

  it('another login during the refresh started by the 401: the retry does not carry the other login token', async () => {
    const gate = deferred();
    const started = deferred();
    const bob = jwt(3600, { sub: 'bob' });
    const { auth, spy } = make({
      answer: (_r, i) => new Response('', { status: i === 0 ? 401 : 200 }),
      refresh: async () => {
        started.resolve();
        await gate.promise;
        return { accessToken: jwt(3600, { sub: 'alice' }), refreshToken: 'ra2' };
      },
    });
    await auth.setTokens({ accessToken: jwt(3600, { sub: 'alice' }), refreshToken: 'ra' });
    const p = auth.fetch(`${ORIGIN}/me`);
    await started.promise;
    await auth.setTokens({ accessToken: bob, refreshToken: 'rb' });
    gate.resolve();
    const r = await p;
    for (const c of spy.calls) expect(authz(c)).not.toBe(`Bearer ${bob}`);
    expect(r.status).toBe(401);
  });

  it('signed out: sends without a token, returns the server answer, no refresh on 401', async () => {
    const { auth, spy, refreshCalls } = make({ answer: () => new Response('', { status: 401 }) });
    await auth.ready;
    const r = await auth.fetch(`${ORIGIN}/a`);
    expect(r.status).toBe(401);
    expect(authz(spy.calls[0]!)).toBeNull();
    expect(spy.calls).toHaveLength(1);
    expect(refreshCalls).toHaveLength(0);
  });

  it('refresh rejected on a 401: the 401 is returned (not a throw) and the session ends', async () => {
    const { RefreshRejectedError } = await import('#built');
    const { auth, spy } = make({
      answer: () => new Response('', { status: 401 }),
      refresh: async () => {
        throw new RefreshRejectedError('no');
      },
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${ORIGIN}/a`);
    expect(r.status).toBe(401);
    expect(spy.calls).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('while refreshes back off after a failure, a 401 is returned without another refresh call', async () => {
    const { auth, spy, refreshCalls } = make({
      answer: () => new Response('', { status: 401 }),
      refresh: async () => {
        throw new Error('network');
      },
    });
    auth.on('error', () => {});
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.fetch(`${ORIGIN}/a`);
    const before = refreshCalls.length;
    const r = await auth.fetch(`${ORIGIN}/b`);
    expect(r.status).toBe(401);
    expect(refreshCalls.length).toBe(before);
    expect(spy.calls.length).toBeLessThanOrEqual(3);
  });

  it('destroyed manager: auth.fetch passes requests through untouched', async () => {
    const { auth, spy } = make();
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    auth.destroy();
    await auth.fetch(`${ORIGIN}/a`);
    expect(authz(spy.calls[0]!)).toBeNull();
  });

  it('getAccessToken: N concurrent callers on an expired token share one refresh', async () => {
    const gate = deferred();
    const { auth, refreshCalls } = make({
      refresh: async () => {
        await gate.promise;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
    });
    await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
    const ps = Array.from({ length: 30 }, () => auth.getAccessToken());
    const rs = [auth.refresh(), auth.refresh()];
    await sleep(10);
    gate.resolve();
    const tokens = await Promise.all([...ps, ...rs]);
    expect(new Set(tokens).size).toBe(1);
    expect(refreshCalls).toEqual(['r1']);
  });

  it('logout during a slow refresh: getAccessToken resolves null, refresh() rejects NotAuthenticatedError, nothing stored', async () => {
    const gate = deferred();
    const started = deferred();
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
      removeItem: (k: string) => void store.delete(k),
    };
    const late = jwt(3600);
    const { auth } = make({
      refresh: async () => {
        started.resolve();
        await gate.promise;
        return { accessToken: late, refreshToken: 'r-late' };
      },
      extra: { storage },
    });
    const events: string[] = [];
    auth.on('refresh', () => events.push('refresh'));
    auth.on('login', () => events.push('login'));
    await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
    const g = auth.getAccessToken();
    const rf = auth.refresh();
    await started.promise;
    await auth.logout();
    gate.resolve();
    await expect(g).resolves.toBeNull();
    await expect(rf).rejects.toBeInstanceOf(NotAuthenticatedError);
    await sleep(20);
    expect(auth.getState().status).toBe('unauthenticated');
    expect([...store.values()].join()).not.toContain(late);
    expect([...store.values()].join()).not.toContain('r-late');
    expect(events).toEqual(['login']);
  });
});

describe('refresh answers after logout or another login (one manager)', () => {
  it('a refresh rejected (400) after logout emits no second logout event', async () => {
    const { RefreshRejectedError } = await import('#built');
    const gate = deferred();
    const started = deferred();
    const { auth } = make({
      refresh: async () => {
        started.resolve();
        await gate.promise;
        throw new RefreshRejectedError('late no');
      },
    });
    const ev: string[] = [];
    auth.on('logout', (e) => ev.push(e.reason));
    auth.on('error', () => ev.push('error'));
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const p = auth.refresh().catch((e) => e);
    await started.promise;
    await auth.logout();
    gate.resolve();
    await p;
    await sleep(10);
    expect(ev).toEqual(['user']);
  });

  it('a transient refresh failure after logout emits no error and schedules no retry', async () => {
    const gate = deferred();
    const started = deferred();
    let n = 0;
    const { auth } = make({
      refresh: async () => {
        n += 1;
        started.resolve();
        await gate.promise;
        throw new Error('network');
      },
    });
    const ev: string[] = [];
    auth.on('error', () => ev.push('error'));
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const p = auth.refresh().catch((e) => e);
    await started.promise;
    await auth.logout();
    gate.resolve();
    await p;
    await sleep(1500);
    expect(ev).toEqual([]);
    expect(n).toBe(1);
  });

  it('setTokens (another login) during a slow refresh: the old login answer never replaces the new login', async () => {
    const gate = deferred();
    const started = deferred();
    const old = jwt(3600, { sub: 'old' });
    const { auth } = make({
      refresh: async () => {
        started.resolve();
        await gate.promise;
        return { accessToken: old, refreshToken: 'old-2' };
      },
    });
    const ev: string[] = [];
    auth.on('refresh', () => ev.push('refresh'));
    await auth.setTokens({ accessToken: jwt(3600, { sub: 'old' }), refreshToken: 'old-1' });
    const p = auth.refresh().then(
      (t) => t,
      (e) => e,
    );
    await started.promise;
    const mine = jwt(3600, { sub: 'new' });
    await auth.setTokens({ accessToken: mine, refreshToken: 'new-1' });
    gate.resolve();
    const r = await p;
    await sleep(10);
    expect(auth.getState().accessToken).toBe(mine);
    expect(ev).toEqual([]);
    expect(r).not.toBe(old);
  });
});
