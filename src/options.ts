import { DEFAULT_ENDPOINT_TIMEOUT_MS, type NormalizedEndpoint } from './endpoints';
import { ConfigurationError } from './errors';
import { readPageOrigin, readStorageGlobal } from './environment';
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
  /** The storage given (by name: resolved when the manager was created); `null` for memory. */
  readonly storage: TokenStorage | null;
  /** A storage was named that this runtime lacks although it has a page: kept in memory, said with an `'error'`. */
  readonly storageMissing: string | null;
  readonly restore: boolean;
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

/**
 * Checks a URL that can be checked: where there is no page origin (server rendering), a relative one is
 * accepted here, and fails with `ConfigurationError` where it would be used (see `endpoints.ts`).
 */
function checkEndpointUrl(name: string, url: string, pageOrigin: string | null): void {
  if (pageOrigin === null) return;
  try {
    new URL(url, pageOrigin);
  } catch {
    fail(`${name}.url is not a valid URL`);
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
    name,
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

const STORAGE_NAMES = ['localStorage', 'sessionStorage', 'memory'];

/**
 * A storage named in the options: the browser's, or memory where the runtime has none (server rendering,
 * React Native). `missing` is set where a page lacks it (a sandboxed frame, storage blocked by the user).
 */
function storageByName(name: string): { storage: TokenStorage | null; missing: string | null } {
  if (name === 'memory') return { storage: null, missing: null };
  const storage = readStorageGlobal(name === 'localStorage' ? 'localStorage' : 'sessionStorage');
  if (missingStorageMethod(storage) === undefined) return { storage: storage as TokenStorage, missing: null };
  return { storage: null, missing: readPageOrigin() === null ? null : name };
}

/** The first of `getItem`, `setItem`, `removeItem` that `value` lacks; `undefined` for a storage. */
function missingStorageMethod(value: unknown): string | undefined {
  const storage = value as Partial<TokenStorage> | null | undefined;
  return (['getItem', 'setItem', 'removeItem'] as const).find((method) => typeof storage?.[method] !== 'function');
}

function normalizeStorage(value: unknown): { storage: TokenStorage | null; missing: string | null } {
  if (value === undefined) return { storage: null, missing: null };
  if (typeof value === 'string') {
    if (!STORAGE_NAMES.includes(value)) {
      fail(
        `storage must be 'localStorage', 'sessionStorage', 'memory' or a storage object, got ${JSON.stringify(value)}`,
      );
    }
    return storageByName(value);
  }
  const missing = missingStorageMethod(value);
  if (missing !== undefined) fail(`storage must have getItem, setItem and removeItem methods; ${missing} is missing`);
  return { storage: value as TokenStorage, missing: null };
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

  const { storage, missing } = normalizeStorage(options.storage);
  if (options.restore !== undefined && typeof options.restore !== 'boolean') {
    fail(`restore must be true or false, got ${describeValue(options.restore)}`);
  }

  return Object.freeze({
    refresh,
    logout,
    storage,
    storageMissing: missing,
    restore: options.restore === true,
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
