import { isSameLogin } from './session';
import type { CoreState } from './state';

/**
 * The 401 policy, once, for `auth.fetch` and the ky hooks: which token, if any, a request answered 401 is
 * retried with. Reached by the ky entry point through the manager's `UNAUTHORIZED_POLICY` property.
 */
export type UnauthorizedPolicy = (rejectedToken: string, responseUrl?: string) => Promise<string | null>;

/** The property of a manager that holds its 401 policy; `Symbol.for`, so every copy of the package finds it. */
export const UNAUTHORIZED_POLICY: unique symbol = Symbol.for('tokenkeeper.unauthorized') as never;

/**
 * After `rejectedToken` was answered 401:
 * - an answer from a server the token may not go to (reached through a redirect) starts nothing;
 * - a newer token of the same login (another caller refreshed meanwhile) is retried with at once;
 * - a token of another login, or none (signed out), is never used: the 401 goes to the caller;
 * - while retries back off after failures, the 401 goes to the caller rather than another refresh call;
 * - else one refresh, shared with every other caller, and its token, if the login is still the same.
 */
export function createUnauthorizedPolicy(
  state: () => CoreState,
  /** The shared refresh (joins one in flight). */
  refresh: () => Promise<string>,
  isAllowedOrigin: (url: string) => boolean,
): UnauthorizedPolicy {
  return async (rejectedToken, responseUrl) => {
    if (responseUrl && !isAllowedOrigin(responseUrl)) return null;
    const { session, backoff, refreshing } = state();
    if (!session) return null;
    if (session.accessToken !== rejectedToken) {
      return session.history.includes(rejectedToken) ? session.accessToken : null;
    }
    if (backoff && !refreshing) return null;
    try {
      const fresh = await refresh();
      const after = state().session;
      return after && isSameLogin(after, session) && after.accessToken === fresh ? fresh : null;
    } catch {
      return null;
    }
  };
}
