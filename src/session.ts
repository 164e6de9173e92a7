import { decodeClaims, isHeaderSafeToken, type TokenSet } from './token';

/**
 * Names one login and orders it against other logins and logouts without the wall clock: `stamp` is a
 * hybrid logical clock reading (see `nextStamp`), `id` breaks ties the same way in every tab.
 */
export interface LoginKey {
  readonly stamp: number;
  readonly id: string;
}

/** A session as it is stored and as it crosses tabs. Times are on this device's clock, which its tabs share. */
export interface SessionRecord extends LoginKey {
  /** How many refreshes this login has had: orders its token sets. */
  readonly seq: number;
  readonly accessToken: string;
  readonly refreshToken: string | null;
  readonly expiresAt: number | null;
  readonly receivedAt: number;
}

/** A session as a manager holds it. */
export interface Session extends SessionRecord {
  readonly claims: Readonly<Record<string, unknown>> | null;
  /** The monotonic clock's reading that matches `receivedAt`, so that due times survive wall-clock jumps. */
  readonly receivedMono: number;
  /** Access tokens this login held before the current one, newest first: a 401 for one of them may be retried. */
  readonly history: readonly string[];
}

/** Stamps stay far below `Number.MAX_SAFE_INTEGER`, so that `stamp + 1` always grows. */
export const MAX_STAMP = 2 ** 52;
/** How far ahead of this device's clock a stamp from another tab or from storage may be (a clock set back). */
const STAMP_AHEAD_LIMIT_MS = 366 * 24 * 3_600_000;

/**
 * Whether a stamp from another tab or from storage can be real: the tabs of a device share its clock, so a
 * stamp more than a year ahead of it is forged or corrupt, and is ignored (it would hold every later login
 * back, and one at `MAX_STAMP` would end every login for good).
 */
export const isPlausibleStamp = (stamp: number, now: number): boolean => stamp <= now + STAMP_AHEAD_LIMIT_MS;
const HISTORY_LENGTH = 8;

/** Both clocks of this device: the wall clock (shared by its tabs) and a monotonic one (this tab's own). */
export interface Clocks {
  now(): number;
  monotonicNow(): number;
}

/**
 * The next hybrid logical clock reading: later than every stamp seen (`clock`), and the wall clock when that
 * is later still, so that a tab which has seen nothing yet still orders its login after older ones. Two tabs
 * that have heard of each other are ordered by the counter alone, whatever their clocks say.
 */
export function nextStamp(clock: number, now: number): number {
  return Math.min(MAX_STAMP, Math.max(clock + 1, Math.floor(now)));
}

/** Negative when login `a` comes before `b`, positive after, 0 for the same login. */
export function compareLogins(a: LoginKey, b: LoginKey): number {
  if (a.stamp !== b.stamp) return a.stamp - b.stamp;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Orders token sets: token sets of one login by refresh count, then (two tabs refreshed at once) by the token
 * itself; token sets of different logins by their logins.
 */
export function compareSessions(a: SessionRecord, b: SessionRecord): number {
  if (!isSameLogin(a, b)) return compareLogins(a, b);
  if (a.seq !== b.seq) return a.seq - b.seq;
  return a.accessToken < b.accessToken ? -1 : a.accessToken > b.accessToken ? 1 : 0;
}

/**
 * One login, whatever its stamp: a login's id is made from its first token set (see `loginIdOf`), so tabs that
 * each `setTokens()` the same tokens hold one login, and its refreshes in any tab continue it.
 */
export const isSameLogin = (a: LoginKey, b: LoginKey): boolean => a.id === b.id;

/**
 * The id of a login, from its first token set (FNV-1a, 64 bits): the same tokens give the same login, and a
 * token set with another refresh token is another login. (An access token has no line break to be confused with
 * the separator.)
 */
export function loginIdOf(accessToken: string, refreshToken: string | null = null): string {
  const text = refreshToken === null ? accessToken : `${accessToken}\n${refreshToken}`;
  let high = 0xcbf29ce4;
  let low = 0x84222325;
  for (let index = 0; index < text.length; index += 1) {
    low = (low ^ text.charCodeAt(index)) >>> 0;
    // Multiply the 64-bit value by the FNV prime 2^40 + 0x1b3, in 32-bit halves.
    const lowProduct = low * 0x1b3;
    const carry = Math.floor(lowProduct / 0x100000000);
    high = (high * 0x1b3 + (low << 8) + carry) >>> 0;
    low = lowProduct >>> 0;
  }
  return `l${high.toString(16).padStart(8, '0')}${low.toString(16).padStart(8, '0')}`;
}

/**
 * Whether a refresh of `from` speaks for `current` too: the same login, or another login of the same tokens
 * (two tabs that each `setTokens()` what one login returned). Its answer then continues `current`, since the
 * refresh token they share was just spent.
 */
export function continuesFrom(current: Session, from: Session): boolean {
  if (isSameLogin(current, from)) return true;
  return current.refreshToken !== null
    ? current.refreshToken === from.refreshToken
    : current.accessToken === from.accessToken;
}

/**
 * Whether `session` is ended by the logout `floor`: it was signed in at or before that logout. A login with the
 * same stamp as the logout was made before its tab heard of it, so the logout wins the tie.
 */
export const isEndedBy = (session: LoginKey, floor: LoginKey | null): boolean =>
  floor !== null && session.stamp <= floor.stamp;

/** The tokens that name a session's token set for a logout: a login of the same tokens ends with it. */
export const tokensOf = (session: SessionRecord): string[] =>
  session.refreshToken === null ? [session.accessToken] : [session.accessToken, session.refreshToken];

/** Whether `session` holds one of `tokens` (tokens of a session that ended). */
export const holdsAny = (
  session: Pick<SessionRecord, 'accessToken' | 'refreshToken'>,
  tokens: readonly string[],
): boolean =>
  tokens.includes(session.accessToken) || (session.refreshToken !== null && tokens.includes(session.refreshToken));

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_STAMP;
const isFiniteNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
export const isId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= 128;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isLoginKey(value: unknown): value is LoginKey {
  return isObject(value) && isCount(value.stamp) && isId(value.id);
}

/** Whether `value` is a well-formed session record (from storage or another tab). */
export function isSessionRecord(value: unknown): value is SessionRecord {
  if (!isLoginKey(value)) return false;
  const { seq, accessToken, refreshToken, expiresAt, receivedAt } = value as unknown as Record<string, unknown>;
  return (
    isCount(seq) &&
    isHeaderSafeToken(accessToken) &&
    (refreshToken === null || typeof refreshToken === 'string') &&
    (expiresAt === null || isFiniteNumber(expiresAt)) &&
    isFiniteNumber(receivedAt)
  );
}

export function toRecord(session: SessionRecord): SessionRecord {
  const { id, stamp, seq, accessToken, refreshToken, expiresAt, receivedAt } = session;
  return { id, stamp, seq, accessToken, refreshToken, expiresAt, receivedAt };
}

export const toLoginKey = ({ stamp, id }: LoginKey): LoginKey => ({ stamp, id });

/** The monotonic reading that matches a wall-clock time in the past; never later than now. */
function monoAt(wallMs: number, clocks: Clocks): number {
  return clocks.monotonicNow() - Math.max(0, clocks.now() - wallMs);
}

/** The session of a validated record (from storage or another tab); claims are decoded again, not trusted. */
export function restoreSession(record: SessionRecord, clocks: Clocks, history: readonly string[] = []): Session {
  const claims = decodeClaims(record.accessToken);
  return Object.freeze({
    ...toRecord(record),
    claims: claims && Object.freeze(claims),
    receivedMono: monoAt(record.receivedAt, clocks),
    history,
  });
}

/** A new login's session; `receivedMono` is the monotonic reading taken with `tokens.receivedAt`. */
export function startSession(tokens: TokenSet, key: LoginKey, receivedMono: number): Session {
  return Object.freeze({
    ...toLoginKey(key),
    seq: 0,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken ?? null,
    expiresAt: tokens.expiresAt,
    receivedAt: tokens.receivedAt,
    claims: tokens.claims,
    receivedMono,
    history: [],
  });
}

/** The session after `previous` was refreshed with `tokens`: same login, next `seq`, refresh token kept when none came. */
export function refreshedSession(previous: Session, tokens: TokenSet, clocks: Clocks): Session {
  return Object.freeze({
    ...toLoginKey(previous),
    seq: previous.seq + 1,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken === undefined ? previous.refreshToken : tokens.refreshToken,
    expiresAt: tokens.expiresAt,
    receivedAt: tokens.receivedAt,
    claims: tokens.claims,
    receivedMono: monoAt(tokens.receivedAt, clocks),
    history: followingHistory(previous),
  });
}

/** The history a later token set of `previous`'s login carries. */
export function followingHistory(previous: Session): readonly string[] {
  return [previous.accessToken, ...previous.history].slice(0, HISTORY_LENGTH);
}

/** A point in time on both clocks: reached when either clock says so. */
export interface Due {
  readonly wall: number;
  readonly mono: number;
}

export const isReached = (due: Due, clocks: Clocks): boolean =>
  clocks.now() >= due.wall || clocks.monotonicNow() >= due.mono;

/** `offsetMs` after the session's token set was received, on both clocks. */
const afterReceipt = (session: Session, offsetMs: number): Due => ({
  wall: session.receivedAt + offsetMs,
  mono: session.receivedMono + offsetMs,
});

/**
 * When the proactive refresh is due: `refreshMarginMs` before expiry, but never more than half the
 * lifetime, so a short-lived token is not refreshed the moment it arrives. `null` when it never expires.
 */
export function refreshDue(session: Session, refreshMarginMs: number): Due | null {
  if (session.expiresAt === null) return null;
  const lifetimeMs = Math.max(0, session.expiresAt - session.receivedAt);
  return afterReceipt(session, lifetimeMs - Math.min(refreshMarginMs, lifetimeMs / 2));
}

/** Whether the access token has lapsed. */
export function isExpired(session: Session, clocks: Clocks): boolean {
  if (session.expiresAt === null) return false;
  return isReached(afterReceipt(session, session.expiresAt - session.receivedAt), clocks);
}

/** Whether a token set has no lifetime left the moment it arrives (a server or clock gone wrong). */
export const isBornExpired = (session: Session): boolean =>
  session.expiresAt !== null && session.expiresAt <= session.receivedAt;
