// Where the server keeps what a stateless JWT cannot say by itself: which access tokens were logged out before
// they expire (the deny-list), which refresh tokens exist and which were already used (refresh-token families),
// and each user's token version (for "log out everywhere"). One small async interface, two implementations: this
// file's in-memory store (one process; the default) and redis-store.mjs (several processes share one Redis).
//
// A store never holds a usable refresh token: it is given the token and keeps its SHA-256 only, so a leaked
// database or Redis dump cannot be replayed. A plain hash (no salt, no slow KDF) is enough because the tokens are
// 256 random bits, not passwords: there is nothing to guess.
import { createHash, randomUUID } from 'node:crypto';

/**
 * What `rotateRefreshToken` decided. Only `rotated` lets the caller answer with new tokens.
 * - `rotated`: the token was the family's current one (or a replay inside the grace period, `graced: true`); the
 *   next token is now the family's current one.
 * - `unknown`: never issued, or expired.
 * - `revoked`: its family was revoked (logout, or an earlier reuse).
 * - `outdated`: its family was issued before the user's last "log out everywhere"; the family is revoked now.
 * - `reused`: an already rotated token came back outside the grace period, or a successor that a grace rotation
 *   replaced came back at all: two parties hold the family. The whole family is revoked now (RFC 9700 §4.14.2), so
 *   the thief's and the user's tokens both stop working.
 * @typedef {{ status: 'rotated', user: string, family: string, version: number, graced: boolean }
 *   | { status: 'unknown' | 'revoked' | 'outdated' | 'reused' }} RotateResult
 */

/**
 * The store interface the server is written against. Every method is async, so an implementation may live in
 * another process; each one is atomic on its own (the server never needs a transaction across two calls).
 *
 * @typedef {object} AuthStore
 * @property {(jti: string, expiresAtMs: number) => Promise<void>} denyAccessToken
 *   Puts an access token's `jti` on the deny-list until `expiresAtMs` (the token's `exp`), after which the store
 *   forgets it: an expired token is refused anyway, so the list never grows past the tokens still alive.
 * @property {(jti: string) => Promise<boolean>} isAccessTokenDenied
 * @property {(user: string) => Promise<number>} getUserVersion The user's token version; 0 until first bumped.
 * @property {(user: string) => Promise<number>} bumpUserVersion
 *   Adds 1 to the user's token version and answers the new one: every access token (claim `ver`) and refresh
 *   family issued under an older version is refused from now on.
 * @property {(input: { user: string, token: string, expiresAtMs: number }) => Promise<{ family: string, version: number }>} createFamily
 *   Starts a refresh-token family at login, with `token` as its current token (valid until `expiresAtMs`), under
 *   the user's current token version, which it answers (the access token carries it as `ver`).
 * @property {(input: { token: string, nextToken: string, expiresAtMs: number, graceMs: number }) => Promise<RotateResult>} rotateRefreshToken
 *   Uses `token` once: when it is its family's current token, `nextToken` (valid until `expiresAtMs`) takes its
 *   place. Within `graceMs` of its rotation, a rotated token whose successor was never used rotates again, and that
 *   unused successor is replaced: the answer of the first rotation was lost (a tab closed mid-refresh, a dropped
 *   connection), so the client never saw that successor. A replaced successor that comes back anyway was seen by
 *   someone: the old token had two holders (a thief replayed it inside the grace period), so it is `reused`.
 *   Atomic, also across processes: of N concurrent calls with one token and no grace, one is `rotated` and the next
 *   `reused`; with a grace, each is `rotated`, exactly one of their `nextToken`s stays valid, and presenting any
 *   other one is `reused`.
 * @property {(token: string) => Promise<boolean>} revokeFamilyOf
 *   Revokes the family of a refresh token (logout); false when the token is unknown.
 * @property {() => Promise<number>} countDenied How many access tokens are on the deny-list now (tests, dashboards).
 * @property {() => Promise<void>} close Releases connections; the store is unusable afterwards.
 */

/** The form in which a store keeps a refresh token: hex SHA-256. */
export function hashToken(token) {
  return createHash('sha256').update(token).digest('hex');
}

/** How often, at most, the memory store walks its maps for expired entries (reads drop them one by one anyway). */
const SWEEP_INTERVAL_MS = 60_000;

/**
 * The in-memory store: for one server process (the default). Everything is lost when the process exits, which
 * logs every user out; that is fine for a demo and for tests, not for production behind a load balancer.
 *
 * Each method runs to its end without an `await`, so in one Node process it is atomic without a lock.
 * @param {object} [options]
 * @param {() => number} [options.now] the clock, in ms since the epoch; tests pass a fake one
 * @returns {AuthStore}
 * @example
 * const store = createMemoryStore();
 * await store.denyAccessToken('a1b2', Date.now() + 20_000);
 */
export function createMemoryStore(options = {}) {
  const now = options.now ?? (() => Date.now());
  /** jti → `{ expiresAtMs }` */
  const denied = new Map();
  /**
   * refresh-token hash → `{ family, rotatedAtMs: number | null, successor: string | null, replaced, expiresAtMs }`;
   * `replaced`: a grace rotation handed out another token in its place (see `rotateRefreshToken`).
   */
  const tokens = new Map();
  /** family id → `{ user, version, revoked, expiresAtMs }` */
  const families = new Map();
  /** user → token version (kept forever: it must outlive every token issued under it) */
  const versions = new Map();
  let nextSweepAtMs = now() + SWEEP_INTERVAL_MS;

  /** The entry for `key`, or `undefined` once it has expired (then it is dropped). */
  const live = (map, key) => {
    const entry = map.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs > now()) return entry;
    map.delete(key);
    return undefined;
  };
  const sweep = (force = false) => {
    if (!force && now() < nextSweepAtMs) return;
    nextSweepAtMs = now() + SWEEP_INTERVAL_MS;
    for (const map of [denied, tokens, families]) {
      for (const key of [...map.keys()]) live(map, key);
    }
  };
  const versionOf = (user) => versions.get(user) ?? 0;

  return {
    async denyAccessToken(jti, expiresAtMs) {
      sweep();
      if (expiresAtMs > now()) denied.set(jti, { expiresAtMs });
    },
    async isAccessTokenDenied(jti) {
      return live(denied, jti) !== undefined;
    },
    async getUserVersion(user) {
      return versionOf(user);
    },
    async bumpUserVersion(user) {
      const version = versionOf(user) + 1;
      versions.set(user, version);
      return version;
    },
    async createFamily({ user, token, expiresAtMs }) {
      sweep();
      const family = randomUUID();
      const version = versionOf(user);
      families.set(family, { user, version, revoked: false, expiresAtMs });
      tokens.set(hashToken(token), { family, rotatedAtMs: null, successor: null, replaced: false, expiresAtMs });
      return { family, version };
    },
    async rotateRefreshToken({ token, nextToken, expiresAtMs, graceMs }) {
      sweep();
      const entry = live(tokens, hashToken(token));
      if (!entry) return { status: 'unknown' };
      const family = live(families, entry.family);
      if (!family || family.revoked) return { status: 'revoked' };
      if (family.version < versionOf(family.user)) {
        family.revoked = true;
        return { status: 'outdated' };
      }
      if (entry.replaced) {
        // Its rotation's answer was said to be lost, yet someone holds it: whoever replayed the old token is not
        // the only holder of the family.
        family.revoked = true;
        return { status: 'reused' };
      }
      let graced = false;
      if (entry.rotatedAtMs !== null) {
        const successor = live(tokens, entry.successor);
        if (now() - entry.rotatedAtMs < graceMs && successor?.rotatedAtMs === null) {
          // Kept, not deleted: if it ever comes back, that is reuse (and a logout with it still finds the family).
          successor.replaced = true;
          graced = true;
        } else {
          family.revoked = true;
          return { status: 'reused' };
        }
      } else {
        entry.rotatedAtMs = now();
      }
      const nextHash = hashToken(nextToken);
      entry.successor = nextHash;
      tokens.set(nextHash, { family: entry.family, rotatedAtMs: null, successor: null, replaced: false, expiresAtMs });
      // The family lives as long as its newest token.
      family.expiresAtMs = Math.max(family.expiresAtMs, expiresAtMs);
      return { status: 'rotated', user: family.user, family: entry.family, version: family.version, graced };
    },
    async revokeFamilyOf(token) {
      const entry = live(tokens, hashToken(token));
      const family = entry && live(families, entry.family);
      if (!family) return false;
      family.revoked = true;
      return true;
    },
    async countDenied() {
      sweep(true);
      return denied.size;
    },
    async close() {},
  };
}
