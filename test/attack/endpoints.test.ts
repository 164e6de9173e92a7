// Built-in endpoints against a real node:http server; tokens never in messages or logs.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep, spyFetch, startServer } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function srv(
  answer: (
    path: string,
    body: string,
  ) => { status?: number; json?: unknown; raw?: string; headers?: Record<string, string> },
) {
  const s = await startServer();
  s.handler = (req, body, res) => {
    const a = answer(req.url ?? '', body.toString());
    res.statusCode = a.status ?? 200;
    for (const [k, v] of Object.entries(a.headers ?? {})) res.setHeader(k, v);
    if (a.raw !== undefined) res.end(a.raw);
    else {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(a.json ?? {}));
    }
  };
  cleanups.push(() => s.close());
  return s;
}

function mk(extra: Record<string, unknown>) {
  const errors: { code?: string; message: string; cause?: unknown }[] = [];
  const logouts: string[] = [];
  const auth = createTokenManager({ channel: false, ...extra } as never);
  auth.on('error', (e) => errors.push(e.error as never));
  auth.on('logout', (e) => logouts.push(e.reason));
  cleanups.push(() => auth.destroy());
  return { auth, errors, logouts };
}

describe('refresh endpoint', () => {
  it('json: POST, JSON content type, {"refresh_token"}, query string kept, custom headers sent', async () => {
    const s = await srv(() => ({ json: { access_token: jwt(3600), refresh_token: 'r2', expires_in: '600' } }));
    const { auth } = mk({
      refresh: { url: `${s.origin}/auth/refresh?tenant=a&x=1`, headers: { 'x-csrf': 'yes' } },
      allowedOrigins: [s.origin],
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.refresh();
    const r = s.seen[0]!;
    expect(r.method).toBe('POST');
    expect(r.url).toBe('/auth/refresh?tenant=a&x=1');
    expect(String(r.headers['content-type'])).toMatch(/^application\/json/);
    expect(JSON.parse(r.body.toString())).toEqual({ refresh_token: 'r1' });
    expect(r.headers['x-csrf']).toBe('yes');
    expect(r.headers.authorization).toBeUndefined();
  });

  it('oauth2: form body with grant_type, refresh_token, client_id', async () => {
    const s = await srv(() => ({ json: { accessToken: jwt(3600), refreshToken: 'r2' } }));
    const { auth } = mk({
      refresh: { url: `${s.origin}/token`, format: 'oauth2', clientId: 'spa app' },
      allowedOrigins: [s.origin],
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r 1&=' });
    await auth.refresh();
    const r = s.seen[0]!;
    expect(String(r.headers['content-type'])).toMatch(/^application\/x-www-form-urlencoded/);
    const p = new URLSearchParams(r.body.toString());
    expect(Object.fromEntries(p)).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'r 1&=',
      client_id: 'spa app',
    });
  });

  it('no refresh token held: json body {} and oauth2 grant_type alone', async () => {
    const s = await srv(() => ({ json: { access_token: jwt(3600) } }));
    const a = mk({ refresh: { url: `${s.origin}/j` }, allowedOrigins: [s.origin] }).auth;
    const b = mk({ refresh: { url: `${s.origin}/o`, format: 'oauth2' }, allowedOrigins: [s.origin] }).auth;
    await a.setTokens({ accessToken: jwt(3600), refreshToken: null });
    await b.setTokens({ accessToken: jwt(3600) });
    await a.refresh();
    await b.refresh();
    expect(JSON.parse(s.seen[0]!.body.toString())).toEqual({});
    expect(s.seen[1]!.body.toString()).toBe('grant_type=refresh_token');
  });

  it('response without refresh token keeps the current one; refresh_token null drops it', async () => {
    let answer: unknown = { access_token: jwt(3600) };
    const s = await srv(() => ({ json: answer }));
    const { auth } = mk({ refresh: { url: `${s.origin}/r` }, allowedOrigins: [s.origin] });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'keep-me' });
    await auth.refresh();
    answer = { access_token: jwt(3600), refresh_token: null };
    await auth.refresh();
    await auth.refresh();
    expect(s.seen.map((x) => JSON.parse(x.body.toString()))).toEqual([
      { refresh_token: 'keep-me' },
      { refresh_token: 'keep-me' },
      {},
    ]);
  });

  for (const status of [400, 401]) {
    it(`${status} ends the session with refresh-rejected`, async () => {
      const s = await srv(() => ({ status, json: { error: 'invalid_grant' } }));
      const { auth, logouts } = mk({ refresh: { url: `${s.origin}/r` }, allowedOrigins: [s.origin] });
      await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
      await expect(auth.refresh()).rejects.toMatchObject({ code: 'refresh_rejected' });
      expect(logouts).toEqual(['refresh-rejected']);
      expect(auth.getState().status).toBe('unauthenticated');
    });
  }

  for (const [name, ans] of [
    ['500', { status: 500 }],
    ['408', { status: 408 }],
    ['429', { status: 429 }],
    ['403', { status: 403 }],
    ['unreadable body', { raw: 'not json' }],
    ['no access token', { json: { token: 'x' } }],
    ['access token not a string', { json: { access_token: 5 } }],
    ['access token with newline', { json: { access_token: 'a\nb', expires_in: 60 } }],
    ['array body', { json: [1] }],
  ] as const) {
    it(`${name}: transient, session kept, RefreshFailedError`, async () => {
      const s = await srv(() => ans as never);
      const { auth, errors, logouts } = mk({ refresh: { url: `${s.origin}/r` }, allowedOrigins: [s.origin] });
      await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
      await expect(auth.refresh()).rejects.toMatchObject({ code: 'refresh_failed' });
      expect(logouts).toEqual([]);
      expect(auth.getState().status).toBe('authenticated');
      expect(errors.length).toBeGreaterThanOrEqual(1);
    });
  }

  it('timeout option: a hanging server is a transient failure with a TimeoutError cause', async () => {
    const s = await startServer(() => {});
    cleanups.push(() => s.close());
    const { auth } = mk({ refresh: { url: `${s.origin}/r`, timeout: 100 }, allowedOrigins: [s.origin] });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const e = await auth.refresh().catch((x) => x);
    expect(e.code).toBe('refresh_failed');
    expect((e.cause as { code?: string })?.code).toBe('timeout');
  });

  it('a server error field that is not an OAuth code (here the refresh token itself) never appears in a message', async () => {
    const secret = 'rt-SECRET-VALUE-123';
    const s = await srv(() => ({ status: 400, json: { error: secret, error_description: secret } }));
    const { auth, errors } = mk({ refresh: { url: `${s.origin}/r` }, allowedOrigins: [s.origin] });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: secret });
    const e = await auth.refresh().catch((x) => x);
    const texts = [e, e?.cause, ...errors, ...errors.map((x) => x.cause)]
      .filter(Boolean)
      .map((x) => `${x.message} ${x.stack} ${JSON.stringify(x)}`);
    for (const t of texts) expect(t).not.toContain(secret);
  });

  it('500 body echoing the tokens: never in messages', async () => {
    const at = jwt(3600);
    const s = await srv(() => ({ status: 500, raw: `boom ${at} rt-SECRET` }));
    const { auth, errors } = mk({ refresh: { url: `${s.origin}/r` }, allowedOrigins: [s.origin] });
    await auth.setTokens({ accessToken: at, refreshToken: 'rt-SECRET' });
    const e = await auth.refresh().catch((x) => x);
    const texts = [e, e?.cause, ...errors, ...errors.map((x) => x.cause)]
      .filter(Boolean)
      .map((x) => `${x.message} ${String(x)}`);
    for (const t of texts) {
      expect(t).not.toContain('rt-SECRET');
      expect(t).not.toContain(at);
    }
  });
});

describe('logout endpoint', () => {
  it('json: Authorization Bearer access, {"refresh_token"}, keepalive true (spy)', async () => {
    const spy = spyFetch();
    const at = jwt(3600);
    const { auth } = mk({
      refresh: { url: 'https://auth.test/r' },
      logout: { url: 'https://auth.test/logout?x=1' },
      allowedOrigins: ['https://api.test'],
      fetch: spy.fn,
    });
    await auth.setTokens({ accessToken: at, refreshToken: 'r1' });
    const r = await auth.logout();
    expect(r.serverNotified).toBe(true);
    const req = spy.calls[0]!;
    expect(req.url).toBe('https://auth.test/logout?x=1');
    expect(req.method).toBe('POST');
    expect(req.headers.get('authorization')).toBe(`Bearer ${at}`);
    expect(req.keepalive).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(await spy.bodies[0]))).toEqual({ refresh_token: 'r1' });
  });

  it('oauth2: token + hint; access token hint when no refresh token', async () => {
    const spy = spyFetch();
    const at = jwt(3600);
    const { auth } = mk({
      refresh: { url: 'https://auth.test/r' },
      logout: { url: 'https://auth.test/revoke', format: 'oauth2', clientId: 'c' },
      allowedOrigins: ['https://api.test'],
      fetch: spy.fn,
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.logout();
    await auth.setTokens({ accessToken: at });
    await auth.logout();
    const b = await Promise.all(
      spy.bodies.map(async (p) => Object.fromEntries(new URLSearchParams(new TextDecoder().decode(await p)))),
    );
    expect(b).toEqual([
      { token: 'r1', token_type_hint: 'refresh_token', client_id: 'c' },
      { token: at, token_type_hint: 'access_token', client_id: 'c' },
    ]);
  });

  it('a 500 from the logout endpoint: resolves serverNotified false, one LogoutFailedError', async () => {
    const s = await srv(() => ({ status: 500 }));
    const { auth, errors } = mk({
      refresh: { url: `${s.origin}/r` },
      logout: { url: `${s.origin}/l` },
      allowedOrigins: [s.origin],
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    expect(errors.map((e) => e.code)).toEqual(['logout_failed']);
  });
});

describe('tokens are never logged', () => {
  it('across a login, refresh failures, 401 retry, logout failure: no console output contains a token', async () => {
    const out: string[] = [];
    for (const m of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
      vi.spyOn(console, m).mockImplementation(
        (...a: unknown[]) =>
          void out.push(a.map((x) => (x instanceof Error ? `${x.message} ${x.stack}` : String(x))).join(' ')),
      );
    }
    const at = jwt(3600);
    let n = 0;
    const s = await srv((path) => {
      if (path.startsWith('/r')) {
        n += 1;
        return n === 1 ? { status: 500, raw: at } : { json: { access_token: jwt(3600), refresh_token: 'rt-NEW' } };
      }
      if (path.startsWith('/l')) return { status: 500, raw: 'rt-NEW' };
      return { status: 401 };
    });
    const { auth } = mk({
      refresh: { url: `${s.origin}/r` },
      logout: { url: `${s.origin}/l` },
      allowedOrigins: [s.origin],
    });
    await auth.setTokens({ accessToken: at, refreshToken: 'rt-OLD' });
    await auth.refresh().catch(() => {});
    await auth.fetch(`${s.origin}/api`).catch(() => {});
    await sleep(1200);
    await auth.fetch(`${s.origin}/api`).catch(() => {});
    await auth.logout();
    await sleep(20);
    const all = out.join('\n');
    expect(all).not.toContain(at);
    expect(all).not.toContain('rt-OLD');
    expect(all).not.toContain('rt-NEW');
  });
});
