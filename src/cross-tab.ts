import { type Envelope, openTabChannel, type TabChannel } from './channel';
import type { Environment } from './environment';
import type { LockManagerLike } from './lock';
import type { NormalizedOptions } from './options';
import { compareSessions, isEndedBy, type LoginKey, type SessionRecord, toLoginKey, toRecord } from './session';
import { parseStored, type Stored } from './storage';

/** How long a tab waits for the other tabs to answer "who has the session?". */
export const QUERY_TIMEOUT_MS = 100;
/** How long after it opened a tab may not know the other tabs yet (their answers to its first query). */
const NEW_TAB_WINDOW_MS = 1_000;

/** The managers of this realm, by channel name: where Web Locks are missing, who else is here. */
const realmTabs = new Map<string, Set<string>>();

/**
 * Tells how many other tabs are on the channel. Each tab holds a Web Lock named after the channel and itself
 * for as long as it runs; the browser releases it when the tab closes or crashes, so the locks held are the
 * tabs open. Without Web Locks, the managers of this realm are all that can be known.
 */
function createPresence(
  channelName: string,
  tabId: string,
  locks: LockManagerLike | null,
): { others(): Promise<number | null>; close(): void } {
  const prefix = `tokenkeeper:tab:${channelName}:`;
  const here = realmTabs.get(channelName) ?? new Set<string>();
  realmTabs.set(channelName, here);
  here.add(tabId);
  let release = (): void => {};
  // Web Locks that can list the locks held; else only this realm's managers can be counted.
  const queryable = typeof locks?.query === 'function' ? locks : null;
  if (queryable) {
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    queryable.request(prefix + tabId, {}, () => held).catch(() => {});
  }
  return {
    async others() {
      if (!queryable) return here.size - 1;
      try {
        const { held = [], pending = [] } = await (queryable.query as NonNullable<LockManagerLike['query']>)();
        const names = new Set([...held, ...pending].map((lock) => lock.name));
        names.delete(prefix + tabId);
        return [...names].filter((name) => name?.startsWith(prefix)).length;
      } catch {
        // Locks the browser will not show (an opaque origin, say): who is there is not known.
        return null;
      }
    },
    close() {
      release();
      here.delete(tabId);
      if (here.size === 0) realmTabs.delete(channelName);
    },
  };
}

/**
 * A session or a logout another tab holds (it said so on the channel, or wrote it to storage): taken when it is
 * news. `tokens`: the logout also ends any session holding one of them.
 */
export type Receive = (
  heard: { session?: SessionRecord | null; floor?: LoginKey | null },
  via: 'channel' | 'storage',
  tokens?: readonly string[],
) => void;

/** Keeps tabs that share a channel on one session. */
export interface TabSync {
  /** Whether a channel to other tabs was opened. */
  readonly connected: boolean;
  /**
   * Whether a query may find another tab: one has been heard from, or this tab opened so recently that the
   * others may not have answered its first query yet. Otherwise a query would only wait out its timeout.
   */
  mayHavePeers(): boolean;
  sendSession(session: SessionRecord): void;
  sendLogout(floor: LoginKey, tokens: readonly string[]): void;
  /**
   * Asks the other tabs for their state; each answer is taken in as it arrives. Resolves once every known tab
   * has answered (`untilSession`: once one answers with a session), or after `QUERY_TIMEOUT_MS`. Tabs that do not
   * answer in time are forgotten (closed or crashed).
   */
  query(options?: { untilSession?: boolean; expected?: number; first?: boolean }): Promise<void>;
  /**
   * How many tabs the first query waits for (`others()`, learnt while it is out): it ends once that many
   * answered, at once for `0`.
   */
  expectAnswers(count: number): void;
  /**
   * How many other tabs are on the channel: `0` means this tab is alone and need not wait for answers;
   * `null` where that cannot be told.
   */
  others(): Promise<number | null>;
  close(): void;
}

interface PendingQuery {
  /**
   * Counts the answer of tab `from` (`withSession`: it held one), or learns how many tabs will answer (`count`);
   * the query ends once it has what it waits for.
   */
  answer(from: string | null, withSession: boolean, count?: number): void;
  /** Ends the query; `timedOut`: the tabs that did not answer are forgotten. */
  finish(timedOut?: boolean): void;
}

/** Cross-tab sync over the channel and, for a shared storage such as localStorage, its `storage` events. */
export function createTabSync(
  environment: Pick<
    Environment,
    'createChannel' | 'onStorageChange' | 'createId' | 'setTimeout' | 'clearTimeout' | 'monotonicNow' | 'locks'
  >,
  /** The channel's name, the storage given in the options (not the in-memory default, watched for changes by other tabs) and its key. */
  { channel: channelName, storage, storageKey }: Pick<NormalizedOptions, 'channel' | 'storage' | 'storageKey'>,
  /** This tab's session and latest logout. */
  current: () => Stored,
  receive: Receive,
  /**
   * The session another tab answered the query this tab made when it opened with, when a login or logout here
   * came meanwhile: that tab held it before it heard of the decision here, which orders after it. Returns
   * whether the session was handled so (else it is taken in as any other). Logouts in answers are always
   * taken in: a logout is never undone by a login it may have come after.
   */
  overruledByDecision: (session: SessionRecord) => boolean,
): TabSync {
  const tabId = environment.createId();
  const openedAt = environment.monotonicNow();
  const peers = new Set<string>();
  const pending = new Map<string, PendingQuery>();
  let channel: TabChannel | null = null;
  /** The query this tab made when it opened. */
  let firstQueryId: string | null = null;

  /** This tab's session and latest logout, as a message carries them. */
  const heldNow = (): { session: SessionRecord | null; floor: LoginKey | null } => {
    const { session, floor } = current();
    return { session: session && toRecord(session), floor };
  };
  const post = (message: Parameters<TabChannel['post']>[0]): void => channel?.post(message);
  const sendSession = (session: SessionRecord): void => post({ type: 'session', session: toRecord(session) });
  const sendLogout = (floor: LoginKey, tokens: readonly string[]): void =>
    post({ type: 'logout', ...toLoginKey(floor), tokens: [...tokens] });

  /**
   * A tab that hears of a state older than its own says what it has, so that the sender catches up: tabs
   * converge even when one of them acted before it had heard of the others (a new tab, say).
   */
  const answerIfBehind = (incoming: SessionRecord | null, floor: LoginKey | null): void => {
    const mine = current();
    if (mine.session) {
      // Signed out there, and not by a logout that ends this session (no logout at all: a tab that could not read
      // its storage, say): behind too.
      const behind = incoming ? compareSessions(incoming, mine.session) < 0 : !isEndedBy(mine.session, floor);
      if (behind) sendSession(mine.session);
    } else if (incoming && mine.floor && isEndedBy(incoming, mine.floor)) {
      sendLogout(mine.floor, []);
    }
  };

  const onMessage = (message: Envelope): void => {
    peers.add(message.from);
    switch (message.type) {
      case 'session':
        receive(message, 'channel');
        answerIfBehind(message.session, null);
        return;
      case 'logout': {
        const floor = toLoginKey(message);
        receive({ floor }, 'channel', message.tokens);
        answerIfBehind(null, floor);
        return;
      }
      case 'query': {
        receive(message, 'channel');
        post({ type: 'state', to: message.from, queryId: message.queryId, ...heldNow() });
        return;
      }
      case 'state': {
        if (message.to !== tabId) return;
        // A logout another tab knows of is taken in at once, so that a login made here meanwhile orders after it.
        receive({ floor: message.floor }, 'channel');
        const overruled =
          message.queryId === firstQueryId && message.session !== null && overruledByDecision(message.session);
        if (!overruled) {
          // Every answer is taken in as it comes, not only the first with a session: a tab that answers late
          // may have the newer one. A tab that answers with less than this one has is told what this one has.
          receive({ session: message.session }, 'channel');
          answerIfBehind(message.session, message.floor);
        }
        pending.get(message.queryId)?.answer(message.from, message.session !== null);
      }
    }
  };

  const opened = channelName === false ? null : environment.createChannel(channelName);
  if (opened) channel = openTabChannel(opened, tabId, onMessage);
  const presence = channel && channelName !== false ? createPresence(channelName, tabId, environment.locks) : null;

  const stopWatchingStorage = storage
    ? environment.onStorageChange(storage, storageKey, (newValue, oldValue) => {
        const stored = newValue === null ? null : parseStored(newValue);
        if (stored) {
          receive(stored, 'storage');
          return;
        }
        if (newValue !== null) return;
        // The whole storage was cleared (`localStorage.clear()`): the session held here is over.
        const held = current().session;
        if (oldValue === undefined) {
          if (held) receive({ floor: toLoginKey(held) }, 'storage');
          return;
        }
        // A removal says which login ended through the value it removed. Where a channel is open the
        // channel says it too, and a removal may only be a write that failed and cleared the key.
        const removed = oldValue !== null && !channel ? parseStored(oldValue) : undefined;
        if (removed?.session) receive({ floor: toLoginKey(removed.session) }, 'storage');
      })
    : () => {};

  return {
    connected: channel !== null,
    mayHavePeers: () =>
      channel !== null && (peers.size > 0 || environment.monotonicNow() - openedAt < NEW_TAB_WINDOW_MS),
    sendSession,
    sendLogout,
    others: () => presence?.others() ?? Promise.resolve(0),
    expectAnswers(count) {
      // Map.get(null) is undefined: no first query.
      pending.get(firstQueryId as string)?.answer(null, false, count);
    },
    query({ untilSession = false, expected, first = false } = {}) {
      if (!channel) return Promise.resolve();
      const queryId = environment.createId();
      if (first) firstQueryId = queryId;
      return new Promise((resolve) => {
        const waitingFor = new Set(peers);
        const answered = new Set<string>();
        const finish = (timedOut?: boolean): void => {
          environment.clearTimeout(handle);
          pending.delete(queryId);
          if (timedOut) for (const silent of waitingFor) peers.delete(silent);
          resolve();
        };
        const handle = environment.setTimeout(() => finish(true), QUERY_TIMEOUT_MS);
        pending.set(queryId, {
          answer(from, withSession, count = expected) {
            expected = count;
            if (from !== null) {
              waitingFor.delete(from);
              answered.add(from);
            }
            if (
              (untilSession && withSession) ||
              (expected !== undefined && answered.size >= expected) ||
              (!untilSession && waitingFor.size === 0)
            ) {
              finish();
            }
          },
          finish,
        });
        post({ type: 'query', queryId, ...heldNow() });
      });
    },
    close() {
      presence?.close();
      stopWatchingStorage();
      channel?.close();
      channel = null;
      for (const query of [...pending.values()]) query.finish();
    },
  };
}
