import type { TokenManager, TokenManagerEvents } from 'tokenkeeper';

type EventName = keyof TokenManagerEvents;

/** The payloads of every event of a manager, one list per event. */
export type RecordedEvents = { [E in EventName]: TokenManagerEvents[E][] };

function listen<E extends EventName>(auth: TokenManager, event: E, order?: string[]): TokenManagerEvents[E][] {
  const payloads: TokenManagerEvents[E][] = [];
  auth.on(event, (payload) => {
    order?.push(event);
    payloads.push(payload);
  });
  return payloads;
}

/** The payloads of one event of `auth`, from now on. */
export function collect<E extends EventName>(auth: TokenManager, event: E): TokenManagerEvents[E][] {
  return listen(auth, event);
}

/** The payloads of `login`, `refresh`, `logout` and `error`, from now on. */
export function recordEvents(auth: TokenManager): RecordedEvents {
  return {
    login: listen(auth, 'login'),
    refresh: listen(auth, 'refresh'),
    logout: listen(auth, 'logout'),
    error: listen(auth, 'error'),
  };
}

/** As `recordEvents`, plus `order`: the names of the events in the order they came, across all four. */
export function recordEventsInOrder(auth: TokenManager): RecordedEvents & { order: string[] } {
  const order: string[] = [];
  return {
    order,
    login: listen(auth, 'login', order),
    refresh: listen(auth, 'refresh', order),
    logout: listen(auth, 'logout', order),
    error: listen(auth, 'error', order),
  };
}
