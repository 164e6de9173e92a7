// auth.fetch: 401 retry replays the request exactly, against a real node:http server with real Node fetch.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { deferred, jwt, type Seen, sleep, startServer, type TestServer } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Server: the first request of every path answers 401, later ones 200. */
async function server401Once(): Promise<TestServer> {
  const s = await startServer();
  const hits = new Map<string, number>();
  s.handler = (req, _b, res) => {
    const k = req.url ?? '';
    const h = (hits.get(k) ?? 0) + 1;
    hits.set(k, h);
    res.statusCode = h === 1 ? 401 : 200;
    res.end(h === 1 ? 'unauthorized' : 'ok');
  };
  cleanups.push(() => s.close());
  return s;
}

async function setup(opts: { gate?: Promise<void>; onRefresh?: () => void } = {}) {
  const s = await server401Once();
  const tokens: string[] = [];
  let refreshes = 0;
  const auth = createTokenManager({
    refresh: async () => {
      refreshes += 1;
      opts.onRefresh?.();
      if (opts.gate) await opts.gate;
      const t = jwt(3600);
      tokens.push(t);
      return { accessToken: t, refreshToken: `r${refreshes + 1}` };
    },
    allowedOrigins: [s.origin],
    channel: false,
  });
  cleanups.push(() => auth.destroy());
  const t0 = jwt(3600);
  tokens.push(t0);
  await auth.setTokens({ accessToken: t0, refreshToken: 'r1' });
  return { s, auth, tokens, refreshes: () => refreshes };
}

function normBoundary(seen: Seen) {
  const ct = String(seen.headers['content-type'] ?? '');
  const m = /boundary=(.+)$/.exec(ct);
  let body = seen.body.toString('latin1');
  let type = ct;
  if (m) {
    body = body.split(m[1]!).join('BOUNDARY');
    type = ct.replace(m[1]!, 'BOUNDARY');
  }
  return { type, body, method: seen.method, url: seen.url };
}

/** What plain fetch sends for the same body (the reference). */
async function reference(makeInit: () => RequestInit, method = 'POST') {
  const ref = await startServer();
  cleanups.push(() => ref.close());
  await fetch(`${ref.origin}/p`, { method, ...makeInit() });
  return normBoundary(ref.seen[0]!);
}

const bodies: [string, () => RequestInit][] = [
  ['string', () => ({ body: 'hello wörld' })],
  [
    'JSON string with content-type',
    () => ({ body: JSON.stringify({ a: [1, 'ü'] }), headers: { 'content-type': 'application/json' } }),
  ],
  [
    'FormData with file',
    () => {
      const f = new FormData();
      f.append('a', '1');
      f.append('a', '2');
      f.append('file', new Blob([new Uint8Array([0, 1, 2, 255])], { type: 'application/x-bin' }), 'f.bin');
      return { body: f };
    },
  ],
  ['URLSearchParams', () => ({ body: new URLSearchParams({ q: 'a b&c', z: 'ü' }) })],
  ['Blob with type', () => ({ body: new Blob(['blobby'], { type: 'text/x-custom' }) })],
  ['ArrayBuffer', () => ({ body: new Uint8Array([1, 2, 3, 0, 250]).buffer })],
  ['Uint8Array', () => ({ body: new Uint8Array([9, 8, 7]) })],
  [
    'Uint8Array view with offset into a larger buffer',
    () => ({ body: new Uint8Array(new Uint8Array([100, 101, 102, 103, 104, 105]).buffer, 2, 3) }),
  ],
  ['Int16Array', () => ({ body: new Int16Array([1, -1, 300]) })],
  ['DataView with offset', () => ({ body: new DataView(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 2) })],
  ['Float64Array subarray', () => ({ body: new Float64Array([1.5, 2.5, 3.5]).subarray(1) })],
  [
    'ReadableStream (duplex half)',
    () =>
      ({
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('str'));
            c.enqueue(new TextEncoder().encode('eam'));
            c.close();
          },
        }),
        duplex: 'half',
      }) as RequestInit,
  ],
  ['empty string body', () => ({ body: '' })],
  ['null body', () => ({ body: null })],
];

describe('401 retry replays the body exactly (as plain fetch would send it)', () => {
  for (const [name, makeInit] of bodies) {
    it(`${name}: init form`, async () => {
      const ref = await reference(makeInit);
      const { s, auth, tokens, refreshes } = await setup();
      const r = await auth.fetch(`${s.origin}/p`, { method: 'POST', ...makeInit() });
      expect(r.status).toBe(200);
      expect(refreshes()).toBe(1);
      expect(s.seen).toHaveLength(2);
      expect(s.seen[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);
      expect(s.seen[1]!.headers.authorization).toBe(`Bearer ${tokens[1]}`);
      expect(normBoundary(s.seen[0]!)).toEqual(ref);
      expect(normBoundary(s.seen[1]!)).toEqual(ref);
    });

    it(`${name}: Request input`, async () => {
      const ref = await reference(makeInit);
      const { s, auth, tokens } = await setup();
      const req = new Request(`${s.origin}/p`, { method: 'POST', ...makeInit() });
      const r = await auth.fetch(req);
      expect(r.status).toBe(200);
      expect(s.seen).toHaveLength(2);
      expect(s.seen[1]!.headers.authorization).toBe(`Bearer ${tokens[1]}`);
      expect(normBoundary(s.seen[0]!)).toEqual(ref);
      expect(normBoundary(s.seen[1]!)).toEqual(ref);
    });
  }

  it('Request input plus init overriding method and body', async () => {
    const { s, auth } = await setup();
    const req = new Request(`${s.origin}/p`, { method: 'POST', body: 'original' });
    await auth.fetch(req, { method: 'PUT', body: 'override' });
    expect(s.seen.map((x) => [x.method, x.body.toString()])).toEqual([
      ['PUT', 'override'],
      ['PUT', 'override'],
    ]);
  });

  it('Request input whose body was already used is refused like fetch refuses it', async () => {
    const { s, auth } = await setup();
    const req = new Request(`${s.origin}/p`, { method: 'POST', body: 'x' });
    await req.text();
    const ref = await fetch(req).then(
      () => 'ok',
      (e) => e.name,
    );
    await expect(
      auth.fetch(req).then(
        () => 'ok',
        (e: Error) => e.name,
      ),
    ).resolves.toBe(ref);
  });

  it('caller keeps the Request usable? (auth.fetch must not consume the caller Request body in a way fetch would not)', async () => {
    const { s, auth } = await setup();
    const req = new Request(`${s.origin}/p`, { method: 'POST', body: 'x' });
    await auth.fetch(req);
    // fetch(req) marks the body used; auth.fetch should behave the same or keep it — either is acceptable.
    expect(s.seen.map((x) => x.body.toString())).toEqual(['x', 'x']);
  });
});

describe('the request is taken as it is at the call', () => {
  it('mutating init, its headers and its body while the refresh of a 401 is in flight changes nothing in the retry', async () => {
    const gate = deferred();
    const refreshing = deferred();
    const { s, auth } = await setup({ gate: gate.promise, onRefresh: () => refreshing.resolve() });
    const headers = new Headers({ 'x-a': '1', 'content-type': 'text/plain' });
    const bytes = new Uint8Array([1, 2, 3]);
    const init: RequestInit = { method: 'POST', headers, body: bytes };
    const p = auth.fetch(`${s.origin}/p`, init);
    await refreshing.promise;
    headers.set('x-a', 'CHANGED');
    headers.set('authorization', 'Basic CHANGED');
    bytes.fill(0);
    init.method = 'DELETE';
    init.body = 'changed';
    init.headers = { 'x-b': 'new' };
    gate.resolve();
    await p;
    expect(s.seen).toHaveLength(2);
    const a = s.seen[0]!;
    const b = s.seen[1]!;
    expect(b.method).toBe('POST');
    expect(b.headers['x-a']).toBe('1');
    expect(b.headers['x-b']).toBeUndefined();
    expect(String(b.headers.authorization)).toMatch(/^Bearer /);
    expect([...b.body]).toEqual([1, 2, 3]);
    expect([...a.body]).toEqual([1, 2, 3]);
  });

  it('mutating a plain-object headers and FormData / URLSearchParams right after the call changes nothing', async () => {
    const gate = deferred();
    const refreshing = deferred();
    const { s, auth } = await setup({ gate: gate.promise, onRefresh: () => refreshing.resolve() });
    const hdrs: Record<string, string> = { 'x-a': '1' };
    const form = new URLSearchParams({ a: '1' });
    const p = auth.fetch(`${s.origin}/p`, { method: 'POST', headers: hdrs, body: form });
    hdrs['x-a'] = 'sync-changed';
    form.set('a', 'sync-changed');
    await refreshing.promise;
    hdrs['x-a'] = 'CHANGED';
    form.set('a', 'CHANGED');
    form.append('b', 'x');
    gate.resolve();
    await p;
    expect(s.seen.map((x) => [x.headers['x-a'], x.body.toString()])).toEqual([
      ['1', 'a=1'],
      ['1', 'a=1'],
    ]);
  });

  it('FormData appended to while the refresh is in flight: retry sends the original fields', async () => {
    const gate = deferred();
    const refreshing = deferred();
    const { s, auth } = await setup({ gate: gate.promise, onRefresh: () => refreshing.resolve() });
    const f = new FormData();
    f.append('a', '1');
    const p = auth.fetch(`${s.origin}/p`, { method: 'POST', body: f });
    await refreshing.promise;
    f.append('evil', 'x');
    f.set('a', 'CHANGED');
    gate.resolve();
    await p;
    expect(s.seen[1]!.body.toString()).toContain('name="a"');
    expect(s.seen[1]!.body.toString()).not.toContain('evil');
    expect(s.seen[1]!.body.toString()).not.toContain('CHANGED');
  });

  it('bytes mutated synchronously right after the call: first attempt and retry send the original bytes', async () => {
    const { s, auth } = await setup();
    const bytes = new Uint8Array([5, 6, 7]);
    const p = auth.fetch(`${s.origin}/p`, { method: 'POST', body: bytes });
    bytes.fill(9);
    await p;
    expect(s.seen.map((x) => [...x.body])).toEqual([
      [5, 6, 7],
      [5, 6, 7],
    ]);
  });

  it('ArrayBuffer mutated synchronously right after the call: original bytes sent', async () => {
    const { s, auth } = await setup();
    const buf = new Uint8Array([5, 6, 7]).buffer;
    const p = auth.fetch(`${s.origin}/p`, { method: 'POST', body: buf });
    new Uint8Array(buf).fill(9);
    await p;
    expect(s.seen.map((x) => [...x.body])).toEqual([
      [5, 6, 7],
      [5, 6, 7],
    ]);
  });

  it('init read as fetch reads it: getters on a prototype are read once at the call', async () => {
    const { s, auth } = await setup();
    let reads = 0;
    class Init {
      get method() {
        reads += 1;
        return reads > 1 ? 'DELETE' : 'POST';
      }
      get body() {
        return 'proto-body';
      }
      get headers() {
        return [['x-proto', 'yes']];
      }
    }
    await auth.fetch(`${s.origin}/p`, new Init() as unknown as RequestInit);
    expect(s.seen.map((x) => [x.method, x.body.toString(), x.headers['x-proto']])).toEqual([
      ['POST', 'proto-body', 'yes'],
      ['POST', 'proto-body', 'yes'],
    ]);
  });

  it('headers getter returning a different object per read: the one read at the call is used for both attempts', async () => {
    const { s, auth } = await setup();
    let reads = 0;
    const init = {
      method: 'POST',
      body: 'x',
      get headers() {
        reads += 1;
        return { 'x-read': String(reads) };
      },
    };
    await auth.fetch(`${s.origin}/p`, init);
    expect(s.seen[0]!.headers['x-read']).toBe(s.seen[1]!.headers['x-read']);
  });
});

describe('headers in every form', () => {
  const forms: [string, () => HeadersInit][] = [
    ['object', () => ({ 'x-a': '1', 'X-B': '2' })],
    ['Headers', () => new Headers({ 'x-a': '1', 'X-B': '2' })],
    [
      'array',
      () => [
        ['x-a', '1'],
        ['X-B', '2'],
      ],
    ],
    [
      'Map',
      () =>
        new Map([
          ['x-a', '1'],
          ['X-B', '2'],
        ]) as unknown as HeadersInit,
    ],
    [
      'custom iterable of pairs (own Symbol.iterator)',
      () =>
        ({
          *[Symbol.iterator]() {
            yield ['x-a', '1'];
            yield ['X-B', '2'];
          },
        }) as unknown as HeadersInit,
    ],
  ];
  for (const [name, make] of forms) {
    it(`${name}: headers arrive and token added, on both attempts`, async () => {
      const { s, auth, tokens } = await setup();
      await auth.fetch(`${s.origin}/p`, { headers: make() });
      expect(s.seen).toHaveLength(2);
      for (const [i, x] of s.seen.entries()) {
        expect(x.headers['x-a']).toBe('1');
        expect(x.headers['x-b']).toBe('2');
        expect(x.headers.authorization).toBe(`Bearer ${tokens[i]}`);
      }
    });

    it(`${name}: caller Authorization (any case) is left as it is, no Bearer ever sent`, async () => {
      const { s, auth, refreshes } = await setup();
      const h = make();
      let withAuth: HeadersInit;
      if (h instanceof Headers) {
        h.set('AUTHORIZATION', 'Basic Y2FsbGVy');
        withAuth = h;
      } else if (Array.isArray(h)) withAuth = [...h, ['aUtHoRiZaTiOn', 'Basic Y2FsbGVy']];
      else if (h instanceof Map) {
        h.set('Authorization', 'Basic Y2FsbGVy');
        withAuth = h as unknown as HeadersInit;
      } else if (Symbol.iterator in (h as object)) {
        // HeadersInit has no room for an object with its own Symbol.iterator: the form under test is one
        withAuth = [...(h as unknown as Iterable<[string, string]>), ['authorization', 'Basic Y2FsbGVy']];
      } else withAuth = { ...(h as Record<string, string>), authorization: 'Basic Y2FsbGVy' };
      const r = await auth.fetch(`${s.origin}/p`, { headers: withAuth });
      for (const x of s.seen) expect(x.headers.authorization).toBe('Basic Y2FsbGVy');
      // a caller-authorized 401 should come back as it is, without a refresh of our session
      expect(r.status).toBe(401);
      expect(s.seen).toHaveLength(1);
      expect(refreshes()).toBe(0);
    });
  }

  it('headers given as an object literal with its own Symbol.iterator (an iterable of pairs, as fetch reads it) get the token', async () => {
    const { s, auth, tokens } = await setup();
    const headers = {
      *[Symbol.iterator]() {
        yield ['x-a', '1'];
      },
    } as unknown as HeadersInit;
    const r = await auth.fetch(`${s.origin}/p`, { headers });
    expect(s.seen[0]!.headers['x-a']).toBe('1');
    expect(s.seen[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);
    expect(r.status).toBe(200);
    expect(s.seen).toHaveLength(2);
  });

  it('headers given as a class instance whose prototype is iterable get the token', async () => {
    const { s, auth, tokens } = await setup();
    class Bag {
      pairs = [['x-a', '1']];
      *[Symbol.iterator]() {
        yield* this.pairs;
      }
    }
    await auth.fetch(`${s.origin}/p`, { headers: new Bag() as unknown as HeadersInit });
    expect(s.seen[0]!.headers['x-a']).toBe('1');
    expect(s.seen[0]!.headers.pairs).toBeUndefined();
    expect(s.seen[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);
  });

  it('a header named __proto__ (a valid header name) is sent as fetch sends it', async () => {
    const handed: [string, string][][] = [];
    const spy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      handed.push([...new Request(input as RequestInfo, init).headers].filter(([k]) => k !== 'authorization'));
      return new Response('ok');
    }) as typeof fetch;
    const auth = createTokenManager({
      refresh: async () => ({ accessToken: jwt(3600) }),
      allowedOrigins: ['https://api.test'],
      channel: false,
      fetch: spy,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    const forms: HeadersInit[] = [[['__proto__', 'x']], new Headers([['__proto__', 'x']])];
    for (const h of forms) {
      await auth.fetch('https://api.test/p', { headers: h });
      expect(handed.at(-1)).toEqual([...new Request('https://api.test/', { headers: h }).headers]);
    }
  });

  it('duplicated header names (array) are combined as fetch combines them, on both attempts', async () => {
    const { s, auth } = await setup();
    await auth.fetch(`${s.origin}/p`, {
      headers: [
        ['x-dup', 'one'],
        ['X-Dup', 'two'],
      ],
    });
    expect(s.seen.map((x) => x.headers['x-dup'])).toEqual(['one, two', 'one, two']);
  });

  it('object with Authorization twice in different case: caller value(s) kept, no Bearer', async () => {
    const { s, auth } = await setup();
    await auth.fetch(`${s.origin}/p`, { headers: { authorization: 'Basic a', Authorization: 'Basic b' } });
    for (const x of s.seen) expect(String(x.headers.authorization)).not.toContain('Bearer');
  });

  it('empty-valued caller Authorization header counts as set by the caller', async () => {
    const { s, auth } = await setup();
    await auth.fetch(`${s.origin}/p`, { headers: { authorization: '' } });
    for (const x of s.seen) expect(String(x.headers.authorization ?? '')).not.toContain('Bearer');
  });

  it('Request input with its own Authorization: left as it is', async () => {
    const { s, auth } = await setup();
    await auth.fetch(new Request(`${s.origin}/p`, { headers: { authorization: 'Basic req' } }));
    for (const x of s.seen) expect(x.headers.authorization).toBe('Basic req');
  });

  it('Request with Authorization, init headers without: init replaces the headers as fetch does (token added)', async () => {
    const { s, auth, tokens } = await setup();
    const ref = await startServer();
    cleanups.push(() => ref.close());
    await fetch(new Request(`${ref.origin}/p`, { headers: { authorization: 'Basic req' } }), {
      headers: { 'x-a': '1' },
    });
    const fetchKeepsRequestAuth = ref.seen[0]!.headers.authorization !== undefined;
    await auth.fetch(new Request(`${s.origin}/p`, { headers: { authorization: 'Basic req' } }), {
      headers: { 'x-a': '1' },
    });
    if (fetchKeepsRequestAuth) expect(s.seen[0]!.headers.authorization).toBe('Basic req');
    else expect(s.seen[0]!.headers.authorization).toBe(`Bearer ${tokens[0]}`);
  });
});

describe('what fetch refuses, auth.fetch refuses (before waiting for a token)', () => {
  const bad: [string, () => [string, RequestInit]][] = [
    ['GET with body', () => ['/p', { method: 'GET', body: 'x' }]],
    ['HEAD with body', () => ['/p', { method: 'HEAD', body: 'x' }]],
    ['lower-case get with body', () => ['/p', { method: 'get', body: 'x' }]],
    ['default method with body', () => ['/p', { body: 'x' }]],
    ['forbidden method CONNECT', () => ['/p', { method: 'CONNECT' }]],
    ['invalid header name', () => ['/p', { headers: { 'bad name': 'x' } }]],
    ['invalid header value', () => ['/p', { headers: { 'x-a': 'a\nb' } }]],
    ['stream without duplex', () => ['/p', { method: 'POST', body: new ReadableStream() }]],
    ['mode navigate', () => ['/p', { mode: 'navigate' as RequestMode }]],
    ['URL with credentials', () => ['', {}]],
    ['header pair of length 3', () => ['/p', { headers: [['a', 'b', 'c']] as unknown as HeadersInit }]],
  ];
  for (const [name, make] of bad) {
    it(name, async () => {
      const gate = deferred();
      const s = await startServer();
      cleanups.push(() => s.close());
      const auth = createTokenManager({
        refresh: async () => {
          await gate.promise;
          return { accessToken: jwt(3600) };
        },
        allowedOrigins: [s.origin],
        channel: false,
      });
      cleanups.push(() => {
        gate.resolve();
        auth.destroy();
      });
      // expired: a call would have to wait for the (stuck) refresh
      await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
      const [path, init] = make();
      const url =
        name === 'URL with credentials' ? s.origin.replace('http://', 'http://user:pw@') + '/p' : `${s.origin}${path}`;
      const refErr = await fetch(url, init).then(
        () => null,
        (e: Error) => e,
      );
      const nSeen = s.seen.length;
      const outcome = await Promise.race([
        auth.fetch(url, init).then(
          () => 'resolved',
          (e: Error) => e,
        ),
        sleep(300).then(() => 'hung-waiting-for-refresh'),
      ]);
      if (refErr === null) {
        // fetch accepts it: then auth.fetch should not refuse it either (may wait)
        expect(outcome).not.toBeInstanceOf(TypeError);
      } else {
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).name).toBe(refErr.name);
        expect(s.seen.length).toBe(nSeen);
      }
    });
  }
});
