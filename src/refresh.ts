import {
  ConfigurationError,
  HttpStatusError,
  NotAuthenticatedError,
  RefreshFailedError,
  RefreshRejectedError,
} from './errors';
import type { Environment } from './environment';
import { type Clocks, continuesFrom, holdsAny, isBornExpired, refreshedSession, type Session } from './session';
import type { Action, Core, Moment } from './state';
import { rejectOnAbort } from './timeout';
import { readTokenSet } from './token';

export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_CAP_MS = 60_000;

/**
 * Delay before retry number `failures` (1 for the first): exponential, capped, with "equal jitter" so tabs
 * and devices that failed together do not retry together. The first retry comes within 1 s, the cap is 60 s.
 */
export function backoffDelayMs(failures: number, random: number): number {
  const ceilingMs = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, failures - 1));
  return ceilingMs / 2 + (random * ceilingMs) / 2;
}

/**
 * The refresh endpoint, called for a refresh (`refreshToken`) or a restore (`null`): bounded in time, aborted
 * with `signal`; `what` names it in a time-out.
 */
export type CallServer = (refreshToken: string | null, signal: AbortSignal, what: string) => Promise<unknown>;

/** Runs `task` under the refresh lock the tabs that share a session share (at once where nothing is shared). */
export type UnderLock = (task: () => Promise<string>) => Promise<string>;

/**
 * The single-flight refresh: every caller during one refresh shares its promise, and so its one server call.
 * `current()` is the promise in flight (`null`: none); `abandon()` drops it (its login ended): its result is
 * dropped, its request aborted.
 */
export interface Refresher extends Flight {
  /** Starts a refresh, or joins the one in flight. Resolves with the new access token. */
  run(): Promise<string>;
  /** The session whose refresh token the server call out is spending; `null` when no call is out. */
  spending(): Session | null;
}

const sessionEnded = (): NotAuthenticatedError =>
  new NotAuthenticatedError('the session ended while the refresh was in flight');

/**
 * One server call at a time, for a refresh or a restore: callers during a flight share its promise, and the
 * state reads `refreshing` while it is out.
 */
export interface Flight {
  /** The promise of the flight in flight, which a caller joins; `null` when there is none. */
  current(): Promise<string> | null;
  /**
   * Starts `task`. Its `release` ends the flight before the task dispatches its outcome, so that the state it
   * leaves reads `refreshing: false` and ending the session does not abandon this flight.
   */
  start(task: (signal: AbortSignal, release: () => boolean) => Promise<string>): Promise<string>;
  /** Abandons the flight: its request is aborted, its callers get `reason()` at once, its result is dropped. */
  abandon(): void;
}

export function createFlight(dispatch: (action: Action) => void, reason: () => Error): Flight {
  /** The flight out: its promise and its controller, both `null` when there is none. */
  let promise: Promise<string> | null = null;
  let flying: AbortController | null = null;
  return {
    current: () => promise,
    start(task) {
      const controller = new AbortController();
      const release = (): boolean => {
        if (flying !== controller) return false;
        promise = flying = null;
        return true;
      };
      // Callers stop waiting the moment the flight is abandoned, even if a RefreshFn ignores its signal.
      const abandoned = rejectOnAbort(controller.signal);
      const started = Promise.race([task(controller.signal, release), abandoned]).finally(() => {
        if (release()) dispatch({ type: 'refreshSettled' });
      });
      promise = started;
      flying = controller;
      dispatch({ type: 'refreshStarted' });
      return started;
    },
    abandon() {
      const controller = flying;
      if (!controller) return;
      promise = flying = null;
      controller.abort(reason());
      dispatch({ type: 'refreshSettled' });
    },
  };
}

/** The `Retry-After` a failed refresh asked for, in milliseconds, when its cause carries one. */
const retryAfterOf = (error: unknown): number | null =>
  error instanceof HttpStatusError && error.retryAfterMs !== undefined ? error.retryAfterMs : null;

/**
 * `catchUp` runs under the lock before the server is called: it takes in what other tabs did meanwhile (storage,
 * channel), so that a tab that waited for the lock uses their refresh instead of making its own. `persisted`
 * resolves once the current session is stored (bounded in time), before the lock is released. `handOver` passes
 * on the answer of a refresh whose login this tab no longer holds (another login replaced it). `readStored` takes
 * in what a synchronous storage holds, after the answer and before it is used.
 */
export function createRefresher(
  environment: Pick<Environment, 'random'> & Clocks,
  core: Core,
  underLock: UnderLock,
  callServer: CallServer,
  catchUp: () => Promise<void>,
  persisted: () => Promise<void>,
  handOver: (next: Session) => void,
  readStored: () => Promise<void>,
): Refresher {
  const { state, dispatch } = core;
  const flight = createFlight(dispatch, sessionEnded);
  let spending: Session | null = null;

  const moment = (): Moment => ({
    wall: environment.now(),
    mono: environment.monotonicNow(),
    random: environment.random(),
  });

  /**
   * One refresh under the lock. `release` ends the flight before the outcome is dispatched, so that the
   * state it leaves reads `refreshing: false` and ending the session does not abandon this flight.
   */
  const attempt = (start: Session, signal: AbortSignal, release: () => void): Promise<string> => {
    const isStale = (): boolean => {
      const session = state().session;
      return signal.aborted || session === null || !continuesFrom(session, start);
    };
    const locked = async (): Promise<string> => {
      if (isStale()) throw sessionEnded();
      await catchUp();
      if (isStale()) throw sessionEnded();
      const current = state().session as Session;
      if (current.accessToken !== start.accessToken) {
        // Another tab refreshed while this one waited for the lock: its tokens are already here.
        release();
        dispatch({ type: 'refreshSettled' });
        return current.accessToken;
      }
      let next: Session;
      try {
        spending = current;
        const response = await callServer(current.refreshToken, signal, 'the refresh').finally(() => {
          spending = null;
        });
        next = refreshedSession(current, readTokenSet(response, environment.now()), environment);
      } catch (error) {
        if (isStale()) throw sessionEnded();
        release();
        // A relative refresh URL where there is no page (server rendering): not a failure to retry.
        if (error instanceof ConfigurationError) {
          dispatch({ type: 'refreshSettled' });
          throw error;
        }
        if (error instanceof RefreshRejectedError) {
          dispatch({ type: 'rejected', from: current });
          throw error;
        }
        const failure = new RefreshFailedError('the token refresh failed; it will be retried', { cause: error });
        dispatch({
          type: 'refreshFailed',
          from: current,
          error: failure,
          at: moment(),
          retryAfterMs: retryAfterOf(error),
        });
        throw failure;
      }
      // A logout another tab made while the request was out may be in a shared storage before its message
      // arrives: it is taken in first, so that the answer never outlives a logout that has resolved.
      await readStored();
      const { session: holder, endedTokens } = state();
      // A logout of this session that came during the request always wins: the answer is dropped.
      if (signal.aborted || holdsAny(current, endedTokens)) throw sessionEnded();
      if (holder === null || !continuesFrom(holder, current)) {
        // Another login took this tab's place while the request was out, or a logout of another login ended
        // it by order alone: the answer is the only way on for the tabs that still hold the refreshed login
        // (its refresh token is spent), so they are told; this tab takes it only where it is news.
        release();
        handOver(next);
        dispatch({ type: 'refreshSettled' });
        throw sessionEnded();
      }
      release();
      const bornExpired = isBornExpired(next)
        ? new RefreshFailedError('the refresh answered a token that had already expired; it will be retried')
        : null;
      dispatch({ type: 'refreshed', from: current, next, at: moment(), bornExpired });
      // A logout that came during the request always wins: then the answer was dropped.
      if (state().session?.accessToken !== next.accessToken) throw sessionEnded();
      await persisted();
      return next.accessToken;
    };
    return underLock(locked);
  };

  return {
    ...flight,
    spending: () => spending,
    run() {
      const joined = flight.current();
      if (joined) return joined;
      const start = state().session;
      if (!start) return Promise.reject(new NotAuthenticatedError('there is no session to refresh'));
      return flight.start((signal, release) => attempt(start, signal, release));
    },
  };
}
