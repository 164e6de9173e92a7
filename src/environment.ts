import type { TokenManagerOptions } from './types';

/** Longest delay `setTimeout` honours; longer ones fire at once in browsers and Node. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * Every platform dependency of the manager, in one place. The defaults reach the globals lazily, at call
 * time, so fake timers, msw and React Native polyfills installed after import still apply.
 */
export interface Environment {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Uniform in [0, 1); used for backoff jitter. */
  random(): number;
  fetch: typeof fetch;
  /** The page's origin (`https://app.example`), or `null` where there is none (React Native, Node, `file:`). */
  pageOrigin: string | null;
  /** Subscribes to "the app is back"; returns an unsubscribe function. */
  onResume(check: () => void): () => void;
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

/** Builds the environment for one manager, reading globals only now, when the manager is created. */
export function createEnvironment(
  options: Pick<TokenManagerOptions, 'fetch' | 'onResume'>,
  pageOrigin: string | null,
): Environment {
  const userFetch = options.fetch;
  return {
    now: () => Date.now(),
    setTimeout: (callback, delayMs) => setTimeout(callback, delayMs),
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
    random: () => Math.random(),
    // Called as a plain function: a browser's fetch throws "Illegal invocation" when called on another object.
    fetch: userFetch ? (input, init) => userFetch(input, init) : (input, init) => globalThis.fetch(input, init),
    pageOrigin,
    onResume: options.onResume ?? subscribeToBrowserResume,
  };
}
