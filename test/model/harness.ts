/**
 * The virtual world of the model-based tab tests: one clock (a wall clock the model can jump either way and a
 * monotonic one that only moves forward), a timer queue, a channel bus whose deliveries the model schedules,
 * storages that can throw or hang, an in-memory lock the tabs share, and a server that rotates refresh tokens
 * and detects their reuse. Nothing here runs on its own: every message, server answer, slow storage call and
 * timer waits until the model lets it happen, or until time moves past its deadline (a BroadcastChannel
 * message arrives within 50 ms, a server answer within 1 s, a slow storage call within 20 ms).
 */
import {
  RefreshRejectedError,
  type LogoutFn,
  type RefreshFn,
  type TokenResponse,
  type TokenStorage,
} from 'tokenkeeper';
import { makeJwt } from '../support/jwt';

/** Where the wall clock starts (and the server's clock, which never jumps). */
export const WORLD_START_MS = Date.UTC(2030, 0, 1, 9, 0, 0);
/** A channel message is delivered at the latest this long after it was posted. */
export const MESSAGE_DEADLINE_MS = 50;
/** A server answer arrives at the latest this long after the request (well within the 10 s refresh timeout). */
export const ANSWER_DEADLINE_MS = 1_000;
/** A slow (asynchronous) storage call completes at the latest this long after it started. */
export const SLOW_STORAGE_DEADLINE_MS = 20;

type Lock = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

interface ChannelEnd {
  postMessage(message: unknown): void;
  close(): void;
  onmessage: ((event: MessageEvent) => void) | null;
}

/** Lets every promise chain that can move without the world run: microtasks, and a macrotask hop or two. */
export async function settle(): Promise<void> {
  for (let hop = 0; hop < 3; hop += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A small seeded PRNG (mulberry32), so that every choice of a run replays from its seed. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Clock and timers

export class VirtualClock {
  /** Milliseconds since the world started; only moves forward. */
  mono = 0;
  /** What `Date.now()` would say on the device: moves with `mono`, and jumps when the model says so. */
  wall = WORLD_START_MS;

  readonly now = (): number => this.wall;
  readonly monotonicNow = (): number => this.mono;
  /** The server's clock: true time, never jumps. */
  serverNow = (): number => WORLD_START_MS + this.mono;

  moveTo(mono: number): void {
    if (mono <= this.mono) return;
    this.wall += mono - this.mono;
    this.mono = mono;
  }

  jumpWall(byMs: number): void {
    this.wall += byMs;
  }
}

interface Timer {
  id: number;
  dueAt: number;
  callback: () => void;
  owner: string;
}

/** `setTimeout`/`clearTimeout` on the monotonic clock: timers measure elapsed time, as real ones do. */
export class VirtualTimers {
  private readonly timers = new Map<number, Timer>();
  private nextId = 1;
  /** Exceptions thrown by timer callbacks (an uncaught exception in a real page). */
  readonly thrown: unknown[] = [];

  constructor(private readonly clock: VirtualClock) {}

  forOwner(owner: string): {
    setTimeout: (callback: () => void, delayMs: number) => unknown;
    clearTimeout: (handle: unknown) => void;
  } {
    return {
      setTimeout: (callback, delayMs) => {
        const id = this.nextId;
        this.nextId += 1;
        const delay = Number.isFinite(delayMs) ? Math.max(0, delayMs) : 0;
        this.timers.set(id, { id, dueAt: this.clock.mono + delay, callback, owner });
        return id;
      },
      clearTimeout: (handle) => {
        if (typeof handle === 'number') this.timers.delete(handle);
      },
    };
  }

  nextDueAt(): number | null {
    let next: number | null = null;
    for (const timer of this.timers.values()) if (next === null || timer.dueAt < next) next = timer.dueAt;
    return next;
  }

  /** Runs the earliest timer that is due, if any. */
  runOneDue(): Timer | null {
    let earliest: Timer | null = null;
    for (const timer of this.timers.values()) {
      if (timer.dueAt <= this.clock.mono && (earliest === null || timer.dueAt < earliest.dueAt)) earliest = timer;
    }
    if (!earliest) return null;
    this.timers.delete(earliest.id);
    try {
      earliest.callback();
    } catch (error) {
      this.thrown.push(error);
    }
    return earliest;
  }

  get size(): number {
    return this.timers.size;
  }

  countOwnedBy(owner: string): number {
    let count = 0;
    for (const timer of this.timers.values()) if (timer.owner === owner) count += 1;
    return count;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Lock

/** An exclusive FIFO lock per name, shared by every tab given it (what Web Locks are across tabs). */
export function createSharedLock(): Lock & { held: Set<string> } {
  const tails = new Map<string, Promise<void>>();
  const held = new Set<string>();
  const lock = (async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const previous = tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => current);
    tails.set(name, tail);
    await previous;
    held.add(name);
    try {
      return await fn();
    } finally {
      held.delete(name);
      release();
      if (tails.get(name) === tail) tails.delete(name);
    }
  }) as Lock & { held: Set<string> };
  lock.held = held;
  return lock;
}

// ---------------------------------------------------------------------------------------------------------
// Channel bus

interface QueuedMessage {
  seq: number;
  sentAt: number;
  data: unknown;
}

interface BusEnd {
  id: number;
  name: string;
  owner: string;
  closed: boolean;
  channel: ChannelEnd;
}

/**
 * BroadcastChannel semantics in memory: a message goes to every other open end of the same name, cloned when
 * posted, in order per sender→receiver pair. The model decides when the head of each pair's queue arrives,
 * and may deliver it twice.
 */
export class ChannelBus {
  private readonly ends: BusEnd[] = [];
  /** Per `from->to` pair, the messages not yet delivered, oldest first. */
  private readonly queues = new Map<string, { from: BusEnd; to: BusEnd; messages: QueuedMessage[] }>();
  private seq = 0;
  posted = 0;
  delivered = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly log: (line: string) => void,
  ) {}

  createChannel(name: string, owner: string): ChannelEnd {
    const bus = this;
    const end: BusEnd = {
      id: this.ends.length + 1,
      name,
      owner,
      closed: false,
      channel: {
        onmessage: null,
        postMessage(message: unknown) {
          if (end.closed) throw new DOMException('the channel is closed', 'InvalidStateError');
          bus.post(end, structuredClone(message));
        },
        close() {
          end.closed = true;
        },
      },
    };
    this.ends.push(end);
    return end.channel;
  }

  private post(from: BusEnd, data: unknown): void {
    this.posted += 1;
    this.log(`  ${from.owner} posts ${describeMessage(data)}`);
    for (const to of this.ends) {
      if (to === from || to.closed || to.name !== from.name) continue;
      const key = `${from.id}->${to.id}`;
      let queue = this.queues.get(key);
      if (!queue) {
        queue = { from, to, messages: [] };
        this.queues.set(key, queue);
      }
      this.seq += 1;
      queue.messages.push({ seq: this.seq, sentAt: this.clock.mono, data });
    }
  }

  /** The pairs with messages waiting, in a stable order. */
  pendingPairs(): string[] {
    const keys: string[] = [];
    for (const [key, queue] of this.queues) {
      if (queue.to.closed) queue.messages.length = 0;
      if (queue.messages.length > 0) keys.push(key);
    }
    return keys;
  }

  get pendingCount(): number {
    let count = 0;
    for (const key of this.pendingPairs()) count += this.queues.get(key)!.messages.length;
    return count;
  }

  /** Delivers the oldest message of a pair; `duplicate` delivers it and leaves a copy to arrive again. */
  deliver(key: string, duplicate = false): void {
    const queue = this.queues.get(key);
    const message = queue?.messages[0];
    if (!queue || !message) return;
    if (!duplicate) queue.messages.shift();
    if (queue.to.closed) return;
    this.delivered += 1;
    this.log(
      `  ${queue.to.owner} receives ${describeMessage(message.data)} from ${queue.from.owner}${duplicate ? ' (duplicated)' : ''}`,
    );
    // A handler that throws is an uncaught exception in that tab; the bus goes on, as a browser's does.
    queue.to.channel.onmessage?.({ data: structuredClone(message.data) } as MessageEvent);
  }

  /** When the oldest waiting message must have arrived. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const key of this.pendingPairs()) {
      const head = this.queues.get(key)!.messages[0]!;
      const due = head.sentAt + MESSAGE_DEADLINE_MS;
      if (next === null || due < next) next = due;
    }
    return next;
  }

  /** Delivers every message whose deadline has passed, oldest first (so per-pair order is kept). */
  deliverOverdue(): boolean {
    let any = false;
    for (;;) {
      let best: { key: string; seq: number } | null = null;
      for (const key of this.pendingPairs()) {
        const head = this.queues.get(key)!.messages[0]!;
        if (head.sentAt + MESSAGE_DEADLINE_MS <= this.clock.mono && (best === null || head.seq < best.seq)) {
          best = { key, seq: head.seq };
        }
      }
      if (!best) return any;
      this.deliver(best.key);
      any = true;
    }
  }
}

function describeMessage(data: unknown): string {
  if (typeof data !== 'object' || data === null) return JSON.stringify(data);
  const { type, version } = data as { type?: unknown; version?: unknown };
  const extra: string[] = [];
  for (const field of ['stamp', 'id', 'sessionId', 'queryId', 'from'] as const) {
    const value = (data as Record<string, unknown>)[field];
    if (value !== undefined) extra.push(`${field}=${field === 'stamp' ? String(value) : String(value).slice(0, 8)}`);
  }
  const session = (data as { session?: { accessToken?: unknown; stamp?: unknown; seq?: unknown } | null }).session;
  if (session && typeof session.accessToken === 'string') {
    extra.push(`token=${tokenName(session.accessToken)}`);
    if (session.stamp !== undefined) {
      const { id } = session as { id?: unknown };
      extra.push(`login=${String(session.stamp)}:${String(id).slice(0, 8)} seq=${String(session.seq)}`);
    }
  } else if (session === null) extra.push('session=null');
  return `v${String(version)} ${String(type)}${extra.length ? ` (${extra.join(' ')})` : ''}`;
}

/** A short readable name of a token the model server issued (`F2.1` = family 2, generation 1). */
export function tokenName(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3) return token.slice(0, 12);
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString()) as { fam?: number; gen?: number };
    return `F${payload.fam}.${payload.gen}`;
  } catch {
    return '?';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Storage

export type StorageOperation = 'getItem' | 'setItem' | 'removeItem';
export type StorageFault = 'throw' | 'hang';

interface PendingStorageCall {
  id: number;
  operation: StorageOperation;
  hung: boolean;
  startedAt: number;
  complete(): void;
}

/**
 * A `{ getItem, setItem, removeItem }` in memory, synchronous (localStorage) or slow (each call completes when
 * the model says, within 20 ms, in the order made). A fault armed for an operation hits its next call: `throw`
 * (quota, SecurityError) or `hang` (the call completes only when the model releases it, or never).
 */
export class ModelStorage implements TokenStorage {
  readonly values = new Map<string, string>();
  private faults: { operation: StorageOperation; fault: StorageFault }[] = [];
  private readonly pending: PendingStorageCall[] = [];
  private nextId = 1;
  calls = 0;

  constructor(
    readonly label: string,
    private readonly clock: VirtualClock,
    readonly slow: boolean,
    private readonly log: (line: string) => void,
  ) {}

  /** How many armed faults have fired (a call that threw or hung). */
  faultsFired = 0;

  arm(operation: StorageOperation, fault: StorageFault): void {
    this.faults.push({ operation, fault });
  }

  disarm(): void {
    this.faults = [];
  }

  getItem(key: string): string | null | Promise<string | null> {
    return this.call('getItem', () => this.values.get(key) ?? null);
  }

  setItem(key: string, value: string): void | Promise<void> {
    return this.call('setItem', () => {
      this.values.set(key, value);
    });
  }

  removeItem(key: string): void | Promise<void> {
    return this.call('removeItem', () => {
      this.values.delete(key);
    });
  }

  private call<T>(operation: StorageOperation, apply: () => T): T | Promise<T> {
    this.calls += 1;
    const index = this.faults.findIndex((armed) => armed.operation === operation);
    const fault = index >= 0 ? this.faults.splice(index, 1)[0]!.fault : null;
    if (fault !== null) this.faultsFired += 1;
    if (fault === 'throw') {
      this.log(`  ${this.label}.${operation} throws`);
      const error = new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      if (this.slow) return Promise.reject(error);
      throw error;
    }
    if (fault === null && !this.slow) return apply();
    return new Promise<T>((resolve, reject) => {
      const id = this.nextId;
      this.nextId += 1;
      if (fault === 'hang') this.log(`  ${this.label}.${operation} #${id} hangs`);
      this.pending.push({
        id,
        operation,
        hung: fault === 'hang',
        startedAt: this.clock.mono,
        complete: () => {
          try {
            resolve(apply());
          } catch (error) {
            reject(error);
          }
        },
      });
    });
  }

  get hungCount(): number {
    return this.pending.filter((call) => call.hung).length;
  }

  get slowCount(): number {
    return this.pending.filter((call) => !call.hung).length;
  }

  /** Completes the oldest slow (not hung) call. */
  completeSlow(): boolean {
    const index = this.pending.findIndex((call) => !call.hung);
    if (index < 0) return false;
    this.pending.splice(index, 1)[0]!.complete();
    return true;
  }

  /** Completes a hung call (its write lands now, late). */
  releaseHung(which: number): boolean {
    const hung = this.pending.filter((call) => call.hung);
    if (hung.length === 0) return false;
    const call = hung[which % hung.length]!;
    this.pending.splice(this.pending.indexOf(call), 1);
    this.log(`  ${this.label}.${call.operation} #${call.id} completes late`);
    call.complete();
    return true;
  }

  nextDeadline(): number | null {
    const oldest = this.pending.find((call) => !call.hung);
    return oldest ? oldest.startedAt + SLOW_STORAGE_DEADLINE_MS : null;
  }

  completeOverdue(): boolean {
    let any = false;
    for (;;) {
      const oldest = this.pending.find((call) => !call.hung);
      if (!oldest || oldest.startedAt + SLOW_STORAGE_DEADLINE_MS > this.clock.mono) return any;
      this.completeSlow();
      any = true;
    }
  }

  /** A synchronous storage holding a copy of these values, for a probe manager. */
  snapshot(): TokenStorage {
    const values = new Map(this.values);
    return {
      getItem: (key) => values.get(key) ?? null,
      setItem: (key, value) => {
        values.set(key, value);
      },
      removeItem: (key) => {
        values.delete(key);
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Server

export interface Family {
  id: number;
  user: string;
  /** Generation of the current token pair; 0 = as issued by the login. */
  generation: number;
  currentRefreshToken: string;
  initial: { accessToken: string; refreshToken: string };
  /** Revoked by a logout call or by reuse detection. */
  revoked: 'logout' | 'reuse' | null;
  /** Whether a refresh call for this family ever reached the server. */
  refreshedOnce: boolean;
}

export interface TokenInfo {
  family: number;
  generation: number;
  user: string;
}

interface PendingAnswer {
  id: number;
  kind: 'refresh' | 'logout' | 'resource';
  from: string;
  receivedAt: number;
  describe: string;
  answer(): void;
}

export interface ServerCall {
  kind: 'refresh' | 'logout' | 'resource';
  from: string;
  at: number;
  token: string | null;
  outcome: string;
}

/**
 * The auth server and an API behind it. Refresh tokens rotate: a refresh token works once; presenting it
 * again (reuse) revokes its family, as OAuth 2.0 Security BCP §4.14 asks. The server decides when a request
 * arrives; its answer travels back when the model says (within `ANSWER_DEADLINE_MS`).
 */
export class ModelServer {
  readonly families: Family[] = [];
  private readonly tokens = new Map<string, TokenInfo>();
  private readonly refreshTokens = new Map<string, { family: number; generation: number }>();
  /** How many times each refresh token was accepted for processing (not refused as unavailable). */
  readonly processedByRefreshToken = new Map<string, number>();
  readonly pending: PendingAnswer[] = [];
  readonly calls: ServerCall[] = [];
  reuseCount = 0;
  /** Refresh tokens presented more than once while the server was up. */
  readonly repeatedRefreshTokens: string[] = [];
  unavailable = false;
  private nextAnswerId = 1;
  private jti = 0;

  constructor(
    private readonly clock: VirtualClock,
    readonly lifetimeS: number,
    private readonly log: (line: string) => void,
  ) {}

  info(accessToken: string | null | undefined): TokenInfo | undefined {
    return accessToken ? this.tokens.get(accessToken) : undefined;
  }

  /** Every token the server issued: none of them may appear in an error message. */
  allTokens(): string[] {
    return [...this.tokens.keys(), ...this.refreshTokens.keys()];
  }

  private issue(family: Family): { accessToken: string; refreshToken: string } {
    const iat = Math.floor(this.clock.serverNow() / 1000);
    this.jti += 1;
    const accessToken = makeJwt({
      sub: family.user,
      fam: family.id,
      gen: family.generation,
      iat,
      exp: iat + this.lifetimeS,
      jti: `a${this.jti}`,
    });
    const refreshToken = `rt-F${family.id}.${family.generation}-${this.jti}`;
    this.tokens.set(accessToken, { family: family.id, generation: family.generation, user: family.user });
    this.refreshTokens.set(refreshToken, { family: family.id, generation: family.generation });
    family.currentRefreshToken = refreshToken;
    return { accessToken, refreshToken };
  }

  /** A login (the app's own endpoint): a new token family. */
  login(user: string): Family {
    const family: Family = {
      id: this.families.length + 1,
      user,
      generation: 0,
      currentRefreshToken: '',
      initial: { accessToken: '', refreshToken: '' },
      revoked: null,
      refreshedOnce: false,
    };
    this.families.push(family);
    family.initial = this.issue(family);
    return family;
  }

  private hold(kind: PendingAnswer['kind'], from: string, describe: string, answer: () => void): void {
    const id = this.nextAnswerId;
    this.nextAnswerId += 1;
    this.pending.push({ id, kind, from, receivedAt: this.clock.mono, describe, answer });
  }

  /** The tab's `RefreshFn`: the server decides now, the answer comes when the model says. */
  refreshFor(tab: () => string): RefreshFn {
    return ({ refreshToken, signal }) =>
      new Promise<TokenResponse>((resolve, reject) => {
        const from = tab();
        const result = this.processRefresh(from, refreshToken);
        this.log(`  server: refresh from ${from} with ${refreshToken ?? 'none'} → ${result.describe}`);
        // An aborted fetch rejects at once; the server has processed the request all the same.
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        this.hold('refresh', from, `refresh ${refreshToken ?? 'none'} → ${result.describe}`, () => {
          if ('tokens' in result) resolve(result.tokens);
          else reject(result.error);
        });
      });
  }

  private processRefresh(
    from: string,
    refreshToken: string | null,
  ): { describe: string; tokens: TokenResponse } | { describe: string; error: Error } {
    const call: ServerCall = { kind: 'refresh', from, at: this.clock.mono, token: refreshToken, outcome: '' };
    this.calls.push(call);
    const done = <R extends { describe: string }>(result: R): R => {
      call.outcome = result.describe;
      return result;
    };
    if (this.unavailable) return done({ describe: '503', error: new Error('the auth server answered 503') });
    if (refreshToken === null) return done({ describe: 'rejected (no token)', error: new RefreshRejectedError() });
    const count = (this.processedByRefreshToken.get(refreshToken) ?? 0) + 1;
    this.processedByRefreshToken.set(refreshToken, count);
    if (count > 1) this.repeatedRefreshTokens.push(refreshToken);
    const known = this.refreshTokens.get(refreshToken);
    const family = known ? this.families[known.family - 1] : undefined;
    if (!known || !family) return done({ describe: 'rejected (unknown)', error: new RefreshRejectedError() });
    family.refreshedOnce = true;
    if (refreshToken !== family.currentRefreshToken) {
      this.reuseCount += 1;
      family.revoked = 'reuse';
      return done({ describe: `REUSE of F${family.id}.${known.generation}`, error: new RefreshRejectedError() });
    }
    if (family.revoked) return done({ describe: `rejected (${family.revoked})`, error: new RefreshRejectedError() });
    family.generation += 1;
    const tokens = this.issue(family);
    return done({ describe: `F${family.id}.${family.generation}`, tokens });
  }

  /** The tab's `LogoutFn`: revokes the family of the tokens it is given. */
  logoutFor(tab: () => string): LogoutFn {
    return ({ accessToken, refreshToken, signal }) =>
      new Promise<void>((resolve, reject) => {
        const from = tab();
        const family =
          (refreshToken ? this.refreshTokens.get(refreshToken)?.family : undefined) ?? this.info(accessToken)?.family;
        const outcome = this.unavailable ? '503' : family ? `F${family} revoked` : 'nothing to revoke';
        this.calls.push({ kind: 'logout', from, at: this.clock.mono, token: refreshToken, outcome });
        if (!this.unavailable && family) {
          const record = this.families[family - 1]!;
          record.revoked ??= 'logout';
        }
        this.log(
          `  server: logout from ${from} (${accessToken ? tokenName(accessToken) : 'no access token'}) → ${outcome}`,
        );
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        this.hold('logout', from, `logout → ${outcome}`, () => {
          if (outcome === '503') reject(new Error('the auth server answered 503'));
          else resolve();
        });
      });
  }

  /**
   * The API's `fetch` for one tab: the first attempt of each call (`X-Call` header) is answered 401; a retry
   * gets 200 when its token is the current one of a live family, else 401. `attempts` records the bearer
   * token of every attempt, by call.
   */
  resourceFetchFor(tab: () => string, attempts: Map<string, (string | null)[]>): typeof fetch {
    return (input, init) => {
      const request = new Request(input, init);
      const from = tab();
      const callId = request.headers.get('x-call') ?? '?';
      const bearer = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? null;
      const seen = attempts.get(callId) ?? [];
      seen.push(bearer);
      attempts.set(callId, seen);
      const info = this.info(bearer);
      const family = info ? this.families[info.family - 1] : undefined;
      const valid = !!info && !!family && !family.revoked && family.generation === info.generation;
      const status = seen.length === 1 || !valid ? 401 : 200;
      this.calls.push({ kind: 'resource', from, at: this.clock.mono, token: bearer, outcome: String(status) });
      this.log(
        `  api: ${callId} attempt ${seen.length} from ${from} with ${bearer ? tokenName(bearer) : 'no token'} → ${status}`,
      );
      return new Promise<Response>((resolve) => {
        this.hold('resource', from, `api ${callId} → ${status}`, () => resolve(new Response(null, { status })));
      });
    };
  }

  /** Sends back an answer: `which` picks among the waiting ones (modulo their number). */
  answer(which: number): boolean {
    if (this.pending.length === 0) return false;
    const [answer] = this.pending.splice(which % this.pending.length, 1);
    this.log(`  answer arrives at ${answer!.from}: ${answer!.describe}`);
    answer!.answer();
    return true;
  }

  answerAllFrom(from: string): void {
    for (let index = this.pending.length - 1; index >= 0; index -= 1) {
      if (this.pending[index]!.from === from) this.answer(index);
    }
  }

  nextDeadline(): number | null {
    let next: number | null = null;
    for (const answer of this.pending) {
      const due = answer.receivedAt + ANSWER_DEADLINE_MS;
      if (next === null || due < next) next = due;
    }
    return next;
  }

  answerOverdue(): boolean {
    let any = false;
    for (;;) {
      const index = this.pending.findIndex((answer) => answer.receivedAt + ANSWER_DEADLINE_MS <= this.clock.mono);
      if (index < 0) return any;
      this.answer(index);
      any = true;
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The world

/** Everything outside the managers, and the one way time moves. */
export class World {
  readonly clock = new VirtualClock();
  readonly timers = new VirtualTimers(this.clock);
  readonly lock = createSharedLock();
  readonly trace: string[] = [];
  readonly bus: ChannelBus;
  readonly server: ModelServer;
  readonly storages: ModelStorage[] = [];

  constructor(lifetimeS: number) {
    this.bus = new ChannelBus(this.clock, (line) => this.log(line));
    this.server = new ModelServer(this.clock, lifetimeS, (line) => this.log(line));
  }

  log(line: string): void {
    this.trace.push(
      `[${this.clock.mono}ms wall${formatOffset(this.clock.wall - WORLD_START_MS - this.clock.mono)}] ${line}`,
    );
  }

  addStorage(label: string, slow: boolean): ModelStorage {
    const storage = new ModelStorage(label, this.clock, slow, (line) => this.log(line));
    this.storages.push(storage);
    return storage;
  }

  private nextDeadline(): number | null {
    const candidates = [
      this.timers.nextDueAt(),
      this.bus.nextDeadline(),
      this.server.nextDeadline(),
      ...this.storages.map((storage) => storage.nextDeadline()),
    ].filter((value): value is number => value !== null);
    return candidates.length ? Math.min(...candidates) : null;
  }

  /** Delivers, answers and completes whatever is overdue; runs one due timer. Whether anything happened. */
  private async stepDue(): Promise<boolean> {
    await settle();
    let any = this.bus.deliverOverdue();
    any = this.server.answerOverdue() || any;
    for (const storage of this.storages) any = storage.completeOverdue() || any;
    if (any) return true;
    const timer = this.timers.runOneDue();
    if (timer) this.log(`  timer of ${timer.owner} fires`);
    return timer !== null;
  }

  /** Moves both clocks `ms` forward; messages, answers and slow storage calls arrive by their deadlines. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.mono + ms;
    for (let guard = 0; guard < 10_000; guard += 1) {
      if (await this.stepDue()) continue;
      const next = this.nextDeadline();
      if (next === null || next > target) break;
      this.clock.moveTo(next);
    }
    this.clock.moveTo(target);
    while (await this.stepDue()) {
      // Whatever is due at the target time runs before the step ends.
    }
    await settle();
  }

  /**
   * Delivers every message, sends back every answer and completes every slow storage call, over and over,
   * until nothing is left (hung storage calls stay hung). Time does not move. Returns false when it never ends.
   */
  async quiesce(random: () => number): Promise<boolean> {
    for (let round = 0; round < 5_000; round += 1) {
      await settle();
      const pairs = this.bus.pendingPairs();
      if (pairs.length > 0) {
        this.bus.deliver(pairs[Math.floor(random() * pairs.length)]!);
        continue;
      }
      if (this.server.pending.length > 0) {
        this.server.answer(Math.floor(random() * this.server.pending.length));
        continue;
      }
      if (this.storages.some((storage) => storage.completeSlow())) continue;
      if (this.timers.runOneDue()) continue;
      return true;
    }
    return false;
  }

  hungStorageCalls(): number {
    return this.storages.reduce((sum, storage) => sum + storage.hungCount, 0);
  }
}

function formatOffset(offsetMs: number): string {
  if (offsetMs === 0) return '';
  const sign = offsetMs > 0 ? '+' : '-';
  return `${sign}${Math.abs(offsetMs) / 1000}s`;
}
