import { useEffect, useState } from 'react';
import type { TokenManagerEventName } from 'tokenkeeper';
import { auth } from './auth';
import { clockTime, seconds } from './hooks';

const MAX_ENTRIES = 50;

interface Entry {
  id: number;
  at: number;
  event: TokenManagerEventName;
  text: string;
}

/** The manager's events, newest first. Never a token: only sources, reasons, error codes and messages. */
function useEventLog(): Entry[] {
  const [entries, setEntries] = useState<Entry[]>([]);
  useEffect(() => {
    let nextId = 0;
    // Failed refresh attempts in a row, to show the backoff between retries.
    let failures = 0;
    let lastFailureAt = 0;
    const add = (event: TokenManagerEventName, text: string) => {
      const entry = { id: nextId++, at: Date.now(), event, text };
      setEntries((previous) => [entry, ...previous].slice(0, MAX_ENTRIES));
    };
    const endStreak = () => {
      failures = 0;
    };
    const stops = [
      auth.on('login', ({ source }) => {
        endStreak();
        add('login', `login (source: ${source})`);
      }),
      auth.on('refresh', ({ source, expiresAt }) => {
        endStreak();
        const lifetime = expiresAt === null ? 'never expires' : `expires in ${seconds(expiresAt - Date.now())}`;
        add('refresh', `refresh (source: ${source}), new token ${lifetime}`);
      }),
      auth.on('logout', ({ reason }) => {
        endStreak();
        add('logout', `logout (reason: ${reason})`);
      }),
      auth.on('error', ({ error }) => {
        const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
        let retry = '';
        if (error.code === 'refresh_failed') {
          const now = Date.now();
          failures += 1;
          retry =
            failures === 1
              ? ', attempt 1'
              : `, attempt ${failures}, ${seconds(now - lastFailureAt)} after the previous`;
          lastFailureAt = now;
        }
        add('error', `error ${error.code}: ${error.message}${cause}${retry}`);
      }),
    ];
    return () => {
      for (const stop of stops) stop();
    };
  }, []);
  return entries;
}

export function EventLog() {
  const entries = useEventLog();
  return (
    <section aria-labelledby="log-heading" className="panel">
      <h2 id="log-heading">Events in this tab</h2>
      {entries.length === 0 && <p className="muted">No events yet. Sign in, or act in another tab.</p>}
      <ol className="log" data-testid="event-log" aria-live="polite">
        {entries.map((entry) => (
          <li key={entry.id} data-event={entry.event} className={`log-${entry.event}`}>
            <time dateTime={new Date(entry.at).toISOString()}>{clockTime(entry.at)}</time> {entry.text}
          </li>
        ))}
      </ol>
    </section>
  );
}
