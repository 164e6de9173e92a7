// Ordering of logins and logouts across managers on one channel, whatever the clocks say.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Manager = ReturnType<typeof createTokenManager>;
type EnvFor = (i: number) => Record<string, unknown> | undefined;

// n managers on one fresh channel; the overloads give the tuple the tests destructure
function tabs(n: 1, envFor?: EnvFor, storage?: unknown): [Manager];
function tabs(n: 2, envFor?: EnvFor, storage?: unknown): [Manager, Manager];
function tabs(n: number, envFor: EnvFor = () => undefined, storage?: unknown): Manager[] {
  const ch = `order-${Math.random()}`;
  return Array.from({ length: n }, (_, i) => {
    const m = createTokenManager({
      channel: ch,
      refresh: async () => ({ accessToken: jwt(3600), refreshToken: `r-${Math.random()}` }),
      ...(envFor(i) ? { environment: envFor(i) } : {}),
      ...(storage ? { storage } : {}),
    } as never);
    m.on('error', () => {});
    cleanups.push(() => m.destroy());
    return m;
  });
}

describe('logins and logouts ordered by call, not by clock', () => {
  // Neither tab can have heard of the other's call: they are concurrent, and either may win (README, "Status";
  // the model test's I8 orders calls only by what a tab has heard). What must hold is that the tabs agree, and
  // that a logout that wins leaves no session behind.
  it('A.setTokens then, in the same tick, B.logout() in a signed-out tab with memory storage: concurrent calls, the tabs agree', async () => {
    const [a, b] = tabs(2);
    await Promise.all([a.ready, b.ready]);
    const p1 = a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    const p2 = b.logout();
    await Promise.all([p1, p2]);
    await sleep(100);
    const [first, second] = [a.getState(), b.getState()];
    expect(first.status).toBe(second.status);
    expect(first.accessToken).toBe(second.accessToken);
  });

  it("B.logout() then, in the same tick, A.setTokens: A's login (called later) survives everywhere", async () => {
    const [a, b] = tabs(2);
    await Promise.all([a.ready, b.ready]);
    const p2 = b.logout();
    const p1 = a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    await Promise.all([p1, p2]);
    await sleep(100);
    expect([a.getState().status, b.getState().status]).toEqual(['authenticated', 'authenticated']);
  });

  it('A logs in, B (clock 1 h behind) hears it and logs out: the logout wins in both', async () => {
    const [a, b] = tabs(2, (i) => (i === 1 ? { now: () => Date.now() - 3600_000 } : undefined));
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    await sleep(30);
    expect(b.getState().status).toBe('authenticated');
    await b.logout();
    await sleep(50);
    expect([a.getState().status, b.getState().status]).toEqual(['unauthenticated', 'unauthenticated']);
  });

  it('B (clock 1 h ahead) logs out, then A (correct clock) logs in anew: the new login survives in both', async () => {
    const [a, b] = tabs(2, (i) => (i === 1 ? { now: () => Date.now() + 3600_000 } : undefined));
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    await sleep(30);
    await b.logout();
    await sleep(30);
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'rb' });
    await sleep(50);
    expect([a.getState().status, b.getState().status]).toEqual(['authenticated', 'authenticated']);
  });

  it('a new manager opened after a logout (clock 1 h behind, shared storage) does not resurrect anything', async () => {
    const m = new Map<string, string>();
    const storage = {
      getItem: (k: string) => m.get(k) ?? null,
      setItem: (k: string, v: string) => void m.set(k, v),
      removeItem: (k: string) => void m.delete(k),
    };
    const [a, b] = tabs(2, () => undefined, storage);
    await a.setTokens({ accessToken: jwt(3600), refreshToken: 'ra' });
    await sleep(20);
    await b.logout();
    await sleep(20);
    const [c] = tabs(1, () => ({ now: () => Date.now() - 3600_000 }), storage);
    await c.ready;
    expect(c.getState().status).toBe('unauthenticated');
    await sleep(50);
    expect([a.getState().status, b.getState().status, c.getState().status]).toEqual([
      'unauthenticated',
      'unauthenticated',
      'unauthenticated',
    ]);
  });
});
