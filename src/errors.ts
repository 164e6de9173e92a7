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
  readonly code: TokenkeeperErrorCode = 'tokenkeeper' as TokenkeeperErrorCode;
  override readonly name: string = 'TokenkeeperError';

  constructor(message?: string, options?: TokenkeeperErrorOptions) {
    super(message);
    Object.defineProperty(this, BRAND, { value: true });
    // Set by hand so that `cause` works on runtimes whose Error ignores the options bag (older Hermes).
    if (options && 'cause' in options) {
      Object.defineProperty(this, 'cause', {
        value: options.cause,
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  }
}

/** The access token is not a string, or not a decodable JWT while no `expiresIn` was given. */
export class InvalidTokenError extends TokenkeeperError {
  override readonly code = 'invalid_token' as const;
  override readonly name = 'InvalidTokenError' as const;
}

/** The server (or a `RefreshFn`) said the session is over: the refresh token is no longer valid. */
export class RefreshRejectedError extends TokenkeeperError {
  override readonly code = 'refresh_rejected' as const;
  override readonly name = 'RefreshRejectedError' as const;
}

/** A refresh failed for a reason that may pass (network, timeout, 5xx, unreadable body); see `cause`. */
export class RefreshFailedError extends TokenkeeperError {
  override readonly code = 'refresh_failed' as const;
  override readonly name = 'RefreshFailedError' as const;
}

/** The operation needs a session and there is none. */
export class NotAuthenticatedError extends TokenkeeperError {
  override readonly code = 'not_authenticated' as const;
  override readonly name = 'NotAuthenticatedError' as const;
}

/** An option is missing or invalid, or the manager was destroyed. */
export class ConfigurationError extends TokenkeeperError {
  override readonly code = 'configuration' as const;
  override readonly name = 'ConfigurationError' as const;
}

/** The storage threw; the manager goes on in memory. Emitted as an `'error'` event, with `cause`. */
export class StorageError extends TokenkeeperError {
  override readonly code = 'storage_failed' as const;
  override readonly name = 'StorageError' as const;
}

/** The logout endpoint could not be reached or answered with an error. Emitted as an `'error'` event. */
export class LogoutFailedError extends TokenkeeperError {
  override readonly code = 'logout_failed' as const;
  override readonly name = 'LogoutFailedError' as const;
}

/** Raised by the endpoint helpers when the server answers with an unexpected HTTP status. */
export class HttpStatusError extends TokenkeeperError {
  override readonly code = 'http_status' as const;
  override readonly name = 'HttpStatusError' as const;
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
  override readonly code = 'timeout' as const;
  override readonly name = 'TimeoutError' as const;
}

/** A refresh response that is not a JSON object with an access token. Transient: the server may answer properly next time. */
export class UnreadableResponseError extends TokenkeeperError {
  override readonly code = 'unreadable_response' as const;
  override readonly name = 'UnreadableResponseError' as const;
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
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[BRAND] !== true) return false;
  const actual = (value as { code?: unknown }).code;
  return typeof actual === 'string' && (code === undefined || actual === code);
}
