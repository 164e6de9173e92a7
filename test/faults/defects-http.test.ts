import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TokenManagerEvents, TokenResponse } from 'tokenkeeper';
import { noResume } from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defect 7 and item 15d: redirects, which must be real. Two node:http servers on 127.0.0.1 (port 0)
 * are two origins: `app`, the allowed one, and `elsewhere`, a redirect target that must never be called with a
 * refresh token. msw is not started in this file, so every request goes to the real servers, and time is real.
 */

interface Hit {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

type Reply = { status: number; headers?: Record<string, string>; body?: string };

interface TestServer {
  origin: string;
  hits: Hit[];
  /** How requests are answered; set by each test. */
  reply: (hit: Hit) => Reply;
}

const openServers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(openServers.splice(0).map((close) => close()));
});

async function startServer(): Promise<TestServer> {
  const test: TestServer = {
    origin: '',
    hits: [],
    reply: () => ({ status: 404 }),
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const hit: Hit = {
        method: request.method ?? '',
        path: request.url ?? '',
        authorization: request.headers.authorization,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      test.hits.push(hit);
      const { status, headers = {}, body = '' } = test.reply(hit);
      response.writeHead(status, headers);
      response.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  test.origin = `http://127.0.0.1:${port}`;
  openServers.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return test;
}

/** Two origins: the app's, and another one on a different port. */
async function startOrigins(): Promise<{ app: TestServer; elsewhere: TestServer }> {
  const [app, elsewhere] = await Promise.all([startServer(), startServer()]);
  // The redirect target would hand out tokens, and accept a logout, if anything reached it.
  elsewhere!.reply = (hit) =>
    hit.path.startsWith('/auth/')
      ? {
          status: 200,
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ access_token: jwtFor(LIFETIME_S, { sub: 'attacker' }), refresh_token: 'rt-evil' }),
        }
      : { status: 401 };
  return { app: app!, elsewhere: elsewhere! };
}

const createManager = trackManagers({
  refreshMargin: MARGIN_MS,
  channel: false,
  onResume: noResume,
});

/** Resolves with what `promise` rejected with; fails when it fulfils, without printing the value. */
function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection, but the promise fulfilled');
    },
    (error: unknown) => error,
  );
}

const namesOf = (errors: TokenManagerEvents['error'][]): string[] => errors.map(({ error }) => error.name);

const REDIRECTS = [301, 302, 303, 307, 308];

describe('defect 7: token endpoints never follow redirects', () => {
  it.each(REDIRECTS)(
    'a refresh answered %i (to another origin) is a transient failure, keeps the session, and never calls the target',
    async (status) => {
      const { app, elsewhere } = await startOrigins();
      app.reply = () => ({ status, headers: { Location: `${elsewhere.origin}/auth/refresh` } });
      const auth = createManager({ refresh: { url: `${app.origin}/auth/refresh` }, logout: undefined });
      const login = jwtFor(LIFETIME_S);
      await auth.setTokens({ accessToken: login, refreshToken: 'rt-secret' });
      const events = recordEvents(auth);

      const error = (await rejectionOf(auth.refresh())) as Error & { cause?: { name?: string; status?: number } };

      expect(error.name).toBe('RefreshFailedError');
      expect(error.cause?.name).toBe('HttpStatusError');
      expect(error.cause?.status).toBe(status);
      expect(app.hits).toHaveLength(1);
      expect(JSON.parse(app.hits[0]!.body)).toEqual({ refresh_token: 'rt-secret' });
      expect(elsewhere.hits).toEqual([]);
      expect(auth.getState().status).toBe('authenticated');
      expect(auth.getState().accessToken === login).toBe(true);
      expect(namesOf(events.error)).toEqual(['RefreshFailedError']);
      expect(events.logout).toEqual([]);
    },
  );

  it('a refresh answered 307 to the same origin never calls the target either', async () => {
    const { app } = await startOrigins();
    app.reply = (hit): Reply =>
      hit.path === '/auth/refresh'
        ? { status: 307, headers: { Location: '/auth/elsewhere' } }
        : { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ access_token: 'x' }) };
    const auth = createManager({ refresh: { url: `${app.origin}/auth/refresh` } });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-secret' });

    const error = (await rejectionOf(auth.refresh())) as Error;

    expect(error.name).toBe('RefreshFailedError');
    expect(app.hits.map((hit) => hit.path)).toEqual(['/auth/refresh']);
  });

  it('after a redirected refresh the refresh is retried with backoff, still never following the redirect', async () => {
    const { app, elsewhere } = await startOrigins();
    app.reply = () => ({ status: 307, headers: { Location: `${elsewhere.origin}/auth/refresh` } });
    // random 0: the shortest backoff, so that the retry comes within about half a second of real time.
    const auth = createManager({ refresh: { url: `${app.origin}/auth/refresh` }, environment: { random: () => 0 } });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-secret' });
    const events = recordEvents(auth);

    await rejectionOf(auth.refresh());
    const failedAt = performance.now();
    await vi.waitFor(() => expect(app.hits).toHaveLength(2), { timeout: 3_000, interval: 10 });
    // The second answer is read and reported after the server saw the request.
    await vi.waitFor(() => expect(events.error).toHaveLength(2), { timeout: 1_000, interval: 10 });

    expect(performance.now() - failedAt).toBeGreaterThanOrEqual(400);
    expect(elsewhere.hits).toEqual([]);
    expect(namesOf(events.error)).toEqual(['RefreshFailedError', 'RefreshFailedError']);
    expect(auth.getState().status).toBe('authenticated');
  });

  it.each(REDIRECTS)(
    "a logout answered %i resolves { serverNotified: false } with one 'error', and never calls the target",
    async (status) => {
      const { app, elsewhere } = await startOrigins();
      app.reply = () => ({ status, headers: { Location: `${elsewhere.origin}/auth/logout` } });
      const auth = createManager({
        refresh: { url: `${app.origin}/auth/refresh` },
        logout: { url: `${app.origin}/auth/logout` },
      });
      await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-secret' });
      const events = recordEvents(auth);

      await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

      expect(app.hits.map((hit) => hit.path)).toEqual(['/auth/logout']);
      expect(elsewhere.hits).toEqual([]);
      expect(namesOf(events.error)).toEqual(['LogoutFailedError']);
      expect(events.logout).toEqual([{ reason: 'user' }]);
      expect(auth.getState().status).toBe('unauthenticated');
    },
  );
});

describe('15d: a 401 that came through a redirect from another origin', () => {
  it('starts no refresh and is returned to the caller as it is', async () => {
    const { app, elsewhere } = await startOrigins();
    app.reply = () => ({ status: 302, headers: { Location: `${elsewhere.origin}/data` } });
    let refreshCalls = 0;
    const refresh = async (): Promise<TokenResponse> => {
      refreshCalls += 1;
      return { accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-2' };
    };
    const auth = createManager({ refresh, allowedOrigins: [app.origin] });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });

    const response = await auth.fetch(`${app.origin}/api/data`);

    expect(response.status).toBe(401);
    expect(response.url).toBe(`${elsewhere.origin}/data`);
    expect(refreshCalls).toBe(0);
    expect(app.hits.map((hit) => hit.path)).toEqual(['/api/data']);
    expect(elsewhere.hits.map((hit) => hit.path)).toEqual(['/data']);
    // The bearer never reached the other origin.
    expect(elsewhere.hits[0]!.authorization).toBeUndefined();
  });

  it('a 401 from the allowed origin itself still refreshes and retries once (guard)', async () => {
    const { app } = await startOrigins();
    app.reply = () => ({ status: app.hits.length === 1 ? 401 : 200 });
    let refreshCalls = 0;
    const refresh = async (): Promise<TokenResponse> => {
      refreshCalls += 1;
      return { accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-2' };
    };
    const auth = createManager({ refresh, allowedOrigins: [app.origin] });
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'rt-1' });

    const response = await auth.fetch(`${app.origin}/api/data`);

    expect(response.status).toBe(200);
    expect(refreshCalls).toBe(1);
    expect(app.hits).toHaveLength(2);
  });
});
