import { TimeoutError } from './errors';
import type { Environment } from './environment';

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
  const onAbort = (): void => controller.abort(signal?.reason);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const handle = timers.setTimeout(
    () => controller.abort(new TimeoutError(`${what} took longer than ${timeoutMs} ms`)),
    timeoutMs,
  );
  const aborted = new Promise<never>((_, reject) => {
    const rejectWithReason = (): void => reject(controller.signal.reason);
    if (controller.signal.aborted) rejectWithReason();
    else controller.signal.addEventListener('abort', rejectWithReason, { once: true });
  });
  return Promise.race([task(controller.signal), aborted]).finally(() => {
    timers.clearTimeout(handle);
    signal?.removeEventListener('abort', onAbort);
  });
}
