import { ConfigurationError, LogoutFailedError, type TokenkeeperError } from './errors';
import type { Environment } from './environment';
import { isEndedBy, type LoginKey, type SessionRecord, tokensOf } from './session';
import type { Core } from './state';
import { runWithTimeout } from './timeout';
import type { LogoutFn } from './types';

export interface LogoutHost {
  environment: Pick<Environment, 'setTimeout' | 'clearTimeout' | 'now' | 'createId'>;
  core: Core;
  logoutFn: LogoutFn | null;
  timeoutMs: number;
  /** Resolves once the stored session has been read. */
  loaded: Promise<void>;
  /** Resolves when storage holds what the state says (bounded in time). */
  persisted(): Promise<void>;
  reportError(error: TokenkeeperError): void;
  /** The session is still being learnt (tabs asked, a restore call out): a logout ends whatever that brings. */
  pending(): boolean;
  /** Tell the server even when no token is held (the session lives in a cookie). */
  notifyWithoutSession: boolean;
  /** Settles once the open tabs have answered the query of the start (at most its 100 ms). */
  answeredAtStart: Promise<void>;
  /** Stamps a call when it is made, so that calls keep their order; `end` once it is applied. */
  beginDecision(): { stamp: number; whileLoading: boolean; end(): void };
  /** The session the storage held when it was read at start. */
  loadedSession(): SessionRecord | null;
  /** The latest stamp the storage held when it was read at start: a logout ends what it read. */
  loadedStamp(): number;
}

/** The tokens a logout tells the server of; none where the session lives in a cookie alone. */
type TokensHeld = { accessToken: string | null; refreshToken: string | null };

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
export function createLogout(host: LogoutHost): Logout {
  const { core, environment } = host;
  /** The logout still telling the server, which a call made meanwhile while signed out joins. */
  const inFlight: { result: Promise<{ serverNotified: boolean }> | null } = { result: null };

  const notifyServer = async (ended: TokensHeld): Promise<boolean> => {
    const { logoutFn } = host;
    if (!logoutFn) return false;
    try {
      await runWithTimeout(environment, host.timeoutMs, 'the logout call', (signal) =>
        logoutFn({ accessToken: ended.accessToken, refreshToken: ended.refreshToken, signal }),
      );
      return true;
    } catch (cause) {
      host.reportError(
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

  const endedUnheard = async (): Promise<TokensHeld | null> => {
    await host.answeredAtStart;
    if (unheard) unheard.told = true;
    return unheard?.tokens ?? null;
  };

  const finish = async (held: TokensHeld | null): Promise<{ serverNotified: boolean }> => {
    await host.persisted();
    const ended = held ?? (await endedUnheard()) ?? (host.notifyWithoutSession ? NO_TOKENS : null);
    return { serverNotified: ended ? await notifyServer(ended) : false };
  };

  const logout = async (options?: { reason?: unknown }): Promise<{ serverNotified: boolean }> => {
    const reason = typeof options?.reason === 'string' && options.reason !== '' ? options.reason : 'user';
    const decision = host.beginDecision();
    try {
      // Applied at once where the storage was read already: a destroy() (a page unload) right after the call
      // does not keep it from ending the session.
      if (decision.whileLoading) await host.loaded;
      const { session: held, phase } = core.state();
      if (phase === 'destroyed') return { serverNotified: false };
      // Ordered at its call (and after what the storage held then): the session it is for is the one held, or,
      // for a call made while the storage was read, the one the storage held, where it orders before the call.
      const stamp = Math.max(decision.stamp, host.loadedStamp());
      const floor = { stamp, id: environment.createId() };
      const stored = decision.whileLoading ? host.loadedSession() : null;
      const session = held && isEndedBy(held, floor) ? held : stored && isEndedBy(stored, floor) ? stored : null;
      const pending = host.pending();
      if (!session && !pending) {
        decision.end();
        return (await inFlight.result) ?? { serverNotified: false };
      }
      const tokens = session && session !== held ? tokensOf(session) : [];
      core.dispatch({ type: 'logout', reason, stamp, id: floor.id, pending, tokens });
      if (!session && core.state().floor?.id === floor.id) unheard = { id: floor.id, tokens: null, told: false };
      decision.end();
      const result = finish(session).finally(() => {
        if (inFlight.result === result) inFlight.result = null;
      });
      inFlight.result = result;
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
      unheard.tokens = { accessToken: session.accessToken, refreshToken: session.refreshToken };
      if (unheard.told) void notifyServer(unheard.tokens);
    },
    isOwn: (floor) => unheard?.id === floor.id,
  };
}
