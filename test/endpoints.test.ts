import { afterEach, describe, expect, it, vi } from 'vitest';
import { delay } from 'msw';
import {
  RefreshFailedError,
  RefreshRejectedError,
  UnreadableResponseError,
  type LogoutFn,
  type RefreshFn,
} from 'tokenkeeper';
import { jwtFor } from './support/jwt';
import {
  HttpResponse,
  LOGOUT_URL,
  logoutEndpoint,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';
import { rejectionOf } from './support/async';
import { collect } from './support/events';
import { numberedKeys, trackManagers } from './support/managers';

afterEach(() => {
  vi.useRealTimers();
});
startServer();

const nextStorageKey = numberedKeys('endpoints-test');

/** A manager for these tests, with its own storage key so that no refresh lock is shared with another test. */
const createAuth = trackManagers(() => ({
  refresh: { url: REFRESH_URL },
  onResume: noResume,
  storageKey: nextStorageKey(),
}));

/** `fetch` that goes to msw as usual and remembers the arguments it was called with. */
function observedFetch() {
  return vi.fn<typeof fetch>((input, init) => globalThis.fetch(input, init));
}

/** The request a `fetch` call describes, whichever way (URL + init, or a Request) it was made. */
function requestOf(call: Parameters<typeof fetch>): Request {
  return new Request(call[0], call[1]);
}

const formFields = (body: string): Record<string, string> => Object.fromEntries(new URLSearchParams(body));

describe('refresh endpoint, format json (default)', () => {
  it('POSTs {"refresh_token"} as JSON to the url, keeping its query string', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600) }));
    server.use(refresh.handler);
    const auth = createAuth({ refresh: { url: `${REFRESH_URL}?tenant=a` } });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    const token = await auth.refresh();

    expect(refresh.seen).toHaveLength(1);
    const [request] = refresh.seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(`${REFRESH_URL}?tenant=a`);
    expect(request!.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({ refresh_token: 'rt-1' });
    expect(token).toBe(auth.getState().accessToken);
    auth.destroy();
  });

  it('sends {} when no refresh token is held (it lives in a cookie)', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600) }));
    server.use(refresh.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: null });

    await auth.refresh();

    expect(refresh.seen).toHaveLength(1);
    expect(refresh.seen[0]!.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({});
    auth.destroy();
  });

  it("passes credentials: 'include' to fetch", async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600) }));
    server.use(refresh.handler);
    const fetchSpy = observedFetch();
    const auth = createAuth({ refresh: { url: REFRESH_URL, credentials: 'include' }, fetch: fetchSpy });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: null });

    await auth.refresh();

    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(requestOf(fetchSpy.mock.calls[0]!).credentials).toBe('include');
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });

  it('sends the custom headers of the endpoint', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600) }));
    server.use(refresh.handler);
    const auth = createAuth({ refresh: { url: REFRESH_URL, headers: { 'X-Client': 'web-1', 'X-Tenant': 'a' } } });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await auth.refresh();

    const headers = refresh.seen[0]!.headers;
    expect(headers.get('x-client')).toBe('web-1');
    expect(headers.get('x-tenant')).toBe('a');
    expect(headers.get('content-type')).toBe('application/json');
    auth.destroy();
  });
});

describe('refresh endpoint, format oauth2 (RFC 6749 §6)', () => {
  it.each([
    ['without clientId', {}, { grant_type: 'refresh_token', refresh_token: 'rt-1' }],
    [
      'with clientId',
      { clientId: 'app-1' },
      { grant_type: 'refresh_token', refresh_token: 'rt-1', client_id: 'app-1' },
    ],
  ])('POSTs a form with grant_type=refresh_token and the refresh token, %s', async (_case, extra, expected) => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600) }));
    server.use(refresh.handler);
    const auth = createAuth({ refresh: { url: REFRESH_URL, format: 'oauth2', ...extra } });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await auth.refresh();

    expect(refresh.seen).toHaveLength(1);
    const [request] = refresh.seen;
    expect(request!.method).toBe('POST');
    expect(request!.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded\b/);
    expect(formFields(request!.body)).toEqual(expected);
    auth.destroy();
  });
});

describe('refresh endpoint responses', () => {
  it.each([
    ['snake_case', (access: string) => ({ access_token: access, refresh_token: 'rt-2', expires_in: 120 })],
    ['camelCase', (access: string) => ({ accessToken: access, refreshToken: 'rt-2', expiresIn: 120 })],
  ])(
    'reads a %s body: the access token, expires_in for expiresAt, and the rotated refresh token',
    async (_case, body) => {
      vi.useFakeTimers();
      const next = jwtFor(3600);
      const refresh = refreshEndpoint((call) =>
        HttpResponse.json(call === 1 ? body(next) : { access_token: jwtFor(3600) }),
      );
      server.use(refresh.handler);
      const auth = createAuth();
      await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
      const refreshedAt = Date.now();

      await expect(auth.refresh()).resolves.toBe(next);

      // expires_in (120 s) wins over the JWT's own one-hour lifetime.
      expect(auth.getState()).toMatchObject({
        status: 'authenticated',
        accessToken: next,
        expiresAt: refreshedAt + 120_000,
      });
      await auth.refresh();
      expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'rt-2' });
      auth.destroy();
    },
  );

  it('keeps the current refresh token when the response has none', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600), expires_in: 300 }));
    server.use(refresh.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await auth.refresh();
    await auth.refresh();

    expect(refresh.seen.map((request) => JSON.parse(request.body))).toEqual([
      { refresh_token: 'rt-1' },
      { refresh_token: 'rt-1' },
    ]);
    auth.destroy();
  });
});

describe('refresh endpoint bodies', () => {
  it('takes the snake_case spelling where a body gives both', async () => {
    vi.useFakeTimers();
    const snake = jwtFor(3600);
    const refresh = refreshEndpoint(() =>
      HttpResponse.json({ access_token: snake, accessToken: jwtFor(60), expires_in: 120, expiresIn: 30 }),
    );
    server.use(refresh.handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    const refreshedAt = Date.now();

    await expect(auth.refresh()).resolves.toBe(snake);
    expect(auth.getState().expiresAt).toBe(refreshedAt + 120_000);
    auth.destroy();
  });

  it.each([
    ['a number', -30],
    ['a numeric string', '-30'],
  ])(
    'takes a negative expires_in (%s) as no lifetime left, keeping the rotated refresh token',
    async (_case, expiresIn) => {
      vi.useFakeTimers();
      const next = jwtFor(3600);
      const refresh = refreshEndpoint((call) =>
        HttpResponse.json(
          call === 1
            ? { access_token: next, refresh_token: 'rt-2', expires_in: expiresIn }
            : { access_token: jwtFor(3600) },
        ),
      );
      server.use(refresh.handler);
      const auth = createAuth();
      await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
      const refreshedAt = Date.now();

      await expect(auth.refresh()).resolves.toBe(next);
      expect(auth.getState()).toMatchObject({ accessToken: next, expiresAt: refreshedAt });
      await auth.refresh();
      expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'rt-2' });
      auth.destroy();
    },
  );

  it.each([
    ['a JSON array', [{ access_token: 'x' }]],
    ['an access_token with a space', { access_token: 'not sendable' }],
    ['a refresh_token that is a number', { access_token: 'opaque', expires_in: 60, refresh_token: 7 }],
    ['an expires_in that is not numeric', { access_token: 'opaque', expires_in: 'soon' }],
  ])('a body with %s is transient, its cause an UnreadableResponseError', async (_case, body) => {
    vi.useFakeTimers();
    server.use(refreshEndpoint(() => HttpResponse.json(body)).handler);
    const auth = createAuth();
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    const error = await rejectionOf(auth.refresh());
    expect(error).toBeInstanceOf(RefreshFailedError);
    expect((error as RefreshFailedError).cause).toBeInstanceOf(UnreadableResponseError);
    expect(auth.getState().status).toBe('authenticated');
    auth.destroy();
  });
});

describe('refresh endpoint failures', () => {
  it.each([
    ['400 {"error":"invalid_grant"}', () => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 })],
    ['401', () => HttpResponse.json({ error: 'invalid_token' }, { status: 401 })],
  ])('a refresh answered %s ends the session (refresh-rejected)', async (_case, respond) => {
    vi.useFakeTimers();
    const refresh = refreshEndpoint(respond);
    server.use(refresh.handler);
    const auth = createAuth();
    const logouts = collect(auth, 'logout');
    const errors = collect(auth, 'error');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });
    // Within the refresh margin, so that getAccessToken() waits for the refresh instead of serving the token.
    vi.setSystemTime(Date.now() + 3600_000 - 10_000);

    const refreshing = rejectionOf(auth.refresh());
    const waiting = auth.getAccessToken();

    const error = await refreshing;
    expect(error).toBeInstanceOf(RefreshRejectedError);
    expect(error).toMatchObject({ code: 'refresh_rejected' });
    await expect(waiting).resolves.toBeNull();
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
    expect(logouts).toEqual([{ reason: 'refresh-rejected' }]);
    expect(errors).toEqual([]);
    auth.destroy();
  });

  it.each([
    // Bodiless on purpose; a failure answer with a body is its own case below.
    ['500', () => new HttpResponse(null, { status: 500 })],
    ['503', () => new HttpResponse(null, { status: 503, headers: { 'Retry-After': '1' } })],
    ['408', () => new HttpResponse(null, { status: 408 })],
    ['429', () => new HttpResponse(null, { status: 429, headers: { 'Retry-After': '1' } })],
    [
      'a 500 with an error page in the body',
      () =>
        new HttpResponse('<h1>Internal Server Error</h1>', { status: 500, headers: { 'Content-Type': 'text/html' } }),
    ],
    ['a network error', () => HttpResponse.error()],
    [
      'a body that is not JSON',
      () => new HttpResponse('not json', { status: 200, headers: { 'Content-Type': 'application/json' } }),
    ],
    ['a JSON body without access_token', () => HttpResponse.json({})],
  ])(
    'a refresh failing with %s is transient: RefreshFailedError with cause, session kept, one error event per attempt',
    async (_case, respond) => {
      // Fake timers hold back the background retries, so that every attempt here is one the test made.
      vi.useFakeTimers();
      const refresh = refreshEndpoint(respond);
      server.use(refresh.handler);
      const auth = createAuth();
      const logouts = collect(auth, 'logout');
      const errors = collect(auth, 'error');
      const token = jwtFor(3600);
      await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

      const error = await rejectionOf(auth.refresh());

      expect(error).toBeInstanceOf(RefreshFailedError);
      expect(error).toMatchObject({ code: 'refresh_failed' });
      expect((error as RefreshFailedError).cause).toBeInstanceOf(Error);
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
      expect(logouts).toEqual([]);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.error).toBeInstanceOf(RefreshFailedError);

      await rejectionOf(auth.refresh());
      expect(refresh.seen).toHaveLength(2);
      expect(errors).toHaveLength(2);
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
      auth.destroy();
    },
  );

  it('a refresh that gets no answer within the endpoint timeout is transient', async () => {
    vi.useFakeTimers();
    const refresh = refreshEndpoint(async () => {
      await delay(5_000);
      return HttpResponse.json({ access_token: jwtFor(3600) });
    });
    server.use(refresh.handler);
    const auth = createAuth({ refresh: { url: REFRESH_URL, timeout: 1_000 } });
    const logouts = collect(auth, 'logout');
    const errors = collect(auth, 'error');
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });
    let settled = false;
    const refreshing = rejectionOf(auth.refresh()).finally(() => {
      settled = true;
    });

    await vi.advanceTimersByTimeAsync(999);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    const error = await refreshing;

    expect(error).toBeInstanceOf(RefreshFailedError);
    expect((error as RefreshFailedError).cause).toBeInstanceOf(Error);
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
    expect(logouts).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toBeInstanceOf(RefreshFailedError);
    auth.destroy();
  });
});

describe('refresh function', () => {
  it('is called with { refreshToken, signal } and its token set is used', async () => {
    const next = jwtFor(3600);
    let signalAbortedAtCall: boolean | undefined;
    const refreshFn = vi.fn<RefreshFn>(async ({ signal }) => {
      signalAbortedAtCall = signal.aborted;
      return { accessToken: next, refreshToken: 'rt-2' };
    });
    const auth = createAuth({ refresh: refreshFn });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await expect(auth.refresh()).resolves.toBe(next);

    expect(refreshFn).toHaveBeenCalledTimes(1);
    const [context] = refreshFn.mock.calls[0]!;
    expect(context.refreshToken).toBe('rt-1');
    expect(context.signal).toBeInstanceOf(AbortSignal);
    expect(signalAbortedAtCall).toBe(false);
    expect(auth.getState().accessToken).toBe(next);
    auth.destroy();
  });

  it('throwing RefreshRejectedError ends the session (refresh-rejected)', async () => {
    const auth = createAuth({
      refresh: async () => {
        throw new RefreshRejectedError('the session was revoked');
      },
    });
    const logouts = collect(auth, 'logout');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    const error = await rejectionOf(auth.refresh());

    expect(error).toBeInstanceOf(RefreshRejectedError);
    expect(auth.getState().status).toBe('unauthenticated');
    expect(logouts).toEqual([{ reason: 'refresh-rejected' }]);
    auth.destroy();
  });

  it('throwing any other error is transient: RefreshFailedError with that cause, session kept', async () => {
    vi.useFakeTimers();
    const offline = new Error('backend offline');
    const auth = createAuth({
      refresh: async () => {
        throw offline;
      },
    });
    const logouts = collect(auth, 'logout');
    const errors = collect(auth, 'error');
    const token = jwtFor(3600);
    await auth.setTokens({ accessToken: token, refreshToken: 'rt-1' });

    const error = await rejectionOf(auth.refresh());

    expect(error).toBeInstanceOf(RefreshFailedError);
    expect((error as RefreshFailedError).cause).toBe(offline);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: token });
    expect(logouts).toEqual([]);
    expect(errors).toHaveLength(1);
    auth.destroy();
  });
});

describe('logout endpoint, format json', () => {
  it('POSTs {"refresh_token"} with Authorization: Bearer and keepalive, and reports the server notified', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL } });
    const access = jwtFor(3600);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-1' });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    const [request] = logout.seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe(LOGOUT_URL);
    expect(request!.headers.get('authorization')).toBe(`Bearer ${access}`);
    expect(request!.headers.get('content-type')).toBe('application/json');
    expect(JSON.parse(request!.body)).toEqual({ refresh_token: 'rt-1' });
    expect(request!.keepalive).toBe(true);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });

  it('sends {} when no refresh token is held', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL } });
    const access = jwtFor(3600);
    await auth.setTokens({ accessToken: access, refreshToken: null });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    expect(logout.seen[0]!.headers.get('authorization')).toBe(`Bearer ${access}`);
    expect(JSON.parse(logout.seen[0]!.body)).toEqual({});
    auth.destroy();
  });

  it('reports the server notified when the logout endpoint answers 200 with a JSON body', async () => {
    // msw, like any fetch wrapper that clones responses, hands back a teed body whose sibling is never read;
    // discarding the answer's body must not wait on that.
    const logout = logoutEndpoint(() => HttpResponse.json({ ok: true }));
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL } });
    const errors = collect(auth, 'error');
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    expect(errors).toEqual([]);
    auth.destroy();
  });

  it.each([
    ['500', () => new HttpResponse(null, { status: 500 })],
    ['a network error', () => HttpResponse.error()],
  ])(
    'a logout endpoint failing with %s: resolves { serverNotified: false }, one error event, still signed out',
    async (_case, respond) => {
      const logout = logoutEndpoint(respond);
      server.use(logout.handler);
      const auth = createAuth({ logout: { url: LOGOUT_URL } });
      const logouts = collect(auth, 'logout');
      const errors = collect(auth, 'error');
      await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

      await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

      expect(logout.seen).toHaveLength(1);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.error).toBeInstanceOf(Error);
      expect(logouts).toEqual([{ reason: 'user' }]);
      expect(auth.getState().status).toBe('unauthenticated');
      auth.destroy();
    },
  );
});

describe('logout endpoint, format oauth2 (RFC 7009)', () => {
  it.each([
    ['without clientId', {}, { token: 'rt-1', token_type_hint: 'refresh_token' }],
    ['with clientId', { clientId: 'app-1' }, { token: 'rt-1', token_type_hint: 'refresh_token', client_id: 'app-1' }],
  ])('revokes the refresh token, %s', async (_case, extra, expected) => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL, format: 'oauth2', ...extra } });
    await auth.setTokens({ accessToken: jwtFor(3600), refreshToken: 'rt-1' });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    const [request] = logout.seen;
    expect(request!.method).toBe('POST');
    expect(request!.headers.get('content-type')).toMatch(/^application\/x-www-form-urlencoded\b/);
    expect(formFields(request!.body)).toEqual(expected);
    expect(request!.keepalive).toBe(true);
    auth.destroy();
  });

  it('revokes the access token (token_type_hint=access_token) when no refresh token is held', async () => {
    const logout = logoutEndpoint();
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL, format: 'oauth2', clientId: 'app-1' } });
    const access = jwtFor(3600);
    await auth.setTokens({ accessToken: access, refreshToken: null });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logout.seen).toHaveLength(1);
    expect(formFields(logout.seen[0]!.body)).toEqual({
      token: access,
      token_type_hint: 'access_token',
      client_id: 'app-1',
    });
    auth.destroy();
  });
});

describe('logout function', () => {
  it('is called with { accessToken, refreshToken, signal }', async () => {
    const logoutFn = vi.fn<LogoutFn>(async () => {});
    const auth = createAuth({ logout: logoutFn });
    const access = jwtFor(3600);
    await auth.setTokens({ accessToken: access, refreshToken: 'rt-1' });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: true });

    expect(logoutFn).toHaveBeenCalledTimes(1);
    const [context] = logoutFn.mock.calls[0]!;
    expect(context.accessToken).toBe(access);
    expect(context.refreshToken).toBe('rt-1');
    expect(context.signal).toBeInstanceOf(AbortSignal);
    auth.destroy();
  });
});

describe('error messages never contain a token', () => {
  /** Every message and string form along an error's `cause` chain. */
  function textsOf(error: unknown): string[] {
    const texts: string[] = [];
    let current: unknown = error;
    for (let depth = 0; current !== undefined && current !== null && depth < 10; depth += 1) {
      texts.push(String(current));
      if (current instanceof Error) texts.push(current.message);
      current = current instanceof Error ? current.cause : undefined;
    }
    return texts;
  }

  function expectNoToken(errors: unknown[], tokens: string[]): void {
    expect(errors.length).toBeGreaterThan(0);
    for (const text of errors.flatMap(textsOf)) {
      for (const token of tokens) expect(text).not.toContain(token);
    }
  }

  const REFRESH_TOKEN = 'rt-secret-7f3a9c2e5b';

  it.each([
    [
      'a 400 whose body quotes the refresh token',
      (access: string) =>
        HttpResponse.json(
          {
            error: 'invalid_grant',
            error_description: `refresh token ${REFRESH_TOKEN} was revoked (access ${access})`,
          },
          { status: 400 },
        ),
    ],
    [
      'a 200 whose unreadable body quotes the tokens',
      (access: string) => new HttpResponse(`oops ${REFRESH_TOKEN} ${access}`, { status: 200 }),
    ],
    [
      'a 200 JSON body without access_token that echoes the tokens',
      (access: string) => HttpResponse.json({ refresh_token: REFRESH_TOKEN, token: access }),
    ],
    ['a network error', () => HttpResponse.error()],
  ])('refresh failures: %s', async (_case, respond) => {
    vi.useFakeTimers();
    const access = jwtFor(3600);
    const refresh = refreshEndpoint(() => respond(access));
    server.use(refresh.handler);
    const auth = createAuth();
    const events = collect(auth, 'error');
    await auth.setTokens({ accessToken: access, refreshToken: REFRESH_TOKEN });

    const error = await rejectionOf(auth.refresh());

    expectNoToken([error, ...events.map((event) => event.error)], [access, REFRESH_TOKEN]);
    auth.destroy();
  });

  it('a refresh timeout', async () => {
    vi.useFakeTimers();
    const access = jwtFor(3600);
    const refresh = refreshEndpoint(async () => {
      await delay(5_000);
      return HttpResponse.json({ access_token: jwtFor(3600) });
    });
    server.use(refresh.handler);
    const auth = createAuth({ refresh: { url: `${REFRESH_URL}?token=${REFRESH_TOKEN}`, timeout: 1_000 } });
    const events = collect(auth, 'error');
    await auth.setTokens({ accessToken: access, refreshToken: REFRESH_TOKEN });

    const refreshing = rejectionOf(auth.refresh());
    await vi.advanceTimersByTimeAsync(1_000);
    const error = await refreshing;

    expectNoToken([error, ...events.map((event) => event.error)], [access, REFRESH_TOKEN]);
    auth.destroy();
  });

  it.each([
    ['500', () => new HttpResponse(null, { status: 500 })],
    ['a network error', () => HttpResponse.error()],
  ])('logout failures: %s', async (_case, respond) => {
    const access = jwtFor(3600);
    const logout = logoutEndpoint(respond);
    server.use(logout.handler);
    const auth = createAuth({ logout: { url: LOGOUT_URL } });
    const events = collect(auth, 'error');
    await auth.setTokens({ accessToken: access, refreshToken: REFRESH_TOKEN });

    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });

    expectNoToken(
      events.map((event) => event.error),
      [access, REFRESH_TOKEN],
    );
    auth.destroy();
  });
});
