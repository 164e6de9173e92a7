import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import type { TokenStorage } from 'tokenkeeper';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { jwtFor } from './jwt';

export const API_ORIGIN = 'https://api.test';
export const REFRESH_URL = `${API_ORIGIN}/auth/refresh`;
export const LOGOUT_URL = `${API_ORIGIN}/auth/logout`;

/** A request as the fake server saw it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Headers;
  body: string;
  keepalive: boolean;
}

/** A storage that records calls, can be asynchronous, and can be told to throw. */
export interface TestStorage extends TokenStorage {
  values: Map<string, string>;
  calls: string[];
  failOn: Set<'getItem' | 'setItem' | 'removeItem'>;
}

export function createTestStorage(options: { async?: boolean; initial?: Record<string, string> } = {}): TestStorage {
  const values = new Map(Object.entries(options.initial ?? {}));
  const calls: string[] = [];
  const failOn = new Set<'getItem' | 'setItem' | 'removeItem'>();
  const wrap =
    <A extends unknown[], R>(name: 'getItem' | 'setItem' | 'removeItem', fn: (...args: A) => R) =>
    (...args: A): R | Promise<R> => {
      calls.push(name);
      const run = (): R => {
        if (failOn.has(name)) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return fn(...args);
      };
      return options.async ? Promise.resolve().then(run) : run();
    };
  return {
    values,
    calls,
    failOn,
    getItem: wrap('getItem', (key: string) => values.get(key) ?? null),
    setItem: wrap('setItem', (key: string, value: string) => {
      values.set(key, value);
    }),
    removeItem: wrap('removeItem', (key: string) => {
      values.delete(key);
    }),
  } as TestStorage;
}

/** An `onResume` that never fires: the tests move time and ask for refreshes themselves. */
export const noResume = (): (() => void) => () => {};

/** A resume source a test can fire, in place of visibilitychange/focus or React Native's AppState. */
export function createResumeTrigger(): {
  onResume: (check: () => void) => () => void;
  fire: () => void;
  listeners: number;
} {
  const checks = new Set<() => void>();
  return {
    onResume(check) {
      checks.add(check);
      return () => checks.delete(check);
    },
    fire() {
      for (const check of checks) check();
    },
    get listeners() {
      return checks.size;
    },
  };
}

/**
 * The fake HTTP world of the unit tests: msw intercepts every request; handlers record what the server saw.
 * Use `server.use(...)` per test; `onUnhandledRequest: 'error'` makes an unexpected request fail the test.
 */
export const server = setupServer();

/** Runs `server` for the tests of the file, and drops the handlers a test added when the test ends. */
export function startServer(): void {
  beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
  afterEach(() => {
    server.resetHandlers();
  });
  afterAll(() => server.close());
}

export async function recordRequest(request: Request): Promise<SeenRequest> {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: await request.clone().text(),
    keepalive: request.keepalive,
  };
}

/** A refresh endpoint that answers with `respond(n)` for the n-th call (1-based) and records every call. */
export function refreshEndpoint(respond: (call: number, request: Request) => Response | Promise<Response>) {
  const seen: SeenRequest[] = [];
  const handler = http.post(REFRESH_URL, async ({ request }) => {
    seen.push(await recordRequest(request));
    return respond(seen.length, request);
  });
  return { handler, seen };
}

export function logoutEndpoint(
  respond: () => Response | Promise<Response> = () => new HttpResponse(null, { status: 204 }),
) {
  const seen: SeenRequest[] = [];
  const handler = http.post(LOGOUT_URL, async ({ request }) => {
    seen.push(await recordRequest(request));
    return respond();
  });
  return { handler, seen };
}

/** A refresh endpoint that issues a fresh access token every time. */
export function rotatingRefresh() {
  return refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(3600), refresh_token: 'rt-next' }));
}

/**
 * A bodiless 401 that says which attempt it answered. Bodiless on purpose: a 401 with a body makes auth.fetch
 * hang (see 'retries a 401 that carries a JSON error body' in auth-fetch.test.ts), and the other tests should
 * each prove one thing.
 */
export const unauthorized = (call: number): Response =>
  new HttpResponse(null, { status: 401, headers: { 'X-Attempt': String(call) } });

export { http, HttpResponse };
