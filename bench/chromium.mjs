// tokenkeeper in real Chromium, all measured in one run against the demo auth server (demo/server/app.mjs):
//   1. per-call cost of `auth.fetch` (GET, POST JSON) and `getAccessToken()` against hand-written floors;
//   2. exactly one refresh call when M tabs × N concurrent requests meet an expired token;
//   3. how fast a logout and a refresh reach the other tabs, next to a bare BroadcastChannel message;
//   4. a soak: 3 tabs calling the API every 100 ms with 2 s tokens, then a logout in the middle of a burst.
//
// `run({ quick, log })` returns tables for bench/run.mjs; `node bench/chromium.mjs [--quick]` prints them.
// Pages of one browser context share BroadcastChannel, localStorage and Web Locks: a context is one browser and
// its pages are its tabs. The page side is bench/pages/bench.js (`window.bench`).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_LAUNCH_OPTIONS, CHROMIUM_PATH } from '../scripts/chromium.mjs';

const fromRoot = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));

const SETTINGS = {
  full: { micro: { rounds: 31, targetMs: 25, warmupMs: 300 }, propagationRepetitions: 30, soakMs: 180_000 },
  quick: { micro: { rounds: 11, targetMs: 10, warmupMs: 150 }, propagationRepetitions: 8, soakMs: 40_000 },
};
/** Budget of `auth.fetch` per call, as a multiple of the idiomatic hand-written wrapper (full runs only). */
const FETCH_RATIO_BUDGET = 1.5;
/** [tabs, concurrent requests per tab] for the exactly-once scenarios. */
const EXACTLY_ONCE_CASES = [
  [1, 1],
  [1, 100],
  [4, 25],
  [16, 50],
];
const PROPAGATION_TABS = [4, 12];
/** Access-token lifetime of the short-token server (soak). */
const SHORT_TOKEN_SECONDS = 2;
/**
 * Exactly once: the lifetime the manager is told at login (`expires_in`), while the server's token lives an hour,
 * so that the refreshed token outlives a burst of hundreds of requests on a slow machine.
 */
const EXPIRY_SECONDS = 2;
const SOAK_TABS = 3;
const SOAK_INTERVAL_MS = 100;
/** The logout burst: every tab calls the API this often, the logout comes after `LOGOUT_AFTER_MS`. */
const BURST_INTERVAL_MS = 20;
const LOGOUT_AFTER_MS = 400;
const BURST_AFTER_LOGOUT_MS = 600;

/** The 1-minute load average, from /proc/loadavg where there is one. */
const loadAverage = () => {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  } catch {
    return 'unknown';
  }
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The value at `fraction` (0.5: the median) of `values`, nearest-rank. */
function percentile(values, fraction) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(fraction * sorted.length)) - 1];
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const ms = (value) => (value === undefined || Number.isNaN(value) ? '—' : value.toFixed(1));
const ratio = (value) => (value >= 10 ? value.toFixed(0) : value.toFixed(2));
/** A per-call time given in µs: ns below 1 µs. */
const perCall = (us) => (us < 1 ? `${(us * 1000).toFixed(0)} ns` : `${us.toFixed(us < 10 ? 2 : 1)} µs`);

/** Builds the package when dist/index.js is missing or older than a file of src/. */
function ensureBuilt(log) {
  const built = fromRoot('dist/index.js');
  const newestSource = Math.max(
    ...readdirSync(fromRoot('src')).map((name) => statSync(fromRoot(`src/${name}`)).mtimeMs),
  );
  if (existsSync(built) && statSync(built).mtimeMs >= newestSource) return;
  log('chromium: building the package (npm run build)');
  const result = spawnSync('npm', ['run', 'build'], { cwd: fromRoot(''), stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`npm run build failed (exit ${result.status})`);
}

async function startServer(accessTokenSeconds) {
  const { startAuthServer } = await import(pathToFileURL(fromRoot('demo/server/app.mjs')).href);
  return startAuthServer({
    accessTokenSeconds,
    port: 0,
    staticDir: fromRoot('dist'),
    staticRoutes: {
      '/bench.html': fromRoot('bench/pages/bench.html'),
      '/bench.js': fromRoot('bench/pages/bench.js'),
      '/tokenkeeper.js': fromRoot('dist/index.js'),
      '/vendor/jwt-decode.js': fromRoot('node_modules/jwt-decode/build/esm/index.js'),
    },
  });
}

/**
 * An http proxy in front of `targetUrl` that notes every `/api/` and `/auth/` request as it arrives (`at`:
 * Date.now(), the clock the pages' Date.now() also reads), whether it carried a token, and the answer's status.
 * The demo server keeps counts only; the soak needs a time per request.
 */
async function startLoggingProxy(targetUrl) {
  const target = new URL(targetUrl);
  const agent = new Agent({ keepAlive: true });
  const entries = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url, 'http://proxy');
    const logged = /^\/(api|auth)\//.test(url.pathname);
    const entry = {
      at: Date.now(),
      path: url.pathname,
      tab: url.searchParams.get('tab'),
      call: url.searchParams.get('call'),
      withToken: request.headers.authorization !== undefined,
      status: null,
    };
    if (logged) entries.push(entry);
    const upstream = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        agent,
      },
      (answer) => {
        entry.status = answer.statusCode;
        response.writeHead(answer.statusCode, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => {
      entry.status = 502;
      if (!response.headersSent) response.writeHead(502);
      response.end();
    });
    request.pipe(upstream);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    entries,
    close: () =>
      new Promise((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Calls `window.bench[method](...args)` in `page`. */
const call = (page, method, ...args) =>
  page.evaluate(([name, values]) => window.bench[name](...values), [method, args]);

/** Opens `count` tabs on the bench page of `baseUrl` at once; with `manager`, each creates its manager (after `ready`). */
function openTabs(context, baseUrl, count, manager, pageErrors) {
  const open = async (index) => {
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(`tab ${index}: ${error.message}`));
    await page.goto(`${baseUrl}/bench.html`);
    await page.waitForFunction(() => 'bench' in window);
    if (manager) await call(page, 'create', manager);
    return page;
  };
  return Promise.all(Array.from({ length: count }, (_, index) => open(index + 1)));
}

/**
 * Signs in in the first tab (`expiresInSeconds`: see `login` in bench.js) and resolves once every tab holds that
 * access token.
 */
async function loginEverywhere(tabs, expiresInSeconds = undefined) {
  const { accessToken } = await call(tabs[0], 'login', 'ada', expiresInSeconds);
  await Promise.all(tabs.map((tab) => call(tab, 'waitForState', { status: 'authenticated', accessToken })));
  return accessToken;
}

// 1. Per-call cost ------------------------------------------------------------------------------------------------

async function measureCallCost({ browser, server, settings, quick, failures, pageErrors }) {
  const context = await browser.newContext();
  try {
    const [page] = await openTabs(context, server.url, 1, null, pageErrors);
    const results = await call(page, 'micro', settings.micro);
    const rows = [];
    const budgeted = { get: 'GET', post: 'POST JSON' };
    for (const [name, label] of [
      ['get', 'auth.fetch GET'],
      ['post', 'auth.fetch POST JSON'],
      ['getAccessToken', 'getAccessToken()'],
    ]) {
      const result = results[name];
      const { floor, lean } = result.ratios;
      const withinBudget = floor.median <= FETCH_RATIO_BUDGET;
      const budget = budgeted[name] ? `≤ ${FETCH_RATIO_BUDGET}× ${withinBudget ? 'met' : 'MISSED'}` : '—';
      if (budgeted[name] && !withinBudget && !quick) {
        failures.push(
          `auth.fetch ${budgeted[name]} costs ${ratio(floor.median)}× the hand-written wrapper per call in Chromium (budget ≤ ${FETCH_RATIO_BUDGET}×)`,
        );
      }
      rows.push([
        label,
        perCall(result.perCallUs.library),
        perCall(result.perCallUs.floor),
        `${ratio(floor.median)}×`,
        `${ratio(floor.min)}–${ratio(floor.max)}×`,
        lean ? perCall(result.perCallUs.lean) : '—',
        lean ? `${ratio(lean.median)}× (${ratio(lean.min)}–${ratio(lean.max)})` : '—',
        quick && budgeted[name] ? `${budget} (quick: not enforced)` : budget,
      ]);
    }
    return { results, rows };
  } finally {
    await context.close();
  }
}

// 2. Exactly once at expiry ---------------------------------------------------------------------------------------

async function measureExactlyOnce({ browser, server, failures, pageErrors, log }) {
  const rows = [];
  const outcomes = [];
  for (const [tabCount, requests] of EXACTLY_ONCE_CASES) {
    log(`chromium: exactly once at expiry, ${tabCount} tab(s) × ${requests} requests`);
    const context = await browser.newContext();
    try {
      // Margin 0: the token is due when it expires, and every tab's burst starts at that very millisecond,
      // together with the tabs' own refresh timers.
      const tabs = await openTabs(context, server.url, tabCount, { storage: 'local', refreshMargin: 0 }, pageErrors);
      const accessToken = await loginEverywhere(tabs, EXPIRY_SECONDS);
      const { expiresAt } = await call(tabs[0], 'state');
      server.resetCounts();
      const bursts = await Promise.all(tabs.map((tab) => call(tab, 'burst', requests, expiresAt)));
      await sleep(100);
      const counts = { ...server.counts };
      const statuses = {};
      for (const burst of bursts) {
        for (const [status, count] of Object.entries(burst.statuses))
          statuses[status] = (statuses[status] ?? 0) + count;
      }
      const starts = bursts.map((burst) => burst.startedAt);
      const lastAnswerMs = Math.max(...bursts.map((burst) => burst.lastAt)) - expiresAt;
      const allOk = statuses[200] === tabCount * requests;
      const heldOldToken = bursts.every((burst) => burst.tokenAtStart === accessToken);
      outcomes.push({ tabCount, requests, refreshes: counts.refreshes, allOk, lastAnswerMs });
      const label = `${tabCount} × ${requests}`;
      if (counts.refreshes !== 1)
        failures.push(`exactly once: ${label} made ${counts.refreshes} refresh calls (want 1)`);
      if (counts.reuseDetected > 0) failures.push(`exactly once: ${label}: ${counts.reuseDetected} reuse detections`);
      if (!allOk) failures.push(`exactly once: ${label}: answers ${JSON.stringify(statuses)} (want all 200)`);
      rows.push([
        tabCount,
        requests,
        counts.refreshes,
        counts.apiCalls,
        counts.apiUnauthorized,
        Object.entries(statuses)
          .map(([status, count]) => `${count} × ${status}`)
          .join(', '),
        ms(lastAnswerMs),
        ms(Math.max(...starts) - Math.min(...starts)),
        heldOldToken ? 'yes' : 'no',
      ]);
    } finally {
      await context.close();
    }
  }
  const largest = outcomes.at(-1);
  return { rows, outcomes, lastAnswerMs16x50: largest.lastAnswerMs };
}

// 3. Cross-tab propagation ----------------------------------------------------------------------------------------

/** Sends one bare BroadcastChannel message from the first tab; the delay to each other tab, in ms. */
async function rawBroadcast(tabs, id) {
  const [first, ...others] = tabs;
  const arrivals = others.map((tab) => call(tab, 'waitForRaw', id));
  const sentAt = await call(first, 'postRaw', id);
  return (await Promise.all(arrivals)).map((arrival) => arrival.at - sentAt);
}

async function measurePropagation({ browser, server, repetitions, pageErrors, log }) {
  const results = [];
  for (const tabCount of PROPAGATION_TABS) {
    log(`chromium: cross-tab propagation, ${tabCount} tabs × ${repetitions} repetitions`);
    const context = await browser.newContext();
    try {
      const tabs = await openTabs(context, server.url, tabCount, { storage: 'local' }, pageErrors);
      const [first, ...others] = tabs;
      const samples = { logout: [], refreshFromCall: [], refreshFromEvent: [], raw: [] };

      for (let repetition = 0; repetition < repetitions; repetition += 1) {
        await loginEverywhere(tabs);
        await Promise.all(tabs.map((tab) => call(tab, 'clearRecords')));
        samples.raw.push(...(await rawBroadcast(tabs, `logout-${tabCount}-${repetition}`)));
        const observed = others.map(async (tab) => {
          const [event] = await call(tab, 'waitForRecords', 'logout');
          const state = await call(tab, 'waitForState', { status: 'unauthenticated' });
          const signedOut = (await call(tab, 'records', 'state')).find((entry) => entry.status === 'unauthenticated');
          return { event: event.at, state: state && signedOut.at };
        });
        const { at: calledAt } = await call(first, 'logout');
        // The later of the two: the tab has both emitted 'logout' and shown the signed-out state.
        for (const { event, state } of await Promise.all(observed))
          samples.logout.push(Math.max(event, state) - calledAt);
      }

      await loginEverywhere(tabs);
      for (let repetition = 0; repetition < repetitions; repetition += 1) {
        await Promise.all(tabs.map((tab) => call(tab, 'clearRecords')));
        samples.raw.push(...(await rawBroadcast(tabs, `refresh-${tabCount}-${repetition}`)));
        const observed = others.map((tab) => call(tab, 'waitForRecords', 'refresh', 1, 'remote'));
        const { at: calledAt } = await call(first, 'refresh');
        const [local] = await call(first, 'waitForRecords', 'refresh', 1, 'local');
        for (const [event] of await Promise.all(observed)) {
          samples.refreshFromCall.push(event.at - calledAt);
          samples.refreshFromEvent.push(event.at - local.at);
        }
      }
      await call(first, 'logout');
      results.push({ tabCount, samples });
    } finally {
      await context.close();
    }
  }

  const stats = (values) => ({ p50: percentile(values, 0.5), p95: percentile(values, 0.95), max: Math.max(...values) });
  const rows = [];
  for (const { tabCount, samples } of results) {
    const raw = stats(samples.raw);
    for (const [name, what] of [
      ['logout', "logout: tab 1's logout() call → 'logout' event and signed-out state"],
      ['refreshFromCall', "refresh: tab 1's refresh() call → 'refresh' (remote)"],
      ['refreshFromEvent', "refresh: tab 1's own 'refresh' event → 'refresh' (remote)"],
    ]) {
      const own = stats(samples[name]);
      rows.push([
        what,
        tabCount,
        samples[name].length,
        ms(own.p50),
        ms(own.p95),
        ms(own.max),
        `${ms(raw.p50)} / ${ms(raw.p95)} / ${ms(raw.max)}`,
      ]);
    }
  }
  const byTabs = Object.fromEntries(
    results.map(({ tabCount, samples }) => [
      tabCount,
      Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, stats(values)])),
    ]),
  );
  const minimumRaw = Math.min(...results.flatMap(({ samples }) => samples.raw));
  return { rows, byTabs, minimumRaw };
}

// 4. Soak ---------------------------------------------------------------------------------------------------------

async function soak({ browser, server, soakMs, failures, pageErrors, log }) {
  const proxy = await startLoggingProxy(server.url);
  const context = await browser.newContext();
  try {
    const tabs = await openTabs(context, proxy.url, SOAK_TABS, { storage: 'local' }, pageErrors);
    const [first] = tabs;
    await loginEverywhere(tabs);
    server.resetCounts();
    proxy.entries.length = 0;
    const startedAt = Date.now();
    log(`chromium: soak, ${SOAK_TABS} tabs calling the API every ${SOAK_INTERVAL_MS} ms for ${soakMs / 1000} s`);
    await Promise.all(tabs.map((tab, index) => call(tab, 'startLoop', index + 1, SOAK_INTERVAL_MS)));
    await sleep(soakMs);
    await Promise.all(tabs.map((tab) => call(tab, 'stopLoop')));

    log('chromium: soak, logout in tab 1 in the middle of a burst');
    await Promise.all(tabs.map((tab, index) => call(tab, 'startLoop', index + 1, BURST_INTERVAL_MS)));
    await sleep(LOGOUT_AFTER_MS);
    const logout = await call(first, 'logout');
    await sleep(BURST_AFTER_LOGOUT_MS);
    await Promise.all(tabs.map((tab) => call(tab, 'stopLoop')));
    const told = await Promise.all(tabs.map((tab) => call(tab, 'waitForRecords', 'logout')));
    const logs = await Promise.all(tabs.map((tab) => call(tab, 'soakLog')));
    const counts = { ...server.counts };

    const logoutAt = logout.wall;
    /** When each tab (1-based) learnt of the logout: its 'logout' event (in tab 1, the one its call caused). */
    const toldAt = Object.fromEntries(told.map(([event], index) => [String(index + 1), event.wall]));
    const everyTabToldAt = Math.max(...Object.values(toldAt));
    const calls = logs.flatMap((entry, index) => entry.calls.map((one) => ({ ...one, tab: String(index + 1) })));
    const isOk = (one) => one.error === null && one.status >= 200 && one.status < 300;
    const before = calls.filter((one) => one.endedAt < logoutAt);
    const overlapping = calls.filter((one) => one.startedAt < logoutAt && one.endedAt >= logoutAt);
    const after = calls.filter((one) => one.startedAt >= logoutAt);
    const failed = [
      ...before.filter((one) => !isOk(one)),
      ...calls.filter((one) => one.endedAt >= logoutAt && one.error),
    ];
    const statusesOf = (list) => {
      const tally = {};
      for (const one of list)
        tally[one.error ? 'threw' : one.status] = (tally[one.error ? 'threw' : one.status] ?? 0) + 1;
      return Object.entries(tally)
        .map(([status, count]) => `${count} × ${status}`)
        .join(', ');
    };

    const api = proxy.entries.filter((entry) => entry.path.startsWith('/api/'));
    const refreshArrivals = proxy.entries
      .filter((entry) => entry.path === '/auth/refresh' && entry.at < logoutAt)
      .map((entry) => entry.at);
    const refreshGaps = refreshArrivals.slice(1).map((at, index) => at - refreshArrivals[index]);
    const unauthorizedBefore = api.filter((entry) => entry.at < logoutAt && entry.status === 401).length;
    const authorisedAfterCall = api.filter((entry) => entry.withToken && entry.at >= logoutAt);
    const authorisedAfterEveryTabTold = authorisedAfterCall.filter((entry) => entry.at > everyTabToldAt);
    // From the pages: a request carrying a token that the manager handed to fetch after its tab learnt of the logout.
    const sentAfterTold = logs.flatMap((entry, index) =>
      entry.attempts.filter((attempt) => attempt.withToken && attempt.sentAt > toldAt[String(index + 1)]),
    );
    // When each authorised arrival after the logout call left its page: the latest request with a token the page
    // sent for that call before the arrival.
    const sentAtOf = (entry) => {
      const attempts = logs[Number(entry.tab) - 1]?.attempts ?? [];
      const sent = attempts.filter((one) => one.call === entry.call && one.withToken && one.sentAt <= entry.at);
      return sent.length ? Math.max(...sent.map((one) => one.sentAt)) : null;
    };
    const arrivalsBy = { beforeCall: 0, beforeTold: 0, afterTold: 0, unmatched: 0 };
    for (const entry of authorisedAfterCall) {
      const sentAt = sentAtOf(entry);
      if (sentAt === null) arrivalsBy.unmatched += 1;
      else if (sentAt < logoutAt) arrivalsBy.beforeCall += 1;
      else if (sentAt <= toldAt[entry.tab]) arrivalsBy.beforeTold += 1;
      else arrivalsBy.afterTold += 1;
    }

    const steadyMs = logoutAt - startedAt;
    const lifetimeMs = SHORT_TOKEN_SECONDS * 1000;
    // The default margin (60 s) is capped at half the token's lifetime: a refresh every lifetime / 2.
    const refreshPeriodMs = lifetimeMs / 2;
    const refreshBound = Math.floor(steadyMs / refreshPeriodMs) + 1;

    if (counts.reuseDetected > 0) failures.push(`soak: ${counts.reuseDetected} refresh-token reuse detections`);
    if (failed.length > 0) failures.push(`soak: ${failed.length} failed API calls (${statusesOf(failed)})`);
    if (refreshArrivals.length > refreshBound) {
      failures.push(
        `soak: ${refreshArrivals.length} refresh calls in ${ms(steadyMs / 1000)} s (bound ${refreshBound})`,
      );
    }
    if (sentAfterTold.length > 0 || arrivalsBy.afterTold > 0) {
      failures.push(`soak: ${sentAfterTold.length} requests with a token sent after their tab learnt of the logout`);
    }

    const delays = authorisedAfterCall.map((entry) => entry.at - logoutAt);
    const rows = [
      ['duration before the logout (s)', ms(steadyMs / 1000)],
      ['API calls answered before the logout call', `${before.length} (${statusesOf(before)})`],
      ['failed calls (non-2xx before the logout, or thrown)', failed.length],
      ['401s served before the logout (each retried after a refresh)', unauthorizedBefore],
      ['token lifetimes in that time (duration / 2 s)', ms(steadyMs / lifetimeMs)],
      [
        `refresh calls (bound: duration / ${refreshPeriodMs} ms + 1 = ${refreshBound})`,
        `${refreshArrivals.length} (interval median ${ms(median(refreshGaps))} ms, max ${ms(Math.max(...refreshGaps))} ms)`,
      ],
      ['refresh-token reuse detections (server)', counts.reuseDetected],
      ['refresh calls rejected (server)', counts.refreshRejected],
      ['calls overlapping the logout call', overlapping.length ? statusesOf(overlapping) : '0'],
      ['calls started after the logout call', after.length ? statusesOf(after) : '0'],
      [
        'other tabs told of the logout (ms after the call)',
        Object.entries(toldAt)
          .filter(([tab]) => tab !== '1')
          .map(([tab, at]) => `tab ${tab}: ${at - logoutAt}`)
          .join(', '),
      ],
      [
        'authorised API requests reaching the server after the logout call',
        delays.length
          ? `${delays.length} (arriving +${Math.min(...delays)} to +${Math.max(...delays)} ms after it; sent ` +
            `before the call: ${arrivalsBy.beforeCall}, after the call but before their tab was told: ` +
            `${arrivalsBy.beforeTold}, after: ${arrivalsBy.afterTold}` +
            `${arrivalsBy.unmatched ? `, unmatched: ${arrivalsBy.unmatched}` : ''})`
          : '0',
      ],
      ['… of them arriving after every tab was told', authorisedAfterEveryTabTold.length],
      ['requests with a token sent by a tab after it was told (pages)', sentAfterTold.length],
    ];
    return {
      rows,
      summary: {
        soakFailedCalls: failed.length,
        soakUnauthorizedServed: unauthorizedBefore,
        soakRefreshCalls: refreshArrivals.length,
        soakRefreshBound: refreshBound,
        soakReuseDetected: counts.reuseDetected,
        soakAuthorisedAfterLogoutCall: authorisedAfterCall.length,
        soakAuthorisedSentAfterTold: sentAfterTold.length,
      },
    };
  } finally {
    await context.close();
    await proxy.close();
  }
}

// -----------------------------------------------------------------------------------------------------------------

export async function run({ quick = false, log = () => {} } = {}) {
  const startedAt = Date.now();
  const loadAtStart = loadAverage();
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} (set CHROMIUM_PATH); the Chromium benchmark needs it`);
  }
  ensureBuilt(log);
  const settings = quick ? SETTINGS.quick : SETTINGS.full;
  const failures = [];
  const pageErrors = [];
  const opened = [];
  try {
    log('chromium: starting the servers and the browser');
    const longServer = await startServer(3600);
    opened.push(longServer);
    const shortServer = await startServer(SHORT_TOKEN_SECONDS);
    opened.push(shortServer);
    const browser = await chromium.launch(CHROMIUM_LAUNCH_OPTIONS);
    opened.push(browser);
    const shared = { browser, failures, pageErrors, log, quick };
    const durations = [];
    const timed = async (name, measure) => {
      const sectionStartedAt = Date.now();
      const result = await measure();
      durations.push(`${name} ${((Date.now() - sectionStartedAt) / 1000).toFixed(0)} s`);
      return result;
    };

    log('chromium: per-call cost of auth.fetch and getAccessToken');
    const cost = await timed('per-call cost', () => measureCallCost({ ...shared, server: longServer, settings }));
    const exactlyOnce = await timed('exactly once', () => measureExactlyOnce({ ...shared, server: longServer }));
    const propagation = await timed('propagation', () =>
      measurePropagation({ ...shared, server: longServer, repetitions: settings.propagationRepetitions }),
    );
    const soaked = await timed('soak', () => soak({ ...shared, server: shortServer, soakMs: settings.soakMs }));

    if (pageErrors.length > 0) failures.push(...pageErrors.map((message) => `uncaught in a page: ${message}`));
    const mode = quick ? 'quick' : 'full';
    const notes = [
      `Chromium ${browser.version()} headless (${CHROMIUM_PATH}), ${mode} run, ` +
        `${((Date.now() - startedAt) / 1000).toFixed(0)} s (${durations.join(', ')}); 1-minute load average ` +
        `${loadAtStart} at the start, ${loadAverage()} at the end, on ${availableParallelism()} cores: ` +
        'absolute times (network, propagation) grow with the load, ratios less so.',
      'Per-call cost: each variant runs for its own number of sequential awaited calls, calibrated to about ' +
        `${settings.micro.targetMs} ms per block after a warm-up; ${settings.micro.rounds} interleaved rounds in ` +
        'alternating order; the ratio is taken per round (median, min–max). Both sides use the same stub fetch ' +
        '(a ready 200 response); tokenkeeper with memory storage, `allowedOrigins: [https://api.test]`, an unsigned ' +
        'JWT valid for an hour. The budget applies to full runs.',
      `Exactly once: localStorage, refreshMargin 0; tab 1 signs in with the server's answer and \`expires_in\` ` +
        `replaced by ${EXPIRY_SECONDS} s (the server's token lives an hour, so the refreshed token outlives the burst ` +
        'however slow the machine), and the others take the session through the library; every tab starts its ' +
        "burst at the token's expiresAt (wall clock, timers only), when the tabs' own refresh timers are also due. " +
        'Go → last answer is from expiresAt; start spread is between the tabs.',
      `Propagation: localStorage, one-hour tokens; times are performance.timeOrigin + performance.now() in each page ` +
        '(one clock for the browser); a logout is observed when the tab has both emitted the event and shown the ' +
        'signed-out state. Raw BC: a bare BroadcastChannel message from tab 1, sent before each logout and refresh ' +
        `(smallest raw delay seen: ${ms(propagation.minimumRaw)} ms; a negative one would mean the pages' clocks differ).`,
      `Soak: ${SOAK_TABS} tabs, localStorage, ${SHORT_TOKEN_SECONDS} s tokens, default refreshMargin (capped by the ` +
        `library at half the lifetime, so one refresh per ${SHORT_TOKEN_SECONDS / 2} s), a call every ` +
        `${SOAK_INTERVAL_MS} ms per tab without waiting for the previous one. Then each tab calls every ` +
        `${BURST_INTERVAL_MS} ms, tab 1 logs out ${LOGOUT_AFTER_MS} ms into that burst, the burst goes on ` +
        `${BURST_AFTER_LOGOUT_MS} ms. Request times at the server come from a logging http proxy in front of ` +
        'demo/server/app.mjs (same machine clock as the pages). Failure rules: reuse detections > 0; failed calls > 0; ' +
        'refresh calls > duration / (lifetime / 2) + 1; any request carrying a token handed to fetch by a tab after ' +
        "that tab's 'logout' event. Requests sent before their tab was told may still arrive after the logout call; " +
        'they are counted, not failed.',
      'The demo server rounds `iat` down to the second, so a server-side expiry comes up to 1 s earlier than the ' +
        "client's `expires_in` says; a request in that window gets a 401 and is retried after a refresh.",
    ];
    /** A number rounded to 0.1, for the summary. */
    const tenth = (value) => Math.round(value * 10) / 10;
    const summary = {
      fetchGetRatioChromium: tenth(cost.results.get.ratios.floor.median),
      fetchPostRatioChromium: tenth(cost.results.post.ratios.floor.median),
      getAccessTokenRatioChromium: tenth(cost.results.getAccessToken.ratios.floor.median),
      exactlyOnceAllOne: exactlyOnce.outcomes.every((outcome) => outcome.refreshes === 1 && outcome.allOk)
        ? 'yes'
        : 'no',
      exactlyOnce16x50Ms: exactlyOnce.lastAnswerMs16x50,
      logoutPropagationP95Ms4Tabs: tenth(propagation.byTabs[4].logout.p95),
      logoutPropagationP95Ms12Tabs: tenth(propagation.byTabs[12].logout.p95),
      refreshPropagationP95Ms12Tabs: tenth(propagation.byTabs[12].refreshFromCall.p95),
      rawBroadcastP95Ms12Tabs: tenth(propagation.byTabs[12].raw.p95),
      ...soaked.summary,
    };
    return {
      title: 'Chromium: per-call cost, exactly-once refresh, cross-tab propagation, soak',
      intro:
        'tokenkeeper (the built dist/index.js) in headless Chromium against demo/server/app.mjs on 127.0.0.1; the ' +
        'tabs are pages of one browser context, sharing BroadcastChannel, localStorage and Web Locks.',
      tables: [
        {
          caption: 'Per-call cost in the page, against hand-written floors (same stub fetch)',
          header: [
            'call',
            'tokenkeeper',
            'floor',
            'ratio (median)',
            'ratio min–max',
            'lean floor',
            'ratio to lean (median, min–max)',
            'budget',
          ],
          rows: cost.rows,
        },
        {
          caption: 'Exactly one refresh call at expiry (M tabs × N concurrent auth.fetch)',
          header: [
            'tabs',
            'requests / tab',
            'refresh calls',
            'API calls',
            '401s served',
            'answers',
            'go → last answer (ms)',
            'start spread (ms)',
            'expired token held at start',
          ],
          rows: exactlyOnce.rows,
        },
        {
          caption: `Cross-tab propagation (${settings.propagationRepetitions} repetitions), ms`,
          header: ['what', 'tabs', 'samples', 'p50', 'p95', 'max', 'raw BC p50 / p95 / max'],
          rows: propagation.rows,
        },
        {
          caption: `Soak: ${SOAK_TABS} tabs, ${SHORT_TOKEN_SECONDS} s tokens, ${settings.soakMs / 1000} s, then a logout mid-burst`,
          header: ['measure', 'value'],
          rows: soaked.rows,
        },
      ],
      notes,
      failures,
      summary,
    };
  } finally {
    for (const resource of opened.reverse()) await resource.close().catch(() => {});
  }
}

/** The result as Markdown, for `node bench/chromium.mjs`. */
function toMarkdown(result) {
  const cell = (value) => String(value).replace(/\|/g, '\\|');
  const lines = [`## ${result.title}`, '', result.intro, ''];
  for (const table of result.tables) {
    lines.push(`### ${table.caption}`, '', `| ${table.header.map(cell).join(' | ')} |`);
    lines.push(`|${table.header.map(() => '---').join('|')}|`);
    for (const row of table.rows) lines.push(`| ${row.map(cell).join(' | ')} |`);
    lines.push('');
  }
  lines.push('Notes:', ...result.notes.map((note) => `- ${note}`), '');
  lines.push(`Failures: ${result.failures.length === 0 ? 'none' : ''}`, ...result.failures.map((f) => `- ${f}`), '');
  lines.push('Summary:', ...Object.entries(result.summary).map(([key, value]) => `- ${key}: ${value}`), '');
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await run({
    quick: process.argv.includes('--quick'),
    log: (message) => process.stderr.write(`${message}\n`),
  });
  process.stdout.write(toMarkdown(result));
  process.exitCode = result.failures.length > 0 ? 1 : 0;
}
