// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// auth.fetch in a page (https://app.test), tried as an attacker would: the origin answer remembered per input
// string (absolute http(s) URLs whatever the base, others against the document's base URL), `<base href>`,
// objects from another realm, and bodies of the page's own kinds.
import { Window } from 'happy-dom';
import { afterEach, describe, expect, it } from 'vitest';
import { jwtFor } from './support/jwt';
import { HttpResponse, http, noResume, REFRESH_URL, rotatingRefresh, server, startServer } from './support/environment';
import { numberedKeys, trackManagers } from './support/managers';

const PAGE = 'https://app.test';
startServer();
const nextStorageKey = numberedKeys('auth-fetch-attack-page');
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  onResume: noResume,
  storageKey: nextStorageKey(),
}));

afterEach(() => {
  history.pushState(null, '', '/');
  for (const base of document.querySelectorAll('base')) base.remove();
});

interface Seen {
  method: string;
  url: string;
  authorization: string | null;
  contentType: string | null;
  body: string;
}

function network(unauthorizedFirst = 0) {
  const seen: Seen[] = [];
  const handler = http.all(/^https?:\/\/(?!api\.test\/auth\/)/, async ({ request }) => {
    seen.push({
      method: request.method,
      url: request.url,
      authorization: request.headers.get('authorization'),
      contentType: request.headers.get('content-type'),
      body: Buffer.from(await request.arrayBuffer()).toString('latin1'),
    });
    return seen.length <= unauthorizedFirst ? new HttpResponse(null, { status: 401 }) : HttpResponse.json({ ok: true });
  });
  return { handler, seen };
}

async function signedIn(options: Parameters<typeof createAuth>[0] = {}) {
  const auth = createAuth(options);
  const token = jwtFor(3600);
  await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
  return { auth, token };
}

describe('the remembered origin answer never goes stale (inputs × page addresses, in both orders)', () => {
  const inputs = [
    'items',
    './items',
    '../items',
    '?q=1',
    '#frag',
    '',
    '/x',
    '/x?y#z',
    '//evil.test/x',
    '///evil.test/x',
    '/\\evil.test/x',
    '\\\\evil.test\\x',
    '\\/evil.test/x',
    '/\t/evil.test/x',
    '/\n/evil.test/x',
    '/\r/evil.test/x',
    '/\t\\evil.test/x',
    ' /x',
    ' //evil.test/x',
    '\t//evil.test/x',
    '\u0000//evil.test/x',
    '\u001f/\\evil.test/x',
    'https:evil.test/x',
    'HTTPS:evil.test/x',
    'http:evil.test/x',
    'https:/evil.test/x',
    'https:\\\\evil.test\\x',
    'https:\\/evil.test/x',
    'HtTpS://app.test/x',
    'https://app.test/x',
    'https://evil.test/x',
    'https://app.test@evil.test/x',
    'https://evil.test#@app.test/x',
    'https://evil.test?@app.test/x',
    'https://evil.test\\@app.test/x',
    'https://app.test:443@evil.test/x',
    '/%2F/evil.test/x',
    '/..//evil.test/x',
    '/./\\evil.test/x',
    'blob:https://app.test/uuid',
    'data:,x',
    'javascript:void(0)',
    'about:blank',
    'ws://app.test/x',
    'wss://app.test/x',
  ];
  const pages = ['/', '/one/two/', '/one/two/three?a=b#c', '/\u00e9/', '/a;b/c'];

  /** What a fresh resolution against the current address says: the URL and whether the token may go there. */
  const truth = (input: string): [string | null, boolean] => {
    try {
      const url = new URL(input, location.href);
      return [url.href, /^https?:$/.test(url.protocol) && url.origin === PAGE];
    } catch {
      return [null, false];
    }
  };

  for (const order of ['forward', 'backward'] as const) {
    it(`isAllowedOrigin matches a fresh resolution at every address (${order})`, async () => {
      const { auth } = await signedIn();
      const sequence = order === 'forward' ? pages : [...pages].reverse();
      const mismatches: string[] = [];
      for (const page of [...sequence, ...sequence]) {
        history.pushState(null, '', page);
        for (const input of inputs) {
          const expected = truth(input)[1];
          if (auth.isAllowedOrigin(input) !== expected) mismatches.push(`${location.href} ${JSON.stringify(input)}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  }

  it('auth.fetch sends each input where a fresh resolution points, with the token only to the page origin, across address changes', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    const httpInputs = inputs.filter((input) => {
      const [href] = truth(input);
      return href !== null && /^https?:/.test(href);
    });
    const problems: string[] = [];
    for (const page of ['/one/two/', '/', '/one/two/', '/three/']) {
      history.pushState(null, '', page);
      for (const input of httpInputs) {
        const [href, allowed] = truth(input);
        const from = net.seen.length;
        await auth.fetch(input).catch(() => undefined);
        const seen = net.seen.slice(from);
        const noFragment = (url: string): string => url.replace(/#.*/, '');
        const got = seen.map((s) => [noFragment(s.url), s.authorization]);
        // A URL with credentials is refused by fetch itself: nothing is sent, which is fine.
        const want = new URL(href!).username ? [] : [[noFragment(href!), allowed ? `Bearer ${token}` : null]];
        if (JSON.stringify(got) !== JSON.stringify(want))
          problems.push(`${page} ${JSON.stringify(input)} ${JSON.stringify(got)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('<base href> (relative URLs in a browser resolve against document.baseURI, not location.href)', () => {
  it('sends auth.fetch("api/x") under <base href="/app/"> where a browser\'s fetch sends it (the document base URL)', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    history.pushState(null, '', '/app/users/42');
    const base = document.createElement('base');
    base.href = '/app/';
    document.head.appendChild(base);
    // In a browser, fetch('api/x') resolves against the document base URL (HTML: "API base URL"), so it asks
    // https://app.test/app/api/x. (happy-dom's own fetch ignores <base> too, so it cannot be the reference.)
    const browserTarget = new URL('api/x', document.baseURI).href;
    expect(browserTarget).toBe(`${PAGE}/app/api/x`);

    await auth.fetch('api/x');

    expect(net.seen.map((s) => [s.url, s.authorization])).toEqual([[browserTarget, `Bearer ${token}`]]);
  });

  it('<base href> to another origin never earns a token for that origin (the token goes only to the URL it was checked for)', async () => {
    const net = network();
    server.use(net.handler);
    const { auth } = await signedIn();
    const base = document.createElement('base');
    base.href = 'https://evil.test/';
    document.head.appendChild(base);

    await auth.fetch('/x');
    await auth.fetch('x');
    await auth.fetch('//evil.test/y');

    for (const s of net.seen) if (new URL(s.url).origin !== PAGE) expect(s.authorization).toBeNull();
  });
});

describe('objects from another realm (an iframe, another window)', () => {
  it('takes a Request from another realm as a Request: its method, URL and body go out, with the token', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    const other = new Window({ url: `${PAGE}/` });
    const ForeignRequest = (other as unknown as { Request: typeof Request }).Request;
    const request = new ForeignRequest(`${PAGE}/api/items`, { method: 'POST', body: 'payload' });
    expect(request instanceof Request).toBe(false);

    await auth.fetch(request).catch(() => undefined);
    await other.happyDOM.close();

    // A browser's fetch accepts a Request of any realm (WebIDL checks the interface, not the realm) and POSTs
    // "payload" to /api/items; so does auth.fetch.
    expect(net.seen.map((s) => [s.method, s.url, s.body, s.authorization])).toEqual([
      ['POST', `${PAGE}/api/items`, 'payload', `Bearer ${token}`],
    ]);
  });

  it('headers and bodies from another realm still go out as fetch sends them', async () => {
    const net = network();
    server.use(net.handler);
    const { auth, token } = await signedIn();
    const other = new Window({ url: `${PAGE}/` }) as unknown as {
      Headers: typeof Headers;
      Blob: typeof Blob;
      URLSearchParams: typeof URLSearchParams;
      happyDOM: { close(): Promise<void> };
    };

    await auth.fetch('/h', { headers: new other.Headers({ 'X-A': '1' }) });
    await auth.fetch('/own', { headers: new other.Headers({ Authorization: 'Basic me' }) });
    await auth.fetch('/p', { method: 'POST', body: new other.URLSearchParams({ a: 'b' }) });
    await other.happyDOM.close();

    expect(net.seen.map((s) => [new URL(s.url).pathname, s.authorization])).toEqual([
      ['/h', `Bearer ${token}`],
      ['/own', 'Basic me'],
      ['/p', `Bearer ${token}`],
    ]);
    expect(net.seen[2]!.body).toBe('a=b');
  });
});

describe('bodies of the page’s kinds are replayed after a 401 as the page’s fetch sends them', () => {
  const bodies: [string, () => BodyInit][] = [
    [
      'FormData with a file',
      () => {
        const form = new FormData();
        form.append('a', '1');
        form.append('f', new Blob(['x'], { type: 'text/plain' }), 'f.txt');
        return form;
      },
    ],
    ['a typed Blob', () => new Blob(['{"a":1}'], { type: 'application/json' })],
    ['URLSearchParams', () => new URLSearchParams({ q: 'a b' })],
    ['a view with an offset', () => new Uint8Array(new TextEncoder().encode('..view..').buffer, 2, 4)],
    ['a String object', () => new String('boxed') as unknown as BodyInit],
  ];

  it.each(bodies)('%s', async (_name, make) => {
    const plainNet = network();
    server.use(plainNet.handler);
    await fetch(`${PAGE}/up`, { method: 'POST', body: make() });
    const refresh = rotatingRefresh();
    const net = network(1);
    server.use(refresh.handler, net.handler);
    const { auth, token } = await signedIn();

    const response = await auth.fetch('/up', { method: 'POST', body: make() });

    expect(response.status).toBe(200);
    const strip = (s: Seen) => {
      const boundary = /boundary=([^;]+)/.exec(s.contentType ?? '')?.[1];
      const cut = (t: string | null) => (boundary && t ? t.split(boundary).join('B') : t);
      return [s.method, s.url, cut(s.contentType), cut(s.body)];
    };
    expect(net.seen.map((s) => s.authorization)).toEqual([`Bearer ${token}`, `Bearer ${auth.getState().accessToken}`]);
    expect(net.seen.map(strip)).toEqual([strip(plainNet.seen[0]!), strip(plainNet.seen[0]!)]);
  });
});
