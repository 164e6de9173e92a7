/**
 * ky integration: `ky.create({ hooks: kyHooks(auth) })`. Works with ky 2 (hooks take a state object) and
 * ky 1 (hooks take `(request, options, response)`), without importing ky: the retry after a 401 is sent
 * with ky's own `fetch` and handed back to ky as the response, so ky's retry logic never sends it twice.
 */
import type { TokenManager } from 'tokenkeeper';

/** The parts of ky's normalized options the hooks read. */
interface KyOptionsLike {
  fetch?: typeof fetch;
  body?: BodyInit | null;
}

interface KyStateLike {
  request: Request;
  options: KyOptionsLike;
  response?: Response;
}

type KyHook = (...args: unknown[]) => Promise<Request | Response | undefined>;

/** Hooks for `ky.create({ hooks })` and `ky.extend({ hooks })`. */
export interface KyHooks {
  beforeRequest: KyHook[];
  beforeRetry: KyHook[];
  afterResponse: KyHook[];
}

/** How many recently attached tokens are remembered to recognise a 401 for a request these hooks signed. */
const REMEMBERED_TOKENS = 8;

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

/** ky 2 passes one state object; ky 1 passes `(request, options, response)` or, for beforeRetry, an object. */
function readHookArguments(args: unknown[]): KyStateLike {
  const [first, options, response] = args;
  if (isRequest(first))
    return { request: first, options: (options ?? {}) as KyOptionsLike, response: response as Response };
  return first as KyStateLike;
}

/**
 * ky hooks that add `Authorization: Bearer` for the origins `auth.fetch` allows, and after a 401 refresh once
 * (shared with every other caller) and retry once with the new token, replaying the body.
 * A request that carries its own `Authorization` header is left alone.
 *
 * @example
 * import ky from 'ky';
 * import { kyHooks } from 'tokenkeeper/ky';
 * const api = ky.create({ prefixUrl: 'https://api.example.com', hooks: kyHooks(auth) });
 */
export function kyHooks(auth: TokenManager): KyHooks {
  const attached: string[] = [];
  const remember = (token: string): void => {
    if (attached.includes(token)) return;
    attached.push(token);
    if (attached.length > REMEMBERED_TOKENS) attached.shift();
  };
  /** The token these hooks put on `request`, or `null` when they did not sign it. */
  const tokenOf = (request: Request): string | null => {
    const header = request.headers.get('authorization');
    const token = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : null;
    return token !== null && attached.includes(token) ? token : null;
  };

  const authorize = async (request: Request): Promise<void> => {
    if (request.headers.has('authorization') || !auth.isAllowedOrigin(request.url)) return;
    const token = await auth.getAccessToken();
    if (token === null) return;
    remember(token);
    request.headers.set('Authorization', `Bearer ${token}`);
  };

  /** A token to retry with after `rejected` was answered 401, or `null`. */
  const tokenAfterUnauthorized = async (rejected: string): Promise<string | null> => {
    const current = auth.getState().accessToken;
    if (current !== null && current !== rejected) return current;
    if (current === null) return null;
    try {
      return await auth.refresh();
    } catch {
      return null;
    }
  };

  return {
    beforeRequest: [
      async (...args) => {
        await authorize(readHookArguments(args).request);
        return undefined;
      },
    ],
    // ky's own retries (network errors, 5xx) go out with the token that is current by then.
    beforeRetry: [
      async (...args) => {
        const { request } = readHookArguments(args);
        const used = tokenOf(request);
        const current = auth.getState().accessToken;
        if (used !== null && current !== null && current !== used) {
          remember(current);
          request.headers.set('Authorization', `Bearer ${current}`);
        }
        return undefined;
      },
    ],
    afterResponse: [
      async (...args) => {
        const { request, options, response } = readHookArguments(args);
        if (response?.status !== 401) return undefined;
        const used = tokenOf(request);
        if (used === null) return undefined;
        const fresh = await tokenAfterUnauthorized(used);
        if (fresh === null || fresh === used) return undefined;
        remember(fresh);
        const headers = new Headers(request.headers);
        headers.set('Authorization', `Bearer ${fresh}`);
        // ky keeps an unread clone of the request when it may retry; without one, the body is rebuilt
        // from ky's options (strings, FormData, URLSearchParams, Blob).
        const retry = request.bodyUsed
          ? new Request(request.url, {
              method: request.method,
              headers,
              body: options.body ?? null,
              signal: request.signal,
              credentials: request.credentials,
            })
          : new Request(request, { headers });
        const send = options.fetch ?? globalThis.fetch;
        return send(retry);
      },
    ],
  };
}
