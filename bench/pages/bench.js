// The page side of bench/chromium.mjs: one token manager per page ("tab"), driven through `window.bench` with
// page.evaluate. Events and state changes are recorded with two times: `at`, performance.timeOrigin +
// performance.now() (pages of one browser share that clock; used for cross-tab delays), and `wall`, Date.now()
// (compared with the server's log, which is on the same machine's clock).
import { createTokenManager } from '/tokenkeeper.js';

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Sleeps until the wall-clock time `atMs`. Timers only, never a busy wait: pages may share a main thread. */
const sleepUntil = async (atMs) => {
  while (Date.now() < atMs) await sleep(atMs - Date.now());
};

let auth = null;
const records = [];
/** Checks run after every record, for `waitUntil`. */
const waiters = new Set();
/** Every request the manager handed to fetch for `/api/…?call=<id>`: `{ call, sentAt (wall), withToken }`. */
const attempts = [];

const record = (type, details) => {
  records.push({ type, at: now(), wall: Date.now(), ...details });
  for (const check of [...waiters]) check();
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
      reject(new Error(`bench page: still waiting after ${timeoutMs} ms for ${describe()}`));
    }, timeoutMs);
    waiters.add(check);
    check();
  });
}

/** The manager's fetch: notes, per API call, when each request left and whether it carried a token. */
function recordingFetch(input, init) {
  const request = input instanceof Request ? input : null;
  const url = new URL(request ? request.url : String(input), location.href);
  const call = url.searchParams.get('call');
  if (call !== null) {
    const headers = init?.headers !== undefined ? new Headers(init.headers) : (request?.headers ?? new Headers());
    attempts.push({ call, sentAt: Date.now(), withToken: headers.has('authorization') });
  }
  return fetch(input, init);
}

/** The soak loop: its timer, every call it started (`{ call, startedAt, endedAt, status, error }`), those unsettled. */
const soak = { timer: null, calls: [], inFlight: new Set(), next: 0 };

const requireManager = () => {
  if (!auth) throw new Error('bench page: call bench.create() first');
  return auth;
};

// The bare BroadcastChannel, measured the same way as the manager's messages: `postRaw` in one tab, the arrival
// time in the others.
const RAW_CHANNEL = 'bench-raw';
const rawChannel = new BroadcastChannel(RAW_CHANNEL);
rawChannel.onmessage = (event) => record('raw', { id: event.data.id });

/** A JWT that is never verified (the library only decodes): `alg: none`, valid for `seconds`. */
function unsignedJwt(seconds) {
  const encode = (value) => btoa(JSON.stringify(value)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const issuedAt = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub: 'bench', iat: issuedAt, exp: issuedAt + seconds })}.`;
}

/** Per-call time in ms of `k` sequential awaited calls of `fn`. */
async function block(fn, k) {
  const startedAt = performance.now();
  for (let index = 0; index < k; index += 1) await fn();
  return (performance.now() - startedAt) / k;
}

/** Runs `fn` for about `ms` and returns how many calls make `targetMs` (at least 50). */
async function calibrate(fn, ms, targetMs) {
  const startedAt = performance.now();
  let calls = 0;
  while (performance.now() - startedAt < ms) {
    for (let index = 0; index < 100; index += 1) await fn();
    calls += 100;
  }
  const perCallMs = (performance.now() - startedAt) / calls;
  return Math.max(50, Math.ceil(targetMs / perCallMs));
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

window.bench = {
  /** Creates this page's manager against the bench server's endpoints. */
  async create({ storage = 'local', refreshMargin } = {}) {
    if (auth) throw new Error('bench page: this page has a manager already');
    auth = createTokenManager({
      refresh: { url: '/auth/refresh' },
      logout: { url: '/auth/logout' },
      ...(storage === 'local' ? { storage: localStorage } : { storage: 'memory' }),
      ...(refreshMargin === undefined ? {} : { refreshMargin }),
      fetch: recordingFetch,
    });
    auth.subscribe((state) => record('state', { status: state.status, accessToken: state.accessToken }));
    auth.on('login', (event) => record('login', { source: event.source }));
    auth.on('refresh', (event) => record('refresh', { source: event.source, accessToken: event.accessToken }));
    auth.on('logout', (event) => record('logout', { reason: event.reason }));
    auth.on('error', (event) => record('error', { name: event.error.name, message: event.error.message }));
    await auth.ready;
    return auth.getState().status;
  },

  /**
   * Signs in at the server and hands its answer to the manager as it is, as an app does; `expiresInSeconds`
   * replaces the answer's `expires_in` (the manager then takes the token for expired sooner than the server does).
   */
  async login(username = 'ada', expiresInSeconds = undefined) {
    const manager = requireManager();
    const response = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: 'demo' }),
    });
    if (!response.ok) throw new Error(`bench page: the login answered ${response.status}`);
    const body = await response.json();
    const calledAt = Date.now();
    await manager.setTokens(expiresInSeconds === undefined ? body : { ...body, expires_in: expiresInSeconds });
    return { calledAt, accessToken: body.access_token };
  },

  state() {
    const { status, accessToken, expiresAt } = requireManager().getState();
    return { status, accessToken, expiresAt };
  },
  /** Resolves with the state once it has every field of `expected`. */
  waitForState(expected, timeoutMs = 10_000) {
    const manager = requireManager();
    const matches = () => {
      const state = manager.getState();
      return Object.entries(expected).every(([key, value]) => state[key] === value) && window.bench.state();
    };
    return waitUntil(matches, timeoutMs, () => `state ${JSON.stringify(expected)}; it is ${manager.getState().status}`);
  },

  records: (type) => records.filter((entry) => type === undefined || entry.type === type),
  clearRecords() {
    records.length = 0;
  },
  /** Resolves with the records of `type` (and `source`, when given) once there are at least `count` of them. */
  waitForRecords(type, count = 1, source = undefined, timeoutMs = 10_000) {
    const matching = () =>
      records.filter((entry) => entry.type === type && (source === undefined || entry.source === source));
    return waitUntil(
      () => matching().length >= count && matching(),
      timeoutMs,
      () => `${count} '${type}' records; there are ${matching().length}`,
    );
  },

  /** Posts `{ id }` on the bare channel; resolves with the time just before the post. */
  postRaw(id) {
    const at = now();
    rawChannel.postMessage({ id });
    return at;
  },
  waitForRaw(id, timeoutMs = 10_000) {
    return waitUntil(
      () => records.find((entry) => entry.type === 'raw' && entry.id === id),
      timeoutMs,
      () => `raw message ${id}`,
    );
  },

  /** `logout()` here; `at`/`wall` are taken just before the call. */
  async logout() {
    const manager = requireManager();
    const at = now();
    const wall = Date.now();
    const result = await manager.logout();
    return { at, wall, ...result };
  },
  /** `refresh()` here; `at` is taken just before the call. */
  async refresh() {
    const manager = requireManager();
    const at = now();
    const accessToken = await manager.refresh();
    return { at, accessToken };
  },

  /**
   * `count` concurrent `auth.fetch('/api/me')` calls started at the wall-clock time `startAt`. Resolves with when
   * they started, the state then, when the last answer came, and the answers by status.
   */
  async burst(count, startAt) {
    const manager = requireManager();
    await sleepUntil(startAt);
    const startedAt = Date.now();
    const tokenAtStart = manager.getState().accessToken;
    const statuses = {};
    let lastAt = 0;
    const calls = Array.from({ length: count }, () =>
      manager.fetch('/api/me').then(
        async (response) => {
          await response.arrayBuffer();
          return response.status;
        },
        (error) => `threw ${error?.name}`,
      ),
    );
    for (const call of calls) {
      call.then(() => {
        lastAt = Date.now();
      });
    }
    for (const status of await Promise.all(calls)) statuses[status] = (statuses[status] ?? 0) + 1;
    return { startedAt, lastAt, tokenAtStart, statuses };
  },

  /** Soak: `auth.fetch('/api/me?tab=…&call=…')` every `intervalMs`, without waiting for earlier calls. */
  startLoop(tab, intervalMs) {
    const manager = requireManager();
    if (soak.timer !== null) throw new Error('bench page: a loop runs already');
    soak.timer = setInterval(() => {
      soak.next += 1;
      const entry = { call: String(soak.next), startedAt: Date.now(), endedAt: null, status: null, error: null };
      soak.calls.push(entry);
      const done = manager.fetch(`/api/me?tab=${tab}&call=${entry.call}`).then(
        async (response) => {
          await response.arrayBuffer();
          entry.status = response.status;
        },
        (error) => {
          entry.error = `${error?.name}: ${error?.message}`;
        },
      );
      soak.inFlight.add(done);
      done.then(() => {
        entry.endedAt = Date.now();
        soak.inFlight.delete(done);
      });
    }, intervalMs);
  },
  /** Stops the loop and resolves once every call it started has settled. */
  async stopLoop() {
    clearInterval(soak.timer);
    soak.timer = null;
    await Promise.all([...soak.inFlight]);
  },
  /** Every soak call and every request the manager sent for them. */
  soakLog: () => ({ calls: soak.calls, attempts }),

  /**
   * Per-call cost of `auth.fetch` (GET, POST JSON) and `getAccessToken()` against hand-written floors, with the
   * same stub fetch (a ready response) on both sides. Round i runs every variant of an operation for its own
   * number of calls (calibrated to about `targetMs` each), in an order that alternates between rounds.
   */
  async micro({ rounds, targetMs, warmupMs }) {
    const ready = new Response(null, { status: 200 });
    const stub = () => Promise.resolve(ready);
    const token = unsignedJwt(3600);
    const manager = createTokenManager({
      refresh: { url: '/auth/refresh' },
      storage: 'memory',
      allowedOrigins: ['https://api.test'],
      fetch: stub,
    });
    await manager.setTokens({ accessToken: token, refreshToken: 'bench-refresh-token' });
    if ((await manager.getAccessToken()) !== token) throw new Error('bench page: the micro manager is not signed in');

    const url = 'https://api.test/items?page=1';
    const body = JSON.stringify({ name: 'bench', count: 1 });
    // The budgeted floor: the idiomatic hand-written wrapper.
    const floor = async (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('Authorization', 'Bearer ' + token);
      return stub(input, { ...init, headers });
    };
    // A leaner floor: a plain-object header spread (right only when `init.headers` is a plain object).
    const lean = async (input, init = {}) =>
      stub(input, { ...init, headers: { ...init.headers, Authorization: 'Bearer ' + token } });
    const tokenFloor = async () => token;
    const postInit = () => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const operations = {
      get: { library: () => manager.fetch(url), floor: () => floor(url), lean: () => lean(url) },
      post: {
        library: () => manager.fetch(url, postInit()),
        floor: () => floor(url, postInit()),
        lean: () => lean(url, postInit()),
      },
      getAccessToken: { library: () => manager.getAccessToken(), floor: tokenFloor },
    };

    const results = {};
    for (const [name, variants] of Object.entries(operations)) {
      const names = Object.keys(variants);
      const calls = {};
      for (const variant of names) calls[variant] = await calibrate(variants[variant], warmupMs, targetMs);
      const perCall = Object.fromEntries(names.map((variant) => [variant, []]));
      for (let round = 0; round < rounds; round += 1) {
        const order = round % 2 === 0 ? names : [...names].reverse();
        for (const variant of order) {
          await sleep(0);
          perCall[variant].push(await block(variants[variant], calls[variant]));
        }
      }
      const ratios = (other) => perCall.library.map((ms, round) => ms / perCall[other][round]);
      results[name] = {
        calls,
        perCallUs: Object.fromEntries(names.map((variant) => [variant, median(perCall[variant]) * 1000])),
        ratios: Object.fromEntries(
          names
            .filter((variant) => variant !== 'library')
            .map((variant) => {
              const list = ratios(variant);
              return [variant, { median: median(list), min: Math.min(...list), max: Math.max(...list) }];
            }),
        ),
      };
    }
    manager.destroy();
    return results;
  },
};
