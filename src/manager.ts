import { createAuthFetch } from './auth-fetch';
import { createTabSync, type Receive } from './cross-tab';
import { createEndpointLogout, createEndpointRefresh, DEFAULT_ENDPOINT_TIMEOUT_MS } from './endpoints';
import { createEnvironment, readLocalStorage, readPageOrigin } from './environment';
import {
  ConfigurationError,
  InvalidTokenError,
  NotAuthenticatedError,
  RefreshFailedError,
  StorageError,
  type TokenkeeperError,
} from './errors';
import { createEmitter, createLatch, createSnapshot } from './events';
import { LOCK_WAIT_LIMIT_MS, LOCK_WAIT_MARGIN_MS } from './lock';
import { createLogout, type Decision } from './logout';
import { type NormalizedOptions, normalizeOptions } from './options';
import { createOriginCheck } from './origin';
import { type CallServer, createRefresher, type UnderLock } from './refresh';
import { createRestorer } from './restore';
import { createScheduler } from './scheduler';
import {
  holdsAny,
  isLoggedOut,
  isExpired,
  isPlausibleStamp,
  isReached,
  isSameLogin,
  MAX_STAMP,
  nextStamp,
  refreshDue,
  restoreSession,
  tokensOf,
} from './session';
import { type Action, type CoreState, createCore, INITIAL_STATE, loginOf, toAuthState } from './state';
import { createMemoryStorage, createSessionStore, isPlausibleStored, type StoredRead } from './storage';
import { runWithTimeout } from './timeout';
import { readTokenSet } from './token';
import type { AuthState, DefaultClaims, LogoutFn, RefreshFn, TokenManager, TokenManagerOptions } from './types';
import { createUnauthorizedPolicy, UNAUTHORIZED_POLICY } from './unauthorized';

/** Numbers storage objects within this realm, so that managers given the same one share a refresh lock. */
const storageIds = new WeakMap<object, number>();
let storageCount = 0;
function storageInstanceId(storage: object): number {
  const known = storageIds.get(storage);
  if (known !== undefined) return known;
  storageIds.set(storage, ++storageCount);
  return storageCount;
}

function destroyedError(): ConfigurationError {
  return new ConfigurationError('this token manager was destroyed');
}

/** An endpoint's own timeout; a custom function gets the default one. */
const timeoutMsOf = (handler: NormalizedOptions['refresh'] | NormalizedOptions['logout']): number =>
  handler === null || typeof handler === 'function' ? DEFAULT_ENDPOINT_TIMEOUT_MS : handler.timeoutMs;

/**
 * Creates a token manager: it keeps the session, refreshes it before it lapses (one refresh at a time),
 * adds the token to requests for allowed origins and ends the session on logout.
 *
 * The session changes only through `core.dispatch(action)` (see `state.ts`); this function wires the
 * pieces together and turns each transition into its effects in `onTransition`.
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
export function createTokenManager<Claims extends object = DefaultClaims>(
  options: TokenManagerOptions,
): TokenManager<Claims> {
  const pageOrigin = readPageOrigin();
  const config = normalizeOptions(options, pageOrigin);
  // A tab waits for the refresh lock at least as long as the holder's refresh may take, and then some: a
  // waiter that gave up sooner would send the same refresh token again while the holder's request is out.
  const lockWaitMs = Math.max(LOCK_WAIT_LIMIT_MS, timeoutMsOf(config.refresh) + LOCK_WAIT_MARGIN_MS);
  const environment = createEnvironment({ ...config, lockWaitMs }, pageOrigin);
  const events = createEmitter();
  const snapshot = createSnapshot(Object.freeze(toAuthState(INITIAL_STATE)));
  const scheduler = createScheduler(environment);
  const reportError = (error: TokenkeeperError): void => events.emit('error', { error });
  const store = createSessionStore(
    config.storage ?? createMemoryStorage(),
    config.storageKey,
    environment,
    reportError,
  );
  const refreshFn: RefreshFn =
    typeof config.refresh === 'function' ? config.refresh : createEndpointRefresh(config.refresh, environment);
  const logoutFn: LogoutFn | null =
    config.logout === null
      ? null
      : typeof config.logout === 'function'
        ? config.logout
        : createEndpointLogout(config.logout, environment);

  /** Opens once the open tabs have answered the query of the start (or could not be waited for). */
  const tabsAnswered = createLatch();
  /** Opens when the status is known (the phase leaves `'loading'` and `'asking'`), or on `destroy()`. */
  const known = createLatch();
  const ready = known.promise;
  /** Opens when the start's restore call begins, which `refresh()` joins. */
  const restoreBegun = createLatch();
  const readyOrRestoring = Promise.race([ready, restoreBegun.promise]);
  const core = createCore(onTransition);
  const dispatch = core.dispatch;
  const isDestroyed = (): boolean => core.state().phase === 'destroyed';

  /** A session or a logout another tab (or the shared storage) knows of: taken when it is news. */
  const receive: Receive = ({ session, floor }, via, tokens = []) => {
    if (floor && isPlausibleStamp(floor.stamp, environment.now())) dispatch({ type: 'ended', floor, tokens });
    if (session) logoutFlow.noteEnded(session);
    if (session && isPlausibleStamp(session.stamp, environment.now())) {
      dispatch({ type: 'adopt', session: restoreSession(session, environment), via });
    }
  };

  const tabSync = createTabSync(environment, config, core.state, receive, (session) => {
    const { session: mine, floor: logout, decidedWhileAsking } = core.state();
    const loggedOutHere = decidedWhileAsking === 'logout' && !mine && logout !== null && logoutFlow.isOwn(logout);
    if (isDestroyed() || !(decidedWhileAsking === 'login' ? mine : loggedOutHere)) return false;
    // The same login, answered back: nothing to order.
    if (mine && session.id === mine.id) return false;
    if (!isPlausibleStamp(session.stamp, environment.now())) return true;
    // What that tab held when it answered is older than the decision made here, whatever the clocks say: the
    // decision moves just after it (not to this moment: what that tab does after it answered still orders
    // after the decision), and the tabs take it from this one.
    dispatch({ type: 'restamp', stamp: Math.min(MAX_STAMP, session.stamp + 1) });
    logoutFlow.noteEnded(session);
    const after = core.state();
    if (after.session) tabSync.sendSession(after.session);
    else if (after.floor) tabSync.sendLogout(after.floor, []);
    return true;
  });

  /** The storage is the page's own `localStorage`, which the tabs share. */
  const sharesLocalStorage = config.storage !== null && config.storage === readLocalStorage();

  /**
   * What the refresh lock is shared by: the channel's tabs; else the tabs of the page's `localStorage`; else
   * the managers of this realm given the same storage object. Managers of other users in one Node process,
   * or with `channel: false` and storages of their own, never wait on each other.
   */
  const refreshLockScope = tabSync.connected
    ? `channel:${config.channel}`
    : config.storage === null
      ? null
      : sharesLocalStorage
        ? 'localStorage'
        : `storage:${storageInstanceId(config.storage)}`;

  /** What the storage holds, taken in: a shared storage shows another tab's refresh or logout before its message. */
  const readStored = async (): Promise<void> => {
    const read = await store.read();
    if (read.kind === 'stored') receive(read.stored, 'storage');
  };
  /** Whether the storage answered the first read at once: then it can be read again without a wait. */
  let readsAtOnce = false;
  /**
   * After a refresh answer: what a synchronous storage holds now (a logout another tab wrote there before its message
   * arrives). An asynchronous storage is not read again: its answer would only add a wait to every refresh.
   */
  const rereadStored = async (): Promise<void> => {
    if (readsAtOnce) await readStored();
  };
  /** Takes in what other tabs did meanwhile: the shared storage, and the tabs' answers where there may be any. */
  const catchUp = async (): Promise<void> => {
    await readStored();
    // The answers are taken in as they arrive (the query's messages); waiting for them is enough here.
    if (!tabSync.mayHavePeers()) return;
    const others = await tabSync.others();
    if (others !== 0) await tabSync.query(others === null ? {} : { expected: others });
  };

  // Only managers that share a session share a lock: those on one channel, or on one storage.
  const refresherLock = environment.lockGiven || refreshLockScope !== null ? environment.lock : null;
  const refreshLockName = `tokenkeeper:refresh:${refreshLockScope ?? ''}:${config.storageKey}`;
  /** A refresh and a restore call the same endpoint under the same lock, after the same catch-up. */
  const underLock: UnderLock = (task) => (refresherLock ? refresherLock(refreshLockName, task) : task());
  const refreshTimeoutMs = timeoutMsOf(config.refresh);
  const callServer: CallServer = (refreshToken, signal, what) =>
    runWithTimeout(environment, refreshTimeoutMs, what, (timed) => refreshFn({ refreshToken, signal: timed }), signal);
  const refresher = createRefresher(
    environment,
    core,
    underLock,
    callServer,
    catchUp,
    store.settled,
    (next) => {
      dispatch({ type: 'adopt', session: next, via: 'channel' });
      // Taken here, the transition has announced it; not taken (this tab holds a newer login), the tabs that
      // hold its login still need it.
      if (core.state().session?.accessToken !== next.accessToken) tabSync.sendSession(next);
    },
    rereadStored,
  );

  const restorer = createRestorer(environment, core, underLock, callServer, catchUp, store.settled, reportError);

  /** Work nobody awaits: a failure the state and events do not show already is reported once as an `'error'`. */
  const reportUnawaited = (error: unknown): void => {
    if (error instanceof ConfigurationError && !isDestroyed()) reportError(error);
  };

  const refreshInBackground = (): void => {
    // Failures reach the user as state and 'error' or 'logout' events, never as an unhandled rejection.
    refresher.run().catch(reportUnawaited);
  };

  function onTransition(next: CoreState, previous: CoreState, action: Action): void {
    // A login or logout here wins over a restore still out: its answer is dropped.
    if (
      action.type === 'logout' ||
      action.type === 'destroyed' ||
      (action.type === 'login' && action.source === 'local')
    ) {
      restorer.abandon();
    }
    if (next.phase !== previous.phase && (next.phase === 'ready' || next.phase === 'destroyed')) known.open();
    if (action.type === 'destroyed') {
      // Not a logout: storage is kept, no event is emitted, other tabs are not told.
      scheduler.cancel();
      refresher.abandon();
      unsubscribeResume();
      tabSync.close();
      // Signed out: the destroyed state holds no session.
      snapshot.set(toAuthState(next), true);
      snapshot.clearListeners();
      events.clear();
      return;
    }
    const before = previous.session;
    const after = next.session;
    // A refresh in flight for a session that a logout ended is dropped, when the end comes with that logout's
    // tokens or when they come later (a storage tombstone carries none, and may arrive before the tabs' message,
    // which does). One whose login another login replaced, or ended by order alone, goes on: the server may
    // already have rotated its refresh token, and the tabs that hold that login need the answer.
    const spent = refresher.spending();
    if (
      (before && !after && holdsAny(before, next.endedTokens)) ||
      (spent && next.endedTokens !== previous.endedTokens && holdsAny(spent, next.endedTokens))
    ) {
      refresher.abandon();
    }
    // Nothing is written before the start's read answered, or that read would not show what the storage held
    // then; what was heard meanwhile is written once it did, where it is news to the storage.
    const changed =
      action.type === 'loaded'
        ? (after !== null && after !== action.session) || next.floor !== action.floor
        : after !== before || next.floor !== previous.floor;
    if (next.phase !== 'loading' && changed) {
      void store.sync({ session: after, floor: next.floor, endedTokens: next.endedTokens });
    }
    // A session taken from another tab's message is passed on too: a tab that opened after it was announced,
    // and heard an older one from this tab meanwhile, catches up.
    if (
      after &&
      after !== before &&
      action.type !== 'loaded' &&
      action.type !== 'restamp' &&
      !(action.type === 'adopt' && action.via === 'storage')
    ) {
      tabSync.sendSession(after);
    }
    // A tab whose session another tab ended says so too: a tab that took the session from it meanwhile (a new
    // tab's query answered before the logout arrived here) hears of the end as well.
    // It passes on the logout as it heard it: the tokens are those of the session that logout was for.
    if (before && !after && next.floor) {
      tabSync.sendLogout(next.floor, action.type === 'ended' ? action.tokens : tokensOf(before));
    } else if (!before && action.type === 'logout' && next.floor) {
      // A logout while the session was still being learnt: it ends, in every tab, whatever that would have brought.
      tabSync.sendLogout(next.floor, []);
    }
    if (after !== before || next.backoff !== previous.backoff) {
      const due = after && (next.backoff ? next.backoff.retryAt : refreshDue(after, config.refreshMarginMs));
      if (due) scheduler.schedule(due, refreshInBackground);
      else scheduler.cancel();
    }
    snapshot.set(toAuthState(next));
    // Events of a transition: a login, a new token set of the same login, or the end of the session.
    // A login or logout moved after what the tabs answered is the same one: no event.
    if (action.type === 'restamp') return;
    if (after && after !== before) {
      if (before && isSameLogin(before, after)) {
        const source = action.type === 'refreshed' ? 'local' : 'remote';
        events.emit('refresh', { accessToken: after.accessToken, expiresAt: after.expiresAt, source });
      } else if (action.type !== 'loaded') {
        events.emit('login', { source: action.type === 'login' ? action.source : 'remote' });
      }
    } else if (before && !after) {
      const reason =
        action.type === 'logout' ? action.reason : action.type === 'rejected' ? 'refresh-rejected' : 'remote';
      events.emit('logout', { reason });
    }
    if (action.type === 'refreshFailed' && next.backoff !== previous.backoff) reportError(action.error);
    if (action.type === 'refreshed' && action.bornExpired && after === action.next) reportError(action.bornExpired);
  }

  // Loading: synchronous storages are read at once, so a page can start signed in without a flash.
  const loadErrors: TokenkeeperError[] = [];
  if (config.storageMissing) {
    loadErrors.push(
      new StorageError(
        `storage '${config.storageMissing}' is not available in this page; the session is kept in memory`,
      ),
    );
  }
  const applyStored = (read: StoredRead): void => {
    const now = environment.now();
    const stored = read.kind === 'stored' ? read.stored : null;
    const usable = stored && isPlausibleStored(stored, now);
    const session = usable ? stored.session : null;
    dispatch({
      type: 'loaded',
      session: session && restoreSession(session, environment),
      floor: usable ? stored.floor : null,
      unknown: read.kind === 'failed',
      // A setTokens() or logout() already called decides the status: what storage held is not shown meanwhile.
      asking: asksTabs || (config.restore && session === null),
    });
    if (usable) return;
    if (read.kind === 'corrupt' || read.kind === 'stored') {
      loadErrors.push(
        new StorageError(`the stored session under "${config.storageKey}" was unreadable and was removed`),
      );
      void store.sync({ session: null, floor: null, endedTokens: [] });
    } else if (read.kind === 'failed') {
      loadErrors.push(read.error);
    }
  };
  const flushLoadErrors = (): void => {
    for (const error of loadErrors.splice(0)) if (!isDestroyed()) reportError(error);
  };

  /**
   * Whether the status waits for the open tabs: a tab whose storage they do not share (memory, sessionStorage, a
   * storage of its own) asks them for their session. Only the page's `localStorage` is shared.
   */
  const asksTabs = tabSync.connected && !sharesLocalStorage;

  /**
   * After the stored session is read, while the status is `'loading'`: the open tabs are asked for theirs
   * (unless this tab can tell it is alone), then, with `restore` and still no session, the server. A login or
   * logout here meanwhile ends the wait (the phase leaves `'asking'`), and what the tabs or the server answer
   * later is dropped where it is older.
   */
  const settle = async (): Promise<void> => {
    const asking = (): boolean => core.state().phase === 'asking';
    if (!asking() && firstQuery) {
      // A login or logout came before this ran: the query asked at creation is still answered, and a logout
      // waits for the answers (`tabsAnswered`), which name the session it ended.
      void firstQuery.then(tabsAnswered.open);
      const others = await tabSync.others();
      if (others !== null) tabSync.expectAnswers(others);
      return;
    }
    if (!asking()) {
      tabsAnswered.open();
      // Known already (a shared storage was read): the tabs are asked anyway, for what storage may have missed.
      if (tabSync.connected && !isDestroyed()) void tabSync.query({ untilSession: true });
      return;
    }
    if (asksTabs) {
      // The query goes out at once; meanwhile Web Locks tell how many tabs will answer (none: this tab is alone
      // and stops waiting), so the wait is the longer of the two, at most the query's 100 ms. A logout made
      // meanwhile waits for the answers too (`tabsAnswered`): they name the session it ended.
      const asked = askTabs();
      void asked.then(tabsAnswered.open);
      const others = await tabSync.others();
      if (others !== null) tabSync.expectAnswers(others);
      if (asking()) await asked;
    }
    tabsAnswered.open();
    if (config.restore && asking() && !core.state().session && core.state().callsWaiting === 0) {
      restoreBegun.open();
      await restorer.run().catch(reportUnawaited);
    }
    dispatch({ type: 'settled' });
  };

  /** setTokens() calls made and not applied yet: a logout() called after one waits for it, to end its login. */
  const loginsOut = new Set<Promise<void>>();
  /** How many setTokens() and logout() calls are made and not applied yet. */
  let decisionsOut = 0;
  /**
   * A setTokens() or logout() call: stamped when it is called, so calls keep their order whatever they wait for;
   * one made while the storage is read is counted until it is applied (`end`).
   */
  const beginDecision = (): Decision => {
    const stamp = nextStamp(core.state().clock, environment.now());
    const counted = core.state().phase === 'loading';
    dispatch({ type: 'called', stamp });
    decisionsOut += 1;
    let ended = false;
    return {
      stamp,
      whileLoading: counted,
      end() {
        if (ended) return;
        ended = true;
        decisionsOut -= 1;
        if (counted) dispatch({ type: 'decided' });
      },
    };
  };

  const load = (): Promise<void> => {
    const initialRead = store.read();
    if ('then' in initialRead) return initialRead.then(applyStored).then(flushLoadErrors);
    readsAtOnce = true;
    applyStored(initialRead);
    // Deferred, so that a listener attached right after createTokenManager() returns sees load errors.
    return Promise.resolve().then(flushLoadErrors);
  };
  /** The stored session was read: `setTokens()` and `logout()` wait for this alone. */
  const loaded = load();
  /** The query of the start, asked once. */
  let firstQuery: Promise<void> | undefined;
  const askTabs = (): Promise<void> => {
    firstQuery ??= tabSync.query({ untilSession: true, first: true });
    return firstQuery;
  };
  // Asked at once where the storage was read at once: the query goes out before anything this tab says next (a
  // logout() called right after creation), so the open tabs answer with the session that logout then ends.
  if (asksTabs && core.state().phase === 'asking') void askTabs();
  void loaded.then(settle);

  const unsubscribeResume = environment.onResume(() => {
    const { session, backoff } = core.state();
    if (isDestroyed() || !session) return;
    // "At once on resume": a retry that is backing off runs now, as does an overdue proactive refresh.
    if (backoff && !refresher.current()) refreshInBackground();
    else scheduler.check();
  });

  /** The token without waiting, when none is needed (`null`: signed out); `undefined` when getAccessToken() must run. */
  const tokenNow = (): string | null | undefined => {
    const { phase, session } = core.state();
    // A setTokens() or logout() called before, and not applied yet, decides which token goes: it is waited for.
    if (phase !== 'ready' || decisionsOut > 0) return undefined;
    if (!session) return null;
    const due = refreshDue(session, config.refreshMarginMs);
    return due === null || !isReached(due, environment) ? session.accessToken : undefined;
  };

  const getAccessToken = async (): Promise<string | null> => {
    // Nothing to wait for: the token at once, without a turn of the event loop.
    const now = tokenNow();
    if (now !== undefined) return now;
    await ready;
    const { session, backoff } = core.state();
    if (!session) return null;
    const due = refreshDue(session, config.refreshMarginMs);
    if (due === null || !isReached(due, environment)) return session.accessToken;
    // While retries back off, callers do not press the failing server: they get the still-valid token,
    // or, once it has expired, the last failure. The scheduled retry, a resume or refresh() tries again.
    if (backoff && !refresher.current()) {
      if (!isExpired(session, environment)) return session.accessToken;
      throw backoff.lastFailure;
    }
    try {
      return await refresher.run();
    } catch (error) {
      const latest = core.state().session;
      if (error instanceof ConfigurationError) throw error;
      if (!(error instanceof RefreshFailedError)) return latest?.accessToken ?? null;
      if (latest && !isExpired(latest, environment)) return latest.accessToken;
      throw error;
    }
  };

  const allowedHref = createOriginCheck(config.allowedOrigins, pageOrigin, isDestroyed);
  const isAllowedOrigin = (url: string | URL): boolean => allowedHref(url) !== null;
  const unauthorized = createUnauthorizedPolicy(core.state, refresher.run, isAllowedOrigin);
  const logoutFlow = createLogout(
    environment,
    core,
    logoutFn,
    timeoutMsOf(config.logout),
    loaded,
    store.settled,
    reportError,
    // The session is still being learnt: the tabs asked, or a restore call out.
    () => core.state().phase === 'asking' || restorer.current() !== null,
    // With `restore`, the session may live in the server's cookie alone: a logout while it is being learnt
    // still tells the server (the cookie goes along), so that it cannot come back.
    config.restore,
    tabsAnswered.promise,
    beginDecision,
    () => {
      // An asynchronous storage is not read here: the call would wait for it.
      const read = readsAtOnce ? store.read() : null;
      const session = !read || 'then' in read || read.kind !== 'stored' ? null : read.stored.session;
      const { floor, endedTokens } = core.state();
      // Not one that ended here already (a second call while the first one's tombstone is being written).
      return session && isPlausibleStamp(session.stamp, environment.now()) && !isLoggedOut(session, floor, endedTokens)
        ? session
        : null;
    },
    () => (loginsOut.size > 0 ? Promise.all(loginsOut) : null),
  );

  const manager: TokenManager<Claims> = {
    ready,
    async setTokens(response) {
      // The token set was received now, at the call: its lifetime and its order among logins count from here.
      const receivedMono = environment.monotonicNow();
      const receivedAt = environment.now();
      // Ordered by when it was called: a login or logout another tab makes after this call, and that reaches
      // this tab while it waits for storage, wins over it; a later call here wins over this one.
      const decision = beginDecision();
      let applied = (): void => {};
      const pending = new Promise<void>((resolve) => {
        applied = () => {
          loginsOut.delete(pending);
          resolve();
        };
      });
      loginsOut.add(pending);
      try {
        await loaded;
        if (isDestroyed()) throw destroyedError();
        const tokens = readTokenSet(response, receivedAt);
        // What storage held when this was called is older than this login, or it would be overwritten by, or
        // never replace, an older session (written while this device's clock was ahead): the login orders after
        // what the start read. A storage that could not be read then is read again.
        const read = core.state().storageUnknown ? await store.read() : null;
        const stored = read?.kind === 'stored' ? read.stored : null;
        const plausible = (stamp: number | undefined): number =>
          stamp !== undefined && isPlausibleStamp(stamp, receivedAt) ? stamp : -1;
        const storedStamp = Math.max(
          plausible(stored?.session?.stamp),
          plausible(stored?.floor?.stamp),
          core.state().loaded.stamp,
        );
        const stamp = Math.max(decision.stamp, Math.min(MAX_STAMP, storedStamp + 1));
        if (isDestroyed()) throw destroyedError();
        const login = loginOf(core.state(), tokens, receivedMono, stamp, 'local');
        if (!login) throw new InvalidTokenError('these tokens belong to a session that was logged out; sign in again');
        dispatch(login);
      } finally {
        decision.end();
        applied();
      }
      await store.settled();
    },
    getAccessToken,
    async refresh() {
      // A restore in flight is joined at the call: a logout made after it then drops its answer for this caller too.
      if (config.restore && restorer.current()) return restorer.run();
      const floorAtCall = core.state().floor;
      await readyOrRestoring;
      if (isDestroyed()) throw destroyedError();
      if (!core.state().session) {
        // With `restore`, the server's cookie may hold a session: it is asked (a restore in flight is joined),
        // unless a logout came after this call, which wins over it.
        if (config.restore && core.state().floor === floorAtCall) return restorer.run();
        throw new NotAuthenticatedError('there is no session to refresh');
      }
      return refresher.run();
    },
    fetch: createAuthFetch({ environment, isDestroyed, allowedHref, tokenNow, getAccessToken, unauthorized }),
    isAllowedOrigin,
    logout: logoutFlow.logout,
    getState: snapshot.get as () => AuthState<Claims>,
    subscribe: snapshot.subscribe as TokenManager<Claims>['subscribe'],
    on: events.on,
    destroy: () => dispatch({ type: 'destroyed' }),
  };
  // The ky entry point reaches the 401 policy here, so that it lives once.
  Object.defineProperty(manager, UNAUTHORIZED_POLICY, { value: unauthorized });
  return manager;
}
