import { LogoutFailedError, type TokenkeeperError } from './errors';
import type { Environment } from './environment';
import type { Session } from './session';
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
}

export type Logout = (options?: { reason?: unknown }) => Promise<{ serverNotified: boolean }>;

/**
 * `logout()`: ends the session held now, here first (memory, storage, other tabs, listeners), then tells the
 * server, so a slow or failing logout endpoint never leaves this device signed in. A call while signed out
 * joins the logout still in flight (one logout per session); a session started meanwhile is ended by a call of its own.
 */
export function createLogout(host: LogoutHost): Logout {
  const { core, environment } = host;
  /** The logout still telling the server, which a call made meanwhile while signed out joins. */
  const inFlight: { result: Promise<{ serverNotified: boolean }> | null } = { result: null };

  const notifyServer = async (ended: Session): Promise<boolean> => {
    const { logoutFn } = host;
    if (!logoutFn) return false;
    try {
      await runWithTimeout(environment, host.timeoutMs, 'the logout call', (signal) =>
        logoutFn({ accessToken: ended.accessToken, refreshToken: ended.refreshToken, signal }),
      );
      return true;
    } catch (cause) {
      host.reportError(new LogoutFailedError('the server could not be told about the logout', { cause }));
      return false;
    }
  };

  const finish = async (ended: Session): Promise<{ serverNotified: boolean }> => {
    await host.persisted();
    return { serverNotified: await notifyServer(ended) };
  };

  return async (options) => {
    const reason = typeof options?.reason === 'string' && options.reason !== '' ? options.reason : 'user';
    await host.loaded;
    const { session, phase } = core.state();
    if (phase === 'destroyed') return { serverNotified: false };
    if (!session) return inFlight.result ?? { serverNotified: false };
    core.dispatch({ type: 'logout', reason, now: environment.now(), id: environment.createId() });
    const result = finish(session).finally(() => {
      if (inFlight.result === result) inFlight.result = null;
    });
    inFlight.result = result;
    return result;
  };
}
