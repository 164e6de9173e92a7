import type { Environment } from './environment';
import { resolveUrl } from './origin';
import type { UnauthorizedPolicy } from './unauthorized';

/** What the authenticated fetch needs from the manager. */
export interface AuthFetchHost {
  environment: Pick<Environment, 'fetch'>;
  isDestroyed(): boolean;
  /** The manager's origin check; throws `ConfigurationError` when it has no rule. */
  isAllowedOrigin(url: RequestInfo | URL): boolean;
  ready: Promise<void>;
  getAccessToken(): Promise<string | null>;
  afterUnauthorized: UnauthorizedPolicy;
}

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

function withBearer(request: Request, token: string): Request {
  // Copied entry by entry: `new Headers(headers)` loses entries where fetch is patched (msw's interceptor).
  const headers = new Headers();
  request.headers.forEach((value, name) => {
    headers.append(name, value);
  });
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

const discard = (body: ReadableStream | null | undefined): void => {
  void body?.cancel().catch(() => {});
};

/**
 * `fetch` with `Authorization: Bearer` for allowed origins. A 401 goes through the 401 policy (one shared
 * refresh, one retry with the body replayed); a second 401 goes to the caller. Requests to other origins,
 * requests that carry their own `Authorization`, and requests made while signed out go through untouched.
 */
export function createAuthFetch(
  host: AuthFetchHost,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  const send = host.environment.fetch;

  const authorized = async (request: Request): Promise<Response> => {
    await host.ready;
    const { signal } = request;
    const token = await unlessAborted(host.getAccessToken(), signal);
    if (token === null) return send(request);
    // Cloned before the first send consumes the body, so that the retry can replay it.
    const replay = request.clone();
    const response = await send(withBearer(request, token));
    if (response.status !== 401) {
      discard(replay.body);
      return response;
    }
    const freshToken = await unlessAborted(host.afterUnauthorized(token, response.url), signal);
    if (freshToken === null || freshToken === token) {
      discard(replay.body);
      return response;
    }
    discard(response.body);
    return send(withBearer(replay, freshToken));
  };

  return async (input, init) => {
    if (host.isDestroyed()) return send(input, init);
    // Everything the request is made of is taken now, once, before any check or wait: the origin checked is
    // the one the request goes to (an input cannot show one URL to the check and another to fetch), and a
    // caller that changes its URL object or `init` after the call changes nothing in what is sent, or where.
    // A URL input is resolved once and checked before any Request is built, so other origins cost nothing.
    const url = isRequest(input) ? null : resolveUrl(input);
    if (!isRequest(input) && (!host.isAllowedOrigin(url ?? input) || url === null)) return send(input, init);
    let request: Request;
    try {
      request = url ? new Request(url.href, init) : new Request(input, init);
    } catch {
      // Not a request fetch would make either: fetch itself says why, with no token involved.
      return send(input, init);
    }
    if (url === null && !host.isAllowedOrigin(request.url)) return send(input, init);
    if (request.headers.has('authorization')) return send(request);
    return authorized(request);
  };
}
