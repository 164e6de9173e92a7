import ky, { HTTPError as HTTPError2 } from 'ky';
import ky1, { HTTPError as HTTPError1 } from 'ky1';
import { describe, expect, it, vi } from 'vitest';
import type { TokenManager } from 'tokenkeeper';
import { kyHooks } from '../src/ky';
import { jwtFor } from './support/jwt';
import {
  API_ORIGIN,
  HttpResponse,
  http,
  noResume,
  REFRESH_URL,
  rotatingRefresh,
  server,
  startServer,
  unauthorized,
} from './support/environment';
import { rejectionOf } from './support/async';
import { numberedKeys, trackManagers } from './support/managers';

startServer();

const API = `${API_ORIGIN}/api`;

// Its own key per manager, so that the in-process refresh lock is never shared with a manager of another test.
const nextStorageKey = numberedKeys('ky-test');

/** A manager allowed to send its token to the API origin; Node has no page origin, so it is listed. */
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  allowedOrigins: [API_ORIGIN],
  onResume: noResume,
  storageKey: nextStorageKey(),
}));

async function signedIn(): Promise<{ auth: TokenManager; token: string }> {
  const auth = createAuth();
  const token = jwtFor(3600);
  await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
  return { auth, token };
}

/** The options these tests pass to ky; both majors accept them. */
interface ClientOptions {
  method?: string;
  headers?: Record<string, string>;
  json?: unknown;
  body?: BodyInit;
  retry?: number | { limit?: number; methods?: string[]; statusCodes?: number[]; delay?: (attempt: number) => number };
  fetch?: typeof fetch;
}

type Send = (url: string, options?: ClientOptions) => Promise<Response> & { json(): Promise<unknown> };

interface Major {
  name: string;
  /** `ky.create({ ...defaults, hooks: kyHooks(auth) })` of this major. */
  create(auth: TokenManager, defaults?: ClientOptions): Send;
  HTTPError: typeof HTTPError1 | typeof HTTPError2;
}

const majors: Major[] = [
  { name: 'ky 2', create: (auth, defaults) => ky.create({ ...defaults, hooks: kyHooks(auth) }), HTTPError: HTTPError2 },
  {
    name: 'ky 1',
    create: (auth, defaults) => ky1.create({ ...defaults, hooks: kyHooks(auth) }),
    HTTPError: HTTPError1,
  },
];

/** A request as the fake API saw it. */
interface ApiRequest {
  method: string;
  url: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

/** Any request to `pattern`, recorded; answered by `respond(n)` for the n-th request (1-based). */
function apiEndpoint(
  respond: (call: number, request: ApiRequest) => Response = () => HttpResponse.json({ ok: true }),
  pattern = `${API}/*`,
) {
  const seen: ApiRequest[] = [];
  const handler = http.all(pattern, async ({ request }) => {
    const described: ApiRequest = {
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      contentType: request.headers.get('content-type'),
      body: await request.text(),
    };
    seen.push(described);
    return respond(seen.length, described);
  });
  return { handler, seen };
}

/** ky's retry options with no wait between attempts, so the tests do not sleep. */
const noDelay = (statusCodes: number[], limit = 2) => ({ limit, statusCodes, delay: () => 0 });

describe.each(majors)('kyHooks with $name', ({ create, HTTPError }) => {
  describe('where the token goes', () => {
    it('adds Authorization: Bearer for an allowed origin', async () => {
      const api = apiEndpoint(() => HttpResponse.json({ me: 'user-1' }));
      server.use(api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth)(`${API}/me`).json();

      expect(body).toEqual({ me: 'user-1' });
      expect(api.seen).toHaveLength(1);
      expect(api.seen[0]!.authorization).toBe(`Bearer ${token}`);
      auth.destroy();
    });

    it.each([
      ['another origin', 'https://other.test/x'],
      ['a look-alike host that only starts with the allowed one', 'https://api.test.evil.test/x'],
      ['a sub-domain', 'https://sub.api.test/x'],
      ['http: when https: is allowed', 'http://api.test/x'],
      ['another port', 'https://api.test:8443/x'],
    ])('sends no token to %s (%s)', async (_case, url) => {
      const refresh = rotatingRefresh();
      const elsewhere = apiEndpoint(() => HttpResponse.json({ elsewhere: true }), '*');
      server.use(refresh.handler, elsewhere.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth)(url, { headers: { 'X-Trace': 't-1' } }).json();

      expect(body).toEqual({ elsewhere: true });
      expect(elsewhere.seen).toHaveLength(1);
      expect(elsewhere.seen[0]!.url).toBe(url);
      expect(elsewhere.seen[0]!.authorization).toBeNull();
      expect(JSON.stringify(elsewhere.seen[0])).not.toContain(token);
      expect(refresh.seen).toHaveLength(0);
      auth.destroy();
    });

    it('does not sign or refresh on a 401 from another origin', async () => {
      const refresh = rotatingRefresh();
      const elsewhere = apiEndpoint(unauthorized, 'https://other.test/*');
      server.use(refresh.handler, elsewhere.handler);
      const { auth, token } = await signedIn();

      const error = await rejectionOf(create(auth)('https://other.test/x'));

      expect(error).toBeInstanceOf(HTTPError);
      expect((error as InstanceType<typeof HTTPError>).response.status).toBe(401);
      expect(elsewhere.seen).toHaveLength(1);
      expect(elsewhere.seen[0]!.authorization).toBeNull();
      expect(refresh.seen).toHaveLength(0);
      expect(auth.getState().accessToken).toBe(token);
      auth.destroy();
    });

    it('never sends the token to https://api.test@evil.test: ky refuses the URL, and the hook would not sign it', async () => {
      const elsewhere = apiEndpoint(() => HttpResponse.json({ elsewhere: true }), '*');
      server.use(elsewhere.handler);
      const { auth } = await signedIn();
      const getAccessToken = vi.spyOn(auth, 'getAccessToken');

      // fetch (and so ky) refuses a URL with credentials before any hook runs.
      expect(() => create(auth)('https://api.test@evil.test/x')).toThrow(TypeError);
      // Were such a request ever handed to the hook, its origin is evil.test: no token is added.
      const headers = new Headers();
      const request = { url: 'https://api.test@evil.test/x', headers, method: 'GET' };
      await kyHooks(auth).beforeRequest[0]!({ request, options: {}, retryCount: 0 });

      expect(headers.has('authorization')).toBe(false);
      expect(getAccessToken).not.toHaveBeenCalled();
      expect(elsewhere.seen).toHaveLength(0);
      auth.destroy();
    });

    it("keeps the caller's own Authorization header and does not refresh on its 401", async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint(unauthorized);
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const error = await rejectionOf(
        create(auth)(`${API}/basic`, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } }),
      );

      expect(error).toBeInstanceOf(HTTPError);
      expect((error as InstanceType<typeof HTTPError>).response.status).toBe(401);
      expect(api.seen).toHaveLength(1);
      expect(api.seen[0]!.authorization).toBe('Basic dXNlcjpwYXNz');
      expect(refresh.seen).toHaveLength(0);
      expect(auth.getState().accessToken).toBe(token);
      auth.destroy();
    });

    it('sends no header when signed out, and a 401 then causes no refresh', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) => (call === 1 ? HttpResponse.json({ open: true }) : unauthorized(call)));
      server.use(refresh.handler, api.handler);
      const auth = createAuth();
      const send = create(auth);

      expect(await send(`${API}/open`).json()).toEqual({ open: true });
      const error = await rejectionOf(send(`${API}/closed`));

      expect(error).toBeInstanceOf(HTTPError);
      expect((error as InstanceType<typeof HTTPError>).response.status).toBe(401);
      expect(api.seen.map((request) => request.authorization)).toEqual([null, null]);
      expect(refresh.seen).toHaveLength(0);
      auth.destroy();
    });
  });

  describe('401: one refresh, one retry', () => {
    it('refreshes once and retries once with the new token; the caller gets the 200 body', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) =>
        call === 1 ? HttpResponse.json({ error: 'invalid_token' }, { status: 401 }) : HttpResponse.json({ ok: 2 }),
      );
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth)(`${API}/me`).json();

      expect(body).toEqual({ ok: 2 });
      expect(refresh.seen).toHaveLength(1);
      expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'rt-1' });
      const fresh = auth.getState().accessToken;
      expect(fresh).not.toBe(token);
      expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${token}`, `Bearer ${fresh}`]);
      expect(api.seen.map((request) => request.url)).toEqual([`${API}/me`, `${API}/me`]);
      auth.destroy();
    });

    it('throws HTTPError 401 after a second 401: one refresh, two API requests', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint(unauthorized);
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const error = await rejectionOf(create(auth)(`${API}/me`));

      expect(error).toBeInstanceOf(HTTPError);
      const { response } = error as InstanceType<typeof HTTPError>;
      expect(response.status).toBe(401);
      expect(response.headers.get('X-Attempt')).toBe('2');
      expect(refresh.seen).toHaveLength(1);
      expect(api.seen).toHaveLength(2);
      const fresh = auth.getState().accessToken;
      expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${token}`, `Bearer ${fresh}`]);
      auth.destroy();
    });

    it('answers 10 concurrent 401s with one refresh, retrying each request once', async () => {
      const refresh = rotatingRefresh();
      const { auth, token } = await signedIn();
      const refused = new Set<string>();
      const seen: { url: string; authorization: string | null }[] = [];
      server.use(
        refresh.handler,
        http.get(`${API}/item/:n`, async ({ request, params }) => {
          seen.push({ url: request.url, authorization: request.headers.get('authorization') });
          if (refused.has(request.url)) return HttpResponse.json({ url: request.url });
          refused.add(request.url);
          // Half of the 401s arrive only after the refresh has finished: those requests must take the new
          // token without a second refresh.
          if (Number(params.n) >= 5) await vi.waitFor(() => expect(auth.getState().accessToken).not.toBe(token));
          return unauthorized(1);
        }),
      );
      const send = create(auth);

      const bodies = await Promise.all(Array.from({ length: 10 }, (_, i) => send(`${API}/item/${i}`).json()));

      expect(bodies).toEqual(Array.from({ length: 10 }, (_, i) => ({ url: `${API}/item/${i}` })));
      expect(refresh.seen).toHaveLength(1);
      expect(seen).toHaveLength(20);
      const fresh = auth.getState().accessToken;
      expect(fresh).not.toBe(token);
      for (let i = 0; i < 10; i += 1) {
        const forPath = seen.filter((request) => request.url === `${API}/item/${i}`);
        expect(forPath.map((request) => request.authorization)).toEqual([`Bearer ${token}`, `Bearer ${fresh}`]);
      }
      auth.destroy();
    });

    it.each<[string, ClientOptions]>([
      ["ky's default retry", {}],
      ['retry: 0', { retry: 0 }],
    ])('replays a json: body on the retry, with %s', async (_case, defaults) => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) => (call === 1 ? unauthorized(call) : HttpResponse.json({ saved: true })));
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth, defaults)(`${API}/items?page=2`, {
        method: 'post',
        json: { name: 'Ada', tags: ['x'] },
      }).json();

      expect(body).toEqual({ saved: true });
      expect(refresh.seen).toHaveLength(1);
      expect(api.seen).toHaveLength(2);
      const fresh = auth.getState().accessToken;
      for (const request of api.seen) {
        expect(request).toMatchObject({
          method: 'POST',
          url: `${API}/items?page=2`,
          body: '{"name":"Ada","tags":["x"]}',
        });
        expect(request.contentType).toMatch(/^application\/json/);
      }
      expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${token}`, `Bearer ${fresh}`]);
      auth.destroy();
    });

    it.each<[string, ClientOptions]>([
      ["ky's default retry", {}],
      ['retry: 0', { retry: 0 }],
    ])(
      'replays a FormData body on the retry, with %s: the server reads the same fields twice',
      async (_case, defaults) => {
        const refresh = rotatingRefresh();
        const fields: unknown[] = [];
        const authorizations: (string | null)[] = [];
        server.use(
          refresh.handler,
          http.post(`${API}/upload`, async ({ request }) => {
            authorizations.push(request.headers.get('authorization'));
            try {
              const form = await request.formData();
              const entries: [string, string][] = [];
              for (const [name, value] of form)
                entries.push([name, typeof value === 'string' ? value : `${value.name}:${await value.text()}`]);
              fields.push(entries);
            } catch (error) {
              fields.push(`unreadable multipart body: ${String(error)}`);
            }
            return authorizations.length === 1 ? unauthorized(1) : HttpResponse.json({ uploaded: true });
          }),
        );
        const { auth, token } = await signedIn();
        const form = new FormData();
        form.append('name', 'Ada');
        form.append('file', new Blob(['hello'], { type: 'text/plain' }), 'hello.txt');

        const body = await create(auth, defaults)(`${API}/upload`, { method: 'post', body: form }).json();

        expect(body).toEqual({ uploaded: true });
        expect(refresh.seen).toHaveLength(1);
        const expected = [
          ['name', 'Ada'],
          ['file', 'hello.txt:hello'],
        ];
        expect(fields).toEqual([expected, expected]);
        expect(authorizations).toEqual([`Bearer ${token}`, `Bearer ${auth.getState().accessToken}`]);
        auth.destroy();
      },
    );

    it("sends the retry through ky's own fetch option", async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) => (call === 1 ? unauthorized(call) : HttpResponse.json({ ok: true })));
      server.use(refresh.handler, api.handler);
      const { auth } = await signedIn();
      const sentThroughKyFetch: string[] = [];
      const kyFetch: typeof fetch = (input, init) => {
        const request = new Request(input, init);
        sentThroughKyFetch.push(request.headers.get('authorization') ?? 'none');
        return globalThis.fetch(request);
      };

      const body = await create(auth, { fetch: kyFetch })(`${API}/me`).json();

      expect(body).toEqual({ ok: true });
      expect(api.seen).toHaveLength(2);
      expect(sentThroughKyFetch).toEqual(api.seen.map((request) => request.authorization));
      auth.destroy();
    });
  });

  describe("ky's own retry is not doubled", () => {
    it('a 503 then 200 with retry { limit: 2, statusCodes: [503] }: two API requests, no refresh', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) =>
        call === 1 ? new HttpResponse(null, { status: 503 }) : HttpResponse.json({ ok: true }),
      );
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth, { retry: noDelay([503]) })(`${API}/flaky`).json();

      expect(body).toEqual({ ok: true });
      expect(api.seen).toHaveLength(2);
      expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
      expect(refresh.seen).toHaveLength(0);
      auth.destroy();
    });

    it('a 503, a 401, then 200: ky retries the 503, the hooks refresh once for the 401: three API requests', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) =>
        call === 1
          ? new HttpResponse(null, { status: 503 })
          : call === 2
            ? unauthorized(call)
            : HttpResponse.json({ ok: true }),
      );
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth, { retry: noDelay([503]) })(`${API}/flaky`).json();

      expect(body).toEqual({ ok: true });
      expect(refresh.seen).toHaveLength(1);
      const fresh = auth.getState().accessToken;
      expect(api.seen.map((request) => request.authorization)).toEqual([
        `Bearer ${token}`,
        `Bearer ${token}`,
        `Bearer ${fresh}`,
      ]);
      auth.destroy();
    });

    it('a 401 then 200 with 401 also in ky retry statusCodes: one refresh, one retry, two API requests', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint((call) => (call === 1 ? unauthorized(call) : HttpResponse.json({ ok: true })));
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const body = await create(auth, { retry: noDelay([401]) })(`${API}/me`).json();

      expect(body).toEqual({ ok: true });
      expect(refresh.seen).toHaveLength(1);
      expect(api.seen).toHaveLength(2);
      expect(api.seen.map((request) => request.authorization)).toEqual([
        `Bearer ${token}`,
        `Bearer ${auth.getState().accessToken}`,
      ]);
      auth.destroy();
    });

    it('a server that always answers 401, with 401 in ky retry statusCodes (limit 2): one refresh per ky call', async () => {
      const refresh = rotatingRefresh();
      const api = apiEndpoint(unauthorized);
      server.use(refresh.handler, api.handler);
      const { auth, token } = await signedIn();

      const error = await rejectionOf(create(auth, { retry: noDelay([401]) })(`${API}/me`));

      expect(error).toBeInstanceOf(HTTPError);
      expect((error as InstanceType<typeof HTTPError>).response.status).toBe(401);
      // The hooks refresh once for this call. ky then retries the refused request as its options say (two
      // more attempts, with the token that is current by then); those 401s cause no further refresh.
      expect(refresh.seen).toHaveLength(1);
      const fresh = auth.getState().accessToken;
      expect(api.seen.map((request) => request.authorization)).toEqual([
        `Bearer ${token}`,
        `Bearer ${fresh}`,
        `Bearer ${fresh}`,
        `Bearer ${fresh}`,
      ]);
      auth.destroy();
    });
  });
});
