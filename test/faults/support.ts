/**
 * Helpers of the fault matrix (test/faults/matrix-*.test.ts): a ledger of every request the process made,
 * a console spy, a token-leak check over errors and console output, a storage with injectable faults, and a
 * "reload" that reads what a fresh manager would load from a storage's values.
 */
import { inspect } from 'node:util';
import { type AuthState, createTokenManager, type TokenStorage } from 'tokenkeeper';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { REFRESH_URL, server } from '../support/environment';

export const STORAGE_KEY = 'tokenkeeper';
/** How long a storage call may take before the manager gives up on it (design of issue 7, item 9). */
export const STORAGE_BOUND_MS = 2_000;
/** The `timeout` the matrix gives the refresh and logout endpoints, so that a timeout row costs little fake time. */
export const ENDPOINT_TIMEOUT_MS = 1_000;
/** The initial refresh token of every row; long and distinctive so that a leak of it is found. */
export const INITIAL_REFRESH_TOKEN = 'rt0-initial-refresh-token-9f3c2a71';

/**
 * Every request the process sent through `fetch` while the test ran, as `METHOD url`. msw sees them all,
 * also those it lets through to a real server; a redirect that `fetch` follows inside undici is not seen
 * here, which is why the redirect rows also count what the real target server received.
 */
export function installRequestLedger(): { requests: string[] } {
  const ledger = { requests: [] as string[] };
  const listener = ({ request }: { request: Request }): void => {
    ledger.requests.push(`${request.method} ${request.url}`);
  };
  beforeEach(() => {
    ledger.requests.length = 0;
    server.events.on('request:start', listener);
  });
  afterEach(() => {
    server.events.removeListener('request:start', listener);
  });
  return ledger;
}

/** `count` times `POST url`: what the ledger should hold when only that endpoint was called. */
export const posts = (url: string, count: number): string[] => Array.from({ length: count }, () => `POST ${url}`);

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;

/** Silences console.* for the rest of the test and returns what was written, formatted as Node would. */
export function spyConsole(): () => string {
  const lines: string[] = [];
  for (const method of CONSOLE_METHODS) {
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      lines.push(
        `console.${method}: ${args.map((arg) => (typeof arg === 'string' ? arg : inspect(arg, { depth: 8 }))).join(' ')}`,
      );
    });
  }
  return () => lines.join('\n');
}

/** The texts of an error and of every error in its `cause` chain: name, message, `String()`, stack. */
export function errorTexts(error: unknown): string[] {
  const texts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current !== undefined && current !== null; depth += 1) {
    if (current instanceof Error) {
      texts.push(current.name, current.message, String(current), current.stack ?? '');
      current = (current as { cause?: unknown }).cause;
    } else {
      texts.push(typeof current === 'string' ? current : inspect(current));
      break;
    }
  }
  return texts;
}

/**
 * The parts of `secrets` found in `texts`: a secret counts as found when the whole of it appears, or any of
 * its dot-separated parts of 16 characters or more (a JWT's payload alone is a leak).
 */
export function findSecrets(texts: string[], secrets: Iterable<string>): string[] {
  const found: string[] = [];
  const haystack = texts.join('\n');
  for (const secret of secrets) {
    const pieces = [secret, ...secret.split('.').filter((piece) => piece.length >= 16)];
    for (const piece of pieces) {
      if (piece.length > 0 && haystack.includes(piece)) {
        found.push(piece.length > 40 ? `${piece.slice(0, 40)}…` : piece);
        break;
      }
    }
  }
  return found;
}

/** Asserts that no secret is in any error (cause chains included) nor in the console output. */
export function expectNoLeaks(errors: unknown[], consoleOutput: string, secrets: Iterable<string>): void {
  const list = [...secrets];
  expect(findSecrets(errors.flatMap(errorTexts), list), 'token text in an error message or cause').toEqual([]);
  expect(findSecrets([consoleOutput], list), 'token text in console output').toEqual([]);
}

/** The string fields of a JSON response body that are token material (or a server's `error` text). */
export function tokenFieldsOf(
  bodyText: string,
  fields = ['access_token', 'accessToken', 'refresh_token', 'refreshToken'],
): string[] {
  let body: unknown;
  try {
    body = JSON.parse(bodyText);
  } catch {
    return [];
  }
  if (typeof body !== 'object' || body === null) return [];
  const record = body as Record<string, unknown>;
  return fields
    .map((field) => record[field])
    .filter((value): value is string => typeof value === 'string' && value.length >= 8);
}

export type StorageOperation = 'getItem' | 'setItem' | 'removeItem';
/** `throw`: a synchronous throw (quota, SecurityError); `reject`: an async storage that rejects; `hang`: never settles. */
export type StorageFault = 'throw' | 'reject' | 'hang';

/** A storage over `values` whose next call(s) of one operation can be made to fail. */
export interface FaultyStorage extends TokenStorage {
  readonly values: Map<string, string>;
  /** Every call, as `operation` or `operation (fault)`. */
  readonly calls: string[];
  /** Makes the next `times` calls of `operation` fail with `fault`. */
  fail(operation: StorageOperation, fault: StorageFault, times?: number): void;
  /** Calls of each operation that were left hanging. */
  readonly hanging: number;
}

export function createFaultyStorage(options: { async?: boolean; values?: Map<string, string> } = {}): FaultyStorage {
  const values = options.values ?? new Map<string, string>();
  const calls: string[] = [];
  const armed = new Map<StorageOperation, { fault: StorageFault; times: number }>();
  let hanging = 0;
  const quotaError = (): DOMException => new DOMException('The quota has been exceeded.', 'QuotaExceededError');

  const call = <R>(operation: StorageOperation, run: () => R): R | Promise<R> => {
    const fault = armed.get(operation);
    if (fault && fault.times > 0) {
      fault.times -= 1;
      calls.push(`${operation} (${fault.fault})`);
      if (fault.fault === 'throw') throw quotaError();
      if (fault.fault === 'reject') return Promise.reject(quotaError());
      hanging += 1;
      return new Promise<R>(() => {});
    }
    calls.push(operation);
    return options.async ? Promise.resolve().then(run) : run();
  };

  return {
    values,
    calls,
    get hanging() {
      return hanging;
    },
    fail(operation, fault, times = 1) {
      armed.set(operation, { fault, times });
    },
    getItem: (key) => call('getItem', () => values.get(key) ?? null),
    setItem: (key, value) =>
      call('setItem', () => {
        values.set(key, value);
      }),
    removeItem: (key) =>
      call('removeItem', () => {
        values.delete(key);
      }),
  };
}

/**
 * What a reload would show: a new manager on a healthy synchronous storage over the same values, read and
 * destroyed at once (no channel, so no other manager can lend it a session).
 */
export async function reloadState(values: Map<string, string>): Promise<AuthState> {
  const auth = createTokenManager({
    refresh: { url: REFRESH_URL },
    storage: createFaultyStorage({ values }),
    channel: false,
    onResume: () => () => {},
  });
  try {
    await auth.ready;
    return auth.getState();
  } finally {
    auth.destroy();
  }
}

/** The raw text stored under the key, or `null`. */
export const storedText = (values: Map<string, string>): string | null => values.get(STORAGE_KEY) ?? null;

/**
 * Advances fake time in `stepMs` steps until `promise` settles, at most `limitMs`; returns the fake time it
 * took, or `Infinity` when it did not settle within the limit.
 */
export async function fakeTimeToSettle(promise: Promise<unknown>, limitMs: number, stepMs = 50): Promise<number> {
  let settled = false;
  promise.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  await vi.advanceTimersByTimeAsync(0);
  let elapsedMs = 0;
  while (!settled && elapsedMs < limitMs) {
    await vi.advanceTimersByTimeAsync(stepMs);
    elapsedMs += stepMs;
  }
  return settled ? elapsedMs : Number.POSITIVE_INFINITY;
}
