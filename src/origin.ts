import { ConfigurationError } from './errors';
import type { NormalizedOptions } from './options';

function isRequest(value: unknown): value is Request {
  return typeof Request !== 'undefined' && value instanceof Request;
}

/** The base that relative URLs resolve against: the page's address, where there is one. */
function baseUrl(): string | undefined {
  const href = (globalThis as { location?: { href?: unknown } }).location?.href;
  return typeof href === 'string' ? href : undefined;
}

/** The absolute URL a `fetch` input points to, or `null` when it cannot be resolved. */
export function resolveUrl(input: RequestInfo | URL): URL | null {
  try {
    if (isRequest(input)) return new URL(input.url);
    return new URL(input instanceof URL ? input.href : String(input), baseUrl());
  } catch {
    return null;
  }
}

const isHttp = (url: URL): boolean => url.protocol === 'https:' || url.protocol === 'http:';

/**
 * Whether `url` may receive the access token: only http(s) URLs (a `blob:` or `data:` URL of the page's
 * origin is not a server), and origins compared parsed (scheme, host and port), never as string prefixes,
 * so `https://app.test@evil.test` and `https://app.test.evil.test` are other origins.
 */
export function createOriginPolicy(
  allowedOrigins: NormalizedOptions['allowedOrigins'],
  pageOrigin: string | null,
): ((url: URL) => boolean) | null {
  if (typeof allowedOrigins === 'function') return (url) => isHttp(url) && allowedOrigins(url) === true;
  if (allowedOrigins === null && pageOrigin === null) return null;
  const origins = new Set(allowedOrigins);
  if (pageOrigin !== null) origins.add(pageOrigin);
  return (url) => isHttp(url) && origins.has(url.origin);
}

function missingAllowedOrigins(): ConfigurationError {
  return new ConfigurationError(
    'allowedOrigins must be set where there is no page origin (React Native, Node) for tokens to be sent',
  );
}

/**
 * Whether the token may go to `url` (a `Request`'s URL, or one resolved against the page's address): the
 * rule of `auth.fetch`, of the ky hooks and of `auth.isAllowedOrigin`. `false` once destroyed.
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
