import { jwtDecode } from 'jwt-decode';
import { InvalidTokenError, mustBe } from './errors';

/** A non-null object that is not an array: a JSON object, an options bag. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The value of the first spelling that is not `undefined` (`null` counts: it says "none"). */
export const pick = (body: Record<string, unknown>, first: string, second: string): unknown =>
  body[first] !== undefined ? body[first] : body[second];

/**
 * Whether `token` can stand in an `Authorization: Bearer` header: visible ASCII only (RFC 6750's b64token
 * is narrower; opaque tokens in the wild use more), no space, control or non-ASCII character.
 */
export const isHeaderSafeToken = (token: unknown): token is string =>
  typeof token === 'string' && /^[\x21-\x7e]+$/.test(token);

/**
 * The JWT payload, or `null` when the token is not a three-part JWT with a JSON object payload.
 * jwt-decode's own messages quote the payload, so they are never passed on.
 */
export function decodeClaims(token: string): Record<string, unknown> | null {
  try {
    const payload: unknown = token.split('.').length === 3 && jwtDecode(token);
    return isRecord(payload) ? payload : null;
  } catch {
    return null;
  }
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

const invalid = (what: string, expected: string, value: unknown): InvalidTokenError =>
  new InvalidTokenError(mustBe(what, expected, value));

/**
 * Validates a token response (camelCase or the snake_case names of OAuth 2.0; camelCase wins where both are
 * given) received at `receivedAt`. `expiresAt` comes from `expiresIn` (seconds, also as a numeric string)
 * when given; else, with `iat`, the receipt time plus `exp - iat`, so that a device clock that is off does
 * not matter; else from `exp`; else never (`null`).
 * @throws InvalidTokenError
 */
export function readTokenSet(response: unknown, receivedAt: number): TokenSet {
  if (!isRecord(response)) throw invalid('a token response', 'an object', response);
  const accessToken = pick(response, 'accessToken', 'access_token');
  if (!isHeaderSafeToken(accessToken)) throw invalid('accessToken', 'a non-empty header-safe string', accessToken);
  const refreshToken = pick(response, 'refreshToken', 'refresh_token');
  if (refreshToken != null && typeof refreshToken !== 'string') {
    throw invalid('refreshToken', 'a string or null', refreshToken);
  }
  const given = pick(response, 'expiresIn', 'expires_in');
  const expiresIn = typeof given === 'string' && /^\d+(\.\d+)?$/.test(given) ? Number(given) : given;
  if (expiresIn != null && !(Number.isFinite(expiresIn) && (expiresIn as number) >= 0)) {
    throw invalid('expiresIn', 'a non-negative number of seconds', given);
  }
  const claims = decodeClaims(accessToken);
  let expiresAt: number | null = null;
  if (expiresIn != null) expiresAt = receivedAt + (expiresIn as number) * 1000;
  else if (!claims) throw new InvalidTokenError('the access token is not a decodable JWT and no expiresIn was given');
  else if ('exp' in claims) {
    const { exp, iat } = claims as { exp: number; iat: unknown };
    if (!Number.isFinite(exp)) throw invalid("the access token's exp claim", 'a number', exp);
    expiresAt = Number.isFinite(iat) ? receivedAt + (exp - (iat as number)) * 1000 : exp * 1000;
  }
  return Object.freeze({ accessToken, refreshToken, expiresAt, receivedAt, claims: claims && Object.freeze(claims) });
}
