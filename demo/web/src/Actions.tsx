import { type ReactNode, useState } from 'react';
import type { AuthStatus } from 'tokenkeeper';
import { api, auth } from './auth';
import { seconds, useNow } from './hooks';
import { breakRefresh, describeError, readStats, replay } from './server';

const BURST_SIZE = 20;
const BREAK_SECONDS = 15;

/** The server's refresh count, or `null` when it has no counters. */
const refreshCount = () =>
  readStats().then(
    (stats) => stats.refreshes ?? null,
    () => null,
  );

interface Props {
  status: AuthStatus;
  /** From the server's counters: until when the refresh endpoint is broken (by any tab). */
  brokenUntil: number | null;
  /** The access token held before the latest logout, or `null`. */
  replayToken: string | null;
}

interface Result {
  action: string;
  ok: boolean;
  text: string;
}

export function Actions({ status, brokenUntil, replayToken }: Props) {
  const [result, setResult] = useState<Result | null>(null);
  const [brokenHereUntil, setBrokenHereUntil] = useState<number | null>(null);
  const now = useNow();
  const brokenLeftMs = Math.max(brokenUntil ?? 0, brokenHereUntil ?? 0) - now;
  const signedIn = status === 'authenticated';

  /** Runs an action and shows what it answered or why it failed. */
  const run = (action: string, task: () => Promise<string>) => async () => {
    setResult({ action, ok: true, text: 'Working…' });
    try {
      setResult({ action, ok: true, text: await task() });
    } catch (error) {
      setResult({ action, ok: false, text: await describeError(error) });
    }
  };

  const actions: { id: string; label: string; enabled: boolean; onClick: () => void; about: ReactNode }[] = [
    {
      id: 'call-api',
      label: 'Call the API',
      enabled: signedIn,
      about: (
        <>
          ky sends <code>GET /api/me</code> with the token
        </>
      ),
      onClick: run('call-api', async () => {
        const response = await api.get('/api/me');
        return `GET /api/me answered ${response.status}\n${JSON.stringify(await response.json(), null, 2)}`;
      }),
    },
    {
      id: 'burst',
      label: `${BURST_SIZE} calls at once`,
      enabled: signedIn,
      about: 'the server first treats the token as expired: all of them get a 401 and share one refresh',
      onClick: run('burst', async () => {
        // Demo control: from now on the API answers 401 to the token held, as it would once the token expired.
        await api.post('/demo/expire-token');
        const before = await refreshCount();
        const calls = await Promise.allSettled(Array.from({ length: BURST_SIZE }, () => api.get('/api/me')));
        const after = await refreshCount();
        const succeeded = calls.filter((call) => call.status === 'fulfilled').length;
        const refreshes =
          before === null || after === null
            ? 'the server has no refresh counter'
            : `the server counted ${after - before} refresh${after - before === 1 ? '' : 'es'} meanwhile (${before} → ${after})`;
        return `${succeeded} of ${BURST_SIZE} calls succeeded; ${refreshes}`;
      }),
    },
    {
      id: 'refresh',
      label: 'Refresh now',
      enabled: signedIn,
      about: <code>auth.refresh()</code>,
      onClick: run('refresh', async () => {
        await auth.refresh();
        const { expiresAt } = auth.getState();
        return `Refreshed; the new token expires in ${expiresAt === null ? 'never' : seconds(expiresAt - Date.now())}`;
      }),
    },
    {
      id: 'break',
      label: `Break the refresh endpoint for ${BREAK_SECONDS} s`,
      enabled: brokenLeftMs <= 0,
      about: 'refreshes get 503; watch the retries back off',
      onClick: run('break', async () => {
        setBrokenHereUntil(await breakRefresh(BREAK_SECONDS));
        return `The refresh endpoint answers 503 for ${BREAK_SECONDS} s`;
      }),
    },
    {
      id: 'logout',
      label: 'Log out',
      enabled: signedIn,
      about: 'every tab of this browser signs out',
      onClick: run('logout', async () => {
        const { serverNotified } = await auth.logout();
        return serverNotified
          ? 'Logged out; the server revoked the session'
          : 'Logged out; the server could not be told';
      }),
    },
    {
      id: 'logout-everywhere',
      label: 'Log out everywhere',
      enabled: signedIn,
      about: 'ends every session of this user, in every browser',
      onClick: run('logout-everywhere', async () => {
        await api.post('/auth/logout-everywhere');
        await auth.logout({ reason: 'everywhere' });
        return 'Every session of this user ended';
      }),
    },
    {
      id: 'open-tab',
      label: 'Open another tab',
      enabled: true,
      about: 'it shares this session',
      onClick: () => window.open(window.location.href, '_blank'),
    },
    {
      id: 'replay',
      label: 'Replay the old token',
      enabled: replayToken !== null,
      about: 'sends the token held before the last logout',
      onClick: run('replay', async () => `GET /api/me with the old token answered ${await replay(replayToken ?? '')}`),
    },
  ];

  return (
    <section id="actions" aria-labelledby="actions-heading" className="panel">
      <h2 id="actions-heading">Try it</h2>
      <ul className="actions">
        {actions.map(({ id, label, enabled, onClick, about }) => (
          <li key={id}>
            <button
              type="button"
              data-testid={`action-${id}`}
              aria-describedby={`about-${id}`}
              disabled={!enabled}
              onClick={onClick}
            >
              {label}
            </button>
            <span id={`about-${id}`} className="hint">
              {about}
            </span>
          </li>
        ))}
      </ul>
      {brokenLeftMs > 0 && (
        <p className="warning" data-testid="break-countdown">
          The refresh endpoint is broken for {seconds(brokenLeftMs)} more.
        </p>
      )}
      <output
        className={result?.ok === false ? 'result error' : 'result'}
        data-testid="result"
        data-action={result?.action}
      >
        {result ? <pre>{result.text}</pre> : 'The answers show here.'}
      </output>
    </section>
  );
}
