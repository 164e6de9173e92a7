import { ConfigurationError } from './errors';
import type { Environment } from './environment';
import type { NormalizedOptions } from './options';

/** What the authenticated fetch needs from the manager. */
export interface AuthFetchHost {
  environment: Pick<Environment, 'fetch'>;
  isDestroyed(): boolean;
  /** The manager's origin check (`createOriginCheck`); throws `ConfigurationError` when it has no rule. */
  isAllowedOrigin(url: RequestInfo | URL): boolean;
  ready: Promise<void>;
  getAccessToken(): Promise<string | null>;
  /** A token to retry with after `rejectedToken` was answered 401, or `null` when there is none. */
  tokenAfterUnauthorized(rejectedToken: string): Promise<string | null>;
}

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

/** The base that relative URLs resolve against: the page's address, where there is one. */
function baseUrl(): string | undefined {
  const href = (globalThis as { location?: { href?: unknown } }).location?.href;
  return typeof href === 'string' ? href : undefined;
}

function resolveUrl(input: RequestInfo | URL): URL | null {
  try {
    if (isRequest(input)) return new URL(input.url);
    return new URL(input instanceof URL ? input.href : String(input), baseUrl());
  } catch {
    return null;
  }
}

/**
 * Whether `url` may receive the access token. Origins are compared parsed (scheme, host and port), never as
 * string prefixes, so `https://app.test@evil.test` and `https://app.test.evil.test` are other origins.
 */
export function createOriginPolicy(
  allowedOrigins: NormalizedOptions['allowedOrigins'],
  pageOrigin: string | null,
): ((url: URL) => boolean) | null {
  if (typeof allowedOrigins === 'function') {
    return (url) => (url.protocol === 'https:' || url.protocol === 'http:') && allowedOrigins(url) === true;
  }
  if (allowedOrigins === null && pageOrigin === null) return null;
  const origins = new Set(allowedOrigins);
  if (pageOrigin !== null) origins.add(pageOrigin);
  return (url) => origins.has(url.origin);
}

function hasAuthorization(input: RequestInfo | URL, init: RequestInit | undefined): boolean {
  if (init?.headers !== undefined) return new Headers(init.headers).has('authorization');
  return isRequest(input) && input.headers.has('authorization');
}

function withBearer(request: Request, token: string): Request {
  const headers = new Headers(request.headers);
  headers.set('Authorization', `Bearer ${token}`);
  return new Request(request, { headers });
}

/** Waits for `promise` unless `signal` aborts first, in which case this caller alone stops waiting. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function missingAllowedOrigins(): ConfigurationError {
  return new ConfigurationError(
    'allowedOrigins must be set where there is no page origin (React Native, Node) for tokens to be sent',
  );
}

/**
 * Whether the token may go to `url` (a `Request`'s URL, or one resolved against the page's address): the
 * rule of `auth.fetch`, and `auth.isAllowedOrigin`. `false` once destroyed.
 * @throws ConfigurationError where there is neither a page origin nor `allowedOrigins`
 */
export function createOriginCheck(host: {
  allowedOrigins: NormalizedOptions['allowedOrigins'];
  pageOrigin: string | null;
  isDestroyed(): boolean;
}): (url: RequestInfo | URL) => boolean {
  const isAllowed = createOriginPolicy(host.allowedOrigins, host.pageOrigin);
  return (url) => {
    if (host.isDestroyed()) return false;
    if (isAllowed === null) throw missingAllowedOrigins();
    const resolved = resolveUrl(url);
    return resolved !== null && isAllowed(resolved);
  };
}

/**
 * `fetch` with `Authorization: Bearer` for allowed origins. A 401 causes one shared refresh and one retry
 * with the body replayed; a second 401 goes to the caller. Requests to other origins, requests that carry
 * their own `Authorization`, and requests made while signed out go through untouched.
 */
export function createAuthFetch(
  host: AuthFetchHost,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  const send = host.environment.fetch;

  return async (input, init) => {
    if (host.isDestroyed()) return send(input, init);
    const allowed = host.isAllowedOrigin(input);
    await host.ready;
    if (!allowed || hasAuthorization(input, init)) return send(input, init);

    const signal = init?.signal ?? (isRequest(input) ? input.signal : undefined);
    const token = await unlessAborted(host.getAccessToken(), signal);
    if (token === null) return send(input, init);

    const request = new Request(input, init);
    // Cloned before the first send consumes the body, so that the retry can replay it.
    const replay = request.clone();
    const response = await send(withBearer(request, token));
    if (response.status !== 401) return response;

    const freshToken = await unlessAborted(host.tokenAfterUnauthorized(token), signal);
    if (freshToken === null || freshToken === token) {
      void replay.body?.cancel().catch(() => {});
      return response;
    }
    void response.body?.cancel().catch(() => {});
    return send(withBearer(replay, freshToken));
  };
}
