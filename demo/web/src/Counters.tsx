import type { ServerStats } from './server';

const COUNTERS: [key: string, label: string][] = [
  ['logins', 'Logins'],
  ['refreshes', 'Refreshes'],
  ['reuseDetected', 'Reuse detected'],
  ['logouts', 'Logouts'],
  ['logoutsEverywhere', 'Logouts everywhere'],
  ['apiCalls', 'API calls'],
  ['apiUnauthorized', 'API 401s'],
  ['deniedTokens', 'Deny-list size'],
  ['refreshFailures', 'Refresh failures'],
];

/** The server's counters, the same for every tab: one refresh per cycle however many tabs are open. */
export function Counters({ stats, error }: { stats: ServerStats | null; error: string | null }) {
  return (
    <section aria-labelledby="counters-heading" className="panel">
      <h2 id="counters-heading">Server counters</h2>
      {error && (
        <p className="error" data-testid="counters-error">
          Counters unavailable: {error}
        </p>
      )}
      <dl className="counters" data-testid="counters">
        {COUNTERS.map(([key, label]) => (
          <div key={key}>
            <dt>{label}</dt>
            <dd data-testid={`counter-${key}`}>{stats?.[key] ?? '—'}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
