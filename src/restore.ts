import { ConfigurationError, NotAuthenticatedError, RefreshFailedError, RefreshRejectedError } from './errors';
import type { Environment } from './environment';
import { holdsAny, loginIdOf, nextStamp } from './session';
import { runWithTimeout } from './timeout';
import { readTokenSet } from './token';
import { createFlight, type Refresher, type RefresherHost } from './refresh';

/**
 * What a restore needs from the manager: what a refresh does (the same lock, so one tab at a time asks the
 * server and the others get its answer through the channel), and where a transient failure is reported.
 */
export interface RestorerHost
  extends Pick<
    RefresherHost,
    'lock' | 'lockName' | 'refreshFn' | 'timeoutMs' | 'state' | 'dispatch' | 'catchUp' | 'persisted'
  > {
  environment: Pick<Environment, 'setTimeout' | 'clearTimeout' | 'now' | 'monotonicNow'>;
  reportError(error: RefreshFailedError): void;
}

/**
 * Asks the server for the session its cookie holds, when none is known here; one call at a time. `abandon`
 * drops the restore in flight (a login or logout here won over it): its answer is never taken.
 */
export type Restorer = Refresher;

const noSession = (message: string): NotAuthenticatedError => new NotAuthenticatedError(message);

/**
 * `restore`: the refresh token lives in an HttpOnly cookie, so a page that holds no session asks the refresh
 * endpoint, without a refresh token, whether the cookie still carries one.
 *
 * - The login it makes is stamped when the restore started: a login or logout made meanwhile (here or in
 *   another tab) orders after it and wins.
 * - 400/401 is the server's "no session": `NotAuthenticatedError`, and no event. A transient failure is one
 *   `'error'` and a `RefreshFailedError`; nothing retries it in the background.
 */
export function createRestorer(host: RestorerHost): Restorer {
  const { environment } = host;
  const flight = createFlight(host.dispatch, () => noSession('a login or logout won over the restore'));

  /** A transient failure: reported once as an `'error'`, and what the caller gets. */
  const transient = (cause: unknown): RefreshFailedError => {
    const failure = new RefreshFailedError('restoring the session failed', { cause });
    host.reportError(failure);
    return failure;
  };

  const attempt = async (signal: AbortSignal): Promise<string> => {
    const started = host.state();
    const stamp = nextStamp(started.clock, environment.now());
    host.dispatch({ type: 'called', stamp });
    const underLock = async (): Promise<string> => {
      const known = (): string | null => host.state().session?.accessToken ?? null;
      if (signal.aborted) throw signal.reason;
      await host.catchUp();
      // Another tab signed in (or restored) while this one waited: its session is here, no call is made.
      const caughtUp = known();
      if (caughtUp !== null) return caughtUp;
      if (signal.aborted) throw signal.reason;
      const receivedMono = environment.monotonicNow();
      const floorAtCall = host.state().floor;
      let response: unknown;
      try {
        response = await runWithTimeout(
          environment,
          host.timeoutMs,
          'the restore',
          (timed) => host.refreshFn({ refreshToken: null, signal: timed }),
          signal,
        );
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof RefreshRejectedError) throw noSession('the server holds no session to restore');
        if (error instanceof ConfigurationError) throw error;
        throw transient(error);
      }
      if (signal.aborted) throw signal.reason;
      // A restore is the server's word only while nothing else is known: a login or logout heard while its
      // request was out (from another tab, whatever its clock said) wins, and the answer is dropped.
      const afterCall = host.state();
      if (afterCall.session) return afterCall.session.accessToken;
      if (afterCall.floor !== floorAtCall) throw noSession('a logout won over the restore');
      let tokens: ReturnType<typeof readTokenSet>;
      try {
        tokens = readTokenSet(response, environment.now());
      } catch (error) {
        throw transient(error);
      }
      if (
        holdsAny(
          { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken ?? null },
          host.state().endedTokens,
        )
      ) {
        throw noSession('the restored session was logged out meanwhile');
      }
      host.dispatch({
        type: 'login',
        tokens,
        id: loginIdOf(tokens.accessToken, tokens.refreshToken ?? null),
        receivedMono,
        stamp,
        source: 'restore',
      });
      if (known() !== tokens.accessToken) throw noSession('a login or logout won over the restore');
      await host.persisted();
      return tokens.accessToken;
    };
    return host.lock ? host.lock(host.lockName, underLock) : underLock();
  };

  return {
    run: () => flight.current() ?? flight.start(attempt),
    get inFlight() {
      return flight.current() !== null;
    },
    abandon: flight.abandon,
  };
}
