// The demo server's store (demo/server/store.mjs and redis-store.mjs): every behaviour against the in-memory store
// and against a real Redis (see test/support/redis.ts). The memory store runs on a fake clock; Redis on the real
// one, since its keys expire in Redis's own time, so its waits are kept to a few short ones.
import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuthStore, loadRedisStore, loadStore } from '../support/demo-server';
import { setupRedisServer } from '../support/redis';

const { createMemoryStore, hashToken } = await loadStore();
const { createRedisStore } = await loadRedisStore();
const redis = setupRedisServer('test/server/store.test.ts');

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const DAY_MS = 24 * 60 * 60 * 1000;

interface Variant {
  name: string;
  /** A fresh, empty store. */
  create(): Promise<AuthStore>;
  /** Another store on the same data (another process, for Redis; the same object, in memory). */
  twin(store: AuthStore): Promise<AuthStore>;
  now(): number;
  /** Lets `ms` pass: the fake clock moves for memory, real time for Redis. */
  pass(ms: number): Promise<void>;
}

const opened: AuthStore[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
});

function memoryVariant(): Variant {
  let clock = Date.UTC(2030, 0, 1);
  return {
    name: 'memory',
    async create() {
      return createMemoryStore({ now: () => clock });
    },
    async twin(store) {
      return store;
    },
    now: () => clock,
    async pass(ms) {
      clock += ms;
    },
  };
}

function redisVariant(server: { readonly url: string }): Variant {
  const prefixes = new WeakMap<AuthStore, string>();
  const open = async (prefix: string) => {
    const store = await createRedisStore({ url: server.url, prefix });
    prefixes.set(store, prefix);
    opened.push(store);
    return store;
  };
  return {
    name: 'redis',
    // A prefix per test: one Redis, no test sees another's keys.
    create: () => open(`test:${randomUUID()}:`),
    twin: (store) => open(prefixes.get(store)!),
    now: () => Date.now(),
    pass: sleep,
  };
}

const variants: Variant[] = [memoryVariant(), ...(redis ? [redisVariant(redis)] : [])];

describe.each(variants)('$name store', (variant) => {
  const expiry = () => variant.now() + DAY_MS;
  const rotate = (store: AuthStore, token: string, nextToken: string, graceMs = 0) =>
    store.rotateRefreshToken({ token, nextToken, expiresAtMs: expiry(), graceMs });

  describe('deny-list', () => {
    it('denies a jti until its expiry, then forgets it (and refresh tokens too, once expired)', async () => {
      const store = await variant.create();
      const other = await variant.twin(store);
      await store.denyAccessToken('jti-1', variant.now() + 1_000);
      await store.createFamily({ user: 'ada', token: 'rt-short', expiresAtMs: variant.now() + 1_000 });
      expect(await other.isAccessTokenDenied('jti-1')).toBe(true);
      expect(await other.isAccessTokenDenied('jti-2')).toBe(false);
      expect(await store.countDenied()).toBe(1);

      await variant.pass(1_050);

      expect(await store.isAccessTokenDenied('jti-1')).toBe(false);
      expect(await store.countDenied()).toBe(0);
      expect(await rotate(store, 'rt-short', 'rt-next')).toEqual({ status: 'unknown' });
    });

    it('does not store a jti whose token has expired already', async () => {
      const store = await variant.create();
      await store.denyAccessToken('old', variant.now() - 1);
      expect(await store.isAccessTokenDenied('old')).toBe(false);
      expect(await store.countDenied()).toBe(0);
    });
  });

  describe('refresh-token rotation', () => {
    it('rotates the current token once, and its successor after it', async () => {
      const store = await variant.create();
      const { family, version } = await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      expect(version).toBe(0);
      expect(await rotate(store, 'rt-1', 'rt-2')).toEqual({
        status: 'rotated',
        user: 'ada',
        family,
        version: 0,
        graced: false,
      });
      expect(await rotate(store, 'rt-2', 'rt-3')).toMatchObject({ status: 'rotated', family, graced: false });
      expect(await rotate(store, 'never-issued', 'rt-x')).toEqual({ status: 'unknown' });
    });

    it('takes a rotated token presented again for reuse and revokes the whole family', async () => {
      const store = await variant.create();
      await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      await rotate(store, 'rt-1', 'rt-2');

      expect(await rotate(store, 'rt-1', 'rt-thief')).toEqual({ status: 'reused' });
      // The legitimate successor dies with the family, and so does the token the thief asked for.
      expect(await rotate(store, 'rt-2', 'rt-3')).toEqual({ status: 'revoked' });
      expect(await rotate(store, 'rt-thief', 'rt-4')).toEqual({ status: 'unknown' });
    });

    it('rotates one token exactly once under 20 concurrent calls (from two store instances)', async () => {
      const first = await variant.create();
      const second = await variant.twin(first);
      await first.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });

      const results = await Promise.all(
        Array.from({ length: 20 }, (_, index) => rotate(index % 2 ? second : first, 'rt-1', `rt-next-${index}`)),
      );
      const statuses = results.map((result) => result.status);
      expect(statuses.filter((status) => status === 'rotated')).toHaveLength(1);
      // The first loser is reuse, which revokes the family; every later one finds it revoked.
      expect(statuses.filter((status) => status === 'reused')).toHaveLength(1);
      expect(statuses.filter((status) => status === 'revoked')).toHaveLength(18);
    });

    it('within the grace period, rotates a replayed token again while its successor is unused, replacing that successor', async () => {
      const store = await variant.create();
      const { family } = await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      await rotate(store, 'rt-1', 'rt-2', 10_000);
      // The answer with rt-2 was lost (a tab closed mid-refresh): the client tries rt-1 again.
      expect(await rotate(store, 'rt-1', 'rt-2b', 10_000)).toEqual({
        status: 'rotated',
        user: 'ada',
        family,
        version: 0,
        graced: true,
      });
      expect(await rotate(store, 'rt-2b', 'rt-3b', 10_000)).toMatchObject({ status: 'rotated', graced: false });
      // rt-2 was never seen by the client that retried: if it comes back, someone else holds it (a thief who
      // replayed rt-1, or the user whose successor the thief's replay replaced). Reuse: the family is revoked.
      expect(await rotate(store, 'rt-2', 'rt-3', 10_000)).toEqual({ status: 'reused' });
      expect(await rotate(store, 'rt-3b', 'rt-4b', 10_000)).toEqual({ status: 'revoked' });
    });

    it('within the grace period, still takes a replay for reuse once the successor was used', async () => {
      const store = await variant.create();
      await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      await rotate(store, 'rt-1', 'rt-2', 10_000);
      await rotate(store, 'rt-2', 'rt-3', 10_000);
      expect(await rotate(store, 'rt-1', 'rt-x', 10_000)).toEqual({ status: 'reused' });
      expect(await rotate(store, 'rt-3', 'rt-4', 10_000)).toEqual({ status: 'revoked' });
    });

    it('after the grace period, takes a replay for reuse even while the successor is unused', async () => {
      const store = await variant.create();
      await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      await rotate(store, 'rt-1', 'rt-2', 300);
      await variant.pass(350);
      expect(await rotate(store, 'rt-1', 'rt-x', 300)).toEqual({ status: 'reused' });
      expect(await rotate(store, 'rt-2', 'rt-3', 300)).toEqual({ status: 'revoked' });
    });

    it('with a grace period, leaves exactly one live successor after 10 concurrent replays; any other one is reuse', async () => {
      const first = await variant.create();
      const second = await variant.twin(first);
      // Two families, each replayed 10 times at once: one shows that no two successors are live, the other that
      // one is (presenting a dead successor revokes its family, so one family cannot show both).
      const replays = async (name: string) => {
        await first.createFamily({ user: 'ada', token: `${name}-1`, expiresAtMs: expiry() });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, index) =>
            rotate(index % 2 ? second : first, `${name}-1`, `${name}-next-${index}`, 10_000),
          ),
        );
        expect(results.every((result) => result.status === 'rotated')).toBe(true);
        expect(results.filter((result) => result.status === 'rotated' && !result.graced)).toHaveLength(1);
        return Array.from({ length: 10 }, (_, index) => `${name}-next-${index}`);
      };
      const [atMostOne, atLeastOne] = await Promise.all([replays('rt-a'), replays('rt-b')]);

      const later = [];
      for (const token of atMostOne) later.push((await rotate(first, token, `${token}-after`)).status);
      // At most the live one rotates, if it comes before any replaced one; the first replaced one is reuse, and
      // revokes the family for every token after it.
      expect(later.filter((status) => status === 'rotated').length).toBeLessThanOrEqual(1);
      expect(later.filter((status) => status === 'reused')).toHaveLength(1);
      expect(later.filter((status) => status === 'unknown')).toHaveLength(0);
      expect(later.slice(later.indexOf('reused') + 1).every((status) => status === 'revoked')).toBe(true);

      // Another replay of the original is graced: the family's current token (one of the ten) is live and unused.
      expect(await rotate(first, 'rt-b-1', 'rt-b-probe', 10_000)).toMatchObject({ status: 'rotated', graced: true });
      expect(await rotate(first, atLeastOne[0]!, 'rt-b-x')).toEqual({ status: 'reused' });
    });
  });

  describe('logout and token versions', () => {
    it('revokes the family of a refresh token, and says when the token is unknown', async () => {
      const store = await variant.create();
      await store.createFamily({ user: 'ada', token: 'rt-1', expiresAtMs: expiry() });
      await rotate(store, 'rt-1', 'rt-2');
      expect(await store.revokeFamilyOf('rt-1')).toBe(true);
      expect(await rotate(store, 'rt-2', 'rt-3')).toEqual({ status: 'revoked' });
      expect(await store.revokeFamilyOf('never-issued')).toBe(false);
    });

    it('counts token versions per user, and outdates the families issued before a bump', async () => {
      const store = await variant.create();
      const other = await variant.twin(store);
      expect(await store.getUserVersion('ada')).toBe(0);
      await store.createFamily({ user: 'ada', token: 'rt-phone', expiresAtMs: expiry() });
      await store.createFamily({ user: 'bob', token: 'rt-bob', expiresAtMs: expiry() });

      expect(await other.bumpUserVersion('ada')).toBe(1);
      expect(await store.bumpUserVersion('ada')).toBe(2);
      expect(await store.getUserVersion('ada')).toBe(2);
      expect(await store.getUserVersion('bob')).toBe(0);

      expect(await rotate(store, 'rt-phone', 'rt-phone-2')).toEqual({ status: 'outdated' });
      // Outdated once is revoked for good.
      expect(await rotate(store, 'rt-phone', 'rt-phone-3')).toEqual({ status: 'revoked' });
      // Another user's family is untouched, and a family started now carries the new version.
      expect(await rotate(store, 'rt-bob', 'rt-bob-2')).toMatchObject({ status: 'rotated', version: 0 });
      expect(await store.createFamily({ user: 'ada', token: 'rt-laptop', expiresAtMs: expiry() })).toMatchObject({
        version: 2,
      });
      expect(await rotate(store, 'rt-laptop', 'rt-laptop-2')).toMatchObject({ status: 'rotated', version: 2 });
    });
  });
});

describe.runIf(redis !== null)('redis store: what it writes', () => {
  it('keeps refresh tokens hashed, and gives every key but the token versions an expiry', async () => {
    const prefix = `test:${randomUUID()}:`;
    const store = await createRedisStore({ url: redis!.url, prefix });
    opened.push(store);
    const client = createClient({ url: redis!.url });
    await client.connect();
    try {
      const token = `rt_${randomUUID()}`;
      await store.createFamily({ user: 'ada', token, expiresAtMs: Date.now() + DAY_MS });
      await store.rotateRefreshToken({
        token,
        nextToken: `${token}-next`,
        expiresAtMs: Date.now() + DAY_MS,
        graceMs: 0,
      });
      await store.denyAccessToken('jti-1', Date.now() + 60_000);
      await store.bumpUserVersion('ada');

      const keys: string[] = [];
      for await (const batch of client.scanIterator({ MATCH: `${prefix}*` })) keys.push(...batch);
      expect(keys.sort().map((key) => key.slice(prefix.length).split(':')[0])).toEqual([
        'deny',
        'family',
        'rt',
        'rt',
        'version',
      ]);
      expect(keys).toContain(`${prefix}rt:${hashToken(token)}`);
      for (const key of keys) {
        const ttl = await client.pTTL(key);
        if (key.startsWith(`${prefix}version:`)) expect(ttl, key).toBe(-1);
        else expect(ttl, key).toBeGreaterThan(0);
        const value =
          key.includes(':rt:') || key.includes(':family:') ? await client.hGetAll(key) : await client.get(key);
        expect(`${key} ${JSON.stringify(value)}`).not.toContain(token);
      }
      expect(await client.pTTL(`${prefix}deny:jti-1`)).toBeLessThanOrEqual(60_000);
    } finally {
      await client.close();
    }
  });
});
