import { ConfigurationError, LogoutFailedError, type TokenkeeperError } from './errors';
import type { Environment } from './environment';
import { isEndedBy, type LoginKey, MAX_STAMP, type SessionRecord, tokensOf } from './session';
import type { Core } from './state';
import { runWithTimeout } from './timeout';
import type { LogoutFn } from './types';

/** The tokens a logout tells the server of; none where the session lives in a cookie alone. */
type TokensHeld = { accessToken: string | null; refreshToken: string | null };

/** A `setTokens()` or `logout()` call, stamped when it was made; `whileLoading`: made while the storage was read. */
export interface Decision {
  readonly stamp: number;
  readonly whileLoading: boolean;
  end(): void;
}

/** A session that lives in the server's cookie alone. */
const NO_TOKENS: TokensHeld = { accessToken: null, refreshToken: null };

export interface Logout {
  logout(options?: { reason?: unknown }): Promise<{ serverNotified: boolean }>;
  /**
   * A session another tab holds (or answered with): where a logout here, made before this tab had heard of it,
   * ended it, the server is told about it, with that logout or, if it finished already, on its own.
   */
  noteEnded(session: SessionRecord): void;
  /** Whether `floor` is the one a logout here made while no session was known yet. */
  isOwn(floor: LoginKey): boolean;
}

/**
 * `logout()`: ends the session held now, here first (memory, storage, other tabs, listeners), then tells the
 * server, so a slow or failing logout endpoint never leaves this device signed in. A call while signed out
 * joins the logout still in flight (one logout per session); a session started meanwhile is ended by a call of its own.
 */
export function createLogout(
  environment: Pick<Environment, 'setTimeout' | 'clearTimeout' | 'createId'>,
  core: Core,
  logoutFn: LogoutFn | null,
  timeoutMs: number,
  /** Resolves once the stored session has been read. */
  loaded: Promise<void>,
  /** Resolves when storage holds what the state says (bounded in time). */
  persisted: () => Promise<void>,
  reportError: (error: TokenkeeperError) => void,
  /** The session is still being learnt (tabs asked, a restore call out): a logout ends whatever that brings. */
  pending: () => boolean,
  /** Tell the server even when no token is held (the session lives in a cookie). */
  notifyWithoutSession: boolean,
  /** Settles once the open tabs have answered the query of the start (at most its 100 ms). */
  answeredAtStart: Promise<void>,
  /** Stamps a call when it is made, so that calls keep their order; `end` once it is applied. */
  beginDecision: () => Decision,
  /** The session a synchronous storage holds now (another tab's, its message still on the way), or `null`. */
  storedNow: () => SessionRecord | null,
  /** Settles when the `setTokens()` calls made before now are applied; `null` when there are none. */
  earlierLogins: () => Promise<unknown> | null,
): Logout {
  /** The logout still telling the server, which a call made meanwhile while signed out joins. */
  let inFlight: Promise<{ serverNotified: boolean }> | null = null;

  const notifyServer = async (ended: TokensHeld): Promise<boolean> => {
    if (!logoutFn) return false;
    try {
      await runWithTimeout(environment, timeoutMs, 'the logout call', (signal) =>
        logoutFn({ accessToken: ended.accessToken, refreshToken: ended.refreshToken, signal }),
      );
      return true;
    } catch (cause) {
      reportError(
        cause instanceof ConfigurationError
          ? cause
          : new LogoutFailedError('the server could not be told about the logout', { cause }),
      );
      return false;
    }
  };

  /**
   * A logout here while the session was still being learnt (the tabs asked): its floor's id, the tokens of the
   * session the tabs then answered with, which that logout ended, and whether the logout already told the server
   * what it knew (an answer that comes later is told on its own).
   */
  let unheard: { id: string; tokens: TokensHeld | null; told: boolean } | null = null;

  const finish = async (held: TokensHeld | null): Promise<{ serverNotified: boolean }> => {
    await persisted();
    let ended = held;
    if (!ended) {
      // No session held at the call: the one the tabs answered with, which this logout ended, once they did.
      await answeredAtStart;
      if (unheard) unheard.told = true;
      ended = unheard?.tokens ?? (notifyWithoutSession ? NO_TOKENS : null);
    }
    return { serverNotified: ended ? await notifyServer(ended) : false };
  };

  const logout = async (options?: { reason?: unknown }): Promise<{ serverNotified: boolean }> => {
    const reason = typeof options?.reason === 'string' && options.reason !== '' ? options.reason : 'user';
    // A setTokens() called before this is applied first: its login is one this logout ends (and tells the server of).
    const earlier = earlierLogins();
    const decision = beginDecision();
    try {
      // Applied at once where the storage was read already and no login is pending: a destroy() (a page unload)
      // right after the call does not keep it from ending the session.
      if (decision.whileLoading) await loaded;
      if (earlier) await earlier;
      const { session: held, phase, loaded: read } = core.state();
      if (phase === 'destroyed') return { serverNotified: false };
      // Signed out here, while the storage already holds another tab's login: read at the call, it orders before
      // the call, so this logout ends it (and tells the server), even before that tab's message arrives.
      const seen = held || decision.whileLoading ? null : storedNow();
      // Ordered at its call (and after what the storage held then): the session it is for is the one held, or,
      // for a call made while the storage was read, the one the storage held, where it orders before the call.
      const stamp = Math.max(decision.stamp, read.stamp, seen ? Math.min(MAX_STAMP, seen.stamp + 1) : 0);
      const floor = { stamp, id: environment.createId() };
      const stored = decision.whileLoading ? read.session : seen;
      const session = held && isEndedBy(held, floor) ? held : stored && isEndedBy(stored, floor) ? stored : null;
      const pendingNow = pending();
      if (!session && !pendingNow) {
        decision.end();
        return (await inFlight) ?? { serverNotified: false };
      }
      const tokens = session && session !== held ? tokensOf(session) : [];
      core.dispatch({ type: 'logout', reason, stamp, id: floor.id, pending: pendingNow, tokens });
      if (!session && core.state().floor?.id === floor.id) unheard = { id: floor.id, tokens: null, told: false };
      decision.end();
      const result = finish(session).finally(() => {
        if (inFlight === result) inFlight = null;
      });
      inFlight = result;
      return await result;
    } finally {
      decision.end();
    }
  };

  return {
    logout,
    noteEnded(session) {
      const floor = core.state().floor;
      if (!unheard || unheard.tokens || floor?.id !== unheard.id || !isEndedBy(session, floor)) return;
      // notifyServer() sends the two tokens alone.
      unheard.tokens = session;
      if (unheard.told) void notifyServer(unheard.tokens);
    },
    isOwn: (floor) => unheard?.id === floor.id,
  };
}
