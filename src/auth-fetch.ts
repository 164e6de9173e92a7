import type { Environment } from './environment';
import type { UnauthorizedPolicy } from './unauthorized';

/** What the authenticated fetch needs from the manager. */
export interface AuthFetchHost {
  environment: Pick<Environment, 'fetch'>;
  isDestroyed(): boolean;
  /** The origin rule: the absolute URL when the token may go there, else `null`; throws `ConfigurationError`. */
  allowedHref(input: RequestInfo | URL): string | null;
  /** The token at once when no wait is needed (`null`: signed out), `undefined` when `getAccessToken()` must run. */
  tokenNow(): string | null | undefined;
  getAccessToken(): Promise<string | null>;
  afterUnauthorized: UnauthorizedPolicy;
}

const isRequest = (value: unknown): value is Request => typeof Request !== 'undefined' && value instanceof Request;
const isA = <T>(kind: string, value: unknown): value is T => {
  const type = (globalThis as Record<string, unknown>)[kind];
  return typeof type === 'function' && value instanceof type;
};

type HeadersLike = Headers | [string, string][] | Record<string, string>;

const isHeaders = (headers: unknown): headers is Headers =>
  typeof (headers as Headers | undefined)?.forEach === 'function' && !Array.isArray(headers);

/**
 * A copy of the caller's headers, of the same kind, that later changes by the caller cannot reach. A `Headers`
 * is copied entry by entry (`new Headers(headers)` loses entries where fetch is patched, as by msw); a plain
 * object or a list of pairs stays one, so that no `Headers` is built where fetch would build it anyway.
 */
function copyHeaders(headers: HeadersInit | undefined): HeadersLike {
  if (isHeaders(headers)) {
    const copy = new Headers();
    headers.forEach((value, name) => {
      copy.append(name, value);
    });
    return copy;
  }
  // A list of pairs, or any other iterable of them, as fetch reads it.
  if (typeof (headers as Iterable<unknown> | undefined)?.[Symbol.iterator] === 'function') {
    return Array.from(headers as Iterable<Iterable<string>>, (pair) => [...pair] as [string, string]);
  }
  return { ...headers };
}

/** Whether the caller's headers carry their own `Authorization`, whatever its case. */
const hasAuthorization = (headers: HeadersLike): boolean =>
  isHeaders(headers)
    ? headers.has('authorization')
    : (Array.isArray(headers) ? headers.map((pair) => pair[0]) : Object.keys(headers)).some(
        (name) => String(name).toLowerCase() === 'authorization',
      );

/** `headers` and the bearer token, as a new value of the same kind. */
function withBearer(headers: HeadersLike, token: string): HeadersLike {
  const value = `Bearer ${token}`;
  if (Array.isArray(headers)) return [...headers, ['Authorization', value]];
  if (!isHeaders(headers)) return { ...headers, Authorization: value };
  const copy = copyHeaders(headers) as Headers;
  copy.set('Authorization', value);
  return copy;
}

/** Not a body that can be sent twice: a stream, or one of a kind this code does not know. */
const ONCE = Symbol();

/**
 * A body that can be sent again (and that the caller can no longer change): strings and blobs as they are,
 * copies of form data, search params and bytes; `ONCE` for a stream or anything else.
 */
function copyBody(body: BodyInit | null | undefined): BodyInit | null | undefined | typeof ONCE {
  if (body == null || typeof body === 'string' || isA<Blob>('Blob', body)) return body;
  if (isA<URLSearchParams>('URLSearchParams', body)) return new URLSearchParams(body);
  if (isA<FormData>('FormData', body)) {
    const copy = new FormData();
    body.forEach((value, name) => {
      copy.append(name, value);
    });
    return copy;
  }
  if (body instanceof ArrayBuffer) return body.slice(0);
  if (ArrayBuffer.isView(body))
    return new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  return ONCE;
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
 *
 * Everything the request is made of is taken at the call, once, before any check or wait: the origin checked is
 * the one the request goes to, and a caller that changes its URL object, `init`, headers or body afterwards
 * changes nothing in what is sent, or where. A URL input with a body that can be sent twice goes out as
 * `fetch(url, init)` with the header added: no `Request` is built or cloned. A `Request` input, or a stream body,
 * is built into a `Request` and cloned before the first send, so that the retry can replay it.
 */
export function createAuthFetch(
  host: AuthFetchHost,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  const send = host.environment.fetch;

  /**
   * Sends `target` with the token (waiting for it only when it must); `again` is what a retry sends (a clone
   * made before the first send). Without an async function around the common case: a token at hand and an
   * answer other than 401 cost one `then`.
   */
  const authorized = (
    target: string | Request,
    init: RequestInit & { headers: HeadersLike },
    again: string | Request,
  ): Promise<Response> => {
    const { signal } = typeof target === 'string' ? init : target;
    const drop = (): void => {
      if (again !== target) discard((again as Request).body);
    };
    const withToken = (token: string | null): Promise<Response> => {
      if (token === null) {
        drop();
        return send(target, init);
      }
      const signed = { ...init, headers: withBearer(init.headers, token) };
      const retry = async (response: Response): Promise<Response> => {
        const fresh = await unlessAborted(host.afterUnauthorized(token, response.url), signal);
        if (fresh === null || fresh === token) {
          drop();
          return response;
        }
        discard(response.body);
        return send(again, { ...init, headers: withBearer(init.headers, fresh) });
      };
      return send(target, signed).then((response) => {
        if (response.status === 401) return retry(response);
        drop();
        return response;
      });
    };
    const token = host.tokenNow();
    return token === undefined ? unlessAborted(host.getAccessToken(), signal).then(withToken) : withToken(token);
  };

  /** A `Request` input, or a body that cannot be sent twice: built once, cloned for the retry. */
  const viaRequest = (input: RequestInfo | URL, init: RequestInit | undefined): Promise<Response> => {
    let request: Request;
    try {
      request = new Request(input, init);
    } catch {
      // Not a request fetch would make either: fetch itself says why, with no token involved.
      return send(input as RequestInfo, init);
    }
    if (host.allowedHref(request) === null) return send(input as RequestInfo, init);
    const headers = copyHeaders(request.headers);
    if (hasAuthorization(headers)) return send(request);
    return authorized(request, { headers }, request.body ? request.clone() : request);
  };

  // Not an async function: the promise `authorized` returns is handed back as it is, without another one around it.
  return (input, init) => {
    try {
      if (host.isDestroyed()) return send(input as RequestInfo, init);
      if (typeof input !== 'string' && isRequest(input)) return viaRequest(input, init);
      // A URL input is resolved once and checked before anything is built, so other origins cost nothing.
      const href = host.allowedHref(input);
      if (href === null) return send(input as RequestInfo, init);
      let request: RequestInit & { headers: HeadersLike };
      try {
        const body = copyBody(init?.body);
        if (body === ONCE) return viaRequest(href, init);
        request = { ...init, headers: copyHeaders(init?.headers), body: body ?? null };
      } catch {
        return send(input as RequestInfo, init);
      }
      if (hasAuthorization(request.headers)) return send(href, request);
      return authorized(href, request, href);
    } catch (error) {
      return Promise.reject(error);
    }
  };
}
