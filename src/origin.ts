import { ConfigurationError } from './errors';
import type { NormalizedOptions } from './options';

/** A `Request`, of this realm or another (an iframe's), which fetch takes as a Request too. */
export const isRequest = (value: unknown): value is Request =>
  (typeof Request !== 'undefined' && value instanceof Request) ||
  (typeof (value as Request | null)?.clone === 'function' &&
    typeof (value as Request).method === 'string' &&
    typeof (value as Request).url === 'string');

/** The absolute URL a `fetch` input points to, resolved as fetch resolves it; `null` when it cannot be. */
function resolveUrl(input: RequestInfo | URL, base = pageAddress()): URL | null {
  try {
    return new URL(isRequest(input) ? input.url : String(input), typeof base === 'string' ? base : undefined);
  } catch {
    return null;
  }
}

/** What fetch resolves a relative URL against: the document's base URL (`<base href>`), else the address. */
const pageAddress = (): unknown =>
  (globalThis as { document?: { baseURI?: unknown } }).document?.baseURI ??
  (globalThis as { location?: { href?: unknown } }).location?.href;
const STABLE = Symbol();

/** How many inputs an origin check remembers; past it, it starts over. */
const REMEMBERED_INPUTS = 64;

/**
 * The origin rule of `auth.fetch`, of the ky hooks and of `auth.isAllowedOrigin`: the absolute URL `input` points
 * to (a `Request`'s URL, or one resolved against the page's address) when the token may go there, else `null`.
 * Only http(s) URLs qualify (a `blob:` or `data:` URL of the page's origin is not a server), and origins are
 * compared parsed (scheme, host and port), never as string prefixes, so `https://app.test@evil.test` and
 * `https://app.test.evil.test` are other origins. `null` once destroyed.
 *
 * Relative URLs resolve against the document's base URL, as fetch resolves them. With a list of origins, the
 * answer for a string input is remembered with the base it was resolved against,
 * so repeated calls to the same URL cost a lookup; an `allowedOrigins` function is asked every time.
 * @throws ConfigurationError where there is neither a page origin nor `allowedOrigins`
 */
export function createOriginCheck(
  allowedOrigins: NormalizedOptions['allowedOrigins'],
  pageOrigin: string | null,
  isDestroyed: () => boolean,
): (input: RequestInfo | URL) => string | null {
  const origins = new Set(typeof allowedOrigins === 'function' ? [] : allowedOrigins);
  if (pageOrigin !== null) origins.add(pageOrigin);
  const decide = (url: URL | null): string | null => {
    // Taken before an `allowedOrigins` function sees the URL: what it does to it changes nothing.
    const href = url?.href ?? null;
    if (!url || !/^https?:$/.test(url.protocol)) return null;
    return (typeof allowedOrigins === 'function' ? allowedOrigins(url) === true : origins.has(url.origin))
      ? href
      : null;
  };
  /** input → [the base it was resolved against, or STABLE; the answer] */
  const remembered = new Map<string, [base: unknown, href: string | null]>();
  return (input) => {
    if (isDestroyed()) return null;
    if (allowedOrigins === null && pageOrigin === null) {
      throw new ConfigurationError('allowedOrigins must be set where there is no page origin (React Native, Node)');
    }
    if (typeof allowedOrigins === 'function' || (typeof input !== 'string' && isRequest(input))) {
      return decide(resolveUrl(input));
    }
    const key = String(input);
    const known = remembered.get(key);
    // An absolute http(s) URL resolves to the same URL whatever the base: only the others read the base again.
    if (known?.[0] === STABLE) return known[1];
    const base = pageAddress();
    if (known && known[0] === base) return known[1];
    if (remembered.size >= REMEMBERED_INPUTS) remembered.clear();
    const href = decide(resolveUrl(key, base));
    remembered.set(key, [/^https?:\/\//i.test(key) ? STABLE : base, href]);
    return href;
  };
}
