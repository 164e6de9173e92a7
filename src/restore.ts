import { ConfigurationError, NotAuthenticatedError, RefreshFailedError, RefreshRejectedError } from './errors';
import type { Environment } from './environment';
import { nextStamp } from './session';
import { readTokenSet } from './token';
import { type CallServer, createFlight, type Refresher, type UnderLock } from './refresh';
import { type Core, loginOf } from './state';

/**
 * Asks the server for the session its cookie holds, when none is known here; one call at a time. `abandon`
 * drops the restore in flight (a login or logout here won over it): its answer is never taken.
 */
export type Restorer = Omit<Refresher, 'spending'>;

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
export function createRestorer(
  environment: Pick<Environment, 'now' | 'monotonicNow'>,
  core: Core,
  // What a refresh does: the same lock, so one tab at a time asks the server and the others get its answer
  // through the channel.
  underLock: UnderLock,
  callServer: CallServer,
  catchUp: () => Promise<void>,
  persisted: () => Promise<void>,
  reportError: (error: RefreshFailedError) => void,
): Restorer {
  const { state, dispatch } = core;
  const flight = createFlight(dispatch, () => noSession('a login or logout won over the restore'));

  /** A transient failure: reported once as an `'error'`, and what the caller gets. */
  const transient = (cause: unknown): RefreshFailedError => {
    const failure = new RefreshFailedError('restoring the session failed', { cause });
    reportError(failure);
    return failure;
  };

  const attempt = async (signal: AbortSignal): Promise<string> => {
    const started = state();
    const stamp = nextStamp(started.clock, environment.now());
    dispatch({ type: 'called', stamp });
    const locked = async (): Promise<string> => {
      const known = (): string | null => state().session?.accessToken ?? null;
      if (signal.aborted) throw signal.reason;
      await catchUp();
      // Another tab signed in (or restored) while this one waited: its session is here, no call is made.
      const caughtUp = known();
      if (caughtUp !== null) return caughtUp;
      if (signal.aborted) throw signal.reason;
      const receivedMono = environment.monotonicNow();
      const floorAtCall = state().floor;
      let response: unknown;
      try {
        response = await callServer(null, signal, 'the restore');
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        if (error instanceof RefreshRejectedError) throw noSession('the server holds no session to restore');
        if (error instanceof ConfigurationError) throw error;
        throw transient(error);
      }
      if (signal.aborted) throw signal.reason;
      // A restore is the server's word only while nothing else is known: a login or logout heard while its
      // request was out (from another tab, whatever its clock said) wins, and the answer is dropped.
      const afterCall = state();
      if (afterCall.session) return afterCall.session.accessToken;
      if (afterCall.floor !== floorAtCall) throw noSession('a logout won over the restore');
      let tokens: ReturnType<typeof readTokenSet>;
      try {
        tokens = readTokenSet(response, environment.now());
      } catch (error) {
        throw transient(error);
      }
      const login = loginOf(state(), tokens, receivedMono, stamp, 'restore');
      if (!login) throw noSession('the restored session was logged out meanwhile');
      dispatch(login);
      if (known() !== tokens.accessToken) throw noSession('a login or logout won over the restore');
      await persisted();
      return tokens.accessToken;
    };
    return underLock(locked);
  };

  return { ...flight, run: () => flight.current() ?? flight.start(attempt) };
}
