import ky from 'ky';
import ky1 from 'ky1';
import { describe, expect, it } from 'vitest';
import type { TokenManager } from 'tokenkeeper';
import { kyHooks } from '../../src/ky';
import { deferred } from '../support/async';
import {
  API_ORIGIN,
  HttpResponse,
  http,
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from '../support/environment';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';

/*
 * Issue 7, defects 11 and 14 (12 is in defects-fetch-capture.test.ts): what auth.fetch and the ky hooks send, and when a 401 may cause a refresh
 * and a retry. Node has no page origin, so the API origin is listed in allowedOrigins.
 */

const API = `${API_ORIGIN}/api`;

installFakeClock();
startServer();

const createManager = trackManagers({
  refresh: { url: REFRESH_URL },
  logout: { url: LOGOUT_URL },
  refreshMargin: MARGIN_MS,
  allowedOrigins: [API_ORIGIN],
  channel: false,
  onResume: noResume,
});

/** A request as the fake API saw it; the bearer is named, not kept. */
interface ApiRequest {
  method: string;
  path: string;
  bearer: string | null;
  header: string | null;
  body: string;
}

/**
 * Every request under `${API}/`, recorded; answered by `respond(n)` for the n-th (1-based). `tokens` names
 * the tokens the test issued, so that what is recorded (and printed on failure) is a name, never a token.
 */
function api(respond: (call: number) => Response | Promise<Response>, tokens: Record<string, string> = {}) {
  const seen: ApiRequest[] = [];
  const nameOf = (authorization: string | null): string | null => {
    if (authorization === null) return null;
    const found = Object.entries(tokens).find(([, token]) => authorization === `Bearer ${token}`);
    return found ? found[0] : 'an unknown token';
  };
  server.use(
    http.all(`${API}/*`, async ({ request }) => {
      seen.push({
        method: request.method,
        path: new URL(request.url).pathname,
        bearer: nameOf(request.headers.get('authorization')),
        header: request.headers.get('x-request'),
        body: await request.clone().text(),
      });
      return respond(seen.length);
    }),
  );
  return seen;
}

describe('defect 11: a 401 is never retried with another login’s token', () => {
  async function setUp() {
    const gate = deferred();
    const tokens = { A: jwtFor(LIFETIME_S, { sub: 'user-a' }), B: jwtFor(LIFETIME_S, { sub: 'user-b' }) };
    const seen = api(async (call) => {
      if (call === 1) await gate.promise;
      return new HttpResponse(null, { status: call === 1 ? 401 : 200 });
    }, tokens);
    const refresh = refreshEndpoint(() =>
      HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-x' }),
    );
    server.use(refresh.handler, logoutEndpoint().handler);
    const auth = createManager();
    await auth.setTokens({ accessToken: tokens.A, refreshToken: 'rt-a' });
    return { gate, tokens, seen, refresh, auth };
  }

  /** User A logs out and user B signs in while A's request is out. */
  async function switchUser(auth: TokenManager, tokens: { B: string }): Promise<void> {
    await auth.logout();
    await auth.setTokens({ accessToken: tokens.B, refreshToken: 'rt-b' });
  }

  it("auth.fetch hands the caller a 401 answered after its user logged out and another signed in, without retrying with the new user's token", async () => {
    const { gate, tokens, seen, refresh, auth } = await setUp();

    const response = auth.fetch(`${API}/orders`);
    await flush();
    expect(seen.map((r) => r.bearer)).toEqual(['A']);
    await switchUser(auth, tokens);
    gate.resolve();

    expect((await response).status).toBe(401);
    expect(seen.map((r) => r.bearer)).toEqual(['A']);
    expect(refresh.seen).toHaveLength(0);
  });

  it.each([
    ['ky 2', (auth: TokenManager) => ky.create({ hooks: kyHooks(auth), retry: 0, throwHttpErrors: false })],
    ['ky 1', (auth: TokenManager) => ky1.create({ hooks: kyHooks(auth), retry: 0, throwHttpErrors: false })],
  ])(
    "the %s hooks hand the caller a 401 answered after its user logged out and another signed in, without retrying with the new user's token",
    async (_major, create) => {
      const { gate, tokens, seen, refresh, auth } = await setUp();

      const response = create(auth).get(`${API}/orders`);
      await flush();
      expect(seen.map((r) => r.bearer)).toEqual(['A']);
      await switchUser(auth, tokens);
      gate.resolve();

      expect((await response).status).toBe(401);
      expect(seen.map((r) => r.bearer)).toEqual(['A']);
      expect(refresh.seen).toHaveLength(0);
    },
  );
});

describe('defect 14: the ky hooks follow the 401 policy of auth.fetch', () => {
  /** Signed in, with the refresh endpoint failing: after one failed refresh, retries back off. */
  async function backingOff() {
    const token = jwtFor(LIFETIME_S);
    const refresh = refreshEndpoint(() => new HttpResponse(null, { status: 503 }));
    server.use(refresh.handler);
    const seen = api(() => new HttpResponse(null, { status: 401 }), { current: token });
    // The first backoff retry comes after about a second; the tests end before it.
    const auth = createManager({ environment: { random: () => 0.999 } });
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
    await auth.refresh().catch(() => {});
    expect(refresh.seen).toHaveLength(1);
    return { auth, refresh, seen };
  }

  it.each([
    ['ky 2', (auth: TokenManager) => ky.create({ hooks: kyHooks(auth), retry: 0, throwHttpErrors: false })],
    ['ky 1', (auth: TokenManager) => ky1.create({ hooks: kyHooks(auth), retry: 0, throwHttpErrors: false })],
  ])(
    'while refreshes back off after a failure, a 401 answered to a %s call makes no refresh call',
    async (_major, create) => {
      const { auth, refresh, seen } = await backingOff();

      const response = await create(auth).get(`${API}/orders`);

      expect(response.status).toBe(401);
      expect(seen.map((r) => r.bearer)).toEqual(['current']);
      expect(refresh.seen).toHaveLength(1);
    },
  );

  it('while refreshes back off after a failure, a 401 answered to auth.fetch makes no refresh call (guard)', async () => {
    const { auth, refresh, seen } = await backingOff();

    const response = await auth.fetch(`${API}/orders`);

    expect(response.status).toBe(401);
    expect(seen.map((r) => r.bearer)).toEqual(['current']);
    expect(refresh.seen).toHaveLength(1);
  });
});
