import { describe, expect, it, vi } from 'vitest';
import { ConfigurationError, createTokenManager, type TokenManagerOptions } from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  API_ORIGIN,
  createTestStorage,
  HttpResponse,
  http,
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';

startServer();

/** Valid options with one field replaced; `as unknown` because the point is to pass what the types forbid. */
function withOption(option: string, value: unknown): TokenManagerOptions {
  return {
    refresh: { url: REFRESH_URL },
    onResume: noResume,
    channel: false,
    [option]: value,
  } as unknown as TokenManagerOptions;
}

/** Calls createTokenManager and returns what it threw synchronously (or fails when it did not throw). */
function thrownBy(options: TokenManagerOptions): ConfigurationError {
  let manager: ReturnType<typeof createTokenManager> | undefined;
  try {
    manager = createTokenManager(options);
  } catch (error) {
    return error as ConfigurationError;
  }
  manager.destroy();
  throw new Error('createTokenManager did not throw');
}

describe('invalid options throw ConfigurationError synchronously, naming the option', () => {
  const cases: [string, TokenManagerOptions, string[]][] = [
    ['refresh is missing', { onResume: noResume } as unknown as TokenManagerOptions, ['refresh']],
    ['refresh is a string', withOption('refresh', REFRESH_URL), ['refresh']],
    ['refresh is a number', withOption('refresh', 42), ['refresh']],
    ['refresh is null', withOption('refresh', null), ['refresh']],
    ['refresh.url is empty', withOption('refresh', { url: '' }), ['refresh.url']],
    ['refresh.url is missing', withOption('refresh', {}), ['refresh.url']],
    [
      'refresh.format is unknown',
      withOption('refresh', { url: REFRESH_URL, format: 'xml' }),
      ['refresh.format', 'xml'],
    ],
    ['refresh.timeout is 0', withOption('refresh', { url: REFRESH_URL, timeout: 0 }), ['refresh.timeout']],
    ['refresh.timeout is negative', withOption('refresh', { url: REFRESH_URL, timeout: -1 }), ['refresh.timeout']],
    ['refresh.timeout is a string', withOption('refresh', { url: REFRESH_URL, timeout: '10s' }), ['refresh.timeout']],
    ['refresh.timeout is NaN', withOption('refresh', { url: REFRESH_URL, timeout: Number.NaN }), ['refresh.timeout']],
    ['logout.url is empty', withOption('logout', { url: '' }), ['logout.url']],
    ['logout is a number', withOption('logout', 7), ['logout']],
    ['refreshMargin is -5', withOption('refreshMargin', -5), ['refreshMargin', '-5']],
    ['refreshMargin is NaN', withOption('refreshMargin', Number.NaN), ['refreshMargin']],
    ['refreshMargin is a string', withOption('refreshMargin', '60000'), ['refreshMargin']],
    [
      'storage has no removeItem',
      withOption('storage', { getItem: () => null, setItem: () => {} }),
      ['storage', 'removeItem'],
    ],
    [
      'storage has no getItem',
      withOption('storage', { setItem: () => {}, removeItem: () => {} }),
      ['storage', 'getItem'],
    ],
    ['storageKey is empty', withOption('storageKey', ''), ['storageKey']],
    ['storageKey is a number', withOption('storageKey', 1), ['storageKey']],
    ['channel is empty', withOption('channel', ''), ['channel']],
    ['channel is a number', withOption('channel', 5), ['channel']],
    ['channel is true', withOption('channel', true), ['channel']],
    ['allowedOrigins is a string', withOption('allowedOrigins', API_ORIGIN), ['allowedOrigins']],
    ['allowedOrigins is an object', withOption('allowedOrigins', { origin: API_ORIGIN }), ['allowedOrigins']],
    [
      'allowedOrigins has "not a url"',
      withOption('allowedOrigins', [API_ORIGIN, 'not a url']),
      ['allowedOrigins', 'not a url'],
    ],
    ['allowedOrigins has "ftp://x"', withOption('allowedOrigins', ['ftp://x']), ['allowedOrigins', 'ftp://x']],
    ['fetch is not a function', withOption('fetch', 'fetch'), ['fetch']],
    ['onResume is not a function', withOption('onResume', {}), ['onResume']],
    [
      'refresh.timeout is a numeric string',
      withOption('refresh', { url: REFRESH_URL, timeout: '5' }),
      ['refresh.timeout'],
    ],
    ['refresh.clientId is a number', withOption('refresh', { url: REFRESH_URL, clientId: 7 }), ['refresh.clientId']],
    [
      'refresh.credentials is unknown',
      withOption('refresh', { url: REFRESH_URL, credentials: 'all' }),
      ['refresh.credentials', 'all'],
    ],
    [
      'refresh.headers has a value that is not a string',
      withOption('refresh', { url: REFRESH_URL, headers: { 'X-Count': 1 } }),
      ['refresh.headers'],
    ],
    ['refresh.headers is an array', withOption('refresh', { url: REFRESH_URL, headers: [] }), ['refresh.headers']],
    ['logout.format is unknown', withOption('logout', { url: LOGOUT_URL, format: 'form' }), ['logout.format', 'form']],
    ['refreshMargin is Infinity', withOption('refreshMargin', Number.POSITIVE_INFINITY), ['refreshMargin']],
    ['storage is null', withOption('storage', null), ['storage']],
    ['storage is an unknown name', withOption('storage', 'indexedDB'), ['storage', 'indexedDB']],
    ['restore is a string', withOption('restore', 'yes'), ['restore']],
    ['restore is null', withOption('restore', null), ['restore']],
    ['allowedOrigins is null', withOption('allowedOrigins', null), ['allowedOrigins']],
    ['allowedOrigins has a number', withOption('allowedOrigins', [8080]), ['allowedOrigins']],
    ['fetch is null', withOption('fetch', null), ['fetch']],
    ['environment is an array', withOption('environment', []), ['environment']],
    ['environment.now is not a function', withOption('environment', { now: 5 }), ['environment.now']],
    ['environment.lock is null', withOption('environment', { lock: null }), ['environment.lock']],
  ];

  it.each(cases)('when %s', (_label, options, named) => {
    const error = thrownBy(options);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect(error.code).toBe('configuration');
    for (const text of named) expect(error.message).toContain(text);
  });

  it('never shows a string that could be a token, only its kind', () => {
    const secret = 'eyJ-not-a-url-but-a-token';
    for (const option of ['refresh', 'storageKey', 'channel', 'refreshMargin', 'restore', 'fetch', 'environment']) {
      const error = thrownBy(withOption(option, option === 'storageKey' || option === 'channel' ? 5 : secret));
      expect(error.message).toContain(option);
      expect(error.message).not.toContain(secret);
    }
    const inEndpoint = thrownBy(withOption('refresh', { url: REFRESH_URL, clientId: 1, headers: { A: secret } }));
    expect(inEndpoint.message).not.toContain(secret);
  });

  it('when the options are not an object', () => {
    const error = thrownBy(undefined as unknown as TokenManagerOptions);
    expect(error).toBeInstanceOf(ConfigurationError);
  });
});

describe('valid options', () => {
  it.each<[string, TokenManagerOptions]>([
    ['only a refresh endpoint', { refresh: { url: REFRESH_URL }, onResume: noResume }],
    ['a refresh function', { refresh: async () => ({ accessToken: jwtFor(3600) }), onResume: noResume }],
    [
      'every option set',
      {
        refresh: {
          url: `${REFRESH_URL}?tenant=a`,
          format: 'oauth2',
          clientId: 'web',
          credentials: 'include',
          headers: { 'X-App': 'test' },
          timeout: 5_000,
        },
        logout: { url: LOGOUT_URL, format: 'json', timeout: 1 },
        storage: createTestStorage({ async: true }),
        storageKey: 'custom',
        refreshMargin: 0,
        allowedOrigins: [API_ORIGIN, 'http://localhost:3000'],
        channel: 'my-channel',
        fetch: (input, init) => globalThis.fetch(input, init),
        onResume: noResume,
      },
    ],
    [
      'a logout function, an allowedOrigins function and channel false',
      {
        refresh: { url: REFRESH_URL },
        logout: async () => {},
        allowedOrigins: (url) => url.hostname.endsWith('.test'),
        channel: false,
        onResume: noResume,
      },
    ],
    [
      'null storageKey, refreshMargin and channel, which mean their defaults',
      {
        refresh: { url: REFRESH_URL },
        storageKey: null,
        refreshMargin: null,
        channel: null,
        onResume: noResume,
      } as unknown as TokenManagerOptions,
    ],
    [
      'a function with the storage methods as storage, and an environment of functions',
      {
        refresh: { url: REFRESH_URL },
        storage: Object.assign(() => {}, createTestStorage()),
        environment: { now: () => Date.now(), random: () => 0.5 },
        channel: false,
        onResume: noResume,
      },
    ],
  ])('accepts %s', async (_label, options) => {
    const auth = createTokenManager(options);
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });
});

describe('the fetch option', () => {
  it('is used for the refresh request', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'r2' }));
    server.use(refresh.handler);
    const customFetch = vi.fn((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      fetch: customFetch,
      onResume: noResume,
      channel: false,
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    expect(customFetch).not.toHaveBeenCalled();

    const token = await auth.refresh();
    expect(customFetch).toHaveBeenCalledTimes(1);
    expect(String(customFetch.mock.calls[0]![0])).toBe(REFRESH_URL);
    expect(refresh.seen).toHaveLength(1);
    expect(token).toBe(auth.getState().accessToken);
    auth.destroy();
  });

  it('answers the refresh on its own, without the global fetch', async () => {
    // No msw handler: a request through the global fetch would fail the test (onUnhandledRequest: 'error').
    const next = jwtFor(3600);
    const customFetch = vi.fn(async () => Response.json({ access_token: next }));
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      fetch: customFetch,
      onResume: noResume,
      channel: false,
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    await expect(auth.refresh()).resolves.toBe(next);
    expect(customFetch).toHaveBeenCalledTimes(1);
    auth.destroy();
  });

  it('is used for the logout request and for auth.fetch', async () => {
    const logout = logoutEndpoint();
    server.use(
      logout.handler,
      http.get(`${API_ORIGIN}/me`, () => HttpResponse.json({ ok: true })),
    );
    const customFetch = vi.fn((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
    const auth = createTokenManager({
      refresh: { url: REFRESH_URL },
      logout: { url: LOGOUT_URL },
      fetch: customFetch,
      allowedOrigins: [API_ORIGIN],
      onResume: noResume,
      channel: false,
    });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'r1' });
    const response = await auth.fetch(`${API_ORIGIN}/me`);
    expect(response.status).toBe(200);
    expect(customFetch).toHaveBeenCalledTimes(1);
    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });
    expect(customFetch).toHaveBeenCalledTimes(2);
    expect(logout.seen).toHaveLength(1);
    auth.destroy();
  });
});
