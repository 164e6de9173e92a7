// The demo server's HTTP API (demo/server/app.mjs), over real HTTP on 127.0.0.1: login, refresh rotation, logout,
// logout everywhere, the reasons of `GET /api/me`, the cookie mode's CSRF rule, and what bad requests get. The
// scenarios that involve the store run with the in-memory store and with a real Redis, where two server instances
// share one Redis and must behave as one server.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuthServer,
  type AuthServerOptions,
  type AuthStore,
  loadApp,
  loadRedisStore,
  loadStore,
} from '../support/demo-server';
import { type Answer, bearer, call, login, me, refresh, setCookieOf } from '../support/demo-client';
import { setupRedisServer } from '../support/redis';

const { startAuthServer, REFRESH_COOKIE } = await loadApp();
const { createRedisStore } = await loadRedisStore();
const { createMemoryStore } = await loadStore();
const redis = setupRedisServer('test/server/app.test.ts');

/** The `name=value` of the refresh cookie a response sets, or `undefined`. */
const refreshCookieOf = (answer: Answer) => setCookieOf(answer, REFRESH_COOKIE);

/** Servers started by a test; closed after it. */
const started: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((entry) => entry.close()));
});

/** A clock the tests move by hand: real time plus an offset (Redis keys still expire in real time, later). */
function createClock() {
  let offsetMs = 0;
  return {
    now: () => Date.now() + offsetMs,
    advance(ms: number) {
      offsetMs += ms;
    },
  };
}

interface Variant {
  name: string;
  /**
   * Starts `count` servers on one shared store (Redis: one store instance each, as separate processes would
   * have; memory: one server, since a memory store cannot be shared across processes).
   */
  start(options?: AuthServerOptions, count?: number): Promise<AuthServer[]>;
}

const memoryVariant: Variant = {
  name: 'memory',
  async start(options = {}) {
    const server = await startAuthServer(options);
    started.push(server);
    return [server];
  },
};

function redisVariant(server: { readonly url: string }): Variant {
  return {
    name: 'redis',
    async start(options = {}, count = 1) {
      const prefix = `test:${randomUUID()}:`;
      const secret = options.secret ?? randomBytes(32);
      const servers = [];
      for (let index = 0; index < count; index += 1) {
        const store: AuthStore = await createRedisStore({
          url: server.url,
          prefix,
          ...(options.now && { now: options.now }),
        });
        const app = await startAuthServer({ ...options, secret, store });
        started.push({ close: () => app.close().then(() => store.close()) });
        servers.push(app);
      }
      return servers;
    },
  };
}

const variants: Variant[] = [memoryVariant, ...(redis ? [redisVariant(redis)] : [])];

describe.each(variants)('with the $name store', (variant) => {
  describe('POST /auth/login', () => {
    it('signs in any name with the password "demo", answering access and refresh token', async () => {
      const [server] = await variant.start({ accessTokenSeconds: 20 });
      const answer = await call(server!, 'POST', '/auth/login', { json: { username: 'ada', password: 'demo' } });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('cache-control')).toBe('no-store');
      expect(answer.body).toEqual({
        access_token: expect.stringMatching(/^eyJ/),
        refresh_token: expect.stringMatching(/^rt_/),
        token_type: 'Bearer',
        expires_in: 20,
      });
      expect((await me(server!, String(answer.body.access_token))).body).toMatchObject({
        user: 'ada',
        claims: { sub: 'ada', ver: 0, iss: 'tokenkeeper-demo', aud: 'tokenkeeper-demo-api' },
      });
      expect(server!.counts.logins).toBe(1);
    });

    it('refuses a wrong password with 401 invalid_credentials and missing fields with 400', async () => {
      const [server] = await variant.start();
      const wrong = await call(server!, 'POST', '/auth/login', { json: { username: 'ada', password: 'hunter2' } });
      expect(wrong.status).toBe(401);
      expect(wrong.body).toMatchObject({ error: 'invalid_credentials' });
      for (const json of [{ username: 'ada' }, { password: 'demo' }, { username: '', password: 'demo' }, {}]) {
        const answer = await call(server!, 'POST', '/auth/login', { json });
        expect(answer.status, JSON.stringify(json)).toBe(400);
        expect(answer.body).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) });
      }
      expect(server!.counts.logins).toBe(0);
    });
  });

  describe('GET /api/me', () => {
    const expectRefused = (answer: Answer, reason: string) => {
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'invalid_token', reason });
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer /);
    };

    it('refuses a request without a token: missing (and no error code in WWW-Authenticate)', async () => {
      const [server] = await variant.start();
      const answer = await call(server!, 'GET', '/api/me');
      expectRefused(answer, 'missing');
      expect(answer.headers.get('www-authenticate')).not.toContain('error=');
      expect(server!.counts).toMatchObject({ apiCalls: 1, apiUnauthorized: 1, apiWithoutToken: 1 });
    });

    it('refuses what is not a token of this server: malformed', async () => {
      const [server] = await variant.start();
      const foreign = await new SignJWT({ ver: 0 })
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject('ada')
        .setJti('x')
        .setIssuer('tokenkeeper-demo')
        .setAudience('tokenkeeper-demo-api')
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(randomBytes(32));
      const { access } = await login(server!);
      const [header, payload] = access.split('.');
      const unsigned = `${header}.${payload}.`;
      for (const token of ['abc', foreign, unsigned, `${access}x`])
        expectRefused(await me(server!, token), 'malformed');
      expect(server!.counts.apiWithoutToken).toBe(0);
    });

    it('refuses a token past its exp: expired', async () => {
      const clock = createClock();
      const [server] = await variant.start({ accessTokenSeconds: 20, now: clock.now });
      const { access } = await login(server!);
      expect((await me(server!, access)).status).toBe(200);
      clock.advance(21_000);
      expectRefused(await me(server!, access), 'expired');
    });

    it('refuses a token logged out before its exp: denied', async () => {
      const [server] = await variant.start();
      const tokens = await login(server!);
      const logout = await call(server!, 'POST', '/auth/logout', {
        json: { refresh_token: tokens.refresh },
        headers: bearer(tokens.access),
      });
      expect(logout.status).toBe(200);
      expectRefused(await me(server!, tokens.access), 'denied');
      expect(await server!.store.countDenied()).toBe(1);
    });

    it('refuses a token issued before a logout everywhere: outdated', async () => {
      const [server] = await variant.start();
      const phone = await login(server!);
      const laptop = await login(server!);
      expect((await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(laptop.access) })).status).toBe(
        200,
      );
      expectRefused(await me(server!, phone.access), 'outdated');
      expectRefused(await me(server!, laptop.access), 'outdated');
    });
  });

  describe('POST /auth/refresh', () => {
    it('rotates: new tokens each time; the old token replayed after its successor was used revokes the family', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const first = await login(server!);
      const second = await refresh(server!, first.refresh);
      expect(second.status).toBe(200);
      expect(second.body.refresh_token).not.toBe(first.refresh);
      expect(second.body.access_token).not.toBe(first.access);
      const third = await refresh(server!, String(second.body.refresh_token));
      expect(third.status).toBe(200);

      // The successor was used, so even within the grace period this is a replay.
      const replay = await refresh(server!, first.refresh);
      expect(replay.status).toBe(401);
      expect(replay.body).toMatchObject({ error: 'invalid_grant' });
      expect((await refresh(server!, String(third.body.refresh_token))).status).toBe(401);
      expect(server!.counts).toMatchObject({ refreshes: 4, refreshRejected: 2, reuseDetected: 1 });
      // The access tokens already issued live on until their exp: the family is about refresh tokens.
      expect((await me(server!, String(third.body.access_token))).status).toBe(200);
    });

    it('answers a replay within the grace period (a lost answer) with fresh tokens; the unused successor dies', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const { refresh: original } = await login(server!);
      const lost = await refresh(server!, original);
      const retry = await refresh(server!, original);
      expect(retry.status).toBe(200);
      expect(retry.body.refresh_token).not.toBe(lost.body.refresh_token);
      const next = await refresh(server!, String(retry.body.refresh_token));
      expect(next.status).toBe(200);
      expect(server!.counts.reuseDetected).toBe(0);
      // The client that lost the answer never saw that successor: if it comes back anyway, someone else holds the
      // family (a thief replayed the original inside the grace period). That is reuse, and ends the family.
      expect((await refresh(server!, String(lost.body.refresh_token))).status).toBe(401);
      expect(server!.counts.reuseDetected).toBe(1);
      expect((await refresh(server!, String(next.body.refresh_token))).status).toBe(401);
    });

    it('without a grace period, a replay at once is reuse', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 0 });
      const { refresh: original } = await login(server!);
      const rotated = await refresh(server!, original);
      expect((await refresh(server!, original)).status).toBe(401);
      expect((await refresh(server!, String(rotated.body.refresh_token))).status).toBe(401);
      expect(server!.counts.reuseDetected).toBe(1);
    });

    it('rotates one token once under 10 concurrent refreshes (spread over two servers when the store is shared)', async () => {
      const servers = await variant.start({ refreshGraceSeconds: 0 }, 2);
      const { refresh: token } = await login(servers[0]!);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, index) => refresh(servers[index % servers.length]!, token)),
      );
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(1);
      expect(answers.filter((answer) => answer.status === 401)).toHaveLength(9);
      const total = (name: string) => servers.reduce((sum, server) => sum + server.counts[name]!, 0);
      expect(total('refreshes')).toBe(10);
      expect(total('reuseDetected')).toBe(1);
      expect(total('refreshRejected')).toBe(9);
    });

    it('takes the RFC 6749 form, and refuses another grant type', async () => {
      const [server] = await variant.start();
      const { refresh: token } = await login(server!);
      const answer = await call(server!, 'POST', '/auth/refresh', {
        form: { grant_type: 'refresh_token', refresh_token: token },
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ token_type: 'Bearer', refresh_token: expect.stringMatching(/^rt_/) });
      const password = await call(server!, 'POST', '/auth/refresh', { form: { grant_type: 'password' } });
      expect(password.status).toBe(400);
      expect(password.body).toMatchObject({ error: 'unsupported_grant_type' });
    });

    it('answers 401 invalid_grant for an unknown token, and 503 while the demo broke the endpoint', async () => {
      const [server] = await variant.start();
      expect((await refresh(server!, 'rt_unknown')).body).toEqual({
        error: 'invalid_grant',
        error_description: 'the refresh token is unknown',
      });
      const { refresh: token } = await login(server!);
      const broken = await call(server!, 'POST', '/demo/break-refresh', { json: { seconds: 15 } });
      expect(broken.status).toBe(200);
      expect(broken.body.until).toEqual(expect.any(Number));
      expect((await call(server!, 'GET', '/api/stats')).body.refreshBrokenUntil).toBe(broken.body.until);
      const refused = await refresh(server!, token);
      expect(refused.status).toBe(503);
      expect(refused.body).toMatchObject({ error: 'temporarily_unavailable' });
      // Nothing was rotated: once repaired, the same token works.
      await call(server!, 'POST', '/demo/break-refresh', { json: { seconds: 0 } });
      expect((await call(server!, 'GET', '/api/stats')).body.refreshBrokenUntil).toBeNull();
      expect((await refresh(server!, token)).status).toBe(200);
      expect(server!.counts).toMatchObject({ refreshFailures: 1, refreshRejected: 1 });
    });

    it('POST /demo/expire-token: the API answers that token 401 expired, the refresh token stays good', async () => {
      const [server] = await variant.start();
      const tokens = await login(server!);
      expect((await call(server!, 'POST', '/demo/expire-token')).status).toBe(401);
      expect((await call(server!, 'POST', '/demo/expire-token', { headers: bearer(tokens.access) })).status).toBe(200);
      const answer = await me(server!, tokens.access);
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: 'invalid_token', reason: 'expired' });
      const renewed = await refresh(server!, tokens.refresh);
      expect(renewed.status).toBe(200);
      expect((await me(server!, String(renewed.body.access_token))).status).toBe(200);
      expect(server!.counts).toMatchObject({ reuseDetected: 0, deniedTokens: 0 });
    });
  });

  describe('POST /auth/logout and /auth/logout-everywhere', () => {
    it('logout revokes the refresh family and denies the access token; an unknown token still gets 200 {}', async () => {
      const [server] = await variant.start();
      const tokens = await login(server!);
      const answer = await call(server!, 'POST', '/auth/logout', {
        json: { refresh_token: tokens.refresh },
        headers: bearer(tokens.access),
      });
      expect(answer).toMatchObject({ status: 200, body: {} });
      expect((await refresh(server!, tokens.refresh)).status).toBe(401);
      expect((await me(server!, tokens.access)).body.reason).toBe('denied');
      expect(server!.counts).toMatchObject({ logouts: 1, deniedTokens: 1, reuseDetected: 0 });

      const unknown = await call(server!, 'POST', '/auth/logout', { json: { refresh_token: 'rt_unknown' } });
      expect(unknown).toMatchObject({ status: 200, body: {} });
    });

    it('logout takes RFC 7009 revocation: the refresh token, or the access token by itself', async () => {
      const [server] = await variant.start();
      const first = await login(server!);
      const revoke = (token: string, hint: string) =>
        call(server!, 'POST', '/auth/logout', { form: { token, token_type_hint: hint } });
      expect((await revoke(first.refresh, 'refresh_token')).status).toBe(200);
      expect((await refresh(server!, first.refresh)).status).toBe(401);
      const second = await login(server!);
      expect((await revoke(second.access, 'access_token')).status).toBe(200);
      expect((await me(server!, second.access)).body.reason).toBe('denied');
      expect((await refresh(server!, second.refresh)).status).toBe(200);
    });

    it('logout everywhere needs a valid token, bumps the version, and ends every earlier session of that user only', async () => {
      const [server] = await variant.start();
      const refused = await call(server!, 'POST', '/auth/logout-everywhere');
      expect(refused.status).toBe(401);
      expect(refused.body).toEqual({ error: 'invalid_token', error_description: 'the access token is missing' });

      const phone = await login(server!);
      const laptop = await login(server!);
      const bob = await login(server!, 'bob');
      const answer = await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(laptop.access) });
      expect(answer).toMatchObject({ status: 200, body: { version: 1 } });

      expect((await refresh(server!, phone.refresh)).status).toBe(401);
      expect((await refresh(server!, laptop.refresh)).status).toBe(401);
      expect((await me(server!, phone.access)).body.reason).toBe('outdated');
      // Another user is untouched; a new login of this user carries the new version.
      expect((await me(server!, bob.access)).status).toBe(200);
      expect((await refresh(server!, bob.refresh)).status).toBe(200);
      const again = await login(server!);
      expect((await me(server!, again.access)).body).toMatchObject({ user: 'ada', claims: { ver: 1 } });
      expect((await refresh(server!, again.refresh)).status).toBe(200);
      expect(server!.counts).toMatchObject({ logoutsEverywhere: 1, reuseDetected: 0 });
    });
  });
});

describe.runIf(redis !== null)('two servers sharing one Redis behave as one', () => {
  it('a logout on A denies the token on B; a refresh token from A rotates on B; logout everywhere on B outdates A', async () => {
    const [a, b] = await redisVariant(redis!).start({}, 2);
    const first = await login(a!);
    expect((await me(b!, first.access)).status).toBe(200);
    const rotated = await refresh(b!, first.refresh);
    expect(rotated.status).toBe(200);
    expect((await refresh(a!, String(rotated.body.refresh_token))).status).toBe(200);

    await call(a!, 'POST', '/auth/logout', { json: {}, headers: bearer(first.access) });
    expect((await me(b!, first.access)).body.reason).toBe('denied');

    const second = await login(a!);
    await call(b!, 'POST', '/auth/logout-everywhere', { headers: bearer(second.access) });
    expect((await me(a!, second.access)).body.reason).toBe('outdated');
    expect((await refresh(a!, second.refresh)).status).toBe(401);
  });
});

describe('the cookie mode and its CSRF rule', () => {
  const CSRF = { 'x-requested-with': 'tokenkeeper' };

  it('sets the refresh token as an HttpOnly SameSite=Strict cookie on /auth, and rotates it on refresh', async () => {
    const [server] = await memoryVariant.start({ refreshTokenSeconds: 3600 });
    const answer = await call(server!, 'POST', '/auth/login', {
      json: { username: 'ada', password: 'demo', cookie: true },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).not.toHaveProperty('refresh_token');
    const [setCookie] = answer.headers.getSetCookie();
    expect(setCookie).toMatch(/^tk_refresh=rt_[\w-]+; HttpOnly; SameSite=Strict; Path=\/auth; Max-Age=3600$/);
    const cookie = refreshCookieOf(answer)!;

    const rotated = await call(server!, 'POST', '/auth/refresh', { json: {}, headers: { ...CSRF, cookie } });
    expect(rotated.status).toBe(200);
    expect(rotated.body).not.toHaveProperty('refresh_token');
    const next = refreshCookieOf(rotated)!;
    expect(next).not.toBe(cookie);
    expect(server!.counts).toMatchObject({ refreshes: 1, cookieRefreshes: 1, csrfRejected: 0 });

    const logout = await call(server!, 'POST', '/auth/logout', { json: {}, headers: { ...CSRF, cookie: next } });
    expect(logout.status).toBe(200);
    expect(logout.headers.getSetCookie()[0]).toMatch(/^tk_refresh=; .*Max-Age=0$/);
    const after = await call(server!, 'POST', '/auth/refresh', { json: {}, headers: { ...CSRF, cookie: next } });
    expect(after.status).toBe(401);
    // A refused cookie is cleared.
    expect(refreshCookieOf(after)).toBe('tk_refresh=');
  });

  it('refuses a cookie refresh or logout without the CSRF header, or from another origin, changing nothing', async () => {
    const [server] = await memoryVariant.start();
    const login = await call(server!, 'POST', '/auth/login', {
      json: { username: 'ada', password: 'demo', cookie: true },
    });
    const cookie = refreshCookieOf(login)!;
    const attempts = [
      ['/auth/refresh', { cookie }],
      ['/auth/refresh', { ...CSRF, cookie, origin: 'http://attacker.example' }],
      ['/auth/logout', { cookie }],
      ['/auth/logout', { ...CSRF, cookie, origin: 'http://attacker.example' }],
    ] as const;
    for (const [path, headers] of attempts) {
      const answer = await call(server!, 'POST', path, { json: {}, headers });
      expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
      expect(answer.body).toEqual({ error: 'csrf' });
    }
    expect(server!.counts.csrfRejected).toBe(4);
    // Neither rotated nor revoked: the page's own refresh (its Origin is the server's) still works.
    const own = await call(server!, 'POST', '/auth/refresh', {
      json: {},
      headers: { ...CSRF, cookie, origin: server!.url },
    });
    expect(own.status).toBe(200);
    expect(server!.counts.reuseDetected).toBe(0);
  });
});

describe('bad requests get a 4xx JSON answer, and the server keeps serving', () => {
  const expectStillServing = async (server: AuthServer) => {
    expect((await call(server, 'GET', '/api/stats')).status).toBe(200);
  };

  it('bad JSON, a body that is not an object, and an unsupported content type: 400', async () => {
    const [server] = await memoryVariant.start();
    const cases = [
      { body: '{"username": ', headers: { 'content-type': 'application/json' } },
      { body: '["ada", "demo"]', headers: { 'content-type': 'application/json' } },
      { body: 'null', headers: { 'content-type': 'application/json' } },
      { body: '{"username":"ada","password":"demo"}', headers: { 'content-type': 'text/plain' } },
    ];
    for (const options of cases) {
      const answer = await call(server!, 'POST', '/auth/login', options);
      expect(answer.status, options.body).toBe(400);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.body).toMatchObject({ error: 'invalid_request', error_description: expect.any(String) });
    }
    expect((await call(server!, 'POST', '/auth/refresh', { json: { refresh_token: 42 } })).status).toBe(400);
    expect((await call(server!, 'POST', '/demo/break-refresh', { json: { seconds: 'soon' } })).status).toBe(400);
    await expectStillServing(server!);
  });

  it('a wrong method on a known path: 405 with Allow; an unknown path: 404', async () => {
    const [server] = await memoryVariant.start();
    const wrong = await call(server!, 'GET', '/auth/login');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect(wrong.body).toMatchObject({ error: 'method_not_allowed' });
    expect((await call(server!, 'DELETE', '/api/me')).headers.get('allow')).toBe('GET');
    const unknown = await call(server!, 'POST', '/auth/nothing', { json: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: 'not_found' });
    expect((await call(server!, 'GET', '/stats')).status).toBe(404);
    await expectStillServing(server!);
  });

  it('a body over 16 KB: 413, by its Content-Length or as it streams in', async () => {
    const [server] = await memoryVariant.start();
    const big = JSON.stringify({ username: 'a'.repeat(20_000), password: 'demo' });
    const declared = await call(server!, 'POST', '/auth/login', {
      body: big,
      headers: { 'content-type': 'application/json' },
    });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ error: 'payload_too_large' });

    // Chunked, without a Content-Length: refused once the 16 KB are passed.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(`${server!.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      });
      request.on('response', (response) => {
        let body = '';
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on('error', reject);
      for (let index = 0; index < 5; index += 1) request.write('x'.repeat(5_000));
      request.end();
    });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: 'payload_too_large' });
    await expectStillServing(server!);
  });

  it('a failing store: 500 server_error without details, logged; the next request is served', async () => {
    const failing = { getUserVersion: () => Promise.reject(new Error('store down')) } as unknown as AuthStore;
    const store = createMemoryStore();
    const lines: string[] = [];
    const [server] = await memoryVariant.start({
      store: { ...store, ...failing },
      log: (line) => lines.push(line),
    });
    const { access } = await login(server!);
    const answer = await me(server!, access);
    expect(answer.status).toBe(500);
    expect(answer.body).toEqual({ error: 'server_error' });
    expect(lines.join('\n')).toContain('store down');
    expect(lines.join('\n')).not.toContain(access);
    await expectStillServing(server!);
  });

  it('refuses options out of range, naming the option', async () => {
    await expect(startAuthServer({ accessTokenSeconds: 0 })).rejects.toThrow(/accessTokenSeconds must be/);
    await expect(startAuthServer({ refreshGraceSeconds: -1 })).rejects.toThrow(/refreshGraceSeconds must be/);
    await expect(startAuthServer({ secret: 'short' })).rejects.toThrow(/secret must be at least 32 bytes/);
  });
});

describe('GET /api/stats and the static files', () => {
  it('answers every counter, the broken-until time and the token lifetime', async () => {
    const [server] = await memoryVariant.start({ accessTokenSeconds: 7 });
    const { body } = await call(server!, 'GET', '/api/stats');
    expect(Object.keys(body).sort()).toEqual(
      [
        'logins',
        'refreshes',
        'refreshRejected',
        'reuseDetected',
        'logouts',
        'logoutsEverywhere',
        'apiCalls',
        'apiUnauthorized',
        'apiWithoutToken',
        'cookieRefreshes',
        'csrfRejected',
        'refreshAbandoned',
        'refreshFailures',
        'deniedTokens',
        'refreshBrokenUntil',
        'tokenTtl',
      ].sort(),
    );
    expect(body).toMatchObject({ refreshBrokenUntil: null, tokenTtl: 7, logins: 0 });
  });

  it('serves a folder at / and refuses paths out of it; without a page, / says how to build it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-static-'));
    await writeFile(join(dir, 'index.html'), '<p>the page</p>');
    await writeFile(join(dir, 'app.js'), 'export {};');
    const [withPage] = await memoryVariant.start({ staticDir: dir });
    const page = await fetch(`${withPage!.url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toBe('<p>the page</p>');
    expect((await fetch(`${withPage!.url}/app.js`)).headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${withPage!.url}/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404);
    expect((await fetch(`${withPage!.url}/..%2f..%2fetc/passwd`)).status).toBe(404);

    const [withoutPage] = await memoryVariant.start();
    const home = await fetch(`${withoutPage!.url}/`);
    expect(home.status).toBe(200);
    expect(await home.text()).toContain('npm run demo');
  });
});
