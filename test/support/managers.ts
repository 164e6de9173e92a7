import { afterEach } from 'vitest';
import { createTokenManager, type TokenManager, type TokenManagerOptions } from 'tokenkeeper';

type Options = Partial<TokenManagerOptions>;

/**
 * The `createManager` of a test file. A manager gets `defaults` with the options of the call spread over
 * them, and is destroyed after the test, even when the test failed before its own destroy() (destroy() is
 * idempotent). `defaults` may be a function, called for each manager, for what differs from one manager or
 * test to the next (a storage key, the test's channel).
 */
export function trackManagers(defaults: Options | (() => Options) = {}): (options?: Options) => TokenManager {
  const managers: TokenManager[] = [];
  afterEach(() => {
    for (const auth of managers.splice(0)) auth.destroy();
  });
  return (options = {}) => {
    const base = typeof defaults === 'function' ? defaults() : defaults;
    // Either the defaults or the call give `refresh`; where neither does, createTokenManager throws, as it should.
    const auth = createTokenManager({ ...base, ...options } as TokenManagerOptions);
    managers.push(auth);
    return auth;
  };
}

/**
 * `prefix-1`, `prefix-2`, …: a storage key of its own for each manager, so that the in-process refresh lock
 * (named after the key) is never shared with a manager of another test.
 */
export function numberedKeys(prefix: string): () => string {
  let count = 0;
  return () => {
    count += 1;
    return `${prefix}-${count}`;
  };
}
