import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError, type TokenManager } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  HttpResponse,
  http,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  rotatingRefresh,
  server,
  startServer,
  unauthorized,
} from './support/environment';
import { collect } from './support/events';
import { numberedKeys, trackManagers } from './support/managers';

/** The API the tests call; Node has no page origin, so every manager here lists it in `allowedOrigins`. */
const APP = 'https://app.test';

afterEach(() => {
  vi.useRealTimers();
});
startServer();

const nextStorageKey = numberedKeys('auth-fetch-test');

/**
 * A manager for these tests. Each gets its own storage key, so that the in-process refresh lock (named after
 * the key) is never shared with a manager of another test.
 */
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  allowedOrigins: [APP],
  onResume: noResume,
  storageKey: nextStorageKey(),
}));
/** A manager with no options but the ones a test gives it; destroyed after the test all the same. */
const createBareManager = trackManagers();

/** A request as the fake API saw it. */
interface ApiRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  authorization: string | null;
  body: string;
}

async function describeRequest(request: Request): Promise<ApiRequest> {
  return {
    method: request.method,
    url: request.url,
    headers: Object.fromEntries(request.headers),
    authorization: request.headers.get('authorization'),
    body: await request.text(),
  };
}

/** Any request to `pattern`, recorded; answered by `respond(n)` for the n-th request (1-based). */
function apiEndpoint(
  respond: (call: number, request: ApiRequest) => Response = () => HttpResponse.json({ ok: true }),
  pattern = `${APP}/*`,
) {
  const seen: ApiRequest[] = [];
  const handler = http.all(pattern, async ({ request }) => {
    const described = await describeRequest(request);
    seen.push(described);
    return respond(seen.length, described);
  });
  return { handler, seen };
}

function expectNoHeaderCarries(request: ApiRequest, token: string): void {
  expect(request.authorization).toBeNull();
  for (const [name, value] of Object.entries(request.headers)) {
    expect(value, `header ${name}`).not.toContain(token);
  }
}

describe('auth.fetch: where the token goes', () => {
  it('adds Authorization: Bearer for an allowed origin', async () => {
    const api = apiEndpoint();
    server.use(api.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(200);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]!.authorization).toBe(`Bearer ${token}`);
    auth.destroy();
  });

  it.each([
    ['a look-alike host that only starts with the allowed one', 'https://app.test.evil.test/x'],
    ['http: when https: is allowed', 'http://app.test/x'],
    ['another port', 'https://app.test:8443/x'],
    ['a sub-domain', 'https://sub.app.test/x'],
    ['another origin entirely', 'https://evil.test/x'],
  ])('sends no token to %s (%s)', async (_case, url) => {
    const elsewhere = apiEndpoint(() => HttpResponse.json({ elsewhere: true }), '*');
    server.use(elsewhere.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const response = await auth.fetch(url, { headers: { 'X-Trace': 't-1' } });

    expect(await response.json()).toEqual({ elsewhere: true });
    expect(elsewhere.seen).toHaveLength(1);
    expect(elsewhere.seen[0]!.url).toBe(url);
    expect(elsewhere.seen[0]!.headers['x-trace']).toBe('t-1');
    expectNoHeaderCarries(elsewhere.seen[0]!, token);
    auth.destroy();
  });

  it('sends no token to a URL whose userinfo looks like the allowed origin (https://app.test@evil.test)', async () => {
    // Node's fetch (like a browser's) refuses URLs with credentials, so no request reaches the server; what
    // matters is what auth.fetch handed to fetch, seen through the `fetch` option.
    const handedToFetch: { input: RequestInfo | URL; init: RequestInit | undefined }[] = [];
    const observedFetch: typeof fetch = (input, init) => {
      handedToFetch.push({ input, init });
      return globalThis.fetch(input, init);
    };
    const auth = createAuth({ fetch: observedFetch });
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    await expect(auth.fetch('https://app.test@evil.test/x')).rejects.toBeInstanceOf(TypeError);

    expect(handedToFetch).toHaveLength(1);
    const { input, init } = handedToFetch[0]!;
    expect(input instanceof Request ? input.url : String(input)).toBe('https://app.test@evil.test/x');
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    expect(headers.has('authorization')).toBe(false);
    for (const [, value] of headers) expect(value).not.toContain(token);
    auth.destroy();
  });

  it('lets an allowedOrigins function alone decide, calling it with the parsed URL', async () => {
    const seen = apiEndpoint(() => HttpResponse.json({ ok: true }), '*');
    server.use(seen.handler);
    const allowedOrigins = vi.fn((url: URL) => url.hostname === 'partner.test');
    const auth = createAuth({ allowedOrigins });
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    await auth.fetch('https://partner.test/data?q=1');
    await auth.fetch(`${APP}/data`);

    expect(seen.seen.map((request) => [request.url, request.authorization])).toEqual([
      ['https://partner.test/data?q=1', `Bearer ${token}`],
      [`${APP}/data`, null],
    ]);
    const urls = allowedOrigins.mock.calls.map(([url]) => url);
    expect(urls.every((url) => url instanceof URL)).toBe(true);
    expect(urls.map((url) => url.href)).toEqual(['https://partner.test/data?q=1', `${APP}/data`]);
    auth.destroy();
  });

  it('rejects with ConfigurationError where there is no page origin and allowedOrigins is not set', async () => {
    const api = apiEndpoint();
    server.use(api.handler);
    const auth = createBareManager({
      refresh: { url: REFRESH_URL },
      onResume: () => () => {},
      storageKey: 'auth-fetch-test-no-origins',
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    const error = await auth.fetch(`${APP}/me`).then(
      () => null,
      (rejection: unknown) => rejection,
    );

    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error).toMatchObject({ code: 'configuration' });
    expect(api.seen).toHaveLength(0);
    auth.destroy();
  });
});

describe('auth.fetch: requests it leaves alone', () => {
  it('sends the request without a token when signed out and returns the server answer', async () => {
    const refresh = rotatingRefresh();
    const api = apiEndpoint(() => HttpResponse.json({ error: 'login required' }, { status: 401 }));
    server.use(refresh.handler, api.handler);
    const auth = createAuth();

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: 'login required' });
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]!.authorization).toBeNull();
    expect(refresh.seen).toHaveLength(0);
    auth.destroy();
  });

  it.each<[string, (auth: TokenManager, url: string) => Promise<Response>]>([
    ['in init.headers', (auth, url) => auth.fetch(url, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })],
    [
      'on a Request input',
      (auth, url) => auth.fetch(new Request(url, { headers: { Authorization: 'Basic dXNlcjpwYXNz' } })),
    ],
  ])('keeps the caller Authorization header %s and does not refresh on its 401', async (_case, build) => {
    const refresh = rotatingRefresh();
    const api = apiEndpoint(unauthorized);
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const response = await build(auth, `${APP}/basic`);

    expect(response.status).toBe(401);
    expect(response.headers.get('X-Attempt')).toBe('1');
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]!.authorization).toBe('Basic dXNlcjpwYXNz');
    expect(refresh.seen).toHaveLength(0);
    expect(auth.getState().accessToken).toBe(token);
    auth.destroy();
  });

  it('passes requests through untouched after destroy()', async () => {
    const refresh = rotatingRefresh();
    const api = apiEndpoint(unauthorized);
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    auth.destroy();

    const response = await auth.fetch(`${APP}/me`, { headers: { 'X-Trace': 't-1' } });

    expect(response.status).toBe(401);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]!.authorization).toBeNull();
    expect(api.seen[0]!.headers['x-trace']).toBe('t-1');
    expect(refresh.seen).toHaveLength(0);
  });
});

describe('auth.fetch: 401, refresh and retry', () => {
  it('refreshes once and retries once with the new token, returning a second 401 to the caller', async () => {
    const refresh = rotatingRefresh();
    const api = apiEndpoint(unauthorized);
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const old = jwtFor(3600);
    await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(401);
    expect(response.headers.get('X-Attempt')).toBe('2');
    expect(refresh.seen).toHaveLength(1);
    expect(api.seen).toHaveLength(2);
    const fresh = auth.getState().accessToken;
    expect(fresh).not.toBe(old);
    expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${old}`, `Bearer ${fresh}`]);
    auth.destroy();
  });

  it('retries a 401 that carries a JSON error body', async () => {
    // Servers usually explain a 401 in a body. msw, like any fetch wrapper that clones responses, hands back a
    // teed body whose sibling is never read; discarding the 401 body must not wait on that.
    const refresh = rotatingRefresh();
    const api = apiEndpoint((call) =>
      call === 1 ? HttpResponse.json({ error: 'invalid_token' }, { status: 401 }) : HttpResponse.json({ ok: true }),
    );
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const old = jwtFor(3600);
    await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
    expect(refresh.seen).toHaveLength(1);
    expect(api.seen.map((request) => request.authorization)).toEqual([
      `Bearer ${old}`,
      `Bearer ${auth.getState().accessToken}`,
    ]);
    auth.destroy();
  });

  /** Signs in, answers the first API request 401 and the second 200, and returns what the API saw. */
  async function sendWithOneUnauthorized(
    send: (auth: TokenManager) => Promise<Response>,
  ): Promise<{ seen: ApiRequest[]; old: string; fresh: string | null; refreshes: number }> {
    const refresh = rotatingRefresh();
    const api = apiEndpoint((call) => (call === 1 ? unauthorized(call) : HttpResponse.json({ ok: true })));
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const old = jwtFor(3600);
    await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });
    const response = await send(auth);
    expect(response.status).toBe(200);
    const fresh = auth.getState().accessToken;
    auth.destroy();
    return { seen: api.seen, old, fresh, refreshes: refresh.seen.length };
  }

  function expectReplayed(result: { seen: ApiRequest[]; old: string; fresh: string | null; refreshes: number }) {
    const { seen, old, fresh, refreshes } = result;
    expect(refreshes).toBe(1);
    expect(seen).toHaveLength(2);
    expect(fresh).not.toBe(old);
    expect(seen[0]!.authorization).toBe(`Bearer ${old}`);
    expect(seen[1]!.authorization).toBe(`Bearer ${fresh}`);
    const { authorization: _first, ...first } = seen[0]!.headers;
    const { authorization: _second, ...second } = seen[1]!.headers;
    expect(second).toEqual(first);
    expect({ ...seen[1]!, headers: second, authorization: null }).toEqual({
      ...seen[0]!,
      headers: first,
      authorization: null,
    });
    return seen[1]!;
  }

  it('replays a JSON POST string body with its method, headers and query on the retry', async () => {
    const retry = expectReplayed(
      await sendWithOneUnauthorized((auth) =>
        auth.fetch(`${APP}/items?page=2&sort=asc`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Trace': 't-1' },
          body: JSON.stringify({ name: 'Ada' }),
        }),
      ),
    );
    expect(retry).toMatchObject({ method: 'POST', url: `${APP}/items?page=2&sort=asc`, body: '{"name":"Ada"}' });
    expect(retry.headers).toMatchObject({ 'content-type': 'application/json', 'x-trace': 't-1' });
  });

  it('replays a FormData body: the server sees the same fields both times', async () => {
    const refresh = rotatingRefresh();
    const fields: [string, string][][] = [];
    server.use(
      refresh.handler,
      http.post(`${APP}/upload`, async ({ request }) => {
        const form = await request.formData();
        const entries: [string, string][] = [];
        for (const [name, value] of form)
          entries.push([name, typeof value === 'string' ? value : `${value.name}:${await value.text()}`]);
        fields.push(entries);
        return fields.length === 1 ? unauthorized(1) : HttpResponse.json({ ok: true });
      }),
    );
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    const form = new FormData();
    form.append('name', 'Ada');
    form.append('file', new Blob(['hello'], { type: 'text/plain' }), 'hello.txt');

    const response = await auth.fetch(`${APP}/upload`, { method: 'POST', body: form });

    expect(response.status).toBe(200);
    expect(refresh.seen).toHaveLength(1);
    expect(fields).toEqual([
      [
        ['name', 'Ada'],
        ['file', 'hello.txt:hello'],
      ],
      [
        ['name', 'Ada'],
        ['file', 'hello.txt:hello'],
      ],
    ]);
    auth.destroy();
  });

  it('replays a URLSearchParams body on the retry', async () => {
    const retry = expectReplayed(
      await sendWithOneUnauthorized((auth) =>
        auth.fetch(`${APP}/search`, { method: 'POST', body: new URLSearchParams({ q: 'tokens', page: '2' }) }),
      ),
    );
    expect(retry.body).toBe('q=tokens&page=2');
    expect(retry.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/);
  });

  it('replays the body of a Request input on the retry', async () => {
    const retry = expectReplayed(
      await sendWithOneUnauthorized((auth) =>
        auth.fetch(
          new Request(`${APP}/items/7?v=1`, {
            method: 'PUT',
            headers: { 'Content-Type': 'text/plain', 'X-Trace': 't-2' },
            body: 'replace me',
          }),
        ),
      ),
    );
    expect(retry).toMatchObject({ method: 'PUT', url: `${APP}/items/7?v=1`, body: 'replace me' });
    expect(retry.headers).toMatchObject({ 'content-type': 'text/plain', 'x-trace': 't-2' });
  });

  it('replays a Request input combined with init (method and headers from init, body from the Request)', async () => {
    // The Request's body is an untyped Blob so that it brings no Content-Type of its own: msw's raw-header
    // recording (patched Headers/Request) would otherwise report a header given by both the Request and init
    // twice ("text/plain;charset=UTF-8, text/plain"), an artefact of the test server, not of auth.fetch.
    const retry = expectReplayed(
      await sendWithOneUnauthorized((auth) =>
        auth.fetch(new Request(`${APP}/items?mode=merge`, { method: 'POST', body: new Blob(['from the request']) }), {
          method: 'PUT',
          headers: { 'X-Trace': 't-3' },
        }),
      ),
    );
    expect(retry).toMatchObject({ method: 'PUT', url: `${APP}/items?mode=merge`, body: 'from the request' });
    expect(retry.headers['x-trace']).toBe('t-3');
  });

  it('sends one refresh for 20 concurrent calls answered 401, and 20 retries with the new token', async () => {
    const refresh = rotatingRefresh();
    const old = jwtFor(3600);
    const api = apiEndpoint((_call, request) =>
      request.authorization === `Bearer ${old}` ? unauthorized(0) : HttpResponse.json({ ok: true }),
    );
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });

    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => auth.fetch(`${APP}/items/${i}`)));

    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
    expect(refresh.seen).toHaveLength(1);
    const fresh = auth.getState().accessToken;
    expect(fresh).not.toBe(old);
    expect(api.seen).toHaveLength(40);
    expect(api.seen.filter((request) => request.authorization === `Bearer ${old}`)).toHaveLength(20);
    const retries = api.seen.filter((request) => request.authorization === `Bearer ${fresh}`);
    expect(retries).toHaveLength(20);
    expect(new Set(retries.map((request) => request.url)).size).toBe(20);
    auth.destroy();
  });

  it('returns the original 401 and signs out (refresh-rejected) when the refresh is rejected', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }));
    const api = apiEndpoint(unauthorized);
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const logouts = collect(auth, 'logout');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(401);
    expect(response.headers.get('X-Attempt')).toBe('1');
    expect(api.seen).toHaveLength(1);
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(logouts).toEqual([{ reason: 'refresh-rejected' }]);
    auth.destroy();
  });

  it('waits for the refresh and sends the new token when the token has expired', async () => {
    vi.useFakeTimers();
    const refresh = rotatingRefresh();
    const api = apiEndpoint();
    server.use(refresh.handler, api.handler);
    const auth = createAuth();
    const old = jwtFor(3600);
    await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });
    // The device slept past expiry: the clock moved on, no timer ran.
    vi.setSystemTime(Date.now() + 2 * 3600_000);

    const response = await auth.fetch(`${APP}/me`);

    expect(response.status).toBe(200);
    expect(refresh.seen).toHaveLength(1);
    const fresh = auth.getState().accessToken;
    expect(fresh).not.toBe(old);
    expect(api.seen.map((request) => request.authorization)).toEqual([`Bearer ${fresh}`]);
    auth.destroy();
  });
});

describe('auth.fetch: abort while waiting for a shared refresh', () => {
  it.each<[string, (auth: TokenManager, signal: AbortSignal) => Promise<Response>]>([
    ['init.signal', (auth, signal) => auth.fetch(`${APP}/aborted`, { signal })],
    ['the signal of a Request input', (auth, signal) => auth.fetch(new Request(`${APP}/aborted`, { signal }))],
  ])(
    'rejects the call aborted via %s with the abort reason; the refresh goes on for the others',
    async (_case, fetchWithSignal) => {
      vi.useFakeTimers();
      let refreshArrived!: () => void;
      const arrived = new Promise<void>((resolve) => {
        refreshArrived = resolve;
      });
      let answerRefresh!: () => void;
      const answered = new Promise<void>((resolve) => {
        answerRefresh = resolve;
      });
      const refresh = refreshEndpoint(async () => {
        refreshArrived();
        await answered;
        return HttpResponse.json({ access_token: jwtFor(3600) });
      });
      const api = apiEndpoint();
      server.use(refresh.handler, api.handler);
      const auth = createAuth();
      const old = jwtFor(3600);
      await auth.setTokens({ accessToken: old, refreshToken: 'rt-1' });
      vi.setSystemTime(Date.now() + 2 * 3600_000);

      const controller = new AbortController();
      const aborted = fetchWithSignal(auth, controller.signal);
      const others = [auth.fetch(`${APP}/first`), auth.fetch(`${APP}/second`)];
      await arrived;
      const reason = new Error('the user left the page');
      controller.abort(reason);

      await expect(aborted).rejects.toBe(reason);
      expect(auth.getState().refreshing).toBe(true);
      answerRefresh();
      const responses = await Promise.all(others);

      expect(responses.map((response) => response.status)).toEqual([200, 200]);
      expect(refresh.seen).toHaveLength(1);
      const fresh = auth.getState().accessToken;
      expect(fresh).not.toBe(old);
      expect(api.seen.map((request) => [request.url, request.authorization])).toEqual([
        [`${APP}/first`, `Bearer ${fresh}`],
        [`${APP}/second`, `Bearer ${fresh}`],
      ]);
      auth.destroy();
    },
  );
});
