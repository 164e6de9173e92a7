// Origin attacks in Node (no page origin): allowedOrigins set explicitly; real node:http servers on two ports.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { bearer, jwt, spyFetch, startServer, type TestServer } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function servers(): Promise<{ a: TestServer; b: TestServer }> {
  const a = await startServer();
  const b = await startServer();
  cleanups.push(
    () => a.close(),
    () => b.close(),
  );
  return { a, b };
}

function manager(allowed: string[] | ((u: URL) => boolean), extra: Record<string, unknown> = {}) {
  const auth = createTokenManager({
    refresh: async () => ({ accessToken: jwt(3600), refreshToken: `r-${Math.random()}` }),
    allowedOrigins: allowed,
    channel: false,
    ...extra,
  } as never);
  cleanups.push(() => auth.destroy());
  return auth;
}

describe('origin rule (Node, spy fetch)', () => {
  const cases: [string, boolean][] = [
    ['https://app.test/x', true],
    ['https://APP.test:443/x', true],
    ['https://app.test@evil.test/x', false],
    ['https://app.test.evil.test/x', false],
    ['http://app.test/x', false],
    ['https://app.test:8443/x', false],
    ['https://sub.app.test/x', false],
    ['https://evil.test/https://app.test/', false],
    ['https://ev\til.test/x', false],
    ['https://evil.test\\@app.test/x', false],
    ['https://evil.test#@app.test/', false],
    ['https://evil.test?@app.test/', false],
    ['blob:https://app.test/uuid', false],
    ['wss://app.test/x', false],
    ['https://app.test./x', false],
    ['https://xn--pp-hia.test/', false],
  ];
  for (const [url, expected] of cases) {
    it(`${JSON.stringify(url)} gets the token: ${expected}`, async () => {
      const spy = spyFetch();
      const auth = manager(['https://app.test'], { fetch: spy.fn });
      const t = jwt(3600);
      await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
      try {
        await auth.fetch(url);
      } catch {
        // fetch may refuse blob:/wss: — then nothing was sent, which is fine
      }
      for (const c of spy.calls) {
        const h = c.headers.get('authorization');
        if (expected) expect(h).toBe(bearer(t));
        else expect(h).toBeNull();
      }
      if (expected) expect(spy.calls.length).toBe(1);
    });
  }

  it('URL object mutated after the call: request goes where it pointed at the call, with token', async () => {
    const spy = spyFetch();
    const auth = manager(['https://app.test'], { fetch: spy.fn });
    const t = jwt(3600);
    await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
    const u = new URL('https://app.test/x');
    const p = auth.fetch(u);
    u.href = 'https://evil.test/steal';
    await p;
    expect(spy.calls).toHaveLength(1);
    expect(new URL(spy.calls[0]!.url).origin).toBe('https://app.test');
  });

  it('URL object mutated while a call waits for a refresh (expired token): still goes to the original URL', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const spy = spyFetch();
    const auth = createTokenManager({
      refresh: async () => {
        await gate;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
      allowedOrigins: ['https://app.test'],
      channel: false,
      fetch: spy.fn,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
    const u = new URL('https://app.test/x');
    const p = auth.fetch(u);
    await new Promise((r) => setTimeout(r, 20));
    u.href = 'https://evil.test/steal';
    release();
    await p;
    for (const c of spy.calls) expect(new URL(c.url).origin).toBe('https://app.test');
  });

  it('an object with a stateful toString is stringified once (no TOCTOU between check and send)', async () => {
    const spy = spyFetch();
    const auth = manager(['https://app.test'], { fetch: spy.fn });
    const t = jwt(3600);
    await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
    let i = 0;
    const tricky = {
      toString() {
        i += 1;
        return i === 1 ? 'https://app.test/ok' : 'https://evil.test/steal';
      },
    };
    await auth.fetch(tricky as unknown as string).catch(() => {});
    for (const c of spy.calls) {
      if (new URL(c.url).origin !== 'https://app.test') expect(c.headers.get('authorization')).toBeNull();
    }
  });

  it('Request / URL subclasses whose getters lie: the token follows where fetch really sends', async () => {
    const spy = spyFetch();
    const auth = manager(['https://app.test'], { fetch: spy.fn });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    class LyingRequest extends Request {
      override get url() {
        return 'https://app.test/';
      }
    }
    class LyingURL extends URL {
      override get href() {
        return 'https://app.test/';
      }
      override get origin() {
        return 'https://app.test';
      }
      override toString() {
        return 'https://evil.test/x';
      }
    }
    class LyingURL2 extends URL {
      override toString() {
        return 'https://evil.test/x';
      }
    }
    await auth.fetch(new LyingRequest('https://evil.test/steal'));
    await auth.fetch(new LyingURL('https://evil.test/x'));
    await auth.fetch(new LyingURL2('https://app.test/x'));
    for (const c of spy.calls) {
      if (new URL(c.url).origin !== 'https://app.test') expect(c.headers.get('authorization'), c.url).toBeNull();
    }
  });

  it('Request of another origin gets no token', async () => {
    const spy = spyFetch();
    const auth = manager(['https://app.test'], { fetch: spy.fn });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.fetch(new Request('https://evil.test/x', { method: 'POST', body: 'x' }));
    expect(spy.calls[0]!.headers.get('authorization')).toBeNull();
  });

  it('Request of another origin that answers 401 starts no refresh', async () => {
    let refreshes = 0;
    const spy = spyFetch(() => new Response('no', { status: 401 }));
    const auth = createTokenManager({
      refresh: async () => {
        refreshes += 1;
        return { accessToken: jwt(3600) };
      },
      allowedOrigins: ['https://app.test'],
      channel: false,
      fetch: spy.fn,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch('https://evil.test/x');
    expect(r.status).toBe(401);
    expect(refreshes).toBe(0);
    expect(spy.calls).toHaveLength(1);
  });

  it('allowedOrigins function alone decides, and gets a URL of the request', async () => {
    const spy = spyFetch();
    const seen: string[] = [];
    const auth = manager(
      (u: URL) => {
        seen.push(u.href);
        return u.hostname === 'api.test';
      },
      { fetch: spy.fn },
    );
    const t = jwt(3600);
    await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
    await auth.fetch('https://api.test/a');
    await auth.fetch('https://app.test/a');
    expect(spy.calls[0]!.headers.get('authorization')).toBe(bearer(t));
    expect(spy.calls[1]!.headers.get('authorization')).toBeNull();
  });

  it('allowedOrigins function that mutates the URL it is given cannot redirect the request', async () => {
    const spy = spyFetch();
    const auth = manager(
      (u: URL) => {
        const ok = u.hostname === 'api.test';
        u.hostname = 'evil.test';
        return ok;
      },
      { fetch: spy.fn },
    );
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.fetch('https://api.test/a');
    expect(new URL(spy.calls[0]!.url).hostname).toBe('api.test');
  });

  it('without allowedOrigins in Node, auth.fetch rejects with ConfigurationError', async () => {
    const spy = spyFetch();
    const auth = createTokenManager({
      refresh: async () => ({ accessToken: jwt(3600) }),
      channel: false,
      fetch: spy.fn,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    await expect(auth.fetch('https://app.test/x')).rejects.toMatchObject({ code: 'configuration' });
    expect(spy.calls).toHaveLength(0);
  });
});

describe('redirects with real Node fetch, two origins on 127.0.0.1', () => {
  for (const status of [301, 302, 303, 307, 308]) {
    it(`a ${status} from the allowed origin to another origin does not carry the token`, async () => {
      const { a, b } = await servers();
      a.handler = (_q, _b, res) => {
        res.statusCode = status;
        res.setHeader('location', `${b.origin}/landing`);
        res.end();
      };
      const auth = manager([a.origin]);
      const t = jwt(3600);
      await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
      const r = await auth.fetch(`${a.origin}/start`, { method: 'POST', body: 'payload' });
      expect(r.status).toBe(200);
      expect(a.seen[0]!.headers.authorization).toBe(bearer(t));
      expect(b.seen).toHaveLength(1);
      expect(b.seen[0]!.headers.authorization).toBeUndefined();
      expect(JSON.stringify(b.seen[0]!.headers)).not.toContain(t);
    });
  }

  it('a Request input redirected to another origin does not carry the token', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 307;
      res.setHeader('location', `${b.origin}/landing`);
      res.end();
    };
    const auth = manager([a.origin]);
    const t = jwt(3600);
    await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
    await auth.fetch(new Request(`${a.origin}/start`, { method: 'PUT', body: 'x' }));
    expect(b.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('the 401 retry redirected to another origin does not carry the new token', async () => {
    const { a, b } = await servers();
    let hits = 0;
    a.handler = (_q, _b, res) => {
      hits += 1;
      if (hits === 1) {
        res.statusCode = 401;
        res.end();
        return;
      }
      res.statusCode = 302;
      res.setHeader('location', `${b.origin}/landing`);
      res.end();
    };
    const t2 = jwt(3600);
    const auth = manager([a.origin], { refresh: async () => ({ accessToken: t2, refreshToken: 'r2' }) });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${a.origin}/start`);
    expect(r.status).toBe(200);
    expect(a.seen[1]!.headers.authorization).toBe(bearer(t2));
    expect(b.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('a 401 that came from another origin through a redirect starts no refresh and is not retried', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${b.origin}/landing`);
      res.end();
    };
    b.handler = (_q, _b, res) => {
      res.statusCode = 401;
      res.end();
    };
    let refreshes = 0;
    const auth = manager([a.origin], {
      refresh: async () => {
        refreshes += 1;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${a.origin}/start`);
    expect(r.status).toBe(401);
    expect(refreshes).toBe(0);
    expect(a.seen).toHaveLength(1);
  });

  it('a redirect from an allowed origin to another allowed origin: Node strips Authorization (fetch spec) — documented as observed', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${b.origin}/landing`);
      res.end();
    };
    const auth = manager([a.origin, b.origin]);
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${a.origin}/start`);
    expect(r.status).toBe(200);
    // No assertion about b: only that nothing throws. Observed value printed.
    console.log('allowed→allowed redirect carries Authorization:', b.seen[0]!.headers.authorization !== undefined);
  });

  it('redirect: "manual" from the caller is honoured (opaque redirect returned, target not contacted)', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 302;
      res.setHeader('location', `${b.origin}/landing`);
      res.end();
    };
    const auth = manager([a.origin]);
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    const r = await auth.fetch(`${a.origin}/start`, { redirect: 'manual' });
    expect(r.status === 302 || r.type === 'opaqueredirect').toBe(true);
    expect(b.seen).toHaveLength(0);
  });

  it('refresh endpoint redirected to another origin: refresh token is never sent there', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 307;
      res.setHeader('location', `${b.origin}/steal`);
      res.end();
    };
    const auth = createTokenManager({
      refresh: { url: `${a.origin}/auth/refresh` },
      allowedOrigins: [a.origin],
      channel: false,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'secret-refresh' });
    await auth.refresh().catch(() => {});
    expect(a.seen).toHaveLength(1);
    expect(b.seen).toHaveLength(0);
  });

  it('logout endpoint redirected to another origin: neither token is sent there', async () => {
    const { a, b } = await servers();
    a.handler = (_q, _b, res) => {
      res.statusCode = 307;
      res.setHeader('location', `${b.origin}/steal`);
      res.end();
    };
    const auth = createTokenManager({
      refresh: { url: `${a.origin}/auth/refresh` },
      logout: { url: `${a.origin}/auth/logout` },
      allowedOrigins: [a.origin],
      channel: false,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'secret-refresh' });
    const out = await auth.logout();
    expect(out.serverNotified).toBe(false);
    expect(b.seen).toHaveLength(0);
  });
});
