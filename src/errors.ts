/**
 * Every error tokenkeeper raises extends `TokenkeeperError` and carries a stable `code`.
 * Messages say what failed and never contain a token.
 */

/** Options accepted by every tokenkeeper error constructor. */
export interface TokenkeeperErrorOptions {
  /** The underlying error, when there is one. */
  cause?: unknown;
}

/** Every `code` a tokenkeeper error carries; the README's errors table describes each. */
export type TokenkeeperErrorCode =
  | 'invalid_token'
  | 'refresh_rejected'
  | 'refresh_failed'
  | 'not_authenticated'
  | 'configuration'
  | 'storage_failed'
  | 'logout_failed'
  | 'http_status'
  | 'timeout'
  | 'unreadable_response';

/**
 * Marks tokenkeeper's errors. A registered symbol is the same in every copy of the package (its ESM and
 * CommonJS builds, two bundles of one app), where `instanceof` only knows the copy it was imported from.
 */
const BRAND = Symbol.for('tokenkeeper.error');

/** Base class of every error tokenkeeper raises. */
export class TokenkeeperError extends Error {
  /**
   * Stable, machine-readable error code, set by each subclass. (The package never raises a bare
   * `TokenkeeperError`; one constructed directly has the code `'tokenkeeper'`.)
   */
  declare readonly code: TokenkeeperErrorCode;
  declare readonly name: string;

  constructor(message?: string, options?: TokenkeeperErrorOptions) {
    super(message);
    // Each class's code and name come from one table (below) rather than a constructor per class.
    [, this.code, this.name] = ERRORS.find(([type]) => this instanceof type)!;
    const define = Object.defineProperty;
    define(this, BRAND, { value: true });
    // Set by hand so that `cause` works on runtimes whose Error ignores the options bag (older Hermes).
    if (options && 'cause' in options)
      define(this, 'cause', { value: options.cause, writable: true, configurable: true });
  }
}

/** The access token is not a string, or not a decodable JWT while no `expiresIn` was given. */
export class InvalidTokenError extends TokenkeeperError {
  declare readonly code: 'invalid_token';
  declare readonly name: 'InvalidTokenError';
}

/** The server (or a `RefreshFn`) said the session is over: the refresh token is no longer valid. */
export class RefreshRejectedError extends TokenkeeperError {
  declare readonly code: 'refresh_rejected';
  declare readonly name: 'RefreshRejectedError';
}

/** A refresh failed for a reason that may pass (network, timeout, 5xx, unreadable body); see `cause`. */
export class RefreshFailedError extends TokenkeeperError {
  declare readonly code: 'refresh_failed';
  declare readonly name: 'RefreshFailedError';
}

/** The operation needs a session and there is none. */
export class NotAuthenticatedError extends TokenkeeperError {
  declare readonly code: 'not_authenticated';
  declare readonly name: 'NotAuthenticatedError';
}

/** An option is missing or invalid, or the manager was destroyed. */
export class ConfigurationError extends TokenkeeperError {
  declare readonly code: 'configuration';
  declare readonly name: 'ConfigurationError';
}

/** The storage threw; the manager goes on in memory. Emitted as an `'error'` event, with `cause`. */
export class StorageError extends TokenkeeperError {
  declare readonly code: 'storage_failed';
  declare readonly name: 'StorageError';
}

/** The logout endpoint could not be reached or answered with an error. Emitted as an `'error'` event. */
export class LogoutFailedError extends TokenkeeperError {
  declare readonly code: 'logout_failed';
  declare readonly name: 'LogoutFailedError';
}

/** Raised by the endpoint helpers when the server answers with an unexpected HTTP status. */
export class HttpStatusError extends TokenkeeperError {
  declare readonly code: 'http_status';
  declare readonly name: 'HttpStatusError';
  /** The HTTP status the server answered with (0 for a redirect the browser does not show). */
  readonly status: number | undefined;
  /** How long the server asked to wait before trying again (`Retry-After`), in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message?: string,
    options?: TokenkeeperErrorOptions & { status?: number | undefined; retryAfterMs?: number | undefined },
  ) {
    super(message, options);
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Raised when a request took longer than its `timeout`. */
export class TimeoutError extends TokenkeeperError {
  declare readonly code: 'timeout';
  declare readonly name: 'TimeoutError';
}

/** A refresh response that is not a JSON object with an access token. Transient: the server may answer properly next time. */
export class UnreadableResponseError extends TokenkeeperError {
  declare readonly code: 'unreadable_response';
  declare readonly name: 'UnreadableResponseError';
}

/** Each class with its code and name; the first the error is an instance of applies, the base class last. */
const ERRORS: [type: abstract new () => object, code: TokenkeeperErrorCode, name: string][] = [
  [InvalidTokenError, 'invalid_token', 'InvalidTokenError'],
  [RefreshRejectedError, 'refresh_rejected', 'RefreshRejectedError'],
  [RefreshFailedError, 'refresh_failed', 'RefreshFailedError'],
  [NotAuthenticatedError, 'not_authenticated', 'NotAuthenticatedError'],
  [ConfigurationError, 'configuration', 'ConfigurationError'],
  [StorageError, 'storage_failed', 'StorageError'],
  [LogoutFailedError, 'logout_failed', 'LogoutFailedError'],
  [HttpStatusError, 'http_status', 'HttpStatusError'],
  [TimeoutError, 'timeout', 'TimeoutError'],
  [UnreadableResponseError, 'unreadable_response', 'UnreadableResponseError'],
  [TokenkeeperError, 'tokenkeeper' as TokenkeeperErrorCode, 'TokenkeeperError'],
];

/**
 * The message for a value that is not what it should be: `refreshMargin must be a non-negative number, got -5`.
 * It names the value's kind, never the value itself, which may be a token; numbers, `null` and `undefined`
 * are shown as they are, and strings only where `showString` says they are safe to show (a format's name).
 */
export function mustBe(what: string, expected: string, value: unknown, showString?: boolean): string {
  return `${what} must be ${expected}, got ${
    showString && typeof value === 'string'
      ? JSON.stringify(value)
      : typeof value === 'number' || value == null
        ? value
        : Array.isArray(value)
          ? 'an array'
          : typeof value
  }`;
}

/**
 * Whether `value` is an error raised by tokenkeeper, from any copy of the package; with `code`, only one with
 * that code.
 *
 * @example
 * auth.refresh().catch((error) => {
 *   if (isTokenkeeperError(error, 'refresh_rejected')) showLogin();
 * });
 */
export function isTokenkeeperError(value: unknown, code?: TokenkeeperErrorCode): value is TokenkeeperError {
  const actual =
    typeof value === 'object' && (value as Record<symbol, unknown> | null)?.[BRAND] === true
      ? (value as { code?: unknown }).code
      : undefined;
  return typeof actual === 'string' && (code === undefined || actual === code);
}
