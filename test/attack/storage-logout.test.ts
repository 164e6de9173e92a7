// Storage that throws / is slow, logout semantics (idempotent, later sessions, reason), restore.
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenManager, NotAuthenticatedError } from '#built';
import { deferred, jwt, sleep } from './helpers';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function mk(extra: Record<string, unknown>) {
  const errors: { code?: string }[] = [];
  const auth = createTokenManager({
    channel: false,
    refresh: async () => ({ accessToken: jwt(3600), refreshToken: `r-${Math.random()}` }),
    ...extra,
  } as never);
  auth.on('error', (e) => errors.push(e.error));
  cleanups.push(() => auth.destroy());
  return { auth, errors };
}

function storage(opts: { failGet?: boolean; failSet?: (v: string) => boolean; failRemove?: boolean } = {}) {
  const m = new Map<string, string>();
  return {
    m,
    getItem: (k: string) => {
      if (opts.failGet) throw new DOMException('denied', 'SecurityError');
      return m.get(k) ?? null;
    },
    setItem: (k: string, v: string) => {
      if (opts.failSet?.(v)) throw new DOMException('full', 'QuotaExceededError');
      m.set(k, v);
    },
    removeItem: (k: string) => {
      if (opts.failRemove) throw new Error('nope');
      m.delete(k);
    },
  };
}

describe('storage that throws', () => {
  it('getItem throws at creation: signed out, one StorageError seen by a listener attached right after creation', async () => {
    const s = storage({ failGet: true });
    const { auth, errors } = mk({ storage: s });
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
    await sleep(10);
    expect(errors.map((e) => e.code)).toContain('storage_failed');
  });

  it('setItem throws on login: session held in memory, StorageError emitted', async () => {
    const s = storage({ failSet: () => true });
    const { auth, errors } = mk({ storage: s });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r1' });
    expect(auth.getState().status).toBe('authenticated');
    await sleep(10);
    expect(errors.some((e) => e.code === 'storage_failed')).toBe(true);
  });

  it('a failed write of a refreshed set removes the superseded set (its refresh token is spent)', async () => {
    let failing = false;
    const s = storage({ failSet: () => failing });
    const { auth } = mk({ storage: s });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r-spent' });
    expect(s.m.get('tokenkeeper')).toContain('r-spent');
    failing = true;
    await auth.refresh();
    await sleep(10);
    expect(s.m.get('tokenkeeper') ?? '').not.toContain('r-spent');
  });

  it('a failed tombstone write on logout removes the ended session; a new manager reading the storage is signed out', async () => {
    const s = storage({ failSet: (v) => v.includes('"session":null') });
    const { auth } = mk({ storage: s });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r-1' });
    await auth.logout();
    expect(s.m.get('tokenkeeper') ?? '').not.toContain('r-1');
    const { auth: b } = mk({ storage: s });
    await b.ready;
    expect(b.getState().status).toBe('unauthenticated');
  });

  it('garbage in storage: signed out, removed, one error', async () => {
    for (const junk of ['{', 'null', '42', '{"v":99}', '{"v":2,"session":{"accessToken":5}}', '[]', '"str"']) {
      const s = storage();
      s.m.set('tokenkeeper', junk);
      const { auth, errors } = mk({ storage: s });
      await auth.ready;
      await sleep(5);
      expect(auth.getState().status, junk).toBe('unauthenticated');
      if (junk !== 'null') {
        expect(
          errors.some((e) => e.code === 'storage_failed'),
          junk,
        ).toBe(true);
        expect(s.m.has('tokenkeeper'), junk).toBe(false);
      }
    }
  });

  it('a storage whose getItem never settles: ready still settles in bounded time (≤ ~2 s)', async () => {
    const { auth } = mk({ storage: { getItem: () => new Promise(() => {}), setItem: () => {}, removeItem: () => {} } });
    const t0 = Date.now();
    await Promise.race([auth.ready, sleep(4000)]);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(auth.getState().status).not.toBe('loading');
  }, 6000);
});

describe('logout', () => {
  it('empty, missing, non-string reason means "user"', async () => {
    for (const reason of [undefined, '', 42, null, {}]) {
      const { auth } = mk({});
      const seen: string[] = [];
      auth.on('logout', (e) => seen.push(e.reason));
      await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
      await auth.logout(reason === undefined ? undefined : ({ reason } as never));
      expect(seen, String(reason)).toEqual(['user']);
    }
  });

  it('idempotent for one session: server told once, one logout event', async () => {
    let calls = 0;
    const { auth } = mk({
      logout: async () => {
        calls += 1;
      },
    });
    const ev: string[] = [];
    auth.on('logout', (e) => ev.push(e.reason));
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    await Promise.all([auth.logout(), auth.logout()]);
    await auth.logout();
    expect(calls).toBe(1);
    expect(ev).toEqual(['user']);
  });

  it('a later session is ended by a later logout, which tells the server about that session', async () => {
    const told: (string | null)[] = [];
    const slow = deferred();
    const { auth } = mk({
      logout: async ({ refreshToken }: { refreshToken: string | null }) => {
        told.push(refreshToken);
        if (told.length === 1) await slow.promise;
      },
    });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'first' });
    const p1 = auth.logout();
    await sleep(5);
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'second' });
    const p2 = auth.logout();
    slow.resolve();
    await Promise.all([p1, p2]);
    expect(told).toEqual(['first', 'second']);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('logout resolves in bounded time when the server never answers (timeout), serverNotified false, one error', async () => {
    const { auth, errors } = mk({ logout: () => new Promise(() => {}) });
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    const t0 = Date.now();
    const r = await auth.logout();
    expect(Date.now() - t0).toBeLessThan(12_000);
    expect(r.serverNotified).toBe(false);
    expect(errors.filter((e) => e.code === 'logout_failed')).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
  }, 15_000);

  it('logout emits logout and clears state before calling the server', async () => {
    const order: string[] = [];
    const { auth } = mk({
      logout: async () => {
        order.push(`server (state=${auth.getState().status})`);
      },
    });
    auth.on('logout', () => order.push('event'));
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    await auth.logout();
    expect(order).toEqual(['event', 'server (state=unauthenticated)']);
  });

  it('the logout function gets the tokens of the ended session', async () => {
    const seen: unknown[] = [];
    const at = jwt(3600);
    const { auth } = mk({
      logout: async (ctx: { accessToken: string | null; refreshToken: string | null }) =>
        void seen.push([ctx.accessToken, ctx.refreshToken]),
    });
    await auth.setTokens({ accessToken: at, refreshToken: 'rr' });
    await auth.logout();
    expect(seen).toEqual([[at, 'rr']]);
  });

  it('a logout while signed out: no server call, resolves', async () => {
    let calls = 0;
    const { auth } = mk({
      logout: async () => {
        calls += 1;
      },
    });
    await auth.ready;
    const r = await auth.logout();
    expect(calls).toBe(0);
    expect(r).toHaveProperty('serverNotified');
  });

  it('refresh() while signed out rejects NotAuthenticatedError', async () => {
    const { auth } = mk({});
    await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
  });

  it('setTokens with a logged-out session tokens rejects (same manager)', async () => {
    const { auth } = mk({});
    const set = { accessToken: jwt(3600), refreshToken: 'r' };
    await auth.setTokens(set);
    await auth.logout();
    await expect(auth.setTokens(set)).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('setTokens after destroy rejects ConfigurationError; logout resolves serverNotified false; getAccessToken null', async () => {
    const { auth } = mk({});
    await auth.setTokens({ accessToken: jwt(3600), refreshToken: 'r' });
    auth.destroy();
    await expect(auth.setTokens({ accessToken: jwt(3600) })).rejects.toMatchObject({ code: 'configuration' });
    await expect(auth.logout()).resolves.toEqual({ serverNotified: false });
    await expect(auth.getAccessToken()).resolves.toBeNull();
  });
});

describe('restore', () => {
  it('tokens in the answer: login with source restore', async () => {
    const events: unknown[] = [];
    const { auth } = mk({
      restore: true,
      refresh: async ({ refreshToken }: { refreshToken: string | null }) => ({ accessToken: jwt(3600), refreshToken }),
    });
    auth.on('login', (e) => events.push(e));
    await auth.ready;
    expect(auth.getState().status).toBe('authenticated');
    expect(events).toEqual([{ source: 'restore' }]);
  });

  it('rejected (RefreshRejectedError): signed out quietly, refresh() rejects NotAuthenticatedError', async () => {
    const { RefreshRejectedError } = await import('#built');
    const events: string[] = [];
    const { auth, errors } = mk({
      restore: true,
      refresh: async () => {
        throw new RefreshRejectedError('no');
      },
    });
    auth.on('logout', () => events.push('logout'));
    await auth.ready;
    expect(auth.getState().status).toBe('unauthenticated');
    expect(events).toEqual([]);
    expect(errors).toEqual([]);
    await expect(auth.refresh()).rejects.toBeInstanceOf(NotAuthenticatedError);
  });

  it('transient failure: one error, not retried in the background', async () => {
    let n = 0;
    const { auth, errors } = mk({
      restore: true,
      refresh: async () => {
        n += 1;
        throw new Error('down');
      },
    });
    await auth.ready;
    await sleep(1500);
    expect(n).toBe(1);
    expect(errors).toHaveLength(1);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('logout while restore is in flight: the restore answer is dropped', async () => {
    const gate = deferred();
    const { auth } = mk({
      restore: true,
      refresh: async () => {
        await gate.promise;
        return { accessToken: jwt(3600) };
      },
      logout: async () => {},
    });
    await sleep(5);
    expect(auth.getState().status).toBe('loading');
    await auth.logout();
    gate.resolve();
    await sleep(20);
    expect(auth.getState().status).toBe('unauthenticated');
  });

  it('setTokens while restore is in flight wins; restore answer dropped', async () => {
    const gate = deferred();
    const mine = jwt(3600);
    const { auth } = mk({
      restore: true,
      refresh: async () => {
        await gate.promise;
        return { accessToken: jwt(3600) };
      },
    });
    await sleep(5);
    await auth.setTokens({ accessToken: mine });
    gate.resolve();
    await sleep(20);
    expect(auth.getState().accessToken).toBe(mine);
  });

  it('two managers on one channel with restore: one server call', async () => {
    const ch = `restore-${Math.random()}`;
    let n = 0;
    const refresh = async () => {
      n += 1;
      await sleep(30);
      return { accessToken: jwt(3600) };
    };
    const a = mk({ channel: ch, restore: true, refresh }).auth;
    const b = mk({ channel: ch, restore: true, refresh }).auth;
    await Promise.all([a.ready, b.ready]);
    await sleep(50);
    expect(n).toBe(1);
    expect(b.getState().status).toBe('authenticated');
    expect(a.getState().accessToken).toBe(b.getState().accessToken);
  });
});
