// Launches what the browser tests need: the demo auth server serving the built package and the harness page,
// and Chromium through playwright-core. Pages of one browser context share BroadcastChannel, localStorage and
// Web Locks, so a context is "one browser" and its pages are its tabs.
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { CHROMIUM_LAUNCH_OPTIONS } from '../../../scripts/chromium.mjs';

const fromRoot = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

/** The server of demo/server/app.mjs, as the tests use it. */
export interface AuthServer {
  url: string;
  counts: ServerCounts;
  holdRefreshes(): void;
  releaseRefreshes(): void;
  heldRefreshes(): { clientGone: boolean }[];
  resetCounts(): void;
  close(): Promise<void>;
}

export interface ServerCounts {
  logins: number;
  refreshes: number;
  refreshRejected: number;
  /** Refresh requests with no refresh token in the body (cookie mode; `restore` calls among them). */
  cookieRefreshes: number;
  /** Cookie refreshes and logouts refused with 403 for lack of the CSRF header or for a foreign `Origin`. */
  csrfRejected: number;
  refreshAbandoned: number;
  reuseDetected: number;
  logouts: number;
  apiCalls: number;
  apiUnauthorized: number;
  apiWithoutToken: number;
}

interface ServerModule {
  startAuthServer(options: {
    accessTokenSeconds?: number;
    staticDir?: string;
    staticRoutes?: Record<string, string>;
  }): Promise<AuthServer>;
}

/** Starts the demo auth server, serving the harness page and the built package (`npm run build` first). */
export async function startServer(accessTokenSeconds: number): Promise<AuthServer> {
  // A computed specifier: the server is plain JavaScript without declarations, typed by `ServerModule` here.
  const serverPath = fromRoot('demo/server/app.mjs');
  const { startAuthServer } = (await import(serverPath)) as ServerModule;
  return startAuthServer({
    accessTokenSeconds,
    // Were the build ever split into chunks, '/tokenkeeper.js' would import them from '/': dist/ serves them.
    staticDir: fromRoot('dist'),
    staticRoutes: {
      '/harness.html': fromRoot('test/e2e/harness.html'),
      '/harness.js': fromRoot('test/e2e/harness.js'),
      '/tokenkeeper.js': fromRoot('dist/index.js'),
      '/vendor/jwt-decode.js': fromRoot('node_modules/jwt-decode/build/esm/index.js'),
    },
  });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch(CHROMIUM_LAUNCH_OPTIONS);
}

export interface ManagerOptions {
  storage?: 'memory' | 'local';
  refreshMargin?: number;
  /** `false`: no logout endpoint. */
  logout?: boolean;
  /** The manager's `restore` option. */
  restore?: boolean;
  /**
   * The refresh token lives in the server's HttpOnly cookie: `login()` asks for it, the endpoints send cookies
   * (`credentials: 'same-origin'`) and the CSRF header the server requires.
   */
  cookie?: boolean;
}

export interface StateSummary {
  status: 'loading' | 'authenticated' | 'unauthenticated';
  accessToken: string | null;
  expiresAt: number | null;
  refreshing: boolean;
}

export type PageRecord =
  | ({ type: 'state'; at: number } & StateSummary)
  | { type: 'login'; at: number; source: 'local' | 'remote' | 'restore' }
  | { type: 'refresh'; at: number; source: 'local' | 'remote'; accessToken: string; expiresAt: number | null }
  | { type: 'logout'; at: number; reason: string }
  | { type: 'error'; at: number; name: string; message: string };

export interface FetchBurst {
  startedAt: number;
  stateAtStart: StateSummary;
  results: { status: number; withToken: boolean[] }[];
}

export type RefreshOutcome =
  | { settled: false }
  | { settled: true; ok: true; accessToken: string; at: number }
  | { settled: true; ok: false; name: string; code: string; at: number };

/** A view the harness page rendered: `t` is performance.now() of that page load, `at` is Date.now(). */
export interface RenderedView {
  view: 'none' | 'loading' | 'signed-in' | 'signed-out';
  at: number;
  t: number;
}

/** performance.now() times of one page load's manager, and the time it spent in 'loading'. */
export interface ManagerTiming {
  /** When createTokenManager returned. */
  createdAt: number;
  /** How long createTokenManager took. */
  createMs: number;
  /** The status of the first `getState()`. */
  initialStatus: StateSummary['status'];
  /** When the status first was not 'loading'. */
  knownAt: number | null;
  /** When `ready` settled. */
  readyAt: number | null;
  /** `knownAt - createdAt`: the time in 'loading' (0 when the first state was known). */
  loadingMs: number | null;
  readyMs: number | null;
}

/** What harness.js puts on `window.harness`. */
export interface Harness {
  create(options: ManagerOptions): Promise<{ readyAt: number; state: StateSummary }>;
  created(): Promise<{ readyAt: number; state: StateSummary }>;
  views(): RenderedView[];
  timing(): ManagerTiming;
  login(username?: string): Promise<{ calledAt: number; accessToken: string; refreshTokenInBody: boolean }>;
  post(path: string): Promise<{ status: number; error: string | null }>;
  fetchMany(count: number, startAt?: number | null): Promise<FetchBurst>;
  logout(): Promise<{ calledAt: number; serverNotified: boolean }>;
  startRefresh(): number;
  refreshOutcome(): RefreshOutcome | null;
  waitForRefreshOutcome(timeoutMs?: number): Promise<RefreshOutcome & { settled: true }>;
  state(): StateSummary;
  waitForState(expected: Partial<StateSummary>, timeoutMs?: number): Promise<StateSummary>;
  records(): PageRecord[];
  clearRecords(): void;
  waitForRecords(type: PageRecord['type'], count: number, timeoutMs?: number): Promise<PageRecord[]>;
  stored(): string | null;
  storedKeys(): { local: string[]; session: string[]; cookies: string[] };
  /** The Web Locks of the origin; the locks by which managers tell that their tab is open are in `tabs` only. */
  locks(): Promise<{ held: string[]; pending: string[]; tabs: string[] }>;
  /** On `harness.html?probe` only (see `openProbe`): platform latencies at the start of that page load. */
  probe(): Promise<{ lockQueryMs: number; firstTaskMs: number }>;
  platform(): {
    webLocks: boolean;
    broadcastChannel: boolean;
    secureContext: boolean;
    visibilityState: string;
    origin: string;
  };
}

type HarnessMethod = keyof Harness;

/** One tab: a page with the harness loaded and, after `create`, a token manager. */
export class Tab {
  /** Uncaught exceptions and unhandled rejections in the page. */
  readonly pageErrors: string[] = [];

  constructor(
    readonly name: string,
    readonly page: Page,
  ) {
    page.on('pageerror', (error) => this.pageErrors.push(`${name}: ${error.message}`));
  }

  /** Calls `window.harness[method](...args)` in the page. */
  call<M extends HarnessMethod>(method: M, ...args: Parameters<Harness[M]>): Promise<Awaited<ReturnType<Harness[M]>>> {
    return this.page.evaluate(
      ([name, values]) => {
        const harness = (window as unknown as { harness: Record<string, (...a: unknown[]) => unknown> }).harness;
        return harness[name]!(...values);
      },
      [method, args] as [string, unknown[]],
    ) as Promise<Awaited<ReturnType<Harness[M]>>>;
  }

  records<T extends PageRecord['type']>(type: T): Promise<Extract<PageRecord, { type: T }>[]> {
    return this.call('records').then(
      (all) => all.filter((entry) => entry.type === type) as Extract<PageRecord, { type: T }>[],
    );
  }

  /**
   * Reloads the page (the harness and its manager start again; memory is wiped). A page opened with
   * `createOnLoad` creates its manager again as it loads; this then resolves after that manager's `ready`.
   */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.page.waitForFunction(() => 'harness' in window);
    if (new URL(this.page.url()).searchParams.has('manager')) await this.call('created');
  }
}

export interface OpenTabOptions {
  /**
   * Create the manager as the page's module runs (`harness.html?manager=…`), so that its first state and every
   * view the page renders are recorded, also after a reload; otherwise it is created by a later `create` call.
   */
  createOnLoad?: boolean;
}

/** Opens a tab on the harness page and, unless `manager` is `null`, creates its manager (after its `ready`). */
export async function openTab(
  context: BrowserContext,
  server: AuthServer,
  name: string,
  manager: ManagerOptions | null = {},
  { createOnLoad = false }: OpenTabOptions = {},
): Promise<Tab> {
  const tab = new Tab(name, await context.newPage());
  const query = manager && createOnLoad ? `?manager=${encodeURIComponent(JSON.stringify(manager))}` : '';
  await tab.page.goto(`${server.url}/harness.html${query}`);
  await tab.page.waitForFunction(() => 'harness' in window);
  if (manager) await (createOnLoad ? tab.call('created') : tab.call('create', manager));
  return tab;
}

/**
 * Opens a tab on `harness.html?probe` (no manager) and resolves with what the platform took as that page loaded:
 * a `navigator.locks.query()` and the first timer task, in ms from the harness module's evaluation. A floor to
 * compare a manager's time in 'loading' with.
 */
export async function openProbe(context: BrowserContext, server: AuthServer, name: string) {
  const tab = new Tab(name, await context.newPage());
  await tab.page.goto(`${server.url}/harness.html?probe`);
  await tab.page.waitForFunction(() => 'harness' in window);
  return { tab, probe: await tab.call('probe') };
}

/** Opens `count` tabs one after the other, named `tab 1`, `tab 2`, … */
export async function openTabs(
  context: BrowserContext,
  server: AuthServer,
  count: number,
  manager: ManagerOptions = {},
): Promise<Tab[]> {
  const tabs: Tab[] = [];
  for (let index = 1; index <= count; index += 1) tabs.push(await openTab(context, server, `tab ${index}`, manager));
  return tabs;
}

/** The value at `fraction` (0.5: the median) of `values`, nearest-rank. */
export function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1]!;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The lifecycle of a test file: one server and one browser for the file; for each test a fresh context
 * (its own localStorage, channel and locks) and fresh server counts. Pages whose scripts threw fail the test.
 */
export function setupBrowserSuite(accessTokenSeconds: number) {
  let server: AuthServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  const tabs: Tab[] = [];

  beforeAll(async () => {
    [server, browser] = await Promise.all([startServer(accessTokenSeconds), launchBrowser()]);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    server!.releaseRefreshes();
    server!.resetCounts();
    context = await browser!.newContext();
  });
  afterEach(async () => {
    server!.releaseRefreshes();
    const errors = tabs.splice(0).flatMap((tab) => tab.pageErrors);
    await context?.close();
    context = undefined;
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  });

  const track = (opened: Tab[]): Tab[] => {
    tabs.push(...opened);
    return opened;
  };
  return {
    get server(): AuthServer {
      return server!;
    },
    /** This test's context: one browser profile (its cookies, storage, channel and locks). */
    get context(): BrowserContext {
      return context!;
    },
    /** Opens `count` tabs in this test's context, each with a manager created with `manager`. */
    async openTabs(count: number, manager: ManagerOptions = {}): Promise<Tab[]> {
      return track(await openTabs(context!, server!, count, manager));
    },
    async openTab(name: string, manager: ManagerOptions | null = {}, options: OpenTabOptions = {}): Promise<Tab> {
      return track([await openTab(context!, server!, name, manager, options)])[0]!;
    },
  };
}
