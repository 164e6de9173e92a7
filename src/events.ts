import { sameAuthState } from './state';
import type { AuthState, TokenManagerEventName, TokenManagerEvents } from './types';

/** A listener's exception must not break the manager's own bookkeeping; it is re-thrown on its own. */
export function callSafely<T>(listener: (value: T) => void, value: T): void {
  try {
    listener(value);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
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

/** The public state snapshot: replaced only when a field changes, then passed to every subscriber. */
export interface Snapshot {
  get(): AuthState;
  /** Replaces the snapshot when `next` differs in any field; notifies subscribers unless `silent`. */
  set(next: AuthState, silent?: boolean): void;
  subscribe(listener: (state: AuthState) => void): () => void;
  clearListeners(): void;
}

export function createSnapshot(initial: AuthState): Snapshot {
  let state = initial;
  const listeners = new Set<(state: AuthState) => void>();
  return {
    get: () => state,
    set(next, silent = false) {
      if (sameAuthState(state, next)) return;
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

/** A promise that the code holding it settles once, when something has happened; `open()` again is a no-op. */
export interface Latch {
  readonly promise: Promise<void>;
  open(): void;
}

export function createLatch(): Latch {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open: () => open() };
}
