import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createInProcessLock, LOCK_WAIT_LIMIT_MS } from '../src/lock';
import { deferred } from './support/async';
import { flush } from './support/time';

/** Timers that go through the globals at call time, so vi's fake timers drive them. */
const timers = {
  setTimeout: (callback: () => void, delayMs: number): unknown => setTimeout(callback, delayMs),
  clearTimeout: (handle: unknown): void => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The lock's queues are shared by the whole realm, so every test uses names of its own. */
let testNumber = 0;
const uniqueName = (label: string): string => `lock-test-${testNumber}-${label}`;

beforeEach(() => {
  testNumber += 1;
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createInProcessLock', () => {
  it('runs callers of one name one at a time, in order', async () => {
    const lock = createInProcessLock(timers);
    const name = uniqueName('serial');
    const log: string[] = [];
    let active = 0;
    let maxActive = 0;
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((gate, index) =>
      lock(name, async () => {
        active += 1;
        maxActive = Math.max(maxActive, active);
        log.push(`start ${index}`);
        await gate.promise;
        log.push(`end ${index}`);
        active -= 1;
        return index;
      }),
    );

    await flush();
    expect(log).toEqual(['start 0']);
    gates[2]!.resolve(); // the last one may not finish first: it has not even started
    gates[1]!.resolve();
    await flush();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();

    await expect(Promise.all(runs)).resolves.toEqual([0, 1, 2]);
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
    expect(maxActive).toBe(1);
  });

  it('runs callers of different names at the same time', async () => {
    const lock = createInProcessLock(timers);
    const gate = deferred();
    const started: string[] = [];
    const first = lock(uniqueName('a'), async () => {
      started.push('a');
      await gate.promise;
    });
    const second = lock(uniqueName('b'), async () => {
      started.push('b');
      await gate.promise;
    });

    await flush();
    expect(started).toEqual(['a', 'b']);
    gate.resolve();
    await Promise.all([first, second]);
  });

  it('is shared by every lock of the realm: two locks with one name take turns', async () => {
    const name = uniqueName('shared');
    const gate = deferred();
    const started: string[] = [];
    const first = createInProcessLock(timers)(name, async () => {
      started.push('first');
      await gate.promise;
    });
    const second = createInProcessLock(timers)(name, async () => {
      started.push('second');
    });

    await flush();
    expect(started).toEqual(['first']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(started).toEqual(['first', 'second']);
  });

  it('stops waiting for a holder that never finishes after the wait limit, and not before', async () => {
    const waitLimitMs = 5_000;
    const lock = createInProcessLock(timers, waitLimitMs);
    const name = uniqueName('stuck');
    void lock(name, () => new Promise<never>(() => {})); // never settles
    const waiter = vi.fn(async () => 'ran');
    const result = lock(name, waiter);

    await vi.advanceTimersByTimeAsync(waitLimitMs - 1);
    expect(waiter).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);

    expect(waiter).toHaveBeenCalledTimes(1);
    await expect(result).resolves.toBe('ran');
  });

  it('has a finite default wait limit', async () => {
    expect(LOCK_WAIT_LIMIT_MS).toBeGreaterThan(0);
    expect(Number.isFinite(LOCK_WAIT_LIMIT_MS)).toBe(true);
    const lock = createInProcessLock(timers);
    const name = uniqueName('stuck-default');
    void lock(name, () => new Promise<never>(() => {}));
    const waiter = vi.fn(async () => 'ran');
    const result = lock(name, waiter);

    await vi.advanceTimersByTimeAsync(LOCK_WAIT_LIMIT_MS - 1);
    expect(waiter).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);

    await expect(result).resolves.toBe('ran');
  });

  it('leaves no wait-limit timer behind once the lock is taken', async () => {
    const lock = createInProcessLock(timers);
    const name = uniqueName('timers');
    const gate = deferred();
    const first = lock(name, () => gate.promise);
    const second = lock(name, async () => {});
    await flush();
    gate.resolve();
    await Promise.all([first, second]);

    expect(vi.getTimerCount()).toBe(0);
  });

  it('releases the lock when fn throws or rejects, and passes the error on', async () => {
    const lock = createInProcessLock(timers);
    const name = uniqueName('errors');
    const failure = new Error('fn failed');
    const gate = deferred();
    const rejecting = lock(name, async () => {
      await gate.promise;
      throw failure;
    });
    const throwing = lock(name, () => {
      throw failure;
    });
    const next = vi.fn(async () => 'next ran');
    const after = lock(name, next);
    const rejected = expect(rejecting).rejects.toBe(failure);
    const thrown = expect(throwing).rejects.toBe(failure);

    gate.resolve();
    await rejected;
    await thrown;
    await flush();
    // No timer moved: the next caller ran because the lock was released, not because waiting timed out.
    expect(next).toHaveBeenCalledTimes(1);
    await expect(after).resolves.toBe('next ran');
  });
});
