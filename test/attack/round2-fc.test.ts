// Round 2: fast-check interleavings of logout() in signed-out tabs (change 3, read of a synchronous shared storage
// object), new in-memory tabs logging out at creation (change 2), and refreshes re-reading storage (change 1).
// Invariants: no refresh token reuse, tabs converge, a login made after every logout resolved survives everywhere.
import fc from 'fast-check';
import { afterEach, expect, it } from 'vitest';
import { createTokenManager, RefreshRejectedError } from '#built';
import { jwt, sleep } from './helpers';

type Manager = ReturnType<typeof createTokenManager>;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Op = { k: 'login' | 'logout' | 'refresh' | 'newtab-logout'; tab: number } | { k: 'wait'; ms: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constantFrom('login' as const, 'logout' as const, 'refresh' as const), tab: fc.nat(2) }),
  fc.record({ k: fc.constant('newtab-logout' as const), tab: fc.nat(2) }),
  fc.record({ k: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 15 }) }),
);

async function run(ops: Op[], shared: boolean) {
  const ch = `fc2-${Math.random()}`;
  const valid = new Set<string>();
  let reuse = 0;
  let n = 0;
  const issue = () => {
    n += 1;
    valid.add(`rt-${n}`);
    return { accessToken: jwt(3600, { n }), refreshToken: `rt-${n}` };
  };
  const refresh = async ({ refreshToken }: { refreshToken: string | null }) => {
    await sleep(3);
    if (!refreshToken || !valid.has(refreshToken)) {
      reuse += 1;
      throw new RefreshRejectedError('reuse');
    }
    valid.delete(refreshToken);
    return issue();
  };
  const m = new Map<string, string>();
  const storage = {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  };
  const mk = () => {
    const t = createTokenManager({
      channel: ch,
      refresh,
      logout: async () => {},
      ...(shared ? { storage } : {}),
      onResume: () => () => {},
    } as never) as Manager;
    t.on('error', () => {});
    cleanups.push(() => t.destroy());
    return t;
  };
  const tabs = [mk(), mk(), mk()];
  await Promise.all(tabs.map((t) => t.ready));
  const pending: Promise<unknown>[] = [];
  for (const op of ops) {
    if (op.k === 'wait') {
      await sleep(op.ms);
      continue;
    }
    const t = tabs[op.tab]!;
    if (op.k === 'login') pending.push(t.setTokens(issue()).catch(() => {}));
    else if (op.k === 'logout') pending.push(t.logout());
    else if (op.k === 'refresh') pending.push(t.refresh().catch(() => {}));
    else {
      const nt = mk();
      pending.push(nt.logout());
      tabs.push(nt);
    }
  }
  await Promise.all(pending);
  await sleep(150);
  const states = tabs.map((t) => t.getState().accessToken);
  // then: a final login after everything settled must survive everywhere (and a reload)
  const fin = issue();
  await tabs[0]!.setTokens(fin);
  await sleep(80);
  const after = [...tabs, mk()];
  await Promise.all(after.map((t) => t.ready));
  const finals = after.map((t) => t.getState().accessToken === fin.accessToken);
  return { states, reuse, finals };
}

for (const shared of [true, false]) {
  it(`fast-check (${shared ? 'shared sync storage object' : 'memory'}): no reuse, tabs converge, a later login survives everywhere`, async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 100000);
    console.log(`[round2] fast-check seed ${seed} (${shared ? 'shared' : 'memory'})`);
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async (ops) => {
        const r = await run(ops, shared);
        while (cleanups.length) await cleanups.pop()!();
        expect(r.reuse).toBe(0);
        expect(new Set(r.states).size).toBe(1);
        expect(r.finals.every(Boolean)).toBe(true);
      }),
      { numRuns: 25, seed },
    );
  }, 120_000);
}
