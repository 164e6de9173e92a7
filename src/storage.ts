import { StorageError } from './errors';
import { isSessionRecord, restoreSession, type Session, toSessionRecord } from './token';
import type { TokenStorage } from './types';

const STORAGE_FORMAT_VERSION = 1;

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

/** The stored form of a session. Claims are decoded again on load rather than stored twice. */
export function serializeSession(session: Session): string {
  return JSON.stringify({ v: STORAGE_FORMAT_VERSION, ...toSessionRecord(session) });
}

/** Parses a stored session; `undefined` when the text is not one (corrupt, foreign or from another version). */
export function parseSession(text: string): Session | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isSessionRecord(data) || (data as { v?: unknown }).v !== STORAGE_FORMAT_VERSION) return undefined;
  return restoreSession(data);
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}

/** Result of reading the stored session. */
export type StoredRead =
  | { kind: 'empty' }
  | { kind: 'session'; session: Session }
  | { kind: 'corrupt' }
  | { kind: 'failed'; error: StorageError };

/**
 * The session's storage: sync or async underneath, it never throws. Failures are reported through
 * `onError` and the manager goes on in memory. Writes run in order, so a clear never overtakes a write.
 */
export interface SessionStore {
  /** Reads synchronously when the storage is synchronous, so a page can start signed in. */
  read(): StoredRead | Promise<StoredRead>;
  write(session: Session): Promise<void>;
  clear(): Promise<void>;
}

export function createSessionStore(
  storage: TokenStorage,
  key: string,
  onError: (error: StorageError) => void,
): SessionStore {
  let queue: Promise<void> = Promise.resolve();

  const interpret = (text: string | null | undefined): StoredRead => {
    if (text === null || text === undefined) return { kind: 'empty' };
    const session = typeof text === 'string' ? parseSession(text) : undefined;
    return session ? { kind: 'session', session } : { kind: 'corrupt' };
  };
  const readFailed = (cause: unknown): StoredRead => ({
    kind: 'failed',
    error: new StorageError(`reading "${key}" from storage failed`, { cause }),
  });

  const enqueue = (action: string, operation: () => void | Promise<void>): Promise<void> => {
    const run = async (): Promise<void> => {
      try {
        await operation();
      } catch (cause) {
        onError(new StorageError(`${action} "${key}" in storage failed`, { cause }));
      }
    };
    queue = queue.then(run);
    return queue;
  };

  return {
    read() {
      let result: ReturnType<TokenStorage['getItem']>;
      try {
        result = storage.getItem(key);
      } catch (cause) {
        return readFailed(cause);
      }
      return isPromiseLike<string | null | undefined>(result)
        ? Promise.resolve(result).then(interpret, readFailed)
        : interpret(result);
    },
    write(session) {
      const text = serializeSession(session);
      return enqueue('writing', () => storage.setItem(key, text));
    },
    clear() {
      return enqueue('removing', () => storage.removeItem(key));
    },
  };
}
