// Attacks on the reference backend (demo/server/), over real HTTP on 127.0.0.1, as someone who wants to keep a
// session after logout, replay a stolen refresh token unnoticed, race refreshes into two valid successors, get a
// denied or outdated token past /api/me, forge cookie requests, crash the server or read its logs. Where the store
// matters, each attack runs on the in-memory store and on a real redis-server (two app instances sharing it).
//
// The tests named for a behaviour the server now holds were first written failing, against the defect they name;
// the others are attacks that found nothing.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuthServer,
  type AuthServerOptions,
  type AuthStore,
  loadApp,
  loadRedisStore,
  loadStore,
} from '../support/demo-server';
import { type Answer, bearer, call, login, me, refresh, setCookieOf, type Tokens } from '../support/demo-client';
import { setupRedisServer } from '../support/redis';

const { startAuthServer, REFRESH_COOKIE } = await loadApp();
const { createRedisStore } = await loadRedisStore();
const { hashToken } = await loadStore();
const redis = setupRedisServer('test/server/attack.test.ts');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const CSRF = { 'x-requested-with': 'tokenkeeper' };

/**
 * Bytes written as they are on a raw TCP connection; answers what came back (the status line first) once the
 * server closes the connection or `waitMs` passed. `hangUp` closes the connection right after writing.
 */
function raw(server: AuthServer, bytes: string | Buffer, { waitMs = 500, hangUp = false } = {}): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(server.port, '127.0.0.1', () => {
      socket.write(bytes);
      if (hangUp) socket.destroy();
    });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(received);
    };
    const timer = setTimeout(done, waitMs);
    socket.on('data', (chunk) => {
      received += chunk.toString();
    });
    socket.on('close', done);
    socket.on('error', done);
  });
}

const tokensOf = (answer: Answer): Tokens => ({
  access: String(answer.body.access_token),
  refresh: String(answer.body.refresh_token),
});

/** The `name=value` of the refresh cookie a response sets, or `undefined`. */
const refreshCookieOf = (answer: Answer) => setCookieOf(answer, REFRESH_COOKIE);

const total = (servers: AuthServer[], name: string) => servers.reduce((sum, server) => sum + server.counts[name]!, 0);

/** Servers started by a test; closed after it. */
const started: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((entry) => entry.close()));
});

/** A clock the tests move by hand: real time plus an offset. */
function createClock(offsetMs = 0) {
  let offset = offsetMs;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

interface Variant {
  name: string;
  /** `count` servers on one store (memory: one server; it cannot be shared between processes). */
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

/**
 * Servers on one Redis, one store connection each (as separate processes would have); `perServer[i]` is merged
 * into the options of server i (its own clock, say). Answers the servers and the key prefix they share.
 */
async function startOnRedis(
  url: string,
  options: AuthServerOptions = {},
  perServer: AuthServerOptions[] = [{}],
): Promise<{ servers: AuthServer[]; prefix: string }> {
  const prefix = `attack:${randomUUID()}:`;
  const secret = options.secret ?? randomBytes(32);
  const servers = [];
  for (const own of perServer) {
    const merged = { ...options, ...own, secret };
    const store: AuthStore = await createRedisStore({ url, prefix, ...(merged.now && { now: merged.now }) });
    const app = await startAuthServer({ ...merged, store });
    started.push({ close: () => app.close().then(() => store.close()) });
    servers.push(app);
  }
  return { servers, prefix };
}

function redisVariant(server: { readonly url: string }): Variant {
  return {
    name: 'redis',
    async start(options = {}, count = 1) {
      return (
        await startOnRedis(
          server.url,
          options,
          Array.from({ length: count }, () => ({})),
        )
      ).servers;
    },
  };
}

const variants: Variant[] = [memoryVariant, ...(redis ? [redisVariant(redis)] : [])];

describe.each(variants)('with the $name store', (variant) => {
  describe('a stolen refresh token and the grace period', () => {
    it('a thief who replays a rotated token inside the grace period is found out at the user’s next refresh, and loses the session', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const user = await login(server!);
      const rotated = await refresh(server!, user.refresh);
      expect(rotated.status).toBe(200);
      // The thief copied the token the user just rotated, and replays it while the user's successor is unused.
      const thief = await refresh(server!, user.refresh);
      expect(thief.status).toBe(200);

      // The user's client refreshes as usual: its successor was replaced, so two parties hold the family.
      const userNext = await refresh(server!, tokensOf(rotated).refresh);
      expect(userNext.status).toBe(401);
      expect(userNext.body).toMatchObject({ error: 'invalid_grant' });
      expect(server!.counts.reuseDetected).toBe(1);
      // The thief's refresh token dies with the family.
      expect((await refresh(server!, tokensOf(thief).refresh)).status).toBe(401);
    });

    it('a thief who uses a stolen current token first is found out when the user’s client retries it, and both must sign in', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const user = await login(server!);
      const thief = await refresh(server!, user.refresh);
      // The user's client still holds the token: inside the grace period it is taken for a lost answer.
      const userRetry = await refresh(server!, user.refresh);
      expect(userRetry.status).toBe(200);
      // The thief's successor was replaced: using it is reuse, and the whole family is revoked.
      expect((await refresh(server!, tokensOf(thief).refresh)).status).toBe(401);
      expect(server!.counts.reuseDetected).toBe(1);
      expect((await refresh(server!, tokensOf(userRetry).refresh)).status).toBe(401);
    });

    it('a logout with the successor that a grace replay replaced still ends the session, the thief’s included', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const user = await login(server!);
      const rotated = tokensOf(await refresh(server!, user.refresh));
      const thief = tokensOf(await refresh(server!, user.refresh));
      // The user signs out with the refresh token their client holds.
      const logout = await call(server!, 'POST', '/auth/logout', {
        json: { refresh_token: rotated.refresh },
        headers: bearer(rotated.access),
      });
      expect(logout.status).toBe(200);
      expect((await refresh(server!, thief.refresh)).status).toBe(401);
    });

    it('grace replays never fork a family: the last successor refreshes, and an earlier one is reuse', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const { refresh: original } = await login(server!);
      const successors = [];
      for (let index = 0; index < 5; index += 1) {
        const answer = await refresh(server!, original);
        expect(answer.status).toBe(200);
        successors.push(tokensOf(answer).refresh);
      }
      const last = await refresh(server!, successors[4]!);
      expect(last.status).toBe(200);
      expect((await refresh(server!, successors[0]!)).status).toBe(401);
      expect(server!.counts.reuseDetected).toBe(1);
      expect((await refresh(server!, tokensOf(last).refresh)).status).toBe(401);
    });

    it('replays cannot stretch the grace period: it runs from the first rotation', async () => {
      const clock = createClock();
      const [server] = await variant.start({ refreshGraceSeconds: 2, now: clock.now });
      const { refresh: original } = await login(server!);
      await refresh(server!, original);
      clock.advance(1_500);
      expect((await refresh(server!, original)).status).toBe(200);
      clock.advance(1_000);
      expect((await refresh(server!, original)).status).toBe(401);
      expect(server!.counts.reuseDetected).toBe(1);
    });

    it('a fractional grace works, and a grace of 0 makes the first replay reuse', async () => {
      const clock = createClock();
      const [half] = await variant.start({ refreshGraceSeconds: 0.5, now: clock.now });
      const first = await login(half!);
      await refresh(half!, first.refresh);
      clock.advance(400);
      expect((await refresh(half!, first.refresh)).status).toBe(200);
      clock.advance(200);
      expect((await refresh(half!, first.refresh)).status).toBe(401);

      const [none] = await variant.start({ refreshGraceSeconds: 0 });
      const second = await login(none!);
      await refresh(none!, second.refresh);
      expect((await refresh(none!, second.refresh)).status).toBe(401);
      expect(none!.counts.reuseDetected).toBe(1);
    });
  });

  describe('racing refreshes', () => {
    it('20 concurrent refreshes with one token and no grace (two servers on a shared store): none leaves a usable successor', async () => {
      const servers = await variant.start({ refreshGraceSeconds: 0 }, 2);
      const { refresh: token } = await login(servers[0]!);
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, index) => refresh(servers[index % servers.length]!, token)),
      );
      const winners = answers.filter((answer) => answer.status === 200);
      expect(winners).toHaveLength(1);
      // The first loser was reuse: the family is revoked, the winner's successor too.
      expect(total(servers, 'reuseDetected')).toBe(1);
      expect((await refresh(servers[0]!, tokensOf(winners[0]!).refresh)).status).toBe(401);
    });

    it('10 concurrent replays inside the grace period (two servers on a shared store): at most one successor refreshes', async () => {
      const servers = await variant.start({ refreshGraceSeconds: 10 }, 2);
      const { refresh: token } = await login(servers[0]!);
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, index) => refresh(servers[index % servers.length]!, token)),
      );
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
      const later = [];
      for (const answer of answers) later.push((await refresh(servers[0]!, tokensOf(answer).refresh)).status);
      expect(later.filter((status) => status === 200).length).toBeLessThanOrEqual(1);
      expect(later.filter((status) => status === 401).length).toBeGreaterThanOrEqual(9);
    });

    it('refreshes racing a logout: afterwards no refresh token of the family works', async () => {
      const servers = await variant.start({ refreshGraceSeconds: 10 }, 2);
      const user = await login(servers[0]!);
      const results = await Promise.all([
        ...Array.from({ length: 6 }, (_, index) => refresh(servers[index % servers.length]!, user.refresh)),
        call(servers[1 % servers.length]!, 'POST', '/auth/logout', {
          json: { refresh_token: user.refresh },
          headers: bearer(user.access),
        }),
      ]);
      for (const answer of results.slice(0, 6).filter((result) => result.status === 200))
        expect((await refresh(servers[0]!, tokensOf(answer).refresh)).status).toBe(401);
      expect((await me(servers[0]!, user.access)).body.reason).toBe('denied');
    });

    it('logins and refreshes racing a logout everywhere: every token issued under the old version is refused', async () => {
      const servers = await variant.start({}, 2);
      const sessions = await Promise.all(
        Array.from({ length: 4 }, (_, index) => login(servers[index % servers.length]!)),
      );
      const [, ...raced] = await Promise.all([
        call(servers[0]!, 'POST', '/auth/logout-everywhere', { headers: bearer(sessions[0]!.access) }),
        ...sessions.slice(1).map((session, index) => refresh(servers[index % servers.length]!, session.refresh)),
        ...Array.from({ length: 4 }, (_, index) =>
          call(servers[index % servers.length]!, 'POST', '/auth/login', {
            json: { username: 'ada', password: 'demo' },
          }),
        ),
      ]);
      const version = await servers[0]!.store.getUserVersion('ada');
      expect(version).toBe(1);
      for (const answer of raced.filter((result) => result.status === 200)) {
        const { access, refresh: refreshToken } = tokensOf(answer);
        const claims = (await me(servers[0]!, access)).body.claims as { ver: number } | undefined;
        // A token is accepted only if it carries the new version; then its refresh token works too.
        if (claims === undefined) {
          expect((await me(servers[0]!, access)).body.reason).toBe('outdated');
          expect((await refresh(servers[0]!, refreshToken)).status).toBe(401);
        } else {
          expect(claims.ver).toBe(1);
        }
      }
    });
  });

  describe('keeping a session after logout', () => {
    it('after a logout, neither the access token (any spelling of Bearer) nor any refresh token of the family works', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const first = await login(server!);
      const second = tokensOf(await refresh(server!, first.refresh));
      await call(server!, 'POST', '/auth/logout', {
        json: { refresh_token: second.refresh },
        headers: bearer(second.access),
      });
      for (const authorization of [`Bearer ${second.access}`, `bearer ${second.access}`, `BEARER   ${second.access} `])
        expect((await call(server!, 'GET', '/api/me', { headers: { authorization } })).status).toBe(401);
      // The last character of the signature carries 2 unused bits: a copy that differs there may decode to the same
      // signature, but it names the same jti, and the deny-list is by jti.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(second.access.at(-1)!);
      for (const bits of [1, 2, 3]) {
        const twin = `${second.access.slice(0, -1)}${alphabet[last ^ bits]}`;
        expect((await me(server!, twin)).status).toBe(401);
      }
      // Inside the grace period, the rotated token cannot bring the family back either.
      expect((await refresh(server!, first.refresh)).status).toBe(401);
      expect((await refresh(server!, second.refresh)).status).toBe(401);
      expect((await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(second.access) })).status).toBe(
        401,
      );
    });

    it('after a logout everywhere, no earlier token, family or grace replay works, and a denied token cannot bump again', async () => {
      const [server] = await variant.start({ refreshGraceSeconds: 10 });
      const phone = await login(server!);
      const laptop = await login(server!);
      const rotated = tokensOf(await refresh(server!, laptop.refresh));
      await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(phone.access) });
      expect((await refresh(server!, laptop.refresh)).status).toBe(401);
      expect((await refresh(server!, rotated.refresh)).status).toBe(401);
      expect((await refresh(server!, phone.refresh)).status).toBe(401);
      expect((await me(server!, rotated.access)).body.reason).toBe('outdated');
      expect((await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(phone.access) })).status).toBe(
        401,
      );
    });
  });
});

describe.each(variants)('users named like keys or prototype properties, with the $name store', (variant) => {
  it('are separate users: a logout everywhere of one outdates no other', async () => {
    const [server] = await variant.start();
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ada', 'ada:', ':ada', 'ada ', 'ADA'];
    const sessions = [];
    for (const name of names) sessions.push(await login(server!, name));
    await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(sessions[0]!.access) });
    await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(sessions[4]!.access) });
    for (const [index, name] of names.entries()) {
      const answer = await me(server!, sessions[index]!.access);
      if (index === 0 || index === 4) expect(answer.body.reason, name).toBe('outdated');
      else expect(answer.body, name).toMatchObject({ user: name, claims: { ver: 0 } });
    }
    expect(await server!.store.getUserVersion('__proto__')).toBe(1);
    expect((await refresh(server!, sessions[1]!.refresh)).status).toBe(200);
  });
});

describe.runIf(redis !== null)('the deny-list on Redis and clocks that disagree', () => {
  it('a logout denies the token even when the server’s clock runs behind Redis’s', async () => {
    // The app's clock is 5 s behind Redis's: a deny-list key that expires exactly at the token's exp, on Redis's
    // clock, would be gone before the app stops accepting the token.
    const behind = createClock(-5_000);
    const { servers } = await startOnRedis(redis!.url, { accessTokenSeconds: 2, now: behind.now });
    const [server] = servers;
    const tokens = await login(server!);
    await call(server!, 'POST', '/auth/logout', {
      json: { refresh_token: tokens.refresh },
      headers: bearer(tokens.access),
    });
    expect((await me(server!, tokens.access)).body.reason).toBe('denied');
  });

  it('a token logged out on one instance stays denied on another whose clock runs 1.5 s behind', async () => {
    const behind = createClock(-1_500);
    const { servers } = await startOnRedis(redis!.url, { accessTokenSeconds: 1 }, [{}, { now: behind.now }]);
    const [a, b] = servers;
    const tokens = await login(a!);
    await call(a!, 'POST', '/auth/logout', { json: { refresh_token: tokens.refresh }, headers: bearer(tokens.access) });
    expect((await me(b!, tokens.access)).body.reason).toBe('denied');
    // Past the token's exp on A's (and Redis's) clock, not yet on B's.
    const expMs = JSON.parse(Buffer.from(tokens.access.split('.')[1]!, 'base64url').toString()).exp * 1000;
    await sleep(Math.max(0, expMs - Date.now()) + 100);
    expect(behind.now()).toBeLessThan(expMs);
    expect((await me(b!, tokens.access)).body.reason).toBe('denied');
  });

  it('the deny-list key expires: not before the token, and within a few minutes after it', async () => {
    const { servers, prefix } = await startOnRedis(redis!.url, { accessTokenSeconds: 20 });
    const tokens = await login(servers[0]!);
    await call(servers[0]!, 'POST', '/auth/logout', { json: {}, headers: bearer(tokens.access) });
    const jti = JSON.parse(Buffer.from(tokens.access.split('.')[1]!, 'base64url').toString()).jti;
    const client = createClient({ url: redis!.url });
    await client.connect();
    try {
      const ttl = await client.pTTL(`${prefix}deny:${jti}`);
      expect(ttl).toBeGreaterThan(19_000);
      expect(ttl).toBeLessThanOrEqual(20_000 + 5 * 60_000);
    } finally {
      await client.close();
    }
  });
});

describe.runIf(redis !== null)('Redis keys built from user input', () => {
  it('usernames with :, {}, *, newlines or another key’s shape reach only their own version key', async () => {
    const { servers, prefix } = await startOnRedis(redis!.url);
    const [server] = servers;
    const names = ['a', 'a:b', 'a:', '{a}', 'a*', 'version:a', 'family:a', 'deny:a', 'a\r\nFLUSHALL', 'ä', 'a\u0000b'];
    const sessions = new Map<string, Tokens>();
    for (const name of names) sessions.set(name, await login(server!, name));
    // Log out everywhere every other name; each of the rest must be untouched.
    for (const [index, name] of names.entries())
      if (index % 2 === 0)
        await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(sessions.get(name)!.access) });
    for (const [index, name] of names.entries()) {
      const answer = await me(server!, sessions.get(name)!.access);
      if (index % 2 === 0) expect(answer.body.reason, JSON.stringify(name)).toBe('outdated');
      else expect(answer.body, JSON.stringify(name)).toMatchObject({ user: name });
    }
    const client = createClient({ url: redis!.url });
    await client.connect();
    try {
      const versionKeys: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${prefix}version:*` })) versionKeys.push(...batch);
      expect(versionKeys.sort()).toEqual(
        names
          .filter((_, index) => index % 2 === 0)
          .map((name) => `${prefix}version:${name}`)
          .sort(),
      );
    } finally {
      await client.close();
    }
  });

  it('refresh tokens that look like key patterns or Redis commands are unknown, and write nothing', async () => {
    const { servers, prefix } = await startOnRedis(redis!.url);
    const [server] = servers;
    const client = createClient({ url: redis!.url });
    await client.connect();
    try {
      const keys = async () => {
        const found: string[] = [];
        for await (const batch of client.scanIterator({ MATCH: `${prefix}*` })) found.push(...batch);
        return found.sort();
      };
      const { refresh: good } = await login(server!);
      const before = await keys();
      for (const token of ['*', `${prefix}*`, 'rt_x\r\nFLUSHALL\r\n', `family:${randomUUID()}`, hashToken(good)]) {
        const answer = await refresh(server!, token);
        expect(answer.status, token).toBe(401);
        expect(answer.body).toMatchObject({ error: 'invalid_grant' });
        expect((await call(server!, 'POST', '/auth/logout', { json: { refresh_token: token } })).status).toBe(200);
      }
      expect(await keys()).toEqual(before);
      // The store keeps only the hash: the hash itself is not a refresh token.
      expect((await refresh(server!, good)).status).toBe(200);
    } finally {
      await client.close();
    }
  });
});

describe('forged access tokens', () => {
  const secret = randomBytes(32);
  const issuer = 'tokenkeeper-demo';
  const audience = 'tokenkeeper-demo-api';
  const now = () => Math.floor(Date.now() / 1000);
  const claims = () => ({
    sub: 'ada',
    jti: randomUUID(),
    ver: 0,
    iss: issuer,
    aud: audience,
    iat: now(),
    exp: now() + 60,
  });
  const sign = (payload: Record<string, unknown>, alg = 'HS256', key: Uint8Array = secret) =>
    new SignJWT(payload).setProtectedHeader({ alg }).sign(key);
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  it('refuses alg none, other algorithms (with the server’s own secret), other keys, and token shapes: malformed', async () => {
    const [server] = await memoryVariant.start({ secret });
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    void publicKey;
    const rs256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    const es = await generateKeyPair('ES256');
    const es256 = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256' }).sign(es.privateKey);
    const good = await sign(claims());
    const [header, payload, signature] = good.split('.');
    const forged = [
      `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims())}.`,
      `${encode({ alg: 'none' })}.${encode(claims())}.${signature}`,
      `${encode({ alg: 'NONE' })}.${encode(claims())}.`,
      await sign(claims(), 'HS384'),
      await sign(claims(), 'HS512'),
      await sign(claims(), 'HS256', randomBytes(32)),
      await sign(claims(), 'HS256', new Uint8Array(32)),
      rs256,
      es256,
      // The signature of one token on the claims of another.
      `${header}.${encode({ ...claims(), sub: 'bob' })}.${signature}`,
      `${encode({ alg: 'HS256', crit: ['b64'], b64: false })}.${payload}.${signature}`,
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.x.y`,
      `${header}..${signature}`,
      '..',
      'e30.e30.e30',
    ];
    for (const token of forged) {
      const answer = await me(server!, token);
      expect(answer.status, token).toBe(401);
      expect(answer.body.reason, token).toBe('malformed');
    }
    expect((await me(server!, good)).status).toBe(200);
  });

  it('refuses tokens signed with the server’s secret but missing a claim, or for another issuer or audience', async () => {
    const [server] = await memoryVariant.start({ secret });
    const without = (name: string) => {
      const payload: Record<string, unknown> = claims();
      delete payload[name];
      return payload;
    };
    for (const payload of [
      without('sub'),
      without('jti'),
      without('ver'),
      without('exp'),
      without('iat'),
      without('iss'),
      without('aud'),
      { ...claims(), iss: 'someone-else' },
      { ...claims(), aud: 'another-api' },
      { ...claims(), ver: '0' },
      { ...claims(), exp: now() - 1 },
    ]) {
      const answer = await me(server!, await sign(payload));
      expect(answer.status, JSON.stringify(payload)).toBe(401);
      expect(['malformed', 'expired']).toContain(answer.body.reason);
    }
  });

  it('refuses tokens signed with the server’s secret whose sub or jti is not a string: malformed', async () => {
    // Only a holder of the secret can mint these; but a jti that is not a string can never be found on the
    // deny-list, and a sub that is not a string has no token version, so the verifier refuses their shape.
    const [server] = await memoryVariant.start({ secret });
    for (const payload of [
      { ...claims(), sub: 42 },
      { ...claims(), sub: ['ada'] },
      { ...claims(), jti: 7 },
      { ...claims(), jti: { id: 'x' } },
    ]) {
      const answer = await me(server!, await sign(payload));
      expect(answer.status, JSON.stringify(payload)).toBe(401);
      expect(answer.body.reason).toBe('malformed');
    }
  });

  it('refuses a refresh token where an access token belongs, and an access token where a refresh token belongs', async () => {
    const [server] = await memoryVariant.start({ secret });
    const tokens = await login(server!);
    expect((await me(server!, tokens.refresh)).body.reason).toBe('malformed');
    expect((await refresh(server!, tokens.access)).status).toBe(401);
    expect((await refresh(server!, tokens.refresh)).status).toBe(200);
  });
});

describe('the cookie mode and CSRF', () => {
  async function cookieLogin(server: AuthServer) {
    const answer = await call(server, 'POST', '/auth/login', {
      json: { username: 'ada', password: 'demo', cookie: true },
    });
    expect(answer.status).toBe(200);
    return { cookie: refreshCookieOf(answer)!, access: String(answer.body.access_token), answer };
  }

  it('refuses a cookie refresh from a null, foreign, other-port or differently spelled Origin, or with a wrong header', async () => {
    const [server] = await memoryVariant.start();
    const { cookie } = await cookieLogin(server!);
    const port = server!.port;
    const refused = [
      { ...CSRF, origin: 'null' },
      { ...CSRF, origin: 'http://attacker.example' },
      { ...CSRF, origin: `http://127.0.0.1:${port + 1}` },
      { ...CSRF, origin: `http://localhost:${port === 65_535 ? 1 : port + 1}` },
      { ...CSRF, origin: `https://127.0.0.1:${port}` },
      { ...CSRF, origin: `http://127.0.0.1:${port}/` },
      { ...CSRF, origin: `HTTP://127.0.0.1:${port}` },
      { ...CSRF, origin: `http://127.0.0.1.attacker.example:${port}` },
      { 'x-requested-with': 'TokenKeeper' },
      { 'x-requested-with': 'XMLHttpRequest' },
      { 'x-requested-with': '' },
    ];
    for (const headers of refused) {
      for (const path of ['/auth/refresh', '/auth/logout']) {
        const answer = await call(server!, 'POST', path, { json: {}, headers: { ...headers, cookie } });
        expect(answer.status, `${path} ${JSON.stringify(headers)}`).toBe(403);
      }
    }
    // The header sent twice arrives joined ("tokenkeeper, tokenkeeper"): refused too.
    const twice = await raw(
      server!,
      `POST /auth/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Requested-With: tokenkeeper\r\nX-Requested-With: tokenkeeper\r\nCookie: ${cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
    );
    expect(twice).toMatch(/^HTTP\/1\.1 403/);
    expect(server!.counts.reuseDetected).toBe(0);
    // Nothing rotated or revoked: the page's own requests work, with or without an Origin, from either host name.
    let current = cookie;
    for (const origin of [undefined, server!.url, `http://localhost:${port}`]) {
      const answer = await call(server!, 'POST', '/auth/refresh', {
        json: {},
        headers: { ...CSRF, cookie: current, ...(origin && { origin }) },
      });
      expect(answer.status, String(origin)).toBe(200);
      current = refreshCookieOf(answer)!;
    }
  });

  it('grants no CORS preflight, so another site cannot send the CSRF header', async () => {
    const [server] = await memoryVariant.start();
    for (const path of ['/auth/refresh', '/auth/logout', '/auth/login', '/api/me', '/demo/break-refresh']) {
      const answer = await call(server!, 'OPTIONS', path, {
        headers: {
          origin: 'http://attacker.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'x-requested-with',
        },
      });
      expect(answer.status, path).toBeGreaterThanOrEqual(400);
      for (const [name] of answer.headers) expect(name, path).not.toMatch(/^access-control-/);
    }
  });

  it('a cross-site form posted to /auth/logout with the victim’s cookie cannot end the victim’s session', async () => {
    const [server] = await memoryVariant.start();
    const victim = await cookieLogin(server!);
    const forms: { body: string; type: string }[] = [
      { body: '', type: 'application/x-www-form-urlencoded' },
      { body: 'refresh_token=', type: 'application/x-www-form-urlencoded' },
      { body: 'token=a.b.c&token_type_hint=access_token', type: 'application/x-www-form-urlencoded' },
      { body: `token=${victim.access}`, type: 'application/x-www-form-urlencoded' },
      { body: 'refresh_token=rt_attacker', type: 'application/x-www-form-urlencoded' },
      { body: '{}', type: 'text/plain' },
      { body: '', type: 'multipart/form-data; boundary=x' },
    ];
    for (const { body, type } of forms) {
      await call(server!, 'POST', '/auth/logout', {
        body,
        headers: { 'content-type': type, cookie: victim.cookie, origin: 'http://attacker.example' },
      });
      // The same without an Origin (an old browser): still no custom header, so still refused.
      await call(server!, 'POST', '/auth/logout', { body, headers: { 'content-type': type, cookie: victim.cookie } });
    }
    const still = await call(server!, 'POST', '/auth/refresh', {
      json: {},
      headers: { ...CSRF, cookie: victim.cookie },
    });
    expect(still.status).toBe(200);
    expect(server!.counts.reuseDetected).toBe(0);
  });

  it('sets the cookie HttpOnly, SameSite=Strict, on /auth only, clears it with the same attributes, and a form login sets none', async () => {
    const [server] = await memoryVariant.start({ refreshTokenSeconds: 3600 });
    const { answer, cookie } = await cookieLogin(server!);
    const [setCookie] = answer.headers.getSetCookie();
    expect(setCookie).toMatch(/; HttpOnly(;|$)/);
    expect(setCookie).toMatch(/; SameSite=Strict(;|$)/);
    expect(setCookie).toMatch(/; Path=\/auth(;|$)/);
    expect(setCookie).not.toMatch(/Domain=/i);
    const out = await call(server!, 'POST', '/auth/logout', { json: {}, headers: { ...CSRF, cookie } });
    expect(out.headers.getSetCookie()[0]).toBe(`${REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/auth; Max-Age=0`);
    // A cross-site page can post a form, but a form's `cookie=true` is a string: no cookie is planted.
    const form = await call(server!, 'POST', '/auth/login', {
      form: { username: 'mallory', password: 'demo', cookie: 'true' },
    });
    expect(form.status).toBe(200);
    expect(form.headers.getSetCookie()).toEqual([]);
  });

  it('refuses /demo/break-refresh from another origin, so another site cannot break the refresh endpoint', async () => {
    const [server] = await memoryVariant.start();
    for (const origin of ['http://attacker.example', 'null', `http://127.0.0.1:${server!.port + 1}`]) {
      // A form post needs no preflight, and an empty form is `{}`: the default 15 s.
      const answer = await call(server!, 'POST', '/demo/break-refresh', {
        body: '',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin },
      });
      expect(answer.status, origin).toBe(403);
    }
    expect((await call(server!, 'GET', '/api/stats')).body.refreshBrokenUntil).toBeNull();
    // The page itself (its own Origin) and tools without an Origin still can.
    const own = await call(server!, 'POST', '/demo/break-refresh', {
      json: { seconds: 0 },
      headers: { origin: server!.url },
    });
    expect(own.status).toBe(200);
    expect((await call(server!, 'POST', '/demo/break-refresh', { json: { seconds: 0 } })).status).toBe(200);
  });
});

describe('crashing, hanging or confusing the server', () => {
  const startLogged = async (options: AuthServerOptions = {}) => {
    const lines: string[] = [];
    const [server] = await memoryVariant.start({ ...options, log: (line) => lines.push(line) });
    return { server: server!, lines };
  };
  const expectStillServing = async (server: AuthServer) => {
    expect((await call(server, 'GET', '/api/stats')).status).toBe(200);
    expect((await login(server)).access).toMatch(/^eyJ/);
  };

  it('answers an unparsable request target with 400 JSON, and does not log it as a server error', async () => {
    const { server, lines } = await startLogged();
    for (const target of ['http://[::1/api/me', 'http://a:b@/x', 'http://x:99999/', 'http://%zz/', 'http://a b/']) {
      const answer = await raw(server, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer, target).toMatch(/^HTTP\/1\.1 400 /);
      if (answer.includes('{')) expect(answer.slice(answer.indexOf('{'))).toContain('"error":"invalid_request"');
    }
    expect(lines).toEqual([]);
    await expectStillServing(server);
  });

  it('does not log a client that goes away in the middle of its body as a server error', async () => {
    const { server, lines } = await startLogged();
    for (const path of ['/auth/login', '/auth/refresh', '/auth/logout', '/demo/break-refresh']) {
      await raw(
        server,
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user`,
        { hangUp: true },
      );
    }
    await sleep(200);
    expect(lines).toEqual([]);
    await expectStillServing(server);
  });

  it('logs no token, nor the credentials of an absolute request target, when a request fails inside', async () => {
    const lines: string[] = [];
    const secret = randomBytes(32);
    const [healthy] = await memoryVariant.start({ secret });
    const tokens = await login(healthy!);
    // A store that fails every read: each request below fails inside the server.
    const failing = new Proxy({} as AuthStore, {
      get: (_, name) => (name === 'close' ? async () => {} : () => Promise.reject(new Error('store down'))),
    });
    const [server] = await memoryVariant.start({ secret, store: failing, log: (line) => lines.push(line) });
    await refresh(server!, tokens.refresh);
    await me(server!, tokens.access);
    await call(server!, 'POST', '/auth/logout', { json: { refresh_token: tokens.refresh } });
    await raw(
      server!,
      `GET http://user:hunter2@127.0.0.1/api/me?access_token=${tokens.access} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${tokens.access}\r\nConnection: close\r\n\r\n`,
    );
    expect(lines.length).toBeGreaterThanOrEqual(3);
    const logged = lines.join('\n');
    expect(logged).toContain('store down');
    for (const secret of [tokens.access, tokens.refresh, 'hunter2', tokens.access.split('.')[2]!])
      expect(logged).not.toContain(secret);
  });

  it('keeps tokens out of the logs and of every error answer over a whole session, reuse included', async () => {
    const lines: string[] = [];
    const [server] = await memoryVariant.start({ refreshGraceSeconds: 0, log: (line) => lines.push(line) });
    const seen: string[] = [];
    const errors: string[] = [];
    const track = (answer: Answer) => {
      if (answer.status === 200) {
        for (const name of ['access_token', 'refresh_token'])
          if (typeof answer.body[name] === 'string') seen.push(answer.body[name] as string);
      } else errors.push(answer.text);
      return answer;
    };
    const first = tokensOf(
      track(await call(server!, 'POST', '/auth/login', { json: { username: 'ada', password: 'demo' } })),
    );
    const second = tokensOf(track(await refresh(server!, first.refresh)));
    track(await refresh(server!, first.refresh));
    track(await refresh(server!, second.refresh));
    track(await me(server!, second.access));
    track(
      await call(server!, 'POST', '/auth/logout', {
        json: { refresh_token: second.refresh },
        headers: bearer(second.access),
      }),
    );
    track(await me(server!, second.access));
    const third = tokensOf(
      track(await call(server!, 'POST', '/auth/login', { json: { username: 'ada', password: 'demo' } })),
    );
    track(await call(server!, 'POST', '/auth/logout-everywhere', { headers: bearer(third.access) }));
    track(await me(server!, third.access));
    track(await call(server!, 'GET', `/nowhere/${third.refresh.slice(0, 3)}`));
    expect(lines.some((line) => line.includes('reuse'))).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(6);
    for (const token of seen) {
      for (const line of lines) expect(line).not.toContain(token);
      for (const text of errors) expect(text).not.toContain(token);
    }
  });

  it('survives malformed, hostile and oddly typed bodies with a 4xx, and pollutes no prototype', async () => {
    const { server, lines } = await startLogged();
    const json = { 'content-type': 'application/json' };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const cases: { path: string; body: string | Uint8Array<ArrayBuffer>; headers: Record<string, string> }[] = [
      { path: '/auth/login', body: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), headers: json },
      { path: '/auth/login', body: Uint8Array.from([0xc3, 0x28, 0xa0, 0xa1]), headers: json },
      { path: '/auth/login', body: `{"a":${'['.repeat(5_000)}${']'.repeat(5_000)}}`, headers: json },
      { path: '/auth/login', body: `${'['.repeat(16_000)}`, headers: json },
      { path: '/auth/login', body: '{"__proto__":{"username":"x","password":"demo"}}', headers: json },
      { path: '/auth/login', body: '{"constructor":{"prototype":{"password":"demo"}}}', headers: json },
      { path: '/auth/login', body: '__proto__[password]=demo&constructor[prototype][username]=x', headers: form },
      { path: '/auth/login', body: '{"username":["ada"],"password":"demo"}', headers: json },
      { path: '/auth/login', body: '{"username":"ada","password":{"toString":"demo"}}', headers: json },
      { path: '/auth/login', body: '{"username":"ada","password":"demo"}', headers: { 'content-type': 'text/plain' } },
      { path: '/auth/login', body: '{"username":"ada","password":"demo"}', headers: {} },
      {
        path: '/auth/login',
        body: '{"username":"ada","password":"demo"}',
        headers: { 'content-type': 'application/jsonx' },
      },
      { path: '/auth/login', body: '"a string"', headers: json },
      { path: '/auth/login', body: '1e999', headers: json },
      { path: '/auth/refresh', body: '{"refresh_token":{"$gt":""}}', headers: json },
      { path: '/auth/refresh', body: '{"refresh_token":"rt","grant_type":["refresh_token"]}', headers: json },
      { path: '/auth/refresh', body: '{"__proto__":{"refresh_token":"x"}}', headers: { ...json, ...CSRF } },
      { path: '/auth/logout', body: '{"refresh_token":{"length":1}}', headers: json },
      { path: '/demo/break-refresh', body: '{"seconds":1e308}', headers: json },
      { path: '/demo/break-refresh', body: '{"seconds":-0.0001}', headers: json },
      { path: '/demo/break-refresh', body: '{"__proto__":{"seconds":600},"seconds":0}', headers: json },
    ];
    for (const { path, body, headers } of cases) {
      const response = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
      expect(response.status, `${path} ${String(body).slice(0, 60)}`).toBeLessThan(500);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    }
    expect(({} as Record<string, unknown>).username).toBeUndefined();
    expect(({} as Record<string, unknown>).password).toBeUndefined();
    expect(({} as Record<string, unknown>).seconds).toBeUndefined();
    expect(server.counts.logins).toBe(0);
    expect((await call(server, 'GET', '/api/stats')).body.refreshBrokenUntil).toBeNull();
    expect(lines).toEqual([]);
    await expectStillServing(server);
  });

  it('refuses oversized headers (431) and bodies (413) and odd framing (400) without falling over', async () => {
    const { server, lines } = await startLogged();
    const big = await fetch(`${server.url}/api/me`, { headers: { 'x-big': 'a'.repeat(20_000) } });
    expect(big.status).toBe(431);
    const cookies = Array.from({ length: 1_500 }, (_, index) => `c${index}=v`).join('; ');
    expect(
      (await call(server, 'POST', '/auth/refresh', { json: {}, headers: { ...CSRF, cookie: cookies } })).status,
    ).toBe(401);
    const framings = [
      'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
      'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n',
      'GET /api/me\0 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /api/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\0b\r\n\r\n',
    ];
    for (const request of framings)
      expect(await raw(server, request), JSON.stringify(request)).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(lines).toEqual([]);
    await expectStillServing(server);
  });

  it('keeps serving while 50 connections drip their headers or bodies byte by byte', async () => {
    const { server } = await startLogged();
    const sockets = await Promise.all(
      Array.from(
        { length: 50 },
        (_, index) =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const socket = connect(server.port, '127.0.0.1', () => {
              socket.write(
                index % 2
                  ? 'POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{'
                  : 'GET /api/me HTTP/1.1\r\nHost: x\r\nX-Slow: ',
              );
              resolve(socket);
            });
            socket.on('error', () => {});
          }),
      ),
    );
    try {
      const startedAt = Date.now();
      await expectStillServing(server);
      expect(Date.now() - startedAt).toBeLessThan(2_000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('refuses wrong passwords whatever their shape, comparing every one in full', async () => {
    const [server] = await memoryVariant.start();
    for (const password of ['dem', 'demo ', ' demo', 'DEMO', 'demo\u0000', 'demó', 'demo'.repeat(4_000), 'd']) {
      const answer = await call(server!, 'POST', '/auth/login', { json: { username: 'ada', password } });
      expect(answer.status, JSON.stringify(password.slice(0, 10))).toBe(401);
    }
    expect(server!.counts.logins).toBe(0);
  });

  it('refuses nonsensical settings when started', async () => {
    for (const options of [
      { accessTokenSeconds: Number.NaN },
      { accessTokenSeconds: Number.POSITIVE_INFINITY },
      { accessTokenSeconds: 1.5 },
      { accessTokenSeconds: '20' as unknown as number },
      { refreshGraceSeconds: Number.NaN },
      { refreshGraceSeconds: Number.POSITIVE_INFINITY },
      { refreshTokenSeconds: 0 },
      { port: 70_000 },
    ])
      await expect(startAuthServer(options), JSON.stringify(options)).rejects.toThrow(TypeError);
  });
});

describe('the static files', () => {
  it('serves nothing outside its folder: encoded climbs, NUL bytes, backslashes, or symbolic links out of it', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'tokenkeeper-outside-'));
    await writeFile(join(outside, 'secret.txt'), 'TOP SECRET');
    const dir = await mkdtemp(join(tmpdir(), 'tokenkeeper-static-'));
    await writeFile(join(dir, 'index.html'), '<p>the page</p>');
    await symlink(join(outside, 'secret.txt'), join(dir, 'link.txt'));
    await symlink(outside, join(dir, 'linked'));
    const [server] = await memoryVariant.start({ staticDir: dir });
    const name = outside.split('/').pop()!;
    const attempts = [
      '/link.txt',
      '/linked/secret.txt',
      `/..%2f${name}/secret.txt`,
      `/%2e%2e/${name}/secret.txt`,
      `/%252e%252e/${name}/secret.txt`,
      `/..%5c${name}%5csecret.txt`,
      `/..\\${name}\\secret.txt`,
      '/index.html%00.txt',
      `/.%2e/${name}/secret.txt`,
    ];
    for (const path of attempts) {
      const response = await fetch(`${server!.url}${path}`);
      const text = await response.text();
      expect(text, path).not.toContain('TOP SECRET');
      expect(response.status, path).toBe(404);
    }
    expect(await (await fetch(`${server!.url}/index.html`)).text()).toBe('<p>the page</p>');
  });
});
