import { expect } from 'vitest';

/** A login as the stored format names it: a logout's key (the floor) ends every login ordered at or before it. */
export interface StoredLoginKey {
  stamp: number;
  id: string;
}

/**
 * Asserts that `text` (what the storage holds under the key after a logout) is that logout's tombstone:
 * format version 2, no session, the logout's floor, and none of `secrets` (the ended session's access and
 * refresh tokens) anywhere in it. Secrets are compared, never printed. Returns the floor.
 */
export function expectTombstone(text: string | null | undefined, secrets: readonly string[]): StoredLoginKey {
  expect(secrets.length, 'the tokens the tombstone must not hold').toBeGreaterThan(0);
  expect(typeof text, 'what the storage holds after the logout').toBe('string');
  const stored = JSON.parse(text as string) as unknown;
  expect(stored).toEqual({ v: 2, session: null, floor: { stamp: expect.any(Number), id: expect.any(String) } });
  secrets.forEach((secret, index) => {
    expect(secret.length, `token #${index}`).toBeGreaterThan(0);
    expect((text as string).includes(secret), `the tombstone holds token #${index}`).toBe(false);
  });
  return (stored as { floor: StoredLoginKey }).floor;
}
