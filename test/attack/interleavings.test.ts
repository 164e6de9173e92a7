// fast-check over interleavings of setTokens / logout / refresh / getAccessToken / fetch-401 / expiry across
// three managers on one named channel (Node BroadcastChannel), with a rotating refresh server with reuse detection.
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Op =
  | { k: 'login'; tab: number }
  | { k: 'logout'; tab: number }
  | { k: 'refresh'; tab: number }
  | { k: 'get'; tab: number }
  | { k: 'fetch'; tab: number }
  | { k: 'wait'; ms: number };

const opArb = (tabs: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ k: fc.constant('login' as const), tab: fc.nat(tabs - 1) }),
    fc.record({ k: fc.constant('logout' as const), tab: fc.nat(tabs - 1) }),
    fc.record({ k: fc.constant('refresh' as const), tab: fc.nat(tabs - 1) }),
    fc.record({ k: fc.constant('get' as const), tab: fc.nat(tabs - 1) }),
    fc.record({ k: fc.constant('fetch' as const), tab: fc.nat(tabs - 1) }),
    fc.record({ k: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 25 }) }),
  );

async function run(ops: Op[], delays: number[], sharedStorage: boolean) {
  const ch = `il-${Math.random()}`;
  const valid = new Map<string, string>(); // refresh token -> login family
  const received: string[] = [];
  let reuse = 0;
  let issued = 0;
  let di = 0;
  const familyOf = new Map<string, string>();
  const issue = (family: string) => {
    issued += 1;
    const rt = `rt-${issued}`;
    valid.set(rt, family);
    const at = jwt(3600, { fam: family });
    familyOf.set(at, family);
    return { accessToken: at, refreshToken: rt };
  };
  const refresh = async ({ refreshToken }: { refreshToken: string | null }) => {
    if (refreshToken) received.push(refreshToken);
    await sleep(delays[di++ % delays.length]!); // fast-check gives at least one delay
    const fam = refreshToken ? valid.get(refreshToken) : undefined;
    if (!refreshToken || !fam) {
      reuse += 1;
      const { RefreshRejectedError } = await import('#built');
      throw new RefreshRejectedError('reuse');
    }
    valid.delete(refreshToken);
    return issue(fam);
  };
  const m = new Map<string, string>();
  const storage = {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
  let hits = 0;
  const api = (async () => {
    hits += 1;
    return new Response('', { status: hits % 2 ? 401 : 200 });
  }) as typeof fetch;
  const tabs: Manager[] = Array.from({ length: 3 }, () => {
    const t = createTokenManager({
      channel: ch,
      refresh,
      fetch: api,
      allowedOrigins: ['https://api.test'],
      ...(sharedStorage ? { storage } : {}),
      onResume: () => () => {},
    } as never);
    t.on('error', () => {});
    cleanups.push(() => t.destroy());
    return t;
  });
  await Promise.all(tabs.map((t) => t.ready));
  const pending: Promise<unknown>[] = [];
  let family = 0;
  const log: string[] = [];
  let lastLoginResolvedAt = -1;
  let lastLogoutResolvedAt = -1;
  let lastLoginCalledAt = -1;
  let clock = 0;
  for (const op of ops) {
    clock += 1;
    const at = clock;
    if (op.k === 'wait') {
      await sleep(op.ms);
      continue;
    }
    const t = tabs[op.tab]!; // op.tab < tabs.length (opArb(3))
    log.push(`${op.k}@${op.tab}`);
    switch (op.k) {
      case 'login': {
        family += 1;
        lastLoginCalledAt = at;
        pending.push(
          t.setTokens(issue(`f${family}`)).then(
            () => {
              lastLoginResolvedAt = Math.max(lastLoginResolvedAt, at);
            },
            () => {},
          ),
        );
        break;
      }
      case 'logout':
        pending.push(
          t.logout().then(() => {
            lastLogoutResolvedAt = Math.max(lastLogoutResolvedAt, at);
          }),
        );
        break;
      case 'refresh':
        pending.push(t.refresh().catch(() => {}));
        break;
      case 'get':
        pending.push(t.getAccessToken().catch(() => {}));
        break;
      case 'fetch':
        pending.push(t.fetch('https://api.test/x').catch(() => {}));
        break;
    }
  }
  await Promise.all(pending);
  await sleep(150);
  const states = tabs.map((t) => t.getState());
  return { states, reuse, received, log, lastLoginCalledAt, lastLogoutResolvedAt, lastLoginResolvedAt, storage: m };
}

for (const shared of [false, true]) {
  it(`interleavings (${shared ? 'shared storage object' : 'memory storage'}): no refresh token reuse, tabs converge, a final logout leaves nobody signed in`, async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`interleavings shared=${shared} seed`, seed);
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb(3), { minLength: 1, maxLength: 14 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 1, maxLength: 5 }),
        async (ops, delays) => {
          const r = await run(ops, delays, shared);
          while (cleanups.length) await cleanups.pop()!();
          const ctx = `${r.log.join(' ')} | states ${r.states.map((s) => s.status).join(',')}`;
          expect(r.reuse, `reuse: ${ctx}`).toBe(0);
          expect(new Set(r.received).size, `refresh token sent twice: ${r.received.join(',')} ${ctx}`).toBe(
            r.received.length,
          );
          const statuses = new Set(r.states.map((s) => s.status));
          expect(statuses.size, `tabs disagree: ${ctx}`).toBe(1);
          expect(new Set(r.states.map((s) => s.accessToken)).size, `tabs hold different tokens: ${ctx}`).toBe(1);
          // the last login/logout op: if it is a logout, nobody is signed in at the end
          const last = [...ops].reverse().find((o) => o.k === 'login' || o.k === 'logout');
          if (last?.k === 'logout') {
            // only when a logout came after every login in call order AND in a later macrotask (a 'wait' in between)
            const idxLogout = ops.lastIndexOf(last);
            const idxLogin = ops.findLastIndex((o) => o.k === 'login');
            const waitBetween = ops.slice(idxLogin + 1, idxLogout).some((o) => o.k === 'wait' && o.ms >= 5);
            if (idxLogin === -1 || waitBetween)
              expect(r.states[0]!.status, `final logout did not end the session: ${ctx}`).toBe('unauthenticated');
          }
          if (shared && r.states[0]!.status === 'unauthenticated') {
            expect(r.storage.get('tokenkeeper') ?? '', `storage keeps a session: ${ctx}`).not.toMatch(/"session":\{/);
          }
        },
      ),
      { seed, numRuns: Number(process.env.FC_RUNS ?? 40), endOnFailure: true },
    );
  }, 120_000);
}
