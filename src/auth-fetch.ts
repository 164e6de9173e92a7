import { discardBody } from './endpoints';
import type { Environment } from './environment';
import { isRequest } from './origin';
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
  /** The 401 policy (`unauthorized.ts`): the token to retry a 401 with, or `null`. */
  unauthorized: UnauthorizedPolicy;
}

type HeaderRecord = Record<string, string>;

/**
 * What fetch would refuse (a header pair that is not two strings, headers or init that are not objects): the call
 * then goes to fetch as it was made, and fetch says why, in its own words.
 */
const refuse = (): never => {
  throw new TypeError();
};

/** An object literal (or one without a prototype): what it holds is its own. */
const isPlain = (value: unknown): value is Record<string, unknown> => {
  const prototype = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  return prototype === Object.prototype || prototype === null;
};

const isA = (kind: string, value: unknown): boolean => {
  const type = (globalThis as Record<string, unknown>)[kind];
  return typeof type === 'function' && value instanceof type;
};

/**
 * The caller's headers as a plain object, read as fetch reads them (an object, or any iterable of pairs such as a
 * `Headers`; a name given twice keeps both values, joined by `, ` as `Headers` joins them), and out of the caller's
 * reach from then on. No `Headers` is built for it: fetch builds one anyway. An object
 * that has a `Symbol.iterator` is read as pairs, as fetch reads it. What fetch would refuse throws.
 */
function readHeaders(headers: HeadersInit | undefined): HeaderRecord {
  if (headers === undefined) return {};
  // Spread copies a name such as `__proto__` as a header like any other (assignment would not).
  if (isPlain(headers) && !(Symbol.iterator in headers)) return { ...headers };
  const record: HeaderRecord = Object.create(null);
  if (typeof (headers as Iterable<unknown> | null)?.[Symbol.iterator] === 'function') {
    for (const pair of headers as Iterable<Iterable<string>>) {
      if (typeof pair !== 'object') refuse();
      const [given, value, ...rest] = [...pair] as [string, string, ...string[]];
      if (value === undefined || rest.length > 0) refuse();
      // Header names are case-insensitive; an own `__proto__` key is dropped by fetch implementations that read
      // the object by assignment, so that name is kept in another case.
      const name = given === '__proto__' ? '__Proto__' : given;
      record[name] = name in record ? `${record[name]}, ${value}` : value;
    }
  } else {
    if (headers === null || typeof headers !== 'object') refuse();
    Object.assign(record, headers);
  }
  return record;
}

/** The members of a `RequestInit`, read also where they are inherited (a class's getters, a `Request`). */
const INIT_MEMBERS = [
  'method',
  'headers',
  'body',
  'referrer',
  'referrerPolicy',
  'mode',
  'credentials',
  'cache',
  'redirect',
  'integrity',
  'keepalive',
  'signal',
  'priority',
  'duplex',
  'window',
] as const;

/** A copy of `init` that later changes by the caller cannot reach, its own extra members included. */
function readInit(init: RequestInit | undefined): RequestInit {
  if (init == null) return {};
  // An object literal has all its members as its own: the spread takes them.
  if (isPlain(init)) return { ...init };
  if (typeof init !== 'object') refuse();
  const copy: Record<string, unknown> = { ...init };
  for (const member of INIT_MEMBERS) if (member in init) copy[member] = (init as Record<string, unknown>)[member];
  return copy;
}

/** Not a body that can be sent twice: a stream, or one of a kind this code does not know. */
const ONCE = Symbol();

/**
 * A body that can be sent again, and that the caller can no longer change: strings and blobs as they are, copies
 * of form data, search params and bytes; `ONCE` for a stream or anything else.
 */
function copyBody(body: BodyInit | null | undefined): BodyInit | null | typeof ONCE {
  if (body == null || typeof body === 'string' || isA('Blob', body)) return body ?? null;
  if (isA('URLSearchParams', body)) return new URLSearchParams(body as URLSearchParams);
  if (isA('FormData', body)) {
    const copy = new FormData();
    (body as FormData).forEach((value, name) => {
      copy.append(name, value);
    });
    return copy;
  }
  const bytes = ArrayBuffer.isView(body) ? body : body instanceof ArrayBuffer ? new Uint8Array(body) : null;
  // Bytes in a resizable buffer are refused by fetch: built into a Request, which says so.
  if (!bytes || (bytes.buffer as { resizable?: boolean }).resizable) return ONCE;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength).slice();
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

/**
 * `fetch` with `Authorization: Bearer` for allowed origins. A 401 goes through the 401 policy (one shared
 * refresh, one retry with the body replayed); a second 401 goes to the caller. Requests to other origins,
 * requests that carry their own `Authorization`, and requests made while signed out go through untouched.
 *
 * Everything the request is made of is taken at the call, once, before any check or wait: the origin checked is
 * the one the request goes to, and a caller that changes its URL object, `init`, headers or body afterwards
 * changes nothing in what is sent, or where. A URL input with a body that can be sent twice goes out as
 * `fetch(url, init)` with the header added to a copy of the caller's headers: no `Request` is built or cloned. A
 * `Request` input, or a stream body, is built into a `Request` and cloned before the first send, for the retry.
 */
export function createAuthFetch(
  host: AuthFetchHost,
): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
  const send = host.environment.fetch;

  /**
   * Sends `target` with the token, `known` (`undefined`: wait for it); `again` is what a retry sends (a clone made
   * before the first send). A URL target goes out with `init`, the call's own copy, the token added to its headers;
   * a Request target is the call's own Request, the token set on its headers and no init given, so that nothing
   * else of it (its referrer policy) is reset. No async function around the common case: a token at hand and an
   * answer other than 401 cost one `then`.
   */
  const authorized = (
    target: string | Request,
    init: RequestInit | undefined,
    again: string | Request,
    known: string | null | undefined,
  ): Promise<Response> => {
    const signal = typeof target === 'string' ? init?.signal : target.signal;
    // Aborted already: nothing is sent, as fetch sends nothing.
    if (signal?.aborted) return Promise.reject(signal.reason);
    const drop = (): void => {
      if (again !== target) discardBody((again as Request).body);
    };
    /** Sends `to` with `token`: a Request with it set on its own headers, a URL with new objects from `init`. */
    const sendWith = (to: string | Request, token: string): Promise<Response> => {
      if (typeof to !== 'string') {
        to.headers.set('Authorization', `Bearer ${token}`);
        return send(to);
      }
      return send(to, { ...init, headers: { ...(init?.headers as HeaderRecord), Authorization: `Bearer ${token}` } });
    };
    const withToken = (token: string | null): Promise<Response> => {
      if (token === null) {
        drop();
        return send(target, init);
      }
      const retry = async (response: Response): Promise<Response> => {
        const fresh = await unlessAborted(host.unauthorized(token, response.url), signal);
        if (fresh === null || fresh === token) {
          drop();
          return response;
        }
        discardBody(response.body);
        return sendWith(again, fresh);
      };
      let first: Promise<Response>;
      if (typeof target === 'string') {
        // The first send takes the call's copy itself, the token added to its own copy of the headers; nothing
        // is changed in it after (a retry sends new objects).
        (init?.headers as HeaderRecord).Authorization = `Bearer ${token}`;
        first = send(target, init);
      } else {
        first = sendWith(target, token);
      }
      return first.then((response) => {
        if (response.status === 401) return retry(response);
        drop();
        return response;
      });
    };
    return known === undefined ? unlessAborted(host.getAccessToken(), signal).then(withToken) : withToken(known);
  };

  /**
   * A `Request` input, or a body that cannot be sent twice: built once, cloned for the retry. The origin checked is
   * that of the Request built, which is the one sent (a Request's `url` getter cannot show the check another
   * URL); it is built from a clone of a Request with a body, so that a Request to another origin goes out as it
   * is, its body unread.
   */
  const viaRequest = (input: Request | string, init: RequestInit | undefined): Promise<Response> => {
    let request: Request;
    try {
      request = new Request(typeof input !== 'string' && input.body ? input.clone() : input, init);
    } catch {
      // Not a request fetch would make either: fetch itself says why, with no token involved.
      return send(input, init);
    }
    if (host.allowedHref(request) === null) return send(input, init);
    if (request.headers.has('authorization')) return send(request);
    return authorized(request, undefined, request.body ? request.clone() : request, host.tokenNow());
  };

  // Not an async function: the promise `authorized` returns is handed back as it is, without another one around it.
  return (input, init) => {
    try {
      if (host.isDestroyed()) return send(input as RequestInfo, init);
      if (typeof input !== 'string' && isRequest(input)) return viaRequest(input, init);
      // A URL input is resolved once and checked before anything is built, so other origins cost nothing.
      const href = host.allowedHref(input);
      if (href === null) return send(input as RequestInfo, init);
      let request: RequestInit;
      const token = host.tokenNow();
      try {
        request = readInit(init);
        const body = copyBody(init?.body);
        if (body === ONCE) return viaRequest(href, request);
        request.headers = readHeaders(init?.headers);
        request.body = body;
        // Refused by fetch (a GET with a body, a bad method): refused before any wait for a token, as fetch would.
        if (token === undefined) new Request(href, request);
      } catch {
        // Not a request fetch would make either: fetch itself says why, with no token involved.
        return send(input as RequestInfo, init);
      }
      return Object.keys(request.headers as HeaderRecord).some((name) => name.toLowerCase() === 'authorization')
        ? send(href, request)
        : authorized(href, request, href, token);
    } catch (error) {
      return Promise.reject(error);
    }
  };
}
