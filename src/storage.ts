import { StorageError } from './errors';
import {
  compareLogins,
  compareSessions,
  holdsAny,
  isEndedBy,
  isLoginKey,
  isSessionRecord,
  type LoginKey,
  type SessionRecord,
  toLoginKey,
  toRecord,
} from './session';
import type { Environment } from './environment';
import type { TokenStorage } from './types';

const STORAGE_FORMAT_VERSION = 2;

/** How long a storage call may take before the manager goes on without it (and says so with an `'error'`). */
export const STORAGE_TIMEOUT_MS = 2_000;
/** How often a storage that refused both a write and a removal is tried again, 2 s, 4 s and 6 s later. */
const STALE_RETRIES = 3;

/** A storage that keeps values in memory; the default, and what a new tab starts with. */
export function createMemoryStorage(): TokenStorage {
  const values = new Map<string, string>();
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

/**
 * What the storage holds: the session, and the latest logout, so that a logout whose removal failed leaves a
 * tombstone (`session: null`) rather than the ended session.
 */
export interface Stored {
  readonly session: SessionRecord | null;
  readonly floor: LoginKey | null;
}

export function serializeStored({ session, floor }: Stored): string {
  return JSON.stringify({
    v: STORAGE_FORMAT_VERSION,
    session: session && toRecord(session),
    floor: floor && toLoginKey(floor),
  });
}

/** The first format held one session with a `sessionId` and no order: it becomes a login stamped when received. */
function fromVersion1(data: Record<string, unknown>): Stored | undefined {
  const { sessionId, receivedAt } = data;
  const session = {
    ...data,
    id: sessionId,
    stamp: typeof receivedAt === 'number' ? Math.max(0, Math.floor(receivedAt)) : receivedAt,
    seq: 0,
  };
  return isSessionRecord(session) ? { session: toRecord(session), floor: null } : undefined;
}

/** Parses stored text; `undefined` when it is not a stored session (corrupt, foreign or of an unknown version). */
export function parseStored(text: string): Stored | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const record = data as Record<string, unknown>;
  if (record.v === 1) return fromVersion1(record);
  if (record.v !== STORAGE_FORMAT_VERSION) return undefined;
  const { session, floor } = record;
  if (!(session === null || isSessionRecord(session)) || !(floor === null || isLoginKey(floor))) return undefined;
  return { session: session && toRecord(session), floor: floor && toLoginKey(floor) };
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  try {
    return typeof (value as PromiseLike<T> | null)?.then === 'function';
  } catch {
    // A value whose `then` throws is no promise and no stored text either: read as unreadable.
    return false;
  }
}

/** Result of reading the stored session. */
export type StoredRead =
  | { kind: 'empty' }
  | { kind: 'stored'; stored: Stored }
  | { kind: 'corrupt' }
  | { kind: 'failed'; error: StorageError };

/**
 * The session's storage: sync or async underneath, it never throws and no call of the manager waits on it for
 * longer than `STORAGE_TIMEOUT_MS`. Writes run one at a time, always of the latest wanted value, so a call that
 * hangs and settles late is followed by a write of what is wanted by then.
 */
export interface SessionStore {
  /** Reads synchronously when the storage is synchronous, so a page can start signed in. */
  read(): StoredRead | Promise<StoredRead>;
  /**
   * Makes the storage hold `wanted`, unless it holds something newer (another tab's later login or logout).
   * A failed write removes what is there (it is older), a failed removal writes a tombstone, so that nothing
   * ended or superseded is left for a reload. Resolves when done or after `STORAGE_TIMEOUT_MS`.
   */
  sync(wanted: Wanted): Promise<void>;
  /** Resolves when the latest wanted value is written, or after `STORAGE_TIMEOUT_MS`. */
  settled(): Promise<void>;
}

type Timers = Pick<Environment, 'setTimeout' | 'clearTimeout'>;

/**
 * What the manager wants stored, and the tokens of sessions that ended (a stored session holding one of them
 * is over whatever its stamp: a login of the same tokens made in another tab).
 */
export interface Wanted extends Stored {
  readonly endedTokens: readonly string[];
}

/** Whether `stored` is newer than `wanted`: a later token set, or a logout that ends `wanted`'s login. */
function holdsNewer(stored: Stored, wanted: Wanted): boolean {
  if (wanted.session === null) {
    return (
      stored.session !== null &&
      !isEndedBy(stored.session, wanted.floor) &&
      !holdsAny(stored.session, wanted.endedTokens)
    );
  }
  if (stored.floor && isEndedBy(wanted.session, stored.floor)) return true;
  return stored.session !== null && compareSessions(stored.session, wanted.session) > 0;
}

function holdsSame(stored: Stored, wanted: Stored): boolean {
  const sameSession =
    stored.session === null || wanted.session === null
      ? stored.session === wanted.session
      : compareSessions(stored.session, wanted.session) === 0;
  const sameFloor =
    stored.floor === null || wanted.floor === null
      ? stored.floor === wanted.floor
      : compareLogins(stored.floor, wanted.floor) === 0;
  return sameSession && (sameFloor || wanted.session !== null);
}

export function createSessionStore(
  storage: TokenStorage,
  key: string,
  timers: Timers,
  onError: (error: StorageError) => void,
): SessionStore {
  const timeoutError = (action: string): StorageError =>
    new StorageError(`${action} "${key}" in storage took longer than ${STORAGE_TIMEOUT_MS} ms`);

  /**
   * Settles with `promise`, or rejects with a `StorageError` after `STORAGE_TIMEOUT_MS`. A call that settles
   * after that may have changed the storage behind the manager's back, so the latest wanted value is then
   * written again.
   */
  const watched = <T>(action: string, promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let timedOut = false;
      const handle = timers.setTimeout(() => {
        timedOut = true;
        reject(timeoutError(action));
      }, STORAGE_TIMEOUT_MS);
      const settle = (): void => {
        timers.clearTimeout(handle);
        if (timedOut) rewrite();
      };
      promise.then(
        (value) => {
          settle();
          resolve(value);
        },
        (error: unknown) => {
          settle();
          reject(error);
        },
      );
    });

  /** Reports a failed call: its time-out as it is, anything else as the cause of a `StorageError`. */
  const reportFailure = (action: string, error: unknown): void =>
    onError(
      error instanceof StorageError
        ? error
        : new StorageError(`${action} "${key}" in storage failed`, { cause: error }),
    );

  /** One storage call: `true` when it succeeded. */
  const call = async (action: string, operation: () => void | Promise<void>): Promise<boolean> => {
    try {
      await watched(action, Promise.resolve().then(operation));
      return true;
    } catch (error) {
      reportFailure(action, error);
      return false;
    }
  };

  const interpret = (text: unknown): StoredRead => {
    if (text === null || text === undefined) return { kind: 'empty' };
    const stored = typeof text === 'string' ? parseStored(text) : undefined;
    return stored ? { kind: 'stored', stored } : { kind: 'corrupt' };
  };
  const readFailed = (cause: unknown): StoredRead => ({
    kind: 'failed',
    error: new StorageError(`reading "${key}" from storage failed`, { cause }),
  });

  /** What the storage holds now, for a write to compare with; `undefined` when it cannot be read. */
  const readForCompare = async (): Promise<Stored | null | undefined> => {
    try {
      const read = interpret(
        await watched(
          'reading',
          Promise.resolve().then(() => storage.getItem(key)),
        ),
      );
      return read.kind === 'stored' ? read.stored : read.kind === 'empty' ? null : undefined;
    } catch (error) {
      reportFailure('reading', error);
      return undefined;
    }
  };

  /** Writes `wanted`; `false` when the storage may still hold something stale (both a write and a removal failed). */
  const apply = async (wanted: Wanted): Promise<boolean> => {
    const stored = await readForCompare();
    if (stored && (holdsNewer(stored, wanted) || holdsSame(stored, wanted))) return true;
    if (wanted.floor === null && wanted.session === null) {
      // Nothing to keep (unreadable data is being cleared): the key goes.
      return stored === null || (await call('removing', () => storage.removeItem(key)));
    }
    // A stored logout at least as late as this one stays as it is.
    if (
      !wanted.session &&
      stored?.session === null &&
      stored.floor &&
      compareLogins(stored.floor, wanted.floor as LoginKey) >= 0
    ) {
      return true;
    }
    // A session is written; a logout leaves a tombstone (no token, only the logout's stamp), so that a tab that
    // reloads before the logout's message reached it, or with its clock set back, still knows the logout. When
    // the write fails, what was stored goes (an older token set, its refresh token spent, or the ended session).
    if (await call('writing', () => storage.setItem(key, serializeStored(wanted)))) return true;
    return stored === null || (await call('removing', () => storage.removeItem(key)));
  };

  /** Tries again, a few times, to leave nothing stale behind when both a write and a removal failed. */
  const retryLater = (attempt: number): void => {
    if (attempt > STALE_RETRIES) return;
    // Only while nothing newer was asked for since: a later write or logout takes over then.
    const version = requested;
    timers.setTimeout(() => {
      void (async () => {
        if (wanted === null || version !== requested || running) return;
        if (!(await apply(wanted))) retryLater(attempt + 1);
      })();
    }, STORAGE_TIMEOUT_MS * attempt);
  };

  let wanted: Wanted | null = null;
  let requested = 0;
  let done = 0;
  let running = false;
  const waiters = new Set<{ version: number; resolve: () => void }>();

  /** Callers wait for the write, but never longer than a storage call may take; the write goes on. */
  const settled = (): Promise<void> => {
    if (done >= requested) return Promise.resolve();
    const version = requested;
    return new Promise<void>((resolve) => {
      const handle = timers.setTimeout(resolve, STORAGE_TIMEOUT_MS);
      waiters.add({
        version,
        resolve: () => {
          timers.clearTimeout(handle);
          resolve();
        },
      });
    });
  };

  /** Writes the latest wanted value once more (after a call that timed out has settled). */
  function rewrite(): void {
    if (wanted === null) return;
    requested += 1;
    if (!running) void drain();
  }

  const drain = async (): Promise<void> => {
    running = true;
    while (done < requested) {
      const version = requested;
      if (!(await apply(wanted as Wanted))) retryLater(1);
      done = version;
      for (const waiter of [...waiters]) {
        if (waiter.version <= done) {
          waiters.delete(waiter);
          waiter.resolve();
        }
      }
    }
    running = false;
  };

  return {
    read() {
      let result: ReturnType<TokenStorage['getItem']>;
      try {
        result = storage.getItem(key);
      } catch (cause) {
        return readFailed(cause);
      }
      if (!isPromiseLike(result)) return interpret(result);
      return new Promise<StoredRead>((resolve) => {
        const handle = timers.setTimeout(
          () => resolve({ kind: 'failed', error: timeoutError('reading') }),
          STORAGE_TIMEOUT_MS,
        );
        Promise.resolve(result)
          .then(interpret, readFailed)
          .then((read) => {
            timers.clearTimeout(handle);
            resolve(read);
          });
      });
    },
    sync(next) {
      wanted = next;
      requested += 1;
      if (!running) void drain();
      return settled();
    },
    settled,
  };
}
