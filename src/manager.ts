import { createAuthFetch, createOriginCheck } from './auth-fetch';
import { createEndpointLogout, createEndpointRefresh, DEFAULT_ENDPOINT_TIMEOUT_MS } from './endpoints';
import { createEnvironment, readLocalStorage, readPageOrigin } from './environment';
import {
  ConfigurationError,
  LogoutFailedError,
  NotAuthenticatedError,
  RefreshFailedError,
  StorageError,
  type TokenkeeperError,
} from './errors';
import { createTabSync } from './cross-tab';
import { type NormalizedOptions, normalizeOptions } from './options';
import { backoffDelayMs, createRefresher } from './refresh';
import { createScheduler } from './scheduler';
import { runWithTimeout } from './timeout';
import { createEmitter, createStateStore, SIGNED_OUT_STATE } from './state';
import { createMemoryStorage, createSessionStore, type StoredRead } from './storage';
import {
  createSession,
  isExpired,
  isLaterSession,
  refreshDueAt,
  restoreSession,
  type Session,
  type SessionRecord,
  toSessionRecord,
} from './token';
import type { AuthState, LogoutFn, RefreshFn, TokenManager, TokenManagerOptions, TokenResponse } from './types';

function destroyedError(): ConfigurationError {
  return new ConfigurationError('this token manager was destroyed');
}

/**
 * Creates a token manager: it keeps the session, refreshes it before it lapses (one refresh at a time),
 * adds the token to requests for allowed origins and ends the session on logout.
 *
 * @example
 * const auth = createTokenManager({
 *   refresh: { url: '/auth/refresh' },
 *   logout: { url: '/auth/logout' },
 *   storage: localStorage,
 * });
 * await auth.setTokens(await login(credentials));
 * const response = await auth.fetch('/api/me');
 */
export function createTokenManager(options: TokenManagerOptions): TokenManager {
  const pageOrigin = readPageOrigin();
  const config = normalizeOptions(options, pageOrigin);
  const environment = createEnvironment(config, pageOrigin);
  const state = createStateStore();
  const events = createEmitter();
  const scheduler = createScheduler(environment);
  const reportError = (error: TokenkeeperError): void => events.emit('error', { error });
  const store = createSessionStore(config.storage ?? createMemoryStorage(), config.storageKey, reportError);

  const refreshFn: RefreshFn =
    typeof config.refresh === 'function' ? config.refresh : createEndpointRefresh(config.refresh, environment);
  const logoutFn: LogoutFn | null =
    config.logout === null
      ? null
      : typeof config.logout === 'function'
        ? config.logout
        : createEndpointLogout(config.logout, environment);
  /** An endpoint's own timeout; a custom function gets the default one. */
  const timeoutMsOf = (handler: NormalizedOptions['refresh'] | NormalizedOptions['logout']): number =>
    handler === null || typeof handler === 'function' ? DEFAULT_ENDPOINT_TIMEOUT_MS : handler.timeoutMs;

  /** The session held, or `null` when signed out. */
  let session: Session | null = null;
  /**
   * Bumped whenever the session ends or is replaced. Every write of tokens checks it first, so a logout,
   * a new login or `destroy()` always wins over a refresh that was in flight.
   */
  let generation = 0;
  let destroyed = false;
  /** Set while retries back off: transient failures in a row, the last of them, when the next retry is due. */
  let backoff: { failures: number; lastFailure: RefreshFailedError; retryAt: number } | null = null;
  let logoutInFlight: Promise<{ serverNotified: boolean }> | null = null;
  /**
   * Sessions that ended here or in another tab. A late message about one of them (a refresh that raced a
   * logout) is ignored, so no tab can bring an ended session back.
   */
  const endedSessionIds = new Set<string>();

  /** Whether the storage is shared by the tabs (localStorage): then the tab that changed the session wrote it. */
  const isSharedStorage = config.storage !== null && config.storage === readLocalStorage();

  const publish = (): void => {
    state.set(
      session
        ? {
            status: 'authenticated',
            accessToken: session.accessToken,
            expiresAt: session.expiresAt,
            claims: session.claims,
            refreshing: refresher.inFlight,
          }
        : SIGNED_OUT_STATE,
    );
  };

  const refreshInBackground = (): void => {
    // Failures reach the user as state and 'error' or 'logout' events, never as an unhandled rejection.
    refresher.run().catch(() => {});
  };

  const scheduleNext = (): void => {
    if (!session || destroyed) {
      scheduler.cancel();
      return;
    }
    const dueAt = backoff ? backoff.retryAt : refreshDueAt(session, config.refreshMarginMs);
    if (dueAt === null) scheduler.cancel();
    else scheduler.schedule(dueAt, refreshInBackground);
  };

  /**
   * Makes `next` the session: stores it (unless another tab already wrote the shared storage), publishes
   * the state, emits the event and schedules the next refresh. A new login (`'login'`) first ends the
   * session it replaces, so that a refresh still in flight for that one is dropped.
   */
  const installSession = (next: Session, event: 'login' | 'refresh', source: 'local' | 'remote'): Promise<void> => {
    if (event === 'login') {
      if (session) endedSessionIds.add(session.sessionId);
      generation += 1;
      refresher.abandon();
    }
    session = next;
    backoff = null;
    const written = source === 'remote' && isSharedStorage ? Promise.resolve() : store.write(next);
    publish();
    if (event === 'login') events.emit('login', { source });
    else events.emit('refresh', { accessToken: next.accessToken, expiresAt: next.expiresAt, source });
    scheduleNext();
    return written;
  };

  /**
   * Ends the session: the state, the schedule, any refresh in flight, the stored copy; then tells the other
   * tabs and the listeners. An end that came from another tab (`origin: 'remote'`) is not announced again,
   * and leaves a shared storage alone: the tab that ended the session cleared it, and it may already hold
   * a newer login.
   */
  const endSession = (reason: string, origin: 'local' | 'remote'): Promise<void> => {
    const ended = session;
    if (ended) endedSessionIds.add(ended.sessionId);
    generation += 1;
    session = null;
    backoff = null;
    scheduler.cancel();
    refresher.abandon();
    publish();
    const cleared = origin === 'remote' && isSharedStorage ? Promise.resolve() : store.clear();
    if (origin === 'local' && ended) tabSync.announceLogout(ended.sessionId);
    events.emit('logout', { reason });
    return cleared;
  };

  /** Takes in a session another tab has, when it is news: a newer token set of ours, or a newer login. */
  const adoptRemote = (record: SessionRecord): void => {
    if (destroyed || endedSessionIds.has(record.sessionId)) return;
    const incoming = restoreSession(record);
    const current = session;
    // Only news is taken in: a later token set of this login, or a later login (two logins racing in two
    // tabs settle on the later one in every tab).
    if (current && (incoming.accessToken === current.accessToken || !isLaterSession(incoming, current))) return;
    void installSession(incoming, current?.sessionId === incoming.sessionId ? 'refresh' : 'login', 'remote');
  };

  const endRemote = (sessionId: string | null): void => {
    if (destroyed) return;
    if (sessionId !== null) endedSessionIds.add(sessionId);
    if (!session || (sessionId !== null && session.sessionId !== sessionId)) return;
    void endSession('remote', 'remote');
  };

  const refresher = createRefresher({
    environment,
    lock: environment.lock,
    lockName: `tokenkeeper:refresh:${config.channel || ''}:${config.storageKey}`,
    refreshFn,
    timeoutMs: timeoutMsOf(config.refresh),
    current: () => ({ session, generation }),
    createSession: (response: TokenResponse, previous: Session) =>
      createSession(response, environment.now(), previous, environment.createId),
    async beforeRefresh() {
      // A shared storage shows another tab's refresh even when its message was missed.
      const stored = await store.read();
      if (stored.kind === 'session') adoptRemote(toSessionRecord(stored.session));
      if (tabSync.hasPeers) for (const record of await tabSync.query()) adoptRemote(record);
    },
    onStart: publish,
    onSettled: publish,
    async onSuccess(next) {
      tabSync.announceRefresh(next);
      await installSession(next, 'refresh', 'local');
    },
    onRejected() {
      void endSession('refresh-rejected', 'local');
    },
    onFailed(error) {
      const failures = (backoff?.failures ?? 0) + 1;
      const retryAt = environment.now() + backoffDelayMs(failures, environment.random());
      backoff = { failures, lastFailure: error, retryAt };
      publish();
      reportError(error);
      scheduleNext();
    },
  });

  // Loading: synchronous storages are read at once, so a page can start signed in without a flash.
  const loadErrors: TokenkeeperError[] = [];
  const applyStored = (read: StoredRead): void => {
    if (destroyed) return;
    if (read.kind === 'session') {
      session = read.session;
      publish();
      scheduleNext();
    } else if (read.kind === 'corrupt') {
      loadErrors.push(
        new StorageError(`the stored session under "${config.storageKey}" was unreadable and was removed`),
      );
      void store.clear();
    } else if (read.kind === 'failed') {
      loadErrors.push(read.error);
    }
  };
  const flushLoadErrors = (): void => {
    for (const error of loadErrors.splice(0)) if (!destroyed) reportError(error);
  };
  const tabSync = createTabSync({
    environment,
    channelName: config.channel,
    storage: config.storage,
    storageKey: config.storageKey,
    current: () => session,
    adopt: adoptRemote,
    endRemote,
  });

  /**
   * Asks the open tabs for their session, so that a new tab with in-memory storage gets it: the answer
   * arrives within milliseconds as a 'login' from 'remote'. `ready` does not wait for it; no other tab may
   * be there to answer, and waiting would hold up every start that is signed out.
   */
  const askOtherTabs = (): void => {
    void tabSync.query({ untilFirstSession: true }).then((records) => {
      for (const record of records) adoptRemote(record);
    });
  };

  const initialRead = store.read();
  let ready: Promise<void>;
  if ('then' in initialRead) {
    ready = initialRead.then(applyStored).then(askOtherTabs).then(flushLoadErrors);
  } else {
    applyStored(initialRead);
    askOtherTabs();
    // Deferred, so that a listener attached right after createTokenManager() returns sees load errors.
    ready = Promise.resolve().then(flushLoadErrors);
  }

  const onResume = (): void => {
    if (destroyed || !session) return;
    // "At once on resume": a retry that is backing off runs now, as does an overdue proactive refresh.
    if (backoff && !refresher.inFlight) refreshInBackground();
    else scheduler.check();
  };
  const unsubscribeResume = environment.onResume(onResume);

  const getAccessToken = async (): Promise<string | null> => {
    await ready;
    const current = session;
    if (destroyed || !current) return null;
    const now = environment.now();
    const dueAt = refreshDueAt(current, config.refreshMarginMs);
    if (dueAt === null || now < dueAt) return current.accessToken;
    // While retries back off, callers do not press the failing server: they get the still-valid token,
    // or, once it has expired, the last failure. The scheduled retry, a resume or refresh() tries again.
    if (backoff && !refresher.inFlight) {
      if (!isExpired(current, now)) return current.accessToken;
      throw backoff.lastFailure;
    }
    try {
      return await refresher.run();
    } catch (error) {
      if (!(error instanceof RefreshFailedError)) return session?.accessToken ?? null;
      const latest = session;
      if (latest && !isExpired(latest, environment.now())) return latest.accessToken;
      throw error;
    }
  };

  const tokenAfterUnauthorized = async (rejectedToken: string): Promise<string | null> => {
    const current = session;
    if (!current) return null;
    // Another caller already refreshed while this request was out.
    if (current.accessToken !== rejectedToken) return current.accessToken;
    // Backing off after failed refreshes: the 401 goes to the caller rather than another refresh call.
    if (backoff && !refresher.inFlight) return null;
    try {
      return await refresher.run();
    } catch {
      return null;
    }
  };

  const isAllowedOrigin = createOriginCheck({
    allowedOrigins: config.allowedOrigins,
    pageOrigin,
    isDestroyed: () => destroyed,
  });
  const authFetch = createAuthFetch({
    environment,
    isDestroyed: () => destroyed,
    isAllowedOrigin,
    ready,
    getAccessToken,
    tokenAfterUnauthorized,
  });

  const notifyServer = async (ended: Session): Promise<boolean> => {
    if (!logoutFn) return false;
    try {
      await runWithTimeout(environment, timeoutMsOf(config.logout), 'the logout call', (signal) =>
        logoutFn({ accessToken: ended.accessToken, refreshToken: ended.refreshToken, signal }),
      );
      return true;
    } catch (cause) {
      reportError(new LogoutFailedError('the server could not be told about the logout', { cause }));
      return false;
    }
  };

  const logout = (logoutOptions?: { reason?: string }): Promise<{ serverNotified: boolean }> => {
    const reason = logoutOptions?.reason ?? 'user';
    if (typeof reason !== 'string' || reason === '') {
      return Promise.reject(new ConfigurationError('logout reason must be a non-empty string'));
    }
    if (logoutInFlight) return logoutInFlight;
    const run = async (): Promise<{ serverNotified: boolean }> => {
      await ready;
      const ended = session;
      if (destroyed || !ended) return { serverNotified: false };
      // Local first: memory, storage, listeners. The server is told last, so a slow or failing
      // logout endpoint never leaves this device signed in.
      await endSession(reason, 'local');
      return { serverNotified: await notifyServer(ended) };
    };
    const promise = run().finally(() => {
      if (logoutInFlight === promise) logoutInFlight = null;
    });
    logoutInFlight = promise;
    return promise;
  };

  return {
    ready,
    async setTokens(tokens) {
      await ready;
      if (destroyed) throw destroyedError();
      const next = createSession(tokens, environment.now(), null, environment.createId);
      tabSync.announceLogin(next);
      await installSession(next, 'login', 'local');
    },
    getAccessToken,
    async refresh() {
      await ready;
      if (destroyed) throw destroyedError();
      if (!session) throw new NotAuthenticatedError('there is no session to refresh');
      return refresher.run();
    },
    fetch: authFetch,
    isAllowedOrigin,
    logout,
    getState: (): AuthState => state.get(),
    subscribe: (listener) => state.subscribe(listener),
    on: (event, handler) => events.on(event, handler),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      generation += 1;
      session = null;
      scheduler.cancel();
      refresher.abandon();
      unsubscribeResume();
      tabSync.close();
      // Not a logout: storage is kept and no event is emitted; the snapshot still reads signed out.
      state.set(SIGNED_OUT_STATE, true);
      state.clearListeners();
      events.clear();
    },
  };
}
