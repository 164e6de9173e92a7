import { jwtDecode } from 'jwt-decode';
import { InvalidTokenError } from './errors';
import type { TokenResponse } from './types';

/**
 * A session as it is stored and as it crosses tabs. Times are on this device's clock, which its tabs share.
 * `sessionId` names one login and stays the same through its refreshes.
 */
export interface SessionRecord {
  sessionId: string;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number | null;
  receivedAt: number;
}

/** A token set as the manager holds it. `expiresAt` and `receivedAt` are on this device's clock. */
export interface Session {
  /** Names the login this token set belongs to; kept through refreshes, new for every `setTokens()`. */
  readonly sessionId: string;
  readonly accessToken: string;
  readonly refreshToken: string | null;
  /** When the access token lapses; `null` when it never does. */
  readonly expiresAt: number | null;
  /** When the token set was received, so that the lifetime is known for the margin. */
  readonly receivedAt: number;
  readonly claims: Record<string, unknown> | null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
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

function validateExpiresIn(expiresIn: unknown): number | undefined {
  if (expiresIn === undefined) return undefined;
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn < 0) {
    throw new InvalidTokenError(`expiresIn must be a non-negative number of seconds, got ${describeValue(expiresIn)}`);
  }
  return expiresIn;
}

/** A short description of a value's type for error messages; never the value itself, which may be a token. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number') return String(value);
  return `a value of type ${typeof value}`;
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

/**
 * Builds the session for a token response received at `receivedAt`. A refresh passes the session it
 * refreshes: its id is kept, and so is its refresh token when the response has none. A login passes `null`.
 * @throws InvalidTokenError
 */
export function createSession(
  response: TokenResponse,
  receivedAt: number,
  previous: Session | null,
  createId: () => string,
): Session {
  if (!isRecord(response)) {
    throw new InvalidTokenError(`a token response must be an object, got ${describeValue(response)}`);
  }
  const { accessToken, refreshToken } = response;
  if (typeof accessToken !== 'string' || accessToken === '') {
    throw new InvalidTokenError(`accessToken must be a non-empty string, got ${describeValue(accessToken)}`);
  }
  if (refreshToken !== undefined && refreshToken !== null && typeof refreshToken !== 'string') {
    throw new InvalidTokenError(`refreshToken must be a string or null, got ${describeValue(refreshToken)}`);
  }
  const expiresIn = validateExpiresIn(response.expiresIn);
  const claims = decodeClaims(accessToken);
  const expiresAt = computeExpiresAt(claims, expiresIn, receivedAt);
  return Object.freeze({
    sessionId: previous ? previous.sessionId : createId(),
    accessToken,
    refreshToken: refreshToken === undefined ? (previous?.refreshToken ?? null) : refreshToken,
    expiresAt,
    receivedAt,
    claims: claims && Object.freeze(claims),
  });
}

const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** Whether `value` is a well-formed session record (from storage or another tab). */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (!isRecord(value)) return false;
  const { sessionId, accessToken, refreshToken, expiresAt, receivedAt } = value;
  return (
    typeof sessionId === 'string' &&
    sessionId !== '' &&
    sessionId.length <= 128 &&
    typeof accessToken === 'string' &&
    accessToken !== '' &&
    (refreshToken === null || typeof refreshToken === 'string') &&
    (expiresAt === null || isFiniteNumber(expiresAt)) &&
    isFiniteNumber(receivedAt)
  );
}

export function toSessionRecord(session: Session): SessionRecord {
  const { sessionId, accessToken, refreshToken, expiresAt, receivedAt } = session;
  return { sessionId, accessToken, refreshToken, expiresAt, receivedAt };
}

/** The session of a validated record; claims are decoded again rather than trusted. */
export function restoreSession(record: SessionRecord): Session {
  const claims = decodeClaims(record.accessToken);
  return Object.freeze({
    sessionId: record.sessionId,
    accessToken: record.accessToken,
    refreshToken: record.refreshToken,
    expiresAt: record.expiresAt,
    receivedAt: record.receivedAt,
    claims: claims && Object.freeze(claims),
  });
}

/**
 * When the proactive refresh is due: `refreshMarginMs` before expiry, but never more than half the
 * lifetime, so a short-lived token is not refreshed the moment it arrives. `null` when it never expires.
 */
export function refreshDueAt(session: Session, refreshMarginMs: number): number | null {
  if (session.expiresAt === null) return null;
  const lifetimeMs = Math.max(0, session.expiresAt - session.receivedAt);
  return session.expiresAt - Math.min(refreshMarginMs, lifetimeMs / 2);
}

/**
 * Whether `a` was received after `b`. Ties (the same millisecond) are broken by a comparison that gives the
 * same answer in every tab, so tabs that exchange two sessions settle on the same one.
 */
export function isLaterSession(a: Session, b: Session): boolean {
  if (a.receivedAt !== b.receivedAt) return a.receivedAt > b.receivedAt;
  return `${a.sessionId}:${a.accessToken}` > `${b.sessionId}:${b.accessToken}`;
}

/** Whether the access token has lapsed at `now`. */
export function isExpired(session: Session, now: number): boolean {
  return session.expiresAt !== null && now >= session.expiresAt;
}
