// Managers that share only a storage object (no channel): one refresh per cycle, no refresh token sent twice.
import { afterEach, expect, it } from 'vitest';
import { createTokenManager } from '#built';
import { jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function server() {
  const received: (string | null)[] = [];
  const valid = new Set<string>(['rt-0']);
  let i = 0;
  let reuse = 0;
  const refresh = async ({ refreshToken }: { refreshToken: string | null }) => {
    received.push(refreshToken);
    await sleep(20);
    if (!refreshToken || !valid.has(refreshToken)) {
      reuse += 1;
      const { RefreshRejectedError } = await import('#built');
      throw new RefreshRejectedError('reuse');
    }
    valid.delete(refreshToken);
    i += 1;
    valid.add(`rt-${i}`);
    return { accessToken: jwt(3600), refreshToken: `rt-${i}` };
  };
  return { refresh, received, reuse: () => reuse };
}

for (const kind of ['sync', 'async'] as const) {
  it(`${kind} storage object shared by 3 managers with channel false: 30 concurrent getAccessToken on an expired session → one refresh call`, async () => {
    const m = new Map<string, string>();
    const storage =
      kind === 'sync'
        ? {
            getItem: (k: string) => m.get(k) ?? null,
            setItem: (k: string, v: string) => void m.set(k, v),
            removeItem: (k: string) => void m.delete(k),
          }
        : {
            getItem: async (k: string) => m.get(k) ?? null,
            setItem: async (k: string, v: string) => void m.set(k, v),
            removeItem: async (k: string) => void m.delete(k),
          };
    const srv = server();
    const seed = createTokenManager({ channel: false, storage, refresh: srv.refresh });
    await seed.ready;
    await seed.setTokens({ accessToken: jwt(3600), refreshToken: 'rt-0', expiresIn: 1 });
    seed.destroy();
    await sleep(1100);
    const ms = Array.from({ length: 3 }, () => {
      const a = createTokenManager({ channel: false, storage, refresh: srv.refresh, onResume: () => () => {} });
      a.on('error', () => {});
      cleanups.push(() => a.destroy());
      return a;
    });
    const tokens = await Promise.all(ms.flatMap((a) => Array.from({ length: 10 }, () => a.getAccessToken())));
    expect(srv.reuse()).toBe(0);
    expect(srv.received).toEqual(['rt-0']);
    expect(new Set(tokens).size).toBe(1);
  });
}
