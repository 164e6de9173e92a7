/**
 * Model-based test of tabs sharing one session (issue 7, scope item 4).
 *
 * N tabs (2–5) on one channel, with one shared storage (localStorage) or one storage each (sessionStorage,
 * maybe slow like AsyncStorage), one refresh lock they all share, and a server that rotates refresh tokens and
 * detects their reuse. fast-check generates a scenario and a list of steps (logins, the same login in several
 * tabs, getAccessToken, an auth.fetch answered 401, refresh, logout, time, channel deliveries in any order and
 * twice, server answers in any order, wall-clock jumps, storage that throws or hangs, reloads); the model runs
 * them against the public API and checks, after every step and after draining everything:
 *
 *  I1  after a logout() settles (and messages are drained): no tab is signed in to the session (token family)
 *      that logout ended, and no storage holds it (a manager created on that storage would not load it);
 *  I2  a rotated refresh token is never sent to the server again (the server counts reuse);
 *  I3  at most one refresh call per refresh token (per refresh cycle) that the server accepted;
 *  I4  after draining, all live tabs hold the same access token, or all are signed out;
 *  I5  after draining, every promise the API returned has settled (logout in bounded time, nothing stuck);
 *  I6  a 401 is retried at most once, and only with a newer token of the same login;
 *  I7  no token in any error message or console output; no unhandled rejection; no exception from a timer;
 *  I8  the last login wins: when the last setTokens() came after its tab had heard of every logout() call and
 *      every other login (a message arrives within MESSAGE_DEADLINE_MS), and the server did not revoke it,
 *      every tab holds that login after draining, whatever the wall clock did in between (API.md: a logout ends
 *      every session "unless that tab signed in anew after the logout", and ordering never depends on the
 *      device clock, so "after" is what a tab can know: what it has heard of; design 3: a clock set back must
 *      not make tabs ignore a later login).
 *
 * Runs: TOKENKEEPER_MODEL_RUNS (default 200). Replay a failure with TOKENKEEPER_MODEL_SEED and
 * TOKENKEEPER_MODEL_PATH (printed with the failure). TOKENKEEPER_MODEL_TRACE=1 prints the trace of the
 * counterexample in full.
 */
import fc from 'fast-check';
import { createTokenManager, type TokenManager, type TokenManagerOptions } from 'tokenkeeper';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createRandom,
  MESSAGE_DEADLINE_MS,
  type ModelStorage,
  type StorageFault,
  type StorageOperation,
  settle,
  tokenName,
  World,
} from './harness';

// ---------------------------------------------------------------------------------------------------------
// Scenario and steps

const USERS = ['alice', 'bob'] as const;
const STORAGE_KEY = 'tokenkeeper-model';
const CHANNEL = 'tokenkeeper-model';
const REFRESH_MARGIN_MS = 30_000;
const API_URL = 'https://api.test/data';

type Step =
  /** A new login (a new token family) for `user`, handed to `setTokens()` in each of `tabs`, back to back. */
  | { kind: 'login'; user: number; tabs: number[] }
  /** The first token set of an earlier login, handed to `setTokens()` in one more tab (while still unused). */
  | { kind: 'loginSame'; family: number; tab: number }
  | { kind: 'getAccessToken'; tab: number }
  /** `auth.fetch` whose first answer is a 401. */
  | { kind: 'fetch401'; tab: number }
  | { kind: 'refresh'; tab: number }
  | { kind: 'logout'; tab: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'deliver'; pair: number; duplicate: boolean }
  | { kind: 'answer'; which: number }
  | { kind: 'serverDown'; down: boolean }
  | { kind: 'wallJump'; ms: number }
  | { kind: 'storageFault'; tab: number; operation: StorageOperation; fault: StorageFault }
  | { kind: 'releaseHung'; tab: number; which: number }
  | { kind: 'reload'; tab: number }
  | { kind: 'drain' };

interface Scenario {
  tabs: number;
  storage: 'shared' | 'perTab';
  /** Per-tab storages whose calls complete asynchronously (AsyncStorage). */
  slowStorage: boolean;
  lifetimeS: number;
  seed: number;
  steps: Step[];
}

const tab = fc.nat(4);

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('login' as const),
      user: fc.nat(1),
      tabs: fc.uniqueArray(tab, { minLength: 1, maxLength: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('loginSame' as const), family: fc.nat(3), tab }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('getAccessToken' as const), tab }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fetch401' as const), tab }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refresh' as const), tab }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('logout' as const), tab }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(
        { weight: 4, arbitrary: fc.integer({ min: 0, max: 50 }) },
        { weight: 2, arbitrary: fc.integer({ min: 51, max: 3_000 }) },
        { weight: 2, arbitrary: fc.integer({ min: 3_001, max: 400_000 }) },
      ),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('deliver' as const),
      pair: fc.nat(20),
      duplicate: fc.constantFrom(false, false, false, true),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('answer' as const), which: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('serverDown' as const), down: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('wallJump' as const),
      ms: fc.constantFrom(-86_400_000, -3_600_000, -60_000, -1_000, 1_000, 60_000, 3_600_000, 86_400_000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('storageFault' as const),
      tab,
      operation: fc.constantFrom<StorageOperation>('setItem', 'removeItem', 'getItem'),
      fault: fc.constantFrom<StorageFault>('throw', 'hang'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('releaseHung' as const), tab, which: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reload' as const), tab }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drain' as const }) },
);

const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  // Most counterexamples need two or three tabs; more tabs make the interleavings sparser.
  tabs: fc.oneof(
    { weight: 3, arbitrary: fc.constant(2) },
    { weight: 2, arbitrary: fc.constant(3) },
    { weight: 1, arbitrary: fc.integer({ min: 4, max: 5 }) },
  ),
  storage: fc.constantFrom<Scenario['storage']>('shared', 'perTab'),
  slowStorage: fc.boolean(),
  lifetimeS: fc.constantFrom(120, 300),
  seed: fc.integer(),
  steps: fc.array(stepArbitrary, { minLength: 1, maxLength: 60 }),
});

// ---------------------------------------------------------------------------------------------------------
// The model

class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

interface Instance {
  label: string;
  manager: TokenManager;
  destroyed: boolean;
  ready: boolean;
  /** When the tab opened (monotonic ms). */
  openedAt: number;
}

interface Slot {
  index: number;
  storage: ModelStorage;
  instance: Instance;
  reloads: number;
}

interface Operation {
  label: string;
  instance: Instance;
  state: 'pending' | 'fulfilled' | 'rejected';
  value?: unknown;
  error?: unknown;
}

interface LogoutRecord {
  instance: Instance;
  /** The token family the tab held when logout() was called: the session it ends. */
  family: number | null;
  operation: Operation;
  /** When logout() was called (monotonic). */
  at: number;
}

type Environment = NonNullable<TokenManagerOptions['environment']>;

class Model {
  readonly world: World;
  readonly random: () => number;
  readonly slots: Slot[] = [];
  readonly operations: Operation[] = [];
  readonly logouts: LogoutRecord[] = [];
  /** Bearer token of each attempt of each auth.fetch call, by call id. */
  readonly fetchAttempts = new Map<string, (string | null)[]>();
  /** Families handed to a logout() (so the model no longer hands their tokens to setTokens()). */
  readonly loggedOutFamilies = new Set<number>();
  readonly unhandled: unknown[] = [];
  readonly consoleOutput: string[] = [];
  private fetchCalls = 0;

  constructor(readonly scenario: Scenario) {
    this.world = new World(scenario.lifetimeS);
    this.random = createRandom(scenario.seed);
    const shared = scenario.storage === 'shared' ? this.world.addStorage('localStorage', false) : null;
    for (let index = 0; index < scenario.tabs; index += 1) {
      const storage = shared ?? this.world.addStorage(`storage${index + 1}`, scenario.slowStorage);
      const slot = { index, storage, reloads: 0 } as Slot;
      slot.instance = this.open(slot);
      this.slots.push(slot);
    }
  }

  private get server() {
    return this.world.server;
  }

  private open(slot: Slot): Instance {
    const label = `T${slot.index + 1}${"'".repeat(slot.reloads)}`;
    const world = this.world;
    const environment = {
      now: world.clock.now,
      monotonicNow: world.clock.monotonicNow,
      ...world.timers.forOwner(label),
      random: this.random,
      lock: world.lock,
      createChannel: (name: string) => world.bus.createChannel(name, label),
    } satisfies Environment & { monotonicNow: () => number };
    const manager = createTokenManager({
      refresh: this.server.refreshFor(() => label),
      logout: this.server.logoutFor(() => label),
      storage: slot.storage,
      storageKey: STORAGE_KEY,
      refreshMargin: REFRESH_MARGIN_MS,
      channel: CHANNEL,
      allowedOrigins: ['https://api.test'],
      fetch: this.server.resourceFetchFor(() => label, this.fetchAttempts),
      onResume: () => () => {},
      environment,
    });
    const instance: Instance = { label, manager, destroyed: false, ready: false, openedAt: world.clock.mono };
    void manager.ready.then(() => {
      instance.ready = true;
    });
    manager.on('login', ({ source }) => world.log(`  ${label}: login (${source}) → ${this.describeState(instance)}`));
    manager.on('refresh', ({ source }) =>
      world.log(`  ${label}: refresh (${source}) → ${this.describeState(instance)}`),
    );
    manager.on('logout', ({ reason }) => world.log(`  ${label}: logout (${reason})`));
    manager.on('error', ({ error }) => {
      world.log(`  ${label}: error ${error.name}: ${error.message}`);
      this.checkNoToken(`the 'error' event of ${label}`, error);
    });
    world.log(`  ${label} opens on ${slot.storage.label}`);
    return instance;
  }

  private track(label: string, instance: Instance, promise: Promise<unknown>): Operation {
    const operation: Operation = { label, instance, state: 'pending' };
    this.operations.push(operation);
    promise.then(
      (value) => {
        operation.state = 'fulfilled';
        operation.value = value;
        this.world.log(`  ${label} → ${describeValue(value)}`);
      },
      (error: unknown) => {
        operation.state = 'rejected';
        operation.error = error;
        this.world.log(`  ${label} rejects: ${(error as Error)?.name}: ${(error as Error)?.message}`);
        this.checkNoToken(`the rejection of ${label}`, error);
      },
    );
    return operation;
  }

  slotOf(tabIndex: number): Slot {
    return this.slots[tabIndex % this.slots.length]!;
  }

  familyOf(instance: Instance): number | null {
    if (instance.destroyed) return null;
    return this.server.info(instance.manager.getState().accessToken)?.family ?? null;
  }

  describeState(instance: Instance): string {
    const { accessToken } = instance.manager.getState();
    return accessToken ? tokenName(accessToken) : '-';
  }

  describeTabs(): string {
    return this.slots.map((slot) => `${slot.instance.label}=${this.describeState(slot.instance)}`).join(' ');
  }

  // -------------------------------------------------------------------------------------------------------
  // Steps

  async run(): Promise<void> {
    this.world.log(
      `scenario: ${this.scenario.tabs} tabs, ${this.scenario.storage} storage${this.scenario.slowStorage && this.scenario.storage === 'perTab' ? ' (slow)' : ''}, tokens live ${this.scenario.lifetimeS} s`,
    );
    await settle();
    this.checkAlways();
    for (const [index, step] of this.scenario.steps.entries()) {
      this.world.log(`step ${index + 1}: ${JSON.stringify(step)}`);
      await this.apply(step);
      await settle();
      this.world.log(`  tabs: ${this.describeTabs()}`);
      this.checkAlways();
    }
    this.world.log('final drain');
    await this.drain();
    this.world.log(`  tabs: ${this.describeTabs()}`);
    this.checkAlways();
    this.checkDrained();
  }

  private async apply(step: Step): Promise<void> {
    const { world } = this;
    switch (step.kind) {
      case 'login': {
        const family = this.server.login(USERS[step.user]!);
        world.log(`  server: ${family.user} logs in → F${family.id}.0`);
        for (const tabIndex of new Set(step.tabs.map((t) => t % this.slots.length))) {
          this.setTokens(this.slotOf(tabIndex).instance, family.initial);
        }
        return;
      }
      case 'loginSame': {
        const fresh = this.server.families.filter(
          (family) => !family.refreshedOnce && !family.revoked && !this.loggedOutFamilies.has(family.id),
        );
        const family = fresh[step.family % Math.max(1, fresh.length)];
        const instance = this.slotOf(step.tab).instance;
        // Only an unused login is handed out again: an app that passes spent tokens to setTokens() causes reuse
        // itself. And only to a tab that has read its storage, so the call takes effect now, not later.
        if (!family || !instance.ready) {
          world.log('  (skipped: no unused login, or the tab is not ready)');
          return;
        }
        this.setTokens(instance, family.initial);
        return;
      }
      case 'getAccessToken': {
        const { instance } = this.slotOf(step.tab);
        this.track(`${instance.label}.getAccessToken()`, instance, instance.manager.getAccessToken());
        return;
      }
      case 'fetch401': {
        const { instance } = this.slotOf(step.tab);
        this.fetchCalls += 1;
        const callId = `call${this.fetchCalls}`;
        const promise = instance.manager
          .fetch(API_URL, { headers: { 'X-Call': callId } })
          .then((response) => response.status);
        this.track(`${instance.label}.fetch(${callId})`, instance, promise);
        return;
      }
      case 'refresh': {
        const { instance } = this.slotOf(step.tab);
        this.track(`${instance.label}.refresh()`, instance, instance.manager.refresh());
        return;
      }
      case 'logout': {
        const { instance } = this.slotOf(step.tab);
        const family = this.familyOf(instance);
        if (family !== null) this.loggedOutFamilies.add(family);
        const operation = this.track(
          `${instance.label}.logout() of ${family === null ? 'nothing' : `F${family}`}`,
          instance,
          instance.manager.logout(),
        );
        this.logouts.push({ instance, family, operation, at: this.world.clock.mono });
        this.lastLogin = null;
        return;
      }
      case 'advance':
        await world.advance(step.ms);
        return;
      case 'deliver': {
        const pairs = world.bus.pendingPairs();
        if (pairs.length > 0) world.bus.deliver(pairs[step.pair % pairs.length]!, step.duplicate);
        return;
      }
      case 'answer':
        world.server.answer(step.which);
        return;
      case 'serverDown':
        world.server.unavailable = step.down;
        return;
      case 'wallJump':
        world.clock.jumpWall(step.ms);
        return;
      case 'storageFault':
        this.slotOf(step.tab).storage.arm(step.operation, step.fault);
        return;
      case 'releaseHung':
        this.slotOf(step.tab).storage.releaseHung(step.which);
        return;
      case 'reload':
        await this.reload(this.slotOf(step.tab));
        return;
      case 'drain':
        await this.drain();
        this.world.log(`  tabs: ${this.describeTabs()}`);
        this.checkDrained();
        return;
    }
  }

  private setTokens(instance: Instance, tokens: { accessToken: string; refreshToken: string }): void {
    const family = this.server.info(tokens.accessToken)!.family;
    const at = this.world.clock.mono;
    // Tabs order what they do only by what they have heard of each other (API.md: never by the device clock).
    // A login made before its tab could have heard of another login or a logout (a message takes up to
    // MESSAGE_DEADLINE_MS; a tab that just opened hears of the others within that time) is concurrent with
    // it, and either may win; the tabs must still agree (I4) and a logout still ends what it ended (I1).
    const heardBy = at - MESSAGE_DEADLINE_MS;
    const concurrent =
      instance.openedAt > heardBy ||
      this.logouts.some((logout) => logout.at > heardBy) ||
      this.logins.some((login) => login.family !== family && login.at > heardBy);
    this.logins.push({ family, at });
    this.lastLogin = concurrent
      ? null
      : { family, at, operation: null as unknown as Operation, faultsBefore: this.faultsFired() };
    const operation = this.track(
      `${instance.label}.setTokens(${tokenName(tokens.accessToken)})`,
      instance,
      instance.manager.setTokens({ ...tokens }),
    );
    if (this.lastLogin) this.lastLogin.operation = operation;
  }

  readonly logins: { family: number; at: number }[] = [];
  /** The last login, when its tab had heard of every logout() call and every login of another family. */
  lastLogin: { family: number; at: number; operation: Operation; faultsBefore: number } | null = null;

  private faultsFired(): number {
    return this.slots.reduce((sum, slot) => sum + slot.storage.faultsFired, 0);
  }

  /**
   * A reload: the tab's manager is destroyed and a new one opens on the same storage. The tab's requests are
   * answered first (a page unloaded in the middle of a refresh loses the rotated token: no client can help
   * that), and not while a storage call hangs (the new page would read what the hung write did not write).
   */
  private async reload(slot: Slot): Promise<void> {
    const old = slot.instance;
    // A login whose storage may have failed to keep it (a fault fired since) lives only in the tabs' memory: a
    // reload can lose it, and no client can help that, so I8 no longer speaks of it.
    if (this.lastLogin && this.faultsFired() > this.lastLogin.faultsBefore) {
      this.world.log('  (I8 void from here: a storage fault since the last login, then a reload)');
      this.lastLogin = null;
    }
    for (let round = 0; round < 10 && this.server.pending.some((answer) => answer.from === old.label); round += 1) {
      this.server.answerAllFrom(old.label);
      await settle();
    }
    while (slot.storage.completeSlow()) await settle();
    if (slot.storage.hungCount > 0 || this.server.pending.some((answer) => answer.from === old.label)) {
      this.world.log('  (skipped: a storage call hangs, or the tab is still waiting for the server)');
      return;
    }
    old.manager.destroy();
    old.destroyed = true;
    slot.reloads += 1;
    slot.instance = this.open(slot);
  }

  /**
   * Delivers every message, answers every request, completes every storage call (hung ones too, late), runs
   * the timers due, and lets a few seconds pass (storage calls given up after 2 s, query timeouts, retries).
   */
  async drain(): Promise<void> {
    const { world } = this;
    let quiet = await world.quiesce(this.random);
    await world.advance(2_500);
    quiet = (await world.quiesce(this.random)) && quiet;
    for (const storage of world.storages) while (storage.releaseHung(0)) await settle();
    quiet = (await world.quiesce(this.random)) && quiet;
    await world.advance(2_500);
    quiet = (await world.quiesce(this.random)) && quiet;
    if (!quiet) this.fail('I5', 'messages, requests or timers never came to rest (a message storm or a loop)');
    await this.probeStorages();
  }

  // -------------------------------------------------------------------------------------------------------
  // Invariants

  /** Fails the run, unless TOKENKEEPER_MODEL_INVARIANTS leaves `invariant` out (to look for other failures). */
  fail(invariant: string, message: string): void {
    if (checkedInvariants.has(invariant)) throw new InvariantViolation(`${invariant}: ${message}`);
  }

  private checkNoToken(where: string, value: unknown): void {
    const texts: string[] = [];
    let current: unknown = value;
    for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth += 1) {
      if (current instanceof Error) {
        texts.push(current.message, String(current.stack ?? ''));
        current = (current as { cause?: unknown }).cause;
      } else {
        texts.push(typeof current === 'string' ? current : safeString(current));
        break;
      }
    }
    for (const token of this.server.allTokens()) {
      if (texts.some((text) => text.includes(token))) {
        this.noTokenViolations.push(`${where} contains the token ${tokenName(token)}`);
      }
    }
  }

  readonly noTokenViolations: string[] = [];

  checkAlways(): void {
    const { server, timers } = this.world;
    if (server.reuseCount > 0) {
      this.fail('I2', `a rotated refresh token was sent again (${server.reuseCount} reuse(s))`);
    }
    if (server.repeatedRefreshTokens.length > 0) {
      this.fail('I3', `a refresh token was accepted twice: ${server.repeatedRefreshTokens.join(', ')}`);
    }
    for (const [callId, attempts] of this.fetchAttempts) {
      if (attempts.length > 2) this.fail('I6', `${callId} was sent ${attempts.length} times`);
      if (attempts.length === 2) {
        const first = server.info(attempts[0]);
        const second = server.info(attempts[1]);
        if (!first) this.fail('I6', `${callId} was retried after a 401 to a request without a token`);
        else if (!second || second.family !== first.family || second.generation <= first.generation) {
          this.fail(
            'I6',
            `${callId} was retried with ${attempts[1] ? tokenName(attempts[1]) : 'no token'} after ${tokenName(attempts[0]!)} was answered 401`,
          );
        }
      }
    }
    for (const line of this.consoleOutput) this.checkNoToken('console output', line);
    if (this.noTokenViolations.length > 0) this.fail('I7', this.noTokenViolations.join('; '));
    if (this.unhandled.length > 0) {
      this.fail('I7', `unhandled rejection: ${safeString(this.unhandled[0])}`);
    }
    if (timers.thrown.length > 0) this.fail('I7', `a timer callback threw: ${safeString(timers.thrown[0])}`);
    for (const logout of this.logouts) {
      if (logout.operation.state === 'pending' || logout.family === null || logout.instance.destroyed) continue;
      if (this.familyOf(logout.instance) === logout.family) {
        this.fail(
          'I1',
          `${logout.operation.label} settled, yet ${logout.instance.label} is signed in to F${logout.family} again`,
        );
      }
    }
  }

  checkDrained(): void {
    const live = this.slots.map((slot) => slot.instance);
    const pending = this.operations.filter((operation) => operation.state === 'pending');
    if (pending.length > 0) {
      this.fail('I5', `still pending after draining: ${pending.map((operation) => operation.label).join(', ')}`);
    }
    for (const logout of this.logouts) {
      if (logout.family === null) continue;
      for (const instance of live) {
        if (this.familyOf(instance) === logout.family) {
          this.fail(
            'I1',
            `after ${logout.operation.label} settled and all was delivered, ${instance.label} holds F${logout.family}`,
          );
        }
      }
      for (const storage of this.world.storages) {
        const loaded = this.probe(storage);
        if (loaded !== null && this.server.info(loaded)?.family === logout.family) {
          this.fail(
            'I1',
            `after ${logout.operation.label} settled, ${storage.label} still holds ${tokenName(loaded)}: a reload would load it`,
          );
        }
      }
    }
    const tokens = new Set(live.map((instance) => instance.manager.getState().accessToken ?? null));
    if (tokens.size > 1) this.fail('I4', `after draining the tabs disagree: ${this.describeTabs()}`);
    const last = this.lastLogin;
    if (last && last.operation.state === 'fulfilled' && !this.server.families[last.family - 1]!.revoked) {
      const elsewhere = live.filter((instance) => this.familyOf(instance) !== last.family);
      if (elsewhere.length > 0) {
        this.fail(
          'I8',
          `the last login (F${last.family}, after every logout) was not kept: ${elsewhere.map((instance) => `${instance.label}=${this.describeState(instance)}`).join(' ')}`,
        );
      }
    }
  }

  /** The access token a manager created on (a copy of) `storage` would load. */
  private probe(storage: ModelStorage): string | null {
    const loaded = this.probes.get(storage);
    return loaded === undefined ? null : loaded;
  }

  readonly probes = new Map<ModelStorage, string | null>();

  /** Loads every storage in a probe manager (its own copy, no channel, timers that never fire). */
  async probeStorages(): Promise<void> {
    this.probes.clear();
    for (const storage of this.world.storages) {
      let handle = 0;
      const probe = createTokenManager({
        refresh: () => Promise.reject(new Error('the probe never refreshes')),
        storage: storage.snapshot(),
        storageKey: STORAGE_KEY,
        channel: false,
        allowedOrigins: ['https://api.test'],
        onResume: () => () => {},
        environment: {
          now: this.world.clock.now,
          monotonicNow: this.world.clock.monotonicNow,
          setTimeout: () => {
            handle += 1;
            return handle;
          },
          clearTimeout: () => {},
          random: () => 0.5,
          lock: (_name, fn) => fn(),
          createChannel: () => null,
        } as Environment,
      });
      let ready = false;
      void probe.ready.then(() => {
        ready = true;
      });
      await settle();
      const accessToken = ready ? probe.getState().accessToken : null;
      probe.destroy();
      this.probes.set(storage, accessToken);
    }
  }
}

function safeString(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    return String(value);
  }
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return tokenName(value);
  return safeString(value);
}

// ---------------------------------------------------------------------------------------------------------
// The property

function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : safeString(error);
}

const numRuns = Number(process.env.TOKENKEEPER_MODEL_RUNS ?? 200);
const replaySeed = process.env.TOKENKEEPER_MODEL_SEED;
const replayPath = process.env.TOKENKEEPER_MODEL_PATH;
const fullTrace = process.env.TOKENKEEPER_MODEL_TRACE === '1';
const survey = Number(process.env.TOKENKEEPER_MODEL_SURVEY ?? 0);
const givenScenario = process.env.TOKENKEEPER_MODEL_SCENARIO;
/** Which invariants fail a run (all by default); e.g. `I2,I3` to look for refresh-token reuse past other failures. */
const checkedInvariants = new Set(
  (process.env.TOKENKEEPER_MODEL_INVARIANTS ?? 'I1,I2,I3,I4,I5,I6,I7,I8').split(',').map((name) => name.trim()),
);

/** Runs one scenario; throws with the invariant and the trace when one does not hold. */
async function runScenario(scenario: Scenario): Promise<Model> {
  const idSource = createRandom(scenario.seed ^ 0x5eed);
  // Ids the manager draws (tab ids, session ids) come from the scenario's seed, so a failure replays.
  vi.spyOn(globalThis.crypto, 'randomUUID').mockImplementation(() => {
    const hex = Array.from({ length: 32 }, () => Math.floor(idSource() * 16).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}` as `${string}-${string}-${string}-${string}-${string}`;
  });
  const model = new Model(scenario);
  const onUnhandled = (reason: unknown): void => {
    model.unhandled.push(reason);
  };
  const saved = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  process.on('unhandledRejection', onUnhandled);
  const record =
    (name: string) =>
    (...args: unknown[]): void => {
      model.consoleOutput.push(`${name}: ${args.map(safeString).join(' ')}`);
    };
  for (const name of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, name).mockImplementation(record(name));
  }
  try {
    await model.run();
    return model;
  } catch (error) {
    const trace = fullTrace ? model.world.trace : model.world.trace.slice(-150);
    const omitted = model.world.trace.length - trace.length;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `${message}\n--- trace${omitted > 0 ? ` (last ${trace.length} lines; TOKENKEEPER_MODEL_TRACE=1 for all)` : ''} ---\n${trace.join('\n')}`,
      { cause: error },
    );
  } finally {
    for (const slot of model.slots) slot.instance.manager.destroy();
    await settle();
    process.removeListener('unhandledRejection', onUnhandled);
    for (const listener of saved) process.on('unhandledRejection', listener);
    vi.restoreAllMocks();
  }
}

describe('tabs on one channel, model-based', () => {
  beforeEach(() => {
    vi.useRealTimers();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Runs one scenario given as JSON (a counterexample, edited by hand): TOKENKEEPER_MODEL_SCENARIO='{...}'. */
  // The replay and survey modes are registered only when asked for, so an ordinary run has no skipped test.
  const itWhen = (condition: boolean) => (condition ? it : () => {});

  itWhen(!!givenScenario)('runs the scenario in TOKENKEEPER_MODEL_SCENARIO', async () => {
    const scenario = JSON.parse(givenScenario!) as Scenario | [Scenario];
    const model = await runScenario(Array.isArray(scenario) ? scenario[0] : scenario);
    if (fullTrace) console.info(model.world.trace.join('\n'));
  });

  itWhen(survey === 0 && !givenScenario)(
    'keeps I1–I8 under random interleavings of logins, refreshes, logouts, messages, clocks, storage faults and reloads',
    async () => {
      const details = await fc.check(
        fc.asyncProperty(scenarioArbitrary, async (scenario) => void (await runScenario(scenario))),
        {
          numRuns,
          ...(replaySeed !== undefined ? { seed: Number(replaySeed) } : {}),
          ...(replayPath !== undefined ? { path: replayPath } : {}),
        },
      );
      if (details.failed) {
        const replay = `TOKENKEEPER_MODEL_SEED=${details.seed} TOKENKEEPER_MODEL_PATH=${details.counterexamplePath ?? ''}`;
        throw new Error(
          `model failed (seed: ${details.seed}, path: ${details.counterexamplePath}); replay with ${replay} npx vitest run test/model\n${fc.defaultReportMessage(details)}\n\n${failureMessage(details.errorInstance)}`,
        );
      }
      expect(details.numRuns).toBe(replayPath !== undefined ? details.numRuns : numRuns);
      // The seed is printed on success too, so that any CI run can be replayed.
      console.info(`model: ${details.numRuns} runs passed from seed ${details.seed} (TOKENKEEPER_MODEL_SEED)`);
    },
    10 * 60_000,
  );

  /**
   * A survey, for finding several distinct failures at once (TOKENKEEPER_MODEL_SURVEY=<number of seeds>):
   * one shrunk counterexample per kind of failure, printed, never failing the run.
   */
  itWhen(survey > 0)(
    'survey: distinct failures over many seeds',
    async () => {
      const found = new Map<string, { seed: number; path: string; example: string; size: number; count: number }>();
      const firstFailures: number[] = [];
      for (let index = 0; index < survey; index += 1) {
        const seed = 1_000 + index;
        const details = await fc.check(
          fc.asyncProperty(scenarioArbitrary, async (scenario) => void (await runScenario(scenario))),
          { numRuns, seed },
        );
        if (!details.failed) continue;
        firstFailures.push(details.numRuns);
        const headline = failureMessage(details.errorInstance).split('\n')[0]!;
        const key = headline
          .replace(/T\d'*/g, 'T')
          .replace(/F\d+(\.\d+)?/g, 'F')
          .replace(/call\d+/g, 'call')
          .replace(/\d+/g, 'n');
        const example = JSON.stringify(details.counterexample?.[0]);
        const previous = found.get(key);
        if (!previous || example.length < previous.size) {
          found.set(key, {
            seed,
            path: details.counterexamplePath ?? '',
            example: `${headline}\n${example}`,
            size: example.length,
            count: (previous?.count ?? 0) + 1,
          });
        } else previous.count += 1;
      }
      console.info(
        `\n${firstFailures.length} of ${survey} seeds failed within ${numRuns} runs; the failing run, by seed: ${firstFailures.join(', ')}`,
      );
      for (const [key, entry] of found) {
        console.info(
          `\n=== ${key} (${entry.count} seed(s)); replay: TOKENKEEPER_MODEL_SEED=${entry.seed} TOKENKEEPER_MODEL_PATH=${entry.path}\n${entry.example}`,
        );
      }
    },
    60 * 60_000,
  );
});
