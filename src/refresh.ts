import { NotAuthenticatedError, RefreshFailedError, RefreshRejectedError } from './errors';
import type { Environment } from './environment';
import type { Lock } from './lock';
import { runWithTimeout } from './timeout';
import type { Session } from './token';
import type { RefreshFn, TokenResponse } from './types';

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

/** What the refresher needs from the manager. */
export interface RefresherHost {
  environment: Pick<Environment, 'setTimeout' | 'clearTimeout'>;
  lock: Lock;
  lockName: string;
  refreshFn: RefreshFn;
  timeoutMs: number;
  /** The session now and its generation: a generation that changed means the session ended or was replaced. */
  current(): { session: Session | null; generation: number };
  /** Turns a response into a session, throwing `InvalidTokenError` for a bad one. */
  createSession(response: TokenResponse, previous: Session): Session;
  /** A refresh started; the manager publishes `refreshing: true`. */
  onStart(): void;
  /**
   * Runs under the lock before the server is called: takes in what other tabs did meanwhile (storage,
   * channel), so that a tab that waited for the lock uses their refresh instead of making its own.
   */
  beforeRefresh(): Promise<void>;
  /**
   * The outcome callbacks run after the flight has ended; each publishes the state it leaves.
   * `onSuccess` resolves once the session is stored and announced, before the lock is released.
   */
  onSuccess(session: Session): Promise<void>;
  onRejected(error: RefreshRejectedError): void;
  onFailed(error: RefreshFailedError): void;
  /** The flight ended without an outcome callback (it was abandoned). */
  onSettled(): void;
}

/** The single-flight refresh: every caller during one refresh shares its promise, and so its one server call. */
export interface Refresher {
  /** Starts a refresh, or joins the one in flight. Resolves with the new access token. */
  run(): Promise<string>;
  /** Whether a refresh is in flight. */
  readonly inFlight: boolean;
  /** Abandons the refresh in flight (the session ended): its result will be dropped, its request aborted. */
  abandon(): void;
}

const sessionEnded = (): NotAuthenticatedError =>
  new NotAuthenticatedError('the session ended while the refresh was in flight');

export function createRefresher(host: RefresherHost): Refresher {
  let flight: { promise: Promise<string>; controller: AbortController } | null = null;

  /**
   * One refresh under the lock. `release` ends the flight before the manager hears the outcome, so that
   * the state it then publishes reads `refreshing: false` and ending the session does not abandon this flight.
   */
  const attempt = async (
    start: { session: Session; generation: number },
    signal: AbortSignal,
    release: () => void,
  ): Promise<string> => {
    const isStale = (): boolean => signal.aborted || host.current().generation !== start.generation;
    return host.lock(host.lockName, async () => {
      if (isStale()) throw sessionEnded();
      await host.beforeRefresh();
      if (isStale()) throw sessionEnded();
      const current = host.current().session;
      if (current && current.accessToken !== start.session.accessToken) {
        // Another tab refreshed while this one waited for the lock: its tokens are already here.
        release();
        host.onSettled();
        return current.accessToken;
      }
      let next: Session;
      try {
        const response = await runWithTimeout(
          host.environment,
          host.timeoutMs,
          'the refresh',
          (timed) => host.refreshFn({ refreshToken: start.session.refreshToken, signal: timed }),
          signal,
        );
        next = host.createSession(response, start.session);
      } catch (error) {
        if (isStale()) throw sessionEnded();
        release();
        if (error instanceof RefreshRejectedError) {
          host.onRejected(error);
          throw error;
        }
        const failure = new RefreshFailedError('the token refresh failed; it will be retried', { cause: error });
        host.onFailed(failure);
        throw failure;
      }
      // Checked again right before the write: a logout that came during the request always wins.
      if (isStale()) throw sessionEnded();
      release();
      await host.onSuccess(next);
      return next.accessToken;
    });
  };

  return {
    run() {
      if (flight) return flight.promise;
      const { session, generation } = host.current();
      if (!session) return Promise.reject(new NotAuthenticatedError('there is no session to refresh'));
      const controller = new AbortController();
      const release = (): boolean => {
        if (flight?.controller !== controller) return false;
        flight = null;
        return true;
      };
      // Callers stop waiting the moment the refresh is abandoned, even if a RefreshFn ignores its signal.
      const abandoned = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      });
      const promise = Promise.race([attempt({ session, generation }, controller.signal, release), abandoned]).finally(
        () => {
          if (release()) host.onSettled();
        },
      );
      flight = { promise, controller };
      host.onStart();
      return promise;
    },
    get inFlight() {
      return flight !== null;
    },
    abandon() {
      if (!flight) return;
      const { controller } = flight;
      flight = null;
      controller.abort(sessionEnded());
      host.onSettled();
    },
  };
}
