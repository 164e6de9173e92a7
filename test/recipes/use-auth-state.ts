import type { AuthState } from 'tokenkeeper';
import { onScopeDispose, type ShallowRef, shallowRef } from 'vue';
import { auth } from './auth';

/**
 * The session as a Vue ref, replaced on every change (login, refresh, logout, here or in another tab). Call it
 * in setup() or any effect scope; it unsubscribes when the scope ends. A shallow ref: the state is an immutable
 * snapshot, replaced whole, so deep reactivity would only wrap the token in proxies.
 */
export function useAuthState(): Readonly<ShallowRef<AuthState>> {
  const state = shallowRef(auth.getState());
  onScopeDispose(
    auth.subscribe((next) => {
      state.value = next;
    }),
  );
  return state;
}
