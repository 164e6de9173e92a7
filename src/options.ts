import { DEFAULT_ENDPOINT_TIMEOUT_MS, type NormalizedEndpoint } from './endpoints';
import { ConfigurationError } from './errors';
import { describeValue } from './token';
import type {
  EndpointOptions,
  LogoutFn,
  RefreshFn,
  TokenManagerEnvironment,
  TokenManagerOptions,
  TokenStorage,
} from './types';

export const DEFAULT_STORAGE_KEY = 'tokenkeeper';
export const DEFAULT_CHANNEL_NAME = 'tokenkeeper';
export const DEFAULT_REFRESH_MARGIN_MS = 60_000;

/** Options after validation, with defaults applied; frozen. */
export interface NormalizedOptions {
  readonly refresh: RefreshFn | NormalizedEndpoint;
  readonly logout: LogoutFn | NormalizedEndpoint | null;
  readonly storage: TokenStorage | null;
  readonly storageKey: string;
  readonly refreshMarginMs: number;
  /** Origins `auth.fetch` may send the token to, besides the page's own; or a function that alone decides. */
  readonly allowedOrigins: ReadonlySet<string> | ((url: URL) => boolean) | null;
  readonly channel: string | false;
  /** The channel was named in the options rather than defaulted. */
  readonly channelNamed: boolean;
  readonly fetch: typeof fetch | undefined;
  readonly onResume: ((check: () => void) => () => void) | undefined;
  readonly environment: TokenManagerEnvironment | undefined;
}

function fail(message: string): never {
  throw new ConfigurationError(message);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalFunction<T>(name: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') fail(`${name} must be a function, got ${describeValue(value)}`);
  return value as T;
}

/** Checks that a URL is absolute, or relative with a page origin to resolve it against. */
function checkEndpointUrl(name: string, url: string, pageOrigin: string | null): void {
  try {
    new URL(url, pageOrigin ?? undefined);
  } catch {
    fail(
      pageOrigin === null
        ? `${name}.url must be an absolute URL where there is no page origin (React Native, Node)`
        : `${name}.url is not a valid URL`,
    );
  }
}

function normalizeEndpoint(name: string, value: EndpointOptions, pageOrigin: string | null): NormalizedEndpoint {
  const { url, format, clientId, credentials, headers, timeout } = value;
  if (typeof url !== 'string' || url === '') fail(`${name}.url must be a non-empty string, got ${describeValue(url)}`);
  checkEndpointUrl(name, url, pageOrigin);
  if (format !== undefined && format !== 'json' && format !== 'oauth2') {
    fail(`${name}.format must be 'json' or 'oauth2', got ${JSON.stringify(format)}`);
  }
  if (clientId !== undefined && typeof clientId !== 'string') {
    fail(`${name}.clientId must be a string, got ${describeValue(clientId)}`);
  }
  if (credentials !== undefined && !['omit', 'same-origin', 'include'].includes(credentials)) {
    fail(`${name}.credentials must be 'omit', 'same-origin' or 'include', got ${JSON.stringify(credentials)}`);
  }
  if (headers !== undefined) {
    if (!isPlainObject(headers)) fail(`${name}.headers must be an object of strings, got ${describeValue(headers)}`);
    for (const [header, headerValue] of Object.entries(headers)) {
      if (typeof headerValue !== 'string')
        fail(`${name}.headers.${header} must be a string, got ${describeValue(headerValue)}`);
    }
  }
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) {
    fail(`${name}.timeout must be a positive number of milliseconds, got ${describeValue(timeout)}`);
  }
  return Object.freeze({
    url,
    format: format ?? 'json',
    clientId,
    credentials,
    headers: Object.freeze({ ...headers }),
    timeoutMs: timeout ?? DEFAULT_ENDPOINT_TIMEOUT_MS,
  });
}

function normalizeHandler<F>(name: string, value: unknown, pageOrigin: string | null): F | NormalizedEndpoint {
  if (typeof value === 'function') return value as F;
  if (isPlainObject(value)) return normalizeEndpoint(name, value as unknown as EndpointOptions, pageOrigin);
  return fail(`${name} must be a function or an endpoint object { url }, got ${describeValue(value)}`);
}

function normalizeStorage(value: unknown): TokenStorage | null {
  if (value === undefined) return null;
  const storage = value as Partial<TokenStorage> | null;
  for (const method of ['getItem', 'setItem', 'removeItem'] as const) {
    if (typeof storage?.[method] !== 'function') {
      fail(`storage must have getItem, setItem and removeItem methods; ${method} is missing`);
    }
  }
  return storage as TokenStorage;
}

function normalizeAllowedOrigins(value: unknown): NormalizedOptions['allowedOrigins'] {
  if (value === undefined) return null;
  if (typeof value === 'function') return value as (url: URL) => boolean;
  if (!Array.isArray(value))
    fail(`allowedOrigins must be an array of origins or a function, got ${describeValue(value)}`);
  const origins = new Set<string>();
  for (const entry of value) {
    let url: URL | undefined;
    try {
      url = typeof entry === 'string' ? new URL(entry) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      fail(
        `allowedOrigins entries must be http(s) origins such as 'https://api.example.com', got ${JSON.stringify(entry)}`,
      );
    }
    origins.add(url.origin);
  }
  return origins;
}

function normalizeEnvironment(value: unknown): TokenManagerEnvironment | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) fail(`environment must be an object, got ${describeValue(value)}`);
  const pieces = ['now', 'monotonicNow', 'setTimeout', 'clearTimeout', 'random', 'lock', 'createChannel'] as const;
  for (const piece of pieces) optionalFunction(`environment.${piece}`, value[piece]);
  return Object.freeze({ ...value }) as TokenManagerEnvironment;
}

/** Validates the options once, naming the option at fault, and returns them frozen with defaults applied. */
export function normalizeOptions(options: TokenManagerOptions, pageOrigin: string | null): NormalizedOptions {
  if (!isPlainObject(options)) fail(`createTokenManager needs an options object, got ${describeValue(options)}`);
  if (options.refresh === undefined) fail('refresh is required: a function or an endpoint object { url }');
  const refresh = normalizeHandler<RefreshFn>('refresh', options.refresh, pageOrigin);
  const logout = options.logout === undefined ? null : normalizeHandler<LogoutFn>('logout', options.logout, pageOrigin);

  const storageKey = options.storageKey ?? DEFAULT_STORAGE_KEY;
  if (typeof storageKey !== 'string' || storageKey === '') {
    fail(`storageKey must be a non-empty string, got ${describeValue(storageKey)}`);
  }
  const refreshMarginMs = options.refreshMargin ?? DEFAULT_REFRESH_MARGIN_MS;
  if (typeof refreshMarginMs !== 'number' || !Number.isFinite(refreshMarginMs) || refreshMarginMs < 0) {
    fail(`refreshMargin must be a non-negative number of milliseconds, got ${describeValue(refreshMarginMs)}`);
  }
  const channel = options.channel ?? DEFAULT_CHANNEL_NAME;
  if (channel !== false && (typeof channel !== 'string' || channel === '')) {
    fail(`channel must be a non-empty string or false, got ${describeValue(channel)}`);
  }

  return Object.freeze({
    refresh,
    logout,
    storage: normalizeStorage(options.storage),
    storageKey,
    refreshMarginMs,
    allowedOrigins: normalizeAllowedOrigins(options.allowedOrigins),
    channel,
    channelNamed: typeof options.channel === 'string',
    fetch: optionalFunction<typeof fetch>('fetch', options.fetch),
    onResume: optionalFunction<(check: () => void) => () => void>('onResume', options.onResume),
    environment: normalizeEnvironment(options.environment),
  });
}
