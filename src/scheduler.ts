import { type Environment, MAX_TIMER_DELAY_MS } from './environment';

/**
 * One pending action at a wall-clock time. Long delays are chained in steps of at most 2^31-1 ms so they
 * never fire early, and `check()` runs an overdue action at once: timers stall while a device sleeps or a
 * tab is frozen, the wall clock does not.
 */
export interface Scheduler {
  /** Replaces the pending action with `action` at `atMs` (this device's clock). */
  schedule(atMs: number, action: () => void): void;
  /** Runs the pending action now if it is due. */
  check(): void;
  cancel(): void;
  /** When the pending action is due, or `null`. */
  readonly dueAt: number | null;
}

export function createScheduler(environment: Pick<Environment, 'now' | 'setTimeout' | 'clearTimeout'>): Scheduler {
  let handle: unknown = null;
  let pending: { atMs: number; action: () => void } | null = null;

  const clearHandle = (): void => {
    if (handle !== null) environment.clearTimeout(handle);
    handle = null;
  };

  const arm = (): void => {
    clearHandle();
    if (!pending) return;
    const delayMs = Math.min(Math.max(0, pending.atMs - environment.now()), MAX_TIMER_DELAY_MS);
    handle = environment.setTimeout(onTimer, delayMs);
  };

  const runIfDue = (): boolean => {
    if (!pending || environment.now() < pending.atMs) return false;
    const { action } = pending;
    pending = null;
    clearHandle();
    action();
    return true;
  };

  function onTimer(): void {
    handle = null;
    if (!runIfDue()) arm();
  }

  return {
    schedule(atMs, action) {
      pending = { atMs, action };
      arm();
    },
    check() {
      runIfDue();
    },
    cancel() {
      pending = null;
      clearHandle();
    },
    get dueAt() {
      return pending ? pending.atMs : null;
    },
  };
}
