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

export function readPageOrigin(): string | null {
  const location = (globalThis as { location?: { origin?: unknown } }).location;
  const origin = location?.origin;
  return typeof origin === 'string' && /^https?:\/\//.test(origin) ? origin : null;
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

function isEventTarget(value: unknown): value is EventTargetLike {
  return (
    typeof (value as EventTargetLike | undefined)?.addEventListener === 'function' &&
    typeof (value as EventTargetLike).removeEventListener === 'function'
  );
}

/** Browser resume signals: the tab becomes visible, gets focus, comes back online or out of the back/forward cache. */
function subscribeToBrowserResume(check: () => void): () => void {
  const target = (globalThis as { window?: unknown }).window;
  const document = (globalThis as { document?: { visibilityState?: string } }).document;
  if (!isEventTarget(target)) return () => {};
  const onVisibilityChange = (): void => {
    if (document?.visibilityState !== 'hidden') check();
  };
  const windowEvents = ['focus', 'online', 'pageshow'] as const;
  for (const type of windowEvents) target.addEventListener(type, check);
  if (isEventTarget(document)) document.addEventListener('visibilitychange', onVisibilityChange);
  return () => {
    for (const type of windowEvents) target.removeEventListener(type, check);
    if (isEventTarget(document)) document.removeEventListener('visibilitychange', onVisibilityChange);
  };
}

/**
 * BroadcastChannel where there is one. Where there is no page or worker (Node), only for a channel named in
 * the options: managers of different users in one server process must not share a session by default.
 */
function openDefaultChannel(name: string, named: boolean): ChannelLike | null {
  const scope = globalThis as {
    window?: unknown;
    self?: unknown;
    BroadcastChannel?: new (name: string) => ChannelLike;
  };
  if (typeof scope.BroadcastChannel !== 'function') return null;
  if (!named && scope.window === undefined && scope.self === undefined) return null;
  try {
    const channel = new scope.BroadcastChannel(name);
    // Node: an open channel must not keep the process alive on its own (browsers have no unref).
    (channel as { unref?: () => void }).unref?.();
    return channel;
  } catch {
    return null;
  }
}

/** The page's `localStorage` or `sessionStorage`, where reading it is allowed (it throws in some sandboxed frames). */
export function readStorageGlobal(name: 'localStorage' | 'sessionStorage'): unknown {
  try {
    return (globalThis as Record<string, unknown>)[name];
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
function subscribeToStorageEvents(
  storage: TokenStorage,
  key: string,
  listener: (newValue: string | null, oldValue: string | null | undefined) => void,
): () => void {
  const target = (globalThis as { window?: unknown }).window;
  if (!isEventTarget(target)) return () => {};
  const onStorage = (event: unknown): void => {
    const { key: changedKey, newValue, oldValue, storageArea } = event as StorageEventLike;
    // `key` is null when the whole storage was cleared.
    if (storageArea === storage && (changedKey === key || changedKey === null)) {
      // `oldValue` is `undefined` for a clear of the whole storage.
      listener(newValue ?? null, changedKey === null ? undefined : (oldValue ?? null));
    }
  };
  target.addEventListener('storage', onStorage as () => void);
  return () => target.removeEventListener('storage', onStorage as () => void);
}

function createRandomId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof crypto?.randomUUID === 'function') return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
}

/** Builds the environment for one manager, reading globals only now, when the manager is created. */
export function createEnvironment(
  options: Pick<TokenManagerOptions, 'fetch' | 'onResume' | 'environment'> & {
    channelNamed?: boolean;
    /** How long a tab waits for the refresh lock before refreshing without it. */
    lockWaitMs?: number;
  },
  pageOrigin: string | null,
): Environment {
  const userFetch = options.fetch;
  const overrides = options.environment ?? {};
  const timers = {
    setTimeout: overrides.setTimeout ?? ((callback: () => void, delayMs: number) => setTimeout(callback, delayMs)),
    clearTimeout:
      overrides.clearTimeout ?? ((handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>)),
  };
  const lockManager = findLockManager();
  const performance = (globalThis as { performance?: { now?: () => number } }).performance;
  return {
    now: overrides.now ?? (() => Date.now()),
    monotonicNow:
      overrides.monotonicNow ??
      (typeof performance?.now === 'function' ? () => (globalThis.performance as Performance).now() : () => Date.now()),
    ...timers,
    random: overrides.random ?? (() => Math.random()),
    lock:
      overrides.lock ??
      (lockManager
        ? createWebLock(lockManager, timers, options.lockWaitMs)
        : createInProcessLock(timers, options.lockWaitMs)),
    lockGiven: overrides.lock !== undefined,
    createChannel: overrides.createChannel ?? ((name) => openDefaultChannel(name, options.channelNamed === true)),
    locks: lockManager,
    onStorageChange: subscribeToStorageEvents,
    createId: createRandomId,
    // Called as a plain function: a browser's fetch throws "Illegal invocation" when called on another object.
    fetch: userFetch ? (input, init) => userFetch(input, init) : (input, init) => globalThis.fetch(input, init),
    pageOrigin,
    onResume: options.onResume ?? subscribeToBrowserResume,
  };
}
