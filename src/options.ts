import { DEFAULT_ENDPOINT_TIMEOUT_MS, type NormalizedEndpoint } from './endpoints';
import { ConfigurationError, mustBe } from './errors';
import { readStorageGlobal } from './environment';
import { isRecord } from './token';
import type {
  EndpointOptions,
  LogoutFn,
  RefreshFn,
  TokenManagerEnvironment,
  TokenManagerOptions,
  TokenStorage,
} from './types';

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

const freeze = Object.freeze;
const isFunction = (value: unknown): boolean => typeof value === 'function';
const isNonEmptyString = (value: unknown): boolean => typeof value === 'string' && value !== '';
const STORAGE_NAMES = ['localStorage', 'sessionStorage', 'memory'];
const STORAGE_METHODS = ['getItem', 'setItem', 'removeItem'];
const isStorage = (value: unknown): boolean =>
  STORAGE_METHODS.every((method) => isFunction((value as Record<string, unknown>)?.[method]));
const ORIGINS = 'http(s) origins or a function';

/**
 * One rule: the option (or field), what its value must pass and what it must be (for the message; strings are
 * shown only with `showString`, as they could be a token). The test is `typeof value === 'function'` unless
 * given.
 */
type Rule = [option: string, test?: (value: never) => unknown, expected?: string, showString?: boolean];

/** Checks each rule's field of `record` that is not `undefined`, naming the option at fault. */
function checkRules(prefix: string, record: Record<string, unknown>, rules: Rule[]): void {
  for (const [option, test = isFunction, expected = 'a function', showString] of rules) {
    const value = record[option];
    if (value !== undefined && !test(value as never)) fail(prefix + option, expected, value, showString);
  }
}

const ENDPOINT_RULES: Rule[] = [
  ['format', (value) => value === 'json' || value === 'oauth2', "'json' or 'oauth2'", true],
  ['clientId', (value) => typeof value === 'string', 'a string'],
  [
    'credentials',
    (value) => ['omit', 'same-origin', 'include'].includes(value),
    "'omit', 'same-origin' or 'include'",
    true,
  ],
  [
    'headers',
    (value) => isRecord(value) && Object.values(value).every((header) => typeof header === 'string'),
    'an object of strings',
  ],
  ['timeout', (value) => Number.isFinite(value) && value > 0, 'a positive number'],
];

const OPTION_RULES: Rule[] = [
  ['storageKey', isNonEmptyString, 'a non-empty string'],
  ['refreshMargin', (value) => Number.isFinite(value) && value >= 0, 'a non-negative number'],
  ['channel', (value) => value === false || isNonEmptyString(value), 'a non-empty string or false'],
  [
    'storage',
    (value) => STORAGE_NAMES.includes(value) || isStorage(value),
    `'${STORAGE_NAMES.join("', '")}' or a storage object (${STORAGE_METHODS.join(', ')})`,
    true,
  ],
  ['restore', (value) => typeof value === 'boolean', 'true or false'],
  ['allowedOrigins', (value) => isFunction(value) || Array.isArray(value), ORIGINS],
  ['fetch'],
  ['onResume'],
  ['environment', isRecord, 'an object'],
];

const ENVIRONMENT_RULES = ['now', 'monotonicNow', 'setTimeout', 'clearTimeout', 'random', 'lock', 'createChannel'].map(
  (member): Rule => [member],
);

/**
 * A function as it is, or an endpoint's options checked and frozen. Where there is no page origin (server
 * rendering), a relative URL is accepted here, and fails with `ConfigurationError` where it would be used
 * (see `endpoints.ts`).
 */
function normalizeHandler<F>(name: string, value: unknown, pageOrigin: string | null): F | NormalizedEndpoint {
  if (typeof value === 'function') return value as F;
  if (!isRecord(value)) fail(name, 'a function or { url }', value);
  const { url, format, clientId, credentials, headers, timeout } = value as unknown as EndpointOptions;
  let valid = isNonEmptyString(url);
  try {
    // Where there is a page, a URL must resolve against it.
    if (valid && pageOrigin !== null) new URL(url, pageOrigin);
  } catch {
    valid = false;
  }
  if (!valid) fail(`${name}.url`, 'a valid URL', url);
  checkRules(`${name}.`, value, ENDPOINT_RULES);
  return freeze({
    url,
    format: format ?? 'json',
    clientId,
    credentials,
    headers: freeze({ ...headers }),
    timeoutMs: timeout ?? DEFAULT_ENDPOINT_TIMEOUT_MS,
  });
}

/** An `allowedOrigins` entry's origin; it must be an http(s) URL (a string). */
function originOf(entry: unknown): string {
  try {
    const url = typeof entry === 'string' && new URL(entry);
    if (url && /^https?:$/.test(url.protocol)) return url.origin;
  } catch {}
  return fail('allowedOrigins', ORIGINS, entry, true);
}

/** Validates the options once, naming the option at fault, and returns them frozen with defaults applied. */
export function normalizeOptions(options: TokenManagerOptions, pageOrigin: string | null): NormalizedOptions {
  if (!isRecord(options)) fail('the options', 'an object', options);
  const { restore, fetch, onResume, allowedOrigins, environment } = options;
  const refresh = normalizeHandler<RefreshFn>('refresh', options.refresh, pageOrigin);
  const logout = options.logout === undefined ? null : normalizeHandler<LogoutFn>('logout', options.logout, pageOrigin);
  const storageKey = options.storageKey ?? 'tokenkeeper';
  const refreshMarginMs = options.refreshMargin ?? 60_000;
  const channel = options.channel ?? 'tokenkeeper';
  checkRules('', { ...options, storageKey, refreshMargin: refreshMarginMs, channel }, OPTION_RULES);
  if (environment) checkRules('environment.', environment as Record<string, unknown>, ENVIRONMENT_RULES);

  // A name picks the browser's storage, or memory where the runtime has none (server rendering, React Native);
  // `storageMissing` is set where a page lacks it (a sandboxed frame, storage blocked by the user).
  let storage: unknown = options.storage;
  let storageMissing: string | null = null;
  if (storage === undefined || storage === 'memory') storage = null;
  else if (typeof storage === 'string') {
    const name = storage as 'localStorage' | 'sessionStorage';
    storage = readStorageGlobal(name);
    if (!isStorage(storage)) {
      storage = null;
      if (pageOrigin !== null) storageMissing = name;
    }
  }

  return freeze({
    refresh,
    logout,
    storage: storage as TokenStorage | null,
    storageMissing,
    restore: !!restore,
    storageKey,
    refreshMarginMs,
    allowedOrigins: Array.isArray(allowedOrigins)
      ? new Set(Array.from(allowedOrigins, originOf))
      : (allowedOrigins ?? null),
    channel,
    channelNamed: typeof options.channel === 'string',
    fetch,
    onResume,
    environment: environment && freeze({ ...environment }),
  });
}
