import { StorageError } from './errors';
import {
  compareLogins,
  compareSessions,
  isEndedBy,
  isLoggedOut,
  isPlausibleStamp,
  type LoginKey,
  matches,
  SESSION_AND_FLOOR,
  type SessionRecord,
  toLoginKey,
  toRecord,
} from './session';
import type { Environment } from './environment';
import { isRecord } from './token';
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

/** The fields of a stored value and nothing else (a session as the manager holds it has more). */
const copyStored = ({ session, floor }: Stored): Stored => ({
  session: session && toRecord(session),
  floor: floor && toLoginKey(floor),
});

/** Whether every stamp of a stored value is plausible (not implausibly far ahead of `now`). */
export const isPlausibleStored = ({ session, floor }: Stored, now: number): boolean =>
  [session, floor].every((key) => !key || isPlausibleStamp(key.stamp, now));

export const serializeStored = (stored: Stored): string =>
  JSON.stringify({ v: STORAGE_FORMAT_VERSION, ...copyStored(stored) });

/** Parses stored text; `undefined` when it is not a stored session (corrupt, foreign or of an unknown version). */
export function parseStored(text: string): Stored | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(data)) return undefined;
  const { v, receivedAt } = data;
  // The first format held one session with a `sessionId` and no order: it becomes a login stamped when received.
  const stored =
    v === 1
      ? {
          session: {
            ...data,
            id: data.sessionId,
            stamp: typeof receivedAt === 'number' ? Math.max(0, Math.floor(receivedAt)) : receivedAt,
            seq: 0,
          },
          floor: null,
        }
      : data;
  return (v === 1 || v === STORAGE_FORMAT_VERSION) && matches(stored, SESSION_AND_FLOOR)
    ? copyStored(stored as unknown as Stored)
    : undefined;
}

/** What stored text (or whatever `getItem` gave) holds: `null` when nothing, `undefined` when unreadable. */
const parseItem = (item: unknown): Stored | null | undefined =>
  item === null || item === undefined ? null : typeof item === 'string' ? parseStored(item) : undefined;

/** Result of reading the stored session. */
export type StoredRead =
  | { kind: 'empty' }
  | { kind: 'stored'; stored: Stored }
  | { kind: 'corrupt' }
  | { kind: 'failed'; error: StorageError };

const interpret = (item: unknown): StoredRead => {
  const stored = parseItem(item);
  return stored ? { kind: 'stored', stored } : stored === null ? { kind: 'empty' } : { kind: 'corrupt' };
};
const readFailed = (error: unknown): StoredRead => ({ kind: 'failed', error: error as StorageError });

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

type Timers = Pick<Environment, 'setTimeout' | 'clearTimeout' | 'now'>;

/**
 * What the manager wants stored, and the tokens of sessions that ended (a stored session holding one of them
 * is over whatever its stamp: a login of the same tokens made in another tab).
 */
export interface Wanted extends Stored {
  readonly endedTokens: readonly string[];
}

/**
 * Whether what the storage holds stays as it is: it is `wanted` already, or newer (a later token set, or a
 * logout that ends `wanted`'s login; for a logout, a session it does not end, or a logout at least as late).
 */
const keeps = ({ session, floor }: Stored, wanted: Wanted): boolean =>
  wanted.session
    ? isEndedBy(wanted.session, floor) || (session !== null && compareSessions(session, wanted.session) >= 0)
    : session
      ? !isLoggedOut(session, wanted.floor, wanted.endedTokens)
      : wanted.floor
        ? floor !== null && compareLogins(floor, wanted.floor) >= 0
        : floor === null;

export function createSessionStore(
  storage: TokenStorage,
  key: string,
  timers: Timers,
  onError: (error: StorageError) => void,
): SessionStore {
  const failure = (action: string, what: string, options?: { cause: unknown }): StorageError =>
    new StorageError(`${action} storage key "${key}" ${what}`, options);

  /**
   * Settles with a storage call's `promise`, or rejects with a `StorageError` naming the call when it fails or
   * takes longer than `STORAGE_TIMEOUT_MS`. A call that settles after that may have changed the storage behind
   * the manager's back: `late()` then writes the latest wanted value again.
   */
  const within = <T>(action: string, promise: PromiseLike<T>, late?: () => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      let timedOut = false;
      const handle = timers.setTimeout(() => {
        timedOut = true;
        reject(failure(action, `timed out after ${STORAGE_TIMEOUT_MS} ms`));
      }, STORAGE_TIMEOUT_MS);
      const settle = (succeeded: boolean) => (value: unknown) => {
        timers.clearTimeout(handle);
        if (timedOut) late?.();
        if (succeeded) resolve(value as T);
        else reject(failure(action, 'failed', { cause: value }));
      };
      Promise.resolve(promise).then(settle(true), settle(false));
    });

  /** One storage call: `[its result]`, or `undefined` when it failed or timed out (reported). */
  const call = async <T>(action: string, operation: () => T | PromiseLike<T>): Promise<[T] | undefined> => {
    try {
      return [await within(action, Promise.resolve().then(operation), request)];
    } catch (error) {
      onError(error as StorageError);
    }
  };

  /** Writes `wanted`; falsy when the storage may still hold something stale (both a write and a removal failed). */
  const apply = async (wanted: Wanted): Promise<unknown> => {
    // What the storage holds now, to compare with; `undefined` when it cannot be read.
    const read = await call('reading', () => storage.getItem(key));
    const parsed = read && parseItem(read[0]);
    // A record stamped implausibly far ahead (a device clock years off, or a forgery) orders nothing: it is replaced.
    const stored = parsed && !isPlausibleStored(parsed, timers.now()) ? undefined : parsed;
    // A session is written; a logout leaves a tombstone (no token, only the logout's stamp), so that a tab that
    // reloads before the logout's message reached it, or with its clock set back, still knows the logout. When
    // the write fails, what was stored goes (an older token set, its refresh token spent, or the ended session).
    // With nothing to keep (unreadable data is being cleared), the key goes.
    return (
      (stored && keeps(stored, wanted)) ||
      ((wanted.session || wanted.floor) &&
        (await call('writing', () => storage.setItem(key, serializeStored(wanted))))) ||
      stored === null ||
      call('removing', () => storage.removeItem(key))
    );
  };

  /** Tries again, a few times, to leave nothing stale behind when both a write and a removal failed. */
  const retryLater = (attempt: number): void => {
    if (attempt > STALE_RETRIES) return;
    // Only while nothing newer was asked for since: a later write or logout takes over then.
    const version = requested;
    timers.setTimeout(async () => {
      if (version === requested && !running && !(await apply(wanted as Wanted))) retryLater(attempt + 1);
    }, STORAGE_TIMEOUT_MS * attempt);
  };

  let wanted: Wanted | undefined;
  let requested = 0;
  let done = 0;
  let running = false;
  /** Callers of `settled()`: the version they wait for, and how to tell them. */
  let waiters: [version: number, resolve: () => void][] = [];

  /** Callers wait for the write, but never longer than a storage call may take; the write goes on. */
  const settled = (): Promise<void> =>
    new Promise<void>((resolve) => {
      if (done >= requested) return resolve();
      const handle = timers.setTimeout(resolve, STORAGE_TIMEOUT_MS);
      waiters.push([
        requested,
        () => {
          timers.clearTimeout(handle);
          resolve();
        },
      ]);
    });

  /** Writes the latest wanted value (once more, after a call that timed out has settled). */
  function request(): void {
    requested += 1;
    if (!running) void drain();
  }

  const drain = async (): Promise<void> => {
    running = true;
    while (done < requested) {
      const version = requested;
      if (!(await apply(wanted as Wanted))) retryLater(1);
      done = version;
      waiters = waiters.filter(([waitsFor, resolve]) => waitsFor > done || resolve());
    }
    running = false;
  };

  return {
    read() {
      let item: unknown;
      try {
        item = storage.getItem(key);
      } catch (cause) {
        return readFailed(failure('reading', 'failed', { cause }));
      }
      let pending = false;
      try {
        pending = typeof (item as PromiseLike<unknown> | null)?.then === 'function';
      } catch {
        // A value whose `then` throws is no promise and no stored text either: read as unreadable.
      }
      return pending ? within('reading', item as PromiseLike<unknown>).then(interpret, readFailed) : interpret(item);
    },
    sync(next) {
      wanted = next;
      request();
      return settled();
    },
    settled,
  };
}
