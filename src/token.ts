import { jwtDecode } from 'jwt-decode';
import { InvalidTokenError, mustBe, UnreadableResponseError } from './errors';
import type { TokenResponse } from './types';

/** A non-null object that is not an array: a JSON object, an options bag. */
export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

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

/**
 * The fields of a token response, checked: `accessToken` a header-safe string; `refreshToken` a string, `null`
 * (none from now on) or absent (`undefined`: a refresh keeps the current one); `expiresIn` seconds, also as a
 * numeric string. From the app (`setTokens()`, a `RefreshFn`) camelCase wins where both spellings are given,
 * and a field that is wrong is an `InvalidTokenError`. From a refresh endpoint's body (`fromServer`) the
 * snake_case of OAuth 2.0 wins, a negative `expires_in` is taken as none left (the token set, with its rotated
 * refresh token, is kept, and the next refresh waits for the backoff), and a field that is wrong is an
 * `UnreadableResponseError`: transient, the server may answer properly next time.
 */
export function readTokenFields(body: unknown, fromServer?: boolean): TokenResponse {
  const check = (ok: unknown, what: string, expected: string, value: unknown): void => {
    if (!ok) throw new (fromServer ? UnreadableResponseError : InvalidTokenError)(mustBe(what, expected, value));
  };
  /** The field's value, and its name for a message. */
  const field = (camel: string, snake: string): [unknown, string] => {
    const record = body as Record<string, unknown>;
    const [first, second] = fromServer ? [snake, camel] : [camel, snake];
    return [
      record[first] !== undefined ? record[first] : record[second],
      fromServer ? `the refresh response's ${snake}` : camel,
    ];
  };
  check(isRecord(body), fromServer ? 'the refresh response' : 'a token response', 'a JSON object', body);
  const [accessToken, accessName] = field('accessToken', 'access_token');
  check(isHeaderSafeToken(accessToken), accessName, 'a non-empty header-safe string', accessToken);
  const [refreshToken, refreshName] = field('refreshToken', 'refresh_token');
  check(refreshToken == null || typeof refreshToken === 'string', refreshName, 'a string or null', refreshToken);
  const [given, expiresName] = field('expiresIn', 'expires_in');
  let expiresIn =
    typeof given === 'string' && (fromServer ? /^-?\d+(\.\d+)?$/ : /^\d+(\.\d+)?$/).test(given) ? Number(given) : given;
  if (fromServer && (expiresIn as number) < 0) expiresIn = 0;
  check(
    expiresIn == null || (Number.isFinite(expiresIn) && (expiresIn as number) >= 0),
    expiresName,
    'a non-negative number of seconds',
    given,
  );
  return { accessToken, refreshToken, expiresIn: expiresIn ?? undefined } as TokenResponse;
}

/**
 * Validates a token response (see `readTokenFields`) received at `receivedAt`. `expiresAt` comes from
 * `expiresIn` when given; else, with `iat`, the receipt time plus `exp - iat`, so that a device clock that is
 * off does not matter; else from `exp`; else never (`null`).
 * @throws InvalidTokenError
 */
export function readTokenSet(response: unknown, receivedAt: number): TokenSet {
  const { accessToken, refreshToken, expiresIn } = readTokenFields(response);
  const claims = decodeClaims(accessToken);
  let expiresAt: number | null = null;
  if (expiresIn !== undefined) expiresAt = receivedAt + expiresIn * 1000;
  else if (!claims) throw new InvalidTokenError('the access token is not a decodable JWT and no expiresIn was given');
  else if ('exp' in claims) {
    const { exp, iat } = claims as { exp: number; iat: unknown };
    if (!Number.isFinite(exp)) throw new InvalidTokenError(mustBe("the access token's exp claim", 'a number', exp));
    expiresAt = Number.isFinite(iat) ? receivedAt + (exp - (iat as number)) * 1000 : exp * 1000;
  }
  return Object.freeze({ accessToken, refreshToken, expiresAt, receivedAt, claims: claims && Object.freeze(claims) });
}
