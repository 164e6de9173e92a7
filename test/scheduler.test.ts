import { describe, expect, it, vi } from 'vitest';
import { createScheduler } from '../src/scheduler';
import { jwtFor } from './support/jwt';
import {
  createResumeTrigger,
  HttpResponse,
  noResume,
  REFRESH_URL,
  refreshEndpoint,
  server,
  startServer,
} from './support/environment';
import { trackManagers } from './support/managers';
import { flush, installFakeClock, LIFETIME_MS, LIFETIME_S, MARGIN_MS, START_MS } from './support/time';

/** Longest delay `setTimeout` honours; a longer one fires after 1 ms in browsers and Node. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const DUE_IN_MS = LIFETIME_MS - MARGIN_MS;

type SchedulerEnvironment = Parameters<typeof createScheduler>[0];

/**
 * A clock and timers the test moves by hand. Like real timers, a delay above 2^31-1 ms fires after 1 ms,
 * so a scheduler that passed one on would visibly fire early.
 */
function createFakeClock(startMs = START_MS) {
  let nowMs = startMs;
  /** The monotonic clock: moves with timers, not with a wall clock set by hand or a sleep. */
  let monoMs = 0;
  let nextId = 1;
  const timers = new Map<number, { atMs: number; callback: () => void }>();
  const delays: number[] = [];
  const environment: SchedulerEnvironment = {
    now: () => nowMs,
    monotonicNow: () => monoMs,
    setTimeout(callback, delayMs) {
      delays.push(delayMs);
      const id = nextId++;
      const effectiveMs = delayMs > MAX_TIMER_DELAY_MS ? 1 : Math.max(0, delayMs);
      // Timers run on elapsed time, as real ones do, whatever the wall clock says.
      timers.set(id, { atMs: monoMs + effectiveMs, callback });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
  };
  return {
    environment,
    delays,
    timers,
    now: () => nowMs,
    /** Moves the clock, firing timers as they come due, in order. */
    advance(ms: number): void {
      const targetMs = monoMs + ms;
      // A scheduler that re-arms a 1 ms timer forever would otherwise hang the test instead of failing it.
      for (let fired = 0; ; fired += 1) {
        if (fired > 1_000) throw new Error('more than 1000 timers fired in one advance()');
        let next: [number, { atMs: number; callback: () => void }] | undefined;
        for (const entry of timers)
          if (entry[1].atMs <= targetMs && (!next || entry[1].atMs < next[1].atMs)) next = entry;
        if (!next) break;
        timers.delete(next[0]);
        nowMs += next[1].atMs - monoMs;
        monoMs = next[1].atMs;
        next[1].callback();
      }
      nowMs += targetMs - monoMs;
      monoMs = targetMs;
    },
    /** Moves the wall clock only, as during a device's sleep: timers do not fire. */
    jump(ms: number): void {
      nowMs += ms;
    },
    /** Due `ms` from now on both clocks, as the manager schedules. */
    dueIn: (ms: number) => ({ wall: nowMs + ms, mono: monoMs + ms }),
  };
}

installFakeClock();
startServer();
const createManager = trackManagers({ refresh: { url: REFRESH_URL }, refreshMargin: MARGIN_MS, onResume: noResume });

describe('createScheduler', () => {
  it('runs the action once, when it is due', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const action = vi.fn();

    scheduler.schedule(clock.dueIn(1_000), action);
    expect(clock.timers.size).toBe(1);
    clock.advance(999);
    expect(action).not.toHaveBeenCalled();
    clock.advance(1);
    expect(action).toHaveBeenCalledTimes(1);
    clock.advance(60 * 60_000);
    expect(action).toHaveBeenCalledTimes(1);
    expect(clock.timers.size).toBe(0);
  });

  it('chains delays longer than 2^31-1 ms and never fires early', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const action = vi.fn();
    const dueAtMs = START_MS + 2 * MAX_TIMER_DELAY_MS + 5_000;

    scheduler.schedule(clock.dueIn(2 * MAX_TIMER_DELAY_MS + 5_000), action);
    clock.advance(1);
    expect(action).not.toHaveBeenCalled();
    clock.advance(MAX_TIMER_DELAY_MS - 1);
    expect(action).not.toHaveBeenCalled();
    clock.advance(MAX_TIMER_DELAY_MS);
    expect(action).not.toHaveBeenCalled();
    clock.advance(4_999);
    expect(action).not.toHaveBeenCalled();
    clock.advance(1);

    expect(action).toHaveBeenCalledTimes(1);
    expect(clock.now()).toBe(dueAtMs);
    expect(clock.delays.length).toBeGreaterThanOrEqual(3);
    for (const delayMs of clock.delays) expect(delayMs).toBeLessThanOrEqual(MAX_TIMER_DELAY_MS);
  });

  it('cancel() drops the pending action and its timer', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const action = vi.fn();

    scheduler.schedule(clock.dueIn(1_000), action);
    expect(clock.timers.size).toBe(1);
    scheduler.cancel();

    expect(clock.timers.size).toBe(0);
    clock.advance(10_000);
    scheduler.check();
    expect(action).not.toHaveBeenCalled();
  });

  it('check() runs the action only when it is due, and only once', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const action = vi.fn();

    scheduler.schedule(clock.dueIn(10_000), action);
    scheduler.check();
    clock.jump(9_999); // asleep: the timer has not fired
    scheduler.check();
    expect(action).not.toHaveBeenCalled();

    clock.jump(1);
    scheduler.check();
    expect(action).toHaveBeenCalledTimes(1);
    expect(clock.timers.size).toBe(0);

    scheduler.check();
    clock.advance(60_000);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('runs the action when the monotonic clock says it is due, though the wall clock was set back', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const action = vi.fn();

    scheduler.schedule(clock.dueIn(10_000), action);
    clock.jump(-3_600_000); // the user or NTP set the wall clock back an hour
    clock.advance(9_999);
    expect(action).not.toHaveBeenCalled();
    clock.advance(1);
    expect(action).toHaveBeenCalledTimes(1);
  });

  it('schedule() replaces the pending action', () => {
    const clock = createFakeClock();
    const scheduler = createScheduler(clock.environment);
    const first = vi.fn();
    const second = vi.fn();

    scheduler.schedule(clock.dueIn(1_000), first);
    scheduler.schedule(clock.dueIn(2_000), second);
    expect(clock.timers.size).toBe(1);
    clock.advance(5_000);

    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
  });
});

describe('proactive refresh', () => {
  it('refreshes once at expiresAt - refreshMargin, then again for the new token', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S), refresh_token: 'r2' }));
    server.use(refresh.handler);
    const auth = createManager();
    const refreshed = vi.fn();
    auth.on('refresh', refreshed);
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(DUE_IN_MS - 1);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(refresh.seen).toHaveLength(1);
    expect(JSON.parse(refresh.seen[0]!.body)).toEqual({ refresh_token: 'r1' });
    expect(refreshed).toHaveBeenCalledTimes(1);
    expect(auth.getState().expiresAt).toBe(START_MS + DUE_IN_MS + LIFETIME_MS);

    // The new token, received at the due time, is refreshed at its own due time.
    await vi.advanceTimersByTimeAsync(DUE_IN_MS - 1);
    expect(refresh.seen).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(refresh.seen).toHaveLength(2);
    expect(JSON.parse(refresh.seen[1]!.body)).toEqual({ refresh_token: 'r2' });
    expect(refreshed).toHaveBeenCalledTimes(2);
    auth.destroy();
  });

  it('refreshes at half the lifetime when the margin is longer than that', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    server.use(refresh.handler);
    const auth = createManager({ refreshMargin: 60_000 });
    await auth.setTokens({ accessToken: jwtFor(60), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(30_000 - 1);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });

  it('does not fire early for a token that lives longer than 2^31-1 ms', async () => {
    const refresh = refreshEndpoint(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    server.use(refresh.handler);
    const auth = createManager();
    const lifetimeS = 40 * 24 * 60 * 60; // 40 days, beyond the ~24.8 days a timer can wait
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    await auth.setTokens({ accessToken: jwtFor(lifetimeS), refreshToken: 'r1' });
    const dueInMs = lifetimeS * 1000 - MARGIN_MS;
    // A longer delay would fire after 1 ms (browsers, Node and the fake timers alike).
    for (const [, delayMs] of setTimeoutSpy.mock.calls) expect(delayMs ?? 0).toBeLessThanOrEqual(MAX_TIMER_DELAY_MS);

    await vi.advanceTimersByTimeAsync(1_000);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_DELAY_MS);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(dueInMs - MAX_TIMER_DELAY_MS - 1_000 - 1);
    expect(refresh.seen).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(refresh.seen).toHaveLength(1);
    auth.destroy();
  });
});

describe('resume', () => {
  function setup(respond: (call: number) => Response) {
    const refresh = refreshEndpoint(respond);
    server.use(refresh.handler);
    const trigger = createResumeTrigger();
    const auth = createManager({ onResume: trigger.onResume });
    return { refresh, trigger, auth };
  }

  it('starts an overdue refresh at once when the app resumes after a sleep', async () => {
    const next = jwtFor(LIFETIME_S);
    const { refresh, trigger, auth } = setup(() => HttpResponse.json({ access_token: next }));
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    // The device slept past the due time: the wall clock moved, the timer did not fire.
    vi.setSystemTime(START_MS + DUE_IN_MS + 30_000);
    await flush();
    expect(refresh.seen).toHaveLength(0);

    trigger.fire();
    await flush();
    expect(refresh.seen).toHaveLength(1);
    expect(auth.getState().accessToken).toBe(next);
    auth.destroy();
  });

  it('does nothing on resume when no refresh is due', async () => {
    const { refresh, trigger, auth } = setup(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    const first = jwtFor(LIFETIME_S);
    await auth.setTokens({ accessToken: first, refreshToken: 'r1' });

    vi.setSystemTime(START_MS + DUE_IN_MS - 1_000);
    trigger.fire();
    await flush();

    expect(refresh.seen).toHaveLength(0);
    expect(auth.getState().accessToken).toBe(first);
    auth.destroy();
  });

  it('retries at once on resume while a failed refresh is backing off', async () => {
    const next = jwtFor(LIFETIME_S);
    const { refresh, trigger, auth } = setup((call) =>
      call <= 5 ? new HttpResponse(null, { status: 503 }) : HttpResponse.json({ access_token: next }),
    );
    await auth.setTokens({ accessToken: jwtFor(LIFETIME_S), refreshToken: 'r1' });

    await vi.advanceTimersByTimeAsync(DUE_IN_MS);
    for (let step = 0; step < 120 && refresh.seen.length < 5; step += 1) await vi.advanceTimersByTimeAsync(500);
    expect(refresh.seen).toHaveLength(5);
    await flush();
    expect(refresh.seen).toHaveLength(5); // the next retry is not due yet

    trigger.fire();
    await flush();
    expect(refresh.seen).toHaveLength(6);
    expect(auth.getState()).toMatchObject({ status: 'authenticated', accessToken: next });
    auth.destroy();
  });

  it('does nothing on resume when signed out', async () => {
    const { refresh, trigger, auth } = setup(() => HttpResponse.json({ access_token: jwtFor(LIFETIME_S) }));
    await auth.ready;

    vi.setSystemTime(START_MS + 10 * LIFETIME_MS);
    trigger.fire();
    await flush();

    expect(refresh.seen).toHaveLength(0);
    expect(auth.getState().status).toBe('unauthenticated');
    auth.destroy();
  });
});
