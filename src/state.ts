/**
 * The one writer of the session. `reduce(state, action)` is pure: it computes the next state from the
 * current one and an action. The manager turns every transition into its effects (storage, other tabs,
 * schedule, events, the snapshot) in one place; nothing else changes the session.
 */
import type { RefreshFailedError } from './errors';
import { backoffDelayMs } from './refresh';
import {
  compareLogins,
  compareSessions,
  continuesFrom,
  type Due,
  followingHistory,
  holdsAny,
  isEndedBy,
  isLoggedOut,
  isSameLogin,
  type LoginKey,
  loginIdOf,
  type Session,
  startSession,
  toLoginKey,
  tokensOf,
} from './session';
import type { TokenSet } from './token';
import type { AuthState } from './types';

/** Set while retries back off after transient failures. */
export interface Backoff {
  /** Failed attempts in a row. */
  readonly failures: number;
  readonly lastFailure: RefreshFailedError;
  readonly retryAt: Due;
}

export interface CoreState {
  /**
   * `'loading'` until the stored session has been read; `'asking'` while the open tabs are asked for their
   * session or a `restore` call is out; both are the public status `'loading'`. A login, a logout or a session
   * heard from another tab ends `'asking'` at once.
   */
  readonly phase: 'loading' | 'asking' | 'ready' | 'destroyed';
  /** The stored session could not be read at start: what storage holds is not known here. */
  readonly storageUnknown: boolean;
  readonly session: Session | null;
  /** The latest logout known: every login ordered at or before it is over, here and in storage. */
  readonly floor: LoginKey | null;
  /** The hybrid logical clock: the latest stamp seen or made. */
  readonly clock: number;
  readonly refreshing: boolean;
  readonly backoff: Backoff | null;
  /**
   * Tokens of sessions that ended (the latest few): a login of the same tokens, made in another tab before it
   * heard of the logout, ends too, and never comes back through a message.
   */
  readonly endedTokens: readonly string[];
  /**
   * The latest `seq` this tab saw of each recent login (newest first): a token set of a login older than one
   * already seen holds a refresh token that was rotated away, and is never taken again, whoever sends it.
   */
  readonly seqs: readonly (readonly [id: string, seq: number])[];
  /**
   * What the storage held when it was read at start: the session, and the latest stamp this tab did not know
   * then (-1: none). A login or logout heard while the storage was read is not in it: it came after a
   * `setTokens()` or `logout()` called then.
   */
  readonly loaded: { readonly session: Session | null; readonly stamp: number };
  /** The last login or logout made here while the tabs were asked at start: the sessions they answered order before it. */
  readonly decidedWhileAsking: 'login' | 'logout' | null;
  /**
   * `setTokens()` and `logout()` calls made while the storage was read and not applied yet: the status waits
   * for them (what the storage held is not shown meanwhile).
   */
  readonly callsWaiting: number;
  /** The start is through: the tabs answered (or could not be waited for), and a restore call settled. */
  readonly started: boolean;
}

/** Readings of both clocks taken together, and a jitter sample, for actions that schedule. */
export interface Moment {
  readonly wall: number;
  readonly mono: number;
  readonly random: number;
}

export type Action =
  /**
   * The stored session was read (or could not be: `unknown`). `asking`: the status is not known yet, the open
   * tabs or the server are asked next.
   */
  | { type: 'loaded'; session: Session | null; floor: LoginKey | null; unknown: boolean; asking: boolean }
  /** The open tabs answered (or the wait ended), and a `restore` call settled: the status is known. */
  | { type: 'settled' }
  /** A `setTokens()` or `logout()` counted in `callsWaiting` was applied, or gave up. */
  | { type: 'decided' }
  /**
   * `setTokens()` or `logout()` was called: it takes `stamp`, and the clock moves to it, so that calls keep their
   * order. One called while the storage is read is counted in `callsWaiting`.
   */
  | { type: 'called'; stamp: number }
  /**
   * `setTokens()` here, once the storage was read; `id` names the new login, `receivedMono` goes with
   * `tokens.receivedAt`, and `stamp` orders it: taken when it was called, later than what storage held.
   */
  | {
      type: 'login';
      tokens: TokenSet;
      id: string;
      receivedMono: number;
      stamp: number;
      /** `'restore'`: the server's cookie session, asked for because none was known. */
      source: 'local' | 'restore';
    }
  /**
   * A session seen in another tab's message (`'channel'`) or in shared storage (`'storage'`): taken when it
   * is news. What comes over the channel is passed on; what storage shows every tab sees for itself.
   */
  | { type: 'adopt'; session: Session; via: 'channel' | 'storage' }
  | { type: 'refreshStarted' }
  /** The refresh of `from` ended without an outcome of its own (abandoned, or another tab's tokens used). */
  | { type: 'refreshSettled' }
  /** The refresh of `from` answered `next`; `bornExpired` when `next` has no lifetime left (retry with backoff). */
  | { type: 'refreshed'; from: Session; next: Session; at: Moment; bornExpired: RefreshFailedError | null }
  | { type: 'refreshFailed'; from: Session; error: RefreshFailedError; at: Moment; retryAfterMs: number | null }
  /**
   * `logout()` here (`reason`). `pending`: the session is still being learnt (the tabs asked, a `restore` call
   * out), so the logout ends whatever that brings, even while no session is held.
   */
  | {
      type: 'logout';
      reason: string;
      stamp: number;
      id: string;
      pending: boolean;
      /** Tokens of a session the logout was for that this tab no longer holds (what storage held at the call). */
      tokens: readonly string[];
    }
  /**
   * A login or logout here, made while the tabs were asked, is ordered after what they answered: its stamp
   * moves to `stamp` (the session held, or the latest logout).
   */
  | { type: 'restamp'; stamp: number }
  | { type: 'rejected'; from: Session }
  /** Another tab ended every login up to `floor`, and any session holding `tokens`. */
  | { type: 'ended'; floor: LoginKey; tokens: readonly string[] }
  | { type: 'destroyed' };

export const INITIAL_STATE: CoreState = Object.freeze({
  phase: 'loading',
  storageUnknown: false,
  session: null,
  floor: null,
  clock: 0,
  refreshing: false,
  backoff: null,
  endedTokens: [],
  seqs: [],
  loaded: { session: null, stamp: -1 },
  decidedWhileAsking: null,
  callsWaiting: 0,
  started: false,
});

const SEQS_KEPT = 16;

/** Whether `session` is an older token set of a login this tab has seen further along. */
const isSuperseded = (state: CoreState, session: Session): boolean =>
  state.seqs.some(([id, seq]) => id === session.id && seq > session.seq);

const ENDED_TOKENS_KEPT = 16;

/** Retry-After is honoured up to an hour; a longer one is more likely a mistake than a plan. */
const RETRY_AFTER_CAP_MS = 3_600_000;

function nextBackoff(
  previous: Backoff | null,
  error: RefreshFailedError,
  at: Moment,
  retryAfterMs: number | null,
): Backoff {
  const failures = (previous?.failures ?? 0) + 1;
  const delayMs = Math.max(backoffDelayMs(failures, at.random), Math.min(retryAfterMs ?? 0, RETRY_AFTER_CAP_MS));
  return { failures, lastFailure: error, retryAt: { wall: at.wall + delayMs, mono: at.mono + delayMs } };
}

const laterFloor = (a: LoginKey | null, b: LoginKey): LoginKey => (a && compareLogins(a, b) >= 0 ? a : b);

/**
 * Ends every login up to `floor`, and the session if it holds one of `tokens`: the tokens the logout was for.
 * Only those join `endedTokens`; a session ended by order alone (a login made in another tab at the moment of
 * the logout) may go on in a tab that holds it at a later stamp.
 */
function endUpTo(state: CoreState, floor: LoginKey, tokens: readonly string[] = []): CoreState {
  const nextFloor = laterFloor(state.floor, floor);
  const clock = Math.max(state.clock, floor.stamp);
  const { session } = state;
  const ending = session && (isEndedBy(session, nextFloor) || holdsAny(session, tokens));
  // The token sets a session's refreshes replaced are spent whatever ended it: their refresh tokens were
  // rotated, and a late setTokens() or message with one of them would send a spent refresh token again.
  const endedTokens = [...tokens, ...(ending ? session.history : []), ...state.endedTokens]
    .filter((token, index, all) => all.indexOf(token) === index)
    .slice(0, ENDED_TOKENS_KEPT);
  if (ending) {
    return { ...state, session: null, floor: nextFloor, clock, refreshing: false, backoff: null, endedTokens };
  }
  if (nextFloor === state.floor && clock === state.clock && tokens.length === 0) return state;
  return { ...state, floor: nextFloor, clock, endedTokens };
}

/** Takes `incoming` when it is news: a later token set of this login, or a later login not ended here. */
function adopt(state: CoreState, incoming: Session): CoreState {
  const clock = Math.max(state.clock, incoming.stamp);
  const current = state.session;
  // A session that holds tokens a logout was for is over in every tab, whatever its stamp: a tab that set the
  // same tokens later still holds the login that logout ended (and the server revoked).
  if (
    isLoggedOut(incoming, state.floor, state.endedTokens) ||
    isSuperseded(state, incoming) ||
    (current && compareSessions(incoming, current) <= 0)
  ) {
    return clock === state.clock ? state : { ...state, clock };
  }
  const sameLogin = current !== null && isSameLogin(current, incoming);
  // One login may carry two stamps (two tabs set the same tokens): it keeps the later, so it only moves forward.
  const session = sameLogin
    ? { ...incoming, stamp: Math.max(current.stamp, incoming.stamp), history: followingHistory(current) }
    : incoming;
  // A later login replaces this one: a refresh in flight for the old one is dropped (see effects).
  return { ...state, session, clock, backoff: null, refreshing: sameLogin && state.refreshing };
}

/** The status is known once the start is through and no call made while the storage was read is pending. */
const knownIfIdle = (state: CoreState): CoreState =>
  state.phase === 'asking' && state.started && state.callsWaiting === 0 ? { ...state, phase: 'ready' } : state;

export function reduce(state: CoreState, action: Action): CoreState {
  const next = reduceAction(state, action);
  const session = next.session;
  if (!session || session === state.session || isSuperseded(next, session)) return next;
  const known = next.seqs.find(([id]) => id === session.id);
  if (known && known[1] === session.seq) return next;
  const seqs = [[session.id, session.seq] as const, ...next.seqs.filter(([id]) => id !== session.id)];
  return { ...next, seqs: seqs.slice(0, SEQS_KEPT) };
}

function reduceAction(state: CoreState, action: Action): CoreState {
  if (state.phase === 'destroyed') return state;
  switch (action.type) {
    case 'loaded': {
      if (state.phase !== 'loading') return state;
      // A setTokens() or logout() already called decides the status: what storage held is not shown meanwhile.
      const phase = action.asking || state.callsWaiting > 0 ? ('asking' as const) : ('ready' as const);
      const { session: read, floor: readFloor } = action;
      const newSession = read && !(state.session && compareSessions(state.session, read) >= 0);
      const newFloor = readFloor && !(state.floor && compareLogins(state.floor, readFloor) >= 0);
      const stamp = Math.max(newSession ? read.stamp : -1, newFloor ? readFloor.stamp : -1);
      const loaded = { ...state, phase, storageUnknown: action.unknown, loaded: { session: read, stamp } };
      const withFloor = action.floor ? endUpTo(loaded, action.floor) : loaded;
      return action.session ? adopt(withFloor, action.session) : withFloor;
    }
    case 'login': {
      // A login is ordered by when it was called: another tab's login or logout made after this call, and heard
      // of meanwhile (the storage read of setTokens() may take a while), wins over it.
      const { stamp } = action;
      const session = startSession(action.tokens, { stamp, id: action.id }, action.receivedMono);
      const clock = Math.max(state.clock, stamp);
      // The same tokens again (another tab set them too, or this one did before) are the login already held.
      const overtaken =
        isEndedBy(session, state.floor) ||
        isSuperseded(state, session) ||
        (state.session !== null &&
          (isSameLogin(state.session, session) || compareSessions(state.session, session) > 0));
      if (overtaken) return clock === state.clock ? state : { ...state, clock };
      const decidedWhileAsking =
        state.phase === 'asking' && action.source === 'local' ? 'login' : state.decidedWhileAsking;
      return { ...state, phase: 'ready', session, clock, refreshing: false, backoff: null, decidedWhileAsking };
    }
    case 'adopt': {
      const next = adopt(state, action.session);
      // A session another tab holds answers the question: the status is known.
      return next.session !== state.session && next.phase === 'asking' ? { ...next, phase: 'ready' } : next;
    }
    case 'settled':
      return knownIfIdle({ ...state, started: true });
    case 'decided':
      return knownIfIdle({ ...state, callsWaiting: Math.max(0, state.callsWaiting - 1) });
    case 'called': {
      const waiting = state.phase === 'loading' ? state.callsWaiting + 1 : state.callsWaiting;
      if (action.stamp <= state.clock && waiting === state.callsWaiting) return state;
      return { ...state, clock: Math.max(state.clock, action.stamp), callsWaiting: waiting };
    }
    case 'refreshStarted':
      return state.refreshing ? state : { ...state, refreshing: true };
    case 'refreshSettled':
      return state.refreshing ? { ...state, refreshing: false } : state;
    case 'refreshed': {
      const current = state.session;
      // Dropped when the session moved on meanwhile (a logout, another login, a later token set), unless the
      // session now held has the very tokens that were refreshed: their refresh token is spent, so the answer
      // is the only way on.
      if (
        current === null ||
        (current !== action.from && !(current.seq === action.from.seq && continuesFrom(current, action.from)))
      ) {
        return { ...state, refreshing: false };
      }
      const next = current === action.from ? action.next : { ...action.next, ...toLoginKey(current) };
      const backoff = action.bornExpired ? nextBackoff(state.backoff, action.bornExpired, action.at, null) : null;
      return { ...state, session: next, refreshing: false, backoff };
    }
    case 'refreshFailed': {
      if (state.session !== action.from) return { ...state, refreshing: false };
      return {
        ...state,
        refreshing: false,
        backoff: nextBackoff(state.backoff, action.error, action.at, action.retryAfterMs),
      };
    }
    case 'logout': {
      // Stamped when it was called: it ends the sessions ordered before the call, not a login another tab made
      // after it (heard here while this tab waited for its storage). Without a session, the floor is what ends
      // the one still being learnt.
      const floor = { stamp: action.stamp, id: action.id };
      const held = state.session && isEndedBy(state.session, floor) ? tokensOf(state.session) : [];
      if (held.length === 0 && action.tokens.length === 0 && !action.pending) return state;
      const ended = endUpTo(state, floor, [...held, ...action.tokens]);
      return ended.phase === 'asking' ? { ...ended, phase: 'ready', decidedWhileAsking: 'logout' } : ended;
    }
    case 'restamp': {
      const clock = Math.max(state.clock, action.stamp);
      if (state.session && action.stamp > state.session.stamp) {
        return { ...state, session: { ...state.session, stamp: action.stamp }, clock };
      }
      if (!state.session && state.floor && action.stamp > state.floor.stamp) {
        return { ...state, floor: { ...state.floor, stamp: action.stamp }, clock };
      }
      return state;
    }
    case 'rejected': {
      const current = state.session;
      if (current === null || (current !== action.from && !continuesFrom(current, action.from))) return state;
      return endUpTo(state, laterFloor(toLoginKey(action.from), toLoginKey(current)), [
        ...tokensOf(action.from),
        ...tokensOf(current),
      ]);
    }
    case 'ended':
      return endUpTo(state, action.floor, action.tokens);
    case 'destroyed':
      return { ...state, phase: 'destroyed', session: null, refreshing: false, backoff: null };
  }
}

/**
 * The login of `tokens` (`setTokens()` here, or a restore), or `null` where they belong to a session that ended:
 * tokens a logout was for never sign in again.
 */
export function loginOf(
  state: CoreState,
  tokens: TokenSet,
  receivedMono: number,
  stamp: number,
  source: 'local' | 'restore',
): Action | null {
  // A token set without a refresh token holds its access token alone (`tokensOf` of `undefined` matches none).
  if (holdsAny(tokens as Pick<Session, 'accessToken' | 'refreshToken'>, state.endedTokens)) return null;
  return { type: 'login', tokens, id: loginIdOf(tokens.accessToken, tokens.refreshToken), receivedMono, stamp, source };
}

/** The public snapshot of a core state: its session only once the status is known. */
export function toAuthState({ phase, session, refreshing }: CoreState): AuthState {
  const known = phase === 'ready' || phase === 'destroyed';
  const held = known ? session : null;
  // One object for every status; the union's invariants (a token exactly when authenticated) hold by `held`.
  return {
    status: held ? 'authenticated' : known ? 'unauthenticated' : 'loading',
    accessToken: held?.accessToken ?? null,
    expiresAt: held?.expiresAt ?? null,
    claims: (held?.claims ?? null) as Record<string, unknown> | null,
    refreshing,
  } as AuthState;
}

/** Snapshots are made by `toAuthState` alone, so they have the same fields. */
export const sameAuthState = (a: AuthState, b: AuthState): boolean =>
  (Object.keys(a) as (keyof AuthState)[]).every((key) => a[key] === b[key]);

/** Holds the core state; `dispatch` is the only way to change it, and every change is passed to `onTransition`. */
export interface Core {
  state(): CoreState;
  dispatch(action: Action): void;
}

export function createCore(onTransition: (next: CoreState, previous: CoreState, action: Action) => void): Core {
  let current = INITIAL_STATE;
  return {
    state: () => current,
    dispatch(action) {
      const previous = current;
      const next = reduce(previous, action);
      if (next === previous) return;
      current = next;
      onTransition(next, previous, action);
    },
  };
}
