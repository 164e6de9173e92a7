/**
 * ky integration: `ky.create({ hooks: kyHooks(auth) })`. Works with ky 2 (hooks take a state object) and
 * ky 1 (hooks take `(request, options, response)`), without importing ky: the retry after a 401 is sent
 * with ky's own `fetch` and handed back to ky as the response, so ky's retry logic never sends it twice.
 */
import type { TokenManager } from 'tokenkeeper';

/** Where the `init` hook keeps ky's `fetch` option, which ky 2 leaves out of the options hooks see. */
const KY_FETCH = Symbol('tokenkeeper.kyFetch');

/** The parts of ky's options the hooks read. */
interface KyOptionsLike {
  fetch?: typeof fetch;
  body?: BodyInit | null;
  context?: { [KY_FETCH]?: typeof fetch };
}

interface KyStateLike {
  request: Request;
  options: KyOptionsLike;
  response?: Response | undefined;
}

/** Hooks for `ky.create({ hooks })` and `ky.extend({ hooks })`; typed loosely to fit ky 1 and ky 2. */
export interface KyHooks {
  /** ky 2 only (ky 1 ignores it): keeps ky's `fetch` option for the retry after a 401. */
  init: ((options: KyOptionsLike) => void)[];
  beforeRequest: ((...args: unknown[]) => Promise<undefined>)[];
  beforeRetry: ((...args: unknown[]) => Promise<undefined>)[];
  afterResponse: ((...args: unknown[]) => Promise<Response | undefined>)[];
}

/** Where a manager keeps its 401 policy; `Symbol.for`, so that it is found across copies of the package. */
const UNAUTHORIZED_POLICY = Symbol.for('tokenkeeper.unauthorized');
type UnauthorizedPolicy = (rejectedToken: string, responseUrl?: string) => Promise<string | null>;

/** How many recently attached tokens are remembered to recognise a 401 for a request these hooks signed. */
const REMEMBERED_TOKENS = 8;

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

/** ky 2 passes one state object; ky 1 passes `(request, options, response)`, and an object to beforeRetry. */
function readHookArguments(args: unknown[]): KyStateLike {
  const [first, options, response] = args;
  if (!isRequest(first)) return first as KyStateLike;
  return { request: first, options: (options ?? {}) as KyOptionsLike, response: response as Response | undefined };
}

/**
 * ky hooks that add `Authorization: Bearer` for the origins `auth.fetch` allows, and after a 401 refresh once
 * (shared with every other caller) and retry once with the new token, replaying the body.
 * A request that carries its own `Authorization` header is left alone.
 *
 * @example
 * import ky from 'ky';
 * import { kyHooks } from 'tokenkeeper/ky';
 * const api = ky.create({ prefix: 'https://api.example.com', hooks: kyHooks(auth) });
 */
export function kyHooks(auth: TokenManager): KyHooks {
  /** ky's options object of each call (the same through ky's retries) whose 401 was already retried. */
  const retriedCalls = new WeakSet<object>();
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

  /** The manager's 401 policy, the one `auth.fetch` follows (see `unauthorized.ts` in the core). */
  const afterUnauthorized = (auth as unknown as Record<symbol, UnauthorizedPolicy | undefined>)[UNAUTHORIZED_POLICY];
  const tokenAfterUnauthorized = (rejected: string, responseUrl: string): Promise<string | null> =>
    afterUnauthorized ? afterUnauthorized(rejected, responseUrl) : Promise.resolve(null);

  /** The request to retry with: ky's unread clone when it kept one, else rebuilt from ky's options. */
  const retryRequest = (request: Request, options: KyOptionsLike, token: string): Request => {
    // Copied entry by entry: `new Headers(headers)` loses entries where fetch is patched (msw's interceptor).
    const headers = new Headers();
    request.headers.forEach((value, name) => {
      headers.append(name, value);
    });
    headers.set('Authorization', `Bearer ${token}`);
    if (!request.bodyUsed) return new Request(request, { headers });
    // A rebuilt multipart body gets a new boundary, which the old Content-Type would not match.
    if (typeof FormData !== 'undefined' && options.body instanceof FormData) headers.delete('content-type');
    return new Request(request.url, {
      method: request.method,
      headers,
      body: options.body ?? null,
      signal: request.signal,
      credentials: request.credentials,
    });
  };

  return {
    init: [
      (options) => {
        if (options.fetch) options.context = { ...options.context, [KY_FETCH]: options.fetch };
      },
    ],
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
        // One refresh and one retry per ky call: when ky itself retries a 401 (listed in its
        // retry.statusCodes), its attempts go out with the current token from beforeRetry, nothing more.
        if (response?.status !== 401 || retriedCalls.has(options)) return undefined;
        const used = tokenOf(request);
        if (used === null) return undefined;
        retriedCalls.add(options);
        const fresh = await tokenAfterUnauthorized(used, response.url);
        if (fresh === null || fresh === used) return undefined;
        remember(fresh);
        const send = options.fetch ?? options.context?.[KY_FETCH] ?? globalThis.fetch;
        return send(retryRequest(request, options, fresh));
      },
    ],
  };
}
