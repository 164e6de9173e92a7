import type { AuthState } from 'tokenkeeper';
import { type DemoClaims, refreshMarginFor } from './auth';
import { clockTime, seconds, useNow } from './hooks';

type State = AuthState<DemoClaims>;

/** The access token's claims (never the token itself). */
function Claims({ claims }: { claims: DemoClaims }) {
  const rows: [keyof DemoClaims, string][] = [
    ['sub', claims.sub],
    ['jti', claims.jti],
    ['ver', claims.ver === undefined ? '—' : String(claims.ver)],
    ['iat', `${claims.iat} (${clockTime(claims.iat * 1000).slice(0, 8)})`],
    ['exp', `${claims.exp} (${clockTime(claims.exp * 1000).slice(0, 8)})`],
  ];
  return (
    <dl className="claims" data-testid="claims">
      {rows.map(([name, value]) => (
        <div key={name}>
          <dt>{name}</dt>
          <dd data-testid={`claim-${name}`}>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * Time left on the access token, and when the manager refreshes it on its own:
 * `expiresAt - min(refreshMargin, lifetime / 2)`, the lifetime taken from the claims (`exp - iat`).
 */
function Countdown({
  expiresAt,
  lifetimeMs,
  refreshing,
}: {
  expiresAt: number;
  lifetimeMs: number;
  refreshing: boolean;
}) {
  const now = useNow();
  const leftMs = Math.max(0, expiresAt - now);
  const marginMs = refreshMarginFor(lifetimeMs);
  const percent = (ms: number) => `${Math.min(100, (ms / lifetimeMs) * 100)}%`;
  let next: string;
  if (refreshing) next = 'Refreshing now…';
  else if (leftMs === 0) next = 'Expired: the refresh is retried with backoff';
  else if (leftMs <= marginMs) next = 'Refresh due: retried with backoff';
  else next = `Next refresh in ${seconds(leftMs - marginMs)}`;
  return (
    <div className="countdown" data-testid="countdown">
      {/* The text below says the same in words; the bar is a picture of it. */}
      <div className="bar" aria-hidden="true">
        <div className="bar-fill" style={{ width: percent(leftMs) }} />
        <div className="bar-marker" style={{ left: percent(marginMs) }} title="proactive refresh" />
      </div>
      <p className="countdown-text">
        <span data-testid="expires-in">Expires in {seconds(leftMs)}</span>
        <span data-testid="next-refresh">{next}</span>
      </p>
      <p className="hint">The bar is the time left; the orange mark is where the manager refreshes on its own.</p>
    </div>
  );
}

export function Session({ state }: { state: State }) {
  const lifetimeMs = state.claims ? (state.claims.exp - state.claims.iat) * 1000 : null;
  return (
    <section aria-labelledby="session-heading" className="panel">
      <h2 id="session-heading">Session</h2>
      <p>
        Status:{' '}
        <strong className={`status status-${state.status}`} data-testid="status">
          {state.status}
        </strong>
        {state.status === 'authenticated' && state.claims && <> as {state.claims.sub}</>}
      </p>
      {state.status === 'authenticated' && state.claims && <Claims claims={state.claims} />}
      {state.status === 'authenticated' && state.expiresAt !== null && lifetimeMs !== null && lifetimeMs > 0 && (
        <Countdown expiresAt={state.expiresAt} lifetimeMs={lifetimeMs} refreshing={state.refreshing} />
      )}
    </section>
  );
}
