import type { AuthState, TokenManagerEventName, TokenManagerEvents } from './types';

export const SIGNED_OUT_STATE: AuthState = Object.freeze({
  status: 'unauthenticated',
  accessToken: null,
  expiresAt: null,
  claims: null,
  refreshing: false,
});

/** A listener's exception must not break the manager's own bookkeeping; it is re-thrown on its own. */
function callSafely<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/** An immutable state snapshot, replaced only when a field changes, with subscribers. */
export interface StateStore {
  get(): AuthState;
  /** Replaces the snapshot when `next` differs in any field; notifies subscribers unless `silent`. */
  set(next: AuthState, silent?: boolean): void;
  subscribe(listener: (state: AuthState) => void): () => void;
  clearListeners(): void;
}

function sameState(a: AuthState, b: AuthState): boolean {
  return (
    a.status === b.status &&
    a.accessToken === b.accessToken &&
    a.expiresAt === b.expiresAt &&
    a.claims === b.claims &&
    a.refreshing === b.refreshing
  );
}

export function createStateStore(): StateStore {
  let state = SIGNED_OUT_STATE;
  const listeners = new Set<(state: AuthState) => void>();
  return {
    get: () => state,
    set(next, silent = false) {
      if (sameState(state, next)) return;
      state = Object.freeze({ ...next });
      if (silent) return;
      for (const listener of [...listeners]) callSafely(listener, state);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    clearListeners: () => listeners.clear(),
  };
}

/** Typed events with `on(event, handler) → off`. */
export interface Emitter {
  on<E extends TokenManagerEventName>(event: E, handler: (payload: TokenManagerEvents[E]) => void): () => void;
  emit<E extends TokenManagerEventName>(event: E, payload: TokenManagerEvents[E]): void;
  clear(): void;
}

export function createEmitter(): Emitter {
  const handlers = new Map<TokenManagerEventName, Set<(payload: never) => void>>();
  return {
    on(event, handler) {
      let set = handlers.get(event);
      if (!set) {
        set = new Set();
        handlers.set(event, set);
      }
      set.add(handler);
      return () => {
        set.delete(handler);
      };
    },
    emit(event, payload) {
      const set = handlers.get(event);
      if (!set) return;
      for (const handler of [...set]) callSafely(handler as (value: typeof payload) => void, payload);
    },
    clear: () => handlers.clear(),
  };
}
