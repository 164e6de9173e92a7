import { TimeoutError } from './errors';
import type { Environment } from './environment';

/** Rejects with `signal`'s reason once it aborts; never settles otherwise. */
export const rejectOnAbort = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });

/**
 * Runs `task` with a signal that aborts when `signal` aborts or after `timeoutMs`. The returned promise
 * settles then even if the task ignores its signal: with `TimeoutError` on time-out, with `signal`'s reason
 * on abort. No refresh or logout function, however it is written, can stall the manager.
 */
export function runWithTimeout<T>(
  timers: Pick<Environment, 'setTimeout' | 'clearTimeout'>,
  timeoutMs: number,
  what: string,
  task: (signal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const controller = new AbortController();
  // Listening before anything can abort: the race then settles with the abort's reason even when the task
  // rejects at the same moment.
  const aborted = rejectOnAbort(controller.signal);
  const onAbort = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort);
  const handle = timers.setTimeout(
    () => controller.abort(new TimeoutError(`${what} took longer than ${timeoutMs} ms`)),
    timeoutMs,
  );
  return Promise.race([task(controller.signal), aborted]).finally(() => {
    timers.clearTimeout(handle);
    signal?.removeEventListener('abort', onAbort);
  });
}
