/**
 * Fault matrix, refresh endpoint (issue 7, scope item 5): one row per way the refresh endpoint can fail.
 * Each row checks the end state (status, token held, storage, what a reload loads), the events, the server
 * calls (and that no request went elsewhere) and that no token reaches an error message or the console.
 *
 * Where the expected behaviour comes from: API.md ("a 5xx, 408, 429, network error, timeout or unreadable
 * body is transient"; "400 or 401 ends the session") and /work/design-issue7.md (items 7, 8, 15a, 15e, 15f).
 */
import {
  HttpStatusError,
  RefreshFailedError,
  RefreshRejectedError,
  StorageError,
  TimeoutError,
  TokenkeeperError,
} from 'tokenkeeper';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { deferred, outcome } from '../support/async';
import {
  HttpResponse,
  http,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from '../support/environment';
import { recordEvents } from '../support/events';
import { jwtFor } from '../support/jwt';
import { trackManagers } from '../support/managers';
import { flush, installFakeClock, LIFETIME_S, MARGIN_MS } from '../support/time';
import {
  createFaultyStorage,
  ENDPOINT_TIMEOUT_MS,
  expectNoLeaks,
  INITIAL_REFRESH_TOKEN,
  installRequestLedger,
  posts,
  reloadState,
  spyConsole,
  storedText,
  tokenFieldsOf,
} from './support';

installFakeClock();
startServer();
const ledger = installRequestLedger();
const createManager = trackManagers({
  refresh: { url: REFRESH_URL, timeout: ENDPOINT_TIMEOUT_MS },
  refreshMargin: MARGIN_MS,
  onResume: noResume,
  channel: false,
});

/** Where the msw redirect rows point; the matrix checks that nothing was ever sent there. */
const ELSEWHERE_URL = 'https://elsewhere.test/collect';

/** Requests the timeout rows hold open; released after each test so no msw handler is left pending. */
const held: Array<() => void> = [];
afterEach(() => {
  for (const release of held.splice(0)) release();
});
function neverAnswer(request: Request): Promise<Response> {
  const gate = deferred();
  held.push(() => gate.resolve());
  request.signal.addEventListener('abort', () => gate.resolve(), { once: true });
  return gate.promise.then(() => HttpResponse.error());
}

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * - `transient`: `refresh()` rejects `RefreshFailedError`; the session is kept; one `'error'` per attempt;
 *   retried with backoff (first retry 0.5–1 s later, per the design) or not before `Retry-After`.
 * - `rejected`: `refresh()` rejects `RefreshRejectedError`; signed out with reason `'refresh-rejected'`.
 * - `installed-but-failed`: design item 8, a token set with a lifetime <= 0 from a refresh: installed (its
 *   rotated refresh token kept), yet counted as a failed attempt: one `'error'` each time, backoff, no loop.
 */
type Outcome = 'transient' | 'rejected' | 'installed-but-failed';

interface RefreshRow {
  name: string;
  respond: (call: number, request: Request) => Response | Promise<Response>;
  outcome: Outcome;
  /** The class (and HTTP status) of the `cause` of the `RefreshFailedError`. */
  cause?: { type: ErrorClass; status?: number };
  /** Fake time one attempt takes before it fails (the timeout rows). */
  attemptMs?: number;
  /** The server's `Retry-After`, in ms from the failed attempt: the next call must not come before it. */
  retryAfterMs?: number;
  /** More text that must never appear in an error message or on the console. */
  secrets?: string[];
  /** Why the code before the fix fails this row (documentation only). */
  needsFix?: string;
}

const status = (code: number, body: BodyInit | null = null, headers: Record<string, string> = {}): Response =>
  new HttpResponse(body, { status: code, headers });
const tokenBody = (extra: Record<string, unknown> = {}): Response =>
  HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'rt-from-server-5b1e0c44d2', ...extra });

const JUNK_ERROR =
  `JUNKJUNKJUNK<html><body>${'junk text that is not an OAuth error code '.repeat(48)}</body></html>`.slice(0, 2048);
const TOKEN_LIKE_ERROR = jwtFor(LIFETIME_S, { sub: 'someone-else' });

const rows: RefreshRow[] = [
  { name: '500', respond: () => status(500), outcome: 'transient', cause: { type: HttpStatusError, status: 500 } },
  {
    name: '502 with an HTML body',
    respond: () => status(502, '<html><body>Bad Gateway</body></html>', { 'Content-Type': 'text/html' }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 502 },
  },
  { name: '503', respond: () => status(503), outcome: 'transient', cause: { type: HttpStatusError, status: 503 } },
  { name: '408', respond: () => status(408), outcome: 'transient', cause: { type: HttpStatusError, status: 408 } },
  {
    name: '429 without Retry-After',
    respond: () => status(429),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 429 },
  },
  {
    name: '429 with Retry-After: 30',
    respond: () => status(429, null, { 'Retry-After': '30' }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 429 },
    retryAfterMs: 30_000,
    needsFix: 'Retry-After (design 15a)',
  },
  {
    name: '503 with an HTTP-date Retry-After 45 s ahead',
    respond: () => status(503, null, { 'Retry-After': new Date(Date.now() + 45_000).toUTCString() }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 503 },
    retryAfterMs: 45_000,
    needsFix: 'Retry-After (design 15a)',
  },
  { name: 'network error', respond: () => HttpResponse.error(), outcome: 'transient', cause: { type: Error } },
  {
    name: 'timeout (the endpoint never answers)',
    respond: (_call, request) => neverAnswer(request),
    outcome: 'transient',
    cause: { type: TimeoutError },
    attemptMs: ENDPOINT_TIMEOUT_MS,
  },
  {
    name: '200 with an HTML body',
    respond: () => HttpResponse.html('<!doctype html><html><body>Sign in</body></html>'),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
  },
  {
    name: '200 with an empty body',
    respond: () => status(200, null, { 'Content-Type': 'application/json' }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
  },
  {
    name: '200 with malformed JSON (cut off inside the token)',
    respond: () =>
      status(200, `{"access_token":"${jwtFor(LIFETIME_S)}","refresh_token":"rt-cut-off-7d9a31`, {
        'Content-Type': 'application/json',
      }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
    secrets: ['rt-cut-off-7d9a31'],
  },
  {
    name: '200 with JSON without access_token',
    respond: () => HttpResponse.json({ refresh_token: 'rt-orphan-0c5e8a9f', expires_in: 3600 }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
  },
  {
    name: '200 with an access_token that is not a string',
    respond: () =>
      HttpResponse.json({ access_token: { value: 'at-object-31f0aa6c2b' }, refresh_token: 'rt-next-4a1f' }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
    secrets: ['at-object-31f0aa6c2b', 'rt-next-4a1f'],
  },
  {
    name: '200 with an access_token holding a space (not a header value)',
    respond: () => HttpResponse.json({ access_token: 'opaque-token-2c91 with-a-space', expires_in: 3600 }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
    secrets: ['opaque-token-2c91', 'with-a-space'],
    needsFix: 'header-value check on refreshed tokens (design 15f)',
  },
  {
    name: '200 with an access_token holding a newline (not a header value)',
    respond: () =>
      HttpResponse.json({
        access_token: 'opaque-token-77e4\r\nX-Injected: 1',
        expires_in: 3600,
        refresh_token: 'rt-nl-51b0',
      }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
    secrets: ['opaque-token-77e4', 'X-Injected'],
    needsFix: 'header-value check on refreshed tokens (design 15f)',
  },
  {
    name: '200 with a non-numeric expires_in',
    respond: () => tokenBody({ expires_in: 'soon' }),
    outcome: 'transient',
    cause: { type: TokenkeeperError },
  },
  {
    name: '200 with a negative expires_in',
    respond: (call) => tokenBody({ expires_in: -30, refresh_token: `rt-rotated-${call}-e41c9b` }),
    outcome: 'installed-but-failed',
    needsFix: 'zero/negative lifetime from a refresh (design 8)',
  },
  {
    name: '200 with expires_in 0',
    respond: (call) => tokenBody({ expires_in: 0, refresh_token: `rt-rotated-${call}-e41c9b` }),
    outcome: 'installed-but-failed',
    needsFix: 'zero/negative lifetime from a refresh (design 8)',
  },
  {
    name: '400 {"error":"invalid_grant"}',
    respond: () => HttpResponse.json({ error: 'invalid_grant' }, { status: 400 }),
    outcome: 'rejected',
  },
  {
    name: '401 {"error":"invalid_grant"}',
    respond: () => HttpResponse.json({ error: 'invalid_grant' }, { status: 401 }),
    outcome: 'rejected',
  },
  {
    name: '401 whose error is 2 KB of junk',
    respond: () => HttpResponse.json({ error: JUNK_ERROR }, { status: 401 }),
    outcome: 'rejected',
    secrets: [JUNK_ERROR, 'JUNKJUNKJUNK', 'junk text that is not'],
  },
  {
    name: '401 whose error looks like a token',
    respond: () => HttpResponse.json({ error: TOKEN_LIKE_ERROR }, { status: 401 }),
    outcome: 'rejected',
    secrets: [TOKEN_LIKE_ERROR],
  },
  // msw refuses to replay a POST body on a 307/308 (its fetch interceptor answers "Failed to fetch"), so these two
  // rows cannot show a followed redirect; matrix-redirect.test.ts does, against real servers. A 303 it does follow.
  {
    name: '303 to another origin (msw)',
    respond: () => status(303, null, { Location: ELSEWHERE_URL }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 303 },
    needsFix: "redirect: 'manual' (design 7)",
  },
  {
    name: '307 to another origin (msw)',
    respond: () => status(307, null, { Location: ELSEWHERE_URL }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 307 },
    needsFix: "redirect: 'manual' (design 7)",
  },
  {
    name: '308 to another origin (msw)',
    respond: () => status(308, null, { Location: ELSEWHERE_URL }),
    outcome: 'transient',
    cause: { type: HttpStatusError, status: 308 },
    needsFix: "redirect: 'manual' (design 7)",
  },
];

describe('fault matrix: refresh endpoint', () => {
  it.each(rows)('$name → $outcome', async (row) => {
    const consoleOutput = spyConsole();
    const responseBodies: string[] = [];
    const refresh = refreshEndpoint(async (call, request) => {
      const response = await row.respond(call, request);
      responseBodies.push(
        await response
          .clone()
          .text()
          .catch(() => ''),
      );
      return response;
    });
    const elsewhere: string[] = [];
    server.use(
      refresh.handler,
      http.all(ELSEWHERE_URL, ({ request }) => {
        elsewhere.push(`${request.method} ${request.url}`);
        return tokenBody();
      }),
    );

    const storage = createFaultyStorage();
    const auth = createManager({ storage });
    const initialAccess = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: initialAccess, refreshToken: INITIAL_REFRESH_TOKEN });
    const events = recordEvents(auth);

    // One attempt, started by hand.
    const attempt = outcome(auth.refresh());
    await vi.advanceTimersByTimeAsync(row.attemptMs ?? 0);
    const result = await attempt;
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
    const rejections: unknown[] = 'error' in result ? [result.error] : [];

    if (row.outcome === 'transient') {
      expect(result).toHaveProperty('error');
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(RefreshFailedError);
      expect((error as RefreshFailedError).code).toBe('refresh_failed');
      const cause = (error as { cause?: unknown }).cause;
      if (row.cause) {
        expect(cause).toBeInstanceOf(row.cause.type);
        if (row.cause.status !== undefined) expect((cause as HttpStatusError).status).toBe(row.cause.status);
      }
      // Session kept, the same token held, in storage and after a reload.
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: initialAccess, refreshing: false });
      await expect(auth.getAccessToken()).resolves.toBe(initialAccess);
      expect(storedText(storage.values)).toContain(initialAccess);
      expect(storedText(storage.values)).toContain(INITIAL_REFRESH_TOKEN);
      expect(await reloadState(storage.values)).toMatchObject({ status: 'authenticated', accessToken: initialAccess });
      expect(events.error).toHaveLength(1);
      expect(events.error[0]!.error).toBeInstanceOf(RefreshFailedError);
      expect(events.logout).toEqual([]);
      expect(events.refresh).toEqual([]);
      expect(refresh.seen).toHaveLength(1);

      if (row.retryAfterMs !== undefined) {
        // Not before Retry-After, whoever asks for a token meanwhile (the token is still valid).
        await vi.advanceTimersByTimeAsync(row.retryAfterMs - 1);
        await expect(Promise.all(Array.from({ length: 5 }, () => auth.getAccessToken()))).resolves.toEqual(
          Array.from({ length: 5 }, () => initialAccess),
        );
        await flush();
        expect(refresh.seen, `calls before Retry-After (${row.retryAfterMs} ms)`).toHaveLength(1);
        // Due at Retry-After (it is longer than the first backoff delay of at most 1 s).
        await vi.advanceTimersByTimeAsync(1 + 1_000);
        expect(refresh.seen, 'calls within 1 s after Retry-After').toHaveLength(2);
      } else {
        // The first retry runs by itself 0.5–1 s later; the one after it not before another 1 s.
        await vi.advanceTimersByTimeAsync(1_000 + (row.attemptMs ?? 0));
        expect(refresh.seen, 'calls in the first second of backoff').toHaveLength(2);
      }
      expect(events.error).toHaveLength(2);
      for (const { error: emitted } of events.error) {
        expect(emitted).toBeInstanceOf(RefreshFailedError);
        expect((emitted as RefreshFailedError).code).toBe('refresh_failed');
      }
      expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: INITIAL_REFRESH_TOKEN });
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: initialAccess });
      expect(events.logout).toEqual([]);
    } else if (row.outcome === 'rejected') {
      expect(result).toHaveProperty('error');
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(RefreshRejectedError);
      expect((error as RefreshRejectedError).code).toBe('refresh_rejected');
      expect(auth.getState()).toMatchObject({ status: 'unauthenticated', accessToken: null });
      await expect(auth.getAccessToken()).resolves.toBeNull();
      expect(events.logout).toEqual([{ reason: 'refresh-rejected' }]);
      expect(events.error).toEqual([]);
      expect(events.refresh).toEqual([]);
      const stored = storedText(storage.values);
      expect(stored ?? '').not.toContain(initialAccess);
      expect(stored ?? '').not.toContain(INITIAL_REFRESH_TOKEN);
      expect((await reloadState(storage.values)).status).toBe('unauthenticated');
      // Nothing retries a rejected session.
      await vi.advanceTimersByTimeAsync(120_000);
      expect(refresh.seen).toHaveLength(1);
    } else {
      // Design 8: installed, but a failed attempt: one 'error' per call, backoff, the rotated token kept.
      if ('error' in result) expect(result.error).toBeInstanceOf(RefreshFailedError);
      expect(events.error).toHaveLength(1);
      expect(events.error[0]!.error).toBeInstanceOf(RefreshFailedError);
      const installed = JSON.parse(responseBodies[0]!) as { access_token: string; refresh_token: string };
      expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: installed.access_token });
      expect(storedText(storage.values)).toContain(installed.refresh_token);
      expect(storedText(storage.values)).not.toContain(INITIAL_REFRESH_TOKEN);
      await vi.advanceTimersByTimeAsync(499);
      expect(refresh.seen, 'calls within 499 ms of the failed attempt').toHaveLength(1);
      await vi.advanceTimersByTimeAsync(501);
      expect(refresh.seen, 'calls within 1 s of the failed attempt').toHaveLength(2);
      expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: installed.refresh_token });
      await vi.advanceTimersByTimeAsync(9_000);
      expect(refresh.seen.length, 'calls over 10 s (a handful, never a loop)').toBeLessThanOrEqual(6);
      expect(events.error).toHaveLength(refresh.seen.length);
      for (const [index, seen] of refresh.seen.entries()) {
        if (index === 0) continue;
        const previous = JSON.parse(responseBodies[index - 1]!) as { refresh_token: string };
        expect(JSON.parse(seen.body)).toEqual({ refresh_token: previous.refresh_token });
      }
      expect(events.logout).toEqual([]);
      expect(auth.getState().status).toBe('authenticated');
    }

    // No request went anywhere but the refresh endpoint; the redirect target was never called.
    expect(elsewhere).toEqual([]);
    expect(ledger.requests).toEqual(posts(REFRESH_URL, refresh.seen.length));
    // Storage failures have no part in these rows.
    expect(events.error.filter(({ error }) => error instanceof StorageError)).toEqual([]);

    const secrets = [
      initialAccess,
      INITIAL_REFRESH_TOKEN,
      ...responseBodies.flatMap((body) => tokenFieldsOf(body)),
      ...(row.secrets ?? []),
    ];
    expectNoLeaks([...rejections, ...events.error.map(({ error }) => error)], consoleOutput(), secrets);
    auth.destroy();
  });
});
