import { jwtDecode } from 'jwt-decode';
import { InvalidTokenError } from './errors';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short description of a value's type for error messages; never the value itself, which may be a token. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  return `a value of type ${typeof value}`;
}

/**
 * Whether `token` can stand in an `Authorization: Bearer` header: visible ASCII only (RFC 6750's b64token
 * is narrower; opaque tokens in the wild use more), no space, control or non-ASCII character.
 */
export function isHeaderSafeToken(token: unknown): token is string {
  return typeof token === 'string' && /^[\x21-\x7e]+$/.test(token);
}

/**
 * The JWT payload, or `null` when the token is not a three-part JWT with a JSON object payload.
 * jwt-decode's own messages quote the payload, so they are never passed on.
 */
export function decodeClaims(token: string): Record<string, unknown> | null {
  if (token.split('.').length !== 3) return null;
  try {
    const payload: unknown = jwtDecode(token);
    return isRecord(payload) ? payload : null;
  } catch {
    return null;
  }
}

/**
 * When the access token expires, on this device's clock:
 * from `expiresIn` when given; else, with `iat`, the receipt time plus `exp - iat`, so that a device clock
 * that is off does not matter; else from `exp`; else never (`null`).
 */
export function computeExpiresAt(
  claims: Record<string, unknown> | null,
  expiresIn: number | undefined,
  receivedAt: number,
): number | null {
  if (expiresIn !== undefined) return receivedAt + expiresIn * 1000;
  if (claims === null) {
    throw new InvalidTokenError('the access token is not a decodable JWT and no expiresIn was given');
  }
  if (!('exp' in claims)) return null;
  const { exp, iat } = claims;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) {
    throw new InvalidTokenError(`the access token's exp claim must be a number, got ${describeValue(exp)}`);
  }
  if (typeof iat === 'number' && Number.isFinite(iat)) return receivedAt + (exp - iat) * 1000;
  return exp * 1000;
}

/** A validated token set as a login or a refresh delivered it, before it is made part of a session. */
export interface TokenSet {
  readonly accessToken: string;
  /** `undefined`: the response had none (a refresh keeps the current one). */
  readonly refreshToken: string | null | undefined;
  readonly expiresAt: number | null;
  readonly receivedAt: number;
  readonly claims: Readonly<Record<string, unknown>> | null;
}

/** `expires_in` as servers send it: seconds, as a number or a numeric string. */
function readExpiresIn(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const seconds = typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) {
    throw new InvalidTokenError(`expiresIn must be a non-negative number of seconds, got ${describeValue(value)}`);
  }
  return seconds;
}

/** camelCase wins where both spellings are given. */
function pick(body: Record<string, unknown>, camel: string, snake: string): unknown {
  return body[camel] !== undefined ? body[camel] : body[snake];
}

/**
 * Validates a token response (camelCase or the snake_case names of OAuth 2.0) received at `receivedAt`.
 * @throws InvalidTokenError
 */
export function readTokenSet(response: unknown, receivedAt: number): TokenSet {
  if (!isRecord(response)) {
    throw new InvalidTokenError(`a token response must be an object, got ${describeValue(response)}`);
  }
  const accessToken = pick(response, 'accessToken', 'access_token');
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new InvalidTokenError(`accessToken must be a non-empty string, got ${describeValue(accessToken)}`);
  }
  if (!isHeaderSafeToken(accessToken)) {
    throw new InvalidTokenError('accessToken has characters that cannot be sent in an Authorization header');
  }
  const refreshToken = pick(response, 'refreshToken', 'refresh_token');
  if (refreshToken !== undefined && refreshToken !== null && typeof refreshToken !== 'string') {
    throw new InvalidTokenError(`refreshToken must be a string or null, got ${describeValue(refreshToken)}`);
  }
  const claims = decodeClaims(accessToken);
  const expiresAt = computeExpiresAt(claims, readExpiresIn(pick(response, 'expiresIn', 'expires_in')), receivedAt);
  return Object.freeze({ accessToken, refreshToken, expiresAt, receivedAt, claims: claims && Object.freeze(claims) });
}
