// @vitest-environment happy-dom
// @vitest-environment-options {"url":"https://app.test/"}
// Vitest 4 nests docblock options under `happyDOM` itself, so the url goes at the top level here
// (`{"happyDOM":{"url":…}}` would leave the page at http://localhost:3000). msw still intercepts `fetch` in
// this environment: it patches the fetch happy-dom installed, and relative URLs resolve against the page.
import { describe, expect, it, vi } from 'vitest';
import { jwtFor } from './support/jwt';
import { HttpResponse, http, noResume, REFRESH_URL, server, startServer } from './support/environment';
import { numberedKeys, trackManagers } from './support/managers';

const PAGE = 'https://app.test';

startServer();

const nextStorageKey = numberedKeys('auth-fetch-page-test');

/** A manager with the page's default `allowedOrigins` unless told otherwise; its own storage key and lock. */
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  onResume: noResume,
  storageKey: nextStorageKey(),
}));

/** Records the URL and Authorization of every request the fake network receives. */
function recordEverything() {
  const seen: { url: string; authorization: string | null; headers: [string, string][] }[] = [];
  const handler = http.all('*', ({ request }) => {
    seen.push({ url: request.url, authorization: request.headers.get('authorization'), headers: [...request.headers] });
    return HttpResponse.json({ ok: true });
  });
  return { handler, seen };
}

describe('auth.fetch on a page (https://app.test)', () => {
  it('runs on a page whose origin is https://app.test', () => {
    // Guards the environment options above: every other test here relies on this page origin.
    expect(globalThis.location.origin).toBe(PAGE);
  });

  it('sends the token with a relative URL by default (the page origin is allowed)', async () => {
    const network = recordEverything();
    server.use(network.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const response = await auth.fetch('/api/x');

    expect(response.status).toBe(200);
    expect(network.seen.map(({ url, authorization }) => [url, authorization])).toEqual([
      [`${PAGE}/api/x`, `Bearer ${token}`],
    ]);
    auth.destroy();
  });

  it('sends no token to a protocol-relative URL of another host (//evil.test/x)', async () => {
    const network = recordEverything();
    server.use(network.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const response = await auth.fetch('//evil.test/x');

    expect(response.status).toBe(200);
    expect(network.seen).toHaveLength(1);
    expect(network.seen[0]!.url).toBe('https://evil.test/x');
    expect(network.seen[0]!.authorization).toBeNull();
    for (const [, value] of network.seen[0]!.headers) expect(value).not.toContain(token);
    auth.destroy();
  });

  it('resolves a relative path against the page address of each call, after the address changed', async () => {
    const network = recordEverything();
    server.use(network.handler);
    const auth = createAuth();
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    history.pushState(null, '', '/one/page');
    await auth.fetch('items');
    await auth.fetch('/api/x');
    history.pushState(null, '', '/two/page');
    await auth.fetch('items');
    await auth.fetch('/api/x');
    history.pushState(null, '', '/');

    expect(network.seen.map(({ url, authorization }) => [url, authorization])).toEqual([
      [`${PAGE}/one/items`, `Bearer ${token}`],
      [`${PAGE}/api/x`, `Bearer ${token}`],
      [`${PAGE}/two/items`, `Bearer ${token}`],
      [`${PAGE}/api/x`, `Bearer ${token}`],
    ]);
    auth.destroy();
  });

  it.each(['/\\evil.test/x', '/\t/evil.test/x', ' //evil.test/x'])(
    'sends no token to %j, which the URL parser reads as another host, asked twice',
    async (input) => {
      const network = recordEverything();
      server.use(network.handler);
      const auth = createAuth();
      const token = jwtFor(3600);
      await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

      await auth.fetch(input);
      await auth.fetch(input);

      expect(network.seen.map(({ url, authorization }) => [new URL(url).host, authorization])).toEqual([
        ['evil.test', null],
        ['evil.test', null],
      ]);
      auth.destroy();
    },
  );

  it('adds an allowedOrigins array to the page origin: both receive the token', async () => {
    const network = recordEverything();
    server.use(network.handler);
    const auth = createAuth({ allowedOrigins: ['https://api.test'] });
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    await auth.fetch('/api/x');
    await auth.fetch('https://api.test/y');
    await auth.fetch('https://other.test/z');

    expect(network.seen.map(({ url, authorization }) => [url, authorization])).toEqual([
      [`${PAGE}/api/x`, `Bearer ${token}`],
      ['https://api.test/y', `Bearer ${token}`],
      ['https://other.test/z', null],
    ]);
    auth.destroy();
  });

  it('lets an allowedOrigins function alone decide: the page origin is not added to it', async () => {
    const network = recordEverything();
    server.use(network.handler);
    const allowedOrigins = vi.fn((url: URL) => url.origin === 'https://api.test');
    const auth = createAuth({ allowedOrigins });
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    await auth.fetch('/api/x');
    await auth.fetch('https://api.test/y');

    expect(network.seen.map(({ url, authorization }) => [url, authorization])).toEqual([
      [`${PAGE}/api/x`, null],
      ['https://api.test/y', `Bearer ${token}`],
    ]);
    expect(allowedOrigins.mock.calls.map(([url]) => url.href)).toEqual([`${PAGE}/api/x`, 'https://api.test/y']);
    auth.destroy();
  });
});
