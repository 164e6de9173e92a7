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
  let due: Due | null = null;
  let action = (): void => {};

  const stop = (): void => {
    if (handle !== null) environment.clearTimeout(handle);
    handle = null;
  };

  const runIfDue = (): boolean => {
    if (!due || !isReached(due, environment)) return false;
    due = null;
    stop();
    action();
    return true;
  };

  const arm = (): void => {
    stop();
    if (!due) return;
    // The sooner of the two clocks, never past what a timer can wait: a timer that fires early re-arms.
    const delayMs = Math.min(due.wall - environment.now(), due.mono - environment.monotonicNow(), MAX_TIMER_DELAY_MS);
    handle = environment.setTimeout(
      () => {
        handle = null;
        if (!runIfDue()) arm();
      },
      Math.max(0, delayMs),
    );
  };

  return {
    schedule(nextDue, nextAction) {
      due = nextDue;
      action = nextAction;
      arm();
    },
    check() {
      runIfDue();
    },
    cancel() {
      due = null;
      stop();
    },
  };
}
