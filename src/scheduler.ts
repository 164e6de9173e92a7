import { type Environment, MAX_TIMER_DELAY_MS } from './environment';
import { type Clocks, type Due, isReached } from './session';

/**
 * One pending action at a time that is due on the wall clock or the monotonic clock, whichever comes first.
 * Long delays are chained in steps of at most 2^31-1 ms so they never fire early, and `check()` runs an
 * overdue action at once: timers stall while a device sleeps or a tab is frozen, the wall clock does not;
 * the wall clock can be set back, the monotonic clock cannot.
 */
export interface Scheduler {
  /** Replaces the pending action with `action` at `due`. */
  schedule(due: Due, action: () => void): void;
  /** Runs the pending action now if it is due. */
  check(): void;
  cancel(): void;
}

export function createScheduler(environment: Pick<Environment, 'setTimeout' | 'clearTimeout'> & Clocks): Scheduler {
  let handle: unknown = null;
  let pending: { due: Due; action: () => void } | null = null;

  const clearHandle = (): void => {
    if (handle !== null) environment.clearTimeout(handle);
    handle = null;
  };

  const arm = (): void => {
    clearHandle();
    if (!pending) return;
    const { due } = pending;
    const delayMs = Math.min(
      Math.max(0, due.wall - environment.now()),
      Math.max(0, due.mono - environment.monotonicNow()),
      MAX_TIMER_DELAY_MS,
    );
    handle = environment.setTimeout(onTimer, delayMs);
  };

  const runIfDue = (): boolean => {
    if (!pending || !isReached(pending.due, environment)) return false;
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
    schedule(due, action) {
      pending = { due, action };
      arm();
    },
    check() {
      runIfDue();
    },
    cancel() {
      pending = null;
      clearHandle();
    },
  };
}
