// The page side of the browser tests: one token manager per page ("tab"), driven through `window.harness`
// with page.evaluate. Every event and state change is recorded with its Date.now() time; the tests compare
// those times across pages, which share the machine's clock.
//
// The page also renders the app's view from the state (`<main data-view>`: loading, signed-in, signed-out),
// synchronously on every change from the manager's first state on, and records every view it showed.
// `harness.html?manager=<JSON options>` creates the manager as this module runs, so a reload is observed from the
// new page's first frame: the test reads the records of the new page load after `page.reload()`.
import { createTokenManager } from '/tokenkeeper.js';

/** The header the demo server requires of a request that relies on its refresh cookie (CSRF). */
const CSRF_HEADERS = { 'X-Requested-With': 'tokenkeeper' };

let auth = null;
let managerOptions = {};
/** The views rendered, in order: `{ view, at: Date.now(), t: performance.now() }`, a new entry per change of view. */
const views = [];
/**
 * performance.now() times (ms since this page load's navigation started): `createdAt` when createTokenManager
 * returned, `knownAt` when the status first was not 'loading', `readyAt` when `ready` settled.
 */
const timing = { createdAt: null, createMs: null, initialStatus: null, knownAt: null, readyAt: null };
/** The `create()` run by `?manager=…` as the page loaded, or `null`. */
let created = null;
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

const VIEW_OF_STATUS = { loading: 'loading', authenticated: 'signed-in', unauthenticated: 'signed-out' };

/** Renders the view of `state` at once, and records it when it is not the view already shown. */
function render(state) {
  if (state.status !== 'loading' && timing.knownAt === null) timing.knownAt = performance.now();
  const view = VIEW_OF_STATUS[state.status] ?? `unknown: ${String(state.status)}`;
  const main = document.querySelector('main');
  if (main.dataset.view === view) return;
  main.dataset.view = view;
  main.textContent =
    view === 'signed-in' ? `Signed in as ${String(state.claims?.sub)}` : view === 'loading' ? 'Loading…' : 'Signed out';
  views.push({ view, at: Date.now(), t: performance.now() });
}

const summary = (state) => ({
  status: state.status,
  accessToken: state.accessToken,
  expiresAt: state.expiresAt,
  refreshing: state.refreshing,
});

window.harness = {
  /**
   * Creates this page's manager and renders its first state before anything can change it; resolves after its
   * `ready` with the state then. `cookie: true`: the refresh token lives in the server's HttpOnly cookie (the
   * endpoints send it with `credentials: 'same-origin'` and the CSRF header, and `login()` asks for the cookie).
   * `restore: true`: the manager's `restore` option.
   */
  async create(options = {}) {
    if (auth) throw new Error('harness: this page has a manager already');
    managerOptions = options;
    const endpoint = (url) =>
      options.cookie ? { url, credentials: 'same-origin', headers: { ...CSRF_HEADERS } } : { url };
    const startedAt = performance.now();
    auth = createTokenManager({
      refresh: endpoint('/auth/refresh'),
      ...(options.logout === false ? {} : { logout: endpoint('/auth/logout') }),
      ...(options.storage === 'local' ? { storage: localStorage } : {}),
      ...(options.refreshMargin === undefined ? {} : { refreshMargin: options.refreshMargin }),
      ...(options.restore ? { restore: true } : {}),
      fetch: recordingFetch,
    });
    timing.createdAt = performance.now();
    timing.createMs = timing.createdAt - startedAt;
    const initial = auth.getState();
    timing.initialStatus = initial.status;
    render(initial);
    auth.subscribe(render);
    auth.subscribe((state) => record('state', summary(state)));
    auth.on('login', (event) => record('login', { source: event.source }));
    auth.on('refresh', (event) =>
      record('refresh', { source: event.source, accessToken: event.accessToken, expiresAt: event.expiresAt }),
    );
    auth.on('logout', (event) => record('logout', { reason: event.reason }));
    auth.on('error', (event) => record('error', { name: event.error.name, message: event.error.message }));
    await auth.ready;
    timing.readyAt = performance.now();
    return { readyAt: Date.now(), state: summary(auth.getState()) };
  },
  /** The `create()` that `?manager=…` started as the page loaded (rejects when there was none). */
  created() {
    if (!created) return Promise.reject(new Error('harness: this page was not loaded with ?manager='));
    return created;
  },
  /** Every view this page load rendered, in order (see `render`). */
  views: () => views.slice(),
  /** How long this page's manager was in 'loading', and when its `ready` settled (see `timing`). */
  timing: () => ({
    ...timing,
    loadingMs: timing.knownAt === null ? null : timing.knownAt - timing.createdAt,
    readyMs: timing.readyAt === null ? null : timing.readyAt - timing.createdAt,
  }),

  /**
   * Signs in at the server and hands the tokens to the manager. A manager created with `cookie: true` asks for
   * the refresh token as an HttpOnly cookie; `refreshTokenInBody` says whether the answer carried one anyway.
   */
  async login(username = 'ada') {
    const manager = requireManager();
    const response = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'demo', ...(managerOptions.cookie && { cookie: true }) }),
    });
    if (!response.ok) throw new Error(`harness: the login answered ${response.status}`);
    const body = await response.json();
    const calledAt = Date.now();
    await manager.setTokens({
      accessToken: body.access_token,
      refreshToken: body.refresh_token,
      expiresIn: body.expires_in,
    });
    return { calledAt, accessToken: body.access_token, refreshTokenInBody: body.refresh_token !== undefined };
  },

  /** A bare same-origin `POST path` with an empty JSON body (no CSRF header), outside the manager. */
  async post(path) {
    const response = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const body = await response.json().catch(() => null);
    return { status: response.status, error: typeof body?.error === 'string' ? body.error : null };
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
  /** The keys in this page's localStorage and sessionStorage, and the names of the cookies its scripts can read. */
  storedKeys: () => ({
    local: Object.keys(localStorage),
    session: Object.keys(sessionStorage),
    cookies: document.cookie === '' ? [] : document.cookie.split('; ').map((pair) => pair.split('=')[0]),
  }),

  /**
   * The Web Locks of this origin: names held and names waited for, and apart from them (in `tabs`) the lock each
   * manager holds for as long as it runs, by which tabs tell whether others are open (`tokenkeeper:tab:…`).
   */
  async locks() {
    const snapshot = await navigator.locks.query();
    const isTabLock = (name) => name.startsWith('tokenkeeper:tab:');
    const held = (snapshot.held ?? []).map((lock) => lock.name);
    const pending = (snapshot.pending ?? []).map((lock) => lock.name);
    return {
      held: held.filter((name) => !isTabLock(name)),
      pending: pending.filter((name) => !isTabLock(name)),
      tabs: held.filter(isTabLock),
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

/**
 * `harness.html?probe`: no manager; what the platform alone takes at this moment of a page load, for comparison
 * with a manager's time in 'loading': a `navigator.locks.query()` (how a tab tells it is alone) and the first
 * timer task (how busy the page still is), both in ms from this module's evaluation.
 */
if (new URLSearchParams(location.search).has('probe')) {
  const startedAt = performance.now();
  const since = () => performance.now() - startedAt;
  const probe = Promise.all([
    navigator.locks.query().then(since),
    new Promise((resolve) => setTimeout(() => resolve(since()), 0)),
  ]).then(([lockQueryMs, firstTaskMs]) => ({ lockQueryMs, firstTaskMs }));
  window.harness.probe = () => probe;
}

const autoOptions = new URLSearchParams(location.search).get('manager');
if (autoOptions !== null) {
  created = window.harness.create(JSON.parse(autoOptions));
  // Read later through `harness.created()`; a failure here must not also surface as an unhandled rejection.
  created.catch(() => {});
}
