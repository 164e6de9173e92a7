// auth.fetch keeps what the caller asked for (Request members, method spelling, response identity),
// Request headers mutated after the call change nothing, and the ky hooks follow the same rules.
import ky from 'ky';
import ky1 from 'ky1';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { kyHooks } from '#built/ky';
import { deferred, jwt, startServer, type TestServer } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function server401Once(): Promise<TestServer> {
  const s = await startServer();
  const hits = new Map<string, number>();
  s.handler = (req, _b, res) => {
    const k = req.url ?? '';
    const h = (hits.get(k) ?? 0) + 1;
    hits.set(k, h);
    res.statusCode = h === 1 ? 401 : 200;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: h !== 1 }));
  };
  cleanups.push(() => s.close());
  return s;
}

async function setup(
  opts: { gate?: Promise<void>; onRefresh?: () => void; fetch?: typeof fetch; origin?: string } = {},
) {
  const s = await server401Once();
  const tokens: string[] = [];
  let refreshes = 0;
  const auth = createTokenManager({
    refresh: async () => {
      refreshes += 1;
      opts.onRefresh?.();
      if (opts.gate) await opts.gate;
      const t = jwt(3600);
      tokens.push(t);
      return { accessToken: t, refreshToken: `r${refreshes + 1}` };
    },
    allowedOrigins: [opts.origin ?? s.origin],
    channel: false,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  });
  cleanups.push(() => auth.destroy());
  const t0 = jwt(3600);
  tokens.push(t0);
  await auth.setTokens({ accessToken: t0, refreshToken: 'r1' });
  return { s, auth, tokens, refreshes: () => refreshes };
}

describe('Request fidelity', () => {
  it('Request headers mutated while the 401 refresh is in flight: the retry sends the original headers', async () => {
    const gate = deferred();
    const refreshing = deferred();
    const { s, auth } = await setup({ gate: gate.promise, onRefresh: () => refreshing.resolve() });
    const req = new Request(`${s.origin}/p`, { method: 'POST', body: 'b', headers: { 'x-a': '1' } });
    const p = auth.fetch(req);
    await refreshing.promise;
    req.headers.set('x-a', 'CHANGED');
    req.headers.set('x-new', 'yes');
    gate.resolve();
    await p;
    expect(s.seen.map((x) => [x.headers['x-a'], x.headers['x-new']])).toEqual([
      ['1', undefined],
      ['1', undefined],
    ]);
  });

  it('Request headers mutated synchronously right after the call (Authorization added): first attempt is as at the call', async () => {
    const { s, auth, tokens } = await setup();
    const req = new Request(`${s.origin}/p`, { headers: { 'x-a': '1' } });
    const p = auth.fetch(req);
    req.headers.set('authorization', 'Basic late');
    req.headers.set('x-a', '2');
    await p;
    expect(s.seen[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);
    expect(s.seen[0]!.headers['x-a']).toBe('1');
  });

  it('Request members (redirect, credentials, mode, cache, referrerPolicy, integrity, keepalive) reach fetch on both attempts', async () => {
    const handed: Request[] = [];
    let n = 0;
    const spy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const r = new Request(input as RequestInfo, init);
      handed.push(r);
      n += 1;
      return new Response('', { status: n % 2 === 1 ? 401 : 200 });
    }) as typeof fetch;
    const { auth } = await setup({ fetch: spy, origin: 'https://api.test' });
    const init: RequestInit = {
      method: 'PUT',
      body: 'x',
      redirect: 'manual',
      credentials: 'omit',
      mode: 'same-origin',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      integrity: 'sha256-abc',
      keepalive: true,
    };
    await auth.fetch(new Request('https://api.test/p', init));
    await auth.fetch('https://api.test/q', init);
    const pick = (r: Request) => [
      r.method,
      r.redirect,
      r.credentials,
      r.mode,
      r.cache,
      r.referrerPolicy,
      r.integrity,
      r.keepalive,
    ];
    const want = ['PUT', 'manual', 'omit', 'same-origin', 'no-store', 'no-referrer', 'sha256-abc', true];
    expect(handed).toHaveLength(4);
    for (const r of handed) expect(pick(r)).toEqual(want);
  });

  it('method spelling kept as fetch keeps it ("patch" stays lower-case, "post" normalised) on both attempts', async () => {
    const handed: string[] = [];
    let n = 0;
    const spy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      handed.push(new Request(input as RequestInfo, init).method);
      n += 1;
      return new Response('', { status: n % 2 === 1 ? 401 : 200 });
    }) as typeof fetch;
    const { auth } = await setup({ fetch: spy, origin: 'https://api.test' });
    await auth.fetch('https://api.test/a', { method: 'patch', body: 'x' });
    await auth.fetch('https://api.test/b', { method: 'post', body: 'x' });
    await auth.fetch(new Request('https://api.test/c', { method: 'patch', body: 'x' }));
    const m = (x: string) => new Request('https://api.test/', { method: x, body: 'x' }).method;
    expect(handed).toEqual([m('patch'), m('patch'), m('post'), m('post'), m('patch'), m('patch')]);
  });

  it('the Response is the real one (url, redirected, headers, body readable)', async () => {
    const a = await startServer();
    const b = await startServer();
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    a.handler = (_q, _b, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${a.origin}/final`);
      res.end();
    };
    const auth = createTokenManager({
      refresh: async () => ({ accessToken: jwt(3600) }),
      allowedOrigins: [a.origin],
      channel: false,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600) });
    let first = true;
    a.handler = (req, _b, res) => {
      if (req.url === '/start' && first) {
        first = false;
        res.statusCode = 302;
        res.setHeader('location', '/final');
        res.end();
        return;
      }
      res.setHeader('x-h', 'v');
      res.end('final body');
    };
    const r = await auth.fetch(`${a.origin}/start`);
    expect(r.url).toBe(`${a.origin}/final`);
    expect(r.redirected).toBe(true);
    expect(r.headers.get('x-h')).toBe('v');
    expect(await r.text()).toBe('final body');
  });

  it('Request with its own aborted signal, passed with init.signal not aborted: init wins as in fetch', async () => {
    const { s, auth } = await setup();
    const ac = new AbortController();
    ac.abort();
    const req = new Request(`${s.origin}/p`, { signal: ac.signal });
    const ref = await fetch(req, { signal: new AbortController().signal }).then(
      () => 'sent',
      () => 'rejected',
    );
    const got = await auth.fetch(req, { signal: new AbortController().signal }).then(
      () => 'sent',
      () => 'rejected',
    );
    expect(got).toBe(ref);
  });
});

describe('ky hooks', () => {
  for (const [name, k] of [
    ['ky 2', ky],
    ['ky 1', ky1],
  ] as const) {
    it(`${name}: token to allowed origin, none elsewhere; 401 refreshes once and retries with the body`, async () => {
      const { s, auth, tokens, refreshes } = await setup();
      const other = await startServer();
      cleanups.push(() => other.close());
      const api = (k as typeof ky).create({ hooks: kyHooks(auth) as never, retry: 0 });
      const data = await api.post(`${s.origin}/p`, { json: { a: 1 } }).json();
      expect(data).toEqual({ ok: true });
      expect(s.seen.map((x) => [x.headers.authorization, x.body.toString()])).toEqual([
        [`Bearer ${tokens[0]}`, '{"a":1}'],
        [`Bearer ${tokens[1]}`, '{"a":1}'],
      ]);
      expect(refreshes()).toBe(1);
      await api.get(`${other.origin}/x`).text();
      expect(other.seen[0]!.headers.authorization).toBeUndefined();
    });

    it(`${name}: a second 401 becomes HTTPError; only one refresh`, async () => {
      const s = await startServer((_q, _b, res) => {
        res.statusCode = 401;
        res.end();
      });
      cleanups.push(() => s.close());
      let refreshes = 0;
      const auth = createTokenManager({
        refresh: async () => {
          refreshes += 1;
          return { accessToken: jwt(3600) };
        },
        allowedOrigins: [s.origin],
        channel: false,
      });
      cleanups.push(() => auth.destroy());
      await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
      const api = (k as typeof ky).create({ hooks: kyHooks(auth) as never });
      const e = await api.get(`${s.origin}/p`).then(
        () => null,
        (x) => x,
      );
      expect(e?.name).toBe('HTTPError');
      expect(s.seen).toHaveLength(2);
      expect(refreshes).toBe(1);
    });

    it(`${name}: caller Authorization left alone`, async () => {
      const { s, auth, refreshes } = await setup();
      const api = (k as typeof ky).create({ hooks: kyHooks(auth) as never, retry: 0, throwHttpErrors: false });
      await api.get(`${s.origin}/p`, { headers: { authorization: 'Basic me' } });
      for (const x of s.seen) expect(x.headers.authorization).toBe('Basic me');
      expect(refreshes()).toBe(0);
    });
  }
});
