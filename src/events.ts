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

/** Calls the listeners there are when called (one added meanwhile waits for the next time). */
const notify = <T>(listeners: Set<(value: T) => void> | undefined, value: T): void => {
  for (const listener of [...(listeners ?? [])]) callSafely(listener, value);
};

/** Adds `item` to `set`; returns what removes it. */
const addTo = <T>(set: Set<T>, item: T): (() => void) => {
  set.add(item);
  return () => {
    set.delete(item);
  };
};

/** Typed events with `on(event, handler) → off`. */
export interface Emitter {
  on<E extends TokenManagerEventName>(event: E, handler: (payload: TokenManagerEvents[E]) => void): () => void;
  emit<E extends TokenManagerEventName>(event: E, payload: TokenManagerEvents[E]): void;
  clear(): void;
}

export function createEmitter(): Emitter {
  const handlers = new Map<unknown, Set<(payload: never) => void>>();
  return {
    on(event, handler) {
      const set = handlers.get(event) ?? new Set();
      handlers.set(event, set);
      return addTo(set, handler);
    },
    emit: (event, payload) => notify(handlers.get(event) as Set<(value: typeof payload) => void> | undefined, payload),
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
    set(next, silent) {
      if (sameAuthState(state, next)) return;
      state = Object.freeze({ ...next });
      if (!silent) notify(listeners, state);
    },
    subscribe: (listener) => addTo(listeners, listener),
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
    open = () => resolve();
  });
  return { promise, open };
}
