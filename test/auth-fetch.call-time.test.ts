// auth.fetch takes the request at the call: what the caller changes afterwards (its URL object, init, headers,
// body) changes nothing in what is sent, or where; every kind of body is replayed on the retry after a 401; and
// a URL input goes to fetch as (url, init) with the header added, without a Request built for it.
import { describe, expect, it } from 'vitest';
import { createTokenManager, type TokenManager } from 'tokenkeeper';
import { HttpResponse, http, noResume, REFRESH_URL, rotatingRefresh, server, startServer } from './support/environment';
import { jwtFor } from './support/jwt';
import { numberedKeys, trackManagers } from './support/managers';

const APP = 'https://app.test';
startServer();
const nextStorageKey = numberedKeys('auth-fetch-call-time');
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  allowedOrigins: [APP],
  onResume: noResume,
  storageKey: nextStorageKey(),
}));

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
  headers: Record<string, string>;
  body: string;
}

/** The API at `${APP}/*`: records each request; the first `unauthorizedFirst` calls are answered 401. */
function api(unauthorizedFirst = 0) {
  const seen: Seen[] = [];
  const handler = http.all(`${APP}/*`, async ({ request }) => {
    seen.push({
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
    return seen.length <= unauthorizedFirst
      ? HttpResponse.json({ error: 'invalid_token' }, { status: 401 })
      : HttpResponse.json({ ok: true });
  });
  return { handler, seen };
}

async function signedIn(): Promise<{ auth: TokenManager; token: string }> {
  const auth = createAuth();
  const token = jwtFor(3600);
  await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
  return { auth, token };
}

describe('auth.fetch: the request is taken at the call', () => {
  it('sends the URL, headers and body as they were at the call, whatever the caller changes before it goes out', async () => {
    const endpoint = api();
    server.use(endpoint.handler);
    const { auth, token } = await signedIn();
    const url = new URL(`${APP}/items?page=1`);
    const headers: Record<string, string> = { 'X-Trace': 'before' };
    const form = new URLSearchParams({ q: 'before' });
    const init: RequestInit = { method: 'POST', headers, body: form };

    const pending = auth.fetch(url, init);
    url.hostname = 'evil.test';
    headers['X-Trace'] = 'after';
    headers.Authorization = 'Bearer forged';
    form.set('q', 'after');
    init.method = 'DELETE';
    const response = await pending;

    expect(response.status).toBe(200);
    expect(endpoint.seen).toHaveLength(1);
    expect(endpoint.seen[0]).toMatchObject({
      method: 'POST',
      url: `${APP}/items?page=1`,
      authorization: `Bearer ${token}`,
      body: 'q=before',
    });
    expect(endpoint.seen[0]!.headers['x-trace']).toBe('before');
  });

  it('keeps FormData, bytes and header lists as they were at the call, also while the token is being refreshed', async () => {
    const refresh = rotatingRefresh();
    const endpoint = api();
    server.use(refresh.handler, endpoint.handler);
    const auth = createAuth();
    // Expired at the call: the request waits for the refresh, during which the caller changes its objects.
    await auth.setTokens({ accessToken: jwtFor(-10), refreshToken: 'rt-1' });
    const form = new FormData();
    form.append('name', 'Ada');
    const bytes = new Uint8Array([104, 105]);
    const headerList: [string, string][] = [['X-Trace', 'before']];

    const first = auth.fetch(`${APP}/form`, { method: 'POST', body: form });
    const second = auth.fetch(`${APP}/bytes`, { method: 'POST', body: bytes, headers: headerList });
    form.set('name', 'Mallory');
    bytes[0] = 120;
    headerList[0]![1] = 'after';
    headerList.push(['Authorization', 'Bearer forged']);
    await Promise.all([first, second]);

    expect(refresh.seen).toHaveLength(1);
    const fresh = auth.getState().accessToken;
    const byPath = Object.fromEntries(endpoint.seen.map((seen) => [new URL(seen.url).pathname, seen]));
    expect(byPath['/form']!.body).toContain('Ada');
    expect(byPath['/form']!.body).not.toContain('Mallory');
    expect(byPath['/bytes']!.body).toBe('hi');
    expect(byPath['/bytes']!.headers['x-trace']).toBe('before');
    for (const seen of endpoint.seen) expect(seen.authorization).toBe(`Bearer ${fresh}`);
  });
});

describe('auth.fetch: every kind of body is replayed on the retry after a 401', () => {
  const bodies: [string, () => BodyInit, string][] = [
    ['an ArrayBuffer', () => new TextEncoder().encode('array buffer').buffer as ArrayBuffer, 'array buffer'],
    [
      'a typed array view into a larger buffer',
      () => new Uint8Array(new TextEncoder().encode('xxviewxx').buffer, 2, 4),
      'view',
    ],
    ['a Blob', () => new Blob(['a blob']), 'a blob'],
    [
      'a ReadableStream',
      () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('a stream'));
            controller.close();
          },
        }),
      'a stream',
    ],
  ];

  it.each(bodies)('replays %s', async (_kind, makeBody, text) => {
    const refresh = rotatingRefresh();
    const endpoint = api(1);
    server.use(refresh.handler, endpoint.handler);
    const { auth, token } = await signedIn();

    const response = await auth.fetch(`${APP}/upload`, {
      method: 'PUT',
      body: makeBody(),
      headers: { 'Content-Type': 'application/octet-stream' },
      duplex: 'half',
    } as RequestInit);

    expect(response.status).toBe(200);
    expect(refresh.seen).toHaveLength(1);
    expect(endpoint.seen.map((seen) => [seen.method, seen.body, seen.authorization])).toEqual([
      ['PUT', text, `Bearer ${token}`],
      ['PUT', text, `Bearer ${auth.getState().accessToken}`],
    ]);
  });
});

describe('auth.fetch: what reaches fetch', () => {
  /** A manager whose fetch records its arguments and answers 200. */
  async function recorded(): Promise<{ auth: TokenManager; calls: [unknown, RequestInit | undefined][] }> {
    const calls: [unknown, RequestInit | undefined][] = [];
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      allowedOrigins: [APP],
      onResume: noResume,
      storage: 'memory',
      fetch: async (input, init) => {
        calls.push([input, init]);
        // As fetch does: what it would refuse is refused; the rest answered 200.
        new Request(input, init);
        return new Response(null, { status: 200 });
      },
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    return { auth, calls };
  }

  it('hands a URL input to fetch as (url, init), its headers as a plain object with the header added', async () => {
    const { auth, calls } = await recorded();
    const token = auth.getState().accessToken;
    const expected = { 'X-Trace': 't', Authorization: `Bearer ${token}` };

    await auth.fetch(`${APP}/a`);
    await auth.fetch(`${APP}/b`, { headers: { 'X-Trace': 't' } });
    await auth.fetch(`${APP}/c`, { headers: [['X-Trace', 't']] });
    await auth.fetch(`${APP}/d`, { headers: new Map([['X-Trace', 't']]) as unknown as HeadersInit });
    await auth.fetch(`${APP}/e`, {
      headers: (function* () {
        yield ['X-Trace', 't'];
      })() as unknown as HeadersInit,
    });
    await auth.fetch(`${APP}/f`, { headers: new Headers({ 'X-Trace': 't' }) });
    // A name given twice keeps both values, as fetch would send them.
    await auth.fetch(`${APP}/g`, {
      headers: [
        ['Accept', 'text/plain'],
        ['Accept', 'application/json'],
      ],
    });

    expect(calls.map(([input]) => input)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((path) => `${APP}/${path}`));
    expect({ ...calls[0]![1]!.headers }).toEqual({ Authorization: `Bearer ${token}` });
    for (const [, init] of calls.slice(1, 5)) expect({ ...init!.headers }).toEqual(expected);
    expect({ ...calls[5]![1]!.headers }).toEqual({ 'x-trace': 't', Authorization: `Bearer ${token}` });
    expect(new Headers(calls[6]![1]!.headers).get('accept')).toBe('text/plain, application/json');
    expect(new Headers(calls[6]![1]!.headers).get('accept')).toBe(
      new Headers([
        ['Accept', 'text/plain'],
        ['Accept', 'application/json'],
      ]).get('accept'),
    );
    auth.destroy();
  });

  it("keeps a Request input's referrer policy, whether the token is added or its own Authorization kept", async () => {
    const { auth, calls } = await recorded();
    const token = auth.getState().accessToken;

    await auth.fetch(new Request(`${APP}/a`, { referrerPolicy: 'no-referrer' }));
    await auth.fetch(new Request(`${APP}/b`, { referrerPolicy: 'no-referrer', headers: { Authorization: 'Basic x' } }));

    const sent = calls.map(([input, init]) => [input as Request, init] as const);
    expect(sent.map(([request, init]) => [request.url, request.referrerPolicy, init])).toEqual([
      [`${APP}/a`, 'no-referrer', undefined],
      [`${APP}/b`, 'no-referrer', undefined],
    ]);
    expect(sent.map(([request]) => request.headers.get('authorization'))).toEqual([`Bearer ${token}`, 'Basic x']);
    auth.destroy();
  });

  it('rejects with the reason of a signal aborted before the call, sending nothing', async () => {
    const { auth, calls } = await recorded();

    await expect(auth.fetch(`${APP}/a`, { signal: AbortSignal.abort('gone') })).rejects.toBe('gone');
    await expect(auth.fetch(new Request(`${APP}/b`, { signal: AbortSignal.abort('gone') }))).rejects.toBe('gone');

    expect(calls).toEqual([]);
    auth.destroy();
  });

  it('refuses what fetch refuses (a GET with a body) at once, before waiting for the refresh an expired token needs', async () => {
    const { auth, calls } = await recorded();
    await auth.setTokens({ accessToken: jwtFor(-10), refreshToken: 'rt-2' });
    calls.length = 0;

    await expect(auth.fetch(`${APP}/a`, { body: 'x' })).rejects.toBeInstanceOf(TypeError);
    await expect(auth.fetch(`${APP}/a`, { method: 'bad method' })).rejects.toBeInstanceOf(TypeError);

    // The calls went to fetch as they were made (which refused them), with no token and without waiting for a
    // refresh (the proactive one may run meanwhile: it is left out here).
    const toApi = calls.filter(([input]) => input !== REFRESH_URL);
    expect(toApi.map(([input]) => input)).toEqual([`${APP}/a`, `${APP}/a`]);
    for (const [, init] of toApi) expect(new Headers(init?.headers).has('authorization')).toBe(false);
    auth.destroy();
  });

  it('leaves alone a request whose headers carry Authorization in any case and of any kind', async () => {
    const { auth, calls } = await recorded();

    await auth.fetch(`${APP}/a`, { headers: { AUTHORIZATION: 'Basic abc' } });
    await auth.fetch(`${APP}/b`, { headers: [['authorization', 'Basic abc']] });
    await auth.fetch(`${APP}/c`, { headers: new Headers({ Authorization: 'Basic abc' }) });

    for (const [, init] of calls) expect(new Headers(init!.headers).get('authorization')).toBe('Basic abc');
    auth.destroy();
  });
});
