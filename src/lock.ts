import type { Lock } from './types';

/**
 * A named exclusive lock: runs `fn` while holding `name` and releases it when `fn` settles.
 * Implementations always give up waiting after a finite time and then run `fn` anyway: a refresh that runs
 * twice is recoverable, a manager that waits forever is not.
 */
export type { Lock } from './types';

/**
 * How long a caller waits for a lock before running without it. Longer than a refresh request's default
 * timeout (10 s), so a holder that is merely slow is waited for.
 */
export const LOCK_WAIT_LIMIT_MS = 15_000;
/** How much longer than a refresh's own timeout a tab waits for the lock (the holder's storage write and message). */
export const LOCK_WAIT_MARGIN_MS = 5_000;

type Timers = {
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
};

/** Queues of the in-process lock, by name; shared by every manager of this realm. */
const tails = new Map<string, Promise<unknown>>();

/**
 * A lock within one JavaScript realm: managers in the same page or process that share a name take turns.
 * Waiting ends after `waitLimitMs`; the waiter then runs without the lock.
 */
export const createInProcessLock =
  (timers: Timers, waitLimitMs = LOCK_WAIT_LIMIT_MS): Lock =>
  async (name, fn) => {
    const previous = tails.get(name);
    let release!: () => void;
    // The next caller waits for this one and for every one before it (one that gave up waiting may end first).
    const tail = Promise.all([previous, new Promise<void>((resolve) => (release = resolve))]);
    tails.set(name, tail);
    let handle: unknown;
    try {
      await Promise.race([
        previous,
        new Promise<void>((resolve) => (handle = timers.setTimeout(resolve, waitLimitMs))),
      ]);
      timers.clearTimeout(handle);
      return await fn();
    } finally {
      release();
      if (tails.get(name) === tail) tails.delete(name);
    }
  };

/** The part of the Web Locks API (`navigator.locks`) the manager uses. */
export interface LockManagerLike {
  request<T>(name: string, options: { signal?: AbortSignal }, callback: () => Promise<T>): Promise<T>;
  /** The locks held and asked for by every tab of the origin. */
  query?(): Promise<{ held?: { name?: string }[]; pending?: { name?: string }[] }>;
}

/**
 * A lock across the tabs and workers of one origin, on the Web Locks API. The browser releases it when the
 * holding tab closes or crashes. Waiting ends after `waitLimitMs`; the waiter then runs without the lock, and
 * so does a caller whose request the browser refuses (an opaque origin, say).
 */
export function createWebLock(locks: LockManagerLike, timers: Timers, waitLimitMs = LOCK_WAIT_LIMIT_MS): Lock {
  return async (name, fn) => {
    const controller = new AbortController();
    const handle = timers.setTimeout(() => controller.abort(), waitLimitMs);
    let granted = false;
    try {
      return await locks.request(name, { signal: controller.signal }, () => {
        granted = true;
        timers.clearTimeout(handle);
        return fn();
      });
    } catch (error) {
      if (granted) throw error;
      timers.clearTimeout(handle);
      return fn();
    }
  };
}

/** `navigator.locks` where the platform has it. */
export function findLockManager(): LockManagerLike | null {
  const locks = (globalThis as { navigator?: { locks?: Partial<LockManagerLike> } }).navigator?.locks;
  return typeof locks?.request === 'function' ? (locks as LockManagerLike) : null;
}
