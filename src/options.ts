import { DEFAULT_ENDPOINT_TIMEOUT_MS, type NormalizedEndpoint } from './endpoints';
import { ConfigurationError, mustBe } from './errors';
import { readStorageGlobal } from './environment';
import { isRecord } from './token';
import type { LogoutFn, RefreshFn, TokenManagerEnvironment, TokenManagerOptions, TokenStorage } from './types';

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

function fail(option: string, expected: string, value: unknown, showString?: boolean): never {
  throw new ConfigurationError(mustBe(option, expected, value, showString));
}

/** `value` when it is `undefined` or passes `test`; otherwise throws, naming the option. */
function check<T>(
  option: string,
  value: unknown,
  test: (value: never) => unknown,
  expected: string,
  showString?: boolean,
): T {
  return value === undefined || test(value as never) ? (value as T) : fail(option, expected, value, showString);
}

const isFunction = (value: unknown): boolean => typeof value === 'function';
const isNonEmptyString = (value: unknown): boolean => typeof value === 'string' && value !== '';

/**
 * A function as it is, or an endpoint's options checked and frozen. Where there is no page origin (server
 * rendering), a relative URL is accepted here, and fails with `ConfigurationError` where it would be used
 * (see `endpoints.ts`).
 */
function normalizeHandler<F>(name: string, value: unknown, pageOrigin: string | null): F | NormalizedEndpoint {
  if (typeof value === 'function') return value as F;
  if (!isRecord(value)) fail(name, 'a function or an endpoint object { url }', value);
  const { url, format, clientId, credentials, headers, timeout } = value;
  if (!isNonEmptyString(url)) fail(`${name}.url`, 'a non-empty string', url);
  try {
    if (pageOrigin !== null) new URL(url as string, pageOrigin);
  } catch {
    fail(`${name}.url`, 'a valid URL', url);
  }
  check(`${name}.format`, format, (value) => value === 'json' || value === 'oauth2', "'json' or 'oauth2'", true);
  check(`${name}.clientId`, clientId, (value) => typeof value === 'string', 'a string');
  check(
    `${name}.credentials`,
    credentials,
    (value) => ['omit', 'same-origin', 'include'].includes(value),
    "'omit', 'same-origin' or 'include'",
    true,
  );
  check(
    `${name}.headers`,
    headers,
    (value) => isRecord(value) && Object.values(value).every((header) => typeof header === 'string'),
    'an object of strings',
  );
  check(`${name}.timeout`, timeout, (value: number) => Number.isFinite(value) && value > 0, 'a positive number of ms');
  return Object.freeze({
    url: url as string,
    format: (format ?? 'json') as NormalizedEndpoint['format'],
    clientId: clientId as string | undefined,
    credentials: credentials as RequestCredentials | undefined,
    headers: Object.freeze({ ...(headers as Record<string, string>) }),
    timeoutMs: (timeout ?? DEFAULT_ENDPOINT_TIMEOUT_MS) as number,
  });
}

/** An `allowedOrigins` entry's origin; it must be an http(s) URL. */
function originOf(entry: unknown): string {
  try {
    const url = new URL(entry as string);
    if (typeof entry === 'string' && /^https?:$/.test(url.protocol)) return url.origin;
  } catch {}
  return fail('allowedOrigins entries', 'http(s) origins', entry, true);
}

/** Validates the options once, naming the option at fault, and returns them frozen with defaults applied. */
export function normalizeOptions(options: TokenManagerOptions, pageOrigin: string | null): NormalizedOptions {
  if (!isRecord(options)) fail('createTokenManager options', 'an object', options);
  const { restore, fetch, onResume } = options;
  const refresh = normalizeHandler<RefreshFn>('refresh', options.refresh, pageOrigin);
  const logout = options.logout === undefined ? null : normalizeHandler<LogoutFn>('logout', options.logout, pageOrigin);
  const storageKey = check<string>(
    'storageKey',
    options.storageKey ?? 'tokenkeeper',
    isNonEmptyString,
    'a non-empty string',
  );
  const refreshMarginMs = check<number>(
    'refreshMargin',
    options.refreshMargin ?? 60_000,
    (value: number) => Number.isFinite(value) && value >= 0,
    'a non-negative number of ms',
  );
  const channel = check<string | false>(
    'channel',
    options.channel ?? 'tokenkeeper',
    (value) => value === false || isNonEmptyString(value),
    'a non-empty string or false',
  );

  // A name picks the browser's storage, or memory where the runtime has none (server rendering, React Native);
  // `storageMissing` is set where a page lacks it (a sandboxed frame, storage blocked by the user).
  let storage: unknown = options.storage;
  let storageMissing: string | null = null;
  const hasMethods = (value: unknown): boolean =>
    ['getItem', 'setItem', 'removeItem'].every(
      (method) => typeof (value as Record<string, unknown>)?.[method] === 'function',
    );
  if (storage === 'localStorage' || storage === 'sessionStorage') {
    const named = storage;
    storage = readStorageGlobal(named);
    if (!hasMethods(storage)) {
      storage = null;
      if (pageOrigin !== null) storageMissing = named;
    }
  } else if (storage === undefined || storage === 'memory') storage = null;
  else if (!hasMethods(storage)) {
    fail(
      'storage',
      "'localStorage', 'sessionStorage', 'memory' or a storage object with getItem, setItem and removeItem",
      storage,
      true,
    );
  }

  check('restore', restore, (value) => typeof value === 'boolean', 'true or false');

  let allowedOrigins = options.allowedOrigins as unknown;
  check(
    'allowedOrigins',
    allowedOrigins,
    (value) => isFunction(value) || Array.isArray(value),
    'an array of origins or a function',
  );
  if (Array.isArray(allowedOrigins)) allowedOrigins = new Set(allowedOrigins.map(originOf));

  check('fetch', fetch, isFunction, 'a function');
  check('onResume', onResume, isFunction, 'a function');
  let environment = options.environment as unknown;
  if (check('environment', environment, isRecord, 'an object')) {
    for (const piece of ['now', 'monotonicNow', 'setTimeout', 'clearTimeout', 'random', 'lock', 'createChannel']) {
      check(`environment.${piece}`, (environment as Record<string, unknown>)[piece], isFunction, 'a function');
    }
    environment = Object.freeze({ ...(environment as object) });
  }

  return Object.freeze({
    refresh,
    logout,
    storage: storage as TokenStorage | null,
    storageMissing,
    restore: restore === true,
    storageKey,
    refreshMarginMs,
    allowedOrigins: (allowedOrigins ?? null) as NormalizedOptions['allowedOrigins'],
    channel,
    channelNamed: typeof options.channel === 'string',
    fetch,
    onResume,
    environment: environment as TokenManagerEnvironment | undefined,
  });
}
