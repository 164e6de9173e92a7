import { useEffect, useRef, useState } from 'react';
import type { AuthStatus } from 'tokenkeeper';
import { auth } from './auth';
import { MissingRouteError, readStats, type ServerStats } from './server';

/** `Date.now()`, re-read every `intervalMs`: enough for a countdown (the bar's CSS transition smooths it). */
export function useNow(intervalMs = 250): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** `GET /api/stats` every second (no token: the counters are public), or why it failed; stops at a 404. */
export function useServerStats(): { stats: ServerStats | null; error: string | null } {
  const [result, setResult] = useState<{ stats: ServerStats | null; error: string | null }>({
    stats: null,
    error: null,
  });
  useEffect(() => {
    const controller = new AbortController();
    let inFlight = false;
    const poll = async () => {
      if (inFlight) return;
      inFlight = true;
      try {
        setResult({ stats: await readStats(controller.signal), error: null });
      } catch (error) {
        if (controller.signal.aborted) return;
        setResult({ stats: null, error: (error as Error).message });
        if (error instanceof MissingRouteError) clearInterval(timer);
      } finally {
        inFlight = false;
      }
    };
    const timer = setInterval(poll, 1000);
    void poll();
    return () => {
      clearInterval(timer);
      controller.abort();
    };
  }, []);
  return result;
}

/**
 * The last access token this tab held before the latest logout (here or in another tab), for the replay
 * button. Kept in memory only, never shown.
 */
export function useTokenBeforeLogout(): string | null {
  const [ended, setEnded] = useState<string | null>(null);
  useEffect(() => {
    let held = auth.getState().accessToken;
    const stopState = auth.subscribe((state) => {
      if (state.accessToken !== null) held = state.accessToken;
    });
    const stopLogout = auth.on('logout', () => setEnded(held));
    return () => {
      stopState();
      stopLogout();
    };
  }, []);
  return ended;
}

/**
 * Keeps the keyboard focus on the page when the status changes: signing in removes the form whose button had
 * it, and logging out disables the button that had it. Then the focus goes where the user goes next.
 */
export function useFocusAfterStatusChange(status: AuthStatus): void {
  const previous = useRef(status);
  useEffect(() => {
    if (previous.current === status) return;
    previous.current = status;
    const active = document.activeElement;
    const lost = active === null || active === document.body || (active as HTMLButtonElement).disabled === true;
    if (!lost) return;
    const target = status === 'unauthenticated' ? '#username' : '#actions button:enabled';
    document.querySelector<HTMLElement>(target)?.focus();
  }, [status]);
}

/** `14:03:07.412`, local time. */
export function clockTime(ms: number): string {
  const date = new Date(ms);
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

/** `12.3 s` */
export const seconds = (ms: number): string => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
