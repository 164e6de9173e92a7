// The store of store.mjs on Redis, so that several server processes (behind a load balancer, or two terminals
// running main.mjs with one REDIS_URL) share the deny-list, the refresh-token families and the token versions and
// behave as one server.
//
// Keys (all under `prefix`):
//   deny:<jti>        "1", expiring when the server says (SET … PXAT): Redis forgets it by itself. app.mjs asks for
//                     the token's `exp` plus a minute, since Redis expires keys on its own clock, not the server's.
//   rt:<sha256>       hash { family, rotatedAt (ms, "0" while current), successor (sha256 or ""), replaced ("0"/"1":
//                     a grace rotation handed out another token in its place) }, expiring with the refresh token.
//   family:<id>       hash { user, version, revoked ("0"/"1") }, expiring with its newest refresh token.
//   version:<user>    integer, no expiry: it must outlive every token issued under it.
//
// Rotation reads a token, its family, its successor and the user's version, then writes: a Lua script does all of
// it inside Redis, where no other command runs in between, so N concurrent refreshes with one token (from any
// number of processes) see each other's writes, one after the other. The script builds the family, successor and
// version key names itself, which one Redis (or a primary with replicas) allows; Redis Cluster would need every key
// passed in KEYS with a shared hash tag, a change this demo does not make.
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { hashToken } from './store.mjs';

/** @typedef {import('./store.mjs').AuthStore} AuthStore */
/** @typedef {import('./store.mjs').RotateResult} RotateResult */

// KEYS[1] the presented token's key, KEYS[2] the next token's key.
// ARGV: prefix, now (ms), grace (ms), next token's expiry (ms), next token's hash.
// Answers { status } or { 'rotated', user, version, family, graced (0/1) }, as rotateRefreshToken in store.mjs.
const ROTATE_SCRIPT = `
local prefix, now, grace, expiresAt, nextHash = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local token = redis.call('HMGET', KEYS[1], 'family', 'rotatedAt', 'successor', 'replaced')
if not token[1] then return { 'unknown' } end
local familyKey = prefix .. 'family:' .. token[1]
local family = redis.call('HMGET', familyKey, 'user', 'version', 'revoked')
if not family[1] or family[3] == '1' then return { 'revoked' } end
local currentVersion = tonumber(redis.call('GET', prefix .. 'version:' .. family[1]) or '0')
if tonumber(family[2]) < currentVersion then
  redis.call('HSET', familyKey, 'revoked', '1')
  return { 'outdated' }
end
-- A successor that a grace rotation replaced was never meant to be seen: someone else holds the family.
if token[4] == '1' then
  redis.call('HSET', familyKey, 'revoked', '1')
  return { 'reused' }
end
local graced = 0
local rotatedAt = tonumber(token[2])
if rotatedAt > 0 then
  local successorKey = prefix .. 'rt:' .. token[3]
  if now - rotatedAt < grace and redis.call('HGET', successorKey, 'rotatedAt') == '0' then
    -- Kept, not deleted: if it ever comes back, that is reuse (and a logout with it still finds the family).
    redis.call('HSET', successorKey, 'replaced', '1')
    graced = 1
  else
    redis.call('HSET', familyKey, 'revoked', '1')
    return { 'reused' }
  end
else
  redis.call('HSET', KEYS[1], 'rotatedAt', ARGV[2])
end
redis.call('HSET', KEYS[1], 'successor', nextHash)
redis.call('HSET', KEYS[2], 'family', token[1], 'rotatedAt', '0', 'successor', '', 'replaced', '0')
redis.call('PEXPIREAT', KEYS[2], expiresAt)
-- The family lives as long as its newest token (every token has the same lifetime, so the newest ends last).
redis.call('PEXPIREAT', familyKey, expiresAt)
return { 'rotated', family[1], family[2], token[1], graced }
`;

// KEYS[1] the family's key, KEYS[2] the token's key, KEYS[3] the user's version key. ARGV: user, expiry (ms), family id.
// Reads the version and writes the family in one step, so a concurrent "log out everywhere" is either before
// (the family gets the new version) or after (the family is outdated), never half-seen.
const CREATE_FAMILY_SCRIPT = `
local version = redis.call('GET', KEYS[3]) or '0'
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'version', version, 'revoked', '0')
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'family', ARGV[3], 'rotatedAt', '0', 'successor', '', 'replaced', '0')
redis.call('PEXPIREAT', KEYS[2], ARGV[2])
return version
`;

// KEYS[1] the token's key. ARGV: prefix. Marks the token's family revoked, if both still exist (an HSET on an
// expired family would create a key without expiry). Answers 1 when a family was revoked.
const REVOKE_FAMILY_SCRIPT = `
local family = redis.call('HGET', KEYS[1], 'family')
if not family then return 0 end
local familyKey = ARGV[1] .. 'family:' .. family
if redis.call('EXISTS', familyKey) == 0 then return 0 end
redis.call('HSET', familyKey, 'revoked', '1')
return 1
`;

/**
 * Connects to Redis and answers a store on it. `close()` closes the connection.
 *
 * Before the first connection succeeds nothing is retried, so a wrong URL fails at start-up with Redis's error;
 * once connected, a lost connection is retried with a growing pause (up to 2 s), and the store's calls fail (the
 * server answers 500) until it is back.
 * @param {object} options
 * @param {string} options.url `redis://[[user]:password@]host:port[/db]`
 * @param {string} [options.prefix] put before every key, so several apps (or tests) share one Redis
 * @param {() => number} [options.now] the clock for rotation times, in ms since the epoch
 * @param {(error: Error) => void} [options.onError] errors of the connection after start-up (the client would
 *   otherwise throw them as an unhandled 'error' event)
 * @returns {Promise<AuthStore>}
 * @default prefix 'tokenkeeper:'
 * @example
 * const store = await createRedisStore({ url: process.env.REDIS_URL });
 */
export async function createRedisStore(options) {
  const prefix = options.prefix ?? 'tokenkeeper:';
  const now = options.now ?? (() => Date.now());
  const onError = options.onError ?? ((error) => console.error(`redis: ${error.message}`));
  let connected = false;
  const client = createClient({
    url: options.url,
    socket: {
      reconnectStrategy: (retries, cause) => (connected ? Math.min(retries * 100, 2_000) : cause),
    },
  });
  client.on('error', (error) => {
    if (connected) onError(error);
  });
  await client.connect();
  connected = true;

  const key = {
    deny: (jti) => `${prefix}deny:${jti}`,
    token: (hash) => `${prefix}rt:${hash}`,
    family: (id) => `${prefix}family:${id}`,
    version: (user) => `${prefix}version:${user}`,
  };

  return {
    async denyAccessToken(jti, expiresAtMs) {
      if (expiresAtMs <= now()) return;
      // PXAT: Redis deletes the key when the token expires, so the deny-list only holds live tokens.
      await client.set(key.deny(jti), '1', { expiration: { type: 'PXAT', value: Math.ceil(expiresAtMs) } });
    },
    async isAccessTokenDenied(jti) {
      return (await client.exists(key.deny(jti))) === 1;
    },
    async getUserVersion(user) {
      return Number((await client.get(key.version(user))) ?? 0);
    },
    async bumpUserVersion(user) {
      return client.incr(key.version(user));
    },
    async createFamily({ user, token, expiresAtMs }) {
      const family = randomUUID();
      // EVAL sends the script each time (a few hundred bytes; Redis caches it compiled). A busy server would send
      // its SHA1 instead (EVALSHA, or node-redis's `scripts` option).
      const version = await client.eval(CREATE_FAMILY_SCRIPT, {
        keys: [key.family(family), key.token(hashToken(token)), key.version(user)],
        arguments: [user, String(Math.ceil(expiresAtMs)), family],
      });
      return { family, version: Number(version) };
    },
    async rotateRefreshToken({ token, nextToken, expiresAtMs, graceMs }) {
      const nextHash = hashToken(nextToken);
      const reply = /** @type {Array<string | number>} */ (
        await client.eval(ROTATE_SCRIPT, {
          keys: [key.token(hashToken(token)), key.token(nextHash)],
          arguments: [prefix, String(now()), String(graceMs), String(Math.ceil(expiresAtMs)), nextHash],
        })
      );
      const [status, user, version, family, graced] = reply;
      if (status !== 'rotated') return /** @type {RotateResult} */ ({ status });
      return { status, user: String(user), family: String(family), version: Number(version), graced: graced === 1 };
    },
    async revokeFamilyOf(token) {
      const revoked = await client.eval(REVOKE_FAMILY_SCRIPT, {
        keys: [key.token(hashToken(token))],
        arguments: [prefix],
      });
      return revoked === 1;
    },
    async countDenied() {
      // SCAN walks the key space: fine for tests and a dashboard, not for a hot path.
      let count = 0;
      for await (const keys of client.scanIterator({ MATCH: `${prefix}deny:*`, COUNT: 1000 })) count += keys.length;
      return count;
    },
    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
