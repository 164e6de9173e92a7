import { useEffect } from 'react';
import { useAuthState } from 'tokenkeeper/react';
import { Actions } from './Actions';
import { auth } from './auth';
import { Counters } from './Counters';
import { EventLog } from './EventLog';
import { useFocusAfterStatusChange, useServerStats, useTokenBeforeLogout } from './hooks';
import { Session } from './Session';
import { SignIn } from './SignIn';

export function App() {
  const state = useAuthState(auth);
  const { stats, error } = useServerStats();
  const replayToken = useTokenBeforeLogout();
  useFocusAfterStatusChange(state.status);
  // The status in the tab's title, to watch several tabs at once.
  useEffect(() => {
    document.title = `${state.status} · tokenkeeper demo`;
  }, [state.status]);
  return (
    <>
      <header>
        <h1>tokenkeeper demo</h1>
        <p>
          Short-lived access tokens refreshed before they expire, one refresh shared by every tab, and a logout that
          ends the session everywhere. Open a second tab and watch both.
        </p>
      </header>
      <main className="layout">
        <div className="column">
          <Session state={state} />
          {state.status === 'unauthenticated' && <SignIn />}
          <Actions status={state.status} brokenUntil={stats?.refreshBrokenUntil ?? null} replayToken={replayToken} />
        </div>
        <div className="column">
          <EventLog />
          <Counters stats={stats} error={error} />
        </div>
      </main>
    </>
  );
}
