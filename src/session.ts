import { decodeClaims, isHeaderSafeToken, isRecord, type TokenSet } from './token';

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
export const nextStamp = (clock: number, now: number): number =>
  Math.min(MAX_STAMP, Math.max(clock + 1, Math.floor(now)));

/** Negative, positive or 0 as string `a` sorts before, after or with `b`. */
const order = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Negative when login `a` comes before `b`, positive after, 0 for the same login. */
export const compareLogins = (a: LoginKey, b: LoginKey): number => a.stamp - b.stamp || order(a.id, b.id);

/**
 * Orders token sets: token sets of one login by refresh count, then (two tabs refreshed at once) by the token
 * itself; token sets of different logins by their logins.
 */
export const compareSessions = (a: SessionRecord, b: SessionRecord): number =>
  isSameLogin(a, b) ? a.seq - b.seq || order(a.accessToken, b.accessToken) : compareLogins(a, b);

/**
 * One login, whatever its stamp: a login's id is made from its first token set (see `loginIdOf`), so tabs that
 * each `setTokens()` the same tokens hold one login, and its refreshes in any tab continue it.
 */
export const isSameLogin = (a: LoginKey, b: LoginKey): boolean => a.id === b.id;

/** Eight hex digits of a 32-bit unsigned value. */
const hex = (value: number): string => value.toString(16).padStart(8, '0');

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
    high = (high * 0x1b3 + (low << 8) + Math.floor(lowProduct / 0x100000000)) >>> 0;
    low = lowProduct >>> 0;
  }
  return `l${hex(high)}${hex(low)}`;
}

/**
 * Whether a refresh of `from` speaks for `current` too: the same login, or another login of the same tokens
 * (two tabs that each `setTokens()` what one login returned). Its answer then continues `current`, since the
 * refresh token they share was just spent.
 */
export const continuesFrom = (current: Session, from: Session): boolean =>
  isSameLogin(current, from) ||
  (current.refreshToken !== null
    ? current.refreshToken === from.refreshToken
    : current.accessToken === from.accessToken);

/**
 * Whether `session` is ended by the logout `floor`: it was signed in at or before that logout. A login with the
 * same stamp as the logout was made before its tab heard of it, so the logout wins the tie.
 */
export const isEndedBy = (session: LoginKey, floor: LoginKey | null): boolean =>
  floor !== null && session.stamp <= floor.stamp;

type TokenPair = Pick<SessionRecord, 'accessToken' | 'refreshToken'>;

/** The tokens that name a session's token set for a logout: a login of the same tokens ends with it. */
export const tokensOf = (session: TokenPair): string[] =>
  [session.accessToken, session.refreshToken].filter((token): token is string => token !== null);

/** Whether `session` holds one of `tokens` (tokens of a session that ended). */
export const holdsAny = (session: TokenPair, tokens: readonly string[]): boolean =>
  tokensOf(session).some((token) => tokens.includes(token));

/** Whether a logout is over `session`: it orders at or before `floor`, or holds tokens a logout was for. */
export const isLoggedOut = (
  session: LoginKey & TokenPair,
  floor: LoginKey | null,
  endedTokens: readonly string[],
): boolean => isEndedBy(session, floor) || holdsAny(session, endedTokens);

/** A check of one field of a value from outside (storage, another tab). */
export type Check = (value: unknown) => boolean;
/** The fields of a record and their checks; fields not named are neither checked nor copied. */
export type Schema = Readonly<Record<string, Check>>;

/** Whether `value` is an object whose fields pass the checks of `schema`. */
export const matches = (value: unknown, schema: Schema): value is Record<string, unknown> =>
  isRecord(value) && Object.entries(schema).every(([field, check]) => check(value[field]));

const isCount: Check = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_STAMP;
export const isId: Check = (value) => typeof value === 'string' && value !== '' && value.length <= 128;
export const nullOr =
  (check: Check): Check =>
  (value) =>
    value === null || check(value);

/** The fields of a login key, in the order they are written. */
export const LOGIN_KEY: Schema = { stamp: isCount, id: isId };
/** The fields of a session record, in the order they are written (storage and channel formats). */
const SESSION_RECORD: Schema = {
  id: isId,
  stamp: isCount,
  seq: isCount,
  accessToken: isHeaderSafeToken,
  refreshToken: nullOr((value) => typeof value === 'string'),
  expiresAt: nullOr(Number.isFinite),
  receivedAt: Number.isFinite,
};

export const isLoginKey = (value: unknown): value is LoginKey => matches(value, LOGIN_KEY);

/** Whether `value` is a well-formed session record (from storage or another tab). */
export const isSessionRecord = (value: unknown): value is SessionRecord => matches(value, SESSION_RECORD);

/** A session and the latest logout, either `null`: what storage holds, and what a tab answers a query with. */
export const SESSION_AND_FLOOR: Schema = { session: nullOr(isSessionRecord), floor: nullOr(isLoginKey) };

/** A copy of the fields `schema` names, in its order. */
const pick = <T extends object>(value: T, schema: Schema): T =>
  Object.fromEntries(Object.keys(schema).map((field) => [field, value[field as keyof T]])) as T;

export const toRecord = (session: SessionRecord): SessionRecord => pick(session, SESSION_RECORD);

export const toLoginKey = (key: LoginKey): LoginKey => pick(key, LOGIN_KEY);

/** The monotonic reading that matches a wall-clock time in the past; never later than now. */
const monoAt = (wallMs: number, clocks: Clocks): number => clocks.monotonicNow() - Math.max(0, clocks.now() - wallMs);

/** A frozen session of a record's fields (any others of `fields` are left out). */
const sessionOf = (
  fields: SessionRecord & Pick<Session, 'claims'>,
  receivedMono: number,
  history: readonly string[],
): Session => Object.freeze({ ...toRecord(fields), claims: fields.claims, receivedMono, history });

/** The session of a validated record (from storage or another tab); claims are decoded again, not trusted. */
export function restoreSession(record: SessionRecord, clocks: Clocks, history: readonly string[] = []): Session {
  const claims = decodeClaims(record.accessToken);
  return sessionOf({ ...record, claims: claims && Object.freeze(claims) }, monoAt(record.receivedAt, clocks), history);
}

/** A new login's session; `receivedMono` is the monotonic reading taken with `tokens.receivedAt`. */
export const startSession = (tokens: TokenSet, key: LoginKey, receivedMono: number): Session =>
  sessionOf(
    { ...tokens, stamp: key.stamp, id: key.id, seq: 0, refreshToken: tokens.refreshToken ?? null },
    receivedMono,
    [],
  );

/** The session after `previous` was refreshed with `tokens`: same login, next `seq`, refresh token kept when none came. */
export const refreshedSession = (previous: Session, tokens: TokenSet, clocks: Clocks): Session =>
  sessionOf(
    {
      ...tokens,
      stamp: previous.stamp,
      id: previous.id,
      seq: previous.seq + 1,
      refreshToken: tokens.refreshToken === undefined ? previous.refreshToken : tokens.refreshToken,
    },
    monoAt(tokens.receivedAt, clocks),
    followingHistory(previous),
  );

/** The history a later token set of `previous`'s login carries. */
export const followingHistory = (previous: Session): readonly string[] =>
  [previous.accessToken, ...previous.history].slice(0, HISTORY_LENGTH);

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

/** How long the token set lives from its receipt (negative when it arrived expired); `null` when it never expires. */
const lifetimeOf = ({ expiresAt, receivedAt }: Session): number | null =>
  expiresAt === null ? null : expiresAt - receivedAt;

/**
 * When the proactive refresh is due: `refreshMarginMs` before expiry, but never more than half the
 * lifetime, so a short-lived token is not refreshed the moment it arrives. `null` when it never expires.
 */
export function refreshDue(session: Session, refreshMarginMs: number): Due | null {
  const lifetime = lifetimeOf(session);
  if (lifetime === null) return null;
  const lifetimeMs = Math.max(0, lifetime);
  return afterReceipt(session, lifetimeMs - Math.min(refreshMarginMs, lifetimeMs / 2));
}

/** Whether the access token has lapsed. */
export const isExpired = (session: Session, clocks: Clocks): boolean => {
  const lifetime = lifetimeOf(session);
  return lifetime !== null && isReached(afterReceipt(session, lifetime), clocks);
};

/** Whether a token set has no lifetime left the moment it arrives (a server or clock gone wrong). */
export const isBornExpired = (session: Session): boolean => (lifetimeOf(session) ?? 1) <= 0;
