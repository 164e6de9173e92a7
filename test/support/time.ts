import { afterEach, beforeEach, vi } from 'vitest';

/** When the tests' clock starts: tokens issued then have whole-second `iat`/`exp`. */
export const START_MS = Date.UTC(2030, 0, 1, 9, 0, 0);
/** The lifetime of the tokens the tests issue. */
export const LIFETIME_S = 3600;
export const LIFETIME_MS = LIFETIME_S * 1000;
/** The `refreshMargin` the tests set: refresh this long before expiry. */
export const MARGIN_MS = 60_000;

/** Fake timers in every test of the file, with the clock at `startMs` when each test begins. */
export function installFakeClock(startMs = START_MS): void {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(startMs);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** Lets pending promise chains (msw included) run, without moving the fake clock. */
export const flush = (): Promise<void> => vi.advanceTimersByTimeAsync(0).then(() => undefined);
