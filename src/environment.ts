import type { ChannelLike } from './types';
import { createInProcessLock, createWebLock, findLockManager, type Lock, type LockManagerLike } from './lock';
import type { TokenManagerOptions, TokenStorage } from './types';

/** Longest delay `setTimeout` honours; longer ones fire at once in browsers and Node. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Every platform dependency of the manager, in one place. The defaults reach the globals lazily, at call
 * time, so fake timers, msw and React Native polyfills installed after import still apply.
 */
export interface Environment {
  now(): number;
  /** A clock that only moves forward (not set by the user or NTP); compared with `now` for due times. */
  monotonicNow(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Uniform in [0, 1); used for backoff jitter. */
  random(): number;
  fetch: typeof fetch;
  /** The page's origin (`https://app.example`), or `null` where there is none (React Native, Node, `file:`). */
  pageOrigin: string | null;
  /** Subscribes to "the app is back"; returns an unsubscribe function. */
  onResume(check: () => void): () => void;
  /** The named lock that serialises refreshes across tabs. */
  lock: Lock;
  /** Whether `lock` was given in the options (then it is used even where no channel is open). */
  lockGiven: boolean;
  /** Opens the cross-tab channel, or returns `null` where there is none. */
  createChannel(name: string): ChannelLike | null;
  /** Web Locks (`navigator.locks`) where the platform has them, to tell which tabs are open. */
  locks: LockManagerLike | null;

  /** Calls `listener` when another tab changes `key` in `storage` (the `storage` event); returns an unsubscribe function. */
  onStorageChange(
    storage: TokenStorage,
    key: string,
    listener: (newValue: string | null, oldValue: string | null | undefined) => void,
  ): () => void;
  /** A random id for this manager, to tell its own channel messages from other tabs'. */
  createId(): string;
}

/** The global scope, read when called: nothing is read at import. */
const scope = (): Record<string, unknown> => globalThis as unknown as Record<string, unknown>;

export function readPageOrigin(): string | null {
  const origin = (scope().location as { origin?: unknown } | undefined)?.origin;
  return typeof origin === 'string' && /^https?:\/\//.test(origin) ? origin : null;
}

interface EventTargetLike {
  addEventListener(type: string, listener: (event: never) => void): void;
  removeEventListener(type: string, listener: (event: never) => void): void;
}

const isEventTarget = (value: unknown): value is EventTargetLike =>
  typeof (value as EventTargetLike | undefined)?.addEventListener === 'function' &&
  typeof (value as EventTargetLike).removeEventListener === 'function';

/** Adds `listener` for `types` where `target` is an event target; returns what removes it again. */
function listen<E>(target: unknown, types: string[], listener: (event: E) => void): () => void {
  const each = (method: keyof EventTargetLike): void => {
    for (const type of types) (target as EventTargetLike)[method](type, listener);
  };
  if (!isEventTarget(target)) return () => {};
  each('addEventListener');
  return () => each('removeEventListener');
}

/** Browser resume signals: the tab becomes visible, gets focus, comes back online or out of the back/forward cache. */
function subscribeToBrowserResume(check: () => void): () => void {
  const { window, document } = scope() as { window?: unknown; document?: { visibilityState?: string } };
  const offWindow = listen(window, ['focus', 'online', 'pageshow'], check);
  // Without a window to listen to (a worker), nothing is listened to.
  const offDocument = listen(isEventTarget(window) && document, ['visibilitychange'], () => {
    if (document?.visibilityState !== 'hidden') check();
  });
  return () => {
    offWindow();
    offDocument();
  };
}

/**
 * BroadcastChannel where there is one. Where there is no page or worker (Node), only for a channel named in
 * the options: managers of different users in one server process must not share a session by default.
 */
function openDefaultChannel(name: string, named: boolean): ChannelLike | null {
  const { BroadcastChannel, window, self } = scope() as {
    window?: unknown;
    self?: unknown;
    BroadcastChannel?: new (name: string) => ChannelLike & { unref?: () => void };
  };
  if (typeof BroadcastChannel !== 'function' || (!named && window === undefined && self === undefined)) return null;
  try {
    const channel = new BroadcastChannel(name);
    // Node: an open channel must not keep the process alive on its own (browsers have no unref).
    channel.unref?.();
    return channel;
  } catch {
    return null;
  }
}

/** The page's `localStorage` or `sessionStorage`, where reading it is allowed (it throws in some sandboxed frames). */
export function readStorageGlobal(name: 'localStorage' | 'sessionStorage'): unknown {
  try {
    return scope()[name];
  } catch {
    return undefined;
  }
}

export const readLocalStorage = (): unknown => readStorageGlobal('localStorage');

interface StorageEventLike {
  key: string | null;
  newValue: string | null;
  oldValue: string | null;
  storageArea: unknown;
}

/** The `storage` event fires in the other tabs of an origin when `localStorage` changes. */
const subscribeToStorageEvents = (
  storage: TokenStorage,
  key: string,
  listener: (newValue: string | null, oldValue: string | null | undefined) => void,
): (() => void) =>
  listen(scope().window, ['storage'], ({ key: changedKey, newValue, oldValue, storageArea }: StorageEventLike) => {
    // `key` is null when the whole storage was cleared; `oldValue` is then `undefined`.
    if (storageArea === storage && (changedKey === key || changedKey === null)) {
      listener(newValue ?? null, changedKey === null ? undefined : (oldValue ?? null));
    }
  });

/** A random id: a UUID where the platform makes them (secure contexts, Node), else one from the clock and `Math.random`. */
const createRandomId = (): string =>
  (scope().crypto as { randomUUID?: () => string } | undefined)?.randomUUID?.() ??
  [Date.now(), Math.random(), Math.random()].map((part) => part.toString(36)).join('-');

/** Builds the environment for one manager, reading globals only now, when the manager is created. */
export function createEnvironment(
  options: Pick<TokenManagerOptions, 'fetch' | 'onResume' | 'environment'> & {
    channelNamed?: boolean;
    /** How long a tab waits for the refresh lock before refreshing without it. */
    lockWaitMs?: number;
  },
  pageOrigin: string | null,
): Environment {
  const { fetch: userFetch, lockWaitMs } = options;
  const overrides = options.environment ?? {};
  const timers = {
    setTimeout: overrides.setTimeout ?? ((callback: () => void, delayMs: number) => setTimeout(callback, delayMs)),
    clearTimeout:
      overrides.clearTimeout ?? ((handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>)),
  };
  const locks = findLockManager();
  const wallClock = (): number => Date.now();
  return {
    now: overrides.now ?? wallClock,
    monotonicNow:
      overrides.monotonicNow ??
      (typeof (scope().performance as Partial<Performance> | undefined)?.now === 'function'
        ? () => (scope().performance as Performance).now()
        : wallClock),
    ...timers,
    random: overrides.random ?? (() => Math.random()),
    lock:
      overrides.lock ?? (locks ? createWebLock(locks, timers, lockWaitMs) : createInProcessLock(timers, lockWaitMs)),
    lockGiven: overrides.lock !== undefined,
    createChannel: overrides.createChannel ?? ((name) => openDefaultChannel(name, options.channelNamed === true)),
    locks,
    onStorageChange: subscribeToStorageEvents,
    createId: createRandomId,
    // Called as a plain function: a browser's fetch throws "Illegal invocation" when called on another object.
    fetch: (input, init) => (userFetch ?? globalThis.fetch)(input, init),
    pageOrigin,
    onResume: options.onResume ?? subscribeToBrowserResume,
  };
}
