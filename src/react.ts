/**
 * React binding: `useAuthState(auth, selector?)`, `useSyncExternalStore` over the manager's `subscribe` and
 * `getState`.
 */
import { useRef, useSyncExternalStore } from 'react';
import type { AuthState, DefaultClaims, TokenManager } from 'tokenkeeper';

/**
 * What the server renders, and what hydration starts from: the session is not known on the server, so a
 * signed-in user never sees the signed-out page flash before the client takes over.
 */
const SERVER_SNAPSHOT: AuthState = Object.freeze({
  status: 'loading',
  accessToken: null,
  expiresAt: null,
  claims: null,
  refreshing: false,
});

const whole = <S>(state: S): S => state;

/** The last selection, kept while the state object or the selected value (`Object.is`) stays the same. */
interface Selection {
  state: unknown;
  selector: unknown;
  value: unknown;
}

function select<S, T>(cache: Selection | null, state: S, selector: (state: S) => T): Selection {
  if (cache && cache.state === state && cache.selector === selector) return cache;
  const value = selector(state);
  return { state, selector, value: cache && Object.is(cache.value, value) ? cache.value : value };
}

/**
 * The manager's state, kept current: re-renders when the state changes (login, refresh, logout, the
 * `refreshing` flag), and only then. With a selector, re-renders only when the selected value changes
 * (`Object.is`). Renders the `'loading'` state on the server and during hydration.
 *
 * @example
 * function Header() {
 *   const { status, claims } = useAuthState(auth);
 *   if (status === 'loading') return <Spinner />;
 *   return status === 'authenticated' ? <p>Signed in as {String(claims?.sub)}</p> : <LoginButton />;
 * }
 * const name = useAuthState(auth, (state) => state.claims?.name);
 */
export function useAuthState<Claims extends object = DefaultClaims>(auth: TokenManager<Claims>): AuthState<Claims>;
export function useAuthState<Claims extends object, Selected>(
  auth: TokenManager<Claims>,
  selector: (state: AuthState<Claims>) => Selected,
): Selected;
export function useAuthState<Claims extends object, Selected>(
  auth: TokenManager<Claims>,
  selector?: (state: AuthState<Claims>) => Selected,
): Selected | AuthState<Claims> {
  const pick = (selector ?? whole) as (state: AuthState<Claims>) => Selected;
  // One cache for the client's snapshots and one for the server's, so that hydration does not evict the other.
  const client = useRef<Selection | null>(null);
  const server = useRef<Selection | null>(null);
  const getSnapshot = (): Selected => {
    client.current = select(client.current, auth.getState(), pick);
    return client.current.value as Selected;
  };
  const getServerSnapshot = (): Selected => {
    server.current = select(server.current, SERVER_SNAPSHOT as AuthState<Claims>, pick);
    return server.current.value as Selected;
  };
  return useSyncExternalStore(auth.subscribe, getSnapshot, getServerSnapshot);
}
