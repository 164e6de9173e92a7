/**
 * React binding: `useAuthState(auth)`, a few lines of `useSyncExternalStore` over the manager's
 * `subscribe` and `getState`.
 */
import { useSyncExternalStore } from 'react';
import type { AuthState, TokenManager } from 'tokenkeeper';

/** What the server renders, and what hydration starts from: nobody is signed in on the server. */
const SERVER_SNAPSHOT: AuthState = Object.freeze({
  status: 'unauthenticated',
  accessToken: null,
  expiresAt: null,
  claims: null,
  refreshing: false,
});

const getServerSnapshot = (): AuthState => SERVER_SNAPSHOT;

/**
 * The manager's state, kept current: re-renders when the state changes (login, refresh, logout, the
 * `refreshing` flag), and only then. Renders the signed-out state on the server and during hydration.
 *
 * @example
 * function Header() {
 *   const { status, claims } = useAuthState(auth);
 *   return status === 'authenticated' ? <p>Signed in as {String(claims?.sub)}</p> : <LoginButton />;
 * }
 */
export function useAuthState(auth: TokenManager): AuthState {
  return useSyncExternalStore(auth.subscribe, auth.getState, getServerSnapshot);
}
