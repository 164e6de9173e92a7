// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/dir/page.html"}
// Origin attacks in a page: <base href>, protocol-relative URLs, blob: URLs, default allowedOrigins.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
  for (const b of document.querySelectorAll('base')) b.remove();
});

interface Sent {
  url: string;
  authorization: string | null;
}

function spy() {
  const sent: Sent[] = [];
  const fn = async (input: RequestInfo | URL, init?: RequestInit) => {
    let url: string;
    let headers: Headers;
    if (typeof input === 'string' || input instanceof URL) {
      url = String(input);
      headers = new Headers(init?.headers);
    } else {
      url = input.url;
      headers = new Headers(init?.headers ?? input.headers);
      if (init?.headers === undefined) headers = new Headers(input.headers);
    }
    sent.push({ url, authorization: headers.get('authorization') });
    return new Response('ok');
  };
  return { fn: fn as typeof fetch, sent };
}

async function signedIn(extra: Record<string, unknown> = {}) {
  const s = spy();
  const auth = createTokenManager({
    refresh: async () => ({ accessToken: jwt(3600), refreshToken: 'r2' }),
    channel: false,
    storage: 'memory',
    fetch: s.fn,
    ...extra,
  } as never);
  cleanups.push(() => auth.destroy());
  const t = jwt(3600);
  await auth.setTokens({ accessToken: t, refreshToken: 'r1' });
  return { auth, sent: s.sent, token: t };
}

function setBase(href: string) {
  const base = document.createElement('base');
  base.setAttribute('href', href);
  document.head.appendChild(base);
  return base;
}

describe('page origin rule', () => {
  it('relative URL on the page origin gets the token', async () => {
    const { auth, sent, token } = await signedIn();
    await auth.fetch('/api/me');
    expect(sent[0]!.authorization).toBe(`Bearer ${token}`);
    expect(new URL(sent[0]!.url, 'https://app.test').origin).toBe('https://app.test');
  });

  it('protocol-relative //evil.test gets no token', async () => {
    const { auth, sent } = await signedIn();
    await auth.fetch('//evil.test/x');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('backslash protocol-relative \\\\evil.test gets no token', async () => {
    const { auth, sent } = await signedIn();
    await auth.fetch('\\\\evil.test/x');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('/\\evil.test gets no token', async () => {
    const { auth, sent } = await signedIn();
    await auth.fetch('/\\evil.test/x');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('relative URL under <base href> of another origin gets no token and goes to the base', async () => {
    setBase('https://evil.test/');
    const { auth, sent } = await signedIn();
    await auth.fetch('api/me');
    expect(sent[0]!.authorization).toBeNull();
    // passed through untouched (the raw relative URL), which fetch resolves against the base
    expect(new URL(sent[0]!.url, document.baseURI).origin).toBe('https://evil.test');
  });

  it('<base href> protocol-relative to another host: no token', async () => {
    setBase('//evil.test/');
    const { auth, sent } = await signedIn();
    await auth.fetch('api/me');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('<base href> added after the manager was created still counts', async () => {
    const { auth, sent } = await signedIn();
    setBase('https://evil.test/');
    await auth.fetch('api/me');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('<base href> changed while the call waits for a refresh: URL is resolved at the call', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = spy();
    const auth = createTokenManager({
      refresh: async () => {
        await gate;
        return { accessToken: jwt(3600), refreshToken: 'r2' };
      },
      channel: false,
      fetch: s.fn,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(1), refreshToken: 'r1', expiresIn: 0 });
    const p = auth.fetch('api/me');
    await new Promise((r) => setTimeout(r, 10));
    setBase('https://evil.test/');
    release();
    await p;
    for (const x of s.sent) {
      if (x.authorization) expect(new URL(x.url).origin).toBe('https://app.test');
    }
    expect(s.sent[0]!.url).toBe('https://app.test/dir/api/me');
  });

  it('<base href> changed between first attempt and 401 retry: retry goes to the same URL', async () => {
    let hits = 0;
    const sent: Sent[] = [];
    const fn = async (input: RequestInfo | URL, init?: RequestInit) => {
      hits += 1;
      const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
      const h = new Headers(typeof input === 'string' || input instanceof URL ? init?.headers : input.headers);
      sent.push({ url, authorization: h.get('authorization') });
      if (hits === 1) {
        setBase('https://evil.test/');
        return new Response('', { status: 401 });
      }
      return new Response('ok');
    };
    const auth = createTokenManager({
      refresh: async () => ({ accessToken: jwt(3600), refreshToken: 'r2' }),
      channel: false,
      fetch: fn as typeof fetch,
    });
    cleanups.push(() => auth.destroy());
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    await auth.fetch('api/me');
    expect(sent).toHaveLength(2);
    expect(sent[1]!.url).toBe('https://app.test/dir/api/me');
  });

  it('blob: URL of the page origin gets no token', async () => {
    const { auth, sent } = await signedIn();
    await auth.fetch('blob:https://app.test/0b1c').catch(() => {});
    for (const x of sent) expect(x.authorization).toBeNull();
  });

  it('data: URL gets no token', async () => {
    const { auth, sent } = await signedIn();
    await auth.fetch('data:text/plain,hi').catch(() => {});
    for (const x of sent) expect(x.authorization).toBeNull();
  });

  it('allowedOrigins array adds to the page origin', async () => {
    const { auth, sent, token } = await signedIn({ allowedOrigins: ['https://api.test'] });
    await auth.fetch('/x');
    await auth.fetch('https://api.test/x');
    await auth.fetch('https://evil.test/x');
    expect(sent.map((s) => s.authorization)).toEqual([`Bearer ${token}`, `Bearer ${token}`, null]);
  });

  it('allowedOrigins entry with a path or trailing slash does not open other origins', async () => {
    const { auth, sent } = await signedIn({ allowedOrigins: ['https://api.test/v1/'] });
    await auth.fetch('https://api.test.evil.test/v1/x');
    await auth.fetch('https://evil.test/v1/x');
    expect(sent.map((s) => s.authorization)).toEqual([null, null]);
  });

  it('allowedOrigins function alone decides (page origin not added)', async () => {
    const { auth, sent } = await signedIn({ allowedOrigins: (u: URL) => u.origin === 'https://api.test' });
    await auth.fetch('/x');
    expect(sent[0]!.authorization).toBeNull();
  });

  it('isAllowedOrigin agrees with auth.fetch for tricky inputs', async () => {
    setBase('https://evil.test/');
    const { auth } = await signedIn();
    const a = auth as unknown as { isAllowedOrigin(u: string | URL): boolean };
    expect(a.isAllowedOrigin('api/me')).toBe(false);
    expect(a.isAllowedOrigin('//evil.test/')).toBe(false);
    expect(a.isAllowedOrigin('https://app.test/')).toBe(true);
  });
});
