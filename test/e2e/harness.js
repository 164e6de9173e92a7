// The page side of the browser tests: one token manager per page ("tab"), driven through `window.harness`
// with page.evaluate. Every event and state change is recorded with its Date.now() time; the tests compare
// those times across pages, which share the machine's clock.
import { createTokenManager } from '/tokenkeeper.js';

let auth = null;
const records = [];
/** Checks run after every record, for the `waitFor…` methods. */
const waiters = new Set();
/** For `auth.fetch('/api/me?call=<id>')`: whether each request sent for that call carried a token, in order. */
const attempts = new Map();
let callCount = 0;
let refreshOutcome = null;

const notify = () => {
  for (const check of [...waiters]) check();
};
const record = (type, details) => {
  records.push({ type, at: Date.now(), ...details });
  notify();
};

const requireManager = () => {
  if (!auth) throw new Error('harness: call harness.create() first');
  return auth;
};

/** Resolves with what `test` returns once it is truthy, checked now and after every record. */
function waitUntil(test, timeoutMs, describe) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const value = test();
      if (!value) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve(value);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      reject(new Error(`harness: still waiting after ${timeoutMs} ms for ${describe()}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

/** The manager's `fetch`: notes whether each API request carries a token, then sends it unchanged. */
function recordingFetch(input, init) {
  const request = input instanceof Request ? input : null;
  const url = new URL(request ? request.url : String(input), location.href);
  const call = url.searchParams.get('call');
  if (call !== null) {
    const headers = init?.headers !== undefined ? new Headers(init.headers) : (request?.headers ?? new Headers());
    attempts.get(call)?.push(headers.has('authorization'));
  }
  return fetch(input, init);
}

const sleepUntil = async (atMs) => {
  while (Date.now() < atMs) await new Promise((resolve) => setTimeout(resolve, atMs - Date.now()));
};

const summary = (state) => ({
  status: state.status,
  accessToken: state.accessToken,
  expiresAt: state.expiresAt,
  refreshing: state.refreshing,
});

window.harness = {
  /** Creates this page's manager; resolves after its `ready` with the state then. */
  async create(options = {}) {
    if (auth) throw new Error('harness: this page has a manager already');
    auth = createTokenManager({
      refresh: { url: '/auth/refresh' },
      ...(options.logout === false ? {} : { logout: { url: '/auth/logout' } }),
      ...(options.storage === 'local' ? { storage: localStorage } : {}),
      ...(options.refreshMargin === undefined ? {} : { refreshMargin: options.refreshMargin }),
      fetch: recordingFetch,
    });
    auth.subscribe((state) => record('state', summary(state)));
    auth.on('login', (event) => record('login', { source: event.source }));
    auth.on('refresh', (event) =>
      record('refresh', { source: event.source, accessToken: event.accessToken, expiresAt: event.expiresAt }),
    );
    auth.on('logout', (event) => record('logout', { reason: event.reason }));
    auth.on('error', (event) => record('error', { name: event.error.name, message: event.error.message }));
    await auth.ready;
    return { readyAt: Date.now(), state: summary(auth.getState()) };
  },

  /** Signs in at the server and hands the tokens to the manager. */
  async login(username = 'ada') {
    const manager = requireManager();
    const response = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username }),
    });
    if (!response.ok) throw new Error(`harness: the login answered ${response.status}`);
    const body = await response.json();
    const calledAt = Date.now();
    await manager.setTokens({
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresIn: body.expires_in,
    });
    return { calledAt, accessToken: body.access_token };
  },

  /**
   * `count` concurrent `auth.fetch('/api/me')` calls, started at the wall-clock time `startAt` when given.
   * Resolves with the state when they started and, per call, the status and whether each request sent carried
   * a token (two entries when a 401 was retried).
   */
  async fetchMany(count, startAt = null) {
    const manager = requireManager();
    if (startAt !== null) await sleepUntil(startAt);
    const startedAt = Date.now();
    const stateAtStart = summary(manager.getState());
    const calls = Array.from({ length: count }, () => {
      callCount += 1;
      const id = String(callCount);
      attempts.set(id, []);
      return manager.fetch(`/api/me?call=${id}`).then(async (response) => {
        await response.text();
        return { status: response.status, withToken: attempts.get(id) };
      });
    });
    return { startedAt, stateAtStart, results: await Promise.all(calls) };
  },

  async logout() {
    const manager = requireManager();
    const calledAt = Date.now();
    const result = await manager.logout();
    return { calledAt, ...result };
  },

  /** Starts `auth.refresh()` without waiting for it; see `refreshOutcome()`. */
  startRefresh() {
    const manager = requireManager();
    refreshOutcome = { settled: false };
    manager.refresh().then(
      (accessToken) => {
        refreshOutcome = { settled: true, ok: true, accessToken, at: Date.now() };
        notify();
      },
      (error) => {
        refreshOutcome = { settled: true, ok: false, name: error?.name, code: error?.code, at: Date.now() };
        notify();
      },
    );
    return Date.now();
  },
  refreshOutcome: () => refreshOutcome,
  waitForRefreshOutcome(timeoutMs = 5_000) {
    return waitUntil(
      () => refreshOutcome?.settled && refreshOutcome,
      timeoutMs,
      () => 'the refresh started by startRefresh() to settle',
    );
  },

  state: () => summary(requireManager().getState()),
  /** Resolves with the state once it has every field of `expected`. */
  waitForState(expected, timeoutMs = 5_000) {
    const manager = requireManager();
    const matches = () => {
      const state = manager.getState();
      return Object.entries(expected).every(([key, value]) => state[key] === value) && summary(state);
    };
    return waitUntil(matches, timeoutMs, () => `state ${JSON.stringify(expected)}; it is ${manager.getState().status}`);
  },

  records: () => records.slice(),
  clearRecords() {
    records.length = 0;
  },
  /** Resolves with the records of `type` once there are at least `count` of them. */
  waitForRecords(type, count, timeoutMs = 5_000) {
    const ofType = () => records.filter((entry) => entry.type === type);
    return waitUntil(
      () => ofType().length >= count && ofType(),
      timeoutMs,
      () => `${count} '${type}' records; there are ${ofType().length}`,
    );
  },

  stored: () => localStorage.getItem('tokenkeeper'),

  /** The Web Locks of this origin: names held and names waited for. */
  async locks() {
    const snapshot = await navigator.locks.query();
    return {
      held: (snapshot.held ?? []).map((lock) => lock.name),
      pending: (snapshot.pending ?? []).map((lock) => lock.name),
    };
  },

  /** What the platform offers this page. */
  platform: () => ({
    webLocks: typeof navigator.locks?.request === 'function',
    broadcastChannel: typeof BroadcastChannel === 'function',
    secureContext: window.isSecureContext,
    visibilityState: document.visibilityState,
    origin: location.origin,
  }),
};
