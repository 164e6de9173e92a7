// auth.fetch tried as an attacker would: URL inputs sent as fetch(url, init) with the header added to a copy of
// the caller's headers, bodies copied at the call, the token taken without waiting, origin answers remembered.
// Each test compares with what plain fetch sends for the same (input, init) where that is the question.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { passthrough } from 'msw';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, type TokenManager } from 'tokenkeeper';
import { HttpResponse, http, noResume, REFRESH_URL, rotatingRefresh, server, startServer } from './support/environment';
import { jwtFor } from './support/jwt';
import { numberedKeys, trackManagers } from './support/managers';

const APP = 'https://app.test';
startServer();
const nextStorageKey = numberedKeys('auth-fetch-attack');
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

/** Every request to any host except the refresh endpoint; the first `unauthorizedFirst` answered 401 (bodiless). */
function network(unauthorizedFirst = 0) {
  const seen: Seen[] = [];
  const handler = http.all(/^https?:\/\/(?!api\.test\/auth\/)/, async ({ request }) => {
    const bytes = new Uint8Array(await request.arrayBuffer());
    seen.push({
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      headers: Object.fromEntries(request.headers),
      body: Buffer.from(bytes).toString('latin1'),
    });
    return seen.length <= unauthorizedFirst ? new HttpResponse(null, { status: 401 }) : HttpResponse.json({ ok: true });
  });
  return { handler, seen };
}

async function signedIn(
  options: Parameters<typeof createAuth>[0] = {},
): Promise<{ auth: TokenManager; token: string }> {
  const auth = createAuth(options);
  const token = jwtFor(3600);
  await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
  return { auth, token };
}

type Outcome = { ok: true; seen: Seen[] } | { ok: false; error: string };

/** What the server sees for `call()`: the requests, or the error the call rejected with. */
async function outcome(net: { seen: Seen[] }, call: () => Promise<Response>): Promise<Outcome> {
  const from = net.seen.length;
  try {
    await call();
    return { ok: true, seen: net.seen.slice(from) };
  } catch (error) {
    return { ok: false, error: `${(error as Error).name}` };
  }
}

/** Multipart boundaries differ from one serialization to the next; everything else must not. */
const normalize = (seen: Seen[]): Seen[] =>
  seen.map((s) => {
    const boundary = /boundary=([^;]+)/.exec(s.headers['content-type'] ?? '')?.[1];
    const strip = (text: string): string => (boundary ? text.split(boundary).join('BOUNDARY') : text);
    const headers = Object.fromEntries(
      Object.entries(s.headers)
        .filter(([name]) => name !== 'authorization' && name !== 'content-length')
        .map(([name, value]) => [name, strip(value)]),
    );
    return { ...s, authorization: null, headers, body: strip(s.body) };
  });

/** Plain fetch and auth.fetch, each with a fresh (input, init) from `make`. */
async function twin(
  auth: TokenManager,
  net: { seen: Seen[] },
  make: () => [RequestInfo | URL, RequestInit?],
): Promise<{ plain: Outcome; authed: Outcome }> {
  const plain = await outcome(net, () => fetch(...make()));
  const authed = await outcome(net, () => auth.fetch(...make()));
  return { plain, authed };
}

// ---------------------------------------------------------------------------------------------------------------
// The cases below are checked against the real network (a local HTTP server and Node's own fetch, taken before msw
// patches it): msw's patched fetch itself ignores an inherited `signal` and drops a GET's body instead of throwing,
// so it cannot be the reference for what "plain fetch" does.
const realFetch = globalThis.fetch;

interface Real {
  origin: string;
  seen: Seen[];
  auth: TokenManager;
  token: string;
  plain: (input: RequestInfo | URL, init?: RequestInit) => Promise<Outcome>;
  authed: (input: RequestInfo | URL, init?: RequestInit) => Promise<Outcome>;
}

const realServers: Server[] = [];
afterEach(async () => {
  await Promise.all(realServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A local server recording every request, and a manager on Node's own fetch; `allowed` defaults to the server. */
async function real(allowed?: string[]): Promise<Real> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers)
          .filter(
            ([name]) =>
              ![
                'host',
                'connection',
                'accept',
                'accept-language',
                'sec-fetch-mode',
                'user-agent',
                'accept-encoding',
                'content-length',
                'transfer-encoding',
              ].includes(name),
          )
          .map(([name, value]) => [name, String(value)]),
      );
      seen.push({
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization ?? null,
        headers,
        body: Buffer.concat(chunks).toString('latin1'),
      });
      res.end('ok');
    });
  });
  realServers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  server.use(http.all(/^http:\/\/127\.0\.0\.1/, () => passthrough()));
  const auth = createAuth({ allowedOrigins: allowed ?? [origin], fetch: realFetch, storage: 'memory' });
  const token = jwtFor(3600);
  await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
  const net = { seen };
  return {
    origin,
    seen,
    auth,
    token,
    plain: (input, init) => outcome(net, () => realFetch(input, init)),
    authed: (input, init) => outcome(net, () => auth.fetch(input, init)),
  };
}

describe('init and headers read as fetch reads them (real network, Node fetch)', () => {
  it('reads an init whose members are inherited (class getters): the POST goes out as a POST, with its body', async () => {
    const r = await real();
    class JsonPost {
      constructor(private readonly data: unknown) {}
      get method(): string {
        return 'POST';
      }
      get headers(): Record<string, string> {
        return { 'Content-Type': 'application/json' };
      }
      get body(): string {
        return JSON.stringify(this.data);
      }
    }

    const plain = await r.plain(`${r.origin}/items`, new JsonPost({ a: 1 }) as RequestInit);
    const authed = await r.authed(`${r.origin}/items`, new JsonPost({ a: 1 }) as RequestInit);

    expect(plain).toMatchObject({
      ok: true,
      seen: [{ method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }],
    });
    // auth.fetch spreads `init` ({ ...init }): only own enumerable members survive. `body` and `headers` are read
    // with `init.body`/`init.headers` (getters work) but `method` is lost: fetch(url, { body, headers }) is a GET
    // with a body and rejects with TypeError. Before 766e455 (new Request(href, init)) this worked.
    expect(authed).toMatchObject({
      ok: true,
      seen: [{ method: 'POST', body: '{"a":1}', authorization: `Bearer ${r.token}` }],
    });
  });

  it('honours an inherited, already aborted signal (Object.create(defaults)): nothing is sent', async () => {
    const r = await real();
    const reason = new Error('user left the page');
    const defaults: RequestInit = { signal: AbortSignal.abort(reason), method: 'DELETE' };

    const plain = await realFetch(`${r.origin}/items/1`, Object.create(defaults)).then(
      () => 'sent',
      (error: Error) => error.message,
    );
    const authed = await r.auth.fetch(`${r.origin}/items/1`, Object.create(defaults)).then(
      () => 'sent',
      (error: Error) => error.message,
    );

    expect(plain).toBe('user left the page');
    // auth.fetch sent a GET (method lost too) with the bearer token although the caller had aborted.
    expect({ authed, sent: r.seen.map((s) => [s.method, s.authorization !== null]) }).toEqual({
      authed: plain,
      sent: [],
    });
  });

  it('honours an inherited signal aborted while the call waits for a refresh', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.use(
      http.post(REFRESH_URL, async () => {
        await gate;
        return HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'rt-2' });
      }),
    );
    const r = await real();
    // The fetch option is Node's own, so the refresh call (to api.test) must go through msw: use msw's fetch for it.
    const auth = createAuth({ allowedOrigins: [r.origin], storage: 'memory' });
    await auth.setTokens({ accessToken: jwtFor(-10), refreshToken: 'rt-1' });
    const controller = new AbortController();

    const pending = auth.fetch(`${r.origin}/x`, Object.create({ signal: controller.signal })).then(
      () => 'sent',
      (error: Error) => error.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    controller.abort(new Error('stop'));
    const early = await Promise.race([
      pending,
      new Promise((resolve) => setTimeout(() => resolve('still waiting'), 100)),
    ]);
    release();
    await pending;

    expect(early).toBe('stop');
  });

  it('takes a Request object used as init (fetch(url, request)) with its method, as fetch does', async () => {
    const r = await real();
    const make = (): RequestInit =>
      new Request(`${r.origin}/template`, { method: 'PUT', headers: { 'X-A': '1' } }) as unknown as RequestInit;

    const plain = await r.plain(`${r.origin}/copy`, make());
    const authed = await r.authed(`${r.origin}/copy`, make());

    expect(plain).toMatchObject({ ok: true, seen: [{ method: 'PUT', headers: { 'x-a': '1' } }] });
    expect(authed).toMatchObject({ ok: true, seen: [{ method: 'PUT', headers: { 'x-a': '1' } }] });
  });

  it('passes a Request input with a body to an origin that is not allowed through untouched, its body unread', async () => {
    const r = await real(['https://app.test']);

    const plain = await r.plain(new Request(`${r.origin}/upload`, { method: 'POST', body: 'payload' }));
    const authed = await r.authed(new Request(`${r.origin}/upload`, { method: 'POST', body: 'payload' }));

    expect(plain).toMatchObject({ ok: true, seen: [{ method: 'POST', body: 'payload', authorization: null }] });
    // viaRequest builds `new Request(input, init)` (which takes over the input's body and locks it) before the
    // origin check, then hands the ORIGINAL, now used, input to fetch: "Request body is unusable". Same before
    // 766e455; affects every POST/PUT Request to a third-party origin made through auth.fetch.
    expect(authed).toEqual(plain);
  });

  it('control: a Request input with a body, once destroyed, goes through (the case above is the origin-checked path)', async () => {
    const r = await real();
    r.auth.destroy();
    const authed = await r.authed(new Request(`${r.origin}/upload`, { method: 'POST', body: 'payload' }));
    expect(authed).toMatchObject({ ok: true, seen: [{ method: 'POST', body: 'payload' }] });
  });

  it('reads a Set of header pairs (any iterable of pairs is a HeadersInit) and adds the token', async () => {
    const r = await real();

    const plain = await r.plain(`${r.origin}/me`, { headers: new Set([['X-Trace', 't']]) as unknown as HeadersInit });
    const authed = await r.authed(`${r.origin}/me`, { headers: new Set([['X-Trace', 't']]) as unknown as HeadersInit });

    expect(plain).toMatchObject({ ok: true, seen: [{ headers: { 'x-trace': 't' } }] });
    // isHeaders() takes anything with forEach (and not an array) for a Headers; Set#forEach passes (pair, pair),
    // so the copy throws on the header name "X-Trace,t" and the catch sends the request through without token.
    expect(authed).toMatchObject({
      ok: true,
      seen: [{ headers: { 'x-trace': 't' }, authorization: `Bearer ${r.token}` }],
    });
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('what fetch rejects, auth.fetch rejects too (real network)', () => {
  it.each<[string, (origin: string) => [string, RequestInit?]]>([
    ['a header pair given as a string ("ab")', (o) => [`${o}/x`, { headers: ['ab'] as unknown as HeadersInit }]],
    ['headers: null', (o) => [`${o}/x`, { headers: null as unknown as HeadersInit }]],
    ['an init that is a string', (o) => [`${o}/x`, 'abc' as unknown as RequestInit]],
    [
      'a resizable ArrayBuffer body',
      (o) => [
        `${o}/x`,
        {
          method: 'POST',
          body: new (ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer)(
            4,
            {
              maxByteLength: 8,
            },
          ),
        },
      ],
    ],
  ])('%s: rejected with a TypeError, as plain fetch rejects it', async (_name, make) => {
    const r = await real();

    const plain = await r.plain(...make(r.origin));
    const authed = await r.authed(...make(r.origin));

    expect(plain).toEqual({ ok: false, error: 'TypeError' });
    expect(authed).toEqual(plain);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('origins (Node: no page, allowedOrigins: [https://app.test])', () => {
  const inputs: [string, string | URL, boolean][] = [
    ['upper-case scheme and host', 'HTTPS://APP.TEST/x', true],
    ['default port', 'https://app.test:443/x', true],
    ['backslashes on a special scheme', 'https:\\\\app.test\\x', true],
    ['single slash special scheme', 'https:/app.test/x', true],
    ['no slash special scheme', 'https:app.test/x', true],
    ['percent-encoded dot in the host', 'https://app%2Etest/x', true],
    ['leading spaces and C0 controls', ' \u0001\thttps://app.test/x', true],
    ['userinfo naming the app', 'https://app.test@evil.test/x', false],
    ['userinfo with backslash', 'https://evil.test\\@app.test/x', false],
    ['tab inside the host', 'https://app.test\t.evil.test/x', false],
    ['newline inside the host', 'https://app.\ntest.evil.test/x', false],
    ['percent-encoded dot making a subdomain', 'https://app.test%2Eevil.test/x', false],
    ['other port', 'https://app.test:8443/x', false],
    ['http for https', 'http://app.test/x', false],
    ['IPv6 host', 'https://[::1]/x', false],
    ['trailing-dot host', 'https://app.test./x', false],
    ['fullwidth dot (IDNA maps to .)', 'https://app\uFF0Etest/x', true],
    ['relative path without a page', '/x', false],
    ['protocol-relative without a page', '//app.test/x', false],
  ];

  it.each(inputs)(
    '%s: %j, asked twice, gets the token only when allowed, and goes where fetch sends it',
    async (_n, input, allowed) => {
      const net = network();
      server.use(net.handler);
      const { auth, token } = await signedIn();

      const plain = await outcome(net, () => fetch(input));
      const first = await outcome(net, () => auth.fetch(input));
      const second = await outcome(net, () => auth.fetch(input));

      for (const result of [first, second]) {
        expect(result.ok).toBe(plain.ok);
        if (!result.ok || !plain.ok) continue;
        expect(result.seen.map((s) => s.url)).toEqual(plain.seen.map((s) => s.url));
        const origin = new URL(result.seen[0]!.url).origin;
        expect(result.seen[0]!.authorization).toBe(allowed && origin === APP ? `Bearer ${token}` : null);
        if (origin !== APP) expect(result.seen[0]!.authorization).toBeNull();
      }
    },
  );

  it('a URL object mutated right after the call, and a toString that changes, never move the token', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    let calls = 0;
    const shifty = {
      toString: () => {
        calls += 1;
        return calls % 2 === 1 ? 'https://evil.test/x' : `${APP}/x`;
      },
    };
    const shifty2 = {
      toString: () => {
        calls += 1;
        return calls % 2 === 1 ? `${APP}/y` : 'https://evil.test/y';
      },
    };
    const url = new URL(`${APP}/z`);

    calls = 0;
    await auth.fetch(shifty as unknown as string);
    calls = 0;
    await auth.fetch(shifty2 as unknown as string);
    const pending = auth.fetch(url);
    url.host = 'evil.test';
    await pending;

    // shifty: checked as evil.test (no token), then handed untouched to fetch, which stringifies it again and
    // sends it to app.test, without a token: fine. shifty2: checked and sent as app.test/y, never to evil.test.
    expect(net.seen.map((s) => [s.url, s.authorization])).toEqual([
      [`${APP}/x`, null],
      [`${APP}/y`, `Bearer ${token}`],
      [`${APP}/z`, `Bearer ${token}`],
    ]);
  });

  it('an allowedOrigins function is asked on every call: a changed answer is honoured (no stale cache)', async () => {
    const net = network();
    server.use(net.handler);
    let open = true;
    const { auth, token } = await signedIn({ allowedOrigins: (url) => open && url.origin === APP });

    await auth.fetch(`${APP}/x`);
    open = false;
    await auth.fetch(`${APP}/x`);
    expect(auth.isAllowedOrigin(`${APP}/x`)).toBe(false);

    expect(net.seen.map((s) => s.authorization)).toEqual([`Bearer ${token}`, null]);
  });

  it('an allowedOrigins function that mutates the URL it is given changes nothing in where the request goes', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn({
      allowedOrigins: (url) => {
        const ok = url.origin === APP;
        url.host = 'evil.test';
        return ok;
      },
    });

    await auth.fetch(`${APP}/x`);

    expect(net.seen.map((s) => [s.url, s.authorization])).toEqual([[`${APP}/x`, `Bearer ${token}`]]);
  });

  it('after destroy(), a remembered allowed URL is passed through untouched', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();

    await auth.fetch(`${APP}/x`);
    auth.destroy();
    await auth.fetch(`${APP}/x`);

    expect(net.seen.map((s) => s.authorization)).toEqual([`Bearer ${token}`, null]);
  });

  it('past 64 remembered inputs the answers stay right (cache cleared, never wrong)', async () => {
    const net = network();
    server.use(net.handler);
    const { auth } = await signedIn();
    for (let i = 0; i < 70; i += 1) {
      expect(auth.isAllowedOrigin(`${APP}/p${i}`)).toBe(true);
      expect(auth.isAllowedOrigin(`https://evil${i}.test/p`)).toBe(false);
    }
    expect(auth.isAllowedOrigin(`${APP}/p0`)).toBe(true);
    expect(auth.isAllowedOrigin('https://evil0.test/p')).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('redirects with a real network (undici, no msw in the way)', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });
  const listen = async (handler: Parameters<typeof createServer>[1]): Promise<string> => {
    const s = createServer(handler);
    servers.push(s);
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };

  it('a token sent to an allowed origin that redirects (302, 307) to another origin does not reach it', async () => {
    server.use(http.all(/^http:\/\/127\.0\.0\.1/, () => passthrough()));
    const seenByEvil: (string | undefined)[] = [];
    const evil = await listen((req, res) => {
      seenByEvil.push(req.headers.authorization);
      req.resume();
      res.end('ok');
    });
    const good = await listen((req, res) => {
      req.resume();
      res.writeHead(req.url === '/302' ? 302 : 307, { Location: `${evil}/landing` }).end();
    });
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      allowedOrigins: [good],
      onResume: noResume,
      storage: 'memory',
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await auth.fetch(`${good}/302`);
    await auth.fetch(`${good}/307`, { method: 'POST', body: 'x' });
    auth.destroy();

    expect(seenByEvil).toEqual([undefined, undefined]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('the caller’s own Authorization', () => {
  const own: [string, () => HeadersInit][] = [
    ['plain object, lower case', () => ({ authorization: 'Basic me' })],
    ['plain object, upper case', () => ({ AUTHORIZATION: 'Basic me' })],
    ['list of pairs, mixed case', () => [['AuThOrIzAtIoN', 'Basic me']]],
    ['Headers', () => new Headers({ Authorization: 'Basic me' })],
    ['Map', () => new Map([['authorization', 'Basic me']]) as unknown as HeadersInit],
    [
      'generator of pairs',
      () =>
        (function* () {
          yield ['Authorization', 'Basic me'];
        })() as unknown as HeadersInit,
    ],
    [
      'URLSearchParams used as pairs',
      () => new URLSearchParams({ Authorization: 'Basic me' }) as unknown as HeadersInit,
    ],
    [
      'a value that is undefined (fetch sends "undefined")',
      () => ({ Authorization: undefined }) as unknown as HeadersInit,
    ],
  ];

  it.each(own)('%s: left exactly as plain fetch sends it, never overwritten nor duplicated', async (_n, make) => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();

    const { plain, authed } = await twin(auth, net, () => [`${APP}/x`, { headers: make() }]);

    expect(plain.ok && authed.ok).toBe(true);
    if (!plain.ok || !authed.ok) return;
    expect(authed.seen[0]!.authorization).toBe(plain.seen[0]!.authorization);
    expect(authed.seen[0]!.authorization).not.toContain(token);
  });

  it('a Request input carrying its own Authorization (init adds nothing) is left as it is, also on a 401', async () => {
    const net = network(1);
    server.use(net.handler);
    const { auth } = await signedIn();

    const response = await auth.fetch(new Request(`${APP}/x`, { headers: { Authorization: 'Basic me' } }));

    expect(response.status).toBe(401);
    expect(net.seen.map((s) => s.authorization)).toEqual(['Basic me']);
  });

  it('a Request input with its own Authorization that init replaces with headers lacking it gets the token, as fetch would drop it', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();

    await auth.fetch(new Request(`${APP}/x`, { headers: { Authorization: 'Basic me' } }), { headers: { 'X-A': '1' } });

    expect(net.seen.map((s) => [s.authorization, s.headers['x-a']])).toEqual([[`Bearer ${token}`, '1']]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('bodies: sent as plain fetch sends them, replayed identically after a 401, immune to later mutation', () => {
  const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
  const bodies: [string, () => BodyInit, (body: BodyInit) => void][] = [
    ['a string', () => 'plain text', () => {}],
    ['an empty string', () => '', () => {}],
    ['a String object', () => new String('boxed') as unknown as BodyInit, () => {}],
    ['a typed Blob', () => new Blob(['{"a":1}'], { type: 'application/json' }), () => {}],
    ['a File', () => new File(['file body'], 'f.txt', { type: 'text/plain' }), () => {}],
    ['URLSearchParams', () => new URLSearchParams({ q: 'a b&c' }), (b) => (b as URLSearchParams).set('q', 'mutated')],
    [
      'FormData with a named file',
      () => {
        const form = new FormData();
        form.append('name', 'Ada');
        form.append('file', new Blob(['bytes'], { type: 'image/png' }), 'pic.png');
        form.append('file2', new File(['x'], 'orig.txt', { type: 'text/plain', lastModified: 1 }));
        return form;
      },
      (b) => (b as FormData).set('name', 'Mallory'),
    ],
    [
      'an ArrayBuffer',
      () => enc('array buffer').buffer as ArrayBuffer,
      (b) => new Uint8Array(b as ArrayBuffer).fill(120),
    ],
    [
      'a Node Buffer (a view into the shared pool, offset ≠ 0)',
      () => Buffer.from('pooled buffer') as unknown as BodyInit,
      (b) => (b as unknown as Buffer).fill(120),
    ],
    [
      'a DataView with an offset',
      () => new DataView(enc('xxdataviewxx').buffer, 2, 8) as unknown as BodyInit,
      (b) => new Uint8Array((b as DataView).buffer).fill(120),
    ],
    [
      'a Float64Array subarray',
      () => new Float64Array([1.5, 2.5, 3.5, 4.5]).subarray(1, 3),
      (b) => (b as Float64Array).fill(0),
    ],
    [
      'a Uint16Array view with odd length',
      () => new Uint16Array(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer, 2, 2),
      (b) => (b as Uint16Array).fill(0),
    ],
    [
      'a ReadableStream (duplex half)',
      () =>
        new ReadableStream({
          start(controller) {
            controller.enqueue(enc('stream '));
            controller.enqueue(enc('chunks'));
            controller.close();
          },
        }),
      () => {},
    ],
    [
      'an async iterable (Node fetch accepts it)',
      () =>
        (async function* () {
          yield enc('async ');
          yield enc('iter');
        })() as unknown as BodyInit,
      () => {},
    ],
  ];

  it.each(bodies)('%s', async (_n, makeBody, mutate) => {
    const refresh = rotatingRefresh();
    const net = network();
    server.use(refresh.handler, net.handler);
    const { auth, token } = await signedIn();
    const init = (body: BodyInit): RequestInit => ({ method: 'POST', body, duplex: 'half' }) as RequestInit;

    const plain = await outcome(net, () => fetch(`${APP}/up`, init(makeBody())));
    expect(plain.ok).toBe(true);
    if (!plain.ok) return;

    // First 401, then 200: the retry must replay the same bytes and content type, and later mutation of the
    // caller's body must change nothing.
    const net401 = network(1);
    server.use(net401.handler);
    const body = makeBody();
    const pending = auth.fetch(`${APP}/up`, init(body));
    mutate(body);
    const response = await pending;
    expect(response.status).toBe(200);
    const fresh = auth.getState().accessToken;
    expect(net401.seen.map((s) => s.authorization)).toEqual([`Bearer ${token}`, `Bearer ${fresh}`]);
    expect(normalize(net401.seen)).toEqual([normalize(plain.seen)[0], normalize(plain.seen)[0]]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('Request inputs with an init, compared with plain fetch', () => {
  it.each<[string, () => [RequestInfo, RequestInit?]]>([
    [
      'init overrides method, headers and body',
      () => [
        new Request(`${APP}/r`, { method: 'POST', body: 'orig', headers: { 'X-A': 'orig' } }),
        { method: 'PUT', body: 'over', headers: { 'X-B': 'over' } },
      ],
    ],
    [
      'init with only headers keeps the body',
      () => [new Request(`${APP}/r`, { method: 'POST', body: 'orig' }), { headers: { 'X-B': '1' } }],
    ],
    ['GET Request, no init', () => [new Request(`${APP}/r?q=1`)]],
  ])('%s: same request, token added, replayed on a 401', async (_n, make) => {
    const refresh = rotatingRefresh();
    server.use(refresh.handler);
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    const plain = await outcome(net, () => fetch(...make()));
    const net401 = network(1);
    server.use(net401.handler);

    const response = await auth.fetch(...make());

    expect(response.status).toBe(200);
    expect(plain.ok).toBe(true);
    if (!plain.ok) return;
    expect(net401.seen.map((s) => s.authorization)).toEqual([
      `Bearer ${token}`,
      `Bearer ${auth.getState().accessToken}`,
    ]);
    expect(normalize(net401.seen)).toEqual([normalize(plain.seen)[0], normalize(plain.seen)[0]]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('abort, destroy, errors', () => {
  it('an own, already aborted signal with the token at hand rejects with the reason and sends nothing', async () => {
    const net = network();
    server.use(net.handler);
    const { auth } = await signedIn();
    const reason = new Error('gone');

    await expect(auth.fetch(`${APP}/x`, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    await expect(auth.fetch(new Request(`${APP}/x`, { signal: AbortSignal.abort(reason) }))).rejects.toBe(reason);
    expect(net.seen).toHaveLength(0);
  });

  it('aborting while the call waits for the refresh after a 401 rejects that call; the body-stream retry is not sent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const refresh = http.post(REFRESH_URL, async () => {
      await gate;
      return HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'rt-2' });
    });
    const net = network(1);
    server.use(refresh, net.handler);
    const { auth } = await signedIn();
    const controller = new AbortController();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('s'));
        c.close();
      },
    });

    const pending = auth.fetch(`${APP}/x`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
      signal: controller.signal,
    } as RequestInit);
    await new Promise((resolve) => setTimeout(resolve, 50));
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(net.seen).toHaveLength(1);
  });

  it('destroy() while a call waits for a refresh: the request goes out without a token (or not at all), never with a stale one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const refresh = http.post(REFRESH_URL, async () => {
      await gate;
      return HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'rt-2' });
    });
    const net = network();
    server.use(refresh, net.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(-10), refreshToken: 'rt-1' });

    const pending = auth.fetch(`${APP}/x`).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 20));
    auth.destroy();
    release();
    await pending;

    for (const seen of net.seen) expect(seen.authorization).toBeNull();
  });

  it('never throws synchronously: a Symbol input, throwing getters, a fetch option that throws', async () => {
    const throwingFetch = (() => {
      throw new Error('sync fetch failure');
    }) as typeof fetch;
    const auth = createAuth({ fetch: throwingFetch, storage: 'memory' });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    const evilInit = {
      get headers(): never {
        throw new Error('headers getter');
      },
    } as RequestInit;

    const calls = [
      () => auth.fetch(Symbol('x') as unknown as string),
      () => auth.fetch(`${APP}/x`, evilInit),
      () => auth.fetch(`${APP}/x`),
      () => auth.fetch(new Request(`${APP}/x`)),
      () => auth.fetch('https://other.test/x'),
    ];
    for (const call of calls) {
      let result: unknown;
      expect(() => {
        result = call();
      }).not.toThrow();
      expect(result).toBeInstanceOf(Promise);
      await expect(result).rejects.toBeInstanceOf(Error);
    }
  });

  it('no error a failing call rejects with carries the token (real network)', async () => {
    const r = await real();
    const { auth, token } = r;
    const net = r;
    const APP = r.origin;
    const failing: [RequestInfo | URL, RequestInit?][] = [
      [`${APP}/x`, { headers: { 'X-Bad': 'a\nb' } }],
      [`${APP}/x`, { method: 'GET', body: 'x' }],
      [APP.replace('http://', 'http://user:pass@') + '/x'],
      [`${APP}/x`, { headers: [['X-A', 'b', 'c']] as unknown as HeadersInit }],
      [`${APP}/x`, { method: 'bad method' }],
      [`${APP}/x`, { mode: 'navigate' as RequestMode }],
      [`${APP}/x`, { method: 'POST', body: new ReadableStream() }],
    ];
    for (const args of failing) {
      const error = await auth.fetch(...args).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).not.toBeNull();
      const text = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack} ${String((error as Error).cause)}`;
      expect(text).not.toContain(token);
    }
    expect(net.seen.map((s) => s.authorization)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
describe('the token taken synchronously (tokenNow) against calls made in the same tick', () => {
  it('control: getAccessToken() right after a non-awaited setTokens(new login) gives the new token', async () => {
    const { auth } = await signedIn();
    const next = jwtFor(3600, { sub: 'user-2' });
    void auth.setTokens({ accessToken: next, refreshToken: 'rt-2' });
    expect(await auth.getAccessToken()).toBe(next);
  });

  it('logout() called (not awaited) before auth.fetch: the request carries no token', async () => {
    const net = network();
    server.use(
      net.handler,
      http.post('https://api.test/auth/logout', () => new HttpResponse(null, { status: 204 })),
    );
    const { auth } = await signedIn();

    void auth.logout();
    await auth.fetch(`${APP}/after-logout`);

    expect(net.seen.map((s) => s.authorization)).toEqual([null]);
  });

  it('sends the new login’s token when setTokens(new login) is called, not awaited, right before auth.fetch', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    const next = jwtFor(3600, { sub: 'user-2' });

    void auth.setTokens({ accessToken: next, refreshToken: 'rt-2' });
    await auth.fetch(`${APP}/after-login`);

    // tokenNow() reads the session synchronously; setTokens() applies the login only after `await loaded`.
    // getAccessToken() (and auth.fetch before 766e455) waits a microtask and sees the new login; auth.fetch now
    // sends user-1's token for a request made after user-2 signed in. logout() in the same place works.
    expect(net.seen.map((s) => (s.authorization === `Bearer ${token}` ? 'previous login' : s.authorization))).toEqual([
      `Bearer ${next}`,
    ]);
  });

  it('sends the new login’s token when setTokens(new login) with an async storage is not awaited before auth.fetch', async () => {
    const net = network();
    server.use(net.handler);
    const store = new Map<string, string>();
    const storage = {
      getItem: async (k: string) => store.get(k) ?? null,
      setItem: async (k: string, v: string) => void store.set(k, v),
      removeItem: async (k: string) => void store.delete(k),
    };
    const auth = createAuth({ storage });
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
    const next = jwtFor(3600, { sub: 'user-2' });

    void auth.setTokens({ accessToken: next, refreshToken: 'rt-2' });
    await auth.fetch(`${APP}/after-login`);
    void auth.logout();
    await auth.fetch(`${APP}/after-logout`);

    expect(net.seen.map((s) => s.authorization)).toEqual([`Bearer ${next}`, null]);
  });
});
