import { type Envelope, openTabChannel, type TabChannel } from './channel';
import type { Environment } from './environment';
import { parseSession } from './storage';
import { type Session, type SessionRecord, toSessionRecord } from './token';
import type { TokenStorage } from './types';

/** How long a tab waits for the other tabs to answer "who has the session?". */
export const QUERY_TIMEOUT_MS = 100;

/** What the cross-tab sync needs from the manager. */
export interface TabSyncHost {
  environment: Pick<Environment, 'createChannel' | 'onStorageChange' | 'createId' | 'setTimeout' | 'clearTimeout'>;
  channelName: string | false;
  /** The storage given in the options (not the in-memory default), watched for changes by other tabs. */
  storage: TokenStorage | null;
  storageKey: string;
  current(): Session | null;
  /** Another tab has this session (a login, a refresh or an answer); the manager decides whether it is news. */
  adopt(record: SessionRecord): void;
  /** Another tab ended a session: `sessionId`, or, from a storage event that does not say, whichever is held. */
  endRemote(sessionId: string | null): void;
}

/** Keeps tabs that share a channel on one session. */
export interface TabSync {
  /** Whether another tab has been heard from; only then is a query worth its wait. */
  readonly hasPeers: boolean;
  announceLogin(session: Session): void;
  announceRefresh(session: Session): void;
  announceLogout(sessionId: string): void;
  /**
   * Asks the other tabs for their session. Resolves with the sessions they answered with once every known
   * tab has answered (`untilFirstSession`: once one answers with a session), or after `QUERY_TIMEOUT_MS`.
   * Tabs that do not answer in time are forgotten (closed or crashed).
   */
  query(options?: { untilFirstSession?: boolean }): Promise<SessionRecord[]>;
  close(): void;
}

interface PendingQuery {
  waitingFor: Set<string>;
  untilFirstSession: boolean;
  sessions: SessionRecord[];
  finish(timedOut: boolean): void;
}

/** Cross-tab sync over the channel and, for a shared storage such as localStorage, its `storage` events. */
export function createTabSync(host: TabSyncHost): TabSync {
  const { environment } = host;
  const tabId = environment.createId();
  const peers = new Set<string>();
  const pending = new Map<string, PendingQuery>();
  let channel: TabChannel | null = null;

  const onMessage = (message: Envelope): void => {
    peers.add(message.from);
    switch (message.type) {
      case 'login':
      case 'refresh':
        host.adopt(message.session);
        return;
      case 'logout':
        host.endRemote(message.sessionId);
        return;
      case 'query': {
        const session = host.current();
        channel?.post({
          type: 'state',
          to: message.from,
          queryId: message.queryId,
          session: session ? toSessionRecord(session) : null,
        });
        return;
      }
      case 'state': {
        if (message.to !== tabId) return;
        const query = pending.get(message.queryId);
        if (!query) return;
        query.waitingFor.delete(message.from);
        if (message.session) query.sessions.push(message.session);
        if ((query.untilFirstSession && message.session) || (!query.untilFirstSession && query.waitingFor.size === 0)) {
          query.finish(false);
        }
      }
    }
  };

  const opened = host.channelName === false ? null : environment.createChannel(host.channelName);
  if (opened) channel = openTabChannel(opened, tabId, onMessage);

  const stopWatchingStorage = host.storage
    ? environment.onStorageChange(host.storage, host.storageKey, (newValue) => {
        if (newValue === null) {
          host.endRemote(null);
          return;
        }
        const stored = parseSession(newValue);
        if (stored) host.adopt(toSessionRecord(stored));
      })
    : () => {};

  const post = (message: Parameters<TabChannel['post']>[0]): void => channel?.post(message);

  return {
    get hasPeers() {
      return peers.size > 0;
    },
    announceLogin: (session) => post({ type: 'login', session: toSessionRecord(session) }),
    announceRefresh: (session) => post({ type: 'refresh', session: toSessionRecord(session) }),
    announceLogout: (sessionId) => post({ type: 'logout', sessionId }),
    query({ untilFirstSession = false } = {}) {
      if (!channel) return Promise.resolve([]);
      const queryId = environment.createId();
      return new Promise((resolve) => {
        const query: PendingQuery = {
          waitingFor: new Set(peers),
          untilFirstSession,
          sessions: [],
          finish(timedOut) {
            environment.clearTimeout(handle);
            pending.delete(queryId);
            if (timedOut) for (const silent of query.waitingFor) peers.delete(silent);
            resolve(query.sessions);
          },
        };
        const handle = environment.setTimeout(() => query.finish(true), QUERY_TIMEOUT_MS);
        pending.set(queryId, query);
        post({ type: 'query', queryId });
      });
    },
    close() {
      stopWatchingStorage();
      channel?.close();
      channel = null;
      for (const query of [...pending.values()]) query.finish(false);
    },
  };
}
